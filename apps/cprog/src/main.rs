//! cprog: runs a C program on Debian's musl through libc-shim.
//!
//! The program is the one embedded at build time (`scripts/build DIR` for a directory of
//! C sources), or else comes from the module Xen loaded with the image (xl's `ramdisk =`):
//! - a static-pie ELF: that is the program;
//! - a `newc` cpio archive: that is the read-only root of the file tree, and the first
//!   word after `--` on the command line is the program's path in it
//!   (`cmdline = "-- /usr/bin/redis-server /etc/redis.conf"`).
//!
//! The words of the guest command line after `--` are the program's arguments;
//! `tmpfs=PATH` words before it add tmpfs mounts besides `/tmp`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

kernel::main!(main);

/// The embedded program (empty when none was given at build time).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.elf"));

/// The program's name (`argv[0]`): set by scripts/build from the directory's name.
const NAME: &str = match option_env!("FERRUN_C_NAME") {
    Some(n) => n,
    None => "program",
};

/// True for a `newc` cpio archive (magic `070701`, or `070702` with checksums).
fn is_cpio(b: &[u8]) -> bool {
    b.starts_with(b"070701") || b.starts_with(b"070702")
}

fn main() {
    let cmdline = kernel::boot_info().cmdline();
    let words: Vec<&str> = kernel::cmdline::words(cmdline).collect();
    let (before, after) = match words.iter().position(|w| *w == "--") {
        Some(i) => (&words[..i], words.get(i + 1..).unwrap_or_default()),
        None => (&words[..], &[][..]),
    };
    let tmpfs: Vec<&str> = before
        .iter()
        .filter_map(|w| w.strip_prefix("tmpfs="))
        .collect();
    let module = kernel::boot_module();
    let mut args: Vec<&str> = Vec::new();
    let (program, root) = if !EMBEDDED.is_empty() {
        args.push(NAME);
        args.extend(after);
        let root = module.filter(|m| is_cpio(m));
        (libc_shim::Program::Elf(EMBEDDED), root)
    } else {
        match module {
            Some(m) if is_cpio(m) => {
                let Some(path) = after.first() else {
                    panic!(
                        "cprog: the ramdisk is a file tree: name the program to run in it after `--` on the command line"
                    );
                };
                args.extend(after);
                (libc_shim::Program::Path(path), Some(m))
            }
            Some(m) => {
                args.push(NAME);
                args.extend(after);
                (libc_shim::Program::Elf(m), None)
            }
            None => panic!(
                "cprog: no program: build one in (scripts/build DIR) or give one as the ramdisk"
            ),
        }
    };
    let tree = libc_shim::TreeConfig {
        root,
        tmpfs: &tmpfs,
    };
    let e = libc_shim::run(program, &args, &tree);
    panic!("cprog: {}: {e}", args.first().unwrap_or(&NAME));
}
