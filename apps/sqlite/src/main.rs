//! sqlite: SQLite (the `libsqlite3-sys` crate's amalgamation) on Debian's musl through
//! libc-shim: two threads, each with its own in-memory database (`c/sqltest.c`).
#![no_std]
#![no_main]

kernel::main!(main);

/// The program (see build.rs).
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.elf"));

fn main() {
    let e = libc_shim::run(
        libc_shim::Program::Elf(PROGRAM),
        &["sqlite"],
        &libc_shim::TreeConfig {
            root: None,
            tmpfs: &[],
        },
    );
    panic!("sqlite: {e}");
}
