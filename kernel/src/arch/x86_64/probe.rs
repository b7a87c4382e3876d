//! Probes of the psABI state at a function entry, for the self tests.
//!
//! Each probe is a plain function entered with `call`, so what it sees is what any
//! function called from the same place would see.

use core::arch::global_asm;

global_asm!(
    ".pushsection .text.probe, \"ax\"",
    // Returns RSP as the callee sees it at entry.
    ".globl ferrun_probe_entry_rsp",
    "ferrun_probe_entry_rsp:",
    "  mov %rsp, %rax",
    "  ret",
    // Stores and loads a 16-byte-aligned stack slot with movaps: faults (#GP) unless
    // (%rsp + 8) % 16 == 0 at entry.
    ".globl ferrun_probe_movaps",
    "ferrun_probe_movaps:",
    "  sub $24, %rsp",
    "  movaps %xmm0, (%rsp)",
    "  movaps (%rsp), %xmm0",
    "  add $24, %rsp",
    "  ret",
    // Returns MXCSR in the low 32 bits and the x87 control word in bits 32..47.
    ".globl ferrun_probe_fpu_control",
    "ferrun_probe_fpu_control:",
    "  sub $24, %rsp",
    "  stmxcsr (%rsp)",
    "  fnstcw 4(%rsp)",
    "  movzwl 4(%rsp), %eax",
    "  shl $32, %rax",
    "  mov (%rsp), %edx",
    "  or %rdx, %rax",
    "  add $24, %rsp",
    "  ret",
    // Sets MXCSR to the low 32 bits of RDI (for the per-thread save/restore test).
    ".globl ferrun_probe_set_mxcsr",
    "ferrun_probe_set_mxcsr:",
    "  sub $24, %rsp",
    "  mov %edi, (%rsp)",
    "  ldmxcsr (%rsp)",
    "  add $24, %rsp",
    "  ret",
    ".popsection",
    options(att_syntax)
);

unsafe extern "C" {
    fn ferrun_probe_entry_rsp() -> u64;
    fn ferrun_probe_movaps();
    fn ferrun_probe_fpu_control() -> u64;
    fn ferrun_probe_set_mxcsr(value: u64);
}

/// RSP at the entry of a function called from here.
#[inline(never)]
pub fn entry_rsp() -> u64 {
    // SAFETY: the probe reads RSP and returns; it follows the C ABI.
    unsafe { ferrun_probe_entry_rsp() }
}

/// Runs an aligned SSE store and load (`movaps`) on a stack slot; a misaligned stack
/// faults here with a #GP.
#[inline(never)]
pub fn movaps_on_stack() {
    // SAFETY: the probe touches 24 bytes of its own stack frame and xmm0, which Rust code
    // on this soft-float target never holds values in.
    unsafe { ferrun_probe_movaps() }
}

/// `(MXCSR, x87 control word)` as seen now.
pub fn fpu_control() -> (u32, u16) {
    // SAFETY: the probe stores the two control registers to its own stack and returns them.
    let v = unsafe { ferrun_probe_fpu_control() };
    ((v & 0xffff_ffff) as u32, ((v >> 32) & 0xffff) as u16)
}

/// Loads MXCSR (e.g. to change the rounding mode in one thread).
pub fn set_mxcsr(value: u32) {
    // SAFETY: MXCSR only affects SSE arithmetic of this thread (the switch saves it); the
    // caller passes a value with reserved bits clear.
    unsafe { ferrun_probe_set_mxcsr(u64::from(value & 0xffff)) }
}
