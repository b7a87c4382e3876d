//! The inode-level operations one mounted file system offers.
//!
//! [`FileSystem`] works on inode numbers and single names; it knows nothing of paths,
//! mounts or open files. [`crate::Vfs`] walks paths over it. Names passed in are one path
//! component: never empty, no `/`, no NUL (those are `Invalid`); `.` and `..` are handled by
//! the `Vfs`, and a file system given them answers as Linux would for the operation
//! (`Exists` for create, `IsDir` for unlink, `Busy` for rename).
//!
//! Contract shared by all implementations, from POSIX and Linux's tmpfs:
//!
//! - Directory listings ([`FileSystem::readdir`]) give `.` and `..` first, then the entries
//!   in ascending byte order of their names. `after` names the last entry already seen:
//!   `None` starts at `.`, `Some(b".")` continues at `..`, `Some(b"..")` at the first real
//!   entry, any other name at the first real entry greater than it (it need not exist any
//!   more, so a listing survives entries being removed under it; entries added behind the
//!   cursor are not seen, which POSIX allows).
//! - `rename` follows POSIX `rename()` and Linux: the same inode under both names is a
//!   successful no-op; a directory over a non-directory is `NotDir`, a non-directory over a
//!   directory `IsDir`, a directory over a non-empty directory `NotEmpty`; a directory
//!   into its own subtree `Invalid`.
//! - An inode lives while it has a name or an open reference ([`FileSystem::retain`]); after
//!   its last name is gone it can still be read and written through the reference, and its
//!   memory is freed at the last [`FileSystem::release`].
//! - A read-only file system refuses every change with `ReadOnly`, after the checks Linux
//!   makes first (`mkdir` of an existing name is `Exists`).

use alloc::vec::Vec;

use crate::error::Result;
use crate::types::{DirEntry, FileType, Ino, SetAttr, Stat, StatFs};

/// `NAME_MAX`: the longest name of one path component, in bytes.
pub const NAME_MAX: usize = 255;
/// `PATH_MAX`: paths must be shorter than this (it counts the terminating NUL).
pub const PATH_MAX: usize = 4096;
/// How many symlinks one path walk may follow (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// Checks one name given to a create/lookup: not empty, no `/` or NUL, at most
/// [`NAME_MAX`] bytes.
///
/// # Errors
///
/// `Invalid` for an empty name or one with `/` or NUL, `NameTooLong` past `NAME_MAX`.
pub fn check_name(name: &[u8]) -> Result<()> {
    use crate::error::FsError;
    if name.is_empty() || name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(FsError::Invalid);
    }
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    Ok(())
}

/// One file system: inode-level operations (see the module docs for the contract).
pub trait FileSystem: Send {
    /// The root directory's inode.
    fn root(&self) -> Ino;

    /// The inode named `name` in directory `dir` (`.` and `..` give `dir` and its parent).
    ///
    /// # Errors
    ///
    /// `NotDir` if `dir` is not a directory, `NotFound` if there is no such name (or `dir`
    /// was removed).
    fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Ino>;

    /// The node's attributes (`st_dev` 0).
    ///
    /// # Errors
    ///
    /// `NotFound` for an inode that does not exist (or was freed).
    fn stat(&self, ino: Ino) -> Result<Stat>;

    /// Reads from a regular file at `off` into `buf`; 0 at or past the end. Holes read as
    /// zeros. Updates the access time (relatime) unless the file system is read-only.
    ///
    /// # Errors
    ///
    /// `IsDir` for a directory, `Invalid` for other non-regular nodes.
    fn read(&mut self, ino: Ino, off: u64, buf: &mut [u8]) -> Result<usize>;

    /// Writes `data` to a regular file at `off`, growing it; returns the bytes written,
    /// fewer than `data.len()` only when the size limit was reached part way.
    ///
    /// # Errors
    ///
    /// `ReadOnly`, `NoSpace` (nothing fitted), `NoMemory`, `FileTooBig` (`off` at or past
    /// the maximum file size), `IsDir`/`Invalid` for non-regular nodes.
    fn write(&mut self, ino: Ino, off: u64, data: &[u8]) -> Result<usize>;

    /// Sets a regular file's size; growing leaves a hole that reads as zeros.
    ///
    /// # Errors
    ///
    /// `ReadOnly`, `FileTooBig`, `NoSpace`/`NoMemory`, `IsDir`/`Invalid` for non-regular
    /// nodes.
    fn truncate(&mut self, ino: Ino, len: u64) -> Result<()>;

    /// Creates a regular file, FIFO, socket or device node `name` in `dir` (`mknod`).
    /// `mode` is the permission bits (the caller applied the umask); `rdev` is
    /// (major, minor) for devices.
    ///
    /// # Errors
    ///
    /// `Exists`, `NotDir`, `NotFound` (removed `dir`), `ReadOnly`, `Invalid` for
    /// `Directory`/`Symlink` kinds, `NameTooLong`, `NoMemory`.
    fn create(
        &mut self,
        dir: Ino,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: (u32, u32),
    ) -> Result<Ino>;

    /// Creates directory `name` in `dir`.
    ///
    /// # Errors
    ///
    /// As [`FileSystem::create`], and `TooManyLinks` if `dir`'s link count would overflow.
    fn mkdir(&mut self, dir: Ino, name: &[u8], mode: u32) -> Result<Ino>;

    /// Creates symlink `name` in `dir` pointing at `target`.
    ///
    /// # Errors
    ///
    /// As [`FileSystem::create`]; `NotFound` for an empty target, `NameTooLong` for one of
    /// [`PATH_MAX`] bytes or more.
    fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8]) -> Result<Ino>;

    /// Adds the name `name` in `dir` for the existing inode `ino` (a hard link).
    ///
    /// # Errors
    ///
    /// `NotPermitted` for a directory, `NotFound` for an inode without names, `Exists`,
    /// `TooManyLinks`, `ReadOnly`.
    fn link(&mut self, ino: Ino, dir: Ino, name: &[u8]) -> Result<()>;

    /// Removes the name `name` (not a directory) from `dir`.
    ///
    /// # Errors
    ///
    /// `IsDir` for a directory, `NotFound`, `ReadOnly`.
    fn unlink(&mut self, dir: Ino, name: &[u8]) -> Result<()>;

    /// Removes the empty directory `name` from `dir`.
    ///
    /// # Errors
    ///
    /// `NotDir`, `NotEmpty`, `NotFound`, `ReadOnly`; `Invalid` for `.`, `NotEmpty` for `..`.
    fn rmdir(&mut self, dir: Ino, name: &[u8]) -> Result<()>;

    /// Moves `oname` in `odir` to `nname` in `ndir`, replacing what was there (see the module
    /// docs for the rules).
    ///
    /// # Errors
    ///
    /// `NotFound`, `NotDir`, `IsDir`, `NotEmpty`, `Invalid`, `Busy` (`.`/`..`), `ReadOnly`.
    fn rename(&mut self, odir: Ino, oname: &[u8], ndir: Ino, nname: &[u8]) -> Result<()>;

    /// The target of a symlink.
    ///
    /// # Errors
    ///
    /// `NotSymlink` for any other node.
    fn readlink(&self, ino: Ino) -> Result<Vec<u8>>;

    /// Up to `max` entries of directory `dir` after `after` (see the module docs for the
    /// order). An empty result is the end.
    ///
    /// # Errors
    ///
    /// `NotDir`, `NotFound` for a removed directory.
    fn readdir(&mut self, dir: Ino, after: Option<&[u8]>, max: usize) -> Result<Vec<DirEntry>>;

    /// The parent of directory `dir` (the root is its own parent).
    ///
    /// # Errors
    ///
    /// `NotDir` for a non-directory.
    fn parent(&self, dir: Ino) -> Result<Ino>;

    /// Changes mode, owner and times (`chmod`, `chown`, `utimensat`); ctime becomes now.
    ///
    /// # Errors
    ///
    /// `ReadOnly`, `NotFound`.
    fn set_attr(&mut self, ino: Ino, attr: &SetAttr) -> Result<()>;

    /// The file system's totals.
    fn statfs(&self) -> StatFs;

    /// Writes the node's data to its backing store (`fsync`); memory has none.
    ///
    /// # Errors
    ///
    /// `NotFound`.
    fn sync(&mut self, ino: Ino) -> Result<()>;

    /// Takes an open reference on the inode: it outlives its names until [`Self::release`].
    ///
    /// # Errors
    ///
    /// `NotFound`.
    fn retain(&mut self, ino: Ino) -> Result<()>;

    /// Drops an open reference; an inode without names or references is freed.
    ///
    /// # Errors
    ///
    /// `NotFound`; `Invalid` if there was no reference to drop.
    fn release(&mut self, ino: Ino) -> Result<()>;

    /// Whether the file system refuses changes (`MS_RDONLY`).
    fn is_read_only(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FsError;

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name(b""), Err(FsError::Invalid));
        assert_eq!(check_name(b"a/b"), Err(FsError::Invalid));
        assert_eq!(check_name(b"a\0"), Err(FsError::Invalid));
        assert_eq!(check_name(&[b'x'; 255]), Ok(()));
        assert_eq!(check_name(&[b'x'; 256]), Err(FsError::NameTooLong));
    }
}
