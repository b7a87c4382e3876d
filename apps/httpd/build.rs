//! Embeds the site: every file under `www/` (or the directory `FERRUN_HTTPD_ROOT` names)
//! becomes a `StaticFile` in `$OUT_DIR/site.rs`, its bytes included with `include_bytes!`.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-env-changed=FERRUN_HTTPD_ROOT");
    let root = match std::env::var_os("FERRUN_HTTPD_ROOT") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("www"),
    };
    if !root.is_dir() {
        eprintln!(
            "httpd: FERRUN_HTTPD_ROOT={} is not a directory",
            root.display()
        );
        std::process::exit(1);
    }
    // Cargo scans a directory recursively for changes.
    println!("cargo::rerun-if-changed={}", root.display());
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        eprintln!("httpd: cargo did not set OUT_DIR");
        std::process::exit(1);
    };
    let out = Path::new(&out_dir).join("site.rs");
    match http::build::generate_table(&root, &out) {
        Ok(files) => {
            for f in files {
                println!("cargo::rerun-if-changed={}", f.display());
            }
        }
        Err(e) => {
            eprintln!("httpd: embedding {}: {e}", root.display());
            std::process::exit(1);
        }
    }
}
