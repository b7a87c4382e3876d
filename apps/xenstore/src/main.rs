//! xenstore: the xenbus client on real xenstored. Finds its home path, reads its name,
//! writes a value dom0 reads back, lists its home, counts in transactions, sees a watch
//! fire when dom0 writes, and measures the read round trip. One line per check; any
//! failure panics (a crash shutdown the testbed sees).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::drivers::xenbus::{self, Tx, Xenbus};
use kernel::println;
use kernel::sched;
use kernel::time;
use xen::xenstore::{Errno, XsError};

kernel::main!(main);

/// The value dom0 checks with `xenstore-read`.
const GREETING: &str = "hello from ferrun";

fn main() {
    let bus = xenbus::get().unwrap_or_else(|e| panic!("xenstore: no connection: {e}"));
    let home = bus.home().unwrap_or_else(|e| panic!("xenstore: home: {e}"));
    println!("xenstore: home {home}");
    let name = bus
        .read_string("name", Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: read name: {e}"));
    println!("xenstore: name {name}");

    bus.write("data/greeting", GREETING.as_bytes(), Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: write data/greeting: {e}"));
    let back = bus
        .read_string("data/greeting", Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: read data/greeting: {e}"));
    assert_eq!(back, GREETING, "xenstore: data/greeting read back");
    println!("xenstore: wrote data/greeting");

    match bus.read("data/does-not-exist", Tx::NONE) {
        Err(XsError::Xenstore(Errno::Enoent)) => println!("xenstore: missing key is ENOENT"),
        other => panic!("xenstore: missing key gave {other:?}"),
    }

    let mut entries = bus
        .directory(&home, Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: directory {home}: {e}"));
    entries.sort();
    println!("xenstore: home holds {}", entries.join(" "));
    assert!(
        entries.iter().any(|e| e == "data"),
        "xenstore: no data/ in {home}"
    );

    for _ in 0..2 {
        bus.transaction(|b, tx| {
            let n = read_u32(b, "data/counter", tx)?;
            b.write("data/counter", alloc::format!("{}", n + 1).as_bytes(), tx)
        })
        .unwrap_or_else(|e| panic!("xenstore: transaction: {e}"));
    }
    let counter = bus
        .read_string("data/counter", Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: read data/counter: {e}"));
    assert_eq!(counter, "2", "xenstore: counter after two transactions");
    println!("xenstore: transactions counted to {counter}");

    // Two threads increment the same key in transactions at once: conflicting commits
    // fail with EAGAIN and run again, and no increment is lost.
    let tries = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let bus = bus.clone();
            let tries = tries.clone();
            sched::spawn(&alloc::format!("tx-{i}"), move || {
                for _ in 0..10 {
                    bus.transaction(|b, tx| {
                        tries.fetch_add(1, Ordering::Relaxed);
                        let n = read_u32(b, "data/counter", tx)?;
                        b.write("data/counter", alloc::format!("{}", n + 1).as_bytes(), tx)
                    })?;
                }
                Ok::<(), XsError>(())
            })
            .unwrap_or_else(|e| panic!("xenstore: spawn: {e}"))
        })
        .collect();
    for w in workers {
        match w.join() {
            Some(Ok(())) => {}
            other => panic!("xenstore: concurrent transactions: {other:?}"),
        }
    }
    let counter = read_u32(&bus, "data/counter", Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: read data/counter: {e}"));
    assert_eq!(
        counter, 22,
        "xenstore: counter after 20 concurrent increments"
    );
    println!(
        "xenstore: concurrent transactions counted to {counter} ({} commits run again)",
        tries.load(Ordering::Relaxed) - 20
    );

    const ROUNDS: u64 = 100;
    let t0 = time::now_ns();
    for _ in 0..ROUNDS {
        bus.read("name", Tx::NONE)
            .unwrap_or_else(|e| panic!("xenstore: read name: {e}"));
    }
    let us = (time::now_ns() - t0) / ROUNDS / 1000;
    println!("xenstore: figure read-round-trip-us {us}");

    // The whole home tree, for the flight to compare with dom0's `xenstore-ls -fp`.
    println!("xs-tree: begin {home}");
    let nodes = print_tree(&bus, &home);
    println!("xs-tree: end {nodes} nodes");

    let watch = bus
        .watch("data/poke", "poke")
        .unwrap_or_else(|e| panic!("xenstore: watch data/poke: {e}"));
    let soon = || time::now_ns() + 30_000_000_000;
    // xenstored fires every new watch once at once.
    let first = watch
        .next(soon())
        .unwrap_or_else(|e| panic!("xenstore: first watch event: {e}"));
    println!("xenstore: watch set on {first}; waiting for dom0 to write data/poke");
    let poked = watch
        .next(soon())
        .unwrap_or_else(|e| panic!("xenstore: watch event after dom0's write: {e}"));
    let value = bus
        .read_string("data/poke", Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: read data/poke: {e}"));
    println!("xenstore: watch fired on {poked}: {value}");

    // A reply that never comes: dom0 stops xenstored, then tells us on the console.
    println!("xenstore: type 'stall' once xenstored is stopped");
    wait_for_line("stall");
    let t0 = time::now_ns();
    match bus.read("name", Tx::NONE) {
        Err(XsError::Timeout) => println!(
            "xenstore: read timed out after {} ms (xenstored stopped)",
            (time::now_ns() - t0) / 1_000_000
        ),
        other => panic!("xenstore: read with xenstored stopped gave {other:?}"),
    }
    println!("xenstore: type 'resume' once xenstored runs again");
    wait_for_line("resume");
    let name = bus
        .read_string("name", Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: read after the stall: {e}"));
    // The late reply to the timed-out read arrived meanwhile, for nobody: one stray.
    println!(
        "xenstore: read after the stall: {name}; strays {}",
        bus.strays()
    );
    drop(watch);
    println!("xenstore: done");
}

/// Blocks until the console delivers the line `want`.
fn wait_for_line(want: &str) {
    loop {
        match kernel::drivers::console::read_line(64) {
            Ok(line) if line == want => return,
            Ok(_) => {}
            Err(e) => panic!("xenstore: console input: {e}"),
        }
    }
}

/// The number at `key`; a missing key counts as 0.
fn read_u32(bus: &Xenbus, key: &str, tx: Tx) -> Result<u32, XsError> {
    match bus.read_string(key, tx) {
        Ok(v) => v.parse().map_err(|_| XsError::BadNumber),
        Err(XsError::Xenstore(Errno::Enoent)) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Prints every node below `dir` as `xs-tree: PATH = "VALUE"` (as `xenstore-ls -f` does,
/// with `\\` and non-printable bytes escaped); returns how many.
fn print_tree(bus: &Xenbus, dir: &str) -> usize {
    let children = bus
        .directory(dir, Tx::NONE)
        .unwrap_or_else(|e| panic!("xenstore: directory {dir}: {e}"));
    let mut n = 0;
    for child in children {
        let path = alloc::format!("{dir}/{child}");
        let value = bus
            .read(&path, Tx::NONE)
            .unwrap_or_else(|e| panic!("xenstore: read {path}: {e}"));
        let mut shown = alloc::string::String::new();
        for &b in &value {
            match b {
                b'\\' => shown.push_str("\\\\"),
                b' '..=b'~' => shown.push(char::from(b)),
                _ => shown.push_str(&alloc::format!("\\x{b:02x}")),
            }
        }
        println!("xs-tree: {path} = \"{shown}\"");
        n += 1 + print_tree(bus, &path);
    }
    n
}
