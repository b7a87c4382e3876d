//! The stack proper (target only): the `net` thread, the interface, the socket table.
#![forbid(unsafe_code)]

use super::config::{self, Ipv4Config};
use super::{DownReason, NetError, SocketId};
use crate::drivers::netfront::{self, Netfront};
use crate::sched::sync::{Event, Mutex, WaitQueue};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities};
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Cidr};

/// How long [`up`] waits for a DHCP lease.
const LEASE_WAIT_NS: u64 = 30_000_000_000;
/// Listening sockets kept ready per listener (more are made as they are taken, up to the
/// backlog): a burst of SYNs larger than this within one packet batch still finds one,
/// because the pool is refilled before each packet.
const SPARE_LISTENERS: usize = 4;
/// Packets taken in one round before the `net` thread lets other threads run.
const INGRESS_BUDGET: usize = 64;
/// A closed stream the peer never finishes closing is aborted after this long.
const ORPHAN_LIMIT_NS: u64 = 60_000_000_000;

/// How the interface is configured, once it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetInfo {
    /// Our MAC address.
    pub mac: [u8; 6],
    /// Our address and prefix.
    pub address: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The DHCP server that gave the lease, `None` for a static address.
    pub dhcp_server: Option<Ipv4Addr>,
}

/// Counters of the network service and its device.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetStats {
    /// The device's counters.
    pub device: netfront::Stats,
    /// Connections accepted by listeners (handed to the app or waiting in a backlog).
    pub connections_accepted: u64,
    /// Connection requests dropped because their listener's backlog was full.
    pub syn_dropped_backlog: u64,
    /// Streams open now (accepted or connected, not yet closed by the app).
    pub streams_open: u64,
    /// Polls of the interface.
    pub polls: u64,
    /// DHCP leases obtained (the first and every renewal that changed something).
    pub dhcp_leases: u64,
}

pub(super) struct Listener {
    pub(super) port: u16,
    backlog: usize,
    rx: usize,
    tx: usize,
    /// In state Listen.
    listening: Vec<SocketHandle>,
    /// Past Listen, handshake not complete.
    handshaking: Vec<SocketHandle>,
    /// Established, waiting for `accept`.
    pub(super) ready: VecDeque<SocketHandle>,
    pub(super) nonblocking: bool,
}

pub(super) struct Stream {
    pub(super) handle: SocketHandle,
    pub(super) nonblocking: bool,
    pub(super) read_timeout: Option<u64>,
    pub(super) write_timeout: Option<u64>,
    /// `shutdown(Read)`: reads return end of stream.
    pub(super) read_shut: bool,
}

pub(super) struct Udp {
    pub(super) handle: SocketHandle,
    pub(super) nonblocking: bool,
    pub(super) read_timeout: Option<u64>,
}

pub(super) enum Entry {
    Listener(Listener),
    Stream(Stream),
    Udp(Udp),
}

pub(super) struct Stack {
    iface: Interface,
    dev: Netfront,
    pub(super) sockets: SocketSet<'static>,
    pub(super) entries: BTreeMap<SocketId, Entry>,
    next_id: u32,
    next_port: u16,
    dhcp: Option<SocketHandle>,
    info: Option<NetInfo>,
    /// Streams the app closed, waiting for the peer to finish (since when).
    orphans: Vec<(SocketHandle, u64)>,
    stats: NetStats,
}

/// The stack, once the `net` thread built it.
pub(super) static STACK: Mutex<Option<Stack>> = Mutex::new(None);
/// Set when the `net` thread should poll: netfront signalled, or a socket call changed
/// something that needs sending.
pub(super) static KICK: Event = Event::new();
/// Threads waiting for a socket to change (readiness, accept, read, write, connect).
pub(super) static ACTIVITY: WaitQueue = WaitQueue::new();

/// Wakes the threads waiting on sockets: those of the network service's own calls
/// ([`ACTIVITY`]) and those polling sockets among other objects
/// ([`crate::sched::sync::READINESS`]).
pub(super) fn wake_waiters() {
    ACTIVITY.wake_all();
    crate::sched::sync::READINESS.wake_all();
}

enum Phase {
    Down,
    Starting,
    Up,
    Failed(DownReason),
}

static PHASE: spin::Mutex<Phase> = spin::Mutex::new(Phase::Down);
static PHASE_CHANGED: WaitQueue = WaitQueue::new();
static INFO: spin::Mutex<Option<NetInfo>> = spin::Mutex::new(None);

fn set_phase(p: Phase) {
    *PHASE.lock() = p;
    PHASE_CHANGED.wake_all();
}

/// Brings the network up (once: later calls wait for or return the same outcome) and
/// returns its configuration. With DHCP this waits up to 30 s for a lease.
pub fn up() -> Result<NetInfo, NetError> {
    let start = {
        let mut p = PHASE.lock();
        match &*p {
            Phase::Down => {
                *p = Phase::Starting;
                true
            }
            _ => false,
        }
    };
    if start {
        let cfg = config::from_cmdline(crate::boot_info().cmdline())
            .map_err(|e| NetError::Down(DownReason::Config(e)));
        match cfg {
            Err(e) => {
                if let NetError::Down(r) = &e {
                    set_phase(Phase::Failed(r.clone()));
                }
                return Err(e);
            }
            Ok(cfg) => {
                if crate::sched::Builder::new("net")
                    .stack_pages(32)
                    .spawn(move || run(cfg))
                    .is_err()
                {
                    set_phase(Phase::Failed(DownReason::Thread));
                }
            }
        }
    }
    let deadline = crate::time::now_ns().saturating_add(LEASE_WAIT_NS);
    loop {
        match &*PHASE.lock() {
            Phase::Up => {
                if let Some(i) = *INFO.lock() {
                    return Ok(i);
                }
            }
            Phase::Failed(r) => return Err(NetError::Down(r.clone())),
            Phase::Down | Phase::Starting => {}
        }
        if crate::time::now_ns() >= deadline {
            return Err(NetError::Down(DownReason::NoLease {
                waited_s: LEASE_WAIT_NS / 1_000_000_000,
            }));
        }
        PHASE_CHANGED.wait_until(deadline);
    }
}

/// The configuration, when the network is up.
pub fn info() -> Option<NetInfo> {
    *INFO.lock()
}

/// Counters (zero before the network is up).
pub fn stats() -> NetStats {
    STACK
        .lock()
        .as_ref()
        .map(|s| {
            let mut st = s.stats;
            st.device = s.dev.stats;
            st
        })
        .unwrap_or_default()
}

/// The `net` thread: connect, configure, then poll when asked or when a timer is due.
fn run(cfg: Ipv4Config) {
    let dev = match Netfront::connect(0, &KICK) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            set_phase(Phase::Failed(DownReason::Device(e.to_string())));
            return;
        }
    };
    let stack = Stack::new(dev, cfg);
    if let Some(i) = stack.info {
        *INFO.lock() = Some(i);
        set_phase(Phase::Up);
    }
    *STACK.lock() = Some(stack);
    loop {
        let deadline = {
            let mut guard = STACK.lock();
            let Some(st) = guard.as_mut() else { return };
            st.poll()
        };
        KICK.wait_until(deadline);
    }
}

fn now() -> Instant {
    netfront::now()
}

impl Stack {
    fn new(mut dev: Netfront, cfg: Ipv4Config) -> Stack {
        let mac = dev.mac();
        let mut iface = Interface::new(Config::new(EthernetAddress(mac).into()), &mut dev, now());
        let mut sockets = SocketSet::new(vec![]);
        let mut info = None;
        let mut dhcp = None;
        match cfg {
            Ipv4Config::Static {
                address,
                prefix,
                gateway,
            } => {
                iface.update_ip_addrs(|a| {
                    let _ = a.push(IpCidr::Ipv4(Ipv4Cidr::new(address, prefix)));
                });
                if let Some(gw) = gateway {
                    let _ = iface.routes_mut().add_default_ipv4_route(gw);
                }
                log::info!("net: {address}/{prefix} (static), gateway {gateway:?}");
                info = Some(NetInfo {
                    mac,
                    address,
                    prefix,
                    gateway,
                    dhcp_server: None,
                });
            }
            Ipv4Config::Dhcp => {
                dhcp = Some(sockets.add(dhcpv4::Socket::new()));
                log::info!("net: asking for an address by DHCP");
            }
        }
        Stack {
            iface,
            dev,
            sockets,
            entries: BTreeMap::new(),
            next_id: 1,
            next_port: 49152,
            dhcp,
            info,
            orphans: Vec::new(),
            stats: NetStats::default(),
        }
    }

    /// One round: timers, the packets that arrived (a budget of them), DHCP, listeners,
    /// what the sockets have to send. Wakes the socket waiters; returns
    /// when the next round is due (`None`: only when something happens).
    fn poll(&mut self) -> Option<u64> {
        // The device first: a backend that closed or came back (xenstore events).
        let dev_deadline = match self.dev.service() {
            Ok(d) => d,
            Err(e) => {
                log::error!("net: {e}");
                None
            }
        };
        let mac = EthernetAddress(self.dev.mac());
        if self.iface.hardware_addr() != mac.into() {
            log::info!("net: new MAC {mac}");
            self.iface.set_hardware_addr(mac.into());
        }
        let t = now();
        self.stats.polls += 1;
        self.iface.poll_maintenance(t);
        let mut more = false;
        for _ in 0..INGRESS_BUDGET {
            // A SYN takes a listening socket out of Listen: move it to handshaking before
            // the next packet, so the pool is topped up and a burst of SYNs beyond the
            // spares finds a listener (or the backlog filter), not a RST.
            self.advance_listeners();
            self.refill_listeners();
            let full = self.full_ports();
            let mut dev = Filtered {
                dev: &mut self.dev,
                full: &full,
                dropped: &mut self.stats.syn_dropped_backlog,
            };
            more = self
                .iface
                .poll_ingress_single(t, &mut dev, &mut self.sockets)
                != PollIngressSingleResult::None;
            if !more {
                break;
            }
        }
        while self.iface.poll_egress(t, &mut self.dev, &mut self.sockets)
            == smoltcp::iface::PollResult::SocketStateChanged
        {}
        let d = self.dev.stats;
        crate::trace::record(crate::trace::Kind::NetPoll, [d.rx_packets, d.tx_packets, 0]);
        self.poll_dhcp();
        self.advance_listeners();
        self.refill_listeners();
        self.reap_orphans();
        // Waiters look again after every round: timers (a retransmission giving up, a
        // TIME-WAIT ending) change sockets without smoltcp saying so, and a look is cheap.
        wake_waiters();
        if more {
            // Packets left over: come back after the others had a turn.
            KICK.set();
            return Some(0);
        }
        let delay = self.iface.poll_delay(now(), &self.sockets);
        let stack_deadline = delay
            .map(|d| crate::time::now_ns().saturating_add(d.total_micros().saturating_mul(1000)));
        crate::time::earliest(stack_deadline, dev_deadline)
    }

    fn poll_dhcp(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = self.sockets.get_mut::<dhcpv4::Socket>(h).poll();
        match event {
            None => {}
            Some(dhcpv4::Event::Configured(c)) => {
                let addr = c.address;
                let router = c.router;
                let server = c.server.address;
                self.iface.update_ip_addrs(|a| {
                    a.clear();
                    let _ = a.push(IpCidr::Ipv4(addr));
                });
                self.iface.routes_mut().remove_default_ipv4_route();
                if let Some(r) = router {
                    let _ = self.iface.routes_mut().add_default_ipv4_route(r);
                }
                self.stats.dhcp_leases += 1;
                log::info!("net: {addr} by DHCP from {server}, gateway {router:?}");
                let i = NetInfo {
                    mac: self.dev.mac(),
                    address: addr.address(),
                    prefix: addr.prefix_len(),
                    gateway: router,
                    dhcp_server: Some(server),
                };
                self.info = Some(i);
                *INFO.lock() = Some(i);
                set_phase(Phase::Up);
            }
            Some(dhcpv4::Event::Deconfigured) => {
                if self.info.is_none() {
                    // The client's first event: nothing was configured yet.
                    return;
                }
                log::warn!("net: DHCP lease lost; asking again");
                self.iface.update_ip_addrs(|a| a.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                self.info = None;
                *INFO.lock() = None;
            }
        }
    }

    /// Ports whose listener has no listening socket left (backlog full).
    fn full_ports(&self) -> Vec<u16> {
        self.entries
            .values()
            .filter_map(|e| match e {
                Entry::Listener(l) if l.listening.is_empty() => Some(l.port),
                _ => None,
            })
            .collect()
    }

    /// Tops every listener's pool of listening sockets up (within its backlog).
    fn refill_listeners(&mut self) {
        for e in self.entries.values_mut() {
            let Entry::Listener(l) = e else { continue };
            let taken = l.handshaking.len() + l.ready.len();
            while l.listening.len() < SPARE_LISTENERS && l.listening.len() + taken < l.backlog {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; l.rx]),
                    tcp::SocketBuffer::new(vec![0; l.tx]),
                );
                if s.listen(l.port).is_err() {
                    break;
                }
                l.listening.push(self.sockets.add(s));
            }
        }
    }

    /// Moves sockets along Listen -> handshaking -> ready (or back to Listen when a
    /// handshake fails).
    fn advance_listeners(&mut self) {
        let sockets = &mut self.sockets;
        let stats = &mut self.stats;
        for e in self.entries.values_mut() {
            let Entry::Listener(l) = e else { continue };
            let mut i = 0;
            while i < l.listening.len() {
                let h = l.listening[i];
                if sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen {
                    i += 1;
                } else {
                    l.handshaking.push(l.listening.swap_remove(i));
                }
            }
            let mut i = 0;
            while i < l.handshaking.len() {
                let h = l.handshaking[i];
                let s = sockets.get_mut::<tcp::Socket>(h);
                match s.state() {
                    tcp::State::SynReceived | tcp::State::SynSent => i += 1,
                    tcp::State::Closed | tcp::State::Listen => {
                        // The handshake failed (RST, timeout): listen again.
                        let h = l.handshaking.swap_remove(i);
                        let s = sockets.get_mut::<tcp::Socket>(h);
                        if s.state() == tcp::State::Closed {
                            let _ = s.listen(l.port);
                        }
                        l.listening.push(h);
                    }
                    _ => {
                        l.ready.push_back(l.handshaking.swap_remove(i));
                        stats.connections_accepted += 1;
                    }
                }
            }
        }
    }

    fn reap_orphans(&mut self) {
        let now_ns = crate::time::now_ns();
        let sockets = &mut self.sockets;
        self.orphans.retain(|&(h, since)| {
            let s = sockets.get_mut::<tcp::Socket>(h);
            // Nobody reads a closed stream: take what the peer still sends, so it can
            // finish sending and read our answer (a lingering close) instead of stalling
            // on a closed window.
            let mut drained = false;
            while s.can_recv() && s.recv(|d| (d.len(), ())).is_ok() {
                drained = true;
            }
            if drained {
                // The window opened: tell the peer in the next round.
                KICK.set();
            }
            let done = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
            if done || now_ns.saturating_sub(since) > ORPHAN_LIMIT_NS {
                s.abort();
                sockets.remove(h);
                false
            } else {
                true
            }
        });
    }

    pub(super) fn new_id(&mut self) -> SocketId {
        let id = SocketId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// A local port no socket of ours of that protocol uses (49152..65535).
    pub(super) fn ephemeral_port(&mut self, tcp: bool) -> u16 {
        for _ in 0..16384 {
            let p = self.next_port;
            self.next_port = if p == 65535 { 49152 } else { p + 1 };
            if !self.port_used(tcp, p) {
                return p;
            }
        }
        0
    }

    /// True when a TCP socket of ours (`tcp`) or a UDP one (`!tcp`) uses local `port`:
    /// the two protocols have ports of their own.
    pub(super) fn port_used(&self, tcp: bool, port: u16) -> bool {
        self.entries.values().any(|e| match e {
            Entry::Listener(l) => tcp && l.port == port,
            Entry::Udp(u) => {
                !tcp && self.sockets.get::<udp::Socket>(u.handle).endpoint().port == port
            }
            Entry::Stream(s) => {
                tcp && self
                    .sockets
                    .get::<tcp::Socket>(s.handle)
                    .local_endpoint()
                    .is_some_and(|e| e.port == port)
            }
        })
    }

    pub(super) fn add_listener(
        &mut self,
        port: u16,
        backlog: usize,
        rx: usize,
        tx: usize,
    ) -> SocketId {
        let id = self.new_id();
        self.entries.insert(
            id,
            Entry::Listener(Listener {
                port,
                backlog: backlog.max(1),
                rx,
                tx,
                listening: Vec::new(),
                handshaking: Vec::new(),
                ready: VecDeque::new(),
                nonblocking: false,
            }),
        );
        self.refill_listeners();
        id
    }

    pub(super) fn add_stream(&mut self, handle: SocketHandle) -> SocketId {
        let id = self.new_id();
        self.entries.insert(
            id,
            Entry::Stream(Stream {
                handle,
                nonblocking: false,
                read_timeout: None,
                write_timeout: None,
                read_shut: false,
            }),
        );
        self.stats.streams_open += 1;
        id
    }

    pub(super) fn add_socket(&mut self, s: tcp::Socket<'static>) -> SocketHandle {
        self.sockets.add(s)
    }

    pub(super) fn add_udp(&mut self, s: udp::Socket<'static>) -> SocketHandle {
        self.sockets.add(s)
    }

    pub(super) fn context(&mut self) -> &mut smoltcp::iface::Context {
        self.iface.context()
    }

    /// Closes socket `id`: a listener's pending connections are reset, a stream sends FIN
    /// and lingers until the peer is done, a UDP socket goes at once.
    pub(super) fn close(&mut self, id: SocketId) {
        let Some(e) = self.entries.remove(&id) else {
            return;
        };
        match e {
            Entry::Listener(l) => {
                for h in l.listening.into_iter().chain(l.handshaking).chain(l.ready) {
                    self.sockets.get_mut::<tcp::Socket>(h).abort();
                    self.orphans.push((h, 0));
                }
            }
            Entry::Stream(s) => {
                self.stats.streams_open = self.stats.streams_open.saturating_sub(1);
                let sock = self.sockets.get_mut::<tcp::Socket>(s.handle);
                sock.close();
                self.orphans.push((s.handle, crate::time::now_ns()));
            }
            Entry::Udp(u) => {
                self.sockets.get_mut::<udp::Socket>(u.handle).close();
                self.sockets.remove(u.handle);
            }
        }
        KICK.set();
    }
}

/// netfront with connection requests to full listeners taken out (see `net::filter`).
struct Filtered<'a> {
    dev: &'a mut Netfront,
    full: &'a [u16],
    dropped: &'a mut u64,
}

impl phy::Device for Filtered<'_> {
    type RxToken<'a>
        = netfront::RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = netfront::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, t: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if !self.full.is_empty() {
            while let Some(frame) = self.dev.peek_frame() {
                match super::filter::syn_port(frame) {
                    Some(p) if self.full.contains(&p) => {
                        *self.dropped += 1;
                        self.dev.drop_frame();
                    }
                    _ => break,
                }
            }
        }
        self.dev.receive(t)
    }

    fn transmit(&mut self, t: Instant) -> Option<Self::TxToken<'_>> {
        self.dev.transmit(t)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.dev.capabilities()
    }
}

/// Converts a timeout in ns to smoltcp's duration.
pub(super) fn duration_ns(ns: u64) -> Duration {
    Duration::from_micros(ns / 1000)
}
