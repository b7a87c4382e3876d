//! The whole x87/SSE state of a thread (`fxsave64`/`fxrstor64`), for threads that run
//! foreign code (C compiled with SSE): the context switch keeps only what the psABI makes
//! callee-saved (MXCSR control bits, x87 control word), which is all Rust code on this
//! soft-float target needs; C code keeps values in XMM and x87 registers across a
//! blocking system call, so its threads save and restore everything.
//!
//! An image from elsewhere (a signal frame in the program's memory) goes through
//! [`FpuArea::sanitized`] first: `fxrstor64` raises #GP for an MXCSR with a bit set that
//! the CPU's MXCSR_MASK does not allow (Intel SDM vol. 1, 11.6.6), the only field whose
//! value can fault.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

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
/// Offset of MXCSR_MASK (the MXCSR bits this CPU supports; 0 means the old default).
const MXCSR_MASK: usize = 28;
/// The MXCSR_MASK to assume when `fxsave` stores 0 there (SDM vol. 1, 11.6.6: DAZ
/// not supported).
const DEFAULT_MXCSR_MASK: u32 = 0xffbf;

/// This CPU's MXCSR_MASK once read (0: not read yet).
static MXCSR_MASK_SEEN: AtomicU32 = AtomicU32::new(0);

/// The MXCSR bits this CPU lets `fxrstor`/`ldmxcsr` set: `fxsave` to a zeroed area stores
/// it at byte 28 (SDM vol. 1, 11.6.6, "Guidelines for writing to the MXCSR register").
fn mxcsr_mask() -> u32 {
    let seen = MXCSR_MASK_SEEN.load(Ordering::Relaxed);
    if seen != 0 {
        return seen;
    }
    let mut a = FpuArea([0; 512]);
    a.save();
    let mask = match u32::from_le_bytes(a.field(MXCSR_MASK)) {
        0 => DEFAULT_MXCSR_MASK,
        m => m,
    };
    MXCSR_MASK_SEEN.store(mask, Ordering::Relaxed);
    mask
}

impl FpuArea {
    /// The state after `fninit` with MXCSR 0x1f80 (psABI 3.2.1 defaults): every register
    /// empty, all exceptions masked, round to nearest.
    pub fn initial() -> FpuArea {
        let mut a = FpuArea([0; 512]);
        a.0[FCW..FCW + 2].copy_from_slice(&0x037fu16.to_le_bytes());
        a.0[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        a
    }

    /// A copy of `image` that `restore` cannot fault on: MXCSR bits outside this CPU's
    /// MXCSR_MASK cleared (the other fields cannot make `fxrstor64` fault).
    pub fn sanitized(image: &[u8; 512]) -> FpuArea {
        let mut a = FpuArea(*image);
        let mxcsr = u32::from_le_bytes(a.field(MXCSR)) & mxcsr_mask();
        a.0[MXCSR..MXCSR + 4].copy_from_slice(&mxcsr.to_le_bytes());
        a
    }

    /// The four bytes at `offset` (MXCSR or MXCSR_MASK).
    fn field(&self, offset: usize) -> [u8; 4] {
        let mut b = [0; 4];
        b.copy_from_slice(&self.0[offset..offset + 4]);
        b
    }

    /// Stores the current x87/SSE state here.
    pub fn save(&mut self) {
        // SAFETY: fxsave64 writes 512 bytes to a 16-byte aligned address: `self` is both.
        unsafe { asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// Loads the x87/SSE state stored here.
    pub fn restore(&self) {
        // SAFETY: fxrstor64 reads 512 bytes from a 16-byte aligned address; the contents
        // come from `initial`, `save` or `sanitized`, so MXCSR has no reserved bit set
        // (no #GP).
        unsafe { asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly)) };
    }
}
