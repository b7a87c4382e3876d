//! ferrun: a unikernel runtime for Xen PV guests.
//!
//! An application crate links this library, names its entry with [`main!`], and is built
//! into a PV image (`scripts/build APP`). `arch::x86_64` is the ground floor (entry,
//! hypercalls, traps, page tables, context switch); [`boot`] brings the runtime up in
//! order and calls the app's main; when main returns the domain powers off, and a panic or
//! an unexpected trap prints a report on the console and shuts the domain down as crashed.
//! `kernel/README.md` has the layers and what each module may use.
//!
//! The modules that need the hypervisor only build for `target_os = "none"`; the rest
//! (boot-info parsing, backtrace walking, console lines, ...) builds and is tested on the
//! host.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
pub mod bootinfo;
pub mod cmdline;
#[cfg(target_os = "none")]
pub mod diag;
pub mod drivers;
pub mod entropy;
#[cfg(target_os = "none")]
pub mod event;
pub mod logger;
pub mod mm;
pub mod net;
#[cfg(target_os = "none")]
pub mod panic;
pub mod sched;
pub mod symbols;
#[cfg(target_os = "none")]
pub mod syscall;
#[cfg(target_os = "none")]
pub mod time;
pub mod trace;
pub mod unwind;
#[cfg(target_os = "none")]
mod watchdog;

pub use bootinfo::BootInfo;
/// The TCP/IP stack the runtime's network device plugs into.
pub use smoltcp;

#[cfg(target_os = "none")]
pub use arch::x86_64::{xen_extraversion, xen_version};

/// Names the application's entry point: `kernel::main!(main);` with `fn main()`.
///
/// The kernel calls it once boot is complete; when it returns the domain powers off.
#[macro_export]
macro_rules! main {
    ($f:path) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "Rust" fn __ferrun_app_main() {
            let f: fn() = $f;
            f()
        }

        /// The image's function names (see `kernel::symbols`): `FERRUN_SYMBOLS` names the
        /// file; `.cargo/config.toml` points it at an empty one unless scripts/build
        /// sets it.
        #[used]
        #[unsafe(link_section = ".ferrun_symbols")]
        static __FERRUN_SYMBOLS: [u8; include_bytes!(env!("FERRUN_SYMBOLS")).len()] =
            *include_bytes!(env!("FERRUN_SYMBOLS"));
    };
}

#[cfg(target_os = "none")]
unsafe extern "Rust" {
    /// Defined by the application through [`main!`].
    fn __ferrun_app_main();
}

#[cfg(target_os = "none")]
static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// What Xen told us at boot.
///
/// # Panics
/// If called before boot recorded it (impossible from an app: main runs after).
#[cfg(target_os = "none")]
pub fn boot_info() -> &'static BootInfo {
    BOOT_INFO.get().expect("boot_info() before boot")
}

/// The module Xen loaded with the kernel (xl's `ramdisk =`), if there is one.
///
/// Its frames are reserved for the life of the domain (`mm::init` keeps them out of the
/// frame allocator and maps them), so the bytes stay valid and unchanged for ever.
#[cfg(target_os = "none")]
///
/// Its frames are reserved for the life of the domain (`mm::init` keeps them out of the
/// frame allocator and maps them), so the bytes stay valid and unchanged for ever.
pub fn boot_module() -> Option<&'static [u8]> {
    let (va, len) = boot_info().module()?;
    // The module lies in the guest's memory, in frames the allocator never hands out.
    let top = mem_info().nr_pages.saturating_mul(4096);
    if va < 4096 || va.checked_add(len).is_none_or(|end| end > top) {
        return None;
    }
    Some(arch::x86_64::boot_module(va, len))
}

#[cfg(target_os = "none")]
static MEM_INFO: spin::Once<mm::MemInfo> = spin::Once::new();

/// What memory setup found at boot.
///
/// # Panics
/// If called before boot recorded it.
#[cfg(target_os = "none")]
pub fn mem_info() -> mm::MemInfo {
    *MEM_INFO.get().expect("mem_info() before boot")
}

/// Where boot spent its time (pvclock ns).
#[derive(Debug, Clone, Copy, Default)]
pub struct BootTimes {
    /// System time when `_start` ran.
    pub entry_ns: u64,
    /// Console, shared_info, trap table, guard pages.
    pub platform_ns: u64,
    /// Mapping all memory, frame allocator.
    pub memory_ns: u64,
    /// Event channels, timer, runstate area, first thread.
    pub runtime_ns: u64,
    /// `_start` to the app's main, in total (includes entering user mode).
    pub main_ns: u64,
}

#[cfg(target_os = "none")]
static BOOT_TIMES: spin::Once<BootTimes> = spin::Once::new();
/// System time when the app's main was called.
#[cfg(target_os = "none")]
static MAIN_AT_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Where boot spent its time.
#[cfg(target_os = "none")]
pub fn boot_times() -> BootTimes {
    let t = BOOT_TIMES.get().copied().unwrap_or_default();
    let main_at = MAIN_AT_NS.load(core::sync::atomic::Ordering::Relaxed);
    BootTimes {
        main_ns: main_at.saturating_sub(t.entry_ns),
        ..t
    }
}

/// Keeps what boot learned, for [`boot_info`], [`mem_info`] and [`boot_times`].
#[cfg(target_os = "none")]
fn record_boot(info: BootInfo, mem: mm::MemInfo, times: BootTimes) {
    BOOT_INFO.call_once(|| info);
    MEM_INFO.call_once(|| mem);
    BOOT_TIMES.call_once(|| times);
}

/// Runs the app (in user mode, as thread `main`) and powers off when it returns.
#[cfg(target_os = "none")]
fn run_app() -> ! {
    MAIN_AT_NS.store(time::now_ns(), core::sync::atomic::Ordering::Relaxed);
    // SAFETY: `__ferrun_app_main` is defined by the app crate through `main!` with this
    // exact signature (a link error otherwise).
    unsafe { __ferrun_app_main() };
    poweroff()
}

/// Flushes the console and shuts the domain down with reason poweroff.
#[cfg(target_os = "none")]
pub fn poweroff() -> ! {
    shutdown(xen::abi::sched::ShutdownReason::Poweroff)
}

/// Flushes the console and shuts the domain down with reason reboot (the toolstack
/// restarts it, or keeps it for inspection with `on_reboot = "preserve"`).
#[cfg(target_os = "none")]
pub fn reboot() -> ! {
    shutdown(xen::abi::sched::ShutdownReason::Reboot)
}

/// Flushes the console and shuts the domain down with reason crash.
#[cfg(target_os = "none")]
pub fn crash() -> ! {
    shutdown(xen::abi::sched::ShutdownReason::Crash)
}

/// Flushes the console and shuts the domain down with `reason`.
#[cfg(target_os = "none")]
pub fn shutdown(reason: xen::abi::sched::ShutdownReason) -> ! {
    drivers::console::flush();
    let err = arch::x86_64::shutdown(reason);
    drivers::console::write_str_raw("ferrun: SCHEDOP_shutdown refused\n");
    let _ = err;
    loop {
        arch::x86_64::sched_block();
    }
}
