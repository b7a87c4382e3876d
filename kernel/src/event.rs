//! Event channels (2-level ABI): the upcall, dispatch in thread context, and the channel
//! operations drivers use.
//!
//! The upcall runs on whatever stack was current, with events masked, and does as little
//! as possible: it moves pending-and-unmasked ports from shared_info into our own bitmap
//! with atomic operations. Handlers run later in thread context, from the scheduler
//! ([`dispatch`]), where they may take locks and wake threads.
#![forbid(unsafe_code)]

extern crate alloc;

use crate::arch::x86_64::{self as arch, events as ops};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use xen::XenError;
use xen::abi::xen::{DomId, EVTCHN_WORDS, Port, SharedInfo, VcpuInfo};
use xen::shared_field;

/// Ports the upcall saw and no handler has run for yet.
static PENDING: [AtomicU64; EVTCHN_WORDS] = [const { AtomicU64::new(0) }; EVTCHN_WORDS];

/// A handler, run in thread context for each event on its port.
pub type Handler = Arc<dyn Fn(Port) + Send + Sync>;

static HANDLERS: spin::Mutex<BTreeMap<u32, Handler>> = spin::Mutex::new(BTreeMap::new());

/// Upcall body (events masked): moves pending ports into [`PENDING`].
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
        |port| {
            if let Some((word, bit)) = xen::evtchn::port_position(port)
                && let Some(w) = PENDING.get(word)
            {
                w.fetch_or(1 << bit, Ordering::SeqCst);
            }
        },
    );
}

/// True when some port has an event not yet dispatched.
pub fn pending() -> bool {
    PENDING.iter().any(|w| w.load(Ordering::SeqCst) != 0)
}

/// Set while [`dispatch`] runs handlers: they must not block (the scheduler called them).
static DISPATCHING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// True while an event handler runs.
pub fn dispatching() -> bool {
    DISPATCHING.load(Ordering::Relaxed)
}

/// Runs the handlers of every port that had an event (thread context).
pub fn dispatch() {
    let outer = DISPATCHING.swap(true, Ordering::Relaxed);
    run_handlers();
    DISPATCHING.store(outer, Ordering::Relaxed);
}

fn run_handlers() {
    for (i, word) in PENDING.iter().enumerate() {
        let mut bits = word.swap(0, Ordering::SeqCst);
        while bits != 0 {
            let bit = bits.trailing_zeros();
            bits &= bits - 1;
            let port = Port(i as u32 * 64 + bit);
            crate::trace::record(crate::trace::Kind::Event, [u64::from(port.0), 0, 0]);
            let handler = HANDLERS.lock().get(&port.0).cloned();
            if let Some(h) = handler {
                h(port);
            }
        }
    }
}

/// Masks every port (boot: Xen may have left some unmasked). Ports are unmasked when a
/// handler is bound.
pub(crate) fn init() {
    ops::mask_all();
}

/// Runs `handler` for every event on `port` and unmasks it.
pub fn bind_handler(port: Port, handler: Handler) -> Result<(), XenError> {
    HANDLERS.lock().insert(port.0, handler);
    ops::unmask(port).inspect_err(|&e| {
        crate::diag::hypercall_failed(
            xen::abi::xen::hypercall::EVENT_CHANNEL_OP,
            &[
                u64::from(xen::abi::event_channel::op::UNMASK),
                u64::from(port.0),
            ],
            e,
        );
    })
}

/// Masks `port` and forgets its handler.
pub fn unbind_handler(port: Port) {
    ops::mask(port);
    HANDLERS.lock().remove(&port.0);
}

/// Binds a virtual IRQ (e.g. `VIRQ_TIMER`) on vCPU 0.
pub fn bind_virq(virq: u32) -> Result<Port, XenError> {
    ops::bind_virq(virq)
}

/// Allocates a port that domain `remote` may bind to (a frontend's side of a channel).
pub fn alloc_unbound(remote: DomId) -> Result<Port, XenError> {
    ops::alloc_unbound(remote)
}

/// Binds to `remote_port` of domain `remote`.
pub fn bind_interdomain(remote: DomId, remote_port: Port) -> Result<Port, XenError> {
    ops::bind_interdomain(remote, remote_port)
}

/// Notifies the other end of `port` (a failure is reported: a channel we hold should
/// take a notification).
pub fn send(port: Port) -> Result<(), XenError> {
    arch::evtchn_send(port).inspect_err(|&e| {
        crate::diag::hypercall_failed(
            xen::abi::xen::hypercall::EVENT_CHANNEL_OP,
            &[
                u64::from(xen::abi::event_channel::op::SEND),
                u64::from(port.0),
            ],
            e,
        );
    })
}

/// Closes `port` (and forgets its handler).
pub fn close(port: Port) -> Result<(), XenError> {
    unbind_handler(port);
    ops::close(port)
}
