//! Byte rings with free-running `u32` indices, as the PV console and xenstore use them.
//!
//! A ring of `N` bytes (a power of two) is shared with a peer; the producer advances `prod`,
//! the consumer `cons`, and slot `idx & (N - 1)` holds byte `idx`. The peer is not trusted:
//! indices that claim more than `N` bytes in flight are an [`Overrun`], never used to index.
//! The caller reads both indices, calls [`produce`] or [`consume`] (which copy and fence),
//! then publishes the returned index.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::shared::Shared;
use core::sync::atomic::{Ordering, fence};

/// Ring indices that claim more bytes than the ring holds (a corrupt or hostile peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrun {
    /// Consumer index read.
    pub cons: u32,
    /// Producer index read.
    pub prod: u32,
}

/// Bytes in flight between `cons` and `prod` in a ring of `N` bytes.
fn in_flight<const N: usize>(cons: u32, prod: u32) -> Result<u32, Overrun> {
    let used = prod.wrapping_sub(cons);
    if usize::try_from(used).map_or(true, |u| u > N) {
        return Err(Overrun { cons, prod });
    }
    Ok(used)
}

/// The slot of free-running index `idx` in a ring of `N` bytes.
fn slot<const N: usize>(idx: u32) -> usize {
    usize::try_from(idx).unwrap_or(0) & N.wrapping_sub(1)
}

/// Index `idx` advanced by `n` bytes (`n` is at most the ring size, so this wraps like
/// the index itself).
fn advance(idx: u32, n: usize) -> u32 {
    idx.wrapping_add(u32::try_from(n).unwrap_or(0))
}

/// Copies as much of `data` as fits into `ring` at producer index `prod`.
///
/// Returns the bytes copied and the producer index to publish next (after which the peer
/// is notified if any bytes were copied).
pub fn produce<const N: usize>(
    ring: Shared<[u8; N]>,
    cons: u32,
    prod: u32,
    data: &[u8],
) -> Result<(usize, u32), Overrun> {
    let used = usize::try_from(in_flight::<N>(cons, prod)?).unwrap_or(N);
    // mb: the consumer index must be read before we overwrite the slots it freed.
    fence(Ordering::SeqCst);
    let n = data.len().min(N.saturating_sub(used));
    for (k, &byte) in data.iter().take(n).enumerate() {
        if let Some(cell) = ring.get(slot::<N>(advance(prod, k))) {
            cell.write(byte);
        }
    }
    // wmb: the bytes must be visible before the producer index that publishes them.
    fence(Ordering::Release);
    Ok((n, advance(prod, n)))
}

/// Copies up to `buf.len()` pending bytes out of `ring` from consumer index `cons`.
///
/// Returns the bytes copied and the consumer index to publish next.
pub fn consume<const N: usize>(
    ring: Shared<[u8; N]>,
    cons: u32,
    prod: u32,
    buf: &mut [u8],
) -> Result<(usize, u32), Overrun> {
    let avail = usize::try_from(in_flight::<N>(cons, prod)?).unwrap_or(0);
    // rmb: the bytes must be read after the producer index that published them.
    fence(Ordering::Acquire);
    let n = buf.len().min(avail);
    for (k, out) in buf.iter_mut().take(n).enumerate() {
        *out = ring
            .get(slot::<N>(advance(cons, k)))
            .map_or(0, Shared::read);
    }
    // mb: our reads of the slots complete before the peer may reuse them.
    fence(Ordering::SeqCst);
    Ok((n, advance(cons, n)))
}

/// Bytes the consumer has not taken yet, or an [`Overrun`].
pub fn pending<const N: usize>(cons: u32, prod: u32) -> Result<usize, Overrun> {
    in_flight::<N>(cons, prod).map(|u| usize::try_from(u).unwrap_or(N))
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

    fn ring8() -> (Box<[u8; 8]>, Shared<[u8; 8]>) {
        let mut b = Box::new([0u8; 8]);
        // SAFETY: the box lives as long as the test and is reached only through the
        // returned handle until the test reads it back.
        let s = unsafe { Shared::new(&raw mut *b) };
        (b, s)
    }

    #[test]
    fn produce_wraps_slots_and_indices_at_u32_max() {
        let (mem, r) = ring8();
        let start = u32::MAX - 2;
        let (n, prod) = produce(r, start, start, b"abcdefghij").unwrap();
        assert_eq!((n, prod), (8, start.wrapping_add(8)));
        // Index u32::MAX - 2 is slot 5: the bytes wrap to the front.
        assert_eq!(&mem[..], b"defghabc");
        assert_eq!(produce(r, start, prod, b"x").unwrap(), (0, prod));
    }

    #[test]
    fn consume_takes_what_was_produced_in_order() {
        let (_mem, r) = ring8();
        let (_, prod) = produce(r, 6, 6, b"hello").unwrap();
        let mut buf = [0u8; 3];
        let (n, cons) = consume(r, 6, prod, &mut buf).unwrap();
        assert_eq!((n, &buf), (3, b"hel"));
        let mut rest = [0u8; 8];
        let (n, cons) = consume(r, cons, prod, &mut rest).unwrap();
        assert_eq!((n, &rest[..n], cons), (2, &b"lo"[..], prod));
        assert_eq!(pending::<8>(cons, prod), Ok(0));
    }

    #[test]
    fn indices_claiming_more_than_the_ring_are_an_overrun() {
        let (_mem, r) = ring8();
        let bad = Overrun { cons: 0, prod: 9 };
        assert_eq!(produce(r, 0, 9, b"x"), Err(bad));
        assert_eq!(consume(r, 0, 9, &mut [0u8; 4]), Err(bad));
        // A producer behind the consumer is a huge wrapped count, not a negative one.
        assert_eq!(pending::<8>(5, 4), Err(Overrun { cons: 5, prod: 4 }));
        assert_eq!(pending::<8>(u32::MAX, 7), Ok(8));
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
