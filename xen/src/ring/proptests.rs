//! Property tests of the byte rings: random interleavings of produce and consume against
//! a `VecDeque` model, and hostile index pairs (the producer far ahead of the consumer,
//! behind it, both near the `u32` wrap).
//!
//! The ring lies between two guard areas, and everything is read through `Shared`
//! snapshots, so a write outside the ring, or anywhere a call had no business writing,
//! shows as a changed byte. Slots are computed here as `idx % N`, apart from the code's
//! `idx & (N - 1)`.

use super::*;
use proptest::prelude::*;
use std::boxed::Box;
use std::collections::VecDeque;
use std::vec;
use std::vec::Vec;

/// Bytes of guard area on each side of the ring.
const GUARD: usize = 64;
/// What the guard areas hold.
const GUARD_BYTE: u8 = 0xa5;
/// What a consumer's buffer holds before a call, to see which bytes it wrote.
const UNTOUCHED: u8 = 0x5a;

/// A ring of `N` bytes with a guard area on each side.
#[repr(C)]
struct Guarded<const N: usize> {
    before: [u8; GUARD],
    ring: [u8; N],
    after: [u8; GUARD],
}

/// The memory a test works on: a heap allocation reached only through `Shared` handles
/// (no reference to it exists) and freed when the `Mem` is dropped.
struct Mem<const N: usize> {
    raw: *mut Guarded<N>,
    all: Shared<Guarded<N>>,
}

impl<const N: usize> Mem<N> {
    fn new() -> Self {
        let raw = Box::into_raw(Box::new(Guarded {
            before: [GUARD_BYTE; GUARD],
            ring: [0; N],
            after: [GUARD_BYTE; GUARD],
        }));
        // SAFETY: `raw` is a live, aligned allocation from `Box::into_raw`, freed only in
        // `drop`, after the last use of `all` (handles do not outlive the `Mem` in these
        // tests); no reference to it is ever made.
        let all = unsafe { Shared::new(raw) };
        Mem { raw, all }
    }

    fn ring(&self) -> Shared<[u8; N]> {
        crate::shared_field!(self.all, Guarded<N>, ring)
    }

    /// Every byte: guard, ring, guard.
    fn snapshot(&self) -> Vec<u8> {
        let mut out = vec![0u8; GUARD];
        crate::shared_field!(self.all, Guarded<N>, before).read_bytes(0, &mut out);
        let mut ring = vec![0u8; N];
        self.ring().read_bytes(0, &mut ring);
        let mut after = vec![0u8; GUARD];
        crate::shared_field!(self.all, Guarded<N>, after).read_bytes(0, &mut after);
        out.extend(ring);
        out.extend(after);
        out
    }
}

impl<const N: usize> Drop for Mem<N> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `Box::into_raw` in `new` and is freed only here.
        drop(unsafe { Box::from_raw(self.raw) });
    }
}

/// The byte of the snapshot that holds free-running index `idx`.
fn at<const N: usize>(idx: u32) -> usize {
    GUARD + (idx as usize) % N
}

fn start_index() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        (u32::MAX - 3000)..=u32::MAX,
        (i32::MAX as u32 - 100)..=(i32::MAX as u32 + 100),
        any::<u32>(),
    ]
}

/// A consumer/producer index pair as a peer might leave it: sane, just over the ring
/// size, the producer behind the consumer, or anything.
fn index_pair<const N: usize>() -> impl Strategy<Value = (u32, u32)> {
    let n = N as u32;
    let delta = prop_oneof![
        4 => 0..=n,
        1 => (n + 1)..=(n + 8),
        1 => (u32::MAX - 8)..=u32::MAX,
        2 => any::<u32>(),
    ];
    (start_index(), delta).prop_map(|(cons, d)| (cons, cons.wrapping_add(d)))
}

/// `len` bytes starting at `seed` and counting up: cheap to generate, and each byte of a
/// run differs from its neighbours, so a byte out of place shows.
fn data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max, any::<u8>())
        .prop_map(|(len, seed)| (0..len).map(|k| seed.wrapping_add(k as u8)).collect())
}

#[derive(Debug, Clone)]
enum Step {
    Produce(Vec<u8>),
    Consume(usize),
}

fn honest_steps<const N: usize>() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        data(N + N / 2).prop_map(Step::Produce),
        (0..=N + N / 2).prop_map(Step::Consume),
    ];
    proptest::collection::vec(step, 0..64)
}

/// Producer and consumer take turns as the steps say; every byte accepted comes out
/// once, in order, and the counts are what room and backlog allow.
fn honest<const N: usize>(start: u32, steps: &[Step]) -> Result<(), TestCaseError> {
    let mem = Mem::<N>::new();
    let r = mem.ring();
    let (mut cons, mut prod) = (start, start);
    let mut model: VecDeque<u8> = VecDeque::new();
    let (mut written, mut read) = (0u64, 0u64);
    for step in steps {
        match step {
            Step::Produce(data) => {
                let (n, next) = produce(r, cons, prod, data).map_err(|e| {
                    TestCaseError::fail(std::format!("sane indices refused: {e:?}"))
                })?;
                prop_assert_eq!(n, data.len().min(N - model.len()));
                prop_assert_eq!(next, prod.wrapping_add(n as u32));
                model.extend(&data[..n]);
                prod = next;
                written += n as u64;
            }
            Step::Consume(len) => {
                let mut buf = vec![UNTOUCHED; *len];
                let (n, next) = consume(r, cons, prod, &mut buf).map_err(|e| {
                    TestCaseError::fail(std::format!("sane indices refused: {e:?}"))
                })?;
                prop_assert_eq!(n, (*len).min(model.len()));
                prop_assert_eq!(next, cons.wrapping_add(n as u32));
                let expected: Vec<u8> = model.drain(..n).collect();
                prop_assert_eq!(&buf[..n], &expected[..]);
                prop_assert!(buf[n..].iter().all(|&b| b == UNTOUCHED));
                cons = next;
                read += n as u64;
            }
        }
        prop_assert_eq!(pending::<N>(cons, prod), Ok(model.len()));
    }
    prop_assert_eq!(written - read, model.len() as u64);
    prop_assert_eq!(prod, start.wrapping_add(written as u32));
    let snap = mem.snapshot();
    prop_assert!(snap[..GUARD].iter().all(|&b| b == GUARD_BYTE));
    prop_assert!(snap[GUARD + N..].iter().all(|&b| b == GUARD_BYTE));
    Ok(())
}

#[derive(Debug, Clone)]
enum Hostile {
    Produce {
        cons: u32,
        prod: u32,
        data: Vec<u8>,
    },
    Consume {
        cons: u32,
        prod: u32,
        len: usize,
    },
    /// The peer scribbles over the whole ring (not a call under test).
    Fill(u8),
}

fn hostile_steps<const N: usize>() -> impl Strategy<Value = Vec<Hostile>> {
    let step = prop_oneof![
        3 => (index_pair::<N>(), data(N + 4))
            .prop_map(|((cons, prod), data)| Hostile::Produce { cons, prod, data }),
        3 => (index_pair::<N>(), 0..=N + 4)
            .prop_map(|((cons, prod), len)| Hostile::Consume { cons, prod, len }),
        1 => any::<u8>().prop_map(Hostile::Fill),
    ];
    proptest::collection::vec(step, 0..48)
}

/// Each call gets whatever indices the peer left: more than `N` bytes in flight is an
/// `Overrun` naming them with nothing touched; otherwise only the slots the indices name
/// are written or read, and the returned index moves by the count.
fn hostile<const N: usize>(steps: &[Hostile]) -> Result<(), TestCaseError> {
    let mem = Mem::<N>::new();
    let r = mem.ring();
    for step in steps {
        let before = mem.snapshot();
        match step {
            Hostile::Fill(seed) => {
                let bytes: Vec<u8> = (0..N).map(|k| seed ^ (k as u8).wrapping_mul(31)).collect();
                prop_assert!(r.write_bytes(0, &bytes));
            }
            Hostile::Produce { cons, prod, data } => {
                let used = prod.wrapping_sub(*cons) as usize;
                let got = produce(r, *cons, *prod, data);
                let after = mem.snapshot();
                if used > N {
                    prop_assert_eq!(
                        got,
                        Err(Overrun {
                            cons: *cons,
                            prod: *prod
                        })
                    );
                    prop_assert_eq!(after, before);
                    continue;
                }
                let (n, next) = got.map_err(|e| {
                    TestCaseError::fail(std::format!("sane indices refused: {e:?}"))
                })?;
                prop_assert_eq!(n, data.len().min(N - used));
                prop_assert_eq!(next, prod.wrapping_add(n as u32));
                let mut expected = before;
                for (k, &b) in data[..n].iter().enumerate() {
                    expected[at::<N>(prod.wrapping_add(k as u32))] = b;
                }
                prop_assert_eq!(after, expected);
            }
            Hostile::Consume { cons, prod, len } => {
                let used = prod.wrapping_sub(*cons) as usize;
                let mut buf = vec![UNTOUCHED; *len];
                let got = consume(r, *cons, *prod, &mut buf);
                prop_assert_eq!(mem.snapshot(), before.clone(), "a consumer wrote");
                if used > N {
                    prop_assert_eq!(
                        got,
                        Err(Overrun {
                            cons: *cons,
                            prod: *prod
                        })
                    );
                    prop_assert!(buf.iter().all(|&b| b == UNTOUCHED));
                    continue;
                }
                let (n, next) = got.map_err(|e| {
                    TestCaseError::fail(std::format!("sane indices refused: {e:?}"))
                })?;
                prop_assert_eq!(n, (*len).min(used));
                prop_assert_eq!(next, cons.wrapping_add(n as u32));
                for (k, &b) in buf[..n].iter().enumerate() {
                    prop_assert_eq!(b, before[at::<N>(cons.wrapping_add(k as u32))]);
                }
                prop_assert!(buf[n..].iter().all(|&b| b == UNTOUCHED));
            }
        }
    }
    Ok(())
}

// A ring of 8 bytes fills and wraps every few steps; the 1024-byte ring (xenstore's, the
// console's input) is the real size, at fewer cases since each step moves more bytes.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn honest_turns_deliver_every_byte_once_in_order_8(
        start in start_index(),
        steps in honest_steps::<8>(),
    ) {
        honest::<8>(start, &steps)?;
    }

    #[test]
    fn hostile_indices_are_refused_or_touch_only_their_slots_8(
        steps in hostile_steps::<8>(),
    ) {
        hostile::<8>(&steps)?;
    }

    #[test]
    fn pending_is_the_wrapped_distance_or_an_overrun(
        (cons, prod) in index_pair::<1024>(),
    ) {
        let d = prod.wrapping_sub(cons) as usize;
        let want = if d <= 1024 { Ok(d) } else { Err(Overrun { cons, prod }) };
        prop_assert_eq!(pending::<1024>(cons, prod), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn honest_turns_deliver_every_byte_once_in_order_1024(
        start in start_index(),
        steps in honest_steps::<1024>(),
    ) {
        honest::<1024>(start, &steps)?;
    }

    #[test]
    fn hostile_indices_are_refused_or_touch_only_their_slots_1024(
        steps in hostile_steps::<1024>(),
    ) {
        hostile::<1024>(&steps)?;
    }
}
