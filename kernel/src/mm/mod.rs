//! Memory: every frame of the domain mapped, a frame allocator, the heap, and thread
//! stacks with an unmapped guard page below each.
//!
//! Boot reserves the frames Xen's builder used (image, P2M, start_info, xenstore and
//! console pages, bootstrap page tables and stack), maps the rest of memory at its
//! identity VA through `mmu_update`, and hands the free frames to [`frame::FrameAllocator`].

pub mod frame;

#[cfg(target_os = "none")]
pub mod heap;

#[cfg(target_os = "none")]
mod imp {
    use super::frame::{FrameAllocator, FrameError};
    use crate::arch::x86_64::mm::{MapError, P2m, PageTables};
    use xen::XenError;

    static FRAMES: spin::Mutex<Option<FrameAllocator<'static>>> = spin::Mutex::new(None);
    static TABLES: spin::Once<PageTables> = spin::Once::new();

    /// Why memory could not be set up.
    #[derive(Debug, Clone, Copy)]
    pub enum MmError {
        /// Mapping the rest of memory failed.
        Map(MapError),
        /// The frame bitmap did not fit.
        Bitmap,
        /// Marking frames free failed.
        Frames(FrameError),
    }

    impl core::fmt::Display for MmError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                MmError::Map(e) => write!(f, "mapping memory: {e}"),
                MmError::Bitmap => write!(f, "no room for the frame bitmap"),
                MmError::Frames(e) => write!(f, "frame allocator: {e}"),
            }
        }
    }

    /// What boot found and did.
    #[derive(Debug, Clone, Copy)]
    pub struct MemInfo {
        /// Frames of the domain.
        pub nr_pages: u64,
        /// Frames used by the image, Xen's boot structures, page tables and the bitmap.
        pub kernel_pages: u64,
        /// Frames free for the heap and stacks after boot.
        pub free_pages: u64,
    }

    /// Maps all memory and sets up the frame allocator.
    ///
    /// `first_free` is the first frame after everything Xen's builder placed (the frame
    /// above its bootstrap stack).
    pub fn init(
        pt_base: u64,
        mfn_list: u64,
        nr_pages: u64,
        first_free: u64,
    ) -> Result<MemInfo, MmError> {
        // SAFETY: start_info.mfn_list is the P2M Xen built, mapped for nr_pages entries for
        // the life of the domain (we never unmap it: its frames are below first_free).
        let p2m = unsafe { P2m::new(mfn_list, nr_pages) };
        let tables = PageTables::new(pt_base, p2m);
        // Frames for new page tables and the bitmap come from a bump pointer over frames
        // that are free and already mapped; everything below `next` stays reserved.
        let next = core::cell::Cell::new(first_free);
        let bump = || {
            let pfn = next.get();
            if pfn < nr_pages && tables.is_mapped(pfn << 12) {
                next.set(pfn + 1);
                Some(pfn)
            } else {
                None
            }
        };
        tables
            .map_identity(first_free, nr_pages, &mut { bump })
            .map_err(MmError::Map)?;
        let frames = usize::try_from(nr_pages).map_err(|_| MmError::Bitmap)?;
        let words = FrameAllocator::words_for(frames);
        let bitmap_pages = (words * 8).div_ceil(4096) as u64;
        let bitmap_pfn = next.get();
        if bitmap_pfn + bitmap_pages > nr_pages {
            return Err(MmError::Bitmap);
        }
        next.set(bitmap_pfn + bitmap_pages);
        let next = next.get();
        // SAFETY: frames [bitmap_pfn, bitmap_pfn + bitmap_pages) are mapped, writable, taken
        // by the bump allocator above and never handed out again (they stay below `next`,
        // which is reserved), so this is the only reference to them, for ever.
        let storage: &'static mut [u64] =
            unsafe { core::slice::from_raw_parts_mut((bitmap_pfn << 12) as *mut u64, words) };
        let mut alloc = FrameAllocator::new(storage, frames).ok_or(MmError::Bitmap)?;
        let first = usize::try_from(next).map_err(|_| MmError::Bitmap)?;
        alloc.free_range(first, frames).map_err(MmError::Frames)?;
        let info = MemInfo {
            nr_pages,
            kernel_pages: next,
            free_pages: alloc.free_count() as u64,
        };
        *FRAMES.lock() = Some(alloc);
        TABLES.call_once(|| tables);
        Ok(info)
    }

    fn with_frames<T>(
        f: impl FnOnce(&mut FrameAllocator<'static>) -> Result<T, FrameError>,
    ) -> Result<T, FrameError> {
        match FRAMES.lock().as_mut() {
            Some(a) => f(a),
            None => Err(FrameError::OutOfFrames { wanted: 0, free: 0 }),
        }
    }

    /// The live page tables (after `init`).
    pub(crate) fn tables() -> Option<PageTables> {
        TABLES.get().copied()
    }

    /// Frames free now.
    pub fn free_pages() -> usize {
        FRAMES.lock().as_ref().map_or(0, FrameAllocator::free_count)
    }

    /// Takes the lowest run of `n` frames (heap growth).
    pub(crate) fn alloc_run_low(n: usize) -> Result<usize, FrameError> {
        with_frames(|a| a.alloc_contiguous_low(n))
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
        Guard(XenError),
    }

    impl core::fmt::Display for StackError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                StackError::Frames(e) => write!(f, "stack: {e}"),
                StackError::Guard(e) => write!(f, "stack guard page: {e}"),
            }
        }
    }

    impl Stack {
        /// Allocates `pages` pages plus a guard page and unmaps the guard.
        pub fn new(pages: usize) -> Result<Stack, StackError> {
            let guard_pfn =
                with_frames(|a| a.alloc_contiguous(pages + 1)).map_err(StackError::Frames)?;
            let tables = TABLES
                .get()
                .ok_or(StackError::Frames(FrameError::OutOfRange { pfn: 0 }))?;
            if let Err(e) = tables.unmap(guard_pfn as u64) {
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
            let Some(tables) = TABLES.get() else { return };
            // A guard that cannot be remapped is leaked with its stack rather than handed
            // out unmapped.
            if tables.remap(self.guard_pfn as u64).is_ok() {
                let _ = with_frames(|a| a.free_contiguous(self.guard_pfn, self.pages + 1));
            }
        }
    }
}

#[cfg(target_os = "none")]
pub use imp::*;
