//! One client connection: bytes in, responses out, in request order.
//!
//! The connection owns a buffer of at most `max_head` bytes and never touches a socket or
//! a clock: the app feeds it what the socket delivered, asks it for responses, and passes
//! the current time in (as smoltcp's `poll(timestamp, ...)` does), so every behaviour
//! is deterministic and runs on the host.
//!
//! Timers, all measured from the time passed in:
//! - the first request's head must complete within `head_timeout_ns` of [`Connection::new`];
//!   a later request's head within `head_timeout_ns` of its first byte (or of the previous
//!   response, when its bytes were already waiting). A partial head past that gets a 408
//!   and the connection closes. A connection that sent nothing is closed without an answer.
//! - content being skipped must arrive within `head_timeout_ns` of the answer; otherwise
//!   the connection closes.
//! - an idle persistent connection (no byte since the last response) closes silently after
//!   `idle_timeout_ns`.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::request::{Scan, scan};
use crate::response::{Body, Draft, Persistence, Response};
use crate::site::{Resource, Site};
use crate::status::{Rejection, StatusCode};
use alloc::vec::Vec;

/// Per-connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request head (request line, header lines, empty line) in bytes; also the
    /// most the connection buffers. At least [`Limits::MIN_HEAD`] is used.
    pub max_head: usize,
    /// Most content bytes skipped to keep a connection open after refusing a request
    /// that carries content; more gets 413 and a close.
    pub max_body: u64,
    /// Time allowed for a request head to arrive, in nanoseconds.
    pub head_timeout_ns: u64,
    /// Time an idle persistent connection is kept open, in nanoseconds.
    pub idle_timeout_ns: u64,
}

impl Limits {
    /// The smallest `max_head` used, whatever is asked.
    pub const MIN_HEAD: usize = 64;

    /// 8 KiB heads, 64 KiB skipped content, 10 s for a head, 15 s idle.
    pub const DEFAULT: Self = Self {
        max_head: 8192,
        max_body: 64 * 1024,
        head_timeout_ns: 10_000_000_000,
        idle_timeout_ns: 15_000_000_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The HTTP/1.1 state of one connection.
///
/// Feed it bytes with [`feed`](Self::feed), take responses with [`poll`](Self::poll)
/// until it returns `None`, write them in that order, and close the socket once
/// [`should_close`](Self::should_close) says so and everything is written. Call
/// [`on_timeout`](Self::on_timeout) when the time passes [`deadline`](Self::deadline).
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    /// Bytes of the request at the front and of pipelined ones after it.
    buf: Vec<u8>,
    /// Content bytes still to discard before the next request.
    skip: u64,
    /// When the current wait (for a head, content or the next request) began.
    since_ns: u64,
    /// Responses produced so far.
    answered: u64,
    /// What the front of `buf` holds when it gives a response (`poll` returns `Some`);
    /// kept so the head is not parsed twice.
    next: Option<Scan>,
    /// The client will send nothing more.
    peer_closed: bool,
    /// Nothing more will be answered: close once written.
    closing: bool,
}

impl Connection {
    /// A connection accepted at `now_ns`, with [`Limits::DEFAULT`].
    pub fn new(now_ns: u64) -> Self {
        Self::with_limits(Limits::DEFAULT, now_ns)
    }

    /// A connection accepted at `now_ns`, with `limits`.
    pub fn with_limits(limits: Limits, now_ns: u64) -> Self {
        let limits = Limits {
            max_head: limits.max_head.max(Limits::MIN_HEAD),
            ..limits
        };
        Self {
            limits,
            buf: Vec::new(),
            skip: 0,
            since_ns: now_ns,
            answered: 0,
            next: None,
            peer_closed: false,
            closing: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes bytes received from the client and returns how many it took.
    ///
    /// It takes fewer than `data.len()` when its buffer is full of requests not yet
    /// answered: leave the rest in the socket, [`poll`](Self::poll) until `None`, then
    /// feed again. Once the connection is closing (or the peer closed), everything is
    /// taken and dropped.
    #[must_use = "bytes not taken must be fed again later"]
    pub fn feed(&mut self, data: &[u8], now_ns: u64) -> usize {
        if self.closing || self.peer_closed {
            return data.len();
        }
        let mut taken = 0;
        if self.skip > 0 {
            let n = usize::try_from(self.skip).map_or(data.len(), |s| s.min(data.len()));
            self.skip = self
                .skip
                .saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
            taken = n;
            if self.skip == 0 {
                self.since_ns = now_ns;
            }
        }
        if self.skip == 0 {
            let rest = data.get(taken..).unwrap_or_default();
            let room = self.limits.max_head.saturating_sub(self.buf.len());
            let n = room.min(rest.len());
            if n > 0 {
                if self.buf.is_empty() && self.answered > 0 {
                    // The first byte of a new request starts its head timer.
                    self.since_ns = now_ns;
                }
                self.buf
                    .extend_from_slice(rest.get(..n).unwrap_or_default());
                taken = taken.saturating_add(n);
            }
        }
        self.refresh();
        taken
    }

    /// The next response, in request order, or `None` until more bytes arrive.
    ///
    /// Call it until it returns `None` after each [`feed`](Self::feed). A response that
    /// [closes the connection](Response::closes_connection) is the last one.
    pub fn poll<S: Site + ?Sized>(&mut self, site: &S, now_ns: u64) -> Option<Response> {
        let response = match self.next.take()? {
            Scan::Incomplete => return None,
            Scan::Reject(rejection) => {
                self.close();
                Draft::error(rejection, true, Persistence::Close).finish()
            }
            Scan::Head(head) => {
                let send_body = !head.head_method;
                let draft = match head.outcome {
                    Ok(path) => match site.lookup(&path) {
                        Some(resource) => {
                            let (body, content_type) = match resource {
                                Resource::Static { body, content_type } => {
                                    (Body::Static(body), content_type)
                                }
                                Resource::Dynamic { body, content_type } => {
                                    (Body::Owned(body), content_type)
                                }
                            };
                            Draft {
                                status: StatusCode::Ok,
                                content_type,
                                body,
                                send_body,
                                persistence: head.persistence,
                                rejection: None,
                            }
                        }
                        None => Draft::error(Rejection::NotFound, send_body, head.persistence),
                    },
                    Err(rejection) => Draft::error(rejection, send_body, head.persistence),
                };
                if head.persistence == Persistence::Close {
                    self.close();
                } else {
                    self.buf.drain(..head.len.min(self.buf.len()));
                    let buffered = usize::try_from(head.skip)
                        .map_or(self.buf.len(), |s| s.min(self.buf.len()));
                    self.buf.drain(..buffered);
                    self.skip = head
                        .skip
                        .saturating_sub(u64::try_from(buffered).unwrap_or(u64::MAX));
                }
                draft.finish()
            }
        };
        self.answered = self.answered.saturating_add(1);
        self.since_ns = now_ns;
        self.refresh();
        Some(response)
    }

    /// Handles the time passing [`deadline`](Self::deadline): a 408 to write when a
    /// request head is incomplete, `None` otherwise. Either way, when the deadline has
    /// passed the connection is closing afterwards. Before the deadline, or while a
    /// response is waiting to be polled, it does nothing.
    pub fn on_timeout(&mut self, now_ns: u64) -> Option<Response> {
        let deadline = self.deadline()?;
        if now_ns < deadline {
            return None;
        }
        let partial_head = !self.buf.is_empty();
        self.close();
        partial_head.then(|| Draft::error(Rejection::Timeout, true, Persistence::Close).finish())
    }

    /// When [`on_timeout`](Self::on_timeout) should be called, in the same clock as
    /// `now_ns`; `None` while a response waits to be polled or once closing.
    pub fn deadline(&self) -> Option<u64> {
        if self.closing || self.next.is_some() {
            return None;
        }
        let waiting_for_head = !self.buf.is_empty() || self.skip > 0 || self.answered == 0;
        let timeout = if waiting_for_head {
            self.limits.head_timeout_ns
        } else {
            self.limits.idle_timeout_ns
        };
        Some(self.since_ns.saturating_add(timeout))
    }

    /// Whether the app should close the connection once it has written every response
    /// it was given. Nothing more will be answered.
    pub fn should_close(&self) -> bool {
        self.closing
    }

    /// The client closed its side (EOF). Complete requests already received are still
    /// answered by [`poll`](Self::poll); a partial one is dropped unanswered; then the
    /// connection is closing.
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
        self.refresh();
    }

    /// Bytes buffered (never more than `max_head`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Recomputes whether `poll` has something, and closes after EOF when not.
    fn refresh(&mut self) {
        self.next = if self.closing || self.skip > 0 || self.buf.is_empty() {
            None
        } else if self.next.is_some() {
            // Bytes appended after a head do not change what the head says.
            self.next.take()
        } else {
            Some(scan(&self.buf, &self.limits)).filter(|s| !matches!(s, Scan::Incomplete))
        };
        if self.peer_closed && self.next.is_none() {
            self.close();
        }
    }

    /// Stops answering and frees the buffer.
    fn close(&mut self) {
        self.closing = true;
        self.next = None;
        self.skip = 0;
        self.buf = Vec::new();
    }
}
