//! A scripted fake netback for host tests: it owns the two ring pages and the buffer
//! pages, consumes the frontend's requests and writes whatever responses a test scripts,
//! good or hostile.
//!
//! Memory is allocated once (a `Vec` of one ring page, a `Vec` of buffer pages) and, after
//! that, reached only through [`Shared`] handles, by the fake and by the queues alike.
//! Buffer id `i` is page `i`, granted as `RX_GREF_BASE + i` / `TX_GREF_BASE + i`.

use super::{RxQueue, TxQueue};
use crate::abi::netif::{
    NetifExtraInfo, NetifRxRequest, NetifRxResponse, NetifRxSring, NetifTxRequest, NetifTxResponse,
    NetifTxSring, RX_RING_SIZE, Sring, TX_RING_SIZE,
};
use crate::abi::xen::PAGE_SIZE;
use crate::gnttab::GrantRef;
use crate::netif::must_notify;
use crate::shared::Shared;
use crate::shared_field;
use std::collections::{BTreeMap, VecDeque};
use std::vec;
use std::vec::Vec;

/// A buffer page.
pub(crate) type Page = [u8; PAGE_SIZE];
/// Grant reference of TX buffer 0.
pub(crate) const TX_GREF_BASE: u32 = 0x1000;
/// Grant reference of RX buffer 0.
pub(crate) const RX_GREF_BASE: u32 = 0x8_0000;

fn ring_page<S: Copy + Default, const N: usize>() -> Vec<Sring<S, N>> {
    Vec::from([Sring {
        req_prod: 0,
        req_event: 0,
        rsp_prod: 0,
        rsp_event: 0,
        pad: [0; 48],
        ring: [S::default(); N],
    }])
}

fn pages(mem: &mut [Page]) -> Vec<Shared<Page>> {
    let base = mem.as_mut_ptr();
    (0..mem.len())
        // SAFETY: page `i` lies inside `mem`, which the fake owns and never touches again
        // except through these handles, and which is neither moved nor freed before the
        // fake (and with it every handle the tests use) is dropped.
        .map(|i| unsafe { Shared::new(base.wrapping_add(i)) })
        .collect()
}

/// The fake backend of one vif.
pub(crate) struct FakeNetback {
    _tx_mem: Vec<NetifTxSring>,
    _rx_mem: Vec<NetifRxSring>,
    _tx_page_mem: Vec<Page>,
    _rx_page_mem: Vec<Page>,
    pub(crate) tx: Shared<NetifTxSring>,
    pub(crate) rx: Shared<NetifRxSring>,
    pub(crate) tx_pages: Vec<Shared<Page>>,
    pub(crate) rx_pages: Vec<Shared<Page>>,
    start: u32,
    tx_req_cons: u32,
    tx_rsp_pvt: u32,
    rx_req_cons: u32,
    rx_rsp_pvt: u32,
    /// TX requests taken and not answered, oldest first.
    pub(crate) tx_taken: VecDeque<NetifTxRequest>,
    /// RX requests taken and not answered, oldest first.
    pub(crate) rx_taken: VecDeque<NetifRxRequest>,
    /// The buffer id of every RX request taken, by ring index.
    pub(crate) rx_log: BTreeMap<u32, u16>,
    /// Events the frontend asked for (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
    pub(crate) rx_notifies: usize,
    /// As `rx_notifies`, for TX.
    pub(crate) tx_notifies: usize,
}

impl FakeNetback {
    /// A backend with `rx_bufs`/`tx_bufs` buffer pages and ring indices starting at
    /// `start`.
    pub(crate) fn new(start: u32, rx_bufs: usize, tx_bufs: usize) -> Self {
        let mut tx_mem = ring_page::<NetifTxRequest, TX_RING_SIZE>();
        let mut rx_mem = ring_page::<NetifRxRequest, RX_RING_SIZE>();
        let mut tx_page_mem = vec![[0u8; PAGE_SIZE]; tx_bufs];
        let mut rx_page_mem = vec![[0u8; PAGE_SIZE]; rx_bufs];
        // SAFETY: the ring pages live in the Vecs the fake owns, are never reallocated,
        // and are reached only through handles derived here.
        let tx = unsafe { Shared::new(tx_mem.as_mut_ptr()) };
        // SAFETY: as for `tx`.
        let rx = unsafe { Shared::new(rx_mem.as_mut_ptr()) };
        let tx_pages = pages(&mut tx_page_mem);
        let rx_pages = pages(&mut rx_page_mem);
        FakeNetback {
            _tx_mem: tx_mem,
            _rx_mem: rx_mem,
            _tx_page_mem: tx_page_mem,
            _rx_page_mem: rx_page_mem,
            tx,
            rx,
            tx_pages,
            rx_pages,
            start,
            tx_req_cons: start,
            tx_rsp_pvt: start,
            rx_req_cons: start,
            rx_rsp_pvt: start,
            tx_taken: VecDeque::new(),
            rx_taken: VecDeque::new(),
            rx_log: BTreeMap::new(),
            rx_notifies: 0,
            tx_notifies: 0,
        }
    }

    /// The frontend's receive queue over this backend.
    pub(crate) fn rx_queue(&self, max_frame: usize) -> RxQueue {
        let grefs = (0..self.rx_pages.len() as u32)
            .map(|i| GrantRef(RX_GREF_BASE + i))
            .collect();
        RxQueue::with_start(self.rx, grefs, max_frame, self.start).unwrap()
    }

    /// The frontend's transmit queue over this backend.
    pub(crate) fn tx_queue(&self, max_frame: usize) -> TxQueue {
        let grefs = (0..self.tx_pages.len() as u32)
            .map(|i| GrantRef(TX_GREF_BASE + i))
            .collect();
        TxQueue::with_start(self.tx, grefs, max_frame, self.start).unwrap()
    }

    /// The frontend's copy-out closure for RX buffers (as the kernel's would be).
    pub(crate) fn rx_copy(&self) -> impl FnMut(u16, usize, &mut [u8]) -> bool + use<> {
        let pages = self.rx_pages.clone();
        move |id, offset, dst| {
            pages
                .get(usize::from(id))
                .is_some_and(|p| p.read_bytes(offset, dst))
        }
    }

    /// The frontend's copy-in closure for TX buffers.
    pub(crate) fn tx_copy(&self) -> impl FnOnce(u16, &[u8]) -> bool + use<> {
        let pages = self.tx_pages.clone();
        move |id, frame| {
            pages
                .get(usize::from(id))
                .is_some_and(|p| p.write_bytes(0, frame))
        }
    }

    // ----- RX -----

    /// Takes every RX request published; how many.
    ///
    /// A hostile script may have answered requests it never took (its responses then
    /// overwrote them): those are skipped, as lost to this backend.
    pub(crate) fn take_rx(&mut self) -> usize {
        let req_prod = shared_field!(self.rx, NetifRxSring, req_prod).read();
        let mut n = req_prod.wrapping_sub(self.rx_req_cons);
        if n as usize > RX_RING_SIZE {
            self.rx_req_cons = req_prod.wrapping_sub(RX_RING_SIZE as u32);
            n = RX_RING_SIZE as u32;
        }
        let ring = shared_field!(self.rx, NetifRxSring, ring);
        let mut taken = 0;
        for _ in 0..n {
            let idx = self.rx_req_cons;
            self.rx_req_cons = idx.wrapping_add(1);
            if (idx.wrapping_sub(self.rx_rsp_pvt) as i32) < 0 {
                continue;
            }
            let req = ring.get(idx as usize % RX_RING_SIZE).unwrap().read();
            self.rx_log.insert(idx, req.id);
            self.rx_taken.push_back(req);
            taken += 1;
        }
        taken
    }

    /// The next response index (where `rx_put` writes).
    pub(crate) fn rx_rsp_pvt(&self) -> u32 {
        self.rx_rsp_pvt
    }

    /// Writes a raw response in the next slot (not yet published).
    pub(crate) fn rx_put(&mut self, rsp: NetifRxResponse) {
        let slot = self.rx_rsp_pvt as usize % RX_RING_SIZE;
        let cell = shared_field!(self.rx, NetifRxSring, ring)
            .get(slot)
            .unwrap();
        cell.project::<NetifRxResponse>(0).write(rsp);
        self.rx_rsp_pvt = self.rx_rsp_pvt.wrapping_add(1);
    }

    /// Writes an extra-info slot in the next slot (not yet published).
    pub(crate) fn rx_put_extra(&mut self, extra: NetifExtraInfo) {
        let slot = self.rx_rsp_pvt as usize % RX_RING_SIZE;
        let cell = shared_field!(self.rx, NetifRxSring, ring)
            .get(slot)
            .unwrap();
        cell.project::<NetifExtraInfo>(0).write(extra);
        self.rx_rsp_pvt = self.rx_rsp_pvt.wrapping_add(1);
    }

    /// The oldest RX request taken and not answered.
    pub(crate) fn rx_next(&mut self) -> NetifRxRequest {
        self.rx_taken.pop_front().expect("no rx request taken")
    }

    /// The page an RX request grants (`None` for a grant we never made).
    pub(crate) fn rx_page(&self, req: NetifRxRequest) -> Option<Shared<Page>> {
        let i = req.gref.checked_sub(RX_GREF_BASE)?;
        self.rx_pages.get(i as usize).copied()
    }

    /// Answers the oldest RX request with `frame` at `offset` and `flags` (not yet
    /// published); the buffer id.
    pub(crate) fn rx_deliver_at(&mut self, frame: &[u8], offset: u16, flags: u16) -> u16 {
        let req = self.rx_next();
        assert!(
            self.rx_page(req)
                .expect("our grant")
                .write_bytes(offset as usize, frame)
        );
        self.rx_put(NetifRxResponse {
            id: req.id,
            offset,
            flags,
            status: frame.len() as i16,
        });
        req.id
    }

    /// [`rx_deliver_at`](Self::rx_deliver_at) offset 0, data validated.
    pub(crate) fn rx_deliver(&mut self, frame: &[u8]) -> u16 {
        self.rx_deliver_at(frame, 0, crate::abi::netif::NETRXF_DATA_VALIDATED)
    }

    /// Publishes the responses written; true if the frontend asked for an event.
    pub(crate) fn rx_push(&mut self) -> bool {
        let prod = shared_field!(self.rx, NetifRxSring, rsp_prod);
        let old = prod.read();
        prod.write(self.rx_rsp_pvt);
        let event = shared_field!(self.rx, NetifRxSring, rsp_event).read();
        let notify = must_notify(old, self.rx_rsp_pvt, event);
        self.rx_notifies += usize::from(notify);
        notify
    }

    /// Writes `rsp_prod` as given, whatever was written.
    pub(crate) fn rx_set_rsp_prod(&mut self, value: u32) {
        shared_field!(self.rx, NetifRxSring, rsp_prod).write(value);
    }

    /// The RX ring's `rsp_event`.
    pub(crate) fn rx_rsp_event(&self) -> u32 {
        shared_field!(self.rx, NetifRxSring, rsp_event).read()
    }

    /// The RX ring's `req_prod`.
    pub(crate) fn rx_req_prod(&self) -> u32 {
        shared_field!(self.rx, NetifRxSring, req_prod).read()
    }

    /// The RX request in ring slot `index & (N - 1)`, as the ring holds it now.
    pub(crate) fn rx_request_at(&self, index: u32) -> NetifRxRequest {
        shared_field!(self.rx, NetifRxSring, ring)
            .get(index as usize % RX_RING_SIZE)
            .unwrap()
            .read()
    }

    // ----- TX -----

    /// Takes every TX request published; the new ones.
    pub(crate) fn take_tx(&mut self) -> Vec<NetifTxRequest> {
        let req_prod = shared_field!(self.tx, NetifTxSring, req_prod).read();
        let mut n = req_prod.wrapping_sub(self.tx_req_cons);
        if n as usize > TX_RING_SIZE {
            // As in `take_rx`: a hostile script answered requests it never took.
            self.tx_req_cons = req_prod.wrapping_sub(TX_RING_SIZE as u32);
            n = TX_RING_SIZE as u32;
        }
        let ring = shared_field!(self.tx, NetifTxSring, ring);
        let mut new = Vec::new();
        for _ in 0..n {
            let idx = self.tx_req_cons;
            self.tx_req_cons = idx.wrapping_add(1);
            if (idx.wrapping_sub(self.tx_rsp_pvt) as i32) < 0 {
                continue;
            }
            let req = ring.get(idx as usize % TX_RING_SIZE).unwrap().read();
            new.push(req);
            self.tx_taken.push_back(req);
        }
        new
    }

    /// The frame a TX request carries.
    pub(crate) fn tx_frame(&self, req: NetifTxRequest) -> Vec<u8> {
        let page = self.tx_pages[(req.gref - TX_GREF_BASE) as usize];
        let mut out = vec![0u8; req.size as usize];
        assert!(page.read_bytes(req.offset as usize, &mut out));
        out
    }

    /// Writes a raw TX response in the next slot (not yet published).
    pub(crate) fn tx_put(&mut self, id: u16, status: i16) {
        let slot = self.tx_rsp_pvt as usize % TX_RING_SIZE;
        let cell = shared_field!(self.tx, NetifTxSring, ring)
            .get(slot)
            .unwrap();
        cell.project::<NetifTxResponse>(0)
            .write(NetifTxResponse { id, status });
        self.tx_rsp_pvt = self.tx_rsp_pvt.wrapping_add(1);
    }

    /// Answers every TX request taken with `status` and publishes; how many.
    pub(crate) fn tx_answer_all(&mut self, status: i16) -> usize {
        let n = self.tx_taken.len();
        while let Some(req) = self.tx_taken.pop_front() {
            self.tx_put(req.id, status);
        }
        self.tx_push();
        n
    }

    /// Publishes the TX responses written; true if the frontend asked for an event.
    pub(crate) fn tx_push(&mut self) -> bool {
        let prod = shared_field!(self.tx, NetifTxSring, rsp_prod);
        let old = prod.read();
        prod.write(self.tx_rsp_pvt);
        let event = shared_field!(self.tx, NetifTxSring, rsp_event).read();
        let notify = must_notify(old, self.tx_rsp_pvt, event);
        self.tx_notifies += usize::from(notify);
        notify
    }

    /// The next TX response index.
    pub(crate) fn tx_rsp_pvt(&self) -> u32 {
        self.tx_rsp_pvt
    }

    /// Writes the TX `rsp_prod` as given.
    pub(crate) fn tx_set_rsp_prod(&mut self, value: u32) {
        shared_field!(self.tx, NetifTxSring, rsp_prod).write(value);
    }

    /// The TX ring's `rsp_event`.
    pub(crate) fn tx_rsp_event(&self) -> u32 {
        shared_field!(self.tx, NetifTxSring, rsp_event).read()
    }

    /// The TX ring's `req_prod`.
    pub(crate) fn tx_req_prod(&self) -> u32 {
        shared_field!(self.tx, NetifTxSring, req_prod).read()
    }
}
