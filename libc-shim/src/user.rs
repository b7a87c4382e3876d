//! The program's memory as the system calls see it: every byte moves by copy, through
//! these checked accessors, and no reference into it outlives the copy.
//!
//! The program shares the guest's one address space; its pointers are plain addresses.
//! A pointer is used only when the range does not wrap and lies in the guest's memory (not
//! page 0, below the end of the domain's pages): anything else is `EFAULT`, as on Linux.
//! A call that blocks copies in before it waits and out after, so a concurrent `munmap` of
//! the buffer can never make the kernel write into memory that changed hands meanwhile.
//! (A pointer into an unmapped page inside that range, a guard page, still faults, which
//! ends in a crash report naming the call.)
//!
//! This module holds the crate's `unsafe`: the copies through those pointers.

use crate::errno::Errno;
use alloc::vec::Vec;

/// The lowest address a program pointer may have (page 0 is never mapped).
const LOW: u64 = 4096;

/// Checks that `[addr, addr + len)` may be touched on the program's behalf (`EFAULT`
/// otherwise): for a call that must refuse a bad buffer before it takes data it could not
/// hand back.
pub(crate) fn check(addr: u64, len: usize) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
    let top = kernel::mem_info().nr_pages.saturating_mul(4096);
    if addr < LOW || end > top {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// Copies `dst.len()` bytes of the program's memory at `addr` into `dst`.
pub(crate) fn read_into(addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
    check(addr, dst.len())?;
    if dst.is_empty() {
        return Ok(());
    }
    // SAFETY: the range is inside the guest's identity-mapped memory (checked above) and
    // `dst` is kernel memory of the same length; the copy is byte-wise, so any alignment
    // works, and the two cannot overlap in a way that matters for a plain copy of bytes
    // the program handed to this call.
    unsafe { core::ptr::copy(addr as *const u8, dst.as_mut_ptr(), dst.len()) };
    Ok(())
}

/// Copies `src` to the program's memory at `addr`.
pub(crate) fn write(addr: u64, src: &[u8]) -> Result<(), Errno> {
    check(addr, src.len())?;
    if src.is_empty() {
        return Ok(());
    }
    // SAFETY: as for `read_into`; the program handed this buffer to the call to be written.
    unsafe { core::ptr::copy(src.as_ptr(), addr as *mut u8, src.len()) };
    Ok(())
}

/// A kernel buffer of `len` bytes (zeroed), or `ENOMEM`: a program's large request never
/// runs the kernel out of memory.
pub(crate) fn buffer(len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    v.resize(len, 0);
    Ok(v)
}

/// A fixed-size value the program has at `addr`.
pub(crate) fn read_array<const N: usize>(addr: u64) -> Result<[u8; N], Errno> {
    let mut a = [0u8; N];
    read_into(addr, &mut a)?;
    Ok(a)
}

/// Reads a `u64` at `addr`.
pub(crate) fn read_u64(addr: u64) -> Result<u64, Errno> {
    Ok(u64::from_le_bytes(read_array(addr)?))
}

/// Reads a `u32` at `addr`.
pub(crate) fn read_u32(addr: u64) -> Result<u32, Errno> {
    Ok(u32::from_le_bytes(read_array(addr)?))
}

/// Reads an `i32` at `addr`.
pub(crate) fn read_i32(addr: u64) -> Result<i32, Errno> {
    Ok(i32::from_le_bytes(read_array(addr)?))
}

/// Reads a `struct timespec` at `addr`: (`tv_sec`, `tv_nsec`), unchecked; each caller
/// decides whether an out-of-range `tv_nsec` is an error.
pub(crate) fn read_timespec(addr: u64) -> Result<(u64, u64), Errno> {
    Ok((read_u64(addr)?, read_u64(addr.wrapping_add(8))?))
}

/// A `struct timespec` at `addr` as nanoseconds; `EINVAL` for negative seconds or
/// nanoseconds of a second or more (Linux's `timespec64_valid`).
pub(crate) fn read_timespec_ns(addr: u64) -> Result<u64, Errno> {
    let (sec, nsec) = read_timespec(addr)?;
    if (sec as i64) < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(sec.saturating_mul(1_000_000_000).saturating_add(nsec))
}

/// A `struct timeval` at `addr` as nanoseconds; `EINVAL` for negative seconds or
/// microseconds of a second or more.
pub(crate) fn read_timeval_ns(addr: u64) -> Result<u64, Errno> {
    let (sec, usec) = read_timespec(addr)?;
    if (sec as i64) < 0 || usec >= 1_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(sec
        .saturating_mul(1_000_000_000)
        .saturating_add(usec * 1000))
}

/// Writes a `u64` at `addr`.
pub(crate) fn write_u64(addr: u64, v: u64) -> Result<(), Errno> {
    write(addr, &v.to_le_bytes())
}

/// Writes a `u32` at `addr`.
pub(crate) fn write_u32(addr: u64, v: u32) -> Result<(), Errno> {
    write(addr, &v.to_le_bytes())
}

/// Writes an `i32` at `addr`.
pub(crate) fn write_i32(addr: u64, v: i32) -> Result<(), Errno> {
    write(addr, &v.to_le_bytes())
}

/// A NUL-terminated string at `addr` of at most `max` bytes before the NUL (a path:
/// `ENAMETOOLONG` past it, as Linux's `PATH_MAX` of 4096 with its NUL).
pub(crate) fn read_cstr(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let mut out = Vec::new();
    let mut chunk = [0u8; 64];
    let mut at = addr;
    loop {
        // Read up to the end of the page, so a string that ends just before an unmapped
        // page is never read past.
        let room = (4096 - (at % 4096)).min(chunk.len() as u64) as usize;
        let part = chunk.get_mut(..room).ok_or(Errno::EFAULT)?;
        read_into(at, part)?;
        match part.iter().position(|&b| b == 0) {
            Some(n) => {
                out.extend_from_slice(part.get(..n).unwrap_or_default());
                return if out.len() > max {
                    Err(Errno::ENAMETOOLONG)
                } else {
                    Ok(out)
                };
            }
            None => out.extend_from_slice(part),
        }
        if out.len() > max {
            return Err(Errno::ENAMETOOLONG);
        }
        at = at.checked_add(room as u64).ok_or(Errno::EFAULT)?;
    }
}

/// One buffer of an `iovec` array: (address, length).
pub(crate) type IoVec = (u64, usize);

/// The buffers of the `count` `struct iovec`s at `iov` (`IOV_MAX` is 1024); a total past
/// `isize::MAX` is `EINVAL`, as on Linux.
pub(crate) fn iovecs(iov: u64, count: u64) -> Result<Vec<IoVec>, Errno> {
    if count > 1024 {
        return Err(Errno::EINVAL);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(count as usize)
        .map_err(|_| Errno::ENOMEM)?;
    let mut total: u64 = 0;
    for i in 0..count {
        let at = iov.checked_add(i * 16).ok_or(Errno::EFAULT)?;
        let base = read_u64(at)?;
        let len = read_u64(at.wrapping_add(8))?;
        total = total.checked_add(len).ok_or(Errno::EINVAL)?;
        if total > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        v.push((base, len as usize));
    }
    Ok(v)
}

/// `len` bytes of the buffers `vecs` from byte `skip`, copied into a kernel buffer.
pub(crate) fn gather(vecs: &[IoVec], mut skip: usize, len: usize) -> Result<Vec<u8>, Errno> {
    let mut out = buffer(len)?;
    let mut at = 0;
    for &(base, l) in vecs {
        if at == len {
            break;
        }
        if skip >= l {
            skip -= l;
            continue;
        }
        let take = (l - skip).min(len - at);
        read_into(
            base.wrapping_add(skip as u64),
            out.get_mut(at..at + take).ok_or(Errno::EFAULT)?,
        )?;
        at += take;
        skip = 0;
    }
    Ok(out)
}

/// Copies `data` into the buffers `vecs`, from byte `skip` of them on.
pub(crate) fn scatter(vecs: &[IoVec], mut skip: usize, mut data: &[u8]) -> Result<(), Errno> {
    for &(base, len) in vecs {
        if data.is_empty() {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let take = (len - skip).min(data.len());
        write(base + skip as u64, data.get(..take).unwrap_or_default())?;
        data = data.get(take..).unwrap_or_default();
        skip = 0;
    }
    Ok(())
}
