//! Exception, event-upcall and failsafe entry points, and their registration.
//!
//! A PV kernel runs in ring 3 and gets exceptions and event upcalls as "bounce frames" Xen
//! writes at the current stack pointer (rounded down to 16): `{RCX, R11, [ERRCODE,] RIP,
//! CS, RFLAGS, RSP, SS}` (xen/arch/x86/x86_64/entry.S, create_bounce_frame). Xen skips no
//! red zone, which is why everything is built without one. The stubs below restore RCX and
//! R11, push a uniform [`TrapFrame`], realign the stack to 16 bytes and call Rust with
//! `call`. Return is through `HYPERVISOR_iret`, which restores the event mask from the
//! saved RFLAGS.IF atomically with the return (no window where a second upcall could nest
//! between unmasking and `iretq`).

use core::arch::global_asm;
use xen::abi::xen::{FLAT_KERNEL_CS, TI_SET_IF_MASK, TrapInfo};

/// Vector number the upcall stub records in [`TrapFrame::vector`].
pub(crate) const VECTOR_UPCALL: u64 = 0x100;
/// Vector number the failsafe stub records.
pub(crate) const VECTOR_FAILSAFE: u64 = 0x101;
/// Vector number recorded for a system call that names no hypercall.
pub(crate) const VECTOR_BAD_SYSCALL: u64 = 0x102;

/// The registers saved on entry, lowest address first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    #[allow(missing_docs, reason = "register names")]
    pub r15: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r14: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r13: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r12: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r11: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r10: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r9: u64,
    #[allow(missing_docs, reason = "register names")]
    pub r8: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rbp: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rdi: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rsi: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rdx: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rcx: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rbx: u64,
    #[allow(missing_docs, reason = "register names")]
    pub rax: u64,
    /// Exception vector, or [`VECTOR_UPCALL`] / [`VECTOR_FAILSAFE`].
    pub vector: u64,
    /// Error code (0 for vectors without one).
    pub error: u64,
    /// Interrupted instruction.
    pub rip: u64,
    /// Interrupted code segment.
    pub cs: u64,
    /// Interrupted flags (IF mirrors `!evtchn_upcall_mask`).
    pub rflags: u64,
    /// Interrupted stack pointer.
    pub rsp: u64,
    /// Interrupted stack segment.
    pub ss: u64,
}

const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);
    assert!(core::mem::offset_of!(TrapFrame, rax) == 14 * 8);
    assert!(core::mem::offset_of!(TrapFrame, vector) == 15 * 8);
    assert!(core::mem::offset_of!(TrapFrame, rip) == 17 * 8);
    assert!(core::mem::offset_of!(TrapFrame, ss) == 21 * 8);
};

// Each stub leaves `error, rip, cs, rflags, rsp, ss` on the stack with RCX/R11 restored,
// pushes the vector and RAX, loads the Rust handler into RAX and jumps to the common path.
global_asm!(
    ".macro trap_stub name, vector, has_error, handler",
    ".globl \\name",
    "\\name:",
    "  mov (%rsp), %rcx",
    "  mov 8(%rsp), %r11",
    "  add $16, %rsp",
    "  .if \\has_error == 0",
    "  push $0",
    "  .endif",
    "  push $\\vector",
    "  push %rax",
    "  lea \\handler(%rip), %rax",
    "  jmp trap_common",
    ".endm",
    ".pushsection .text.traps, \"ax\"",
    "trap_common:",
    "  push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp",
    "  push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15",
    "  mov %rsp, %rdi",   // &mut TrapFrame
    "  mov %rsp, %rbx",   // callee-saved: where the frame is
    "  and $-16, %rsp",   // Xen's frame left rsp 16-aligned minus 7 words; realign
    "  cld",
    "  call *%rax",
    "  mov %rbx, %rsp",
    "  pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8",
    "  pop %rbp; pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rbx; pop %rax",
    "  add $16, %rsp",    // vector, error
    "  push $0",          // HYPERVISOR_iret flags (not VGCF_in_syscall)
    "  jmp hypercall_page + {iret} * 32",
    "trap_stub trap_de, 0, 0, {trap}",
    "trap_stub trap_db, 1, 0, {trap}",
    "trap_stub trap_bp, 3, 0, {trap}",
    "trap_stub trap_of, 4, 0, {trap}",
    "trap_stub trap_br, 5, 0, {trap}",
    "trap_stub trap_ud, 6, 0, {trap}",
    "trap_stub trap_nm, 7, 0, {trap}",
    "trap_stub trap_ts, 10, 1, {trap}",
    "trap_stub trap_np, 11, 1, {trap}",
    "trap_stub trap_ss, 12, 1, {trap}",
    "trap_stub trap_gp, 13, 1, {trap}",
    "trap_stub trap_pf, 14, 1, {trap}",
    "trap_stub trap_mf, 16, 0, {trap}",
    "trap_stub trap_ac, 17, 1, {trap}",
    "trap_stub trap_mc, 18, 0, {trap}",
    "trap_stub trap_xm, 19, 0, {trap}",
    "trap_stub hypervisor_callback, {upcall_vec}, 0, {upcall}",
    // Failsafe frame: {RCX, R11, DS, ES, FS, GS, RIP, CS, RFLAGS, RSP, SS}: drop the four
    // segment values, then it has the exception shape without an error code.
    ".globl failsafe_callback",
    "failsafe_callback:",
    "  mov (%rsp), %rcx",
    "  mov 8(%rsp), %r11",
    "  add $48, %rsp",
    "  push $0",
    "  push ${failsafe_vec}",
    "  push %rax",
    "  lea {trap}(%rip), %rax",
    "  jmp trap_common",
    // System call from user mode: our threads run in PV user mode, where `syscall`
    // reaches here (Xen bounces it to the guest kernel). Frame: {RCX, R11, RIP, CS,
    // RFLAGS, RSP, SS}; RCX and R11 are the syscall's own scratch registers, free here.
    // From the hypercall page it is one of our hypercalls: RAX is its number, the
    // arguments are still in RDI, RSI, RDX, R10, R8: make it from kernel mode and return
    // to user mode with its result. From anywhere else it is a Linux system call: go back
    // to user mode at ferrun_syscall_user (see syscall.rs) on the caller's stack, below
    // its red zone, with RCX = its RIP and R11 = its RSP.
    ".globl syscall_entry",
    "syscall_entry:",
    "  add $16, %rsp",            // {RIP, CS, RFLAGS, RSP, SS}
    "  mov (%rsp), %rcx",
    "  lea hypercall_page(%rip), %r11",
    "  sub %r11, %rcx",
    "  cmp $4096, %rcx",
    "  jae 2f",
    "  cmp $64, %rax",
    "  jae 1f",
    "  shl $5, %rax",
    "  lea hypercall_page(%rip), %r11",
    "  add %r11, %rax",
    "  call *%rax",
    "  push $0",
    "  jmp hypercall_page + {iret} * 32",
    "1:",
    "  push $0",
    "  push ${syscall_vec}",
    "  push %rax",
    "  lea {trap}(%rip), %rax",
    "  jmp trap_common",
    // A Linux system call: rewrite the frame's RIP and RSP, keep CS, RFLAGS and SS.
    "2:",
    "  mov (%rsp), %rcx",         // the caller's RIP
    "  mov 24(%rsp), %r11",       // the caller's RSP
    "  push %rax",
    "  lea ferrun_syscall_user(%rip), %rax",
    "  mov %rax, 8(%rsp)",
    "  lea -128(%r11), %rax",     // below the red zone
    "  and $-16, %rax",
    "  mov %rax, 32(%rsp)",
    "  pop %rax",
    "  push $0",                  // not VGCF_in_syscall: RCX and R11 come back as set here
    "  jmp hypercall_page + {iret} * 32",
    ".popsection",
    syscall_vec = const VECTOR_BAD_SYSCALL,
    iret = const xen::abi::xen::hypercall::IRET,
    upcall_vec = const VECTOR_UPCALL,
    failsafe_vec = const VECTOR_FAILSAFE,
    trap = sym super::entry::trap_handler,
    upcall = sym super::entry::upcall_handler,
    options(att_syntax)
);

unsafe extern "C" {
    fn trap_de();
    fn trap_db();
    fn trap_bp();
    fn trap_of();
    fn trap_br();
    fn trap_ud();
    fn trap_nm();
    fn trap_ts();
    fn trap_np();
    fn trap_ss();
    fn trap_gp();
    fn trap_pf();
    fn trap_mf();
    fn trap_ac();
    fn trap_mc();
    fn trap_xm();
    fn hypervisor_callback();
    fn failsafe_callback();
    fn syscall_entry();
}

fn ti(vector: u8, dpl: u8, handler: unsafe extern "C" fn()) -> TrapInfo {
    TrapInfo {
        vector,
        // Mask events while the handler runs, like an interrupt gate.
        flags: dpl | TI_SET_IF_MASK,
        cs: FLAT_KERNEL_CS,
        address: handler as *const () as u64,
    }
}

/// Registers the trap table and the event and failsafe callbacks.
pub(crate) fn install() -> Result<(), xen::XenError> {
    let end = TrapInfo {
        vector: 0,
        flags: 0,
        cs: 0,
        address: 0,
    };
    let table = [
        ti(0, 0, trap_de),
        ti(1, 0, trap_db),
        // int3 must be allowed from our own ring (3).
        ti(3, 3, trap_bp),
        ti(4, 3, trap_of),
        ti(5, 3, trap_br),
        ti(6, 0, trap_ud),
        ti(7, 0, trap_nm),
        ti(10, 0, trap_ts),
        ti(11, 0, trap_np),
        ti(12, 0, trap_ss),
        ti(13, 0, trap_gp),
        ti(14, 0, trap_pf),
        ti(16, 0, trap_mf),
        ti(17, 0, trap_ac),
        ti(18, 0, trap_mc),
        ti(19, 0, trap_xm),
        end,
    ];
    use super::hypercall::hypercall3;
    use xen::abi::xen::hypercall as nr;
    // SAFETY: set_trap_table copies the zero-terminated table (on our stack) into Xen; each
    // address is one of the entry stubs above, which follow the PV bounce-frame layout.
    let ret = unsafe { hypercall3(nr::SET_TRAP_TABLE, (&raw const table) as u64, 0, 0) };
    xen::XenError::check(ret)?;
    // SAFETY: set_callbacks records the three entry points, stubs above that follow the
    // PV bounce-frame layout.
    let ret = unsafe {
        hypercall3(
            nr::SET_CALLBACKS,
            hypervisor_callback as *const () as u64,
            failsafe_callback as *const () as u64,
            syscall_entry as *const () as u64,
        )
    };
    xen::XenError::check(ret).map(|_| ())
}
