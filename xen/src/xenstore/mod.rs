//! The xenstore protocol, guest side: messages ([`wire`]) streamed through the shared ring
//! page ([`XenstoreRing`]) and reassembled from it ([`MsgReader`]).
//!
//! Everything xenstored writes is untrusted: ring indices that claim more than the ring
//! holds, a header announcing more than [`XENSTORE_PAYLOAD_MAX`] bytes, a reply of the
//! wrong type or a malformed payload are [`XsError`] values, never a panic or an
//! out-of-bounds access. After [`XsError::BadIndices`] or [`XsError::TooLong`] the byte
//! stream cannot be trusted any more: the connection is broken.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod client;
pub mod wire;

use crate::abi::xenstore::{XENSTORE_PAYLOAD_MAX, XENSTORE_RING_SIZE, XenstoreDomainInterface};
use crate::ring::{self, Overrun};
use crate::shared::Shared;
use crate::shared_field;
use core::fmt;
pub use wire::{Errno, MsgType, Reply, Request, WatchEvent};
use wire::{HEADER_LEN, MSG_MAX};

/// Why a xenstore operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XsError {
    /// xenstored answered with this errno.
    Xenstore(Errno),
    /// xenstored answered `XS_ERROR` with a name we do not know (`len` payload bytes).
    UnknownErrno {
        /// Payload length of the error reply.
        len: usize,
    },
    /// A reply of another type than the request's.
    UnexpectedType {
        /// What we sent.
        sent: MsgType,
        /// The type that came back.
        got: u32,
    },
    /// An acknowledgement that was not `OK`.
    NotOk,
    /// A payload string without its terminating NUL.
    MissingNul,
    /// A payload string that is not UTF-8.
    NotUtf8,
    /// A number in a payload that does not parse (or a transaction id of 0).
    BadNumber,
    /// A path of length 0.
    EmptyPath,
    /// A path longer than xenstored accepts.
    PathTooLong {
        /// Its length.
        len: usize,
        /// The limit for its kind (absolute or relative).
        max: usize,
    },
    /// A NUL byte inside a path or token.
    NulInArgument,
    /// A request payload over 4096 bytes.
    PayloadTooLong {
        /// Its length.
        len: usize,
    },
    /// The buffer for an encoded message is too small.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// A header from xenstored announcing a payload over 4096 bytes.
    TooLong {
        /// The announced length.
        len: u32,
    },
    /// Ring indices from xenstored that claim more than the ring holds.
    BadIndices {
        /// `"req"` or `"rsp"`.
        ring: &'static str,
        /// Consumer index read.
        cons: u32,
        /// Producer index read.
        prod: u32,
    },
    /// No reply within the caller's time limit.
    Timeout,
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            XsError::Xenstore(e) => write!(f, "xenstore: {}", e.name()),
            XsError::UnknownErrno { len } => {
                write!(
                    f,
                    "xenstore: error reply with an unknown errno ({len} bytes)"
                )
            }
            XsError::UnexpectedType { sent, got } => {
                write!(f, "xenstore: reply of type {got} to a {sent:?} request")
            }
            XsError::NotOk => write!(f, "xenstore: acknowledgement is not OK"),
            XsError::MissingNul => write!(f, "xenstore: payload string without its NUL"),
            XsError::NotUtf8 => write!(f, "xenstore: payload string is not UTF-8"),
            XsError::BadNumber => write!(f, "xenstore: malformed number in a reply"),
            XsError::EmptyPath => write!(f, "xenstore: empty path"),
            XsError::PathTooLong { len, max } => {
                write!(f, "xenstore: path of {len} bytes (at most {max})")
            }
            XsError::NulInArgument => write!(f, "xenstore: NUL inside a path or token"),
            XsError::PayloadTooLong { len } => {
                write!(
                    f,
                    "xenstore: payload of {len} bytes (at most {XENSTORE_PAYLOAD_MAX})"
                )
            }
            XsError::BufferTooSmall { need, have } => {
                write!(f, "xenstore: message needs {need} bytes, buffer has {have}")
            }
            XsError::TooLong { len } => write!(
                f,
                "xenstore: xenstored announced {len} payload bytes (at most {XENSTORE_PAYLOAD_MAX})"
            ),
            XsError::BadIndices { ring, cons, prod } => write!(
                f,
                "xenstore: {ring} ring indices out of range: cons {cons}, prod {prod}"
            ),
            XsError::Timeout => write!(f, "xenstore: no reply in time"),
        }
    }
}

impl core::error::Error for XsError {}

/// Names the ring of an [`Overrun`].
fn bad(ring: &'static str) -> impl Fn(Overrun) -> XsError {
    move |Overrun { cons, prod }| XsError::BadIndices { ring, cons, prod }
}

/// The guest end of the xenstore ring page.
#[derive(Debug, Clone, Copy)]
pub struct XenstoreRing {
    page: Shared<XenstoreDomainInterface>,
}

impl XenstoreRing {
    /// The ring in `page`.
    pub fn new(page: Shared<XenstoreDomainInterface>) -> Self {
        XenstoreRing { page }
    }

    /// Copies as much of `data` as fits into the request ring and publishes it; returns
    /// the bytes written (0 when full). The caller notifies the event channel if not 0.
    pub fn write(&self, data: &[u8]) -> Result<usize, XsError> {
        let cons = shared_field!(self.page, XenstoreDomainInterface, req_cons).read();
        let prod = shared_field!(self.page, XenstoreDomainInterface, req_prod).read();
        let req = shared_field!(self.page, XenstoreDomainInterface, req);
        let (n, prod) = ring::produce(req, cons, prod, data).map_err(bad("req"))?;
        shared_field!(self.page, XenstoreDomainInterface, req_prod).write(prod);
        Ok(n)
    }

    /// Copies pending reply bytes into `buf`; returns how many. The caller notifies the
    /// event channel if not 0 (xenstored may be waiting for room).
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, XsError> {
        let cons = shared_field!(self.page, XenstoreDomainInterface, rsp_cons).read();
        let prod = shared_field!(self.page, XenstoreDomainInterface, rsp_prod).read();
        let rsp = shared_field!(self.page, XenstoreDomainInterface, rsp);
        let (n, cons) = ring::consume(rsp, cons, prod, buf).map_err(bad("rsp"))?;
        shared_field!(self.page, XenstoreDomainInterface, rsp_cons).write(cons);
        Ok(n)
    }

    /// Reply bytes waiting to be read.
    pub fn readable(&self) -> Result<usize, XsError> {
        let cons = shared_field!(self.page, XenstoreDomainInterface, rsp_cons).read();
        let prod = shared_field!(self.page, XenstoreDomainInterface, rsp_prod).read();
        ring::pending::<XENSTORE_RING_SIZE>(cons, prod).map_err(bad("rsp"))
    }
}

/// Reassembles whole messages from the reply byte stream, which delivers them in pieces
/// of any size (a 4096-byte payload comes through the 1 KiB ring in at least five).
pub struct MsgReader {
    buf: [u8; MSG_MAX],
    have: usize,
}

impl Default for MsgReader {
    fn default() -> Self {
        Self::new()
    }
}

impl MsgReader {
    /// Empty: waiting for a header.
    pub const fn new() -> Self {
        MsgReader {
            buf: [0; MSG_MAX],
            have: 0,
        }
    }

    /// The length of the message being assembled, once its header is complete.
    fn message_len(&self) -> Option<usize> {
        let head: &[u8; HEADER_LEN] = self.buf.first_chunk()?;
        if self.have < HEADER_LEN {
            return None;
        }
        let len = usize::try_from(wire::parse_header(head).len).unwrap_or(usize::MAX);
        Some(HEADER_LEN.saturating_add(len))
    }

    /// Where the next bytes of the stream go: exactly as many as the current message
    /// still lacks (so that bytes of the next message stay in the ring). Empty when a
    /// whole message is ready.
    pub fn spare(&mut self) -> &mut [u8] {
        let end = self.message_len().unwrap_or(HEADER_LEN).min(MSG_MAX);
        self.buf.get_mut(self.have..end).unwrap_or(&mut [])
    }

    /// Records that `n` bytes were put into [`spare`](Self::spare).
    ///
    /// Fails with [`XsError::TooLong`] when the completed header announces a payload over
    /// 4096 bytes: the stream cannot be followed past it.
    pub fn filled(&mut self, n: usize) -> Result<(), XsError> {
        self.have = self.have.saturating_add(n).min(MSG_MAX);
        if let Some(head) = self.buf.first_chunk::<HEADER_LEN>()
            && self.have >= HEADER_LEN
        {
            let len = wire::parse_header(head).len;
            if usize::try_from(len).map_or(true, |l| l > XENSTORE_PAYLOAD_MAX) {
                self.have = 0;
                return Err(XsError::TooLong { len });
            }
        }
        Ok(())
    }

    /// The whole message, when it is complete.
    pub fn message(&self) -> Option<Reply<'_>> {
        let total = self.message_len()?;
        if self.have < total {
            return None;
        }
        let head = self.buf.first_chunk::<HEADER_LEN>()?;
        Some(Reply {
            header: wire::parse_header(head),
            payload: self.buf.get(HEADER_LEN..total)?,
        })
    }

    /// Drops the completed message; the reader waits for the next header.
    pub fn next(&mut self) {
        self.have = 0;
    }

    /// Reads from `ring` until a whole message is ready or the ring is empty; returns
    /// whether one is ready (then see [`message`](Self::message), then [`next`](Self::next)).
    pub fn pull(&mut self, ring: &XenstoreRing) -> Result<bool, XsError> {
        loop {
            if self.message().is_some() {
                return Ok(true);
            }
            let n = ring.read(self.spare())?;
            if n == 0 {
                return Ok(false);
            }
            self.filled(n)?;
        }
    }
}

/// Where a message from xenstored belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The reply to request `req_id`.
    Reply {
        /// The request it answers.
        req_id: u32,
    },
    /// A watch fired (unsolicited: it answers no request).
    WatchEvent,
}

/// Routes a message by its header: watch events by type, everything else by `req_id`.
pub fn route(header: &crate::abi::xenstore::XsdSockmsg) -> Route {
    if MsgType::from_raw(header.type_) == Some(MsgType::WatchEvent) {
        Route::WatchEvent
    } else {
        Route::Reply {
            req_id: header.req_id,
        }
    }
}

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
mod fake;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a failed test"
)]
mod proptests;
