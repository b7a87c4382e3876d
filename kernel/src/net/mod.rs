//! The network service: one smoltcp interface on netfront, owned by the kernel thread
//! `net`, and sockets that every thread uses.
//!
//! [`up`] starts it once (the first socket call does too): the `net` thread connects
//! `device/vif/0`, configures IPv4 from the command line (`ip=A.B.C.D/N gw=A.B.C.D`, or
//! DHCP by default, lease kept and renewed) and then polls the interface whenever netfront
//! signals, a socket call asks it to (a send, a read that opened the window, a close), or
//! one of smoltcp's timers is due. Idle means blocked in the scheduler, never polling.
//! ICMP echo requests are answered.
//!
//! Sockets: [`TcpListener`] (bind with a backlog: connections the app has not accepted
//! yet wait, and when the backlog is full new SYNs are dropped so the client retries, as
//! on Linux, instead of being reset), [`TcpStream`] (read, write, shutdown, timeouts,
//! nodelay, connect), [`UdpSocket`], and [`poll`], a readiness wait over many sockets at
//! once (the base of `poll`/`epoll` in libc-shim). A socket is a [`SocketId`] into the
//! stack; blocking calls block only their thread, and `sched::interrupt` ends their wait
//! with [`NetError::Interrupted`].
//!
//! No lost wakeups: a thread checks its condition and joins the wait queue with nothing
//! yielding in between (one vCPU, no preemption), and the `net` thread wakes the waiters
//! after every poll that changed a socket; netfront's events are kept in an
//! [`Event`](crate::sched::sync::Event) flag until the `net` thread looks.
//!
//! May use: `drivers/netfront`, `sched`, `time`, `event`, `lib` (the command line),
//! `cmdline` (its settings).

pub mod config;
pub mod filter;

#[cfg(target_os = "none")]
mod socket;
#[cfg(target_os = "none")]
mod stack;

pub use config::{ConfigError, Ipv4Config};
#[cfg(target_os = "none")]
pub use socket::{
    ListenOptions, PollEntry, Recv, Shutdown, TcpListener, TcpStream, UdpSocket, poll,
};
#[cfg(target_os = "none")]
pub use stack::{NetInfo, NetStats, info, stats, up};

use core::fmt;

/// A socket: an index into the network service's table (what a file descriptor in
/// libc-shim refers to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(pub u32);

/// Readiness bits of [`poll`] (`interest` and `ready`).
pub mod ready {
    /// Data (or a connection, or end of stream) to read.
    pub const READ: u8 = 1;
    /// Room to write.
    pub const WRITE: u8 = 2;
    /// The peer closed its side (reads return end of stream).
    pub const HUP: u8 = 4;
    /// The connection was reset or the socket is gone.
    pub const ERR: u8 = 8;
}

/// Why the network could not come up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The command line asked for something that does not parse.
    Config(ConfigError),
    /// netfront could not connect (its message).
    Device(alloc::string::String),
    /// No thread for the stack.
    Thread,
    /// No DHCP lease within the time `up` waits (the `net` thread keeps asking).
    NoLease {
        /// Seconds waited.
        waited_s: u64,
    },
}

/// What a network call can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The network is not up.
    Down(DownReason),
    /// Non-blocking socket, and the call would block.
    WouldBlock,
    /// The socket's timeout (or the caller's deadline) passed.
    TimedOut,
    /// Another socket is bound to this port.
    AddrInUse {
        /// The port.
        port: u16,
    },
    /// Port 0 cannot be listened on, or an address cannot be used.
    Unaddressable,
    /// The peer reset the connection (or it never answered).
    ConnectionReset,
    /// The connection attempt was refused or failed.
    ConnectionRefused,
    /// The stream is not connected (yet, or any more).
    NotConnected,
    /// Writing after `shutdown(Write)` (or after the peer left).
    BrokenPipe,
    /// The socket id names no socket (closed, or not that kind).
    BadSocket(SocketId),
    /// A UDP datagram larger than the socket's buffer.
    MessageTooLarge,
    /// A blocking call's wait was ended by `sched::interrupt` (a signal for the calling
    /// thread: libc-shim answers `EINTR`); the thread's interrupt flag is still set. An
    /// interrupted `connect` closes its socket; nothing else changes state.
    Interrupted,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Config(e) => write!(f, "command line: {e}"),
            DownReason::Device(e) => write!(f, "{e}"),
            DownReason::Thread => write!(f, "no thread for the network stack"),
            DownReason::NoLease { waited_s } => {
                write!(f, "no DHCP lease after {waited_s} s (still asking)")
            }
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Down(r) => write!(f, "network down: {r}"),
            NetError::WouldBlock => write!(f, "would block"),
            NetError::TimedOut => write!(f, "timed out"),
            NetError::AddrInUse { port } => write!(f, "port {port} in use"),
            NetError::Unaddressable => write!(f, "address not usable"),
            NetError::ConnectionReset => write!(f, "connection reset"),
            NetError::ConnectionRefused => write!(f, "connection refused"),
            NetError::NotConnected => write!(f, "not connected"),
            NetError::BrokenPipe => write!(f, "broken pipe"),
            NetError::BadSocket(id) => write!(f, "no socket {}", id.0),
            NetError::MessageTooLarge => write!(f, "message too large"),
            NetError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl core::error::Error for NetError {}
