//! The receive queue: receive buffers posted to the backend, responses checked and
//! consumed, one packet handed out per poll.
//!
//! A response (or an extra-info slot) takes the ring slot of the request it answers
//! (`io/netif.h`, "responses always appear in the same ring slot as their corresponding
//! request"), so the queue remembers which buffer id it posted in each slot: an extra-info
//! slot, which has no id, gives back that buffer, and a response whose id is not the one
//! posted in its slot breaks the ring. Uses `alloc`, [`FrontRing`] and [`Shared`] only.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::checksum::{ChecksumError, verify_frame};
use super::{Closed, ConfigError, QueueState, RingError, Stats, bump, free_ids, init_sring};
use crate::abi::netif::{
    NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA, NetifExtraInfo,
    NetifRxRequest, NetifRxResponse, NetifRxSring, RX_RING_SIZE, XEN_NETIF_EXTRA_FLAG_MORE,
};
use crate::abi::xen::PAGE_SIZE;
use crate::gnttab::GrantRef;
use crate::netif::FrontRing;
use crate::shared::Shared;
use crate::shared_field;
use alloc::vec::Vec;

/// Why a received packet was dropped (the latest one: [`RxQueue::last_drop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxDrop {
    /// The backend reported an error (`NETIF_RSP_*` < 0). Counted in `rx_errors`.
    Status {
        /// The buffer.
        id: u16,
        /// The status.
        status: i16,
    },
    /// A zero-length packet. Counted in `rx_errors`.
    Empty {
        /// The buffer.
        id: u16,
    },
    /// `offset + length` past the end of the page. Counted in `rx_errors`.
    PastPage {
        /// The buffer.
        id: u16,
        /// The offset.
        offset: u16,
        /// The length.
        len: usize,
    },
    /// Longer than the queue's maximum frame. Counted in `rx_errors`.
    TooLong {
        /// The buffer.
        id: u16,
        /// The length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The caller's copy closure refused. Counted in `rx_errors`.
    CopyFailed {
        /// The buffer.
        id: u16,
    },
    /// The frame's checksum is wrong. Counted in `rx_bad_csum`.
    Checksum {
        /// The buffer.
        id: u16,
        /// What was wrong.
        error: ChecksumError,
    },
    /// A multi-slot packet or one with extra-info slots, which we did not negotiate; all
    /// its slots are dropped. Counted in `rx_unnegotiated`.
    Unnegotiated {
        /// The buffer of its first slot.
        id: u16,
        /// That slot's `NETRXF_*` flags.
        flags: u16,
    },
}

/// What one [`RxQueue::poll`] did.
#[must_use = "notify the backend when asked, and poll again while `more`"]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxPoll {
    /// A packet of this many bytes was copied out (into the caller's `out`).
    pub packet: Option<usize>,
    /// Buffers were posted and the backend asked to hear of it: send an event.
    pub notify: bool,
    /// Responses are waiting (or arrived as we re-armed): poll again before waiting for
    /// an event. When false, `rsp_event` is armed so the next response raises one.
    pub more: bool,
}

/// The rest of a packet being dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// The next slot starts a packet.
    Nothing,
    /// Extra-info slots follow; then fragments if `fragments`.
    Extras {
        /// The first slot had `NETRXF_more_data`.
        fragments: bool,
    },
    /// Continuation fragments follow (`NETRXF_more_data` on the previous one).
    Fragments,
}

/// The receive side of a netfront: its ring page and buffers (ids `0..n`, one page each,
/// granted writable to the backend by the caller).
#[derive(Debug)]
pub struct RxQueue {
    sring: Shared<NetifRxSring>,
    ring: FrontRing<RX_RING_SIZE>,
    grefs: Vec<GrantRef>,
    /// `posted[id]`: the backend holds buffer `id`.
    posted: Vec<bool>,
    /// Buffers we hold, each once.
    free: Vec<u16>,
    /// The buffer posted in each ring slot.
    slot_ids: [u16; RX_RING_SIZE],
    skip: Skip,
    state: QueueState,
    max_frame: usize,
    stats: Stats,
    last_drop: Option<RxDrop>,
}

impl RxQueue {
    /// A queue over ring page `sring` (its header is initialised here, so call this before
    /// granting it) and buffers `grefs[id]`, accepting frames of up to `max_frame` bytes.
    /// Nothing is posted until [`refill`](Self::refill) or [`poll`](Self::poll).
    ///
    /// # Errors
    /// No buffers or more than 65536, or `max_frame` 0 or larger than a page.
    pub fn new(
        sring: Shared<NetifRxSring>,
        grefs: Vec<GrantRef>,
        max_frame: usize,
    ) -> Result<Self, ConfigError> {
        Self::with_start(sring, grefs, max_frame, 0)
    }

    /// As [`new`](Self::new), with both ring indices starting at `start` (tests use this
    /// to cross the `u32` wrap).
    pub(crate) fn with_start(
        sring: Shared<NetifRxSring>,
        grefs: Vec<GrantRef>,
        max_frame: usize,
        start: u32,
    ) -> Result<Self, ConfigError> {
        let free = free_ids(grefs.len(), max_frame)?;
        init_sring(sring, start);
        Ok(RxQueue {
            sring,
            ring: FrontRing {
                req_prod_pvt: start,
                rsp_cons: start,
            },
            posted: alloc::vec![false; grefs.len()],
            grefs,
            free,
            slot_ids: [0; RX_RING_SIZE],
            skip: Skip::Nothing,
            state: QueueState::Running,
            max_frame,
            stats: Stats::default(),
            last_drop: None,
        })
    }

    /// The counters (RX fields only).
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Why the latest dropped packet was dropped.
    pub fn last_drop(&self) -> Option<RxDrop> {
        self.last_drop
    }

    /// The protocol error that broke the ring, if one did.
    pub fn broken(&self) -> Option<RingError> {
        match self.state {
            QueueState::Broken(e) => Some(e),
            _ => None,
        }
    }

    /// Buffers the backend holds.
    pub fn posted(&self) -> usize {
        self.posted.iter().filter(|p| **p).count()
    }

    /// Buffers we hold.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Posts every free buffer the ring has room for and publishes them; true when the
    /// backend must be notified.
    ///
    /// # Errors
    /// The ring is broken.
    pub fn refill(&mut self) -> Result<bool, RingError> {
        if let QueueState::Broken(e) = self.state {
            return Err(e);
        }
        Ok(self.post_free())
    }

    /// Consumes responses until one packet is ready (copied into `out`, resized to its
    /// length, through `copy(id, offset, dst)`, which must fill `dst` from buffer `id`
    /// starting at byte `offset` and return false if it cannot) or none is left; drops and
    /// counts bad packets on the way; posts the buffers it got back; re-arms `rsp_event`.
    ///
    /// # Errors
    /// The backend broke the ring protocol, now or earlier; the queue does nothing more.
    pub fn poll(
        &mut self,
        out: &mut Vec<u8>,
        mut copy: impl FnMut(u16, usize, &mut [u8]) -> bool,
    ) -> Result<RxPoll, RingError> {
        match self.state {
            QueueState::Broken(e) => return Err(e),
            QueueState::Closed => return Ok(RxPoll::default()),
            QueueState::Running | QueueState::Stopped => {}
        }
        // Each round consumes at least one slot, and one poll at most a ring's worth, so
        // a backend answering as fast as we post cannot keep us here.
        let mut budget = RX_RING_SIZE;
        let mut notify = false;
        loop {
            let packet = self
                .next_packet(out, &mut copy, &mut budget)
                .map_err(|e| self.fail(e))?;
            notify |= self.post_free();
            // RING_FINAL_CHECK_FOR_RESPONSES, done even when responses remain: rsp_event
            // then points just past what we consumed, and `more` tells the caller.
            let more = self.ring.final_check(self.sring, self.ring.rsp_cons);
            if packet.is_some() || !more || budget == 0 {
                return Ok(RxPoll {
                    packet,
                    notify,
                    more,
                });
            }
        }
    }

    /// Stops posting buffers (the backend is closing); responses are still consumed.
    pub fn stop(&mut self) {
        if self.state == QueueState::Running {
            self.state = QueueState::Stopped;
        }
    }

    /// The backend has released the ring (it is `Closed` or gone): every posted buffer is
    /// ours again, broken ring or not, and the queue does nothing more. End the buffers'
    /// grants before reusing their pages.
    pub fn close(&mut self) -> Closed {
        let mut reclaimed = 0usize;
        for (id, p) in self.posted.iter_mut().enumerate() {
            if *p {
                *p = false;
                self.free.push(u16::try_from(id).unwrap_or(u16::MAX));
                reclaimed = reclaimed.saturating_add(1);
            }
        }
        self.skip = Skip::Nothing;
        self.state = QueueState::Closed;
        Closed { reclaimed, lost: 0 }
    }

    fn fail(&mut self, e: RingError) -> RingError {
        self.state = QueueState::Broken(e);
        e
    }

    fn drop_packet(&mut self, why: RxDrop) {
        let counter = match why {
            RxDrop::Checksum { .. } => &mut self.stats.rx_bad_csum,
            RxDrop::Unnegotiated { .. } => &mut self.stats.rx_unnegotiated,
            _ => &mut self.stats.rx_errors,
        };
        bump(counter, 1);
        self.last_drop = Some(why);
    }

    /// Posts free buffers while the ring has room; publishes; true to notify.
    fn post_free(&mut self) -> bool {
        if self.state != QueueState::Running {
            return false;
        }
        let mut any = false;
        while self.ring.free_requests() > 0 {
            let Some(id) = self.free.pop() else { break };
            let (Some(&gref), Some(posted)) = (
                self.grefs.get(usize::from(id)),
                self.posted.get_mut(usize::from(id)),
            ) else {
                // Free ids come from `0..grefs.len()`: not reached.
                continue;
            };
            let Some(slot) = self.ring.next_request() else {
                self.free.push(id);
                break;
            };
            *posted = true;
            if let Some(s) = self.slot_ids.get_mut(slot) {
                *s = id;
            }
            if let Some(cell) = shared_field!(self.sring, NetifRxSring, ring).get(slot) {
                cell.write(NetifRxRequest {
                    id,
                    pad: 0,
                    gref: gref.0,
                });
            }
            any = true;
        }
        any && self.ring.push_requests(self.sring)
    }

    /// Consumes slots until a packet is delivered, no response is left, or the budget
    /// runs out.
    fn next_packet(
        &mut self,
        out: &mut Vec<u8>,
        copy: &mut impl FnMut(u16, usize, &mut [u8]) -> bool,
        budget: &mut usize,
    ) -> Result<Option<usize>, RingError> {
        let mut ready = 0u32;
        while *budget > 0 {
            if ready == 0 {
                let rsp_prod = FrontRing::<RX_RING_SIZE>::rsp_prod(self.sring);
                ready = self
                    .ring
                    .responses(rsp_prod)
                    .map_err(RingError::TooManyRxResponses)?;
                if ready == 0 {
                    return Ok(None);
                }
            }
            ready = ready.saturating_sub(1);
            *budget = budget.saturating_sub(1);
            if let Some(len) = self.take_slot(out, copy)? {
                return Ok(Some(len));
            }
        }
        Ok(None)
    }

    /// Gives back buffer `id`, which must be the one posted in `slot`.
    fn claim(&mut self, id: u16, slot: usize) -> Result<(), RingError> {
        let Some(posted) = self.posted.get_mut(usize::from(id)) else {
            return Err(RingError::UnknownRxId { id, slot });
        };
        if !*posted {
            return Err(RingError::RxIdNotPosted { id, slot });
        }
        let expected = self.slot_ids.get(slot).copied().unwrap_or(u16::MAX);
        if expected != id {
            return Err(RingError::RxIdWrongSlot {
                id,
                posted: expected,
                slot,
            });
        }
        *posted = false;
        self.free.push(id);
        Ok(())
    }

    /// Consumes one ring slot; a packet's length if it completed a good one.
    fn take_slot(
        &mut self,
        out: &mut Vec<u8>,
        copy: &mut impl FnMut(u16, usize, &mut [u8]) -> bool,
    ) -> Result<Option<usize>, RingError> {
        let slot = self.ring.next_response();
        let Some(cell) = shared_field!(self.sring, NetifRxSring, ring).get(slot) else {
            // `next_response` masks the index into the ring: not reached.
            return Ok(None);
        };
        match self.skip {
            Skip::Extras { fragments } => {
                // No id in an extra-info slot: it answers the request posted here.
                let extra: NetifExtraInfo = cell.project::<NetifExtraInfo>(0).read();
                // (Every claim matches its slot, so that buffer is still posted.)
                let id = self.slot_ids.get(slot).copied().unwrap_or(u16::MAX);
                self.claim(id, slot)?;
                self.skip = if extra.flags & XEN_NETIF_EXTRA_FLAG_MORE != 0 {
                    Skip::Extras { fragments }
                } else if fragments {
                    Skip::Fragments
                } else {
                    Skip::Nothing
                };
                Ok(None)
            }
            Skip::Fragments => {
                let rsp: NetifRxResponse = cell.project::<NetifRxResponse>(0).read();
                self.claim(rsp.id, slot)?;
                if rsp.flags & NETRXF_MORE_DATA == 0 {
                    self.skip = Skip::Nothing;
                }
                Ok(None)
            }
            Skip::Nothing => {
                // One read of the slot; everything below checks this copy.
                let rsp: NetifRxResponse = cell.project::<NetifRxResponse>(0).read();
                self.claim(rsp.id, slot)?;
                self.first_slot(rsp, out, copy)
            }
        }
    }

    /// Checks and copies out the packet of a first (here: only) slot.
    fn first_slot(
        &mut self,
        rsp: NetifRxResponse,
        out: &mut Vec<u8>,
        copy: &mut impl FnMut(u16, usize, &mut [u8]) -> bool,
    ) -> Result<Option<usize>, RingError> {
        let id = rsp.id;
        let extras = rsp.flags & NETRXF_EXTRA_INFO != 0;
        let fragments = rsp.flags & NETRXF_MORE_DATA != 0;
        if extras || fragments {
            self.skip = if extras {
                Skip::Extras { fragments }
            } else {
                Skip::Fragments
            };
            self.drop_packet(RxDrop::Unnegotiated {
                id,
                flags: rsp.flags,
            });
            return Ok(None);
        }
        let Ok(len) = usize::try_from(rsp.status) else {
            self.drop_packet(RxDrop::Status {
                id,
                status: rsp.status,
            });
            return Ok(None);
        };
        let offset = usize::from(rsp.offset);
        let why = if len == 0 {
            Some(RxDrop::Empty { id })
        } else if offset.saturating_add(len) > PAGE_SIZE {
            Some(RxDrop::PastPage {
                id,
                offset: rsp.offset,
                len,
            })
        } else if len > self.max_frame {
            Some(RxDrop::TooLong {
                id,
                len,
                max: self.max_frame,
            })
        } else {
            None
        };
        if let Some(why) = why {
            self.drop_packet(why);
            return Ok(None);
        }
        out.clear();
        out.resize(len, 0);
        if !copy(id, offset, out) {
            self.drop_packet(RxDrop::CopyFailed { id });
            return Ok(None);
        }
        if rsp.flags & (NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED) == 0
            && let Err(error) = verify_frame(out)
        {
            self.drop_packet(RxDrop::Checksum { id, error });
            return Ok(None);
        }
        bump(&mut self.stats.rx_packets, 1);
        bump(&mut self.stats.rx_bytes, len);
        Ok(Some(len))
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
impl RxQueue {
    /// The private ring indices.
    pub(crate) fn front(&self) -> FrontRing<RX_RING_SIZE> {
        self.ring
    }

    /// Ids the backend holds, ascending.
    pub(crate) fn posted_ids(&self) -> Vec<u16> {
        (0..self.posted.len())
            .filter(|&i| self.posted[i])
            .map(|i| i as u16)
            .collect()
    }

    /// Checks the queue's own bookkeeping: every id exactly once posted or free, and the
    /// posted ones exactly those of the outstanding slots.
    pub(crate) fn audit(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let n = self.posted.len();
        let mut seen = alloc::vec![0u8; n];
        for &id in &self.free {
            let s = seen
                .get_mut(usize::from(id))
                .ok_or(format!("free id {id} out of range"))?;
            *s += 1;
            if self.posted[usize::from(id)] {
                return Err(format!("id {id} both free and posted"));
            }
        }
        for (i, s) in seen.iter().enumerate() {
            if (*s == 0) != self.posted[i] || *s > 1 {
                return Err(format!("id {i}: free {s} times, posted {}", self.posted[i]));
            }
        }
        if matches!(self.state, QueueState::Broken(_) | QueueState::Closed) {
            return Ok(());
        }
        let outstanding = self.ring.req_prod_pvt.wrapping_sub(self.ring.rsp_cons);
        let mut slot_ids: Vec<u16> = (0..outstanding)
            .map(|k| {
                let idx = self.ring.rsp_cons.wrapping_add(k) as usize & (RX_RING_SIZE - 1);
                self.slot_ids[idx]
            })
            .collect();
        slot_ids.sort_unstable();
        if slot_ids != self.posted_ids() {
            return Err(format!(
                "outstanding slots hold {slot_ids:?}, posted {:?}",
                self.posted_ids()
            ));
        }
        Ok(())
    }
}
