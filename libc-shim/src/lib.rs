//! The C ABI of ferrun: the libc functions C programs in an image link against.
//!
//! Empty until the libc-shim issue: the runtime core it builds on comes first.
#![cfg_attr(target_os = "none", no_std)]
