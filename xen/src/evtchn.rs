//! 2-level event channels: which ports are pending, in what order.
//!
//! Xen sets a port's bit in `shared_info.evtchn_pending`, then the port's word bit in
//! `vcpu_info.evtchn_pending_sel`, then `evtchn_upcall_pending`. The guest takes the
//! selector with an atomic exchange and, for each selected word, handles the ports that are
//! pending and not masked (Mini-OS `do_hypervisor_callback`, Linux `evtchn_2l_handle_events`).
//! The scan itself is pure: the caller supplies the words.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use crate::abi::xen::{EVTCHN_WORDS, Port};

/// Bits per selector word.
pub const BITS_PER_WORD: u32 = 64;

/// The word index and bit of a port, or `None` for a port beyond the 2-level ABI.
pub fn port_position(port: Port) -> Option<(usize, u32)> {
    if port.0 >= EVTCHN_2L_NR_CHANNELS {
        return None;
    }
    let word = usize::try_from(port.0 / BITS_PER_WORD).ok()?;
    Some((word, port.0 % BITS_PER_WORD))
}

/// Calls `handle` for every port that is pending and unmasked in the words `sel` selects.
///
/// `take_word(i)` must atomically return the pending-and-unmasked bits of word `i` and
/// clear the pending bits it returns (so a port raised again while it is handled is seen
/// again). Ports are handled in increasing order.
pub fn scan(sel: u64, mut take_word: impl FnMut(usize) -> u64, mut handle: impl FnMut(Port)) {
    let mut words = sel;
    while words != 0 {
        let i = words.trailing_zeros();
        words &= words.wrapping_sub(1);
        let Ok(index) = usize::try_from(i) else {
            continue;
        };
        if index >= EVTCHN_WORDS {
            continue;
        }
        let mut bits = take_word(index);
        while bits != 0 {
            let b = bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
            // i < 64 and b < 64: the port is below 4096.
            handle(Port(i.wrapping_mul(BITS_PER_WORD).wrapping_add(b)));
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
    use std::vec::Vec;

    fn run(sel: u64, pending: &mut [u64; 64], mask: &[u64; 64]) -> Vec<u32> {
        let mut out = Vec::new();
        scan(
            sel,
            |i| {
                let active = pending[i] & !mask[i];
                pending[i] &= !active;
                active
            },
            |p| out.push(p.0),
        );
        out
    }

    #[test]
    fn ports_map_to_word_and_bit() {
        assert_eq!(port_position(Port(0)), Some((0, 0)));
        assert_eq!(port_position(Port(65)), Some((1, 1)));
        assert_eq!(port_position(Port(4095)), Some((63, 63)));
        assert_eq!(port_position(Port(4096)), None);
    }

    #[test]
    fn pending_unmasked_ports_are_handled_in_order_and_cleared() {
        let mut pending = [0u64; 64];
        let mut mask = [0u64; 64];
        pending[0] = 0b1010;
        pending[2] = 1 << 63;
        pending[63] = 1 << 63;
        mask[0] = 0b1000;
        let seen = run(1 | 1 << 2 | 1 << 63, &mut pending, &mask);
        assert_eq!(seen, [1, 191, 4095]);
        assert_eq!(pending[0], 0b1000, "a masked port stays pending");
        assert_eq!(pending[2], 0);
    }

    #[test]
    fn words_not_in_the_selector_are_not_scanned() {
        let mut pending = [0u64; 64];
        pending[5] = 1;
        assert!(run(1 << 4, &mut pending, &[0; 64]).is_empty());
        assert_eq!(pending[5], 1);
    }
}
