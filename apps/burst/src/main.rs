//! burst: prints a burst of numbered console lines when dom0 writes their count to
//! `data/burst`, for the console flow-control test (dom0 stops xenconsoled meanwhile: the
//! printing thread must wait for room in the ring, and lose nothing).
#![no_std]
#![no_main]

use kernel::drivers::xenbus::{self, Tx};
use kernel::{println, time};
use xen::xenstore::{Errno, XsError};

kernel::main!(main);

fn main() {
    let bus = xenbus::get().unwrap_or_else(|e| panic!("burst: xenstore: {e}"));
    let watch = bus
        .watch("data/burst", "burst")
        .unwrap_or_else(|e| panic!("burst: watch data/burst: {e}"));
    println!("burst: ready");
    let n: u32 = loop {
        if let Err(e) = watch.next(u64::MAX) {
            panic!("burst: watch: {e}");
        }
        match bus.read_string("data/burst", Tx::NONE) {
            Ok(v) => {
                break v
                    .parse()
                    .unwrap_or_else(|_| panic!("burst: bad count {v:?}"));
            }
            Err(XsError::Xenstore(Errno::Enoent)) => continue,
            Err(e) => panic!("burst: read data/burst: {e}"),
        }
    };
    let t0 = time::now_ns();
    for i in 0..n {
        println!("burst line {i:05}");
    }
    println!(
        "burst: {n} lines done in {} ms",
        (time::now_ns() - t0) / 1_000_000
    );
}
