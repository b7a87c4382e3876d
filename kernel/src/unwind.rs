//! Frame-pointer backtraces.
//!
//! Every function keeps `[rbp] = caller's rbp, [rbp + 8] = return address`
//! (`-C force-frame-pointers=yes`), and every stack starts with `rbp = 0`. The walk only
//! follows frames inside the given stack bounds and strictly upwards, so a corrupted chain
//! ends the walk instead of faulting inside the crash report.
#![forbid(unsafe_code)]

/// One frame of a backtrace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The frame's base pointer.
    pub rbp: u64,
    /// The return address stored in it.
    pub return_address: u64,
}

/// Walks the rbp chain from `rbp` within `[lo, hi)`, at most `max` frames.
///
/// `read(addr)` loads the 8 bytes at `addr` (only called for addresses inside the bounds).
pub fn walk(
    mut rbp: u64,
    (lo, hi): (u64, u64),
    max: usize,
    read: impl Fn(u64) -> u64,
    mut visit: impl FnMut(Frame),
) {
    for _ in 0..max {
        let in_bounds = rbp >= lo && rbp.checked_add(16).is_some_and(|end| end <= hi);
        if rbp == 0 || !rbp.is_multiple_of(8) || !in_bounds {
            return;
        }
        let next = read(rbp);
        let return_address = read(rbp + 8);
        if return_address == 0 {
            return;
        }
        visit(Frame {
            rbp,
            return_address,
        });
        if next <= rbp {
            return;
        }
        rbp = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(start: u64, mem: &HashMap<u64, u64>, bounds: (u64, u64)) -> Vec<u64> {
        let mut out = Vec::new();
        walk(
            start,
            bounds,
            16,
            |a| mem.get(&a).copied().unwrap_or(0),
            |f| out.push(f.return_address),
        );
        out
    }

    #[test]
    fn follows_the_chain_to_the_zero_terminator() {
        let mem = HashMap::from([(0x100, 0x200), (0x108, 0xa), (0x200, 0), (0x208, 0xb)]);
        assert_eq!(run(0x100, &mem, (0x0, 0x1000)), [0xa, 0xb]);
    }

    #[test]
    fn stops_at_frames_outside_bounds_misaligned_or_going_down() {
        let mem = HashMap::from([(0x100, 0x5000), (0x108, 0xa)]);
        assert_eq!(run(0x100, &mem, (0x0, 0x1000)), [0xa]);
        let mem = HashMap::from([(0x100, 0x80), (0x108, 0xa), (0x80, 0), (0x88, 0xb)]);
        assert_eq!(
            run(0x100, &mem, (0x0, 0x1000)),
            [0xa],
            "a chain going down is corrupt"
        );
        assert!(run(0x103, &mem, (0x0, 0x1000)).is_empty());
        assert!(run(u64::MAX - 8, &mem, (0x0, u64::MAX)).is_empty());
    }
}
