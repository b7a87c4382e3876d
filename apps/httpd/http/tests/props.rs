//! Property tests: random and mutated input, cut anywhere.
//!
//! Arbitrary and mutated input never panics, always gets well-formed responses, keeps
//! the buffer bounded, and does not depend on how it was split.

#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::{TestSite, check_shape, drive, wire};
use http::{Connection, Limits, Response};
use proptest::prelude::*;
use proptest::sample::select;

/// Requests that mutations start from: valid ones and a few near misses.
const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"HEAD /style.css HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n",
    b"GET /a%20b.txt?x=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"GET http://h/docs/ HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /stats HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
];

/// Limits: the default, or a small head limit that input reaches often.
fn limits(small: bool) -> Limits {
    if small {
        Limits {
            max_head: 96,
            max_body: 16,
            ..Limits::DEFAULT
        }
    } else {
        Limits::DEFAULT
    }
}

/// `input` cut at the positions `cuts` (taken modulo its length).
fn chunks<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut parts = Vec::new();
    let mut start = 0;
    for a in at.into_iter().chain([input.len()]) {
        parts.push(&input[start..a]);
        start = a;
    }
    parts
}

/// Feeds `parts`, checks the invariants, and returns the wire bytes and final state.
fn run(parts: &[&[u8]], limits: Limits) -> (Vec<u8>, bool) {
    let mut conn = Connection::with_limits(limits, 0);
    let out = drive(&mut conn, parts, 0);
    check_sequence(&out);
    if out.last().is_some_and(Response::closes_connection) {
        assert!(conn.should_close());
    }
    (wire(&out), conn.should_close())
}

/// Only the last response of a connection may close it.
fn check_sequence(out: &[Response]) {
    if let Some((_, earlier)) = out.split_last() {
        assert!(earlier.iter().all(|r| !r.closes_connection()));
    }
}

/// A byte that HTTP syntax cares about, or any byte.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        select(b" \r\n\t:/%?#.,*@[]0123456789HTPGETOSHhost-lengthcloseAa".to_vec()),
    ]
}

/// A pipeline of seed requests with a few bytes replaced, inserted or removed.
fn mutated_requests() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(select(SEEDS), 1..4),
        proptest::collection::vec((any::<usize>(), 0u8..3, interesting_byte()), 0..6),
    )
        .prop_map(|(requests, edits)| {
            let mut input = requests.concat();
            for (at, kind, byte) in edits {
                let at = at % (input.len() + 1);
                match kind {
                    0 if at < input.len() => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ if at < input.len() => {
                        input.remove(at);
                    }
                    _ => {}
                }
            }
            input
        })
}

/// One step of an app's life with a connection.
#[derive(Debug, Clone)]
enum Step {
    Feed(Vec<u8>),
    Wait(u64),
    PeerClosed,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => mutated_requests().prop_map(Step::Feed),
        2 => proptest::collection::vec(interesting_byte(), 1..40).prop_map(Step::Feed),
        2 => (0u64..30_000_000_000).prop_map(Step::Wait),
        1 => Just(Step::PeerClosed),
    ];
    proptest::collection::vec(step, 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_in_random_chunks(
        input in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
        small in any::<bool>(),
    ) {
        let whole = run(&[&input], limits(small));
        prop_assert_eq!(run(&chunks(&input, &cuts), limits(small)), whole);
    }

    #[test]
    fn mutated_requests_in_random_chunks(
        input in mutated_requests(),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
        small in any::<bool>(),
    ) {
        let whole = run(&[&input], limits(small));
        prop_assert_eq!(run(&chunks(&input, &cuts), limits(small)), whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run(&bytes, limits(small)), run(&[&input], limits(small)));
    }

    #[test]
    fn any_sequence_of_feeds_waits_and_eof_keeps_the_invariants(
        steps in steps(),
        small in any::<bool>(),
    ) {
        let limits = limits(small);
        let mut conn = Connection::with_limits(limits, 0);
        let mut now = 0u64;
        let mut out: Vec<Response> = Vec::new();
        for step in steps {
            let closed_before = conn.should_close();
            let before = out.len();
            match step {
                Step::Feed(bytes) => {
                    let mut rest = &bytes[..];
                    loop {
                        let taken = conn.feed(rest, now);
                        prop_assert!(conn.buffered() <= limits.max_head);
                        rest = &rest[taken..];
                        let mut answered = false;
                        while let Some(r) = conn.poll(&TestSite, now) {
                            check_shape(&r);
                            out.push(r);
                            answered = true;
                        }
                        if rest.is_empty() {
                            break;
                        }
                        prop_assert!(taken > 0 || answered);
                    }
                }
                Step::Wait(dt) => {
                    now = now.saturating_add(dt);
                    let deadline = conn.deadline();
                    let r = conn.on_timeout(now);
                    if deadline.is_some_and(|d| now >= d) {
                        prop_assert!(conn.should_close());
                    } else {
                        prop_assert!(r.is_none());
                    }
                    if let Some(r) = r {
                        check_shape(&r);
                        prop_assert_eq!(r.status().code(), 408);
                        out.push(r);
                    }
                }
                Step::PeerClosed => {
                    conn.peer_closed();
                    while let Some(r) = conn.poll(&TestSite, now) {
                        check_shape(&r);
                        out.push(r);
                    }
                    prop_assert!(conn.should_close());
                }
            }
            if closed_before {
                prop_assert_eq!(out.len(), before, "answered after closing");
            }
            if conn.should_close() {
                prop_assert_eq!(conn.deadline(), None);
                prop_assert_eq!(conn.buffered(), 0);
            } else {
                prop_assert!(conn.deadline().is_some(), "an open connection needs a timer");
            }
        }
        check_sequence(&out);
    }
}
