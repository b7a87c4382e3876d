//! The LDT that holds one data segment per thread TLS block (see `crate::sched::tls`).
//!
//! A PV guest's LDT pages must not be writable in its own page tables (Xen checks their
//! descriptors, like page tables); entries are written with `HYPERVISOR_update_descriptor`
//! and the LDT is installed with `MMUEXT_SET_LDT`.

use super::hypercall::{hypercall3, mmuext_op};
use super::update_va_mapping;
use crate::sched::tls::LDT_ENTRIES;
use core::arch::asm;
use xen::XenError;
use xen::abi::xen::{MmuextOp, PAGE_SIZE, hypercall as nr, mmuext, uvmf};

/// Pages of the LDT.
const LDT_PAGES: usize = LDT_ENTRIES * 8 / PAGE_SIZE;
/// Present, read-only, user.
const PTE_RO: u64 = 0x5;

/// Machine frames of the LDT pages, once installed.
static LDT_MFNS: spin::Once<[u64; LDT_PAGES]> = spin::Once::new();

/// Why the LDT could not be set up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LdtError {
    /// No memory for its pages.
    NoMemory,
    /// Xen refused a step.
    Xen(XenError),
}

impl From<XenError> for LdtError {
    fn from(e: XenError) -> Self {
        LdtError::Xen(e)
    }
}

impl core::fmt::Display for LdtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LdtError::NoMemory => write!(f, "no memory for the LDT"),
            LdtError::Xen(e) => write!(f, "LDT: {e}"),
        }
    }
}

/// Allocates, empties and installs the LDT.
pub(crate) fn init() -> Result<(), LdtError> {
    let pfn = crate::mm::alloc_run_low(LDT_PAGES).map_err(|_| LdtError::NoMemory)?;
    let va = (pfn as u64) << 12;
    // SAFETY: the frames were just taken from the allocator for the LDT alone, and are
    // mapped writable at their identity VA (alloc_run_low maps them).
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, LDT_PAGES * PAGE_SIZE) };
    let tables = crate::mm::tables().ok_or(LdtError::NoMemory)?;
    let mut mfns = [0u64; LDT_PAGES];
    for (i, mfn) in mfns.iter_mut().enumerate() {
        let page = va + (i * PAGE_SIZE) as u64;
        *mfn = tables.mfn((pfn + i) as u64).ok_or(XenError::Inval)?;
        // SAFETY: nothing writes these pages from now on except Xen (update_descriptor);
        // Xen accepts descriptor pages only without writable mappings.
        unsafe { update_va_mapping(page, (*mfn << 12) | PTE_RO, uvmf::INVLPG)? };
    }
    let op = MmuextOp {
        cmd: mmuext::SET_LDT,
        arg1: va,
        arg2: LDT_ENTRIES as u64,
    };
    // SAFETY: installs an LDT of zeroed (not present) descriptors on read-only pages that
    // stay allocated for the life of the domain; it changes no mapping in use.
    unsafe { mmuext_op(&[op])? };
    LDT_MFNS.call_once(|| mfns);
    Ok(())
}

/// Writes LDT entry `index` (`HYPERVISOR_update_descriptor`).
pub(crate) fn set_entry(index: usize, descriptor: u64) -> Result<(), XenError> {
    let mfns = LDT_MFNS.get().ok_or(XenError::NoSys)?;
    let mfn = mfns.get(index / (PAGE_SIZE / 8)).ok_or(XenError::Inval)?;
    let ma = (mfn << 12) + ((index % (PAGE_SIZE / 8)) * 8) as u64;
    // SAFETY: update_descriptor takes the machine address of a descriptor slot in our LDT
    // and a descriptor value, which Xen checks before writing.
    let ret = unsafe { hypercall3(nr::UPDATE_DESCRIPTOR, ma, descriptor, 0) };
    XenError::check(ret).map(|_| ())
}

/// Loads FS with `selector`: FS.base becomes the descriptor's base.
pub(crate) fn load_fs(selector: u16) {
    // SAFETY: loads a segment register with a selector of our LDT whose descriptor is a
    // valid DPL 3 data segment (or the null selector); no memory is touched.
    unsafe {
        asm!("mov {0:x}, %fs", in(reg) selector, options(att_syntax, nostack, preserves_flags))
    };
}
