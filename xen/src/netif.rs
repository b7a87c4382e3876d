//! The frontend's side of a shared request/response ring (`io/ring.h`), index logic only.
//!
//! The frontend produces requests (`req_prod`) and consumes responses (`rsp_cons`); the
//! backend the reverse. Indices are free-running `u32`s and slot `i & (N - 1)`. A backend
//! that claims more responses than there are outstanding requests is not believed.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::abi::netif::Sring;
use crate::shared::Shared;
use crate::shared_field;
use core::sync::atomic::{Ordering, fence};

/// Ring indices a backend could not have produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadResponses {
    /// `rsp_prod` as read.
    pub rsp_prod: u32,
    /// Our response consumer index.
    pub rsp_cons: u32,
    /// Requests produced so far.
    pub req_prod: u32,
}

/// The frontend's private indices of a ring of `N` slots (a power of two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontRing<const N: usize> {
    /// Requests made, published or not.
    pub req_prod_pvt: u32,
    /// Responses consumed.
    pub rsp_cons: u32,
}

impl<const N: usize> FrontRing<N> {
    /// A fresh ring (both pages' indices at 0).
    pub const fn new() -> Self {
        FrontRing {
            req_prod_pvt: 0,
            rsp_cons: 0,
        }
    }

    /// Requests that may be made before the ring is full.
    pub fn free_requests(&self) -> usize {
        let used = usize::try_from(self.req_prod_pvt.wrapping_sub(self.rsp_cons)).unwrap_or(N);
        N.saturating_sub(used)
    }

    /// The slot for one more request, or `None` when the ring is full.
    pub fn next_request(&mut self) -> Option<usize> {
        if self.free_requests() == 0 {
            return None;
        }
        let slot = usize::try_from(self.req_prod_pvt).unwrap_or(0) & N.wrapping_sub(1);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Some(slot)
    }

    /// Responses ready given the backend's `rsp_prod`, or an error if it claims more than
    /// the requests outstanding.
    pub fn responses(&self, rsp_prod: u32) -> Result<u32, BadResponses> {
        let ready = rsp_prod.wrapping_sub(self.rsp_cons);
        let outstanding = self.req_prod_pvt.wrapping_sub(self.rsp_cons);
        if ready > outstanding {
            return Err(BadResponses {
                rsp_prod,
                rsp_cons: self.rsp_cons,
                req_prod: self.req_prod_pvt,
            });
        }
        Ok(ready)
    }

    /// The slot of the next response (call only while [`responses`](Self::responses) > 0).
    pub fn next_response(&mut self) -> usize {
        let slot = usize::try_from(self.rsp_cons).unwrap_or(0) & N.wrapping_sub(1);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        slot
    }
}

impl<const N: usize> FrontRing<N> {
    /// Publishes the requests made so far as `sring.req_prod`; true when the backend asked
    /// to be notified of them (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY).
    pub fn push_requests<S>(&self, sring: Shared<Sring<S, N>>) -> bool {
        let prod = shared_field!(sring, Sring<S, N>, req_prod);
        let old = prod.read();
        // wmb: the requests before the index that publishes them.
        fence(Ordering::Release);
        prod.write(self.req_prod_pvt);
        // mb: publish before reading where the backend wants its event.
        fence(Ordering::SeqCst);
        let event = shared_field!(sring, Sring<S, N>, req_event).read();
        must_notify(old, self.req_prod_pvt, event)
    }

    /// The backend's `rsp_prod`, read before the responses it publishes.
    pub fn rsp_prod<S>(sring: Shared<Sring<S, N>>) -> u32 {
        let prod = shared_field!(sring, Sring<S, N>, rsp_prod).read();
        // rmb: the responses after the index that published them.
        fence(Ordering::Acquire);
        prod
    }

    /// With every response up to `seen` consumed: asks for an event at the next one and
    /// returns true if more arrived meanwhile (RING_FINAL_CHECK_FOR_RESPONSES).
    pub fn final_check<S>(&self, sring: Shared<Sring<S, N>>, seen: u32) -> bool {
        shared_field!(sring, Sring<S, N>, rsp_event).write(self.rsp_cons.wrapping_add(1));
        // mb: ask before looking again, or a response in between would go unnoticed.
        fence(Ordering::SeqCst);
        Self::rsp_prod(sring) != seen
    }
}

/// After publishing `new` as `req_prod` (it was `old`): must the backend be notified?
/// Yes when its `req_event` lies in `(old, new]` (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY).
pub fn must_notify(old: u32, new: u32, req_event: u32) -> bool {
    new.wrapping_sub(req_event) < new.wrapping_sub(old)
}

/// Parses a MAC address as the toolstack writes it (`00:16:3e:01:02:03`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim_end_matches('\0').split(':');
    for byte in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
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
    fn requests_fill_the_ring_and_wrap_at_u32_max() {
        let mut r = FrontRing::<4> {
            req_prod_pvt: u32::MAX - 1,
            rsp_cons: u32::MAX - 1,
        };
        let slots: std::vec::Vec<_> = (0..4).map(|_| r.next_request().unwrap()).collect();
        assert_eq!(slots, [2, 3, 0, 1]);
        assert_eq!(r.next_request(), None, "full");
        assert_eq!(r.responses(1), Ok(3));
        assert_eq!(r.next_response(), 2);
        assert_eq!(r.free_requests(), 1);
    }

    #[test]
    fn more_responses_than_requests_are_refused() {
        let mut r = FrontRing::<8>::new();
        r.next_request();
        r.next_request();
        assert_eq!(r.responses(2), Ok(2));
        assert_eq!(
            r.responses(3),
            Err(BadResponses {
                rsp_prod: 3,
                rsp_cons: 0,
                req_prod: 2
            })
        );
        assert!(
            r.responses(u32::MAX).is_err(),
            "behind us is not a huge count"
        );
    }

    #[test]
    fn pushing_publishes_and_notifies_only_when_asked() {
        let mut page = std::boxed::Box::new(Sring::<u64, 4> {
            req_prod: 0,
            req_event: 1,
            rsp_prod: 0,
            rsp_event: 1,
            pad: [0; 48],
            ring: [0; 4],
        });
        // SAFETY: the box outlives the handle; test and ring take turns.
        let s = unsafe { Shared::new(&raw mut *page) };
        let mut r = FrontRing::<4>::new();
        r.next_request();
        assert!(r.push_requests(s), "the backend waits for request 1");
        assert_eq!(page.req_prod, 1);
        page.req_event = 5;
        r.next_request();
        assert!(!r.push_requests(s), "the backend asked for request 5 only");
        page.rsp_prod = 2;
        assert_eq!(FrontRing::<4>::rsp_prod(s), 2);
        r.next_response();
        r.next_response();
        assert!(!r.final_check(s, 2));
        assert_eq!(page.rsp_event, 3, "an event at the next response");
        page.rsp_prod = 3;
        assert!(r.final_check(s, 2), "one arrived meanwhile");
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("00:16:3e:0a:FF:02"),
            Some([0, 0x16, 0x3e, 0x0a, 0xff, 0x02])
        );
        for bad in [
            "",
            "00:16:3e:0a:ff",
            "00:16:3e:0a:ff:02:03",
            "0:16:3e:0a:ff:02",
            "zz:16:3e:0a:ff:02",
            "+1:16:3e:0a:ff:02",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn notify_only_when_the_backend_asked_within_the_new_requests() {
        assert!(must_notify(0, 1, 1));
        assert!(must_notify(0, 5, 3));
        assert!(!must_notify(0, 5, 6), "backend wants to hear later");
        assert!(!must_notify(5, 8, 5), "already passed before this push");
        assert!(must_notify(u32::MAX, 2, 0), "across the wrap");
    }

    use proptest::prelude::*;
    use std::format;
    use std::string::String;

    /// The MAC as the toolstack writes it, each digit in the case `upper` says.
    fn written(mac: [u8; 6], upper: &[bool]) -> String {
        let text = mac.map(|b| format!("{b:02x}")).join(":");
        text.chars()
            .zip(upper.iter().cycle())
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_mac_written_in_any_case_reads_back(
            mac in any::<[u8; 6]>(),
            upper in proptest::collection::vec(any::<bool>(), 1..17),
            nuls in 0usize..3,
        ) {
            let text = format!("{}{}", written(mac, &upper), "\0".repeat(nuls));
            prop_assert_eq!(parse_mac(&text), Some(mac));
        }

        #[test]
        fn anything_else_is_refused(
            text in prop_oneof![
                "[0-9a-fA-F:]{0,20}",
                "[0-9a-fA-FxX:+ -]{0,20}",
                any::<String>(),
                // A MAC with one character replaced, inserted or removed.
                (any::<[u8; 6]>(), any::<prop::sample::Index>(), 0u8..3, any::<char>())
                    .prop_map(|(mac, at, kind, c)| {
                        let mut chars: std::vec::Vec<char> = written(mac, &[false]).chars().collect();
                        let i = at.index(chars.len());
                        match kind {
                            0 => chars[i] = c,
                            1 => chars.insert(i, c),
                            _ => {
                                chars.remove(i);
                            }
                        }
                        chars.into_iter().collect()
                    }),
            ],
        ) {
            // Accepted only if it is exactly six two-digit hex bytes (and trailing NULs).
            match parse_mac(&text) {
                Some(mac) => {
                    let bare = text.trim_end_matches('\0');
                    prop_assert!(bare.eq_ignore_ascii_case(&written(mac, &[false])), "{:?}", text);
                }
                None => {
                    let bare = text.trim_end_matches('\0');
                    let parts: std::vec::Vec<&str> = bare.split(':').collect();
                    let well_formed = parts.len() == 6
                        && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
                    prop_assert!(!well_formed, "refused {:?}", text);
                }
            }
        }
    }
}
