//! PV entry: the ELF notes Xen's loader reads, the hypercall page, the boot stack and
//! `_start`.
//!
//! Xen enters `_start` in 64-bit mode, ring 3 (a PV kernel), events masked, RSI pointing at
//! `start_info` and RSP on a bootstrap stack of its own (public/xen.h, "Start-of-day memory
//! layout"). We switch to our own 16-byte aligned stack, zero RBP as the end of every
//! backtrace, reset the x87 and SSE control state (psABI 3.2.1 defaults: FCW 0x37f,
//! MXCSR 0x1f80) before any code that might use them, and enter Rust with `call`, so the
//! callee sees `(%rsp + 8) % 16 == 0` like any other function (psABI 3.2.2).

use core::arch::global_asm;

/// Size of the boot stack (the first thread's stack).
pub(crate) const BOOT_STACK_SIZE: usize = 64 * 1024;
/// Size of the kernel stack (trap, event and hypercall handlers entered from user mode).
pub(crate) const KERNEL_STACK_SIZE: usize = 32 * 1024;

global_asm!(
    // ---- ELF notes (public/elfnote.h). Each: namesz, descsz, type, "Xen\0", desc. ----
    ".macro xen_note type, desc:vararg",
    "  .pushsection .note.Xen, \"a\", @note",
    "  .balign 4",
    "  .long 2f - 1f",
    "  .long 4f - 3f",
    "  .long \\type",
    "1: .asciz \"Xen\"",
    "2: .balign 4",
    "3: \\desc",
    "4: .balign 4",
    "  .popsection",
    ".endm",
    "xen_note 6, .asciz \"ferrun\"",          // XEN_ELFNOTE_GUEST_OS
    "xen_note 7, .asciz \"0.1\"",             // XEN_ELFNOTE_GUEST_VERSION
    "xen_note 5, .asciz \"xen-3.0\"",         // XEN_ELFNOTE_XEN_VERSION
    "xen_note 8, .asciz \"generic\"",         // XEN_ELFNOTE_LOADER
    "xen_note 3, .quad 0",                    // XEN_ELFNOTE_VIRT_BASE
    "xen_note 4, .quad 0",                    // XEN_ELFNOTE_PADDR_OFFSET
    "xen_note 1, .quad _start",               // XEN_ELFNOTE_ENTRY
    "xen_note 2, .quad hypercall_page",       // XEN_ELFNOTE_HYPERCALL_PAGE
    // We change page tables only through mmu_update, never by writing them.
    "xen_note 10, .asciz \"!writable_page_tables\"", // XEN_ELFNOTE_FEATURES
    // ---- The hypercall page: Xen writes the 32-byte stubs into it at domain build. ----
    // Filled with int3 so that a stub Xen did not write traps instead of running on.
    ".pushsection .text.hypercall_page, \"ax\", @progbits",
    ".balign 4096",
    ".globl hypercall_page",
    "hypercall_page:",
    "  .fill 4096, 1, 0xcc",
    ".popsection",
    // ---- Boot stack, with a guard page below that boot unmaps. ----
    ".pushsection .bss.boot_stack, \"aw\", @nobits",
    ".balign 4096",
    ".globl boot_stack_guard, boot_stack_bottom, boot_stack_top",
    "boot_stack_guard: .skip 4096",
    "boot_stack_bottom: .skip {stack_size}",
    "boot_stack_top:",
    ".popsection",
    // ---- The kernel stack: where Xen delivers traps, events and hypercall requests
    // ---- that interrupt user mode (threads run in PV user mode; see `enter_user`).
    ".pushsection .bss.kernel_stack, \"aw\", @nobits",
    ".balign 4096",
    ".globl kernel_stack_guard, kernel_stack_top",
    "kernel_stack_guard: .skip 4096",
    "  .skip {kstack_size}",
    "kernel_stack_top:",
    ".popsection",
    // ---- The page whose VA we point at Xen's shared_info frame. ----
    ".pushsection .bss.shared_info, \"aw\", @nobits",
    ".balign 4096",
    ".globl shared_info_page",
    "shared_info_page: .skip 4096",
    ".popsection",
    // ---- The pages whose VAs we point at the grant table's frames. ----
    ".pushsection .bss.grant_table, \"aw\", @nobits",
    ".balign 4096",
    ".globl grant_table_pages",
    "grant_table_pages: .skip 4096 * {grant_frames}",
    ".popsection",
    // ---- Entry. ----
    ".pushsection .rodata.boot, \"a\"",
    ".balign 4",
    "default_mxcsr: .long 0x1f80",
    ".popsection",
    ".pushsection .text.boot, \"ax\"",
    ".globl _start",
    "_start:",
    "  cld",
    "  mov %rsi, %rdi",                  // arg 1: start_info
    "  mov %rsp, %rsi",                  // arg 2: Xen's bootstrap stack (end of its layout)
    "  lea boot_stack_top(%rip), %rsp", // 16-byte aligned (page aligned)
    "  xor %ebp, %ebp",                  // backtrace terminator
    "  fninit",                          // FCW = 0x37f
    "  ldmxcsr default_mxcsr(%rip)",     // MXCSR = 0x1f80
    "  call {boot_entry}",               // callee sees (rsp + 8) % 16 == 0
    "  ud2",                             // boot_entry never returns
    // First instruction in user mode (HYPERVISOR_iret from `enter_user`), on the boot
    // stack's top: same alignment rule, same backtrace end.
    ".globl ferrun_user_entry",
    // The Rust entry is the function `enter_user` stored in `USER_MAIN`.
    "ferrun_user_entry:",
    "  xor %ebp, %ebp",
    "  call *{user_main}(%rip)",
    "  ud2",
    ".popsection",
    stack_size = const BOOT_STACK_SIZE,
    kstack_size = const KERNEL_STACK_SIZE,
    grant_frames = const super::GRANT_FRAMES,
    boot_entry = sym super::entry::boot_entry,
    user_main = sym super::USER_MAIN,
    options(att_syntax)
);

unsafe extern "C" {
    /// Lowest address of the boot stack's guard page.
    pub(crate) static boot_stack_guard: [u8; 4096];
    /// Lowest usable address of the boot stack.
    pub(crate) static boot_stack_bottom: u8;
    /// One past the highest address of the boot stack.
    pub(crate) static boot_stack_top: u8;
    /// Page-aligned VA that boot maps onto the shared_info frame.
    pub(crate) static shared_info_page: [u8; 4096];
    /// Page-aligned VAs for the grant table's frames.
    pub(crate) static grant_table_pages: [u8; 4096 * super::GRANT_FRAMES];
    /// End of the image (linker script).
    pub(crate) static __image_end: u8;
    /// Code (linker script).
    pub(crate) static __text_start: u8;
    /// End of code.
    pub(crate) static __text_end: u8;
    /// Read-only data (linker script).
    pub(crate) static __rodata_start: u8;
    /// End of read-only data.
    pub(crate) static __rodata_end: u8;
    /// Guard page below the kernel stack.
    pub(crate) static kernel_stack_guard: [u8; 4096];
    /// Top of the kernel stack.
    pub(crate) static kernel_stack_top: u8;
    /// User-mode entry stub.
    pub(crate) fn ferrun_user_entry();
}
