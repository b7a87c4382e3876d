//! cprog: runs a C program on Debian's musl through libc-shim.
//!
//! The program is the one embedded at build time (`scripts/build DIR` for a directory of
//! C sources, `scripts/build --elf FILE` for a prebuilt static-pie), or else the module Xen
//! loaded with the image (xl's `ramdisk =`), so one image runs any static-pie musl program. The words of the guest command line after `--`
//! are its arguments after `argv[0]` (the program's name).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

kernel::main!(main);

/// The embedded program (empty when none was given at build time).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.elf"));

/// The program's name (`argv[0]`): set by scripts/build from the directory's or file's name.
const NAME: &str = match option_env!("FERRUN_C_NAME") {
    Some(n) => n,
    None => "program",
};

fn main() {
    let program = if EMBEDDED.is_empty() {
        match kernel::boot_module() {
            Some(m) => m,
            None => panic!(
                "cprog: no program: build one in (scripts/build DIR) or give one as the ramdisk"
            ),
        }
    } else {
        EMBEDDED
    };
    let cmdline = kernel::boot_info().cmdline();
    let mut args: Vec<&str> = Vec::from([NAME]);
    args.extend(
        cmdline
            .split_ascii_whitespace()
            .skip_while(|w| *w != "--")
            .skip(1),
    );
    let e = libc_shim::run(program, &args);
    panic!("cprog: {NAME}: {e}");
}
