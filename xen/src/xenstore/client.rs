//! The bookkeeping of a xenstore client, apart from how it waits: request ids handed out
//! and matched, whole messages filed as replies or watch events, and everything
//! unexpected counted as a stray instead of trusted. The kernel's `xenbus` wraps it with
//! wait queues and deadlines; the host tests drive it against a fake xenstored.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{MsgReader, Reply, Route, XenstoreRing, XsError, route};
use crate::abi::xenstore::XsdSockmsg;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

/// Watch events kept per watch; beyond that the oldest are dropped (a watch only says
/// "look again", so the newest matter).
pub const WATCH_QUEUE_MAX: usize = 64;

/// A whole message from xenstored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its header.
    pub header: XsdSockmsg,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// A view for the typed accessors of [`Reply`].
    pub fn reply(&self) -> Reply<'_> {
        Reply {
            header: self.header,
            payload: &self.payload,
        }
    }
}

/// Outstanding requests, filed replies and watch events of one connection.
pub struct Demux {
    reader: Box<MsgReader>,
    next_req_id: u32,
    pending: BTreeMap<u32, Option<Message>>,
    watches: BTreeMap<String, VecDeque<String>>,
    broken: Option<XsError>,
    strays: u64,
}

impl Default for Demux {
    fn default() -> Self {
        Self::new()
    }
}

impl Demux {
    /// No requests, no watches.
    pub fn new() -> Self {
        Demux {
            reader: Box::new(MsgReader::new()),
            next_req_id: 1,
            pending: BTreeMap::new(),
            watches: BTreeMap::new(),
            broken: None,
            strays: 0,
        }
    }

    /// A fresh request id, registered as waiting for its reply: never 0 (the id of watch
    /// events) and never one still outstanding. Fails once the connection is broken.
    pub fn begin(&mut self) -> Result<u32, XsError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let mut id = self.next_req_id;
        while id == 0 || self.pending.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_req_id = id.wrapping_add(1);
        self.pending.insert(id, None);
        Ok(id)
    }

    /// The reply to request `id`, once filed (the request is then done).
    pub fn take_reply(&mut self, id: u32) -> Option<Message> {
        let reply = self.pending.get_mut(&id)?.take()?;
        self.pending.remove(&id);
        Some(reply)
    }

    /// Gives up on request `id` (timed out, or failed to send): a reply that comes later
    /// is a stray.
    pub fn cancel(&mut self, id: u32) {
        self.pending.remove(&id);
    }

    /// Starts keeping events for `token`; a token in use fails with `EEXIST`.
    pub fn add_watch(&mut self, token: &str) -> Result<(), XsError> {
        if self.watches.contains_key(token) {
            return Err(XsError::Xenstore(super::Errno::Eexist));
        }
        self.watches.insert(String::from(token), VecDeque::new());
        Ok(())
    }

    /// Stops keeping events for `token`; later ones are strays.
    pub fn remove_watch(&mut self, token: &str) {
        self.watches.remove(token);
    }

    /// The oldest path not yet taken that fired the watch with `token`.
    pub fn take_event(&mut self, token: &str) -> Option<String> {
        self.watches.get_mut(token)?.pop_front()
    }

    /// What broke the connection, if anything did.
    pub fn broken(&self) -> Option<XsError> {
        self.broken
    }

    /// Marks the connection broken (the caller found the stream out of step).
    pub fn set_broken(&mut self, e: XsError) {
        self.broken.get_or_insert(e);
    }

    /// Messages that matched no outstanding request or watch, or were malformed.
    pub fn strays(&self) -> u64 {
        self.strays
    }

    /// Files every whole message waiting in `ring`. Returns whether it took any bytes
    /// (then xenstored should be notified: it may be waiting for room). An error breaks
    /// the connection for good.
    pub fn pull(&mut self, ring: &XenstoreRing) -> Result<bool, XsError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let before = ring.readable();
        loop {
            match self.reader.pull(ring) {
                Ok(true) => {
                    let filed = self.reader.message().map(|m| Message {
                        header: m.header,
                        payload: m.payload.to_vec(),
                    });
                    self.reader.next();
                    if let Some(m) = filed {
                        self.file(m);
                    }
                }
                Ok(false) => return Ok(before.is_ok_and(|n| n > 0)),
                Err(e) => {
                    self.broken = Some(e);
                    return Err(e);
                }
            }
        }
    }

    fn stray(&mut self) {
        self.strays = self.strays.saturating_add(1);
    }

    /// Files one message: a reply to its waiting request, a watch event to its watch.
    fn file(&mut self, m: Message) {
        match route(&m.header) {
            Route::Reply { req_id } => match self.pending.get_mut(&req_id) {
                Some(slot @ None) => *slot = Some(m),
                _ => self.stray(),
            },
            Route::WatchEvent => {
                let Ok(event) = m.reply().watch_event() else {
                    self.stray();
                    return;
                };
                match self.watches.get_mut(event.token) {
                    Some(queue) => {
                        if queue.len() >= WATCH_QUEUE_MAX {
                            queue.pop_front();
                        }
                        queue.push_back(String::from(event.path));
                    }
                    None => self.stray(),
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::super::fake::FakeXenstored;
    use super::super::wire::header_bytes;
    use super::*;
    use std::format;

    const READ: u32 = 2;
    const WATCH_EVENT: u32 = 15;

    #[test]
    fn replies_reach_their_request_and_strays_are_counted() {
        let mut fake = FakeXenstored::new(u32::MAX - 20);
        let ring = fake.client();
        let mut d = Demux::new();
        let (a, b) = (d.begin().unwrap(), d.begin().unwrap());
        assert_ne!(a, b);
        fake.send(READ, b, b"for b");
        fake.send(READ, 999, b"for nobody");
        fake.send(READ, a, b"for a");
        assert_eq!(d.pull(&ring), Ok(true));
        assert_eq!(d.take_reply(a).unwrap().payload, b"for a");
        assert_eq!(d.take_reply(b).unwrap().payload, b"for b");
        assert_eq!(d.take_reply(a), None, "a reply is taken once");
        assert_eq!(d.strays(), 1);
        assert_eq!(d.pull(&ring), Ok(false), "nothing more to read");
    }

    #[test]
    fn a_reply_that_never_comes_leaves_others_working_and_a_late_one_is_a_stray() {
        let mut fake = FakeXenstored::new(0);
        let ring = fake.client();
        let mut d = Demux::new();
        let lost = d.begin().unwrap();
        let other = d.begin().unwrap();
        fake.send(READ, other, b"ok");
        d.pull(&ring).unwrap();
        assert_eq!(
            d.take_reply(lost),
            None,
            "still waiting, not blocking anyone"
        );
        assert!(d.take_reply(other).is_some());
        // The caller's deadline passes: it cancels; the reply then comes after all.
        d.cancel(lost);
        fake.send(READ, lost, b"too late");
        fake.send(READ, other, b"twice");
        d.pull(&ring).unwrap();
        assert_eq!(d.take_reply(lost), None);
        assert_eq!(d.strays(), 2);
        let next = d.begin().unwrap();
        assert_eq!(
            d.take_reply(next),
            None,
            "a new request does not inherit a stray"
        );
    }

    #[test]
    fn watch_events_go_to_their_token_and_are_bounded() {
        let mut fake = FakeXenstored::new(7);
        let ring = fake.client();
        let mut d = Demux::new();
        d.add_watch("t").unwrap();
        assert_eq!(
            d.add_watch("t"),
            Err(XsError::Xenstore(super::super::Errno::Eexist))
        );
        for i in 0..WATCH_QUEUE_MAX + 6 {
            fake.send(WATCH_EVENT, 0, format!("p/{i}\0t\0").as_bytes());
            d.pull(&ring).unwrap();
        }
        fake.send(WATCH_EVENT, 0, b"q\0other\0");
        fake.send(WATCH_EVENT, 0, b"no token");
        d.pull(&ring).unwrap();
        assert_eq!(
            d.take_event("t").as_deref(),
            Some("p/6"),
            "the oldest were dropped"
        );
        let rest = core::iter::from_fn(|| d.take_event("t")).count();
        assert_eq!(rest, WATCH_QUEUE_MAX - 1);
        assert_eq!(d.strays(), 2, "unknown token and malformed event");
        d.remove_watch("t");
        fake.send(WATCH_EVENT, 0, b"p\0t\0");
        d.pull(&ring).unwrap();
        assert_eq!(d.take_event("t"), None);
        assert_eq!(d.strays(), 3);
    }

    #[test]
    fn a_broken_stream_fails_every_request_now_and_later() {
        let mut fake = FakeXenstored::new(0);
        let ring = fake.client();
        let mut d = Demux::new();
        let id = d.begin().unwrap();
        let h = XsdSockmsg {
            type_: READ,
            req_id: id,
            tx_id: 0,
            len: 5000,
        };
        fake.backlog.extend(header_bytes(&h));
        fake.pump();
        let cause = XsError::TooLong { len: 5000 };
        assert_eq!(d.pull(&ring), Err(cause));
        assert_eq!(d.broken(), Some(cause));
        assert_eq!(d.begin(), Err(cause));
        assert_eq!(d.pull(&ring), Err(cause));
        // The first cause stays.
        d.set_broken(XsError::Timeout);
        assert_eq!(d.broken(), Some(XsError::TooLong { len: 5000 }));
    }

    #[test]
    fn hostile_indices_break_the_connection_without_panicking() {
        let mut fake = FakeXenstored::new(0);
        let ring = fake.client();
        let mut d = Demux::new();
        fake.page.rsp_prod = 1025;
        assert!(matches!(d.pull(&ring), Err(XsError::BadIndices { .. })));
        assert!(d.begin().is_err());
    }

    #[test]
    fn request_ids_skip_zero_and_ids_still_outstanding() {
        let mut d = Demux::new();
        d.next_req_id = u32::MAX;
        let a = d.begin().unwrap();
        assert_eq!(a, u32::MAX);
        let b = d.begin().unwrap();
        assert_eq!(b, 1, "0 is the id of watch events");
        d.next_req_id = u32::MAX;
        let c = d.begin().unwrap();
        assert_eq!(c, 2, "u32::MAX and 1 are still outstanding");
    }
}
