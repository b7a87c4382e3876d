//! Linux system calls from the code a thread runs (`syscall` in PV user mode), delivered as
//! plain function calls on the thread's own stack.
//!
//! Xen bounces a user-mode `syscall` to our syscall callback in kernel mode, on the shared
//! kernel stack (`traps::syscall_entry`). A call from the hypercall page is one of our own
//! hypercalls and is made there; any other is a Linux system call: the callback returns
//! to user mode at `ferrun_syscall_user` with the stack pointer 128 bytes below the
//! caller's (its red zone is left alone) and RCX = the caller's RIP, R11 = its RSP, every
//! other register as the caller left it. There it saves the argument registers, calls the
//! kernel's handler with a [`SyscallFrame`] (so a call that blocks blocks only its thread,
//! like any thread code) and returns to the caller with RAX = the result and every other
//! register but RCX and R11 as it was (the `syscall` instruction's contract).

use core::arch::global_asm;

/// The registers of a system call, as `ferrun_syscall_user` saves them (lowest address
/// first). The handler may change them (a new thread's start, `execve`-like calls).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SyscallFrame {
    /// System call number.
    pub nr: u64,
    /// Argument 1.
    pub rdi: u64,
    /// Argument 2.
    pub rsi: u64,
    /// Argument 3.
    pub rdx: u64,
    /// Argument 4.
    pub r10: u64,
    /// Argument 5.
    pub r8: u64,
    /// Argument 6.
    pub r9: u64,
    /// Where the caller continues (the instruction after `syscall`).
    pub rip: u64,
    /// The caller's stack pointer.
    pub rsp: u64,
}

const _: () = {
    assert!(core::mem::size_of::<SyscallFrame>() == 9 * 8);
    assert!(core::mem::offset_of!(SyscallFrame, rip) == 7 * 8);
    assert!(core::mem::offset_of!(SyscallFrame, rsp) == 8 * 8);
};

global_asm!(
    ".pushsection .text.syscall_user, \"ax\"",
    ".globl ferrun_syscall_user",
    "ferrun_syscall_user:",
    // RSP is 16-byte aligned here (the callback made it so); RCX = caller RIP, R11 = RSP.
    "  push %r11",
    "  push %rcx",
    "  push %r9",
    "  push %r8",
    "  push %r10",
    "  push %rdx",
    "  push %rsi",
    "  push %rdi",
    "  push %rax",
    "  mov %rsp, %rdi",   // &mut SyscallFrame
    "  sub $8, %rsp",     // 9 words pushed: realign for the call
    "  call {dispatch}",
    "  add $16, %rsp",    // the pad and the saved number (RAX holds the result)
    "  pop %rdi",
    "  pop %rsi",
    "  pop %rdx",
    "  pop %r10",
    "  pop %r8",
    "  pop %r9",
    "  pop %rcx",         // where the caller continues
    "  pop %rsp",         // the caller's stack
    "  jmp *%rcx",
    ".popsection",
    dispatch = sym super::entry::syscall_handler,
    options(att_syntax)
);
