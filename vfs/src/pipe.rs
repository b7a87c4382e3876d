//! `PipeBuffer`: the byte ring behind a pipe or FIFO, with Linux's pipe(7) rules.
//!
//! - Capacity 65536 bytes by default; `F_SETPIPE_SZ` ([`PipeBuffer::set_capacity`]) rounds
//!   up to a power of two of at least a page and refuses to drop below the bytes held.
//! - A write of at most `PIPE_BUF` (4096) bytes is atomic: all of it or `WouldBlock`. A
//!   larger write takes what fits (`WouldBlock` if nothing does); a blocking caller writes
//!   the rest when room appears.
//! - Writing with no reader left is `BrokenPipe` (the caller raises `SIGPIPE`); reading an
//!   empty pipe is `WouldBlock` while a writer exists and end of file (0) after.
//! - For poll: readable with data, writable with room for `PIPE_BUF` bytes (Linux: a free
//!   slot), `hup` without writers, `err` without readers.
//!
//! Memory is allocated as data arrives, with `try_reserve` (`NoMemory`).

use alloc::collections::VecDeque;
use core::fmt;

/// `PIPE_BUF`: writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// The capacity of a new pipe (16 pages, as on Linux).
pub const DEFAULT_CAPACITY: usize = 65536;
/// The largest capacity `F_SETPIPE_SZ` accepts (Linux's `round_pipe_size` limit, 2^31).
pub const MAX_CAPACITY: usize = 1 << 31;

/// Why a pipe operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeError {
    /// `EAGAIN`: no data to read yet, or no room to write.
    WouldBlock,
    /// `EPIPE`: no reader is left.
    BrokenPipe,
    /// `EBUSY`: the new capacity is below the bytes held.
    Busy,
    /// `EINVAL`: a capacity past [`MAX_CAPACITY`].
    Invalid,
    /// `ENOMEM`: the buffer could not grow.
    NoMemory,
}

impl fmt::Display for PipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PipeError::WouldBlock => "pipe would block",
            PipeError::BrokenPipe => "broken pipe",
            PipeError::Busy => "pipe holds more than the new capacity",
            PipeError::Invalid => "pipe capacity too large",
            PipeError::NoMemory => "out of memory for pipe data",
        })
    }
}

impl core::error::Error for PipeError {}

/// The buffer of one pipe and the count of its open ends (see the module docs).
#[derive(Debug, Clone)]
pub struct PipeBuffer {
    data: VecDeque<u8>,
    capacity: usize,
    readers: u32,
    writers: u32,
}

impl Default for PipeBuffer {
    fn default() -> Self {
        PipeBuffer::new()
    }
}

impl PipeBuffer {
    /// An empty pipe with no open ends (`pipe(2)` opens one of each, a FIFO as opened).
    pub const fn new() -> PipeBuffer {
        PipeBuffer {
            data: VecDeque::new(),
            capacity: DEFAULT_CAPACITY,
            readers: 0,
            writers: 0,
        }
    }

    /// A read end was opened (or duplicated into another description).
    pub fn open_reader(&mut self) {
        self.readers = self.readers.saturating_add(1);
    }

    /// A read end was closed.
    pub fn close_reader(&mut self) {
        self.readers = self.readers.saturating_sub(1);
    }

    /// A write end was opened.
    pub fn open_writer(&mut self) {
        self.writers = self.writers.saturating_add(1);
    }

    /// A write end was closed.
    pub fn close_writer(&mut self) {
        self.writers = self.writers.saturating_sub(1);
    }

    /// Open read ends.
    pub fn readers(&self) -> u32 {
        self.readers
    }

    /// Open write ends.
    pub fn writers(&self) -> u32 {
        self.writers
    }

    /// Bytes held (`FIONREAD`).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The capacity (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// `F_SETPIPE_SZ`: sets the capacity to `size` rounded up to a power of two of at
    /// least a page, and returns it.
    ///
    /// # Errors
    ///
    /// `Invalid` past [`MAX_CAPACITY`]; `Busy` below the bytes held.
    pub fn set_capacity(&mut self, size: usize) -> Result<usize, PipeError> {
        if size > MAX_CAPACITY {
            return Err(PipeError::Invalid);
        }
        let rounded = size.max(PIPE_BUF).next_power_of_two();
        if rounded < self.data.len() {
            return Err(PipeError::Busy);
        }
        self.capacity = rounded;
        self.data.shrink_to(rounded);
        Ok(rounded)
    }

    /// Writes from `data` (see the module docs for how much).
    ///
    /// # Errors
    ///
    /// `BrokenPipe` without readers, `WouldBlock` without room, `NoMemory`.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, PipeError> {
        // pipe_write returns 0 for an empty write before looking at the readers.
        if data.is_empty() {
            return Ok(0);
        }
        if self.readers == 0 {
            return Err(PipeError::BrokenPipe);
        }
        let free = self.free();
        let n = if data.len() <= PIPE_BUF {
            if free < data.len() {
                return Err(PipeError::WouldBlock);
            }
            data.len()
        } else {
            if free == 0 {
                return Err(PipeError::WouldBlock);
            }
            free.min(data.len())
        };
        self.data.try_reserve(n).map_err(|_| PipeError::NoMemory)?;
        self.data.extend(data.iter().take(n));
        Ok(n)
    }

    /// Reads into `buf`; `Ok(0)` is end of file (empty, no writers) or an empty `buf`.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when empty while a writer exists.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, PipeError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.data.is_empty() {
            return if self.writers > 0 {
                Err(PipeError::WouldBlock)
            } else {
                Ok(0)
            };
        }
        let n = buf.len().min(self.data.len());
        for (dst, src) in buf.iter_mut().zip(self.data.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    /// `POLLIN`: there is data.
    pub fn readable(&self) -> bool {
        !self.data.is_empty()
    }

    /// `POLLOUT`: a write of `PIPE_BUF` bytes would fit.
    pub fn writable(&self) -> bool {
        self.free() >= PIPE_BUF
    }

    /// `POLLHUP` (for the read end): no writers.
    pub fn hup(&self) -> bool {
        self.writers == 0
    }

    /// `POLLERR` (for the write end): no readers.
    pub fn err(&self) -> bool {
        self.readers == 0
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque as Model;
    use std::vec;

    fn pipe() -> PipeBuffer {
        let mut p = PipeBuffer::new();
        p.open_reader();
        p.open_writer();
        p
    }

    #[test]
    fn small_writes_are_all_or_nothing() {
        let mut p = pipe();
        assert!(p.writable() && !p.readable());
        assert_eq!(p.write(&[1; 65536 - 100]), Ok(65536 - 100));
        assert!(!p.writable(), "less than PIPE_BUF free");
        // pipe(7): "if there is not room to write all of the data, write() fails with EAGAIN".
        assert_eq!(p.write(&[2; 101]), Err(PipeError::WouldBlock));
        assert_eq!(p.write(&[2; 100]), Ok(100));
        assert_eq!(p.len(), 65536);
        assert_eq!(p.write(b"x"), Err(PipeError::WouldBlock));
    }

    #[test]
    fn large_writes_take_what_fits() {
        let mut p = pipe();
        assert_eq!(p.write(&[0; 60_000]), Ok(60_000));
        // pipe(7): n > PIPE_BUF, nonblocking: "If there is room [...] write transfers what it
        // can"; no room at all is EAGAIN.
        assert_eq!(p.write(&[1; 10_000]), Ok(5536));
        assert_eq!(p.write(&[1; 10_000]), Err(PipeError::WouldBlock));
    }

    #[test]
    fn reads_drain_in_order_and_end_without_writers() {
        let mut p = pipe();
        let mut buf = [0u8; 4];
        assert_eq!(p.read(&mut buf), Err(PipeError::WouldBlock));
        p.write(b"abcdef").unwrap();
        assert_eq!(p.read(&mut buf), Ok(4));
        assert_eq!(&buf, b"abcd");
        p.close_writer();
        assert!(p.hup() && p.readable());
        assert_eq!(
            p.read(&mut buf),
            Ok(2),
            "data written before the close is read"
        );
        assert_eq!(&buf[..2], b"ef");
        assert_eq!(p.read(&mut buf), Ok(0), "then end of file");
        assert_eq!(p.read(&mut []), Ok(0));
    }

    #[test]
    fn writing_without_readers_is_a_broken_pipe() {
        let mut p = pipe();
        p.close_reader();
        assert!(p.err());
        assert_eq!(p.write(b"x"), Err(PipeError::BrokenPipe));
        assert_eq!(p.write(b""), Ok(0), "an empty write succeeds first");
    }

    #[test]
    fn capacity_rounds_up_and_cannot_drop_below_the_data() {
        let mut p = pipe();
        assert_eq!(p.capacity(), DEFAULT_CAPACITY);
        // fcntl(2) F_SETPIPE_SZ: the size is rounded up (to a power-of-two number of pages).
        assert_eq!(p.set_capacity(0), Ok(4096));
        assert_eq!(p.set_capacity(5000), Ok(8192));
        assert_eq!(p.set_capacity(1 << 20), Ok(1 << 20));
        assert_eq!(p.set_capacity(MAX_CAPACITY + 1), Err(PipeError::Invalid));
        p.write(&[0; 10_000]).unwrap();
        // EBUSY "the operation would cause the pipe capacity to be lowered below the amount
        // of data currently in the pipe".
        assert_eq!(p.set_capacity(8192), Err(PipeError::Busy));
        assert_eq!(p.set_capacity(10_000), Ok(16384));
        assert_eq!(
            p.write(&[0; 7000]),
            Ok(6384),
            "the new capacity bounds writes"
        );
        assert_eq!(p.write(b"x"), Err(PipeError::WouldBlock));
    }

    #[test]
    fn one_page_pipe_is_writable_only_when_empty() {
        let mut p = pipe();
        p.set_capacity(4096).unwrap();
        assert!(p.writable());
        p.write(b"x").unwrap();
        assert!(!p.writable());
        assert_eq!(p.write(&[0; 4095]), Ok(4095));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize),
        Read(usize),
        SetCap(usize),
        CloseWriter,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..20_000).prop_map(Op::Write),
            4 => (0usize..20_000).prop_map(Op::Read),
            1 => (0usize..100_000).prop_map(Op::SetCap),
            1 => Just(Op::CloseWriter),
        ]
    }

    proptest! {
        #[test]
        fn pipe_matches_a_deque(ops in proptest::collection::vec(op(), 1..80)) {
            let mut p = pipe();
            let mut m: Model<u8> = Model::new();
            let mut cap = DEFAULT_CAPACITY;
            let mut writers = 1;
            let mut next = 0u8;
            for op in ops {
                match op {
                    Op::Write(n) => {
                        let data: vec::Vec<u8> = (0..n).map(|i| next.wrapping_add(i as u8)).collect();
                        let free = cap - m.len();
                        let want = if n == 0 {
                            Ok(0)
                        } else if n <= PIPE_BUF {
                            if free >= n { Ok(n) } else { Err(PipeError::WouldBlock) }
                        } else if free == 0 {
                            Err(PipeError::WouldBlock)
                        } else {
                            Ok(free.min(n))
                        };
                        prop_assert_eq!(p.write(&data), want);
                        if let Ok(k) = want {
                            m.extend(&data[..k]);
                            next = next.wrapping_add(k as u8);
                        }
                    }
                    Op::Read(n) => {
                        let mut buf = vec![0u8; n];
                        let got = p.read(&mut buf);
                        if n == 0 {
                            prop_assert_eq!(got, Ok(0));
                        } else if m.is_empty() {
                            prop_assert_eq!(got, if writers > 0 { Err(PipeError::WouldBlock) } else { Ok(0) });
                        } else {
                            let k = n.min(m.len());
                            prop_assert_eq!(got, Ok(k));
                            let want: vec::Vec<u8> = m.drain(..k).collect();
                            prop_assert_eq!(&buf[..k], &want[..]);
                        }
                    }
                    Op::SetCap(n) => {
                        let rounded = n.max(4096).next_power_of_two();
                        if rounded < m.len() {
                            prop_assert_eq!(p.set_capacity(n), Err(PipeError::Busy));
                        } else {
                            prop_assert_eq!(p.set_capacity(n), Ok(rounded));
                            cap = rounded;
                        }
                    }
                    Op::CloseWriter => {
                        if writers > 0 {
                            p.close_writer();
                            writers -= 1;
                        }
                    }
                }
                prop_assert_eq!(p.len(), m.len());
                prop_assert!(p.len() <= p.capacity());
                prop_assert_eq!(p.readable(), !m.is_empty());
                prop_assert_eq!(p.writable(), cap - m.len() >= PIPE_BUF);
                prop_assert_eq!(p.hup(), writers == 0);
            }
        }
    }
}
