//! Where the bytes are split never changes the answer.
//!
//! Each input is fed at once, in two parts at every split point, and one byte at a time;
//! the bytes on the wire and whether the connection closes must be the same each time.

#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::{drive, wire};
use http::Connection;

/// Responses on the wire and the final `should_close`, feeding `parts`.
fn outcome(parts: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut conn = Connection::new(0);
    let out = drive(&mut conn, parts, 0);
    (wire(&out), conn.should_close())
}

fn same_answer_at_every_split(input: &[u8]) {
    let whole = outcome(&[input]);
    assert!(!whole.0.is_empty(), "{:?}", String::from_utf8_lossy(input));
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(
            outcome(&[a, b]),
            whole,
            "split at {at} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(outcome(&bytes), whole, "byte at a time");
}

#[test]
fn simple_requests() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
        b"HEAD /style.css HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
        b"GET /nope?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET http://h:8080/a%20b.txt HTTP/1.1\r\nHost: h\r\n\r\n",
        b"\r\nGET /stats HTTP/1.1\nHost: h\n\n",
    ] {
        same_answer_at_every_split(input);
    }
}

#[test]
fn pipeline_of_three() {
    same_answer_at_every_split(
        b"GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n\
          HEAD / HTTP/1.1\r\nHost: h\r\n\r\n\
          GET /img/logo.png HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
}

#[test]
fn content_skipped_between_requests() {
    same_answer_at_every_split(
        b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789\
          GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
}

#[test]
fn refusals() {
    for input in [
        &b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n",
        b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        same_answer_at_every_split(input);
    }
}

#[test]
fn oversized_heads() {
    let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
    big.resize(9000, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    same_answer_at_every_split(&big);

    let mut line = b"GET /".to_vec();
    line.resize(8500, b'b');
    same_answer_at_every_split(&line);
}
