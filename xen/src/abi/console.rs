//! `public/io/console.h`: the PV console ring page.

use crate::assert_layout;

/// Size of the console input ring.
pub const XENCONS_IN_SIZE: usize = 1024;
/// Size of the console output ring.
pub const XENCONS_OUT_SIZE: usize = 2048;

/// The console ring page shared with xenconsoled.
///
/// C: `struct xencons_interface` (io/console.h). Accessed only through raw pointers.
/// Xen 4.17's header has no `connection` field (later releases append one after
/// `out_prod`); we follow the testbed's release.
#[repr(C)]
pub struct XenconsInterface {
    /// Input ring (backend produces, we consume).
    pub in_: [u8; XENCONS_IN_SIZE],
    /// Output ring (we produce, backend consumes).
    pub out: [u8; XENCONS_OUT_SIZE],
    /// Input consumer index (ours).
    pub in_cons: u32,
    /// Input producer index (backend's).
    pub in_prod: u32,
    /// Output consumer index (backend's).
    pub out_cons: u32,
    /// Output producer index (ours).
    pub out_prod: u32,
}

assert_layout!(XenconsInterface, "struct xencons_interface" in "xen/io/console.h",
    size 3088, align 4; in_ = "in" 0, out = "out" 1024, in_cons = "in_cons" 3072,
    in_prod = "in_prod" 3076, out_cons = "out_cons" 3080, out_prod = "out_prod" 3084);
