//! `public/io/netif.h` and `io/ring.h`: the network front/back rings.

use crate::assert_layout;

/// Bytes of a shared ring's header (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`,
/// private and padding bytes) before its slots.
pub const SRING_HEADER: usize = 64;
/// Slots of the TX ring in one page: (4096 - 64) / 12 rounded down to a power of two.
pub const TX_RING_SIZE: usize = 256;
/// Slots of the RX ring in one page: (4096 - 64) / 8 rounded down to a power of two.
pub const RX_RING_SIZE: usize = 256;
/// A response status: the backend dropped the packet.
pub const NETIF_RSP_DROPPED: i16 = -2;
/// A response status: the backend could not handle the request.
pub const NETIF_RSP_ERROR: i16 = -1;
/// A response status: the packet was sent (TX).
pub const NETIF_RSP_OKAY: i16 = 0;
/// A response status: no response; the slot answered an auxiliary request (an extra-info
/// TX slot).
pub const NETIF_RSP_NULL: i16 = 1;

/// TX request flag: the protocol checksum field is blank (checksum offload).
pub const NETTXF_CSUM_BLANK: u16 = 1 << 0;
/// TX request flag: the packet's protocol checksum has been validated.
pub const NETTXF_DATA_VALIDATED: u16 = 1 << 1;
/// TX request flag: the packet continues in the next request (needs `feature-sg`).
pub const NETTXF_MORE_DATA: u16 = 1 << 2;
/// TX request flag: extra-info slots follow this request.
pub const NETTXF_EXTRA_INFO: u16 = 1 << 3;

/// RX response flag: the backend validated the protocol checksum.
pub const NETRXF_DATA_VALIDATED: u16 = 1 << 0;
/// RX response flag: the protocol checksum field is blank (not filled in).
pub const NETRXF_CSUM_BLANK: u16 = 1 << 1;
/// RX response flag: the packet continues in the next slot (needs `feature-sg`).
pub const NETRXF_MORE_DATA: u16 = 1 << 2;
/// RX response flag: extra-info slots follow this response.
pub const NETRXF_EXTRA_INFO: u16 = 1 << 3;
/// RX response flag: a GSO prefix slot (a Linux-only feature, `feature-gso-tcpv4-prefix`).
pub const NETRXF_GSO_PREFIX: u16 = 1 << 4;

/// Extra-info type: never used (invalid).
pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// Extra-info type: GSO parameters (`u.gso`).
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// Extra-info type: add a multicast address (`u.mcast`, TX only).
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// Extra-info type: remove a multicast address (`u.mcast`, TX only).
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// Extra-info type: a Toeplitz hash value (`u.hash`).
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// Extra-info flag: another extra-info slot follows this one.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << 0;

/// C: `struct netif_tx_request`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifTxRequest {
    /// Grant of the page holding the packet.
    pub gref: u32,
    /// Offset of the packet in the page.
    pub offset: u16,
    /// `NETTXF_*`.
    pub flags: u16,
    /// Echoed in the response.
    pub id: u16,
    /// Packet bytes.
    pub size: u16,
}
assert_layout!(NetifTxRequest, "struct netif_tx_request" in "xen/io/netif.h",
    size 12, align 4; gref = "gref" 0, offset = "offset" 4, flags = "flags" 6, id = "id" 8,
    size = "size" 10);

/// C: `struct netif_tx_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifTxResponse {
    /// The request's id.
    pub id: u16,
    /// `NETIF_RSP_*`.
    pub status: i16,
}
assert_layout!(NetifTxResponse, "struct netif_tx_response" in "xen/io/netif.h",
    size 4, align 2; id = "id" 0, status = "status" 2);

/// C: `struct netif_rx_request`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifRxRequest {
    /// Echoed in the response.
    pub id: u16,
    /// Unused.
    pub pad: u16,
    /// Grant of the page to receive into.
    pub gref: u32,
}
assert_layout!(NetifRxRequest, "struct netif_rx_request" in "xen/io/netif.h",
    size 8, align 4; id = "id" 0, pad = "pad" 2, gref = "gref" 4);

/// C: `struct netif_rx_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifRxResponse {
    /// The request's id.
    pub id: u16,
    /// Where the packet starts in the page.
    pub offset: u16,
    /// `NETRXF_*`.
    pub flags: u16,
    /// Packet bytes, or a negative `NETIF_RSP_*` error.
    pub status: i16,
}
assert_layout!(NetifRxResponse, "struct netif_rx_response" in "xen/io/netif.h",
    size 8, align 2; id = "id" 0, offset = "offset" 2, flags = "flags" 4, status = "status" 6);

/// C: `struct netif_extra_info`: an extra-info slot, which takes the place of a request
/// (TX) or a response (RX) in the ring. It carries no id: on RX it answers the request that
/// was posted in the same ring slot.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*` (C: `type`).
    pub type_: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// The type-specific union (`gso`, `mcast`, `hash`), as C's `uint16_t pad[3]` member
    /// sees it.
    pub u: [u16; 3],
}
assert_layout!(NetifExtraInfo, "struct netif_extra_info" in "xen/io/netif.h",
    size 8, align 2; type_ = "type" 0, flags = "flags" 1, u = "u" 2);
const _: () = {
    // It must fit the slot of either ring.
    assert!(core::mem::size_of::<NetifExtraInfo>() <= core::mem::size_of::<NetifRxResponse>());
    assert!(core::mem::size_of::<NetifExtraInfo>() <= core::mem::size_of::<NetifTxRequest>());
};

/// A shared ring page: header, then `N` slots of `S` bytes each holding a request or, once
/// the backend answered, its response (C: `struct netif_tx_sring` / `netif_rx_sring`).
#[repr(C)]
pub struct Sring<S, const N: usize> {
    /// Requests produced (frontend).
    pub req_prod: u32,
    /// Notify the backend when `req_prod` passes this (backend).
    pub req_event: u32,
    /// Responses produced (backend).
    pub rsp_prod: u32,
    /// Notify the frontend when `rsp_prod` passes this (frontend).
    pub rsp_event: u32,
    /// Private and padding bytes.
    pub pad: [u8; 48],
    /// The slots.
    pub ring: [S; N],
}

/// The TX ring page.
pub type NetifTxSring = Sring<NetifTxRequest, TX_RING_SIZE>;
/// The RX ring page.
pub type NetifRxSring = Sring<NetifRxRequest, RX_RING_SIZE>;

/// The C declaration of the TX ring (one slot: C's variable-length `ring[1]`), for the
/// layout comparison; [`NetifTxSring`] is the same with all its slots.
pub type NetifTxSringDecl = Sring<NetifTxRequest, 1>;
/// As [`NetifTxSringDecl`], for the RX ring.
pub type NetifRxSringDecl = Sring<NetifRxRequest, 1>;

assert_layout!(NetifTxSringDecl, "struct netif_tx_sring" in "xen/io/netif.h",
    size 64 + 12, align 4; req_prod = "req_prod" 0, req_event = "req_event" 4,
    rsp_prod = "rsp_prod" 8, rsp_event = "rsp_event" 12, ring = "ring" 64);
assert_layout!(NetifRxSringDecl, "struct netif_rx_sring" in "xen/io/netif.h",
    size 64 + 8, align 4; req_prod = "req_prod" 0, req_event = "req_event" 4,
    rsp_prod = "rsp_prod" 8, rsp_event = "rsp_event" 12, ring = "ring" 64);
const _: () = {
    assert!(core::mem::size_of::<NetifTxSring>() == SRING_HEADER + 12 * TX_RING_SIZE);
    assert!(core::mem::size_of::<NetifTxSring>() <= 4096);
    assert!(core::mem::size_of::<NetifRxSring>() == SRING_HEADER + 8 * RX_RING_SIZE);
    assert!(core::mem::offset_of!(NetifTxSring, ring) == SRING_HEADER);
    assert!(core::mem::offset_of!(NetifRxSring, ring) == SRING_HEADER);
};
