//! The page-frame allocator: a bitmap over every pseudo-physical frame of the domain.
//!
//! One bit per frame, 1 = free. Single frames are taken lowest-first (the heap grows
//! upwards from low memory); contiguous runs for thread stacks are taken highest-first, so
//! the two rarely meet until memory is nearly full. Pure logic: tested on the host.
#![forbid(unsafe_code)]

/// Why a frame operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// No free frame, or no free run of the asked length.
    OutOfFrames {
        /// Frames asked for.
        wanted: usize,
        /// Frames free in total.
        free: usize,
    },
    /// A frame outside the domain.
    OutOfRange {
        /// The frame number.
        pfn: usize,
    },
    /// A frame freed twice (a kernel bug).
    DoubleFree {
        /// The frame number.
        pfn: usize,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::OutOfFrames { wanted, free } => {
                write!(f, "out of memory: {wanted} pages wanted, {free} free")
            }
            FrameError::OutOfRange { pfn } => write!(f, "page frame {pfn} is outside the domain"),
            FrameError::DoubleFree { pfn } => write!(f, "page frame {pfn} freed twice"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Bitmap frame allocator over `storage`.
#[derive(Debug)]
pub struct FrameAllocator<'a> {
    bits: &'a mut [u64],
    frames: usize,
    free: usize,
    /// No free frame below this one (a search hint for single frames).
    low_hint: usize,
}

impl<'a> FrameAllocator<'a> {
    /// Words of storage needed for `frames` frames.
    pub const fn words_for(frames: usize) -> usize {
        frames.div_ceil(64)
    }

    /// An allocator for `frames` frames, all in use until [`free_range`](Self::free_range).
    ///
    /// Returns `None` if `storage` is too small.
    pub fn new(storage: &'a mut [u64], frames: usize) -> Option<Self> {
        if storage.len() < Self::words_for(frames) {
            return None;
        }
        storage.fill(0);
        Some(FrameAllocator {
            bits: storage,
            frames,
            free: 0,
            low_hint: frames,
        })
    }

    fn is_free(&self, pfn: usize) -> bool {
        self.bits
            .get(pfn / 64)
            .is_some_and(|w| w & (1 << (pfn % 64)) != 0)
    }

    fn set(&mut self, pfn: usize, free: bool) {
        if let Some(w) = self.bits.get_mut(pfn / 64) {
            if free {
                *w |= 1 << (pfn % 64);
            } else {
                *w &= !(1 << (pfn % 64));
            }
        }
    }

    /// Frames in the domain.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frames free now.
    pub fn free_count(&self) -> usize {
        self.free
    }

    /// Marks `[start, end)` free (boot: the frames nothing uses).
    pub fn free_range(&mut self, start: usize, end: usize) -> Result<(), FrameError> {
        let mut pfn = start;
        while pfn < end {
            // Whole words in use at once: boot frees every frame of the domain this way.
            if pfn.is_multiple_of(64)
                && pfn + 64 <= end
                && pfn + 64 <= self.frames
                && let Some(w) = self.bits.get_mut(pfn / 64)
                && *w == 0
            {
                *w = u64::MAX;
                self.free += 64;
                self.low_hint = self.low_hint.min(pfn);
                pfn += 64;
                continue;
            }
            self.free(pfn)?;
            pfn += 1;
        }
        Ok(())
    }

    /// Marks `[start, end)` free except the frames of `keep` (boot: memory around the
    /// boot module, which stays reserved).
    pub fn free_range_except(
        &mut self,
        start: usize,
        end: usize,
        keep: core::ops::Range<usize>,
    ) -> Result<(), FrameError> {
        if keep.is_empty() || keep.end <= start || keep.start >= end {
            return self.free_range(start, end);
        }
        self.free_range(start, keep.start.max(start))?;
        self.free_range(keep.end.min(end), end)
    }

    /// Returns one frame.
    pub fn free(&mut self, pfn: usize) -> Result<(), FrameError> {
        if pfn >= self.frames {
            return Err(FrameError::OutOfRange { pfn });
        }
        if self.is_free(pfn) {
            return Err(FrameError::DoubleFree { pfn });
        }
        self.set(pfn, true);
        self.free += 1;
        self.low_hint = self.low_hint.min(pfn);
        Ok(())
    }

    /// Takes the lowest free frame.
    pub fn alloc(&mut self) -> Result<usize, FrameError> {
        let mut word = self.low_hint / 64;
        while let Some(&w) = self.bits.get(word) {
            if w != 0 {
                let pfn = word * 64 + w.trailing_zeros() as usize;
                if pfn >= self.frames {
                    break;
                }
                self.set(pfn, false);
                self.free -= 1;
                self.low_hint = pfn + 1;
                return Ok(pfn);
            }
            word += 1;
        }
        self.low_hint = self.frames;
        Err(FrameError::OutOfFrames {
            wanted: 1,
            free: self.free,
        })
    }

    /// The lowest free frame at or above `from` for which `ok(pfn)` holds, without taking
    /// it; words with no free frame are skipped whole.
    fn find_where(&self, from: usize, to: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let to = to.min(self.frames);
        let mut pfn = from;
        while pfn < to {
            let w = self.bits.get(pfn / 64).copied().unwrap_or(0) >> (pfn % 64);
            if w == 0 {
                pfn = (pfn / 64 + 1) * 64;
                continue;
            }
            pfn += w.trailing_zeros() as usize;
            if pfn < to && ok(pfn) {
                return Some(pfn);
            }
            pfn += 1;
        }
        None
    }

    fn take(&mut self, found: Option<usize>) -> Result<usize, FrameError> {
        let Some(pfn) = found else {
            return Err(FrameError::OutOfFrames {
                wanted: 1,
                free: self.free,
            });
        };
        self.set(pfn, false);
        self.free -= 1;
        if pfn == self.low_hint {
            self.low_hint = pfn + 1;
        }
        Ok(pfn)
    }

    /// Takes the lowest free frame for which `ok(pfn)` holds (e.g. one already mapped).
    pub fn alloc_where(&mut self, ok: impl Fn(usize) -> bool) -> Result<usize, FrameError> {
        let found = self.find_where(self.low_hint, self.frames, ok);
        self.take(found)
    }

    /// Takes the lowest free frame in `[start, end)`.
    pub fn alloc_in(&mut self, start: usize, end: usize) -> Result<usize, FrameError> {
        let found = self.find_where(start.max(self.low_hint), end, |_| true);
        self.take(found)
    }

    /// The lowest free frame for which `ok(pfn)` holds, left free.
    pub fn lowest_free_where(&self, ok: impl Fn(usize) -> bool) -> Option<usize> {
        self.find_where(self.low_hint, self.frames, ok)
    }

    /// Takes the highest run of `n` free frames (thread stacks); returns its first frame.
    pub fn alloc_contiguous(&mut self, n: usize) -> Result<usize, FrameError> {
        let found = self.find_run(n, true);
        self.take_run(n, found)
    }

    /// Takes the lowest run of `n` free frames (heap growth); returns its first frame.
    pub fn alloc_contiguous_low(&mut self, n: usize) -> Result<usize, FrameError> {
        let found = self.find_run(n, false);
        self.take_run(n, found)
    }

    /// The first frame of the first run of `n` free frames, searching from the top of
    /// memory down (`descending`) or from the bottom up.
    fn find_run(&self, n: usize, descending: bool) -> Option<usize> {
        if n == 0 || n > self.free {
            return None;
        }
        let mut run = 0usize;
        if descending {
            let mut pfn = self.frames;
            while pfn > 0 {
                pfn -= 1;
                if pfn % 64 == 63 && self.bits.get(pfn / 64) == Some(&0) {
                    // A whole word in use: skip it.
                    run = 0;
                    pfn -= 63;
                } else if self.is_free(pfn) {
                    run += 1;
                    if run == n {
                        return Some(pfn);
                    }
                } else {
                    run = 0;
                }
            }
        } else {
            for pfn in self.low_hint..self.frames {
                if self.is_free(pfn) {
                    run += 1;
                    if run == n {
                        return Some(pfn + 1 - n);
                    }
                } else {
                    run = 0;
                }
            }
        }
        None
    }

    fn take_run(&mut self, n: usize, start: Option<usize>) -> Result<usize, FrameError> {
        let Some(start) = start else {
            return Err(FrameError::OutOfFrames {
                wanted: n,
                free: self.free,
            });
        };
        for p in start..start + n {
            self.set(p, false);
        }
        self.free -= n;
        Ok(start)
    }

    /// Returns a run of `n` frames from `start`.
    pub fn free_contiguous(&mut self, start: usize, n: usize) -> Result<(), FrameError> {
        self.free_range(start, start.saturating_add(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(frames: usize) -> (Vec<u64>, usize) {
        (vec![0; FrameAllocator::words_for(frames)], frames)
    }

    #[test]
    fn singles_come_lowest_first_and_are_reused() {
        let (mut s, n) = alloc(200);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(10, 200).unwrap();
        assert_eq!(a.free_count(), 190);
        assert_eq!(a.alloc(), Ok(10));
        assert_eq!(a.alloc(), Ok(11));
        a.free(10).unwrap();
        assert_eq!(a.alloc(), Ok(10));
        assert_eq!(a.free_count(), 188);
    }

    #[test]
    fn runs_come_highest_first_and_skip_used_frames() {
        let (mut s, n) = alloc(300);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(0, 300).unwrap();
        assert_eq!(a.alloc_contiguous(17), Ok(283));
        // Make a hole too small for 17 just below.
        a.free_contiguous(283, 17).unwrap();
        let (mut s2, _) = alloc(300);
        let mut b = FrameAllocator::new(&mut s2, n).unwrap();
        b.free_range(0, 100).unwrap();
        b.free_range(110, 120).unwrap();
        assert_eq!(b.alloc_contiguous(17), Ok(83));
        assert_eq!(b.alloc_contiguous(10), Ok(110));
        assert_eq!(b.alloc_contiguous_low(20), Ok(0));
        assert_eq!(b.alloc_contiguous_low(60), Ok(20));
        assert!(b.alloc_contiguous_low(4).is_err(), "3 frames left: 80..83");
    }

    #[test]
    fn exhaustion_and_misuse_are_errors() {
        let (mut s, n) = alloc(64);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(60, 64).unwrap();
        assert_eq!(
            a.alloc_contiguous(5),
            Err(FrameError::OutOfFrames { wanted: 5, free: 4 })
        );
        for _ in 0..4 {
            a.alloc().unwrap();
        }
        assert_eq!(
            a.alloc(),
            Err(FrameError::OutOfFrames { wanted: 1, free: 0 })
        );
        a.free(61).unwrap();
        assert_eq!(a.free(61), Err(FrameError::DoubleFree { pfn: 61 }));
        assert_eq!(a.free(64), Err(FrameError::OutOfRange { pfn: 64 }));
        assert!(FrameAllocator::new(&mut [0u64; 0], 1).is_none());
    }

    #[test]
    fn freeing_ranges_by_words_and_bits_counts_every_frame() {
        let (mut s, n) = alloc(1000);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(3, 130).unwrap();
        a.free_range(130, 1000).unwrap();
        assert_eq!(a.free_count(), 997);
        assert_eq!(
            a.free_range(500, 600),
            Err(FrameError::DoubleFree { pfn: 500 })
        );
        assert_eq!(a.alloc(), Ok(3));
        assert_eq!(a.alloc_contiguous(1), Ok(999));
    }

    #[test]
    fn alloc_where_skips_frames_the_predicate_refuses() {
        let (mut s, n) = alloc(128);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(10, 128).unwrap();
        assert_eq!(a.alloc_where(|p| p >= 100), Ok(100));
        assert_eq!(a.alloc(), Ok(10), "frames below stay available");
        assert_eq!(a.alloc_where(|p| p >= 100), Ok(101));
        assert!(a.alloc_where(|_| false).is_err());
        assert_eq!(a.free_count(), 118 - 3);
    }

    #[test]
    fn free_range_except_leaves_the_kept_frames_in_use() {
        let (mut s, n) = alloc(1000);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range_except(100, 1000, 50..300).unwrap();
        assert_eq!(a.free_count(), 700);
        assert_eq!(a.alloc(), Ok(300));
        let (mut s, n) = alloc(1000);
        let mut b = FrameAllocator::new(&mut s, n).unwrap();
        b.free_range_except(100, 1000, 400..410).unwrap();
        assert_eq!(b.free_count(), 890);
        assert_eq!(b.alloc_contiguous_low(300), Ok(100));
        assert_eq!(
            b.alloc_contiguous_low(10),
            Ok(410),
            "not across the kept frames"
        );
        let (mut s, n) = alloc(1000);
        let mut c = FrameAllocator::new(&mut s, n).unwrap();
        c.free_range_except(100, 1000, 0..0).unwrap();
        c.free_range_except(0, 100, 20..2000).unwrap();
        assert_eq!(
            c.free_count(),
            920,
            "an empty keep frees all; one past the end is cut"
        );
    }

    #[test]
    fn alloc_in_takes_the_lowest_free_frame_of_a_range() {
        let (mut s, n) = alloc(1024);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(100, 1024).unwrap();
        assert_eq!(
            a.alloc_contiguous_low(412),
            Ok(100),
            "frames 100..512 taken"
        );
        assert_eq!(
            a.alloc_in(0, 512),
            Err(FrameError::OutOfFrames {
                wanted: 1,
                free: 512
            })
        );
        assert_eq!(a.alloc_in(0, 1024), Ok(512));
        assert_eq!(a.alloc_in(700, 1024), Ok(700));
        assert_eq!(
            a.alloc_in(1000, 5000),
            Ok(1000),
            "the end is cut to the domain"
        );
        assert_eq!(a.lowest_free_where(|p| p >= 600), Some(600));
        assert_eq!(a.lowest_free_where(|p| p % 512 == 700 % 512), None);
        assert_eq!(a.free_count(), 512 - 3);
    }

    #[test]
    fn alloc_where_finds_frames_past_whole_words_in_use() {
        let (mut s, n) = alloc(4096);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free(4000).unwrap();
        a.free(3).unwrap();
        assert_eq!(a.alloc_where(|p| p > 3), Ok(4000));
        assert_eq!(a.alloc_where(|_| true), Ok(3));
        assert!(a.alloc_where(|_| true).is_err());
    }

    #[test]
    fn free_count_is_exact_after_many_runs() {
        let (mut s, n) = alloc(4096);
        let mut a = FrameAllocator::new(&mut s, n).unwrap();
        a.free_range(100, 4096).unwrap();
        let before = a.free_count();
        let runs: Vec<usize> = (0..100).map(|_| a.alloc_contiguous(17).unwrap()).collect();
        assert_eq!(a.free_count(), before - 1700);
        for r in runs {
            a.free_contiguous(r, 17).unwrap();
        }
        assert_eq!(a.free_count(), before);
    }
}
