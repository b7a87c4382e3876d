//! Compiles the C part of the self test (SSE code) into a static library.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=c/sse.c");
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-none") {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("sse.o");
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    // -mno-red-zone: Xen writes event frames at RSP. -msse2 is the x86-64 baseline,
    // spelled out because this file exists to run SSE code.
    let status = Command::new(&cc)
        .args([
            "-O2",
            "-msse2",
            "-mno-red-zone",
            "-ffreestanding",
            "-fno-pic",
            "-fno-pie",
        ])
        .args([
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-c",
            "c/sse.c",
            "-o",
        ])
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling c/sse.c failed");
    let lib = out.join("libselftest_c.a");
    let _ = std::fs::remove_file(&lib);
    let status = Command::new("ar")
        .arg("rcs")
        .arg(&lib)
        .arg(&obj)
        .status()
        .expect("ar");
    assert!(status.success(), "ar failed");
    println!("cargo::rustc-link-search=native={}", out.display());
    println!("cargo::rustc-link-lib=static=selftest_c");
}
