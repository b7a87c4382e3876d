//! Access to memory that Xen or a peer domain writes while we read it.
//!
//! Such memory (shared_info, the console and xenstore rings, the runstate area) must never
//! be reached through `&`/`&mut`: the compiler would assume it does not change. A
//! [`Shared<T>`] is a checked raw pointer: fields are reached by offset (computed with
//! `offset_of!` through [`shared_field!`](crate::shared_field)) and read or written with
//! volatile accesses; bitmaps are reached as atomics. This is the only module of the crate
//! with `unsafe`.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};

/// Types for which every bit pattern is a valid value, so a read of bytes a peer wrote
/// can never produce an invalid value.
///
/// # Safety
/// - Every bit pattern of `size_of::<Self>()` bytes must be a valid `Self`.
/// - `Self` must have no padding whose value matters and no pointers or references.
pub unsafe trait Pod: Copy + 'static {}

// SAFETY: integers accept every bit pattern.
unsafe impl Pod for u8 {}
// SAFETY: integers accept every bit pattern.
unsafe impl Pod for i8 {}
// SAFETY: integers accept every bit pattern.
unsafe impl Pod for u16 {}
// SAFETY: integers accept every bit pattern.
unsafe impl Pod for u32 {}
// SAFETY: integers accept every bit pattern.
unsafe impl Pod for i32 {}
// SAFETY: integers accept every bit pattern.
unsafe impl Pod for u64 {}
// SAFETY: integers accept every bit pattern.
unsafe impl Pod for i64 {}
// SAFETY: an array of Pod is Pod: its bytes are those of its elements, with no padding.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
// SAFETY: all fields are integers or arrays of integers.
unsafe impl Pod for crate::abi::xen::VcpuTimeInfo {}
// SAFETY: all fields are integers or arrays of integers.
unsafe impl Pod for crate::abi::vcpu::VcpuRunstateInfo {}
// SAFETY: all fields are integers.
unsafe impl Pod for crate::abi::xen::ArchVcpuInfo {}
// SAFETY: three integers with no padding (checked by assert_layout!).
unsafe impl Pod for crate::abi::grant_table::GrantEntryV1 {}
// SAFETY: integers only, no padding (checked by assert_layout!).
unsafe impl Pod for crate::abi::netif::NetifTxRequest {}
// SAFETY: integers only, no padding (checked by assert_layout!).
unsafe impl Pod for crate::abi::netif::NetifTxResponse {}
// SAFETY: integers only, no padding (checked by assert_layout!).
unsafe impl Pod for crate::abi::netif::NetifRxRequest {}
// SAFETY: integers only, no padding (checked by assert_layout!).
unsafe impl Pod for crate::abi::netif::NetifRxResponse {}
// SAFETY: integers only, no padding (checked by assert_layout!).
unsafe impl Pod for crate::abi::netif::NetifExtraInfo {}

/// A pointer to a `T` in memory shared with Xen or another domain.
///
/// Copies of a `Shared` alias the same memory; that is intended. All accesses are volatile
/// or atomic, so none of them is assumed to see a stable value.
pub struct Shared<T> {
    ptr: NonNull<T>,
    _marker: PhantomData<*mut T>,
}

impl<T> core::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Shared({:p})", self.ptr)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}

// SAFETY: a Shared is a pointer to memory that is, by construction (see `Shared::new`),
// designed for concurrent access; every access through it is volatile or atomic.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as for Send: no access through a Shared assumes exclusive use.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Wraps a pointer to shared memory.
    ///
    /// # Safety
    /// - `ptr` must be non-null, aligned for `T`, and valid for reads and writes of
    ///   `size_of::<T>()` bytes for as long as any copy of the returned value is used
    ///   (in the kernel: a mapping that is never removed).
    /// - No `&`/`&mut` to that memory may exist while it is used through a `Shared`.
    pub const unsafe fn new(ptr: *mut T) -> Self {
        // SAFETY: the caller promises `ptr` is non-null (first bullet).
        let ptr = unsafe { NonNull::new_unchecked(ptr) };
        Shared {
            ptr,
            _marker: PhantomData,
        }
    }

    /// The raw address (for hypercalls that take a guest virtual address).
    pub fn addr(self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// A `Shared` for the `F` at byte `offset` of this `T`.
    ///
    /// # Panics
    /// If `F` does not fit at `offset` inside `T` or would be misaligned. Offsets come from
    /// `offset_of!` (see [`shared_field!`](crate::shared_field)), so a panic here is a bug
    /// in our code, not something a peer can cause.
    pub fn project<F>(self, offset: usize) -> Shared<F> {
        let end = offset.checked_add(core::mem::size_of::<F>());
        assert!(
            end.is_some_and(|end| end <= core::mem::size_of::<T>()),
            "field out of bounds"
        );
        let addr = self.ptr.as_ptr() as usize + offset;
        assert!(
            addr.is_multiple_of(core::mem::align_of::<F>()),
            "misaligned field"
        );
        // SAFETY: the field lies inside the `T` this Shared points to (checked above), so it
        // inherits its validity for as long as `self` is valid; it is aligned (checked).
        unsafe { Shared::new(addr as *mut F) }
    }

    /// [`project`](Self::project) with the field type inferred from `_witness`, a
    /// non-capturing closure naming the field (never called). Used by
    /// [`shared_field!`](crate::shared_field).
    pub fn project_as<F>(self, offset: usize, _witness: fn(&T) -> &F) -> Shared<F> {
        self.project(offset)
    }
}

impl<T: Pod> Shared<T> {
    /// Reads the value once (volatile).
    pub fn read(self) -> T {
        // SAFETY: valid and aligned by `Shared::new`; any bit pattern is a valid T (Pod).
        unsafe { self.ptr.as_ptr().read_volatile() }
    }

    /// Writes the value once (volatile).
    pub fn write(self, value: T) {
        // SAFETY: valid and aligned by `Shared::new`, and no reference to it exists.
        unsafe { self.ptr.as_ptr().write_volatile(value) }
    }
}

impl<E, const N: usize> Shared<[E; N]> {
    /// The element at `index`, or `None` when out of range.
    pub fn get(self, index: usize) -> Option<Shared<E>> {
        if index >= N {
            return None;
        }
        Some(self.project(index * core::mem::size_of::<E>()))
    }
}

impl Shared<u64> {
    /// The word as an atomic (for bitmaps Xen updates with locked instructions).
    pub fn atomic(&self) -> &AtomicU64 {
        // SAFETY: valid and aligned for u64 (`Shared::new`), and AtomicU64 has the same size
        // and alignment as u64 on x86_64; concurrent changes by a peer are what atomics allow.
        unsafe { AtomicU64::from_ptr(self.ptr.as_ptr()) }
    }
}

impl<const N: usize> Shared<[u8; N]> {
    /// Copies `src` into the buffer at `offset`; false (copying nothing) if it does not fit.
    pub fn write_bytes(self, offset: usize, src: &[u8]) -> bool {
        if offset.checked_add(src.len()).is_none_or(|end| end > N) {
            return false;
        }
        let dst = self.ptr.as_ptr().cast::<u8>().wrapping_add(offset);
        // SAFETY: `[offset, offset + len)` lies inside the N bytes this Shared points to
        // (checked above); `src` is a distinct Rust slice, so the ranges do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        true
    }

    /// Copies bytes at `offset` into `dst`; false (copying nothing) if they are not all
    /// inside the buffer.
    pub fn read_bytes(self, offset: usize, dst: &mut [u8]) -> bool {
        if offset.checked_add(dst.len()).is_none_or(|end| end > N) {
            return false;
        }
        let src = self.ptr.as_ptr().cast::<u8>().wrapping_add(offset);
        // SAFETY: as in `write_bytes`, with source and destination swapped.
        unsafe { core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
        true
    }
}

impl Shared<u16> {
    /// The half-word as an atomic.
    pub fn atomic(&self) -> &AtomicU16 {
        // SAFETY: valid and aligned for u16 (`Shared::new`); AtomicU16 has u16's layout.
        unsafe { AtomicU16::from_ptr(self.ptr.as_ptr()) }
    }
}

impl Shared<u32> {
    /// The word as an atomic.
    pub fn atomic(&self) -> &AtomicU32 {
        // SAFETY: valid and aligned for u32 (`Shared::new`); AtomicU32 has u32's layout.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr()) }
    }
}

/// `shared_field!(s, Type, field.path)`: the [`Shared`] of a field, by `offset_of!`.
#[macro_export]
macro_rules! shared_field {
    ($s:expr, $t:ty, $($f:tt)+) => {
        $crate::shared::Shared::<$t>::project_as(
            $s,
            core::mem::offset_of!($t, $($f)+),
            |v: &$t| &v.$($f)+,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::xen::VcpuInfo;

    #[test]
    fn fields_are_reached_by_offset() {
        let mut info = VcpuInfo::default();
        // SAFETY: `info` outlives `s`, and is used only through `s` until the end.
        let s = unsafe { Shared::new(&raw mut info) };
        shared_field!(s, VcpuInfo, time.system_time).write(77);
        shared_field!(s, VcpuInfo, evtchn_upcall_mask).write(1);
        assert_eq!(shared_field!(s, VcpuInfo, time.system_time).read(), 77);
        assert_eq!(info.time.system_time, 77);
        assert_eq!(info.evtchn_upcall_mask, 1);
    }

    #[test]
    fn byte_copies_are_bounds_checked() {
        let mut buf = [0u8; 8];
        // SAFETY: `buf` outlives `s` and is reached only through it meanwhile.
        let s = unsafe { Shared::new(&raw mut buf) };
        assert!(s.write_bytes(6, b"ab"));
        assert!(!s.write_bytes(7, b"ab"));
        assert!(!s.write_bytes(usize::MAX, b"a"));
        let mut out = [0u8; 3];
        assert!(s.read_bytes(5, &mut out));
        assert_eq!(&out, b"\0ab");
        assert!(!s.read_bytes(6, &mut out));
        assert_eq!(buf, *b"\0\0\0\0\0\0ab");
    }

    #[test]
    fn array_get_is_bounds_checked() {
        let mut words = [0u64; 4];
        // SAFETY: `words` outlives `s` and is used only through `s` until the end.
        let s = unsafe { Shared::new(&raw mut words) };
        assert!(s.get(4).is_none());
        s.get(3)
            .expect("in range")
            .atomic()
            .fetch_or(1 << 5, core::sync::atomic::Ordering::SeqCst);
        assert_eq!(words[3], 1 << 5);
    }

    #[test]
    #[should_panic(expected = "field out of bounds")]
    fn projecting_past_the_end_is_our_bug_and_panics() {
        let mut word = 0u32;
        // SAFETY: `word` outlives `s`.
        let s = unsafe { Shared::new(&raw mut word) };
        let _ = s.project::<u64>(0);
    }
}
