//! Loading a `newc` cpio archive (the initramfs format) into a [`MemFs`].
//!
//! Format (Linux `Documentation/driver-api/early-userspace/buffer-format.rst`, GNU cpio
//! `copyin.c`): each entry is a 110-byte ASCII header, magic `070701` (`newc`) or `070702`
//! (`crc`, whose checksum we ignore as Linux's initramfs unpacker does), then 13 fields of 8
//! hex digits (`ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
//! namesize check`), then the NUL-terminated name padded so the data starts 4-aligned
//! (counted from the header), then the data padded to 4. `TRAILER!!!` ends an archive; like
//! Linux we accept NUL padding and further archives after it.
//!
//! The archive is untrusted input: every offset and length is checked, a malformed archive
//! is a [`CpioError`] naming where it went wrong, never a panic. Regular file data is not
//! copied: the files borrow it from `archive` (the boot image).
//!
//! What each entry becomes follows Linux's initramfs unpacker (`init/initramfs.c`): a name
//! may start with `./` or `/`; a missing parent directory is created (mode 0755; Linux would
//! fail the entry instead); an entry whose name exists replaces it, except a directory over a
//! directory, which only updates mode, owner and time; non-directories with `nlink >= 2` and
//! the same `(devmajor, devminor, ino)` are hard links to the first one, and the data may
//! come on any of them (GNU cpio puts it on the last); directory mtimes are set at the end,
//! after their entries were added. A `..` component is refused ([`CpioError::UnsafePath`]).
//! ctime is the file system's clock at load time, as on Linux.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::error::FsError;
use crate::fs::{FileSystem, PATH_MAX};
use crate::memfs::MemFs;
use crate::types::{FileType, Ino, SetAttr, TimeSet, Timespec};

/// Bytes of a `newc` header.
const HEADER_LEN: usize = 110;
const TRAILER: &[u8] = b"TRAILER!!!";
const FIELDS: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

/// Why an archive could not be loaded. Offsets are of the entry's header in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpioError {
    /// The archive ends inside the entry at `offset` (or before its `TRAILER!!!`).
    Truncated {
        /// Offset of the entry's header.
        offset: usize,
    },
    /// No `070701`/`070702` magic at `offset`.
    BadMagic {
        /// Offset of the bytes that should be a header.
        offset: usize,
    },
    /// A header field is not 8 hex digits, or holds an impossible value (an unknown file
    /// type in `mode`).
    BadHeader {
        /// Offset of the header.
        offset: usize,
        /// The field's name in the format (`"mode"`, `"filesize"`...).
        field: &'static str,
    },
    /// The name is empty, longer than `PATH_MAX`, not NUL-terminated, or has a NUL inside.
    BadName {
        /// Offset of the header.
        offset: usize,
    },
    /// The name has a `..` component.
    UnsafePath {
        /// The entry's name.
        name: Vec<u8>,
    },
    /// The file system refused the entry.
    Fs {
        /// The entry's name.
        name: Vec<u8>,
        /// What the file system said.
        error: Box<FsError>,
    },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::Truncated { offset } => {
                write!(f, "archive ends inside the entry at offset {offset}")
            }
            CpioError::BadMagic { offset } => write!(f, "no newc magic at offset {offset}"),
            CpioError::BadHeader { offset, field } => {
                write!(f, "bad {field} field in the header at offset {offset}")
            }
            CpioError::BadName { offset } => {
                write!(f, "bad name in the entry at offset {offset}")
            }
            CpioError::UnsafePath { name } => {
                write!(f, "'..' in entry {}", name.escape_ascii())
            }
            CpioError::Fs { name, error } => write!(f, "entry {}: {error}", name.escape_ascii()),
        }
    }
}

impl core::error::Error for CpioError {}

/// What an archive held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpioSummary {
    /// Entries read, `TRAILER!!!` not counted.
    pub entries: u64,
    /// Regular files created (not counting extra hard links).
    pub files: u64,
    /// Directories created or updated.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Device nodes, FIFOs and sockets.
    pub specials: u64,
    /// Names added as hard links to an earlier entry.
    pub hard_links: u64,
    /// Bytes of regular file data (borrowed from the archive).
    pub data_bytes: u64,
    /// Archives read (concatenated archives each end with `TRAILER!!!`).
    pub archives: u64,
}

/// One parsed header with its name and data.
struct Entry {
    offset: usize,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: u32,
    link_key: (u32, u32, u32),
    rdev: (u32, u32),
    /// The name without its NUL.
    name: &'static [u8],
    data: &'static [u8],
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

fn hex8(digits: &[u8], offset: usize, field: &'static str) -> Result<u32, CpioError> {
    let bad = CpioError::BadHeader { offset, field };
    if digits.len() != 8 {
        return Err(bad);
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = char::from(b).to_digit(16).ok_or_else(|| bad.clone())?;
        Ok((acc << 4) | d)
    })
}

/// Parses the entry at `offset`; returns it and the offset after its padded data.
fn parse_entry(archive: &'static [u8], offset: usize) -> Result<(Entry, usize), CpioError> {
    let truncated = CpioError::Truncated { offset };
    let header = offset
        .checked_add(HEADER_LEN)
        .and_then(|end| archive.get(offset..end))
        .ok_or_else(|| {
            // Fewer bytes than a header: a header that does not start with the magic is
            // corrupt, one that does was cut short.
            let rest = archive.get(offset..).unwrap_or_default();
            let n = rest.len().min(6);
            if rest.get(..n) == b"070701".get(..n) || rest.get(..n) == b"070702".get(..n) {
                truncated.clone()
            } else {
                CpioError::BadMagic { offset }
            }
        })?;
    let (magic, fields) = header.split_at(6);
    if magic != b"070701" && magic != b"070702" {
        return Err(CpioError::BadMagic { offset });
    }
    let mut v = [0u32; 13];
    for ((slot, digits), field) in v.iter_mut().zip(fields.chunks(8)).zip(FIELDS) {
        *slot = hex8(digits, offset, field)?;
    }
    let [
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        filesize,
        devmajor,
        devminor,
        rdevmajor,
        rdevminor,
        namesize,
        _check,
    ] = v;
    let namesize = namesize as usize;
    if namesize == 0 || namesize > PATH_MAX {
        return Err(CpioError::BadName { offset });
    }
    let name_start = offset + HEADER_LEN;
    let name_end = name_start.checked_add(namesize).ok_or(truncated.clone())?;
    let name = archive.get(name_start..name_end).ok_or(truncated.clone())?;
    let Some((&0, name)) = name.split_last() else {
        return Err(CpioError::BadName { offset });
    };
    if name.contains(&0) {
        return Err(CpioError::BadName { offset });
    }
    let data_start = align4(HEADER_LEN + namesize)
        .and_then(|n| offset.checked_add(n))
        .ok_or(truncated.clone())?;
    let data_end = data_start
        .checked_add(filesize as usize)
        .ok_or(truncated.clone())?;
    let data = archive.get(data_start..data_end).ok_or(truncated.clone())?;
    let next = align4(data_end - offset)
        .and_then(|n| offset.checked_add(n))
        .ok_or(truncated)?;
    let entry = Entry {
        offset,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        link_key: (devmajor, devminor, ino),
        rdev: (rdevmajor, rdevminor),
        name,
        data,
    };
    Ok((entry, next))
}

/// The name's components: `./` and `/` prefixes, empty and `.` components dropped.
fn components(name: &[u8]) -> Result<Vec<&[u8]>, CpioError> {
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(CpioError::UnsafePath {
                    name: name.to_vec(),
                });
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

struct Loader<'f> {
    fs: &'f mut MemFs,
    summary: CpioSummary,
    /// Non-directories with `nlink >= 2`, by `(devmajor, devminor, ino)`.
    links: BTreeMap<(u32, u32, u32), Ino>,
    /// Directory mtimes, set when everything is in.
    dir_times: Vec<(Ino, Timespec)>,
}

impl Loader<'_> {
    fn fs_err(name: &[u8], error: FsError) -> CpioError {
        CpioError::Fs {
            name: name.to_vec(),
            error: Box::new(error),
        }
    }

    /// The directory `comps` names, creating missing ones.
    fn parent(&mut self, name: &[u8], comps: &[&[u8]]) -> Result<Ino, CpioError> {
        let mut dir = self.fs.root();
        for c in comps {
            dir = match self.fs.lookup(dir, c) {
                Ok(ino) => ino,
                Err(FsError::NotFound) => self
                    .fs
                    .add_dir(dir, c, 0o755)
                    .map_err(|e| Self::fs_err(name, e))?,
                Err(e) => return Err(Self::fs_err(name, e)),
            };
            let kind = self.fs.stat(dir).map_err(|e| Self::fs_err(name, e))?.kind;
            if kind != FileType::Directory {
                return Err(Self::fs_err(name, FsError::NotDir));
            }
        }
        Ok(dir)
    }

    fn apply(&mut self, e: &Entry) -> Result<(), CpioError> {
        let kind = FileType::from_mode(e.mode).ok_or(CpioError::BadHeader {
            offset: e.offset,
            field: "mode",
        })?;
        let perm = e.mode & 0o7777;
        let mtime = Timespec {
            sec: i64::from(e.mtime),
            nsec: 0,
        };
        let comps = components(e.name)?;
        let err = |error| Self::fs_err(e.name, error);
        let Some((last, dirs)) = comps.split_last() else {
            // `.`: the root itself.
            if kind != FileType::Directory {
                return Err(err(FsError::NotDir));
            }
            let root = self.fs.root();
            self.set_attrs(root, e, kind, None)?;
            self.dir_times.push((root, mtime));
            self.summary.dirs += 1;
            return Ok(());
        };
        let dir = self.parent(e.name, dirs)?;
        if let Ok(old) = self.fs.lookup(dir, last) {
            let old_kind = self.fs.stat(old).map_err(err)?.kind;
            if old_kind == FileType::Directory && kind == FileType::Directory {
                self.set_attrs(old, e, kind, None)?;
                self.dir_times.push((old, mtime));
                self.summary.dirs += 1;
                return Ok(());
            }
            self.fs.force_remove(dir, last).map_err(err)?;
        }
        let linkable = kind != FileType::Directory && e.nlink >= 2;
        if linkable && let Some(&target) = self.links.get(&e.link_key) {
            let target_kind = self.fs.stat(target).map_err(err)?.kind;
            if target_kind == kind {
                self.fs.force_link(target, dir, last).map_err(err)?;
                if kind == FileType::Regular && !e.data.is_empty() {
                    self.fs.force_set_data(target, e.data).map_err(err)?;
                    self.summary.data_bytes += e.data.len() as u64;
                }
                self.set_attrs(target, e, kind, Some(mtime))?;
                self.summary.hard_links += 1;
                return Ok(());
            }
        }
        let ino = match kind {
            FileType::Regular => {
                self.summary.files += 1;
                self.summary.data_bytes += e.data.len() as u64;
                self.fs.add_file(dir, last, perm, e.data)
            }
            FileType::Directory => {
                self.summary.dirs += 1;
                self.fs.add_dir(dir, last, perm)
            }
            FileType::Symlink => {
                self.summary.symlinks += 1;
                self.fs.add_symlink(dir, last, e.data)
            }
            FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => {
                self.summary.specials += 1;
                self.fs.add_device(dir, last, kind, perm, e.rdev)
            }
        }
        .map_err(err)?;
        if linkable {
            self.links.insert(e.link_key, ino);
        }
        if kind == FileType::Directory {
            self.set_attrs(ino, e, kind, None)?;
            self.dir_times.push((ino, mtime));
        } else {
            self.set_attrs(ino, e, kind, Some(mtime))?;
        }
        Ok(())
    }

    /// Owner, then mode (chown clears set-id bits), then times if given.
    fn set_attrs(
        &mut self,
        ino: Ino,
        e: &Entry,
        kind: FileType,
        time: Option<Timespec>,
    ) -> Result<(), CpioError> {
        let owner = SetAttr {
            uid: Some(e.uid),
            gid: Some(e.gid),
            ..SetAttr::default()
        };
        let rest = SetAttr {
            // A symlink's mode is always 0777 on Linux.
            mode: (kind != FileType::Symlink).then_some(e.mode & 0o7777),
            atime: time.map(TimeSet::At),
            mtime: time.map(TimeSet::At),
            ..SetAttr::default()
        };
        self.fs
            .force_set_attr(ino, &owner)
            .and_then(|()| self.fs.force_set_attr(ino, &rest))
            .map_err(|err| Self::fs_err(e.name, err))
    }
}

/// Loads every entry of the `newc` (or `crc`) archive `archive` into `fs` (which may be
/// read-only: loading bypasses that). Regular files borrow their data from `archive`.
///
/// # Errors
///
/// A [`CpioError`] for a malformed archive (including one without `TRAILER!!!`) or an entry
/// the file system refused. Entries before the bad one stay loaded.
pub fn load_newc(archive: &'static [u8], fs: &mut MemFs) -> Result<CpioSummary, CpioError> {
    let mut loader = Loader {
        fs,
        summary: CpioSummary::default(),
        links: BTreeMap::new(),
        dir_times: Vec::new(),
    };
    let mut offset = 0usize;
    loop {
        let (entry, next) = parse_entry(archive, offset)?;
        offset = next;
        if entry.name == TRAILER {
            loader.summary.archives += 1;
            // init/initramfs.c: NUL bytes between archives are skipped; another archive may
            // follow. Hard-link numbering starts again with each archive.
            loader.links.clear();
            let rest = archive.get(offset..).unwrap_or_default();
            match rest.iter().position(|&b| b != 0) {
                None => break,
                Some(skip) => offset += skip,
            }
            continue;
        }
        loader.summary.entries += 1;
        loader.apply(&entry)?;
    }
    for (ino, t) in core::mem::take(&mut loader.dir_times) {
        let times = SetAttr {
            atime: Some(TimeSet::At(t)),
            mtime: Some(TimeSet::At(t)),
            ..SetAttr::default()
        };
        loader
            .fs
            .force_set_attr(ino, &times)
            .map_err(|e| Loader::fs_err(b"", e))?;
    }
    Ok(loader.summary)
}

#[cfg(test)]
mod tests;
