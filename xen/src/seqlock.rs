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
