//! `Vfs`: the mount table and path walking over [`FileSystem`]s.
//!
//! A node is named by a [`NodeRef`] (which mount, which inode). Paths are walked as Linux's
//! `path_walk` does (`fs/namei.c`, path_resolution(7)):
//!
//! - An absolute path starts at the root, a relative one at `start` (the cwd or a dirfd).
//! - `.` stays; `..` goes to the parent; at the root of a mount it first steps to the
//!   mount point, so `..` leaves the mount; at `/` it stays.
//! - A component naming a mount point continues at the mounted file system's root (the
//!   last mount made there, if several were stacked).
//! - Symlinks met before the last component are always followed; the last one only if the
//!   caller asks (`follow_last`) or the path ends in `/`. A relative target is walked from
//!   the symlink's directory, an absolute one from the root. More than 40 in one walk is
//!   `Loop` (`MAXSYMLINKS`).
//! - An empty path is `NotFound`; a path of `PATH_MAX` (4096) bytes or more, or a component
//!   longer than 255, is `NameTooLong`; a NUL byte is `Invalid`. A trailing `/` requires
//!   the node to be a directory (`NotDir`).
//!
//! The path wrappers (`mkdir`, `unlink`, `rename`...) add what Linux checks above the file
//! system: `.`/`..`/`/` as last component, trailing slashes, read-only mounts, `EXDEV`
//! across mounts and `EBUSY` for mount points. Permissions are never checked: the guest
//! runs as root. The umask is the caller's to apply to `mode`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::error::{FsError, Result};
use crate::fs::{FileSystem, MAX_SYMLINKS, NAME_MAX, PATH_MAX};
use crate::types::{DirEntry, FileType, Ino, SetAttr, Stat, StatFs};

/// A mount in the table; the root file system is `MountId(0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountId(pub u32);

/// A node of the tree: an inode of one mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRef {
    /// The mount the inode belongs to.
    pub mount: MountId,
    /// The inode in that mount's file system.
    pub ino: Ino,
}

/// The flags of `open` that decide what it does to the tree (`O_CREAT`, `O_EXCL`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenOptions {
    /// `O_CREAT`: create a regular file if the name does not exist.
    pub create: bool,
    /// `O_EXCL` (with `create`): fail with `Exists` if the name exists, even as a symlink.
    pub exclusive: bool,
    /// `O_TRUNC`: truncate a regular file to 0 (ignored for other kinds).
    pub truncate: bool,
    /// `O_DIRECTORY`: fail with `NotDir` unless the node is a directory.
    pub directory: bool,
    /// `O_NOFOLLOW`: a symlink as last component is `Loop`.
    pub nofollow: bool,
    /// Opened for writing (`O_WRONLY` or `O_RDWR`).
    pub write: bool,
    /// Permission bits for a created file (the umask already applied).
    pub mode: u32,
}

struct Mount {
    fs: Box<dyn FileSystem>,
    root: Ino,
    /// The node this mount covers; `None` for the root mount.
    mountpoint: Option<NodeRef>,
}

/// What the last component of a path for a create/remove is.
enum Last {
    Name(Vec<u8>),
    Dot,
    DotDot,
    /// The path is only slashes.
    Root,
}

/// A path split into its directory (walked) and last component (not looked up).
struct Parent {
    dir: NodeRef,
    last: Last,
    /// The path ended in `/`.
    trailing_slash: bool,
}

/// The mount table and path walker (see the module docs).
pub struct Vfs {
    mounts: Vec<Mount>,
    /// Mount points: the covered node and the mount on top of it.
    covered: BTreeMap<NodeRef, MountId>,
}

fn check_path(path: &[u8]) -> Result<()> {
    if path.is_empty() {
        return Err(FsError::NotFound);
    }
    if path.len() >= PATH_MAX {
        return Err(FsError::NameTooLong);
    }
    if path.contains(&0) {
        return Err(FsError::Invalid);
    }
    Ok(())
}

fn mount_index(id: MountId) -> usize {
    id.0 as usize
}

impl Vfs {
    /// A tree with `root` mounted at `/`.
    pub fn new(root: Box<dyn FileSystem>) -> Vfs {
        let root_ino = root.root();
        Vfs {
            mounts: alloc::vec![Mount {
                fs: root,
                root: root_ino,
                mountpoint: None,
            }],
            covered: BTreeMap::new(),
        }
    }

    /// Mounts `fs` on the directory at `at` (walked from the root, symlinks followed).
    ///
    /// # Errors
    ///
    /// Walk errors for `at`; `NotDir` if it is not a directory.
    pub fn mount(&mut self, at: &[u8], fs: Box<dyn FileSystem>) -> Result<MountId> {
        let root = self.root();
        let node = self.resolve(root, at, true)?;
        self.require_dir(node)?;
        let id = MountId(u32::try_from(self.mounts.len()).map_err(|_| FsError::NoMemory)?);
        self.mounts.try_reserve(1).map_err(|_| FsError::NoMemory)?;
        let root_ino = fs.root();
        self.mounts.push(Mount {
            fs,
            root: root_ino,
            mountpoint: Some(node),
        });
        self.covered.insert(node, id);
        Ok(id)
    }

    /// The root directory `/`.
    pub fn root(&self) -> NodeRef {
        NodeRef {
            mount: MountId(0),
            ino: self.mounts.first().map_or(Ino(1), |m| m.root),
        }
    }

    /// The `st_dev` of a node: one number per mount, `makedev(0, mount + 1)` as Linux numbers
    /// anonymous devices (tmpfs, ramfs).
    pub fn dev_of(&self, node: NodeRef) -> u64 {
        u64::from(node.mount.0) + 1
    }

    /// Whether the node's mount is read-only.
    pub fn is_read_only(&self, node: NodeRef) -> bool {
        self.fs(node.mount).is_ok_and(|fs| fs.is_read_only())
    }

    fn mount_of(&self, id: MountId) -> Result<&Mount> {
        self.mounts.get(mount_index(id)).ok_or(FsError::Invalid)
    }

    fn fs(&self, id: MountId) -> Result<&dyn FileSystem> {
        Ok(&*self.mount_of(id)?.fs)
    }

    fn fs_mut(&mut self, id: MountId) -> Result<&mut (dyn FileSystem + 'static)> {
        self.mounts
            .get_mut(mount_index(id))
            .map(|m| &mut *m.fs)
            .ok_or(FsError::Invalid)
    }

    fn kind(&self, node: NodeRef) -> Result<FileType> {
        Ok(self.fs(node.mount)?.stat(node.ino)?.kind)
    }

    fn require_dir(&self, node: NodeRef) -> Result<()> {
        if self.kind(node)? == FileType::Directory {
            Ok(())
        } else {
            Err(FsError::NotDir)
        }
    }

    /// The node seen at `node`: the root of the mount on it, if any (repeatedly).
    fn cross(&self, mut node: NodeRef) -> NodeRef {
        for _ in 0..self.mounts.len() {
            match self
                .covered
                .get(&node)
                .and_then(|&m| Some((m, self.mount_of(m).ok()?)))
            {
                Some((id, m)) => {
                    node = NodeRef {
                        mount: id,
                        ino: m.root,
                    }
                }
                None => break,
            }
        }
        node
    }

    fn is_mount_root(&self, node: NodeRef) -> Result<bool> {
        Ok(node.ino == self.mount_of(node.mount)?.root)
    }

    /// `..` of a directory.
    fn dotdot(&self, mut node: NodeRef) -> Result<NodeRef> {
        for _ in 0..=self.mounts.len() {
            let m = self.mount_of(node.mount)?;
            if node.ino != m.root {
                break;
            }
            match m.mountpoint {
                Some(mp) => node = mp,
                None => return Ok(node),
            }
        }
        let parent = self.fs(node.mount)?.parent(node.ino)?;
        Ok(self.cross(NodeRef {
            mount: node.mount,
            ino: parent,
        }))
    }

    fn walk(
        &self,
        start: NodeRef,
        path: &[u8],
        follow_last: bool,
        links: &mut u32,
    ) -> Result<NodeRef> {
        check_path(path)?;
        let mut cur = if path.first() == Some(&b'/') {
            self.root()
        } else {
            start
        };
        let trailing_slash = path.last() == Some(&b'/');
        let mut comps = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .peekable();
        while let Some(name) = comps.next() {
            let is_last = comps.peek().is_none();
            self.require_dir(cur)?;
            match name {
                b"." => {}
                b".." => cur = self.dotdot(cur)?,
                name => {
                    if name.len() > NAME_MAX {
                        return Err(FsError::NameTooLong);
                    }
                    let fs = self.fs(cur.mount)?;
                    let child = self.cross(NodeRef {
                        mount: cur.mount,
                        ino: fs.lookup(cur.ino, name)?,
                    });
                    let follow = !is_last || follow_last || trailing_slash;
                    if follow && self.kind(child)? == FileType::Symlink {
                        *links += 1;
                        if *links > MAX_SYMLINKS {
                            return Err(FsError::Loop);
                        }
                        let target = self.fs(child.mount)?.readlink(child.ino)?;
                        cur = self.walk(cur, &target, true, links)?;
                    } else {
                        cur = child;
                    }
                }
            }
        }
        if trailing_slash {
            self.require_dir(cur)?;
        }
        Ok(cur)
    }

    fn walk_parent(&self, start: NodeRef, path: &[u8], links: &mut u32) -> Result<Parent> {
        check_path(path)?;
        let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trimmed = path.get(..end).unwrap_or_default();
        let trailing_slash = end != path.len();
        if trimmed.is_empty() {
            return Ok(Parent {
                dir: self.root(),
                last: Last::Root,
                trailing_slash,
            });
        }
        let (dir_part, last) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (
                trimmed.get(..=i).unwrap_or_default(),
                trimmed.get(i + 1..).unwrap_or_default(),
            ),
            None => (&[][..], trimmed),
        };
        let dir = if dir_part.is_empty() {
            start
        } else {
            self.walk(start, dir_part, true, links)?
        };
        self.require_dir(dir)?;
        let last = match last {
            b"." => Last::Dot,
            b".." => Last::DotDot,
            name if name.len() > NAME_MAX => return Err(FsError::NameTooLong),
            name => {
                let mut v = Vec::new();
                v.try_reserve_exact(name.len())
                    .map_err(|_| FsError::NoMemory)?;
                v.extend_from_slice(name);
                Last::Name(v)
            }
        };
        Ok(Parent {
            dir,
            last,
            trailing_slash,
        })
    }

    /// The node a non-name last component stands for.
    fn last_node(&self, dir: NodeRef, last: &Last) -> Result<NodeRef> {
        match last {
            Last::Dot => Ok(dir),
            Last::DotDot => self.dotdot(dir),
            Last::Root => Ok(self.root()),
            Last::Name(name) => {
                let ino = self.fs(dir.mount)?.lookup(dir.ino, name)?;
                Ok(self.cross(NodeRef {
                    mount: dir.mount,
                    ino,
                }))
            }
        }
    }

    /// The child `name` of `dir` without crossing into a mount on it.
    fn child(&self, dir: NodeRef, name: &[u8]) -> Result<NodeRef> {
        Ok(NodeRef {
            mount: dir.mount,
            ino: self.fs(dir.mount)?.lookup(dir.ino, name)?,
        })
    }

    fn check_writable(&self, mount: MountId) -> Result<()> {
        if self.fs(mount)?.is_read_only() {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Walks `path` from `start` (see the module docs).
    ///
    /// # Errors
    ///
    /// `NotFound`, `NotDir`, `Loop`, `NameTooLong`, `Invalid`.
    pub fn resolve(&self, start: NodeRef, path: &[u8], follow_last: bool) -> Result<NodeRef> {
        self.walk(start, path, follow_last, &mut 0)
    }

    /// Walks all but the last component of `path`; returns that directory and the last
    /// component (for create, remove and rename).
    ///
    /// # Errors
    ///
    /// As [`Vfs::resolve`]; `Invalid` if the last component is `.` or `..` or the path is
    /// `/` (the wrappers give Linux's error for each operation instead).
    pub fn resolve_parent(&self, start: NodeRef, path: &[u8]) -> Result<(NodeRef, Vec<u8>)> {
        let p = self.walk_parent(start, path, &mut 0)?;
        match p.last {
            Last::Name(name) => Ok((p.dir, name)),
            Last::Dot | Last::DotDot | Last::Root => Err(FsError::Invalid),
        }
    }

    /// Opens (and maybe creates) `path` with Linux's rules (`fs/namei.c` `open_last_lookups`,
    /// `do_open`, `may_open`); returns the node and whether it was created. It takes no open
    /// reference: call [`Vfs::retain`] for the open file.
    ///
    /// # Errors
    ///
    /// `Exists` (`O_CREAT|O_EXCL` on any existing name, a dangling symlink included),
    /// `Loop` (`O_NOFOLLOW` on a symlink), `NotDir` (`O_DIRECTORY` on a non-directory),
    /// `IsDir` (a directory opened for writing, truncating or with `O_CREAT`; `O_CREAT` with
    /// a trailing `/`), `ReadOnly` (creating, or writing a regular file, on a read-only
    /// mount; devices and FIFOs there can be opened for writing), walk errors.
    pub fn open(
        &mut self,
        start: NodeRef,
        path: &[u8],
        opts: &OpenOptions,
    ) -> Result<(NodeRef, bool)> {
        self.open_inner(start, path, opts, &mut 0)
    }

    fn open_inner(
        &mut self,
        start: NodeRef,
        path: &[u8],
        opts: &OpenOptions,
        links: &mut u32,
    ) -> Result<(NodeRef, bool)> {
        if !opts.create {
            let node = self.walk(start, path, !opts.nofollow, links)?;
            self.open_existing(node, opts)?;
            return Ok((node, false));
        }
        let p = self.walk_parent(start, path, links)?;
        if p.trailing_slash {
            // open_last_lookups: O_CREAT and a trailing slash is EISDIR.
            return Err(FsError::IsDir);
        }
        let Last::Name(name) = &p.last else {
            let node = self.last_node(p.dir, &p.last)?;
            self.open_existing(node, opts)?;
            return Ok((node, false));
        };
        match self.fs(p.dir.mount)?.lookup(p.dir.ino, name) {
            Ok(ino) => {
                if opts.exclusive {
                    // POSIX open(): "If O_CREAT and O_EXCL are set, and path names a symbolic
                    // link, open() shall fail and set errno to [EEXIST], regardless of the
                    // contents of the symbolic link."
                    return Err(FsError::Exists);
                }
                let node = self.cross(NodeRef {
                    mount: p.dir.mount,
                    ino,
                });
                if !opts.nofollow && self.kind(node)? == FileType::Symlink {
                    *links += 1;
                    if *links > MAX_SYMLINKS {
                        return Err(FsError::Loop);
                    }
                    // O_CREAT through a symlink (dangling or not) opens or creates its target.
                    let target = self.fs(node.mount)?.readlink(node.ino)?;
                    return self.open_inner(p.dir, &target, opts, links);
                }
                self.open_existing(node, opts)?;
                Ok((node, false))
            }
            Err(FsError::NotFound) => {
                self.check_writable(p.dir.mount)?;
                let ino = self.fs_mut(p.dir.mount)?.create(
                    p.dir.ino,
                    name,
                    FileType::Regular,
                    opts.mode & 0o7777,
                    (0, 0),
                )?;
                Ok((
                    NodeRef {
                        mount: p.dir.mount,
                        ino,
                    },
                    true,
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// The checks of `do_open` and `may_open` for an existing node, then `O_TRUNC`.
    fn open_existing(&mut self, node: NodeRef, opts: &OpenOptions) -> Result<()> {
        let kind = self.kind(node)?;
        if opts.create && kind == FileType::Directory {
            return Err(FsError::IsDir);
        }
        if opts.directory && kind != FileType::Directory {
            return Err(FsError::NotDir);
        }
        if kind == FileType::Symlink {
            return Err(FsError::Loop);
        }
        let writes = opts.write || opts.truncate;
        if writes && kind == FileType::Directory {
            return Err(FsError::IsDir);
        }
        // sb_permission: EROFS only for regular files, directories and symlinks; a device
        // or FIFO on a read-only mount can still be written.
        if writes && kind == FileType::Regular {
            self.check_writable(node.mount)?;
        }
        if opts.truncate && kind == FileType::Regular {
            self.fs_mut(node.mount)?.truncate(node.ino, 0)?;
        }
        Ok(())
    }

    /// `stat`/`lstat` of a path.
    ///
    /// # Errors
    ///
    /// Walk errors.
    pub fn stat_at(&self, start: NodeRef, path: &[u8], follow: bool) -> Result<Stat> {
        let node = self.resolve(start, path, follow)?;
        self.stat(node)
    }

    /// `mkdir`.
    ///
    /// # Errors
    ///
    /// `Exists` (also for `.`, `..`, `/`), `ReadOnly`, walk errors.
    pub fn mkdir(&mut self, start: NodeRef, path: &[u8], mode: u32) -> Result<NodeRef> {
        let p = self.walk_parent(start, path, &mut 0)?;
        let Last::Name(name) = &p.last else {
            return Err(FsError::Exists);
        };
        let ino = self.fs_mut(p.dir.mount)?.mkdir(p.dir.ino, name, mode)?;
        Ok(NodeRef {
            mount: p.dir.mount,
            ino,
        })
    }

    /// `mknod`: a regular file, FIFO, socket or device node.
    ///
    /// # Errors
    ///
    /// `NotPermitted` for a directory kind (`may_mknod`), `Invalid` for a symlink kind,
    /// `Exists`, `NotFound` (a trailing `/`), `ReadOnly`, walk errors.
    pub fn mknod(
        &mut self,
        start: NodeRef,
        path: &[u8],
        kind: FileType,
        mode: u32,
        rdev: (u32, u32),
    ) -> Result<NodeRef> {
        match kind {
            FileType::Directory => return Err(FsError::NotPermitted),
            FileType::Symlink => return Err(FsError::Invalid),
            _ => {}
        }
        let (dir, name) = self.new_name(start, path)?;
        let ino = self
            .fs_mut(dir.mount)?
            .create(dir.ino, &name, kind, mode, rdev)?;
        Ok(NodeRef {
            mount: dir.mount,
            ino,
        })
    }

    /// `filename_create` for non-directories: the directory and a name that must not exist.
    fn new_name(&self, start: NodeRef, path: &[u8]) -> Result<(NodeRef, Vec<u8>)> {
        let p = self.walk_parent(start, path, &mut 0)?;
        let Last::Name(name) = p.last else {
            return Err(FsError::Exists);
        };
        if self.child(p.dir, &name).is_ok() {
            return Err(FsError::Exists);
        }
        if p.trailing_slash {
            // A new non-directory name cannot end in a slash.
            return Err(FsError::NotFound);
        }
        Ok((p.dir, name))
    }

    /// `symlink(target, path)`.
    ///
    /// # Errors
    ///
    /// `Exists`, `NotFound` (empty target, trailing `/`), `ReadOnly`, walk errors.
    pub fn symlink(&mut self, target: &[u8], start: NodeRef, path: &[u8]) -> Result<NodeRef> {
        let (dir, name) = self.new_name(start, path)?;
        let ino = self.fs_mut(dir.mount)?.symlink(dir.ino, &name, target)?;
        Ok(NodeRef {
            mount: dir.mount,
            ino,
        })
    }

    /// `rmdir`.
    ///
    /// # Errors
    ///
    /// `Invalid` for `.`, `NotEmpty` for `..`, `Busy` for `/` or a mount point,
    /// `ReadOnly`, `NotDir`, `NotEmpty`, walk errors.
    pub fn rmdir(&mut self, start: NodeRef, path: &[u8]) -> Result<()> {
        let p = self.walk_parent(start, path, &mut 0)?;
        let name = match &p.last {
            Last::Name(name) => name,
            Last::Dot => return Err(FsError::Invalid),
            Last::DotDot => return Err(FsError::NotEmpty),
            Last::Root => return Err(FsError::Busy),
        };
        self.check_writable(p.dir.mount)?;
        let child = self.child(p.dir, name)?;
        if self.covered.contains_key(&child) {
            return Err(FsError::Busy);
        }
        self.fs_mut(p.dir.mount)?.rmdir(p.dir.ino, name)
    }

    /// `unlink`.
    ///
    /// # Errors
    ///
    /// `IsDir` (a directory, `.`, `..`, `/`), `NotDir` (a non-directory named with a trailing
    /// `/`), `Busy` (a mount point), `ReadOnly`, `NotFound`, walk errors.
    pub fn unlink(&mut self, start: NodeRef, path: &[u8]) -> Result<()> {
        let p = self.walk_parent(start, path, &mut 0)?;
        let Last::Name(name) = &p.last else {
            return Err(FsError::IsDir);
        };
        self.check_writable(p.dir.mount)?;
        let child = self.child(p.dir, name)?;
        let kind = self.kind(child)?;
        if kind == FileType::Directory {
            return Err(FsError::IsDir);
        }
        if p.trailing_slash {
            return Err(FsError::NotDir);
        }
        if self.covered.contains_key(&child) {
            return Err(FsError::Busy);
        }
        self.fs_mut(p.dir.mount)?.unlink(p.dir.ino, name)
    }

    /// `rename(old, new)` (see [`crate::fs`] for the rules within a file system).
    ///
    /// # Errors
    ///
    /// `CrossDevice` (different mounts), `Busy` (`.`, `..`, `/`, a mount point),
    /// `ReadOnly`, `NotDir` (a non-directory with a trailing `/`), the file system's errors,
    /// walk errors.
    pub fn rename(
        &mut self,
        old_start: NodeRef,
        old_path: &[u8],
        new_start: NodeRef,
        new_path: &[u8],
    ) -> Result<()> {
        let op = self.walk_parent(old_start, old_path, &mut 0)?;
        let np = self.walk_parent(new_start, new_path, &mut 0)?;
        // do_renameat2: EXDEV, then EBUSY for non-names, then EROFS.
        if op.dir.mount != np.dir.mount {
            return Err(FsError::CrossDevice);
        }
        let (Last::Name(oname), Last::Name(nname)) = (&op.last, &np.last) else {
            return Err(FsError::Busy);
        };
        self.check_writable(op.dir.mount)?;
        let src = self.child(op.dir, oname)?;
        if (op.trailing_slash || np.trailing_slash) && self.kind(src)? != FileType::Directory {
            return Err(FsError::NotDir);
        }
        let dst = self.child(np.dir, nname).ok();
        if self.covered.contains_key(&src) || dst.is_some_and(|d| self.covered.contains_key(&d)) {
            return Err(FsError::Busy);
        }
        self.fs_mut(op.dir.mount)?
            .rename(op.dir.ino, oname, np.dir.ino, nname)
    }

    /// `linkat(old, new)`; `follow`: `AT_SYMLINK_FOLLOW`.
    ///
    /// # Errors
    ///
    /// `Exists`, `NotFound` (a trailing `/`), `ReadOnly`, `CrossDevice`, `NotPermitted` (a
    /// directory), walk errors.
    pub fn link(
        &mut self,
        old_start: NodeRef,
        old_path: &[u8],
        new_start: NodeRef,
        new_path: &[u8],
        follow: bool,
    ) -> Result<()> {
        let old = self.resolve(old_start, old_path, follow)?;
        let (dir, name) = self.new_name(new_start, new_path)?;
        self.check_writable(dir.mount)?;
        if old.mount != dir.mount {
            return Err(FsError::CrossDevice);
        }
        self.fs_mut(dir.mount)?.link(old.ino, dir.ino, &name)
    }

    /// `readlink` of a path (the last component not followed).
    ///
    /// # Errors
    ///
    /// `NotSymlink` (`EINVAL`) for another kind, walk errors.
    pub fn readlink_at(&self, start: NodeRef, path: &[u8]) -> Result<Vec<u8>> {
        let node = self.resolve(start, path, false)?;
        self.readlink(node)
    }

    /// The target of a symlink node.
    ///
    /// # Errors
    ///
    /// `NotSymlink`.
    pub fn readlink(&self, node: NodeRef) -> Result<Vec<u8>> {
        self.fs(node.mount)?.readlink(node.ino)
    }

    /// `stat` of a node, with the mount's `st_dev`.
    ///
    /// # Errors
    ///
    /// `NotFound` for a freed inode.
    pub fn stat(&self, node: NodeRef) -> Result<Stat> {
        let mut st = self.fs(node.mount)?.stat(node.ino)?;
        st.dev = self.dev_of(node);
        Ok(st)
    }

    /// Reads a regular file (see [`FileSystem::read`]).
    ///
    /// # Errors
    ///
    /// As [`FileSystem::read`].
    pub fn read(&mut self, node: NodeRef, off: u64, buf: &mut [u8]) -> Result<usize> {
        self.fs_mut(node.mount)?.read(node.ino, off, buf)
    }

    /// Writes a regular file (see [`FileSystem::write`]).
    ///
    /// # Errors
    ///
    /// As [`FileSystem::write`].
    pub fn write(&mut self, node: NodeRef, off: u64, data: &[u8]) -> Result<usize> {
        self.fs_mut(node.mount)?.write(node.ino, off, data)
    }

    /// Sets a regular file's size.
    ///
    /// # Errors
    ///
    /// As [`FileSystem::truncate`].
    pub fn truncate(&mut self, node: NodeRef, len: u64) -> Result<()> {
        self.fs_mut(node.mount)?.truncate(node.ino, len)
    }

    /// Lists a directory (see [`crate::fs`] for the order and the cursor).
    ///
    /// # Errors
    ///
    /// As [`FileSystem::readdir`].
    pub fn readdir(
        &mut self,
        node: NodeRef,
        after: Option<&[u8]>,
        max: usize,
    ) -> Result<Vec<DirEntry>> {
        self.fs_mut(node.mount)?.readdir(node.ino, after, max)
    }

    /// `chmod`/`chown`/`utimensat` of a node.
    ///
    /// # Errors
    ///
    /// As [`FileSystem::set_attr`].
    pub fn set_attr(&mut self, node: NodeRef, attr: &SetAttr) -> Result<()> {
        self.fs_mut(node.mount)?.set_attr(node.ino, attr)
    }

    /// `statfs` of the mount a node is on.
    ///
    /// # Errors
    ///
    /// `Invalid` for an unknown mount.
    pub fn statfs(&self, node: NodeRef) -> Result<StatFs> {
        Ok(self.fs(node.mount)?.statfs())
    }

    /// `fsync`.
    ///
    /// # Errors
    ///
    /// As [`FileSystem::sync`].
    pub fn sync(&mut self, node: NodeRef) -> Result<()> {
        self.fs_mut(node.mount)?.sync(node.ino)
    }

    /// Takes an open reference (an open file, a cwd).
    ///
    /// # Errors
    ///
    /// As [`FileSystem::retain`].
    pub fn retain(&mut self, node: NodeRef) -> Result<()> {
        self.fs_mut(node.mount)?.retain(node.ino)
    }

    /// Drops an open reference.
    ///
    /// # Errors
    ///
    /// As [`FileSystem::release`].
    pub fn release(&mut self, node: NodeRef) -> Result<()> {
        self.fs_mut(node.mount)?.release(node.ino)
    }

    /// The absolute path of a directory (`getcwd`), across mounts.
    ///
    /// # Errors
    ///
    /// `NotDir` for a non-directory (files may have several names or none), `NotFound` for
    /// a removed directory (Linux's getcwd says `ENOENT`), `NoMemory`.
    pub fn path_of(&mut self, node: NodeRef) -> Result<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut cur = node;
        // Every step goes up one level or out of one mount.
        let mut budget = 1usize << 16;
        loop {
            budget = budget.checked_sub(1).ok_or(FsError::Loop)?;
            let m = self.mount_of(cur.mount)?;
            if cur.ino == m.root {
                match m.mountpoint {
                    Some(mp) => {
                        cur = mp;
                        continue;
                    }
                    None => break,
                }
            }
            let st = self.fs(cur.mount)?.stat(cur.ino)?;
            if st.kind != FileType::Directory {
                return Err(FsError::NotDir);
            }
            if st.nlink == 0 {
                return Err(FsError::NotFound);
            }
            let parent = NodeRef {
                mount: cur.mount,
                ino: self.fs(cur.mount)?.parent(cur.ino)?,
            };
            names.try_reserve(1).map_err(|_| FsError::NoMemory)?;
            names.push(self.name_in(parent, cur.ino)?);
            cur = parent;
        }
        let mut path = Vec::new();
        let len = names.iter().map(|n| n.len() + 1).sum::<usize>().max(1);
        path.try_reserve_exact(len).map_err(|_| FsError::NoMemory)?;
        for name in names.iter().rev() {
            path.push(b'/');
            path.extend_from_slice(name);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        Ok(path)
    }

    /// The name of `ino` in directory `dir` (a reverse lookup over its listing; like any
    /// listing it may refresh the directory's atime under relatime).
    fn name_in(&mut self, dir: NodeRef, ino: Ino) -> Result<Vec<u8>> {
        let mut after: Option<Vec<u8>> = Some(b"..".to_vec());
        loop {
            let page = self.readdir(dir, after.as_deref(), 64)?;
            let Some(last) = page.last() else {
                return Err(FsError::NotFound);
            };
            if let Some(e) = page.iter().find(|e| e.ino == ino) {
                return Ok(e.name.clone());
            }
            after = Some(last.name.clone());
        }
    }

    /// Whether `node` is the root of a mount (the root mount included).
    ///
    /// # Errors
    ///
    /// `Invalid` for an unknown mount.
    pub fn is_root_of_mount(&self, node: NodeRef) -> Result<bool> {
        self.is_mount_root(node)
    }
}

#[cfg(test)]
mod tests;
