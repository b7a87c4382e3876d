//! spin: burns CPU for a while and reports how much of that time Xen stole.
//!
//! Command line: `spin=SECONDS` (default 10) and optionally `start=UNIX_SECONDS`: sleep
//! (without using the CPU) until that wall-clock second, so that several guests spin at
//! the same time. Prints one line
//! `spin: wall-ms W running-ms R runnable-ms Q blocked-ms B offline-ms O steal-ms S share P.P%`,
//! where share = steal / wall over the spin. The steal-time flight runs it alone and as
//! two guests pinned to one physical CPU.
#![no_std]
#![no_main]

use kernel::{println, time};

kernel::main!(main);

/// What the command line asks for.
struct Args {
    seconds: u64,
    start: Option<u64>,
}

/// Parses `spin=N` and `start=T`; other words are ignored. Returns the bad word on error.
fn parse(cmdline: &str) -> Result<Args, &str> {
    let mut args = Args {
        seconds: 10,
        start: None,
    };
    for word in cmdline.split_whitespace() {
        if let Some(v) = word.strip_prefix("spin=") {
            args.seconds = v
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .ok_or(word)?;
        } else if let Some(v) = word.strip_prefix("start=") {
            args.start = Some(v.parse::<u64>().map_err(|_| word)?);
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse(kernel::boot_info().cmdline()) {
        Ok(a) => a,
        Err(word) => {
            println!(
                "spin: bad argument '{word}': expected spin=SECONDS (1..=3600) and start=UNIX_SECONDS"
            );
            kernel::crash();
        }
    };
    if let Some(start) = args.start {
        let start_ns = u128::from(start) * 1_000_000_000;
        let now = time::wallclock_ns();
        if now < start_ns {
            let wait = u64::try_from(start_ns - now).unwrap_or(u64::MAX);
            kernel::sched::sleep_ns(wait);
        } else {
            println!(
                "spin: started {} ms after start={start}",
                (now - start_ns) / 1_000_000
            );
        }
    }
    let secs = args.seconds;
    let Some(r0) = time::runstate() else {
        println!("spin: no runstate area: steal time unavailable");
        kernel::crash();
    };
    println!("spin: spinning for {secs} s");
    let t0 = time::now_ns();
    let end = t0 + secs * 1_000_000_000;
    let mut x = 0u64;
    while time::now_ns() < end {
        x = core::hint::black_box(x.wrapping_add(1));
    }
    let t1 = time::now_ns();
    let Some(r1) = time::runstate() else {
        kernel::crash()
    };
    let wall = t1 - t0;
    let steal = r1.steal() - r0.steal();
    let permille = steal * 1000 / wall.max(1);
    println!(
        "spin: wall-ms {} running-ms {} runnable-ms {} blocked-ms {} offline-ms {} steal-ms {} share {}.{}%",
        wall / 1_000_000,
        (r1.running - r0.running) / 1_000_000,
        (r1.runnable - r0.runnable) / 1_000_000,
        (r1.blocked - r0.blocked) / 1_000_000,
        (r1.offline - r0.offline) / 1_000_000,
        steal / 1_000_000,
        permille / 10,
        permille % 10
    );
}
