//! Errors returned by hypercalls.
//!
//! A negative hypercall return is `-errno` with Xen's own errno values (public/errno.h,
//! which match Linux's on x86). Unknown values are kept, never turned into a panic.

use core::fmt;

/// A failed hypercall: Xen's errno.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XenError {
    /// `EPERM`: operation not permitted.
    Perm,
    /// `ENOENT`: no such entry.
    NoEnt,
    /// `ESRCH`: no such domain or vCPU.
    Srch,
    /// `EAGAIN`: try again.
    Again,
    /// `ENOMEM`: out of memory.
    NoMem,
    /// `EACCES`: permission denied.
    Acces,
    /// `EFAULT`: bad guest address.
    Fault,
    /// `EBUSY`: resource busy.
    Busy,
    /// `EEXIST`: already exists.
    Exist,
    /// `EINVAL`: invalid argument.
    Inval,
    /// `ENOSPC`: no space left.
    NoSpc,
    /// `ENOSYS`: hypercall or sub-op not implemented.
    NoSys,
    /// `EOPNOTSUPP`: operation not supported.
    OpNotSupp,
    /// Any other negative value: the errno.
    Other(i32),
}

impl XenError {
    /// The errno value (positive).
    pub fn errno(self) -> i64 {
        i64::from(match self {
            XenError::Perm => 1,
            XenError::NoEnt => 2,
            XenError::Srch => 3,
            XenError::Again => 11,
            XenError::NoMem => 12,
            XenError::Acces => 13,
            XenError::Fault => 14,
            XenError::Busy => 16,
            XenError::Exist => 17,
            XenError::Inval => 22,
            XenError::NoSpc => 28,
            XenError::NoSys => 38,
            XenError::OpNotSupp => 95,
            XenError::Other(e) => e,
        })
    }

    /// Maps a hypercall return value: `Ok(value)` when it is not negative.
    pub fn check(ret: i64) -> Result<u64, XenError> {
        if ret >= 0 {
            return Ok(ret.unsigned_abs());
        }
        let errno = i32::try_from(ret.unsigned_abs()).unwrap_or(i32::MAX);
        Err(match errno {
            1 => XenError::Perm,
            2 => XenError::NoEnt,
            3 => XenError::Srch,
            11 => XenError::Again,
            12 => XenError::NoMem,
            13 => XenError::Acces,
            14 => XenError::Fault,
            16 => XenError::Busy,
            17 => XenError::Exist,
            22 => XenError::Inval,
            28 => XenError::NoSpc,
            38 => XenError::NoSys,
            95 => XenError::OpNotSupp,
            other => XenError::Other(other),
        })
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XenError::Other(errno) => write!(f, "Xen error {errno}"),
            named => write!(f, "Xen error {named:?}"),
        }
    }
}

impl core::error::Error for XenError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_negative_returns_are_values() {
        assert_eq!(XenError::check(0), Ok(0));
        assert_eq!(XenError::check(42), Ok(42));
    }

    #[test]
    fn errno_values_go_both_ways() {
        for e in [1i64, 2, 3, 11, 12, 13, 14, 16, 17, 22, 28, 38, 95, 200] {
            assert_eq!(XenError::check(-e).map_err(XenError::errno), Err(e));
        }
    }

    #[test]
    fn negative_returns_map_to_errno_and_unknown_values_are_kept() {
        assert_eq!(XenError::check(-22), Err(XenError::Inval));
        assert_eq!(XenError::check(-38), Err(XenError::NoSys));
        assert_eq!(XenError::check(-4242), Err(XenError::Other(4242)));
        assert_eq!(XenError::check(i64::MIN), Err(XenError::Other(i32::MAX)));
    }
}
