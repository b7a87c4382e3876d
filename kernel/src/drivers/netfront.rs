//! netfront: the PV network frontend (`io/netif.h`), and a smoltcp device on it.
//!
//! Connect: read the backend's path, id and our MAC from `device/vif/N`; grant the two
//! ring pages and 256 receive pages to the backend; allocate an event channel; write
//! `tx-ring-ref`, `rx-ring-ref`, `event-channel`, `request-rx-copy = 1` and
//! `feature-rx-notify = 1` with our state `Connected` in one transaction; wait for the
//! backend to be `Connected`. Received packets are copied out of their page once and the
//! page posted again; a packet to send is copied into one of 256 pages granted read-only
//! to the backend, whose slot is reclaimed from the TX responses. Everything the backend
//! writes (response counts, ids, offsets, lengths) is checked before use.
#![forbid(unsafe_code)]

use crate::drivers::gnttab::{self, GrantPageError, GrantRef};
use crate::drivers::xenbus::{self, Tx, Xenbus};
use crate::sched::sync::WaitQueue;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use xen::abi::netif::{
    NETIF_RSP_OKAY, NetifRxRequest, NetifRxResponse, NetifRxSring, NetifTxRequest, NetifTxResponse,
    NetifTxSring, RX_RING_SIZE, SRING_HEADER, TX_RING_SIZE,
};
use xen::abi::xen::{DomId, PAGE_SIZE, Port};
use xen::netif::{FrontRing, parse_mac};
use xen::shared::Shared;
use xen::shared_field;
use xen::xenstore::XsError;

/// Largest Ethernet frame we send or accept (no offloads, no scatter-gather).
pub const MTU: usize = 1514;
/// How long the backend may take to connect.
const CONNECT_TIMEOUT_NS: u64 = 30_000_000_000;

type Page = [u8; PAGE_SIZE];

/// Why the frontend could not connect or stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// xenstore failed.
    Xenstore(XsError),
    /// A xenstore value was malformed: key and value.
    BadValue(String, String),
    /// No memory for rings or buffers.
    NoMemory,
    /// A page could not be granted.
    Grant(GrantPageError),
    /// The event channel could not be set up.
    EventChannel(xen::XenError),
    /// The backend did not reach `Connected`; its last state.
    BackendState(u32),
    /// The backend produced responses it could not have.
    BadRing(&'static str),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Xenstore(e) => write!(f, "netfront: {e}"),
            NetError::BadValue(k, v) => write!(f, "netfront: {k} = {v:?} is malformed"),
            NetError::NoMemory => write!(f, "netfront: out of memory for rings/buffers"),
            NetError::Grant(e) => write!(f, "netfront: {e}"),
            NetError::EventChannel(e) => write!(f, "netfront: event channel: {e}"),
            NetError::BackendState(s) => {
                write!(
                    f,
                    "netfront: backend stopped in state {s}, not Connected (4)"
                )
            }
            NetError::BadRing(r) => write!(f, "netfront: backend corrupted the {r} ring"),
        }
    }
}

impl From<XsError> for NetError {
    fn from(e: XsError) -> Self {
        NetError::Xenstore(e)
    }
}

/// A connected network frontend.
pub struct Netfront {
    mac: [u8; 6],
    backend_id: DomId,
    port: Port,
    tx: Shared<NetifTxSring>,
    rx: Shared<NetifRxSring>,
    tx_ring: FrontRing<TX_RING_SIZE>,
    rx_ring: FrontRing<RX_RING_SIZE>,
    tx_pages: Vec<(Shared<Page>, GrantRef)>,
    tx_free: Vec<u16>,
    tx_busy: Vec<bool>,
    rx_pages: Vec<(Shared<Page>, GrantRef)>,
    /// Which receive buffers the backend holds (a response for any other is a lie).
    rx_posted: Vec<bool>,
    events: Arc<WaitQueue>,
    broken: Option<&'static str>,
    scratch: Vec<u8>,
    /// Packets received and sent, and receive errors the backend reported.
    pub stats: Stats,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Receive responses with an error status or bad offset/length.
    pub rx_errors: u64,
    /// Frames dropped for want of a free TX slot (TCP and ARP send again).
    pub tx_dropped: u64,
}

fn page<T>() -> Result<(Shared<T>, u64), NetError> {
    crate::mm::shared_page::<T>().ok_or(NetError::NoMemory)
}

fn state_of(bus: &Xenbus, path: &str) -> Result<u32, NetError> {
    let v = bus.read_string(path, Tx::NONE)?;
    v.parse()
        .map_err(|_| NetError::BadValue(String::from(path), v.clone()))
}

impl Netfront {
    /// Connects to the backend of `device/vif/<index>`.
    pub fn connect(index: u32) -> Result<Netfront, NetError> {
        let bus = xenbus::get()?;
        let dev = format!("device/vif/{index}");
        let backend = bus.read_string(&format!("{dev}/backend"), Tx::NONE)?;
        let id_key = format!("{dev}/backend-id");
        let id_text = bus.read_string(&id_key, Tx::NONE)?;
        let backend_id = DomId(
            id_text
                .parse()
                .map_err(|_| NetError::BadValue(id_key, id_text.clone()))?,
        );
        let mac_key = format!("{dev}/mac");
        let mac_text = bus.read_string(&mac_key, Tx::NONE)?;
        let mac = parse_mac(&mac_text).ok_or(NetError::BadValue(mac_key, mac_text.clone()))?;

        let (tx, tx_va) = page::<NetifTxSring>()?;
        let (rx, rx_va) = page::<NetifRxSring>()?;
        for (req_event, rsp_event) in [
            (
                shared_field!(tx, NetifTxSring, req_event),
                shared_field!(tx, NetifTxSring, rsp_event),
            ),
            (
                shared_field!(rx, NetifRxSring, req_event),
                shared_field!(rx, NetifRxSring, rsp_event),
            ),
        ] {
            req_event.write(1);
            rsp_event.write(1);
        }
        let grant = |va, ro| gnttab::grant_page(backend_id, va, ro).map_err(NetError::Grant);
        let tx_ref = grant(tx_va, false)?;
        let rx_ref = grant(rx_va, false)?;
        let mut tx_pages = Vec::with_capacity(TX_RING_SIZE);
        for _ in 0..TX_RING_SIZE {
            let (p, va) = page::<Page>()?;
            tx_pages.push((p, grant(va, true)?));
        }
        let mut rx_pages = Vec::with_capacity(RX_RING_SIZE);
        for _ in 0..RX_RING_SIZE {
            let (p, va) = page::<Page>()?;
            rx_pages.push((p, grant(va, false)?));
        }
        let port = crate::event::alloc_unbound(backend_id).map_err(NetError::EventChannel)?;
        let events = Arc::new(WaitQueue::new());
        let wake = events.clone();
        crate::event::bind_handler(
            port,
            Arc::new(move |_| {
                wake.wake_all();
            }),
        )
        .map_err(NetError::EventChannel)?;
        let mut nf = Netfront {
            mac,
            backend_id,
            port,
            tx,
            rx,
            tx_ring: FrontRing::new(),
            rx_ring: FrontRing::new(),
            tx_pages,
            tx_free: (0..TX_RING_SIZE as u16).rev().collect(),
            tx_busy: alloc::vec![false; TX_RING_SIZE],
            rx_pages,
            rx_posted: alloc::vec![false; RX_RING_SIZE],
            events,
            broken: None,
            scratch: alloc::vec![0; MTU],
            stats: Stats::default(),
        };
        for id in 0..RX_RING_SIZE as u16 {
            nf.post_rx(id);
        }
        nf.publish_rx();

        // The backend may still be setting up (hotplug): wait for InitWait or later.
        let backend_state = format!("{backend}/state");
        let deadline = crate::time::now_ns().saturating_add(CONNECT_TIMEOUT_NS);
        let watch = bus.watch(&backend_state, "netfront-backend")?;
        let mut state = state_of(&bus, &backend_state)?;
        while state < 2 {
            watch.next(deadline)?;
            state = state_of(&bus, &backend_state)?;
        }
        bus.transaction(|b, t| {
            b.write(
                &format!("{dev}/tx-ring-ref"),
                tx_ref.0.to_string().as_bytes(),
                t,
            )?;
            b.write(
                &format!("{dev}/rx-ring-ref"),
                rx_ref.0.to_string().as_bytes(),
                t,
            )?;
            b.write(
                &format!("{dev}/event-channel"),
                port.0.to_string().as_bytes(),
                t,
            )?;
            b.write(&format!("{dev}/request-rx-copy"), b"1", t)?;
            b.write(&format!("{dev}/feature-rx-notify"), b"1", t)?;
            b.write(&format!("{dev}/state"), b"4", t)
        })?;
        while state != 4 {
            if state > 4 {
                return Err(NetError::BackendState(state));
            }
            if let Err(e) = watch.next(deadline) {
                return Err(match e {
                    XsError::Timeout => NetError::BackendState(state),
                    e => NetError::Xenstore(e),
                });
            }
            state = state_of(&bus, &backend_state)?;
        }
        log::info!(
            "vif{index}: connected to {backend} (domain {}), mac {}",
            nf.backend_id.0,
            mac_text
        );
        Ok(nf)
    }

    /// Our MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Why the frontend stopped, if it did (the backend corrupted a ring).
    pub fn broken(&self) -> Option<&'static str> {
        self.broken
    }

    /// Blocks until the backend signals (a packet, a completion) or `deadline` passes.
    pub fn wait(&self, deadline: Option<u64>) {
        match deadline {
            Some(d) => {
                self.events.wait_until(d);
            }
            None => self.events.wait(),
        }
    }

    fn notify(&self) {
        let _ = crate::event::send(self.port);
    }

    /// Queues receive buffer `id` (not yet published).
    fn post_rx(&mut self, id: u16) {
        let Some(&(_, gref)) = self.rx_pages.get(usize::from(id)) else {
            return;
        };
        let Some(slot) = self.rx_ring.next_request() else {
            return;
        };
        let ring = shared_field!(self.rx, NetifRxSring, ring);
        if let Some(s) = ring.get(slot) {
            s.write(NetifRxRequest {
                id,
                pad: 0,
                gref: gref.0,
            });
        }
        if let Some(p) = self.rx_posted.get_mut(usize::from(id)) {
            *p = true;
        }
    }

    fn publish_rx(&mut self) {
        if self.rx_ring.push_requests(self.rx) {
            self.notify();
        }
    }

    /// The next received packet, copied into `out`; its length.
    fn receive_into(&mut self, out: &mut Vec<u8>) -> Option<usize> {
        if self.broken.is_some() {
            return None;
        }
        loop {
            let rsp_prod = FrontRing::rsp_prod(self.rx);
            match self.rx_ring.responses(rsp_prod) {
                Err(_) => {
                    self.broken = Some("rx");
                    return None;
                }
                Ok(0) if self.rx_ring.final_check(self.rx, rsp_prod) => continue,
                Ok(0) => return None,
                Ok(_) => {}
            }
            let slot = self.rx_ring.next_response();
            let ring = shared_field!(self.rx, NetifRxSring, ring);
            let Some(cell) = ring.get(slot) else {
                self.broken = Some("rx");
                return None;
            };
            let rsp: NetifRxResponse = cell.project::<NetifRxResponse>(0).read();
            let id = rsp.id;
            let Some(&(page, _)) = self.rx_pages.get(usize::from(id)) else {
                self.broken = Some("rx");
                return None;
            };
            // A buffer the backend does not hold (a repeated id) cannot be answered.
            match self.rx_posted.get_mut(usize::from(id)) {
                Some(p) if *p => *p = false,
                _ => {
                    self.broken = Some("rx");
                    return None;
                }
            }
            let offset = usize::from(rsp.offset);
            let len = usize::try_from(rsp.status).unwrap_or(0);
            let ok = rsp.status > 0 && len <= MTU && offset.saturating_add(len) <= PAGE_SIZE;
            let mut got = None;
            if ok {
                out.resize(len, 0);
                if page.read_bytes(offset, out) {
                    got = Some(len);
                    self.stats.rx_packets += 1;
                }
            } else {
                self.stats.rx_errors += 1;
            }
            self.post_rx(id);
            self.publish_rx();
            if got.is_some() {
                return got;
            }
        }
    }

    /// Takes back the TX slots the backend is done with.
    fn reclaim_tx(&mut self) {
        if self.broken.is_some() {
            return;
        }
        loop {
            let rsp_prod = FrontRing::rsp_prod(self.tx);
            let ready = match self.tx_ring.responses(rsp_prod) {
                Ok(n) => n,
                Err(_) => {
                    self.broken = Some("tx");
                    return;
                }
            };
            for _ in 0..ready {
                let slot = self.tx_ring.next_response();
                let ring = shared_field!(self.tx, NetifTxSring, ring);
                let Some(cell) = ring.get(slot) else { continue };
                let rsp: NetifTxResponse = cell.project::<NetifTxResponse>(0).read();
                if rsp.status != NETIF_RSP_OKAY {
                    log::debug!("tx {}: status {}", rsp.id, rsp.status);
                }
                // Only a slot we lent out comes back, and only once.
                if let Some(busy) = self.tx_busy.get_mut(usize::from(rsp.id))
                    && *busy
                {
                    *busy = false;
                    self.tx_free.push(rsp.id);
                }
            }
            if !self.tx_ring.final_check(self.tx, rsp_prod) {
                return;
            }
        }
    }

    /// Sends the frame in `self.scratch[..len]`.
    fn send_scratch(&mut self, len: usize) {
        let Some(id) = self.tx_free.pop() else {
            self.stats.tx_dropped += 1;
            return;
        };
        let Some(&(page, gref)) = self.tx_pages.get(usize::from(id)) else {
            return;
        };
        let Some(frame) = self.scratch.get(..len) else {
            return;
        };
        if !page.write_bytes(0, frame) {
            self.tx_free.push(id);
            return;
        }
        let Some(slot) = self.tx_ring.next_request() else {
            self.tx_free.push(id);
            return;
        };
        if let Some(busy) = self.tx_busy.get_mut(usize::from(id)) {
            *busy = true;
        }
        let ring = shared_field!(self.tx, NetifTxSring, ring);
        if let Some(s) = ring.get(slot) {
            s.write(NetifTxRequest {
                gref: gref.0,
                offset: 0,
                flags: 0,
                id,
                size: u16::try_from(len).unwrap_or(0),
            });
        }
        if self.tx_ring.push_requests(self.tx) {
            self.notify();
        }
        self.stats.tx_packets += 1;
    }
}

const _: () = assert!(SRING_HEADER == 64);

/// The current time for smoltcp.
pub fn now() -> Instant {
    Instant::from_micros(i64::try_from(crate::time::now_ns() / 1000).unwrap_or(i64::MAX))
}

/// A received frame, already copied out of its ring page.
pub struct RxToken {
    frame: Vec<u8>,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.frame)
    }
}

/// Room to send one frame.
pub struct TxToken<'a> {
    nf: &'a mut Netfront,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let r = f(self.nf.scratch.get_mut(..len).unwrap_or_default());
        self.nf.send_scratch(len);
        r
    }
}

impl phy::Device for Netfront {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let mut frame = Vec::new();
        self.receive_into(&mut frame)?;
        // With no TX slot free, a reply smoltcp sends at once is dropped and counted
        // (`tx_dropped`); TCP and ARP send again.
        self.reclaim_tx();
        Some((RxToken { frame }, TxToken { nf: self }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.reclaim_tx();
        if self.tx_free.is_empty() || self.tx_ring.free_requests() == 0 {
            return None;
        }
        Some(TxToken { nf: self })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        // The backend may hand over local traffic with checksums left blank
        // (NETRXF_csum_blank): compute ours, do not verify theirs.
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps
    }
}
