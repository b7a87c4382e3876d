//! The system calls on descriptors of any kind: `read`, `write` and their vector and
//! positioned forms, `lseek`, `ioctl`, `fcntl`, `dup`, `close`, `fsync`, `sendfile`,
//! `copy_file_range`.
//!
//! Data moves between the program and the object through kernel buffers of at most
//! [`CHUNK`] bytes, copied in before a write and out after a read, so no reference into
//! the program's memory is held while a call waits and no request, however large, makes
//! the kernel allocate more than that.

use crate::errno::Errno;
use crate::fd::{self, Description, oflag};
use crate::socket::CHUNK;
use crate::user::{self, IoVec};
use vfs::FileType;

type R = Result<i64, Errno>;

/// A regular file: reads go on to fill the buffer (no short reads before end of file).
fn is_regular(d: &Description) -> bool {
    d.object
        .as_node()
        .is_some_and(|n| n.kind == FileType::Regular)
}

/// Reads into the program's buffers `vecs` at the description's position (`at`: at that
/// offset instead, `pread`).
fn read_vecs(d: &Description, vecs: &[IoVec], at: Option<u64>) -> R {
    d.check_readable()?;
    for &(base, len) in vecs {
        user::check(base, len)?;
    }
    let total: usize = vecs.iter().map(|v| v.1).sum();
    if total == 0 {
        // A zero-length read still reports errors of the object (EISDIR).
        let mut none = [0u8; 0];
        match at {
            Some(off) => d.object.pread(&mut none, off)?,
            None => d.object.read(d, &mut none)?,
        };
        return Ok(0);
    }
    let regular = is_regular(d);
    let mut buf = user::buffer(total.min(CHUNK))?;
    let mut done = 0usize;
    while done < total {
        let want = (total - done).min(CHUNK);
        let chunk = buf.get_mut(..want).ok_or(Errno::EFAULT)?;
        let r = match at {
            Some(off) => d.object.pread(chunk, off + done as u64),
            None => d.object.read(d, chunk),
        };
        let n = match r {
            Ok(n) => n,
            Err(e) if done > 0 => {
                let _ = e;
                break;
            }
            Err(e) => return Err(e),
        };
        user::scatter(vecs, done, chunk.get(..n).unwrap_or_default())?;
        done += n;
        if n < want || !regular {
            break;
        }
    }
    d.touch();
    Ok(done as i64)
}

/// Writes the program's buffers `vecs` at the description's position (`at`: at that
/// offset, `pwrite`): a [`CHUNK`] at a time, stopping at a short write.
fn write_vecs(d: &Description, vecs: &[IoVec], at: Option<u64>) -> R {
    d.check_writable()?;
    let total: usize = vecs.iter().map(|v| v.1).sum();
    let mut done = 0usize;
    loop {
        let want = (total - done).min(CHUNK);
        let data = user::gather(vecs, done, want)?;
        let r = match at {
            Some(off) => d.object.pwrite(&data, off + done as u64),
            None => d.object.write(d, &data),
        };
        match r {
            Ok(n) => {
                done += n;
                if n < want || done >= total {
                    break;
                }
            }
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        }
    }
    d.touch();
    Ok(done as i64)
}

fn len_of(len: u64) -> Result<usize, Errno> {
    // Linux caps one transfer at 0x7ffff000 bytes; a "negative" length is EINVAL.
    if len as i64 > isize::MAX as i64 || (len as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok((len as usize).min(0x7fff_f000))
}

fn offset_of(off: u64) -> Result<u64, Errno> {
    if (off as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(off)
}

pub(crate) fn read(fdn: u64, buf: u64, len: u64) -> R {
    let d = fd::get_open(fdn)?;
    read_vecs(&d, &[(buf, len_of(len)?)], None)
}

pub(crate) fn write(fdn: u64, buf: u64, len: u64) -> R {
    let d = fd::get_open(fdn)?;
    crate::sig::on_epipe(write_vecs(&d, &[(buf, len_of(len)?)], None), 0)
}

pub(crate) fn readv(fdn: u64, iov: u64, count: u64) -> R {
    let d = fd::get_open(fdn)?;
    read_vecs(&d, &user::iovecs(iov, count)?, None)
}

pub(crate) fn writev(fdn: u64, iov: u64, count: u64) -> R {
    let d = fd::get_open(fdn)?;
    crate::sig::on_epipe(write_vecs(&d, &user::iovecs(iov, count)?, None), 0)
}

pub(crate) fn pread64(fdn: u64, buf: u64, len: u64, off: u64) -> R {
    let d = fd::get_open(fdn)?;
    read_vecs(&d, &[(buf, len_of(len)?)], Some(offset_of(off)?))
}

pub(crate) fn pwrite64(fdn: u64, buf: u64, len: u64, off: u64) -> R {
    let d = fd::get_open(fdn)?;
    write_vecs(&d, &[(buf, len_of(len)?)], Some(offset_of(off)?))
}

pub(crate) fn preadv(fdn: u64, iov: u64, count: u64, off: u64) -> R {
    let d = fd::get_open(fdn)?;
    let v = user::iovecs(iov, count)?;
    // preadv2's offset -1: the description's position.
    if off as i64 == -1 {
        return read_vecs(&d, &v, None);
    }
    read_vecs(&d, &v, Some(offset_of(off)?))
}

pub(crate) fn pwritev(fdn: u64, iov: u64, count: u64, off: u64) -> R {
    let d = fd::get_open(fdn)?;
    let v = user::iovecs(iov, count)?;
    if off as i64 == -1 {
        return write_vecs(&d, &v, None);
    }
    write_vecs(&d, &v, Some(offset_of(off)?))
}

pub(crate) fn lseek(fdn: u64, off: u64, whence: u64) -> R {
    let d = fd::get_open(fdn)?;
    let whence = u32::try_from(whence).map_err(|_| Errno::EINVAL)?;
    Ok(d.object.seek(&d, off as i64, whence)? as i64)
}

pub(crate) fn ioctl(fdn: u64, req: u64, arg: u64) -> R {
    /// `FIONBIO`: set or clear non-blocking mode.
    const FIONBIO: u64 = 0x5421;
    /// `FIOCLEX`, `FIONCLEX`: set or clear close-on-exec.
    const FIOCLEX: u64 = 0x5451;
    const FIONCLEX: u64 = 0x5450;
    let d = fd::get_open(fdn)?;
    match req {
        FIONBIO => {
            d.set_nonblocking(user::read_i32(arg)? != 0);
            Ok(0)
        }
        FIOCLEX | FIONCLEX => {
            fd::set_cloexec(fdn, req == FIOCLEX)?;
            Ok(0)
        }
        _ => d.object.ioctl(&d, req, arg),
    }
}

pub(crate) fn fcntl(fdn: u64, cmd: u64, arg: u64) -> R {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_SETOWN: u64 = 8;
    const F_GETOWN: u64 = 9;
    const F_DUPFD_CLOEXEC: u64 = 1030;
    const F_SETPIPE_SZ: u64 = 1031;
    const F_GETPIPE_SZ: u64 = 1032;
    const FD_CLOEXEC: u64 = 1;
    let d = fd::get(fdn)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let from = usize::try_from(arg as i32).map_err(|_| Errno::EINVAL)?;
            if from >= fd::limit() as usize {
                return Err(Errno::EINVAL);
            }
            Ok(i64::from(fd::install_from(
                d,
                cmd == F_DUPFD_CLOEXEC,
                from,
            )?))
        }
        F_GETFD => Ok(if fd::cloexec(fdn)? {
            FD_CLOEXEC as i64
        } else {
            0
        }),
        F_SETFD => {
            fd::set_cloexec(fdn, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(i64::from(d.flags())),
        F_SETFL => {
            d.set_flags(arg as u32);
            Ok(0)
        }
        F_GETOWN => Ok(0),
        F_SETOWN => Ok(0),
        F_GETPIPE_SZ | F_SETPIPE_SZ => Ok(65536),
        crate::file::lockcmd::GETLK
        | crate::file::lockcmd::SETLK
        | crate::file::lockcmd::SETLKW
        | crate::file::lockcmd::OFD_GETLK
        | crate::file::lockcmd::OFD_SETLK
        | crate::file::lockcmd::OFD_SETLKW => {
            if d.is_path() {
                return Err(Errno::EBADF);
            }
            crate::file::fcntl_lock(&d, cmd, arg)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub(crate) fn flock(fdn: u64, op: u64) -> R {
    let d = fd::get_open(fdn)?;
    if d.object.as_node().is_none() {
        return Err(Errno::EINVAL);
    }
    crate::file::flock(&d, op)
}

pub(crate) fn close(fdn: u64) -> R {
    fd::close(fdn)?;
    Ok(0)
}

/// `close_range(first, last, flags)`.
pub(crate) fn close_range(first: u64, last: u64, flags: u64) -> R {
    const CLOSE_RANGE_CLOEXEC: u64 = 4;
    if flags & !CLOSE_RANGE_CLOEXEC != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    let last = last.min(u64::from(fd::limit()));
    for n in first..=last {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            let _ = fd::set_cloexec(n, true);
        } else {
            let _ = fd::close(n);
        }
    }
    Ok(0)
}

pub(crate) fn dup(fdn: u64) -> R {
    Ok(i64::from(fd::dup(fdn)?))
}

pub(crate) fn dup2(old: u64, new: u64) -> R {
    Ok(i64::from(fd::dup_to(old, new, false, false)?))
}

pub(crate) fn dup3(old: u64, new: u64, flags: u64) -> R {
    if flags & !u64::from(oflag::CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(i64::from(fd::dup_to(
        old,
        new,
        flags & u64::from(oflag::CLOEXEC) != 0,
        true,
    )?))
}

pub(crate) fn fsync(fdn: u64, data_only: bool) -> R {
    let d = fd::get_open(fdn)?;
    d.object.sync(data_only)?;
    Ok(0)
}

/// `sendfile(out, in, offset, count)`: copies through a kernel buffer a [`CHUNK`] at a
/// time; from `*offset` (updated) when it is given, else from `in`'s position.
pub(crate) fn sendfile(out_fd: u64, in_fd: u64, offp: u64, count: u64) -> R {
    let (out, inp) = (fd::get_open(out_fd)?, fd::get_open(in_fd)?);
    inp.check_readable()?;
    out.check_writable()?;
    if out.flags() & oflag::APPEND != 0 && out.object.as_node().is_some() {
        return Err(Errno::EINVAL);
    }
    let count = len_of(count)?;
    let mut off = if offp != 0 {
        Some(offset_of(user::read_u64(offp)?)?)
    } else {
        None
    };
    let mut buf = user::buffer(count.min(CHUNK))?;
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(CHUNK);
        let chunk = buf.get_mut(..want).ok_or(Errno::EFAULT)?;
        let r = match off {
            Some(o) => inp.object.pread(chunk, o),
            None => inp.object.read(&inp, chunk),
        };
        let n = match r {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        let data = chunk.get(..n).unwrap_or_default();
        let mut w = 0;
        while w < n {
            match out.object.write(&out, data.get(w..).unwrap_or_default()) {
                Ok(k) if k > 0 => w += k,
                Ok(_) => break,
                Err(e) if done + w == 0 => {
                    // Nothing went out: the bytes taken from `in` go back.
                    if off.is_none() {
                        let _ = inp.object.seek(&inp, -(n as i64), 1);
                    }
                    return Err(e);
                }
                Err(_) => break,
            }
        }
        if w < n && off.is_none() {
            let _ = inp.object.seek(&inp, -((n - w) as i64), 1);
        }
        done += w;
        if let Some(o) = off.as_mut() {
            *o += w as u64;
        }
        if w < n || n < want {
            break;
        }
    }
    if let Some(o) = off {
        user::write_u64(offp, o)?;
    }
    out.touch();
    inp.touch();
    Ok(done as i64)
}

/// `copy_file_range(in, off_in, out, off_out, len, flags)`: between regular files.
pub(crate) fn copy_file_range(
    in_fd: u64,
    off_in: u64,
    out_fd: u64,
    off_out: u64,
    len: u64,
    flags: u64,
) -> R {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (inp, out) = (fd::get_open(in_fd)?, fd::get_open(out_fd)?);
    inp.check_readable()?;
    out.check_writable()?;
    if !is_regular(&inp) || !is_regular(&out) {
        return Err(Errno::EINVAL);
    }
    if out.flags() & oflag::APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let len = len_of(len)?;
    let mut ri = if off_in != 0 {
        Some(offset_of(user::read_u64(off_in)?)?)
    } else {
        None
    };
    let mut ro = if off_out != 0 {
        Some(offset_of(user::read_u64(off_out)?)?)
    } else {
        None
    };
    let mut buf = user::buffer(len.min(CHUNK))?;
    let mut done = 0;
    while done < len {
        let want = (len - done).min(CHUNK);
        let chunk = buf.get_mut(..want).ok_or(Errno::EFAULT)?;
        let n = match ri {
            Some(o) => inp.object.pread(chunk, o)?,
            None => inp.object.read(&inp, chunk)?,
        };
        if n == 0 {
            break;
        }
        let data = chunk.get(..n).unwrap_or_default();
        let w = match ro {
            Some(o) => out.object.pwrite(data, o)?,
            None => out.object.write(&out, data)?,
        };
        done += w;
        if let Some(o) = ri.as_mut() {
            *o += w as u64;
        }
        if let Some(o) = ro.as_mut() {
            *o += w as u64;
        }
        if w < n {
            break;
        }
    }
    if let Some(o) = ri {
        user::write_u64(off_in, o)?;
    }
    if let Some(o) = ro {
        user::write_u64(off_out, o)?;
    }
    Ok(done as i64)
}
