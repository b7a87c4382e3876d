//! Errors of file-system operations, one variant per Linux errno they become.
//!
//! `libc-shim` turns a [`FsError`] into the errno a system call returns; each variant's doc
//! names that errno, and [`FsError::errno`] gives its number (asm-generic/errno-base.h and
//! errno.h, the x86_64 values).

use core::fmt;

use crate::cpio::CpioError;

/// The result of a file-system operation.
pub type Result<T, E = FsError> = core::result::Result<T, E>;

/// Why a file-system operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// `ENOENT`: no such file or directory (also: an empty path, a removed directory).
    NotFound,
    /// `EEXIST`: the name already exists.
    Exists,
    /// `ENOTDIR`: a path component, or the target of a directory operation, is not a directory.
    NotDir,
    /// `EISDIR`: the operation needs a non-directory (`unlink`, writing, `O_CREAT` on a dir).
    IsDir,
    /// `ENOTEMPTY`: the directory has entries.
    NotEmpty,
    /// `EROFS`: the file system is mounted read-only.
    ReadOnly,
    /// `ENOSPC`: the operation would take the file system past its size limit (bytes).
    NoSpace {
        /// The file system's size limit in bytes.
        limit: u64,
    },
    /// `ENOMEM`: allocating memory for the operation failed.
    NoMemory,
    /// `ENAMETOOLONG`: a component is longer than 255 bytes or a path longer than 4095.
    NameTooLong,
    /// `ELOOP`: more than 40 symlinks in one walk, or `O_NOFOLLOW` met a symlink.
    Loop,
    /// `EINVAL`: an invalid argument (a directory into its own subtree, `rmdir(".")`...).
    Invalid,
    /// `EXDEV`: `rename` or `link` across mounts.
    CrossDevice,
    /// `EBUSY`: a mount point or root is in use (`rmdir`/`rename` of a mount point).
    Busy,
    /// `EMLINK`: the link count would overflow.
    TooManyLinks,
    /// `EINVAL` (from `readlink`): the node is not a symlink.
    NotSymlink,
    /// `EFBIG`: the file would grow past the maximum file size.
    FileTooBig,
    /// `EPERM`: the operation is not permitted on this kind of node (`link` of a directory).
    NotPermitted,
    /// `EINVAL` (boot only): the cpio archive could not be loaded.
    BadArchive(CpioError),
}

impl FsError {
    /// The Linux errno value (positive) this error becomes.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => 2,
            FsError::Exists => 17,
            FsError::NotDir => 20,
            FsError::IsDir => 21,
            FsError::NotEmpty => 39,
            FsError::ReadOnly => 30,
            FsError::NoSpace { .. } => 28,
            FsError::NoMemory => 12,
            FsError::NameTooLong => 36,
            FsError::Loop => 40,
            FsError::Invalid | FsError::NotSymlink | FsError::BadArchive(_) => 22,
            FsError::CrossDevice => 18,
            FsError::Busy => 16,
            FsError::TooManyLinks => 31,
            FsError::FileTooBig => 27,
            FsError::NotPermitted => 1,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("no such file or directory"),
            FsError::Exists => f.write_str("file exists"),
            FsError::NotDir => f.write_str("not a directory"),
            FsError::IsDir => f.write_str("is a directory"),
            FsError::NotEmpty => f.write_str("directory not empty"),
            FsError::ReadOnly => f.write_str("read-only file system"),
            FsError::NoSpace { limit } => {
                write!(f, "no space left on device (limit {limit} bytes)")
            }
            FsError::NoMemory => f.write_str("out of memory"),
            FsError::NameTooLong => f.write_str("file name too long"),
            FsError::Loop => f.write_str("too many levels of symbolic links"),
            FsError::Invalid => f.write_str("invalid argument"),
            FsError::CrossDevice => f.write_str("invalid cross-device link"),
            FsError::Busy => f.write_str("device or resource busy"),
            FsError::TooManyLinks => f.write_str("too many links"),
            FsError::NotSymlink => f.write_str("not a symbolic link"),
            FsError::FileTooBig => f.write_str("file too large"),
            FsError::NotPermitted => f.write_str("operation not permitted"),
            FsError::BadArchive(e) => write!(f, "bad cpio archive: {e}"),
        }
    }
}

impl core::error::Error for FsError {}

impl From<CpioError> for FsError {
    fn from(e: CpioError) -> Self {
        FsError::BadArchive(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn errno_values_are_linux_x86_64() {
        assert_eq!(FsError::NotFound.errno(), 2);
        assert_eq!(FsError::NoSpace { limit: 1 }.errno(), 28);
        assert_eq!(FsError::Loop.errno(), 40);
        assert_eq!(FsError::NotEmpty.errno(), 39);
        assert_eq!(FsError::NotSymlink.errno(), 22);
    }

    #[test]
    fn display_names_the_limit() {
        assert_eq!(
            FsError::NoSpace { limit: 4096 }.to_string(),
            "no space left on device (limit 4096 bytes)"
        );
    }
}
