//! File descriptors: 0, 1 and 2 are the console; sockets (on the kernel's network
//! service) and epoll sets get the lowest free number from 3 up.
//!
//! An open file is an `Arc` in the table: a call takes its own reference and lets go of the
//! table before it blocks, so other threads keep using their descriptors meanwhile.

use crate::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::net::SocketAddrV4;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::net::{TcpListener, TcpStream, UdpSocket};

/// Most descriptors a program may have open.
pub(crate) const MAX_FDS: i32 = 1024;

/// What a socket is, as far as it got.
pub(crate) enum Sock {
    /// `socket(AF_INET, SOCK_STREAM)`, maybe bound to a port, not listening or connected.
    TcpNew {
        /// The port `bind` chose (0: none).
        port: u16,
        /// `TCP_NODELAY` was asked for.
        nodelay: bool,
    },
    /// Listening.
    Listener(Arc<TcpListener>),
    /// Connected.
    Stream(Arc<TcpStream>),
    /// `socket(AF_INET, SOCK_DGRAM)` before `bind` or the first send.
    UdpNew,
    /// A UDP socket with a port, and the peer `connect` gave.
    Udp(Arc<UdpSocket>, Option<SocketAddrV4>),
}

/// An open file.
pub(crate) enum File {
    /// A socket: what it is, and `O_NONBLOCK`.
    Socket(spin::Mutex<Sock>, AtomicBool),
    /// An epoll set: descriptor -> (events, data).
    Epoll(spin::Mutex<BTreeMap<i32, (u32, u64)>>),
}

impl File {
    /// A new socket file.
    pub(crate) fn socket(s: Sock, nonblocking: bool) -> File {
        File::Socket(spin::Mutex::new(s), AtomicBool::new(nonblocking))
    }

    /// `O_NONBLOCK`.
    pub(crate) fn nonblocking(&self) -> bool {
        match self {
            File::Socket(_, nb) => nb.load(Ordering::Relaxed),
            File::Epoll(_) => false,
        }
    }

    /// Sets `O_NONBLOCK`.
    pub(crate) fn set_nonblocking(&self, on: bool) {
        if let File::Socket(s, nb) = self {
            nb.store(on, Ordering::Relaxed);
            let r = match &*s.lock() {
                Sock::Listener(l) => l.set_nonblocking(on),
                Sock::Stream(t) => t.set_nonblocking(on),
                Sock::Udp(u, _) => u.set_nonblocking(on),
                Sock::TcpNew { .. } | Sock::UdpNew => Ok(()),
            };
            let _ = r;
        }
    }
}

static TABLE: spin::Mutex<BTreeMap<i32, Arc<File>>> = spin::Mutex::new(BTreeMap::new());

/// Puts `f` in the table at the lowest free number from 3.
pub(crate) fn install(f: File) -> Result<i32, Errno> {
    let mut t = TABLE.lock();
    let mut fd = 3;
    for &used in t.keys() {
        if used == fd {
            fd += 1;
        } else if used > fd {
            break;
        }
    }
    if fd >= MAX_FDS {
        return Err(Errno::EMFILE);
    }
    t.insert(fd, Arc::new(f));
    Ok(fd)
}

/// The open file `fd` (`EBADF` for the console's 0-2 and unknown numbers).
pub(crate) fn get(fd: u64) -> Result<Arc<File>, Errno> {
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    TABLE.lock().get(&fd).cloned().ok_or(Errno::EBADF)
}

/// Closes `fd` (a socket closes once no call uses it any more).
pub(crate) fn close(fd: u64) -> Result<(), Errno> {
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    if (0..=2).contains(&fd) {
        return Ok(());
    }
    TABLE.lock().remove(&fd).map(|_| ()).ok_or(Errno::EBADF)
}

/// True for the console's descriptors.
pub(crate) fn is_console(fd: u64) -> bool {
    fd <= 2
}
