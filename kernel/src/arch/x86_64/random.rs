//! The CPU's random-number instructions and the CPUID view that says whether they exist.
//!
//! Under Xen PV, a plain `cpuid` in the guest may show the host's CPU (Xen filters it only
//! where the CPU can fault on CPUID); the forced-emulation form (`ud2; .ascii "xen";
//! cpuid`, `XEN_CPUID` in public/arch-x86/xen.h) always traps to Xen, which answers from
//! the domain's CPUID policy: what Xen lets the guest use. [`xen_cpuid`] is that one.
//!
//! `rdrand`/`rdseed` can fail (carry flag clear) when the hardware's conditioner or
//! entropy source has nothing ready: each function here makes one attempt; the caller
//! retries a bounded number of times (`crate::entropy`).

use core::arch::asm;

/// CPUID leaf `leaf`, sub-leaf `sub`, as Xen's policy for this domain answers it:
/// `[eax, ebx, ecx, edx]`.
pub fn xen_cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: `ud2` followed by "xen" and `cpuid` is Xen's forced-emulation prefix, which
    // Xen recognises for every PV guest and emulates as CPUID (it never reaches our #UD
    // handler); CPUID only writes the four registers named. RBX is reserved by LLVM, so
    // it is saved in another register around the instruction.
    unsafe {
        asm!(
            "mov {save:r}, rbx",
            "ud2",
            ".ascii \"xen\"",
            "cpuid",
            "xchg {save:r}, rbx",
            save = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") sub => ecx,
            out("edx") edx,
            options(nostack, preserves_flags),
        );
    }
    [eax, ebx, ecx, edx]
}

/// One `rdrand`: a random 64-bit value, or `None` when the instruction said it had none
/// ready (CF = 0).
///
/// # Safety
/// The CPU must have RDRAND (CPUID.1:ECX bit 30), or this raises #UD.
pub unsafe fn rdrand() -> Option<u64> {
    let (value, ok): (u64, u8);
    // SAFETY: RDRAND exists (the caller's obligation); it writes one register and flags.
    unsafe {
        asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok,
             options(nomem, nostack));
    }
    (ok != 0).then_some(value)
}

/// One `rdseed`: a 64-bit value straight from the entropy source, or `None` when it had
/// none ready (CF = 0).
///
/// # Safety
/// The CPU must have RDSEED (CPUID.(7,0):EBX bit 18), or this raises #UD.
pub unsafe fn rdseed() -> Option<u64> {
    let (value, ok): (u64, u8);
    // SAFETY: RDSEED exists (the caller's obligation); it writes one register and flags.
    unsafe {
        asm!("rdseed {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok,
             options(nomem, nostack));
    }
    (ok != 0).then_some(value)
}

/// CPUID as Xen shows it says RDRAND exists (leaf 1 ECX bit 30).
fn has_rdrand() -> bool {
    xen_cpuid(0, 0)[0] >= 1 && xen_cpuid(1, 0)[2] & (1 << 30) != 0
}

/// CPUID as Xen shows it says RDSEED exists (leaf 7 EBX bit 18).
fn has_rdseed() -> bool {
    xen_cpuid(0, 0)[0] >= 7 && xen_cpuid(7, 0)[1] & (1 << 18) != 0
}

static HAS: spin::Once<(bool, bool)> = spin::Once::new();

/// One `rdrand` if the CPU has it (as Xen's CPUID says; checked once), else `None`.
pub fn rdrand_checked() -> Option<u64> {
    let (has, _) = *HAS.call_once(|| (has_rdrand(), has_rdseed()));
    // SAFETY: only when CPUID says RDRAND exists.
    has.then(|| unsafe { rdrand() }).flatten()
}

/// One `rdseed` if the CPU has it (as Xen's CPUID says; checked once), else `None`.
pub fn rdseed_checked() -> Option<u64> {
    let (_, has) = *HAS.call_once(|| (has_rdrand(), has_rdseed()));
    // SAFETY: only when CPUID says RDSEED exists.
    has.then(|| unsafe { rdseed() }).flatten()
}
