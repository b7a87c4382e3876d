//! Watchdogs: a stall watchdog for threads that never yield, and Xen's domain watchdog for
//! a guest that stops altogether.
//!
//! Stalls: the scheduler notes when it switched to the running thread; the timer upcall,
//! which interrupts whatever runs, reports a thread that has run `watchdog=S` seconds
//! (default 5, `watchdog=0` off) without yielding, soft-lockup style: its name, where it
//! is (RIP, backtrace). Once per stall; the other threads run again when it yields. For
//! the upcall to come, the one-shot timer is armed for the check whenever the vCPU leaves
//! idle.
//!
//! Xen's watchdog (`SCHEDOP_watchdog`, `domain-watchdog=S`, default 30 s, 0 off) is kicked
//! from the same upcall every third of its timeout, so a guest that stops taking upcalls
//! (masked for good, or wedged in the kernel) is shut down by Xen with reason watchdog
//! instead of hanging for ever. An idle guest therefore wakes once every third of it.
//!
//! May use: `arch` (hypercalls, trap frame), `time`, `sched`, `panic`, `lib`, `cmdline`.
#![forbid(unsafe_code)]

use crate::arch::x86_64::{hypercall, traps::TrapFrame};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

const NS: u64 = 1_000_000_000;

/// Seconds a thread may run without yielding (0: no stall watchdog).
static STALL_NS: AtomicU64 = AtomicU64::new(5 * NS);
/// When the running thread was switched to, in ns of the time the scheduler read anyway
/// for its sleepers (0: the vCPU is idle): a context switch pays two stores.
static RUNNING_SINCE: AtomicU64 = AtomicU64::new(0);
/// The running thread's stall was reported.
static REPORTED: AtomicBool = AtomicBool::new(false);
/// Xen's watchdog: id (0: none) and timeout in seconds.
static XEN_ID: AtomicU32 = AtomicU32::new(0);
static XEN_TIMEOUT: AtomicU32 = AtomicU32::new(0);
/// When Xen's watchdog is kicked next.
static NEXT_KICK: AtomicU64 = AtomicU64::new(0);

/// A `watchdog=`/`domain-watchdog=` value in seconds, or `None` when the word is absent
/// or malformed (reported, and the default kept).
fn seconds(cmdline: &str, word: &'static str) -> Option<u64> {
    crate::cmdline::number(cmdline, word, 0..=3600, "seconds (0 to 3600)").unwrap_or_else(|e| {
        crate::println!("ferrun: {e}; default kept");
        None
    })
}

/// Reads the settings and arms Xen's watchdog (boot).
pub(crate) fn init(cmdline: &str) {
    if let Some(s) = seconds(cmdline, "watchdog") {
        STALL_NS.store(s * NS, Ordering::Relaxed);
    }
    let timeout = seconds(cmdline, "domain-watchdog").unwrap_or(30);
    if timeout == 0 {
        return;
    }
    let t = u32::try_from(timeout).unwrap_or(30);
    match hypercall::sched_watchdog(0, t) {
        Ok(id) => {
            XEN_ID.store(id, Ordering::Relaxed);
            XEN_TIMEOUT.store(t, Ordering::Relaxed);
            NEXT_KICK.store(kick_after(crate::time::now_ns()), Ordering::Relaxed);
        }
        Err(e) => {
            crate::println!("ferrun: SCHEDOP_watchdog({t} s) refused: {e}; no domain watchdog")
        }
    }
}

fn kick_after(now: u64) -> u64 {
    now.saturating_add(u64::from(XEN_TIMEOUT.load(Ordering::Relaxed)) * NS / 3)
}

/// The scheduler switched to another thread at `now` (or let the running one go on
/// after it yielded).
pub(crate) fn switched(now: u64) {
    RUNNING_SINCE.store(now.max(1), Ordering::Relaxed);
    REPORTED.store(false, Ordering::Relaxed);
}

/// The vCPU goes idle (nothing runs, nothing can stall).
pub(crate) fn idle() {
    RUNNING_SINCE.store(0, Ordering::Relaxed);
}

/// The vCPU left idle at `now`: the scheduler runs, then a thread. The upcall for the
/// timer that woke it comes before the scheduler has picked one; it must see the vCPU
/// running, or it arms no timer and a thread that then runs without yielding is watched
/// by neither watchdog (Xen's goes unkicked and ends the domain).
pub(crate) fn woke(now: u64) {
    switched(now);
}

/// When the timer must fire for the watchdogs at the latest: the next kick of Xen's, and
/// (while a thread runs) the moment it would have run too long.
pub(crate) fn deadline(now: u64, running: bool) -> Option<u64> {
    let kick = NEXT_KICK.load(Ordering::Relaxed);
    let kick = (XEN_ID.load(Ordering::Relaxed) != 0).then_some(kick);
    let stall = STALL_NS.load(Ordering::Relaxed);
    let stall = (running && stall > 0).then(|| now.saturating_add(stall));
    crate::time::earliest(kick, stall)
}

/// The timer (or any) upcall, events masked, with the interrupted registers: kicks Xen's
/// watchdog when due, reports a stalled thread, and arms the timer for the next check.
pub(crate) fn upcall(frame: &TrapFrame) {
    let now = crate::time::now_ns();
    let id = XEN_ID.load(Ordering::Relaxed);
    if id != 0 && now >= NEXT_KICK.load(Ordering::Relaxed) {
        // A refused kick is left for the next upcall; Xen ends the domain if none works.
        let _ = hypercall::sched_watchdog(id, XEN_TIMEOUT.load(Ordering::Relaxed));
        NEXT_KICK.store(kick_after(now), Ordering::Relaxed);
    }
    let since = RUNNING_SINCE.load(Ordering::Relaxed);
    let stall = STALL_NS.load(Ordering::Relaxed);
    let running = since != 0;
    let ran = if running {
        now.saturating_sub(since)
    } else {
        0
    };
    if running && stall > 0 && ran >= stall && !REPORTED.swap(true, Ordering::Relaxed) {
        crate::panic::stall_report(frame, ran);
    }
    // Only the interrupted code was running (the upcall does not switch): keep checking.
    let next = match (running, stall > 0) {
        (true, true) if !REPORTED.load(Ordering::Relaxed) => {
            Some(now.saturating_add(stall.saturating_sub(ran)))
        }
        _ => None,
    };
    let kick = (id != 0).then(|| NEXT_KICK.load(Ordering::Relaxed));
    if running && let Some(at) = crate::time::earliest(next, kick) {
        crate::time::set_timer(at);
    }
}
