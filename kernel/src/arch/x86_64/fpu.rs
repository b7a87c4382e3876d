//! The whole x87/SSE state of a thread (`fxsave64`/`fxrstor64`), for threads that run
//! foreign code (C compiled with SSE): the context switch keeps only what the psABI makes
//! callee-saved (MXCSR control bits, x87 control word), which is all Rust code on this
//! soft-float target needs; C code keeps values in XMM and x87 registers across a
//! blocking system call, so its threads save and restore everything.

use core::arch::asm;

/// The 512-byte `fxsave` area (Intel SDM vol. 1, 10.5.1), 16-byte aligned.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuArea(pub [u8; 512]);

const _: () = {
    assert!(core::mem::size_of::<FpuArea>() == 512);
    assert!(core::mem::align_of::<FpuArea>() == 16);
};

/// Offset of FCW in the area.
const FCW: usize = 0;
/// Offset of MXCSR.
const MXCSR: usize = 24;

impl FpuArea {
    /// The state after `fninit` with MXCSR 0x1f80 (psABI 3.2.1 defaults): every register
    /// empty, all exceptions masked, round to nearest.
    pub fn initial() -> FpuArea {
        let mut a = FpuArea([0; 512]);
        a.0[FCW..FCW + 2].copy_from_slice(&0x037fu16.to_le_bytes());
        a.0[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        a
    }

    /// Stores the current x87/SSE state here.
    pub fn save(&mut self) {
        // SAFETY: fxsave64 writes 512 bytes to a 16-byte aligned address: `self` is both.
        unsafe { asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Loads the x87/SSE state stored here.
    pub fn restore(&self) {
        // SAFETY: fxrstor64 reads 512 bytes from a 16-byte aligned address; the contents
        // come from `initial` or `save`, so MXCSR has no reserved bit set (no #GP).
        unsafe { asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly)) };
    }
}
