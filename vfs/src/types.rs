//! Plain data the file-system operations take and return: inode numbers, kinds, `stat`.
//!
//! These mirror Linux's `struct stat`, `struct statfs` and `struct linux_dirent64` closely
//! enough that `libc-shim` only has to copy fields; they are not the ABI structs themselves.

use alloc::vec::Vec;

/// An inode number, unique within one file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ino(pub u64);

/// The kind of a node (`S_IFMT` bits of `st_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileType {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// `S_IFLNK`.
    Symlink,
    /// `S_IFCHR`.
    CharDevice,
    /// `S_IFBLK`.
    BlockDevice,
    /// `S_IFIFO`.
    Fifo,
    /// `S_IFSOCK`.
    Socket,
}

/// `S_IFMT`: the file-type bits of a mode.
pub const S_IFMT: u32 = 0o170_000;

impl FileType {
    /// The `S_IF*` bits of this kind, to be or-ed with the permission bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Socket => 0o140_000,
            FileType::Symlink => 0o120_000,
            FileType::Regular => 0o100_000,
            FileType::BlockDevice => 0o060_000,
            FileType::Directory => 0o040_000,
            FileType::CharDevice => 0o020_000,
            FileType::Fifo => 0o010_000,
        }
    }

    /// The kind named by the `S_IFMT` bits of `mode`, if they name one.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        match mode & S_IFMT {
            0o140_000 => Some(FileType::Socket),
            0o120_000 => Some(FileType::Symlink),
            0o100_000 => Some(FileType::Regular),
            0o060_000 => Some(FileType::BlockDevice),
            0o040_000 => Some(FileType::Directory),
            0o020_000 => Some(FileType::CharDevice),
            0o010_000 => Some(FileType::Fifo),
            _ => None,
        }
    }

    /// The `d_type` value of `getdents64` (`DT_REG`, `DT_DIR`...).
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Fifo => 1,
            FileType::CharDevice => 2,
            FileType::Directory => 4,
            FileType::BlockDevice => 6,
            FileType::Regular => 8,
            FileType::Symlink => 10,
            FileType::Socket => 12,
        }
    }
}

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timespec {
    /// Seconds since 1970-01-01 00:00 UTC (negative before).
    pub sec: i64,
    /// Nanoseconds, below 1_000_000_000.
    pub nsec: u32,
}

impl Timespec {
    /// The epoch itself: the time a file system without a clock gives everything.
    pub const ZERO: Timespec = Timespec { sec: 0, nsec: 0 };
}

/// What `stat` reports about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `st_dev`: the device number of the mount (0 from a file system; [`crate::Vfs::stat`]
    /// fills in the mount's number).
    pub dev: u64,
    /// `st_ino`.
    pub ino: Ino,
    /// The kind (`st_mode & S_IFMT`).
    pub kind: FileType,
    /// The permission bits only (`st_mode & 0o7777`).
    pub mode: u32,
    /// `st_nlink`.
    pub nlink: u32,
    /// `st_uid`.
    pub uid: u32,
    /// `st_gid`.
    pub gid: u32,
    /// `st_size`: bytes of a file, the target length of a symlink.
    pub size: u64,
    /// `st_blocks`: 512-byte units of memory the node holds.
    pub blocks: u64,
    /// `st_blksize`: the preferred I/O size.
    pub blksize: u32,
    /// `st_rdev` of a device node: (major, minor).
    pub rdev: (u32, u32),
    /// `st_atime`: last access.
    pub atime: Timespec,
    /// `st_mtime`: last change of the contents.
    pub mtime: Timespec,
    /// `st_ctime`: last change of the inode.
    pub ctime: Timespec,
}

impl Stat {
    /// `st_mode`: the kind bits and the permission bits.
    pub fn st_mode(&self) -> u32 {
        self.kind.mode_bits() | self.mode
    }
}

/// A time to set with [`SetAttr`] (`utimensat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSet {
    /// `UTIME_NOW`: the file system's clock.
    Now,
    /// This time.
    At(Timespec),
}

/// The attributes `chmod`, `chown` and `utimensat` change; `None` leaves one alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetAttr {
    /// New permission bits (masked to 0o7777).
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New access time.
    pub atime: Option<TimeSet>,
    /// New modification time.
    pub mtime: Option<TimeSet>,
}

/// What `statfs` reports about a file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// `f_type`: the file system's magic number (`TMPFS_MAGIC`...).
    pub magic: u64,
    /// `f_bsize`: the block size.
    pub bsize: u32,
    /// `f_blocks`: total blocks (0: no limit, as Linux's ramfs and unlimited tmpfs say).
    pub blocks: u64,
    /// `f_bfree`: free blocks.
    pub bfree: u64,
    /// `f_bavail`: free blocks for unprivileged users (the same here).
    pub bavail: u64,
    /// `f_files`: total inodes (0: no limit).
    pub files: u64,
    /// `f_ffree`: free inodes.
    pub ffree: u64,
    /// `f_namelen`: the longest name.
    pub namelen: u32,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's inode number.
    pub ino: Ino,
    /// The entry's kind (`d_type`).
    pub kind: FileType,
    /// The name, without a trailing NUL.
    pub name: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits_round_trip() {
        for k in [
            FileType::Regular,
            FileType::Directory,
            FileType::Symlink,
            FileType::CharDevice,
            FileType::BlockDevice,
            FileType::Fifo,
            FileType::Socket,
        ] {
            assert_eq!(FileType::from_mode(k.mode_bits() | 0o644), Some(k));
        }
        assert_eq!(FileType::from_mode(0o644), None);
        assert_eq!(FileType::from_mode(0o170_000), None);
    }
}
