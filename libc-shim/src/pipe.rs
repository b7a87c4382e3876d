//! Pipes (`pipe`, `pipe2`), eventfds (`eventfd2`) and AF_UNIX socket pairs
//! (`socketpair`, stream and datagram, within the guest), as descriptor objects.
//!
//! The buffers' rules (capacity, `PIPE_BUF` atomicity, end of file, broken pipe, the
//! eventfd counter) are `vfs::pipe` and `vfs::eventfd`, host-tested; this module adds the
//! waiting. A call that cannot go on joins the object's wait queue with nothing yielding
//! between the look and the join, so no wake is lost; every change also wakes the threads
//! polling ([`kernel::sched::sync::READINESS`]).

use crate::errno::Errno;
use crate::fd::{self, Description, FileObject, Readiness, oflag, pollbits};
use crate::stat::{StatInfo, ifmt};
use crate::user;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::sched::sync::{READINESS, WaitQueue, WaitResult};
use vfs::eventfd::EventCounter;
use vfs::pipe::{PipeBuffer, PipeError};

type R = Result<i64, Errno>;

/// `FIONREAD`.
const FIONREAD: u64 = 0x541b;

/// Waits on `q` until woken; a signal ends the wait with `EINTR`.
fn wait(q: &WaitQueue) -> Result<(), Errno> {
    match q.wait_interruptible(None) {
        WaitResult::Interrupted => Err(Errno::EINTR),
        WaitResult::Woken | WaitResult::TimedOut => Ok(()),
    }
}

/// Source of inode numbers for pipes and socket pairs.
static NEXT_INO: AtomicU64 = AtomicU64::new(1 << 30);

impl From<PipeError> for Errno {
    fn from(e: PipeError) -> Errno {
        match e {
            PipeError::WouldBlock => Errno::EAGAIN,
            PipeError::BrokenPipe => Errno::EPIPE,
            PipeError::Busy => Errno::EBUSY,
            PipeError::Invalid => Errno::EINVAL,
            PipeError::NoMemory => Errno::ENOMEM,
        }
    }
}

/// A byte channel: the buffer, and the threads waiting on it.
struct Channel {
    buf: spin::Mutex<PipeBuffer>,
    /// Readers waiting for data, writers waiting for room.
    waiters: WaitQueue,
}

impl Channel {
    fn new() -> Arc<Channel> {
        Arc::new(Channel {
            buf: spin::Mutex::new(PipeBuffer::new()),
            waiters: WaitQueue::new(),
        })
    }

    fn changed(&self) {
        self.waiters.wake_all();
        READINESS.wake_all();
    }

    /// Reads what there is, waiting for data unless `nonblocking`; 0 at end of file.
    fn read(&self, buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let r = self.buf.lock().read(buf);
            match r {
                Ok(n) => {
                    if n > 0 {
                        self.changed();
                    }
                    return Ok(n);
                }
                Err(PipeError::WouldBlock) if !nonblocking => wait(&self.waiters)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes all of `data` (waiting for room), or what fits when `nonblocking`.
    fn write(&self, data: &[u8], nonblocking: bool) -> Result<usize, Errno> {
        let mut done = 0;
        loop {
            let rest = data.get(done..).unwrap_or_default();
            if rest.is_empty() && done > 0 {
                return Ok(done);
            }
            let r = self.buf.lock().write(rest);
            match r {
                Ok(n) => {
                    done += n;
                    self.changed();
                    if done == data.len() || nonblocking {
                        return Ok(done);
                    }
                }
                Err(PipeError::WouldBlock) if nonblocking => {
                    return if done > 0 {
                        Ok(done)
                    } else {
                        Err(Errno::EAGAIN)
                    };
                }
                Err(PipeError::WouldBlock) => {
                    if let Err(e) = wait(&self.waiters) {
                        return if done > 0 { Ok(done) } else { Err(e) };
                    }
                }
                Err(PipeError::BrokenPipe) if done > 0 => return Ok(done),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn read_poll(&self) -> u16 {
        let b = self.buf.lock();
        let mut r = 0;
        if b.readable() {
            r |= pollbits::IN | pollbits::RDNORM;
        }
        if b.hup() {
            r |= pollbits::HUP;
        }
        r
    }

    fn write_poll(&self) -> u16 {
        let b = self.buf.lock();
        let mut r = 0;
        if b.writable() {
            r |= pollbits::OUT | pollbits::WRNORM;
        }
        if b.err() {
            r |= pollbits::ERR;
        }
        r
    }
}

/// Which end of a pipe.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Read,
    Write,
}

/// One end of a pipe.
struct PipeEnd {
    ch: Arc<Channel>,
    end: End,
    ino: u64,
}

impl PipeEnd {
    fn new(ch: Arc<Channel>, end: End, ino: u64) -> Arc<PipeEnd> {
        {
            let mut b = ch.buf.lock();
            match end {
                End::Read => b.open_reader(),
                End::Write => b.open_writer(),
            }
        }
        Arc::new(PipeEnd { ch, end, ino })
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut b = self.ch.buf.lock();
            match self.end {
                End::Read => b.close_reader(),
                End::Write => b.close_writer(),
            }
        }
        self.ch.changed();
    }
}

impl FileObject for PipeEnd {
    fn read(&self, d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.end != End::Read {
            return Err(Errno::EBADF);
        }
        self.ch.read(buf, d.nonblocking())
    }

    fn write(&self, d: &Description, data: &[u8]) -> Result<usize, Errno> {
        if self.end != End::Write {
            return Err(Errno::EBADF);
        }
        self.ch.write(data, d.nonblocking())
    }

    fn poll(&self) -> Readiness {
        Readiness::bits(match self.end {
            End::Read => self.ch.read_poll(),
            End::Write => self.ch.write_poll(),
        })
    }

    fn ioctl(&self, _d: &Description, req: u64, arg: u64) -> Result<i64, Errno> {
        match req {
            FIONREAD => {
                let n = self.ch.buf.lock().len();
                user::write_i32(arg, i32::try_from(n).unwrap_or(i32::MAX))?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        Ok(StatInfo::anonymous(
            ifmt::FIFO,
            0o600,
            self.ino,
            crate::dev::now(),
        ))
    }
}

/// `pipe2(fds, flags)` (`pipe` is flags 0).
pub(crate) fn pipe2(fds: u64, flags: u64) -> R {
    let allowed = u64::from(oflag::CLOEXEC | oflag::NONBLOCK | oflag::DIRECT);
    if flags & !allowed != 0 {
        return Err(Errno::EINVAL);
    }
    user::check(fds, 8)?;
    let ch = Channel::new();
    let ino = NEXT_INO.fetch_add(1, Ordering::Relaxed);
    let f = flags as u32 & (oflag::CLOEXEC | oflag::NONBLOCK);
    let r = fd::open_object(PipeEnd::new(ch.clone(), End::Read, ino), f | oflag::RDONLY)?;
    let w = match fd::open_object(PipeEnd::new(ch, End::Write, ino), f | oflag::WRONLY) {
        Ok(w) => w,
        Err(e) => {
            let _ = fd::close(r as u64);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&r.to_le_bytes());
    out[4..].copy_from_slice(&w.to_le_bytes());
    user::write(fds, &out)?;
    Ok(0)
}

/// An eventfd.
struct EventFd {
    counter: spin::Mutex<EventCounter>,
    waiters: WaitQueue,
    ino: u64,
}

impl EventFd {
    fn changed(&self) {
        self.waiters.wake_all();
        READINESS.wake_all();
    }
}

impl FileObject for EventFd {
    fn read(&self, d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        loop {
            let r = self.counter.lock().read();
            match r {
                Ok(v) => {
                    out.copy_from_slice(&v.to_le_bytes());
                    self.changed();
                    return Ok(8);
                }
                Err(_) if d.nonblocking() => return Err(Errno::EAGAIN),
                Err(_) => wait(&self.waiters)?,
            }
        }
    }

    fn write(&self, d: &Description, data: &[u8]) -> Result<usize, Errno> {
        let b = data.get(..8).ok_or(Errno::EINVAL)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        let v = u64::from_le_bytes(v);
        loop {
            let r = self.counter.lock().write(v);
            match r {
                Ok(()) => {
                    self.changed();
                    return Ok(8);
                }
                Err(vfs::eventfd::EventError::Invalid) => return Err(Errno::EINVAL),
                Err(_) if d.nonblocking() => return Err(Errno::EAGAIN),
                Err(_) => wait(&self.waiters)?,
            }
        }
    }

    fn poll(&self) -> Readiness {
        let c = self.counter.lock();
        let mut r = 0;
        if c.readable() {
            r |= pollbits::IN | pollbits::RDNORM;
        }
        if c.writable() {
            r |= pollbits::OUT | pollbits::WRNORM;
        }
        Readiness::bits(r)
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        Ok(StatInfo::anonymous(0, 0o600, self.ino, crate::dev::now()))
    }
}

/// `eventfd2(initval, flags)`.
pub(crate) fn eventfd2(initval: u64, flags: u64) -> R {
    /// `EFD_SEMAPHORE`.
    const SEMAPHORE: u64 = 1;
    let allowed = SEMAPHORE | u64::from(oflag::CLOEXEC | oflag::NONBLOCK);
    if flags & !allowed != 0 {
        return Err(Errno::EINVAL);
    }
    let init = u32::try_from(initval).map_err(|_| Errno::EINVAL)?;
    let e = Arc::new(EventFd {
        counter: spin::Mutex::new(EventCounter::new(init, flags & SEMAPHORE != 0)),
        waiters: WaitQueue::new(),
        ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
    });
    let f = flags as u32 & (oflag::CLOEXEC | oflag::NONBLOCK);
    Ok(i64::from(fd::open_object(e, f | oflag::RDWR)?))
}

/// Datagrams in one direction of a datagram socket pair.
struct Datagrams {
    queue: spin::Mutex<(VecDeque<Vec<u8>>, usize, bool)>,
    waiters: WaitQueue,
}

/// Bytes a datagram queue holds at most (Linux's default socket buffer order).
const DGRAM_ROOM: usize = 208 * 1024;

impl Datagrams {
    fn new() -> Arc<Datagrams> {
        Arc::new(Datagrams {
            queue: spin::Mutex::new((VecDeque::new(), 0, false)),
            waiters: WaitQueue::new(),
        })
    }

    fn changed(&self) {
        self.waiters.wake_all();
        READINESS.wake_all();
    }
}

/// One end of an AF_UNIX socket pair.
enum UnixEnd {
    /// `SOCK_STREAM`: reads from `rx`, writes to `tx`.
    Stream { rx: Arc<Channel>, tx: Arc<Channel> },
    /// `SOCK_DGRAM` (and `SOCK_SEQPACKET`): messages kept whole.
    Dgram {
        rx: Arc<Datagrams>,
        tx: Arc<Datagrams>,
    },
}

struct UnixSocket {
    end: UnixEnd,
    ino: u64,
    /// Directions shut down already: (reading, writing).
    shut: spin::Mutex<(bool, bool)>,
}

impl UnixSocket {
    fn new(end: UnixEnd, ino: u64) -> Arc<UnixSocket> {
        Arc::new(UnixSocket {
            end,
            ino,
            shut: spin::Mutex::new((false, false)),
        })
    }

    /// Stops reading and/or writing (once each).
    fn shut(&self, read: bool, write: bool) {
        let mut s = self.shut.lock();
        match &self.end {
            UnixEnd::Stream { rx, tx } => {
                if read && !s.0 {
                    rx.buf.lock().close_reader();
                    rx.changed();
                }
                if write && !s.1 {
                    tx.buf.lock().close_writer();
                    tx.changed();
                }
            }
            UnixEnd::Dgram { rx, tx } => {
                if read && !s.0 {
                    rx.queue.lock().2 = true;
                    rx.changed();
                }
                if write && !s.1 {
                    tx.queue.lock().2 = true;
                    tx.changed();
                }
            }
        }
        s.0 |= read;
        s.1 |= write;
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        self.shut(true, true);
    }
}

impl FileObject for UnixSocket {
    fn read(&self, d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.end {
            UnixEnd::Stream { rx, .. } => rx.read(buf, d.nonblocking()),
            UnixEnd::Dgram { rx, .. } => loop {
                let mut q = rx.queue.lock();
                if let Some(m) = q.0.pop_front() {
                    q.1 -= m.len();
                    drop(q);
                    let n = m.len().min(buf.len());
                    buf.get_mut(..n)
                        .ok_or(Errno::EFAULT)?
                        .copy_from_slice(m.get(..n).unwrap_or_default());
                    rx.changed();
                    return Ok(n);
                }
                if q.2 {
                    return Ok(0);
                }
                drop(q);
                if d.nonblocking() {
                    return Err(Errno::EAGAIN);
                }
                wait(&rx.waiters)?;
            },
        }
    }

    fn write(&self, d: &Description, data: &[u8]) -> Result<usize, Errno> {
        match &self.end {
            UnixEnd::Stream { tx, .. } => tx.write(data, d.nonblocking()),
            UnixEnd::Dgram { tx, .. } => {
                if data.len() > DGRAM_ROOM {
                    return Err(Errno::EMSGSIZE);
                }
                loop {
                    let mut q = tx.queue.lock();
                    if q.2 {
                        return Err(Errno::EPIPE);
                    }
                    if q.1 + data.len() <= DGRAM_ROOM {
                        let mut m = Vec::new();
                        m.try_reserve_exact(data.len())
                            .map_err(|_| Errno::ENOBUFS)?;
                        m.extend_from_slice(data);
                        q.1 += m.len();
                        q.0.push_back(m);
                        drop(q);
                        tx.changed();
                        return Ok(data.len());
                    }
                    drop(q);
                    if d.nonblocking() {
                        return Err(Errno::EAGAIN);
                    }
                    wait(&tx.waiters)?;
                }
            }
        }
    }

    fn poll(&self) -> Readiness {
        Readiness::bits(match &self.end {
            UnixEnd::Stream { rx, tx } => {
                let w = tx.write_poll();
                // The peer gone: HUP, as Linux reports for a closed socket pair.
                let hup = if w & pollbits::ERR != 0 {
                    pollbits::HUP
                } else {
                    0
                };
                (rx.read_poll() | w | hup) & !pollbits::ERR
            }
            UnixEnd::Dgram { rx, tx } => {
                let mut r = 0;
                let q = rx.queue.lock();
                if !q.0.is_empty() {
                    r |= pollbits::IN | pollbits::RDNORM;
                }
                if q.2 {
                    r |= pollbits::HUP | pollbits::IN;
                }
                drop(q);
                let q = tx.queue.lock();
                if q.1 < DGRAM_ROOM {
                    r |= pollbits::OUT | pollbits::WRNORM;
                }
                r
            }
        })
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        Ok(StatInfo::anonymous(
            ifmt::SOCK,
            0o777,
            self.ino,
            crate::dev::now(),
        ))
    }

    fn shutdown(&self, how: u64) -> Result<(), Errno> {
        self.shut(how != 1, how != 0);
        Ok(())
    }

    fn ioctl(&self, _d: &Description, req: u64, arg: u64) -> Result<i64, Errno> {
        match (req, &self.end) {
            (FIONREAD, UnixEnd::Stream { rx, .. }) => {
                let n = rx.buf.lock().len();
                user::write_i32(arg, i32::try_from(n).unwrap_or(i32::MAX))?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }
}

/// `socket(AF_UNIX, ...)`: only connected pairs exist here (no named sockets).
pub(crate) fn unix_socket(_kind: u64, _flags: u32) -> R {
    Err(Errno::EAFNOSUPPORT)
}

/// `socketpair(AF_UNIX, kind, 0, sv)`.
pub(crate) fn socketpair(kind: u64, flags: u32, sv: u64) -> R {
    const SOCK_STREAM: u64 = 1;
    const SOCK_DGRAM: u64 = 2;
    const SOCK_SEQPACKET: u64 = 5;
    user::check(sv, 8)?;
    let (a, b) = match kind {
        SOCK_STREAM => {
            let (x, y) = (Channel::new(), Channel::new());
            for c in [&x, &y] {
                let mut buf = c.buf.lock();
                buf.open_reader();
                buf.open_writer();
            }
            (
                UnixEnd::Stream {
                    rx: x.clone(),
                    tx: y.clone(),
                },
                UnixEnd::Stream { rx: y, tx: x },
            )
        }
        SOCK_DGRAM | SOCK_SEQPACKET => {
            let (x, y) = (Datagrams::new(), Datagrams::new());
            (
                UnixEnd::Dgram {
                    rx: x.clone(),
                    tx: y.clone(),
                },
                UnixEnd::Dgram { rx: y, tx: x },
            )
        }
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    let ino = NEXT_INO.fetch_add(2, Ordering::Relaxed);
    let f = flags & (oflag::CLOEXEC | oflag::NONBLOCK);
    let fa = fd::open_object(UnixSocket::new(a, ino), f | oflag::RDWR)?;
    let fb = match fd::open_object(UnixSocket::new(b, ino + 1), f | oflag::RDWR) {
        Ok(x) => x,
        Err(e) => {
            let _ = fd::close(fa as u64);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&fa.to_le_bytes());
    out[4..].copy_from_slice(&fb.to_le_bytes());
    user::write(sv, &out)?;
    Ok(0)
}
