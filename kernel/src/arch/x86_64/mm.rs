//! Page tables of a PV guest: read directly, changed only through Xen.
//!
//! The guest's page tables are mapped read-only; every change is an `mmu_update` (or
//! `update_va_mapping`) that Xen validates (public/xen.h, "page tables are read-only to a
//! PV guest"). Pseudo-physical frame N is mapped at VA `N * 4096` (the identity map Xen's
//! builder starts and boot completes for all memory), so a table's VA is its PFN << 12,
//! and its PFN comes from the machine-to-physical table.

use super::hypercall::{self, hypercall5};
use super::{PTE_KERNEL_RW, mfn_to_pfn, update_va_mapping};
use xen::XenError;
use xen::abi::xen::{DomId, MMU_NORMAL_PT_UPDATE, MmuUpdate, PAGE_SHIFT, hypercall as nr, uvmf};
use xen::multicall::Refusal;

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
    /// Xen refused an update (`mmu_update`: the refused entry's `ptr` and `val`, its
    /// index and the batch's length).
    Refused(Refusal),
    /// No frame left for a new page table.
    NoFrameForTable,
}

impl From<Refusal> for MapError {
    fn from(r: Refusal) -> Self {
        MapError::Refused(r)
    }
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::Refused(r) => write!(f, "page tables: {r}"),
            MapError::NoFrameForTable => write!(f, "no free frame for a page table"),
        }
    }
}

/// `HYPERVISOR_mmu_update(reqs, count, &done, DOMID_SELF)`. Xen stops at the first entry
/// it refuses: the refusal names that entry (`ptr`, `val`), its index and the count.
#[inline(never)]
fn mmu_update(reqs: &[MmuUpdate]) -> Result<(), Refusal> {
    if reqs.is_empty() {
        return Ok(());
    }
    let mut done: u32 = 0;
    // SAFETY: Xen reads `reqs.len()` entries from the slice; each names a slot of one of our
    // own page tables (validated by Xen, which refuses anything unsafe for the domain).
    let ret = unsafe {
        hypercall5(
            nr::MMU_UPDATE,
            reqs.as_ptr() as u64,
            reqs.len() as u64,
            (&raw mut done) as u64,
            u64::from(DomId::SELF.0),
            0,
        )
    };
    XenError::check(ret)
        .map(|_| ())
        .map_err(|e| mmu_refusal(reqs, done, e))
}

/// The refusal of an `mmu_update` batch that Xen stopped after `done` entries: the refused
/// request itself (`ptr`, `val`), its index and the batch's length, rather than the pointer
/// to the batch. Inlined, so the caller named is the batch's maker's caller.
#[inline(always)]
fn mmu_refusal(reqs: &[MmuUpdate], done: u32, err: XenError) -> Refusal {
    let at = done as usize;
    let bad = reqs
        .get(at)
        .copied()
        .unwrap_or(MmuUpdate { ptr: 0, val: 0 });
    hypercall::refusal(
        nr::MMU_UPDATE,
        &[bad.ptr, bad.val, at as u64, reqs.len() as u64],
        err,
    )
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

/// A page table made while mapping: its frame, machine frame, and whether its identity
/// VA was mapped already (else it is one of the frames being mapped).
#[derive(Debug, Clone, Copy)]
struct NewTable {
    pfn: u64,
    mfn: u64,
    mapped: bool,
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

    /// Maps every frame in `[start, end)` at its identity VA, creating page tables as
    /// needed with frames from `alloc_table`. Frames already mapped are left alone.
    ///
    /// A table frame from `alloc_table` is either mapped already (zeroed here, then made
    /// read-only) or one of the frames being mapped, in the same 2 MiB range as the table
    /// it becomes (zeroed by Xen with `MMUEXT_CLEAR_PAGE`, and mapped read-only in that
    /// range): so a region can hold its own L1 table, and mapping memory never needs
    /// memory that is already mapped. Any other frame is refused and given back. When a
    /// round cannot get all the tables it needs, the frames it took go to `give_back`.
    ///
    /// Each 2 MiB range (one L1 table) is one multicall: the page-table pages it needs are
    /// made read-only (or cleared) and linked top-down, then its entries written in one
    /// `mmu_update`. Every entry Xen refuses goes to `refused`; the first is the error.
    pub fn map_identity(
        &self,
        start: u64,
        end: u64,
        alloc_table: &mut dyn FnMut() -> Option<u64>,
        give_back: &mut dyn FnMut(u64),
        refused: &mut dyn FnMut(&Refusal),
    ) -> Result<(), MapError> {
        let l4_mfn = self
            .p2m
            .mfn(self.l4_va >> PAGE_SHIFT)
            .ok_or(MapError::NoFrameForTable)?;
        let mut pfn = start;
        while pfn < end {
            let va = pfn << PAGE_SHIFT;
            let l1_start = (pfn / ENTRIES) * ENTRIES;
            let l1_end = l1_start + ENTRIES;
            let range = pfn..end.min(l1_end);
            // The tables this range still needs (at most L3, L2 and L1): each one's identity
            // VA made read-only (or the frame cleared, if it is one of `range`), then its
            // link into its parent.
            let mut links = [MmuUpdate { ptr: 0, val: 0 }; 3];
            let mut new_tables = [NewTable {
                pfn: 0,
                mfn: 0,
                mapped: false,
            }; 3];
            let mut created = 0;
            let (mut table_mfn, mut table_va) = (l4_mfn, self.l4_va);
            for level in (2..=4).rev() {
                let idx = index(va, level);
                // Below a table made in this round every entry is still empty.
                let e = if created > 0 {
                    0
                } else {
                    read_entry(table_va, idx)
                };
                if e & PTE_PRESENT != 0 {
                    (table_mfn, table_va) = table_of(e);
                    continue;
                }
                let taken = alloc_table().and_then(|new| {
                    let mapped = self.is_mapped(new << PAGE_SHIFT);
                    match self.p2m.mfn(new) {
                        // Unmapped and outside this range: Xen could clear it, but a later
                        // mapping of its region would not know to map it read-only.
                        Some(mfn) if mapped || range.contains(&new) => Some(NewTable {
                            pfn: new,
                            mfn,
                            mapped,
                        }),
                        _ => {
                            give_back(new);
                            None
                        }
                    }
                });
                let Some(t) = taken else {
                    for t in &new_tables[..created] {
                        give_back(t.pfn);
                    }
                    return Err(MapError::NoFrameForTable);
                };
                if t.mapped {
                    // SAFETY: `t.pfn` is a free frame the caller took from the allocator,
                    // mapped writable in the identity map and used by nothing else:
                    // zeroing it touches no live data.
                    unsafe { core::ptr::write_bytes((t.pfn << PAGE_SHIFT) as *mut u8, 0, 4096) };
                }
                links[created] = MmuUpdate {
                    ptr: ((table_mfn << PAGE_SHIFT) + idx * 8) | MMU_NORMAL_PT_UPDATE,
                    val: (t.mfn << PAGE_SHIFT) | PTE_KERNEL_RW,
                };
                new_tables[created] = t;
                created += 1;
                (table_mfn, table_va) = (t.mfn, t.pfn << PAGE_SHIFT);
            }
            let new_tables = &new_tables[..created];
            // This L1's entries (a table frame among them read-only: Xen maps no page
            // table writable).
            let mut batch = [MmuUpdate { ptr: 0, val: 0 }; ENTRIES as usize];
            let mut n = 0;
            while pfn < range.end {
                let idx = index(pfn << PAGE_SHIFT, 1);
                if created > 0 || read_entry(table_va, idx) & PTE_PRESENT == 0 {
                    let mfn = self.p2m.mfn(pfn).ok_or(MapError::NoFrameForTable)?;
                    let perm = if new_tables.iter().any(|t| t.pfn == pfn) {
                        PTE_KERNEL_RO
                    } else {
                        PTE_KERNEL_RW
                    };
                    batch[n] = MmuUpdate {
                        ptr: ((table_mfn << PAGE_SHIFT) + idx * 8) | MMU_NORMAL_PT_UPDATE,
                        val: (mfn << PAGE_SHIFT) | perm | nx(),
                    };
                    n += 1;
                }
                pfn += 1;
            }
            self.map_batch(new_tables, &links[..created], &batch[..n], refused)?;
        }
        Ok(())
    }

    /// One multicall: for each new table, its VA made read-only (or, for a frame not
    /// mapped yet, the frame cleared) and its link; then the leaf entries. Reports every
    /// refused entry; the first is the error.
    #[inline(never)]
    fn map_batch(
        &self,
        new_tables: &[NewTable],
        links: &[MmuUpdate],
        leaves: &[MmuUpdate],
        refused: &mut dyn FnMut(&Refusal),
    ) -> Result<(), MapError> {
        use xen::abi::xen::{MmuextOp, mmuext};
        use xen::multicall::MulticallEntry;
        let me = u64::from(DomId::SELF.0);
        let mut done: u32 = 0;
        let mut calls = [MulticallEntry::default(); 7];
        let mut clears = [MmuextOp::default(); 3];
        let mut k = 0;
        for ((t, link), clear) in new_tables.iter().zip(links).zip(clears.iter_mut()) {
            calls[k] = if t.mapped {
                MulticallEntry::new(
                    nr::UPDATE_VA_MAPPING,
                    &[
                        t.pfn << PAGE_SHIFT,
                        (t.mfn << PAGE_SHIFT) | PTE_KERNEL_RO,
                        uvmf::INVLPG,
                    ],
                )
            } else {
                *clear = MmuextOp {
                    cmd: mmuext::CLEAR_PAGE,
                    arg1: t.mfn,
                    arg2: 0,
                };
                MulticallEntry::new(
                    nr::MMUEXT_OP,
                    &[(clear as *const MmuextOp) as u64, 1, 0, me],
                )
            };
            calls[k + 1] = MulticallEntry::new(
                nr::MMU_UPDATE,
                &[(link as *const MmuUpdate) as u64, 1, 0, me],
            );
            k += 2;
        }
        if !leaves.is_empty() {
            calls[k] = MulticallEntry::new(
                nr::MMU_UPDATE,
                &[
                    leaves.as_ptr() as u64,
                    leaves.len() as u64,
                    (&raw mut done) as u64,
                    me,
                ],
            );
            k += 1;
        }
        let calls = &mut calls[..k];
        // SAFETY: Xen only accepts a page as a table once no writable mapping of it exists,
        // so each new table's identity mapping (of a frame nothing else uses) is made
        // read-only before it is linked, or the frame has no mapping at all and Xen clears
        // it; the links and leaves are slots of our own tables (validated by Xen) and
        // point only at frames of this domain; every slice the entries point to lives on
        // this stack until the multicall returns.
        if let Err(e) = unsafe { hypercall::multicall(calls) } {
            let r = hypercall::refusal(nr::MULTICALL, &[k as u64], e);
            refused(&r);
            return Err(MapError::Refused(r));
        }
        let mut first = None;
        for f in xen::multicall::failures(calls) {
            let e = &f.entry;
            let Err(err) = XenError::check(e.result) else {
                continue;
            };
            // For mmu_update, the refused request itself rather than the pointer to it.
            let r = if e.op == u64::from(nr::UPDATE_VA_MAPPING) {
                hypercall::refusal(nr::UPDATE_VA_MAPPING, &e.args[..3], err)
            } else if e.op == u64::from(nr::MMUEXT_OP) {
                let cleared = new_tables.get((f.index - 1) / 2).map_or(0, |t| t.mfn);
                hypercall::refusal(
                    nr::MMUEXT_OP,
                    &[u64::from(mmuext::CLEAR_PAGE), cleared],
                    err,
                )
            } else if f.index == k && !leaves.is_empty() {
                mmu_refusal(leaves, done, err)
            } else {
                let link = links
                    .get(f.index / 2 - 1)
                    .map_or(&[][..], core::slice::from_ref);
                mmu_refusal(link, 0, err)
            };
            refused(&r);
            first.get_or_insert(r);
        }
        first.map_or(Ok(()), |r| Err(MapError::Refused(r)))
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
    pub fn unmap(&self, pfn: u64) -> Result<(), Refusal> {
        // SAFETY: callers pass the guard frame of a stack they own; nothing uses it.
        unsafe { update_va_mapping(pfn << PAGE_SHIFT, 0, uvmf::INVLPG) }
    }

    /// Maps one page of the identity map back (a freed stack guard).
    pub fn remap(&self, pfn: u64) -> Result<(), Refusal> {
        let mfn = self.p2m.mfn(pfn).ok_or(hypercall::refusal(
            nr::UPDATE_VA_MAPPING,
            &[pfn << PAGE_SHIFT],
            XenError::Inval,
        ))?;
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
            Err(MapError::Refused(_)) if nx_bit != 0 => continue,
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
