//! Embeds the C program: every `*.c` in the directory `FERRUN_C_DIR` names, built with
//! musl into one static-pie (`scripts/cc-musl`), becomes `$OUT_DIR/program.elf`. Without
//! `FERRUN_C_DIR` nothing is embedded and the image runs the program Xen loads as its
//! module (xl's `ramdisk =`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=FERRUN_C_DIR");
    println!("cargo::rerun-if-env-changed=CFLAGS");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("program.elf");
    let Some(dir) = std::env::var_os("FERRUN_C_DIR") else {
        std::fs::write(&out, b"").unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
        return;
    };
    let dir = PathBuf::from(dir);
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| fail(&format!("FERRUN_C_DIR={}: {e}", dir.display())))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        fail(&format!("FERRUN_C_DIR={}: no .c files", dir.display()));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cc-musl");
    let status = Command::new(&script)
        .arg(&out)
        .args(&sources)
        .status()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", script.display())));
    if !status.success() {
        fail(&format!("building {} failed", dir.display()));
    }
}

fn fail(why: &str) -> ! {
    eprintln!("cprog: {why}");
    std::process::exit(1)
}
