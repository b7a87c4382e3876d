//! BSD sockets (IPv4 TCP and UDP), `poll`, `select` and `epoll` on the kernel's network
//! service (`kernel::net`).
//!
//! A TCP socket becomes a listener at `listen` (its backlog is the kernel listener's) or a
//! stream at `connect`/`accept`; a UDP socket gets its port at `bind` or its first send.
//! `O_NONBLOCK` (from `socket`, `accept4` or `fcntl`) makes calls return `EAGAIN`.
//! `epoll` is level-triggered (an edge-triggered user who reads until `EAGAIN`, as it
//! must, sees the same thing).

use crate::errno::Errno;
use crate::fd::{self, File, Sock};
use crate::user;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use kernel::net::{self, NetError, PollEntry, Shutdown, TcpListener, TcpStream, UdpSocket, ready};

type R = Result<i64, Errno>;

const AF_INET: u64 = 2;
const SOCK_STREAM: u64 = 1;
const SOCK_DGRAM: u64 = 2;
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: u64 = 0o2000000;
const O_NONBLOCK: u64 = 0o4000;

const POLLIN: u16 = 1;
const POLLOUT: u16 = 4;
const POLLERR: u16 = 8;
const POLLHUP: u16 = 0x10;
const POLLNVAL: u16 = 0x20;

fn err(e: NetError) -> Errno {
    match e {
        NetError::WouldBlock => Errno::EAGAIN,
        NetError::TimedOut => Errno::ETIMEDOUT,
        NetError::AddrInUse { .. } => Errno(98), // EADDRINUSE
        NetError::Unaddressable => Errno(99),    // EADDRNOTAVAIL
        NetError::ConnectionReset => Errno(104), // ECONNRESET
        NetError::ConnectionRefused => Errno(111), // ECONNREFUSED
        NetError::NotConnected => Errno(107),    // ENOTCONN
        NetError::BrokenPipe => Errno::EPIPE,
        NetError::BadSocket(_) => Errno::EBADF,
        NetError::MessageTooLarge => Errno(90), // EMSGSIZE
        NetError::Interrupted => Errno::EINTR,
        NetError::Down(_) => Errno(100), // ENETDOWN
    }
}

fn read_sockaddr(addr: u64, len: u64) -> Result<SocketAddrV4, Errno> {
    if len < 16 {
        return Err(Errno::EINVAL);
    }
    let b = user::bytes(addr, 16)?;
    if u16::from_le_bytes([b[0], b[1]]) != AF_INET as u16 {
        return Err(Errno(97)); // EAFNOSUPPORT
    }
    let port = u16::from_be_bytes([b[2], b[3]]);
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(b[4], b[5], b[6], b[7]),
        port,
    ))
}

/// Writes `a` as a `sockaddr_in` at `addr` (if not null), `*len` updated.
fn write_sockaddr(a: SocketAddrV4, addr: u64, len_ptr: u64) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let room = usize::try_from(crate::user::read_u32(len_ptr)?).unwrap_or(0);
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.ip().octets());
    user::write(addr, &b[..room.min(16)])?;
    user::write(len_ptr, &16u32.to_le_bytes())
}

fn with_sock<T>(fdn: u64, f: impl FnOnce(&mut Sock, bool) -> Result<T, Errno>) -> Result<T, Errno> {
    let file = fd::get(fdn)?;
    let nb = file.nonblocking();
    match &*file {
        File::Socket(s, _) => f(&mut s.lock(), nb),
        File::Epoll(_) => Err(Errno(88)), // ENOTSOCK
    }
}

/// The stream of `fdn`: its own reference, so a blocking call holds no lock.
fn stream_of(fdn: u64) -> Result<Arc<TcpStream>, Errno> {
    match &*fd::get(fdn)? {
        File::Socket(s, _) => match &*s.lock() {
            Sock::Stream(t) => Ok(t.clone()),
            _ => Err(Errno(107)), // ENOTCONN
        },
        File::Epoll(_) => Err(Errno(88)), // ENOTSOCK
    }
}

/// Runs `f` on the stream of `fdn`, without any lock while it blocks.
fn on_stream<T>(fdn: u64, f: impl FnOnce(&TcpStream) -> Result<T, NetError>) -> Result<T, Errno> {
    let t = stream_of(fdn)?;
    f(&t).map_err(err)
}

pub(crate) fn socket(domain: u64, ty: u64) -> R {
    if domain != AF_INET {
        return Err(Errno(97)); // EAFNOSUPPORT
    }
    let nb = ty & SOCK_NONBLOCK != 0;
    let sock = match ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC) {
        SOCK_STREAM => Sock::TcpNew {
            port: 0,
            nodelay: false,
        },
        SOCK_DGRAM => Sock::UdpNew,
        _ => return Err(Errno(94)), // ESOCKTNOSUPPORT
    };
    net::up().map_err(err)?;
    Ok(i64::from(fd::install(File::socket(sock, nb))?))
}

pub(crate) fn bind(fdn: u64, addr: u64, len: u64) -> R {
    let a = read_sockaddr(addr, len)?;
    with_sock(fdn, |s, nb| {
        match s {
            Sock::TcpNew { port, .. } => *port = a.port(),
            Sock::UdpNew => {
                let u = UdpSocket::bind(a.port()).map_err(err)?;
                u.set_nonblocking(nb).map_err(err)?;
                *s = Sock::Udp(Arc::new(u), None);
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(0)
    })
}

pub(crate) fn listen(fdn: u64, backlog: u64) -> R {
    with_sock(fdn, |s, nb| {
        let Sock::TcpNew { port, .. } = *s else {
            return if matches!(s, Sock::Listener(_)) {
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            };
        };
        let opts = net::ListenOptions {
            backlog: usize::try_from(backlog).unwrap_or(128).clamp(1, 4096),
            ..net::ListenOptions::default()
        };
        let l = TcpListener::bind_with(port, opts).map_err(err)?;
        l.set_nonblocking(nb).map_err(err)?;
        *s = Sock::Listener(Arc::new(l));
        Ok(0)
    })
}

pub(crate) fn accept(fdn: u64, addr: u64, len: u64, flags: u64) -> R {
    let l = match &*fd::get(fdn)? {
        File::Socket(s, _) => match &*s.lock() {
            Sock::Listener(l) => l.clone(),
            _ => return Err(Errno::EINVAL),
        },
        File::Epoll(_) => return Err(Errno(88)),
    };
    let t = l.accept().map_err(err)?;
    let peer = t.peer_addr().map_err(err)?;
    let nb = flags & SOCK_NONBLOCK != 0;
    t.set_nonblocking(nb).map_err(err)?;
    let newfd = fd::install(File::socket(Sock::Stream(Arc::new(t)), nb))?;
    write_sockaddr(peer, addr, len)?;
    Ok(i64::from(newfd))
}

pub(crate) fn connect(fdn: u64, addr: u64, len: u64) -> R {
    let a = read_sockaddr(addr, len)?;
    let file = fd::get(fdn)?;
    let File::Socket(s, nb) = &*file else {
        return Err(Errno(88));
    };
    let nodelay = match &mut *s.lock() {
        Sock::TcpNew { nodelay, .. } => *nodelay,
        Sock::UdpNew | Sock::Udp(..) => {
            return with_sock(fdn, |s, nb| {
                if let Sock::UdpNew = s {
                    let u = UdpSocket::bind(0).map_err(err)?;
                    u.set_nonblocking(nb).map_err(err)?;
                    *s = Sock::Udp(Arc::new(u), Some(a));
                } else if let Sock::Udp(_, peer) = s {
                    *peer = Some(a);
                }
                Ok(0)
            });
        }
        Sock::Stream(_) => return Err(Errno(106)), // EISCONN
        Sock::Listener(_) => return Err(Errno::EINVAL),
    };
    let t = TcpStream::connect(a, None).map_err(err)?;
    t.set_nodelay(nodelay).map_err(err)?;
    t.set_nonblocking(nb.load(core::sync::atomic::Ordering::Relaxed))
        .map_err(err)?;
    *s.lock() = Sock::Stream(Arc::new(t));
    Ok(0)
}

/// Sends `data` on `fdn` (to `to` for UDP): `write`, `send`, `sendto`, `sendmsg`.
fn send(fdn: u64, data: &[u8], to: Option<SocketAddrV4>) -> R {
    let file = fd::get(fdn)?;
    let udp = if let File::Socket(s, nb) = &*file {
        let mut g = s.lock();
        if let Sock::UdpNew = *g {
            let u = UdpSocket::bind(0).map_err(err)?;
            u.set_nonblocking(nb.load(core::sync::atomic::Ordering::Relaxed))
                .map_err(err)?;
            *g = Sock::Udp(Arc::new(u), None);
        }
        match &*g {
            Sock::Udp(u, peer) => Some((u.clone(), *peer)),
            _ => None,
        }
    } else {
        None
    };
    if let Some((u, peer)) = udp {
        let dest = to.or(peer).ok_or(Errno(89))?; // EDESTADDRREQ
        return Ok(u.send_to(data, dest).map_err(err)? as i64);
    }
    Ok(on_stream(fdn, |t| t.write(data))? as i64)
}

/// Receives into `buf` from `fdn` (the sender for UDP).
fn recv(fdn: u64, buf: &mut [u8]) -> Result<(usize, Option<SocketAddrV4>), Errno> {
    let udp = match &*fd::get(fdn)? {
        File::Socket(s, _) => match &*s.lock() {
            Sock::Udp(u, _) => Some(u.clone()),
            _ => None,
        },
        File::Epoll(_) => None,
    };
    if let Some(u) = udp {
        let (n, from) = u.recv_from(buf).map_err(err)?;
        return Ok((n, Some(from)));
    }
    Ok((on_stream(fdn, |t| t.read(buf))?, None))
}

/// `write`/`writev` on a socket.
pub(crate) fn write(fdn: u64, data: &[u8]) -> R {
    send(fdn, data, None)
}

/// `read` on a socket.
pub(crate) fn read(fdn: u64, buf: u64, len: u64) -> R {
    let len = usize::try_from(len.min(1 << 20)).map_err(|_| Errno::EINVAL)?;
    let out = user::bytes_mut(buf, len)?;
    Ok(recv(fdn, out)?.0 as i64)
}

pub(crate) fn sendto(fdn: u64, buf: u64, len: u64, addr: u64, alen: u64) -> R {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let to = if addr != 0 {
        Some(read_sockaddr(addr, alen)?)
    } else {
        None
    };
    send(fdn, user::bytes(buf, len)?, to)
}

pub(crate) fn recvfrom(fdn: u64, buf: u64, len: u64, addr: u64, alen: u64) -> R {
    let len = usize::try_from(len.min(1 << 20)).map_err(|_| Errno::EINVAL)?;
    let (n, from) = recv(fdn, user::bytes_mut(buf, len)?)?;
    if let Some(f) = from {
        write_sockaddr(f, addr, alen)?;
    }
    Ok(n as i64)
}

/// The buffers of a `msghdr`'s iovec, gathered.
fn iovecs(msg: u64) -> Result<Vec<(u64, usize)>, Errno> {
    let iov = user::read_u64(msg + 16)?;
    let n = user::read_u64(msg + 24)? & 0xffff_ffff;
    if n > 1024 {
        return Err(Errno::EINVAL);
    }
    let mut v = Vec::new();
    for i in 0..n {
        let base = user::read_u64(iov + i * 16)?;
        let len = usize::try_from(user::read_u64(iov + i * 16 + 8)?).map_err(|_| Errno::EINVAL)?;
        v.push((base, len));
    }
    Ok(v)
}

pub(crate) fn sendmsg(fdn: u64, msg: u64) -> R {
    let name = user::read_u64(msg)?;
    let namelen = user::read_u64(msg + 8)? & 0xffff_ffff;
    let to = if name != 0 {
        Some(read_sockaddr(name, namelen)?)
    } else {
        None
    };
    let mut data = Vec::new();
    for (base, len) in iovecs(msg)? {
        data.extend_from_slice(user::bytes(base, len)?);
    }
    send(fdn, &data, to)
}

pub(crate) fn recvmsg(fdn: u64, msg: u64) -> R {
    let vecs = iovecs(msg)?;
    let total: usize = vecs.iter().map(|v| v.1).sum();
    let mut buf = alloc::vec![0u8; total.min(1 << 20)];
    let (n, from) = recv(fdn, &mut buf)?;
    let mut off = 0;
    for (base, len) in vecs {
        if off >= n {
            break;
        }
        let take = len.min(n - off);
        user::write(base, &buf[off..off + take])?;
        off += take;
    }
    let name = user::read_u64(msg)?;
    if let Some(f) = from
        && name != 0
    {
        write_sockaddr(f, name, msg + 8)?;
    }
    // No control data, no flags.
    user::write(msg + 40, &0u64.to_le_bytes())?;
    user::write(msg + 48, &0u32.to_le_bytes())?;
    Ok(n as i64)
}

pub(crate) fn shutdown(fdn: u64, how: u64) -> R {
    let how = match how {
        0 => Shutdown::Read,
        1 => Shutdown::Write,
        2 => Shutdown::Both,
        _ => return Err(Errno::EINVAL),
    };
    on_stream(fdn, |t| t.shutdown(how))?;
    Ok(0)
}

pub(crate) fn setsockopt(fdn: u64, level: u64, name: u64, val: u64, len: u64) -> R {
    const IPPROTO_TCP: u64 = 6;
    const TCP_NODELAY: u64 = 1;
    let on = len >= 4 && user::read_u32(val)? != 0;
    with_sock(fdn, |s, _| {
        if level == IPPROTO_TCP && name == TCP_NODELAY {
            match s {
                Sock::TcpNew { nodelay, .. } => *nodelay = on,
                Sock::Stream(t) => t.set_nodelay(on).map_err(err)?,
                _ => {}
            }
        }
        // SO_REUSEADDR, SO_KEEPALIVE, buffer sizes: accepted, nothing to do.
        Ok(0)
    })
}

pub(crate) fn getsockopt(fdn: u64, level: u64, name: u64, val: u64, len: u64) -> R {
    const SOL_SOCKET: u64 = 1;
    const SO_TYPE: u64 = 3;
    const SO_ERROR: u64 = 4;
    let v = with_sock(fdn, |s, _| {
        Ok(match (level, name) {
            (SOL_SOCKET, SO_TYPE) => match s {
                Sock::UdpNew | Sock::Udp(..) => SOCK_DGRAM as u32,
                _ => SOCK_STREAM as u32,
            },
            (SOL_SOCKET, SO_ERROR) => 0,
            _ => 0,
        })
    })?;
    user::write(val, &v.to_le_bytes())?;
    user::write(len, &4u32.to_le_bytes())?;
    Ok(0)
}

pub(crate) fn getsockname(fdn: u64, addr: u64, len: u64, peer: bool) -> R {
    let a = with_sock(fdn, |s, _| {
        let ip = net::info().map_or(Ipv4Addr::UNSPECIFIED, |i| i.address);
        match s {
            Sock::Stream(t) if peer => t.peer_addr().map_err(err),
            Sock::Stream(t) => t.local_addr().map_err(err),
            _ if peer => Err(Errno(107)),
            Sock::Listener(l) => Ok(SocketAddrV4::new(ip, l.port())),
            Sock::Udp(u, _) => Ok(SocketAddrV4::new(ip, u.local_port().map_err(err)?)),
            Sock::TcpNew { port, .. } => Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *port)),
            Sock::UdpNew => Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        }
    })?;
    write_sockaddr(a, addr, len)?;
    Ok(0)
}

/// `fcntl` on a socket: F_GETFL (3), F_SETFL (4), F_GETFD/F_SETFD (1, 2).
pub(crate) fn fcntl(fdn: u64, cmd: u64, arg: u64) -> R {
    let file = fd::get(fdn)?;
    match cmd {
        3 => Ok(2 | if file.nonblocking() {
            O_NONBLOCK as i64
        } else {
            0
        }),
        4 => {
            file.set_nonblocking(arg & O_NONBLOCK != 0);
            Ok(0)
        }
        1 | 2 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// Readiness of one descriptor as `POLL*` bits, and the socket to wait on, if any.
fn poll_entry(fdn: i32, events: u16) -> (u16, Option<PollEntry>) {
    if (0..=2).contains(&fdn) {
        // stdout and stderr take writes; console input is not watched by poll (yet): a
        // read of stdin waits for a line instead.
        let r = if fdn == 0 { 0 } else { POLLOUT };
        return (r & events, None);
    }
    let Ok(file) = fd::get(fdn as u64) else {
        return (POLLNVAL, None);
    };
    let File::Socket(s, _) = &*file else {
        return (0, None);
    };
    let id = match &*s.lock() {
        Sock::Listener(l) => l.id(),
        Sock::Stream(t) => t.id(),
        Sock::Udp(u, _) => u.id(),
        Sock::TcpNew { .. } | Sock::UdpNew => return (POLLOUT & events, None),
    };
    let mut interest = 0;
    if events & POLLIN != 0 {
        interest |= ready::READ;
    }
    if events & POLLOUT != 0 {
        interest |= ready::WRITE;
    }
    (0, Some(PollEntry::new(id, interest)))
}

fn revents(r: u8, events: u16) -> u16 {
    let mut e = 0;
    if r & ready::READ != 0 {
        e |= POLLIN;
    }
    if r & ready::WRITE != 0 {
        e |= POLLOUT;
    }
    (e & events)
        | if r & ready::HUP != 0 { POLLHUP } else { 0 }
        | if r & ready::ERR != 0 { POLLERR } else { 0 }
}

/// Waits for `(fd, events)` pairs; returns each one's revents.
fn wait(fds: &[(i32, u16)], deadline: Option<u64>) -> Result<Vec<u16>, Errno> {
    let mut out = alloc::vec![0u16; fds.len()];
    let mut entries = Vec::new();
    let mut which = Vec::new();
    let mut ready_now = 0;
    for (i, &(f, ev)) in fds.iter().enumerate() {
        let (r, entry) = poll_entry(f, ev);
        out[i] = r;
        if r != 0 {
            ready_now += 1;
        }
        if let Some(e) = entry {
            entries.push(e);
            which.push(i);
        }
    }
    let deadline = if ready_now > 0 { Some(0) } else { deadline };
    if !entries.is_empty() {
        net::poll(&mut entries, deadline).map_err(err)?;
        for (e, &i) in entries.iter().zip(&which) {
            out[i] |= revents(e.ready, fds[i].1);
        }
    } else if ready_now == 0 {
        match deadline {
            Some(d) => kernel::sched::sleep_until(d),
            None => kernel::sched::exit(),
        }
    }
    Ok(out)
}

fn ms_deadline(ms: i64) -> Option<u64> {
    (ms >= 0).then(|| kernel::time::now_ns().saturating_add((ms as u64).saturating_mul(1_000_000)))
}

fn ts_deadline(ts: u64) -> Result<Option<u64>, Errno> {
    if ts == 0 {
        return Ok(None);
    }
    let (sec, nsec) = user::read_timespec(ts)?;
    let ns = sec.saturating_mul(1_000_000_000).saturating_add(nsec);
    Ok(Some(kernel::time::now_ns().saturating_add(ns)))
}

fn poll_with(fds: u64, n: u64, deadline: Option<u64>) -> R {
    if n > fd::MAX_FDS as u64 {
        return Err(Errno::EINVAL);
    }
    let mut list = Vec::new();
    for i in 0..n {
        let b = user::bytes(fds + i * 8, 8)?;
        list.push((
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
        ));
    }
    let out = wait(&list, deadline)?;
    let mut count = 0;
    for (i, r) in out.iter().enumerate() {
        user::write(fds + i as u64 * 8 + 6, &r.to_le_bytes())?;
        if *r != 0 {
            count += 1;
        }
    }
    Ok(count)
}

pub(crate) fn poll(fds: u64, n: u64, timeout_ms: u64) -> R {
    poll_with(fds, n, ms_deadline(timeout_ms as i32 as i64))
}

pub(crate) fn ppoll(fds: u64, n: u64, ts: u64) -> R {
    poll_with(fds, n, ts_deadline(ts)?)
}

/// `select`/`pselect6` over fd_sets (bitmaps of `nfds` bits).
pub(crate) fn select(nfds: u64, rd: u64, wr: u64, ex: u64, deadline: Option<u64>) -> R {
    let nfds = nfds.min(fd::MAX_FDS as u64);
    let words = nfds.div_ceil(64);
    let read_set = |p: u64| -> Result<Vec<u64>, Errno> {
        (0..words)
            .map(|i| {
                if p == 0 {
                    Ok(0)
                } else {
                    user::read_u64(p + i * 8)
                }
            })
            .collect()
    };
    let (r, w) = (read_set(rd)?, read_set(wr)?);
    let mut list = Vec::new();
    for f in 0..nfds {
        let bit = |s: &Vec<u64>| s[(f / 64) as usize] & (1 << (f % 64)) != 0;
        let ev = if bit(&r) { POLLIN } else { 0 } | if bit(&w) { POLLOUT } else { 0 };
        if ev != 0 {
            list.push((f as i32, ev));
        }
    }
    let out = wait(&list, deadline)?;
    let (mut ro, mut wo) = (
        alloc::vec![0u64; words as usize],
        alloc::vec![0u64; words as usize],
    );
    let mut count = 0;
    for (&(f, _), &rv) in list.iter().zip(&out) {
        let (i, b) = ((f / 64) as usize, 1u64 << (f % 64));
        if rv & (POLLIN | POLLHUP | POLLERR) != 0 && r[i] & b != 0 {
            ro[i] |= b;
            count += 1;
        }
        if rv & (POLLOUT | POLLERR) != 0 && w[i] & b != 0 {
            wo[i] |= b;
            count += 1;
        }
    }
    for (p, set) in [(rd, &ro), (wr, &wo)] {
        if p != 0 {
            for (i, v) in set.iter().enumerate() {
                user::write_u64(p + i as u64 * 8, *v)?;
            }
        }
    }
    if ex != 0 {
        for i in 0..words {
            user::write_u64(ex + i * 8, 0)?;
        }
    }
    Ok(count)
}

pub(crate) fn select_timeval(nfds: u64, rd: u64, wr: u64, ex: u64, tv: u64) -> R {
    let deadline = if tv == 0 {
        None
    } else {
        let us = user::read_u64(tv)?
            .saturating_mul(1_000_000)
            .saturating_add(user::read_u64(tv + 8)?);
        Some(kernel::time::now_ns().saturating_add(us.saturating_mul(1000)))
    };
    select(nfds, rd, wr, ex, deadline)
}

pub(crate) fn pselect(nfds: u64, rd: u64, wr: u64, ex: u64, ts: u64) -> R {
    select(nfds, rd, wr, ex, ts_deadline(ts)?)
}

pub(crate) fn epoll_create() -> R {
    Ok(i64::from(fd::install(File::Epoll(spin::Mutex::new(
        alloc::collections::BTreeMap::new(),
    )))?))
}

pub(crate) fn epoll_ctl(epfd: u64, op: u64, fdn: u64, ev: u64) -> R {
    const ADD: u64 = 1;
    const DEL: u64 = 2;
    const MOD: u64 = 3;
    let file = fd::get(epfd)?;
    let File::Epoll(set) = &*file else {
        return Err(Errno::EINVAL);
    };
    let target = i32::try_from(fdn).map_err(|_| Errno::EBADF)?;
    if !fd::is_console(fdn) {
        fd::get(fdn)?;
    }
    let mut set = set.lock();
    match op {
        ADD | MOD => {
            let b = user::bytes(ev, 12)?;
            let events = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let mut d = [0u8; 8];
            d.copy_from_slice(&b[4..12]);
            if op == ADD && set.contains_key(&target) {
                return Err(Errno::EEXIST);
            }
            if op == MOD && !set.contains_key(&target) {
                return Err(Errno::ENOENT);
            }
            set.insert(target, (events, u64::from_le_bytes(d)));
        }
        DEL => {
            set.remove(&target).ok_or(Errno::ENOENT)?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub(crate) fn epoll_wait(epfd: u64, events: u64, max: u64, timeout_ms: u64) -> R {
    let file = fd::get(epfd)?;
    let File::Epoll(set) = &*file else {
        return Err(Errno::EINVAL);
    };
    if max == 0 || max > 4096 {
        return Err(Errno::EINVAL);
    }
    // Descriptors closed since they were added leave the set (as Linux does on close).
    let list: Vec<(i32, u32, u64)> = {
        let mut s = set.lock();
        s.retain(|&f, _| fd::is_console(f as u64) || fd::get(f as u64).is_ok());
        s.iter().map(|(&f, &(e, d))| (f, e, d)).collect()
    };
    let pairs: Vec<(i32, u16)> = list
        .iter()
        .map(|&(f, e, _)| (f, (e & 0xffff) as u16))
        .collect();
    let out = wait(&pairs, ms_deadline(timeout_ms as i32 as i64))?;
    let mut n = 0u64;
    for (&(_, _, data), &r) in list.iter().zip(&out) {
        if r == 0 || n == max {
            continue;
        }
        let mut rec = [0u8; 12];
        rec[0..4].copy_from_slice(&u32::from(r).to_le_bytes());
        rec[4..12].copy_from_slice(&data.to_le_bytes());
        user::write(events + n * 12, &rec)?;
        n += 1;
    }
    Ok(n as i64)
}
