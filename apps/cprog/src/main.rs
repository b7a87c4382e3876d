//! cprog: runs a C program on Debian's musl through libc-shim.
//!
//! The program is the one embedded at build time (`scripts/build DIR` for a directory of
//! C sources), or else the module Xen loaded with the image (xl's `ramdisk =`), so one
//! image runs any static-pie musl program. The guest command line after the first `--`
//! holds its arguments after `argv[0]` (the program's name), split and unquoted as a
//! POSIX shell would (`kernel::cmdline::args_after_dashes`: `'a b'`, `"a \"b\""`, `a\ b`,
//! `''` for an empty argument).
//!
//! What stops it before the program runs ends the domain as crashed with one line saying
//! why: no program, a module that is not a program, a program that does not fit in the
//! guest's memory (with the sizes), an unterminated quote in the arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libc_shim::ExecError;

kernel::main!(main);

/// The embedded program (empty when none was given at build time).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.elf"));

/// The program's name (`argv[0]`): set by scripts/build from the directory's name.
const NAME: &str = match option_env!("FERRUN_C_NAME") {
    Some(n) => n,
    None => "program",
};

/// Pages the program's first thread needs besides its image: a stack of 1 MiB at least
/// and its guard page (libc-shim), and room for the runtime's own growth.
const FIRST_THREAD_PAGES: u64 = 257 + 64;

/// Prints why the program cannot run and ends the domain as crashed.
fn stop(why: core::fmt::Arguments<'_>) -> ! {
    kernel::println!("cprog: {NAME}: {why}");
    kernel::crash()
}

fn main() {
    let from_module = EMBEDDED.is_empty();
    let program = if from_module {
        match kernel::boot_module() {
            Some(m) => m,
            None => stop(format_args!(
                "no program: build one in (scripts/build DIR) or give one as the ramdisk"
            )),
        }
    } else {
        EMBEDDED
    };
    let cmdline = kernel::boot_info().cmdline();
    let mut buf = alloc::vec![0u8; cmdline.len() + 1];
    let mut args: Vec<&str> = Vec::from([NAME]);
    match kernel::cmdline::args_after_dashes(cmdline, &mut buf) {
        Ok(words) => args.extend(words),
        Err(e) => stop(format_args!("its arguments after `--`: {e}")),
    }
    let e = libc_shim::run(program, &args);
    let kib = |pages: u64| pages * 4;
    let mem = kernel::mem_info();
    match e {
        ExecError::NoMemory { pages } => stop(format_args!(
            "does not fit in the guest's memory: loading it takes {} KiB ({pages} pages), \
             {} KiB are free of memory = {} MiB (the ramdisk itself takes {} KiB, the \
             runtime {} KiB); raise `memory =` by at least {} MiB",
            kib(pages as u64),
            kib(kernel::mm::free_pages() as u64),
            mem.nr_pages / 256,
            kib(mem.module_pages),
            kib(mem.kernel_pages),
            (pages as u64 + FIRST_THREAD_PAGES)
                .saturating_sub(kernel::mm::free_pages() as u64)
                .div_ceil(256)
        )),
        ExecError::Elf(e) if from_module => stop(format_args!(
            "the ramdisk ({} bytes) is not a program it can run: {e}",
            program.len()
        )),
        ExecError::Thread => stop(format_args!(
            "no thread for it: {} KiB are free of memory = {} MiB, and its first thread's \
             stack takes 1 MiB or more; raise `memory =`",
            kib(kernel::mm::free_pages() as u64),
            mem.nr_pages / 256
        )),
        e => stop(format_args!("{e}")),
    }
}
