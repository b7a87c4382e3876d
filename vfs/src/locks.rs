//! Advisory locks of one file: POSIX record locks (`fcntl`) and `flock` locks.
//!
//! [`LockTable`] keeps the byte-range locks of `fcntl(F_SETLK/F_GETLK)` and the open file
//! description locks of `F_OFD_SETLK`, as Linux's `fs/locks.c` does: a lock belongs to an
//! [`Owner`] (a process for classic locks, an open file description for OFD locks); an owner
//! never conflicts with itself, and setting a lock replaces the owner's locks in that range
//! (splitting them) and merges with its own overlapping or adjacent locks of the same kind.
//! A write lock conflicts with any other owner's overlapping lock, a read lock with other
//! owners' overlapping write locks. The caller releases classic locks with
//! [`LockTable::release_owner`] when the process closes any descriptor of the file (POSIX),
//! OFD locks when the description's last descriptor closes.
//!
//! [`FlockTable`] keeps `flock(2)` locks: whole-file, shared or exclusive, one per open file
//! description. On Linux they are independent of record locks.
//!
//! Nothing here blocks: a conflict is returned, and a blocking caller waits and retries.

use alloc::vec::Vec;

/// Who holds a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// A process (classic POSIX `F_SETLK` locks): the pid.
    Process(u32),
    /// An open file description (`F_OFD_SETLK` locks): an id the caller chooses.
    Ofd(u64),
}

/// The kind of a record lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKind {
    /// `F_RDLCK`: shared.
    Read,
    /// `F_WRLCK`: exclusive.
    Write,
}

/// A byte range `[start, end)`; `end == u64::MAX` means "to the end of file and beyond".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// One past the last byte, or `u64::MAX` for "to EOF".
    pub end: u64,
}

impl Range {
    /// The range `struct flock` describes once `l_whence` is applied: `start` is the
    /// absolute `l_start`; `len` 0 means to EOF, a negative `len` covers the bytes before
    /// `start` (fcntl(2)). `None` for a range that starts before 0 or overflows (`EINVAL`).
    pub fn from_flock(start: i64, len: i64) -> Option<Range> {
        let start = u64::try_from(start).ok()?;
        match len {
            0 => Some(Range {
                start,
                end: u64::MAX,
            }),
            len if len > 0 => {
                let end = start.checked_add(len.unsigned_abs())?;
                (end < u64::MAX).then_some(Range { start, end })
            }
            len => {
                let begin = start.checked_sub(len.unsigned_abs())?;
                Some(Range {
                    start: begin,
                    end: start,
                })
            }
        }
    }

    /// `(l_start, l_len)` for `F_GETLK`: `l_len` 0 for a lock to EOF.
    pub fn to_flock(self) -> (u64, u64) {
        if self.end == u64::MAX {
            (self.start, 0)
        } else {
            (self.start, self.end.saturating_sub(self.start))
        }
    }

    fn is_empty(self) -> bool {
        self.start >= self.end
    }

    fn overlaps(self, other: Range) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A lock that stands in the way (also what `F_GETLK` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// Who holds it.
    pub owner: Owner,
    /// Its kind.
    pub kind: LockKind,
    /// Its whole range.
    pub range: Range,
}

/// One held lock (the same fields as a [`Conflict`]).
pub type Lock = Conflict;

/// The record locks of one file (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct LockTable {
    /// Sorted by start; an owner's locks never overlap each other.
    locks: Vec<Lock>,
}

fn conflicts(held: &Lock, owner: Owner, kind: LockKind, range: Range) -> bool {
    held.owner != owner
        && held.range.overlaps(range)
        && (kind == LockKind::Write || held.kind == LockKind::Write)
}

impl LockTable {
    /// No locks.
    pub const fn new() -> LockTable {
        LockTable { locks: Vec::new() }
    }

    /// Sets a lock of `kind` on `range` for `owner` (`F_SETLK`); an empty range does
    /// nothing.
    ///
    /// # Errors
    ///
    /// The first (lowest) conflicting lock of another owner; the table is unchanged.
    pub fn set(&mut self, owner: Owner, kind: LockKind, range: Range) -> Result<(), Conflict> {
        if range.is_empty() {
            return Ok(());
        }
        if let Some(c) = self.get(owner, kind, range) {
            return Err(c);
        }
        self.unlock(owner, range);
        // Merge with the owner's adjacent locks of the same kind (nothing of the owner's
        // overlaps any more).
        let mut merged = range;
        self.locks.retain(|l| {
            let touches = l.range.start <= merged.end && merged.start <= l.range.end;
            if l.owner == owner && l.kind == kind && touches {
                merged.start = merged.start.min(l.range.start);
                merged.end = merged.end.max(l.range.end);
                false
            } else {
                true
            }
        });
        self.insert(Lock {
            owner,
            kind,
            range: merged,
        });
        Ok(())
    }

    fn insert(&mut self, lock: Lock) {
        let at = self
            .locks
            .partition_point(|l| (l.range.start, l.owner) <= (lock.range.start, lock.owner));
        self.locks.insert(at, lock);
    }

    /// Removes `owner`'s locks on `range` (`F_UNLCK`), splitting locks that cover more.
    pub fn unlock(&mut self, owner: Owner, range: Range) {
        if range.is_empty() {
            return;
        }
        let mut pieces = Vec::new();
        self.locks.retain(|l| {
            if l.owner != owner || !l.range.overlaps(range) {
                return true;
            }
            if l.range.start < range.start {
                pieces.push(Lock {
                    range: Range {
                        start: l.range.start,
                        end: range.start,
                    },
                    ..*l
                });
            }
            if l.range.end > range.end {
                pieces.push(Lock {
                    range: Range {
                        start: range.end,
                        end: l.range.end,
                    },
                    ..*l
                });
            }
            false
        });
        for p in pieces {
            self.insert(p);
        }
    }

    /// The first lock of another owner that would stop `owner` from taking `kind` on
    /// `range` (`F_GETLK`); `None` if it could.
    pub fn get(&self, owner: Owner, kind: LockKind, range: Range) -> Option<Conflict> {
        if range.is_empty() {
            return None;
        }
        self.locks
            .iter()
            .find(|l| conflicts(l, owner, kind, range))
            .copied()
    }

    /// Drops every lock of `owner` (its process closed the file, or the description went).
    pub fn release_owner(&mut self, owner: Owner) {
        self.locks.retain(|l| l.owner != owner);
    }

    /// Whether no locks are held.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// The held locks, by start (for `/proc/locks`-style listings and tests).
    pub fn locks(&self) -> &[Lock] {
        &self.locks
    }
}

/// The kind of a `flock` lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlockKind {
    /// `LOCK_SH`.
    Shared,
    /// `LOCK_EX`.
    Exclusive,
}

/// `flock` would have to wait (`EWOULDBLOCK` with `LOCK_NB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldBlock;

impl core::fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("operation would block")
    }
}

impl core::error::Error for WouldBlock {}

/// The `flock` locks of one file, by open file description id.
#[derive(Debug, Clone, Default)]
pub struct FlockTable {
    holders: Vec<(u64, FlockKind)>,
}

impl FlockTable {
    /// No locks.
    pub const fn new() -> FlockTable {
        FlockTable {
            holders: Vec::new(),
        }
    }

    /// `flock(LOCK_SH or LOCK_EX)` for description `ofd`. Holding the same kind already is
    /// success. Converting is not atomic, as on Linux: flock(2) says "the existing lock is
    /// first removed, and then a new lock is established" (`fs/locks.c`
    /// `flock_lock_inode`), so a conversion that meets a conflict leaves no lock at all.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if another description holds a conflicting lock.
    pub fn lock(&mut self, ofd: u64, kind: FlockKind) -> Result<(), WouldBlock> {
        if let Some(i) = self.holders.iter().position(|&(o, _)| o == ofd) {
            if self.holders.get(i).is_some_and(|&(_, k)| k == kind) {
                return Ok(());
            }
            self.holders.swap_remove(i);
        }
        let conflict = self
            .holders
            .iter()
            .any(|&(_, k)| kind == FlockKind::Exclusive || k == FlockKind::Exclusive);
        if conflict {
            return Err(WouldBlock);
        }
        self.holders.push((ofd, kind));
        Ok(())
    }

    /// `flock(LOCK_UN)`, or the description's last close.
    pub fn unlock(&mut self, ofd: u64) {
        self.holders.retain(|&(o, _)| o != ofd);
    }

    /// The lock `ofd` holds.
    pub fn held(&self, ofd: u64) -> Option<FlockKind> {
        self.holders
            .iter()
            .find(|&&(o, _)| o == ofd)
            .map(|&(_, k)| k)
    }

    /// Whether no locks are held.
    pub fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    const P1: Owner = Owner::Process(1);
    const P2: Owner = Owner::Process(2);
    const EOF: u64 = u64::MAX;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    fn lock(owner: Owner, kind: LockKind, start: u64, end: u64) -> Lock {
        Lock {
            owner,
            kind,
            range: r(start, end),
        }
    }

    #[test]
    fn flock_ranges_from_fcntl_fields() {
        assert_eq!(Range::from_flock(10, 0), Some(r(10, EOF)));
        assert_eq!(Range::from_flock(10, 5), Some(r(10, 15)));
        // fcntl(2): "If l_len is negative, the interval described by lock covers bytes
        // l_start+l_len up to and including l_start-1."
        assert_eq!(Range::from_flock(10, -4), Some(r(6, 10)));
        assert_eq!(Range::from_flock(3, -4), None);
        assert_eq!(Range::from_flock(-1, 1), None);
        assert_eq!(
            Range::from_flock(i64::MAX, i64::MAX),
            Some(r(i64::MAX as u64, u64::MAX - 1))
        );
        assert_eq!(r(10, EOF).to_flock(), (10, 0));
        assert_eq!(r(10, 15).to_flock(), (10, 5));
    }

    #[test]
    fn own_locks_merge_and_split() {
        let mut t = LockTable::new();
        t.set(P1, LockKind::Read, r(0, 10)).unwrap();
        t.set(P1, LockKind::Read, r(10, 20)).unwrap();
        assert_eq!(
            t.locks(),
            [lock(P1, LockKind::Read, 0, 20)],
            "adjacent merge"
        );
        t.set(P1, LockKind::Write, r(5, 8)).unwrap();
        assert_eq!(
            t.locks(),
            [
                lock(P1, LockKind::Read, 0, 5),
                lock(P1, LockKind::Write, 5, 8),
                lock(P1, LockKind::Read, 8, 20)
            ],
            "a different kind splits the old lock"
        );
        t.set(P1, LockKind::Read, r(6, 7)).unwrap();
        assert_eq!(t.locks().len(), 5);
        t.set(P1, LockKind::Read, r(0, 30)).unwrap();
        assert_eq!(t.locks(), [lock(P1, LockKind::Read, 0, 30)]);
        t.unlock(P1, r(10, 12));
        assert_eq!(
            t.locks(),
            [
                lock(P1, LockKind::Read, 0, 10),
                lock(P1, LockKind::Read, 12, 30)
            ]
        );
        t.unlock(P1, r(0, EOF));
        assert!(t.is_empty());
    }

    #[test]
    fn conflicts_between_owners() {
        let mut t = LockTable::new();
        t.set(P1, LockKind::Read, r(0, 100)).unwrap();
        // Readers share.
        t.set(P2, LockKind::Read, r(50, 150)).unwrap();
        let want = lock(P1, LockKind::Read, 0, 100);
        assert_eq!(t.set(P2, LockKind::Write, r(90, 95)), Err(want));
        assert_eq!(t.get(P2, LockKind::Write, r(99, 200)), Some(want));
        assert_eq!(t.get(P2, LockKind::Write, r(100, 200)), None);
        assert_eq!(t.get(P2, LockKind::Read, r(0, 10)), None);
        // The same owner never conflicts with itself; P1 upgrading meets P2's read lock.
        assert_eq!(
            t.set(P1, LockKind::Write, r(0, 60)),
            Err(lock(P2, LockKind::Read, 50, 150))
        );
        assert_eq!(t.locks().len(), 2, "a refused set changes nothing");
        t.set(P1, LockKind::Write, r(0, 50)).unwrap();
        // An OFD lock of the same process is another owner.
        let ofd = Owner::Ofd(7);
        assert_eq!(
            t.get(ofd, LockKind::Read, r(0, 1)),
            Some(lock(P1, LockKind::Write, 0, 50))
        );
        t.release_owner(P1);
        assert_eq!(t.locks(), [lock(P2, LockKind::Read, 50, 150)]);
        t.set(ofd, LockKind::Write, r(0, 50)).unwrap();
        t.set(ofd, LockKind::Write, r(150, EOF)).unwrap();
        assert_eq!(
            t.get(P2, LockKind::Read, r(1000, 1001)),
            Some(lock(ofd, LockKind::Write, 150, EOF))
        );
    }

    #[test]
    fn empty_ranges_do_nothing() {
        let mut t = LockTable::new();
        t.set(P1, LockKind::Write, r(5, 5)).unwrap();
        assert!(t.is_empty());
        t.set(P1, LockKind::Write, r(0, EOF)).unwrap();
        assert_eq!(t.get(P2, LockKind::Read, r(3, 3)), None);
    }

    #[test]
    fn flock_shared_exclusive_and_conversion() {
        let mut f = FlockTable::new();
        f.lock(1, FlockKind::Shared).unwrap();
        f.lock(2, FlockKind::Shared).unwrap();
        assert_eq!(f.lock(3, FlockKind::Exclusive), Err(WouldBlock));
        f.lock(1, FlockKind::Shared).unwrap();
        // Converting 1 to exclusive meets 2's shared lock: LOCK_NB fails and, as on Linux,
        // 1's shared lock is gone.
        assert_eq!(f.lock(1, FlockKind::Exclusive), Err(WouldBlock));
        assert_eq!(f.held(1), None);
        assert_eq!(f.held(2), Some(FlockKind::Shared));
        f.unlock(2);
        f.lock(1, FlockKind::Exclusive).unwrap();
        assert_eq!(f.lock(2, FlockKind::Shared), Err(WouldBlock));
        // Converting down always works.
        f.lock(1, FlockKind::Shared).unwrap();
        f.lock(2, FlockKind::Shared).unwrap();
        f.unlock(1);
        f.unlock(2);
        assert!(f.is_empty());
    }

    // ---- Against a byte-granular model ----

    /// Bytes 0..K are single bytes; byte K stands for everything from K to EOF.
    const K: u64 = 12;
    type Model = std::collections::BTreeMap<Owner, [Option<LockKind>; K as usize + 1]>;

    fn owner() -> impl Strategy<Value = Owner> {
        prop_oneof![Just(P1), Just(P2), Just(Owner::Ofd(9))]
    }

    fn kind() -> impl Strategy<Value = LockKind> {
        prop_oneof![Just(LockKind::Read), Just(LockKind::Write)]
    }

    fn range() -> impl Strategy<Value = Range> {
        (0..K)
            .prop_flat_map(|s| prop_oneof![(s + 1..=K).prop_map(move |e| r(s, e)), Just(r(s, EOF))])
    }

    fn bytes(range: Range) -> core::ops::Range<usize> {
        let end = if range.end == EOF { K + 1 } else { range.end };
        range.start as usize..end as usize
    }

    fn model_conflict(m: &Model, owner: Owner, kind: LockKind, range: Range) -> bool {
        m.iter().filter(|(o, _)| **o != owner).any(|(_, b)| {
            b[bytes(range)].iter().any(|k| {
                matches!(
                    (k, kind),
                    (Some(LockKind::Write), _) | (Some(_), LockKind::Write)
                )
            })
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(Owner, LockKind, Range),
        Unlock(Owner, Range),
        Release(Owner),
        Get(Owner, LockKind, Range),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (owner(), kind(), range()).prop_map(|(o, k, r)| Op::Set(o, k, r)),
            1 => (owner(), range()).prop_map(|(o, r)| Op::Unlock(o, r)),
            1 => owner().prop_map(Op::Release),
            1 => (owner(), kind(), range()).prop_map(|(o, k, r)| Op::Get(o, k, r)),
        ]
    }

    proptest! {
        #[test]
        fn lock_table_matches_byte_model(ops in proptest::collection::vec(op(), 1..50)) {
            let mut t = LockTable::new();
            let mut m = Model::new();
            for op in ops {
                match op {
                    Op::Set(o, k, rg) => {
                        let res = t.set(o, k, rg);
                        if model_conflict(&m, o, k, rg) {
                            let c = res.unwrap_err();
                            prop_assert!(c.owner != o && c.range.overlaps(rg));
                            prop_assert!(k == LockKind::Write || c.kind == LockKind::Write);
                        } else {
                            prop_assert!(res.is_ok());
                            m.entry(o).or_insert([None; K as usize + 1])[bytes(rg)].fill(Some(k));
                        }
                    }
                    Op::Unlock(o, rg) => {
                        t.unlock(o, rg);
                        if let Some(b) = m.get_mut(&o) {
                            b[bytes(rg)].fill(None);
                        }
                    }
                    Op::Release(o) => {
                        t.release_owner(o);
                        m.remove(&o);
                    }
                    Op::Get(o, k, rg) => {
                        let got = t.get(o, k, rg);
                        prop_assert_eq!(got.is_some(), model_conflict(&m, o, k, rg));
                        if let Some(c) = got {
                            // The reported lock really is held, whole.
                            prop_assert!(t.locks().contains(&c));
                        }
                    }
                }
                // The table spells out exactly the model, in canonical form.
                let mut seen = Model::new();
                for l in t.locks() {
                    let b = seen.entry(l.owner).or_insert([None; K as usize + 1]);
                    for x in &mut b[bytes(l.range)] {
                        prop_assert!(x.is_none(), "an owner's locks overlap");
                        *x = Some(l.kind);
                    }
                }
                for o in [P1, P2, Owner::Ofd(9)] {
                    let want = m.get(&o).copied().unwrap_or([None; K as usize + 1]);
                    let got = seen.get(&o).copied().unwrap_or([None; K as usize + 1]);
                    prop_assert_eq!(got, want);
                    let mine: vec::Vec<&Lock> = t.locks().iter().filter(|l| l.owner == o).collect();
                    for w in mine.windows(2) {
                        let adjacent = w[0].range.end == w[1].range.start;
                        prop_assert!(!(adjacent && w[0].kind == w[1].kind), "not merged: {:?}", w);
                    }
                }
                prop_assert!(t.locks().windows(2).all(|w| w[0].range.start <= w[1].range.start));
                prop_assert_eq!(t.is_empty(), m.values().all(|b| b.iter().all(Option::is_none)));
            }
        }
    }
}
