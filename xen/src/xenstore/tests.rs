//! Host tests of the xenstore protocol against a scripted fake xenstored that works the
//! other end of the same ring page.

use super::fake::FakeXenstored;
use super::wire::{HEADER_LEN, MSG_MAX, header_bytes};
use super::*;
use crate::abi::xenstore::XsdSockmsg;
use std::vec::Vec;

fn encode(req: Request<'_>, req_id: u32) -> Vec<u8> {
    let mut buf = [0u8; MSG_MAX];
    let n = req.encode(req_id, 0, &mut buf).expect("valid request");
    buf[..n].to_vec()
}

/// Writes a whole message through the ring, letting the fake consume whenever it is full.
fn send_all(fake: &mut FakeXenstored, ring: &XenstoreRing, msg: &[u8]) -> usize {
    let mut sent = 0;
    let mut rounds = 0;
    while sent < msg.len() {
        let n = ring.write(&msg[sent..]).unwrap();
        sent += n;
        if n == 0 || sent < msg.len() {
            fake.drain_requests();
        }
        rounds += 1;
        assert!(rounds < 100, "no progress");
    }
    rounds
}

/// Reads one whole message, letting the fake push more whenever the ring runs dry.
fn receive(
    fake: &mut FakeXenstored,
    ring: &XenstoreRing,
    reader: &mut MsgReader,
) -> (XsdSockmsg, Vec<u8>) {
    for _ in 0..100 {
        if reader.pull(ring).unwrap() {
            let m = reader.message().unwrap();
            let out = (m.header, m.payload.to_vec());
            reader.next();
            return out;
        }
        fake.pump();
    }
    panic!("no whole message");
}

#[test]
fn requests_encode_as_xs_wire_h_says() {
    let msg = encode(Request::Read { path: "device/vif" }, 7);
    assert_eq!(
        &msg[..16],
        &[2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0]
    );
    assert_eq!(&msg[16..], b"device/vif\0");
    let msg = encode(
        Request::Write {
            path: "a",
            value: b"xy",
        },
        1,
    );
    assert_eq!(&msg[16..], b"a\0xy", "a written value has no NUL");
    let msg = encode(
        Request::Watch {
            path: "control/shutdown",
            token: "t1",
        },
        1,
    );
    assert_eq!(&msg[16..], b"control/shutdown\0t1\0");
    assert_eq!(&encode(Request::TransactionStart, 1)[16..], b"\0");
    assert_eq!(
        &encode(Request::TransactionEnd { commit: true }, 1)[16..],
        b"T\0"
    );
    assert_eq!(
        &encode(Request::TransactionEnd { commit: false }, 1)[16..],
        b"F\0"
    );
    assert_eq!(
        &encode(Request::GetDomainPath { domid: 0 }, 1)[16..],
        b"0\0"
    );
    assert_eq!(
        &encode(Request::GetDomainPath { domid: 32752 }, 1)[16..],
        b"32752\0"
    );
    let mut buf = [0u8; MSG_MAX];
    Request::Rm { path: "x" }.encode(1, 9, &mut buf).unwrap();
    assert_eq!(wire::parse_header(buf.first_chunk().unwrap()).tx_id, 9);
}

#[test]
fn bad_requests_are_errors_and_write_nothing() {
    let mut buf = [0xaau8; MSG_MAX];
    let long_rel = "a".repeat(2049);
    let long_abs = std::format!("/{}", "a".repeat(3072));
    let big = [b'v'; 4094];
    let cases: [(Request<'_>, XsError); 6] = [
        (Request::Read { path: "" }, XsError::EmptyPath),
        (Request::Read { path: "a\0b" }, XsError::NulInArgument),
        (
            Request::Mkdir { path: &long_rel },
            XsError::PathTooLong {
                len: 2049,
                max: 2048,
            },
        ),
        (
            Request::Rm { path: &long_abs },
            XsError::PathTooLong {
                len: 3073,
                max: 3072,
            },
        ),
        (
            Request::Watch {
                path: "a",
                token: "t\0",
            },
            XsError::NulInArgument,
        ),
        (
            Request::Write {
                path: "ab",
                value: &big,
            },
            XsError::PayloadTooLong { len: 4097 },
        ),
    ];
    for (req, err) in cases {
        assert_eq!(req.encode(1, 0, &mut buf), Err(err), "{req:?}");
    }
    assert!(buf.iter().all(|&b| b == 0xaa));
    let mut small = [0u8; 20];
    assert_eq!(
        Request::Read { path: "device" }.encode(1, 0, &mut small),
        Err(XsError::BufferTooSmall { need: 23, have: 20 })
    );
    // The largest payload is fine.
    let max = [b'v'; 4093];
    assert_eq!(
        Request::Write {
            path: "ab",
            value: &max
        }
        .encode(1, 0, &mut buf),
        Ok(MSG_MAX)
    );
}

fn reply(type_: u32, payload: &[u8]) -> Reply<'_> {
    Reply {
        header: XsdSockmsg {
            type_,
            req_id: 1,
            tx_id: 0,
            len: payload.len() as u32,
        },
        payload,
    }
}

#[test]
fn replies_decode_with_errors_as_values() {
    let err = reply(16, b"ENOENT\0");
    assert_eq!(
        err.result(MsgType::Read),
        Err(XsError::Xenstore(Errno::Enoent))
    );
    assert_eq!(
        reply(16, b"EAGAIN\0").ok(MsgType::TransactionEnd),
        Err(XsError::Xenstore(Errno::Eagain))
    );
    assert_eq!(
        reply(16, b"EWHAT\0").result(MsgType::Read),
        Err(XsError::UnknownErrno { len: 6 })
    );
    assert_eq!(
        reply(16, b"").result(MsgType::Read),
        Err(XsError::UnknownErrno { len: 0 })
    );
    assert_eq!(
        reply(11, b"OK\0").result(MsgType::Read),
        Err(XsError::UnexpectedType {
            sent: MsgType::Read,
            got: 11
        })
    );
    assert_eq!(
        reply(99, b"").result(MsgType::Rm),
        Err(XsError::UnexpectedType {
            sent: MsgType::Rm,
            got: 99
        })
    );
    assert_eq!(reply(2, b"value").result(MsgType::Read), Ok(&b"value"[..]));
    assert_eq!(reply(11, b"OK\0").ok(MsgType::Write), Ok(()));
    assert_eq!(reply(11, b"NO\0").ok(MsgType::Write), Err(XsError::NotOk));
    assert_eq!(reply(6, b"17\0").transaction_id(), Ok(17));
    assert_eq!(reply(6, b"17").transaction_id(), Err(XsError::MissingNul));
    assert_eq!(reply(6, b"0\0").transaction_id(), Err(XsError::BadNumber));
    assert_eq!(reply(6, b"1x\0").transaction_id(), Err(XsError::BadNumber));
    assert_eq!(
        reply(6, b"99999999999\0").transaction_id(),
        Err(XsError::BadNumber)
    );
    let names: Vec<&[u8]> = reply(1, b"backend\0mac\0state\0")
        .entries()
        .unwrap()
        .collect();
    assert_eq!(names, [&b"backend"[..], b"mac", b"state"]);
    assert_eq!(reply(1, b"").entries().unwrap().count(), 0);
    assert_eq!(
        reply(15, b"control/shutdown\0tok\0").watch_event(),
        Ok(WatchEvent {
            path: "control/shutdown",
            token: "tok"
        })
    );
    assert_eq!(
        reply(15, b"control/shutdown\0tok").watch_event(),
        Err(XsError::MissingNul)
    );
    assert_eq!(
        reply(15, b"\xff\0tok\0").watch_event(),
        Err(XsError::NotUtf8)
    );
    assert!(matches!(
        reply(2, b"a\0b\0").watch_event(),
        Err(XsError::UnexpectedType { .. })
    ));
}

#[test]
fn a_4096_byte_message_streams_both_ways_through_the_1k_ring_across_u32_wrap() {
    let mut fake = FakeXenstored::new(u32::MAX - 300);
    let ring = fake.client();
    let value: Vec<u8> = (0..4093u32).map(|i| (i % 251) as u8).collect();
    let msg = encode(
        Request::Write {
            path: "ab",
            value: &value,
        },
        5,
    );
    assert_eq!(msg.len(), MSG_MAX);
    let rounds = send_all(&mut fake, &ring, &msg);
    assert!(rounds >= 5, "4112 bytes through 1024: {rounds} rounds");
    let (h, payload) = fake.take_request().expect("the whole request arrived");
    assert_eq!((h.type_, h.req_id, h.len), (11, 5, 4096));
    assert_eq!(&payload[..3], b"ab\0");
    assert_eq!(&payload[3..], &value[..]);
    assert!(
        fake.page.req_prod < 10_000,
        "the request index wrapped past u32::MAX"
    );

    // The reply: a 4096-byte value read back.
    fake.send(2, 6, &payload[..4096]);
    let mut reader = MsgReader::new();
    let (h, got) = receive(&mut fake, &ring, &mut reader);
    assert_eq!((h.type_, h.req_id, h.len), (2, 6, 4096));
    assert_eq!(got, &payload[..4096]);
    assert!(
        fake.page.rsp_cons < 10_000,
        "the reply index wrapped past u32::MAX"
    );
}

#[test]
fn back_to_back_messages_are_split_at_their_boundary() {
    let mut fake = FakeXenstored::new(0);
    let ring = fake.client();
    fake.send(15, 0, b"control/shutdown\0t\0");
    fake.send(2, 3, b"poweroff");
    let mut reader = MsgReader::new();
    let (h1, p1) = receive(&mut fake, &ring, &mut reader);
    assert_eq!(route(&h1), Route::WatchEvent);
    assert_eq!(
        reply(15, &p1).watch_event().unwrap().path,
        "control/shutdown"
    );
    assert_eq!(
        ring.readable(),
        Ok(HEADER_LEN + 8),
        "the second message stays in the ring"
    );
    let (h2, p2) = receive(&mut fake, &ring, &mut reader);
    assert_eq!(route(&h2), Route::Reply { req_id: 3 });
    assert_eq!(p2, b"poweroff");
    assert_eq!(reader.pull(&ring), Ok(false));
}

#[test]
fn a_header_announcing_more_than_4096_bytes_breaks_the_stream_cleanly() {
    let mut fake = FakeXenstored::new(7);
    let ring = fake.client();
    let h = XsdSockmsg {
        type_: 2,
        req_id: 1,
        tx_id: 0,
        len: 4097,
    };
    fake.backlog.extend(header_bytes(&h));
    fake.pump();
    let mut reader = MsgReader::new();
    assert_eq!(reader.pull(&ring), Err(XsError::TooLong { len: 4097 }));
    let h = XsdSockmsg { len: u32::MAX, ..h };
    fake.backlog.extend(header_bytes(&h));
    fake.pump();
    assert_eq!(reader.pull(&ring), Err(XsError::TooLong { len: u32::MAX }));
}

#[test]
fn hostile_ring_indices_are_errors_not_panics() {
    let mut fake = FakeXenstored::new(0);
    let ring = fake.client();
    fake.page.rsp_prod = 5000;
    let mut reader = MsgReader::new();
    assert_eq!(
        reader.pull(&ring),
        Err(XsError::BadIndices {
            ring: "rsp",
            cons: 0,
            prod: 5000
        })
    );
    assert!(ring.readable().is_err());
    fake.page.req_cons = 3000; // the daemon claims to have consumed bytes never written
    assert_eq!(
        ring.write(b"x"),
        Err(XsError::BadIndices {
            ring: "req",
            cons: 3000,
            prod: 0
        })
    );
    assert_eq!(fake.page.req_prod, 0, "nothing published");
}

#[test]
fn replies_are_routed_by_request_id_and_watch_events_by_type() {
    let h = |type_, req_id| XsdSockmsg {
        type_,
        req_id,
        tx_id: 0,
        len: 0,
    };
    assert_eq!(route(&h(2, 41)), Route::Reply { req_id: 41 });
    assert_eq!(route(&h(16, 41)), Route::Reply { req_id: 41 });
    assert_eq!(route(&h(15, 0)), Route::WatchEvent);
    assert_eq!(route(&h(15, 41)), Route::WatchEvent);
}

#[test]
fn errno_names_round_trip() {
    for name in [
        "EINVAL",
        "EACCES",
        "EEXIST",
        "EISDIR",
        "ENOENT",
        "ENOMEM",
        "ENOSPC",
        "EIO",
        "ENOTEMPTY",
        "ENOSYS",
        "EROFS",
        "EBUSY",
        "EAGAIN",
        "EISCONN",
        "E2BIG",
        "EPERM",
    ] {
        let e = Errno::from_name(name.as_bytes()).unwrap();
        assert_eq!(e.name(), name);
    }
    assert_eq!(Errno::from_name(b"enoent"), None);
}
