//! stall: a thread that never yields, for the watchdogs.
//!
//! Command line `spin` (default): thread `spinner` runs 8 s without yielding while thread
//! `ticker` waits to tick; the stall watchdog must name `spinner`, and `ticker` must run
//! again afterwards. `after-sleep`: the same, but `spinner` sleeps 1 s first, so the
//! vCPU goes idle and the spin begins as the sleep's timer wakes it (the timer upcall then
//! comes before a thread is chosen). `masked`: event delivery masked and a spin for ever;
//! Xen's domain watchdog must end the domain.
#![no_std]
#![no_main]

use kernel::{println, sched, time};

kernel::main!(main);

/// Spins until `ns` have passed, never yielding.
#[inline(never)]
fn spin_without_yielding(ns: u64) -> u64 {
    let end = time::now_ns() + ns;
    let mut x = 0u64;
    while time::now_ns() < end {
        x = core::hint::black_box(x.wrapping_add(1));
    }
    x
}

fn main() {
    let cmdline = kernel::boot_info().cmdline();
    if cmdline.split_ascii_whitespace().any(|w| w == "masked") {
        println!("stall: events masked, spinning for ever");
        kernel::arch::x86_64::events::mask_upcalls_for_good();
        loop {
            spin_without_yielding(1_000_000_000);
        }
    }
    // `after-sleep`: the spin begins as a sleep's timer wakes the idle vCPU, 1 s after
    // boot, when boot's xenstore traffic is over: no other event comes during the spin
    // whose upcall could arm the check in the timer's place.
    let pause = if cmdline.split_ascii_whitespace().any(|w| w == "after-sleep") {
        1_000_000_000
    } else {
        0
    };
    let ticker = sched::spawn("ticker", move || {
        sched::sleep_ns(pause + 100_000_000);
        println!("ticker: ran again after the stall");
    });
    let spinner = sched::spawn("spinner", move || {
        println!("stall: spinner spinning for 8 s without yielding");
        if pause > 0 {
            sched::sleep_ns(pause);
        }
        spin_without_yielding(8_000_000_000);
        println!("stall: spin over");
    });
    match (ticker, spinner) {
        (Ok(t), Ok(s)) => {
            s.join();
            t.join();
        }
        _ => println!("stall: no threads"),
    }
}
