//! The kernel console: the PV console ring from start_info, and `print!`/`println!`.
//!
//! A release Xen refuses `HYPERVISOR_console_io` from a domU, so the ring is the console
//! from the first line on. Output is copied into the ring and the console event channel is
//! notified. When the ring is full, a thread blocks until xenconsoled signals that it
//! consumed output (nothing is dropped); kernel context (boot, traps, crash reports)
//! yields to Xen and retries for a bounded time (a dead backend must not hang a crash
//! report forever).
//!
//! Input (what is typed at `xl console`, or written to the console's pty in dom0) is read
//! a line at a time by [`read_line`], which blocks the calling thread until a whole line
//! arrives.
//!
//! May use: `arch` (event-channel send, yield), `event`, `sched`, `time`, `xen`.

pub mod lines;

#[cfg(target_os = "none")]
mod imp;
#[cfg(target_os = "none")]
pub use imp::*;
