//! The file tree behind ferrun's Linux system calls, written to run on the host.
//!
//! `libc-shim` answers `open`, `stat`, `getdents64`, `rename`, `fcntl(F_SETLK)`, `pipe`,
//! `eventfd` and friends for unmodified musl programs; this crate holds the logic under those
//! calls, with Linux's semantics (POSIX plus what Linux's tmpfs does) and no hardware:
//!
//! - [`fs::FileSystem`]: inode-level operations one mounted file system offers.
//! - [`memfs::MemFs`]: the in-memory file system used for tmpfs mounts and for the read-only
//!   root filled from a cpio archive ([`cpio::load_newc`]).
//! - [`vfs::Vfs`]: the mount table and path walking (`.`/`..`, symlinks, mount crossing,
//!   Linux's `open` rules).
//! - [`locks`]: POSIX record locks and `flock` locks of one file.
//! - [`pipe::PipeBuffer`] and [`eventfd::EventCounter`]: the buffers behind pipes and eventfds.
//!
//! The guest program always runs as uid 0, so nothing checks permissions except read-only
//! mounts (`EROFS`). Nothing here blocks: where Linux would sleep, the functions return
//! `WouldBlock` and the caller waits.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod cpio;
pub mod error;
pub mod eventfd;
pub mod fs;
pub mod locks;
pub mod memfs;
pub mod pipe;
pub mod types;
pub mod vfs;

pub use cpio::{CpioError, CpioSummary, load_newc};
pub use error::{FsError, Result};
pub use eventfd::{EventCounter, EventError};
pub use fs::FileSystem;
pub use locks::{Conflict, FlockKind, FlockTable, LockKind, LockTable, Owner, Range};
pub use memfs::{MemFs, MemFsOptions};
pub use pipe::{PipeBuffer, PipeError};
pub use types::{DirEntry, FileType, Ino, SetAttr, Stat, StatFs, TimeSet, Timespec};
pub use vfs::{MountId, NodeRef, OpenOptions, Vfs};
