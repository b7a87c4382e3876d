//! Host tests of the cpio loader: real archives from GNU cpio, hand-made entries, hostile
//! bytes.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a failed test"
)]

use super::*;
use crate::memfs::{MemFsOptions, RAMFS_MAGIC};
use crate::types::Stat;
use std::format;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::string::String;
use std::sync::atomic::{AtomicU32, Ordering};
use std::vec;

fn rootfs() -> MemFs {
    MemFs::new(MemFsOptions {
        read_only: true,
        size_limit: None,
        magic: RAMFS_MAGIC,
    })
}

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

/// One `newc` entry.
fn entry(name: &str, mode: u32, ino: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) -> Vec<u8> {
    let namesize = name.len() + 1;
    let mut out = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        1000,
        100,
        1_700_000_000u32,
        data.len(),
        0,
        0,
        rdev.0,
        rdev.1,
        0
    )
    .into_bytes();
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend_from_slice(data);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

fn trailer() -> Vec<u8> {
    entry("TRAILER!!!", 0, 0, 1, (0, 0), b"")
}

fn archive(entries: &[Vec<u8>]) -> &'static [u8] {
    let mut out: Vec<u8> = entries.concat();
    out.extend(trailer());
    leak(out)
}

/// The inode at `path` (components separated by `/`), not following symlinks.
fn at(fs: &MemFs, path: &str) -> Result<Ino, FsError> {
    let mut ino = fs.root();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        ino = fs.lookup(ino, c.as_bytes())?;
    }
    Ok(ino)
}

fn stat_at(fs: &MemFs, path: &str) -> Stat {
    fs.stat(at(fs, path).unwrap()).unwrap()
}

fn contents(fs: &mut MemFs, path: &str) -> Vec<u8> {
    let ino = at(fs, path).unwrap();
    let mut buf = vec![0; fs.stat(ino).unwrap().size as usize];
    assert_eq!(fs.read(ino, 0, &mut buf).unwrap(), buf.len());
    buf
}

const REG: u32 = 0o100_000;
const DIR: u32 = 0o040_000;
const LNK: u32 = 0o120_000;

#[test]
fn hand_made_archive_with_every_kind() {
    let a = archive(&[
        entry(".", DIR | 0o700, 1, 2, (0, 0), b""),
        entry("./etc", DIR | 0o755, 2, 2, (0, 0), b""),
        entry(
            "./etc/passwd",
            REG | 0o644,
            3,
            1,
            (0, 0),
            b"root:x:0:0::/:/bin/sh\n",
        ),
        entry("/bin/sh", REG | 0o4755, 4, 1, (0, 0), b"#!elf"),
        entry("dev/null", 0o020_000 | 0o666, 5, 1, (1, 3), b""),
        entry("dev/sda", 0o060_000 | 0o660, 6, 1, (8, 0), b""),
        entry("run/fifo", 0o010_000 | 0o600, 7, 1, (0, 0), b""),
        entry("run/sock", 0o140_000 | 0o755, 8, 1, (0, 0), b""),
        entry("lib", LNK | 0o777, 9, 1, (0, 0), b"usr/lib"),
        entry("empty", REG | 0o600, 10, 1, (0, 0), b""),
    ]);
    let mut fs = rootfs();
    let s = load_newc(a, &mut fs).unwrap();
    assert_eq!(
        s,
        CpioSummary {
            entries: 10,
            files: 3,
            dirs: 2,
            symlinks: 1,
            specials: 4,
            hard_links: 0,
            data_bytes: 22 + 5,
            archives: 1,
        }
    );
    let root = stat_at(&fs, "/");
    assert_eq!((root.mode, root.uid, root.gid), (0o700, 1000, 100));
    assert_eq!(
        root.mtime.sec, 1_700_000_000,
        "directory mtimes are set last"
    );
    assert_eq!(contents(&mut fs, "etc/passwd"), b"root:x:0:0::/:/bin/sh\n");
    let sh = stat_at(&fs, "bin/sh");
    assert_eq!(
        sh.mode, 0o4755,
        "set-uid survives (mode is set after the owner)"
    );
    assert_eq!(sh.mtime.sec, 1_700_000_000);
    assert_eq!(
        stat_at(&fs, "bin").mode,
        0o755,
        "a missing parent is created"
    );
    let null = stat_at(&fs, "dev/null");
    assert_eq!(
        (null.kind, null.rdev, null.mode),
        (FileType::CharDevice, (1, 3), 0o666)
    );
    assert_eq!(stat_at(&fs, "dev/sda").kind, FileType::BlockDevice);
    assert_eq!(stat_at(&fs, "run/fifo").kind, FileType::Fifo);
    assert_eq!(stat_at(&fs, "run/sock").kind, FileType::Socket);
    let lib = at(&fs, "lib").unwrap();
    assert_eq!(fs.readlink(lib).unwrap(), b"usr/lib");
    assert_eq!(stat_at(&fs, "empty").size, 0);
    assert_eq!(fs.used_bytes(), 0, "file data is borrowed, not copied");
    assert!(fs.is_read_only());
}

#[test]
fn hard_links_share_an_inode_with_data_on_the_last_entry() {
    // GNU cpio (newc) writes the data only with the last name of a hard-linked file.
    let a = archive(&[
        entry("a", REG | 0o644, 42, 3, (0, 0), b""),
        entry("d/b", REG | 0o644, 42, 3, (0, 0), b""),
        entry("c", REG | 0o644, 42, 3, (0, 0), b"linked data"),
        entry("other", REG | 0o644, 43, 1, (0, 0), b"x"),
    ]);
    let mut fs = rootfs();
    let s = load_newc(a, &mut fs).unwrap();
    assert_eq!((s.files, s.hard_links), (2, 2));
    let ino = at(&fs, "a").unwrap();
    assert_eq!(at(&fs, "d/b"), Ok(ino));
    assert_eq!(at(&fs, "c"), Ok(ino));
    assert_eq!(fs.stat(ino).unwrap().nlink, 3);
    assert_eq!(contents(&mut fs, "d/b"), b"linked data");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let a = archive(&[
        entry("f", REG | 0o644, 1, 1, (0, 0), b"first"),
        entry("f", REG | 0o600, 2, 1, (0, 0), b"second"),
        entry("d", DIR | 0o755, 3, 2, (0, 0), b""),
        entry("d/x", REG | 0o644, 4, 1, (0, 0), b""),
        entry("d", DIR | 0o700, 3, 2, (0, 0), b""),
        entry("l", LNK | 0o777, 5, 1, (0, 0), b"f"),
        entry("l", REG | 0o644, 6, 1, (0, 0), b"now a file"),
    ]);
    let mut fs = rootfs();
    load_newc(a, &mut fs).unwrap();
    assert_eq!(contents(&mut fs, "f"), b"second");
    assert_eq!(stat_at(&fs, "f").mode, 0o600);
    assert_eq!(
        stat_at(&fs, "d").mode,
        0o700,
        "a directory over a directory updates it"
    );
    assert!(at(&fs, "d/x").is_ok(), "and keeps its entries");
    assert_eq!(contents(&mut fs, "l"), b"now a file");
    assert_eq!(fs.inode_count(), 5, "replaced inodes are freed");
}

#[test]
fn directory_over_a_non_empty_directory_replacement_fails() {
    let a = archive(&[
        entry("d", DIR | 0o755, 1, 2, (0, 0), b""),
        entry("d/x", REG | 0o644, 2, 1, (0, 0), b""),
        entry("d", REG | 0o644, 3, 1, (0, 0), b""),
    ]);
    let err = load_newc(a, &mut rootfs()).unwrap_err();
    assert_eq!(
        err,
        CpioError::Fs {
            name: b"d".to_vec(),
            error: Box::new(FsError::NotEmpty)
        }
    );
}

#[test]
fn dot_dot_is_refused() {
    let a = archive(&[entry("a/../../etc/x", REG | 0o644, 1, 1, (0, 0), b"")]);
    assert_eq!(
        load_newc(a, &mut rootfs()),
        Err(CpioError::UnsafePath {
            name: b"a/../../etc/x".to_vec()
        })
    );
}

#[test]
fn a_file_in_the_path_is_not_a_directory() {
    let a = archive(&[
        entry("f", REG | 0o644, 1, 1, (0, 0), b""),
        entry("f/x", REG | 0o644, 2, 1, (0, 0), b""),
    ]);
    assert_eq!(
        load_newc(a, &mut rootfs()),
        Err(CpioError::Fs {
            name: b"f/x".to_vec(),
            error: Box::new(FsError::NotDir)
        })
    );
}

#[test]
fn concatenated_archives_with_zero_padding() {
    let mut bytes = [entry("a", REG | 0o644, 1, 1, (0, 0), b"1"), trailer()].concat();
    bytes.extend([0u8; 512]);
    bytes.extend([entry("b", REG | 0o644, 1, 1, (0, 0), b"2"), trailer()].concat());
    bytes.extend([0u8; 100]);
    let mut fs = rootfs();
    let s = load_newc(leak(bytes), &mut fs).unwrap();
    assert_eq!((s.archives, s.files), (2, 2));
    assert_eq!(contents(&mut fs, "b"), b"2");
    assert_ne!(
        at(&fs, "a"),
        at(&fs, "b"),
        "inode numbers restart per archive"
    );
}

#[test]
fn crc_magic_is_accepted_and_its_checksum_ignored() {
    let mut e = entry("f", REG | 0o644, 1, 1, (0, 0), b"data");
    e[..6].copy_from_slice(b"070702");
    e[102..110].copy_from_slice(b"DEADBEEF");
    let mut fs = rootfs();
    load_newc(archive(&[e]), &mut fs).unwrap();
    assert_eq!(contents(&mut fs, "f"), b"data");
}

#[test]
fn malformed_archives_say_where() {
    let good = entry("f", REG | 0o644, 1, 1, (0, 0), b"data");
    let len = good.len();

    assert_eq!(
        load_newc(b"", &mut rootfs()),
        Err(CpioError::Truncated { offset: 0 })
    );
    let no_trailer = leak(good.clone());
    assert_eq!(
        load_newc(no_trailer, &mut rootfs()),
        Err(CpioError::Truncated { offset: len })
    );
    let cut = leak(good[..len - 4].to_vec());
    assert_eq!(
        load_newc(cut, &mut rootfs()),
        Err(CpioError::Truncated { offset: 0 })
    );

    let mut bad = [good.clone(), b"070707".to_vec(), vec![b'0'; 200]].concat();
    assert_eq!(
        load_newc(leak(bad.clone()), &mut rootfs()),
        Err(CpioError::BadMagic { offset: len })
    );
    bad.truncate(len);
    bad.extend(b"junk");
    assert_eq!(
        load_newc(leak(bad), &mut rootfs()),
        Err(CpioError::BadMagic { offset: len })
    );

    let mut bad_hex = good.clone();
    bad_hex[6 + 8 + 3] = b'g';
    assert_eq!(
        load_newc(archive(&[bad_hex]), &mut rootfs()),
        Err(CpioError::BadHeader {
            offset: 0,
            field: "mode"
        })
    );
    // from_str_radix would take a sign; the format has none.
    let mut signed = good.clone();
    signed[6 + 6 * 8] = b'+';
    assert_eq!(
        load_newc(archive(&[signed]), &mut rootfs()),
        Err(CpioError::BadHeader {
            offset: 0,
            field: "filesize"
        })
    );
    let unknown_type = entry("f", 0o644, 1, 1, (0, 0), b"");
    assert_eq!(
        load_newc(archive(&[unknown_type]), &mut rootfs()),
        Err(CpioError::BadHeader {
            offset: 0,
            field: "mode"
        })
    );

    let mut no_nul = good.clone();
    no_nul[110 + 1] = b'x';
    assert_eq!(
        load_newc(archive(&[no_nul]), &mut rootfs()),
        Err(CpioError::BadName { offset: 0 })
    );
    let mut zero_name = good.clone();
    zero_name[94..102].copy_from_slice(b"00000000");
    assert_eq!(
        load_newc(archive(&[zero_name]), &mut rootfs()),
        Err(CpioError::BadName { offset: 0 })
    );
    let mut huge = good;
    huge[54..62].copy_from_slice(b"FFFFFFFF");
    assert_eq!(
        load_newc(archive(&[huge]), &mut rootfs()),
        Err(CpioError::Truncated { offset: 0 })
    );
}

#[test]
fn errors_display() {
    let e = CpioError::Fs {
        name: b"a\xffb".to_vec(),
        error: Box::new(FsError::NotDir),
    };
    assert_eq!(
        std::string::ToString::to_string(&e),
        "entry a\\xffb: not a directory"
    );
    assert_eq!(
        std::string::ToString::to_string(&FsError::from(CpioError::BadMagic { offset: 4 })),
        "bad cpio archive: no newc magic at offset 4"
    );
}

// ---- Real archives made by GNU cpio ----

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vfs-cpio-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cd dir && find . | cpio -o -H format`.
fn gnu_cpio(dir: &Path, format: &str) -> &'static [u8] {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("find . | cpio -o -H {format} --quiet"))
        .current_dir(dir)
        .output()
        .expect("run cpio (Debian package cpio)");
    assert!(
        out.status.success(),
        "cpio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    leak(out.stdout)
}

fn populate(dir: &Path) {
    use std::fs;
    let set_mode =
        |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    fs::create_dir_all(dir.join("etc/conf.d")).unwrap();
    fs::create_dir(dir.join("var")).unwrap();
    fs::write(dir.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    fs::write(dir.join("etc/conf.d/app conf"), b"spaces in the name").unwrap();
    let big: Vec<u8> = (0..100_003u32).map(|i| (i * 7 % 256) as u8).collect();
    fs::write(dir.join("var/big"), &big).unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::write(dir.join("run.sh"), b"#!/bin/sh\n").unwrap();
    set_mode(&dir.join("run.sh"), 0o750);
    set_mode(&dir.join("etc/hosts"), 0o600);
    set_mode(&dir.join("var"), 0o711);
    fs::write(dir.join("orig"), b"hard linked").unwrap();
    fs::hard_link(dir.join("orig"), dir.join("etc/alias")).unwrap();
    symlink("hosts", dir.join("etc/rel")).unwrap();
    symlink("/etc/hosts", dir.join("abs")).unwrap();
    symlink("nowhere", dir.join("dangling")).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890);
    fs::File::options()
        .write(true)
        .open(dir.join("etc/hosts"))
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// Checks every name under `host` against the same path in `fs`, and that `fs` has no more.
fn compare(fs: &mut MemFs, host: &Path, rel: &str) {
    let mut host_names = Vec::new();
    for e in std::fs::read_dir(host.join(rel.trim_start_matches('/'))).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let path = format!("{rel}/{name}");
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        let st = stat_at(fs, &path);
        assert_eq!(st.mode, md.mode() & 0o7777, "{path} mode");
        assert_eq!(i64::from(st.mtime.sec as u32), md.mtime(), "{path} mtime");
        assert_eq!((st.uid, st.gid), (md.uid(), md.gid()), "{path} owner");
        let ft = md.file_type();
        if ft.is_dir() {
            assert_eq!(st.kind, FileType::Directory, "{path}");
            compare(fs, host, &path);
        } else if ft.is_symlink() {
            assert_eq!(st.kind, FileType::Symlink, "{path}");
            let target = std::fs::read_link(e.path()).unwrap();
            let got = fs.readlink(at(fs, &path).unwrap()).unwrap();
            assert_eq!(got, target.into_os_string().into_encoded_bytes(), "{path}");
        } else {
            assert_eq!(st.kind, FileType::Regular, "{path}");
            assert_eq!(st.nlink as u64, md.nlink(), "{path} nlink");
            assert_eq!(
                contents(fs, &path),
                std::fs::read(e.path()).unwrap(),
                "{path}"
            );
        }
        host_names.push(name.into_bytes());
    }
    host_names.sort();
    let dir = at(fs, rel).unwrap();
    let listed: Vec<Vec<u8>> = fs
        .readdir(dir, Some(b".."), 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(listed, host_names, "entries of {rel}/");
}

#[test]
fn gnu_cpio_newc_archive_loads_as_the_directory() {
    let dir = TempDir::new();
    populate(&dir.0);
    let a = gnu_cpio(&dir.0, "newc");
    let mut fs = rootfs();
    let s = load_newc(a, &mut fs).unwrap();
    compare(&mut fs, &dir.0, "");
    assert_eq!(at(&fs, "orig"), at(&fs, "etc/alias"), "hard link");
    assert_eq!(s.hard_links, 1);
    assert_eq!(s.symlinks, 3);
    assert_eq!(fs.used_bytes(), 0);
    let root_mode = std::fs::metadata(&dir.0).unwrap().mode() & 0o7777;
    assert_eq!(
        stat_at(&fs, "/").mode,
        root_mode,
        "the `.` entry sets the root"
    );
}

#[test]
fn gnu_cpio_crc_archive_loads_too() {
    let dir = TempDir::new();
    populate(&dir.0);
    let a = gnu_cpio(&dir.0, "crc");
    assert_eq!(&a[..6], b"070702");
    let mut fs = rootfs();
    load_newc(a, &mut fs).unwrap();
    compare(&mut fs, &dir.0, "");
}

// ---- Hostile input ----

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn valid() -> Vec<u8> {
        [
            entry(".", DIR | 0o755, 1, 2, (0, 0), b""),
            entry("a/b", REG | 0o644, 2, 2, (0, 0), b""),
            entry("c", REG | 0o644, 2, 2, (0, 0), b"hello"),
            entry("l", LNK | 0o777, 3, 1, (0, 0), b"a/b"),
            entry("dev/x", 0o020_000 | 0o600, 4, 1, (5, 1), b""),
            trailer(),
        ]
        .concat()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = load_newc(leak(bytes), &mut rootfs());
        }

        #[test]
        fn random_bytes_after_a_magic_never_panic(
            tail in proptest::collection::vec(prop_oneof![
                Just(b'0'), Just(b'f'), Just(b'1'), Just(0u8), any::<u8>()
            ], 0..400)
        ) {
            let bytes = [b"070701".to_vec(), tail].concat();
            let _ = load_newc(leak(bytes), &mut rootfs());
        }

        #[test]
        fn mutated_archives_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            do_cut in any::<bool>(),
        ) {
            let mut bytes = valid();
            for (i, b) in edits {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            if do_cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            let mut fs = rootfs();
            if load_newc(leak(bytes), &mut fs).is_ok() {
                // Whatever loaded is a consistent tree.
                let root = fs.root();
                prop_assert!(fs.readdir(root, None, 100).is_ok());
            }
        }

        #[test]
        fn mutated_hex_digits_never_panic(
            field in 0usize..13,
            value in any::<u32>(),
        ) {
            let mut bytes = valid();
            // Rewrite one field of the second entry with any valid hex value.
            let second = entry(".", DIR | 0o755, 1, 2, (0, 0), b"").len();
            let at = second + 6 + field * 8;
            bytes[at..at + 8].copy_from_slice(format!("{value:08x}").as_bytes());
            let _ = load_newc(leak(bytes), &mut rootfs());
        }
    }
}
