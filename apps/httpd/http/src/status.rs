//! Status codes we send, and why a request was refused.
//!
//! Codes and reason phrases are from RFC 9110 section 15. [`Rejection`] is the engine's
//! error type: every non-200 answer carries one, so the app can log or count the cause.

use core::fmt;

/// An HTTP status code this engine sends (RFC 9110 section 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 200 OK.
    Ok,
    /// 400 Bad Request.
    BadRequest,
    /// 404 Not Found.
    NotFound,
    /// 405 Method Not Allowed (sent with `Allow: GET, HEAD`).
    MethodNotAllowed,
    /// 408 Request Timeout.
    RequestTimeout,
    /// 413 Content Too Large.
    ContentTooLarge,
    /// 414 URI Too Long.
    UriTooLong,
    /// 431 Request Header Fields Too Large (RFC 6585).
    RequestHeaderFieldsTooLarge,
    /// 501 Not Implemented.
    NotImplemented,
    /// 505 HTTP Version Not Supported.
    HttpVersionNotSupported,
}

impl StatusCode {
    /// The three-digit code.
    pub const fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::BadRequest => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::ContentTooLarge => 413,
            Self::UriTooLong => 414,
            Self::RequestHeaderFieldsTooLarge => 431,
            Self::NotImplemented => 501,
            Self::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase of the status line.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::BadRequest => "Bad Request",
            Self::NotFound => "Not Found",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::RequestTimeout => "Request Timeout",
            Self::ContentTooLarge => "Content Too Large",
            Self::UriTooLong => "URI Too Long",
            Self::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Self::NotImplemented => "Not Implemented",
            Self::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.reason())
    }
}

/// Why a request got an error status instead of its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// httparse rejected the request line or a header line (400, close).
    Malformed,
    /// More header lines than the engine parses (431, close).
    TooManyHeaders,
    /// The head did not end within `Limits::max_head` bytes (431, close).
    HeadTooLarge,
    /// The request line alone did not end within `Limits::max_head` bytes (414, close).
    RequestLineTooLong,
    /// A well-formed `HTTP/x.y` other than 1.0 and 1.1 (505, close).
    UnsupportedVersion,
    /// An invalid `Content-Length`, or several that differ (400, close).
    InvalidContentLength,
    /// `Transfer-Encoding` together with `Content-Length`, or in an HTTP/1.0 request
    /// (RFC 9112 section 6.1 and 6.3: 400, close).
    AmbiguousFraming,
    /// Declared content longer than `Limits::max_body` (413, close).
    ContentTooLarge,
    /// An HTTP/1.1 request without `Host` (400).
    MissingHost,
    /// More than one `Host` header line (400).
    DuplicateHost,
    /// A `Host` value, or the authority of an absolute-form target, that is not
    /// `host[:port]` (400).
    InvalidHost,
    /// A method this server knows but does not allow (405, with `Allow`).
    MethodNotAllowed,
    /// A method this server does not know (501).
    UnknownMethod,
    /// A GET or HEAD request that carries content (400). RFC 9110 section 9.3.1 lets a
    /// server reject it; the content is skipped when small enough.
    ContentNotAllowed,
    /// An asterisk-form or authority-form target, a scheme other than http(s), a
    /// fragment, or a byte that is not visible ASCII (400).
    InvalidTarget,
    /// A `%` not followed by two hex digits in the path (400).
    InvalidPercentEncoding,
    /// A path that decodes to a `..` segment, a NUL byte, or bytes that are not UTF-8
    /// (400).
    ForbiddenPath,
    /// The site has nothing at this path (404).
    NotFound,
    /// The request head did not complete within `Limits::head_timeout_ns` (408, close).
    Timeout,
}

impl Rejection {
    /// The status code sent for this rejection.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Malformed
            | Self::InvalidContentLength
            | Self::AmbiguousFraming
            | Self::MissingHost
            | Self::DuplicateHost
            | Self::InvalidHost
            | Self::ContentNotAllowed
            | Self::InvalidTarget
            | Self::InvalidPercentEncoding
            | Self::ForbiddenPath => StatusCode::BadRequest,
            Self::TooManyHeaders | Self::HeadTooLarge => StatusCode::RequestHeaderFieldsTooLarge,
            Self::RequestLineTooLong => StatusCode::UriTooLong,
            Self::UnsupportedVersion => StatusCode::HttpVersionNotSupported,
            Self::ContentTooLarge => StatusCode::ContentTooLarge,
            Self::MethodNotAllowed => StatusCode::MethodNotAllowed,
            Self::UnknownMethod => StatusCode::NotImplemented,
            Self::NotFound => StatusCode::NotFound,
            Self::Timeout => StatusCode::RequestTimeout,
        }
    }

    /// Whether the connection must close after this answer: the request's framing is
    /// unknown or the client is misbehaving, so the next request cannot be found safely.
    pub const fn closes(self) -> bool {
        matches!(
            self,
            Self::Malformed
                | Self::TooManyHeaders
                | Self::HeadTooLarge
                | Self::RequestLineTooLong
                | Self::UnsupportedVersion
                | Self::InvalidContentLength
                | Self::AmbiguousFraming
                | Self::ContentTooLarge
                | Self::Timeout
        )
    }

    /// The short text body of the error page.
    pub(crate) const fn body(self) -> &'static [u8] {
        match self {
            Self::Malformed => b"400 Bad Request: malformed request\n",
            Self::TooManyHeaders => b"431 Request Header Fields Too Large: too many fields\n",
            Self::HeadTooLarge => b"431 Request Header Fields Too Large\n",
            Self::RequestLineTooLong => b"414 URI Too Long\n",
            Self::UnsupportedVersion => b"505 HTTP Version Not Supported: use HTTP/1.1\n",
            Self::InvalidContentLength => b"400 Bad Request: invalid Content-Length\n",
            Self::AmbiguousFraming => b"400 Bad Request: ambiguous message framing\n",
            Self::ContentTooLarge => b"413 Content Too Large\n",
            Self::MissingHost => b"400 Bad Request: missing Host\n",
            Self::DuplicateHost => b"400 Bad Request: more than one Host\n",
            Self::InvalidHost => b"400 Bad Request: invalid Host\n",
            Self::MethodNotAllowed => b"405 Method Not Allowed: only GET and HEAD\n",
            Self::UnknownMethod => b"501 Not Implemented: unknown method\n",
            Self::ContentNotAllowed => b"400 Bad Request: GET and HEAD take no content\n",
            Self::InvalidTarget => b"400 Bad Request: invalid request target\n",
            Self::InvalidPercentEncoding => b"400 Bad Request: invalid percent-encoding\n",
            Self::ForbiddenPath => b"400 Bad Request: forbidden path\n",
            Self::NotFound => b"404 Not Found\n",
            Self::Timeout => b"408 Request Timeout\n",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Self::Malformed => "malformed request",
            Self::TooManyHeaders => "too many header fields",
            Self::HeadTooLarge => "request head too large",
            Self::RequestLineTooLong => "request line too long",
            Self::UnsupportedVersion => "unsupported HTTP version",
            Self::InvalidContentLength => "invalid Content-Length",
            Self::AmbiguousFraming => "ambiguous message framing",
            Self::ContentTooLarge => "content too large",
            Self::MissingHost => "missing Host",
            Self::DuplicateHost => "more than one Host",
            Self::InvalidHost => "invalid Host",
            Self::MethodNotAllowed => "method not allowed",
            Self::UnknownMethod => "unknown method",
            Self::ContentNotAllowed => "content on GET or HEAD",
            Self::InvalidTarget => "invalid request target",
            Self::InvalidPercentEncoding => "invalid percent-encoding",
            Self::ForbiddenPath => "forbidden path",
            Self::NotFound => "not found",
            Self::Timeout => "request head timed out",
        };
        write!(f, "{what} ({})", self.status())
    }
}

impl core::error::Error for Rejection {}
