//! The network frontend's ring protocol (`io/netif.h`), as plain Rust tested on the host.
//!
//! What a netfront driver decides from data the backend writes lives here; the kernel
//! driver is glue (pages, grants, the event channel, xenstore I/O). This module may use
//! `alloc`, [`crate::netif::FrontRing`] and the ring pages and buffers through
//! [`Shared`]; it has no `unsafe`, no hypervisor calls and no clock.
//!
//! - [`RxQueue`]: posts receive buffers, consumes responses, and hands out one packet per
//!   [`RxQueue::poll`], copied out through a caller closure.
//! - [`TxQueue`]: copies a frame into a free buffer, posts it, and takes buffers back from
//!   the TX responses.
//! - [`checksum`]: the IPv4/TCP/UDP/ICMP check for frames the backend did not validate.
//! - [`lifecycle`]: the xenbus connection state machine (connect, close, reconnect).
//!
//! Contract, as for every protocol module of this crate: the backend is not trusted.
//! A response that breaks the ring protocol (an id we did not post in that slot, more
//! responses than requests) marks the queue broken with a [`RingError`]; from then on the
//! queue touches neither the ring nor its buffers. A response that is wrong only for its
//! packet (an error status, a bad offset or length, a checksum, flags we did not
//! negotiate) drops that packet, counts it in [`Stats`] and gives its buffers back. Every
//! buffer id is at all times exactly one of: posted to the backend, free in the queue, or
//! held by a broken queue until [`RxQueue::close`]/[`TxQueue::close`]. Nothing here
//! panics on backend data.
//!
//! Features: we write `request-rx-copy` and `feature-rx-notify`, and neither
//! `feature-sg`, any `feature-gso-*`, the control ring, nor `feature-no-csum-offload`. So a
//! received packet is one slot; `NETRXF_more_data` and any extra-info slot mean a packet we
//! cannot take (counted as `rx_unnegotiated`); and a frame may arrive with
//! `NETRXF_csum_blank` (accepted without a check) or `NETRXF_data_validated` (accepted),
//! and without either it is checked by [`checksum::verify_frame`].

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod checksum;
pub mod lifecycle;
mod rx;
mod tx;

pub use rx::{RxDrop, RxPoll, RxQueue};
pub use tx::{TxError, TxQueue};

use crate::abi::xen::PAGE_SIZE;
use crate::netif::BadResponses;
use crate::shared::Shared;
use crate::shared_field;
use core::fmt;

/// The largest Ethernet frame without VLAN tag or FCS (1500-byte MTU); a good
/// `max_frame`.
pub const ETH_MAX_FRAME: usize = 1514;

/// Packet and error counters of one queue (or of both: [`Stats::merged`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets received and handed to the caller.
    pub rx_packets: u64,
    /// Bytes of those packets.
    pub rx_bytes: u64,
    /// Packets sent (posted to the backend).
    pub tx_packets: u64,
    /// Bytes of those packets.
    pub tx_bytes: u64,
    /// Received packets dropped: error status, zero length, past the page, longer than
    /// the maximum frame, or the copy-out failed.
    pub rx_errors: u64,
    /// Received packets dropped because their checksum was wrong (or the IPv4 header too
    /// malformed to check it).
    pub rx_bad_csum: u64,
    /// Received packets dropped because they used a feature we did not negotiate
    /// (`NETRXF_more_data`, extra-info slots).
    pub rx_unnegotiated: u64,
    /// TX responses with an error status (`NETIF_RSP_ERROR`, `NETIF_RSP_DROPPED`, or an
    /// unknown one).
    pub tx_errors: u64,
    /// Frames [`TxQueue::send`] refused (no free buffer or slot, too long, stopped, ...).
    pub tx_dropped: u64,
    /// Frames posted whose response never came because the backend closed
    /// ([`TxQueue::close`]).
    pub tx_lost: u64,
}

impl Stats {
    /// The two sets of counters added up (saturating).
    pub fn merged(self, other: Stats) -> Stats {
        Stats {
            rx_packets: self.rx_packets.saturating_add(other.rx_packets),
            rx_bytes: self.rx_bytes.saturating_add(other.rx_bytes),
            tx_packets: self.tx_packets.saturating_add(other.tx_packets),
            tx_bytes: self.tx_bytes.saturating_add(other.tx_bytes),
            rx_errors: self.rx_errors.saturating_add(other.rx_errors),
            rx_bad_csum: self.rx_bad_csum.saturating_add(other.rx_bad_csum),
            rx_unnegotiated: self.rx_unnegotiated.saturating_add(other.rx_unnegotiated),
            tx_errors: self.tx_errors.saturating_add(other.tx_errors),
            tx_dropped: self.tx_dropped.saturating_add(other.tx_dropped),
            tx_lost: self.tx_lost.saturating_add(other.tx_lost),
        }
    }
}

/// Adds `n` to counter `c`.
fn bump(c: &mut u64, n: usize) {
    *c = c.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
}

/// A response that breaks the ring protocol: the queue is broken from then on.
///
/// `slot` is the ring slot (`index & (size - 1)`) of the offending response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// An RX response id that is not one of our buffers.
    UnknownRxId {
        /// The id.
        id: u16,
        /// The ring slot.
        slot: usize,
    },
    /// An RX response for a buffer the backend does not hold (never posted, or answered
    /// already).
    RxIdNotPosted {
        /// The id.
        id: u16,
        /// The ring slot.
        slot: usize,
    },
    /// An RX response for a buffer we posted in another slot (`io/netif.h`: a response
    /// takes the slot of its request).
    RxIdWrongSlot {
        /// The id in the response.
        id: u16,
        /// The id we posted in that slot.
        posted: u16,
        /// The ring slot.
        slot: usize,
    },
    /// The RX `rsp_prod` claims more responses than requests outstanding.
    TooManyRxResponses(BadResponses),
    /// A TX response id that is not one of our buffers.
    UnknownTxId {
        /// The id.
        id: u16,
        /// The ring slot.
        slot: usize,
    },
    /// A TX response for a buffer not in flight (never sent, or answered already).
    TxIdNotInFlight {
        /// The id.
        id: u16,
        /// The ring slot.
        slot: usize,
    },
    /// A `NETIF_RSP_NULL` TX response: those answer extra-info slots, and we send none,
    /// so it answers none of our requests and the ring's accounting is off.
    TxNullResponse {
        /// The id in the response.
        id: u16,
        /// The ring slot.
        slot: usize,
    },
    /// The TX `rsp_prod` claims more responses than requests outstanding.
    TooManyTxResponses(BadResponses),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingError::UnknownRxId { id, slot } => {
                write!(
                    f,
                    "rx slot {slot}: response id {id} is not a buffer of ours"
                )
            }
            RingError::RxIdNotPosted { id, slot } => {
                write!(f, "rx slot {slot}: response for buffer {id}, not posted")
            }
            RingError::RxIdWrongSlot { id, posted, slot } => write!(
                f,
                "rx slot {slot}: response for buffer {id}, but {posted} was posted there"
            ),
            RingError::TooManyRxResponses(b) => write!(
                f,
                "rx rsp_prod {} with rsp_cons {} and req_prod {}",
                b.rsp_prod, b.rsp_cons, b.req_prod
            ),
            RingError::UnknownTxId { id, slot } => {
                write!(
                    f,
                    "tx slot {slot}: response id {id} is not a buffer of ours"
                )
            }
            RingError::TxIdNotInFlight { id, slot } => {
                write!(f, "tx slot {slot}: response for buffer {id}, not in flight")
            }
            RingError::TxNullResponse { id, slot } => {
                write!(
                    f,
                    "tx slot {slot}: NETIF_RSP_NULL (id {id}) but we sent no extras"
                )
            }
            RingError::TooManyTxResponses(b) => write!(
                f,
                "tx rsp_prod {} with rsp_cons {} and req_prod {}",
                b.rsp_prod, b.rsp_cons, b.req_prod
            ),
        }
    }
}

impl core::error::Error for RingError {}

/// Why a queue could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// No buffers, or more than 16-bit ids can name.
    BufferCount {
        /// Buffers given.
        count: usize,
    },
    /// A maximum frame of 0 or larger than a page.
    MaxFrame {
        /// The maximum asked for.
        max_frame: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::BufferCount { count } => {
                write!(f, "{count} buffers: need 1 to 65536")
            }
            ConfigError::MaxFrame { max_frame } => {
                write!(f, "maximum frame {max_frame}: need 1 to {PAGE_SIZE}")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// Checks a buffer count and maximum frame; the ids `0..count` as a free list (lowest
/// handed out first).
fn free_ids(count: usize, max_frame: usize) -> Result<alloc::vec::Vec<u16>, ConfigError> {
    if count == 0 || count > usize::from(u16::MAX).saturating_add(1) {
        return Err(ConfigError::BufferCount { count });
    }
    if max_frame == 0 || max_frame > PAGE_SIZE {
        return Err(ConfigError::MaxFrame { max_frame });
    }
    Ok((0..count)
        .rev()
        .map(|i| u16::try_from(i).unwrap_or(u16::MAX))
        .collect())
}

/// Where a queue is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueState {
    /// Posting and consuming.
    Running,
    /// The backend is closing: consume responses, post nothing new.
    Stopped,
    /// The backend released the ring; every buffer is free; nothing more happens.
    Closed,
    /// The backend broke the protocol; the ring is not touched any more.
    Broken(RingError),
}

/// What [`RxQueue::close`] or [`TxQueue::close`] took back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Closed {
    /// Buffers that were posted to the backend and are free again.
    pub reclaimed: usize,
    /// Of those, TX frames that were never answered (counted in `tx_lost`).
    pub lost: usize,
}

/// Writes a fresh shared ring header at index `start` (SHARED_RING_INIT and
/// FRONT_RING_INIT, ring.h): no requests or responses, events wanted at the first one.
fn init_sring<S, const N: usize>(sring: Shared<crate::abi::netif::Sring<S, N>>, start: u32) {
    use crate::abi::netif::Sring;
    shared_field!(sring, Sring<S, N>, req_prod).write(start);
    shared_field!(sring, Sring<S, N>, rsp_prod).write(start);
    shared_field!(sring, Sring<S, N>, req_event).write(start.wrapping_add(1));
    shared_field!(sring, Sring<S, N>, rsp_event).write(start.wrapping_add(1));
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod fake;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod proptests;
