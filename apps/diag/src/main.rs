//! diag: hypercalls that fail on purpose, to show their reports: an event-channel send on
//! a port that does not exist, a multicall with one bad entry, and a mapping Xen refuses.
#![no_std]
#![no_main]

use kernel::println;
use xen::abi::xen::Port;

kernel::main!(main);

fn main() {
    println!("diag: sending on port 4000, which does not exist");
    let r = kernel::event::send(Port(4000));
    println!("diag: send -> {r:?}");
    println!("diag: a multicall with one bad entry");
    let r = kernel::diag::multicall_demo();
    println!("diag: multicall -> {r:?}");
    println!("diag: mapping a machine frame that does not exist");
    let r = kernel::diag::refusal_demo();
    println!("diag: refused: {}", r.is_some());
}
