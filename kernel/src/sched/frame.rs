//! The first stack frame of a new thread, and the psABI arithmetic it must satisfy.
//!
//! The context switch (`arch::x86_64::switch`) restores, from the lowest address up:
//! `csr` (MXCSR in the low half, x87 control word in the high half), R15, R14, R13, R12,
//! RBX, RBP, then `ret`s. A new stack is laid out so that this restore "returns" into
//! `thread_start` with R12 = argument and R13 = entry; `thread_start` moves R12 to RDI,
//! zeroes RBP and jumps to the entry. The word above is a zero return address, so the
//! entry sees exactly what a `call` would leave: `(%rsp + 8) % 16 == 0` (psABI §3.2.2),
//! and a backtrace ends there. This arithmetic is rumprun #18's bug (a thread entered with
//! a misaligned stack faulted on its first `movaps`); the tests below check it.

/// MXCSR at reset / psABI default: all exceptions masked, round to nearest.
pub const DEFAULT_MXCSR: u32 = 0x1f80;
/// x87 control word at `fninit` / psABI default.
pub const DEFAULT_FCW: u16 = 0x037f;

/// Words the switch pops before `ret`: csr, r15, r14, r13, r12, rbx, rbp.
pub const SAVED_WORDS: u64 = 7;

/// A stack frame to write at the top of a new stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialFrame {
    /// The RSP to hand to the switch.
    pub rsp: u64,
    /// `(address, value)` pairs to store, from `rsp` upwards.
    pub words: [(u64, u64); 9],
}

/// Why a frame cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The stack top is not 16-byte aligned.
    MisalignedTop(u64),
    /// The stack top is too low to hold the frame.
    TooLow(u64),
}

/// Builds the frame for a thread whose stack ends at `top` (exclusive, 16-aligned).
pub fn initial_frame(
    top: u64,
    thread_start: u64,
    entry: u64,
    arg: u64,
) -> Result<InitialFrame, FrameError> {
    if !top.is_multiple_of(16) {
        return Err(FrameError::MisalignedTop(top));
    }
    let rsp = top
        .checked_sub(8 * (SAVED_WORDS + 2))
        .ok_or(FrameError::TooLow(top))?;
    let csr = u64::from(DEFAULT_MXCSR) | (u64::from(DEFAULT_FCW) << 32);
    let values = [
        csr,          // MXCSR | FCW << 32
        0,            // r15
        0,            // r14
        entry,        // r13: where thread_start jumps
        arg,          // r12: becomes rdi
        0,            // rbx
        0,            // rbp
        thread_start, // ret target of the switch
        0,            // the entry's return address: none (end of backtrace)
    ];
    let mut words = [(0, 0); 9];
    for (i, (slot, value)) in words.iter_mut().zip(values).enumerate() {
        *slot = (rsp + 8 * i as u64, value);
    }
    Ok(InitialFrame { rsp, words })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Replays the switch's restore and `thread_start` on the frame; returns the RSP the
    /// entry sees, its return address, and the registers it gets.
    fn enter(f: &InitialFrame) -> (u64, u64, u64, u64, u64) {
        let mem: HashMap<u64, u64> = f.words.iter().copied().collect();
        let mut rsp = f.rsp;
        let csr = mem[&rsp];
        rsp += 8;
        let mut regs = [0u64; 6];
        for r in regs.iter_mut() {
            *r = mem[&rsp];
            rsp += 8;
        }
        let [_r15, _r14, r13, r12, _rbx, rbp] = regs;
        let ret = mem[&rsp];
        rsp += 8; // ret
        assert_eq!(ret, 0x1000, "the switch must return into thread_start");
        assert_eq!(rbp, 0);
        // thread_start: mov %r12,%rdi; xor %ebp,%ebp; jmp *%r13 (RSP unchanged).
        (rsp, mem[&rsp], r12, r13, csr)
    }

    #[test]
    fn entry_sees_the_call_alignment_and_a_zero_return_address() {
        for top in [0x10000u64, 0x7fff_f000, 0x12340] {
            let f = initial_frame(top, 0x1000, 0x2000, 0xabc).unwrap();
            let (rsp, ra, rdi, target, csr) = enter(&f);
            assert_eq!((rsp + 8) % 16, 0, "psABI: (%rsp + 8) %% 16 == 0 at entry");
            assert_eq!(ra, 0, "zero return address ends the backtrace");
            assert_eq!(rsp, top - 8, "the frame uses the top of the stack");
            assert_eq!((rdi, target), (0xabc, 0x2000));
            assert_eq!(csr & 0xffff_ffff, u64::from(DEFAULT_MXCSR));
            assert_eq!(csr >> 32, u64::from(DEFAULT_FCW));
        }
    }

    #[test]
    fn the_frame_stays_inside_the_stack() {
        let f = initial_frame(0x10000, 1, 2, 3).unwrap();
        assert!(
            f.words
                .iter()
                .all(|&(a, _)| a >= f.rsp && a < 0x10000 && a % 8 == 0)
        );
    }

    #[test]
    fn misaligned_or_tiny_stacks_are_refused() {
        assert_eq!(
            initial_frame(0x10008, 1, 2, 3),
            Err(FrameError::MisalignedTop(0x10008))
        );
        assert_eq!(initial_frame(0x40, 1, 2, 3), Err(FrameError::TooLow(0x40)));
    }
}
