//! x86_64 PV: the ground floor, and the only home of `asm!` and `global_asm!` in ferrun.
//!
//! `start` has the entry point, ELF notes and the stacks; `hypercall` the hypercall layer;
//! `traps` the exception, upcall and system-call stubs; `mm` the page tables; `switch` the
//! context switch; `ldt` the TLS segments; `events` the event-channel operations;
//! `runstate` the runstate area; `fpu` the whole x87/SSE state of threads that run C;
//! `syscall` Linux system calls from user code, as calls on the thread's stack;
//! `random` CPUID as Xen shows it and the RDRAND/RDSEED instructions.
//! `entry` is the one interface up into the portable kernel (symbols the kernel defines);
//! nothing else here names the kernel.
//!
//! May use: the `xen` crate, `alloc`, `spin`. Nothing from `crate::` outside `arch`.

pub mod entry;
pub mod events;
pub mod fpu;
pub mod hypercall;
pub(crate) mod ldt;
pub mod mm;
pub mod probe;
pub mod random;
pub(crate) mod runstate;
pub(crate) mod start;
pub mod switch;
pub mod syscall;
pub mod traps;

use core::arch::asm;
use xen::XenError;
use xen::abi::grant_table::{ENTRIES_PER_FRAME, GrantEntryV1};
use xen::abi::xen::{PAGE_SIZE, SharedInfo, hypercall as nr, uvmf};
use xen::shared::Shared;

pub(crate) use hypercall::evtchn_send;
pub use hypercall::{sched_block, sched_yield};
pub use hypercall::{xen_extraversion, xen_version};

/// Grant-table frames: `start` reserves this many pages of VA for them.
pub const GRANT_FRAMES: usize = 4;

/// PTE bits for a present, writable kernel mapping (PV kernels run in ring 3, so USER).
const PTE_KERNEL_RW: u64 = 0x7;

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc reads a counter; Xen leaves it enabled for PV guests (no TSC emulation
    // by default); it touches no memory.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The current frame pointer.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: copies a register.
    unsafe {
        asm!("mov %rbp, {}", out(reg) rbp, options(att_syntax, nomem, nostack, preserves_flags))
    };
    rbp
}

/// Reads one word of a stack for a backtrace.
///
/// Only for addresses the unwinder has checked to lie inside a live thread's stack: those
/// are mapped and 8-aligned.
pub(crate) fn read_stack_word(addr: u64) -> u64 {
    if !addr.is_multiple_of(8) {
        return 0;
    }
    // SAFETY: per the contract above, `addr` is an aligned address inside a mapped stack.
    unsafe { (addr as *const u64).read_volatile() }
}

/// The bytes of the image's `.ferrun_symbols` section (the function-name table).
pub(crate) fn symbol_table() -> &'static [u8] {
    unsafe extern "C" {
        static __symbols_start: u8;
        static __symbols_end: u8;
    }
    let start = &raw const __symbols_start;
    let len = (&raw const __symbols_end as usize).saturating_sub(start as usize);
    // SAFETY: the linker script defines both symbols around the `.ferrun_symbols` output
    // section, which lies in the read-only image segment, mapped and never written.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let rsp: u64;
    // SAFETY: copies a register.
    unsafe {
        asm!("mov %rsp, {}", out(reg) rsp, options(att_syntax, nomem, nostack, preserves_flags))
    };
    rsp
}

/// `HYPERVISOR_update_va_mapping(va, pte, flags)`.
///
/// # Safety
/// - Nothing may use the old mapping of `va` afterwards (no reference into it may live).
/// - `pte` must name a frame this domain may map (Xen checks ownership; the caller checks
///   that the kernel's own data is not aliased in a way it relies on).
#[inline(never)]
pub(crate) unsafe fn update_va_mapping(
    va: u64,
    pte: u64,
    flags: u64,
) -> Result<(), xen::multicall::Refusal> {
    // SAFETY: the caller upholds the contract above; the hypercall takes values only.
    let ret = unsafe { hypercall::hypercall3(nr::UPDATE_VA_MAPPING, va, pte, flags) };
    XenError::check(ret)
        .map(|_| ())
        .map_err(|e| hypercall::refusal(nr::UPDATE_VA_MAPPING, &[va, pte, flags], e))
}

/// The M2P entry of `mfn`: which of our pseudo-physical frames it backs.
fn mfn_to_pfn(mfn: u64) -> u64 {
    let entry = xen::abi::xen::MACH2PHYS_VIRT_START + mfn * 8;
    // SAFETY: Xen maps the read-only M2P table into every PV guest at MACH2PHYS_VIRT_START,
    // with one 8-byte entry per machine frame; `mfn` comes from start_info.
    unsafe { (entry as *const u64).read_volatile() }
}

/// VA of one of our frames, given its MFN. Valid for frames inside the start-of-day
/// mapping (pfn N at VA N*4096, as our notes ask with VIRT_BASE 0).
pub(crate) fn mfn_to_va(mfn: u64) -> u64 {
    mfn_to_pfn(mfn) << xen::abi::xen::PAGE_SHIFT
}

/// The xenstore ring page Xen's builder set up (`start_info.store_mfn`), if there is one.
pub(crate) fn xenstore_page(
    store_mfn: u64,
) -> Option<Shared<xen::abi::xenstore::XenstoreDomainInterface>> {
    if store_mfn == 0 {
        return None;
    }
    let va = mfn_to_va(store_mfn);
    // SAFETY: the xenstore page is part of the start-of-day mapping (public/xen.h layout),
    // reserved from the frame allocator at boot, and used only as the xenstore ring,
    // through `Shared`.
    Some(unsafe { Shared::new(va as *mut xen::abi::xenstore::XenstoreDomainInterface) })
}

/// Sets the grant table up with at most `want` frames (`GNTTABOP_query_size`, then
/// `GNTTABOP_setup_table`) and maps its frames at `grant_table_pages`.
///
/// The frames are mapped in one multicall; `failed` hears of every entry Xen refused, with
/// the return address of this function's caller.
#[inline(never)]
pub(crate) fn map_grant_table(
    want: usize,
    failed: &mut dyn FnMut(xen::multicall::Failure, u64),
) -> Result<alloc::vec::Vec<Shared<[GrantEntryV1; ENTRIES_PER_FRAME]>>, GrantSetupError> {
    use xen::abi::grant_table::{
        GNTTABOP_QUERY_SIZE, GNTTABOP_SETUP_TABLE, GnttabQuerySize, GnttabSetupTable,
    };
    let mut query = GnttabQuerySize {
        dom: xen::abi::xen::DomId::SELF.0,
        ..Default::default()
    };
    // SAFETY: GNTTABOP_query_size reads and writes one `gnttab_query_size`.
    unsafe { hypercall::grant_table_op(GNTTABOP_QUERY_SIZE, &mut query) }.map_err(|e| {
        GrantSetupError::Refused(hypercall::refusal(
            nr::GRANT_TABLE_OP,
            &[GNTTABOP_QUERY_SIZE.into()],
            e,
        ))
    })?;
    if query.status != 0 {
        return Err(GrantSetupError::Status(query.status));
    }
    let n = want
        .min(GRANT_FRAMES)
        .min(usize::try_from(query.max_nr_frames).unwrap_or(0));
    if n == 0 {
        return Err(GrantSetupError::NoFrames);
    }
    let mut frames = [0u64; GRANT_FRAMES];
    let mut setup = GnttabSetupTable {
        dom: xen::abi::xen::DomId::SELF.0,
        nr_frames: u32::try_from(n).unwrap_or(0),
        status: 0,
        frame_list: frames.as_mut_ptr() as u64,
    };
    // SAFETY: GNTTABOP_setup_table writes `nr_frames` (<= FRAMES) frame numbers to
    // `frame_list`, which points to `frames` on this stack.
    unsafe { hypercall::grant_table_op(GNTTABOP_SETUP_TABLE, &mut setup) }.map_err(|e| {
        GrantSetupError::Refused(hypercall::refusal(
            nr::GRANT_TABLE_OP,
            &[GNTTABOP_SETUP_TABLE.into(), n as u64],
            e,
        ))
    })?;
    if setup.status != 0 {
        return Err(GrantSetupError::Status(setup.status));
    }
    let base = (&raw const start::grant_table_pages) as u64;
    let va = |i: usize| base + (i as u64) * PAGE_SIZE as u64;
    let mut batch = [xen::multicall::MulticallEntry::default(); GRANT_FRAMES];
    for (i, (entry, mfn)) in batch.iter_mut().zip(frames).take(n).enumerate() {
        *entry = xen::multicall::MulticallEntry::new(
            nr::UPDATE_VA_MAPPING,
            &[
                va(i),
                (mfn << xen::abi::xen::PAGE_SHIFT) | PTE_KERNEL_RW | mm::nx(),
                uvmf::INVLPG,
            ],
        );
    }
    let batch = &mut batch[..n];
    // SAFETY: each entry maps one page of `grant_table_pages`, .bss reserved for the grant
    // table and reached through nothing else, to a frame setup_table just gave us.
    unsafe { hypercall::multicall(batch) }
        .map_err(|e| GrantSetupError::Refused(hypercall::refusal(nr::MULTICALL, &[n as u64], e)))?;
    let mut refused = 0;
    for f in xen::multicall::failures(batch) {
        refused += 1;
        failed(f, hypercall::return_address());
    }
    if refused > 0 {
        return Err(GrantSetupError::Mapping { refused, of: n });
    }
    let mut out = alloc::vec::Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: the page is now the grant frame for the life of the domain, page
        // aligned, 4096 bytes; it is accessed only through `Shared`.
        out.push(unsafe { Shared::new(va(i) as *mut [GrantEntryV1; ENTRIES_PER_FRAME]) });
    }
    Ok(out)
}

/// Why the grant table could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSetupError {
    /// A hypercall failed.
    Refused(xen::multicall::Refusal),
    /// Xen refused to map `refused` of the `of` frames (each entry was reported).
    Mapping {
        /// Entries refused.
        refused: usize,
        /// Entries in the batch.
        of: usize,
    },
    /// Xen answered with this `GNTST_*` status.
    Status(i16),
    /// Xen allows no grant frames.
    NoFrames,
}

impl core::fmt::Display for GrantSetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GrantSetupError::Refused(r) => write!(f, "grant table: {r}"),
            GrantSetupError::Mapping { refused, of } => {
                write!(f, "grant table: {refused} of {of} frames not mapped")
            }
            GrantSetupError::Status(s) => write!(f, "grant table: status {s}"),
            GrantSetupError::NoFrames => write!(f, "grant table: no frames allowed"),
        }
    }
}

/// The machine frame behind our pseudo-physical frame `pfn`.
pub fn pfn_to_mfn(pfn: u64) -> Option<u64> {
    mm::tables()?.mfn(pfn)
}

static SHARED_INFO: spin::Once<Shared<SharedInfo>> = spin::Once::new();

/// The shared_info page, once boot mapped it.
pub(crate) fn shared_info() -> Option<Shared<SharedInfo>> {
    SHARED_INFO.get().copied()
}

/// Maps the shared_info frame (`start_info.shared_info`) at a page reserved for it.
pub fn map_shared_info(machine_addr: u64) -> Result<(), XenError> {
    if SHARED_INFO.get().is_some() {
        return Ok(());
    }
    let va = (&raw const start::shared_info_page) as u64;
    // SAFETY: `shared_info_page` is a page of .bss reserved for this and used through
    // nothing else; Xen gives us the shared_info frame to map (start_info.shared_info).
    unsafe { update_va_mapping(va, machine_addr | PTE_KERNEL_RW | mm::nx(), uvmf::INVLPG)? };
    // SAFETY: the page is now mapped to shared_info for the life of the domain, 4096 bytes
    // (> size_of SharedInfo), page aligned; it is accessed only through `Shared`.
    let s = unsafe { Shared::new(va as *mut SharedInfo) };
    SHARED_INFO.call_once(|| s);
    Ok(())
}

/// Asks Xen to map page 0 (the unmapped null page) read-only to a machine frame that
/// does not exist, which Xen refuses: what a refused call looks like, for the diagnostics
/// flight. Returns the refusal (`None` if Xen accepted, which it must not).
#[inline(never)]
pub fn refusal_demo() -> Option<xen::multicall::Refusal> {
    const NO_SUCH_FRAME: u64 = (1 << 40) - 1;
    const PRESENT_USER_RO: u64 = 0x5;
    // SAFETY: page 0 is the null guard, used by nothing; the frame does not exist, so Xen
    // refuses and nothing changes (had it accepted, page 0 would be mapped read-only).
    let r = unsafe {
        update_va_mapping(
            0,
            (NO_SUCH_FRAME << xen::abi::xen::PAGE_SHIFT) | PRESENT_USER_RO,
            uvmf::INVLPG,
        )
    };
    r.err()
}

/// Removes the mapping of one page: later accesses fault.
fn unmap_page(va: u64) -> Result<(), XenError> {
    // SAFETY: callers pass page 0 (the ELF header page, never read after boot) or a
    // stack's guard page (never used): nothing relies on those mappings.
    Ok(unsafe { update_va_mapping(va, 0, uvmf::INVLPG) }?)
}

/// Unmaps page 0 (null-pointer accesses fault) and the boot stack's guard page.
pub fn unmap_boot_guards() -> Result<(), XenError> {
    unmap_page(0)?;
    unmap_page(boot_stack_guard())
}

/// The console ring Xen's builder set up (`start_info.console.domU.mfn`).
pub fn console_ring(mfn: u64) -> Shared<xen::abi::console::XenconsInterface> {
    let va = mfn_to_va(mfn);
    // SAFETY: the console page is part of the start-of-day mapping (public/xen.h layout),
    // reserved from the frame allocator, and used only as a console ring, through
    // `Shared`.
    unsafe { Shared::new(va as *mut xen::abi::console::XenconsInterface) }
}

/// The boot module's bytes (`start_info.mod_start`, `mod_len`: xl's `ramdisk =`).
///
/// Only for the range `BootInfo::module` gives: Xen's builder maps the module in the
/// start-of-day mapping, below the first free frame, and `mm::init` keeps its frames out
/// of the frame allocator for good (and maps them, wherever they are), so it stays mapped
/// and no one else writes it.
pub fn boot_module(va: u64, len: u64) -> &'static [u8] {
    let len = usize::try_from(len).unwrap_or(0);
    // SAFETY: per the contract: a mapped, reserved range no one writes, for ever.
    unsafe { core::slice::from_raw_parts(va as *const u8, len) }
}

/// The image's code: `[start, end)`.
pub fn text_bounds() -> (u64, u64) {
    (
        (&raw const start::__text_start) as u64,
        (&raw const start::__text_end) as u64,
    )
}

/// End of the image (linker script).
fn image_end() -> u64 {
    (&raw const start::__image_end) as u64
}

/// Bounds of the kernel stack (traps, upcalls and callbacks from user mode):
/// `[bottom, top)`.
pub fn kernel_stack() -> (u64, u64) {
    (
        (&raw const start::kernel_stack_guard) as u64 + 4096,
        (&raw const start::kernel_stack_top) as u64,
    )
}

/// Bounds of the boot stack: `[bottom, top)`.
pub(crate) fn boot_stack() -> (u64, u64) {
    (
        (&raw const start::boot_stack_bottom) as u64,
        (&raw const start::boot_stack_top) as u64,
    )
}

/// The boot stack's guard page.
pub(crate) fn boot_stack_guard() -> u64 {
    (&raw const start::boot_stack_guard) as u64
}

/// The Rust function [`enter_user`] enters in user mode (read by `start`'s stub).
static USER_MAIN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Leaves kernel mode for good: the rest of the domain's life (every thread) runs in PV
/// user mode, with traps, events and hypercalls bounced to the kernel stack.
///
/// Why: Xen writes a trap's frame at the current stack pointer when the guest is already
/// in kernel mode. A thread that overflows into its guard page would make that write
/// fault too, and Xen then crashes the domain without a word
/// (`domain_crash_sync ... domain_crash_page_fault`). From user mode, Xen switches to the
/// kernel stack registered with `stack_switch` first, so the overflow is reported.
/// Both modes share the one page-table tree (our pages are all user-accessible: a 64-bit
/// PV kernel runs in ring 3 anyway).
pub fn enter_user(main: extern "C" fn() -> !) -> Result<core::convert::Infallible, XenError> {
    USER_MAIN.store(main as usize as u64, core::sync::atomic::Ordering::SeqCst);
    let kguard = (&raw const start::kernel_stack_guard) as u64;
    unmap_page(kguard)?;
    hypercall::stack_switch(
        xen::abi::xen::FLAT_KERNEL_SS,
        (&raw const start::kernel_stack_top) as u64,
    )?;
    let l4_mfn = mm::tables()
        .and_then(|t| t.l4_mfn())
        .ok_or(XenError::Inval)?;
    let op = xen::abi::xen::MmuextOp {
        cmd: xen::abi::xen::mmuext::NEW_USER_BASEPTR,
        arg1: l4_mfn,
        arg2: 0,
    };
    // SAFETY: installs the L4 already in use (kernel mode) as the user-mode root: the same
    // mappings, nothing unpinned or replaced.
    unsafe { hypercall::mmuext_op(&[op])? };
    let (_, top) = boot_stack();
    // SAFETY: HYPERVISOR_iret pops {flags, RIP, CS, RFLAGS, RSP, SS} from our stack; CS
    // with RPL 3 asks for user mode, RFLAGS.IF unmasks events, RSP is the top of the boot
    // stack (nothing on it is used again: boot_entry never returns) and RIP is the user
    // entry stub, which calls `user_entry`.
    unsafe {
        asm!(
            "push {ss}",
            "push {rsp}",
            "push {rflags}",
            "push {cs}",
            "push {rip}",
            "push 0",
            "jmp {iret}",
            ss = in(reg) u64::from(xen::abi::xen::FLAT_KERNEL_SS),
            rsp = in(reg) top,
            rflags = in(reg) 0x202u64,
            cs = in(reg) u64::from(xen::abi::xen::FLAT_KERNEL_CS),
            rip = in(reg) start::ferrun_user_entry as *const () as u64,
            iret = in(reg) (&raw const hypercall::hypercall_page) as u64 + u64::from(nr::IRET) * 32,
            options(noreturn)
        )
    }
}

/// The faulting address of the last page fault (`vcpu_info.arch.cr2`; PV guests cannot
/// read CR2 themselves).
pub(crate) fn fault_address() -> u64 {
    shared_info().map_or(0, |s| {
        let vcpu0 = xen::shared_field!(s, SharedInfo, vcpu_info).get(0);
        vcpu0.map_or(0, |v| {
            xen::shared_field!(v, xen::abi::xen::VcpuInfo, arch.cr2).read()
        })
    })
}

/// Shuts the domain down. Returns only if Xen refused.
pub fn shutdown(reason: xen::abi::sched::ShutdownReason) -> XenError {
    hypercall::shutdown(reason)
}
