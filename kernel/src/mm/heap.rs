//! The kernel heap: `linked_list_allocator` regions that grow on demand.
//!
//! The heap starts empty and takes a run of frames from the frame allocator (lowest
//! first: 1 MiB or a quarter of the heap's size, whichever is more, but no more than an
//! eighth of the free frames; or just what the block needs when no such run is left)
//! whenever no region can serve an allocation. Regions are never given back. When
//! no frames are left `alloc` returns null, and Rust's allocation-error path panics with
//! the size asked for, which the crash report prints.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;

/// Regions the heap may grow to.
const MAX_REGIONS: usize = 64;
/// Smallest growth step: 1 MiB.
const GROW_MIN_PAGES: usize = 256;
/// The least the heap grows by when memory is short (64 KiB).
const GROW_SMALL_PAGES: usize = 16;

struct Regions {
    heaps: [Heap; MAX_REGIONS],
    count: usize,
}

/// The global allocator.
pub struct KernelHeap {
    inner: spin::Mutex<Regions>,
}

impl KernelHeap {
    /// An empty heap.
    pub const fn new() -> Self {
        const EMPTY: Heap = Heap::empty();
        KernelHeap {
            inner: spin::Mutex::new(Regions {
                heaps: [EMPTY; MAX_REGIONS],
                count: 0,
            }),
        }
    }

    /// Bytes in use and bytes in the heap's regions.
    pub fn usage(&self) -> (usize, usize) {
        let r = self.inner.lock();
        r.heaps
            .iter()
            .take(r.count)
            .fold((0, 0), |(u, s), h| (u + h.used(), s + h.size()))
    }
}

impl Default for KernelHeap {
    fn default() -> Self {
        Self::new()
    }
}

fn try_regions(r: &mut Regions, layout: Layout) -> Option<NonNull<u8>> {
    let count = r.count;
    r.heaps
        .iter_mut()
        .take(count)
        .find_map(|h| h.allocate_first_fit(layout).ok())
}

// SAFETY: `alloc` returns blocks from regions of memory owned only by the heap (frames
// taken from the frame allocator, never given back), sized and aligned by
// linked_list_allocator for `layout`; `dealloc` returns a block to the region it came from.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut r = self.inner.lock();
        if let Some(p) = try_regions(&mut r, layout) {
            return p.as_ptr();
        }
        if r.count == MAX_REGIONS {
            return core::ptr::null_mut();
        }
        // Room for the block, its alignment and the allocator's bookkeeping.
        let need = layout
            .size()
            .saturating_add(layout.align())
            .saturating_add(64);
        // At least GROW_MIN_PAGES at once, or an eighth of the free frames when memory is
        // short (a small guest keeps room for its stacks); when no run that long is free,
        // just what the block needs (a nearly full guest still gets its last frames).
        let exact = need.div_ceil(4096);
        // A quarter of the heap's size, so 64 regions reach any memory size.
        let held: usize = r.heaps.iter().take(r.count).map(Heap::size).sum::<usize>() / 4096;
        let step = GROW_MIN_PAGES
            .max(held / 4)
            .min(super::free_pages() / 8)
            .max(GROW_SMALL_PAGES);
        let mut pages = exact.max(step);
        let pfn = match super::alloc_run_low(pages) {
            Ok(pfn) => pfn,
            Err(_) if pages > exact => {
                pages = exact;
                match super::alloc_run_low(pages) {
                    Ok(pfn) => pfn,
                    Err(_) => return core::ptr::null_mut(),
                }
            }
            Err(_) => return core::ptr::null_mut(),
        };
        let idx = r.count;
        let Some(heap) = r.heaps.get_mut(idx) else {
            return core::ptr::null_mut();
        };
        // SAFETY: the frames [pfn, pfn + pages) were just taken from the frame allocator,
        // are identity-mapped and writable, and belong to this heap region from now on.
        unsafe { heap.init((pfn << 12) as *mut u8, pages * 4096) };
        r.count += 1;
        try_regions(&mut r, layout).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut r = self.inner.lock();
        let count = r.count;
        let addr = ptr as usize;
        if let Some(h) = r
            .heaps
            .iter_mut()
            .take(count)
            .find(|h| (h.bottom() as usize) <= addr && addr < h.top() as usize)
        {
            let Some(block) = NonNull::new(ptr) else {
                return;
            };
            // SAFETY: the caller passes a block this heap returned for `layout` (GlobalAlloc
            // contract), and it lies in this region.
            unsafe { h.deallocate(block, layout) };
        }
    }
}
