//! oom: the heap running out of memory ends in a clear crash report.
//!
//! Grows a vector of 1 MiB blocks until the frame allocator has nothing left for the heap;
//! Rust's allocation-error path panics with the size asked for, and the kernel prints the
//! report and crashes the domain (never silent corruption). Thread creation, by contrast,
//! reports running out of memory as an error value (see selftest).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

kernel::main!(main);

fn main() {
    kernel::println!(
        "oom: {} pages free; allocating 1 MiB blocks until none is left",
        kernel::mm::free_pages()
    );
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::with_capacity(1 << 20);
        block.push(blocks.len() as u8);
        blocks.push(block);
        if blocks.len().is_multiple_of(8) {
            kernel::println!(
                "oom: {} MiB allocated, {} pages free",
                blocks.len(),
                kernel::mm::free_pages()
            );
        }
    }
}
