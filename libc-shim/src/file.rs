//! Files and directories of the file tree as descriptor objects, and the record locks on
//! them (`fcntl` `F_SETLK`/`F_SETLKW`/`F_GETLK`, the open-file-description variants, and
//! `flock`).
//!
//! A [`NodeFile`] names a node of the [`crate::fs`] tree; reads and writes go through the
//! tree's lock at the description's position (or at the end under `O_APPEND`). While it
//! is open the node lives on even if it is unlinked. The locks' rules are `vfs::locks`
//! (host-tested): POSIX locks belong to the program (one process) and go with any close
//! of the file; open-file-description locks and `flock` locks belong to the description
//! and go with its last close.

use crate::errno::Errno;
use crate::fd::{Description, FileObject, Readiness, oflag, pollbits};
use crate::fs::{self, vfs_lock};
use crate::stat::StatInfo;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use kernel::sched::sync::{WaitQueue, WaitResult};
use vfs::locks::{FlockKind, FlockTable, LockKind, LockTable, Owner, Range};
use vfs::{FileType, NodeRef};

/// The program's one process id (POSIX record locks' owner).
pub(crate) const PID: u32 = 1;

/// An open file or directory of the tree.
pub(crate) struct NodeFile {
    /// The node.
    pub(crate) node: NodeRef,
    /// What it is.
    pub(crate) kind: FileType,
    /// For a directory: the last name `getdents64` handed out (`None`: from the start).
    dir_pos: spin::Mutex<DirCursor>,
}

/// Where a directory listing stands.
#[derive(Default)]
struct DirCursor {
    /// The last name handed out.
    after: Option<Vec<u8>>,
    /// Entries handed out so far (what `lseek`/`telldir` see).
    count: u64,
}

impl NodeFile {
    /// Opens `node` of the tree `v` (locked by the caller): the tree's open reference is
    /// taken here and given back on drop.
    pub(crate) fn new(v: &mut vfs::Vfs, node: NodeRef, kind: FileType) -> Result<NodeFile, Errno> {
        v.retain(node)?;
        Ok(NodeFile {
            node,
            kind,
            dir_pos: spin::Mutex::new(DirCursor::default()),
        })
    }

    /// A regular file or a directory (epoll refuses those, as Linux does).
    pub(crate) fn is_regular_or_dir(&self) -> bool {
        matches!(self.kind, FileType::Regular | FileType::Directory)
    }

    /// A descriptor of the program on this file was closed: its POSIX locks on the file
    /// go (POSIX says any close does it); a description's own locks go with the
    /// description.
    pub(crate) fn closed_by_process(&self, _d: &Description) {
        release_locks(self.node, Owner::Process(PID));
    }

    /// The next entries of a directory after the cursor, at most `max`; the cursor moves
    /// past what the caller says it took (`take`).
    pub(crate) fn read_dir(
        &self,
        max: usize,
        mut take: impl FnMut(&vfs::DirEntry) -> bool,
    ) -> Result<usize, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let mut cur = self.dir_pos.lock();
        let entries = vfs_lock().readdir(self.node, cur.after.as_deref(), max)?;
        let mut n = 0;
        for e in &entries {
            if !take(e) {
                break;
            }
            cur.after = Some(e.name.clone());
            cur.count += 1;
            n += 1;
        }
        Ok(n)
    }

    /// The size of the file now.
    fn size(&self) -> Result<u64, Errno> {
        Ok(vfs_lock().stat(self.node)?.size)
    }
}

impl Drop for NodeFile {
    fn drop(&mut self) {
        // A node that is gone already has nothing left to release.
        let _ = vfs_lock().release(self.node);
    }
}

/// `lseek`'s `whence`.
const SEEK_SET: u32 = 0;
const SEEK_CUR: u32 = 1;
const SEEK_END: u32 = 2;
const SEEK_DATA: u32 = 3;
const SEEK_HOLE: u32 = 4;

impl FileObject for NodeFile {
    fn read(&self, d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        let mut pos = d.pos.lock();
        let n = vfs_lock().read(self.node, *pos, buf)?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, d: &Description, data: &[u8]) -> Result<usize, Errno> {
        let mut pos = d.pos.lock();
        let mut v = vfs_lock();
        if d.flags() & oflag::APPEND != 0 {
            *pos = v.stat(self.node)?.size;
        }
        let n = v.write(self.node, *pos, data)?;
        *pos += n as u64;
        if d.flags() & oflag::DSYNC != 0 {
            v.sync(self.node)?;
        }
        Ok(n)
    }

    fn pread(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        if self.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        Ok(vfs_lock().read(self.node, off, buf)?)
    }

    fn pwrite(&self, data: &[u8], off: u64) -> Result<usize, Errno> {
        Ok(vfs_lock().write(self.node, off, data)?)
    }

    fn seek(&self, d: &Description, off: i64, whence: u32) -> Result<u64, Errno> {
        if self.kind == FileType::Directory {
            // A directory rewinds (`rewinddir`); other positions are not kept.
            if whence == SEEK_SET && off == 0 {
                *self.dir_pos.lock() = DirCursor::default();
                return Ok(0);
            }
            if whence == SEEK_CUR && off == 0 {
                return Ok(self.dir_pos.lock().count);
            }
            return Err(Errno::EINVAL);
        }
        let mut pos = d.pos.lock();
        let size = self.size()?;
        let base: i128 = match whence {
            SEEK_SET => 0,
            SEEK_CUR => i128::from(*pos),
            SEEK_END => i128::from(size),
            // Memory files have no holes that matter: data runs to the end.
            SEEK_DATA | SEEK_HOLE => {
                let off = u64::try_from(off).map_err(|_| Errno::ENXIO)?;
                if off >= size {
                    return Err(Errno::ENXIO);
                }
                let to = if whence == SEEK_DATA { off } else { size };
                *pos = to;
                return Ok(to);
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = base + i128::from(off);
        let new = u64::try_from(new).map_err(|_| Errno::EINVAL)?;
        if new > i64::MAX as u64 {
            return Err(Errno::EOVERFLOW);
        }
        *pos = new;
        Ok(new)
    }

    fn poll(&self) -> Readiness {
        // Regular files are always ready (POSIX).
        Readiness::bits(pollbits::IN | pollbits::OUT | pollbits::RDNORM | pollbits::WRNORM)
    }

    fn ioctl(&self, d: &Description, req: u64, arg: u64) -> Result<i64, Errno> {
        /// `FIONREAD`.
        const FIONREAD: u64 = 0x541b;
        match req {
            FIONREAD if self.kind == FileType::Regular => {
                let left = self.size()?.saturating_sub(*d.pos.lock());
                crate::user::write_i32(arg, i32::try_from(left).unwrap_or(i32::MAX))?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        let v = vfs_lock();
        Ok(fs::stat_info(&v, self.node)?)
    }

    fn as_node(&self) -> Option<&NodeFile> {
        Some(self)
    }

    fn sync(&self, _data_only: bool) -> Result<(), Errno> {
        Ok(vfs_lock().sync(self.node)?)
    }
}

/// Record locks of every file that has some, and the threads waiting for one.
struct Locks {
    posix: BTreeMap<NodeRef, LockTable>,
    flock: BTreeMap<NodeRef, FlockTable>,
}

static LOCKS: spin::Mutex<Locks> = spin::Mutex::new(Locks {
    posix: BTreeMap::new(),
    flock: BTreeMap::new(),
});

/// Threads in `F_SETLKW`/`F_OFD_SETLKW`/`flock` without `LOCK_NB`.
static LOCK_WAITERS: WaitQueue = WaitQueue::new();

/// Changes the POSIX locks of `node` with `f` (a table left empty goes), then wakes the
/// threads waiting for a lock to look again.
fn change_posix(node: NodeRef, f: impl FnOnce(&mut LockTable)) {
    let mut l = LOCKS.lock();
    if let Some(t) = l.posix.get_mut(&node) {
        f(t);
        if t.is_empty() {
            l.posix.remove(&node);
        }
    }
    drop(l);
    LOCK_WAITERS.wake_all();
}

/// Changes the `flock` locks of `node` with `f`, as [`change_posix`] does.
fn change_flock(node: NodeRef, f: impl FnOnce(&mut FlockTable)) {
    let mut l = LOCKS.lock();
    if let Some(t) = l.flock.get_mut(&node) {
        f(t);
        if t.is_empty() {
            l.flock.remove(&node);
        }
    }
    drop(l);
    LOCK_WAITERS.wake_all();
}

fn release_locks(node: NodeRef, owner: Owner) {
    change_posix(node, |t| t.release_owner(owner));
}

/// A description's last close: its open-file-description and `flock` locks go.
pub(crate) fn description_closed(node: NodeRef, id: u64) {
    release_locks(node, Owner::Ofd(id));
    change_flock(node, |t| t.unlock(id));
}

/// `fcntl` lock commands.
pub(crate) mod lockcmd {
    /// `F_GETLK`.
    pub(crate) const GETLK: u64 = 5;
    /// `F_SETLK`.
    pub(crate) const SETLK: u64 = 6;
    /// `F_SETLKW`.
    pub(crate) const SETLKW: u64 = 7;
    /// `F_OFD_GETLK`.
    pub(crate) const OFD_GETLK: u64 = 36;
    /// `F_OFD_SETLK`.
    pub(crate) const OFD_SETLK: u64 = 37;
    /// `F_OFD_SETLKW`.
    pub(crate) const OFD_SETLKW: u64 = 38;
}

/// `struct flock`'s `l_type`.
const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// `fcntl(fd, F_*LK*, &flock)` on description `d`.
pub(crate) fn fcntl_lock(d: &Description, cmd: u64, arg: u64) -> Result<i64, Errno> {
    use lockcmd::*;
    let node = d.object.as_node().ok_or(Errno::EBADF)?;
    // struct flock { short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; }
    let b: [u8; 32] = crate::user::read_array(arg)?;
    let ty = i16::from_le_bytes([b[0], b[1]]);
    let whence = i16::from_le_bytes([b[2], b[3]]);
    let start = i64::from_le_bytes(b[8..16].try_into().unwrap_or_default());
    let len = i64::from_le_bytes(b[16..24].try_into().unwrap_or_default());
    let pid = i32::from_le_bytes(b[24..28].try_into().unwrap_or_default());
    let ofd = matches!(cmd, OFD_GETLK | OFD_SETLK | OFD_SETLKW);
    if ofd && pid != 0 {
        return Err(Errno::EINVAL);
    }
    let base: i128 = match whence {
        0 => 0,
        1 => i128::from(*d.pos.lock()),
        2 => i128::from(vfs_lock().stat(node.node)?.size),
        _ => return Err(Errno::EINVAL),
    };
    // POSIX: a negative length covers the bytes before start; 0 runs to end of file.
    let (s, e) = {
        let s = base + i128::from(start);
        match len {
            0 => (s, None),
            l if l > 0 => (s, Some(s + i128::from(l))),
            l => (s + i128::from(l), Some(s)),
        }
    };
    if s < 0 {
        return Err(Errno::EINVAL);
    }
    let range = Range {
        start: u64::try_from(s).map_err(|_| Errno::EINVAL)?,
        end: match e {
            None => u64::MAX,
            Some(e) => u64::try_from(e).map_err(|_| Errno::EOVERFLOW)?,
        },
    };
    let owner = if ofd {
        Owner::Ofd(d.id)
    } else {
        Owner::Process(PID)
    };
    let kind = match ty {
        F_RDLCK => Some(LockKind::Read),
        F_WRLCK => Some(LockKind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    match cmd {
        GETLK | OFD_GETLK => {
            let kind = kind.ok_or(Errno::EINVAL)?;
            let c = LOCKS
                .lock()
                .posix
                .get(&node.node)
                .and_then(|t| t.get(owner, kind, range));
            let mut out = b;
            match c {
                None => out[0..2].copy_from_slice(&F_UNLCK.to_le_bytes()),
                Some(c) => {
                    let t = if c.kind == LockKind::Write {
                        F_WRLCK
                    } else {
                        F_RDLCK
                    };
                    out[0..2].copy_from_slice(&t.to_le_bytes());
                    out[2..4].copy_from_slice(&0i16.to_le_bytes());
                    out[8..16].copy_from_slice(&(c.range.start as i64).to_le_bytes());
                    let l = if c.range.end == u64::MAX {
                        0
                    } else {
                        (c.range.end - c.range.start) as i64
                    };
                    out[16..24].copy_from_slice(&l.to_le_bytes());
                    let p = match c.owner {
                        Owner::Process(p) => p as i32,
                        Owner::Ofd(_) => -1,
                    };
                    out[24..28].copy_from_slice(&p.to_le_bytes());
                }
            }
            crate::user::write(arg, &out)?;
            Ok(0)
        }
        SETLK | SETLKW | OFD_SETLK | OFD_SETLKW => {
            let Some(kind) = kind else {
                change_posix(node.node, |t| t.unlock(owner, range));
                return Ok(0);
            };
            match kind {
                LockKind::Read => d.check_readable()?,
                LockKind::Write => d.check_writable()?,
            }
            let wait = matches!(cmd, SETLKW | OFD_SETLKW);
            loop {
                let r = LOCKS
                    .lock()
                    .posix
                    .entry(node.node)
                    .or_default()
                    .set(owner, kind, range);
                match r {
                    Ok(()) => return Ok(0),
                    Err(_) if !wait => return Err(Errno::EAGAIN),
                    Err(_) => {
                        if LOCK_WAITERS.wait_interruptible(None) == WaitResult::Interrupted {
                            return Err(Errno::EINTR);
                        }
                    }
                }
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `flock(fd, op)`.
pub(crate) fn flock(d: &Description, op: u64) -> Result<i64, Errno> {
    const LOCK_SH: u64 = 1;
    const LOCK_EX: u64 = 2;
    const LOCK_NB: u64 = 4;
    const LOCK_UN: u64 = 8;
    let node = d.object.as_node().ok_or(Errno::EBADF)?;
    let kind = match op & !LOCK_NB {
        LOCK_SH => FlockKind::Shared,
        LOCK_EX => FlockKind::Exclusive,
        LOCK_UN => {
            change_flock(node.node, |t| t.unlock(d.id));
            return Ok(0);
        }
        _ => return Err(Errno::EINVAL),
    };
    loop {
        let r = LOCKS
            .lock()
            .flock
            .entry(node.node)
            .or_default()
            .lock(d.id, kind);
        match r {
            Ok(()) => return Ok(0),
            Err(_) if op & LOCK_NB != 0 => return Err(Errno::EWOULDBLOCK),
            Err(_) => {
                if LOCK_WAITERS.wait_interruptible(None) == WaitResult::Interrupted {
                    return Err(Errno::EINTR);
                }
            }
        }
    }
}
