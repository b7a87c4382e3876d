//! File descriptors as open-file objects: one table of descriptors, each naming an open
//! file description ([`Description`]) that holds an object behind one trait
//! ([`FileObject`], the shape of Hermit's `ObjectInterface`): the console, sockets, epoll
//! sets, pipe ends, eventfds, regular files, directories and devices.
//!
//! `dup`/`dup2`/`dup3`/`F_DUPFD` share the description (its offset, its `O_NONBLOCK` and
//! `O_APPEND`); `O_CLOEXEC` belongs to the descriptor. A description lives while a
//! descriptor or a call in progress holds it: a call takes its own reference and lets go
//! of the table before it blocks, so other threads keep using their descriptors, and a
//! `close` from another thread while a call blocks ends nothing under it. Epoll sets hold
//! their registrations by weak reference, so they go with the description's last close.
//!
//! The table's size is `RLIMIT_NOFILE` (1024, raised up to [`NOFILE_MAX`] by `setrlimit`);
//! descriptors 0, 1 and 2 start as the console.

use crate::errno::Errno;
use crate::stat::StatInfo;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The most descriptors `setrlimit(RLIMIT_NOFILE)` may allow (the hard limit).
pub(crate) const NOFILE_MAX: u32 = 65536;
/// Descriptors a program may have open when it starts (the soft limit, as on Linux).
pub(crate) const NOFILE_DEFAULT: u32 = 1024;

/// `open` flags kept in the description (`F_GETFL` answers them).
pub(crate) mod oflag {
    /// Access mode bits.
    pub(crate) const ACCMODE: u32 = 3;
    /// Read only.
    pub(crate) const RDONLY: u32 = 0;
    /// Write only.
    pub(crate) const WRONLY: u32 = 1;
    /// Read and write.
    pub(crate) const RDWR: u32 = 2;
    /// `O_CREAT`.
    pub(crate) const CREAT: u32 = 0o100;
    /// `O_EXCL`.
    pub(crate) const EXCL: u32 = 0o200;
    /// `O_TRUNC`.
    pub(crate) const TRUNC: u32 = 0o1000;
    /// `O_APPEND`.
    pub(crate) const APPEND: u32 = 0o2000;
    /// `O_NONBLOCK`.
    pub(crate) const NONBLOCK: u32 = 0o4000;
    /// `O_DSYNC`.
    pub(crate) const DSYNC: u32 = 0o10000;
    /// `O_ASYNC`.
    pub(crate) const ASYNC: u32 = 0o20000;
    /// `O_DIRECT`.
    pub(crate) const DIRECT: u32 = 0o40000;
    /// `O_LARGEFILE` (musl always sets it).
    pub(crate) const LARGEFILE: u32 = 0o100000;
    /// `O_DIRECTORY`.
    pub(crate) const DIRECTORY: u32 = 0o200000;
    /// `O_NOFOLLOW`.
    pub(crate) const NOFOLLOW: u32 = 0o400000;
    /// `O_NOATIME`.
    pub(crate) const NOATIME: u32 = 0o1000000;
    /// `O_CLOEXEC`.
    pub(crate) const CLOEXEC: u32 = 0o2000000;
    /// `O_SYNC` (includes `O_DSYNC`).
    pub(crate) const SYNC: u32 = 0o4010000;
    /// `O_PATH`.
    pub(crate) const PATH: u32 = 0o10000000;
    /// `O_TMPFILE` (includes `O_DIRECTORY`).
    pub(crate) const TMPFILE: u32 = 0o20200000;
    /// The flags `F_SETFL` may change (Linux: `O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME
    /// | O_NONBLOCK`).
    pub(crate) const SETFL_MASK: u32 = APPEND | ASYNC | DIRECT | NOATIME | NONBLOCK;
}

/// `poll` bits.
pub(crate) mod pollbits {
    /// Readable.
    pub(crate) const IN: u16 = 1;
    /// Urgent data.
    pub(crate) const PRI: u16 = 2;
    /// Writable.
    pub(crate) const OUT: u16 = 4;
    /// Error (always reported).
    pub(crate) const ERR: u16 = 8;
    /// Hang-up (always reported).
    pub(crate) const HUP: u16 = 0x10;
    /// Not an open descriptor.
    pub(crate) const NVAL: u16 = 0x20;
    /// Normal data readable (same as `IN` here).
    pub(crate) const RDNORM: u16 = 0x40;
    /// Normal data writable (same as `OUT` here).
    pub(crate) const WRNORM: u16 = 0x100;
    /// The peer shut its writing side down.
    pub(crate) const RDHUP: u16 = 0x2000;
}

/// What an object is ready for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Readiness {
    /// `poll` bits known now, without the network.
    pub(crate) now: u16,
    /// A socket of the network service whose readiness decides the rest.
    pub(crate) net: Option<kernel::net::SocketId>,
}

impl Readiness {
    /// Ready for `bits` now.
    pub(crate) fn bits(bits: u16) -> Self {
        Readiness {
            now: bits,
            net: None,
        }
    }
}

/// An open object: what each kind of descriptor does. Every method has Linux's answer
/// for an object that cannot do it, so each kind implements only what it is.
pub(crate) trait FileObject: Send + Sync {
    /// `read` at the description's position (the object moves it if it has one).
    fn read(&self, _d: &Description, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// `write` at the description's position (or its end under `O_APPEND`).
    fn write(&self, _d: &Description, _data: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// `pread64` at `off`.
    fn pread(&self, _buf: &mut [u8], _off: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }
    /// `pwrite64` at `off`.
    fn pwrite(&self, _data: &[u8], _off: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }
    /// `lseek`: the new position.
    fn seek(&self, _d: &Description, _off: i64, _whence: u32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }
    /// What it is ready for.
    fn poll(&self) -> Readiness {
        Readiness::bits(pollbits::IN | pollbits::OUT)
    }
    /// `ioctl` other than the generic ones (`FIONBIO`, `FIOCLEX`, `FIONCLEX`).
    fn ioctl(&self, _d: &Description, _req: u64, _arg: u64) -> Result<i64, Errno> {
        Err(Errno::ENOTTY)
    }
    /// `fstat`.
    fn stat(&self) -> Result<StatInfo, Errno>;
    /// `O_NONBLOCK` changed on the description (sockets keep their own copy).
    fn set_nonblocking(&self, _on: bool) {}
    /// The socket, for the socket calls (`ENOTSOCK` otherwise).
    fn as_socket(&self) -> Option<&crate::socket::Socket> {
        None
    }
    /// The epoll set, for `epoll_ctl`/`epoll_wait` (`EINVAL` otherwise).
    fn as_epoll(&self) -> Option<&crate::poll::Epoll> {
        None
    }
    /// The file-tree node, for the calls on files and directories.
    fn as_node(&self) -> Option<&crate::file::NodeFile> {
        None
    }
    /// `shutdown(how)` of a socket the guest keeps itself (0 read, 1 write, 2 both).
    fn shutdown(&self, _how: u64) -> Result<(), Errno> {
        Err(Errno::ENOTSOCK)
    }
    /// `fsync`/`fdatasync` (`EINVAL` for objects with nothing to sync, as on Linux).
    fn sync(&self, _data_only: bool) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
}

/// Source of description ids (epoll keys, open-file-description locks).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An open file description: the object, the status flags and the position.
pub(crate) struct Description {
    /// What it is.
    pub(crate) object: Arc<dyn FileObject>,
    /// `O_ACCMODE` and the status flags (`O_APPEND`, `O_NONBLOCK`, ...).
    flags: AtomicU32,
    /// The file position (objects without one ignore it).
    pub(crate) pos: spin::Mutex<u64>,
    /// Unique for the guest's life.
    pub(crate) id: u64,
    /// Counts the program's reads and writes through it (edge-triggered epoll).
    io: AtomicU64,
}

impl Description {
    /// A description of `object` opened with `flags`.
    pub(crate) fn new(object: Arc<dyn FileObject>, flags: u32) -> Arc<Description> {
        let flags = flags
            & (oflag::ACCMODE
                | oflag::SETFL_MASK
                | oflag::DSYNC
                | oflag::SYNC
                | oflag::LARGEFILE
                | oflag::PATH);
        Arc::new(Description {
            object,
            flags: AtomicU32::new(flags),
            pos: spin::Mutex::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            io: AtomicU64::new(0),
        })
    }

    /// Notes a read or write by the program.
    pub(crate) fn touch(&self) {
        self.io.fetch_add(1, Ordering::Relaxed);
    }

    /// How many reads and writes the program made through it.
    pub(crate) fn io_seq(&self) -> u64 {
        self.io.load(Ordering::Relaxed)
    }

    /// The flags (`F_GETFL`).
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// `O_NONBLOCK`.
    pub(crate) fn nonblocking(&self) -> bool {
        self.flags() & oflag::NONBLOCK != 0
    }

    /// Sets the changeable status flags (`F_SETFL`); the access mode stays.
    pub(crate) fn set_flags(&self, new: u32) {
        let keep = self.flags() & !oflag::SETFL_MASK;
        let nb_before = self.nonblocking();
        self.flags
            .store(keep | (new & oflag::SETFL_MASK), Ordering::Relaxed);
        if self.nonblocking() != nb_before {
            self.object.set_nonblocking(self.nonblocking());
        }
    }

    /// Sets or clears `O_NONBLOCK` (`FIONBIO`).
    pub(crate) fn set_nonblocking(&self, on: bool) {
        let f = self.flags();
        self.set_flags(if on {
            f | oflag::NONBLOCK
        } else {
            f & !oflag::NONBLOCK
        });
    }

    /// May be read (`EBADF` for a write-only or `O_PATH` description).
    pub(crate) fn check_readable(&self) -> Result<(), Errno> {
        let f = self.flags();
        if f & oflag::PATH != 0 || f & oflag::ACCMODE == oflag::WRONLY {
            return Err(Errno::EBADF);
        }
        Ok(())
    }

    /// May be written (`EBADF` for a read-only or `O_PATH` description).
    pub(crate) fn check_writable(&self) -> Result<(), Errno> {
        let f = self.flags();
        if f & oflag::PATH != 0 || f & oflag::ACCMODE == oflag::RDONLY {
            return Err(Errno::EBADF);
        }
        Ok(())
    }

    /// An `O_PATH` description: only a name for `*at` calls, `fstat` and `close`.
    pub(crate) fn is_path(&self) -> bool {
        self.flags() & oflag::PATH != 0
    }
}

impl Drop for Description {
    fn drop(&mut self) {
        // The last close: locks that belong to the description go with it.
        if let Some(node) = self.object.as_node() {
            crate::file::description_closed(node.node, self.id);
        }
    }
}

/// One descriptor: its description and `FD_CLOEXEC`.
#[derive(Clone)]
struct Slot {
    desc: Arc<Description>,
    cloexec: bool,
}

/// The descriptor table.
struct Table {
    slots: Vec<Option<Slot>>,
    /// `RLIMIT_NOFILE`'s soft limit: descriptors are below it.
    limit: u32,
}

static TABLE: spin::Mutex<Table> = spin::Mutex::new(Table {
    slots: Vec::new(),
    limit: NOFILE_DEFAULT,
});

impl Table {
    /// The lowest free descriptor at or above `from`.
    fn lowest_free(&self, from: usize) -> Result<usize, Errno> {
        let limit = self.limit as usize;
        let n = (from..limit)
            .find(|&i| self.slots.get(i).is_none_or(Option::is_none))
            .ok_or(Errno::EMFILE)?;
        Ok(n)
    }

    fn put(&mut self, n: usize, slot: Slot) -> Result<Option<Slot>, Errno> {
        if n >= self.limit as usize {
            return Err(Errno::EBADF);
        }
        if self.slots.len() <= n {
            self.slots
                .try_reserve(n + 1 - self.slots.len())
                .map_err(|_| Errno::ENOMEM)?;
            self.slots.resize(n + 1, None);
        }
        Ok(self.slots.get_mut(n).and_then(|s| s.replace(slot)))
    }
}

fn index(fd: u64) -> Result<usize, Errno> {
    let fd = i32::try_from(fd as i64).map_err(|_| Errno::EBADF)?;
    usize::try_from(fd).map_err(|_| Errno::EBADF)
}

/// Puts the console on 0, 1 and 2 (at program start).
pub(crate) fn init_console() {
    let console: Arc<dyn FileObject> = Arc::new(crate::dev::Console);
    let mut t = TABLE.lock();
    for (n, flags) in [(0, oflag::RDWR), (1, oflag::RDWR), (2, oflag::RDWR)] {
        let desc = Description::new(console.clone(), flags);
        let _ = t.put(
            n,
            Slot {
                desc,
                cloexec: false,
            },
        );
    }
}

/// Installs `desc` at the lowest free descriptor.
pub(crate) fn install(desc: Arc<Description>, cloexec: bool) -> Result<i32, Errno> {
    install_from(desc, cloexec, 0)
}

/// Installs `desc` at the lowest free descriptor at or above `from` (`F_DUPFD`).
pub(crate) fn install_from(
    desc: Arc<Description>,
    cloexec: bool,
    from: usize,
) -> Result<i32, Errno> {
    let mut t = TABLE.lock();
    let n = t.lowest_free(from)?;
    t.put(n, Slot { desc, cloexec })?;
    Ok(n as i32)
}

/// A new description of `object` with `flags` at the lowest free descriptor
/// (`O_CLOEXEC` in `flags` sets `FD_CLOEXEC`).
pub(crate) fn open_object(object: Arc<dyn FileObject>, flags: u32) -> Result<i32, Errno> {
    install(Description::new(object, flags), flags & oflag::CLOEXEC != 0)
}

/// The descriptor `fd` (its own reference to the description).
fn slot(fd: u64) -> Result<Slot, Errno> {
    let n = index(fd)?;
    TABLE
        .lock()
        .slots
        .get(n)
        .and_then(Option::as_ref)
        .cloned()
        .ok_or(Errno::EBADF)
}

/// The description `fd` names.
pub(crate) fn get(fd: u64) -> Result<Arc<Description>, Errno> {
    Ok(slot(fd)?.desc)
}

/// The description `fd` names, unless it is `O_PATH` (for calls that need a real open).
pub(crate) fn get_open(fd: u64) -> Result<Arc<Description>, Errno> {
    let d = get(fd)?;
    if d.is_path() {
        return Err(Errno::EBADF);
    }
    Ok(d)
}

/// Closes `fd`. The description ends with its last descriptor (and its last call).
pub(crate) fn close(fd: u64) -> Result<(), Errno> {
    let n = index(fd)?;
    let old = TABLE
        .lock()
        .slots
        .get_mut(n)
        .and_then(Option::take)
        .ok_or(Errno::EBADF)?;
    // Dropped here, outside the table's lock: the object's own drop may do work.
    release(old.desc);
    Ok(())
}

/// Lets go of a description a descriptor held: its record locks go with it (POSIX locks
/// belong to the process and are released by any close of the file).
fn release(desc: Arc<Description>) {
    if let Some(node) = desc.object.as_node() {
        node.closed_by_process(&desc);
    }
    drop(desc);
}

/// `dup`: the lowest free descriptor for the same description.
pub(crate) fn dup(fd: u64) -> Result<i32, Errno> {
    let d = get(fd)?;
    install(d, false)
}

/// `dup2`/`dup3`: `new` names the description of `old` (closing what it named).
pub(crate) fn dup_to(old: u64, new: u64, cloexec: bool, is_dup3: bool) -> Result<i32, Errno> {
    let d = get(old)?;
    let n = index(new)?;
    if old == new {
        return if is_dup3 {
            Err(Errno::EINVAL)
        } else {
            Ok(n as i32)
        };
    }
    let replaced = TABLE.lock().put(n, Slot { desc: d, cloexec })?;
    if let Some(s) = replaced {
        release(s.desc);
    }
    Ok(n as i32)
}

/// `FD_CLOEXEC` of `fd`.
pub(crate) fn cloexec(fd: u64) -> Result<bool, Errno> {
    Ok(slot(fd)?.cloexec)
}

/// Sets `FD_CLOEXEC` of `fd`.
pub(crate) fn set_cloexec(fd: u64, on: bool) -> Result<(), Errno> {
    let n = index(fd)?;
    let mut t = TABLE.lock();
    let slot = t
        .slots
        .get_mut(n)
        .and_then(|s| s.as_mut())
        .ok_or(Errno::EBADF)?;
    slot.cloexec = on;
    Ok(())
}

/// `RLIMIT_NOFILE`'s soft limit.
pub(crate) fn limit() -> u32 {
    TABLE.lock().limit
}

/// Sets `RLIMIT_NOFILE`'s soft limit (`EINVAL` above [`NOFILE_MAX`]). Descriptors
/// already open above a lowered limit stay open, as on Linux.
pub(crate) fn set_limit(n: u64) -> Result<(), Errno> {
    let n = u32::try_from(n).map_err(|_| Errno::EPERM)?;
    if n > NOFILE_MAX {
        return Err(Errno::EPERM);
    }
    TABLE.lock().limit = n;
    Ok(())
}
