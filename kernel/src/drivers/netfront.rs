//! netfront: the PV network frontend (`io/netif.h`), and a smoltcp device on it.
//!
//! The ring protocol and the connection lifecycle are `xen::netfront` (host-tested against
//! a fake netback); this driver is the glue: pages, grants, the event channel, xenstore.
//!
//! Connect: read the backend's path, id and our MAC from `device/vif/N`; wait for the
//! backend's `InitWait`; grant the two ring pages, 256 receive and 256 send pages (fewer in a
//! small guest); allocate
//! an event channel; write `tx-ring-ref`, `rx-ring-ref`, `event-channel`,
//! `request-rx-copy = 1`, `feature-rx-notify = 1` and our state `Connected` in one
//! transaction; wait for the backend's `Connected`. Received packets are copied out of
//! their page once and the page posted again; a packet to send is copied into a page
//! granted read-only. Checksum offload stays on: a frame the backend neither validated nor
//! left blank is checked here.
//!
//! After connect, watches on the backend's state and on `device/vif` keep the lifecycle
//! going: when the backend closes (`xl network-detach`) we stop, write `Closing`, end the
//! grants once the backend released them and write `Closed`; when a backend appears again
//! (`xl network-attach`) we connect again from scratch. Every backend event sets the
//! owner's [`Event`], kept until it looks, so none is lost.
//!
//! May use: `drivers/xenbus`, `drivers/gnttab`, `event`, `mm`, `sched`, `time`, `xen`.
#![forbid(unsafe_code)]

use crate::drivers::gnttab::{self, GrantPageError, GrantRef};
use crate::drivers::xenbus::{self, Tx, Watch, Xenbus};
use crate::sched::sync::Event;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use xen::abi::netif::{NetifRxSring, NetifTxSring, RX_RING_SIZE, TX_RING_SIZE};
use xen::abi::xen::{DomId, PAGE_SIZE, Port};
use xen::netfront::lifecycle::{Action, Backend, Lifecycle, Phase, XenbusState};
use xen::netfront::{RxQueue, TxQueue};
use xen::netif::parse_mac;
use xen::shared::Shared;
use xen::xenstore::XsError;

pub use xen::netfront::Stats;

/// Largest Ethernet frame we send or accept (no offloads, no scatter-gather).
pub const MTU: usize = xen::netfront::ETH_MAX_FRAME;
/// How long the backend may take to connect, or to close.
const PHASE_TIMEOUT_NS: u64 = 30_000_000_000;
/// How often grants the backend still maps are tried again.
const REGRANT_RETRY_NS: u64 = 100_000_000;

type Page = [u8; PAGE_SIZE];

/// Why the frontend could not connect.
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
    /// The queues refused their configuration (a driver bug).
    Queue(xen::netfront::ConfigError),
    /// The lifecycle gave up (backend never connected, grants never released).
    Lifecycle(xen::netfront::lifecycle::LifecycleError),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Xenstore(e) => write!(f, "netfront: {e}"),
            NetError::BadValue(k, v) => write!(f, "netfront: {k} = {v:?} is malformed"),
            NetError::NoMemory => write!(f, "netfront: out of memory for rings/buffers"),
            NetError::Grant(e) => write!(f, "netfront: {e}"),
            NetError::EventChannel(e) => write!(f, "netfront: event channel: {e}"),
            NetError::Queue(e) => write!(f, "netfront: {e}"),
            NetError::Lifecycle(e) => write!(f, "netfront: {e}"),
        }
    }
}

impl From<XsError> for NetError {
    fn from(e: XsError) -> Self {
        NetError::Xenstore(e)
    }
}

/// The pages shared with a backend: two ring pages and the packet buffers. Kept across
/// connections while their grants could be ended; dropped (leaked to the backend) when not.
struct Pages {
    tx_ring: (Shared<NetifTxSring>, u64),
    rx_ring: (Shared<NetifRxSring>, u64),
    tx: Vec<(Shared<Page>, u64)>,
    rx: Vec<(Shared<Page>, u64)>,
}

fn page<T>() -> Result<(Shared<T>, u64), NetError> {
    crate::mm::shared_page::<T>().ok_or(NetError::NoMemory)
}

/// Packet buffers each way: a ring's worth (256) when memory allows, fewer in a small
/// guest (a sixteenth of the free pages, at least 32), so that `memory = 4` still serves.
fn buffer_count() -> usize {
    (crate::mm::free_pages() / 16).clamp(32, TX_RING_SIZE.min(RX_RING_SIZE))
}

impl Pages {
    fn new() -> Result<Pages, NetError> {
        let n = buffer_count();
        let mut tx = Vec::with_capacity(n);
        for _ in 0..n {
            tx.push(page::<Page>()?);
        }
        let mut rx = Vec::with_capacity(n);
        for _ in 0..n {
            rx.push(page::<Page>()?);
        }
        Ok(Pages {
            tx_ring: page()?,
            rx_ring: page()?,
            tx,
            rx,
        })
    }
}

/// One connection to one backend.
struct Link {
    port: Option<Port>,
    rx: RxQueue,
    tx: TxQueue,
    /// Every grant of this connection, ended (or not yet) on close.
    grants: Vec<GrantRef>,
    rx_pages: Vec<Shared<Page>>,
    tx_pages: Vec<Shared<Page>>,
}

/// Where the device is in xenstore.
struct Device {
    /// `device/vif/N`.
    path: String,
    index: u32,
    backend: String,
    backend_id: DomId,
    mac: [u8; 6],
    /// The backend's `state`.
    state_watch: Watch,
}

/// The network frontend.
pub struct Netfront {
    bus: Arc<Xenbus>,
    wake: &'static Event,
    dev: Option<Device>,
    /// `device/vif`: a device removed or added.
    dir_watch: Watch,
    lifecycle: Lifecycle,
    pages: Option<Pages>,
    link: Option<Link>,
    /// Grants of closed connections the backend still maps.
    lingering: Vec<GrantRef>,
    /// When the current phase must be over (connect), or grants be tried again.
    deadline: Option<u64>,
    /// When grants still mapped are given up (set when the release begins).
    release_until: Option<u64>,
    mac: [u8; 6],
    pending: Option<Vec<u8>>,
    scratch: Vec<u8>,
    /// Counters of the connections that ended.
    past: Stats,
    /// Counters (all connections), kept current by [`service`](Self::service).
    pub stats: Stats,
    broken: Option<String>,
    seq: u32,
    /// The backend's state has been read once (after that, only watch events read it).
    read_once: bool,
}

fn read_state(bus: &Xenbus, path: &str) -> Backend {
    match bus.read(path, Tx::NONE) {
        Ok(v) => Backend::read(Some(&v)),
        Err(_) => Backend::read(None),
    }
}

fn read_device(bus: &Arc<Xenbus>, index: u32, seq: u32) -> Result<Device, NetError> {
    let path = format!("device/vif/{index}");
    let backend = bus.read_string(&format!("{path}/backend"), Tx::NONE)?;
    let id_key = format!("{path}/backend-id");
    let id_text = bus.read_string(&id_key, Tx::NONE)?;
    let backend_id = DomId(
        id_text
            .parse()
            .map_err(|_| NetError::BadValue(id_key, id_text.clone()))?,
    );
    let mac_key = format!("{path}/mac");
    let mac_text = bus.read_string(&mac_key, Tx::NONE)?;
    let mac = parse_mac(&mac_text).ok_or(NetError::BadValue(mac_key, mac_text.clone()))?;
    let state_watch = bus.watch(
        &format!("{backend}/state"),
        &format!("netfront-{index}-{seq}"),
    )?;
    Ok(Device {
        path,
        index,
        backend,
        backend_id,
        mac,
        state_watch,
    })
}

impl Netfront {
    /// Connects to the backend of `device/vif/<index>`, waiting up to 30 s for it; every
    /// event from the backend (and every xenstore message) sets `wake` from then on.
    pub fn connect(index: u32, wake: &'static Event) -> Result<Netfront, NetError> {
        let bus = xenbus::get()?;
        bus.notify_on_message(wake);
        let dir_watch = bus.watch("device/vif", "netfront-dir")?;
        let dev = read_device(&bus, index, 0)?;
        let mac = dev.mac;
        let mut nf = Netfront {
            bus,
            wake,
            dev: Some(dev),
            dir_watch,
            lifecycle: Lifecycle::new(),
            pages: None,
            link: None,
            lingering: Vec::new(),
            deadline: None,
            release_until: None,
            mac,
            pending: None,
            scratch: alloc::vec![0; MTU],
            past: Stats::default(),
            stats: Stats::default(),
            broken: None,
            seq: 1,
            read_once: false,
        };
        nf.deadline = Some(crate::time::now_ns().saturating_add(PHASE_TIMEOUT_NS));
        loop {
            nf.service()?;
            match nf.lifecycle.phase() {
                Phase::Connected => return Ok(nf),
                Phase::Failed(e) => return Err(NetError::Lifecycle(e)),
                _ => {}
            }
            nf.wake.wait_until(nf.deadline);
        }
    }

    /// Our MAC address (it may change when a new backend is attached).
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// True while connected to a backend.
    pub fn connected(&self) -> bool {
        self.lifecycle.phase() == Phase::Connected
    }

    /// Why the last connection broke, if the backend corrupted a ring.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Follows the backend: takes the watch events, moves the lifecycle along and does
    /// what it says (connect, stop, close, end grants). Call it whenever the `wake` event
    /// was set; returns when it next needs a call even without an event (a deadline).
    pub fn service(&mut self) -> Result<Option<u64>, NetError> {
        let mut look = false;
        while let Ok(Some(_)) = self.dir_watch.try_next() {
            look = true;
        }
        if let Some(d) = &self.dev {
            while let Ok(Some(_)) = d.state_watch.try_next() {
                look = true;
            }
        }
        if look {
            self.find_device();
        }
        if look || !self.read_once {
            self.read_once = true;
            let state = match &self.dev {
                Some(d) => read_state(&self.bus, &format!("{}/state", d.backend)),
                None => Backend::Gone,
            };
            let actions = self.lifecycle.backend(state);
            self.run(actions)?;
        }
        let now = crate::time::now_ns();
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            let actions = match self.lifecycle.phase() {
                // The retry timer: end the grants the backend still mapped last time.
                Phase::Releasing => {
                    let still = self.end_grants();
                    if still > 0 && self.release_until.is_some_and(|u| now >= u) {
                        self.lifecycle.timed_out(still)
                    } else {
                        self.lifecycle.grants_ended(still)
                    }
                }
                _ => self.lifecycle.timed_out(self.lingering.len()),
            };
            self.run(actions)?;
        }
        if self.lifecycle.phase() == Phase::Closed
            && self.release_until.take().is_some()
            && let Some(d) = &self.dev
        {
            log::info!("vif{}: closed, every grant ended", d.index);
        }
        self.update_stats();
        Ok(self.deadline)
    }

    /// After the device directory changed: keep our device if it is still there, else
    /// take the first `device/vif/N` there is.
    fn find_device(&mut self) {
        if let Some(d) = &self.dev
            && self
                .bus
                .read(&format!("{}/backend", d.path), Tx::NONE)
                .is_ok()
        {
            return;
        }
        if self.link.is_some() {
            // Connected to a device that is gone: the lifecycle closes it first.
            return;
        }
        self.dev = None;
        let Ok(entries) = self.bus.directory("device/vif", Tx::NONE) else {
            return;
        };
        let mut indices: Vec<u32> = entries.iter().filter_map(|e| e.parse().ok()).collect();
        indices.sort_unstable();
        for index in indices {
            self.seq = self.seq.wrapping_add(1);
            match read_device(&self.bus, index, self.seq) {
                Ok(d) => {
                    log::info!("vif{index}: found, backend {}", d.backend);
                    self.mac = d.mac;
                    self.dev = Some(d);
                    return;
                }
                Err(e) => log::warn!("vif{index}: {e}"),
            }
        }
    }

    fn write_state(&self, s: XenbusState) {
        if let Some(d) = &self.dev
            && let Err(e) = self.bus.write(
                &format!("{}/state", d.path),
                s.raw().to_string().as_bytes(),
                Tx::NONE,
            )
        {
            log::warn!("vif{}: writing state {}: {e}", d.index, s.as_str());
        }
    }

    fn run(&mut self, actions: Vec<Action>) -> Result<(), NetError> {
        for a in actions {
            match a {
                Action::WriteState(s) => self.write_state(s),
                Action::Connect => {
                    self.deadline = Some(crate::time::now_ns().saturating_add(PHASE_TIMEOUT_NS));
                    if let Err(e) = self.setup() {
                        log::error!("{e}");
                        return Err(e);
                    }
                }
                Action::StartRings => {
                    self.deadline = None;
                    if let Some(d) = &self.dev {
                        log::info!(
                            "vif{}: connected to {} (domain {}), mac {}",
                            d.index,
                            d.backend,
                            d.backend_id.0,
                            mac_text(d.mac)
                        );
                    }
                    self.notify();
                }
                Action::StopRings => {
                    if let Some(l) = &mut self.link {
                        l.rx.stop();
                        l.tx.stop();
                    }
                    if let Some(d) = &self.dev {
                        log::info!("vif{}: backend closing", d.index);
                    }
                    self.deadline = None;
                }
                Action::EndGrants => {
                    let now = crate::time::now_ns();
                    self.release_until = Some(now.saturating_add(PHASE_TIMEOUT_NS));
                    let still = self.end_grants();
                    let next = self.lifecycle.grants_ended(still);
                    self.run(next)?;
                }
                Action::RetryEndGrants => {
                    // The backend still maps some: try again shortly (`service`).
                    self.deadline = Some(crate::time::now_ns().saturating_add(REGRANT_RETRY_NS));
                }
                Action::Ignored(e) => log::warn!("netfront: backend {e}"),
                Action::GiveUp(e) => {
                    log::error!("netfront: {e}");
                    if matches!(
                        e,
                        xen::netfront::lifecycle::LifecycleError::StillMapped { .. }
                    ) {
                        // Their pages stay the backend's: never reuse them.
                        self.pages = None;
                        self.lingering.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// Action::Connect: queues over fresh ring pages, every page granted, the event
    /// channel, the keys and our `Connected` in one transaction.
    fn setup(&mut self) -> Result<(), NetError> {
        let Some(dev) = &self.dev else {
            return Err(NetError::Xenstore(XsError::Timeout));
        };
        let backend_id = dev.backend_id;
        let path = dev.path.clone();
        if self.pages.is_none() {
            self.pages = Some(Pages::new()?);
        }
        let Some(p) = &self.pages else {
            return Err(NetError::NoMemory);
        };
        let mut grants = Vec::with_capacity(2 + TX_RING_SIZE + RX_RING_SIZE);
        let mut grant = |va, ro| -> Result<GrantRef, NetError> {
            let g = gnttab::grant_page(backend_id, va, ro).map_err(NetError::Grant)?;
            grants.push(g);
            Ok(g)
        };
        let mut tx_refs = Vec::with_capacity(p.tx.len());
        for &(_, va) in &p.tx {
            tx_refs.push(grant(va, true)?);
        }
        let mut rx_refs = Vec::with_capacity(p.rx.len());
        for &(_, va) in &p.rx {
            rx_refs.push(grant(va, false)?);
        }
        // The queues write the ring headers: before the rings are granted.
        let tx = TxQueue::new(p.tx_ring.0, tx_refs, MTU).map_err(NetError::Queue)?;
        let mut rx = RxQueue::new(p.rx_ring.0, rx_refs, MTU).map_err(NetError::Queue)?;
        let tx_ref = grant(p.tx_ring.1, false)?;
        let rx_ref = grant(p.rx_ring.1, false)?;
        let port = crate::event::alloc_unbound(backend_id).map_err(NetError::EventChannel)?;
        let wake = self.wake;
        crate::event::bind_handler(port, Arc::new(move |_| wake.set()))
            .map_err(NetError::EventChannel)?;
        let _ = rx.refill();
        self.link = Some(Link {
            port: Some(port),
            rx,
            tx,
            grants,
            rx_pages: p.rx.iter().map(|&(pg, _)| pg).collect(),
            tx_pages: p.tx.iter().map(|&(pg, _)| pg).collect(),
        });
        self.bus.transaction(|b, t| {
            b.write(
                &format!("{path}/tx-ring-ref"),
                tx_ref.0.to_string().as_bytes(),
                t,
            )?;
            b.write(
                &format!("{path}/rx-ring-ref"),
                rx_ref.0.to_string().as_bytes(),
                t,
            )?;
            b.write(
                &format!("{path}/event-channel"),
                port.0.to_string().as_bytes(),
                t,
            )?;
            b.write(&format!("{path}/request-rx-copy"), b"1", t)?;
            b.write(&format!("{path}/feature-rx-notify"), b"1", t)?;
            b.write(&format!("{path}/state"), b"4", t)
        })?;
        Ok(())
    }

    /// Closes the queues and ends every grant of the connection (and those still mapped
    /// from before); returns how many the backend still maps.
    fn end_grants(&mut self) -> usize {
        if let Some(mut l) = self.link.take() {
            let rx = l.rx.close();
            let tx = l.tx.close();
            self.past = self.past.merged(l.rx.stats()).merged(l.tx.stats());
            log::debug!(
                "netfront: closed; rx {} buffers back, tx {} back ({} lost)",
                rx.reclaimed,
                tx.reclaimed,
                tx.lost
            );
            if let Some(port) = l.port.take() {
                let _ = crate::event::close(port);
            }
            self.lingering.append(&mut l.grants);
        }
        self.lingering.retain(|&g| {
            matches!(
                gnttab::end(g),
                Err(GrantPageError::Grant(xen::gnttab::GrantError::InUse { .. }))
            )
        });
        self.lingering.len()
    }

    fn update_stats(&mut self) {
        self.stats = match &self.link {
            Some(l) => self.past.merged(l.rx.stats()).merged(l.tx.stats()),
            None => self.past,
        };
    }

    fn notify(&self) {
        if let Some(port) = self.link.as_ref().and_then(|l| l.port) {
            let _ = crate::event::send(port);
        }
    }

    /// The next received frame, copied into `out`; its length.
    fn receive_into(&mut self, out: &mut Vec<u8>) -> Option<usize> {
        if !self.connected() {
            return None;
        }
        let l = self.link.as_mut()?;
        let pages = &l.rx_pages;
        let polled = l.rx.poll(out, |id, offset, dst| {
            pages
                .get(usize::from(id))
                .is_some_and(|p| p.read_bytes(offset, dst))
        });
        match polled {
            Ok(p) => {
                if p.notify {
                    self.notify();
                }
                if p.more {
                    // Responses left: the next call takes them (smoltcp calls again while
                    // packets come), and the event makes sure the net thread does.
                    self.wake.set();
                }
                p.packet
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn fail(&mut self, e: xen::netfront::RingError) {
        if self.broken.is_none() {
            log::error!("netfront: the backend broke the ring: {e}; closing");
            self.broken = Some(e.to_string());
        }
        if let Some(l) = &mut self.link {
            l.rx.stop();
            l.tx.stop();
        }
        self.write_state(XenbusState::Closing);
    }

    /// The next received frame, without taking it.
    pub fn peek_frame(&mut self) -> Option<&[u8]> {
        if self.pending.is_none() {
            let mut frame = Vec::new();
            self.receive_into(&mut frame)?;
            self.pending = Some(frame);
        }
        self.pending.as_deref()
    }

    /// Drops the frame [`peek_frame`](Self::peek_frame) returned.
    pub fn drop_frame(&mut self) {
        self.pending = None;
    }

    fn reclaim_tx(&mut self) {
        if let Some(l) = &mut self.link
            && let Err(e) = l.tx.reclaim()
        {
            self.fail(e);
        }
    }

    /// Sends the frame in `self.scratch[..len]`.
    fn send_scratch(&mut self, len: usize) {
        let Some(l) = &mut self.link else { return };
        let pages = &l.tx_pages;
        let Some(frame) = self.scratch.get(..len) else {
            return;
        };
        let sent = l.tx.send(frame, |id, f| {
            pages
                .get(usize::from(id))
                .is_some_and(|p| p.write_bytes(0, f))
        });
        match sent {
            Ok(true) => self.notify(),
            Ok(false) => {}
            // Counted in tx_dropped; TCP and ARP send again.
            Err(xen::netfront::TxError::Broken(e)) => self.fail(e),
            Err(_) => {}
        }
    }
}

fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

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
        let frame = match self.pending.take() {
            Some(f) => f,
            None => {
                let mut frame = Vec::new();
                self.receive_into(&mut frame)?;
                frame
            }
        };
        // With no TX slot free, a reply smoltcp sends at once is dropped and counted
        // (`tx_dropped`); TCP and ARP send again.
        self.reclaim_tx();
        Some((RxToken { frame }, TxToken { nf: self }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        if !self.connected() {
            return None;
        }
        self.reclaim_tx();
        if !self.link.as_ref().is_some_and(|l| l.tx.can_send()) {
            return None;
        }
        Some(TxToken { nf: self })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        // Received checksums are checked by the queue (unless the backend validated them
        // or left them blank); ours are computed here.
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps
    }
}
