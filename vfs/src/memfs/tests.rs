//! Host tests of `MemFs`: Linux tmpfs behaviour, size accounting, and a model proptest.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::map_entry,
    reason = "test code: a panic is a failed test; the model mirrors the checks it tests"
)]

use super::*;
use std::sync::atomic::{AtomicI64, Ordering};
use std::vec;

static TICKS: AtomicI64 = AtomicI64::new(1000);

/// A clock that moves one second forward at every reading.
fn tick() -> Timespec {
    Timespec {
        sec: TICKS.fetch_add(1, Ordering::Relaxed),
        nsec: 0,
    }
}

fn tmpfs(limit: Option<u64>) -> MemFs {
    let mut fs = MemFs::new(MemFsOptions {
        read_only: false,
        size_limit: limit,
        magic: TMPFS_MAGIC,
    });
    fs.set_clock(tick);
    fs
}

fn file(fs: &mut MemFs, name: &[u8]) -> Ino {
    let root = fs.root();
    fs.create(root, name, FileType::Regular, 0o644, (0, 0))
        .unwrap()
}

fn read_all(fs: &mut MemFs, ino: Ino) -> Vec<u8> {
    let size = fs.stat(ino).unwrap().size as usize;
    let mut buf = vec![0xaa; size + 10];
    let n = fs.read(ino, 0, &mut buf).unwrap();
    assert_eq!(n, size);
    buf.truncate(n);
    buf
}

fn names(list: &[DirEntry]) -> Vec<&[u8]> {
    list.iter().map(|e| e.name.as_slice()).collect()
}

#[test]
fn new_root_is_an_empty_sticky_directory() {
    let fs = tmpfs(None);
    let st = fs.stat(fs.root()).unwrap();
    assert_eq!(st.kind, FileType::Directory);
    assert_eq!(st.nlink, 2);
    assert_eq!(st.mode, 0o1777);
    assert_eq!(fs.parent(fs.root()), Ok(fs.root()));
    assert_eq!(fs.lookup(fs.root(), b".."), Ok(fs.root()));
    assert_eq!(fs.lookup(fs.root(), b"."), Ok(fs.root()));
}

#[test]
fn create_then_lookup_and_stat() {
    let mut fs = tmpfs(None);
    let f = file(&mut fs, b"a");
    assert_eq!(fs.lookup(fs.root(), b"a"), Ok(f));
    let st = fs.stat(f).unwrap();
    assert_eq!(
        (st.kind, st.mode, st.nlink, st.size, st.blocks),
        (FileType::Regular, 0o644, 1, 0, 0)
    );
    assert_eq!(st.st_mode(), 0o100_644);
    let root = fs.root();
    assert_eq!(
        fs.create(root, b"a", FileType::Regular, 0o644, (0, 0)),
        Err(FsError::Exists)
    );
    assert_eq!(fs.lookup(root, b"b"), Err(FsError::NotFound));
    assert_eq!(fs.lookup(f, b"x"), Err(FsError::NotDir));
    assert_eq!(
        fs.create(f, b"x", FileType::Regular, 0o644, (0, 0)),
        Err(FsError::NotDir)
    );
    assert_eq!(
        fs.create(root, &[b'n'; 256], FileType::Regular, 0, (0, 0)),
        Err(FsError::NameTooLong)
    );
    assert_eq!(
        fs.create(root, b"..", FileType::Regular, 0, (0, 0)),
        Err(FsError::Exists)
    );
    assert_eq!(
        fs.create(root, b"d", FileType::Directory, 0, (0, 0)),
        Err(FsError::Invalid)
    );
    assert!(
        fs.create(root, &[b'n'; 255], FileType::Regular, 0, (0, 0))
            .is_ok()
    );
}

#[test]
fn mode_keeps_only_permission_bits() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let f = fs
        .create(root, b"f", FileType::Regular, 0o177_777, (0, 0))
        .unwrap();
    assert_eq!(fs.stat(f).unwrap().mode, 0o7777);
}

#[test]
fn write_read_round_trip_across_pages() {
    let mut fs = tmpfs(None);
    let f = file(&mut fs, b"f");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(fs.write(f, 100, &data), Ok(10_000));
    let st = fs.stat(f).unwrap();
    assert_eq!(st.size, 10_100);
    assert_eq!(st.blocks, 3 * 8, "pages 0, 1 and 2 are allocated");
    let all = read_all(&mut fs, f);
    assert_eq!(&all[..100], &[0u8; 100][..]);
    assert_eq!(&all[100..], &data[..]);
    // A read that starts inside and runs past the end is short; one at the end reads 0.
    let mut buf = [0u8; 50];
    assert_eq!(fs.read(f, 10_080, &mut buf), Ok(20));
    assert_eq!(fs.read(f, 10_100, &mut buf), Ok(0));
    assert_eq!(fs.read(f, u64::MAX, &mut buf), Ok(0));
    assert_eq!(fs.used_bytes(), 3 * 4096);
}

#[test]
fn holes_read_as_zeros_and_cost_nothing() {
    let mut fs = tmpfs(None);
    let f = file(&mut fs, b"sparse");
    assert_eq!(fs.write(f, 1 << 30, b"end"), Ok(3));
    let st = fs.stat(f).unwrap();
    assert_eq!(st.size, (1 << 30) + 3);
    assert_eq!(st.blocks, 8, "only the last page is allocated");
    assert_eq!(fs.used_bytes(), 4096);
    let mut buf = [0xffu8; 8192];
    assert_eq!(fs.read(f, 12345, &mut buf), Ok(8192));
    assert!(buf.iter().all(|&b| b == 0));
    // Growing with truncate makes a hole too.
    let g = file(&mut fs, b"grown");
    fs.truncate(g, 1 << 20).unwrap();
    assert_eq!(fs.stat(g).unwrap().size, 1 << 20);
    assert_eq!(fs.stat(g).unwrap().blocks, 0);
    assert_eq!(fs.used_bytes(), 4096);
}

#[test]
fn shrinking_then_growing_reads_zeros_not_old_bytes() {
    // POSIX ftruncate: "If the file was previously longer [...] the extended area shall
    // appear as if it were zero-filled."
    let mut fs = tmpfs(None);
    let f = file(&mut fs, b"f");
    fs.write(f, 0, &[0xff; 9000]).unwrap();
    assert_eq!(fs.used_bytes(), 3 * 4096);
    fs.truncate(f, 10).unwrap();
    assert_eq!(fs.used_bytes(), 4096, "pages past the new end are freed");
    fs.truncate(f, 9000).unwrap();
    let all = read_all(&mut fs, f);
    assert_eq!(&all[..10], &[0xff; 10][..]);
    assert!(all[10..].iter().all(|&b| b == 0));
    fs.truncate(f, 0).unwrap();
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(fs.stat(f).unwrap().blocks, 0);
}

#[test]
fn size_limit_gives_a_short_write_then_no_space() {
    // Linux generic_perform_write returns the bytes written before the first page that
    // could not be allocated, and ENOSPC only when nothing was written.
    let mut fs = tmpfs(Some(3 * 4096));
    let f = file(&mut fs, b"f");
    assert_eq!(fs.write(f, 0, &[1; 5 * 4096]), Ok(3 * 4096));
    assert_eq!(fs.used_bytes(), 3 * 4096);
    assert_eq!(
        fs.write(f, 3 * 4096, b"x"),
        Err(FsError::NoSpace { limit: 3 * 4096 })
    );
    // Overwriting allocated pages needs no new memory.
    assert_eq!(fs.write(f, 0, &[2; 3 * 4096]), Ok(3 * 4096));
    // A write that starts in an allocated page and runs into a new one stops at the edge.
    assert_eq!(fs.write(f, 3 * 4096 - 10, &[3; 100]), Ok(10));
    let g = file(&mut fs, b"g");
    assert_eq!(
        fs.write(g, 0, b"y"),
        Err(FsError::NoSpace { limit: 3 * 4096 })
    );
    assert_eq!(
        fs.stat(g).unwrap().size,
        0,
        "a failed write does not grow the file"
    );
    fs.truncate(f, 4096).unwrap();
    assert_eq!(fs.write(g, 0, b"y"), Ok(1));
    let st = fs.statfs();
    assert_eq!((st.blocks, st.bfree, st.bavail), (3, 1, 1));
    assert_eq!(st.magic, TMPFS_MAGIC);
    assert_eq!(st.namelen, 255);
}

#[test]
fn statfs_without_limit_reports_zero_blocks() {
    let fs = MemFs::new(MemFsOptions {
        read_only: true,
        size_limit: None,
        magic: RAMFS_MAGIC,
    });
    let st = fs.statfs();
    assert_eq!((st.magic, st.blocks, st.bfree), (RAMFS_MAGIC, 0, 0));
}

#[test]
fn file_size_is_capped() {
    let mut fs = tmpfs(None);
    let f = file(&mut fs, b"f");
    assert_eq!(fs.write(f, MAX_FILE_SIZE, b"x"), Err(FsError::FileTooBig));
    assert_eq!(fs.write(f, MAX_FILE_SIZE - 2, b"xyz"), Ok(2));
    assert_eq!(fs.stat(f).unwrap().size, MAX_FILE_SIZE);
    assert_eq!(fs.truncate(f, MAX_FILE_SIZE + 1), Err(FsError::FileTooBig));
    assert_eq!(fs.write(f, 0, b""), Ok(0));
}

#[test]
fn unlinked_file_lives_until_last_release() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let f = file(&mut fs, b"f");
    fs.write(f, 0, &[7; 5000]).unwrap();
    fs.retain(f).unwrap();
    fs.retain(f).unwrap();
    fs.unlink(root, b"f").unwrap();
    assert_eq!(fs.lookup(root, b"f"), Err(FsError::NotFound));
    assert_eq!(fs.stat(f).unwrap().nlink, 0);
    // Still readable and writable through the open references.
    assert_eq!(fs.write(f, 5000, b"more"), Ok(4));
    assert_eq!(read_all(&mut fs, f).len(), 5004);
    assert_eq!(fs.used_bytes(), 2 * 4096);
    fs.release(f).unwrap();
    assert!(fs.stat(f).is_ok());
    fs.release(f).unwrap();
    assert_eq!(fs.stat(f), Err(FsError::NotFound));
    assert_eq!(fs.used_bytes(), 0, "the last release frees the pages");
    assert_eq!(fs.inode_count(), 1);
    assert_eq!(fs.release(f), Err(FsError::NotFound));
}

#[test]
fn unlink_without_references_frees_at_once() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let f = file(&mut fs, b"f");
    fs.write(f, 0, b"x").unwrap();
    fs.unlink(root, b"f").unwrap();
    assert_eq!(fs.stat(f), Err(FsError::NotFound));
    assert_eq!(fs.used_bytes(), 0);
}

#[test]
fn release_without_retain_is_invalid() {
    let mut fs = tmpfs(None);
    let f = file(&mut fs, b"f");
    assert_eq!(fs.release(f), Err(FsError::Invalid));
    assert!(
        fs.stat(f).is_ok(),
        "a named inode is never freed by release"
    );
}

#[test]
fn hard_links_share_the_inode() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let f = file(&mut fs, b"a");
    fs.write(f, 0, b"shared").unwrap();
    let d = fs.mkdir(root, b"d", 0o755).unwrap();
    fs.link(f, d, b"b").unwrap();
    assert_eq!(fs.lookup(d, b"b"), Ok(f));
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    fs.unlink(root, b"a").unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 1);
    assert_eq!(read_all(&mut fs, f), b"shared");
    assert_eq!(fs.link(f, d, b"b"), Err(FsError::Exists));
    // link(2): "EPERM oldpath is a directory."
    assert_eq!(fs.link(d, root, b"dl"), Err(FsError::NotPermitted));
    // An open file without names cannot get one back (ENOENT, fs/namei.c do_linkat).
    fs.retain(f).unwrap();
    fs.unlink(d, b"b").unwrap();
    assert_eq!(fs.link(f, root, b"again"), Err(FsError::NotFound));
}

#[test]
fn directory_link_counts_follow_subdirectories() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let d = fs.mkdir(root, b"d", 0o755).unwrap();
    assert_eq!(fs.stat(root).unwrap().nlink, 3);
    assert_eq!(fs.stat(d).unwrap().nlink, 2);
    let e = fs.mkdir(d, b"e", 0o700).unwrap();
    assert_eq!(fs.stat(d).unwrap().nlink, 3);
    assert_eq!(fs.parent(e), Ok(d));
    assert_eq!(fs.lookup(e, b".."), Ok(d));
    fs.create(d, b"f", FileType::Regular, 0o600, (0, 0))
        .unwrap();
    assert_eq!(fs.stat(d).unwrap().nlink, 3, "files do not count");
    assert_eq!(fs.rmdir(root, b"d"), Err(FsError::NotEmpty));
    assert_eq!(fs.rmdir(d, b"f"), Err(FsError::NotDir));
    assert_eq!(fs.unlink(d, b"e"), Err(FsError::IsDir));
    // rmdir(2): EINVAL "pathname has . as last component"; ENOTEMPTY "pathname has .. as
    // its final component".
    assert_eq!(fs.rmdir(d, b"."), Err(FsError::Invalid));
    assert_eq!(fs.rmdir(d, b".."), Err(FsError::NotEmpty));
    assert_eq!(fs.unlink(d, b"."), Err(FsError::IsDir));
    fs.rmdir(d, b"e").unwrap();
    assert_eq!(fs.stat(d).unwrap().nlink, 2);
    assert_eq!(fs.stat(e), Err(FsError::NotFound));
    assert_eq!(fs.rmdir(d, b"e"), Err(FsError::NotFound));
}

#[test]
fn removed_directory_kept_open_is_empty_and_refuses_new_names() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let d = fs.mkdir(root, b"cwd", 0o755).unwrap();
    fs.retain(d).unwrap();
    fs.rmdir(root, b"cwd").unwrap();
    assert_eq!(fs.stat(d).unwrap().nlink, 0);
    assert_eq!(
        fs.create(d, b"f", FileType::Regular, 0o644, (0, 0)),
        Err(FsError::NotFound)
    );
    assert_eq!(fs.lookup(d, b"x"), Err(FsError::NotFound));
    assert_eq!(fs.readdir(d, None, 10), Err(FsError::NotFound));
    fs.release(d).unwrap();
    assert_eq!(fs.stat(d), Err(FsError::NotFound));
}

#[test]
fn readdir_gives_dots_then_names_in_byte_order() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    for n in [&b"b"[..], b"a", b"-x", b".hidden", b"B"] {
        file(&mut fs, n);
    }
    let d = fs.mkdir(root, b"dir", 0o755).unwrap();
    let all = fs.readdir(root, None, 100).unwrap();
    assert_eq!(
        names(&all),
        [
            &b"."[..],
            b"..",
            b"-x",
            b".hidden",
            b"B",
            b"a",
            b"b",
            b"dir"
        ]
    );
    assert_eq!(all[0].ino, root);
    assert_eq!(all[1].ino, root, "the root's .. is itself");
    assert_eq!(all[7].kind, FileType::Directory);
    assert_eq!(all[7].ino, d);
    // Pages of two, each continuing after the last name seen.
    let mut seen = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = fs.readdir(root, after.as_deref(), 2).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = Some(page.last().unwrap().name.clone());
        seen.extend(page);
    }
    assert_eq!(seen, all);
    // The cursor name may be gone: the listing goes on after where it was.
    fs.unlink(root, b"a").unwrap();
    assert_eq!(
        names(&fs.readdir(root, Some(b"a"), 10).unwrap()),
        [&b"b"[..], b"dir"]
    );
    let sub = fs.readdir(d, None, 10).unwrap();
    assert_eq!(names(&sub), [&b"."[..], b".."]);
    assert_eq!(sub[1].ino, root);
    assert_eq!(fs.readdir(d, Some(b".."), 10).unwrap(), vec![]);
    let f = fs.lookup(root, b"b").unwrap();
    assert_eq!(fs.readdir(f, None, 10), Err(FsError::NotDir));
}

#[test]
fn rename_replaces_a_file_and_frees_it() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let a = file(&mut fs, b"a");
    let b = file(&mut fs, b"b");
    fs.write(b, 0, b"old").unwrap();
    fs.rename(root, b"a", root, b"b").unwrap();
    assert_eq!(fs.lookup(root, b"b"), Ok(a));
    assert_eq!(fs.lookup(root, b"a"), Err(FsError::NotFound));
    assert_eq!(fs.stat(b), Err(FsError::NotFound));
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(
        fs.rename(root, b"missing", root, b"x"),
        Err(FsError::NotFound)
    );
}

#[test]
fn rename_of_hard_links_to_each_other_does_nothing() {
    // POSIX rename(): "If the old argument and the new argument resolve to [...] the same
    // existing file, rename() shall return successfully and perform no other action."
    let mut fs = tmpfs(None);
    let root = fs.root();
    let a = file(&mut fs, b"a");
    fs.link(a, root, b"b").unwrap();
    fs.rename(root, b"a", root, b"b").unwrap();
    assert_eq!(fs.lookup(root, b"a"), Ok(a));
    assert_eq!(fs.lookup(root, b"b"), Ok(a));
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    let d = fs.mkdir(root, b"d", 0o755).unwrap();
    fs.rename(root, b"d", root, b"d").unwrap();
    assert_eq!(fs.lookup(root, b"d"), Ok(d));
}

#[test]
fn rename_type_rules() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let d = fs.mkdir(root, b"d", 0o755).unwrap();
    let e = fs.mkdir(root, b"e", 0o755).unwrap();
    file(&mut fs, b"f");
    fs.create(e, b"inner", FileType::Regular, 0o644, (0, 0))
        .unwrap();
    // rename(2): ENOTDIR "oldpath is a directory, and newpath exists but is not a directory".
    assert_eq!(fs.rename(root, b"d", root, b"f"), Err(FsError::NotDir));
    // EISDIR "newpath is an existing directory, but oldpath is not a directory".
    assert_eq!(fs.rename(root, b"f", root, b"d"), Err(FsError::IsDir));
    // ENOTEMPTY "newpath is a nonempty directory".
    assert_eq!(fs.rename(root, b"d", root, b"e"), Err(FsError::NotEmpty));
    // EINVAL "an attempt was made to make a directory a subdirectory of itself".
    let sub = fs.mkdir(d, b"sub", 0o755).unwrap();
    assert_eq!(fs.rename(root, b"d", sub, b"x"), Err(FsError::Invalid));
    assert_eq!(fs.rename(root, b"d", d, b"x"), Err(FsError::Invalid));
    assert_eq!(fs.rename(root, b".", root, b"x"), Err(FsError::Busy));
    // A directory over an empty directory replaces it.
    let empty = fs.mkdir(root, b"empty", 0o755).unwrap();
    assert_eq!(fs.stat(root).unwrap().nlink, 5);
    fs.rename(root, b"e", root, b"empty").unwrap();
    assert_eq!(fs.lookup(root, b"empty"), Ok(e));
    assert_eq!(fs.stat(empty), Err(FsError::NotFound));
    assert_eq!(fs.stat(root).unwrap().nlink, 4);
}

#[test]
fn rename_moves_a_directory_between_parents() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let a = fs.mkdir(root, b"a", 0o755).unwrap();
    let b = fs.mkdir(root, b"b", 0o755).unwrap();
    let m = fs.mkdir(a, b"m", 0o755).unwrap();
    fs.rename(a, b"m", b, b"moved").unwrap();
    assert_eq!(fs.parent(m), Ok(b));
    assert_eq!(fs.lookup(m, b".."), Ok(b));
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    assert_eq!(fs.stat(b).unwrap().nlink, 3);
    assert_eq!(fs.lookup(b, b"moved"), Ok(m));
}

#[test]
fn read_only_refuses_changes_after_linux_s_earlier_checks() {
    let mut fs = MemFs::new(MemFsOptions {
        read_only: true,
        size_limit: None,
        magic: RAMFS_MAGIC,
    });
    fs.set_clock(tick);
    let root = fs.root();
    // Builders work on a read-only file system.
    let f = fs.add_file(root, b"f", 0o644, b"static bytes").unwrap();
    let d = fs.add_dir(root, b"d", 0o755).unwrap();
    fs.add_symlink(root, b"l", b"f").unwrap();
    let dev = fs
        .add_device(root, b"null", FileType::CharDevice, 0o666, (1, 3))
        .unwrap();
    assert_eq!(fs.stat(dev).unwrap().rdev, (1, 3));
    assert!(fs.is_read_only());
    assert_eq!(fs.write(f, 0, b"x"), Err(FsError::ReadOnly));
    assert_eq!(fs.truncate(f, 0), Err(FsError::ReadOnly));
    assert_eq!(
        fs.create(root, b"new", FileType::Regular, 0o644, (0, 0)),
        Err(FsError::ReadOnly)
    );
    // EEXIST is found before EROFS (fs/namei.c filename_create).
    assert_eq!(fs.mkdir(root, b"d", 0o755), Err(FsError::Exists));
    assert_eq!(fs.mkdir(root, b"d2", 0o755), Err(FsError::ReadOnly));
    assert_eq!(fs.symlink(root, b"l", b"x"), Err(FsError::Exists));
    assert_eq!(fs.unlink(root, b"f"), Err(FsError::ReadOnly));
    // do_unlinkat takes write access to the mount before looking the name up.
    assert_eq!(fs.unlink(root, b"missing"), Err(FsError::ReadOnly));
    assert_eq!(fs.rmdir(root, b"d"), Err(FsError::ReadOnly));
    assert_eq!(fs.rename(root, b"f", root, b"g"), Err(FsError::ReadOnly));
    assert_eq!(fs.link(f, d, b"g"), Err(FsError::ReadOnly));
    assert_eq!(
        fs.set_attr(
            f,
            &SetAttr {
                mode: Some(0),
                ..SetAttr::default()
            }
        ),
        Err(FsError::ReadOnly)
    );
    let before = fs.stat(f).unwrap().atime;
    let mut buf = [0u8; 6];
    assert_eq!(fs.read(f, 0, &mut buf), Ok(6));
    assert_eq!(&buf, b"static");
    assert_eq!(
        fs.stat(f).unwrap().atime,
        before,
        "no atime on a read-only fs"
    );
    // Open references work on a read-only file system too.
    fs.retain(f).unwrap();
    fs.release(f).unwrap();
}

#[test]
fn borrowed_file_is_copied_on_write() {
    static DATA: [u8; 5000] = [9; 5000];
    let mut fs = tmpfs(Some(4 * 4096));
    let root = fs.root();
    let f = fs.add_file(root, b"f", 0o644, &DATA).unwrap();
    assert_eq!(fs.used_bytes(), 0, "borrowed bytes cost nothing");
    assert_eq!(fs.stat(f).unwrap().blocks, 16);
    fs.truncate(f, 4000).unwrap();
    assert_eq!(fs.used_bytes(), 0, "shrinking keeps borrowing");
    assert_eq!(read_all(&mut fs, f), vec![9; 4000]);
    fs.write(f, 4000, b"xy").unwrap();
    assert_eq!(fs.used_bytes(), 4096, "4002 bytes copied into one page");
    fs.write(f, 4096, b"z").unwrap();
    assert_eq!(fs.used_bytes(), 2 * 4096);
    let mut want = vec![9; 4000];
    want.extend_from_slice(b"xy");
    want.resize(4096, 0);
    want.push(b'z');
    assert_eq!(read_all(&mut fs, f), want);
    assert_eq!(DATA[4000], 9, "the image is never written");
}

#[test]
fn copy_on_write_that_does_not_fit_changes_nothing() {
    static DATA: [u8; 3 * 4096] = [1; 3 * 4096];
    let mut fs = tmpfs(Some(2 * 4096));
    let root = fs.root();
    let f = fs.add_file(root, b"f", 0o644, &DATA).unwrap();
    assert_eq!(
        fs.write(f, 0, b"x"),
        Err(FsError::NoSpace { limit: 2 * 4096 })
    );
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(read_all(&mut fs, f), vec![1; 3 * 4096]);
}

#[test]
fn owned_files_count_against_the_limit() {
    let mut fs = tmpfs(Some(2 * 4096));
    let root = fs.root();
    let f = fs.add_owned_file(root, b"f", 0o644, vec![5; 4097]).unwrap();
    assert_eq!(fs.used_bytes(), 2 * 4096);
    assert_eq!(
        fs.add_owned_file(root, b"g", 0o644, vec![1]),
        Err(FsError::NoSpace { limit: 2 * 4096 })
    );
    fs.truncate(f, 10).unwrap();
    assert_eq!(fs.used_bytes(), 4096);
    fs.write(f, 10, b"z").unwrap();
    assert_eq!(fs.used_bytes(), 4096);
    let mut all = vec![5; 10];
    all.push(b'z');
    assert_eq!(read_all(&mut fs, f), all);
    fs.unlink(root, b"f").unwrap();
    assert_eq!(fs.used_bytes(), 0);
}

#[test]
fn symlinks() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let l = fs.symlink(root, b"l", b"../target").unwrap();
    let st = fs.stat(l).unwrap();
    assert_eq!((st.kind, st.size, st.mode), (FileType::Symlink, 9, 0o777));
    assert_eq!(fs.readlink(l).unwrap(), b"../target");
    // symlink(2): ENOENT for an empty target.
    assert_eq!(fs.symlink(root, b"e", b""), Err(FsError::NotFound));
    assert_eq!(
        fs.symlink(root, b"long", &[b'x'; 4096]),
        Err(FsError::NameTooLong)
    );
    let f = file(&mut fs, b"f");
    assert_eq!(fs.readlink(f), Err(FsError::NotSymlink));
    let mut buf = [0u8; 4];
    assert_eq!(fs.read(l, 0, &mut buf), Err(FsError::Invalid));
    assert_eq!(fs.read(root, 0, &mut buf), Err(FsError::IsDir));
    assert_eq!(fs.write(root, 0, b"x"), Err(FsError::IsDir));
}

#[test]
fn device_nodes_keep_rdev_and_have_no_data() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let c = fs
        .create(root, b"tty", FileType::CharDevice, 0o620, (4, 1))
        .unwrap();
    let p = fs
        .create(root, b"fifo", FileType::Fifo, 0o600, (9, 9))
        .unwrap();
    assert_eq!(fs.stat(c).unwrap().rdev, (4, 1));
    assert_eq!(fs.stat(p).unwrap().rdev, (0, 0), "only devices keep rdev");
    assert_eq!(fs.stat(p).unwrap().kind, FileType::Fifo);
    assert_eq!(fs.write(c, 0, b"x"), Err(FsError::Invalid));
    assert_eq!(fs.truncate(p, 0), Err(FsError::Invalid));
    assert_eq!(
        fs.add_device(root, b"x", FileType::Regular, 0, (0, 0)),
        Err(FsError::Invalid)
    );
}

#[test]
fn times_change_as_on_linux() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let r0 = fs.stat(root).unwrap();
    let f = file(&mut fs, b"f");
    let s0 = fs.stat(f).unwrap();
    let r1 = fs.stat(root).unwrap();
    assert!(
        r1.mtime > r0.mtime && r1.ctime > r0.ctime,
        "create: parent mtime+ctime"
    );
    assert_eq!((s0.atime, s0.mtime), (s0.ctime, s0.ctime));

    fs.write(f, 0, b"data").unwrap();
    let s1 = fs.stat(f).unwrap();
    assert!(
        s1.mtime > s0.mtime && s1.ctime > s0.ctime,
        "write: mtime+ctime"
    );
    assert_eq!(s1.atime, s0.atime, "write leaves atime");

    // relatime: the first read after a change refreshes atime, the next does not.
    let mut buf = [0u8; 4];
    fs.read(f, 0, &mut buf).unwrap();
    let s2 = fs.stat(f).unwrap();
    assert!(s2.atime > s1.mtime);
    assert_eq!((s2.mtime, s2.ctime), (s1.mtime, s1.ctime));
    fs.read(f, 0, &mut buf).unwrap();
    assert_eq!(fs.stat(f).unwrap().atime, s2.atime);

    fs.set_attr(
        f,
        &SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let s3 = fs.stat(f).unwrap();
    assert!(s3.ctime > s2.ctime, "chmod: ctime");
    assert_eq!((s3.mtime, s3.mode), (s2.mtime, 0o600));

    let at = Timespec { sec: 5, nsec: 7 };
    fs.set_attr(
        f,
        &SetAttr {
            atime: Some(TimeSet::At(at)),
            mtime: Some(TimeSet::At(at)),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let s4 = fs.stat(f).unwrap();
    assert_eq!((s4.atime, s4.mtime), (at, at));
    assert!(s4.ctime > s3.ctime, "utimensat sets ctime to now");

    fs.truncate(f, 4).unwrap();
    let s5 = fs.stat(f).unwrap();
    assert!(
        s5.mtime > s4.ctime,
        "ftruncate to the same size still stamps mtime"
    );

    fs.link(f, root, b"g").unwrap();
    let s6 = fs.stat(f).unwrap();
    assert!(
        s6.ctime > s5.ctime && s6.mtime == s5.mtime,
        "link: ctime only"
    );
    let r2 = fs.stat(root).unwrap();
    fs.rename(root, b"g", root, b"h").unwrap();
    assert!(
        fs.stat(f).unwrap().ctime > s6.ctime,
        "rename: the inode's ctime"
    );
    assert!(fs.stat(root).unwrap().mtime > r2.mtime);
    fs.unlink(root, b"h").unwrap();
    assert!(fs.stat(f).unwrap().ctime > s6.ctime, "unlink: ctime");
}

#[test]
fn chown_clears_setuid_and_group_exec_setgid() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let f = fs
        .create(root, b"f", FileType::Regular, 0o6755, (0, 0))
        .unwrap();
    let g = fs
        .create(root, b"g", FileType::Regular, 0o2644, (0, 0))
        .unwrap();
    let d = fs.mkdir(root, b"d", 0o2775).unwrap();
    let chown = SetAttr {
        uid: Some(1000),
        gid: Some(100),
        ..SetAttr::default()
    };
    for i in [f, g, d] {
        fs.set_attr(i, &chown).unwrap();
    }
    let st = fs.stat(f).unwrap();
    assert_eq!((st.uid, st.gid, st.mode), (1000, 100, 0o755));
    assert_eq!(
        fs.stat(g).unwrap().mode,
        0o2644,
        "setgid without group exec (mandatory locking) stays"
    );
    assert_eq!(fs.stat(d).unwrap().mode, 0o2775, "directories keep setgid");
}

#[test]
fn sync_and_force_helpers() {
    let mut fs = tmpfs(None);
    let root = fs.root();
    let f = file(&mut fs, b"f");
    assert_eq!(fs.sync(f), Ok(()));
    assert_eq!(fs.sync(Ino(999)), Err(FsError::NotFound));
    fs.force_set_data(f, b"abc").unwrap();
    assert_eq!(read_all(&mut fs, f), b"abc");
    fs.force_remove(root, b"f").unwrap();
    let d = fs.add_dir(root, b"d", 0o755).unwrap();
    fs.add_dir(d, b"e", 0o755).unwrap();
    assert_eq!(fs.force_remove(root, b"d"), Err(FsError::NotEmpty));
}

mod model {
    //! MemFs against a model: random operations on files in two directories.
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap as Map, BTreeSet};

    const LIMIT: u64 = 8 * 4096;

    #[derive(Debug, Clone)]
    enum Op {
        Create(usize, u8),
        Write(usize, u8, u64, usize, u8),
        Truncate(usize, u8, u64),
        Read(usize, u8, u64, usize),
        Unlink(usize, u8),
        Link(usize, u8, usize, u8),
        Rename(usize, u8, usize, u8),
        Open(usize, u8),
        Close(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let d = 0usize..2;
        let n = 0u8..4;
        prop_oneof![
            (d.clone(), n.clone()).prop_map(|(d, n)| Op::Create(d, n)),
            (
                d.clone(),
                n.clone(),
                0u64..40_000,
                0usize..12_000,
                any::<u8>()
            )
                .prop_map(|(d, n, o, l, b)| Op::Write(d, n, o, l, b)),
            (d.clone(), n.clone(), 0u64..40_000).prop_map(|(d, n, l)| Op::Truncate(d, n, l)),
            (d.clone(), n.clone(), 0u64..40_000, 0usize..12_000)
                .prop_map(|(d, n, o, l)| Op::Read(d, n, o, l)),
            (d.clone(), n.clone()).prop_map(|(d, n)| Op::Unlink(d, n)),
            (d.clone(), n.clone(), d.clone(), n.clone())
                .prop_map(|(a, b, c, e)| Op::Link(a, b, c, e)),
            (d.clone(), n.clone(), d.clone(), n.clone())
                .prop_map(|(a, b, c, e)| Op::Rename(a, b, c, e)),
            (d, n).prop_map(|(d, n)| Op::Open(d, n)),
            (0usize..8).prop_map(Op::Close),
        ]
    }

    #[derive(Debug, Default)]
    struct MFile {
        data: Vec<u8>,
        pages: BTreeSet<u64>,
        nlink: u32,
        open: u32,
    }

    #[derive(Default)]
    struct Model {
        names: Map<(usize, u8), u64>,
        files: Map<u64, MFile>,
        opened: Vec<u64>,
    }

    impl Model {
        fn used(&self) -> u64 {
            self.files
                .values()
                .map(|f| f.pages.len() as u64 * 4096)
                .sum()
        }

        fn maybe_free(&mut self, id: u64) {
            let f = &self.files[&id];
            if f.nlink == 0 && f.open == 0 {
                self.files.remove(&id);
            }
        }

        /// Returns the bytes the write should report (Err: NoSpace).
        fn write(&mut self, id: u64, off: u64, len: usize, byte: u8) -> Result<usize> {
            let mut used = self.used();
            let f = self.files.get_mut(&id).unwrap();
            let mut done = 0usize;
            while done < len {
                let pos = off + done as u64;
                let page = pos / 4096;
                let n = (4096 - (pos % 4096) as usize).min(len - done);
                if !f.pages.contains(&page) {
                    if used + 4096 > LIMIT {
                        break;
                    }
                    used += 4096;
                    f.pages.insert(page);
                }
                done += n;
            }
            if done == 0 && len > 0 {
                return Err(FsError::NoSpace { limit: LIMIT });
            }
            let end = off as usize + done;
            if f.data.len() < end {
                f.data.resize(end, 0);
            }
            f.data[off as usize..end].fill(byte);
            Ok(done)
        }
    }

    fn name(n: u8) -> [u8; 1] {
        [b'a' + n]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn memfs_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
            let mut fs = tmpfs(Some(LIMIT));
            let root = fs.root();
            let sub = fs.mkdir(root, b"sub", 0o755).unwrap();
            let dirs = [root, sub];
            let mut m = Model::default();
            let mut ino_of: Map<u64, Ino> = Map::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Create(d, n) => {
                        let r = fs.create(dirs[d], &name(n), FileType::Regular, 0o644, (0, 0));
                        if m.names.contains_key(&(d, n)) {
                            prop_assert_eq!(r, Err(FsError::Exists));
                        } else {
                            let ino = r.unwrap();
                            next += 1;
                            m.names.insert((d, n), next);
                            m.files.insert(next, MFile { nlink: 1, ..MFile::default() });
                            ino_of.insert(next, ino);
                        }
                    }
                    Op::Write(d, n, off, len, byte) => {
                        let Some(&id) = m.names.get(&(d, n)) else { continue };
                        let r = fs.write(ino_of[&id], off, &vec![byte; len]);
                        prop_assert_eq!(r, m.write(id, off, len, byte));
                    }
                    Op::Truncate(d, n, len) => {
                        let Some(&id) = m.names.get(&(d, n)) else { continue };
                        fs.truncate(ino_of[&id], len).unwrap();
                        let f = m.files.get_mut(&id).unwrap();
                        f.data.resize(len as usize, 0);
                        let keep = len.div_ceil(4096);
                        f.pages.retain(|&p| p < keep);
                    }
                    Op::Read(d, n, off, len) => {
                        let Some(&id) = m.names.get(&(d, n)) else { continue };
                        let mut buf = vec![0x55; len];
                        let got = fs.read(ino_of[&id], off, &mut buf).unwrap();
                        let data = &m.files[&id].data;
                        let start = (off as usize).min(data.len());
                        let want = &data[start..(start + len).min(data.len())];
                        prop_assert_eq!(&buf[..got], want);
                    }
                    Op::Unlink(d, n) => {
                        let r = fs.unlink(dirs[d], &name(n));
                        match m.names.remove(&(d, n)) {
                            None => prop_assert_eq!(r, Err(FsError::NotFound)),
                            Some(id) => {
                                r.unwrap();
                                m.files.get_mut(&id).unwrap().nlink -= 1;
                                m.maybe_free(id);
                            }
                        }
                    }
                    Op::Link(d1, n1, d2, n2) => {
                        let Some(&id) = m.names.get(&(d1, n1)) else { continue };
                        let r = fs.link(ino_of[&id], dirs[d2], &name(n2));
                        if m.names.contains_key(&(d2, n2)) {
                            prop_assert_eq!(r, Err(FsError::Exists));
                        } else {
                            r.unwrap();
                            m.names.insert((d2, n2), id);
                            m.files.get_mut(&id).unwrap().nlink += 1;
                        }
                    }
                    Op::Rename(d1, n1, d2, n2) => {
                        let r = fs.rename(dirs[d1], &name(n1), dirs[d2], &name(n2));
                        let Some(&id) = m.names.get(&(d1, n1)) else {
                            prop_assert_eq!(r, Err(FsError::NotFound));
                            continue;
                        };
                        r.unwrap();
                        match m.names.get(&(d2, n2)) {
                            Some(&old) if old == id => {}
                            other => {
                                let old = other.copied();
                                m.names.remove(&(d1, n1));
                                m.names.insert((d2, n2), id);
                                if let Some(old) = old {
                                    m.files.get_mut(&old).unwrap().nlink -= 1;
                                    m.maybe_free(old);
                                }
                            }
                        }
                    }
                    Op::Open(d, n) => {
                        let Some(&id) = m.names.get(&(d, n)) else { continue };
                        fs.retain(ino_of[&id]).unwrap();
                        m.files.get_mut(&id).unwrap().open += 1;
                        m.opened.push(id);
                    }
                    Op::Close(i) => {
                        if m.opened.is_empty() { continue }
                        let id = m.opened.remove(i % m.opened.len());
                        fs.release(ino_of[&id]).unwrap();
                        m.files.get_mut(&id).unwrap().open -= 1;
                        m.maybe_free(id);
                    }
                }
                // Invariants after every step.
                prop_assert_eq!(fs.used_bytes(), m.used());
                prop_assert!(fs.used_bytes() <= LIMIT);
                prop_assert_eq!(fs.inode_count(), 2 + m.files.len());
                for (id, f) in &m.files {
                    let st = fs.stat(ino_of[id]).unwrap();
                    prop_assert_eq!(st.size, f.data.len() as u64);
                    prop_assert_eq!(st.blocks, f.pages.len() as u64 * 8);
                    prop_assert_eq!(st.nlink, f.nlink);
                }
                for (id, ino) in &ino_of {
                    if !m.files.contains_key(id) {
                        prop_assert_eq!(fs.stat(*ino), Err(FsError::NotFound));
                    }
                }
                for (d, dir) in dirs.iter().enumerate() {
                    let listed: Vec<Vec<u8>> = fs.readdir(*dir, Some(b".."), 100).unwrap()
                        .into_iter().map(|e| e.name).filter(|n| n != b"sub").collect();
                    let want: Vec<Vec<u8>> = m.names.keys().filter(|k| k.0 == d)
                        .map(|k| name(k.1).to_vec()).collect();
                    prop_assert_eq!(listed, want);
                }
            }
            // Closing everything and removing every name frees all memory.
            for id in std::mem::take(&mut m.opened) {
                fs.release(ino_of[&id]).unwrap();
            }
            for (d, n) in m.names.keys() {
                fs.unlink(dirs[*d], &name(*n)).unwrap();
            }
            prop_assert_eq!(fs.used_bytes(), 0);
            prop_assert_eq!(fs.inode_count(), 2);
        }
    }
}
