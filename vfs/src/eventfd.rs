//! `EventCounter`: the 64-bit counter behind an eventfd, with eventfd(2)'s rules.
//!
//! A write adds to the counter; it may not reach 0xffff_ffff_ffff_ffff (a write that would
//! pass 0xffff_ffff_ffff_fffe is `WouldBlock`, writing that value itself is `Invalid`). A read
//! returns the whole counter and resets it to 0, or in semaphore mode (`EFD_SEMAPHORE`)
//! returns 1 and decrements it; reading 0 is `WouldBlock`.

use core::fmt;

/// The largest value the counter can hold.
pub const EVENTFD_MAX: u64 = 0xffff_ffff_ffff_fffe;

/// Why an eventfd operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventError {
    /// `EINVAL`: a write of 0xffff_ffff_ffff_ffff.
    Invalid,
    /// `EAGAIN`: reading a zero counter, or a write that would pass [`EVENTFD_MAX`].
    WouldBlock,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventError::Invalid => "invalid eventfd value",
            EventError::WouldBlock => "eventfd would block",
        })
    }
}

impl core::error::Error for EventError {}

/// An eventfd's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventCounter {
    /// The counter.
    pub value: u64,
    /// `EFD_SEMAPHORE`: reads take 1 at a time.
    pub semaphore: bool,
}

impl EventCounter {
    /// `eventfd(initval, flags)`.
    pub const fn new(initval: u32, semaphore: bool) -> EventCounter {
        EventCounter {
            value: initval as u64,
            semaphore,
        }
    }

    /// Adds `n` (an 8-byte `write`).
    ///
    /// # Errors
    ///
    /// `Invalid` for `u64::MAX`, `WouldBlock` if the counter would pass [`EVENTFD_MAX`].
    pub fn write(&mut self, n: u64) -> Result<(), EventError> {
        if n == u64::MAX {
            return Err(EventError::Invalid);
        }
        if n > EVENTFD_MAX - self.value.min(EVENTFD_MAX) {
            return Err(EventError::WouldBlock);
        }
        self.value += n;
        Ok(())
    }

    /// Takes the counter (or 1 in semaphore mode) (an 8-byte `read`).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the counter is 0.
    pub fn read(&mut self) -> Result<u64, EventError> {
        if self.value == 0 {
            return Err(EventError::WouldBlock);
        }
        if self.semaphore {
            self.value -= 1;
            Ok(1)
        } else {
            Ok(core::mem::take(&mut self.value))
        }
    }

    /// `POLLIN`: the counter is above 0.
    pub fn readable(&self) -> bool {
        self.value > 0
    }

    /// `POLLOUT`: a write of at least 1 would succeed.
    pub fn writable(&self) -> bool {
        self.value < EVENTFD_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_takes_everything_and_resets() {
        let mut e = EventCounter::new(3, false);
        assert!(e.readable());
        e.write(4).unwrap();
        assert_eq!(e.read(), Ok(7));
        assert_eq!(e.read(), Err(EventError::WouldBlock));
        assert!(!e.readable() && e.writable());
    }

    #[test]
    fn semaphore_reads_one_at_a_time() {
        let mut e = EventCounter::new(2, true);
        assert_eq!(e.read(), Ok(1));
        assert_eq!(e.read(), Ok(1));
        assert_eq!(e.read(), Err(EventError::WouldBlock));
    }

    #[test]
    fn the_counter_stops_below_all_ones() {
        // eventfd(2): writing 0xffffffffffffffff is EINVAL; "If the addition would cause the
        // counter's value to exceed the maximum, then the write() either blocks [...] or
        // fails with the error EAGAIN".
        let mut e = EventCounter::new(0, false);
        assert_eq!(e.write(u64::MAX), Err(EventError::Invalid));
        e.write(EVENTFD_MAX - 1).unwrap();
        assert!(e.writable());
        e.write(1).unwrap();
        assert_eq!(e.value, EVENTFD_MAX);
        assert!(!e.writable());
        assert_eq!(e.write(1), Err(EventError::WouldBlock));
        assert_eq!(e.write(0), Ok(()), "adding 0 always fits");
        assert_eq!(e.read(), Ok(EVENTFD_MAX));
        assert_eq!(e.write(EVENTFD_MAX), Ok(()));
    }
}
