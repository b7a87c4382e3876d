//! lua: Lua 5.4 (the `lua-src` crate's C sources) on Debian's musl through libc-shim,
//! running the script `c/script.lua` with the driver `c/driver.c`.
#![no_std]
#![no_main]

kernel::main!(main);

/// The program (see build.rs).
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.elf"));

fn main() {
    let e = libc_shim::run(
        libc_shim::Program::Elf(PROGRAM),
        &["lua"],
        &libc_shim::TreeConfig {
            root: None,
            tmpfs: &[],
        },
    );
    panic!("lua: {e}");
}
