//! Xen PV ABI types and protocol logic, written to run on the host.
//!
//! `abi` mirrors the Xen 4.17 public headers (`xen/include/public/`) with compile-time size,
//! alignment and offset checks; the host test `tests/layout_vs_libxen.rs` compares every
//! checked figure with Debian's `libxen-dev` headers. The other modules hold the logic that
//! does not need the hypervisor: pvclock arithmetic, runstate snapshots, event-channel bit
//! scanning and the console ring protocol. Memory shared with Xen or a peer is reached only
//! through [`shared`], the one module of this crate with `unsafe`.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod abi;
pub mod console;
pub mod control;
pub mod error;
pub mod evtchn;
pub mod gnttab;
pub mod multicall;
pub mod netfront;
pub mod netif;
pub mod pvclock;
pub mod ring;
pub mod runstate;
pub mod seqlock;
pub mod shared;
pub mod xenstore;

pub use error::XenError;
