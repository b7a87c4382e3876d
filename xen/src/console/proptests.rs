//! Property tests of the console ring: the guest's writes, reads and drain checks
//! interleaved at random with a modelled xenconsoled that takes output, gives input and,
//! in the hostile runs, writes any index it likes (its own or ours).
//!
//! Every guest call is checked against a snapshot of the whole page: bad indices are a
//! `BadIndices` naming them with nothing changed; otherwise exactly the slots the indices
//! name change (`idx % size`, computed here apart from the code's mask), and only our own
//! index moves. While the backend is honest, `VecDeque` models of both directions also
//! check that every byte arrives once and in order.

use super::*;
use proptest::prelude::*;
use std::boxed::Box;
use std::collections::VecDeque;
use std::vec;
use std::vec::Vec;

const OUT: usize = XENCONS_OUT_SIZE;
const IN: usize = XENCONS_IN_SIZE;

/// The page as a test sees it: both rings and the four indices.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Page {
    input: Vec<u8>,
    output: Vec<u8>,
    in_cons: u32,
    in_prod: u32,
    out_cons: u32,
    out_prod: u32,
}

#[derive(Debug, Clone)]
enum Op {
    // The guest, through `ConsoleRing`.
    Write(Vec<u8>),
    Read(usize),
    Drained,
    // xenconsoled, honest.
    Take(usize),
    Give(Vec<u8>),
    // xenconsoled, hostile: any value in any index.
    SetOutCons(u32),
    SetOutProd(u32),
    SetInCons(u32),
    SetInProd(u32),
}

/// The page, a heap allocation reached only through `Shared` (no reference to it exists)
/// and freed when the `Console` is dropped.
struct Console {
    raw: *mut XenconsInterface,
    page: Shared<XenconsInterface>,
    ring: ConsoleRing,
}

impl Drop for Console {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `Box::into_raw` in `new` and is freed only here.
        drop(unsafe { Box::from_raw(self.raw) });
    }
}

impl Console {
    fn new(out_start: u32, in_start: u32) -> Self {
        let raw = Box::into_raw(Box::new(XenconsInterface::zeroed()));
        // SAFETY: `raw` is a live, aligned allocation from `Box::into_raw`, freed only in
        // `drop`, after the last use of `page` and of the ring's copy (neither outlives
        // the `Console` in these tests); no reference to it is ever made.
        let page = unsafe { Shared::new(raw) };
        for (field, v) in [
            (shared_field!(page, XenconsInterface, out_cons), out_start),
            (shared_field!(page, XenconsInterface, out_prod), out_start),
            (shared_field!(page, XenconsInterface, in_cons), in_start),
            (shared_field!(page, XenconsInterface, in_prod), in_start),
        ] {
            field.write(v);
        }
        Console {
            raw,
            page,
            ring: ConsoleRing::new(page),
        }
    }

    fn snapshot(&self) -> Page {
        let p = self.page;
        let mut input = vec![0u8; IN];
        shared_field!(p, XenconsInterface, in_).read_bytes(0, &mut input);
        let mut output = vec![0u8; OUT];
        shared_field!(p, XenconsInterface, out).read_bytes(0, &mut output);
        Page {
            input,
            output,
            in_cons: shared_field!(p, XenconsInterface, in_cons).read(),
            in_prod: shared_field!(p, XenconsInterface, in_prod).read(),
            out_cons: shared_field!(p, XenconsInterface, out_cons).read(),
            out_prod: shared_field!(p, XenconsInterface, out_prod).read(),
        }
    }

    /// xenconsoled takes up to `max` bytes of output, if the indices let it.
    fn take(&self, max: usize) -> Option<Vec<u8>> {
        let s = self.snapshot();
        let used = s.out_prod.wrapping_sub(s.out_cons) as usize;
        if used > OUT {
            return None;
        }
        let n = used.min(max);
        let bytes = (0..n)
            .map(|k| s.output[(s.out_cons as usize).wrapping_add(k) % OUT])
            .collect();
        shared_field!(self.page, XenconsInterface, out_cons)
            .write(s.out_cons.wrapping_add(n as u32));
        Some(bytes)
    }

    /// xenconsoled gives as much of `data` as fits, if the indices let it; returns how
    /// much.
    fn give(&self, data: &[u8]) -> Option<usize> {
        let s = self.snapshot();
        let used = s.in_prod.wrapping_sub(s.in_cons) as usize;
        if used > IN {
            return None;
        }
        let n = data.len().min(IN - used);
        let input = shared_field!(self.page, XenconsInterface, in_);
        for (k, &b) in data[..n].iter().enumerate() {
            let slot = (s.in_prod as usize).wrapping_add(k) % IN;
            input.get(slot)?.write(b);
        }
        shared_field!(self.page, XenconsInterface, in_prod).write(s.in_prod.wrapping_add(n as u32));
        Some(n)
    }
}

/// Runs `ops`; `VecDeque` models check the bytes until the backend turns hostile.
fn run(out_start: u32, in_start: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let c = Console::new(out_start, in_start);
    let mut out_model: VecDeque<u8> = VecDeque::new();
    let mut in_model: VecDeque<u8> = VecDeque::new();
    let mut honest = true;
    for op in ops {
        let before = c.snapshot();
        let out_used = before.out_prod.wrapping_sub(before.out_cons) as usize;
        let in_used = before.in_prod.wrapping_sub(before.in_cons) as usize;
        let out_bad = ConsoleError::BadIndices {
            ring: "out",
            cons: before.out_cons,
            prod: before.out_prod,
        };
        match op {
            Op::Write(data) => {
                let got = c.ring.write(data);
                let after = c.snapshot();
                if out_used > OUT {
                    prop_assert_eq!(got, Err(out_bad));
                    prop_assert_eq!(&after, &before);
                    continue;
                }
                let n = got.map_err(|e| TestCaseError::fail(std::format!("{e}")))?;
                prop_assert_eq!(n, data.len().min(OUT - out_used));
                let mut expected = before.clone();
                for (k, &b) in data[..n].iter().enumerate() {
                    expected.output[(before.out_prod as usize).wrapping_add(k) % OUT] = b;
                }
                expected.out_prod = before.out_prod.wrapping_add(n as u32);
                prop_assert_eq!(&after, &expected);
                out_model.extend(&data[..n]);
            }
            Op::Read(len) => {
                let mut buf = vec![0x5a; *len];
                let got = c.ring.read(&mut buf);
                let after = c.snapshot();
                if in_used > IN {
                    prop_assert_eq!(
                        got,
                        Err(ConsoleError::BadIndices {
                            ring: "in",
                            cons: before.in_cons,
                            prod: before.in_prod,
                        })
                    );
                    prop_assert_eq!(&after, &before);
                    continue;
                }
                let n = got.map_err(|e| TestCaseError::fail(std::format!("{e}")))?;
                prop_assert_eq!(n, (*len).min(in_used));
                for (k, &b) in buf[..n].iter().enumerate() {
                    prop_assert_eq!(
                        b,
                        before.input[(before.in_cons as usize).wrapping_add(k) % IN]
                    );
                }
                prop_assert!(buf[n..].iter().all(|&b| b == 0x5a));
                let expected = Page {
                    in_cons: before.in_cons.wrapping_add(n as u32),
                    ..before.clone()
                };
                prop_assert_eq!(&after, &expected);
                if honest {
                    let want: Vec<u8> = in_model.drain(..n).collect();
                    prop_assert_eq!(&buf[..n], &want[..]);
                }
            }
            Op::Drained => {
                let got = c.ring.drained();
                prop_assert_eq!(&c.snapshot(), &before);
                if out_used > OUT {
                    prop_assert_eq!(got, Err(out_bad));
                } else {
                    prop_assert_eq!(got, Ok(out_used == 0));
                }
            }
            Op::Take(max) => {
                if let Some(bytes) = c.take(*max)
                    && honest
                {
                    let want: Vec<u8> = out_model.drain(..bytes.len()).collect();
                    prop_assert_eq!(bytes, want);
                }
            }
            Op::Give(data) => {
                if let Some(n) = c.give(data) {
                    in_model.extend(&data[..n]);
                }
            }
            Op::SetOutCons(v) => {
                honest = false;
                shared_field!(c.page, XenconsInterface, out_cons).write(*v);
            }
            Op::SetOutProd(v) => {
                honest = false;
                shared_field!(c.page, XenconsInterface, out_prod).write(*v);
            }
            Op::SetInCons(v) => {
                honest = false;
                shared_field!(c.page, XenconsInterface, in_cons).write(*v);
            }
            Op::SetInProd(v) => {
                honest = false;
                shared_field!(c.page, XenconsInterface, in_prod).write(*v);
            }
        }
        if honest {
            let s = c.snapshot();
            prop_assert_eq!(
                s.out_prod.wrapping_sub(s.out_cons) as usize,
                out_model.len()
            );
            prop_assert_eq!(s.in_prod.wrapping_sub(s.in_cons) as usize, in_model.len());
        }
    }
    Ok(())
}

/// `len` bytes counting up from `seed` (cheap, and a byte out of place shows).
fn data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max, any::<u8>())
        .prop_map(|(len, seed)| (0..len).map(|k| seed.wrapping_add(k as u8)).collect())
}

fn start_index() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), (u32::MAX - 5000)..=u32::MAX, any::<u32>()]
}

fn honest_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => data(OUT + 100).prop_map(Op::Write),
        3 => (0..=IN + 100).prop_map(Op::Read),
        1 => Just(Op::Drained),
        4 => (0..=OUT + 100).prop_map(Op::Take),
        3 => data(IN + 100).prop_map(Op::Give),
    ]
}

/// An index value relative to the current ones is more interesting than any `u32`, but
/// the op does not know them: near the start index, or anything.
fn hostile_value(start: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => (0u32..=4200).prop_map(move |d| start.wrapping_add(d)),
        1 => (0u32..=4200).prop_map(move |d| start.wrapping_sub(d)),
        2 => any::<u32>(),
    ]
}

fn any_op(start: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => honest_op(),
        1 => hostile_value(start).prop_map(Op::SetOutCons),
        1 => hostile_value(start).prop_map(Op::SetOutProd),
        1 => hostile_value(start).prop_map(Op::SetInCons),
        1 => hostile_value(start).prop_map(Op::SetInProd),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn honest_backend_gets_every_byte_once_in_order_both_ways(
        out_start in start_index(),
        in_start in start_index(),
        ops in proptest::collection::vec(honest_op(), 0..48),
    ) {
        run(out_start, in_start, &ops)?;
    }

    #[test]
    fn hostile_indices_are_errors_or_touch_only_the_slots_they_name(
        (start, ops) in start_index().prop_flat_map(|s| {
            (Just(s), proptest::collection::vec(any_op(s), 0..48))
        }),
    ) {
        run(start, start, &ops)?;
    }
}
