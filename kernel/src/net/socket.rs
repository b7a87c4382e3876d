//! The socket calls (target only): every one takes the stack's lock for a moment, and a
//! call that has to wait joins [`ACTIVITY`] with nothing yielding in between, so the
//! `net` thread's wakeup after the next change cannot be missed.
#![forbid(unsafe_code)]

use super::stack::{ACTIVITY, Entry, KICK, STACK, Stack, Udp, duration_ns, wake_waiters};
use super::{NetError, SocketId, ready};
use crate::sched::sync::WaitResult;
use alloc::vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::task::Poll;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

/// Runs `f` on the stack until it is ready, waiting for socket activity in between, up
/// to `deadline` (ns of monotonic time; `None`: no limit). A non-blocking call returns
/// `WouldBlock` instead of waiting; a wait ended by `sched::interrupt` returns
/// `Interrupted` (the thread's interrupt flag stays set), one that found the call ready
/// first returns its result.
fn block_on<T>(
    deadline: Option<u64>,
    mut f: impl FnMut(&mut Stack) -> Result<Poll<T>, NetError>,
    nonblocking: impl Fn(&Stack) -> bool,
) -> Result<T, NetError> {
    loop {
        {
            super::up()?;
            let mut guard = STACK.lock();
            let st = guard.as_mut().ok_or(NetError::NotConnected)?;
            if let Poll::Ready(v) = f(st)? {
                return Ok(v);
            }
            if nonblocking(st) {
                return Err(NetError::WouldBlock);
            }
        }
        if deadline.is_some_and(|d| crate::time::now_ns() >= d) {
            return Err(NetError::TimedOut);
        }
        // Nothing yielded since the check above (dropping the lock only wakes a waiter).
        // A timeout is found at the top of the next round, after one more look.
        if ACTIVITY.wait_interruptible(deadline) == WaitResult::Interrupted {
            return Err(NetError::Interrupted);
        }
    }
}

/// Runs `f` on the stack once.
fn with_stack<T>(f: impl FnOnce(&mut Stack) -> Result<T, NetError>) -> Result<T, NetError> {
    super::up()?;
    let mut guard = STACK.lock();
    let st = guard.as_mut().ok_or(NetError::NotConnected)?;
    f(st)
}

fn deadline_after(timeout_ns: Option<u64>) -> Option<u64> {
    timeout_ns.map(|t| crate::time::now_ns().saturating_add(t))
}

fn v4(addr: IpAddress) -> Ipv4Addr {
    match addr {
        IpAddress::Ipv4(a) => a,
    }
}

/// Buffer sizes and backlog of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Connections that may wait for `accept` (established or in their handshake).
    pub backlog: usize,
    /// Receive buffer (the TCP window) of each connection, bytes.
    pub rx_buffer: usize,
    /// Send buffer of each connection, bytes.
    pub tx_buffer: usize,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 128,
            rx_buffer: 8192,
            tx_buffer: 16384,
        }
    }
}

/// A TCP port that accepts connections.
#[derive(Debug)]
pub struct TcpListener {
    id: SocketId,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` with the default backlog (128) and buffers.
    pub fn bind(port: u16) -> Result<TcpListener, NetError> {
        Self::bind_with(port, ListenOptions::default())
    }

    /// Listens on `port` with `opts`.
    pub fn bind_with(port: u16, opts: ListenOptions) -> Result<TcpListener, NetError> {
        if port == 0 {
            return Err(NetError::Unaddressable);
        }
        with_stack(|st| {
            if st.port_used(true, port) {
                return Err(NetError::AddrInUse { port });
            }
            let id = st.add_listener(port, opts.backlog, opts.rx_buffer, opts.tx_buffer);
            KICK.set();
            Ok(TcpListener { id, port })
        })
    }

    /// The next connection, waiting for one.
    pub fn accept(&self) -> Result<TcpStream, NetError> {
        self.accept_until(None)
    }

    /// The next connection, waiting until `deadline` (ns of monotonic time) at most.
    pub fn accept_until(&self, deadline: Option<u64>) -> Result<TcpStream, NetError> {
        let id = self.id;
        block_on(
            deadline,
            |st| {
                let Some(Entry::Listener(l)) = st.entries.get_mut(&id) else {
                    return Err(NetError::BadSocket(id));
                };
                match l.ready.pop_front() {
                    Some(h) => {
                        KICK.set(); // refill the listening pool
                        Ok(Poll::Ready(TcpStream {
                            id: st.add_stream(h),
                        }))
                    }
                    None => Ok(Poll::Pending),
                }
            },
            |st| matches!(st.entries.get(&id), Some(Entry::Listener(l)) if l.nonblocking),
        )
    }

    /// Makes `accept` return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), NetError> {
        with_stack(|st| match st.entries.get_mut(&self.id) {
            Some(Entry::Listener(l)) => {
                l.nonblocking = on;
                Ok(())
            }
            _ => Err(NetError::BadSocket(self.id)),
        })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its id (for [`poll`]).
    pub fn id(&self) -> SocketId {
        self.id
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Some(st) = STACK.lock().as_mut() {
            st.close(self.id);
        }
        wake_waiters();
    }
}

/// What [`TcpStream::recv_with`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv<R> {
    /// Data was there; the value `f` returned.
    Data(R),
    /// The peer finished sending; nothing is left.
    Eof,
}

/// Which direction [`TcpStream::shutdown`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// No more reads: they return end of stream.
    Read,
    /// No more writes: a FIN is sent once the data before it is.
    Write,
    /// Both.
    Both,
}

/// A TCP connection.
#[derive(Debug)]
pub struct TcpStream {
    id: SocketId,
}

impl TcpStream {
    /// Connects to `addr`, waiting until `deadline` at most.
    pub fn connect(addr: SocketAddrV4, deadline: Option<u64>) -> Result<TcpStream, NetError> {
        let id = with_stack(|st| {
            let port = st.ephemeral_port(true);
            if port == 0 {
                return Err(NetError::AddrInUse { port: 0 });
            }
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 8192]),
                tcp::SocketBuffer::new(vec![0; 16384]),
            );
            let remote = IpEndpoint::new(IpAddress::Ipv4(*addr.ip()), addr.port());
            s.connect(st.context(), remote, IpListenEndpoint::from(port))
                .map_err(|_| NetError::Unaddressable)?;
            let h = st.add_socket(s);
            KICK.set();
            Ok(st.add_stream(h))
        })?;
        let stream = TcpStream { id };
        block_on(
            deadline,
            |st| {
                let (_, s) = stream_of(st, id)?;
                match s.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => Ok(Poll::Pending),
                    tcp::State::Closed => Err(NetError::ConnectionRefused),
                    _ => Ok(Poll::Ready(())),
                }
            },
            |_| false,
        )?;
        Ok(stream)
    }

    /// Reads into `buf`: at least one byte, waiting for it (or the read timeout); 0 at
    /// end of stream.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, NetError> {
        let id = self.id;
        let timeout = with_stack(|st| Ok(stream_of(st, id)?.0.read_timeout))?;
        block_on(
            deadline_after(timeout),
            |st| {
                let (meta, s) = stream_of(st, id)?;
                if meta.read_shut || buf.is_empty() {
                    return Ok(Poll::Ready(0));
                }
                if s.can_recv() {
                    let n = s.recv_slice(buf).map_err(|_| NetError::NotConnected)?;
                    // The window opened: let the peer know.
                    KICK.set();
                    return Ok(Poll::Ready(n));
                }
                if !s.may_recv() {
                    // End of stream (the peer's FIN, or a reset: smoltcp does not say which).
                    return Ok(Poll::Ready(0));
                }
                Ok(Poll::Pending)
            },
            |st| matches!(st.entries.get(&id), Some(Entry::Stream(s)) if s.nonblocking),
        )
    }

    /// Hands the bytes received so far to `f` without waiting and without copying them;
    /// `f` returns how many it took (the rest stay for the next call) and a value.
    /// [`Recv::Eof`] once the peer finished sending and everything was taken;
    /// `WouldBlock` when nothing is there yet.
    pub fn recv_with<R>(&self, f: impl FnOnce(&[u8]) -> (usize, R)) -> Result<Recv<R>, NetError> {
        with_stack(|st| {
            let (meta, s) = stream_of(st, self.id)?;
            if meta.read_shut {
                return Ok(Recv::Eof);
            }
            if s.can_recv() {
                let r = s.recv(|d| f(d)).map_err(|_| NetError::NotConnected)?;
                KICK.set();
                return Ok(Recv::Data(r));
            }
            if !s.may_recv() {
                return Ok(Recv::Eof);
            }
            Err(NetError::WouldBlock)
        })
    }

    /// Writes from `buf`: at least one byte, waiting for room (or the write timeout).
    pub fn write(&self, buf: &[u8]) -> Result<usize, NetError> {
        let id = self.id;
        let timeout = with_stack(|st| Ok(stream_of(st, id)?.0.write_timeout))?;
        block_on(
            deadline_after(timeout),
            |st| {
                let (_, s) = stream_of(st, id)?;
                if buf.is_empty() {
                    return Ok(Poll::Ready(0));
                }
                if !s.may_send() {
                    return Err(match s.state() {
                        tcp::State::Closed => NetError::ConnectionReset,
                        _ => NetError::BrokenPipe,
                    });
                }
                if s.can_send() {
                    let n = s.send_slice(buf).map_err(|_| NetError::BrokenPipe)?;
                    KICK.set();
                    return Ok(Poll::Ready(n));
                }
                Ok(Poll::Pending)
            },
            |st| matches!(st.entries.get(&id), Some(Entry::Stream(s)) if s.nonblocking),
        )
    }

    /// Writes all of `buf`.
    pub fn write_all(&self, mut buf: &[u8]) -> Result<(), NetError> {
        while !buf.is_empty() {
            let n = self.write(buf)?;
            buf = buf.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    /// Ends reading, writing or both.
    pub fn shutdown(&self, how: Shutdown) -> Result<(), NetError> {
        with_stack(|st| {
            let (meta, s) = stream_of(st, self.id)?;
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                meta.read_shut = true;
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                s.close();
                KICK.set();
            }
            Ok(())
        })?;
        wake_waiters();
        Ok(())
    }

    /// Timeout of a blocking read (ns; `None`: wait for ever).
    pub fn set_read_timeout(&self, ns: Option<u64>) -> Result<(), NetError> {
        with_stack(|st| {
            stream_of(st, self.id)?.0.read_timeout = ns;
            Ok(())
        })
    }

    /// Timeout of a blocking write (ns; `None`: wait for ever).
    pub fn set_write_timeout(&self, ns: Option<u64>) -> Result<(), NetError> {
        with_stack(|st| {
            stream_of(st, self.id)?.0.write_timeout = ns;
            Ok(())
        })
    }

    /// Makes reads and writes return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), NetError> {
        with_stack(|st| {
            stream_of(st, self.id)?.0.nonblocking = on;
            Ok(())
        })
    }

    /// Sends small segments at once (no Nagle) when `on`.
    pub fn set_nodelay(&self, on: bool) -> Result<(), NetError> {
        with_stack(|st| {
            stream_of(st, self.id)?.1.set_nagle_enabled(!on);
            Ok(())
        })
    }

    /// Aborts the connection if the peer is silent for `ns` (`None`: never).
    pub fn set_idle_timeout(&self, ns: Option<u64>) -> Result<(), NetError> {
        with_stack(|st| {
            stream_of(st, self.id)?.1.set_timeout(ns.map(duration_ns));
            Ok(())
        })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Result<SocketAddrV4, NetError> {
        with_stack(|st| {
            let e = stream_of(st, self.id)?
                .1
                .remote_endpoint()
                .ok_or(NetError::NotConnected)?;
            Ok(SocketAddrV4::new(v4(e.addr), e.port))
        })
    }

    /// Our address.
    pub fn local_addr(&self) -> Result<SocketAddrV4, NetError> {
        with_stack(|st| {
            let e = stream_of(st, self.id)?
                .1
                .local_endpoint()
                .ok_or(NetError::NotConnected)?;
            Ok(SocketAddrV4::new(v4(e.addr), e.port))
        })
    }

    /// Bytes that can be written now without waiting.
    pub fn send_room(&self) -> Result<usize, NetError> {
        with_stack(|st| {
            let s = stream_of(st, self.id)?.1;
            Ok(s.send_capacity().saturating_sub(s.send_queue()))
        })
    }

    /// Its id (for [`poll`]).
    pub fn id(&self) -> SocketId {
        self.id
    }
}

fn stream_of(
    st: &mut Stack,
    id: SocketId,
) -> Result<(&mut super::stack::Stream, &mut tcp::Socket<'static>), NetError> {
    match st.entries.get_mut(&id) {
        Some(Entry::Stream(s)) => {
            let sock = st.sockets.get_mut::<tcp::Socket>(s.handle);
            Ok((s, sock))
        }
        _ => Err(NetError::BadSocket(id)),
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        if let Some(st) = STACK.lock().as_mut() {
            st.close(self.id);
        }
        wake_waiters();
    }
}

/// A UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    id: SocketId,
}

fn udp_of(st: &mut Stack, id: SocketId) -> Result<(&mut Udp, &mut udp::Socket<'static>), NetError> {
    match st.entries.get_mut(&id) {
        Some(Entry::Udp(u)) => {
            let s = st.sockets.get_mut::<udp::Socket>(u.handle);
            Ok((u, s))
        }
        _ => Err(NetError::BadSocket(id)),
    }
}

impl UdpSocket {
    /// Binds `port` (0: a free one), with room for 16 datagrams each way.
    pub fn bind(port: u16) -> Result<UdpSocket, NetError> {
        with_stack(|st| {
            let port = if port == 0 {
                st.ephemeral_port(false)
            } else {
                port
            };
            if port == 0 || st.port_used(false, port) {
                return Err(NetError::AddrInUse { port });
            }
            let meta = || vec![udp::PacketMetadata::EMPTY; 16];
            let mut s = udp::Socket::new(
                udp::PacketBuffer::new(meta(), vec![0; 16 * 1536]),
                udp::PacketBuffer::new(meta(), vec![0; 16 * 1536]),
            );
            s.bind(port).map_err(|_| NetError::Unaddressable)?;
            let handle = st.add_udp(s);
            let id = st.new_id();
            st.entries.insert(
                id,
                Entry::Udp(Udp {
                    handle,
                    nonblocking: false,
                    read_timeout: None,
                }),
            );
            Ok(UdpSocket { id })
        })
    }

    /// Sends one datagram to `to`.
    pub fn send_to(&self, buf: &[u8], to: SocketAddrV4) -> Result<usize, NetError> {
        let id = self.id;
        block_on(
            None,
            |st| {
                let (_, s) = udp_of(st, id)?;
                if buf.len() > s.payload_send_capacity() {
                    return Err(NetError::MessageTooLarge);
                }
                let ep = IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port());
                match s.send_slice(buf, ep) {
                    Ok(()) => {
                        KICK.set();
                        Ok(Poll::Ready(buf.len()))
                    }
                    Err(udp::SendError::BufferFull) => Ok(Poll::Pending),
                    Err(udp::SendError::Unaddressable) => Err(NetError::Unaddressable),
                }
            },
            |st| matches!(st.entries.get(&id), Some(Entry::Udp(u)) if u.nonblocking),
        )
    }

    /// Receives one datagram (cut to `buf`): its length and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddrV4), NetError> {
        let id = self.id;
        let timeout = with_stack(|st| Ok(udp_of(st, id)?.0.read_timeout))?;
        block_on(
            deadline_after(timeout),
            |st| {
                let (_, s) = udp_of(st, id)?;
                match s.recv() {
                    Ok((data, meta)) => {
                        let n = data.len().min(buf.len());
                        buf[..n].copy_from_slice(&data[..n]);
                        let from = SocketAddrV4::new(v4(meta.endpoint.addr), meta.endpoint.port);
                        Ok(Poll::Ready((n, from)))
                    }
                    Err(_) => Ok(Poll::Pending),
                }
            },
            |st| matches!(st.entries.get(&id), Some(Entry::Udp(u)) if u.nonblocking),
        )
    }

    /// Timeout of a blocking receive (ns; `None`: wait for ever).
    pub fn set_read_timeout(&self, ns: Option<u64>) -> Result<(), NetError> {
        with_stack(|st| {
            udp_of(st, self.id)?.0.read_timeout = ns;
            Ok(())
        })
    }

    /// Makes calls return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), NetError> {
        with_stack(|st| {
            udp_of(st, self.id)?.0.nonblocking = on;
            Ok(())
        })
    }

    /// The bound port.
    pub fn local_port(&self) -> Result<u16, NetError> {
        with_stack(|st| Ok(udp_of(st, self.id)?.1.endpoint().port))
    }

    /// Its id (for [`poll`]).
    pub fn id(&self) -> SocketId {
        self.id
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        if let Some(st) = STACK.lock().as_mut() {
            st.close(self.id);
        }
    }
}

/// One socket of a [`poll`]: what to wait for, and what is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollEntry {
    /// The socket.
    pub id: SocketId,
    /// [`ready`] bits to wait for (`READ`, `WRITE`; `HUP` and `ERR` are always reported).
    pub interest: u8,
    /// [`ready`] bits found (set by `poll`).
    pub ready: u8,
}

impl PollEntry {
    /// An entry waiting for `interest` on `id`.
    pub fn new(id: SocketId, interest: u8) -> Self {
        PollEntry {
            id,
            interest,
            ready: 0,
        }
    }
}

fn readiness(st: &mut Stack, id: SocketId) -> u8 {
    match st.entries.get(&id) {
        None => ready::ERR,
        Some(Entry::Listener(l)) => {
            if l.ready.is_empty() {
                0
            } else {
                ready::READ
            }
        }
        Some(Entry::Stream(meta)) => {
            let read_shut = meta.read_shut;
            let s = st.sockets.get::<tcp::Socket>(meta.handle);
            let mut r = 0;
            if s.can_recv() || !s.may_recv() || read_shut {
                r |= ready::READ;
            }
            if s.can_send() || !s.may_send() {
                r |= ready::WRITE;
            }
            if !s.may_recv() {
                r |= ready::HUP;
            }
            if s.state() == tcp::State::Closed && !s.is_open() {
                r |= ready::HUP;
            }
            r
        }
        Some(Entry::Udp(u)) => {
            let s = st.sockets.get::<udp::Socket>(u.handle);
            let mut r = 0;
            if s.can_recv() {
                r |= ready::READ;
            }
            if s.can_send() {
                r |= ready::WRITE;
            }
            r
        }
    }
}

/// Waits until one of `entries` is ready for what it asks (or reports `HUP`/`ERR`), or
/// `deadline` passes (ns of monotonic time; `Some(0)`: just look). Sets each entry's
/// `ready` and returns how many are ready (0 when the deadline passed).
pub fn poll(entries: &mut [PollEntry], deadline: Option<u64>) -> Result<usize, NetError> {
    let r = block_on(
        deadline,
        |st| {
            let mut n = 0;
            for e in entries.iter_mut() {
                e.ready = readiness(st, e.id) & (e.interest | ready::HUP | ready::ERR);
                if e.ready != 0 {
                    n += 1;
                }
            }
            Ok(if n > 0 { Poll::Ready(n) } else { Poll::Pending })
        },
        |_| false,
    );
    match r {
        Err(NetError::TimedOut) => Ok(0),
        other => other,
    }
}
