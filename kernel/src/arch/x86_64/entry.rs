//! The one way up: the entry points through which the arch layer calls the portable
//! kernel, and the facts `_start` hands over.
//!
//! Nothing else in `arch` names the rest of the kernel: no `crate::` path outside `arch`
//! (checked by `scripts/layers`). The kernel defines the four functions below with
//! `#[unsafe(no_mangle)]` (in `crate::boot`) and checks there, at compile time, that each
//! has the type this file declares ([`KernelBoot`], [`KernelTrap`], [`KernelUpcall`],
//! [`KernelSyscall`]):
//!
//! | symbol | called from | context |
//! |---|---|---|
//! | `ferrun_kernel_boot` | `_start` via [`boot_entry`] | kernel mode, boot stack, events masked |
//! | `ferrun_kernel_trap` | the exception and failsafe stubs | kernel stack (or the thread's), events masked |
//! | `ferrun_kernel_upcall` | the event-upcall stub | as above |
//! | `ferrun_kernel_syscall` | `syscall::ferrun_syscall_user` | user mode, the calling thread's stack, events on |
//!
//! The user-mode entry is not a symbol: the kernel passes it to [`super::enter_user`].
//!
//! May use: the rest of `arch::x86_64` and the `xen` crate.

use super::syscall::SyscallFrame;
use super::traps::TrapFrame;
use xen::abi::xen::{PAGE_SIZE, StartInfo};

/// What `_start` learned before any kernel code ran.
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations, reason = "StartInfo has no Debug")]
pub struct Boot {
    /// A copy of `start_info` (Xen does not change it after entry).
    pub start_info: StartInfo,
    /// The time-stamp counter at entry (for the boot-time figures).
    pub entry_tsc: u64,
    /// The first frame after everything Xen's builder placed (image, P2M, page tables,
    /// start_info, xenstore and console pages, bootstrap stack).
    pub first_free_pfn: u64,
}

/// Type of `ferrun_kernel_boot`: brings the runtime up; never returns.
pub type KernelBoot = fn(&Boot) -> !;
/// Type of `ferrun_kernel_trap`: an exception (or failsafe callback, or bad system
/// call) with its saved registers.
pub type KernelTrap = fn(&mut TrapFrame);
/// Type of `ferrun_kernel_upcall`: an event-channel upcall, events masked, with the
/// registers of what it interrupted.
pub type KernelUpcall = fn(&TrapFrame);
/// Type of `ferrun_kernel_syscall`: a Linux system call made by thread code; returns the
/// value for RAX (a result, or `-errno`).
pub type KernelSyscall = fn(&mut SyscallFrame) -> i64;

unsafe extern "Rust" {
    /// Defined by `crate::boot` with type [`KernelBoot`].
    fn ferrun_kernel_boot(boot: &Boot) -> !;
    /// Defined by `crate::boot` with type [`KernelTrap`].
    fn ferrun_kernel_trap(frame: &mut TrapFrame);
    /// Defined by `crate::boot` with type [`KernelUpcall`].
    fn ferrun_kernel_upcall(frame: &TrapFrame);
    /// Defined by `crate::boot` with type [`KernelSyscall`].
    fn ferrun_kernel_syscall(frame: &mut SyscallFrame) -> i64;
}

fn pfn_up(addr: u64) -> u64 {
    addr.div_ceil(PAGE_SIZE as u64)
}

/// Rust side of `_start`: records what Xen handed over, then calls the kernel's boot.
pub(super) extern "C" fn boot_entry(si: *const StartInfo, xen_stack: u64) -> ! {
    let entry_tsc = super::rdtsc();
    // SAFETY: Xen passes the address of start_info in RSI; it is mapped, aligned and not
    // changed by Xen after entry. We copy it once.
    let si = unsafe { si.read() };
    // SAFETY: start_info.mfn_list is the P2M Xen built, mapped for nr_pages entries for
    // the life of the domain (its frames lie below `first_free_pfn`, never reused).
    unsafe { super::mm::adopt_tables(si.pt_base, si.mfn_list, si.nr_pages) };
    // Everything Xen's builder placed ends at its bootstrap stack; check the parts we know.
    let first_free_pfn = pfn_up(xen_stack)
        .max(pfn_up(si.pt_base) + si.nr_pt_frames)
        .max(pfn_up(si.mfn_list + si.nr_pages * 8))
        .max(pfn_up(super::image_end()));
    let boot = Boot {
        start_info: si,
        entry_tsc,
        first_free_pfn,
    };
    // SAFETY: defined by the kernel with this signature (checked against `KernelBoot`
    // where it is defined); called once, here.
    unsafe { ferrun_kernel_boot(&boot) }
}

/// Called by the exception stubs (and the failsafe callback) with the saved registers.
pub(super) extern "C" fn trap_handler(frame: &mut TrapFrame) {
    // SAFETY: defined by the kernel with this signature (checked against `KernelTrap`).
    unsafe { ferrun_kernel_trap(frame) }
}

/// Called by the event-upcall stub with events masked.
pub(super) extern "C" fn upcall_handler(frame: &mut TrapFrame) {
    // SAFETY: defined by the kernel with this signature (checked against `KernelUpcall`).
    unsafe { ferrun_kernel_upcall(frame) }
}

/// Called by `ferrun_syscall_user` (user mode, the thread's own stack) for a Linux system
/// call.
pub(super) extern "C" fn syscall_handler(frame: &mut SyscallFrame) -> i64 {
    // SAFETY: defined by the kernel with this signature (checked against `KernelSyscall`).
    unsafe { ferrun_kernel_syscall(frame) }
}
