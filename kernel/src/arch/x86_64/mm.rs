//! Page tables of a PV guest: read directly, changed only through Xen.
//!
//! The guest's page tables are mapped read-only; every change is an `mmu_update` (or
//! `update_va_mapping`) that Xen validates (public/xen.h, "page tables are read-only to a
//! PV guest"). Pseudo-physical frame N is mapped at VA `N * 4096` (the identity map Xen's
//! builder starts and boot completes for all memory), so a table's VA is its PFN << 12,
//! and its PFN comes from the machine-to-physical table.

use super::hypercall::hypercall5;
use super::{PTE_KERNEL_RW, mfn_to_pfn, update_va_mapping};
use xen::XenError;
use xen::abi::xen::{DomId, MMU_NORMAL_PT_UPDATE, MmuUpdate, PAGE_SHIFT, hypercall as nr, uvmf};

/// Present.
const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
const PTE_RW: u64 = 1 << 1;
/// No-execute (bit 63), when the CPU and Xen support it.
const PTE_NX: u64 = 1 << 63;

/// `PTE_NX` once boot found that Xen accepts it, else 0: or-ed into every data mapping.
static NX: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The no-execute bit to put in data mappings (0 when unsupported).
pub fn nx() -> u64 {
    NX.load(core::sync::atomic::Ordering::Relaxed)
}
/// Present, read-only, user (a PV kernel runs in ring 3): how page-table pages are mapped.
const PTE_KERNEL_RO: u64 = 0x5;
/// Bits 12..51 of an entry: the machine frame.
const PTE_ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Entries per table.
const ENTRIES: u64 = 512;

/// What went wrong while changing page tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Xen refused the update.
    Xen(XenError),
    /// No frame left for a new page table.
    NoFrameForTable,
}

impl From<XenError> for MapError {
    fn from(e: XenError) -> Self {
        MapError::Xen(e)
    }
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::Xen(e) => write!(f, "mmu_update refused: {e}"),
            MapError::NoFrameForTable => write!(f, "no free frame for a page table"),
        }
    }
}

/// `HYPERVISOR_mmu_update(reqs, count, NULL, DOMID_SELF)`.
fn mmu_update(reqs: &[MmuUpdate]) -> Result<(), XenError> {
    if reqs.is_empty() {
        return Ok(());
    }
    // SAFETY: Xen reads `reqs.len()` entries from the slice; each names a slot of one of our
    // own page tables (validated by Xen, which refuses anything unsafe for the domain).
    let ret = unsafe {
        hypercall5(
            nr::MMU_UPDATE,
            reqs.as_ptr() as u64,
            reqs.len() as u64,
            0,
            u64::from(DomId::SELF.0),
            0,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// The P2M: the machine frame behind each of our pseudo-physical frames.
#[derive(Debug, Clone, Copy)]
struct P2m {
    list: *const u64,
    len: u64,
}

// SAFETY: the P2M list is read-only after boot and mapped for the life of the domain.
unsafe impl Send for P2m {}
// SAFETY: as for Send: only reads.
unsafe impl Sync for P2m {}

impl P2m {
    /// The list Xen built at `start_info.mfn_list` for `nr_pages` frames.
    ///
    /// # Safety
    /// `list` must be `start_info.mfn_list`, mapped for `len` entries, and stay mapped.
    unsafe fn new(list: u64, len: u64) -> Self {
        P2m {
            list: list as *const u64,
            len,
        }
    }

    /// The MFN of `pfn`, or `None` beyond the domain.
    fn mfn(&self, pfn: u64) -> Option<u64> {
        if pfn >= self.len {
            return None;
        }
        let entry = self.list.wrapping_add(pfn as usize);
        // SAFETY: `pfn < len` and the list is mapped for `len` entries (`P2m::new`).
        Some(unsafe { entry.read() })
    }
}

/// The live page tables.
#[derive(Debug, Clone, Copy)]
pub struct PageTables {
    l4_va: u64,
    p2m: P2m,
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (PAGE_SHIFT + 9 * (level - 1))) & (ENTRIES - 1)
}

fn read_entry(table_va: u64, idx: u64) -> u64 {
    // SAFETY: `table_va` is the VA of a page-table page: either the L4 from start_info or a
    // table reached from it, all inside the identity map; `idx < 512`.
    unsafe { ((table_va + idx * 8) as *const u64).read_volatile() }
}

fn table_of(entry: u64) -> (u64, u64) {
    let mfn = (entry & PTE_ADDR_MASK) >> PAGE_SHIFT;
    (mfn, mfn_to_pfn(mfn) << PAGE_SHIFT)
}

impl PageTables {
    /// The tables rooted at `start_info.pt_base`.
    fn new(l4_va: u64, p2m: P2m) -> Self {
        PageTables { l4_va, p2m }
    }

    /// The VA of the L1 table that maps `va`, if all levels above exist.
    fn l1_for(&self, va: u64) -> Option<(u64, u64)> {
        let mut table_va = self.l4_va;
        let mut mfn = 0;
        for level in (2..=4).rev() {
            let e = read_entry(table_va, index(va, level));
            if e & PTE_PRESENT == 0 {
                return None;
            }
            (mfn, table_va) = table_of(e);
        }
        Some((mfn, table_va))
    }

    /// The machine frame of the L4 table (for `MMUEXT_NEW_USER_BASEPTR`).
    pub fn l4_mfn(&self) -> Option<u64> {
        self.p2m.mfn(self.l4_va >> PAGE_SHIFT)
    }

    /// The machine frame behind our frame `pfn` (the P2M).
    pub fn mfn(&self, pfn: u64) -> Option<u64> {
        self.p2m.mfn(pfn)
    }

    /// True when `va` is mapped.
    pub fn is_mapped(&self, va: u64) -> bool {
        self.l1_for(va)
            .is_some_and(|(_, l1)| read_entry(l1, index(va, 1)) & PTE_PRESENT != 0)
    }

    /// Turns the identity-mapped frame `pfn` into an empty page table and links it into
    /// slot `idx` of the table whose MFN is `parent_mfn`.
    fn link_new_table(&self, parent_mfn: u64, idx: u64, pfn: u64) -> Result<(), MapError> {
        let mfn = self.p2m.mfn(pfn).ok_or(MapError::NoFrameForTable)?;
        let va = pfn << PAGE_SHIFT;
        // SAFETY: `pfn` is a free frame the caller took from the allocator, mapped writable
        // in the identity map and used by nothing else: zeroing it touches no live data.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, 4096) };
        // SAFETY: Xen only accepts a page as a table once no writable mapping of it exists;
        // this makes our identity mapping of the (unused) frame read-only.
        unsafe { update_va_mapping(va, (mfn << PAGE_SHIFT) | PTE_KERNEL_RO, uvmf::INVLPG)? };
        let slot = MmuUpdate {
            ptr: ((parent_mfn << PAGE_SHIFT) + idx * 8) | MMU_NORMAL_PT_UPDATE,
            val: (mfn << PAGE_SHIFT) | PTE_KERNEL_RW,
        };
        mmu_update(&[slot])?;
        Ok(())
    }

    /// Maps every frame in `[start, end)` at its identity VA, creating page tables as
    /// needed with frames from `alloc_table`. Frames already mapped are left alone.
    pub fn map_identity(
        &self,
        start: u64,
        end: u64,
        alloc_table: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<(), MapError> {
        let mut pfn = start;
        while pfn < end {
            let va = pfn << PAGE_SHIFT;
            // Make sure L3, L2 and L1 exist for this VA.
            let mut table_va = self.l4_va;
            let mut table_mfn = self
                .p2m
                .mfn(self.l4_va >> PAGE_SHIFT)
                .ok_or(MapError::NoFrameForTable)?;
            for level in (2..=4).rev() {
                let idx = index(va, level);
                let mut e = read_entry(table_va, idx);
                if e & PTE_PRESENT == 0 {
                    let new = alloc_table().ok_or(MapError::NoFrameForTable)?;
                    self.link_new_table(table_mfn, idx, new)?;
                    e = read_entry(table_va, idx);
                }
                (table_mfn, table_va) = table_of(e);
            }
            // Fill this L1 in one batch.
            let mut batch = [MmuUpdate { ptr: 0, val: 0 }; ENTRIES as usize];
            let mut n = 0;
            let l1_end = ((pfn / ENTRIES) + 1) * ENTRIES;
            while pfn < end.min(l1_end) {
                let idx = index(pfn << PAGE_SHIFT, 1);
                if read_entry(table_va, idx) & PTE_PRESENT == 0 {
                    let mfn = self.p2m.mfn(pfn).ok_or(MapError::NoFrameForTable)?;
                    batch[n] = MmuUpdate {
                        ptr: ((table_mfn << PAGE_SHIFT) + idx * 8) | MMU_NORMAL_PT_UPDATE,
                        val: (mfn << PAGE_SHIFT) | PTE_KERNEL_RW | nx(),
                    };
                    n += 1;
                }
                pfn += 1;
            }
            mmu_update(&batch[..n])?;
        }
        Ok(())
    }

    /// Rewrites every present leaf entry for frames `[start, end)` to `perm(pfn, entry)`,
    /// an L1 table at a time. Regions without page tables are skipped.
    pub fn protect(
        &self,
        start: u64,
        end: u64,
        perm: &dyn Fn(u64, u64) -> u64,
    ) -> Result<(), MapError> {
        let mut pfn = start;
        while pfn < end {
            let l1_end = ((pfn / ENTRIES) + 1) * ENTRIES;
            let Some((l1_mfn, l1_va)) = self.l1_for(pfn << PAGE_SHIFT) else {
                pfn = l1_end;
                continue;
            };
            let mut batch = [MmuUpdate { ptr: 0, val: 0 }; ENTRIES as usize];
            let mut n = 0;
            while pfn < end.min(l1_end) {
                let idx = index(pfn << PAGE_SHIFT, 1);
                let old = read_entry(l1_va, idx);
                let new = perm(pfn, old);
                if old & PTE_PRESENT != 0 && new != old {
                    batch[n] = MmuUpdate {
                        ptr: ((l1_mfn << PAGE_SHIFT) + idx * 8) | MMU_NORMAL_PT_UPDATE,
                        val: new,
                    };
                    n += 1;
                }
                pfn += 1;
            }
            mmu_update(&batch[..n])?;
        }
        Ok(())
    }

    /// Unmaps one page of the identity map (a stack guard).
    pub fn unmap(&self, pfn: u64) -> Result<(), XenError> {
        // SAFETY: callers pass the guard frame of a stack they own; nothing uses it.
        unsafe { update_va_mapping(pfn << PAGE_SHIFT, 0, uvmf::INVLPG) }
    }

    /// Maps one page of the identity map back (a freed stack guard).
    pub fn remap(&self, pfn: u64) -> Result<(), XenError> {
        let mfn = self.p2m.mfn(pfn).ok_or(XenError::Inval)?;
        // SAFETY: restores the identity mapping of one of our own frames.
        unsafe {
            update_va_mapping(
                pfn << PAGE_SHIFT,
                (mfn << PAGE_SHIFT) | PTE_KERNEL_RW | nx(),
                uvmf::INVLPG,
            )
        }
    }
}

static TABLES: spin::Once<PageTables> = spin::Once::new();

/// Records the page tables and the P2M Xen's builder made (`start_info.pt_base`,
/// `mfn_list`, `nr_pages`). Called once, by `_start`'s Rust side, before anything maps.
///
/// # Safety
/// `mfn_list` must be `start_info.mfn_list`, mapped for `nr_pages` entries for the life of
/// the domain, and `pt_base` the VA of the live L4 table.
pub(crate) unsafe fn adopt_tables(pt_base: u64, mfn_list: u64, nr_pages: u64) {
    // SAFETY: forwarded from this function's contract.
    let p2m = unsafe { P2m::new(mfn_list, nr_pages) };
    TABLES.call_once(|| PageTables::new(pt_base, p2m));
}

/// The live page tables (from `_start` on).
pub fn tables() -> Option<PageTables> {
    TABLES.get().copied()
}

/// W^X for the image and everything Xen's builder mapped: code read-only and executable,
/// read-only data read-only, everything else no-execute (writability left as it is: page
/// tables and other pages Xen made read-only stay so). Returns whether no-execute is in
/// force: if Xen refuses the NX bit, the image is protected without it.
fn harden(
    tables: &PageTables,
    end_pfn: u64,
    text: (u64, u64),
    rodata: (u64, u64),
) -> Result<bool, MapError> {
    let page = |va: u64| va >> PAGE_SHIFT;
    let (text_lo, text_hi) = (
        page(text.0),
        page(text.1.div_ceil(1 << PAGE_SHIFT) << PAGE_SHIFT),
    );
    let (ro_lo, ro_hi) = (
        page(rodata.0),
        page(rodata.1.div_ceil(1 << PAGE_SHIFT) << PAGE_SHIFT),
    );
    for nx_bit in [PTE_NX, 0] {
        let perm = |pfn: u64, old: u64| -> u64 {
            let base = old & !(PTE_RW | PTE_NX);
            if (text_lo..text_hi).contains(&pfn) {
                base
            } else if (ro_lo..ro_hi).contains(&pfn) {
                base | nx_bit
            } else {
                (old & !PTE_NX) | nx_bit
            }
        };
        match tables.protect(0, end_pfn, &perm) {
            Ok(()) => {
                NX.store(nx_bit, core::sync::atomic::Ordering::Relaxed);
                return Ok(nx_bit != 0);
            }
            Err(MapError::Xen(_)) if nx_bit != 0 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// W^X over the image and every frame below `end_pfn` (see `harden`): the bounds of code
/// and read-only data come from the linker script. Returns whether no-execute is in force.
pub fn harden_image(tables: &PageTables, end_pfn: u64) -> Result<bool, MapError> {
    use super::start;
    let text = (
        (&raw const start::__text_start) as u64,
        (&raw const start::__text_end) as u64,
    );
    let rodata = (
        (&raw const start::__rodata_start) as u64,
        (&raw const start::__rodata_end) as u64,
    );
    harden(tables, end_pfn, text, rodata)
}

/// Makes frames `[pfn, pfn + n)` (identity-mapped) code: read-only and executable
/// (`code`), or data again: writable and no-execute (`!code`).
pub fn set_code(pfn: u64, n: u64, code: bool) -> Result<(), MapError> {
    let tables = tables().ok_or(MapError::NoFrameForTable)?;
    let perm = |_pfn: u64, old: u64| -> u64 {
        if code {
            old & !(PTE_RW | PTE_NX)
        } else {
            (old | PTE_RW) & !PTE_NX | nx()
        }
    };
    tables.protect(pfn, pfn.saturating_add(n), &perm)
}
