//! Consistent copies of records Xen updates under a version tag.
//!
//! Both the pvclock record (`vcpu_time_info.version`, odd while Xen writes) and the
//! runstate area (`state_entry_time` with `XEN_RUNSTATE_UPDATE` set while Xen writes) follow
//! the same reader protocol: read the tag, copy the record, read the tag again; retry if a
//! write was in progress or the tag changed (Linux `pvclock_read_begin/retry`,
//! `xen_get_runstate_snapshot_cpu_delta`; Mini-OS `get_time_values_from_xen`).

use core::sync::atomic::{Ordering, fence};

/// A record read under a version tag: the real shared page, or a script in tests.
pub trait Versioned {
    /// The record type.
    type Record: Copy;
    /// Reads the tag (one volatile load).
    fn tag(&self) -> u64;
    /// Copies the whole record (volatile loads).
    fn copy(&self) -> Self::Record;
    /// True when `tag` says Xen is writing the record.
    fn writing(tag: u64) -> bool;
}

/// A copy of the record taken while no write was in progress and the tag did not change.
pub fn snapshot<S: Versioned>(src: &S) -> S::Record {
    loop {
        let before = src.tag();
        // rmb: the copy must not be read before the tag.
        fence(Ordering::Acquire);
        let copy = src.copy();
        // rmb: the tag must be re-read after the copy.
        fence(Ordering::Acquire);
        let after = src.tag();
        if !S::writing(before) && after == before {
            return copy;
        }
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// A record whose tag reads come from a script: models Xen writing it while we copy.
    /// Odd tags mean "writing" (the pvclock rule).
    struct Scripted {
        tags: &'static [u64],
        next: Cell<usize>,
        copies: Cell<u64>,
    }

    impl Versioned for Scripted {
        type Record = u64;
        fn tag(&self) -> u64 {
            let i = self.next.get();
            self.next.set(i + 1);
            self.tags[i.min(self.tags.len() - 1)]
        }
        fn copy(&self) -> u64 {
            self.copies.set(self.copies.get() + 1);
            self.copies.get()
        }
        fn writing(tag: u64) -> bool {
            tag & 1 == 1
        }
    }

    fn scripted(tags: &'static [u64]) -> Scripted {
        Scripted {
            tags,
            next: Cell::new(0),
            copies: Cell::new(0),
        }
    }

    #[test]
    fn retries_while_a_write_is_in_progress_or_the_tag_changes() {
        // 1,1: writing -> retry; 2,4: changed under us -> retry; 4,4: consistent.
        let src = scripted(&[1, 1, 2, 4, 4, 4]);
        assert_eq!(
            snapshot(&src),
            3,
            "the copy taken under a stable tag is returned"
        );
        assert_eq!(src.copies.get(), 3);
    }

    #[test]
    fn copies_once_without_a_concurrent_write() {
        let src = scripted(&[6]);
        assert_eq!(snapshot(&src), 1);
    }
}
