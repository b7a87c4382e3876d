//! Host tests of the netfront queues, checksum check and lifecycle, against the scripted
//! fake netback: good traffic across the `u32` index wrap, then hostile backends.

use super::checksum::{ChecksumError, verify_frame};
use super::fake::FakeNetback;
use super::lifecycle::{Action, Backend, BadState, Lifecycle, LifecycleError, Phase, XenbusState};
use super::*;
use crate::abi::netif::{
    NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETRXF_CSUM_BLANK,
    NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA, NetifExtraInfo, NetifRxResponse,
    XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
};
use crate::netif::BadResponses;
use std::vec;
use std::vec::Vec;

// ----- frames, with checksums computed independently of `checksum.rs` -----

/// RFC 1071 checksum of `data` (plainly, word by word).
fn ones_complement(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = data[i] as u32;
        let lo = if i + 1 < data.len() {
            data[i + 1] as u32
        } else {
            0
        };
        sum += (hi << 8) | lo;
        i += 2;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const SRC_IP: [u8; 4] = [10, 0, 0, 1];
const DST_IP: [u8; 4] = [10, 0, 0, 2];

/// An Ethernet + IPv4 frame around `l4` (protocol `proto`), whose checksum field at
/// `csum_at` (None: no checksum) is filled in, with `pseudo` header or not.
fn ipv4_frame(proto: u8, mut l4: Vec<u8>, csum_at: Option<usize>, pseudo: bool) -> Vec<u8> {
    if let Some(at) = csum_at {
        let mut covered = Vec::new();
        if pseudo {
            covered.extend_from_slice(&SRC_IP);
            covered.extend_from_slice(&DST_IP);
            covered.extend_from_slice(&[0, proto]);
            covered.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        }
        covered.extend_from_slice(&l4);
        let c = ones_complement(&covered);
        // UDP sends a computed 0 as all ones.
        let c = if proto == 17 && c == 0 { 0xffff } else { c };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let total = 20 + l4.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        0x40,
        0, // DF, offset 0
        64,
        proto,
        0,
        0,
    ];
    ip.extend_from_slice(&SRC_IP);
    ip.extend_from_slice(&DST_IP);
    let c = ones_complement(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut l4 = vec![0x30, 0x39, 0x00, 0x35, (len >> 8) as u8, len as u8, 0, 0];
    l4.extend_from_slice(payload);
    ipv4_frame(17, l4, Some(6), true)
}

fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![
        0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    l4.extend_from_slice(payload);
    ipv4_frame(6, l4, Some(16), true)
}

fn icmp_frame(payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    l4.extend_from_slice(payload);
    ipv4_frame(1, l4, Some(2), false)
}

fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[0; 20]);
    f
}

/// A distinct frame for round trips (data validated by the fake, so any bytes do).
fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n).map(|i| (i as u32 * 7 + seed) as u8).collect()
}

// ----- helpers -----

fn rx_setup(start: u32, bufs: usize) -> (FakeNetback, RxQueue) {
    let mut be = FakeNetback::new(start, bufs, 1);
    let mut rx = be.rx_queue(ETH_MAX_FRAME);
    assert!(rx.refill().unwrap(), "first post crosses req_event");
    assert_eq!(be.take_rx(), bufs.min(256));
    (be, rx)
}

fn tx_setup(start: u32, bufs: usize) -> (FakeNetback, TxQueue) {
    let be = FakeNetback::new(start, 1, bufs);
    let tx = be.tx_queue(ETH_MAX_FRAME);
    (be, tx)
}

/// One poll with the fake's copy-out; the frame if one came.
fn poll(be: &FakeNetback, rx: &mut RxQueue) -> Result<(RxPoll, Vec<u8>), RingError> {
    let mut out = Vec::new();
    let p = rx.poll(&mut out, be.rx_copy())?;
    rx.audit().unwrap();
    Ok((p, out))
}

fn send(be: &FakeNetback, tx: &mut TxQueue, frame: &[u8]) -> Result<bool, TxError> {
    let r = tx.send(frame, be.tx_copy());
    tx.audit().unwrap();
    r
}

fn rsp(id: u16, status: i16) -> NetifRxResponse {
    NetifRxResponse {
        id,
        offset: 0,
        flags: NETRXF_DATA_VALIDATED,
        status,
    }
}

// ----- good traffic -----

#[test]
fn rx_round_trips_across_the_u32_index_wrap() {
    let start = u32::MAX - 9;
    let (mut be, mut rx) = rx_setup(start, 8);
    let mut bytes = 0;
    for round in 0..5u32 {
        let frames: Vec<_> = (0..8)
            .map(|i| pattern(60 + i, round * 8 + i as u32))
            .collect();
        for f in &frames {
            be.rx_deliver(f);
        }
        be.rx_push();
        for (i, f) in frames.iter().enumerate() {
            let (p, out) = poll(&be, &mut rx).unwrap();
            assert_eq!(p.packet, Some(f.len()));
            assert_eq!(&out, f);
            assert_eq!(p.more, i < 7, "more while packets remain");
            bytes += f.len() as u64;
        }
        let (p, _) = poll(&be, &mut rx).unwrap();
        assert_eq!(p, RxPoll::default(), "drained: nothing, nothing to do");
        assert_eq!(be.take_rx(), 8, "every buffer posted again");
        assert_eq!(rx.posted(), 8);
    }
    assert_eq!(rx.front().rsp_cons, start.wrapping_add(40));
    assert!(rx.front().rsp_cons < 100, "the index wrapped");
    let s = rx.stats();
    assert_eq!((s.rx_packets, s.rx_bytes, s.rx_errors), (40, bytes, 0));
}

#[test]
fn tx_round_trips_across_the_u32_index_wrap() {
    let start = u32::MAX - 4;
    let (mut be, mut tx) = tx_setup(start, 4);
    for round in 0..10u32 {
        let frames: Vec<_> = (0..3).map(|i| pattern(100 + i, round + i as u32)).collect();
        for f in &frames {
            send(&be, &mut tx, f).unwrap();
        }
        let reqs = be.take_tx();
        assert_eq!(reqs.len(), 3);
        for (r, f) in reqs.iter().zip(&frames) {
            assert_eq!((r.offset, r.flags, r.size as usize), (0, 0, f.len()));
            assert_eq!(&be.tx_frame(*r), f);
        }
        be.tx_answer_all(NETIF_RSP_OKAY);
        assert_eq!(tx.reclaim().unwrap(), 3);
        tx.audit().unwrap();
        assert_eq!(tx.free(), 4);
    }
    assert_eq!(tx.front().rsp_cons, start.wrapping_add(30));
    let s = tx.stats();
    assert_eq!((s.tx_packets, s.tx_errors, s.tx_dropped), (30, 0, 0));
}

// ----- hostile RX -----

#[test]
fn rx_id_out_of_range_breaks_the_ring_for_good() {
    for bad in [4u16, 256, u16::MAX] {
        let (mut be, mut rx) = rx_setup(0, 4);
        be.rx_next();
        be.rx_put(rsp(bad, 60));
        be.rx_push();
        let e = RingError::UnknownRxId { id: bad, slot: 0 };
        assert_eq!(poll(&be, &mut rx), Err(e));
        // From then on: nothing, however good the next response.
        let req_prod = be.rx_req_prod();
        be.rx_deliver(&pattern(60, 1));
        be.rx_push();
        assert_eq!(poll(&be, &mut rx), Err(e));
        assert_eq!(rx.refill(), Err(e));
        assert_eq!(be.rx_req_prod(), req_prod, "nothing posted");
        assert_eq!(rx.broken(), Some(e));
        assert_eq!(rx.posted() + rx.free(), 4, "every buffer accounted for");
    }
}

#[test]
fn rx_repeated_id_breaks_the_ring() {
    // Within one poll: the first answer (an error) frees the buffer, the second names it
    // again before it could be posted again.
    let (mut be, mut rx) = rx_setup(0, 4);
    let a = be.rx_next();
    be.rx_next();
    be.rx_put(rsp(a.id, NETIF_RSP_ERROR));
    be.rx_put(rsp(a.id, 60));
    be.rx_push();
    assert_eq!(
        poll(&be, &mut rx),
        Err(RingError::RxIdNotPosted { id: a.id, slot: 1 })
    );

    // Across polls: by then the buffer is posted again, in another slot.
    let (mut be, mut rx) = rx_setup(0, 4);
    let id = be.rx_deliver(&pattern(60, 0));
    let b = be.rx_next();
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, Some(60));
    be.rx_put(rsp(id, 60));
    be.rx_push();
    assert_eq!(
        poll(&be, &mut rx),
        Err(RingError::RxIdWrongSlot {
            id,
            posted: b.id,
            slot: 1
        })
    );
}

#[test]
fn rx_answer_in_another_requests_slot_breaks_the_ring() {
    let (mut be, mut rx) = rx_setup(0, 4);
    let a = be.rx_next();
    let b = be.rx_next();
    be.rx_put(rsp(b.id, 60));
    be.rx_put(rsp(a.id, 60));
    be.rx_push();
    assert_eq!(
        poll(&be, &mut rx),
        Err(RingError::RxIdWrongSlot {
            id: b.id,
            posted: a.id,
            slot: 0
        })
    );
}

#[test]
fn rx_error_statuses_drop_the_packet_and_repost_its_buffer() {
    let (mut be, mut rx) = rx_setup(0, 4);
    let a = be.rx_next();
    let b = be.rx_next();
    be.rx_put(rsp(a.id, NETIF_RSP_ERROR));
    be.rx_put(rsp(b.id, NETIF_RSP_DROPPED));
    let good = pattern(70, 3);
    be.rx_deliver(&good);
    be.rx_push();
    let (p, out) = poll(&be, &mut rx).unwrap();
    assert_eq!((p.packet, out), (Some(70), good));
    assert_eq!(rx.stats().rx_errors, 2);
    assert_eq!(
        rx.last_drop(),
        Some(RxDrop::Status {
            id: b.id,
            status: NETIF_RSP_DROPPED
        })
    );
    assert_eq!((rx.posted(), rx.free()), (4, 0));
    assert_eq!(be.take_rx(), 3);
}

#[test]
fn rx_offset_and_size_past_the_page_are_dropped() {
    let (mut be, mut rx) = rx_setup(0, 4);
    let a = be.rx_next();
    be.rx_put(NetifRxResponse {
        id: a.id,
        offset: 4000,
        flags: NETRXF_DATA_VALIDATED,
        status: 200,
    });
    let b = be.rx_next();
    be.rx_put(NetifRxResponse {
        id: b.id,
        offset: u16::MAX,
        flags: NETRXF_DATA_VALIDATED,
        status: 1,
    });
    // Exactly up to the end of the page is fine.
    let edge = pattern(60, 9);
    be.rx_deliver_at(&edge, 4096 - 60, NETRXF_DATA_VALIDATED);
    be.rx_push();
    let (p, out) = poll(&be, &mut rx).unwrap();
    assert_eq!((p.packet, out), (Some(60), edge));
    assert_eq!(rx.stats().rx_errors, 2);
    assert_eq!(
        rx.last_drop(),
        Some(RxDrop::PastPage {
            id: b.id,
            offset: u16::MAX,
            len: 1
        })
    );
    assert_eq!(rx.posted(), 4);
}

#[test]
fn rx_zero_length_and_oversized_packets_are_dropped() {
    let (mut be, mut rx) = rx_setup(0, 4);
    let a = be.rx_next();
    be.rx_put(rsp(a.id, 0));
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, None);
    assert_eq!(rx.last_drop(), Some(RxDrop::Empty { id: a.id }));
    let b = be.rx_next();
    be.rx_put(rsp(b.id, ETH_MAX_FRAME as i16 + 1));
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, None);
    assert_eq!(
        rx.last_drop(),
        Some(RxDrop::TooLong {
            id: b.id,
            len: ETH_MAX_FRAME + 1,
            max: ETH_MAX_FRAME
        })
    );
    let full = pattern(ETH_MAX_FRAME, 1);
    be.rx_deliver(&full);
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().1, full);
    assert_eq!(rx.stats().rx_errors, 2);
    assert_eq!(rx.posted(), 4);
}

#[test]
fn rx_copy_failure_drops_and_counts() {
    let (mut be, mut rx) = rx_setup(0, 2);
    be.rx_deliver(&pattern(60, 0));
    be.rx_push();
    let mut out = Vec::new();
    let p = rx.poll(&mut out, |_, _, _| false).unwrap();
    assert_eq!(p.packet, None);
    assert_eq!(rx.last_drop(), Some(RxDrop::CopyFailed { id: 0 }));
    assert_eq!((rx.stats().rx_errors, rx.posted()), (1, 2));
}

#[test]
fn rx_more_data_drops_the_whole_packet_and_gives_every_buffer_back() {
    let (mut be, mut rx) = rx_setup(0, 6);
    for flags in [NETRXF_MORE_DATA, NETRXF_MORE_DATA, 0] {
        let r = be.rx_next();
        be.rx_put(NetifRxResponse {
            id: r.id,
            offset: 0,
            flags,
            status: 100,
        });
    }
    let good = pattern(80, 5);
    be.rx_deliver(&good);
    be.rx_push();
    let (p, out) = poll(&be, &mut rx).unwrap();
    assert_eq!((p.packet, out), (Some(80), good));
    let s = rx.stats();
    assert_eq!((s.rx_unnegotiated, s.rx_errors, s.rx_packets), (1, 0, 1));
    assert_eq!(
        rx.last_drop(),
        Some(RxDrop::Unnegotiated {
            id: 0,
            flags: NETRXF_MORE_DATA
        })
    );
    assert_eq!((rx.posted(), rx.free()), (6, 0));
    assert_eq!(be.take_rx(), 4, "each of the four buffers posted once");
}

#[test]
fn rx_more_data_split_across_polls_is_still_one_dropped_packet() {
    let (mut be, mut rx) = rx_setup(0, 6);
    let r = be.rx_next();
    be.rx_put(NetifRxResponse {
        id: r.id,
        offset: 0,
        flags: NETRXF_MORE_DATA,
        status: 100,
    });
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0, RxPoll::default());
    for flags in [NETRXF_MORE_DATA, 0] {
        let r = be.rx_next();
        be.rx_put(NetifRxResponse {
            id: r.id,
            offset: 0,
            flags,
            status: 100,
        });
    }
    be.rx_deliver(&pattern(64, 0));
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, Some(64));
    assert_eq!(rx.stats().rx_unnegotiated, 1);
    assert_eq!(rx.posted(), 6);
}

/// An extra-info slot whose first two bytes (type 2, flags 0) read as id 2, the buffer
/// posted in the slot after it.
fn extra(flags: u8) -> NetifExtraInfo {
    NetifExtraInfo {
        type_: XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
        flags,
        u: [0x1111, 0x2222, 0x3333],
    }
}

#[test]
fn rx_extra_info_slot_gives_back_the_buffer_posted_in_its_slot_once() {
    for more in [false, true] {
        let (mut be, mut rx) = rx_setup(0, 6);
        let first = be.rx_next();
        be.rx_put(NetifRxResponse {
            id: first.id,
            offset: 0,
            flags: NETRXF_EXTRA_INFO | NETRXF_DATA_VALIDATED,
            status: 100,
        });
        be.rx_next();
        if more {
            be.rx_put_extra(NetifExtraInfo {
                type_: XEN_NETIF_EXTRA_TYPE_GSO,
                flags: XEN_NETIF_EXTRA_FLAG_MORE,
                u: [1400, 1, 0],
            });
            be.rx_next();
        }
        be.rx_put_extra(extra(0));
        // Buffer 2 (or 3) answered by its own response: had the extra slot been read as
        // an answer for buffer 2, this one would break the ring.
        let good = pattern(90, 2);
        be.rx_deliver(&good);
        be.rx_push();
        let (p, out) = poll(&be, &mut rx).unwrap();
        assert_eq!((p.packet, out), (Some(90), good), "more extras: {more}");
        assert_eq!(rx.stats().rx_unnegotiated, 1);
        assert_eq!((rx.posted(), rx.free()), (6, 0));
        assert_eq!(be.take_rx(), if more { 4 } else { 3 });
    }
}

#[test]
fn rx_extra_info_then_more_data_fragments_are_all_dropped() {
    let (mut be, mut rx) = rx_setup(0, 8);
    let r = be.rx_next();
    be.rx_put(NetifRxResponse {
        id: r.id,
        offset: 0,
        flags: NETRXF_EXTRA_INFO | NETRXF_MORE_DATA,
        status: 100,
    });
    be.rx_next();
    be.rx_put_extra(extra(0));
    // Extra-info flags on a continuation fragment mean nothing.
    for flags in [NETRXF_MORE_DATA | NETRXF_EXTRA_INFO, 0] {
        let r = be.rx_next();
        be.rx_put(NetifRxResponse {
            id: r.id,
            offset: 0,
            flags,
            status: 50,
        });
    }
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, None);
    be.rx_deliver(&pattern(60, 0));
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, Some(60));
    assert_eq!(rx.stats().rx_unnegotiated, 1);
    assert_eq!(rx.posted(), 8);
}

#[test]
fn rx_extra_info_split_across_polls() {
    let (mut be, mut rx) = rx_setup(0, 4);
    let r = be.rx_next();
    be.rx_put(NetifRxResponse {
        id: r.id,
        offset: 0,
        flags: NETRXF_EXTRA_INFO,
        status: 100,
    });
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, None);
    be.rx_next();
    be.rx_put_extra(extra(0));
    be.rx_deliver(&pattern(60, 0));
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, Some(60));
    assert_eq!(rx.posted(), 4);
}

#[test]
fn more_responses_than_requests_break_either_ring() {
    let (mut be, mut rx) = rx_setup(7, 4);
    be.rx_set_rsp_prod(7 + 5);
    let e = RingError::TooManyRxResponses(BadResponses {
        rsp_prod: 12,
        rsp_cons: 7,
        req_prod: 11,
    });
    assert_eq!(poll(&be, &mut rx), Err(e));
    assert_eq!(rx.posted(), 4);

    let (mut be, mut tx) = tx_setup(7, 4);
    send(&be, &mut tx, &pattern(60, 0)).unwrap();
    send(&be, &mut tx, &pattern(60, 1)).unwrap();
    be.tx_set_rsp_prod(7 + 3);
    let e = RingError::TooManyTxResponses(BadResponses {
        rsp_prod: 10,
        rsp_cons: 7,
        req_prod: 9,
    });
    assert_eq!(tx.reclaim(), Err(e));
    assert_eq!(send(&be, &mut tx, &pattern(60, 2)), Err(TxError::Broken(e)));
    assert_eq!(tx.stats().tx_dropped, 1);
    assert_eq!(tx.in_flight() + tx.free(), 4);
}

// ----- hostile TX -----

#[test]
fn tx_responses_for_buffers_not_in_flight_break_the_ring() {
    type Script = fn(&mut FakeNetback);
    let cases: [(Script, RingError); 4] = [
        (
            |be| be.tx_put(50, NETIF_RSP_OKAY),
            RingError::UnknownTxId { id: 50, slot: 0 },
        ),
        (
            |be| be.tx_put(3, NETIF_RSP_OKAY),
            RingError::TxIdNotInFlight { id: 3, slot: 0 },
        ),
        (
            |be| {
                be.tx_put(0, NETIF_RSP_OKAY);
                be.tx_put(0, NETIF_RSP_OKAY);
            },
            RingError::TxIdNotInFlight { id: 0, slot: 1 },
        ),
        (
            |be| be.tx_put(0, NETIF_RSP_NULL),
            RingError::TxNullResponse { id: 0, slot: 0 },
        ),
    ];
    for (script, e) in cases {
        let (mut be, mut tx) = tx_setup(0, 4);
        send(&be, &mut tx, &pattern(60, 0)).unwrap();
        send(&be, &mut tx, &pattern(60, 1)).unwrap();
        be.take_tx();
        script(&mut be);
        be.tx_push();
        assert_eq!(tx.reclaim(), Err(e));
        assert_eq!(tx.broken(), Some(e));
        assert_eq!(tx.reclaim(), Err(e), "stays broken");
        let req_prod = be.tx_req_prod();
        assert_eq!(send(&be, &mut tx, &pattern(60, 2)), Err(TxError::Broken(e)));
        assert_eq!(be.tx_req_prod(), req_prod, "nothing posted");
        assert_eq!(tx.in_flight() + tx.free(), 4);
    }
}

#[test]
fn tx_error_statuses_are_counted_and_free_the_buffer() {
    let (mut be, mut tx) = tx_setup(0, 4);
    for i in 0..3 {
        send(&be, &mut tx, &pattern(60, i)).unwrap();
    }
    be.take_tx();
    be.tx_put(1, NETIF_RSP_ERROR);
    be.tx_put(0, NETIF_RSP_DROPPED);
    be.tx_put(2, 7); // not a status netif.h defines
    be.tx_push();
    assert_eq!(tx.reclaim(), Ok(3));
    assert_eq!(tx.stats().tx_errors, 3);
    assert_eq!((tx.free(), tx.in_flight()), (4, 0));
    tx.audit().unwrap();
}

#[test]
fn stalled_backend_send_fails_and_counts_and_nothing_is_lost_once_it_drains() {
    let (mut be, mut tx) = tx_setup(0, 4);
    for i in 0..4 {
        send(&be, &mut tx, &pattern(60, i)).unwrap();
    }
    assert!(!tx.can_send());
    assert_eq!(
        send(&be, &mut tx, &pattern(60, 9)),
        Err(TxError::NoFreeBuffer)
    );
    be.take_tx();
    assert_eq!(
        send(&be, &mut tx, &pattern(60, 9)),
        Err(TxError::NoFreeBuffer)
    );
    assert_eq!(tx.stats().tx_dropped, 2);
    assert_eq!(tx.in_flight(), 4);
    // The backend drains: `send` takes the answers back itself.
    be.tx_answer_all(NETIF_RSP_OKAY);
    send(&be, &mut tx, &pattern(60, 10)).unwrap();
    let s = tx.stats();
    assert_eq!((s.tx_packets, s.tx_dropped, s.tx_errors), (5, 2, 0));
    assert_eq!((tx.in_flight(), tx.free()), (1, 3));

    // More buffers than ring slots: the ring fills first.
    let (be, mut tx) = tx_setup(0, 300);
    for i in 0..256 {
        send(&be, &mut tx, &pattern(60, i)).unwrap();
    }
    assert_eq!(send(&be, &mut tx, &pattern(60, 0)), Err(TxError::RingFull));
    assert_eq!(tx.stats().tx_dropped, 1);
    assert_eq!(tx.free(), 44);
}

#[test]
fn tx_refuses_bad_lengths_and_copy_failures() {
    let (be, mut tx) = tx_setup(0, 2);
    let max = ETH_MAX_FRAME;
    assert_eq!(
        send(&be, &mut tx, &[]),
        Err(TxError::BadLength { len: 0, max })
    );
    assert_eq!(
        send(&be, &mut tx, &vec![0; max + 1]),
        Err(TxError::BadLength { len: max + 1, max })
    );
    assert_eq!(
        tx.send(&pattern(60, 0), |_, _| false),
        Err(TxError::CopyFailed { id: 0 })
    );
    assert_eq!(tx.stats().tx_dropped, 3);
    assert_eq!(tx.free(), 2);
    send(&be, &mut tx, &vec![1; max]).unwrap();
}

// ----- wakeups -----

#[test]
fn rx_rsp_event_is_rearmed_whether_or_not_the_consumer_took_everything() {
    let start = 100;
    let (mut be, mut rx) = rx_setup(start, 4);
    for i in 0..3 {
        be.rx_deliver(&pattern(60, i));
    }
    assert!(be.rx_push(), "rsp_event starts at the first response");
    let (p, _) = poll(&be, &mut rx).unwrap();
    assert!(p.packet.is_some() && p.more, "two more are waiting");
    assert_eq!(
        be.rx_rsp_event(),
        start + 2,
        "re-armed past what was consumed"
    );
    // The consumer comes back (as `more` told it to) and drains.
    assert!(poll(&be, &mut rx).unwrap().0.more);
    let (p, _) = poll(&be, &mut rx).unwrap();
    assert!(p.packet.is_some() && !p.more);
    assert_eq!(be.rx_rsp_event(), start + 4);
    // The consumer now waits for an event: the next response raises one.
    be.take_rx();
    be.rx_deliver(&pattern(60, 9));
    assert!(be.rx_push(), "the backend must notify");
}

#[test]
fn rx_response_published_while_the_consumer_finishes_is_not_lost() {
    let start = 5;
    let (mut be, mut rx) = rx_setup(start, 4);
    be.rx_deliver(&pattern(60, 0));
    be.rx_push();
    let pages = be.rx_pages.clone();
    let mut out = Vec::new();
    let mut raced = false;
    // The backend publishes another while we copy the first: with rsp_event still at the
    // first response it sends no event. Only the final check can see it.
    let p = rx
        .poll(&mut out, |id, off, dst| {
            if !raced {
                raced = true;
                be.rx_deliver(&pattern(61, 1));
                assert!(!be.rx_push(), "no event: rsp_event not re-armed yet");
            }
            pages[id as usize].read_bytes(off, dst)
        })
        .unwrap();
    assert_eq!(p.packet, Some(60));
    assert!(p.more, "the final check saw the second packet");
    let (p, _) = poll(&be, &mut rx).unwrap();
    assert_eq!((p.packet, p.more), (Some(61), false));
    assert_eq!(be.rx_rsp_event(), start + 3);
}

#[test]
fn tx_rsp_event_is_rearmed_after_reclaiming() {
    let (mut be, mut tx) = tx_setup(40, 4);
    send(&be, &mut tx, &pattern(60, 0)).unwrap();
    send(&be, &mut tx, &pattern(60, 1)).unwrap();
    let reqs = be.take_tx();
    be.tx_put(reqs[0].id, NETIF_RSP_OKAY);
    be.tx_push();
    assert_eq!(tx.reclaim(), Ok(1));
    assert_eq!(be.tx_rsp_event(), 42);
    be.tx_put(reqs[1].id, NETIF_RSP_OKAY);
    assert!(be.tx_push(), "the next answer raises an event");
}

// ----- checksums -----

#[test]
fn good_checksums_verify() {
    for f in [
        udp_frame(b"hello"),
        udp_frame(b"odd"),
        tcp_frame(b"GET / HTTP/1.0\r\n\r\n"),
        tcp_frame(b""),
        icmp_frame(b"ping!"),
        icmp_frame(&[0xff; 57]),
        arp_frame(),
    ] {
        assert_eq!(verify_frame(&f), Ok(()), "{f:02x?}");
    }
    // A header with a known checksum (0xb861, the usual worked example), carrying UDP
    // with no checksum (0) and a 87-byte payload.
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ]);
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0x00, 95, 0x00, 0x00]);
    f.extend_from_slice(&[0x5a; 87]);
    assert_eq!(verify_frame(&f), Ok(()), "UDP checksum 0 means none");
    // Ethernet padding after the IP datagram is not checked.
    f.extend_from_slice(&[0xaa; 18]);
    assert_eq!(verify_frame(&f), Ok(()));
    f[14 + 11] = 0x62;
    assert_eq!(
        verify_frame(&f),
        Err(ChecksumError::Ipv4Header { checksum: 0xb862 })
    );
}

#[test]
fn bad_checksums_are_found() {
    let mut f = udp_frame(b"hello");
    f[14 + 20 + 8] ^= 1;
    assert!(matches!(
        verify_frame(&f),
        Err(ChecksumError::Transport { protocol: 17, .. })
    ));
    let mut f = tcp_frame(b"data");
    *f.last_mut().unwrap() ^= 0x80;
    assert!(matches!(
        verify_frame(&f),
        Err(ChecksumError::Transport { protocol: 6, .. })
    ));
    let mut f = icmp_frame(b"ping");
    f[14 + 20 + 4] ^= 0x10;
    assert!(matches!(
        verify_frame(&f),
        Err(ChecksumError::Transport { protocol: 1, .. })
    ));
    let mut f = udp_frame(b"hello");
    f[14 + 8] -= 1; // TTL, header checksum not updated
    assert!(matches!(
        verify_frame(&f),
        Err(ChecksumError::Ipv4Header { .. })
    ));
}

#[test]
fn malformed_ipv4_cannot_be_verified() {
    let f = udp_frame(b"hello");
    assert_eq!(
        verify_frame(&f[..14 + 10]),
        Err(ChecksumError::Ipv4Malformed)
    );
    assert_eq!(
        verify_frame(&f[..f.len() - 1]),
        Err(ChecksumError::Ipv4Malformed),
        "total length past the frame"
    );
    let mut v6 = f.clone();
    v6[14] = 0x65;
    assert_eq!(verify_frame(&v6), Err(ChecksumError::Ipv4Malformed));
    let mut short = f.clone();
    short[14] = 0x44;
    assert_eq!(verify_frame(&short), Err(ChecksumError::Ipv4Malformed));
    // A UDP length beyond the datagram.
    let mut f = udp_frame(b"hello");
    f[14 + 20 + 5] = 200;
    assert_eq!(
        verify_frame(&f),
        Err(ChecksumError::TransportMalformed { protocol: 17 })
    );
    // A TCP header cut short.
    let f = ipv4_frame(6, vec![0; 12], None, true);
    assert_eq!(
        verify_frame(&f),
        Err(ChecksumError::TransportMalformed { protocol: 6 })
    );
    // Frames too short to be anything pass (the stack drops them).
    assert_eq!(verify_frame(&[]), Ok(()));
    assert_eq!(verify_frame(&[0x08; 13]), Ok(()));
}

#[test]
fn fragments_and_other_protocols_check_the_ip_header_only() {
    let mut f = udp_frame(b"hello");
    f[14 + 20 + 8] ^= 1; // bad UDP checksum ...
    f[14 + 6] = 0x20; // ... but More Fragments set
    f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    let c = ones_complement(&f[14..34]);
    f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(verify_frame(&f), Ok(()));
    let gre = ipv4_frame(47, vec![1, 2, 3, 4], None, false);
    assert_eq!(verify_frame(&gre), Ok(()));
}

#[test]
fn rx_drops_bad_checksums_unless_the_backend_vouched_or_left_them_blank() {
    let (mut be, mut rx) = rx_setup(0, 4);
    let mut bad = udp_frame(b"corrupted");
    bad[14 + 20 + 8] ^= 0x40;
    let good = tcp_frame(b"fine");
    be.rx_deliver_at(&bad, 0, 0);
    be.rx_deliver_at(&good, 10, 0);
    be.rx_push();
    let (p, out) = poll(&be, &mut rx).unwrap();
    assert_eq!((p.packet, out), (Some(good.len()), good));
    assert_eq!(rx.stats().rx_bad_csum, 1);
    assert!(matches!(
        rx.last_drop(),
        Some(RxDrop::Checksum {
            error: ChecksumError::Transport { protocol: 17, .. },
            ..
        })
    ));
    be.take_rx();
    for flags in [NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED] {
        be.rx_deliver_at(&bad, 0, flags);
        be.rx_push();
        assert_eq!(poll(&be, &mut rx).unwrap().1, bad, "flags {flags}");
        be.take_rx();
    }
    be.rx_deliver_at(&arp_frame(), 0, 0);
    be.rx_push();
    assert_eq!(poll(&be, &mut rx).unwrap().1, arp_frame());
    let s = rx.stats();
    assert_eq!((s.rx_packets, s.rx_bad_csum, s.rx_errors), (4, 1, 0));
}

// ----- lifecycle -----

fn st(s: XenbusState) -> Backend {
    Backend::State(s)
}

/// A machine driven to `Connected`.
fn connected() -> Lifecycle {
    let mut l = Lifecycle::new();
    assert_eq!(l.backend(st(XenbusState::Initialising)), []);
    assert_eq!(l.backend(st(XenbusState::InitWait)), [Action::Connect]);
    assert_eq!(l.phase(), Phase::Connecting);
    assert_eq!(l.backend(st(XenbusState::InitWait)), [], "not seen us yet");
    assert_eq!(l.backend(st(XenbusState::Connected)), [Action::StartRings]);
    assert_eq!(l.phase(), Phase::Connected);
    l
}

#[test]
fn xenbus_states_parse_strictly() {
    for (text, want) in [
        (&b"4"[..], Ok(XenbusState::Connected)),
        (b"2\0", Ok(XenbusState::InitWait)),
        (b"8", Ok(XenbusState::Reconfigured)),
        (b"0", Ok(XenbusState::Unknown)),
        (b"9", Err(BadState::OutOfRange { value: 9 })),
        (b"4294967295", Err(BadState::OutOfRange { value: u32::MAX })),
        (b"4294967296", Err(BadState::NotANumber { len: 10 })),
        (b"", Err(BadState::NotANumber { len: 0 })),
        (b"\0", Err(BadState::NotANumber { len: 1 })),
        (b"-1", Err(BadState::NotANumber { len: 2 })),
        (b" 4", Err(BadState::NotANumber { len: 2 })),
        (b"4\n", Err(BadState::NotANumber { len: 2 })),
        (b"Connected", Err(BadState::NotANumber { len: 9 })),
    ] {
        assert_eq!(XenbusState::parse(text), want, "{text:?}");
    }
    for n in 0..9 {
        let s = XenbusState::from_raw(n).unwrap();
        assert_eq!(
            (s.raw(), XenbusState::parse(s.as_str().as_bytes())),
            (n, Ok(s))
        );
    }
    assert_eq!(Backend::read(None), Backend::Gone);
}

#[test]
fn lifecycle_connects_at_initwait_and_starts_at_connected() {
    connected();
    // Initialised is past InitWait too.
    let mut l = Lifecycle::new();
    assert_eq!(l.backend(st(XenbusState::Initialised)), [Action::Connect]);
    // Before InitWait, and stale or closing backends: wait.
    let mut l = Lifecycle::new();
    for s in [
        XenbusState::Unknown,
        XenbusState::Connected,
        XenbusState::Closing,
        XenbusState::Closed,
        XenbusState::Reconfiguring,
    ] {
        assert_eq!(l.backend(st(s)), [], "{s:?}");
    }
    assert_eq!(l.backend(Backend::Gone), []);
    assert_eq!(l.phase(), Phase::WaitBackend);
}

#[test]
fn lifecycle_ignores_garbage_states() {
    let mut l = connected();
    for text in [&b"x"[..], b"99", b"", b"4 "] {
        let Backend::Garbage(e) = Backend::read(Some(text)) else {
            panic!("{text:?} parsed");
        };
        assert_eq!(l.backend(Backend::Garbage(e)), [Action::Ignored(e)]);
        assert_eq!(l.phase(), Phase::Connected);
        assert_eq!(l.backend_state(), Some(XenbusState::Connected));
    }
    for s in [
        XenbusState::Unknown,
        XenbusState::Initialised,
        XenbusState::Reconfiguring,
        XenbusState::Reconfigured,
        XenbusState::Connected,
    ] {
        assert_eq!(l.backend(st(s)), [], "{s:?}");
        assert_eq!(l.phase(), Phase::Connected);
    }
}

#[test]
fn lifecycle_closes_then_reconnects_from_scratch() {
    let mut l = connected();
    // Closing then Closed at once: netback releases the rings only after our Closed.
    assert_eq!(
        l.backend(st(XenbusState::Closing)),
        [
            Action::StopRings,
            Action::WriteState(XenbusState::Closing),
            Action::WriteState(XenbusState::Closed),
            Action::EndGrants
        ]
    );
    assert_eq!(l.backend(st(XenbusState::Closing)), []);
    assert_eq!(
        l.backend(st(XenbusState::Connected)),
        [],
        "backwards: ignored"
    );
    assert_eq!(l.backend(st(XenbusState::Closed)), []);
    assert_eq!(l.phase(), Phase::Releasing);
    assert_eq!(l.grants_ended(2), [Action::RetryEndGrants]);
    assert_eq!(l.grants_ended(0), []);
    assert_eq!(l.phase(), Phase::Closed);
    assert_eq!(l.grants_ended(0), [], "only once");
    // xl network-detach, then network-attach.
    assert_eq!(l.backend(Backend::Gone), []);
    assert_eq!(
        l.backend(st(XenbusState::Initialising)),
        [Action::WriteState(XenbusState::Initialising)]
    );
    assert_eq!(l.backend(st(XenbusState::InitWait)), [Action::Connect]);
    assert_eq!(l.backend(st(XenbusState::Connected)), [Action::StartRings]);
}

#[test]
fn lifecycle_backend_closed_or_gone_while_connected_ends_grants_at_once() {
    for gone in [Backend::Gone, st(XenbusState::Closed)] {
        let mut l = connected();
        assert_eq!(
            l.backend(gone),
            [
                Action::StopRings,
                Action::WriteState(XenbusState::Closing),
                Action::WriteState(XenbusState::Closed),
                Action::EndGrants
            ]
        );
        assert_eq!(l.grants_ended(0), []);
        // A new backend already waiting: connect straight away.
        assert_eq!(
            l.backend(st(XenbusState::InitWait)),
            [
                Action::WriteState(XenbusState::Initialising),
                Action::Connect
            ]
        );
    }
}

#[test]
fn lifecycle_backend_restarting_under_us_is_a_close_then_a_reconnect() {
    let mut l = connected();
    assert_eq!(
        l.backend(st(XenbusState::InitWait)),
        [
            Action::StopRings,
            Action::WriteState(XenbusState::Closing),
            Action::WriteState(XenbusState::Closed),
            Action::EndGrants
        ]
    );
    assert_eq!(l.backend(st(XenbusState::Connected)), [], "while releasing");
    assert_eq!(l.backend(st(XenbusState::InitWait)), []);
    assert_eq!(
        l.grants_ended(0),
        [
            Action::WriteState(XenbusState::Initialising),
            Action::Connect
        ]
    );
    assert_eq!(l.phase(), Phase::Connecting);
}

#[test]
fn lifecycle_timeouts() {
    let mut l = Lifecycle::new();
    l.backend(st(XenbusState::Initialising)).clear();
    let e = LifecycleError::Timeout {
        waiting_for: XenbusState::InitWait,
        backend: Some(XenbusState::Initialising),
    };
    assert_eq!(l.timed_out(0), [Action::GiveUp(e)]);
    assert_eq!(l.phase(), Phase::Failed(e));
    assert_eq!(l.backend(st(XenbusState::InitWait)), [], "gave up for good");

    let mut l = Lifecycle::new();
    l.backend(st(XenbusState::InitWait)).clear();
    assert!(matches!(
        l.timed_out(0)[..],
        [Action::GiveUp(LifecycleError::Timeout {
            waiting_for: XenbusState::Connected,
            ..
        })]
    ));

    // A backend that never releases the rings: give up on the grants it still maps
    // (their pages are never reused).
    let mut l = connected();
    l.backend(st(XenbusState::Closing)).clear();
    assert_eq!(l.grants_ended(1), [Action::RetryEndGrants]);
    assert_eq!(
        l.timed_out(1),
        [Action::GiveUp(LifecycleError::StillMapped { grants: 1 })]
    );
    assert_eq!(connected().timed_out(0), [], "no deadline once connected");
}

#[test]
fn closing_mid_stream_loses_no_buffer() {
    let mut l = connected();
    let mut be = FakeNetback::new(0, 8, 4);
    let mut rx = be.rx_queue(ETH_MAX_FRAME);
    let mut tx = be.tx_queue(ETH_MAX_FRAME);
    let _ = rx.refill().unwrap();
    be.take_rx();
    for i in 0..3 {
        send(&be, &mut tx, &pattern(60, i)).unwrap();
    }
    be.take_tx();
    be.rx_deliver(&pattern(60, 0));
    be.rx_push();

    let mut end_grants = false;
    for action in l.backend(st(XenbusState::Closing)) {
        match action {
            Action::StopRings => {
                rx.stop();
                tx.stop();
            }
            Action::WriteState(XenbusState::Closing | XenbusState::Closed) => {}
            Action::EndGrants => end_grants = true,
            a => panic!("unexpected {a:?}"),
        }
    }
    assert!(end_grants);
    assert_eq!(send(&be, &mut tx, &pattern(60, 7)), Err(TxError::Stopped));
    assert_eq!(tx.stats().tx_dropped, 1);
    // What the backend already sent is still taken, but buffers are not posted again.
    let req_prod = be.rx_req_prod();
    assert_eq!(poll(&be, &mut rx).unwrap().0.packet, Some(60));
    assert_eq!(be.rx_req_prod(), req_prod, "stopped: nothing posted");
    assert_eq!((rx.posted(), rx.free()), (7, 1));
    be.tx_put(1, NETIF_RSP_OKAY);
    be.tx_push();
    assert_eq!(tx.reclaim(), Ok(1));

    // The backend releases the rings once it saw our Closed; then the queues close.
    assert_eq!(l.backend(st(XenbusState::Closed)), []);
    let t = tx.close();
    let r = rx.close();
    assert_eq!(
        t,
        Closed {
            reclaimed: 2,
            lost: 2
        }
    );
    assert_eq!(
        r,
        Closed {
            reclaimed: 7,
            lost: 0
        }
    );
    assert_eq!(tx.stats().tx_lost, 2);
    assert_eq!((tx.free(), tx.in_flight()), (4, 0));
    assert_eq!((rx.free(), rx.posted()), (8, 0));
    tx.audit().unwrap();
    rx.audit().unwrap();
    assert_eq!(
        (poll(&be, &mut rx).unwrap().0, tx.reclaim()),
        (RxPoll::default(), Ok(0)),
        "closed queues do nothing"
    );
    assert_eq!(l.grants_ended(0), []);
    assert_eq!(l.phase(), Phase::Closed);
    let all = rx.stats().merged(tx.stats());
    assert_eq!(
        (all.rx_packets, all.tx_packets, all.tx_lost, all.tx_dropped),
        (1, 3, 2, 1)
    );
}

#[test]
fn a_broken_ring_gives_its_buffers_back_on_close() {
    let (mut be, mut rx) = rx_setup(0, 4);
    be.rx_next();
    be.rx_put(rsp(9, 60));
    be.rx_push();
    assert!(poll(&be, &mut rx).is_err());
    assert_eq!(
        rx.close(),
        Closed {
            reclaimed: 4,
            lost: 0
        }
    );
    assert_eq!(rx.free(), 4);
    rx.audit().unwrap();
}

#[test]
fn queues_refuse_bad_configurations() {
    let be = FakeNetback::new(0, 1, 1);
    let g = || vec![crate::gnttab::GrantRef(8)];
    assert!(matches!(
        RxQueue::new(be.rx, Vec::new(), 1514),
        Err(ConfigError::BufferCount { count: 0 })
    ));
    assert!(matches!(
        TxQueue::new(be.tx, vec![crate::gnttab::GrantRef(8); 65537], 1514),
        Err(ConfigError::BufferCount { count: 65537 })
    ));
    assert!(matches!(
        RxQueue::new(be.rx, g(), 0),
        Err(ConfigError::MaxFrame { max_frame: 0 })
    ));
    assert!(matches!(
        TxQueue::new(be.tx, g(), 4097),
        Err(ConfigError::MaxFrame { max_frame: 4097 })
    ));
    assert!(TxQueue::new(be.tx, g(), 4096).is_ok());
}
