//! The PV console ring protocol (io/console.h), guest side.
//!
//! We produce into `out` and xenconsoled consumes; it produces into `in` and we consume.
//! Indices are free-running `u32`s; a slot is `idx & (size - 1)`. The backend is not
//! trusted: indices that claim more bytes than the ring holds are reported as
//! [`ConsoleError::BadIndices`], never used to index.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::abi::console::{XENCONS_IN_SIZE, XENCONS_OUT_SIZE, XenconsInterface};
use crate::ring::{self, Overrun};
use crate::shared::Shared;
use crate::shared_field;
use core::fmt;

/// A console ring the backend has corrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleError {
    /// `prod - cons` exceeds the ring size.
    BadIndices {
        /// Which ring (`"out"` or `"in"`).
        ring: &'static str,
        /// Consumer index read.
        cons: u32,
        /// Producer index read.
        prod: u32,
    },
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::BadIndices { ring, cons, prod } => {
                write!(
                    f,
                    "console {ring} ring indices out of range: cons {cons}, prod {prod}"
                )
            }
        }
    }
}

impl core::error::Error for ConsoleError {}

/// The guest end of a console ring page.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleRing {
    page: Shared<XenconsInterface>,
}

impl ConsoleRing {
    /// The ring in `page`.
    pub fn new(page: Shared<XenconsInterface>) -> Self {
        ConsoleRing { page }
    }

    /// Copies as much of `data` as fits into the output ring and publishes it.
    ///
    /// Returns the number of bytes written (0 when the ring is full). The caller notifies
    /// the console event channel when it is not 0.
    pub fn write(&self, data: &[u8]) -> Result<usize, ConsoleError> {
        let cons = shared_field!(self.page, XenconsInterface, out_cons).read();
        let prod = shared_field!(self.page, XenconsInterface, out_prod).read();
        let out = shared_field!(self.page, XenconsInterface, out);
        let (written, prod) = ring::produce(out, cons, prod, data).map_err(bad("out"))?;
        shared_field!(self.page, XenconsInterface, out_prod).write(prod);
        Ok(written)
    }

    /// True when the backend has consumed everything we wrote.
    pub fn drained(&self) -> Result<bool, ConsoleError> {
        let cons = shared_field!(self.page, XenconsInterface, out_cons).read();
        let prod = shared_field!(self.page, XenconsInterface, out_prod).read();
        let left = ring::pending::<XENCONS_OUT_SIZE>(cons, prod).map_err(bad("out"))?;
        Ok(left == 0)
    }

    /// Copies pending input into `buf`; returns the number of bytes read.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, ConsoleError> {
        let cons = shared_field!(self.page, XenconsInterface, in_cons).read();
        let prod = shared_field!(self.page, XenconsInterface, in_prod).read();
        let input = shared_field!(self.page, XenconsInterface, in_);
        let (n, cons) = ring::consume(input, cons, prod, buf).map_err(bad("in"))?;
        shared_field!(self.page, XenconsInterface, in_cons).write(cons);
        Ok(n)
    }
}

/// Names the ring of an [`Overrun`].
fn bad(ring: &'static str) -> impl Fn(Overrun) -> ConsoleError {
    move |Overrun { cons, prod }| ConsoleError::BadIndices { ring, cons, prod }
}

impl XenconsInterface {
    /// An all-zero page (a fresh ring), for tests and fakes.
    pub const fn zeroed() -> Self {
        XenconsInterface {
            in_: [0; XENCONS_IN_SIZE],
            out: [0; XENCONS_OUT_SIZE],
            in_cons: 0,
            in_prod: 0,
            out_cons: 0,
            out_prod: 0,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;
    use std::boxed::Box;

    fn ring() -> (Box<XenconsInterface>, ConsoleRing) {
        let mut page = Box::new(XenconsInterface::zeroed());
        // SAFETY: the box lives as long as the test and is reached only through the ring
        // until the test reads it back at the end.
        let shared = unsafe { Shared::new(&raw mut *page) };
        (page, ConsoleRing::new(shared))
    }

    #[test]
    fn write_publishes_bytes_and_producer_index() {
        let (page, r) = ring();
        assert_eq!(r.write(b"hello\n"), Ok(6));
        assert_eq!(&page.out[..6], b"hello\n");
        assert_eq!(page.out_prod, 6);
        assert_eq!(r.drained(), Ok(false));
    }

    #[test]
    fn write_stops_when_full_and_wraps_at_u32_max() {
        let (mut page, _) = ring();
        page.out_cons = u32::MAX - 2;
        page.out_prod = u32::MAX - 2;
        // SAFETY: as in `ring()`.
        let r = ConsoleRing::new(unsafe { Shared::new(&raw mut *page) });
        let data = [b'x'; XENCONS_OUT_SIZE + 10];
        assert_eq!(r.write(&data), Ok(XENCONS_OUT_SIZE));
        assert_eq!(r.write(b"more"), Ok(0), "a full ring takes nothing");
        assert_eq!(
            page.out_prod,
            (u32::MAX - 2).wrapping_add(XENCONS_OUT_SIZE as u32)
        );
    }

    #[test]
    fn hostile_indices_are_an_error_not_a_panic() {
        let (mut page, _) = ring();
        page.out_cons = 0;
        page.out_prod = 5000;
        page.in_cons = 10;
        page.in_prod = 3;
        // SAFETY: as in `ring()`.
        let r = ConsoleRing::new(unsafe { Shared::new(&raw mut *page) });
        assert_eq!(
            r.write(b"x"),
            Err(ConsoleError::BadIndices {
                ring: "out",
                cons: 0,
                prod: 5000
            })
        );
        assert!(r.drained().is_err());
        let mut buf = [0u8; 8];
        assert!(r.read(&mut buf).is_err());
    }

    #[test]
    fn read_consumes_input() {
        let (mut page, _) = ring();
        page.in_[1023] = b'a';
        page.in_[0] = b'b';
        page.in_cons = 1023;
        page.in_prod = 1025;
        // SAFETY: as in `ring()`.
        let r = ConsoleRing::new(unsafe { Shared::new(&raw mut *page) });
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(page.in_cons, 1025);
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "test code: a panic is a failed test"
)]
mod proptests;
