//! xenstore messages (`docs/misc/xenstore.txt`): requests encoded, replies decoded.
//!
//! A message is a [`XsdSockmsg`] header followed by `len` payload bytes, at most
//! [`XENSTORE_PAYLOAD_MAX`]. Strings in payloads are NUL-terminated, except a written
//! value and a read reply, which are raw bytes.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::XsError;
use crate::abi::xenstore::{
    XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX, XsdSockmsg,
};

/// Bytes of a message header.
pub const HEADER_LEN: usize = 16;
/// Bytes of the largest message.
pub const MSG_MAX: usize = HEADER_LEN + XENSTORE_PAYLOAD_MAX;

/// The message types a guest sends or receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum MsgType {
    /// List a directory.
    Directory = 1,
    /// Read a value.
    Read = 2,
    /// Watch a path.
    Watch = 4,
    /// Stop watching.
    Unwatch = 5,
    /// Start a transaction.
    TransactionStart = 6,
    /// Commit or abort a transaction.
    TransactionEnd = 7,
    /// The home path of a domain.
    GetDomainPath = 10,
    /// Write a value.
    Write = 11,
    /// Create a directory.
    Mkdir = 12,
    /// Remove a node and its children.
    Rm = 13,
    /// A watch fired (unsolicited).
    WatchEvent = 15,
    /// A request failed; the payload names the errno.
    Error = 16,
}

impl MsgType {
    /// The type with wire value `raw`, if a guest knows it.
    pub fn from_raw(raw: u32) -> Option<MsgType> {
        use MsgType::*;
        Some(match raw {
            1 => Directory,
            2 => Read,
            4 => Watch,
            5 => Unwatch,
            6 => TransactionStart,
            7 => TransactionEnd,
            10 => GetDomainPath,
            11 => Write,
            12 => Mkdir,
            13 => Rm,
            15 => WatchEvent,
            16 => Error,
            _ => return None,
        })
    }

    /// Its name in `xs_wire.h`, without `XS_` and in lower case (`read`, `watch_event`).
    pub fn name(self) -> &'static str {
        use MsgType::*;
        match self {
            Directory => "directory",
            Read => "read",
            Watch => "watch",
            Unwatch => "unwatch",
            TransactionStart => "transaction_start",
            TransactionEnd => "transaction_end",
            GetDomainPath => "get_domain_path",
            Write => "write",
            Mkdir => "mkdir",
            Rm => "rm",
            WatchEvent => "watch_event",
            Error => "error",
        }
    }
}

/// The errno names xenstored puts in `XS_ERROR` replies (`xsd_errors` in xs_wire.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// `EINVAL`.
    Einval,
    /// `EACCES`.
    Eacces,
    /// `EEXIST`.
    Eexist,
    /// `EISDIR`.
    Eisdir,
    /// `ENOENT`.
    Enoent,
    /// `ENOMEM`.
    Enomem,
    /// `ENOSPC`.
    Enospc,
    /// `EIO`.
    Eio,
    /// `ENOTEMPTY`.
    Enotempty,
    /// `ENOSYS`.
    Enosys,
    /// `EROFS`.
    Erofs,
    /// `EBUSY`.
    Ebusy,
    /// `EAGAIN`: a transaction conflicted; run it again.
    Eagain,
    /// `EISCONN`.
    Eisconn,
    /// `E2BIG`.
    E2big,
    /// `EPERM`.
    Eperm,
}

const ERRNOS: [(Errno, &str); 16] = [
    (Errno::Einval, "EINVAL"),
    (Errno::Eacces, "EACCES"),
    (Errno::Eexist, "EEXIST"),
    (Errno::Eisdir, "EISDIR"),
    (Errno::Enoent, "ENOENT"),
    (Errno::Enomem, "ENOMEM"),
    (Errno::Enospc, "ENOSPC"),
    (Errno::Eio, "EIO"),
    (Errno::Enotempty, "ENOTEMPTY"),
    (Errno::Enosys, "ENOSYS"),
    (Errno::Erofs, "EROFS"),
    (Errno::Ebusy, "EBUSY"),
    (Errno::Eagain, "EAGAIN"),
    (Errno::Eisconn, "EISCONN"),
    (Errno::E2big, "E2BIG"),
    (Errno::Eperm, "EPERM"),
];

impl Errno {
    /// The errno called `name` (without the NUL).
    pub fn from_name(name: &[u8]) -> Option<Errno> {
        ERRNOS
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|&(e, _)| e)
    }

    /// Its name, as on the wire.
    pub fn name(self) -> &'static str {
        ERRNOS
            .iter()
            .find(|&&(e, _)| e == self)
            .map_or("E?", |&(_, n)| n)
    }
}

/// A request a guest sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Read the value at `path`.
    Read {
        /// Absolute or relative path.
        path: &'a str,
    },
    /// Write `value` at `path` (created with its parents if missing).
    Write {
        /// Absolute or relative path.
        path: &'a str,
        /// The value: raw bytes.
        value: &'a [u8],
    },
    /// Create the directory `path`.
    Mkdir {
        /// Absolute or relative path.
        path: &'a str,
    },
    /// Remove `path` and everything below it.
    Rm {
        /// Absolute or relative path.
        path: &'a str,
    },
    /// List the children of `path`.
    Directory {
        /// Absolute or relative path.
        path: &'a str,
    },
    /// Watch `path` (and below); events carry `token`. Fires once at once.
    Watch {
        /// Absolute or relative path, or a special `@` path.
        path: &'a str,
        /// The caller's tag for the events.
        token: &'a str,
    },
    /// Stop a watch set with the same path and token.
    Unwatch {
        /// As given to the watch.
        path: &'a str,
        /// As given to the watch.
        token: &'a str,
    },
    /// Start a transaction; the reply holds its id.
    TransactionStart,
    /// End the transaction given in the header: commit (`true`) or abort.
    TransactionEnd {
        /// Commit (`T`) or abort (`F`).
        commit: bool,
    },
    /// The home path of domain `domid`.
    GetDomainPath {
        /// The domain.
        domid: u16,
    },
}

/// Decimal digits of `v`, most significant first, in `buf`; returns how many.
fn decimal(mut v: u32, buf: &mut [u8; 10]) -> usize {
    let mut n = 0usize;
    let mut tmp = [0u8; 10];
    loop {
        if let Some(d) = tmp.get_mut(n) {
            *d = b'0'.wrapping_add((v % 10) as u8);
        }
        n = n.wrapping_add(1);
        v /= 10;
        if v == 0 || n >= tmp.len() {
            break;
        }
    }
    for (out, d) in buf.iter_mut().zip(tmp.iter().take(n).rev()) {
        *out = *d;
    }
    n
}

/// Checks a path: not empty, no NUL, within the length limit of its kind.
fn check_path(path: &str) -> Result<(), XsError> {
    let max = if path.starts_with('/') {
        XENSTORE_ABS_PATH_MAX
    } else {
        XENSTORE_REL_PATH_MAX
    };
    if path.is_empty() {
        Err(XsError::EmptyPath)
    } else if path.len() > max {
        Err(XsError::PathTooLong {
            len: path.len(),
            max,
        })
    } else if path.contains('\0') {
        Err(XsError::NulInArgument)
    } else {
        Ok(())
    }
}

impl Request<'_> {
    /// The message type of this request.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Request::Read { .. } => MsgType::Read,
            Request::Write { .. } => MsgType::Write,
            Request::Mkdir { .. } => MsgType::Mkdir,
            Request::Rm { .. } => MsgType::Rm,
            Request::Directory { .. } => MsgType::Directory,
            Request::Watch { .. } => MsgType::Watch,
            Request::Unwatch { .. } => MsgType::Unwatch,
            Request::TransactionStart => MsgType::TransactionStart,
            Request::TransactionEnd { .. } => MsgType::TransactionEnd,
            Request::GetDomainPath { .. } => MsgType::GetDomainPath,
        }
    }

    /// Writes header and payload into `out`; returns the message length.
    ///
    /// Fails without writing a byte of a bad request: an empty or over-long path, a NUL
    /// inside a path or token, a payload over [`XENSTORE_PAYLOAD_MAX`], or an `out` too
    /// small for the message.
    pub fn encode(&self, req_id: u32, tx_id: u32, out: &mut [u8]) -> Result<usize, XsError> {
        let mut digits = [0u8; 10];
        let empty: &[u8] = &[];
        // Up to three pieces, each followed by a NUL or not.
        let pieces: [(&[u8], bool); 3] = match *self {
            Request::Read { path }
            | Request::Mkdir { path }
            | Request::Rm { path }
            | Request::Directory { path } => {
                check_path(path)?;
                [(path.as_bytes(), true), (empty, false), (empty, false)]
            }
            Request::Write { path, value } => {
                check_path(path)?;
                [(path.as_bytes(), true), (value, false), (empty, false)]
            }
            Request::Watch { path, token } | Request::Unwatch { path, token } => {
                check_path(path)?;
                if token.contains('\0') {
                    return Err(XsError::NulInArgument);
                }
                [
                    (path.as_bytes(), true),
                    (token.as_bytes(), true),
                    (empty, false),
                ]
            }
            Request::TransactionStart => [(empty, true), (empty, false), (empty, false)],
            Request::TransactionEnd { commit } => {
                let flag: &[u8] = if commit { b"T" } else { b"F" };
                [(flag, true), (empty, false), (empty, false)]
            }
            Request::GetDomainPath { domid } => {
                let n = decimal(u32::from(domid), &mut digits);
                [
                    (digits.get(..n).unwrap_or(empty), true),
                    (empty, false),
                    (empty, false),
                ]
            }
        };
        let len = pieces.iter().fold(0usize, |acc, (bytes, nul)| {
            acc.saturating_add(bytes.len())
                .saturating_add(usize::from(*nul))
        });
        if len > XENSTORE_PAYLOAD_MAX {
            return Err(XsError::PayloadTooLong { len });
        }
        let total = HEADER_LEN.saturating_add(len);
        let Some(msg) = out.get_mut(..total) else {
            return Err(XsError::BufferTooSmall {
                need: total,
                have: out.len(),
            });
        };
        let header = XsdSockmsg {
            type_: self.msg_type() as u32,
            req_id,
            tx_id,
            // len <= 4096.
            len: u32::try_from(len).unwrap_or(u32::MAX),
        };
        let (head, mut rest) = msg.split_at_mut(HEADER_LEN);
        head.copy_from_slice(&header_bytes(&header));
        for (bytes, nul) in pieces {
            let (dst, after) = rest.split_at_mut(bytes.len());
            dst.copy_from_slice(bytes);
            rest = after;
            if nul {
                let (z, after) = rest.split_at_mut(1);
                z.fill(0);
                rest = after;
            }
        }
        Ok(total)
    }
}

/// The wire form of a header.
pub fn header_bytes(h: &XsdSockmsg) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    for (chunk, v) in out
        .chunks_exact_mut(4)
        .zip([h.type_, h.req_id, h.tx_id, h.len])
    {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// A header from its wire form.
pub fn parse_header(bytes: &[u8; HEADER_LEN]) -> XsdSockmsg {
    let mut words = bytes
        .chunks_exact(4)
        .map(|c| <[u8; 4]>::try_from(c).map_or(0, u32::from_le_bytes));
    let mut next = || words.next().unwrap_or(0);
    XsdSockmsg {
        type_: next(),
        req_id: next(),
        tx_id: next(),
        len: next(),
    }
}

/// A whole message received from xenstored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Its header.
    pub header: XsdSockmsg,
    /// Its payload (`header.len` bytes).
    pub payload: &'a [u8],
}

/// A fired watch: the path that changed and the token of the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchEvent<'a> {
    /// The path that changed (at or below the watched path).
    pub path: &'a str,
    /// The token the watch was set with.
    pub token: &'a str,
}

/// The first NUL-terminated string of `bytes` and what follows its NUL.
fn c_string(bytes: &[u8]) -> Result<(&str, &[u8]), XsError> {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(XsError::MissingNul)?;
    let (s, rest) = bytes.split_at(end);
    let s = core::str::from_utf8(s).map_err(|_| XsError::NotUtf8)?;
    Ok((s, rest.get(1..).unwrap_or(&[])))
}

impl<'a> Reply<'a> {
    /// The payload of a reply to a request of type `sent`, or the error it carries.
    pub fn result(&self, sent: MsgType) -> Result<&'a [u8], XsError> {
        match MsgType::from_raw(self.header.type_) {
            Some(MsgType::Error) => {
                let name = self.payload.split(|&b| b == 0).next().unwrap_or(&[]);
                Err(Errno::from_name(name).map_or_else(
                    || XsError::UnknownErrno {
                        len: self.payload.len(),
                    },
                    XsError::Xenstore,
                ))
            }
            Some(t) if t == sent => Ok(self.payload),
            _ => Err(XsError::UnexpectedType {
                sent,
                got: self.header.type_,
            }),
        }
    }

    /// An `OK` acknowledgement (write, mkdir, rm, watch, unwatch, transaction end).
    pub fn ok(&self, sent: MsgType) -> Result<(), XsError> {
        match self.result(sent)? {
            b"OK\0" | b"OK" => Ok(()),
            _ => Err(XsError::NotOk),
        }
    }

    /// The id in a `TRANSACTION_START` reply.
    pub fn transaction_id(&self) -> Result<u32, XsError> {
        let (digits, _) = c_string(self.result(MsgType::TransactionStart)?)?;
        let id: u32 = digits.parse().map_err(|_| XsError::BadNumber)?;
        if id == 0 {
            return Err(XsError::BadNumber);
        }
        Ok(id)
    }

    /// The names in a `DIRECTORY` reply.
    pub fn entries(&self) -> Result<impl Iterator<Item = &'a [u8]>, XsError> {
        let payload = self.result(MsgType::Directory)?;
        // "a\0b\0": the piece after the last NUL is empty and not a name.
        let body = payload.strip_suffix(b"\0").unwrap_or(payload);
        Ok(body.split(|&b| b == 0).filter(|name| !name.is_empty()))
    }

    /// The path and token of a `WATCH_EVENT`.
    pub fn watch_event(&self) -> Result<WatchEvent<'a>, XsError> {
        if MsgType::from_raw(self.header.type_) != Some(MsgType::WatchEvent) {
            return Err(XsError::UnexpectedType {
                sent: MsgType::Watch,
                got: self.header.type_,
            });
        }
        let (path, rest) = c_string(self.payload)?;
        let (token, _) = c_string(rest)?;
        Ok(WatchEvent { path, token })
    }
}
