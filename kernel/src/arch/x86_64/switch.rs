//! Thread context switch and the first instruction of every thread.
//!
//! `switch_context` saves what the psABI makes callee-saved (RBX, RBP, R12-R15, the MXCSR
//! control bits and the x87 control word, §3.2.1) on the current stack, stores RSP, loads
//! the next thread's RSP and restores the same set from there. A new thread's stack is laid
//! out by the scheduler (its `frame::initial_frame`) so that the restore "returns" into
//! `thread_start`, which enters the thread's Rust entry with RSP 8 bytes below a 16-byte
//! boundary (what a `call` leaves: `(%rsp + 8) % 16 == 0`), a zero return address and
//! RBP = 0 as the end of every backtrace.

use core::arch::global_asm;

global_asm!(
    ".pushsection .text.switch, \"ax\"",
    ".globl ferrun_switch_context",
    "ferrun_switch_context:",
    "  push %rbp",
    "  push %rbx",
    "  push %r12",
    "  push %r13",
    "  push %r14",
    "  push %r15",
    "  sub $8, %rsp",
    "  stmxcsr (%rsp)",
    "  fnstcw 4(%rsp)",
    "  mov %rsp, (%rdi)",
    "  mov %rsi, %rsp",
    "  ldmxcsr (%rsp)",
    "  fldcw 4(%rsp)",
    "  add $8, %rsp",
    "  pop %r15",
    "  pop %r14",
    "  pop %r13",
    "  pop %r12",
    "  pop %rbx",
    "  pop %rbp",
    "  ret",
    ".globl ferrun_thread_start",
    "ferrun_thread_start:",
    "  mov %r12, %rdi",
    "  xor %ebp, %ebp",
    "  jmp *%r13",
    ".popsection",
    options(att_syntax)
);

unsafe extern "C" {
    fn ferrun_switch_context(save_rsp: *mut u64, load_rsp: u64);
    fn ferrun_thread_start();
}

/// Address of the first instruction of every new thread.
pub(crate) fn thread_start_address() -> u64 {
    ferrun_thread_start as *const () as u64
}

/// Saves the current context into `*save_rsp` and resumes the one saved at `load_rsp`.
///
/// # Safety
/// - `save_rsp` must be valid for a write and stay so until this context is resumed.
/// - `load_rsp` must be a value a previous `switch` stored for a context that has not been
///   resumed since, or a frame built by `initial_frame` on a live, mapped stack.
pub(crate) unsafe fn switch(save_rsp: *mut u64, load_rsp: u64) {
    // SAFETY: the caller upholds the contract; the asm follows the C ABI for its two
    // arguments and preserves every callee-saved register across the switch.
    unsafe { ferrun_switch_context(save_rsp, load_rsp) }
}

/// Stores a new thread's first frame on its stack: `(address, value)` words.
///
/// # Safety
/// Every address in `words` must be 8-aligned and lie in a mapped, writable stack that no
/// running code uses (a stack just allocated for the new thread).
pub unsafe fn write_frame(words: &[(u64, u64)]) {
    for &(addr, value) in words {
        // SAFETY: the caller guarantees the address is 8-aligned and in the new, unused
        // stack.
        unsafe { (addr as *mut u64).write(value) };
    }
}

static FS_BASE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Points FS at a thread's TLS block at `base`: by loading `selector` (an LDT data
/// segment whose base is `base`) when the thread has one, else with
/// `set_segment_base(SEGBASE_FS)`, a hypercall. Skipped when FS already points there.
pub(crate) fn set_tls(selector: Option<u16>, base: u64) -> Result<(), xen::XenError> {
    use core::sync::atomic::Ordering;
    if FS_BASE.load(Ordering::Relaxed) == base {
        return Ok(());
    }
    match selector {
        Some(sel) => super::ldt::load_fs(sel),
        None => {
            // A null selector first, so that no LDT selector stays loaded under a base
            // set by hypercall.
            super::ldt::load_fs(0);
            super::hypercall::set_fs_base(base)?;
        }
    }
    FS_BASE.store(base, Ordering::Relaxed);
    Ok(())
}

/// Reads `%fs:0`: the TLS block's self pointer (x86-64 TLS ABI), once TLS is set.
pub fn tls_self() -> u64 {
    let v: u64;
    // SAFETY: FS points at the current thread's TLS block (set before any thread runs),
    // whose first word is its own address.
    unsafe {
        core::arch::asm!("mov %fs:0, {}", out(reg) v, options(att_syntax, nostack, readonly, preserves_flags))
    };
    v
}

/// Leaves Rust for good: starts a program at `entry` with RSP = `sp` (its initial stack:
/// argc at `sp`), RBP = 0 (the end of every backtrace) and RDX = 0 (no exit function
/// from a dynamic loader), in the running thread and on its stack.
///
/// # Safety
/// `entry` must be the entry point of a program loaded and made executable, and `sp` a
/// 16-byte aligned address below the caller's frame, in the running thread's stack, where
/// the program's initial stack (argc, argv, envp, auxv and strings) has been written.
pub unsafe fn enter_program(entry: u64, sp: u64) -> ! {
    // SAFETY: per the contract; nothing of the Rust frames above `sp` is used again.
    unsafe {
        core::arch::asm!(
            "mov {sp}, %rsp",
            "xor %ebp, %ebp",
            "xor %edx, %edx",
            "jmp *{entry}",
            sp = in(reg) sp,
            entry = in(reg) entry,
            options(att_syntax, noreturn)
        )
    }
}

/// Leaves Rust for good: continues thread code at `rip` with RSP = `rsp`, RAX = `rax`
/// and R9 = `r9` (a new thread of a program returning from its `clone` system call: musl
/// keeps the thread's start function in R9 and its argument on the new stack).
///
/// # Safety
/// `rip` must be code of a loaded program expecting this state, and `rsp` the stack the
/// program gave for it (not in use by anything else).
pub unsafe fn resume_program(rip: u64, rsp: u64, rax: u64, r9: u64) -> ! {
    // SAFETY: per the contract; nothing of the Rust frames is used again.
    unsafe {
        core::arch::asm!(
            "mov {rsp}, %rsp",
            "jmp *{rip}",
            rsp = in(reg) rsp,
            rip = in(reg) rip,
            in("rax") rax,
            in("r9") r9,
            options(att_syntax, noreturn)
        )
    }
}
