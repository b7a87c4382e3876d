//! Character devices: the console (descriptors 0-2, `/dev/console`, `/dev/tty`) and
//! `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`, with Linux's
//! device numbers and behaviour.

use crate::errno::Errno;
use crate::fd::{Description, FileObject, Readiness, pollbits};
use crate::stat::{StatInfo, ifmt, makedev};
use alloc::sync::Arc;

/// `TIOCGWINSZ`.
const TIOCGWINSZ: u64 = 0x5413;
/// `TCGETS`.
const TCGETS: u64 = 0x5401;
/// `TCSETS`, `TCSETSW`, `TCSETSF`.
const TCSETS: [u64; 3] = [0x5402, 0x5403, 0x5404];
/// `TIOCGPGRP`.
const TIOCGPGRP: u64 = 0x540f;
/// `FIONREAD`.
const FIONREAD: u64 = 0x541b;

/// The time now as (seconds, nanoseconds) of the wall clock.
pub(crate) fn now() -> (i64, u32) {
    let ns = kernel::time::now_and_wallclock_ns().1;
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
}

/// The PV console: reads take a line of input, writes go out with flow control.
pub(crate) struct Console;

impl FileObject for Console {
    fn read(&self, _d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        let len = buf.len().min(4096);
        if len == 0 {
            return Ok(0);
        }
        let line = kernel::drivers::console::read_line(len.saturating_sub(1).max(1))
            .map_err(|_| Errno::EIO)?;
        let bytes = line.as_bytes();
        let n = bytes.len().min(len);
        buf.get_mut(..n)
            .ok_or(Errno::EFAULT)?
            .copy_from_slice(bytes.get(..n).unwrap_or_default());
        if n < len
            && let Some(b) = buf.get_mut(n)
        {
            *b = b'\n';
            return Ok(n + 1);
        }
        Ok(n)
    }

    fn write(&self, _d: &Description, data: &[u8]) -> Result<usize, Errno> {
        kernel::drivers::console::write_bytes(data);
        Ok(data.len())
    }

    fn poll(&self) -> Readiness {
        // Console input is not watched by poll: a read waits for a line instead.
        Readiness::bits(pollbits::OUT)
    }

    fn ioctl(&self, _d: &Description, req: u64, arg: u64) -> Result<i64, Errno> {
        match req {
            TIOCGWINSZ => {
                // struct winsize { rows, cols, xpixel, ypixel }: the console is a
                // terminal, so stdio line-buffers it.
                let mut ws = [0u8; 8];
                ws[0..2].copy_from_slice(&25u16.to_le_bytes());
                ws[2..4].copy_from_slice(&80u16.to_le_bytes());
                crate::user::write(arg, &ws)?;
                Ok(0)
            }
            TCGETS => {
                // struct termios (60 bytes): a cooked terminal at 38400 baud (ICRNL,
                // OPOST|ONLCR, CS8|CREAD|B38400, ISIG|ICANON|ECHO...).
                let mut t = [0u8; 60];
                t[0..4].copy_from_slice(&0o0400u32.to_le_bytes());
                t[4..8].copy_from_slice(&0o0005u32.to_le_bytes());
                t[8..12].copy_from_slice(&0o0277u32.to_le_bytes());
                t[12..16].copy_from_slice(&0o105073u32.to_le_bytes());
                crate::user::write(arg, &t)?;
                Ok(0)
            }
            r if TCSETS.contains(&r) => Ok(0),
            TIOCGPGRP => {
                crate::user::write_i32(arg, 1)?;
                Ok(0)
            }
            FIONREAD => {
                crate::user::write_i32(arg, 0)?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        let mut s = StatInfo::anonymous(ifmt::CHR, 0o620, 1, now());
        s.dev = makedev(0, 5);
        s.rdev = makedev(5, 1);
        s.blksize = 1024;
        Ok(s)
    }

    fn sync(&self, _data_only: bool) -> Result<(), Errno> {
        kernel::drivers::console::flush();
        Ok(())
    }
}

/// The memory devices of major 1 (`drivers/char/mem.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemDevice {
    /// `/dev/null` (1, 3): reads end at once, writes vanish.
    Null,
    /// `/dev/zero` (1, 5): zeros.
    Zero,
    /// `/dev/full` (1, 7): zeros, and every write is `ENOSPC`.
    Full,
    /// `/dev/random` (1, 8).
    Random,
    /// `/dev/urandom` (1, 9).
    Urandom,
}

impl MemDevice {
    /// The device for (major, minor), if it is one of these.
    pub(crate) fn from_numbers(major: u32, minor: u32) -> Option<MemDevice> {
        match (major, minor) {
            (1, 3) => Some(MemDevice::Null),
            (1, 5) => Some(MemDevice::Zero),
            (1, 7) => Some(MemDevice::Full),
            (1, 8) => Some(MemDevice::Random),
            (1, 9) => Some(MemDevice::Urandom),
            _ => None,
        }
    }
}

/// An open memory device; `stat` comes from its node in the file tree.
pub(crate) struct MemDeviceFile {
    /// Which.
    pub(crate) dev: MemDevice,
    /// Its attributes (from the node it was opened by).
    pub(crate) stat: StatInfo,
}

impl MemDeviceFile {
    /// The device `dev`, opened by a node with attributes `stat`.
    pub(crate) fn new(dev: MemDevice, stat: StatInfo) -> Arc<MemDeviceFile> {
        Arc::new(MemDeviceFile { dev, stat })
    }
}

impl FileObject for MemDeviceFile {
    fn read(&self, _d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        self.pread(buf, 0)
    }

    fn write(&self, _d: &Description, data: &[u8]) -> Result<usize, Errno> {
        self.pwrite(data, 0)
    }

    fn pread(&self, buf: &mut [u8], _off: u64) -> Result<usize, Errno> {
        match self.dev {
            MemDevice::Null => Ok(0),
            MemDevice::Zero | MemDevice::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            MemDevice::Random | MemDevice::Urandom => {
                crate::sys::fill_random(buf);
                Ok(buf.len())
            }
        }
    }

    fn pwrite(&self, data: &[u8], _off: u64) -> Result<usize, Errno> {
        match self.dev {
            MemDevice::Full => Err(Errno::ENOSPC),
            // Writing to the random devices mixes nothing in (only root could credit
            // entropy, with an ioctl) but succeeds, as on Linux.
            _ => Ok(data.len()),
        }
    }

    fn seek(&self, _d: &Description, _off: i64, _whence: u32) -> Result<u64, Errno> {
        // Linux: lseek on these devices succeeds and leaves the position at 0.
        Ok(0)
    }

    fn poll(&self) -> Readiness {
        Readiness::bits(pollbits::IN | pollbits::OUT)
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        Ok(self.stat)
    }

    fn sync(&self, _data_only: bool) -> Result<(), Errno> {
        Ok(())
    }
}
