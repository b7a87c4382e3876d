//! Time from the pvclock in `vcpu_info`, read on every call.
//!
//! Never derived from a tick counter, so it cannot freeze in a busy loop or run back
//! (rumprun #3, #71). The arithmetic and the seqlock live in `xen::pvclock`.
#![forbid(unsafe_code)]

extern crate alloc;

use crate::arch::x86_64 as arch;
use xen::abi::xen::{SharedInfo, VcpuInfo, VcpuTimeInfo};
use xen::pvclock::{self, Monotonic, WallClockBase};
use xen::seqlock::{Versioned, snapshot};
use xen::shared::Shared;
use xen::shared_field;

struct VcpuTime(Shared<VcpuTimeInfo>);

impl Versioned for VcpuTime {
    type Record = VcpuTimeInfo;
    fn tag(&self) -> u64 {
        u64::from(shared_field!(self.0, VcpuTimeInfo, version).read())
    }
    fn copy(&self) -> VcpuTimeInfo {
        self.0.read()
    }
    fn writing(tag: u64) -> bool {
        pvclock::writing(tag)
    }
}

fn vcpu_time(s: Shared<SharedInfo>) -> Option<VcpuTime> {
    let vcpu = shared_field!(s, SharedInfo, vcpu_info).get(0)?;
    Some(VcpuTime(shared_field!(vcpu, VcpuInfo, time)))
}

static MONOTONIC: Monotonic = Monotonic::new();

/// A consistent copy of vCPU 0's pvclock record.
pub fn time_info() -> Option<VcpuTimeInfo> {
    let src = vcpu_time(arch::shared_info()?)?;
    Some(snapshot(&src))
}

/// Xen system time in ns (time since the host booted), monotonic; 0 before shared_info
/// is mapped.
pub fn now_ns() -> u64 {
    MONOTONIC.clamp(raw_now_ns())
}

/// The pvclock reading itself, without the monotonic guard: it can step back when Xen
/// updates the record and the TSC ran at another rate than Xen's estimate (unless Xen
/// sets `XEN_PVCLOCK_TSC_STABLE_BIT`). For diagnostics; use [`now_ns`].
pub fn raw_now_ns() -> u64 {
    let Some(src) = arch::shared_info().and_then(vcpu_time) else {
        return 0;
    };
    loop {
        let info = snapshot(&src);
        let tsc = arch::rdtsc();
        // The TSC must be read under the record version it is scaled with.
        if src.tag() == u64::from(info.version) {
            return pvclock::system_time(&info, tsc);
        }
    }
}

/// shared_info's wall-clock fields, under `wc_version`.
struct WallClock(Shared<SharedInfo>);

impl Versioned for WallClock {
    type Record = WallClockBase;
    fn tag(&self) -> u64 {
        u64::from(shared_field!(self.0, SharedInfo, wc_version).read())
    }
    fn copy(&self) -> WallClockBase {
        WallClockBase::from_fields(
            shared_field!(self.0, SharedInfo, wc_sec).read(),
            shared_field!(self.0, SharedInfo, wc_sec_hi).read(),
            shared_field!(self.0, SharedInfo, wc_nsec).read(),
        )
    }
    fn writing(tag: u64) -> bool {
        pvclock::writing(tag)
    }
}

/// Wall-clock time: ns since the Unix epoch (Xen's wall clock, including `wc_sec_hi`).
pub fn wallclock_ns() -> u128 {
    now_and_wallclock_ns().1
}

/// The monotonic clock and the wall clock at the same instant, from one pvclock reading:
/// `(ns since boot, ns since the Unix epoch)`. Their difference changes only when Xen's
/// wall-clock base does (dom0 setting the time).
pub fn now_and_wallclock_ns() -> (u64, u128) {
    let now = now_ns();
    let wall = arch::shared_info().map_or(0, |s| snapshot(&WallClock(s)).at(now));
    (now, wall)
}

/// Stops Xen's default 100 Hz periodic timer (an idle guest would wake 100 times a
/// second) and binds VIRQ_TIMER for the one-shot timer (its events only wake the idle
/// loop).
pub(crate) fn init() -> Result<(), xen::XenError> {
    arch::hypercall::stop_periodic_timer()?;
    let port = crate::event::bind_virq(xen::abi::xen::virq::TIMER)?;
    crate::event::bind_handler(
        port,
        alloc::sync::Arc::new(|_| {
            TIMER_EVENTS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            crate::trace::record(crate::trace::Kind::Timer, [0; 3]);
        }),
    )?;
    Ok(())
}

/// VIRQ_TIMER events handled so far.
static TIMER_EVENTS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// How many timer events (VIRQ_TIMER) have been handled: one per one-shot deadline that
/// came due, and none while idle with nothing to wait for.
pub fn timer_events() -> u64 {
    TIMER_EVENTS.load(core::sync::atomic::Ordering::Relaxed)
}

/// The runstate times when the area was registered: what the vCPU spent before boot
/// (created but paused, the toolstack's hotplug scripts, all counted as offline) is not
/// the guest's steal.
static BOOT_RUNSTATE: spin::Once<xen::runstate::RunstateTimes> = spin::Once::new();

/// Registers the runstate area for steal time and takes the since-boot base; without it
/// (an error) steal time is unavailable.
pub(crate) fn init_runstate() -> Result<(), xen::XenError> {
    arch::runstate::register()?;
    if let Some(t) = runstate_since_creation() {
        BOOT_RUNSTATE.call_once(|| t);
    }
    Ok(())
}

/// The earlier of two deadlines, either of which may be absent (ns of monotonic time).
pub(crate) fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Arms the one-shot timer: a VIRQ_TIMER event at system time `deadline_ns` (0 cancels).
pub(crate) fn set_timer(deadline_ns: u64) {
    // A refused timer only makes the idle loop wake later; it cannot lose a wakeup
    // because the loop re-checks deadlines on every event. It is reported once.
    static REPORTED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    let deadline = pvclock::timer_deadline(now_ns(), deadline_ns);
    if let Err(e) = arch::hypercall::set_timer_op(deadline)
        && !REPORTED.swap(true, core::sync::atomic::Ordering::Relaxed)
    {
        crate::diag::hypercall_failed(xen::abi::xen::hypercall::SET_TIMER_OP, &[deadline], e);
    }
}

struct Runstate(Shared<xen::abi::vcpu::VcpuRunstateInfo>);

impl Versioned for Runstate {
    type Record = xen::abi::vcpu::VcpuRunstateInfo;
    fn tag(&self) -> u64 {
        shared_field!(self.0, xen::abi::vcpu::VcpuRunstateInfo, state_entry_time).read()
    }
    fn copy(&self) -> xen::abi::vcpu::VcpuRunstateInfo {
        self.0.read()
    }
    fn writing(tag: u64) -> bool {
        xen::runstate::writing(tag)
    }
}

/// Where vCPU 0's time went since it was created (Xen's own sums).
fn runstate_since_creation() -> Option<xen::runstate::RunstateTimes> {
    let src = Runstate(arch::runstate::area()?);
    let snap = snapshot(&src);
    Some(xen::runstate::RunstateTimes::at(&snap, now_ns()))
}

/// Where vCPU 0's time went since boot: running, runnable, blocked, offline (ns). Time
/// paused after boot (`xl pause`) is offline, and is steal. `None` when Xen did not
/// accept the runstate area.
pub fn runstate() -> Option<xen::runstate::RunstateTimes> {
    let now = runstate_since_creation()?;
    Some(match BOOT_RUNSTATE.get() {
        Some(base) => now.since(base),
        None => now,
    })
}

/// Stolen time (ns) since boot: runnable + offline.
pub fn steal_ns() -> Option<u64> {
    runstate().map(|r| r.steal())
}

/// A clock of the CPU time this guest really got: monotonic time minus steal.
pub fn run_clock_ns() -> u64 {
    now_ns().saturating_sub(steal_ns().unwrap_or(0))
}
