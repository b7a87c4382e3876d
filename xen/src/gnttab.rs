//! Granting our frames to another domain (grant tables, version 1), guest side.
//!
//! To grant, write the grantee and frame, then (after a write barrier) the flags that make
//! the entry valid. To end a grant, the flags go back to 0 with a compare-and-swap that
//! fails while Xen shows the grantee still has the frame mapped (`GTF_reading` or
//! `GTF_writing`): then the frame must not be reused yet ([`GrantError::InUse`]).
//! The first [`GNTTAB_NR_RESERVED_ENTRIES`] entries belong to the toolstack.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::abi::grant_table::{ENTRIES_PER_FRAME, GNTTAB_NR_RESERVED_ENTRIES, GrantEntryV1, gtf};
use crate::abi::xen::DomId;
use crate::shared::Shared;
use crate::shared_field;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{Ordering, fence};

/// A grant reference: an index into the grant table, given to the grantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantRef(pub u32);

/// Why a grant could not be made or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantError {
    /// Every entry is in use.
    NoFreeEntries {
        /// Entries the table has.
        capacity: usize,
    },
    /// The frame number does not fit a version 1 entry (32 bits).
    FrameTooLarge {
        /// The frame.
        frame: u64,
    },
    /// The grantee still has the frame mapped; try again later.
    InUse {
        /// The grant.
        gref: GrantRef,
    },
    /// The reference is not a grant we made (out of range, reserved, or ended already).
    NotGranted {
        /// The reference.
        gref: GrantRef,
    },
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GrantError::NoFreeEntries { capacity } => {
                write!(f, "all {capacity} grant entries in use")
            }
            GrantError::FrameTooLarge { frame } => {
                write!(f, "frame {frame:#x} does not fit a grant entry")
            }
            GrantError::InUse { gref } => {
                write!(f, "grant {} is still mapped by the grantee", gref.0)
            }
            GrantError::NotGranted { gref } => write!(f, "grant {} is not ours to end", gref.0),
        }
    }
}

impl core::error::Error for GrantError {}

/// The guest's grant table: its frames (mapped one after another by the caller) and
/// which entries are free.
pub struct GrantTable {
    frames: Vec<Shared<[GrantEntryV1; ENTRIES_PER_FRAME]>>,
    free: Vec<u32>,
    granted: Vec<bool>,
}

impl GrantTable {
    /// A table over `frames`, all of whose non-reserved entries are free.
    pub fn new(frames: Vec<Shared<[GrantEntryV1; ENTRIES_PER_FRAME]>>) -> Self {
        let capacity = frames.len().saturating_mul(ENTRIES_PER_FRAME);
        let top = u32::try_from(capacity).unwrap_or(u32::MAX);
        // Handed out lowest first.
        let free = (GNTTAB_NR_RESERVED_ENTRIES..top).rev().collect();
        GrantTable {
            frames,
            free,
            granted: alloc::vec![false; capacity],
        }
    }

    /// Entries the table has (reserved ones included).
    pub fn capacity(&self) -> usize {
        self.granted.len()
    }

    /// Entries free now.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    fn entry(&self, gref: GrantRef) -> Option<Shared<GrantEntryV1>> {
        let i = usize::try_from(gref.0).ok()?;
        let frame = self.frames.get(i / ENTRIES_PER_FRAME)?;
        frame.get(i % ENTRIES_PER_FRAME)
    }

    /// Grants `domid` access to `frame` (read-only if `readonly`).
    pub fn grant(
        &mut self,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<GrantRef, GrantError> {
        let frame32 = u32::try_from(frame).map_err(|_| GrantError::FrameTooLarge { frame })?;
        let capacity = self.capacity();
        let gref = GrantRef(
            self.free
                .pop()
                .ok_or(GrantError::NoFreeEntries { capacity })?,
        );
        let Some(entry) = self.entry(gref) else {
            return Err(GrantError::NotGranted { gref });
        };
        shared_field!(entry, GrantEntryV1, domid).write(domid.0);
        shared_field!(entry, GrantEntryV1, frame).write(frame32);
        // wmb: Xen must see grantee and frame before the flags that make them valid.
        fence(Ordering::Release);
        let flags = gtf::PERMIT_ACCESS | if readonly { gtf::READONLY } else { 0 };
        shared_field!(entry, GrantEntryV1, flags).write(flags);
        if let Some(g) = usize::try_from(gref.0)
            .ok()
            .and_then(|i| self.granted.get_mut(i))
        {
            *g = true;
        }
        Ok(gref)
    }

    /// Ends grant `gref`; the frame is then ours alone again.
    pub fn end(&mut self, gref: GrantRef) -> Result<(), GrantError> {
        let index = usize::try_from(gref.0).map_err(|_| GrantError::NotGranted { gref })?;
        if !self.granted.get(index).copied().unwrap_or(false) {
            return Err(GrantError::NotGranted { gref });
        }
        let entry = self.entry(gref).ok_or(GrantError::NotGranted { gref })?;
        let flags = shared_field!(entry, GrantEntryV1, flags);
        let mut current = flags.atomic().load(Ordering::SeqCst);
        loop {
            if current & (gtf::READING | gtf::WRITING) != 0 {
                return Err(GrantError::InUse { gref });
            }
            match flags
                .atomic()
                .compare_exchange(current, 0, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if let Some(g) = self.granted.get_mut(index) {
            *g = false;
        }
        self.free.push(gref.0);
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;
    use std::boxed::Box;

    type Frame = [GrantEntryV1; ENTRIES_PER_FRAME];

    fn table(n: usize) -> (Vec<Box<Frame>>, GrantTable) {
        let mut mem: Vec<Box<Frame>> = (0..n)
            .map(|_| Box::new([GrantEntryV1::default(); ENTRIES_PER_FRAME]))
            .collect();
        let frames = mem
            .iter_mut()
            // SAFETY: each box outlives the table in the test; test and table take turns.
            .map(|b| unsafe { Shared::new(&raw mut **b) })
            .collect();
        (mem, GrantTable::new(frames))
    }

    #[test]
    fn a_grant_fills_the_entry_and_skips_the_reserved_ones() {
        let (mem, mut t) = table(2);
        assert_eq!(t.capacity(), 1024);
        assert_eq!(t.free(), 1024 - 8);
        let g = t.grant(DomId(0), 0x1234, false).unwrap();
        assert_eq!(g, GrantRef(8));
        assert_eq!(
            mem[0][8],
            GrantEntryV1 {
                flags: gtf::PERMIT_ACCESS,
                domid: 0,
                frame: 0x1234
            }
        );
        let ro = t.grant(DomId(3), 0x99, true).unwrap();
        assert_eq!(mem[0][9].flags, gtf::PERMIT_ACCESS | gtf::READONLY);
        assert_eq!(mem[0][9].domid, 3);
        assert_eq!(ro, GrantRef(9));
    }

    #[test]
    fn grants_span_frames_and_run_out_cleanly() {
        let (mem, mut t) = table(2);
        let refs: Vec<_> = (0..1016)
            .map(|i| t.grant(DomId(0), i, false).unwrap())
            .collect();
        assert_eq!(refs.last(), Some(&GrantRef(1023)));
        assert_eq!(mem[1][511].frame, 1015);
        assert_eq!(
            t.grant(DomId(0), 1, false),
            Err(GrantError::NoFreeEntries { capacity: 1024 })
        );
        assert_eq!(
            t.grant(DomId(0), 1 << 32, false),
            Err(GrantError::FrameTooLarge { frame: 1 << 32 })
        );
    }

    #[test]
    fn ending_waits_while_the_grantee_has_it_mapped() {
        let (mut mem, mut t) = table(1);
        let g = t.grant(DomId(0), 7, false).unwrap();
        // Xen marks the entry while the backend has the frame mapped.
        mem[0][8].flags |= gtf::WRITING;
        assert_eq!(t.end(g), Err(GrantError::InUse { gref: g }));
        assert_eq!(t.free(), 512 - 8 - 1, "not reusable yet");
        mem[0][8].flags &= !gtf::WRITING;
        assert_eq!(t.end(g), Ok(()));
        assert_eq!(mem[0][8].flags, 0);
        assert_eq!(t.free(), 512 - 8);
        assert_eq!(t.grant(DomId(0), 8, false), Ok(g), "the entry is reused");
    }

    #[test]
    fn only_our_live_grants_can_be_ended() {
        let (_mem, mut t) = table(1);
        let g = t.grant(DomId(0), 7, false).unwrap();
        assert_eq!(t.end(g), Ok(()));
        for bad in [
            g,
            GrantRef(0),
            GrantRef(7),
            GrantRef(512),
            GrantRef(u32::MAX),
        ] {
            assert_eq!(
                t.end(bad),
                Err(GrantError::NotGranted { gref: bad }),
                "{bad:?}"
            );
        }
        assert_eq!(t.free(), 512 - 8, "no entry was freed twice");
    }
}
