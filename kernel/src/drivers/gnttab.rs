//! The grant table: lets backends in other domains map our pages (netfront's rings and
//! buffers). Set up with the first grant, with up to [`FRAMES`] frames (`FRAMES * 512` entries, 8 of
//! them reserved for the toolstack); the entry logic is `xen::gnttab`.
//!
//! A failed setup is reported through `diag` (each refused hypercall or batch entry).
//!
//! May use: `arch` (grant-table hypercalls, P2M), `diag`, `xen`.
#![forbid(unsafe_code)]

use crate::arch::x86_64 as arch;
pub use arch::GrantSetupError;
use xen::abi::xen::DomId;
pub use xen::gnttab::{GrantError, GrantRef, GrantTable};

/// Grant-table frames we ask Xen for (as many as arch reserved VA for).
pub const FRAMES: usize = arch::GRANT_FRAMES;

static TABLE: spin::Once<Result<spin::Mutex<GrantTable>, GrantSetupError>> = spin::Once::new();

fn table() -> Result<&'static spin::Mutex<GrantTable>, GrantSetupError> {
    TABLE
        .call_once(|| {
            let table =
                arch::map_grant_table(FRAMES, &mut |f, at| crate::diag::failed_entry(&f, at));
            if let Err(GrantSetupError::Refused(r)) = &table {
                crate::diag::refused(r);
            }
            table.map(|f| spin::Mutex::new(GrantTable::new(f)))
        })
        .as_ref()
        .map_err(|&e| e)
}

/// Why a page could not be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantPageError {
    /// The grant table could not be set up.
    Setup(GrantSetupError),
    /// The page is not one of our frames.
    NotOurs {
        /// Its virtual address.
        va: u64,
    },
    /// The table refused.
    Grant(GrantError),
}

impl core::fmt::Display for GrantPageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GrantPageError::Setup(e) => write!(f, "{e}"),
            GrantPageError::NotOurs { va } => write!(f, "{va:#x} is not one of our pages"),
            GrantPageError::Grant(e) => write!(f, "{e}"),
        }
    }
}

/// Grants `domid` access to our page at `va` (page aligned, in the identity-mapped part
/// of memory, where VA = pseudo-physical address).
pub fn grant_page(domid: DomId, va: u64, readonly: bool) -> Result<GrantRef, GrantPageError> {
    let mfn = arch::pfn_to_mfn(va >> xen::abi::xen::PAGE_SHIFT)
        .filter(|_| va.is_multiple_of(xen::abi::xen::PAGE_SIZE as u64))
        .ok_or(GrantPageError::NotOurs { va })?;
    table()
        .map_err(GrantPageError::Setup)?
        .lock()
        .grant(domid, mfn, readonly)
        .map_err(GrantPageError::Grant)
}

/// Ends a grant made by [`grant_page`].
pub fn end(gref: GrantRef) -> Result<(), GrantPageError> {
    table()
        .map_err(GrantPageError::Setup)?
        .lock()
        .end(gref)
        .map_err(GrantPageError::Grant)
}

/// `(free entries, capacity)`, setting the table up if needed.
pub fn usage() -> Result<(usize, usize), GrantSetupError> {
    let t = table()?.lock();
    Ok((t.free(), t.capacity()))
}
