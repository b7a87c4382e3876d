//! libc-shim: the Linux x86_64 system-call ABI, under Debian's unmodified musl.
//!
//! A C program is built with musl into a static-pie ELF and started by the kernel in PV
//! user mode with the stack and auxiliary vector musl expects ([`initstack`]); its
//! `syscall` instructions reach [`kernel::syscall`] as plain calls on the calling thread's
//! stack, and this crate answers them with Linux's numbers, structures and errno values.
//! Stdio, malloc, pthreads and libm then come from musl itself.
//!
//! Host-tested parts: [`elf`] (reading the program), [`initstack`] (its first stack),
//! [`nr`], [`errno`], [`stat`] and [`signal`] (signals' bookkeeping and frames). The rest
//! needs the hypervisor and builds only for the guest (see README.md).
//!
//! May use: `kernel` (threads, memory, time, console, network service), `xen`.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod elf;
pub mod errno;
pub mod initstack;
pub mod nr;
pub mod signal;
pub mod stat;

#[cfg(target_os = "none")]
mod dev;
#[cfg(target_os = "none")]
mod exec;
#[cfg(target_os = "none")]
mod fd;
#[cfg(target_os = "none")]
mod file;
#[cfg(target_os = "none")]
mod fs;
#[cfg(target_os = "none")]
mod io;
#[cfg(target_os = "none")]
mod pipe;
#[cfg(target_os = "none")]
mod poll;
#[cfg(target_os = "none")]
mod process;
#[cfg(target_os = "none")]
mod sig;
#[cfg(target_os = "none")]
mod socket;
#[cfg(target_os = "none")]
mod sys;
#[cfg(target_os = "none")]
mod thread;
#[cfg(target_os = "none")]
mod user;

#[cfg(target_os = "none")]
pub use exec::{ExecError, Program, run};
#[cfg(target_os = "none")]
pub use fs::{TreeConfig, TreeError};
