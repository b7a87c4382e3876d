//! httpd: the demo web server, on the kernel's network service.
//!
//! Serves the files embedded from `apps/httpd/www/` (or `FERRUN_HTTPD_ROOT`), `/stats`
//! (JSON counters) and `/trace` (the kernel's trace ring) over HTTP/1.1 with keep-alive and pipelining, on port 80 (`port=N` on
//! the command line). The address comes from DHCP, or `ip=A.B.C.D/N gw=A.B.C.D`.
//!
//! One thread serves every connection: it waits on all of them at once (`net::poll`) and
//! never blocks on one, so a slow client cannot hold the others up. Requests are parsed by
//! the `http` crate (httparse underneath): heads over 8 KiB get 431, request bodies 405
//! (413 when large), slow heads 408 after 10 s, idle keep-alive connections close after
//! 15 s. Up to `MAX_CONNECTIONS` are served at once; further ones wait in the listener's
//! backlog (and beyond it the client's SYNs are dropped, so it retries).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use http::{Connection, Resource, Response, Site, StaticFile};
use kernel::cmdline;
use kernel::net::{self, ListenOptions, NetError, PollEntry, Recv, TcpListener, TcpStream, ready};

kernel::main!(main);

/// The embedded site (see build.rs).
static FILES: &[StaticFile] = include!(concat!(env!("OUT_DIR"), "/site.rs"));

/// Port served unless the command line says `port=N`.
const DEFAULT_PORT: u16 = 80;
/// Connections served at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 512;
/// Connections the listener keeps waiting for us.
const BACKLOG: usize = 256;

/// `port=N` from the command line (the last one), or the default.
fn port_from_cmdline(line: &str) -> Result<u16, cmdline::BadValue<'_>> {
    let port = cmdline::number(line, "port", 1..=65535, "a port number from 1 to 65535")?;
    Ok(port.map_or(DEFAULT_PORT, |p| u16::try_from(p).unwrap_or(DEFAULT_PORT)))
}

/// Counters for `/stats` and the shutdown hook (only the serving thread adds to them).
struct Counters {
    connections_served: AtomicU64,
    requests_served: AtomicU64,
    refused: AtomicU64,
}

static COUNTERS: Counters = Counters {
    connections_served: AtomicU64::new(0),
    requests_served: AtomicU64::new(0),
    refused: AtomicU64::new(0),
};

/// Adds one to `counter`.
fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The site: the embedded files, and `/stats` made at request time.
struct Pages {
    open: usize,
}

impl Site for Pages {
    fn lookup(&self, path: &str) -> Option<Resource> {
        if path == "/stats" {
            return Some(Resource::Dynamic {
                body: stats_json(&COUNTERS, self.open).into_bytes(),
                content_type: "application/json",
            });
        }
        if path == "/trace" {
            return Some(Resource::Dynamic {
                body: kernel::trace::dump().into_bytes(),
                content_type: "text/plain",
            });
        }
        FILES.lookup(path)
    }
}

fn stats_json(c: &Counters, open: usize) -> String {
    use kernel::time;
    let (mono, wall) = time::now_and_wallclock_ns();
    let uptime = mono.saturating_sub(kernel::boot_times().entry_ns);
    let rs = time::runstate().unwrap_or_default();
    let steal = rs.steal();
    // Steal as a share of uptime, in hundredths of a percent (no floating point).
    let steal_bp = u128::from(steal) * 10_000 / u128::from(uptime.max(1));
    let (heap_used, heap_size) = kernel::mm::heap_usage();
    let n = net::stats();
    let d = n.device;
    let addr = net::info().map_or(String::new(), |i| format!("{}/{}", i.address, i.prefix));
    format!(
        concat!(
            "{{\"uptime_ns\":{},\"monotonic_ns\":{},\"wallclock_ns\":{},",
            "\"steal_ns\":{},\"steal_share_percent\":{}.{:02},",
            "\"runstate_ns\":{{\"running\":{},\"runnable\":{},\"blocked\":{},\"offline\":{}}},",
            "\"free_pages\":{},\"heap_used_bytes\":{},\"heap_size_bytes\":{},",
            "\"connections_open\":{},\"connections_served\":{},\"requests_served\":{},",
            "\"requests_refused\":{},\"address\":\"{}\",",
            "\"net\":{{\"rx_packets\":{},\"tx_packets\":{},\"rx_errors\":{},\"tx_dropped\":{},",
            "\"connections_accepted\":{},\"syn_dropped_backlog\":{},\"polls\":{},",
            "\"dhcp_leases\":{}}}}}\n"
        ),
        uptime,
        mono,
        wall,
        steal,
        steal_bp / 100,
        steal_bp % 100,
        rs.running,
        rs.runnable,
        rs.blocked,
        rs.offline,
        kernel::mm::free_pages(),
        heap_used,
        heap_size,
        open,
        c.connections_served.load(Ordering::Relaxed),
        c.requests_served.load(Ordering::Relaxed),
        c.refused.load(Ordering::Relaxed),
        addr,
        d.rx_packets,
        d.tx_packets,
        d.rx_errors,
        d.tx_dropped,
        n.connections_accepted,
        n.syn_dropped_backlog,
        n.polls,
        n.dhcp_leases,
    )
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    http: Connection,
    /// The response being written, and how many of its bytes went out.
    writing: Option<(Response, usize)>,
}

/// What to do with a connection after serving it.
#[derive(PartialEq, Eq)]
enum Next {
    /// Wait for it to become readable (or writable, while a response is half written).
    Keep,
    /// Close it.
    Close,
}

/// Writes as much of the current response as the socket takes; true when it is all out.
fn flush(c: &mut Conn) -> Result<bool, NetError> {
    while let Some((r, sent)) = &mut c.writing {
        let head = r.head();
        let body = r.body();
        let chunk = if *sent < head.len() {
            &head[*sent..]
        } else {
            &body[*sent - head.len()..]
        };
        if chunk.is_empty() {
            c.writing = None;
            break;
        }
        match c.stream.write(chunk) {
            Ok(n) => *sent += n,
            Err(NetError::WouldBlock) => return Ok(false),
            Err(e) => return Err(e),
        }
        if *sent >= r.wire_len() {
            c.writing = None;
        }
    }
    Ok(true)
}

/// Moves one connection as far as it goes without waiting.
fn serve(c: &mut Conn, open: usize, now: u64) -> Next {
    if c.writing.is_none() && c.http.deadline().is_some_and(|d| now >= d) {
        c.writing = c.http.on_timeout(now).map(|r| (r, 0));
    }
    loop {
        match flush(c) {
            Ok(true) => {}
            Ok(false) => return Next::Keep,
            Err(_) => return Next::Close,
        }
        // The next response already parsed (pipelining), in order.
        let pages = Pages { open };
        if let Some(r) = c.http.poll(&pages, now) {
            count(&COUNTERS.requests_served);
            if r.rejection().is_some() {
                count(&COUNTERS.refused);
            }
            c.writing = Some((r, 0));
            continue;
        }
        if c.http.should_close() {
            return Next::Close;
        }
        let http = &mut c.http;
        match c.stream.recv_with(|data| {
            let n = http.feed(data, now);
            (n, n)
        }) {
            Ok(Recv::Data(0)) => {
                // The engine holds a full buffer and had nothing to answer yet: wait.
                return Next::Keep;
            }
            Ok(Recv::Data(_)) => {}
            Ok(Recv::Eof) => {
                c.http.peer_closed();
                let pages = Pages { open };
                match c.http.poll(&pages, now) {
                    Some(r) => {
                        count(&COUNTERS.requests_served);
                        c.writing = Some((r, 0));
                    }
                    None => return Next::Close,
                }
            }
            Err(NetError::WouldBlock) => return Next::Keep,
            Err(_) => return Next::Close,
        }
    }
}

fn main() {
    let port =
        port_from_cmdline(kernel::boot_info().cmdline()).unwrap_or_else(|e| panic!("httpd: {e}"));
    let info = net::up().unwrap_or_else(|e| panic!("httpd: {e}"));
    let opts = ListenOptions {
        backlog: BACKLOG,
        ..ListenOptions::default()
    };
    let listener =
        TcpListener::bind_with(port, opts).unwrap_or_else(|e| panic!("httpd: port {port}: {e}"));
    if let Err(e) = listener.set_nonblocking(true) {
        panic!("httpd: {e}");
    }
    // `xl shutdown` (and scripts/run's Ctrl-C) runs this before the domain powers off.
    kernel::drivers::control::on_shutdown(Box::new(|| {
        log::info!(
            "shutting down: {} requests served on {} connections",
            COUNTERS.requests_served.load(Ordering::Relaxed),
            COUNTERS.connections_served.load(Ordering::Relaxed)
        );
    }));
    log::info!(
        "listening on {}:{port} ({} files embedded)",
        info.address,
        FILES.len()
    );
    let mut conns: Vec<Conn> = Vec::new();
    let mut entries: Vec<PollEntry> = Vec::new();
    loop {
        entries.clear();
        let accepting = conns.len() < MAX_CONNECTIONS;
        if accepting {
            entries.push(PollEntry::new(listener.id(), ready::READ));
        }
        for c in &conns {
            let interest = if c.writing.is_some() {
                ready::WRITE
            } else {
                ready::READ
            };
            entries.push(PollEntry::new(c.stream.id(), interest));
        }
        let deadline = conns.iter().filter_map(|c| c.http.deadline()).min();
        if let Err(e) = net::poll(&mut entries, deadline) {
            log::error!("poll: {e}");
            continue;
        }
        let now = kernel::time::now_ns();
        let first = usize::from(accepting);
        // Serve the ready ones and those whose deadline passed (newest first, so that
        // swap_remove keeps the indices of the ones still to visit).
        for i in (0..conns.len()).rev() {
            let is_ready = entries.get(first + i).is_some_and(|e| e.ready != 0);
            let due = conns[i].http.deadline().is_some_and(|d| now >= d);
            if !(is_ready || due) {
                continue;
            }
            let open = conns.len();
            if serve(&mut conns[i], open, now) == Next::Close {
                conns.swap_remove(i);
            }
        }
        if accepting && entries.first().is_some_and(|e| e.ready != 0) {
            while conns.len() < MAX_CONNECTIONS {
                match listener.accept() {
                    Ok(stream) => {
                        let _ = stream.set_nonblocking(true);
                        let _ = stream.set_nodelay(true);
                        count(&COUNTERS.connections_served);
                        let mut c = Conn {
                            stream,
                            http: Connection::new(now),
                            writing: None,
                        };
                        let open = conns.len() + 1;
                        if serve(&mut c, open, now) == Next::Keep {
                            conns.push(c);
                        }
                    }
                    Err(NetError::WouldBlock) => break,
                    Err(e) => {
                        log::warn!("accept: {e}");
                        break;
                    }
                }
            }
        }
    }
}
