//! `MemFs`: the in-memory file system behind tmpfs mounts and the read-only root.
//!
//! One type serves both: a writable tmpfs (`size_limit` gives `ENOSPC` instead of running the
//! guest out of memory) and the root file system that boot fills from a cpio archive and then
//! serves read-only. Regular files hold either 4 KiB pages (sparse: a missing page is a hole
//! that reads as zeros and costs nothing), a `&'static [u8]` borrowed from the boot image
//! (zero-copy; copied into pages if it is ever written), or a `Vec` handed over at boot.
//!
//! Memory: file pages are allocated with `try_reserve`, so running out is `NoMemory`, never a
//! panic; the size limit counts file pages only (4096 bytes each; an owned `Vec` counts as
//! the pages it would fill; borrowed data costs nothing). Names and directory entries are
//! small allocations from the global allocator (a `BTreeMap` cannot allocate fallibly).
//!
//! Times follow Linux: a write or truncate sets mtime and ctime; chmod/chown ctime; creating
//! or removing a name sets the directory's mtime and ctime; reads and listings set atime under
//! Linux's default `relatime` rule (only if atime is not newer than mtime or ctime, or is a
//! day old); a read-only file system never changes atime. The clock is a function set with
//! [`MemFs::set_clock`] (the default gives the epoch).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::vec::Vec;
use core::ops::Bound;

use crate::error::{FsError, Result};
use crate::fs::{FileSystem, NAME_MAX, PATH_MAX, check_name};
use crate::types::{DirEntry, FileType, Ino, SetAttr, Stat, StatFs, TimeSet, Timespec};

/// `TMPFS_MAGIC` (linux/magic.h): `statfs` `f_type` of a tmpfs.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `RAMFS_MAGIC` (linux/magic.h): `statfs` `f_type` of a ramfs (the initramfs root).
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
/// The page size file data is kept in.
pub const PAGE_SIZE: usize = 4096;
/// Files cannot grow past this size (`EFBIG`), 1 TiB.
pub const MAX_FILE_SIZE: u64 = 1 << 40;

const PAGE: u64 = PAGE_SIZE as u64;
/// relatime: atime is refreshed when it is at least this old (Linux: one day).
const RELATIME_SECS: i64 = 24 * 60 * 60;
const ROOT: u64 = 1;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o0010;

/// How a [`MemFs`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemFsOptions {
    /// Refuse every change with `ReadOnly` (the builders `add_*` still work).
    pub read_only: bool,
    /// Most bytes of file pages it may hold (`size=` of tmpfs); `None`: no limit.
    pub size_limit: Option<u64>,
    /// The `statfs` `f_type`: [`TMPFS_MAGIC`] or [`RAMFS_MAGIC`].
    pub magic: u64,
}

/// Contents of a regular file.
enum Data {
    /// Sparse 4 KiB pages by page index; bytes of a page past the file size are zero.
    Pages(BTreeMap<u64, Box<[u8]>>),
    /// Bytes in the boot image (the file's size is their length).
    Borrowed(&'static [u8]),
    /// Bytes handed over at boot (the file's size is their length).
    Owned(Vec<u8>),
}

enum Body {
    File {
        size: u64,
        data: Data,
    },
    Dir {
        parent: u64,
        entries: BTreeMap<Vec<u8>, u64>,
    },
    Symlink(Vec<u8>),
    Special,
}

struct Inode {
    kind: FileType,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    /// Open references ([`FileSystem::retain`]).
    open: u32,
    rdev: (u32, u32),
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    body: Body,
}

fn zero_clock() -> Timespec {
    Timespec::ZERO
}

fn round_up_pages(len: u64) -> u64 {
    len.div_ceil(PAGE).saturating_mul(PAGE)
}

/// Bytes charged against the size limit for this data.
fn charge(data: &Data) -> u64 {
    match data {
        Data::Pages(p) => (p.len() as u64).saturating_mul(PAGE),
        Data::Borrowed(_) => 0,
        Data::Owned(v) => round_up_pages(v.len() as u64),
    }
}

fn is_dots(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

fn copy_name(name: &[u8]) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(name.len())
        .map_err(|_| FsError::NoMemory)?;
    v.extend_from_slice(name);
    Ok(v)
}

/// Allocates one zeroed page, charging it to `used` unless that passes `limit`.
fn alloc_page(used: &mut u64, limit: Option<u64>, charged: bool) -> Result<Box<[u8]>> {
    let new_used = if charged {
        *used
    } else {
        let n = used.saturating_add(PAGE);
        if let Some(limit) = limit
            && n > limit
        {
            return Err(FsError::NoSpace { limit });
        }
        n
    };
    let mut v = Vec::new();
    v.try_reserve_exact(PAGE_SIZE)
        .map_err(|_| FsError::NoMemory)?;
    v.resize(PAGE_SIZE, 0);
    *used = new_used;
    Ok(v.into_boxed_slice())
}

/// Copies `bytes` into pages. `charged`: the pages are already counted in `used` (an owned
/// `Vec` being converted), so no limit check and no new charge.
fn to_pages(
    bytes: &[u8],
    used: &mut u64,
    limit: Option<u64>,
    charged: bool,
) -> Result<BTreeMap<u64, Box<[u8]>>> {
    let mut pages = BTreeMap::new();
    for (i, chunk) in bytes.chunks(PAGE_SIZE).enumerate() {
        match alloc_page(used, limit, charged) {
            Ok(mut page) => {
                if let Some(dst) = page.get_mut(..chunk.len()) {
                    dst.copy_from_slice(chunk);
                }
                pages.insert(i as u64, page);
            }
            Err(e) => {
                if !charged {
                    *used = used.saturating_sub((pages.len() as u64).saturating_mul(PAGE));
                }
                return Err(e);
            }
        }
    }
    Ok(pages)
}

/// Makes `data` pages (copy on write of borrowed or owned bytes).
fn ensure_pages<'a>(
    data: &'a mut Data,
    used: &mut u64,
    limit: Option<u64>,
) -> Result<&'a mut BTreeMap<u64, Box<[u8]>>> {
    let pages = match data {
        Data::Pages(p) => return Ok(p),
        Data::Borrowed(s) => to_pages(s, used, limit, false)?,
        // An owned Vec is already charged as the pages it fills.
        Data::Owned(v) => to_pages(v, used, limit, true)?,
    };
    *data = Data::Pages(pages);
    match data {
        Data::Pages(p) => Ok(p),
        // Just assigned above.
        Data::Borrowed(_) | Data::Owned(_) => Err(FsError::Invalid),
    }
}

/// Copies file bytes `[off, off + buf.len())` (all below the size) into `buf`.
fn read_data(data: &Data, off: u64, buf: &mut [u8]) {
    match data {
        Data::Borrowed(s) => copy_from_slice(s, off, buf),
        Data::Owned(v) => copy_from_slice(v, off, buf),
        Data::Pages(pages) => {
            let mut pos = off;
            let mut done = 0usize;
            while done < buf.len() {
                let idx = pos / PAGE;
                let in_page = (pos % PAGE) as usize;
                let n = (PAGE_SIZE - in_page).min(buf.len() - done);
                let Some(dst) = buf.get_mut(done..done + n) else {
                    return;
                };
                match pages.get(&idx).and_then(|p| p.get(in_page..in_page + n)) {
                    Some(src) => dst.copy_from_slice(src),
                    None => dst.fill(0),
                }
                done += n;
                pos += n as u64;
            }
        }
    }
}

fn copy_from_slice(src: &[u8], off: u64, buf: &mut [u8]) {
    let start = usize::try_from(off).unwrap_or(usize::MAX);
    match src.get(start..).and_then(|s| s.get(..buf.len())) {
        Some(s) => buf.copy_from_slice(s),
        None => buf.fill(0),
    }
}

/// Writes `data` at `off` into pages; stops at the first page that cannot be allocated.
/// Returns the bytes written and the error that stopped it, if any.
fn write_pages(
    pages: &mut BTreeMap<u64, Box<[u8]>>,
    off: u64,
    data: &[u8],
    used: &mut u64,
    limit: Option<u64>,
) -> (usize, Option<FsError>) {
    let mut done = 0usize;
    let mut pos = off;
    while done < data.len() {
        let idx = pos / PAGE;
        let in_page = (pos % PAGE) as usize;
        let n = (PAGE_SIZE - in_page).min(data.len() - done);
        let page = match pages.entry(idx) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => match alloc_page(used, limit, false) {
                Ok(p) => v.insert(p),
                Err(e) => return (done, Some(e)),
            },
        };
        if let (Some(dst), Some(src)) =
            (page.get_mut(in_page..in_page + n), data.get(done..done + n))
        {
            dst.copy_from_slice(src);
        }
        done += n;
        pos += n as u64;
    }
    (done, None)
}

/// Shrinks pages to `len` bytes: frees whole pages past it, zeroes the tail of the last.
fn shrink_pages(pages: &mut BTreeMap<u64, Box<[u8]>>, len: u64, used: &mut u64) {
    let keep = len.div_ceil(PAGE);
    let gone = pages.split_off(&keep);
    *used = used.saturating_sub((gone.len() as u64).saturating_mul(PAGE));
    let tail = (len % PAGE) as usize;
    if tail != 0
        && let Some(page) = pages.get_mut(&(len / PAGE))
        && let Some(rest) = page.get_mut(tail..)
    {
        rest.fill(0);
    }
}

/// The in-memory file system (see the module docs).
pub struct MemFs {
    opts: MemFsOptions,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    /// Bytes charged against the size limit.
    used: u64,
    clock: fn() -> Timespec,
}

impl MemFs {
    /// An empty file system: a root directory (mode 01777 like tmpfs's root when writable,
    /// 0755 when read-only), owned by root.
    pub fn new(opts: MemFsOptions) -> MemFs {
        let mut inodes = BTreeMap::new();
        inodes.insert(
            ROOT,
            Inode {
                kind: FileType::Directory,
                mode: if opts.read_only { 0o755 } else { 0o1777 },
                uid: 0,
                gid: 0,
                nlink: 2,
                open: 0,
                rdev: (0, 0),
                atime: Timespec::ZERO,
                mtime: Timespec::ZERO,
                ctime: Timespec::ZERO,
                body: Body::Dir {
                    parent: ROOT,
                    entries: BTreeMap::new(),
                },
            },
        );
        MemFs {
            opts,
            inodes,
            next_ino: ROOT + 1,
            used: 0,
            clock: zero_clock,
        }
    }

    /// Sets the clock that stamps times (the root's times are set to it now).
    pub fn set_clock(&mut self, clock: fn() -> Timespec) {
        self.clock = clock;
        let now = clock();
        if let Some(root) = self.inodes.get_mut(&ROOT) {
            root.atime = now;
            root.mtime = now;
            root.ctime = now;
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> MemFsOptions {
        self.opts
    }

    /// Bytes charged against the size limit now (file pages).
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// How many inodes exist (including unlinked ones still open).
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }

    /// Adds a regular file whose contents are borrowed from `data` (the boot image); works on
    /// a read-only file system.
    ///
    /// # Errors
    ///
    /// `Exists`, `NotDir`, `NotFound`, `Invalid`/`NameTooLong` (name), `FileTooBig`,
    /// `NoMemory`.
    pub fn add_file(
        &mut self,
        dir: Ino,
        name: &[u8],
        mode: u32,
        data: &'static [u8],
    ) -> Result<Ino> {
        if data.len() as u64 > MAX_FILE_SIZE {
            return Err(FsError::FileTooBig);
        }
        let body = Body::File {
            size: data.len() as u64,
            data: Data::Borrowed(data),
        };
        self.add_node(dir, name, FileType::Regular, mode, (0, 0), body, true)
    }

    /// Adds a regular file that owns `data`; works on a read-only file system. It counts
    /// against the size limit.
    ///
    /// # Errors
    ///
    /// As [`MemFs::add_file`], and `NoSpace`.
    pub fn add_owned_file(
        &mut self,
        dir: Ino,
        name: &[u8],
        mode: u32,
        data: Vec<u8>,
    ) -> Result<Ino> {
        let len = data.len() as u64;
        if len > MAX_FILE_SIZE {
            return Err(FsError::FileTooBig);
        }
        let cost = round_up_pages(len);
        let new_used = self.used.saturating_add(cost);
        if let Some(limit) = self.opts.size_limit
            && new_used > limit
        {
            return Err(FsError::NoSpace { limit });
        }
        let body = Body::File {
            size: len,
            data: Data::Owned(data),
        };
        let ino = self.add_node(dir, name, FileType::Regular, mode, (0, 0), body, true)?;
        self.used = new_used;
        Ok(ino)
    }

    /// Adds a directory; works on a read-only file system.
    ///
    /// # Errors
    ///
    /// `Exists`, `NotDir`, `NotFound`, `Invalid`/`NameTooLong`, `TooManyLinks`.
    pub fn add_dir(&mut self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        let body = Body::Dir {
            parent: dir.0,
            entries: BTreeMap::new(),
        };
        self.add_node(dir, name, FileType::Directory, mode, (0, 0), body, true)
    }

    /// Adds a symlink; works on a read-only file system.
    ///
    /// # Errors
    ///
    /// As [`MemFs::add_dir`]; `NotFound` for an empty target, `NameTooLong` for a long one.
    pub fn add_symlink(&mut self, dir: Ino, name: &[u8], target: &[u8]) -> Result<Ino> {
        let body = Body::Symlink(Self::check_target(target)?);
        self.add_node(dir, name, FileType::Symlink, 0o777, (0, 0), body, true)
    }

    /// Adds a device node, FIFO or socket; works on a read-only file system.
    ///
    /// # Errors
    ///
    /// As [`MemFs::add_dir`]; `Invalid` for a regular, directory or symlink kind.
    pub fn add_device(
        &mut self,
        dir: Ino,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: (u32, u32),
    ) -> Result<Ino> {
        match kind {
            FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => {}
            FileType::Regular | FileType::Directory | FileType::Symlink => {
                return Err(FsError::Invalid);
            }
        }
        self.add_node(dir, name, kind, mode, rdev, Body::Special, true)
    }

    /// Sets attributes even on a read-only file system (boot: owners and times from an
    /// archive).
    pub(crate) fn force_set_attr(&mut self, ino: Ino, attr: &SetAttr) -> Result<()> {
        self.set_attr_inner(ino, attr)
    }

    /// Makes a regular file's contents `data` (borrowed), even on a read-only file system
    /// (boot: the data of a hard-linked cpio entry).
    pub(crate) fn force_set_data(&mut self, ino: Ino, data: &'static [u8]) -> Result<()> {
        let node = self.node_mut(ino)?;
        let Body::File { size, data: old } = &mut node.body else {
            return Err(FsError::Invalid);
        };
        let freed = charge(old);
        *old = Data::Borrowed(data);
        *size = data.len() as u64;
        self.used = self.used.saturating_sub(freed);
        Ok(())
    }

    /// Removes a name (a directory only if empty) even on a read-only file system (boot: an
    /// archive entry replacing an earlier one, as Linux's initramfs unpacker does).
    pub(crate) fn force_remove(&mut self, dir: Ino, name: &[u8]) -> Result<()> {
        let child = self.lookup(dir, name)?;
        if self.node(child)?.kind == FileType::Directory {
            self.rmdir_inner(dir, name, true)
        } else {
            self.unlink_inner(dir, name, true)
        }
    }

    /// Adds a hard link even on a read-only file system (boot: cpio hard links).
    pub(crate) fn force_link(&mut self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()> {
        self.link_inner(ino, dir, name, true)
    }

    fn link_inner(&mut self, ino: Ino, dir: Ino, name: &[u8], force: bool) -> Result<()> {
        if is_dots(name) {
            return Err(FsError::Exists);
        }
        check_name(name)?;
        if self.entries(dir)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        if !force {
            self.check_writable()?;
        }
        let node = self.node(ino)?;
        if node.kind == FileType::Directory {
            return Err(FsError::NotPermitted);
        }
        if node.nlink == 0 {
            // linkat(2) of an open but unlinked file (without O_TMPFILE): ENOENT.
            return Err(FsError::NotFound);
        }
        if node.nlink == u32::MAX {
            return Err(FsError::TooManyLinks);
        }
        let name = copy_name(name)?;
        self.entries_mut(dir)?.insert(name, ino.0);
        let now = self.now();
        self.touch_dir(dir, now);
        let node = self.node_mut(ino)?;
        node.nlink += 1;
        node.ctime = now;
        Ok(())
    }

    fn check_target(target: &[u8]) -> Result<Vec<u8>> {
        if target.is_empty() {
            return Err(FsError::NotFound);
        }
        if target.len() >= PATH_MAX {
            return Err(FsError::NameTooLong);
        }
        copy_name(target)
    }

    fn now(&self) -> Timespec {
        (self.clock)()
    }

    fn node(&self, ino: Ino) -> Result<&Inode> {
        self.inodes.get(&ino.0).ok_or(FsError::NotFound)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Inode> {
        self.inodes.get_mut(&ino.0).ok_or(FsError::NotFound)
    }

    /// The entries of a live directory.
    fn entries(&self, dir: Ino) -> Result<&BTreeMap<Vec<u8>, u64>> {
        let node = self.node(dir)?;
        match &node.body {
            Body::Dir { entries, .. } if node.nlink > 0 => Ok(entries),
            Body::Dir { .. } => Err(FsError::NotFound),
            _ => Err(FsError::NotDir),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<Vec<u8>, u64>> {
        let node = self.node_mut(dir)?;
        match &mut node.body {
            Body::Dir { entries, .. } => Ok(entries),
            _ => Err(FsError::NotDir),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Sets mtime and ctime of `ino` to `now` (a directory whose names changed).
    fn touch_dir(&mut self, ino: Ino, now: Timespec) {
        if let Ok(node) = self.node_mut(ino) {
            node.mtime = now;
            node.ctime = now;
        }
    }

    /// relatime: whether a read now should refresh atime.
    fn relatime_update(node: &mut Inode, now: Timespec) {
        if node.atime <= node.mtime
            || node.atime <= node.ctime
            || now.sec.saturating_sub(node.atime.sec) >= RELATIME_SECS
        {
            node.atime = now;
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one private helper behind all the create paths"
    )]
    fn add_node(
        &mut self,
        dir: Ino,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: (u32, u32),
        body: Body,
        force: bool,
    ) -> Result<Ino> {
        if is_dots(name) {
            return Err(FsError::Exists);
        }
        check_name(name)?;
        let entries = self.entries(dir)?;
        if entries.contains_key(name) {
            return Err(FsError::Exists);
        }
        if !force {
            self.check_writable()?;
        }
        let is_dir = kind == FileType::Directory;
        if is_dir && self.node(dir)?.nlink == u32::MAX {
            return Err(FsError::TooManyLinks);
        }
        let name = copy_name(name)?;
        let ino = self.next_ino;
        self.next_ino = self.next_ino.saturating_add(1);
        let now = self.now();
        self.inodes.insert(
            ino,
            Inode {
                kind,
                mode: mode & 0o7777,
                uid: 0,
                gid: 0,
                nlink: if is_dir { 2 } else { 1 },
                open: 0,
                rdev,
                atime: now,
                mtime: now,
                ctime: now,
                body,
            },
        );
        self.entries_mut(dir)?.insert(name, ino);
        let parent = self.node_mut(dir)?;
        parent.mtime = now;
        parent.ctime = now;
        if is_dir {
            parent.nlink = parent.nlink.saturating_add(1);
        }
        Ok(Ino(ino))
    }

    /// Frees an inode that has neither names nor open references.
    fn maybe_free(&mut self, ino: Ino) {
        let free = matches!(self.inodes.get(&ino.0), Some(n) if n.nlink == 0 && n.open == 0);
        if free
            && ino.0 != ROOT
            && let Some(node) = self.inodes.remove(&ino.0)
            && let Body::File { data, .. } = &node.body
        {
            self.used = self.used.saturating_sub(charge(data));
        }
    }

    fn unlink_inner(&mut self, dir: Ino, name: &[u8], force: bool) -> Result<()> {
        if is_dots(name) {
            return Err(FsError::IsDir);
        }
        check_name(name)?;
        let entries = self.entries(dir)?;
        if !force {
            self.check_writable()?;
        }
        let child = Ino(*entries.get(name).ok_or(FsError::NotFound)?);
        if self.node(child)?.kind == FileType::Directory {
            return Err(FsError::IsDir);
        }
        self.entries_mut(dir)?.remove(name);
        let now = self.now();
        self.touch_dir(dir, now);
        let node = self.node_mut(child)?;
        node.nlink = node.nlink.saturating_sub(1);
        node.ctime = now;
        self.maybe_free(child);
        Ok(())
    }

    fn rmdir_inner(&mut self, dir: Ino, name: &[u8], force: bool) -> Result<()> {
        match name {
            b"." => return Err(FsError::Invalid),
            b".." => return Err(FsError::NotEmpty),
            _ => {}
        }
        check_name(name)?;
        let entries = self.entries(dir)?;
        if !force {
            self.check_writable()?;
        }
        let child = Ino(*entries.get(name).ok_or(FsError::NotFound)?);
        match &self.node(child)?.body {
            Body::Dir { entries, .. } if !entries.is_empty() => return Err(FsError::NotEmpty),
            Body::Dir { .. } => {}
            _ => return Err(FsError::NotDir),
        }
        self.entries_mut(dir)?.remove(name);
        let now = self.now();
        let parent = self.node_mut(dir)?;
        parent.nlink = parent.nlink.saturating_sub(1);
        parent.mtime = now;
        parent.ctime = now;
        let node = self.node_mut(child)?;
        node.nlink = 0;
        node.ctime = now;
        self.maybe_free(child);
        Ok(())
    }

    /// Whether `ancestor` is `dir` or one of its ancestors.
    fn is_ancestor_or_self(&self, ancestor: Ino, dir: Ino) -> bool {
        let mut cur = dir.0;
        // Each step goes one level up; a tree has fewer levels than inodes.
        for _ in 0..=self.inodes.len() {
            if cur == ancestor.0 {
                return true;
            }
            match self.inodes.get(&cur).map(|n| &n.body) {
                Some(Body::Dir { parent, .. }) if *parent != cur => cur = *parent,
                _ => return false,
            }
        }
        false
    }

    fn set_attr_inner(&mut self, ino: Ino, attr: &SetAttr) -> Result<()> {
        let now = self.now();
        let node = self.node_mut(ino)?;
        let mut changed = false;
        if let Some(mode) = attr.mode {
            node.mode = mode & 0o7777;
            changed = true;
        }
        if attr.uid.is_some() || attr.gid.is_some() {
            if let Some(uid) = attr.uid {
                node.uid = uid;
            }
            if let Some(gid) = attr.gid {
                node.gid = gid;
            }
            // chown(2): "When the owner or group of an executable file is changed by an
            // unprivileged user, the S_ISUID and S_ISGID mode bits are cleared. [...] since
            // Linux 2.2.13, root is treated like other users." S_ISGID without group execute
            // marks mandatory locking and stays; directories keep both (chown_common).
            if node.kind != FileType::Directory {
                node.mode &= !S_ISUID;
                if node.mode & S_IXGRP != 0 {
                    node.mode &= !S_ISGID;
                }
            }
            changed = true;
        }
        let resolve = |t: TimeSet| match t {
            TimeSet::Now => now,
            TimeSet::At(ts) => ts,
        };
        if let Some(t) = attr.atime {
            node.atime = resolve(t);
            changed = true;
        }
        if let Some(t) = attr.mtime {
            node.mtime = resolve(t);
            changed = true;
        }
        if changed {
            node.ctime = now;
        }
        Ok(())
    }

    /// The regular file's body, with the error Linux gives for other kinds.
    fn file_body(node: &mut Inode) -> Result<(&mut u64, &mut Data)> {
        match &mut node.body {
            Body::File { size, data } => Ok((size, data)),
            Body::Dir { .. } => Err(FsError::IsDir),
            Body::Symlink(_) | Body::Special => Err(FsError::Invalid),
        }
    }
}

impl FileSystem for MemFs {
    fn root(&self) -> Ino {
        Ino(ROOT)
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino> {
        let entries = self.entries(dir)?;
        match name {
            b"." => Ok(dir),
            b".." => self.parent(dir),
            _ => {
                check_name(name)?;
                entries.get(name).map(|&i| Ino(i)).ok_or(FsError::NotFound)
            }
        }
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let node = self.node(ino)?;
        let (size, blocks) = match &node.body {
            Body::File { size, data } => {
                let bytes = match data {
                    Data::Pages(p) => (p.len() as u64).saturating_mul(PAGE),
                    Data::Borrowed(_) | Data::Owned(_) => round_up_pages(*size),
                };
                (*size, bytes / 512)
            }
            // Linux's tmpfs: 20 bytes (BOGO_DIRENT_SIZE) per entry, `.` and `..` included.
            Body::Dir { entries, .. } => ((entries.len() as u64 + 2).saturating_mul(20), 0),
            Body::Symlink(t) => (t.len() as u64, 0),
            Body::Special => (0, 0),
        };
        Ok(Stat {
            dev: 0,
            ino,
            kind: node.kind,
            mode: node.mode,
            nlink: node.nlink,
            uid: node.uid,
            gid: node.gid,
            size,
            blocks,
            blksize: PAGE_SIZE as u32,
            rdev: node.rdev,
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
        })
    }

    fn read(&mut self, ino: Ino, off: u64, buf: &mut [u8]) -> Result<usize> {
        let now = self.now();
        let read_only = self.opts.read_only;
        let node = self.node_mut(ino)?;
        let (size, data) = Self::file_body(node)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let n = if off >= *size {
            0
        } else {
            let n = usize::try_from(*size - off)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            if let Some(dst) = buf.get_mut(..n) {
                read_data(data, off, dst);
            }
            n
        };
        if !read_only {
            Self::relatime_update(node, now);
        }
        Ok(n)
    }

    fn write(&mut self, ino: Ino, off: u64, data: &[u8]) -> Result<usize> {
        self.check_writable()?;
        let now = self.now();
        let limit = self.opts.size_limit;
        let MemFs { inodes, used, .. } = self;
        let node = inodes.get_mut(&ino.0).ok_or(FsError::NotFound)?;
        let (size, contents) = Self::file_body(node)?;
        if data.is_empty() {
            return Ok(0);
        }
        if off >= MAX_FILE_SIZE {
            return Err(FsError::FileTooBig);
        }
        let room = usize::try_from(MAX_FILE_SIZE - off).unwrap_or(usize::MAX);
        let data = data.get(..room.min(data.len())).unwrap_or(data);
        let pages = ensure_pages(contents, used, limit)?;
        let (done, err) = write_pages(pages, off, data, used, limit);
        if done == 0
            && let Some(e) = err
        {
            return Err(e);
        }
        *size = (*size).max(off + done as u64);
        node.mtime = now;
        node.ctime = now;
        Ok(done)
    }

    fn truncate(&mut self, ino: Ino, len: u64) -> Result<()> {
        self.check_writable()?;
        let now = self.now();
        let limit = self.opts.size_limit;
        let MemFs { inodes, used, .. } = self;
        let node = inodes.get_mut(&ino.0).ok_or(FsError::NotFound)?;
        let (size, data) = Self::file_body(node)?;
        if len > MAX_FILE_SIZE {
            return Err(FsError::FileTooBig);
        }
        match data {
            Data::Borrowed(s) if len <= *size => {
                *data = Data::Borrowed(s.get(..len as usize).unwrap_or(s));
            }
            Data::Owned(v) if len <= *size => {
                let before = round_up_pages(v.len() as u64);
                v.truncate(len as usize);
                *used = used.saturating_sub(before - round_up_pages(len));
            }
            _ => {
                let pages = ensure_pages(data, used, limit)?;
                if len < *size {
                    shrink_pages(pages, len, used);
                }
            }
        }
        *size = len;
        // do_sys_ftruncate and O_TRUNC pass ATTR_MTIME | ATTR_CTIME even when the size does
        // not change.
        node.mtime = now;
        node.ctime = now;
        Ok(())
    }

    fn create(
        &mut self,
        dir: Ino,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: (u32, u32),
    ) -> Result<Ino> {
        let body = match kind {
            FileType::Regular => Body::File {
                size: 0,
                data: Data::Pages(BTreeMap::new()),
            },
            FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => {
                Body::Special
            }
            FileType::Directory | FileType::Symlink => return Err(FsError::Invalid),
        };
        let rdev = match kind {
            FileType::CharDevice | FileType::BlockDevice => rdev,
            _ => (0, 0),
        };
        self.add_node(dir, name, kind, mode, rdev, body, false)
    }

    fn mkdir(&mut self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino> {
        let body = Body::Dir {
            parent: dir.0,
            entries: BTreeMap::new(),
        };
        self.add_node(dir, name, FileType::Directory, mode, (0, 0), body, false)
    }

    fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8]) -> Result<Ino> {
        // Name checks (EEXIST) come before the target's in Linux (filename_create first).
        if is_dots(name) || self.entries(dir)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let body = Body::Symlink(Self::check_target(target)?);
        self.add_node(dir, name, FileType::Symlink, 0o777, (0, 0), body, false)
    }

    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()> {
        self.link_inner(ino, dir, name, false)
    }

    fn unlink(&mut self, dir: Ino, name: &[u8]) -> Result<()> {
        self.unlink_inner(dir, name, false)
    }

    fn rmdir(&mut self, dir: Ino, name: &[u8]) -> Result<()> {
        self.rmdir_inner(dir, name, false)
    }

    fn rename(&mut self, odir: Ino, oname: &[u8], ndir: Ino, nname: &[u8]) -> Result<()> {
        self.check_writable()?;
        if is_dots(oname) || is_dots(nname) {
            return Err(FsError::Busy);
        }
        check_name(oname)?;
        check_name(nname)?;
        let src = Ino(*self.entries(odir)?.get(oname).ok_or(FsError::NotFound)?);
        let dst = self.entries(ndir)?.get(nname).map(|&i| Ino(i));
        let src_dir = self.node(src)?.kind == FileType::Directory;
        // rename(2): EINVAL "an attempt was made to make a directory a subdirectory of
        // itself".
        if src_dir && self.is_ancestor_or_self(src, ndir) {
            return Err(FsError::Invalid);
        }
        // POSIX: "If the old argument and the new argument resolve to [...] the same
        // existing file, rename() shall return successfully and perform no other action."
        if dst == Some(src) {
            return Ok(());
        }
        if let Some(dst) = dst {
            match (&self.node(dst)?.body, src_dir) {
                (Body::Dir { entries, .. }, true) if !entries.is_empty() => {
                    return Err(FsError::NotEmpty);
                }
                (Body::Dir { .. }, true) => {}
                (_, true) => return Err(FsError::NotDir),
                (Body::Dir { .. }, false) => return Err(FsError::IsDir),
                (_, false) => {}
            }
        }
        if src_dir && odir != ndir && dst.is_none() && self.node(ndir)?.nlink == u32::MAX {
            return Err(FsError::TooManyLinks);
        }
        let name = copy_name(nname)?;
        let now = self.now();
        if let Some(dst) = dst {
            self.entries_mut(ndir)?.remove(nname);
            let node = self.node_mut(dst)?;
            let dst_dir = node.kind == FileType::Directory;
            node.nlink = if dst_dir {
                0
            } else {
                node.nlink.saturating_sub(1)
            };
            node.ctime = now;
            if dst_dir {
                let parent = self.node_mut(ndir)?;
                parent.nlink = parent.nlink.saturating_sub(1);
            }
        }
        self.entries_mut(odir)?.remove(oname);
        self.entries_mut(ndir)?.insert(name, src.0);
        if src_dir && odir != ndir {
            let old_parent = self.node_mut(odir)?;
            old_parent.nlink = old_parent.nlink.saturating_sub(1);
            let new_parent = self.node_mut(ndir)?;
            new_parent.nlink = new_parent.nlink.saturating_add(1);
            if let Body::Dir { parent, .. } = &mut self.node_mut(src)?.body {
                *parent = ndir.0;
            }
        }
        self.touch_dir(odir, now);
        self.touch_dir(ndir, now);
        self.node_mut(src)?.ctime = now;
        if let Some(dst) = dst {
            self.maybe_free(dst);
        }
        Ok(())
    }

    fn readlink(&self, ino: Ino) -> Result<Vec<u8>> {
        match &self.node(ino)?.body {
            Body::Symlink(t) => copy_name(t),
            _ => Err(FsError::NotSymlink),
        }
    }

    fn readdir(&mut self, dir: Ino, after: Option<&[u8]>, max: usize) -> Result<Vec<DirEntry>> {
        let entries = self.entries(dir)?;
        let parent = self.parent(dir)?;
        let mut out = Vec::new();
        let push = |out: &mut Vec<DirEntry>, ino: u64, kind: FileType, name: &[u8]| {
            if out.len() >= max {
                return Ok(false);
            }
            out.try_reserve(1).map_err(|_| FsError::NoMemory)?;
            out.push(DirEntry {
                ino: Ino(ino),
                kind,
                name: copy_name(name)?,
            });
            Ok::<bool, FsError>(true)
        };
        let start: Bound<&[u8]> = match after {
            None => {
                push(&mut out, dir.0, FileType::Directory, b".")?;
                push(&mut out, parent.0, FileType::Directory, b"..")?;
                Bound::Unbounded
            }
            Some(b".") => {
                push(&mut out, parent.0, FileType::Directory, b"..")?;
                Bound::Unbounded
            }
            Some(b"..") => Bound::Unbounded,
            Some(name) => Bound::Excluded(name),
        };
        for (name, &ino) in entries.range::<[u8], _>((start, Bound::Unbounded)) {
            let kind = self.inodes.get(&ino).map_or(FileType::Regular, |n| n.kind);
            if !push(&mut out, ino, kind, name)? {
                break;
            }
        }
        if !self.opts.read_only {
            let now = self.now();
            if let Ok(node) = self.node_mut(dir) {
                Self::relatime_update(node, now);
            }
        }
        Ok(out)
    }

    fn parent(&self, dir: Ino) -> Result<Ino> {
        match &self.node(dir)?.body {
            Body::Dir { parent, .. } => Ok(Ino(*parent)),
            _ => Err(FsError::NotDir),
        }
    }

    fn set_attr(&mut self, ino: Ino, attr: &SetAttr) -> Result<()> {
        self.check_writable()?;
        self.set_attr_inner(ino, attr)
    }

    fn statfs(&self) -> StatFs {
        let (blocks, bfree) = match self.opts.size_limit {
            Some(limit) => (limit / PAGE, limit.saturating_sub(self.used) / PAGE),
            None => (0, 0),
        };
        StatFs {
            magic: self.opts.magic,
            bsize: PAGE_SIZE as u32,
            blocks,
            bfree,
            bavail: bfree,
            files: 0,
            ffree: 0,
            namelen: NAME_MAX as u32,
        }
    }

    fn sync(&mut self, ino: Ino) -> Result<()> {
        self.node(ino).map(|_| ())
    }

    fn retain(&mut self, ino: Ino) -> Result<()> {
        let node = self.node_mut(ino)?;
        node.open = node.open.checked_add(1).ok_or(FsError::Busy)?;
        Ok(())
    }

    fn release(&mut self, ino: Ino) -> Result<()> {
        let node = self.node_mut(ino)?;
        node.open = node.open.checked_sub(1).ok_or(FsError::Invalid)?;
        self.maybe_free(ino);
        Ok(())
    }

    fn is_read_only(&self) -> bool {
        self.opts.read_only
    }
}

#[cfg(test)]
mod tests;
