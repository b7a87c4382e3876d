//! Memory: every frame of the domain mapped, a frame allocator, the heap, and thread
//! stacks with an unmapped guard page below each.
//!
//! Boot reserves the frames Xen's builder used (image, P2M, start_info, xenstore and
//! console pages, bootstrap page tables and stack), maps the rest of memory at its
//! identity VA through `mmu_update`, and hands the free frames to [`frame::FrameAllocator`].
//! It is also the heap (the global allocator) and the source of pages shared with other
//! domains, and says where the frames are ([`frame_usage`]: free, in the heap, in page
//! tables) for leak checks.
//!
//! A page-table update Xen refuses is reported through the function boot registers with
//! [`on_refused`] (the hypercall failure log, which sits above this module).
//!
//! May use: `arch` (page tables, P2M), `xen`.

pub mod frame;

#[cfg(target_os = "none")]
pub mod heap;

#[cfg(target_os = "none")]
mod imp {
    use super::frame::{FrameAllocator, FrameError};
    use crate::arch::x86_64::mm::{self as arch_mm, MapError};
    use core::sync::atomic::{AtomicUsize, Ordering};
    use xen::abi::xen::PAGE_SIZE;
    use xen::multicall::Refusal;

    static ON_REFUSED: spin::Once<fn(&Refusal)> = spin::Once::new();

    /// Sets where refused page-table updates are reported (once, at boot).
    pub fn on_refused(report: fn(&Refusal)) {
        ON_REFUSED.call_once(|| report);
    }

    /// Reports a refused update (unexpected wherever it happens here).
    fn refused(r: &Refusal) {
        if let Some(report) = ON_REFUSED.get() {
            report(r);
        }
    }
    use xen::shared::Shared;

    #[global_allocator]
    static HEAP: super::heap::KernelHeap = super::heap::KernelHeap::new();

    /// Heap bytes in use and bytes in its regions.
    pub fn heap_usage() -> (usize, usize) {
        HEAP.usage()
    }

    /// A zeroed page from the heap for memory shared with another domain (rings, packet
    /// buffers), as a `Shared<T>` and its address. Never freed: a backend may still map it.
    pub fn shared_page<T>() -> Option<(Shared<T>, u64)> {
        const { assert!(core::mem::size_of::<T>() <= PAGE_SIZE) };
        let layout = core::alloc::Layout::from_size_align(PAGE_SIZE, PAGE_SIZE).ok()?;
        // SAFETY: a non-zero-sized layout.
        let page = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if page.is_null() {
            return None;
        }
        // SAFETY: a page-aligned, zeroed, 4096-byte allocation (>= size_of T, and every T
        // we share is plain integers, valid when zeroed) that is never freed and reached
        // only through this Shared.
        Some((unsafe { Shared::new(page.cast::<T>()) }, page as u64))
    }

    static FRAMES: spin::Mutex<Option<FrameAllocator<'static>>> = spin::Mutex::new(None);

    /// Why memory could not be set up.
    #[derive(Debug, Clone, Copy)]
    pub enum MmError {
        /// The frame bitmap did not fit.
        Bitmap,
        /// Marking frames free failed.
        Frames(FrameError),
        /// The boot module lies (partly) outside the domain's frames.
        ModuleOutside {
            /// Its frames.
            first: u64,
            /// One past its last frame.
            end: u64,
            /// The domain's frames.
            nr_pages: u64,
        },
        /// The boot module could not be mapped.
        ModuleMap(MapError),
    }

    impl core::fmt::Display for MmError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                MmError::Bitmap => write!(f, "no room for the frame bitmap"),
                MmError::Frames(e) => write!(f, "frame allocator: {e}"),
                MmError::ModuleOutside {
                    first,
                    end,
                    nr_pages,
                } => write!(
                    f,
                    "the boot module's frames {first:#x}..{end:#x} are outside the domain's {nr_pages:#x}"
                ),
                MmError::ModuleMap(e) => write!(f, "mapping the boot module: {e}"),
            }
        }
    }

    /// What boot found and did.
    #[derive(Debug, Clone, Copy)]
    pub struct MemInfo {
        /// Frames of the domain.
        pub nr_pages: u64,
        /// Frames used by the image, Xen's boot structures, page tables and the bitmap
        /// (not the module's).
        pub kernel_pages: u64,
        /// Frames of the boot module (reserved for good; 0 without one).
        pub module_pages: u64,
        /// Frames free for the heap and stacks after boot.
        pub free_pages: u64,
    }

    /// Sets up the frame allocator over the domain's `nr_pages` frames; memory is mapped
    /// on demand from then on.
    ///
    /// `first_free` is the first frame after everything Xen's builder placed (the frame
    /// above its bootstrap stack). `module` are the boot module's frames
    /// (`BootInfo::module_frames`).
    ///
    /// The rule for the module: its frames are never handed out, for the life of the
    /// domain. Xen's builder puts it below `first_free` (between the image and the P2M),
    /// but they are kept out of the allocator by their own range too, wherever they are
    /// (e.g. after everything, with `SIF_MOD_START_PFN`, where they are mapped here);
    /// `kernel::boot_module()` lends its bytes out as `&'static`.
    pub fn init(
        nr_pages: u64,
        first_free: u64,
        module: Option<core::ops::Range<u64>>,
    ) -> Result<MemInfo, MmError> {
        if let Some(m) = &module
            && m.end > nr_pages
        {
            return Err(MmError::ModuleOutside {
                first: m.start,
                end: m.end,
                nr_pages,
            });
        }
        let module = module.unwrap_or(0..0);
        let tables = arch_mm::tables().ok_or(MmError::Bitmap)?;
        let frames = usize::try_from(nr_pages).map_err(|_| MmError::Bitmap)?;
        let regions = frames.div_ceil(REGION_PAGES);
        // The two bitmaps take the first free frames, which Xen's builder mapped already;
        // everything below `next` stays reserved.
        let frame_words = FrameAllocator::words_for(frames);
        let region_words = regions.div_ceil(64);
        let pages = ((frame_words + region_words) * 8).div_ceil(4096) as u64;
        let bitmap_pfn = first_free;
        let next = bitmap_pfn + pages;
        if next > nr_pages || !(bitmap_pfn..next).all(|p| tables.is_mapped(p << 12)) {
            return Err(MmError::Bitmap);
        }
        // SAFETY: frames [bitmap_pfn, next) are mapped and writable (checked above), free
        // (at or above first_free) and reserved for ever (below `next`), so this is the
        // only reference to them.
        let storage: &'static mut [u64] = unsafe {
            core::slice::from_raw_parts_mut(
                (bitmap_pfn << 12) as *mut u64,
                frame_words + region_words,
            )
        };
        let (frame_bits, region_bits) = storage.split_at_mut(frame_words);
        let mut alloc = FrameAllocator::new(frame_bits, frames).ok_or(MmError::Bitmap)?;
        let first = usize::try_from(next).map_err(|_| MmError::Bitmap)?;
        let keep = module.start as usize..module.end as usize;
        alloc
            .free_range_except(first, frames, keep)
            .map_err(MmError::Frames)?;
        // Xen's builder mapped a prefix of memory (up to a 4 MiB boundary); the rest is
        // mapped a 2 MiB region at a time when the allocator first hands out a frame there.
        region_bits.fill(0);
        let mut mapped = Regions {
            bits: region_bits,
            frames,
        };
        for r in 0..regions {
            let last = ((r + 1) * REGION_PAGES).min(frames) - 1;
            if tables.is_mapped((last as u64) << 12) {
                mapped.set(r);
            }
        }
        let info = MemInfo {
            nr_pages,
            kernel_pages: nr_pages - alloc.free_count() as u64 - (module.end - module.start),
            module_pages: module.end - module.start,
            free_pages: alloc.free_count() as u64,
        };
        *FRAMES.lock() = Some(alloc);
        *MAPPED.lock() = Some(mapped);
        if !module.is_empty() {
            ensure_mapped(module.start as usize, (module.end - module.start) as usize)
                .map_err(MmError::ModuleMap)?;
        }
        Ok(info)
    }

    /// Frames per lazily mapped region: one L1 page table's worth (2 MiB).
    const REGION_PAGES: usize = 512;

    /// Which 2 MiB regions of the identity map exist.
    struct Regions {
        bits: &'static mut [u64],
        frames: usize,
    }

    impl Regions {
        fn is_mapped(&self, r: usize) -> bool {
            self.bits
                .get(r / 64)
                .is_some_and(|w| w & (1 << (r % 64)) != 0)
        }
        fn set(&mut self, r: usize) {
            if let Some(w) = self.bits.get_mut(r / 64) {
                *w |= 1 << (r % 64);
            }
        }
    }

    static MAPPED: spin::Mutex<Option<Regions>> = spin::Mutex::new(None);

    /// Frames taken for page tables by [`ensure_mapped`] (they stay page tables for good).
    static TABLE_PAGES: AtomicUsize = AtomicUsize::new(0);

    /// Makes sure frames `[pfn, pfn + n)` are mapped at their identity VA, mapping whole
    /// 2 MiB regions.
    ///
    /// A region's page tables come from a free frame already mapped, else from a free
    /// frame of the region itself (see `PageTables::map_identity`). When neither exists
    /// (the frames asked for fill the region, and every mapped frame is taken), the
    /// lowest region that still has a free frame is mapped first, from its own frames,
    /// which then serves the rest. So mapping fails only when no frame is free at all.
    fn ensure_mapped(pfn: usize, n: usize) -> Result<(), MapError> {
        let Some(tables) = arch_mm::tables() else {
            return Err(MapError::NoFrameForTable);
        };
        let mut guard = MAPPED.lock();
        let Some(m) = guard.as_mut() else {
            return Err(MapError::NoFrameForTable);
        };
        let last = pfn + n.max(1) - 1;
        for r in pfn / REGION_PAGES..=last / REGION_PAGES {
            if m.is_mapped(r) {
                continue;
            }
            match map_region(&tables, m, r) {
                Err(MapError::NoFrameForTable) => {
                    let spare = with_frames(|a| {
                        a.lowest_free_where(|p| !m.is_mapped(p / REGION_PAGES))
                            .ok_or(FrameError::OutOfFrames { wanted: 1, free: 0 })
                    });
                    let Ok(spare) = spare else {
                        return Err(MapError::NoFrameForTable);
                    };
                    map_region(&tables, m, spare / REGION_PAGES)?;
                    map_region(&tables, m, r)?;
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Maps 2 MiB region `r` (see [`ensure_mapped`]).
    fn map_region(tables: &arch_mm::PageTables, m: &mut Regions, r: usize) -> Result<(), MapError> {
        let start = r * REGION_PAGES;
        let end = ((r + 1) * REGION_PAGES).min(m.frames);
        let regions: &Regions = m;
        let mut table_frame = || {
            let pfn = with_frames(|a| {
                a.alloc_where(|p| regions.is_mapped(p / REGION_PAGES))
                    .or_else(|_| a.alloc_in(start, end))
            })
            .ok()?;
            TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
            Some(pfn as u64)
        };
        let mut give_back = |pfn: u64| {
            if with_frames(|a| a.free(pfn as usize)).is_ok() {
                TABLE_PAGES.fetch_sub(1, Ordering::Relaxed);
            }
        };
        tables.map_identity(
            start as u64,
            end as u64,
            &mut table_frame,
            &mut give_back,
            &mut |r| refused(r),
        )?;
        m.set(r);
        Ok(())
    }

    /// Memory for foreign code (a program and what it maps): `n` contiguous zeroed pages
    /// at their identity address; their address. Give them back with [`free_pages`].
    pub fn alloc_pages(n: usize) -> Result<u64, FrameError> {
        let pfn = with_frames(|a| a.alloc_contiguous(n))?;
        if ensure_mapped(pfn, n).is_err() {
            let _ = with_frames(|a| a.free_contiguous(pfn, n));
            return Err(FrameError::OutOfFrames {
                wanted: n,
                free: free_pages(),
            });
        }
        let va = (pfn as u64) << 12;
        // SAFETY: the frames were just taken from the allocator for the caller alone and
        // are mapped writable at their identity VA (ensure_mapped).
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, n * PAGE_SIZE) };
        Ok(va)
    }

    /// Gives back `n` pages from [`alloc_pages`] at `va` (made data again first if they
    /// were code).
    pub fn free_pages_at(va: u64, n: usize) -> Result<(), FrameError> {
        let pfn = usize::try_from(va >> 12).map_err(|_| FrameError::OutOfRange { pfn: 0 })?;
        arch_mm::set_code(pfn as u64, n as u64, false)
            .map_err(|_| FrameError::OutOfRange { pfn })?;
        with_frames(|a| a.free_contiguous(pfn, n))
    }

    /// Makes `n` pages from [`alloc_pages`] at `va` code: read-only and executable
    /// (W^X: never both writable and executable).
    pub fn make_code(va: u64, n: usize) -> Result<(), MapError> {
        arch_mm::set_code(va >> 12, n as u64, true)
    }

    /// Takes the lowest run of `n` frames (heap growth), mapped.
    pub(crate) fn alloc_run_low(n: usize) -> Result<usize, FrameError> {
        let pfn = with_frames(|a| a.alloc_contiguous_low(n))?;
        if ensure_mapped(pfn, n).is_err() {
            let _ = with_frames(|a| a.free_contiguous(pfn, n));
            return Err(FrameError::OutOfFrames {
                wanted: n,
                free: free_pages(),
            });
        }
        Ok(pfn)
    }

    fn with_frames<T>(
        f: impl FnOnce(&mut FrameAllocator<'static>) -> Result<T, FrameError>,
    ) -> Result<T, FrameError> {
        match FRAMES.lock().as_mut() {
            Some(a) => f(a),
            None => Err(FrameError::OutOfFrames { wanted: 0, free: 0 }),
        }
    }

    /// Frames free now.
    pub fn free_pages() -> usize {
        FRAMES.lock().as_ref().map_or(0, FrameAllocator::free_count)
    }

    /// Where the frames that were free after boot are now, apart from those lent out
    /// (stacks, [`alloc_pages`]) that come back when freed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FrameUsage {
        /// Free in the frame allocator.
        pub free: usize,
        /// In the heap's regions (the heap never gives a frame back).
        pub heap: usize,
        /// Page tables made to map memory on first use (never given back either).
        pub page_tables: usize,
    }

    impl FrameUsage {
        /// Frames free or kept for good by the heap and the page tables: what is left when
        /// the lent-out frames are taken away. A leak check compares it before and after:
        /// the heap growing or memory being mapped for the first time leaves it unchanged,
        /// a stack or page never given back lowers it.
        pub fn not_lent(&self) -> usize {
            self.free + self.heap + self.page_tables
        }
    }

    /// The frames now: free, in the heap, page tables (see [`FrameUsage`]).
    pub fn frame_usage() -> FrameUsage {
        FrameUsage {
            free: free_pages(),
            heap: HEAP.usage().1 / PAGE_SIZE,
            page_tables: TABLE_PAGES.load(Ordering::Relaxed),
        }
    }

    /// A thread stack: `pages` mapped pages with an unmapped guard page below.
    #[derive(Debug)]
    pub struct Stack {
        guard_pfn: usize,
        pages: usize,
    }

    /// Why a stack could not be made.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum StackError {
        /// Not enough free frames.
        Frames(FrameError),
        /// Xen refused to unmap the guard page.
        Guard(Refusal),
        /// The stack's memory could not be mapped.
        Map(MapError),
    }

    impl core::fmt::Display for StackError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                StackError::Frames(e) => write!(f, "stack: {e}"),
                StackError::Guard(e) => write!(f, "stack guard page: {e}"),
                StackError::Map(e) => write!(f, "stack memory: {e}"),
            }
        }
    }

    impl Stack {
        /// Allocates `pages` pages plus a guard page and unmaps the guard.
        pub fn new(pages: usize) -> Result<Stack, StackError> {
            let guard_pfn =
                with_frames(|a| a.alloc_contiguous(pages + 1)).map_err(StackError::Frames)?;
            if let Err(e) = ensure_mapped(guard_pfn, pages + 1) {
                let _ = with_frames(|a| a.free_contiguous(guard_pfn, pages + 1));
                return Err(StackError::Map(e));
            }
            let tables =
                arch_mm::tables().ok_or(StackError::Frames(FrameError::OutOfRange { pfn: 0 }))?;
            if let Err(e) = tables.unmap(guard_pfn as u64) {
                refused(&e);
                let _ = with_frames(|a| a.free_contiguous(guard_pfn, pages + 1));
                return Err(StackError::Guard(e));
            }
            Ok(Stack { guard_pfn, pages })
        }

        /// Lowest usable address.
        pub fn bottom(&self) -> u64 {
            ((self.guard_pfn + 1) as u64) << 12
        }

        /// One past the highest address (16-byte aligned).
        pub fn top(&self) -> u64 {
            ((self.guard_pfn + 1 + self.pages) as u64) << 12
        }

        /// The guard page: `[guard, guard + 4096)`.
        pub fn guard(&self) -> u64 {
            (self.guard_pfn as u64) << 12
        }
    }

    impl Drop for Stack {
        fn drop(&mut self) {
            let Some(tables) = arch_mm::tables() else {
                return;
            };
            // A guard that cannot be remapped is leaked with its stack rather than handed
            // out unmapped.
            match tables.remap(self.guard_pfn as u64) {
                Ok(()) => {
                    let _ = with_frames(|a| a.free_contiguous(self.guard_pfn, self.pages + 1));
                }
                Err(e) => refused(&e),
            }
        }
    }
}

#[cfg(target_os = "none")]
pub use imp::*;
