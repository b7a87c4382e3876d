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
    let boot = kernel::boot_times();
    kernel::println!(
        "ferrun hello: xen {major}.{minor}{extra} magic {} nr_pages {} cmdline \"{}\" pvclock {now} ns (entry to main {} us)",
        info.magic(),
        info.nr_pages,
        info.cmdline(),
        boot.main_ns / 1000,
    );
    kernel::println!(
        "ferrun hello: boot us: platform {} memory {} runtime {} user-mode entry {}",
        boot.platform_ns / 1000,
        boot.memory_ns / 1000,
        boot.runtime_ns / 1000,
        boot.main_ns
            .saturating_sub(boot.platform_ns + boot.memory_ns + boot.runtime_ns)
            / 1000,
    );
}
