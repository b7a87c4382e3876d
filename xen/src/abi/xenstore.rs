//! `public/io/xs_wire.h`: the xenstore message header and the shared ring page.

use crate::assert_layout;

/// Size of each of the two xenstore rings.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// Largest payload of one message; xenstored drops a connection that sends more.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path (relative to `/local/domain/<domid>`).
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// The header in front of every xenstore message.
///
/// C: `struct xsd_sockmsg` (io/xs_wire.h). Little-endian on the wire, like the guest.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XsdSockmsg {
    /// Message type (`XS_*`).
    pub type_: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0: none).
    pub tx_id: u32,
    /// Bytes of payload that follow.
    pub len: u32,
}

assert_layout!(XsdSockmsg, "struct xsd_sockmsg" in "xen/io/xs_wire.h",
    size 16, align 4; type_ = "type" 0, req_id = "req_id" 4, tx_id = "tx_id" 8, len = "len" 12);

/// The xenstore ring page shared with xenstored (`start_info.store_mfn`).
///
/// C: `struct xenstore_domain_interface` (io/xs_wire.h). Xen 4.17's header ends with
/// `error`; later releases append `evtchn_port`. Accessed only through raw pointers.
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to xenstored (we produce).
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and watch events (xenstored produces).
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// Request consumer index (xenstored's).
    pub req_cons: u32,
    /// Request producer index (ours).
    pub req_prod: u32,
    /// Reply consumer index (ours).
    pub rsp_cons: u32,
    /// Reply producer index (xenstored's).
    pub rsp_prod: u32,
    /// Features of the server (`XENSTORE_SERVER_FEATURE_*`).
    pub server_features: u32,
    /// Connection state (`XENSTORE_CONNECTED` / `XENSTORE_RECONNECT`).
    pub connection: u32,
    /// Why the server stopped serving the ring (`XENSTORE_ERROR_*`).
    pub error: u32,
}

assert_layout!(XenstoreDomainInterface, "struct xenstore_domain_interface" in "xen/io/xs_wire.h",
    size 2076, align 4; req = "req" 0, rsp = "rsp" 1024, req_cons = "req_cons" 2048,
    req_prod = "req_prod" 2052, rsp_cons = "rsp_cons" 2056, rsp_prod = "rsp_prod" 2060,
    server_features = "server_features" 2064, connection = "connection" 2068,
    error = "error" 2072);

impl XenstoreDomainInterface {
    /// An all-zero page (a fresh ring), for tests and fakes.
    pub const fn zeroed() -> Self {
        XenstoreDomainInterface {
            req: [0; XENSTORE_RING_SIZE],
            rsp: [0; XENSTORE_RING_SIZE],
            req_cons: 0,
            req_prod: 0,
            rsp_cons: 0,
            rsp_prod: 0,
            server_features: 0,
            connection: 0,
            error: 0,
        }
    }
}
