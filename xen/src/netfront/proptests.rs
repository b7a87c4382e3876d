//! Property tests: random backend scripts (good and hostile responses, interleaved with
//! the frontend's posts, polls, sends and reclaims) never make the queues panic, post a
//! buffer twice, or lose one; random xenbus inputs never make the lifecycle connect over
//! live grants; `state` values parse exactly when they are a state's number; frames
//! built here with checksums computed here verify, a flipped bit in anything a checksum
//! covers is caught, and no bytes make the check panic.

use super::fake::FakeNetback;
use super::lifecycle::{Action, Backend, Lifecycle, Phase, XenbusState};
use super::*;
use crate::abi::netif::{
    NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_OKAY, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA,
    NetifExtraInfo, NetifRxResponse, RX_RING_SIZE, XEN_NETIF_EXTRA_FLAG_MORE,
};
use checksum::{ChecksumError, verify_frame};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

/// One step of a script.
#[derive(Debug, Clone)]
enum Op {
    // Frontend.
    RxPoll,
    RxRefill,
    TxSend {
        len: u16,
    },
    TxReclaim,
    Stop,
    // Honest backend: answers what it took, in its slot (RX) or in any order (TX);
    // statuses, offsets and flags are still random.
    RxTake,
    RxAnswer {
        offset: u16,
        flags: u16,
        status: i16,
    },
    /// A whole packet of a first slot, `extras` extra-info slots and `fragments` more
    /// fragments (features we did not negotiate, but well formed).
    RxMulti {
        extras: u8,
        fragments: u8,
        kind: u8,
    },
    RxPush,
    TxTake,
    TxAnswer {
        pick: u8,
        status: i16,
    },
    TxPush,
    // Hostile backend.
    RxRaw {
        id: u16,
        offset: u16,
        flags: u16,
        status: i16,
    },
    RxExtraRaw {
        flags: u8,
    },
    RxBump {
        by: u8,
    },
    TxRaw {
        id: u16,
        status: i16,
    },
    TxBump {
        by: u8,
    },
}

impl Op {
    fn hostile(&self) -> bool {
        matches!(
            self,
            Op::RxRaw { .. }
                | Op::RxExtraRaw { .. }
                | Op::RxBump { .. }
                | Op::TxRaw { .. }
                | Op::TxBump { .. }
        )
    }
}

fn rx_status() -> impl Strategy<Value = i16> {
    prop_oneof![
        1 => -3i16..=1,
        6 => 1i16..=1600,
        1 => any::<i16>(),
    ]
}

fn flags() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => Just(crate::abi::netif::NETRXF_DATA_VALIDATED),
        2 => 0u16..32,
        1 => any::<u16>(),
    ]
}

fn offset() -> impl Strategy<Value = u16> {
    prop_oneof![6 => Just(0u16), 3 => 0u16..4200, 1 => any::<u16>()]
}

fn tx_status() -> impl Strategy<Value = i16> {
    prop_oneof![
        6 => Just(NETIF_RSP_OKAY),
        1 => Just(NETIF_RSP_ERROR),
        1 => Just(NETIF_RSP_DROPPED),
    ]
}

fn honest_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::RxPoll),
        1 => Just(Op::RxRefill),
        5 => (0u16..1600).prop_map(|len| Op::TxSend { len }),
        3 => Just(Op::TxReclaim),
        4 => Just(Op::RxTake),
        8 => (offset(), flags(), rx_status()).prop_map(|(offset, flags, status)| {
            // Multi-slot packets come whole, from RxMulti.
            let flags = flags & !(NETRXF_MORE_DATA | NETRXF_EXTRA_INFO);
            Op::RxAnswer { offset, flags, status }
        }),
        1 => (0u8..3, 0u8..3, any::<u8>())
            .prop_map(|(extras, fragments, kind)| Op::RxMulti { extras, fragments, kind }),
        4 => Just(Op::RxPush),
        3 => Just(Op::TxTake),
        4 => (any::<u8>(), tx_status()).prop_map(|(pick, status)| Op::TxAnswer { pick, status }),
        3 => Just(Op::TxPush),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => honest_op(),
        1 => Just(Op::Stop),
        2 => (prop_oneof![0u16..16, any::<u16>()], offset(), flags(), rx_status())
            .prop_map(|(id, offset, flags, status)| Op::RxRaw { id, offset, flags, status }),
        1 => any::<u8>().prop_map(|flags| Op::RxExtraRaw { flags }),
        1 => (0u8..4).prop_map(|by| Op::RxBump { by }),
        2 => (prop_oneof![0u16..10, any::<u16>()], prop_oneof![-3i16..=2, any::<i16>()])
            .prop_map(|(id, status)| Op::TxRaw { id, status }),
        1 => (0u8..4).prop_map(|by| Op::TxBump { by }),
    ]
}

fn start_index() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), (u32::MAX - 600)..=u32::MAX, any::<u32>()]
}

/// The run's state and the fake backend's own record of what it holds.
struct Run {
    be: FakeNetback,
    rx: RxQueue,
    tx: TxQueue,
    rx_bufs: usize,
    sends: u64,
    /// The backend did something hostile: its own record no longer predicts the
    /// frontend's, so only the frontend's self-consistency is checked.
    poisoned: bool,
    /// RX buffer ids the backend took and did not answer.
    rx_held: BTreeSet<u16>,
    /// TX buffer ids the backend took and did not answer.
    tx_held: BTreeSet<u16>,
    /// `req_prod` when a ring broke: it must not move again.
    rx_frozen: Option<u32>,
    tx_frozen: Option<u32>,
}

impl Run {
    fn new(start: u32, rx_bufs: usize, tx_bufs: usize) -> Self {
        let be = FakeNetback::new(start, rx_bufs, tx_bufs);
        let rx = be.rx_queue(ETH_MAX_FRAME);
        let tx = be.tx_queue(ETH_MAX_FRAME);
        Run {
            be,
            rx,
            tx,
            rx_bufs,
            sends: 0,
            poisoned: false,
            rx_held: BTreeSet::new(),
            tx_held: BTreeSet::new(),
            rx_frozen: None,
            tx_frozen: None,
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        if op.hostile() {
            self.poisoned = true;
        }
        match *op {
            Op::RxPoll => {
                let mut out = Vec::new();
                if let Ok(p) = self.rx.poll(&mut out, self.be.rx_copy()) {
                    if let Some(len) = p.packet {
                        prop_assert_eq!(out.len(), len);
                        prop_assert!(len > 0 && len <= ETH_MAX_FRAME);
                    }
                    if !p.more {
                        // Armed for the next response.
                        prop_assert_eq!(
                            self.be.rx_rsp_event(),
                            self.rx.front().rsp_cons.wrapping_add(1)
                        );
                    }
                }
            }
            Op::RxRefill => {
                let _ = self.rx.refill();
            }
            Op::TxSend { len } => {
                self.sends += 1;
                let frame: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let _ = self.tx.send(&frame, self.be.tx_copy());
            }
            Op::TxReclaim => {
                if self.tx.reclaim().is_ok() && self.tx.broken().is_none() {
                    prop_assert_eq!(
                        self.be.tx_rsp_event(),
                        self.tx.front().rsp_cons.wrapping_add(1)
                    );
                }
            }
            Op::Stop => {
                self.rx.stop();
                self.tx.stop();
            }
            Op::RxTake => {
                let before = self.be.rx_taken.len();
                self.be.take_rx();
                let new: Vec<u16> = self.be.rx_taken.iter().skip(before).map(|r| r.id).collect();
                for id in new {
                    if !self.poisoned {
                        prop_assert!(
                            self.rx_held.insert(id),
                            "rx buffer {} posted while the backend holds it",
                            id
                        );
                    }
                }
            }
            Op::RxAnswer {
                offset,
                flags,
                status,
            } => {
                if let Some(req) = self.be.rx_taken.pop_front() {
                    self.rx_held.remove(&req.id);
                    if let Ok(len) = usize::try_from(status) {
                        let frame: Vec<u8> = (0..len).map(|i| (i * 3) as u8).collect();
                        // Where it fits; elsewhere the frontend must not look.
                        if let Some(page) = self.be.rx_page(req) {
                            let _ = page.write_bytes(offset as usize, &frame);
                        }
                    }
                    self.be.rx_put(NetifRxResponse {
                        id: req.id,
                        offset,
                        flags,
                        status,
                    });
                }
            }
            Op::RxMulti {
                extras,
                fragments,
                kind,
            } => {
                let slots = 1 + usize::from(extras) + usize::from(fragments);
                if self.be.rx_taken.len() >= slots {
                    let mut flags = 0;
                    if extras > 0 {
                        flags |= NETRXF_EXTRA_INFO;
                    }
                    if fragments > 0 {
                        flags |= NETRXF_MORE_DATA;
                    }
                    self.answer(flags, 100);
                    for e in 0..extras {
                        let req = self.be.rx_next();
                        self.rx_held.remove(&req.id);
                        self.be.rx_put_extra(NetifExtraInfo {
                            type_: kind,
                            flags: if e + 1 < extras {
                                XEN_NETIF_EXTRA_FLAG_MORE
                            } else {
                                0
                            },
                            u: [u16::from(kind); 3],
                        });
                    }
                    for f in 0..fragments {
                        self.answer(
                            if f + 1 < fragments {
                                NETRXF_MORE_DATA
                            } else {
                                0
                            },
                            50,
                        );
                    }
                }
            }
            Op::RxPush => {
                self.be.rx_push();
            }
            Op::TxTake => {
                for req in self.be.take_tx() {
                    if !self.poisoned {
                        prop_assert!(
                            self.tx_held.insert(req.id),
                            "tx buffer {} sent while the backend holds it",
                            req.id
                        );
                    }
                }
            }
            Op::TxAnswer { pick, status } => {
                let n = self.be.tx_taken.len();
                if n > 0
                    && let Some(req) = self.be.tx_taken.remove(pick as usize % n)
                {
                    self.tx_held.remove(&req.id);
                    self.be.tx_put(req.id, status);
                }
            }
            Op::TxPush => {
                self.be.tx_push();
            }
            Op::RxRaw {
                id,
                offset,
                flags,
                status,
            } => {
                self.be.rx_taken.pop_front();
                self.be.rx_put(NetifRxResponse {
                    id,
                    offset,
                    flags,
                    status,
                });
            }
            Op::RxExtraRaw { flags } => {
                self.be.rx_taken.pop_front();
                self.be.rx_put_extra(NetifExtraInfo {
                    type_: 1,
                    flags,
                    u: [0; 3],
                });
            }
            Op::RxBump { by } => {
                let prod = self.be.rx_rsp_pvt();
                self.be.rx_set_rsp_prod(prod.wrapping_add(by.into()));
            }
            Op::TxRaw { id, status } => {
                if let Some(at) = self.be.tx_taken.iter().position(|r| r.id == id) {
                    self.be.tx_taken.remove(at);
                }
                self.be.tx_put(id, status);
            }
            Op::TxBump { by } => {
                let prod = self.be.tx_rsp_pvt();
                self.be.tx_set_rsp_prod(prod.wrapping_add(by.into()));
            }
        }
        self.check()
    }

    /// Answers the oldest RX request taken, in its slot.
    fn answer(&mut self, flags: u16, status: i16) {
        let req = self.be.rx_next();
        self.rx_held.remove(&req.id);
        self.be.rx_put(NetifRxResponse {
            id: req.id,
            offset: 0,
            flags,
            status,
        });
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        // Every buffer is exactly once posted/in flight or free (or held by a broken
        // ring, which still counts it as posted).
        self.rx.audit().map_err(TestCaseError::fail)?;
        self.tx.audit().map_err(TestCaseError::fail)?;
        prop_assert_eq!(self.rx.posted() + self.rx.free(), self.rx_bufs);
        let s = self.tx.stats();
        prop_assert_eq!(s.tx_packets + s.tx_dropped, self.sends);

        // A broken ring is left alone.
        if self.rx.broken().is_some() {
            let now = self.be.rx_req_prod();
            prop_assert_eq!(*self.rx_frozen.get_or_insert(now), now);
        }
        if self.tx.broken().is_some() {
            let now = self.be.tx_req_prod();
            prop_assert_eq!(*self.tx_frozen.get_or_insert(now), now);
        }

        if !self.poisoned {
            prop_assert!(self.rx.broken().is_none(), "an honest backend broke rx");
            prop_assert!(self.tx.broken().is_none(), "an honest backend broke tx");
            // Read the ring itself: the requests outstanding name distinct buffers,
            // exactly those the frontend counts as posted.
            let f = self.rx.front();
            let mut ids: Vec<u16> = (0..f.req_prod_pvt.wrapping_sub(f.rsp_cons))
                .map(|k| {
                    let i = f.rsp_cons.wrapping_add(k);
                    // Taken (maybe answered since, over the request): as the backend read
                    // it; not taken yet: as the ring holds it.
                    match self.be.rx_log.get(&i) {
                        Some(&id) => id,
                        None => self.be.rx_request_at(i).id,
                    }
                })
                .collect();
            let n = ids.len();
            prop_assert!(n <= RX_RING_SIZE);
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), n, "one buffer in two outstanding requests");
            prop_assert_eq!(ids, self.rx.posted_ids());
            // What the backend holds, the frontend counts as posted or in flight.
            let posted: BTreeSet<u16> = self.rx.posted_ids().into_iter().collect();
            prop_assert!(self.rx_held.is_subset(&posted));
            let in_flight: BTreeSet<u16> = self.tx.in_flight_ids().into_iter().collect();
            prop_assert!(self.tx_held.is_subset(&in_flight));
        }
        Ok(())
    }
}

fn run(start: u32, rx_bufs: usize, tx_bufs: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut r = Run::new(start, rx_bufs, tx_bufs);
    r.check()?;
    for op in ops {
        r.step(op)?;
    }
    // Closing takes everything back, broken or not.
    r.rx.close();
    let lost = r.tx.in_flight();
    prop_assert_eq!(r.tx.close().lost, lost);
    prop_assert_eq!(r.rx.free(), rx_bufs);
    prop_assert_eq!(r.tx.free(), tx_bufs);
    r.rx.audit().map_err(TestCaseError::fail)?;
    r.tx.audit().map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn honest_backend_random_traffic_keeps_every_buffer_accounted(
        start in start_index(),
        rx_bufs in 1usize..=12,
        tx_bufs in 1usize..=8,
        ops in proptest::collection::vec(honest_op(), 0..300),
    ) {
        run(start, rx_bufs, tx_bufs, &ops)?;
    }

    #[test]
    fn hostile_backend_never_panics_double_posts_or_leaks(
        start in start_index(),
        rx_bufs in 1usize..=12,
        tx_bufs in 1usize..=8,
        ops in proptest::collection::vec(any_op(), 0..300),
    ) {
        run(start, rx_bufs, tx_bufs, &ops)?;
    }

    #[test]
    fn lifecycle_never_connects_over_live_grants(
        inputs in proptest::collection::vec(
            prop_oneof![
                6 => (0u32..=9).prop_map(|n| Input::Backend(
                    XenbusState::from_raw(n).map_or(
                        Backend::Garbage(lifecycle::BadState::OutOfRange { value: n }),
                        Backend::State,
                    ),
                )),
                1 => Just(Input::Backend(Backend::Gone)),
                2 => (0usize..3).prop_map(Input::Ended),
                1 => (0usize..3).prop_map(Input::Timeout),
            ],
            0..100,
        ),
    ) {
        let mut l = Lifecycle::new();
        // Grants made by Connect and not yet all ended.
        let mut live = false;
        let mut failed = false;
        for input in inputs {
            let releasing = l.phase() == Phase::Releasing;
            let actions = match input {
                Input::Backend(b) => l.backend(b),
                Input::Ended(n) => l.grants_ended(n),
                Input::Timeout(n) => l.timed_out(n),
            };
            if releasing && matches!(input, Input::Ended(0)) {
                // Every grant ended: a Connect among the actions may grant anew.
                prop_assert_ne!(l.phase(), Phase::Releasing);
                live = false;
            }
            if failed {
                prop_assert!(
                    actions.iter().all(|a| matches!(a, Action::Ignored(_))),
                    "acted after giving up: {:?}",
                    actions
                );
            }
            for a in actions {
                match a {
                    Action::Connect => {
                        prop_assert!(!live, "connect over live grants");
                        live = true;
                    }
                    Action::StartRings | Action::StopRings | Action::EndGrants
                    | Action::RetryEndGrants => prop_assert!(live, "{:?} with no grants", a),
                    Action::GiveUp(_) => failed = true,
                    Action::WriteState(_) | Action::Ignored(_) => {}
                }
            }
            prop_assert_eq!(failed, matches!(l.phase(), Phase::Failed(_)));
        }
    }
}

/// An input to the lifecycle.
#[derive(Debug, Clone, Copy)]
enum Input {
    Backend(Backend),
    Ended(usize),
    Timeout(usize),
}

// ----- xenbus states -----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn state_values_parse_exactly_when_they_name_a_state(
        value in prop_oneof![
            "[0-9]{1,3}\0{0,2}",
            "[0-9+ -]{0,12}\0{0,2}",
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(|v| {
                std::string::String::from_utf8_lossy(&v).into_owned()
            }),
        ],
    ) {
        let bytes = value.as_bytes();
        let digits = value.trim_end_matches('\0');
        let want = if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            Err(lifecycle::BadState::NotANumber { len: bytes.len() })
        } else {
            match digits.parse::<u32>() {
                Err(_) => Err(lifecycle::BadState::NotANumber { len: bytes.len() }),
                Ok(n) if n <= 8 => Ok(XenbusState::from_raw(n).unwrap()),
                Ok(n) => Err(lifecycle::BadState::OutOfRange { value: n }),
            }
        };
        prop_assert_eq!(XenbusState::parse(bytes), want);
        if let Ok(s) = XenbusState::parse(bytes) {
            prop_assert_eq!(XenbusState::parse(s.as_str().as_bytes()), Ok(s));
        }
    }
}

// ----- checksums -----

/// The RFC 1071 checksum of `bytes` (an odd last byte padded with zero), written apart
/// from the code's.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        sum += u32::from(pair[0]) << 8 | u32::from(pair.get(1).copied().unwrap_or(0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The transport of a built frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    /// UDP; `false`: checksum 0 ("none").
    Udp(bool),
    Icmp,
    Other(u8),
}

/// The parts of a frame a test chooses; the rest (lengths, checksums) is computed.
#[derive(Debug, Clone)]
struct Frame {
    proto: Proto,
    /// IP options (a multiple of 4 bytes, at most 40).
    options: Vec<u8>,
    /// TOS, id, TTL, source and destination: 1 + 2 + 1 + 4 + 4 bytes.
    fields: [u8; 12],
    /// More fragments or a fragment offset: only the IP header can be checked.
    fragment: bool,
    /// TCP/ICMP header fields or UDP ports (before the payload).
    head: [u8; 20],
    payload: Vec<u8>,
    /// Ethernet padding after the datagram.
    padding: Vec<u8>,
}

/// Offsets in a built frame.
const IP: usize = 14;

impl Frame {
    fn ihl(&self) -> usize {
        20 + self.options.len()
    }

    fn protocol(&self) -> u8 {
        match self.proto {
            Proto::Tcp => 6,
            Proto::Udp(_) => 17,
            Proto::Icmp => 1,
            Proto::Other(p) => p,
        }
    }

    /// The transport segment, with its checksum computed unless that is UDP's "none".
    fn segment(&self, src_dst: &[u8]) -> Vec<u8> {
        let (mut seg, at) = match self.proto {
            Proto::Tcp => {
                let mut h = self.head.to_vec();
                h[12] = 0x50; // data offset: 5 words
                h[16..18].fill(0);
                (h, Some(16))
            }
            Proto::Udp(_) => {
                let mut h = self.head[..8].to_vec();
                let len = (8 + self.payload.len()) as u16;
                h[4..6].copy_from_slice(&len.to_be_bytes());
                h[6..8].fill(0);
                (h, Some(6))
            }
            Proto::Icmp => {
                let mut h = self.head[..8].to_vec();
                h[2..4].fill(0);
                (h, Some(2))
            }
            Proto::Other(_) => (self.head[..4].to_vec(), None),
        };
        seg.extend(&self.payload);
        let Some(at) = at else { return seg };
        if self.proto == Proto::Udp(false) {
            return seg;
        }
        let mut covered = Vec::new();
        if self.proto != Proto::Icmp {
            covered.extend(src_dst);
            covered.extend([0, self.protocol()]);
            covered.extend((seg.len() as u16).to_be_bytes());
        }
        covered.extend(&seg);
        let mut c = internet_checksum(&covered);
        if c == 0 && matches!(self.proto, Proto::Udp(_)) {
            c = 0xffff; // RFC 768: a computed 0 is sent as all ones.
        }
        seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
        seg
    }

    fn bytes(&self) -> Vec<u8> {
        let f = &self.fields;
        let seg = self.segment(&f[4..12]);
        let total = (self.ihl() + seg.len()) as u16;
        let mut ip = vec![0x40 | (self.ihl() / 4) as u8, f[0]];
        ip.extend(total.to_be_bytes());
        ip.extend(&f[1..3]);
        ip.extend(if self.fragment {
            [0x20, 0x08]
        } else {
            [0x40, 0x00]
        });
        ip.extend([f[3], self.protocol(), 0, 0]);
        ip.extend(&f[4..12]);
        ip.extend(&self.options);
        let c = internet_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        out.extend(ip);
        out.extend(seg);
        out.extend(&self.padding);
        out
    }

    /// What `verify_frame` must say after bit `bit` of byte `at` is flipped, or `None`
    /// where the outcome depends on chance (a changed header length shifts what the
    /// sums cover) and the flip is not made.
    fn after_flip(&self, at: usize, bit: u8) -> Option<Expect> {
        let ihl = self.ihl();
        let total = IP + ihl + self.segment(&self.fields[4..12]).len();
        let seg = IP + ihl;
        Some(match at {
            // MAC addresses are not checked; any change to the EtherType (12, 13)
            // makes it something other than IPv4, which passes.
            0..=13 => Expect::Ok,
            // The version (IHL, the low nibble, is left alone).
            14 if bit >= 4 => Expect::AnyError,
            14 => return None,
            // Total length: past the frame (malformed) or the header sum is off.
            16 | 17 => Expect::AnyError,
            _ if at < seg => Expect::Ipv4Header,
            _ if at >= total => Expect::Ok,
            _ if self.fragment => Expect::Ok,
            _ => {
                let off = at - seg;
                match self.proto {
                    Proto::Other(_) => Expect::Ok,
                    Proto::Udp(_) if (4..6).contains(&off) => return None,
                    // "No checksum": nothing is covered, unless the flip makes it one.
                    Proto::Udp(false) if (6..8).contains(&off) => return None,
                    Proto::Udp(false) => Expect::Ok,
                    Proto::Udp(true) if (6..8).contains(&off) => {
                        let bytes = self.bytes();
                        let mut c = [bytes[seg + 6], bytes[seg + 7]];
                        c[off - 6] ^= 1 << bit;
                        if c == [0, 0] {
                            Expect::Ok
                        } else {
                            Expect::Transport
                        }
                    }
                    _ => Expect::Transport,
                }
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Ipv4Header,
    Transport,
    AnyError,
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        prop_oneof![
            3 => Just(Proto::Tcp),
            2 => any::<bool>().prop_map(Proto::Udp),
            2 => Just(Proto::Icmp),
            1 => prop_oneof![Just(47u8), Just(0u8), Just(255u8)].prop_map(Proto::Other),
        ],
        (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4)),
        any::<[u8; 12]>(),
        prop_oneof![4 => Just(false), 1 => Just(true)],
        any::<[u8; 20]>(),
        proptest::collection::vec(any::<u8>(), 0..200),
        prop_oneof![3 => Just(vec![]), 1 => proptest::collection::vec(any::<u8>(), 1..30)],
    )
        .prop_map(
            |(proto, options, fields, fragment, head, payload, padding)| Frame {
                proto,
                options,
                fields,
                fragment,
                head,
                payload,
                padding,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frames_with_checksums_computed_here_verify(f in frame()) {
        prop_assert_eq!(verify_frame(&f.bytes()), Ok(()), "{:?}", f);
    }

    #[test]
    fn a_flipped_bit_under_a_checksum_is_caught_and_elsewhere_passes(
        f in frame(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = f.bytes();
        let at = at.index(bytes.len());
        let Some(expect) = f.after_flip(at, bit) else { return Ok(()) };
        bytes[at] ^= 1 << bit;
        let got = verify_frame(&bytes);
        let protocol = f.protocol();
        match expect {
            Expect::Ok => prop_assert_eq!(got, Ok(())),
            Expect::Ipv4Header => prop_assert!(
                matches!(got, Err(ChecksumError::Ipv4Header { .. })), "{:?}", got
            ),
            Expect::Transport => prop_assert!(
                matches!(got, Err(ChecksumError::Transport { protocol: p, .. }) if p == protocol),
                "{:?}", got
            ),
            Expect::AnyError => prop_assert!(got.is_err()),
        }
    }

    #[test]
    fn any_bytes_after_an_ipv4_ethertype_never_panic(
        ip in proptest::collection::vec(any::<u8>(), 0..120),
        version_ihl in prop_oneof![Just(0x45u8), 0x45u8..=0x4f, any::<u8>()],
        protocol in prop_oneof![Just(1u8), Just(6u8), Just(17u8), any::<u8>()],
    ) {
        let mut bytes = vec![0u8; 12];
        bytes.extend([0x08, 0x00, version_ihl]);
        bytes.extend(&ip);
        if bytes.len() > IP + 9 {
            bytes[IP + 9] = protocol;
        }
        let _ = verify_frame(&bytes);
        // Cut anywhere, too.
        for end in 0..bytes.len() {
            let _ = verify_frame(&bytes[..end]);
        }
    }
}
