//! `public/sched.h`: `SCHEDOP_*` and their argument structs.

use crate::assert_layout;

/// `SCHEDOP_*` commands.
pub mod op {
    /// Give up the physical CPU for a moment.
    pub const YIELD: u32 = 0;
    /// Block until an event arrives (atomically re-enables event delivery).
    pub const BLOCK: u32 = 1;
    /// Shut the domain down; the argument is a pointer to `struct sched_shutdown`.
    pub const SHUTDOWN: u32 = 2;
    /// Block until one of a list of ports is pending, or a timeout.
    pub const POLL: u32 = 3;
    /// Arm, kick or stop a domain watchdog; the argument is `struct sched_watchdog`.
    pub const WATCHDOG: u32 = 6;
}

/// `SHUTDOWN_*` reasons.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Domain exited normally: `xl list` shows `---s--`.
    Poweroff = 0,
    /// Restart.
    Reboot = 1,
    /// Suspend (save/migrate).
    Suspend = 2,
    /// Domain crashed: `xl list` shows `---sc-`.
    Crash = 3,
    /// Watchdog expired.
    Watchdog = 4,
}

/// C: `struct sched_shutdown` (`xen-sys` has it right; its hypercall wrapper does not).
pub type SchedShutdown = xen_sys::sched_shutdown;
assert_layout!(SchedShutdown, "struct sched_shutdown" in "xen/sched.h", size 4, align 4;
    reason = "reason" 0);

/// C: `struct sched_poll`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SchedPoll {
    /// Guest pointer to an array of `evtchn_port_t`.
    pub ports: u64,
    /// Number of ports.
    pub nr_ports: u32,
    /// Absolute system time (ns) to give up at; 0 for none.
    pub timeout: u64,
}
assert_layout!(SchedPoll, "struct sched_poll" in "xen/sched.h", size 24, align 8;
    ports = "ports" 0, nr_ports = "nr_ports" 8, timeout = "timeout" 16);

/// C: `struct sched_watchdog`: `id` 0 arms a new watchdog (the call returns its id); an
/// id and a timeout kick it; an id and timeout 0 stop it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedWatchdog {
    /// Watchdog id (0: a new one).
    pub id: u32,
    /// Seconds until Xen shuts the domain down with reason watchdog.
    pub timeout: u32,
}
assert_layout!(SchedWatchdog, "struct sched_watchdog" in "xen/sched.h", size 8, align 4;
    id = "id" 0, timeout = "timeout" 4);
