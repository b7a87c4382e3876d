//! A scripted fake xenstored for host tests: it works the daemon's end of a ring page.

use super::wire::{self, HEADER_LEN, header_bytes};
use super::*;
use crate::abi::xenstore::XsdSockmsg;
use std::boxed::Box;
use std::collections::VecDeque;
use std::vec::Vec;

/// The daemon's end of a ring page: consumes requests, produces replies (streamed when
/// they do not fit at once), with whatever indices a test sets.
pub(crate) struct FakeXenstored {
    pub(crate) page: Box<XenstoreDomainInterface>,
    pub(crate) backlog: VecDeque<u8>,
    requests: Vec<u8>,
}

impl FakeXenstored {
    pub(crate) fn new(start: u32) -> Self {
        let mut page = Box::new(XenstoreDomainInterface::zeroed());
        page.req_cons = start;
        page.req_prod = start;
        page.rsp_cons = start;
        page.rsp_prod = start;
        FakeXenstored {
            page,
            backlog: VecDeque::new(),
            requests: Vec::new(),
        }
    }

    pub(crate) fn client(&mut self) -> XenstoreRing {
        // SAFETY: the page lives in the box as long as the fake; test and fake take turns.
        XenstoreRing::new(unsafe { Shared::new(&raw mut *self.page) })
    }

    pub(crate) fn shared(&mut self) -> Shared<XenstoreDomainInterface> {
        // SAFETY: as in `client`.
        unsafe { Shared::new(&raw mut *self.page) }
    }

    /// Takes every request byte the client has published.
    pub(crate) fn drain_requests(&mut self) {
        let p = self.shared();
        let mut buf = [0u8; XENSTORE_RING_SIZE];
        let req = shared_field!(p, XenstoreDomainInterface, req);
        let (n, cons) = ring::consume(req, self.page.req_cons, self.page.req_prod, &mut buf)
            .expect("client indices are sane");
        self.page.req_cons = cons;
        self.requests.extend_from_slice(&buf[..n]);
    }

    /// The next whole request, if one has arrived.
    pub(crate) fn take_request(&mut self) -> Option<(XsdSockmsg, Vec<u8>)> {
        self.drain_requests();
        let head: &[u8; HEADER_LEN] = self.requests.first_chunk()?;
        let h = wire::parse_header(head);
        let total = HEADER_LEN + h.len as usize;
        if self.requests.len() < total {
            return None;
        }
        let payload = self.requests[HEADER_LEN..total].to_vec();
        self.requests.drain(..total);
        Some((h, payload))
    }

    /// Queues a reply (header and payload as given, however hostile) and pushes what fits.
    pub(crate) fn send(&mut self, type_: u32, req_id: u32, payload: &[u8]) {
        let h = XsdSockmsg {
            type_,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        };
        self.backlog.extend(header_bytes(&h));
        self.backlog.extend(payload);
        self.pump();
    }

    /// Pushes queued reply bytes into the ring as room allows.
    pub(crate) fn pump(&mut self) {
        let p = self.shared();
        let rsp = shared_field!(p, XenstoreDomainInterface, rsp);
        let data: Vec<u8> = self.backlog.iter().copied().collect();
        let (n, prod) = ring::produce(rsp, self.page.rsp_cons, self.page.rsp_prod, &data)
            .expect("client indices are sane");
        self.page.rsp_prod = prod;
        self.backlog.drain(..n);
    }
}
