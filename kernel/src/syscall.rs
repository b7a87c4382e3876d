//! The system-call entry the kernel gives to a Linux ABI layer (`libc-shim`).
//!
//! Thread code that executes `syscall` (C compiled against musl) arrives here as a plain
//! call on its own stack, in user mode, with its registers in a
//! [`SyscallFrame`](crate::arch::x86_64::syscall::SyscallFrame) (see
//! `arch::x86_64::syscall`): a call that blocks blocks only its thread. The numbers, the
//! structures and errno belong to the ABI layer, which installs its handler with
//! [`set_handler`]; without one every call answers `-ENOSYS`.
//!
//! May use: `arch` (the frame type).
#![forbid(unsafe_code)]

pub use crate::arch::x86_64::syscall::SyscallFrame;

/// A system-call handler: returns the value for RAX (a result, or `-errno`).
pub type Handler = fn(&mut SyscallFrame) -> i64;

/// `ENOSYS`.
const ENOSYS: i64 = 38;

static HANDLER: spin::Once<Handler> = spin::Once::new();

/// Installs the ABI layer's handler (once; later calls change nothing).
pub fn set_handler(h: Handler) {
    HANDLER.call_once(|| h);
}

/// Runs the installed handler for `frame`.
pub(crate) fn dispatch(frame: &mut SyscallFrame) -> i64 {
    match HANDLER.get() {
        Some(h) => h(frame),
        None => -ENOSYS,
    }
}
