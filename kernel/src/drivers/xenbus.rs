//! The xenstore client: requests whose replies are matched by request id, watches, and
//! transactions retried on `EAGAIN`, over the ring page and event channel Xen's builder
//! set up (`start_info.store_mfn`, `store_evtchn`).
//!
//! Any thread may make requests; one writer at a time puts a whole message into the
//! request ring (waiting for room when it is full), then waits for the reply with its id.
//! The event handler reads whole messages out of the reply ring and files them: replies by
//! id, watch events by token. A reply nobody waits for (a wrong id, or one that came after
//! its request timed out) is counted and dropped. A broken stream (hostile indices, a
//! header announcing over 4096 bytes) fails every pending and later request with the error
//! that broke it. Nothing xenstored sends can panic the client.
#![forbid(unsafe_code)]

use crate::arch::x86_64 as arch;
use crate::sched::sync::{Mutex, WaitQueue};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use xen::abi::xen::Port;
use xen::xenstore::client::{Demux, Message};
use xen::xenstore::wire::MSG_MAX;
use xen::xenstore::{MsgType, Request, XenstoreRing, XsError};

/// How long a request waits for its reply (xenstored in dom0 answers in microseconds on
/// hardware, milliseconds under emulation).
pub const REPLY_TIMEOUT_NS: u64 = 10_000_000_000;
/// How often a transaction is run again after `EAGAIN` before giving up.
pub const TRANSACTION_TRIES: usize = 16;

/// A transaction id (`0`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tx(pub u32);

impl Tx {
    /// Outside any transaction.
    pub const NONE: Tx = Tx(0);
}

/// The connection to xenstored.
pub struct Xenbus {
    ring: XenstoreRing,
    port: Port,
    inner: spin::Mutex<Demux>,
    /// Woken when a message is filed, the request ring gains room or the stream breaks.
    changed: WaitQueue,
    /// One message at a time into the request ring.
    writer: Mutex<()>,
    /// Set on every message filed (drivers whose thread waits on their own event).
    listeners: spin::Mutex<alloc::vec::Vec<&'static crate::sched::sync::Event>>,
}

static XENBUS: spin::Once<Result<Arc<Xenbus>, XsError>> = spin::Once::new();

/// The connection, set up on first use.
///
/// Fails with [`XsError::Xenstore`]`(Enosys)` when the domain has no xenstore ring.
pub fn get() -> Result<Arc<Xenbus>, XsError> {
    XENBUS.call_once(connect).clone()
}

fn connect() -> Result<Arc<Xenbus>, XsError> {
    let info = crate::boot_info();
    let no_store = XsError::Xenstore(xen::xenstore::Errno::Enosys);
    let page = arch::xenstore_page(info.store_mfn).ok_or(no_store)?;
    if info.store_evtchn == 0 {
        return Err(no_store);
    }
    let bus = Arc::new(Xenbus {
        ring: XenstoreRing::new(page),
        port: Port(info.store_evtchn),
        inner: spin::Mutex::new(Demux::new()),
        changed: WaitQueue::new(),
        writer: Mutex::new(()),
        listeners: spin::Mutex::new(alloc::vec::Vec::new()),
    });
    let handler = bus.clone();
    crate::event::bind_handler(bus.port, Arc::new(move |_| handler.on_event()))
        .map_err(|_| no_store)?;
    // Replies that arrived before the handler was bound.
    bus.on_event();
    Ok(bus)
}

impl Xenbus {
    /// Files every whole message waiting in the reply ring and wakes the waiters.
    fn on_event(&self) {
        let pulled = self.inner.lock().pull(&self.ring);
        match pulled {
            // xenstored may be waiting for room in the reply ring.
            Ok(true) => self.notify(),
            Ok(false) => {}
            Err(e) => log::error!("connection broken: {e}"),
        }
        self.changed.wake_all();
        for ev in self.listeners.lock().iter() {
            ev.set();
        }
    }

    /// Sets `ev` whenever a message from xenstored is filed (a watch event, a reply): for
    /// a thread that waits on its own [`Event`](crate::sched::sync::Event) and takes watch
    /// events with [`Watch::try_next`].
    pub fn notify_on_message(&self, ev: &'static crate::sched::sync::Event) {
        self.listeners.lock().push(ev);
    }

    fn notify(&self) {
        // A lost notification only delays: every wait has a deadline and re-reads the ring.
        let _ = crate::event::send(self.port);
    }

    /// Sends `req` and returns the message that answers it (of any type: the typed
    /// operations below check it).
    fn call(&self, req: &Request<'_>, tx: Tx) -> Result<Message, XsError> {
        let mut msg = vec![0u8; MSG_MAX];
        let deadline = crate::time::now_ns().saturating_add(REPLY_TIMEOUT_NS);
        let id = self.inner.lock().begin()?;
        let len = match req.encode(id, tx.0, &mut msg) {
            Ok(len) => len,
            Err(e) => {
                self.inner.lock().cancel(id);
                return Err(e);
            }
        };
        msg.truncate(len);
        let ty = msg.first().copied().map_or(0, u64::from);
        crate::trace::record(crate::trace::Kind::XsRequest, [ty, u64::from(id), 0]);
        let result = self
            .send(&msg, deadline)
            .and_then(|()| self.wait_reply(id, deadline));
        if let Ok(m) = &result {
            crate::trace::record(
                crate::trace::Kind::XsReply,
                [u64::from(m.header.type_), u64::from(id), 0],
            );
        }
        if result.is_err() {
            self.inner.lock().cancel(id);
        }
        result
    }

    /// Puts a whole message into the request ring, waiting for room as needed.
    fn send(&self, msg: &[u8], deadline: u64) -> Result<(), XsError> {
        let _one_writer = self.writer.lock();
        let mut rest = msg;
        while !rest.is_empty() {
            if let Some(e) = self.inner.lock().broken() {
                return Err(e);
            }
            let n = self.ring.write(rest).inspect_err(|&e| {
                self.inner.lock().set_broken(e);
            })?;
            if n > 0 {
                rest = rest.get(n..).unwrap_or_default();
                self.notify();
            } else if !self.changed.wait_until(deadline) && crate::time::now_ns() >= deadline {
                if rest.len() < msg.len() {
                    // Half a message is in the ring: xenstored would read the next one
                    // as its rest, so the stream cannot be used any more.
                    log::error!("request ring full for too long in mid-message");
                    self.inner.lock().set_broken(XsError::Timeout);
                }
                return Err(XsError::Timeout);
            }
        }
        Ok(())
    }

    /// Waits for the reply to request `id`.
    fn wait_reply(&self, id: u32, deadline: u64) -> Result<Message, XsError> {
        loop {
            {
                let mut inner = self.inner.lock();
                if let Some(reply) = inner.take_reply(id) {
                    return Ok(reply);
                }
                if let Some(e) = inner.broken() {
                    return Err(e);
                }
            }
            if crate::time::now_ns() >= deadline {
                return Err(XsError::Timeout);
            }
            self.changed.wait_until(deadline);
        }
    }

    /// The value at `path` (absolute, or relative to this domain's home).
    pub fn read(&self, path: &str, tx: Tx) -> Result<Vec<u8>, XsError> {
        let m = self.call(&Request::Read { path }, tx)?;
        m.reply().result(MsgType::Read)?;
        Ok(m.payload)
    }

    /// The value at `path` as text.
    pub fn read_string(&self, path: &str, tx: Tx) -> Result<String, XsError> {
        String::from_utf8(self.read(path, tx)?).map_err(|_| XsError::NotUtf8)
    }

    /// Writes `value` at `path`.
    pub fn write(&self, path: &str, value: &[u8], tx: Tx) -> Result<(), XsError> {
        let m = self.call(&Request::Write { path, value }, tx)?;
        m.reply().ok(MsgType::Write)
    }

    /// Creates the directory `path`.
    pub fn mkdir(&self, path: &str, tx: Tx) -> Result<(), XsError> {
        self.call(&Request::Mkdir { path }, tx)?
            .reply()
            .ok(MsgType::Mkdir)
    }

    /// Removes `path` and everything below it.
    pub fn rm(&self, path: &str, tx: Tx) -> Result<(), XsError> {
        self.call(&Request::Rm { path }, tx)?
            .reply()
            .ok(MsgType::Rm)
    }

    /// The names of the children of `path`.
    pub fn directory(&self, path: &str, tx: Tx) -> Result<Vec<String>, XsError> {
        let m = self.call(&Request::Directory { path }, tx)?;
        m.reply()
            .entries()?
            .map(|name| {
                core::str::from_utf8(name)
                    .map(String::from)
                    .map_err(|_| XsError::NotUtf8)
            })
            .collect()
    }

    /// This domain's home path (`/local/domain/<domid>`).
    pub fn home(&self) -> Result<String, XsError> {
        let domid: u16 = self
            .read_string("domid", Tx::NONE)?
            .parse()
            .map_err(|_| XsError::BadNumber)?;
        let m = self.call(&Request::GetDomainPath { domid }, Tx::NONE)?;
        let payload = m.reply().result(MsgType::GetDomainPath)?;
        let path = payload.strip_suffix(b"\0").unwrap_or(payload);
        core::str::from_utf8(path)
            .map(String::from)
            .map_err(|_| XsError::NotUtf8)
    }

    /// Runs `body` in a transaction, again from the start whenever the commit conflicts
    /// (`EAGAIN`), up to [`TRANSACTION_TRIES`] times.
    pub fn transaction<T>(
        &self,
        mut body: impl FnMut(&Self, Tx) -> Result<T, XsError>,
    ) -> Result<T, XsError> {
        let eagain = XsError::Xenstore(xen::xenstore::Errno::Eagain);
        let mut last = eagain;
        for _ in 0..TRANSACTION_TRIES {
            let tx = Tx(self
                .call(&Request::TransactionStart, Tx::NONE)?
                .reply()
                .transaction_id()?);
            let value = match body(self, tx) {
                Ok(v) => v,
                Err(e) => {
                    let _ = self.call(&Request::TransactionEnd { commit: false }, tx);
                    return Err(e);
                }
            };
            let end = self.call(&Request::TransactionEnd { commit: true }, tx);
            match end.and_then(|m| m.reply().ok(MsgType::TransactionEnd)) {
                Ok(()) => return Ok(value),
                Err(e) if e == eagain => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Watches `path`; events are taken with [`Watch::next`]. Xenstored fires the watch
    /// once at once.
    ///
    /// Tokens tell watches apart: a token already in use fails with `EEXIST`.
    pub fn watch(self: &Arc<Self>, path: &str, token: &str) -> Result<Watch, XsError> {
        self.inner.lock().add_watch(token)?;
        let set = self.call(&Request::Watch { path, token }, Tx::NONE);
        if let Err(e) = set.and_then(|m| m.reply().ok(MsgType::Watch)) {
            self.inner.lock().remove_watch(token);
            return Err(e);
        }
        Ok(Watch {
            bus: self.clone(),
            path: String::from(path),
            token: String::from(token),
        })
    }

    /// Replies that arrived with no request waiting for them.
    pub fn strays(&self) -> u64 {
        self.inner.lock().strays()
    }
}

/// A watch on a path; dropped, it is removed from xenstored.
pub struct Watch {
    bus: Arc<Xenbus>,
    path: String,
    token: String,
}

impl Watch {
    /// The next path that changed, waiting until `deadline` (monotonic ns) at most;
    /// `u64::MAX` waits for ever.
    pub fn next(&self, deadline: u64) -> Result<String, XsError> {
        loop {
            {
                let mut inner = self.bus.inner.lock();
                if let Some(path) = inner.take_event(&self.token) {
                    return Ok(path);
                }
                if let Some(e) = inner.broken() {
                    return Err(e);
                }
            }
            if deadline == u64::MAX {
                self.bus.changed.wait();
            } else if crate::time::now_ns() >= deadline {
                return Err(XsError::Timeout);
            } else {
                self.bus.changed.wait_until(deadline);
            }
        }
    }
}

impl Watch {
    /// The next path that changed, if an event is waiting (never blocks).
    pub fn try_next(&self) -> Result<Option<String>, XsError> {
        let mut inner = self.bus.inner.lock();
        if let Some(path) = inner.take_event(&self.token) {
            return Ok(Some(path));
        }
        match inner.broken() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let req = Request::Unwatch {
            path: &self.path,
            token: &self.token,
        };
        let done = self.bus.call(&req, Tx::NONE);
        if let Err(e) = done.and_then(|m| m.reply().ok(MsgType::Unwatch)) {
            log::warn!("unwatch {}: {e}", self.path);
        }
        self.bus.inner.lock().remove_watch(&self.token);
    }
}
