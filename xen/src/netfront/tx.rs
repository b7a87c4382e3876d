//! The transmit queue: frames copied into free buffers and posted, buffers taken back from
//! the TX responses.
//!
//! Each frame is one request (no `feature-sg`, no extra-info slots) with flags 0: we fill
//! in our own checksums. A response must name a buffer in flight; anything else breaks the
//! ring. Uses `alloc`, [`FrontRing`] and [`Shared`] only.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{Closed, ConfigError, QueueState, RingError, Stats, bump, free_ids, init_sring};
use crate::abi::netif::{
    NETIF_RSP_NULL, NETIF_RSP_OKAY, NetifTxRequest, NetifTxResponse, NetifTxSring, TX_RING_SIZE,
};
use crate::gnttab::GrantRef;
use crate::netif::FrontRing;
use crate::shared::Shared;
use crate::shared_field;
use alloc::vec::Vec;
use core::fmt;

/// Why [`TxQueue::send`] did not send a frame (each one is counted in `tx_dropped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// Empty, or longer than the queue's maximum frame.
    BadLength {
        /// The frame's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Every buffer is in flight (the backend is slow or stalled).
    NoFreeBuffer,
    /// Every ring slot is in use (more buffers than slots).
    RingFull,
    /// The caller's copy closure refused.
    CopyFailed {
        /// The buffer it was given.
        id: u16,
    },
    /// The backend is closing or closed.
    Stopped,
    /// The ring is broken.
    Broken(RingError),
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TxError::BadLength { len, max } => write!(f, "frame of {len} bytes (1 to {max})"),
            TxError::NoFreeBuffer => write!(f, "every tx buffer is in flight"),
            TxError::RingFull => write!(f, "the tx ring is full"),
            TxError::CopyFailed { id } => write!(f, "could not copy the frame to buffer {id}"),
            TxError::Stopped => write!(f, "the backend is closing"),
            TxError::Broken(e) => write!(f, "tx ring broken: {e}"),
        }
    }
}

impl core::error::Error for TxError {}

/// The transmit side of a netfront: its ring page and buffers (ids `0..n`, one page each,
/// granted read-only to the backend by the caller).
#[derive(Debug)]
pub struct TxQueue {
    sring: Shared<NetifTxSring>,
    ring: FrontRing<TX_RING_SIZE>,
    grefs: Vec<GrantRef>,
    /// `in_flight[id]`: buffer `id` was sent and not answered yet.
    in_flight: Vec<bool>,
    /// Buffers we hold, each once.
    free: Vec<u16>,
    state: QueueState,
    max_frame: usize,
    stats: Stats,
}

impl TxQueue {
    /// A queue over ring page `sring` (its header is initialised here, so call this before
    /// granting it) and buffers `grefs[id]`, sending frames of up to `max_frame` bytes.
    ///
    /// # Errors
    /// No buffers or more than 65536, or `max_frame` 0 or larger than a page.
    pub fn new(
        sring: Shared<NetifTxSring>,
        grefs: Vec<GrantRef>,
        max_frame: usize,
    ) -> Result<Self, ConfigError> {
        Self::with_start(sring, grefs, max_frame, 0)
    }

    /// As [`new`](Self::new), with both ring indices starting at `start`.
    pub(crate) fn with_start(
        sring: Shared<NetifTxSring>,
        grefs: Vec<GrantRef>,
        max_frame: usize,
        start: u32,
    ) -> Result<Self, ConfigError> {
        let free = free_ids(grefs.len(), max_frame)?;
        init_sring(sring, start);
        Ok(TxQueue {
            sring,
            ring: FrontRing {
                req_prod_pvt: start,
                rsp_cons: start,
            },
            in_flight: alloc::vec![false; grefs.len()],
            grefs,
            free,
            state: QueueState::Running,
            max_frame,
            stats: Stats::default(),
        })
    }

    /// The counters (TX fields only).
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The protocol error that broke the ring, if one did.
    pub fn broken(&self) -> Option<RingError> {
        match self.state {
            QueueState::Broken(e) => Some(e),
            _ => None,
        }
    }

    /// Buffers in flight (sent, not answered).
    pub fn in_flight(&self) -> usize {
        self.in_flight.iter().filter(|b| **b).count()
    }

    /// Buffers free.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Whether a [`send`](Self::send) now would find a buffer and a slot (without taking
    /// responses first: call [`reclaim`](Self::reclaim) before).
    pub fn can_send(&self) -> bool {
        self.state == QueueState::Running && !self.free.is_empty() && self.ring.free_requests() > 0
    }

    /// Sends `frame`: takes a free buffer (reclaiming answered ones first if none is free),
    /// lets `copy(id, frame)` write the frame at the start of buffer `id` (false if it
    /// cannot), posts the request and publishes it. True when the backend must be
    /// notified.
    ///
    /// # Errors
    /// See [`TxError`]; every error is counted in `tx_dropped` and leaves the buffers as
    /// they were.
    pub fn send(
        &mut self,
        frame: &[u8],
        copy: impl FnOnce(u16, &[u8]) -> bool,
    ) -> Result<bool, TxError> {
        let sent = self.try_send(frame, copy);
        if sent.is_err() {
            bump(&mut self.stats.tx_dropped, 1);
        }
        sent
    }

    fn try_send(
        &mut self,
        frame: &[u8],
        copy: impl FnOnce(u16, &[u8]) -> bool,
    ) -> Result<bool, TxError> {
        match self.state {
            QueueState::Broken(e) => return Err(TxError::Broken(e)),
            QueueState::Stopped | QueueState::Closed => return Err(TxError::Stopped),
            QueueState::Running => {}
        }
        let len = frame.len();
        let Some(size) = u16::try_from(len)
            .ok()
            .filter(|_| len != 0 && len <= self.max_frame)
        else {
            return Err(TxError::BadLength {
                len,
                max: self.max_frame,
            });
        };
        if self.free.is_empty() || self.ring.free_requests() == 0 {
            self.reclaim().map_err(TxError::Broken)?;
        }
        if self.ring.free_requests() == 0 {
            return Err(TxError::RingFull);
        }
        let Some(id) = self.free.pop() else {
            return Err(TxError::NoFreeBuffer);
        };
        let (Some(&gref), true) = (self.grefs.get(usize::from(id)), copy(id, frame)) else {
            self.free.push(id);
            return Err(TxError::CopyFailed { id });
        };
        let Some(slot) = self.ring.next_request() else {
            self.free.push(id);
            return Err(TxError::RingFull);
        };
        if let Some(f) = self.in_flight.get_mut(usize::from(id)) {
            *f = true;
        }
        if let Some(cell) = shared_field!(self.sring, NetifTxSring, ring).get(slot) {
            cell.write(NetifTxRequest {
                gref: gref.0,
                offset: 0,
                flags: 0,
                id,
                size,
            });
        }
        bump(&mut self.stats.tx_packets, 1);
        bump(&mut self.stats.tx_bytes, len);
        Ok(self.ring.push_requests(self.sring))
    }

    /// Takes back the buffers the backend has answered, counting error statuses, and
    /// re-arms `rsp_event` (RING_FINAL_CHECK_FOR_RESPONSES) so the next answer raises an
    /// event. Returns how many were answered.
    ///
    /// # Errors
    /// The backend broke the ring protocol, now or earlier.
    pub fn reclaim(&mut self) -> Result<usize, RingError> {
        match self.state {
            QueueState::Broken(e) => return Err(e),
            QueueState::Closed => return Ok(0),
            QueueState::Running | QueueState::Stopped => {}
        }
        self.take_responses()
            .inspect_err(|&e| self.state = QueueState::Broken(e))
    }

    fn take_responses(&mut self) -> Result<usize, RingError> {
        let mut done = 0usize;
        loop {
            let rsp_prod = FrontRing::<TX_RING_SIZE>::rsp_prod(self.sring);
            let ready = self
                .ring
                .responses(rsp_prod)
                .map_err(RingError::TooManyTxResponses)?;
            // Each response frees a request and nothing is posted here, so this ends.
            for _ in 0..ready {
                let slot = self.ring.next_response();
                let Some(cell) = shared_field!(self.sring, NetifTxSring, ring).get(slot) else {
                    // `next_response` masks the index into the ring: not reached.
                    continue;
                };
                // One read of the slot; everything below checks this copy.
                let rsp: NetifTxResponse = cell.project::<NetifTxResponse>(0).read();
                let id = rsp.id;
                if rsp.status == NETIF_RSP_NULL {
                    return Err(RingError::TxNullResponse { id, slot });
                }
                let Some(f) = self.in_flight.get_mut(usize::from(id)) else {
                    return Err(RingError::UnknownTxId { id, slot });
                };
                if !*f {
                    return Err(RingError::TxIdNotInFlight { id, slot });
                }
                *f = false;
                self.free.push(id);
                if rsp.status != NETIF_RSP_OKAY {
                    bump(&mut self.stats.tx_errors, 1);
                }
                done = done.saturating_add(1);
            }
            if !self.ring.final_check(self.sring, self.ring.rsp_cons) {
                return Ok(done);
            }
        }
    }

    /// Stops sending (the backend is closing); [`reclaim`](Self::reclaim) still works.
    pub fn stop(&mut self) {
        if self.state == QueueState::Running {
            self.state = QueueState::Stopped;
        }
    }

    /// The backend has released the ring (it is `Closed` or gone): frames still in flight
    /// will never be answered; they are counted in `tx_lost` and their buffers are ours
    /// again, broken ring or not. The queue does nothing more. End the buffers' grants
    /// before reusing their pages.
    pub fn close(&mut self) -> Closed {
        let mut lost = 0usize;
        for (id, f) in self.in_flight.iter_mut().enumerate() {
            if *f {
                *f = false;
                self.free.push(u16::try_from(id).unwrap_or(u16::MAX));
                lost = lost.saturating_add(1);
            }
        }
        bump(&mut self.stats.tx_lost, lost);
        self.state = QueueState::Closed;
        Closed {
            reclaimed: lost,
            lost,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
impl TxQueue {
    /// The private ring indices.
    pub(crate) fn front(&self) -> FrontRing<TX_RING_SIZE> {
        self.ring
    }

    /// Ids in flight, ascending.
    pub(crate) fn in_flight_ids(&self) -> Vec<u16> {
        (0..self.in_flight.len())
            .filter(|&i| self.in_flight[i])
            .map(|i| i as u16)
            .collect()
    }

    /// Checks the bookkeeping: every id exactly once in flight or free, and as many in
    /// flight as requests outstanding.
    pub(crate) fn audit(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut seen = alloc::vec![0u8; self.in_flight.len()];
        for &id in &self.free {
            let s = seen
                .get_mut(usize::from(id))
                .ok_or(format!("free id {id} out of range"))?;
            *s += 1;
        }
        for (i, s) in seen.iter().enumerate() {
            if (*s == 0) != self.in_flight[i] || *s > 1 {
                return Err(format!(
                    "id {i}: free {s} times, in flight {}",
                    self.in_flight[i]
                ));
            }
        }
        if matches!(self.state, QueueState::Broken(_) | QueueState::Closed) {
            return Ok(());
        }
        let outstanding = self.ring.req_prod_pvt.wrapping_sub(self.ring.rsp_cons) as usize;
        if outstanding != self.in_flight() {
            return Err(format!(
                "{outstanding} requests outstanding, {} in flight",
                self.in_flight()
            ));
        }
        Ok(())
    }
}
