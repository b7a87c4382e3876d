//! crash: exercises the crash path. A thread named `crasher` calls a few named functions
//! deep and dereferences a null pointer there; the kernel must print the trap report (trap
//! number, error code, faulting address, thread, registers, backtrace) and shut the domain
//! down with reason crash.
#![no_std]
#![no_main]

kernel::main!(main);

fn main() {
    kernel::println!("crash: about to dereference a null pointer three calls deep");
    match kernel::sched::spawn("crasher", || crash_level_one(3)) {
        // Not reached: the fault ends the domain.
        Ok(h) => kernel::println!("crash: survived with {:?}", h.join()),
        Err(e) => kernel::println!("crash: cannot start thread 'crasher': {e}"),
    }
}

#[inline(never)]
fn crash_level_one(n: u64) -> u64 {
    crash_level_two(n + 1) + 1
}

#[inline(never)]
fn crash_level_two(n: u64) -> u64 {
    crash_level_three(n * 2) + 1
}

#[inline(never)]
fn crash_level_three(n: u64) -> u64 {
    let null = core::hint::black_box(core::ptr::null::<u64>());
    // SAFETY: none: this read is the fault this app exists to cause. Address 0 is unmapped
    // by the kernel at boot, so it traps (page fault) instead of reading the ELF header.
    n + unsafe { null.read_volatile() }
}
