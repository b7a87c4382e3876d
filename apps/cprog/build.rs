//! Embeds the C program as `$OUT_DIR/program.elf`: either every `*.c` in the directory
//! `FERRUN_C_DIR` names, built with musl into one static-pie (`scripts/cc-musl`), or the
//! prebuilt static-pie `FERRUN_C_ELF` names, copied as it is (any build system, e.g.
//! `scripts/ferrun-cc`). Without either nothing is embedded and the image runs the
//! program Xen loads as its module (xl's `ramdisk =`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=FERRUN_C_DIR");
    println!("cargo::rerun-if-env-changed=FERRUN_C_ELF");
    println!("cargo::rerun-if-env-changed=CFLAGS");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("program.elf");
    let dir = std::env::var_os("FERRUN_C_DIR");
    let elf = std::env::var_os("FERRUN_C_ELF");
    match (dir, elf) {
        (Some(_), Some(_)) => fail("FERRUN_C_DIR and FERRUN_C_ELF are both set: give one"),
        (Some(dir), None) => build_dir(&PathBuf::from(dir), &out),
        (None, Some(elf)) => copy_elf(&PathBuf::from(elf), &out),
        (None, None) => {
            std::fs::write(&out, b"").unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())))
        }
    }
}

/// Builds every `*.c` in `dir` into one static-pie at `out`.
fn build_dir(dir: &Path, out: &Path) {
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
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
        .arg(out)
        .args(&sources)
        .status()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", script.display())));
    if !status.success() {
        fail(&format!("building {} failed", dir.display()));
    }
}

/// Copies the prebuilt program `elf` to `out` once it is checked to be an x86_64 ELF
/// executable the runtime can load: position-independent (ET_DYN) and without an
/// interpreter (a static-pie).
fn copy_elf(elf: &Path, out: &Path) {
    println!("cargo::rerun-if-changed={}", elf.display());
    let bytes = std::fs::read(elf)
        .unwrap_or_else(|e| fail(&format!("FERRUN_C_ELF={}: {e}", elf.display())));
    if let Err(why) = check_static_pie(&bytes) {
        fail(&format!("FERRUN_C_ELF={}: {why}", elf.display()));
    }
    std::fs::write(out, &bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
}

/// Why `b` is not an x86_64 static-pie, if it is not one.
fn check_static_pie(b: &[u8]) -> Result<(), String> {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if b.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if b.get(4..6) != Some(&[2, 1]) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    if u16_at(18) != Some(62) {
        return Err("not an x86_64 ELF".into());
    }
    match u16_at(16) {
        Some(3) => {}
        Some(2) => {
            return Err(
                "a fixed-address executable (ET_EXEC, e.g. `musl-gcc -static`): link it as a \
                 static-pie (scripts/ferrun-cc)"
                    .into(),
            );
        }
        _ => return Err("not an executable (ELF type is neither ET_DYN nor ET_EXEC)".into()),
    }
    let phoff = u64_at(32).ok_or("truncated ELF header")?;
    let phentsize = u16_at(54).ok_or("truncated ELF header")? as u64;
    let phnum = u16_at(56).ok_or("truncated ELF header")? as u64;
    for i in 0..phnum {
        let o =
            usize::try_from(phoff + i * phentsize).map_err(|_| "program header out of range")?;
        let kind = b
            .get(o..o + 4)
            .ok_or("program headers past the end of the file")?;
        if kind == 3u32.to_le_bytes() {
            return Err(
                "dynamically linked (it has PT_INTERP): link it as a static-pie (scripts/ferrun-cc)"
                    .into(),
            );
        }
    }
    Ok(())
}

fn fail(why: &str) -> ! {
    eprintln!("cprog: {why}");
    std::process::exit(1)
}
