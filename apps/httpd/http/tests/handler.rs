//! The engine's answers to single requests, pipelines, timeouts and limits.

#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::{FILES, TestSite, drive, header, responses, wire};
use http::{Connection, Limits, Rejection, StatusCode};

const SECOND: u64 = 1_000_000_000;

fn status(input: &[u8]) -> Vec<u16> {
    responses(input).iter().map(|r| r.status().code()).collect()
}

fn one(input: &[u8]) -> http::Response {
    let mut all = responses(input);
    assert_eq!(all.len(), 1, "{all:?}");
    all.pop().unwrap()
}

#[test]
fn get_root_serves_index_html() {
    let r = one(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(r.status(), StatusCode::Ok);
    assert_eq!(r.body(), b"<h1>ferrun</h1>\n");
    assert_eq!(
        r.head(),
        b"HTTP/1.1 200 OK\r\nServer: ferrun\r\nContent-Type: text/html; charset=utf-8\r\n\
          Content-Length: 16\r\n\r\n"
    );
    assert!(!r.closes_connection());
    // The body is the embedded slice itself, not a copy.
    let (_, body) = r.into_parts();
    assert!(matches!(body, http::Body::Static(b) if std::ptr::eq(b, FILES[0].body)));
}

#[test]
fn head_gets_the_get_headers_and_no_body() {
    let get = one(b"GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n");
    let head = one(b"HEAD /style.css HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(head.head(), get.head());
    assert!(head.body().is_empty());
    assert_eq!(header(&head, "Content-Length"), Some("18"));
    // Errors too: a HEAD never gets a body.
    let missing = one(b"HEAD /nope HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(missing.status(), StatusCode::NotFound);
    assert!(missing.body().is_empty());
    assert_eq!(header(&missing, "Content-Length"), Some("14"));
}

#[test]
fn unknown_path_is_404_and_keeps_the_connection() {
    let mut conn = Connection::new(0);
    let out = drive(&mut conn, &[b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n"], 0);
    assert_eq!(out[0].status(), StatusCode::NotFound);
    assert_eq!(out[0].rejection(), Some(Rejection::NotFound));
    assert_eq!(out[0].body(), b"404 Not Found\n");
    assert!(!conn.should_close());
}

#[test]
fn paths_are_case_sensitive() {
    assert_eq!(status(b"GET /STYLE.CSS HTTP/1.1\r\nHost: h\r\n\r\n"), [404]);
}

#[test]
fn other_known_methods_get_405_with_allow() {
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"] {
        let r = one(format!("{method} / HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(r.status(), StatusCode::MethodNotAllowed, "{method}");
        assert_eq!(header(&r, "Allow"), Some("GET, HEAD"));
        assert!(!r.closes_connection());
    }
    // CONNECT takes authority-form: still 405, not 400.
    assert_eq!(
        status(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        [405]
    );
}

#[test]
fn unknown_and_lowercase_methods_get_501() {
    assert_eq!(status(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n"), [501]);
    assert_eq!(status(b"get / HTTP/1.1\r\nHost: h\r\n\r\n"), [501]);
}

#[test]
fn post_with_content_is_405_and_the_content_is_skipped() {
    let mut conn = Connection::new(0);
    let out = drive(
        &mut conn,
        &[
            b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello",
            b" world",
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ],
        0,
    );
    let codes: Vec<u16> = out.iter().map(|r| r.status().code()).collect();
    assert_eq!(codes, [405, 200]);
    assert!(!conn.should_close());
    assert_eq!(conn.buffered(), 0);
}

#[test]
fn content_larger_than_max_body_is_413_and_closes() {
    let r = one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\nxx");
    assert_eq!(r.status(), StatusCode::ContentTooLarge);
    assert!(r.closes_connection());
    let r = one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    assert_eq!(r.status(), StatusCode::ContentTooLarge);
}

#[test]
fn get_with_content_is_400_and_the_content_is_skipped() {
    let out = responses(
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(out[0].rejection(), Some(Rejection::ContentNotAllowed));
    assert_eq!(out[1].status(), StatusCode::Ok);
}

#[test]
fn invalid_content_length_is_400_and_closes() {
    for cl in [
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 1 2\r\n",
        "Content-Length: 3, 4\r\n",
        "Content-Length: 3\r\nContent-Length: 4\r\n",
        "Content-Length:\r\n",
    ] {
        let out = responses(
            format!("POST / HTTP/1.1\r\nHost: h\r\n{cl}\r\nabcGET / HTTP/1.1\r\n\r\n").as_bytes(),
        );
        assert_eq!(out.len(), 1, "{cl}");
        assert_eq!(
            out[0].rejection(),
            Some(Rejection::InvalidContentLength),
            "{cl}"
        );
        assert!(out[0].closes_connection());
    }
    // The same value repeated is one length (RFC 9110 section 8.6).
    let out = responses(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn transfer_encoding_answers_then_closes() {
    let r = one(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(r.status(), StatusCode::MethodNotAllowed);
    assert!(r.closes_connection());
    // With Content-Length too, or in HTTP/1.0: ambiguous framing (RFC 9112 section 6.1, 6.3).
    let r = one(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    );
    assert_eq!(r.rejection(), Some(Rejection::AmbiguousFraming));
    assert!(r.closes_connection());
    let r = one(b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.rejection(), Some(Rejection::AmbiguousFraming));
    assert!(r.closes_connection());
}

#[test]
fn content_announced_with_expect_continue_is_not_waited_for() {
    let r = one(b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(r.status(), StatusCode::MethodNotAllowed);
    assert!(r.closes_connection());
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let mut conn = Connection::new(0);
    let first = drive(&mut conn, &[b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"], 1);
    assert_eq!(first.len(), 1);
    assert!(!conn.should_close());
    let second = drive(
        &mut conn,
        &[b"GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n"],
        2,
    );
    assert_eq!(second[0].body(), b"h1 { color: red }\n");
    assert!(!conn.should_close());
}

#[test]
fn three_pipelined_requests_are_answered_in_order() {
    let out = responses(
        b"GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n\
          HEAD /nope HTTP/1.1\r\nHost: h\r\n\r\n\
          GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let codes: Vec<u16> = out.iter().map(|r| r.status().code()).collect();
    assert_eq!(codes, [200, 404, 200]);
    assert_eq!(out[0].body(), b"h1 { color: red }\n");
    assert!(out[1].body().is_empty());
    assert_eq!(out[2].body(), b"<h1>ferrun</h1>\n");
}

#[test]
fn http10_closes_unless_keep_alive() {
    let mut conn = Connection::new(0);
    let out = drive(
        &mut conn,
        &[b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"],
        0,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(header(&out[0], "Connection"), Some("close"));
    assert!(conn.should_close());

    let mut conn = Connection::new(0);
    let out = drive(
        &mut conn,
        &[b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /style.css HTTP/1.0\r\n\r\n"],
        0,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(header(&out[0], "Connection"), Some("keep-alive"));
    assert_eq!(header(&out[1], "Connection"), Some("close"));
    assert!(conn.should_close());
}

#[test]
fn connection_close_is_honoured_and_later_requests_dropped() {
    let mut conn = Connection::new(0);
    let out = drive(
        &mut conn,
        &[b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"],
        0,
    );
    assert_eq!(out.len(), 1);
    assert!(out[0].closes_connection());
    assert_eq!(out[0].status(), StatusCode::Ok);
    assert!(conn.should_close());
    assert_eq!(conn.deadline(), None);
    // Bytes after that are dropped.
    let more = b"GET / HTTP/1.1\r\n\r\n";
    assert_eq!(conn.feed(more, 0), more.len());
    assert!(conn.poll(&TestSite, 0).is_none());
}

#[test]
fn absolute_form_uses_the_targets_path_and_authority() {
    for target in [
        "http://example.com/style.css",
        "HTTP://example.com:8080/style.css?x=1",
        "https://[::1]/style.css",
    ] {
        let r = one(format!("GET {target} HTTP/1.1\r\nHost: other\r\n\r\n").as_bytes());
        assert_eq!(r.body(), b"h1 { color: red }\n", "{target}");
    }
    assert_eq!(
        status(b"GET http://example.com HTTP/1.1\r\nHost: h\r\n\r\n"),
        [200]
    );
    assert_eq!(
        status(b"GET http://example.com?q HTTP/1.1\r\nHost: h\r\n\r\n"),
        [200]
    );
    // The authority wins over Host: an invalid Host value is ignored...
    assert_eq!(
        status(b"GET http://h/ HTTP/1.1\r\nHost: a b\r\n\r\n"),
        [200]
    );
    // ...but the authority itself must be valid, and Host still present in HTTP/1.1.
    for bad in ["http:///x", "http://u@h/", "http://h:x/"] {
        let r = one(format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(r.rejection(), Some(Rejection::InvalidHost), "{bad}");
    }
    assert_eq!(status(b"GET http://h/ HTTP/1.1\r\n\r\n"), [400]);
    assert_eq!(status(b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), [400]);
}

#[test]
fn asterisk_and_authority_forms_are_400_for_get_and_head() {
    for target in ["*", "example.com:80", "example.com", "index.html"] {
        for method in ["GET", "HEAD"] {
            let r = one(format!("{method} {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
            assert_eq!(
                r.rejection(),
                Some(Rejection::InvalidTarget),
                "{method} {target}"
            );
        }
    }
}

#[test]
fn host_rules() {
    // RFC 9112 section 3.2.
    let r = one(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.rejection(), Some(Rejection::MissingHost));
    assert!(!r.closes_connection());
    assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), [200]);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), [200]);
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nhOsT: 10.0.0.2:8080\r\n\r\n"),
        [200]
    );
    let r = one(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    assert_eq!(r.rejection(), Some(Rejection::DuplicateHost));
    let r = one(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(r.rejection(), Some(Rejection::DuplicateHost));
    for bad in ["a b", "a:b", "user@h", "h/x", "[::1", "h:80:80"] {
        let r = one(format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n").as_bytes());
        assert_eq!(r.rejection(), Some(Rejection::InvalidHost), "{bad}");
    }
}

#[test]
fn a_64_kib_head_is_431_and_closes() {
    let mut input = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    input.resize(64 * 1024, b'a');
    input.extend_from_slice(b"\r\n\r\n");
    let mut conn = Connection::new(0);
    let out = drive(&mut conn, &[&input], 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status(), StatusCode::RequestHeaderFieldsTooLarge);
    assert!(out[0].closes_connection());
    assert!(conn.should_close());
}

#[test]
fn head_limit_is_exact() {
    let request = |len: usize| {
        let mut r = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        r.resize(len - 4, b'a');
        r.extend_from_slice(b"\r\n\r\n");
        r
    };
    let max = Limits::DEFAULT.max_head;
    assert_eq!(status(&request(max)), [200]);
    assert_eq!(status(&request(max + 1)), [431]);
}

#[test]
fn a_request_line_longer_than_max_head_is_414() {
    let mut input = b"GET /".to_vec();
    input.resize(10_000, b'a');
    let r = one(&input);
    assert_eq!(r.status(), StatusCode::UriTooLong);
    assert!(r.closes_connection());
}

#[test]
fn more_than_64_header_lines_is_431() {
    let head = |n: usize| {
        let mut r = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 1..n {
            r.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r
    };
    assert_eq!(status(&head(64)), [200]);
    let r = one(&head(65));
    assert_eq!(r.rejection(), Some(Rejection::TooManyHeaders));
    assert!(r.closes_connection());
}

#[test]
fn malformed_requests_are_400_and_close() {
    for bad in [
        &b"GET/ HTTP/1.1\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET / HTTP/1.x\r\n\r\n",
        b"GET / HTTP/12.0\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
    ] {
        let mut conn = Connection::new(0);
        let out = drive(&mut conn, &[bad], 0);
        assert_eq!(out.len(), 1, "{bad:?}");
        assert_eq!(out[0].rejection(), Some(Rejection::Malformed), "{bad:?}");
        assert!(conn.should_close());
    }
}

#[test]
fn other_http_versions_get_505() {
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
        let r = one(format!("GET / {version}\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(r.status(), StatusCode::HttpVersionNotSupported, "{version}");
        assert!(r.closes_connection());
    }
}

#[test]
fn leading_empty_lines_and_bare_lf_are_accepted() {
    assert_eq!(status(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), [200]);
    assert_eq!(status(b"GET / HTTP/1.1\nHost: h\n\n"), [200]);
}

#[test]
fn partial_head_gets_408_at_the_head_deadline() {
    let mut conn = Connection::new(0);
    assert!(drive(&mut conn, &[b"GET / HTTP/1.1\r\nHo"], SECOND).is_empty());
    let deadline = conn.deadline().unwrap();
    // The first request's head counts from the connection's start.
    assert_eq!(deadline, Limits::DEFAULT.head_timeout_ns);
    assert!(conn.on_timeout(deadline - 1).is_none());
    assert!(!conn.should_close());
    let r = conn.on_timeout(deadline).unwrap();
    assert_eq!(r.status(), StatusCode::RequestTimeout);
    assert!(r.closes_connection());
    assert!(conn.should_close());
    assert_eq!(conn.deadline(), None);
    assert!(conn.on_timeout(deadline * 2).is_none());
}

#[test]
fn a_later_heads_deadline_starts_at_its_first_byte() {
    let mut conn = Connection::new(0);
    drive(&mut conn, &[b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"], SECOND);
    drive(&mut conn, &[b"GET"], 3 * SECOND);
    assert_eq!(
        conn.deadline(),
        Some(3 * SECOND + Limits::DEFAULT.head_timeout_ns)
    );
}

#[test]
fn idle_keep_alive_closes_silently() {
    let mut conn = Connection::new(0);
    drive(&mut conn, &[b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"], SECOND);
    let deadline = conn.deadline().unwrap();
    assert_eq!(deadline, SECOND + Limits::DEFAULT.idle_timeout_ns);
    assert!(conn.on_timeout(deadline - 1).is_none());
    assert!(!conn.should_close());
    assert!(conn.on_timeout(deadline).is_none());
    assert!(conn.should_close());
}

#[test]
fn a_connection_that_sends_nothing_closes_silently() {
    let mut conn = Connection::new(5);
    assert_eq!(conn.deadline(), Some(5 + Limits::DEFAULT.head_timeout_ns));
    assert!(conn.on_timeout(u64::MAX).is_none());
    assert!(conn.should_close());
}

#[test]
fn content_that_stops_arriving_closes_the_connection() {
    let mut conn = Connection::new(0);
    let out = drive(
        &mut conn,
        &[b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc"],
        SECOND,
    );
    assert_eq!(out.len(), 1);
    let deadline = conn.deadline().unwrap();
    assert_eq!(deadline, SECOND + Limits::DEFAULT.head_timeout_ns);
    assert!(conn.on_timeout(deadline).is_none());
    assert!(conn.should_close());
}

#[test]
fn no_deadline_while_a_response_waits_to_be_polled() {
    let mut conn = Connection::new(0);
    assert_eq!(conn.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0), 27);
    assert_eq!(conn.deadline(), None);
    assert!(conn.on_timeout(u64::MAX).is_none());
    assert!(!conn.should_close());
    assert!(conn.poll(&TestSite, 0).is_some());
}

#[test]
fn peer_close_answers_complete_requests_and_drops_a_partial_one() {
    let mut conn = Connection::new(0);
    assert_eq!(
        conn.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /sty", 0),
        35
    );
    conn.peer_closed();
    assert!(!conn.should_close());
    assert_eq!(conn.poll(&TestSite, 0).unwrap().status(), StatusCode::Ok);
    assert!(conn.poll(&TestSite, 0).is_none());
    assert!(conn.should_close());
    assert_eq!(conn.buffered(), 0);

    let mut conn = Connection::new(0);
    conn.peer_closed();
    assert!(conn.should_close());
}

#[test]
fn percent_decoding_and_path_checks() {
    let body = |target: &str| {
        one(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .body()
            .to_vec()
    };
    assert_eq!(body("/a%20b.txt"), b"spaced\n");
    assert_eq!(body("/caf%C3%A9.txt"), b"accent\n");
    assert_eq!(body("/%73tyle.css?v=%zz"), b"h1 { color: red }\n");
    assert_eq!(body("/docs/"), b"<p>docs</p>\n");
    assert_eq!(body("/docs/?x"), b"<p>docs</p>\n");
    for (target, why) in [
        ("/%2e%2e/etc/passwd", Rejection::ForbiddenPath),
        ("/docs/../index.html", Rejection::ForbiddenPath),
        ("/a%00", Rejection::ForbiddenPath),
        ("/%ff", Rejection::ForbiddenPath),
        ("/%g0", Rejection::InvalidPercentEncoding),
        ("/%2", Rejection::InvalidPercentEncoding),
        ("/#frag", Rejection::InvalidTarget),
    ] {
        let r = one(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(r.rejection(), Some(why), "{target}");
        assert!(!r.closes_connection());
    }
}

#[test]
fn content_types_come_from_the_site() {
    for (path, want) in [
        ("/", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/img/logo.png", "image/png"),
        ("/stats", "application/json"),
        ("/nope", "text/plain; charset=utf-8"),
    ] {
        let r = one(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(header(&r, "Content-Type"), Some(want), "{path}");
    }
}

#[test]
fn dynamic_resources_are_generated_per_request() {
    let r = one(b"GET /stats HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.body(), br#"{"requests":1}"#);
    let (_, body) = r.into_parts();
    assert!(matches!(body, http::Body::Owned(_)));
}

#[test]
fn a_full_buffer_of_pipelined_requests_is_taken_in_turns() {
    let one_request = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let input: Vec<u8> = one_request.repeat(1000);
    let mut conn = Connection::new(0);
    let taken = conn.feed(&input, 0);
    assert_eq!(taken, Limits::DEFAULT.max_head);
    let out = drive(&mut conn, &[&input[taken..]], 0);
    // `drive` polls before feeding: it answers what the first feed took, too.
    assert_eq!(out.len(), 1000);
    assert!(out.iter().all(|r| r.status() == StatusCode::Ok));
    assert_eq!(wire(&out).len(), 1000 * out[0].wire_len());
}

#[test]
fn max_head_has_a_floor() {
    let conn = Connection::with_limits(
        Limits {
            max_head: 0,
            ..Limits::DEFAULT
        },
        0,
    );
    assert_eq!(conn.limits().max_head, Limits::MIN_HEAD);
}
