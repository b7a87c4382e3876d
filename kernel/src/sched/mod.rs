//! Cooperative threads: create, join, yield, sleep, exit, names, and the idle loop.
//!
//! One vCPU, no preemption: a thread runs until it yields, sleeps, blocks or exits. Each
//! thread has its own stack (with an unmapped guard page below), its own MXCSR and x87
//! control word (saved by the switch), and its own TLS block reached through the FS base
//! (`set_segment_base`). Event handlers run in thread context from the scheduler, so the
//! upcall never touches scheduler state. When nothing can run, the idle loop arms the
//! one-shot timer for the next sleeper and blocks in Xen (`SCHEDOP_block`).

#[forbid(unsafe_code)]
pub mod frame;
#[forbid(unsafe_code)]
pub mod tls;

#[cfg(target_os = "none")]
mod imp;
#[cfg(target_os = "none")]
#[forbid(unsafe_code)]
pub mod sync;

#[cfg(target_os = "none")]
pub use imp::*;
