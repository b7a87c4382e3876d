//! What `stat`, `fstat`, `newfstatat` and `statx` answer: one description of a file
//! ([`StatInfo`]) and the two Linux x86_64 layouts it is written in (host-tested).
//!
//! May use: nothing (data).

/// `S_IFMT` and the file types.
pub mod ifmt {
    /// The type bits.
    pub const MASK: u32 = 0o170000;
    /// Socket.
    pub const SOCK: u32 = 0o140000;
    /// Symbolic link.
    pub const LNK: u32 = 0o120000;
    /// Regular file.
    pub const REG: u32 = 0o100000;
    /// Block device.
    pub const BLK: u32 = 0o060000;
    /// Directory.
    pub const DIR: u32 = 0o040000;
    /// Character device.
    pub const CHR: u32 = 0o020000;
    /// FIFO (pipe).
    pub const FIFO: u32 = 0o010000;
}

/// A file's attributes as the stat calls report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatInfo {
    /// Device of the file system (`st_dev`), Linux's encoding.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Type and permission bits (`S_IFMT | 0o7777`).
    pub mode: u32,
    /// Links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device it is, for device files (Linux's encoding).
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O size.
    pub blksize: u32,
    /// 512-byte blocks held.
    pub blocks: u64,
    /// Last access (seconds, nanoseconds).
    pub atime: (i64, u32),
    /// Last change of the data.
    pub mtime: (i64, u32),
    /// Last change of the attributes.
    pub ctime: (i64, u32),
}

/// Linux's `makedev` (`include/linux/kdev_t.h`'s `new_encode_dev`, as glibc and musl
/// decode it).
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & !0xff) << 12) | ((ma & !0xfff) << 32)
}

/// (major, minor) of a device number made by [`makedev`].
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

impl StatInfo {
    /// A file of type `fmt` (an [`ifmt`] constant) with permission bits `perm`, one link,
    /// owned by root, with the time `now` everywhere: for objects outside the file tree
    /// (pipes, sockets, the console).
    pub fn anonymous(fmt: u32, perm: u32, ino: u64, now: (i64, u32)) -> StatInfo {
        StatInfo {
            // Linux's anonymous-inode and socket file systems have device 0:N.
            dev: makedev(0, 12),
            ino,
            mode: fmt | (perm & 0o7777),
            nlink: 1,
            blksize: 4096,
            atime: now,
            mtime: now,
            ctime: now,
            ..StatInfo::default()
        }
    }

    /// `struct stat` for x86_64 (`arch/x86/include/uapi/asm/stat.h`): 144 bytes.
    pub fn to_stat(&self) -> [u8; 144] {
        let mut b = [0u8; 144];
        put(&mut b, 0, &self.dev.to_le_bytes());
        put(&mut b, 8, &self.ino.to_le_bytes());
        put(&mut b, 16, &u64::from(self.nlink).to_le_bytes());
        put(&mut b, 24, &self.mode.to_le_bytes());
        put(&mut b, 28, &self.uid.to_le_bytes());
        put(&mut b, 32, &self.gid.to_le_bytes());
        put(&mut b, 40, &self.rdev.to_le_bytes());
        put(&mut b, 48, &self.size.to_le_bytes());
        put(&mut b, 56, &u64::from(self.blksize).to_le_bytes());
        put(&mut b, 64, &self.blocks.to_le_bytes());
        for (at, t) in [(72, self.atime), (88, self.mtime), (104, self.ctime)] {
            put(&mut b, at, &t.0.to_le_bytes());
            put(&mut b, at + 8, &u64::from(t.1).to_le_bytes());
        }
        b
    }

    /// `struct statx` (`include/uapi/linux/stat.h`): 256 bytes, with the basic fields
    /// (`STATX_BASIC_STATS`, 0x7ff) filled.
    pub fn to_statx(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        put(&mut b, 0, &0x7ffu32.to_le_bytes());
        put(&mut b, 4, &self.blksize.to_le_bytes());
        put(&mut b, 16, &self.nlink.to_le_bytes());
        put(&mut b, 20, &self.uid.to_le_bytes());
        put(&mut b, 24, &self.gid.to_le_bytes());
        put(&mut b, 28, &(self.mode as u16).to_le_bytes());
        put(&mut b, 32, &self.ino.to_le_bytes());
        put(&mut b, 40, &self.size.to_le_bytes());
        put(&mut b, 48, &self.blocks.to_le_bytes());
        // atime, btime (not kept: 0, and not in the mask), ctime, mtime.
        for (at, t) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            put(&mut b, at, &t.0.to_le_bytes());
            put(&mut b, at + 8, &t.1.to_le_bytes());
        }
        let (rmaj, rmin) = split_dev(self.rdev);
        let (dmaj, dmin) = split_dev(self.dev);
        put(&mut b, 128, &rmaj.to_le_bytes());
        put(&mut b, 132, &rmin.to_le_bytes());
        put(&mut b, 136, &dmaj.to_le_bytes());
        put(&mut b, 140, &dmin.to_le_bytes());
        b
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(d) = b.get_mut(at..at + v.len()) {
        d.copy_from_slice(v);
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    reason = "test code: a wrong index is a failed test"
)]
mod tests {
    use super::*;

    #[test]
    fn makedev_matches_glibc() {
        // glibc's gnu_dev_makedev(1, 3) (/dev/null) and (259, 65536).
        assert_eq!(makedev(1, 3), 0x103);
        assert_eq!(makedev(259, 65536), 0x1001_0300);
        for (ma, mi) in [
            (0, 0),
            (1, 3),
            (5, 1),
            (4095, 255),
            (4096, 256),
            (u32::MAX, u32::MAX),
        ] {
            assert_eq!(split_dev(makedev(ma, mi)), (ma, mi));
        }
    }

    #[test]
    fn stat_layout_is_x86_64s() {
        let s = StatInfo {
            dev: 1,
            ino: 2,
            mode: ifmt::REG | 0o644,
            nlink: 3,
            uid: 4,
            gid: 5,
            rdev: 6,
            size: 7,
            blksize: 8,
            blocks: 9,
            atime: (10, 11),
            mtime: (12, 13),
            ctime: (14, 15),
        };
        let b = s.to_stat();
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
        assert_eq!([u64_at(0), u64_at(8), u64_at(16)], [1, 2, 3]);
        assert_eq!([u32_at(24), u32_at(28), u32_at(32)], [0o100644, 4, 5]);
        assert_eq!(
            [u64_at(40), u64_at(48), u64_at(56), u64_at(64)],
            [6, 7, 8, 9]
        );
        assert_eq!(
            [u64_at(72), u64_at(80), u64_at(88), u64_at(96)],
            [10, 11, 12, 13]
        );
        assert_eq!([u64_at(104), u64_at(112)], [14, 15]);
        let x = s.to_statx();
        let x32 = |o: usize| u32::from_le_bytes(x[o..o + 4].try_into().unwrap_or_default());
        assert_eq!(x32(0), 0x7ff);
        assert_eq!(u16::from_le_bytes([x[28], x[29]]), 0o100644);
        assert_eq!(x32(128), 0, "rdev 6 is major 0 minor 6");
        assert_eq!(x32(132), 6);
    }
}
