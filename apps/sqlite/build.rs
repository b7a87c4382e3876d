//! Builds the program: SQLite's amalgamation (from the `libsqlite3-sys` crate's bundled
//! sources) with `THREADSAFE=1` and `TEMP_STORE=3`, and `c/sqltest.c`, compiled with
//! Debian's musl into one static-pie (`scripts/cc-musl`) at `$OUT_DIR/program.elf`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version whose sources we compile (the build-dependency pins it).
const CRATE_DIR: &str = "libsqlite3-sys-0.35.0";

/// `sqlite3.c` in cargo's registry: the build-dependency made cargo unpack it there.
fn amalgamation() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| fail("neither CARGO_HOME nor HOME is set"));
    let src = home.join("registry/src");
    let found = std::fs::read_dir(&src)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", src.display())))
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(CRATE_DIR).join("sqlite3/sqlite3.c"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        fail(&format!(
            "no {CRATE_DIR}/sqlite3/sqlite3.c under {}",
            src.display()
        ))
    })
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!(
        "cargo::rerun-if-changed={}",
        here.join("c/sqltest.c").display()
    );
    let sqlite = amalgamation();
    let include = sqlite.parent().unwrap_or(Path::new("."));
    let status = Command::new(here.join("../../scripts/cc-musl"))
        .env(
            "CFLAGS",
            format!(
                "-I{} -DSQLITE_THREADSAFE=1 -DSQLITE_TEMP_STORE=3 -DSQLITE_OMIT_LOAD_EXTENSION \
                 -DSQLITE_DQS=0 -Wno-unused-parameter -Wno-implicit-fallthrough \
                 -Wno-misleading-indentation -Wno-unused-but-set-variable",
                include.display()
            ),
        )
        .arg(out.join("program.elf"))
        .arg(here.join("c/sqltest.c"))
        .arg(&sqlite)
        .status()
        .unwrap_or_else(|e| fail(&format!("scripts/cc-musl: {e}")));
    if !status.success() {
        fail("building the SQLite program failed");
    }
}

fn fail(why: &str) -> ! {
    eprintln!("sqlite: {why}");
    std::process::exit(1)
}
