//! cprog: runs a C program on Debian's musl through libc-shim.
//!
//! The program is the one embedded at build time (`scripts/build DIR` for a directory of
//! C sources, `scripts/build --elf FILE` for a prebuilt static-pie), or else comes from the module Xen loaded with the image (xl's `ramdisk =`):
//! - a static-pie ELF: that is the program;
//! - a `newc` cpio archive: that is the read-only root of the file tree, and the first
//!   argument after `--` on the command line is the program's path in it
//!   (`cmdline = "-- /usr/bin/redis-server /etc/redis.conf"`).
//!
//! The guest command line after the first `--` holds the program's arguments, split and
//! unquoted as a POSIX shell would (`kernel::cmdline::args_after_dashes`: `'a b'`,
//! `"a \"b\""`, `a\ b`, `''` for an empty argument); `tmpfs=PATH` words before it add
//! tmpfs mounts besides `/tmp`.
//!
//! What stops it before the program runs ends the domain as crashed with one line saying
//! why: no program, a module that is neither a program nor a file tree, a program that
//! does not fit in the guest's memory (with the sizes), an unterminated quote in the
//! arguments, a program path that names nothing runnable.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libc_shim::{ExecError, Program, TreeConfig};

kernel::main!(main);

/// The embedded program (empty when none was given at build time).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.elf"));

/// The program's name (`argv[0]`): set by scripts/build from the directory's or file's name.
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

/// True for a `newc` cpio archive (magic `070701`, or `070702` with checksums).
fn is_cpio(b: &[u8]) -> bool {
    b.starts_with(b"070701") || b.starts_with(b"070702")
}

fn main() {
    let cmdline = kernel::boot_info().cmdline();
    let tmpfs: Vec<&str> = kernel::cmdline::words(cmdline)
        .take_while(|w| *w != "--")
        .filter_map(|w| w.strip_prefix("tmpfs="))
        .collect();
    let mut buf = alloc::vec![0u8; cmdline.len() + 1];
    let after: Vec<&str> = match kernel::cmdline::args_after_dashes(cmdline, &mut buf) {
        Ok(words) => words.collect(),
        Err(e) => stop(format_args!("its arguments after `--`: {e}")),
    };
    let module = kernel::boot_module();
    let mut args: Vec<&str> = Vec::new();
    let (program, root, from_module) = if !EMBEDDED.is_empty() {
        args.push(NAME);
        args.extend(&after);
        (Program::Elf(EMBEDDED), module.filter(|m| is_cpio(m)), false)
    } else {
        match module {
            Some(m) if is_cpio(m) => {
                let Some(path) = after.first() else {
                    stop(format_args!(
                        "the ramdisk is a file tree ({} bytes): name the program to run in it \
                         after `--` on the command line",
                        m.len()
                    ))
                };
                args.extend(&after);
                (Program::Path(path), Some(m), true)
            }
            Some(m) => {
                args.push(NAME);
                args.extend(&after);
                (Program::Elf(m), None, true)
            }
            None => stop(format_args!(
                "no program: build one in (scripts/build DIR) or give one as the ramdisk"
            )),
        }
    };
    let tree = TreeConfig {
        root,
        tmpfs: &tmpfs,
    };
    let e = libc_shim::run(program, &args, &tree);
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
            "the ramdisk ({} bytes) is neither a program it can run nor a newc cpio file \
             tree: {e}",
            module.map_or(0, <[u8]>::len)
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
