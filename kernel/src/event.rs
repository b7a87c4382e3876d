//! Event channels (2-level ABI): the upcall dispatcher.

use crate::arch::x86_64 as arch;
use core::sync::atomic::Ordering;
use xen::abi::xen::{SharedInfo, VcpuInfo};
use xen::shared_field;

/// Runs in the event upcall with events masked: takes the pending selector and clears the
/// pending ports. Nothing binds ports yet, so nothing is dispatched.
pub(crate) fn upcall() {
    let Some(s) = arch::shared_info() else { return };
    let Some(vcpu) = shared_field!(s, SharedInfo, vcpu_info).get(0) else {
        return;
    };
    shared_field!(vcpu, VcpuInfo, evtchn_upcall_pending).write(0);
    let sel = shared_field!(vcpu, VcpuInfo, evtchn_pending_sel)
        .atomic()
        .swap(0, Ordering::SeqCst);
    let pending = shared_field!(s, SharedInfo, evtchn_pending);
    let mask = shared_field!(s, SharedInfo, evtchn_mask);
    xen::evtchn::scan(
        sel,
        |i| {
            let (Some(p), Some(m)) = (pending.get(i), mask.get(i)) else {
                return 0;
            };
            let active = p.atomic().load(Ordering::SeqCst) & !m.atomic().load(Ordering::SeqCst);
            p.atomic().fetch_and(!active, Ordering::SeqCst);
            active
        },
        |_port| {},
    );
}
