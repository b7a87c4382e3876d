//! Shared test helpers: a site, an app-like driver and a response checker.
//!
//! A small site, a driver that feeds a connection like an app does, and a checker for
//! the shape of every response.

#![allow(
    clippy::unwrap_used,
    dead_code,
    unreachable_pub,
    reason = "test code: each test binary uses part of these helpers"
)]

use http::{Connection, Resource, Response, Site, StaticFile};

/// Files of the test site.
pub static FILES: &[StaticFile] = &[
    StaticFile {
        path: "/index.html",
        body: b"<h1>ferrun</h1>\n",
        content_type: "text/html; charset=utf-8",
    },
    StaticFile {
        path: "/style.css",
        body: b"h1 { color: red }\n",
        content_type: "text/css; charset=utf-8",
    },
    StaticFile {
        path: "/img/logo.png",
        body: b"\x89PNG\r\n\x1a\n",
        content_type: "image/png",
    },
    StaticFile {
        path: "/a b.txt",
        body: b"spaced\n",
        content_type: "text/plain; charset=utf-8",
    },
    StaticFile {
        path: "/caf\u{e9}.txt",
        body: b"accent\n",
        content_type: "text/plain; charset=utf-8",
    },
    StaticFile {
        path: "/docs/index.html",
        body: b"<p>docs</p>\n",
        content_type: "text/html; charset=utf-8",
    },
];

/// The static files plus a generated `/stats`.
pub struct TestSite;

impl Site for TestSite {
    fn lookup(&self, path: &str) -> Option<Resource> {
        if path == "/stats" {
            return Some(Resource::Dynamic {
                body: br#"{"requests":1}"#.to_vec(),
                content_type: "application/json",
            });
        }
        FILES.lookup(path)
    }
}

/// Feeds `parts` one after the other, as an app does: feed, then poll until `None`,
/// again while the engine leaves bytes untaken. Returns every response.
pub fn drive(conn: &mut Connection, parts: &[&[u8]], now: u64) -> Vec<Response> {
    let mut out = Vec::new();
    for part in parts {
        let mut rest = *part;
        loop {
            let taken = conn.feed(rest, now);
            assert!(taken <= rest.len());
            assert!(conn.buffered() <= conn.limits().max_head);
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
            assert!(
                taken > 0 || answered,
                "engine took nothing and answered nothing"
            );
        }
    }
    out
}

/// Responses to `input` fed at once on a fresh connection.
pub fn responses(input: &[u8]) -> Vec<Response> {
    let mut conn = Connection::new(0);
    drive(&mut conn, &[input], 0)
}

/// The bytes on the wire.
pub fn wire(responses: &[Response]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in responses {
        out.extend_from_slice(r.head());
        out.extend_from_slice(r.body());
    }
    out
}

/// The value of header `name` in `r`'s head.
pub fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    let head = std::str::from_utf8(r.head()).unwrap();
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// Checks that a response is well-formed: an HTTP/1.1 status line matching its status,
/// `Server: ferrun`, one `Content-Type`, one `Content-Length` equal to the body length
/// (or any length with an empty body, for HEAD), `Allow` exactly on 405, and
/// `Connection: close` exactly when it closes.
pub fn check_shape(r: &Response) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    let len = parsed.parse(r.head()).unwrap();
    assert_eq!(len, httparse::Status::Complete(r.head().len()), "{r:?}");
    assert_eq!(parsed.version, Some(1));
    assert_eq!(parsed.code, Some(r.status().code()));
    assert_eq!(parsed.reason, Some(r.status().reason()));
    let count = |name: &str| {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(count("Server"), 1);
    assert_eq!(header(r, "Server"), Some("ferrun"));
    assert_eq!(count("Content-Type"), 1);
    assert_eq!(count("Content-Length"), 1);
    let length: usize = header(r, "Content-Length").unwrap().parse().unwrap();
    assert!(length == r.body().len() || r.body().is_empty(), "{r:?}");
    assert_eq!(count("Allow"), usize::from(r.status().code() == 405));
    assert_eq!(
        header(r, "Connection") == Some("close"),
        r.closes_connection()
    );
    assert_eq!(r.rejection().is_none(), r.status().code() == 200);
    assert_eq!(r.wire_len(), r.head().len() + r.body().len());
}
