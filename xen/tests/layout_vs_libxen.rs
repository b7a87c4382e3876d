//! Compares every checked ABI layout with Xen's own headers, through a C compiler.
//!
//! The sizes, alignments and offsets asserted at compile time in `xen::abi` are printed
//! into a C program that includes Debian's `libxen-dev` headers (`/usr/include/xen`, Xen
//! 4.17, the testbed's version) and prints `sizeof`/`_Alignof`/`offsetof` for the same
//! items. Any difference fails the test. Missing headers or compiler fail it too (they are
//! installed by `scripts/setup-host`): a comparison that did not run is not a pass.

#![allow(
    clippy::unwrap_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use xen::abi::{StructLayout, all_layouts};

const INCLUDE_DIR: &str = "/usr/include";
/// Xen 4.17's `__XEN_LATEST_INTERFACE_VERSION__` (xen-compat.h).
const INTERFACE_VERSION: &str = "0x00040e00";

fn c_program(layouts: &[StructLayout]) -> String {
    let headers: BTreeSet<&str> = layouts.iter().map(|l| l.header).collect();
    let mut c = format!(
        "#define __XEN_INTERFACE_VERSION__ {INTERFACE_VERSION}\n\
         #include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
    );
    // xen.h first: the other public headers expect its types.
    c.push_str("#include <xen/xen.h>\n");
    for h in headers {
        writeln!(c, "#include <{h}>").unwrap();
    }
    c.push_str("int main(void) {\n");
    for l in layouts {
        let t = l.c_type;
        writeln!(c, "  printf(\"{t}|sizeof|%zu\\n\", sizeof({t}));").unwrap();
        writeln!(c, "  printf(\"{t}|alignof|%zu\\n\", _Alignof({t}));").unwrap();
        for (field, _) in l.fields {
            writeln!(
                c,
                "  printf(\"{t}|{field}|%zu\\n\", offsetof({t}, {field}));"
            )
            .unwrap();
        }
    }
    c.push_str("  return 0;\n}\n");
    c
}

fn expected(layouts: &[StructLayout]) -> Vec<String> {
    let mut lines = Vec::new();
    for l in layouts {
        lines.push(format!("{}|sizeof|{}", l.c_type, l.size));
        lines.push(format!("{}|alignof|{}", l.c_type, l.align));
        for (field, off) in l.fields {
            lines.push(format!("{}|{}|{}", l.c_type, field, off));
        }
    }
    lines
}

#[test]
fn every_checked_layout_matches_libxen_dev_headers() {
    let header = PathBuf::from(INCLUDE_DIR).join("xen/xen.h");
    assert!(
        header.exists(),
        "{} is missing: install Debian's libxen-dev (scripts/setup-host does)",
        header.display()
    );
    let layouts = all_layouts();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("layout_vs_libxen");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program(layouts)).unwrap();

    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-Werror", "-I", INCLUDE_DIR, "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let got: Vec<String> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let want = expected(layouts);
    assert_eq!(
        got.len(),
        want.len(),
        "the C program printed a different number of figures"
    );
    let diffs: Vec<String> = want
        .iter()
        .zip(&got)
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("  ours {w:<60} libxen-dev {g}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "layouts differ from /usr/include/xen:\n{}",
        diffs.join("\n")
    );
    println!(
        "{} figures of {} structs match libxen-dev",
        want.len(),
        layouts.len()
    );
}
