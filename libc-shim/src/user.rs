//! The program's memory as the system calls see it: pointers it passes, checked before use.
//!
//! The program shares the guest's one address space; its pointers are plain addresses.
//! A pointer is used only when it is not null, the range does not wrap, and it lies in
//! the guest's memory (not page 0, below the end of the domain's pages): anything else is
//! `EFAULT`, as on Linux. A pointer into an unmapped page inside that range (a guard
//! page) still faults, which ends in a crash report naming the call.
//!
//! This module holds the crate's `unsafe`: the accesses through those pointers.

use crate::errno::Errno;

/// The lowest address a program pointer may have (page 0 is never mapped).
const LOW: u64 = 4096;

fn check(addr: u64, len: usize) -> Result<(), Errno> {
    let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
    let top = kernel::mem_info().nr_pages.saturating_mul(4096);
    if len == 0 {
        return Ok(());
    }
    if addr < LOW || end > top {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// The `len` bytes the program has at `addr`.
pub(crate) fn bytes<'a>(addr: u64, len: usize) -> Result<&'a [u8], Errno> {
    check(addr, len)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: the range is inside the guest's identity-mapped memory (checked above); the
    // program is single-address-space code of this guest and the bytes are only read for
    // the duration of one system call of the calling thread (cooperative threads: nothing
    // else runs while it copies).
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}

/// Room for `len` bytes the program gave at `addr`, to write into.
pub(crate) fn bytes_mut<'a>(addr: u64, len: usize) -> Result<&'a mut [u8], Errno> {
    check(addr, len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: as for `bytes`; the program handed this buffer to the call to be written.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) })
}

/// Reads a `u64` at `addr`.
pub(crate) fn read_u64(addr: u64) -> Result<u64, Errno> {
    let b = bytes(addr, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

/// Reads a `struct timespec` at `addr`: (`tv_sec`, `tv_nsec`), unchecked; each caller
/// decides whether an out-of-range `tv_nsec` is an error.
pub(crate) fn read_timespec(addr: u64) -> Result<(u64, u64), Errno> {
    Ok((read_u64(addr)?, read_u64(addr + 8)?))
}

/// Writes a `u64` at `addr`.
pub(crate) fn write_u64(addr: u64, v: u64) -> Result<(), Errno> {
    bytes_mut(addr, 8)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Reads a `u32` at `addr` (a futex word).
pub(crate) fn read_u32(addr: u64) -> Result<u32, Errno> {
    let b = bytes(addr, 4)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    Ok(u32::from_le_bytes(a))
}

/// Copies `src` to the program's memory at `addr`.
pub(crate) fn write(addr: u64, src: &[u8]) -> Result<(), Errno> {
    bytes_mut(addr, src.len())?.copy_from_slice(src);
    Ok(())
}
