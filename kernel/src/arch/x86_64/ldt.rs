//! The LDT that holds one data segment per thread TLS block (the scheduler's TLS).
//!
//! A PV guest's LDT pages must not be writable in its own page tables (Xen checks their
//! descriptors, like page tables); entries are written with `HYPERVISOR_update_descriptor`
//! and the LDT is installed with `MMUEXT_SET_LDT`.

use super::hypercall::{hypercall3, mmuext_op, refusal};
use super::update_va_mapping;
use core::arch::asm;
use xen::XenError;
use xen::abi::xen::{MmuextOp, PAGE_SIZE, hypercall as nr, mmuext, uvmf};
use xen::multicall::Refusal;

/// Most LDT entries (`MMUEXT_SET_LDT` takes up to 8192).
pub(crate) const MAX_ENTRIES: usize = 8192;
/// Pages of the largest LDT.
const MAX_PAGES: usize = MAX_ENTRIES * 8 / PAGE_SIZE;
/// Present, read-only, user.
const PTE_RO: u64 = 0x5;

/// Machine frames of the LDT pages, once installed.
static LDT_MFNS: spin::Once<([u64; MAX_PAGES], usize)> = spin::Once::new();

/// Empties and installs an LDT of `entries` descriptors in the identity-mapped frames
/// from `pfn` on (`entries * 8 / 4096` of them, a whole number).
///
/// # Safety
/// The frames must be mapped writable at their identity VA, belong to the LDT alone from
/// now on (nothing else may hold a reference into them) and stay allocated for ever.
pub(crate) unsafe fn install(pfn: usize, entries: usize) -> Result<(), Refusal> {
    let invalid = |what: u64| {
        refusal(
            nr::MMUEXT_OP,
            &[mmuext::SET_LDT.into(), what],
            XenError::Inval,
        )
    };
    let pages = entries * 8 / PAGE_SIZE;
    if entries > MAX_ENTRIES || pages == 0 || entries * 8 != pages * PAGE_SIZE {
        return Err(invalid(entries as u64));
    }
    let va = (pfn as u64) << 12;
    // SAFETY: per the contract, the frames are mapped writable and ours alone.
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, pages * PAGE_SIZE) };
    let tables = super::mm::tables().ok_or(invalid(va))?;
    let mut mfns = [0u64; MAX_PAGES];
    for (i, mfn) in mfns.iter_mut().take(pages).enumerate() {
        let page = va + (i * PAGE_SIZE) as u64;
        *mfn = tables.mfn((pfn + i) as u64).ok_or(invalid(page))?;
        // SAFETY: nothing writes these pages from now on except Xen (update_descriptor);
        // Xen accepts descriptor pages only without writable mappings.
        unsafe { update_va_mapping(page, (*mfn << 12) | PTE_RO, uvmf::INVLPG)? };
    }
    let op = MmuextOp {
        cmd: mmuext::SET_LDT,
        arg1: va,
        arg2: entries as u64,
    };
    // SAFETY: installs an LDT of zeroed (not present) descriptors on read-only pages that
    // stay allocated for the life of the domain; it changes no mapping in use.
    unsafe { mmuext_op(&[op])? };
    LDT_MFNS.call_once(|| (mfns, pages));
    Ok(())
}

/// Writes LDT entry `index` (`HYPERVISOR_update_descriptor`).
#[inline(never)]
pub(crate) fn set_entry(index: usize, descriptor: u64) -> Result<(), Refusal> {
    let not_made = |e| refusal(nr::UPDATE_DESCRIPTOR, &[index as u64, descriptor], e);
    let (mfns, pages) = LDT_MFNS.get().ok_or(not_made(XenError::NoSys))?;
    let mfn = mfns[..*pages]
        .get(index / (PAGE_SIZE / 8))
        .ok_or(not_made(XenError::Inval))?;
    let ma = (mfn << 12) + ((index % (PAGE_SIZE / 8)) * 8) as u64;
    // SAFETY: update_descriptor takes the machine address of a descriptor slot in our LDT
    // and a descriptor value, which Xen checks before writing.
    let ret = unsafe { hypercall3(nr::UPDATE_DESCRIPTOR, ma, descriptor, 0) };
    XenError::check(ret)
        .map(|_| ())
        .map_err(|e| refusal(nr::UPDATE_DESCRIPTOR, &[ma, descriptor], e))
}

/// Loads FS with `selector`: FS.base becomes the descriptor's base.
pub(crate) fn load_fs(selector: u16) {
    // SAFETY: loads a segment register with a selector of our LDT whose descriptor is a
    // valid DPL 3 data segment (or the null selector); no memory is touched.
    unsafe {
        asm!("mov {0:x}, %fs", in(reg) selector, options(att_syntax, nostack, preserves_flags))
    };
}
