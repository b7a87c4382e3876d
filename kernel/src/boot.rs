//! Boot sequencing: the order in which the runtime comes up, top to bottom, and the
//! kernel's side of the arch entry interface (`arch::x86_64::entry`).
//!
//! `_start` (arch) copies `start_info`, records the page tables and calls
//! `ferrun_kernel_boot` here, in kernel mode with events masked. From there:
//! console, shared_info, trap table and callbacks, guard pages, memory (frame allocator,
//! W^X), event channels, time (VIRQ_TIMER, runstate), the first thread, and then user
//! mode, where the app's `main` runs as thread `main`.
//!
//! May use: every kernel module (it is the top of the boot path) and `arch`.
#![deny(unsafe_code)]

use crate::arch::x86_64::{self as arch, entry, traps::TrapFrame};
use crate::drivers::{console, control};
use crate::{BootInfo, BootTimes, event, mm, sched, time};

// The functions `arch::x86_64::entry` declares, checked against its types.
const _: entry::KernelBoot = ferrun_kernel_boot;
const _: entry::KernelTrap = ferrun_kernel_trap;
const _: entry::KernelUpcall = ferrun_kernel_upcall;
const _: entry::KernelSyscall = ferrun_kernel_syscall;

/// Prints why boot cannot go on and crashes the domain.
fn fatal(what: &str, e: &dyn core::fmt::Display) -> ! {
    crate::println!("ferrun: boot: {what} failed: {e}");
    crate::crash()
}

/// Frames the runtime needs free after boot to reach the app's `main` (its heap's first
/// growth, the first thread's and the control thread's stacks, with room to spare).
const MIN_FREE_PAGES: u64 = 96;

/// Says that the domain's memory is too small, with every size, and crashes the domain
/// (before anything could fail to allocate).
fn too_little_memory(mem: &mm::MemInfo) -> ! {
    let kib = |pages: u64| pages * 4;
    crate::println!(
        "ferrun: boot: not enough memory: memory = {} KiB ({} pages); the image and Xen's boot \
         structures take {} KiB, the boot module (ramdisk) {} KiB, leaving {} KiB free; \
         ferrun needs at least {} KiB free to start: raise `memory =` in the xl config",
        kib(mem.nr_pages),
        mem.nr_pages,
        kib(mem.kernel_pages),
        kib(mem.module_pages),
        kib(mem.free_pages),
        kib(MIN_FREE_PAGES)
    );
    crate::crash()
}

/// Brings the runtime up and enters the app; see the module comment for the order.
#[expect(
    unsafe_code,
    reason = "no_mangle: the symbol arch::x86_64::entry calls"
)]
#[unsafe(no_mangle)]
fn ferrun_kernel_boot(boot: &entry::Boot) -> ! {
    let si = &boot.start_info;

    // 1. Platform: console first (so every failure after this is printed), shared_info,
    //    trap table and callbacks, page 0 and the boot stack's guard unmapped.
    console::init(
        xen::console::ConsoleRing::new(arch::console_ring(si.console.mfn.0)),
        si.console.evtchn,
    );
    if let Err(e) = arch::map_shared_info(si.shared_info) {
        fatal("mapping shared_info", &e);
    }
    if let Err(e) = arch::traps::install() {
        fatal("set_trap_table/set_callbacks", &e);
    }
    if let Err(e) = arch::unmap_boot_guards() {
        fatal("unmapping page 0 and the boot stack guard", &e);
    }
    let entry_ns = time::time_info().map_or(0, |t| xen::pvclock::system_time(&t, boot.entry_tsc));

    // 2. Memory: the frame allocator over all frames (mapped on demand), then W^X.
    let mm_start = time::now_ns();
    mm::on_refused(crate::diag::refused);
    let module = BootInfo::from_start_info(si, boot.entry_tsc).module_frames();
    let mem = match mm::init(si.nr_pages, boot.first_free_pfn, module) {
        Ok(m) => m,
        Err(e) => fatal("memory setup", &e),
    };
    if mem.free_pages < MIN_FREE_PAGES {
        too_little_memory(&mem);
    }
    if let Some(tables) = arch::mm::tables() {
        match arch::mm::harden_image(&tables, si.nr_pages) {
            Ok(true) => {}
            Ok(false) => crate::println!("ferrun: no-execute pages unavailable; code is read-only"),
            Err(e) => fatal("write-protecting the image", &e),
        }
    }
    let mm_end = time::now_ns();

    // 3. Runtime: event channels, time, the first thread (this stack).
    event::init();
    if let Err(e) = time::init() {
        fatal("timer (VIRQ_TIMER)", &e);
    }
    if let Err(e) = time::init_runstate() {
        crate::println!("ferrun: steal time unavailable: runstate area: {e}");
    }
    let cmdline_info = BootInfo::from_start_info(si, boot.entry_tsc);
    crate::watchdog::init(cmdline_info.cmdline());
    crate::trace::init(cmdline_info.cmdline());
    // The grant table comes up with the first page a driver grants (`gnttab`): images
    // without such a driver carry none of its code.
    match sched::init() {
        Ok(sched::TlsMode::Selectors) => {}
        Ok(sched::TlsMode::Hypercall(e)) => {
            crate::println!("ferrun: TLS by set_segment_base on every switch: LDT: {e}");
        }
        Err(e) => fatal("threads (FS base)", &e),
    }
    let times = BootTimes {
        entry_ns,
        platform_ns: mm_start.saturating_sub(entry_ns),
        memory_ns: mm_end.saturating_sub(mm_start),
        runtime_ns: time::now_ns().saturating_sub(mm_end),
        main_ns: 0,
    };
    crate::record_boot(BootInfo::from_start_info(si, boot.entry_tsc), mem, times);

    // 4. User mode for good: every thread runs there (see `arch::x86_64::enter_user`).
    match arch::enter_user(user_main) {
        Err(e) => fatal("entering user mode", &e),
        Ok(never) => match never {},
    }
}

/// First code in user mode: the logger, the control thread, then the app as thread
/// `main`; the domain powers off when it returns.
extern "C" fn user_main() -> ! {
    crate::logger::init(crate::boot_info().cmdline());
    control::start();
    crate::run_app()
}

/// An exception nobody handles: a crash report (see `crate::panic`).
#[expect(
    unsafe_code,
    reason = "no_mangle: the symbol arch::x86_64::entry calls"
)]
#[unsafe(no_mangle)]
fn ferrun_kernel_trap(frame: &mut TrapFrame) {
    crate::panic::fatal_trap(frame)
}

/// An event upcall: pending ports are moved aside for the scheduler to dispatch; the
/// watchdogs look at what it interrupted.
#[expect(
    unsafe_code,
    reason = "no_mangle: the symbol arch::x86_64::entry calls"
)]
#[unsafe(no_mangle)]
fn ferrun_kernel_upcall(frame: &TrapFrame) {
    event::upcall();
    crate::watchdog::upcall(frame);
}

/// A Linux system call from thread code: to the system-call layer (`crate::syscall`).
#[expect(
    unsafe_code,
    reason = "no_mangle: the symbol arch::x86_64::entry calls"
)]
#[unsafe(no_mangle)]
fn ferrun_kernel_syscall(frame: &mut arch::syscall::SyscallFrame) -> i64 {
    crate::syscall::dispatch(frame)
}
