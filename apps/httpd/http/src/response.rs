//! Responses: a head of bytes to write, then a body that may be a static slice.
//!
//! Every head is `HTTP/1.1 <code> <reason>`, then `Server`, `Content-Type`,
//! `Content-Length`, `Allow` on a 405, and `Connection` when it is not the HTTP/1.1
//! default (RFC 9112 section 9.3 and 9.6). The body of a static file is the `&'static`
//! slice embedded in the image, so writing it needs no second copy.

use crate::status::{Rejection, StatusCode};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

/// The body of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Bytes that live as long as the program (an embedded file or a fixed error page).
    Static(&'static [u8]),
    /// Bytes generated for this response.
    Owned(Vec<u8>),
}

impl Body {
    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Static(b) => b,
            Self::Owned(b) => b,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether it has no bytes (always so for a HEAD request).
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

/// One response, to be written as [`head`](Self::head) then [`body`](Self::body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: StatusCode,
    head: Vec<u8>,
    body: Body,
    closes: bool,
    rejection: Option<Rejection>,
}

impl Response {
    /// The status sent.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status line and header fields, ending with the empty line.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The body bytes (empty for HEAD; `Content-Length` still gives the GET length).
    pub fn body(&self) -> &[u8] {
        self.body.as_bytes()
    }

    /// Head and body, to write without copying a static body.
    pub fn into_parts(self) -> (Vec<u8>, Body) {
        (self.head, self.body)
    }

    /// Whether this response carries `Connection: close`: the connection closes once it
    /// is written.
    pub fn closes_connection(&self) -> bool {
        self.closes
    }

    /// Why the request was refused, for an error status.
    pub fn rejection(&self) -> Option<Rejection> {
        self.rejection
    }

    /// Bytes on the wire: head plus body.
    pub fn wire_len(&self) -> usize {
        self.head.len().saturating_add(self.body.len())
    }
}

/// What the `Connection` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// HTTP/1.1 default: no field.
    Default,
    /// `Connection: keep-alive`, for an HTTP/1.0 client that asked for it.
    KeepAlive,
    /// `Connection: close`.
    Close,
}

/// The parts of a response before it is serialised.
pub(crate) struct Draft {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: Body,
    /// False for HEAD: the head announces the length, no body follows.
    pub(crate) send_body: bool,
    pub(crate) persistence: Persistence,
    pub(crate) rejection: Option<Rejection>,
}

/// The `Content-Type` of error pages.
const TEXT: &str = "text/plain; charset=utf-8";

impl Draft {
    /// The error page for `rejection`.
    pub(crate) fn error(rejection: Rejection, send_body: bool, persistence: Persistence) -> Self {
        Self {
            status: rejection.status(),
            content_type: TEXT,
            body: Body::Static(rejection.body()),
            send_body,
            persistence,
            rejection: Some(rejection),
        }
    }

    /// Serialises the head.
    pub(crate) fn finish(self) -> Response {
        let mut head = String::with_capacity(160);
        // Writing into a String cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nServer: ferrun\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status.code(),
            self.status.reason(),
            self.content_type,
            self.body.len(),
        );
        if self.status == StatusCode::MethodNotAllowed {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        match self.persistence {
            Persistence::Default => {}
            Persistence::KeepAlive => head.push_str("Connection: keep-alive\r\n"),
            Persistence::Close => head.push_str("Connection: close\r\n"),
        }
        head.push_str("\r\n");
        Response {
            status: self.status,
            head: head.into_bytes(),
            body: if self.send_body {
                self.body
            } else {
                Body::Static(&[])
            },
            closes: self.persistence == Persistence::Close,
            rejection: self.rejection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_lists_the_fields_in_order() {
        let r = Draft::error(Rejection::MethodNotAllowed, true, Persistence::Close).finish();
        assert_eq!(
            r.head(),
            b"HTTP/1.1 405 Method Not Allowed\r\nServer: ferrun\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 42\r\n\
              Allow: GET, HEAD\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(r.body(), b"405 Method Not Allowed: only GET and HEAD\n");
        assert!(r.closes_connection());
    }

    #[test]
    fn head_request_keeps_the_length_but_drops_the_body() {
        let r = Draft::error(Rejection::NotFound, false, Persistence::KeepAlive).finish();
        let head = core::str::from_utf8(r.head()).unwrap_or_default();
        assert!(head.contains("Content-Length: 14\r\n"));
        assert!(head.contains("Connection: keep-alive\r\n"));
        assert!(r.body().is_empty());
        assert!(!r.closes_connection());
    }
}
