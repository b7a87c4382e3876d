//! `public/version.h`: `XENVER_*`.

/// `XENVER_version`: returns `major << 16 | minor`.
pub const XENVER_VERSION: u32 = 0;
/// `XENVER_extraversion`: fills a [`XenExtraversion`].
pub const XENVER_EXTRAVERSION: u32 = 1;

/// C: `xen_extraversion_t` (`char[16]`): `".7"`, NUL-terminated.
pub type XenExtraversion = [u8; 16];
