//! Builds the program: Lua 5.4 from the `lua-src` crate, compiled with Debian's musl, and
//! `c/driver.c` running `c/script.lua`, linked into one static-pie (`scripts/cc-musl`) at
//! `$OUT_DIR/program.elf`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Debian's musl compiler for lua-src's cc build.
    // SAFETY: a build script runs one thread; nothing reads the environment concurrently.
    unsafe { std::env::set_var("CC_x86_64_unknown_linux_musl", "musl-gcc") };
    let lua = lua_src::Build::new()
        .target("x86_64-unknown-linux-musl")
        .host("x86_64-unknown-linux-gnu")
        .out_dir(out.join("lua"))
        .build(lua_src::Lua54);
    let lib = lua.lib_dir().join("liblua5.4.a");
    for f in ["c/driver.c", "c/script.lua"] {
        println!("cargo::rerun-if-changed={}", here.join(f).display());
    }
    let script = here.join("c/script.lua");
    let status = Command::new(here.join("../../scripts/cc-musl"))
        .env(
            "CFLAGS",
            format!(
                "-I{} -DSCRIPT_PATH=\"{}\"",
                lua.include_dir().display(),
                script.display()
            ),
        )
        .arg(out.join("program.elf"))
        .arg(here.join("c/driver.c"))
        .arg(&lib)
        .status()
        .unwrap_or_else(|e| fail(&format!("scripts/cc-musl: {e}")));
    if !status.success() {
        fail("building the Lua program failed");
    }
}

fn fail(why: &str) -> ! {
    eprintln!("lua: {why}");
    std::process::exit(1)
}
