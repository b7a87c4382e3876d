//! overflow: a thread named `overflow` recurses until it hits its stack's guard page.
//! The kernel must report a stack overflow naming the thread, then crash the domain.
#![no_std]
#![no_main]

kernel::main!(main);

fn main() {
    kernel::println!("overflow: recursing in thread 'overflow' until its guard page");
    match kernel::sched::spawn("overflow", || recurse(0)) {
        Ok(h) => {
            let depth = h.join();
            kernel::println!("overflow: survived, depth {depth:?}");
        }
        Err(e) => kernel::println!("overflow: {e}"),
    }
}

#[inline(never)]
#[expect(
    unconditional_recursion,
    reason = "recursing until the guard page is the point"
)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 8]);
    recurse(depth + 1).wrapping_add(frame[3])
}
