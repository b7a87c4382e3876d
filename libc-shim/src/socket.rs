//! BSD sockets, IPv4 TCP and UDP on the kernel's network service (`kernel::net`), as
//! descriptor objects.
//!
//! A TCP socket becomes a listener at `listen` (its backlog is the kernel listener's) or a
//! stream at `connect`/`accept`; a UDP socket gets its port at `bind` or its first send.
//! `O_NONBLOCK` (from `socket`, `accept4`, `fcntl` or `FIONBIO`) makes calls return
//! `EAGAIN`. The socket's state sits behind a spin lock that is held only to look or to
//! change it, never across a call that waits: a blocking call takes its own reference to
//! the kernel socket first. Data moves through kernel buffers of at most [`CHUNK`] bytes,
//! copied to or from the program, so no reference into the program's memory is held while
//! a call waits.

use crate::errno::Errno;
use crate::fd::{self, Description, FileObject, Readiness, pollbits};
use crate::stat::{StatInfo, ifmt};
use crate::user::{self, IoVec};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::net::{self, NetError, Shutdown, TcpListener, TcpStream, UdpSocket};

type R = Result<i64, Errno>;

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const SOCK_STREAM: u64 = 1;
const SOCK_DGRAM: u64 = 2;
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: u64 = 0o2000000;
/// `MSG_DONTWAIT`.
const MSG_DONTWAIT: u64 = 0x40;
/// `MSG_PEEK`.
const MSG_PEEK: u64 = 2;

/// Largest piece of data moved through the kernel at once.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Largest UDP payload over IPv4.
const UDP_MAX: usize = 65507;

impl From<NetError> for Errno {
    fn from(e: NetError) -> Errno {
        match e {
            NetError::WouldBlock => Errno::EAGAIN,
            NetError::TimedOut => Errno::ETIMEDOUT,
            NetError::AddrInUse { .. } => Errno::EADDRINUSE,
            NetError::Unaddressable => Errno::EADDRNOTAVAIL,
            NetError::ConnectionReset => Errno::ECONNRESET,
            NetError::ConnectionRefused => Errno::ECONNREFUSED,
            NetError::NotConnected => Errno::ENOTCONN,
            NetError::BrokenPipe => Errno::EPIPE,
            NetError::BadSocket(_) => Errno::EBADF,
            NetError::MessageTooLarge => Errno::EMSGSIZE,
            NetError::Interrupted => Errno::EINTR,
            NetError::Down(_) => Errno::ENETDOWN,
        }
    }
}

/// What a socket is, as far as it got.
enum Sock {
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

/// A UDP socket and the peer `connect` gave it.
type UdpAndPeer = (Arc<UdpSocket>, Option<SocketAddrV4>);

/// An IPv4 socket.
pub(crate) struct Socket {
    state: spin::Mutex<Sock>,
    /// `O_NONBLOCK`, copied from the description for the kernel sockets made later.
    nonblocking: AtomicBool,
    /// Inode number for `fstat`.
    ino: u64,
}

/// What a call found the socket to be, with its own references.
enum Now {
    TcpNew { port: u16 },
    Listener(Arc<TcpListener>),
    Stream(Arc<TcpStream>),
    UdpNew,
    Udp(Arc<UdpSocket>, Option<SocketAddrV4>),
}

impl Socket {
    fn now(&self) -> Now {
        match &*self.state.lock() {
            Sock::TcpNew { port, .. } => Now::TcpNew { port: *port },
            Sock::Listener(l) => Now::Listener(l.clone()),
            Sock::Stream(t) => Now::Stream(t.clone()),
            Sock::UdpNew => Now::UdpNew,
            Sock::Udp(u, p) => Now::Udp(u.clone(), *p),
        }
    }

    fn nb(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    /// The UDP socket, bound to an ephemeral port first if it had none.
    fn udp(&self) -> Result<Option<UdpAndPeer>, Errno> {
        let mut g = self.state.lock();
        if let Sock::UdpNew = *g {
            let u = UdpSocket::bind(0)?;
            u.set_nonblocking(self.nb())?;
            *g = Sock::Udp(Arc::new(u), None);
        }
        Ok(match &*g {
            Sock::Udp(u, p) => Some((u.clone(), *p)),
            _ => None,
        })
    }

    /// The connected stream (`ENOTCONN` otherwise).
    fn stream(&self) -> Result<Arc<TcpStream>, Errno> {
        match self.now() {
            Now::Stream(t) => Ok(t),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// Sends `data` (to `to` for UDP): at most one datagram, or what fits of a stream
    /// (all of it when blocking, moved a [`CHUNK`] at a time by the caller).
    fn send(&self, data: &[u8], to: Option<SocketAddrV4>, dontwait: bool) -> Result<usize, Errno> {
        if let Some((u, peer)) = self.udp()? {
            let dest = to.or(peer).ok_or(Errno::EDESTADDRREQ)?;
            return with_nonblocking(dontwait && !self.nb(), &*u, |u| u.send_to(data, dest));
        }
        let t = self.stream()?;
        with_nonblocking(dontwait && !self.nb(), &*t, |t| t.write(data))
    }

    /// Receives into `buf` (and the sender, for UDP).
    fn recv(&self, buf: &mut [u8], dontwait: bool) -> Result<(usize, Option<SocketAddrV4>), Errno> {
        match self.now() {
            Now::Udp(u, _) => {
                let (n, from) =
                    with_nonblocking(dontwait && !self.nb(), &*u, |u| u.recv_from(buf))?;
                Ok((n, Some(from)))
            }
            Now::UdpNew => {
                // Nothing can arrive before a port is bound: wait like Linux would (for
                // ever, or EAGAIN).
                if self.nb() || dontwait {
                    Err(Errno::EAGAIN)
                } else {
                    let (u, _) = self.udp()?.ok_or(Errno::EINVAL)?;
                    let (n, from) = u.recv_from(buf)?;
                    Ok((n, Some(from)))
                }
            }
            Now::Stream(t) => Ok((
                with_nonblocking(dontwait && !self.nb(), &*t, |t| t.read(buf))?,
                None,
            )),
            _ => Err(Errno::ENOTCONN),
        }
    }
}

/// Something whose blocking mode can be switched for one call (`MSG_DONTWAIT`).
trait Blocking {
    fn set_nb(&self, on: bool) -> Result<(), NetError>;
}
impl Blocking for TcpStream {
    fn set_nb(&self, on: bool) -> Result<(), NetError> {
        self.set_nonblocking(on)
    }
}
impl Blocking for UdpSocket {
    fn set_nb(&self, on: bool) -> Result<(), NetError> {
        self.set_nonblocking(on)
    }
}

/// Runs `f` on `s`, non-blocking for this call when `temporarily` (it was blocking).
fn with_nonblocking<S: Blocking, T>(
    temporarily: bool,
    s: &S,
    f: impl FnOnce(&S) -> Result<T, NetError>,
) -> Result<T, Errno> {
    if temporarily {
        s.set_nb(true)?;
    }
    let r = f(s);
    if temporarily {
        s.set_nb(false)?;
    }
    Ok(r?)
}

impl FileObject for Socket {
    fn read(&self, _d: &Description, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(self.recv(buf, false)?.0)
    }

    fn write(&self, _d: &Description, data: &[u8]) -> Result<usize, Errno> {
        self.send(data, None, false)
    }

    fn poll(&self) -> Readiness {
        match self.now() {
            Now::Listener(l) => Readiness {
                now: 0,
                net: Some(l.id()),
            },
            Now::Stream(t) => Readiness {
                now: 0,
                net: Some(t.id()),
            },
            Now::Udp(u, _) => Readiness {
                now: 0,
                net: Some(u.id()),
            },
            // Linux: an unconnected TCP socket reports POLLOUT | POLLHUP; a fresh UDP
            // socket is writable.
            Now::TcpNew { .. } => Readiness::bits(pollbits::OUT | pollbits::HUP),
            Now::UdpNew => Readiness::bits(pollbits::OUT),
        }
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        Ok(StatInfo::anonymous(
            ifmt::SOCK,
            0o777,
            self.ino,
            crate::dev::now(),
        ))
    }

    fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::Relaxed);
        // A kernel socket that cannot take the mode is gone already; the next call
        // reports that.
        let _ = match self.now() {
            Now::Listener(l) => l.set_nonblocking(on),
            Now::Stream(t) => t.set_nonblocking(on),
            Now::Udp(u, _) => u.set_nonblocking(on),
            Now::TcpNew { .. } | Now::UdpNew => Ok(()),
        };
    }

    fn ioctl(&self, _d: &Description, req: u64, arg: u64) -> Result<i64, Errno> {
        /// `FIONREAD`: bytes waiting to be read.
        const FIONREAD: u64 = 0x541b;
        match req {
            FIONREAD => {
                // The exact count is the stack's; "some" (1) or none is what callers
                // use it for.
                let r = crate::poll::ready_now(self.poll(), pollbits::IN);
                user::write_i32(arg, i32::from(r & pollbits::IN != 0))?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn as_socket(&self) -> Option<&Socket> {
        Some(self)
    }
}

fn sock_of(d: &Description) -> Result<&Socket, Errno> {
    d.object.as_socket().ok_or(Errno::ENOTSOCK)
}

/// A socket of the guest's own (an AF_UNIX pair): the send and receive calls without an
/// address are its writes and reads.
fn is_local_socket(d: &Description) -> bool {
    d.object.as_socket().is_none()
        && d.object
            .stat()
            .is_ok_and(|s| s.mode & ifmt::MASK == ifmt::SOCK)
}

/// `send*` on a local socket: the buffers written in order (a datagram pair gets one
/// message, so they are gathered first).
fn local_send(d: &Description, vecs: &[IoVec], flags: u64) -> R {
    let _ = flags;
    let total: usize = vecs.iter().map(|v| v.1).sum();
    let data = user::gather(vecs, 0, total.min(CHUNK * 4))?;
    let n = d.object.write(d, &data)?;
    d.touch();
    Ok(n as i64)
}

/// `recv*` on a local socket.
fn local_recv(d: &Description, vecs: &[IoVec]) -> R {
    for &(base, len) in vecs {
        user::check(base, len)?;
    }
    let total: usize = vecs.iter().map(|v| v.1).sum();
    let mut buf = user::buffer(total.min(CHUNK))?;
    let n = d.object.read(d, &mut buf)?;
    user::scatter(vecs, 0, buf.get(..n).unwrap_or_default())?;
    d.touch();
    Ok(n as i64)
}

fn read_sockaddr(addr: u64, len: u64) -> Result<SocketAddrV4, Errno> {
    if len < 16 {
        return Err(Errno::EINVAL);
    }
    let b: [u8; 16] = user::read_array(addr)?;
    if u16::from_le_bytes([b[0], b[1]]) != AF_INET as u16 {
        return Err(Errno::EAFNOSUPPORT);
    }
    let port = u16::from_be_bytes([b[2], b[3]]);
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(b[4], b[5], b[6], b[7]),
        port,
    ))
}

/// Writes `a` as a `sockaddr_in` at `addr` (if not null), `*len` updated: at most the
/// room `*len` gave is written, and `*len` says the full size (as Linux does).
fn write_sockaddr(a: SocketAddrV4, addr: u64, len_ptr: u64) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let room = user::read_i32(len_ptr)?;
    let room = usize::try_from(room).map_err(|_| Errno::EINVAL)?;
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.ip().octets());
    user::write(addr, b.get(..room.min(16)).unwrap_or_default())?;
    user::write_u32(len_ptr, 16)
}

/// Source of socket inode numbers.
static NEXT_INO: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1 << 20);

fn new_socket(s: Sock, nonblocking: bool) -> Arc<Socket> {
    Arc::new(Socket {
        state: spin::Mutex::new(s),
        nonblocking: AtomicBool::new(nonblocking),
        ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
    })
}

fn flags_of(ty: u64) -> u32 {
    let mut f = fd::oflag::RDWR;
    if ty & SOCK_NONBLOCK != 0 {
        f |= fd::oflag::NONBLOCK;
    }
    if ty & SOCK_CLOEXEC != 0 {
        f |= fd::oflag::CLOEXEC;
    }
    f
}

pub(crate) fn socket(domain: u64, ty: u64, protocol: u64) -> R {
    let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if domain == AF_UNIX {
        return crate::pipe::unix_socket(kind, flags_of(ty));
    }
    if domain != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    let sock = match (kind, protocol) {
        (SOCK_STREAM, 0 | 6) => Sock::TcpNew {
            port: 0,
            nodelay: false,
        },
        (SOCK_DGRAM, 0 | 17) => Sock::UdpNew,
        (SOCK_STREAM | SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    net::up()?;
    let nb = ty & SOCK_NONBLOCK != 0;
    Ok(i64::from(fd::open_object(
        new_socket(sock, nb),
        flags_of(ty),
    )?))
}

pub(crate) fn socketpair(domain: u64, ty: u64, protocol: u64, sv: u64) -> R {
    if domain != AF_UNIX {
        return Err(Errno::EOPNOTSUPP);
    }
    if protocol != 0 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    crate::pipe::socketpair(ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC), flags_of(ty), sv)
}

pub(crate) fn bind(fdn: u64, addr: u64, len: u64) -> R {
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    let a = read_sockaddr(addr, len)?;
    let mut g = s.state.lock();
    match &mut *g {
        Sock::TcpNew { port, .. } => *port = a.port(),
        Sock::UdpNew => {
            let u = UdpSocket::bind(a.port())?;
            u.set_nonblocking(s.nb())?;
            *g = Sock::Udp(Arc::new(u), None);
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub(crate) fn listen(fdn: u64, backlog: u64) -> R {
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    let mut g = s.state.lock();
    let port = match &*g {
        Sock::TcpNew { port, .. } => *port,
        Sock::Listener(_) => return Ok(0),
        Sock::UdpNew | Sock::Udp(..) => return Err(Errno::EOPNOTSUPP),
        Sock::Stream(_) => return Err(Errno::EINVAL),
    };
    let opts = net::ListenOptions {
        // A negative or huge backlog is clamped, as Linux clamps it to somaxconn.
        backlog: usize::try_from(backlog as i32).unwrap_or(1).clamp(1, 4096),
        ..net::ListenOptions::default()
    };
    let l = TcpListener::bind_with(port, opts)?;
    l.set_nonblocking(s.nb())?;
    *g = Sock::Listener(Arc::new(l));
    Ok(0)
}

pub(crate) fn accept(fdn: u64, addr: u64, len: u64, flags: u64) -> R {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    let Now::Listener(l) = s.now() else {
        return Err(Errno::EINVAL);
    };
    // Check the address buffer before a connection is taken off the backlog.
    if addr != 0 {
        user::check(len, 4)?;
    }
    d.touch();
    let t = l.accept()?;
    let peer = t.peer_addr()?;
    let nb = flags & SOCK_NONBLOCK != 0;
    t.set_nonblocking(nb)?;
    let newfd = fd::open_object(new_socket(Sock::Stream(Arc::new(t)), nb), flags_of(flags))?;
    write_sockaddr(peer, addr, len)?;
    Ok(i64::from(newfd))
}

pub(crate) fn connect(fdn: u64, addr: u64, len: u64) -> R {
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    let a = read_sockaddr(addr, len)?;
    let nodelay = {
        let mut g = s.state.lock();
        match &mut *g {
            Sock::TcpNew { nodelay, .. } => *nodelay,
            Sock::UdpNew => {
                let u = UdpSocket::bind(0)?;
                u.set_nonblocking(s.nb())?;
                *g = Sock::Udp(Arc::new(u), Some(a));
                return Ok(0);
            }
            Sock::Udp(_, peer) => {
                *peer = Some(a);
                return Ok(0);
            }
            Sock::Stream(_) => return Err(Errno::EISCONN),
            Sock::Listener(_) => return Err(Errno::EINVAL),
        }
    };
    // The lock is not held while the handshake runs.
    let t = TcpStream::connect(a, None)?;
    t.set_nodelay(nodelay)?;
    t.set_nonblocking(s.nb())?;
    *s.state.lock() = Sock::Stream(Arc::new(t));
    Ok(0)
}

/// Sends the program's buffers `vecs` on `s` (to `to` for UDP): a datagram whole, a
/// stream a [`CHUNK`] at a time (a short write ends a non-blocking send).
fn send_vecs(s: &Socket, vecs: &[IoVec], to: Option<SocketAddrV4>, flags: u64) -> R {
    let dontwait = flags & MSG_DONTWAIT != 0;
    let total: usize = vecs.iter().map(|v| v.1).sum();
    if s.udp()?.is_some() {
        if total > UDP_MAX {
            return Err(Errno::EMSGSIZE);
        }
        let data = user::gather(vecs, 0, total)?;
        return Ok(s.send(&data, to, dontwait)? as i64);
    }
    let mut sent = 0usize;
    while sent < total || total == 0 {
        let n = (total - sent).min(CHUNK);
        let data = user::gather(vecs, sent, n)?;
        match s.send(&data, None, dontwait) {
            Ok(w) => {
                sent += w;
                if w < n || total == 0 {
                    break;
                }
            }
            Err(e) if sent > 0 && e == Errno::EAGAIN => break,
            Err(e) if sent > 0 => {
                // Linux reports the bytes sent; the error comes with the next call.
                let _ = e;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(sent as i64)
}

/// Receives into the program's buffers `vecs`: one datagram, or what a stream has.
fn recv_vecs(
    s: &Socket,
    vecs: &[IoVec],
    flags: u64,
) -> Result<(usize, Option<SocketAddrV4>), Errno> {
    if flags & MSG_PEEK != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    for &(base, len) in vecs {
        user::check(base, len)?;
    }
    let total: usize = vecs.iter().map(|v| v.1).sum();
    let mut buf = user::buffer(total.min(CHUNK))?;
    let (n, from) = s.recv(&mut buf, flags & MSG_DONTWAIT != 0)?;
    user::scatter(vecs, 0, buf.get(..n).unwrap_or_default())?;
    Ok((n, from))
}

pub(crate) fn sendto(fdn: u64, buf: u64, len: u64, flags: u64, addr: u64, alen: u64) -> R {
    let d = fd::get_open(fdn)?;
    if is_local_socket(&d) {
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        return crate::sig::on_epipe(local_send(&d, &[(buf, len)], flags), flags);
    }
    let s = sock_of(&d)?;
    d.touch();
    let to = if addr != 0 {
        Some(read_sockaddr(addr, alen)?)
    } else {
        None
    };
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    crate::sig::on_epipe(send_vecs(s, &[(buf, len)], to, flags), flags)
}

pub(crate) fn recvfrom(fdn: u64, buf: u64, len: u64, flags: u64, addr: u64, alen: u64) -> R {
    let d = fd::get_open(fdn)?;
    if is_local_socket(&d) {
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        return local_recv(&d, &[(buf, len)]);
    }
    let s = sock_of(&d)?;
    d.touch();
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let (n, from) = recv_vecs(s, &[(buf, len)], flags)?;
    if let Some(f) = from {
        write_sockaddr(f, addr, alen)?;
    }
    Ok(n as i64)
}

/// The `msghdr` at `msg`: (name, namelen, iovecs).
fn msghdr(msg: u64) -> Result<(u64, u64, Vec<IoVec>), Errno> {
    let name = user::read_u64(msg)?;
    let namelen = user::read_u64(msg + 8)? & 0xffff_ffff;
    let iov = user::read_u64(msg + 16)?;
    let n = user::read_u64(msg + 24)?;
    Ok((name, namelen, user::iovecs(iov, n)?))
}

pub(crate) fn sendmsg(fdn: u64, msg: u64, flags: u64) -> R {
    let d = fd::get_open(fdn)?;
    let (name, namelen, vecs) = msghdr(msg)?;
    if is_local_socket(&d) {
        return crate::sig::on_epipe(local_send(&d, &vecs, flags), flags);
    }
    let s = sock_of(&d)?;
    d.touch();
    let to = if name != 0 {
        Some(read_sockaddr(name, namelen)?)
    } else {
        None
    };
    crate::sig::on_epipe(send_vecs(s, &vecs, to, flags), flags)
}

pub(crate) fn recvmsg(fdn: u64, msg: u64, flags: u64) -> R {
    let d = fd::get_open(fdn)?;
    let (name, _, vecs) = msghdr(msg)?;
    let (n, from) = if is_local_socket(&d) {
        (local_recv(&d, &vecs)? as usize, None)
    } else {
        d.touch();
        recv_vecs(sock_of(&d)?, &vecs, flags)?
    };
    if let Some(f) = from
        && name != 0
    {
        write_sockaddr(f, name, msg + 8)?;
    }
    // No control data, no flags.
    user::write_u64(msg + 40, 0)?;
    user::write_u32(msg + 48, 0)?;
    Ok(n as i64)
}

pub(crate) fn shutdown(fdn: u64, how: u64) -> R {
    let d = fd::get_open(fdn)?;
    if is_local_socket(&d) {
        if how > 2 {
            return Err(Errno::EINVAL);
        }
        d.object.shutdown(how)?;
        return Ok(0);
    }
    let s = sock_of(&d)?;
    let how = match how {
        0 => Shutdown::Read,
        1 => Shutdown::Write,
        2 => Shutdown::Both,
        _ => return Err(Errno::EINVAL),
    };
    s.stream()?.shutdown(how)?;
    Ok(0)
}

pub(crate) fn setsockopt(fdn: u64, level: u64, name: u64, val: u64, len: u64) -> R {
    const IPPROTO_TCP: u64 = 6;
    const TCP_NODELAY: u64 = 1;
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    if len > 0 && len < 4 {
        return Err(Errno::EINVAL);
    }
    let on = len >= 4 && user::read_u32(val)? != 0;
    if level == IPPROTO_TCP && name == TCP_NODELAY {
        let stream = {
            let mut g = s.state.lock();
            match &mut *g {
                Sock::TcpNew { nodelay, .. } => {
                    *nodelay = on;
                    None
                }
                Sock::Stream(t) => Some(t.clone()),
                _ => None,
            }
        };
        if let Some(t) = stream {
            t.set_nodelay(on)?;
        }
    }
    // SO_REUSEADDR, SO_KEEPALIVE, buffer sizes: accepted, nothing to do.
    Ok(0)
}

pub(crate) fn getsockopt(fdn: u64, level: u64, name: u64, val: u64, len: u64) -> R {
    const SOL_SOCKET: u64 = 1;
    const SO_TYPE: u64 = 3;
    const SO_ERROR: u64 = 4;
    const SO_SNDBUF: u64 = 7;
    const SO_RCVBUF: u64 = 8;
    const SO_DOMAIN: u64 = 39;
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    let v: u32 = match (level, name) {
        (SOL_SOCKET, SO_TYPE) => match s.now() {
            Now::UdpNew | Now::Udp(..) => SOCK_DGRAM as u32,
            _ => SOCK_STREAM as u32,
        },
        (SOL_SOCKET, SO_DOMAIN) => AF_INET as u32,
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => 16 * 1024,
        (SOL_SOCKET, SO_ERROR) => 0,
        _ => 0,
    };
    let room = user::read_i32(len)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let b = v.to_le_bytes();
    user::write(val, b.get(..(room as usize).min(4)).unwrap_or_default())?;
    user::write_u32(len, 4)?;
    Ok(0)
}

pub(crate) fn getsockname(fdn: u64, addr: u64, len: u64, peer: bool) -> R {
    let d = fd::get_open(fdn)?;
    let s = sock_of(&d)?;
    let ip = net::info().map_or(Ipv4Addr::UNSPECIFIED, |i| i.address);
    let a = match s.now() {
        Now::Stream(t) if peer => t.peer_addr()?,
        Now::Stream(t) => t.local_addr()?,
        Now::Udp(_, Some(p)) if peer => p,
        _ if peer => return Err(Errno::ENOTCONN),
        Now::Listener(l) => SocketAddrV4::new(ip, l.port()),
        Now::Udp(u, _) => SocketAddrV4::new(ip, u.local_port()?),
        Now::TcpNew { port, .. } => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
        Now::UdpNew => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    };
    write_sockaddr(a, addr, len)?;
    Ok(0)
}
