//! Host tests of `Vfs`: path walking, mounts, Linux's `open` and the path wrappers.
#![allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    reason = "test code: a panic is a failed test"
)]

use super::*;
use crate::memfs::{MemFs, MemFsOptions, RAMFS_MAGIC, TMPFS_MAGIC};
use std::format;
use std::vec;

fn tmpfs(limit: Option<u64>) -> Box<MemFs> {
    Box::new(MemFs::new(MemFsOptions {
        read_only: false,
        size_limit: limit,
        magic: TMPFS_MAGIC,
    }))
}

/// A writable root with `/a/b/c` (dir), `/a/f` (file "hello"), `/tmp` and `/ro` (dirs).
fn tree() -> Vfs {
    let mut v = Vfs::new(tmpfs(None));
    let r = v.root();
    v.mkdir(r, b"/a", 0o755).unwrap();
    v.mkdir(r, b"/a/b", 0o755).unwrap();
    v.mkdir(r, b"/a/b/c", 0o755).unwrap();
    v.mkdir(r, b"/tmp", 0o1777).unwrap();
    v.mkdir(r, b"/ro", 0o755).unwrap();
    let (f, created) = v.open(r, b"/a/f", &create(0o644)).unwrap();
    assert!(created);
    v.write(f, 0, b"hello").unwrap();
    v
}

fn create(mode: u32) -> OpenOptions {
    OpenOptions {
        create: true,
        write: true,
        mode,
        ..OpenOptions::default()
    }
}

fn read_only_fs() -> Box<MemFs> {
    let mut fs = MemFs::new(MemFsOptions {
        read_only: true,
        size_limit: None,
        magic: RAMFS_MAGIC,
    });
    let root = fs.root();
    fs.add_file(root, b"file", 0o644, b"ro data").unwrap();
    fs.add_device(root, b"null", FileType::CharDevice, 0o666, (1, 3))
        .unwrap();
    fs.add_dir(root, b"dir", 0o755).unwrap();
    Box::new(fs)
}

fn at(v: &Vfs, p: &str) -> Result<NodeRef> {
    v.resolve(v.root(), p.as_bytes(), true)
}

#[test]
fn walks_dots_and_slashes() {
    let v = tree();
    let r = v.root();
    let c = at(&v, "/a/b/c").unwrap();
    assert_eq!(at(&v, "/"), Ok(r));
    assert_eq!(at(&v, "///"), Ok(r));
    assert_eq!(at(&v, "/a//b/./c/"), Ok(c));
    assert_eq!(at(&v, "/a/b/c/../../b/c"), Ok(c));
    assert_eq!(at(&v, "/.."), Ok(r), "`..` at / stays");
    assert_eq!(at(&v, "/../../a/.."), Ok(r));
    let b = at(&v, "/a/b").unwrap();
    assert_eq!(v.resolve(b, b"c", true), Ok(c), "relative to start");
    assert_eq!(v.resolve(b, b".", true), Ok(b));
    assert_eq!(v.resolve(b, b"..", true), at(&v, "/a"));
    assert_eq!(
        v.resolve(b, b"/a/b/c", true),
        Ok(c),
        "absolute ignores start"
    );
}

#[test]
fn walk_errors() {
    let v = tree();
    let r = v.root();
    // path_resolution(7): an empty path is ENOENT.
    assert_eq!(v.resolve(r, b"", true), Err(FsError::NotFound));
    assert_eq!(at(&v, "/nope"), Err(FsError::NotFound));
    assert_eq!(at(&v, "/nope/x"), Err(FsError::NotFound));
    assert_eq!(at(&v, "/a/f/x"), Err(FsError::NotDir));
    assert_eq!(
        at(&v, "/a/f/"),
        Err(FsError::NotDir),
        "a trailing / wants a dir"
    );
    assert_eq!(at(&v, "/a/f/."), Err(FsError::NotDir));
    let f = at(&v, "/a/f").unwrap();
    assert_eq!(
        v.resolve(f, b"x", true),
        Err(FsError::NotDir),
        "a file as dirfd"
    );
    let long = format!("/{}", "x".repeat(256));
    assert_eq!(at(&v, &long), Err(FsError::NameTooLong));
    assert_eq!(
        at(&v, &format!("/{}", "x".repeat(255))),
        Err(FsError::NotFound)
    );
    // PATH_MAX counts the NUL: 4095 bytes are the most a path may have.
    let max = "/".repeat(4095);
    assert_eq!(at(&v, &max), Ok(r));
    assert_eq!(at(&v, &"/".repeat(4096)), Err(FsError::NameTooLong));
    assert_eq!(v.resolve(r, b"/a\0b", true), Err(FsError::Invalid));
}

#[test]
fn symlinks_are_followed_relative_to_their_directory() {
    let mut v = tree();
    let r = v.root();
    v.symlink(b"b/c", r, b"/a/rel").unwrap();
    v.symlink(b"/a/f", r, b"/a/b/abs").unwrap();
    v.symlink(b"../f", r, b"/a/b/up").unwrap();
    v.symlink(b"rel", r, b"/a/chain").unwrap();
    v.symlink(b"nowhere", r, b"/a/dangling").unwrap();
    let c = at(&v, "/a/b/c").unwrap();
    let f = at(&v, "/a/f").unwrap();
    assert_eq!(at(&v, "/a/rel"), Ok(c));
    assert_eq!(at(&v, "/a/rel/"), Ok(c));
    assert_eq!(at(&v, "/a/b/abs"), Ok(f));
    assert_eq!(at(&v, "/a/b/up"), Ok(f));
    assert_eq!(at(&v, "/a/chain/.."), at(&v, "/a/b"));
    assert_eq!(at(&v, "/a/dangling"), Err(FsError::NotFound));
    assert_eq!(at(&v, "/a/b/abs/x"), Err(FsError::NotDir));
    // Not following the last component gives the link itself, unless a / follows it.
    let link = v.resolve(r, b"/a/rel", false).unwrap();
    assert_eq!(v.stat(link).unwrap().kind, FileType::Symlink);
    assert_eq!(v.resolve(r, b"/a/rel/", false), Ok(c));
    assert_eq!(v.resolve(r, b"/a/chain/.", false), Ok(c));
    assert_eq!(v.readlink_at(r, b"/a/chain").unwrap(), b"rel");
    assert_eq!(v.readlink_at(r, b"/a/f"), Err(FsError::NotSymlink));
    assert_eq!(v.stat_at(r, b"/a/chain", true).unwrap().ino, c.ino);
    assert_eq!(
        v.stat_at(r, b"/a/chain", false).unwrap().kind,
        FileType::Symlink
    );
}

#[test]
fn forty_symlinks_resolve_and_forty_one_loop() {
    let mut v = tree();
    let r = v.root();
    // l0 -> f, l1 -> l0, ... l40 -> l39: following l39 takes 40 links, l40 takes 41.
    v.symlink(b"f", r, b"/a/l0").unwrap();
    for i in 1..=40 {
        v.symlink(
            format!("l{}", i - 1).as_bytes(),
            r,
            format!("/a/l{i}").as_bytes(),
        )
        .unwrap();
    }
    assert_eq!(at(&v, "/a/l39"), at(&v, "/a/f"));
    assert_eq!(at(&v, "/a/l40"), Err(FsError::Loop));
    v.symlink(b"y", r, b"/a/x").unwrap();
    v.symlink(b"x", r, b"/a/y").unwrap();
    assert_eq!(at(&v, "/a/x"), Err(FsError::Loop));
    assert_eq!(at(&v, "/a/x/z"), Err(FsError::Loop));
    v.symlink(b".", r, b"/a/self").unwrap();
    let deep = format!("/a{}", "/self".repeat(41));
    assert_eq!(at(&v, &deep), Err(FsError::Loop));
    assert_eq!(at(&v, &format!("/a{}", "/self".repeat(40))), at(&v, "/a"));
}

#[test]
fn mounts_are_crossed_both_ways() {
    let mut v = tree();
    let r = v.root();
    let under = at(&v, "/tmp").unwrap();
    let id = v.mount(b"/tmp", tmpfs(Some(1 << 20))).unwrap();
    assert_eq!(id, MountId(1));
    let tmp = at(&v, "/tmp").unwrap();
    assert_eq!(tmp.mount, id);
    assert_ne!(tmp, under);
    assert!(v.is_root_of_mount(tmp).unwrap());
    let d = v.mkdir(r, b"/tmp/d", 0o755).unwrap();
    assert_eq!(d.mount, id);
    assert_eq!(at(&v, "/tmp/d/.."), Ok(tmp));
    assert_eq!(at(&v, "/tmp/.."), Ok(r), "`..` leaves the mount");
    assert_eq!(at(&v, "/tmp/d/../../a"), at(&v, "/a"));
    assert_eq!(v.resolve(tmp, b"..", true), Ok(r));
    // Distinct st_dev per mount.
    assert_eq!(v.stat(r).unwrap().dev, 1);
    assert_eq!(v.stat(d).unwrap().dev, 2);
    assert_eq!(v.dev_of(d), 2);
    assert_eq!(v.statfs(d).unwrap().blocks, 256);
    // A symlink on the root file system into the mount.
    v.symlink(b"/tmp/d", r, b"/a/to_tmp").unwrap();
    assert_eq!(at(&v, "/a/to_tmp"), Ok(d));
    // A mount over a mount: the last one is seen; `..` from it goes back out.
    let top = v.mount(b"/tmp", tmpfs(None)).unwrap();
    let tmp2 = at(&v, "/tmp").unwrap();
    assert_eq!(tmp2.mount, top);
    assert_eq!(at(&v, "/tmp/d"), Err(FsError::NotFound));
    assert_eq!(v.resolve(tmp2, b"..", true), Ok(r));
    assert_eq!(v.path_of(tmp2).unwrap(), b"/tmp");
    // The old mount's nodes still work through references kept from before.
    assert_eq!(v.path_of(d).unwrap(), b"/tmp/d");
    assert_eq!(v.mount(b"/a/f", tmpfs(None)), Err(FsError::NotDir));
    assert_eq!(v.mount(b"/none", tmpfs(None)), Err(FsError::NotFound));
}

#[test]
fn mount_points_are_busy_and_mounts_are_separate_devices() {
    let mut v = tree();
    let r = v.root();
    v.mount(b"/tmp", tmpfs(None)).unwrap();
    // rmdir(2)/rename(2): EBUSY "pathname is currently in use [...] as a mount point".
    assert_eq!(v.rmdir(r, b"/tmp"), Err(FsError::Busy));
    assert_eq!(v.rename(r, b"/tmp", r, b"/tmp2"), Err(FsError::Busy));
    v.mkdir(r, b"/empty", 0o755).unwrap();
    assert_eq!(v.rename(r, b"/empty", r, b"/tmp"), Err(FsError::Busy));
    assert_eq!(v.rmdir(r, b"/tmp/."), Err(FsError::Invalid));
    assert_eq!(v.rmdir(r, b"/"), Err(FsError::Busy));
    // rename(2)/link(2): EXDEV "oldpath and newpath are not on the same mounted filesystem".
    v.open(r, b"/tmp/x", &create(0o644)).unwrap();
    assert_eq!(
        v.rename(r, b"/tmp/x", r, b"/a/x"),
        Err(FsError::CrossDevice)
    );
    assert_eq!(
        v.rename(r, b"/a/f", r, b"/tmp/f"),
        Err(FsError::CrossDevice)
    );
    assert_eq!(
        v.link(r, b"/a/f", r, b"/tmp/f", false),
        Err(FsError::CrossDevice)
    );
    v.rename(r, b"/tmp/x", r, b"/tmp/y").unwrap();
    assert!(at(&v, "/tmp/y").is_ok());
}

#[test]
fn open_creates_and_truncates() {
    let mut v = tree();
    let r = v.root();
    let (n, created) = v.open(r, b"/a/new", &create(0o640)).unwrap();
    assert!(created);
    let st = v.stat(n).unwrap();
    assert_eq!((st.kind, st.mode), (FileType::Regular, 0o640));
    // Opening again with O_CREAT finds it.
    assert_eq!(v.open(r, b"/a/new", &create(0o600)), Ok((n, false)));
    // O_CREAT|O_EXCL: EEXIST.
    let excl = OpenOptions {
        exclusive: true,
        ..create(0o600)
    };
    assert_eq!(v.open(r, b"/a/new", &excl), Err(FsError::Exists));
    // O_TRUNC empties a regular file.
    let f = at(&v, "/a/f").unwrap();
    assert_eq!(v.stat(f).unwrap().size, 5);
    let trunc = OpenOptions {
        truncate: true,
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(v.open(r, b"/a/f", &trunc), Ok((f, false)));
    assert_eq!(v.stat(f).unwrap().size, 0);
    // Without O_CREAT a missing name is ENOENT.
    assert_eq!(
        v.open(r, b"/a/missing", &OpenOptions::default()),
        Err(FsError::NotFound)
    );
    assert_eq!(
        v.open(r, b"/missing/x", &create(0o644)),
        Err(FsError::NotFound)
    );
}

#[test]
fn open_follows_linux_for_symlinks() {
    let mut v = tree();
    let r = v.root();
    v.symlink(b"target", r, b"/a/dangling").unwrap();
    v.symlink(b"f", r, b"/a/lf").unwrap();
    v.symlink(b"b", r, b"/a/ld").unwrap();
    let excl = OpenOptions {
        exclusive: true,
        ..create(0o600)
    };
    // POSIX: O_CREAT|O_EXCL on a symlink fails "regardless of the contents".
    assert_eq!(v.open(r, b"/a/dangling", &excl), Err(FsError::Exists));
    // O_CREAT through a dangling symlink creates its target.
    let (t, created) = v.open(r, b"/a/dangling", &create(0o600)).unwrap();
    assert!(created);
    assert_eq!(at(&v, "/a/target"), Ok(t));
    // open(2): ELOOP "O_NOFOLLOW was specified and the last component is a symbolic link".
    let nofollow = OpenOptions {
        nofollow: true,
        ..OpenOptions::default()
    };
    assert_eq!(v.open(r, b"/a/lf", &nofollow), Err(FsError::Loop));
    assert_eq!(
        v.open(
            r,
            b"/a/lf",
            &OpenOptions {
                nofollow: true,
                ..create(0o600)
            }
        ),
        Err(FsError::Loop)
    );
    // do_open checks O_DIRECTORY before may_open's ELOOP.
    assert_eq!(
        v.open(
            r,
            b"/a/ld",
            &OpenOptions {
                nofollow: true,
                directory: true,
                ..OpenOptions::default()
            }
        ),
        Err(FsError::NotDir)
    );
    // Symlinks before the last component are followed even with O_NOFOLLOW.
    assert_eq!(
        v.open(r, b"/a/ld/c", &nofollow),
        Ok((at(&v, "/a/b/c").unwrap(), false))
    );
    assert_eq!(
        v.open(r, b"/a/lf", &OpenOptions::default()),
        Ok((at(&v, "/a/f").unwrap(), false))
    );
}

#[test]
fn open_refuses_directories_for_writing() {
    let mut v = tree();
    let r = v.root();
    let dir_opts = OpenOptions {
        directory: true,
        ..OpenOptions::default()
    };
    assert_eq!(
        v.open(r, b"/a", &dir_opts),
        Ok((at(&v, "/a").unwrap(), false))
    );
    assert_eq!(v.open(r, b"/a/f", &dir_opts), Err(FsError::NotDir));
    let write = OpenOptions {
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(v.open(r, b"/a", &write), Err(FsError::IsDir));
    // build_open_flags: O_TRUNC asks for write access, so a directory is EISDIR.
    let trunc = OpenOptions {
        truncate: true,
        ..OpenOptions::default()
    };
    assert_eq!(v.open(r, b"/a", &trunc), Err(FsError::IsDir));
    let plain_create = OpenOptions {
        create: true,
        ..OpenOptions::default()
    };
    assert_eq!(v.open(r, b"/a", &plain_create), Err(FsError::IsDir));
    assert_eq!(v.open(r, b".", &plain_create), Err(FsError::IsDir));
    assert_eq!(v.open(r, b"/a/new/", &plain_create), Err(FsError::IsDir));
    assert_eq!(
        v.open(r, b"/a/f/", &OpenOptions::default()),
        Err(FsError::NotDir)
    );
}

#[test]
fn read_only_mounts() {
    let mut v = Vfs::new(read_only_fs());
    let r = v.root();
    v.mount(b"/dir", tmpfs(None)).unwrap();
    let write = OpenOptions {
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(v.open(r, b"/new", &create(0o644)), Err(FsError::ReadOnly));
    assert_eq!(v.open(r, b"/file", &write), Err(FsError::ReadOnly));
    assert_eq!(
        v.open(
            r,
            b"/file",
            &OpenOptions {
                truncate: true,
                ..OpenOptions::default()
            }
        ),
        Err(FsError::ReadOnly)
    );
    // O_CREAT of an existing file only reads: fine.
    let plain_create = OpenOptions {
        create: true,
        ..OpenOptions::default()
    };
    assert!(v.open(r, b"/file", &plain_create).is_ok());
    // A device on a read-only root is still writable (sb_permission).
    assert!(v.open(r, b"/null", &write).is_ok());
    assert!(
        v.open(
            r,
            b"/null",
            &OpenOptions {
                truncate: true,
                write: true,
                ..OpenOptions::default()
            }
        )
        .is_ok()
    );
    assert_eq!(v.mkdir(r, b"/x", 0o755), Err(FsError::ReadOnly));
    assert_eq!(v.mkdir(r, b"/file", 0o755), Err(FsError::Exists));
    assert_eq!(v.unlink(r, b"/file"), Err(FsError::ReadOnly));
    assert_eq!(v.unlink(r, b"/nothing"), Err(FsError::ReadOnly));
    assert_eq!(v.symlink(b"x", r, b"/l"), Err(FsError::ReadOnly));
    assert_eq!(v.rename(r, b"/file", r, b"/g"), Err(FsError::ReadOnly));
    assert_eq!(
        v.mknod(r, b"/fifo", FileType::Fifo, 0o600, (0, 0)),
        Err(FsError::ReadOnly)
    );
    // The tmpfs on /dir is writable.
    let (n, _) = v.open(r, b"/dir/scratch", &create(0o600)).unwrap();
    assert_eq!(v.write(n, 0, b"ok"), Ok(2));
    assert!(v.is_read_only(r));
    assert!(!v.is_read_only(n));
    let mut buf = [0u8; 16];
    let f = at(&v, "/file").unwrap();
    assert_eq!(v.read(f, 0, &mut buf), Ok(7));
    assert_eq!(&buf[..7], b"ro data");
}

#[test]
fn last_component_rules_of_each_call() {
    let mut v = tree();
    let r = v.root();
    let a = at(&v, "/a").unwrap();
    // mkdir(2): EEXIST for `.`, `..` and `/` (filename_create).
    assert_eq!(v.mkdir(r, b"/", 0o755), Err(FsError::Exists));
    assert_eq!(v.mkdir(a, b".", 0o755), Err(FsError::Exists));
    assert_eq!(v.mkdir(a, b"b/..", 0o755), Err(FsError::Exists));
    assert_eq!(v.mkdir(r, b"/a/f", 0o755), Err(FsError::Exists));
    assert!(v.mkdir(r, b"/a/trailing/", 0o755).is_ok());
    // rmdir(2): EINVAL for `.`, ENOTEMPTY for `..`, EBUSY for `/`.
    assert_eq!(v.rmdir(a, b"."), Err(FsError::Invalid));
    assert_eq!(v.rmdir(a, b"b/.."), Err(FsError::NotEmpty));
    assert_eq!(v.rmdir(r, b"/a/f"), Err(FsError::NotDir));
    assert_eq!(v.rmdir(r, b"/a/b"), Err(FsError::NotEmpty));
    assert_eq!(v.rmdir(r, b"/a/trailing/"), Ok(()));
    // unlink: EISDIR for directories and for `.`/`/`; ENOTDIR for "file/".
    assert_eq!(v.unlink(r, b"/a/b"), Err(FsError::IsDir));
    assert_eq!(v.unlink(r, b"/a/b/"), Err(FsError::IsDir));
    assert_eq!(v.unlink(a, b"."), Err(FsError::IsDir));
    assert_eq!(v.unlink(r, b"/"), Err(FsError::IsDir));
    assert_eq!(v.unlink(r, b"/a/f/"), Err(FsError::NotDir));
    assert_eq!(v.unlink(r, b"/a/none"), Err(FsError::NotFound));
    // rename: EBUSY for `.`/`..`; ENOTDIR for a file with a trailing slash.
    assert_eq!(v.rename(a, b".", r, b"/x"), Err(FsError::Busy));
    assert_eq!(v.rename(r, b"/a/f", a, b".."), Err(FsError::Busy));
    assert_eq!(v.rename(r, b"/a/f/", r, b"/a/g"), Err(FsError::NotDir));
    assert_eq!(v.rename(r, b"/a/f", r, b"/a/g/"), Err(FsError::NotDir));
    assert_eq!(v.rename(r, b"/a/b/", r, b"/a/bb/"), Ok(()));
    assert_eq!(
        v.rename(r, b"/a", r, b"/a/bb/inside"),
        Err(FsError::Invalid)
    );
    // symlink/link/mknod of a new name with a trailing slash: ENOENT; existing: EEXIST.
    assert_eq!(v.symlink(b"x", r, b"/a/s/"), Err(FsError::NotFound));
    assert_eq!(v.symlink(b"x", r, b"/a/f/"), Err(FsError::Exists));
    assert_eq!(v.symlink(b"x", r, b"/a/f"), Err(FsError::Exists));
    assert_eq!(v.symlink(b"", r, b"/a/empty"), Err(FsError::NotFound));
    assert_eq!(
        v.link(r, b"/a/f", r, b"/a/h/", false),
        Err(FsError::NotFound)
    );
    assert_eq!(v.link(r, b"/a/f", r, b"/a/f", false), Err(FsError::Exists));
    // link(2): EPERM for a directory; mknod(2) of a directory: EPERM.
    assert_eq!(
        v.link(r, b"/a/bb", r, b"/a/h", false),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        v.mknod(r, b"/a/d", FileType::Directory, 0o755, (0, 0)),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        v.mknod(r, b"/a/d", FileType::Symlink, 0o755, (0, 0)),
        Err(FsError::Invalid)
    );
    let fifo = v
        .mknod(r, b"/a/fifo", FileType::Fifo, 0o600, (0, 0))
        .unwrap();
    assert_eq!(v.stat(fifo).unwrap().kind, FileType::Fifo);
    assert_eq!(v.resolve_parent(r, b"/a/x/"), Ok((a, b"x".to_vec())));
    assert_eq!(v.resolve_parent(r, b"/a/.."), Err(FsError::Invalid));
    assert_eq!(v.resolve_parent(r, b"/"), Err(FsError::Invalid));
}

#[test]
fn link_follows_only_when_asked() {
    let mut v = tree();
    let r = v.root();
    v.symlink(b"f", r, b"/a/lf").unwrap();
    v.link(r, b"/a/lf", r, b"/a/hard_to_link", false).unwrap();
    assert_eq!(
        v.stat_at(r, b"/a/hard_to_link", false).unwrap().kind,
        FileType::Symlink
    );
    v.link(r, b"/a/lf", r, b"/a/hard_to_file", true).unwrap();
    assert_eq!(at(&v, "/a/hard_to_file"), at(&v, "/a/f"));
    assert_eq!(v.stat_at(r, b"/a/f", true).unwrap().nlink, 2);
}

#[test]
fn path_of_names_directories_across_mounts() {
    let mut v = tree();
    let r = v.root();
    assert_eq!(v.path_of(r).unwrap(), b"/");
    let c = at(&v, "/a/b/c").unwrap();
    assert_eq!(v.path_of(c).unwrap(), b"/a/b/c");
    v.mount(b"/a/b", tmpfs(None)).unwrap();
    let inner = v.mkdir(r, b"/a/b/x", 0o755).unwrap();
    let y = v.mkdir(r, b"/a/b/x/y", 0o755).unwrap();
    assert_eq!(v.path_of(y).unwrap(), b"/a/b/x/y");
    assert_eq!(v.path_of(at(&v, "/a/b").unwrap()).unwrap(), b"/a/b");
    // A removed cwd: getcwd(3) ENOENT "the current working directory has been unlinked".
    v.retain(y).unwrap();
    v.rmdir(inner, b"y").unwrap();
    assert_eq!(v.path_of(y), Err(FsError::NotFound));
    v.release(y).unwrap();
    let f = at(&v, "/a/f").unwrap();
    assert_eq!(v.path_of(f), Err(FsError::NotDir));
    // Many entries: the reverse lookup pages through the listing.
    for i in 0..200 {
        v.mkdir(r, format!("/tmp/d{i:03}").as_bytes(), 0o755)
            .unwrap();
    }
    let last = at(&v, "/tmp/d199").unwrap();
    assert_eq!(v.path_of(last).unwrap(), b"/tmp/d199");
}

#[test]
fn unlinked_open_file_is_freed_at_release() {
    let mut v = Vfs::new(tmpfs(Some(4 * 4096)));
    let r = v.root();
    let (f, _) = v.open(r, b"/big", &create(0o600)).unwrap();
    v.retain(f).unwrap();
    assert_eq!(v.write(f, 0, &[1; 4 * 4096]), Ok(4 * 4096));
    assert_eq!(v.statfs(r).unwrap().bfree, 0);
    v.unlink(r, b"/big").unwrap();
    assert_eq!(v.stat_at(r, b"/big", true), Err(FsError::NotFound));
    let mut buf = [0u8; 8];
    assert_eq!(v.read(f, 100, &mut buf), Ok(8), "still readable");
    assert_eq!(v.statfs(r).unwrap().bfree, 0, "memory still held");
    let (g, _) = v.open(r, b"/other", &create(0o600)).unwrap();
    assert_eq!(
        v.write(g, 0, b"x"),
        Err(FsError::NoSpace { limit: 4 * 4096 })
    );
    v.release(f).unwrap();
    assert_eq!(v.statfs(r).unwrap().bfree, 4);
    assert_eq!(v.write(g, 0, b"x"), Ok(1));
    assert_eq!(v.stat(f), Err(FsError::NotFound));
}

#[test]
fn node_level_calls_reach_the_right_mount() {
    let mut v = tree();
    let r = v.root();
    v.mount(b"/tmp", tmpfs(None)).unwrap();
    let (f, _) = v.open(r, b"/tmp/f", &create(0o644)).unwrap();
    v.write(f, 0, b"abc").unwrap();
    v.truncate(f, 2).unwrap();
    v.sync(f).unwrap();
    v.set_attr(
        f,
        &SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let st = v.stat(f).unwrap();
    assert_eq!((st.size, st.mode, st.dev), (2, 0o600, 2));
    let tmp = at(&v, "/tmp").unwrap();
    let list = v.readdir(tmp, Some(b".."), 10).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].name.as_slice(), list[0].ino), (&b"f"[..], f.ino));
    assert_eq!(v.statfs(f).unwrap().magic, TMPFS_MAGIC);
    let bogus = NodeRef {
        mount: MountId(9),
        ino: Ino(1),
    };
    assert_eq!(v.stat(bogus), Err(FsError::Invalid));
}

mod model {
    //! Random operations through `Vfs` on short paths: nothing panics, every directory's
    //! `path_of` walks back to it, and sizes add up.
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 6] = ["a", "b", "..", ".", "l", "m"];

    fn path() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            proptest::collection::vec(0usize..NAMES.len(), 1..5),
            any::<bool>(),
        )
            .prop_map(|(abs, comps, slash)| {
                let mut p = Vec::new();
                if abs {
                    p.push(b'/');
                }
                let joined: Vec<&str> = comps.iter().map(|&i| NAMES[i]).collect();
                p.extend_from_slice(joined.join("/").as_bytes());
                if slash {
                    p.push(b'/');
                }
                p
            })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Mkdir(Vec<u8>),
        Rmdir(Vec<u8>),
        Create(Vec<u8>, usize),
        Unlink(Vec<u8>),
        Rename(Vec<u8>, Vec<u8>),
        Symlink(Vec<u8>, Vec<u8>),
        Link(Vec<u8>, Vec<u8>),
        Chdir(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            path().prop_map(Op::Mkdir),
            path().prop_map(Op::Rmdir),
            (path(), 0usize..10_000).prop_map(|(p, n)| Op::Create(p, n)),
            path().prop_map(Op::Unlink),
            (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
            (path(), path()).prop_map(|(a, b)| Op::Symlink(a, b)),
            (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
            path().prop_map(Op::Chdir),
        ]
    }

    /// Every node reachable from `dir` (not following symlinks), with its kind.
    fn walk_tree(v: &mut Vfs, dir: NodeRef, out: &mut Vec<(NodeRef, FileType, u64)>) {
        let list = v.readdir(dir, Some(b".."), 1000).unwrap();
        for e in list {
            let node = v.resolve(dir, &e.name, false).unwrap();
            let st = v.stat(node).unwrap();
            assert_eq!(st.kind, e.kind);
            out.push((node, st.kind, st.size));
            if st.kind == FileType::Directory {
                walk_tree(v, node, out);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn random_path_operations_keep_the_tree_consistent(
            ops in proptest::collection::vec(op(), 1..40)
        ) {
            let mut v = Vfs::new(tmpfs(Some(16 * 4096)));
            let r = v.root();
            v.mkdir(r, b"/mnt", 0o755).unwrap();
            v.mount(b"/mnt", tmpfs(Some(8 * 4096))).unwrap();
            let mut cwd = r;
            for op in ops {
                match op {
                    Op::Mkdir(p) => { let _ = v.mkdir(cwd, &p, 0o755); }
                    Op::Rmdir(p) => { let _ = v.rmdir(cwd, &p); }
                    Op::Create(p, n) => {
                        if let Ok((f, _)) = v.open(cwd, &p, &create(0o644)) {
                            match v.write(f, 0, &vec![7; n]) {
                                Ok(_) | Err(FsError::NoSpace { .. })
                                | Err(FsError::Invalid) | Err(FsError::IsDir) => {}
                                Err(e) => prop_assert!(false, "write: {e}"),
                            }
                        }
                    }
                    Op::Unlink(p) => { let _ = v.unlink(cwd, &p); }
                    Op::Rename(a, b) => { let _ = v.rename(cwd, &a, cwd, &b); }
                    Op::Symlink(a, b) => { let _ = v.symlink(&a, cwd, &b); }
                    Op::Link(a, b) => { let _ = v.link(cwd, &a, cwd, &b, false); }
                    Op::Chdir(p) => {
                        if let Ok(d) = v.resolve(cwd, &p, true)
                            && v.stat(d).unwrap().kind == FileType::Directory
                        {
                            cwd = d;
                        }
                    }
                }
                // The cwd may have been removed; then getcwd is ENOENT and we go home.
                match v.path_of(cwd) {
                    Ok(p) => prop_assert_eq!(v.resolve(r, &p, true).unwrap(), cwd),
                    Err(e) => {
                        prop_assert_eq!(e, FsError::NotFound);
                        cwd = r;
                    }
                }
                let mut all = Vec::new();
                walk_tree(&mut v, r, &mut all);
                for (node, kind, _) in &all {
                    if *kind == FileType::Directory {
                        let p = v.path_of(*node).unwrap();
                        prop_assert_eq!(v.resolve(r, &p, false).unwrap(), *node);
                    }
                }
                for mount in [r, v.resolve(r, b"/mnt", true).unwrap()] {
                    let st = v.statfs(mount).unwrap();
                    prop_assert!(st.bfree <= st.blocks);
                }
            }
        }
    }
}
