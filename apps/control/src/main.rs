//! control: waits to be shut down by the toolstack. Registers a shutdown hook, logs that
//! it is ready (and, at `loglevel=debug`, a debug line), then sleeps until `xl shutdown`
//! or `xl reboot` ends the domain (the kernel's `control` thread handles the request and
//! runs the hook first).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

kernel::main!(main);

fn main() {
    kernel::drivers::control::on_shutdown(Box::new(|| {
        log::info!("shutdown hook ran");
    }));
    log::debug!("debug lines are on");
    log::info!("ready");
    loop {
        kernel::sched::sleep_ns(1_000_000_000);
    }
}
