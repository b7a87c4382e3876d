//! Property tests of the xenstore wire code: requests encode to what a decoder written
//! here from `docs/misc/xenstore.txt` reads back (or fail as documented, writing
//! nothing); any stream of messages and garbage, cut anywhere, comes out of
//! [`MsgReader`] as a whole-stream model frames it, over-long lengths as errors; reply
//! accessors never panic and read back what a well-formed reply carries; replies pushed
//! through the ring from any start index arrive whole and in order.

use super::fake::FakeXenstored;
use super::wire::{HEADER_LEN, MSG_MAX, header_bytes};
use super::*;
use crate::abi::xenstore::{XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX, XsdSockmsg};
use proptest::prelude::*;
use proptest::sample::select;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// A request with its own data, so strategies can make one; [`Owned::request`] borrows
/// it as the code's [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Read(String),
    Write(String, Vec<u8>),
    Mkdir(String),
    Rm(String),
    Directory(String),
    Watch(String, String),
    Unwatch(String, String),
    TransactionStart,
    TransactionEnd(bool),
    GetDomainPath(u16),
}

impl Owned {
    fn request(&self) -> Request<'_> {
        match self {
            Owned::Read(path) => Request::Read { path },
            Owned::Write(path, value) => Request::Write { path, value },
            Owned::Mkdir(path) => Request::Mkdir { path },
            Owned::Rm(path) => Request::Rm { path },
            Owned::Directory(path) => Request::Directory { path },
            Owned::Watch(path, token) => Request::Watch { path, token },
            Owned::Unwatch(path, token) => Request::Unwatch { path, token },
            Owned::TransactionStart => Request::TransactionStart,
            Owned::TransactionEnd(commit) => Request::TransactionEnd { commit: *commit },
            Owned::GetDomainPath(domid) => Request::GetDomainPath { domid: *domid },
        }
    }

    /// The payload length xenstore.txt gives the request: each string with its NUL,
    /// a written value without one.
    fn payload_len(&self) -> usize {
        match self {
            Owned::Read(p) | Owned::Mkdir(p) | Owned::Rm(p) | Owned::Directory(p) => p.len() + 1,
            Owned::Write(p, v) => p.len() + 1 + v.len(),
            Owned::Watch(p, t) | Owned::Unwatch(p, t) => p.len() + 1 + t.len() + 1,
            Owned::TransactionStart => 1,
            Owned::TransactionEnd(_) => 2,
            Owned::GetDomainPath(d) => std::format!("{d}").len() + 1,
        }
    }

    /// The errors this request deserves, if any (which one comes first is the code's
    /// choice).
    fn faults(&self) -> Vec<XsError> {
        let mut faults = Vec::new();
        let mut path = |p: &str| {
            let max = if p.starts_with('/') {
                XENSTORE_ABS_PATH_MAX
            } else {
                XENSTORE_REL_PATH_MAX
            };
            if p.is_empty() {
                faults.push(XsError::EmptyPath);
            }
            if p.len() > max {
                faults.push(XsError::PathTooLong { len: p.len(), max });
            }
            if p.contains('\0') {
                faults.push(XsError::NulInArgument);
            }
        };
        match self {
            Owned::Read(p)
            | Owned::Mkdir(p)
            | Owned::Rm(p)
            | Owned::Directory(p)
            | Owned::Write(p, _) => path(p),
            Owned::Watch(p, t) | Owned::Unwatch(p, t) => {
                path(p);
                if t.contains('\0') {
                    faults.push(XsError::NulInArgument);
                }
            }
            Owned::TransactionStart | Owned::TransactionEnd(_) | Owned::GetDomainPath(_) => {}
        }
        if self.payload_len() > XENSTORE_PAYLOAD_MAX {
            faults.push(XsError::PayloadTooLong {
                len: self.payload_len(),
            });
        }
        faults
    }
}

/// `bytes` up to its first NUL, as UTF-8, and what follows the NUL.
fn string_and_rest(bytes: &[u8]) -> Option<(String, &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    let s = String::from_utf8(bytes[..end].to_vec()).ok()?;
    Some((s, &bytes[end + 1..]))
}

/// A request read back from its type and payload, as xenstored would (xenstore.txt).
fn decode(type_: u32, payload: &[u8]) -> Option<Owned> {
    let one = |p: &[u8]| {
        let (s, rest) = string_and_rest(p)?;
        rest.is_empty().then_some(s)
    };
    let two = |p: &[u8]| {
        let (a, rest) = string_and_rest(p)?;
        let (b, rest) = string_and_rest(rest)?;
        rest.is_empty().then_some((a, b))
    };
    Some(match MsgType::from_raw(type_)? {
        MsgType::Read => Owned::Read(one(payload)?),
        MsgType::Mkdir => Owned::Mkdir(one(payload)?),
        MsgType::Rm => Owned::Rm(one(payload)?),
        MsgType::Directory => Owned::Directory(one(payload)?),
        MsgType::Write => {
            let (path, value) = string_and_rest(payload)?;
            Owned::Write(path, value.to_vec())
        }
        MsgType::Watch => {
            let (p, t) = two(payload)?;
            Owned::Watch(p, t)
        }
        MsgType::Unwatch => {
            let (p, t) = two(payload)?;
            Owned::Unwatch(p, t)
        }
        MsgType::TransactionStart => (payload == b"\0").then_some(Owned::TransactionStart)?,
        MsgType::TransactionEnd => match payload {
            b"T\0" => Owned::TransactionEnd(true),
            b"F\0" => Owned::TransactionEnd(false),
            _ => return None,
        },
        MsgType::GetDomainPath => {
            let digits = one(payload)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Owned::GetDomainPath(digits.parse().ok()?)
        }
        MsgType::WatchEvent | MsgType::Error => return None,
    })
}

/// Characters paths and tokens are made of (one of them two bytes long in UTF-8).
const ALPHABET: &[char] = &['a', 'z', '0', '9', '/', '-', '_', '@', '.', 'é'];

/// A string of 1 to 24 characters from [`ALPHABET`], absolute or not.
fn short_path() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        proptest::collection::vec(select(ALPHABET), 1..24),
    )
        .prop_map(|(abs, chars)| {
            let mut s = String::from(if abs { "/" } else { "" });
            s.extend(chars);
            s
        })
}

/// Paths of every kind: short, at the length limits, empty, with a NUL inside.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => short_path(),
        1 => (XENSTORE_REL_PATH_MAX - 2..=XENSTORE_REL_PATH_MAX + 2)
            .prop_map(|len| "a".repeat(len)),
        1 => (XENSTORE_ABS_PATH_MAX - 2..=XENSTORE_ABS_PATH_MAX + 2)
            .prop_map(|len| std::format!("/{}", "b".repeat(len - 1))),
        1 => Just(String::new()),
        1 => (short_path(), any::<prop::sample::Index>()).prop_map(|(p, at)| {
            let mut chars: Vec<char> = p.chars().collect();
            chars.insert(at.index(chars.len() + 1), '\0');
            chars.into_iter().collect()
        }),
    ]
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => short_path(),
        1 => Just(String::new()),
        1 => short_path().prop_map(|t| std::format!("{t}\0")),
    ]
}

/// Values: a few arbitrary bytes (NULs included), or long runs up to past the payload
/// limit.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..32),
        1 => (0..=XENSTORE_PAYLOAD_MAX + 8, any::<u8>())
            .prop_map(|(len, seed)| (0..len).map(|k| seed.wrapping_add(k as u8)).collect()),
    ]
}

fn owned_request() -> impl Strategy<Value = Owned> {
    prop_oneof![
        path().prop_map(Owned::Read),
        (path(), value()).prop_map(|(p, v)| Owned::Write(p, v)),
        // A value that brings the payload to within two bytes of the limit.
        short_path()
            .prop_flat_map(|p| {
                let room = XENSTORE_PAYLOAD_MAX - 1 - p.len();
                (Just(p), room - 2..=room + 2)
            })
            .prop_map(|(p, len)| Owned::Write(p, vec![b'v'; len])),
        path().prop_map(Owned::Mkdir),
        path().prop_map(Owned::Rm),
        path().prop_map(Owned::Directory),
        (path(), token()).prop_map(|(p, t)| Owned::Watch(p, t)),
        (path(), token()).prop_map(|(p, t)| Owned::Unwatch(p, t)),
        Just(Owned::TransactionStart),
        any::<bool>().prop_map(Owned::TransactionEnd),
        any::<u16>().prop_map(Owned::GetDomainPath),
    ]
}

/// The size of the buffer a request is encoded into.
#[derive(Debug, Clone)]
enum Room {
    /// More than any message needs.
    Plenty,
    /// The message's size plus this.
    Near(isize),
    /// This many bytes.
    Any(usize),
}

/// `input` cut at `cuts` (each taken modulo its length + 1).
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for a in at.into_iter().chain([input.len()]) {
        out.push(&input[start..a]);
        start = a;
    }
    out
}

/// What a reader makes of a stream: whole messages and errors, in order.
type Events = Vec<Result<(XsdSockmsg, Vec<u8>), XsError>>;

/// Feeds `parts` to a reader as `pull` does: only into `spare()`, taking a message out
/// whenever one is whole. Every message's accessors are called, to see none panics.
fn feed(parts: &[&[u8]]) -> Result<Events, TestCaseError> {
    let mut reader = MsgReader::new();
    let mut events = Vec::new();
    for part in parts {
        let mut rest = *part;
        loop {
            if let Some(m) = reader.message() {
                prop_assert_eq!(m.payload.len(), m.header.len as usize);
                poke(&m);
                events.push(Ok((m.header, m.payload.to_vec())));
                reader.next();
                continue;
            }
            if rest.is_empty() {
                break;
            }
            let spare = reader.spare();
            prop_assert!(!spare.is_empty(), "no room, yet no whole message");
            let n = spare.len().min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            if let Err(e) = reader.filled(n) {
                events.push(Err(e));
            }
        }
    }
    Ok(events)
}

/// Calls every accessor of a reply (results are checked elsewhere; here: no panic).
fn poke(m: &Reply<'_>) {
    for t in 1..=16 {
        if let Some(t) = MsgType::from_raw(t) {
            let _ = m.result(t);
            let _ = m.ok(t);
        }
    }
    let _ = m.transaction_id();
    if let Ok(names) = m.entries() {
        names.for_each(drop);
    }
    let _ = m.watch_event();
    let _ = route(&m.header);
}

/// How the whole stream frames, read in one go: 16-byte headers, a payload of the
/// announced length, or an error for a length over 4096 (and the next header right after).
fn model(stream: &[u8]) -> Events {
    let mut events = Vec::new();
    let mut rest = stream;
    while rest.len() >= HEADER_LEN {
        let (head, after) = rest.split_at(HEADER_LEN);
        let h = wire::parse_header(head.try_into().unwrap());
        if h.len as usize > XENSTORE_PAYLOAD_MAX {
            events.push(Err(XsError::TooLong { len: h.len }));
            rest = after;
            continue;
        }
        if after.len() < h.len as usize {
            break;
        }
        let (payload, after) = after.split_at(h.len as usize);
        events.push(Ok((h, payload.to_vec())));
        rest = after;
    }
    events
}

/// A piece of a reply stream.
#[derive(Debug, Clone)]
enum Chunk {
    /// A well-formed message.
    Message(XsdSockmsg, Vec<u8>),
    /// A header announcing more than 4096 bytes, with nothing after it.
    TooLong(XsdSockmsg),
    /// Any bytes.
    Garbage(Vec<u8>),
}

fn header(len: impl Strategy<Value = u32>) -> impl Strategy<Value = XsdSockmsg> {
    (
        prop_oneof![1u32..=16, any::<u32>()],
        any::<u32>(),
        prop_oneof![Just(0u32), any::<u32>()],
        len,
    )
        .prop_map(|(type_, req_id, tx_id, len)| XsdSockmsg {
            type_,
            req_id,
            tx_id,
            len,
        })
}

fn chunk() -> impl Strategy<Value = Chunk> {
    let payload = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..48),
        1 => (0..=XENSTORE_PAYLOAD_MAX, any::<u8>())
            .prop_map(|(len, seed)| (0..len).map(|k| seed ^ (k as u8)).collect()),
    ];
    prop_oneof![
        8 => (header(Just(0)), payload).prop_map(|(h, p)| {
            Chunk::Message(XsdSockmsg { len: p.len() as u32, ..h }, p)
        }),
        1 => header(prop_oneof![
            (XENSTORE_PAYLOAD_MAX as u32 + 1)..=(XENSTORE_PAYLOAD_MAX as u32 + 8),
            (XENSTORE_PAYLOAD_MAX as u32 + 1)..=u32::MAX,
        ])
        .prop_map(Chunk::TooLong),
        1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Chunk::Garbage),
    ]
}

fn stream(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        match c {
            Chunk::Message(h, p) => {
                out.extend(header_bytes(h));
                out.extend(p);
            }
            Chunk::TooLong(h) => out.extend(header_bytes(h)),
            Chunk::Garbage(g) => out.extend(g),
        }
    }
    out
}

/// A well-formed reply of some kind, and what its accessor must give back.
#[derive(Debug, Clone)]
enum WellFormed {
    TransactionId(u32),
    Entries(Vec<String>),
    Event(String, String),
    Error(Errno),
    Ok(MsgType),
    Value(MsgType, Vec<u8>),
}

const ERRNOS: [Errno; 16] = [
    Errno::Einval,
    Errno::Eacces,
    Errno::Eexist,
    Errno::Eisdir,
    Errno::Enoent,
    Errno::Enomem,
    Errno::Enospc,
    Errno::Eio,
    Errno::Enotempty,
    Errno::Enosys,
    Errno::Erofs,
    Errno::Ebusy,
    Errno::Eagain,
    Errno::Eisconn,
    Errno::E2big,
    Errno::Eperm,
];

const ACKED: [MsgType; 6] = [
    MsgType::Write,
    MsgType::Mkdir,
    MsgType::Rm,
    MsgType::Watch,
    MsgType::Unwatch,
    MsgType::TransactionEnd,
];

fn well_formed() -> impl Strategy<Value = WellFormed> {
    let name = proptest::collection::vec(select(ALPHABET), 1..12)
        .prop_map(|c| c.into_iter().collect::<String>());
    prop_oneof![
        any::<u32>().prop_map(WellFormed::TransactionId),
        proptest::collection::vec(name.clone(), 0..8).prop_map(WellFormed::Entries),
        (
            short_path(),
            proptest::collection::vec(select(ALPHABET), 0..12)
        )
            .prop_map(|(p, t)| WellFormed::Event(p, t.into_iter().collect())),
        select(&ERRNOS[..]).prop_map(WellFormed::Error),
        select(&ACKED[..]).prop_map(WellFormed::Ok),
        (
            select(&[MsgType::Read, MsgType::GetDomainPath][..]),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(t, v)| WellFormed::Value(t, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_encode_as_documented_and_read_back_whole(
        owned in owned_request(),
        req_id in any::<u32>(),
        tx_id in prop_oneof![Just(0u32), any::<u32>()],
        room in prop_oneof![
            Just(Room::Plenty),
            (-3isize..=3).prop_map(Room::Near),
            (0..=MSG_MAX + 8).prop_map(Room::Any),
        ],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let need = HEADER_LEN + owned.payload_len();
        let have = match room {
            Room::Plenty => MSG_MAX + 64,
            Room::Near(d) => need.saturating_add_signed(d),
            Room::Any(have) => have,
        };
        let mut buf = vec![0xaau8; have];
        let got = owned.request().encode(req_id, tx_id, &mut buf);
        let faults = owned.faults();
        let too_small = XsError::BufferTooSmall { need, have };
        if !faults.is_empty() || have < need {
            let e = got.expect_err("a bad request or a small buffer encoded");
            prop_assert!(
                faults.contains(&e) || (have < need && e == too_small),
                "{:?} for {:?} (faults {:?})", e, owned, faults
            );
            prop_assert!(buf.iter().all(|&b| b == 0xaa), "wrote part of a failed request");
            return Ok(());
        }
        prop_assert_eq!(got, Ok(need));
        prop_assert!(buf[need..].iter().all(|&b| b == 0xaa), "wrote past the message");
        let h = wire::parse_header(buf[..HEADER_LEN].try_into().unwrap());
        prop_assert_eq!(h.type_, owned.request().msg_type() as u32);
        prop_assert_eq!((h.req_id, h.tx_id), (req_id, tx_id));
        prop_assert_eq!(h.len as usize, need - HEADER_LEN);
        prop_assert_eq!(decode(h.type_, &buf[HEADER_LEN..need]), Some(owned.clone()));
        // The same bytes as a stream, cut anywhere, make exactly one message.
        let events = feed(&pieces(&buf[..need], &cuts))?;
        prop_assert_eq!(events, vec![Ok((h, buf[HEADER_LEN..need].to_vec()))]);
    }

    #[test]
    fn any_stream_cut_anywhere_frames_as_read_whole(
        chunks in proptest::collection::vec(chunk(), 0..10),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let input = stream(&chunks);
        let events = feed(&pieces(&input, &cuts))?;
        prop_assert_eq!(&events, &model(&input));
        // Every over-long header is an error naming its length.
        for c in &chunks {
            if let Chunk::TooLong(h) = c {
                let found = events.contains(&Err(XsError::TooLong { len: h.len }));
                let garbage = chunks.iter().any(|c| matches!(c, Chunk::Garbage(_)));
                prop_assert!(found || garbage, "{:?} was not reported", h);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_cut_anywhere_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let events = feed(&pieces(&input, &cuts))?;
        prop_assert_eq!(events, model(&input));
    }

    #[test]
    fn well_formed_replies_read_back(
        reply in well_formed(),
        req_id in any::<u32>(),
    ) {
        let h = |t: MsgType, payload: &[u8]| XsdSockmsg {
            type_: t as u32,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        };
        match reply {
            WellFormed::TransactionId(id) => {
                let p = std::format!("{id}\0").into_bytes();
                let r = Reply { header: h(MsgType::TransactionStart, &p), payload: &p };
                let want = if id == 0 { Err(XsError::BadNumber) } else { Ok(id) };
                prop_assert_eq!(r.transaction_id(), want);
            }
            WellFormed::Entries(names) => {
                let p: Vec<u8> = names.iter().flat_map(|n| n.bytes().chain([0])).collect();
                let r = Reply { header: h(MsgType::Directory, &p), payload: &p };
                let got: Vec<&[u8]> = r.entries().unwrap().collect();
                let want: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
                prop_assert_eq!(got, want);
            }
            WellFormed::Event(path, token) => {
                let p = std::format!("{path}\0{token}\0").into_bytes();
                let r = Reply { header: h(MsgType::WatchEvent, &p), payload: &p };
                prop_assert_eq!(route(&r.header), Route::WatchEvent);
                prop_assert_eq!(
                    r.watch_event(),
                    Ok(WatchEvent { path: &path, token: &token })
                );
            }
            WellFormed::Error(e) => {
                let p = std::format!("{}\0", e.name()).into_bytes();
                let r = Reply { header: h(MsgType::Error, &p), payload: &p };
                prop_assert_eq!(route(&r.header), Route::Reply { req_id });
                for t in ACKED {
                    prop_assert_eq!(r.ok(t), Err(XsError::Xenstore(e)));
                }
                prop_assert_eq!(r.result(MsgType::Read), Err(XsError::Xenstore(e)));
            }
            WellFormed::Ok(t) => {
                let r = Reply { header: h(t, b"OK\0"), payload: b"OK\0" };
                prop_assert_eq!(r.ok(t), Ok(()));
                for other in ACKED.into_iter().filter(|&o| o != t) {
                    prop_assert_eq!(
                        r.ok(other),
                        Err(XsError::UnexpectedType { sent: other, got: t as u32 })
                    );
                }
            }
            WellFormed::Value(t, v) => {
                let r = Reply { header: h(t, &v), payload: &v };
                prop_assert_eq!(r.result(t), Ok(&v[..]));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn replies_through_the_ring_from_any_start_arrive_whole_in_order(
        start in prop_oneof![Just(0u32), (u32::MAX - 5000)..=u32::MAX, any::<u32>()],
        replies in proptest::collection::vec(
            (1u32..=16, any::<u32>(), prop_oneof![
                6 => proptest::collection::vec(any::<u8>(), 0..64),
                1 => (0..=XENSTORE_PAYLOAD_MAX, any::<u8>()).prop_map(|(len, seed)| {
                    (0..len).map(|k| seed.wrapping_add(k as u8)).collect()
                }),
            ]),
            1..6,
        ),
    ) {
        let mut fake = FakeXenstored::new(start);
        let ring = fake.client();
        for (type_, req_id, payload) in &replies {
            fake.send(*type_, *req_id, payload);
        }
        let mut reader = MsgReader::new();
        let mut got = Vec::new();
        // Each round moves at least one byte while any is left, and no message needs
        // more than the ring's size in rounds.
        for _ in 0..replies.len() * (MSG_MAX + 2) {
            if got.len() == replies.len() {
                break;
            }
            if reader.pull(&ring).expect("honest indices") {
                let m = reader.message().unwrap();
                got.push((m.header.type_, m.header.req_id, m.payload.to_vec()));
                reader.next();
            } else {
                fake.pump();
            }
        }
        prop_assert_eq!(got, replies);
        prop_assert_eq!(reader.pull(&ring), Ok(false), "nothing after the last reply");
    }
}
