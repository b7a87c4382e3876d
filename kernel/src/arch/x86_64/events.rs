//! Event-channel hypercalls and the PV "interrupt flag" (`evtchn_upcall_mask`).

use super::hypercall::{event_channel_op, force_event_check};
use super::shared_info;
use xen::XenError;
use xen::abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindVirq, EvtchnClose, EvtchnUnmask, op,
};
use xen::abi::xen::{DomId, Port, SharedInfo, VcpuInfo};
use xen::shared::Shared;
use xen::shared_field;

fn vcpu0() -> Option<Shared<VcpuInfo>> {
    shared_field!(shared_info()?, SharedInfo, vcpu_info).get(0)
}

/// Masks event upcalls; returns the previous mask (like `local_irq_save`).
pub(crate) fn mask_upcalls() -> u8 {
    let Some(v) = vcpu0() else { return 1 };
    let mask = shared_field!(v, VcpuInfo, evtchn_upcall_mask);
    let prev = mask.read();
    mask.write(1);
    // The mask must be set before whatever the caller checks next.
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    prev
}

/// Restores the upcall mask; if that unmasks and an event is pending, has it delivered now.
pub(crate) fn restore_upcalls(prev: u8) {
    let Some(v) = vcpu0() else { return };
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    shared_field!(v, VcpuInfo, evtchn_upcall_mask).write(prev);
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    if prev == 0 && shared_field!(v, VcpuInfo, evtchn_upcall_pending).read() != 0 {
        force_event_check();
    }
}

/// `EVTCHNOP_bind_virq` on vCPU 0.
pub(crate) fn bind_virq(virq: u32) -> Result<Port, XenError> {
    let mut arg = EvtchnBindVirq {
        virq,
        vcpu: 0,
        port: 0,
    };
    // SAFETY: EvtchnBindVirq is the argument of EVTCHNOP_bind_virq.
    unsafe { event_channel_op(op::BIND_VIRQ, &mut arg)? };
    Ok(Port(arg.port))
}

/// `EVTCHNOP_alloc_unbound`: a port `remote` may bind to.
pub(crate) fn alloc_unbound(remote: DomId) -> Result<Port, XenError> {
    let mut arg = EvtchnAllocUnbound {
        dom: DomId::SELF.0,
        remote_dom: remote.0,
        port: 0,
    };
    // SAFETY: EvtchnAllocUnbound is the argument of EVTCHNOP_alloc_unbound.
    unsafe { event_channel_op(op::ALLOC_UNBOUND, &mut arg)? };
    Ok(Port(arg.port))
}

/// `EVTCHNOP_bind_interdomain`: connects to `remote_port` of domain `remote`.
pub(crate) fn bind_interdomain(remote: DomId, remote_port: Port) -> Result<Port, XenError> {
    let mut arg = EvtchnBindInterdomain {
        remote_dom: remote.0,
        remote_port: remote_port.0,
        local_port: 0,
    };
    // SAFETY: EvtchnBindInterdomain is the argument of EVTCHNOP_bind_interdomain.
    unsafe { event_channel_op(op::BIND_INTERDOMAIN, &mut arg)? };
    Ok(Port(arg.local_port))
}

/// `EVTCHNOP_close`.
pub(crate) fn close(port: Port) -> Result<(), XenError> {
    let mut arg = EvtchnClose { port: port.0 };
    // SAFETY: EvtchnClose is the argument of EVTCHNOP_close.
    unsafe { event_channel_op(op::CLOSE, &mut arg) }
}

/// `EVTCHNOP_unmask`: Xen clears the mask bit and re-raises the port if it is pending
/// (edges that arrived while masked are not lost).
pub(crate) fn unmask(port: Port) -> Result<(), XenError> {
    let mut arg = EvtchnUnmask { port: port.0 };
    // SAFETY: EvtchnUnmask is the argument of EVTCHNOP_unmask.
    unsafe { event_channel_op(op::UNMASK, &mut arg) }
}

/// Sets the mask bit of `port` in shared_info.
pub(crate) fn mask(port: Port) {
    let Some(s) = shared_info() else { return };
    let Some((word, bit)) = xen::evtchn::port_position(port) else {
        return;
    };
    if let Some(w) = shared_field!(s, SharedInfo, evtchn_mask).get(word) {
        w.atomic()
            .fetch_or(1 << bit, core::sync::atomic::Ordering::SeqCst);
    }
}

/// Sets every mask bit in shared_info.
pub(crate) fn mask_all() {
    let Some(s) = shared_info() else { return };
    let words = shared_field!(s, SharedInfo, evtchn_mask);
    for i in 0..xen::abi::xen::EVTCHN_WORDS {
        if let Some(w) = words.get(i) {
            w.atomic()
                .store(u64::MAX, core::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Masks event upcalls for good (the watchdog flight's hung guest): no event, timer or
/// console flow control reaches this vCPU again.
pub fn mask_upcalls_for_good() {
    let _ = mask_upcalls();
}
