//! Reading one request head: httparse for the syntax, then RFC 9112's rules.
//!
//! [`scan`] looks at the bytes at the front of a connection's buffer and says whether they
//! hold a complete head yet, one that must be refused before it completes (malformed, too
//! large, unsupported version), or a complete head with what to do about it: its length,
//! whether the connection persists, how many content bytes follow, and the checked path
//! to look up (or the [`Rejection`]). The client is not trusted: nothing here indexes or
//! does arithmetic that can panic.
//!
//! Rules (RFC 9112 unless noted):
//! - section 2.3 / 3: the version must be `HTTP/1.0` or `HTTP/1.1`; another well-formed
//!   `HTTP/d.d` is 505, anything else 400.
//! - section 3.2: an HTTP/1.1 request needs exactly one `Host`; more than one, or an invalid
//!   value, is 400 in any version. With an absolute-form target (3.2.2) the target's
//!   authority is used and the `Host` value ignored.
//! - section 3.2.1-3.2.4: origin-form and absolute-form (`http`/`https`) are served;
//!   asterisk-form and authority-form are 400 for GET and HEAD.
//! - section 6.1-6.3: `Content-Length` must be digits, repeated only with the same value;
//!   `Transfer-Encoding` with `Content-Length`, or in HTTP/1.0, is 400 and closes. Content
//!   of unknown length (`Transfer-Encoding`) cannot be skipped, so its answer closes too.
//! - section 9.3: HTTP/1.1 persists unless `Connection: close`; HTTP/1.0 only with
//!   `Connection: keep-alive`.
//! - RFC 9110 section 10.1.1: content announced with `Expect: 100-continue` may never be
//!   sent once we answer, so such a request's answer closes instead of skipping it.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::connection::Limits;
use crate::response::Persistence;
use crate::status::Rejection;
use alloc::string::String;
use alloc::vec::Vec;

/// Header lines parsed per request; one more is [`Rejection::TooManyHeaders`].
pub(crate) const MAX_HEADERS: usize = 64;

/// What the front of the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Not a complete head yet, and nothing wrong so far.
    Incomplete,
    /// A head that cannot be read: answer this and close.
    Reject(Rejection),
    /// A complete head.
    Head(Head),
}

/// A complete request head and the decision about it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// Bytes of the head, including the empty line.
    pub(crate) len: usize,
    /// The method was HEAD: announce the length, send no body.
    pub(crate) head_method: bool,
    /// Whether and how the connection persists after the answer.
    pub(crate) persistence: Persistence,
    /// Content bytes after the head to discard (0 when the connection closes).
    pub(crate) skip: u64,
    /// The decoded path to look up, or why not.
    pub(crate) outcome: Result<String, Rejection>,
}

/// Reads the head at the front of `buf`.
pub(crate) fn scan(buf: &[u8], limits: &Limits) -> Scan {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Scan::Head(decide(&request, len, limits)),
        Ok(httparse::Status::Partial) => incomplete(buf, limits),
        Err(httparse::Error::TooManyHeaders) => Scan::Reject(Rejection::TooManyHeaders),
        Err(httparse::Error::Version) => bad_version(buf, &request, limits),
        Err(_) => Scan::Reject(Rejection::Malformed),
    }
}

/// Bytes of empty lines before the request line (RFC 9112 section 2.2; httparse skips
/// them too).
fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// A head that has not ended: wait, unless the buffer is full.
fn incomplete(buf: &[u8], limits: &Limits) -> Scan {
    if buf.len() < limits.max_head {
        return Scan::Incomplete;
    }
    let line = buf.get(leading_empty_lines(buf)..).unwrap_or_default();
    if line.contains(&b'\n') {
        Scan::Reject(Rejection::HeadTooLarge)
    } else {
        // RFC 9112 section 3: a target longer than we parse is 414.
        Scan::Reject(Rejection::RequestLineTooLong)
    }
}

/// httparse accepts only `HTTP/1.0` and `HTTP/1.1` and stops at the first byte that
/// differs. Tell a well-formed other version (`HTTP/2.0`: 505) from garbage (400), waiting
/// while the bytes seen so far could still be `HTTP/d.d`, so the answer does not depend on
/// where the bytes were split.
fn bad_version(buf: &[u8], request: &httparse::Request<'_, '_>, limits: &Limits) -> Scan {
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Scan::Reject(Rejection::Malformed);
    };
    // httparse's default configuration takes exactly one space after method and target.
    let start = leading_empty_lines(buf)
        .checked_add(method.len())
        .and_then(|n| n.checked_add(target.len()))
        .and_then(|n| n.checked_add(2));
    let Some(version) = start.and_then(|s| buf.get(s..)) else {
        return Scan::Reject(Rejection::Malformed);
    };
    const PATTERN: &[u8; 8] = b"HTTP/d.d";
    for (&b, &p) in version.iter().zip(PATTERN) {
        let fits = if p == b'd' {
            b.is_ascii_digit()
        } else {
            b == p
        };
        if !fits {
            return Scan::Reject(Rejection::Malformed);
        }
    }
    if version.len() >= PATTERN.len() {
        Scan::Reject(Rejection::UnsupportedVersion)
    } else {
        incomplete(buf, limits)
    }
}

/// What the methods we know are, for 405 versus 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    /// Registered (RFC 9110 section 9, RFC 5789) but not served here.
    NotAllowed,
    Unknown,
}

impl Method {
    fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH" => {
                Self::NotAllowed
            }
            _ => Self::Unknown,
        }
    }
}

/// The header fields the rules look at.
#[derive(Debug, Default)]
struct Fields<'b> {
    hosts: usize,
    host: Option<&'b [u8]>,
    /// `Some(Err)` for an invalid or conflicting `Content-Length`.
    content_length: Option<Result<u64, ()>>,
    transfer_encoding: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl<'b> Fields<'b> {
    fn read(headers: &[httparse::Header<'b>]) -> Self {
        let mut f = Self::default();
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("host") {
                f.hosts = f.hosts.saturating_add(1);
                f.host = Some(h.value);
            } else if name.eq_ignore_ascii_case("content-length") {
                f.content_length = Some(merge_content_length(f.content_length, h.value));
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                f.transfer_encoding = true;
            } else if name.eq_ignore_ascii_case("connection") {
                for option in list(h.value) {
                    f.close |= option.eq_ignore_ascii_case(b"close");
                    f.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                f.expect_continue |= trim(h.value).eq_ignore_ascii_case(b"100-continue");
            }
        }
        f
    }
}

/// Trims optional whitespace (RFC 9110 section 5.6.3).
fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The elements of a comma-separated list field, trimmed.
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim)
}

/// Adds one `Content-Length` line (which may itself be a list, RFC 9110 section 8.6) to
/// what earlier lines said: every value must be digits and all must agree. A number too
/// large for `u64` saturates, which is above any `max_body`.
fn merge_content_length(seen: Option<Result<u64, ()>>, value: &[u8]) -> Result<u64, ()> {
    let mut current = match seen {
        Some(Err(())) => return Err(()),
        Some(Ok(n)) => Some(n),
        None => None,
    };
    for element in list(value) {
        if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
            return Err(());
        }
        let n = element.iter().fold(0u64, |n, &d| {
            n.saturating_mul(10)
                .saturating_add(u64::from(d.saturating_sub(b'0')))
        });
        match current {
            Some(m) if m != n => return Err(()),
            _ => current = Some(n),
        }
    }
    current.ok_or(())
}

/// Decides what to do with a complete head of `len` bytes.
fn decide(request: &httparse::Request<'_, '_>, len: usize, limits: &Limits) -> Head {
    let method = Method::from_token(request.method.unwrap_or_default());
    let http10 = request.version == Some(0);
    let fields = Fields::read(request.headers);

    let keep_alive = !fields.close && (!http10 || fields.keep_alive);
    let mut persistence = match (keep_alive, http10) {
        (false, _) => Persistence::Close,
        (true, true) => Persistence::KeepAlive,
        (true, false) => Persistence::Default,
    };
    let head_method = method == Method::Head;

    // Framing first: without it the next request cannot be found.
    let length = match fields.content_length {
        None => Ok(0),
        Some(Ok(n)) => Ok(n),
        Some(Err(())) => Err(Rejection::InvalidContentLength),
    };
    let framing = length.and_then(|n| {
        if fields.transfer_encoding && (fields.content_length.is_some() || http10) {
            Err(Rejection::AmbiguousFraming)
        } else if n > limits.max_body {
            Err(Rejection::ContentTooLarge)
        } else {
            Ok(n)
        }
    });
    let outcome = match framing {
        Ok(n) => {
            let has_content = n > 0 || fields.transfer_encoding;
            // Content we cannot skip: unknown length, or a client that may never send
            // it once answered (Expect: 100-continue).
            if fields.transfer_encoding || (has_content && fields.expect_continue) {
                persistence = Persistence::Close;
            }
            target(request, method, &fields, http10, has_content)
        }
        Err(r) => Err(r),
    };
    if let Err(r) = outcome
        && r.closes()
    {
        persistence = Persistence::Close;
    }
    let skip = match (persistence, framing) {
        (Persistence::Close, _) | (_, Err(_)) => 0,
        (_, Ok(n)) => n,
    };
    Head {
        len,
        head_method,
        persistence,
        skip,
        outcome,
    }
}

/// The checks after framing, in order: Host count, method, content, target and Host
/// value, path.
fn target(
    request: &httparse::Request<'_, '_>,
    method: Method,
    fields: &Fields<'_>,
    http10: bool,
    has_content: bool,
) -> Result<String, Rejection> {
    if fields.hosts > 1 {
        return Err(Rejection::DuplicateHost);
    }
    if fields.hosts == 0 && !http10 {
        return Err(Rejection::MissingHost);
    }
    match method {
        Method::Get | Method::Head => {}
        Method::NotAllowed => return Err(Rejection::MethodNotAllowed),
        Method::Unknown => return Err(Rejection::UnknownMethod),
    }
    if has_content {
        return Err(Rejection::ContentNotAllowed);
    }
    let raw = request.path.unwrap_or_default();
    let (authority, path) = split_target(raw)?;
    match authority {
        // RFC 9112 section 3.2.2: the target's authority wins over Host.
        Some(authority) => {
            if !valid_authority(authority.as_bytes(), true) {
                return Err(Rejection::InvalidHost);
            }
        }
        None => {
            if let Some(host) = fields.host
                && !valid_authority(host, false)
            {
                return Err(Rejection::InvalidHost);
            }
        }
    }
    let path = path.split('?').next().unwrap_or_default();
    decode_path(if path.is_empty() { "/" } else { path })
}

/// Splits a request target into the authority (absolute-form only) and the path with
/// its query. Only visible ASCII is accepted, and no fragment (RFC 9112 section 3.2).
fn split_target(raw: &str) -> Result<(Option<&str>, &str), Rejection> {
    if !raw.bytes().all(|b| b.is_ascii_graphic()) || raw.contains('#') {
        return Err(Rejection::InvalidTarget);
    }
    if raw.starts_with('/') {
        return Ok((None, raw));
    }
    let rest = ["http://", "https://"].iter().find_map(|scheme| {
        let (head, rest) = raw.split_at_checked(scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then_some(rest)
    });
    let Some(rest) = rest else {
        // Asterisk-form, authority-form, other schemes, relative paths.
        return Err(Rejection::InvalidTarget);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at_checked(end).unwrap_or((rest, ""));
    Ok((Some(authority), path))
}

/// RFC 3986 unreserved.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 sub-delims.
fn sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// `uri-host [ ":" port ]` (RFC 9110 section 7.2, RFC 3986 section 3.2.2), without
/// userinfo. `need_host`: the host may not be empty (an `http` URI's authority).
fn valid_authority(value: &[u8], need_host: bool) -> bool {
    let (host, port) = if let [b'[', rest @ ..] = value {
        // IP-literal: an IPv6 address or IPvFuture between brackets.
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let (inner, after) = rest.split_at(close);
        let inner_ok = !inner.is_empty()
            && inner
                .iter()
                .all(|&b| unreserved(b) || sub_delim(b) || b == b':');
        if !inner_ok {
            return false;
        }
        (value, after.get(1..).unwrap_or_default())
    } else {
        let colon = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let (host, port) = value.split_at(colon);
        if !valid_reg_name(host) {
            return false;
        }
        (host, port)
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    port_ok && !(need_host && host.is_empty())
}

/// RFC 3986 reg-name (which also covers IPv4 addresses).
fn valid_reg_name(mut host: &[u8]) -> bool {
    loop {
        match host {
            [] => return true,
            [b'%', h, l, rest @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                host = rest;
            }
            [b, rest @ ..] if unreserved(*b) || sub_delim(*b) => host = rest,
            _ => return false,
        }
    }
}

/// The value of a hex digit.
fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-decodes an absolute path (RFC 3986 section 2.1) and checks the result: no
/// NUL, valid UTF-8, no `..` segment (all 400: the path cannot name a file of ours).
/// A path ending in `/` names the directory's `index.html`.
fn decode_path(raw: &str) -> Result<String, Rejection> {
    let mut out = Vec::with_capacity(raw.len().saturating_add(10));
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let value = bytes
                .next()
                .and_then(hex)
                .zip(bytes.next().and_then(hex))
                .map(|(h, l)| (h << 4) | l);
            out.push(value.ok_or(Rejection::InvalidPercentEncoding)?);
        } else {
            out.push(b);
        }
    }
    if out.contains(&0) {
        return Err(Rejection::ForbiddenPath);
    }
    let mut path = String::from_utf8(out).map_err(|_| Rejection::ForbiddenPath)?;
    if path.split('/').any(|segment| segment == "..") {
        return Err(Rejection::ForbiddenPath);
    }
    if path.ends_with('/') {
        path.push_str("index.html");
    }
    Ok(path)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;

    #[test]
    fn content_length_must_be_digits_and_agree() {
        assert_eq!(merge_content_length(None, b"42"), Ok(42));
        assert_eq!(merge_content_length(None, b"42, 42"), Ok(42));
        assert_eq!(merge_content_length(Some(Ok(42)), b"42"), Ok(42));
        assert_eq!(merge_content_length(Some(Ok(42)), b"43"), Err(()));
        assert_eq!(merge_content_length(None, b"42, 43"), Err(()));
        assert_eq!(merge_content_length(None, b"+42"), Err(()));
        assert_eq!(merge_content_length(None, b"4 2"), Err(()));
        assert_eq!(merge_content_length(None, b""), Err(()));
        assert_eq!(merge_content_length(None, b"0x10"), Err(()));
        assert_eq!(
            merge_content_length(None, b"99999999999999999999999"),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn authority_is_host_and_optional_port() {
        for ok in [
            &b"example.com"[..],
            b"example.com:8080",
            b"10.0.0.2",
            b"10.0.0.2:",
            b"[::1]",
            b"[fe80::1]:80",
            b"a%41b",
        ] {
            assert!(valid_authority(ok, true), "{ok:?}");
        }
        assert!(valid_authority(b"", false));
        for bad in [
            &b""[..],
            b"user@example.com",
            b"example.com:80:80",
            b"example.com:x",
            b"exa mple.com",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"a%4",
            b"a/b",
            b":80",
        ] {
            assert!(!valid_authority(bad, true), "{bad:?}");
        }
    }

    #[test]
    fn targets_split_into_authority_and_path() {
        assert_eq!(split_target("/a?b"), Ok((None, "/a?b")));
        assert_eq!(split_target("http://h:1/a?b"), Ok((Some("h:1"), "/a?b")));
        assert_eq!(split_target("HTTPS://h"), Ok((Some("h"), "")));
        assert_eq!(split_target("http://h?q"), Ok((Some("h"), "?q")));
        for bad in ["*", "h:80", "ftp://h/", "a/b", "/a#f", "/\u{e9}"] {
            assert_eq!(split_target(bad), Err(Rejection::InvalidTarget), "{bad}");
        }
    }

    #[test]
    fn paths_are_decoded_and_checked() {
        assert_eq!(decode_path("/a%20b").as_deref(), Ok("/a b"));
        assert_eq!(decode_path("/%C3%A9").as_deref(), Ok("/\u{e9}"));
        assert_eq!(decode_path("/").as_deref(), Ok("/index.html"));
        assert_eq!(decode_path("/docs/").as_deref(), Ok("/docs/index.html"));
        assert_eq!(decode_path("/a..b").as_deref(), Ok("/a..b"));
        assert_eq!(decode_path("/%zz"), Err(Rejection::InvalidPercentEncoding));
        assert_eq!(decode_path("/%4"), Err(Rejection::InvalidPercentEncoding));
        assert_eq!(decode_path("/a%00"), Err(Rejection::ForbiddenPath));
        assert_eq!(decode_path("/%ff"), Err(Rejection::ForbiddenPath));
        assert_eq!(decode_path("/a/../b"), Err(Rejection::ForbiddenPath));
        assert_eq!(decode_path("/%2e%2E/b"), Err(Rejection::ForbiddenPath));
        assert_eq!(decode_path("/a/.."), Err(Rejection::ForbiddenPath));
    }

    #[test]
    fn version_error_waits_while_it_could_be_well_formed() {
        let limits = Limits::default();
        assert_eq!(scan(b"GET / HTTP/2", &limits), Scan::Incomplete);
        assert_eq!(
            scan(b"GET / HTTP/2.0\r\n", &limits),
            Scan::Reject(Rejection::UnsupportedVersion)
        );
        assert_eq!(
            scan(b"GET / HTTP/x", &limits),
            Scan::Reject(Rejection::Malformed)
        );
        assert_eq!(
            scan(b"\r\nGET /  HTTP/1.1\r\n", &limits),
            Scan::Reject(Rejection::Malformed)
        );
    }

    use proptest::prelude::*;
    use proptest::sample::select;
    use std::format;

    /// Percent-decoding as RFC 3986 section 2.1 has it, written apart from the code's,
    /// then the same checks (no NUL, UTF-8, no `..` segment, `index.html` for a `/`).
    fn decoded(raw: &str) -> Result<String, Rejection> {
        let b = raw.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = raw
                    .get(i + 1..i + 3)
                    .filter(|h| h.len() == 2 && h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .ok_or(Rejection::InvalidPercentEncoding)?;
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        let path = String::from_utf8(out).map_err(|_| Rejection::ForbiddenPath)?;
        if path.contains('\0') || path.split('/').any(|s| s == "..") {
            return Err(Rejection::ForbiddenPath);
        }
        Ok(if path.ends_with('/') {
            format!("{path}index.html")
        } else {
            path
        })
    }

    /// `path` percent-encoded as a client might: every byte that must be, and any
    /// other one that `also` picks, with hex digits in the case `upper` picks.
    fn encoded(path: &str, also: &[bool], upper: bool) -> String {
        let mut out = String::new();
        for (k, b) in path.bytes().enumerate() {
            let plain = unreserved(b) || sub_delim(b) || b == b'/' || b == b':' || b == b'@';
            if plain && !also[k % also.len()] {
                out.push(char::from(b));
            } else if upper {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        }
        out
    }

    /// Where a `Content-Length` list may have optional whitespace.
    fn ows() -> impl Strategy<Value = &'static str> {
        select(&["", " ", "\t", "  ", " \t"][..])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_path_encoded_any_way_decodes_to_itself_or_is_refused(
            path in prop_oneof![
                "(/[a-z.+ %é]{0,4}){1,5}/?",
                "/[^\\x00]{0,12}",
                any::<String>().prop_map(|s| format!("/{s}")),
            ],
            also in proptest::collection::vec(any::<bool>(), 1..8),
            upper in any::<bool>(),
        ) {
            let raw = encoded(&path, &also, upper);
            prop_assert!(raw.bytes().all(|b| b.is_ascii_graphic()), "{:?}", raw);
            prop_assert_eq!(decode_path(&raw), decoded(&raw));
            let want = if path.contains('\0') || path.split('/').any(|s| s == "..") {
                Err(Rejection::ForbiddenPath)
            } else if path.ends_with('/') {
                Ok(format!("{path}index.html"))
            } else {
                Ok(path.clone())
            };
            prop_assert_eq!(decode_path(&raw), want);
        }

        #[test]
        fn any_target_bytes_decode_as_rfc_3986_says(raw in "[/a-fA-F0-9%.+~_-]{0,24}") {
            prop_assert_eq!(decode_path(&raw), decoded(&raw));
        }

        #[test]
        fn content_length_lists_agree_or_are_refused(
            n in prop_oneof![0u64..100_000, any::<u64>()],
            zeros in proptest::collection::vec(0usize..3, 1..4),
            spaces in proptest::collection::vec(ows(), 1..5),
            earlier in prop_oneof![Just(None), Just(Some(Err(()))), any::<u64>().prop_map(|m| Some(Ok(m)))],
            odd in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        ) {
            // One line: `n` once per entry of `zeros` (with that many leading zeros),
            // separated by commas with optional whitespace around them.
            let mut value = String::from(spaces[0]);
            for (k, z) in zeros.iter().enumerate() {
                if k > 0 {
                    value.push_str(&format!("{},{}", spaces[k % spaces.len()], spaces[(k + 1) % spaces.len()]));
                }
                value.push_str(&format!("{}{n}", "0".repeat(*z)));
            }
            value.push_str(spaces[zeros.len() % spaces.len()]);
            let want = match earlier {
                None => Ok(n),
                Some(Ok(m)) if m == n => Ok(n),
                Some(_) => Err(()),
            };
            prop_assert_eq!(merge_content_length(earlier, value.as_bytes()), want, "{:?}", value);
            // One more entry that differs makes it an error.
            if let Some(m) = odd.filter(|&m| m != n) {
                let value = format!("{value},{m}");
                prop_assert_eq!(merge_content_length(earlier, value.as_bytes()), Err(()));
            }
        }

        #[test]
        fn any_content_length_bytes_never_panic_and_only_digits_pass(
            value in proptest::collection::vec(
                prop_oneof![select(b"0123456789, \t".to_vec()), any::<u8>()],
                0..24,
            ),
        ) {
            if let Ok(n) = merge_content_length(None, &value) {
                let entries: Vec<&[u8]> = value.split(|&b| b == b',').map(trim).collect();
                prop_assert!(entries.iter().all(|e| !e.is_empty() && e.iter().all(u8::is_ascii_digit)));
                for e in entries {
                    let digits = core::str::from_utf8(e).unwrap();
                    prop_assert_eq!(digits.parse::<u64>().unwrap_or(u64::MAX), n);
                }
            }
        }

        #[test]
        fn hosts_with_a_forbidden_byte_are_refused(
            host in "[a-zA-Z0-9.~_!$&'()*+,;=-]{1,16}",
            port in prop_oneof![Just(String::new()), "[0-9]{0,5}".prop_map(|p| format!(":{p}"))],
            at in any::<prop::sample::Index>(),
            bad in select(b"@ /?#\"<>\\^`{|}\x7f\x00".to_vec()),
        ) {
            let good = format!("{host}{port}");
            prop_assert!(valid_authority(good.as_bytes(), true), "{:?}", good);
            let mut broken = good.clone().into_bytes();
            broken.insert(at.index(host.len() + 1), bad);
            prop_assert!(!valid_authority(&broken, true), "{:?}", broken);
        }
    }
}
