//! hello: the boot smoke test. Prints one banner line with the Xen version, the
//! start_info magic, the page count, the command line and the pvclock time, then returns
//! (the domain powers off).
#![no_std]
#![no_main]

kernel::main!(main);

fn main() {
    let (major, minor) = kernel::xen_version();
    let extra = kernel::xen_extraversion();
    let extra_len = extra.iter().position(|&b| b == 0).unwrap_or(extra.len());
    let extra = core::str::from_utf8(&extra[..extra_len]).unwrap_or("");
    let info = kernel::boot_info();
    let now = kernel::time::now_ns();
    let since_entry_ns = kernel::time::time_info()
        .map(|t| {
            xen::pvclock::scale_delta(
                kernel::arch::x86_64::rdtsc() - info.entry_tsc,
                t.tsc_to_system_mul,
                t.tsc_shift,
            )
        })
        .unwrap_or(0);
    kernel::println!(
        "ferrun hello: xen {major}.{minor}{extra} magic {} nr_pages {} cmdline \"{}\" pvclock {now} ns (entry to banner {} us)",
        info.magic(),
        info.nr_pages,
        info.cmdline(),
        since_entry_ns / 1000,
    );
}
