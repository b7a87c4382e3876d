//! Drivers: the PV devices and services a guest talks to through Xen.
//!
//! | module | what | may use |
//! |---|---|---|
//! | `console` | PV console ring: output with flow control, input lines | arch, event, sched, time |
//! | `xenbus` | xenstore client: requests, watches, transactions | arch, event, sched, time |
//! | `control` | `control/shutdown` requests from the toolstack | xenbus, sched |
//! | `gnttab` | grant table: lending pages to backends | arch |
//! | `netfront` | PV network frontend, a smoltcp device | xenbus, gnttab, event, sched, time, mm |
//!
//! A driver never calls into `net/` or the apps above it.

pub mod console;
#[cfg(target_os = "none")]
pub mod control;
#[cfg(target_os = "none")]
pub mod gnttab;
#[cfg(target_os = "none")]
pub mod netfront;
#[cfg(target_os = "none")]
pub mod xenbus;
