//! `public/xen.h` and `arch-x86/xen-x86_64.h`: start_info, shared_info, vcpu_info,
//! vcpu_time_info, trap_info, mmu_update, mmuext_op and the hypercall numbers.
//!
//! Xen 4.17 headers, x86_64 PV guest view. Field names follow C.

use crate::assert_layout;

/// A machine frame number (a page of host memory, as Xen names it).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mfn(pub u64);

/// A pseudo-physical frame number (the guest's own page numbering, indexes the P2M).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u64);

/// An event-channel port (`evtchn_port_t`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Port(pub u32);

/// A domain id (`domid_t`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DomId(pub u16);

impl DomId {
    /// `DOMID_SELF`: the calling domain.
    pub const SELF: DomId = DomId(0x7FF0);
}

/// Size of a page on x86.
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// Hypercall numbers (`public/xen.h`).
pub mod hypercall {
    #![allow(missing_docs, reason = "the names are Xen's __HYPERVISOR_* constants")]
    pub const SET_TRAP_TABLE: u32 = 0;
    pub const MMU_UPDATE: u32 = 1;
    pub const STACK_SWITCH: u32 = 3;
    pub const SET_CALLBACKS: u32 = 4;
    pub const FPU_TASKSWITCH: u32 = 5;
    pub const UPDATE_DESCRIPTOR: u32 = 10;
    pub const MEMORY_OP: u32 = 12;
    pub const MULTICALL: u32 = 13;
    pub const UPDATE_VA_MAPPING: u32 = 14;
    pub const SET_TIMER_OP: u32 = 15;
    pub const XEN_VERSION: u32 = 17;
    pub const CONSOLE_IO: u32 = 18;
    pub const GRANT_TABLE_OP: u32 = 20;
    pub const VM_ASSIST: u32 = 21;
    pub const IRET: u32 = 23;
    pub const VCPU_OP: u32 = 24;
    pub const SET_SEGMENT_BASE: u32 = 25;
    pub const MMUEXT_OP: u32 = 26;
    pub const SCHED_OP: u32 = 29;
    pub const CALLBACK_OP: u32 = 30;
    pub const EVENT_CHANNEL_OP: u32 = 32;
    pub const PHYSDEV_OP: u32 = 33;
}

/// `FLAT_KERNEL_CS` (xen-x86_64.h): the code selector of a 64-bit PV kernel (ring 3).
pub const FLAT_KERNEL_CS: u16 = 0xe033;
/// `FLAT_KERNEL_SS` (xen-x86_64.h).
pub const FLAT_KERNEL_SS: u16 = 0xe02b;
/// `HYPERVISOR_VIRT_START` (xen-x86_64.h): also the base of the read-only M2P table.
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// `MACH2PHYS_VIRT_START`: the machine-to-physical table every PV guest can read.
pub const MACH2PHYS_VIRT_START: u64 = HYPERVISOR_VIRT_START;

/// `update_va_mapping` flags (`UVMF_*`).
pub mod uvmf {
    /// No flush.
    pub const NONE: u64 = 0;
    /// Flush the whole TLB.
    pub const TLB_FLUSH: u64 = 1;
    /// Flush the one page (`invlpg`).
    pub const INVLPG: u64 = 2;
    /// Flush on the local vCPU only (the default, 0 in the upper bits).
    pub const LOCAL: u64 = 0;
}

/// `mmu_update` command in the low bits of `ptr` (`MMU_NORMAL_PT_UPDATE`).
pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
/// `mmu_update` command: set an M2P entry (`MMU_MACHPHYS_UPDATE`).
pub const MMU_MACHPHYS_UPDATE: u64 = 1;

/// `mmuext_op` commands (`MMUEXT_*`).
pub mod mmuext {
    #![allow(missing_docs, reason = "the names are Xen's MMUEXT_* constants")]
    pub const PIN_L1_TABLE: u32 = 0;
    pub const PIN_L2_TABLE: u32 = 1;
    pub const PIN_L3_TABLE: u32 = 2;
    pub const PIN_L4_TABLE: u32 = 3;
    pub const UNPIN_TABLE: u32 = 4;
    pub const NEW_BASEPTR: u32 = 5;
    pub const TLB_FLUSH_LOCAL: u32 = 6;
    pub const INVLPG_LOCAL: u32 = 7;
    pub const SET_LDT: u32 = 13;
    pub const NEW_USER_BASEPTR: u32 = 15;
    /// Zero a frame of the domain (`arg1.mfn`); it must not be a page table.
    pub const CLEAR_PAGE: u32 = 16;
}

/// `vm_assist` commands and types (`VMASST_*`).
pub mod vmasst {
    /// `VMASST_CMD_enable`.
    pub const CMD_ENABLE: u32 = 0;
    /// `VMASST_CMD_disable`.
    pub const CMD_DISABLE: u32 = 1;
    /// `VMASST_TYPE_writable_pagetables`.
    pub const TYPE_WRITABLE_PAGETABLES: u32 = 2;
    /// `VMASST_TYPE_runstate_update_flag`: Xen sets `XEN_RUNSTATE_UPDATE` while it writes
    /// the runstate area.
    pub const TYPE_RUNSTATE_UPDATE_FLAG: u32 = 5;
}

/// `SEGBASE_FS` for `set_segment_base`.
pub const SEGBASE_FS: u32 = 0;

/// `start_info.flags` bits.
pub mod sif {
    /// `SIF_PRIVILEGED`: the domain is privileged.
    pub const PRIVILEGED: u32 = 1 << 0;
    /// `SIF_INITDOMAIN`: the domain is dom0.
    pub const INITDOMAIN: u32 = 1 << 1;
}

/// The domU view of `start_info.console` (a union with the dom0 view, which we never use).
///
/// C: the `domU` member of `union { ... } console` in `struct start_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StartInfoConsole {
    /// Machine frame of the console ring page.
    pub mfn: Mfn,
    /// Event channel of the console ring.
    pub evtchn: Port,
}

/// Length of `start_info.cmd_line` (`MAX_GUEST_CMDLINE`).
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// What Xen hands a PV guest at entry (pointer in RSI).
///
/// C: `struct start_info` (public/xen.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StartInfo {
    /// `"xen-<version>-<platform>"`, NUL-terminated.
    pub magic: [u8; 32],
    /// Total pages allocated to this domain.
    pub nr_pages: u64,
    /// Machine address of `struct shared_info`.
    pub shared_info: u64,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Machine frame of the xenstore ring page.
    pub store_mfn: Mfn,
    /// Event channel of the xenstore ring.
    pub store_evtchn: Port,
    /// The console ring (domU view).
    pub console: StartInfoConsole,
    /// Virtual address of the bootstrap page directory (L4).
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Virtual address of the P2M list (pfn -> mfn).
    pub mfn_list: u64,
    /// Virtual address (or PFN) of a pre-loaded module.
    pub mod_start: u64,
    /// Size in bytes of the pre-loaded module.
    pub mod_len: u64,
    /// The guest command line, NUL-terminated.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First PFN of the initial P2M table (0 if not mapped separately).
    pub first_p2m_pfn: u64,
    /// Number of PFNs of the initial P2M table.
    pub nr_p2m_frames: u64,
}

assert_layout!(StartInfo, "struct start_info" in "xen/xen.h", size 1168, align 8;
    magic = "magic" 0, nr_pages = "nr_pages" 32, shared_info = "shared_info" 40,
    flags = "flags" 48, store_mfn = "store_mfn" 56, store_evtchn = "store_evtchn" 64,
    console.mfn = "console.domU.mfn" 72, console.evtchn = "console.domU.evtchn" 80,
    pt_base = "pt_base" 88, nr_pt_frames = "nr_pt_frames" 96, mfn_list = "mfn_list" 104,
    mod_start = "mod_start" 112, mod_len = "mod_len" 120, cmd_line = "cmd_line" 128,
    first_p2m_pfn = "first_p2m_pfn" 1152, nr_p2m_frames = "nr_p2m_frames" 1160);

/// The pvclock parameters Xen keeps per vCPU.
///
/// C: `struct vcpu_time_info` (public/xen.h). `xen-sys` lacks `flags`, so this one is ours.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcpuTimeInfo {
    /// Seqlock: odd while Xen updates the record.
    pub version: u32,
    /// Padding.
    pub pad0: u32,
    /// TSC at the last update.
    pub tsc_timestamp: u64,
    /// System time (ns since boot) at the last update.
    pub system_time: u64,
    /// TSC-to-ns multiplier, a 0.32 fixed-point fraction.
    pub tsc_to_system_mul: u32,
    /// Shift applied to the TSC delta before multiplying (may be negative).
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Padding.
    pub pad1: [u8; 2],
}

assert_layout!(VcpuTimeInfo, "struct vcpu_time_info" in "xen/xen.h", size 32, align 8;
    version = "version" 0, tsc_timestamp = "tsc_timestamp" 8, system_time = "system_time" 16,
    tsc_to_system_mul = "tsc_to_system_mul" 24, tsc_shift = "tsc_shift" 28, flags = "flags" 29);

/// `XEN_PVCLOCK_TSC_STABLE_BIT`.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;

/// x86 part of `vcpu_info`.
///
/// C: `struct arch_vcpu_info` (arch-x86/xen-x86_64.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchVcpuInfo {
    /// CR2 of the last page fault Xen reflected to this vCPU.
    pub cr2: u64,
    /// Padding.
    pub pad: u64,
}

assert_layout!(ArchVcpuInfo, "struct arch_vcpu_info" in "xen/xen.h", size 16, align 8;
    cr2 = "cr2" 0, pad = "pad" 8);

/// Per-vCPU state shared with Xen.
///
/// C: `struct vcpu_info` (public/xen.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VcpuInfo {
    /// Set by Xen when an event is pending for this vCPU.
    pub evtchn_upcall_pending: u8,
    /// The PV "interrupt flag": non-zero masks upcalls.
    pub evtchn_upcall_mask: u8,
    /// Which words of `evtchn_pending` have bits set (2-level ABI selector).
    pub evtchn_pending_sel: u64,
    /// x86 state.
    pub arch: ArchVcpuInfo,
    /// pvclock parameters.
    pub time: VcpuTimeInfo,
}

assert_layout!(VcpuInfo, "struct vcpu_info" in "xen/xen.h", size 64, align 8;
    evtchn_upcall_pending = "evtchn_upcall_pending" 0,
    evtchn_upcall_mask = "evtchn_upcall_mask" 1,
    evtchn_pending_sel = "evtchn_pending_sel" 8, arch = "arch" 16, arch.cr2 = "arch.cr2" 16,
    time = "time" 32);

/// `XEN_LEGACY_MAX_VCPUS` on x86.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;

/// x86 part of `shared_info`.
///
/// C: `struct arch_shared_info` (arch-x86/xen.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchSharedInfo {
    /// Highest PFN of the domain + 1.
    pub max_pfn: u64,
    /// Frame list list for the P2M (save/restore).
    pub pfn_to_mfn_frame_list_list: u64,
    /// NMI reason bits.
    pub nmi_reason: u64,
    /// Virtually mapped P2M: CR3.
    pub p2m_cr3: u64,
    /// Virtually mapped P2M: address.
    pub p2m_vaddr: u64,
    /// Virtually mapped P2M: generation.
    pub p2m_generation: u64,
}

assert_layout!(ArchSharedInfo, "struct arch_shared_info" in "xen/xen.h", size 48, align 8;
    max_pfn = "max_pfn" 0, pfn_to_mfn_frame_list_list = "pfn_to_mfn_frame_list_list" 8,
    nmi_reason = "nmi_reason" 16, p2m_cr3 = "p2m_cr3" 24, p2m_vaddr = "p2m_vaddr" 32,
    p2m_generation = "p2m_generation" 40);

/// Number of `u64` words in each 2-level event bitmap (`sizeof(xen_ulong_t) * 8`).
pub const EVTCHN_WORDS: usize = 64;

/// The page Xen shares with the whole domain.
///
/// C: `struct shared_info` (public/xen.h). Accessed only through raw pointers
/// (see [`crate::shared`]): Xen writes it concurrently.
#[repr(C)]
pub struct SharedInfo {
    /// Per-vCPU state.
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// 2-level event channels: pending bits.
    pub evtchn_pending: [u64; EVTCHN_WORDS],
    /// 2-level event channels: mask bits.
    pub evtchn_mask: [u64; EVTCHN_WORDS],
    /// Wall clock seqlock.
    pub wc_version: u32,
    /// Wall clock at system time 0: seconds, low 32 bits.
    pub wc_sec: u32,
    /// Wall clock at system time 0: nanoseconds.
    pub wc_nsec: u32,
    /// Wall clock seconds, high 32 bits (x86_64).
    pub wc_sec_hi: u32,
    /// x86 state.
    pub arch: ArchSharedInfo,
}

assert_layout!(SharedInfo, "struct shared_info" in "xen/xen.h", size 3136, align 8;
    vcpu_info = "vcpu_info" 0, evtchn_pending = "evtchn_pending" 2048,
    evtchn_mask = "evtchn_mask" 2560, wc_version = "wc_version" 3072, wc_sec = "wc_sec" 3076,
    wc_nsec = "wc_nsec" 3080, wc_sec_hi = "wc_sec_hi" 3084, arch = "arch" 3088);

/// One trap-table entry for `set_trap_table` (`xen-sys` has it right).
///
/// C: `struct trap_info` (arch-x86/xen.h).
pub type TrapInfo = xen_sys::trap_info;

assert_layout!(TrapInfo, "struct trap_info" in "xen/xen.h", size 16, align 8;
    vector = "vector" 0, flags = "flags" 1, cs = "cs" 2, address = "address" 8);

/// `trap_info.flags` bit: mask events while the handler runs (like an interrupt gate).
pub const TI_SET_IF_MASK: u8 = 1 << 2;

/// One page-table update for `mmu_update` (`xen-sys` has it right).
///
/// C: `struct mmu_update` (public/xen.h).
pub type MmuUpdate = xen_sys::mmu_update;

assert_layout!(MmuUpdate, "struct mmu_update" in "xen/xen.h", size 16, align 8;
    ptr = "ptr" 0, val = "val" 8);

/// One extended MMU operation for `mmuext_op`.
///
/// C: `struct mmuext_op` (public/xen.h); the two unions are flattened to `u64`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MmuextOp {
    /// `MMUEXT_*`.
    pub cmd: u32,
    /// `arg1.mfn` or `arg1.linear_addr`.
    pub arg1: u64,
    /// `arg2.nr_ents`, `arg2.vcpumask` or `arg2.src_mfn`.
    pub arg2: u64,
}

assert_layout!(MmuextOp, "struct mmuext_op" in "xen/xen.h", size 24, align 8;
    cmd = "cmd" 0, arg1 = "arg1.mfn" 8, arg2 = "arg2.src_mfn" 16);

/// Callback types for `callback_op(CALLBACKOP_register)` (public/callback.h).
pub mod callback {
    /// `CALLBACKTYPE_event`.
    pub const TYPE_EVENT: u32 = 0;
    /// `CALLBACKTYPE_failsafe`.
    pub const TYPE_FAILSAFE: u32 = 1;
    /// `CALLBACKTYPE_syscall`.
    pub const TYPE_SYSCALL: u32 = 2;
    /// `CALLBACKOP_register`.
    pub const OP_REGISTER: u32 = 0;
    /// `CALLBACKF_mask_events`: mask events while the callback runs.
    pub const F_MASK_EVENTS: u16 = 1 << 0;
}

/// `struct callback_register` (public/callback.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackRegister {
    /// `CALLBACKTYPE_*`.
    pub type_: u16,
    /// `CALLBACKF_*`.
    pub flags: u16,
    /// Entry point (`xen_callback_t` is a plain address on x86_64).
    pub address: u64,
}

assert_layout!(CallbackRegister, "struct callback_register" in "xen/callback.h",
    size 16, align 8; type_ = "type" 0, flags = "flags" 2, address = "address" 8);

/// `VIRQ_*` numbers (public/xen.h).
pub mod virq {
    /// `VIRQ_TIMER`: the one-shot timer set by `set_timer_op`.
    pub const TIMER: u32 = 0;
    /// `VIRQ_DEBUG`.
    pub const DEBUG: u32 = 1;
    /// `VIRQ_CONSOLE` (dom0 only).
    pub const CONSOLE: u32 = 2;
}
