//! httpd: the demo web server. Brings up netfront on `device/vif/0`, smoltcp with a
//! static address (`ip=A.B.C.D/N` on the command line, default 10.0.0.2/24), and answers
//! HTTP/1.x GET requests on port 8080: `/` with a greeting, `/stats` with counters.
//! A malformed request gets `400 Bad Request`; the connection is then closed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use kernel::drivers::netfront::{self, Netfront};
use kernel::smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use kernel::smoltcp::socket::tcp;
use kernel::smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr};

kernel::main!(main);

/// The port we serve.
const PORT: u16 = 8080;
/// Connections served at once.
const SOCKETS: usize = 8;
/// Longest request head we read.
const MAX_REQUEST: usize = 4096;

fn address_from_cmdline(cmdline: &str) -> Result<Ipv4Cidr, String> {
    let Some(v) = cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("ip="))
        .next_back()
    else {
        return Ok(Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24));
    };
    v.parse::<Ipv4Cidr>()
        .map_err(|_| format!("ip={v}: expected an IPv4 address with a prefix, like 10.0.0.2/24"))
}

/// What to answer to the request head `head` (without the blank line).
fn respond(head: &[u8], stats: &netfront::Stats, served: u64) -> Vec<u8> {
    let text = core::str::from_utf8(head).unwrap_or("");
    let mut parts = text.lines().next().unwrap_or("").split(' ');
    let (method, path, version) = (parts.next(), parts.next(), parts.next());
    let well_formed = matches!(version, Some("HTTP/1.0" | "HTTP/1.1"))
        && parts.next().is_none()
        && path.is_some_and(|p| p.starts_with('/'));
    let (status, body) = if !well_formed {
        ("400 Bad Request", String::from("bad request\n"))
    } else if method != Some("GET") {
        ("405 Method Not Allowed", String::from("only GET\n"))
    } else {
        // The query string does not choose the resource.
        match path.and_then(|p| p.split('?').next()) {
            Some("/") => ("200 OK", String::from("hello from ferrun\n")),
            Some("/stats") => (
                "200 OK",
                format!(
                    "requests {}\nrx_packets {}\ntx_packets {}\nrx_errors {}\ntx_dropped {}\nsteal_ns {}\nuptime_ns {}\n",
                    served,
                    stats.rx_packets,
                    stats.tx_packets,
                    stats.rx_errors,
                    stats.tx_dropped,
                    kernel::time::steal_ns().unwrap_or(0),
                    kernel::time::now_ns().saturating_sub(kernel::boot_times().entry_ns),
                ),
            ),
            _ => ("404 Not Found", String::from("not found\n")),
        }
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Conn {
    handle: SocketHandle,
    request: Vec<u8>,
    answered: bool,
}

fn main() {
    let cidr = address_from_cmdline(kernel::boot_info().cmdline())
        .unwrap_or_else(|e| panic!("httpd: {e}"));
    let mut nf = Netfront::connect(0).unwrap_or_else(|e| panic!("httpd: {e}"));
    let mac = EthernetAddress(nf.mac());
    let mut iface = Interface::new(Config::new(mac.into()), &mut nf, netfront::now());
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::Ipv4(cidr));
    });
    let mut sockets = SocketSet::new(vec![]);
    let mut conns: Vec<Conn> = (0..SOCKETS)
        .map(|_| {
            let sock = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 8192]),
                tcp::SocketBuffer::new(vec![0; 8192]),
            );
            Conn {
                handle: sockets.add(sock),
                request: Vec::new(),
                answered: false,
            }
        })
        .collect();
    log::info!("listening on {}:{PORT}", cidr.address());
    let mut served = 0u64;
    loop {
        let now = netfront::now();
        iface.poll(now, &mut nf, &mut sockets);
        if let Some(why) = nf.broken() {
            panic!("httpd: the backend corrupted the {why} ring");
        }
        for c in &mut conns {
            let sock = sockets.get_mut::<tcp::Socket>(c.handle);
            if !sock.is_open() {
                c.request.clear();
                c.answered = false;
                if let Err(e) = sock.listen(PORT) {
                    log::warn!("listen: {e}");
                }
                continue;
            }
            if c.answered {
                continue;
            }
            if sock.can_recv() {
                let _ = sock.recv(|data| {
                    let room = MAX_REQUEST.saturating_sub(c.request.len());
                    let n = data.len().min(room);
                    c.request.extend_from_slice(&data[..n]);
                    (data.len(), ())
                });
            }
            let end = c.request.windows(4).position(|w| w == b"\r\n\r\n");
            let full = c.request.len() >= MAX_REQUEST;
            if (end.is_some() || full || !sock.may_recv()) && sock.can_send() {
                let head = &c.request[..end.unwrap_or(c.request.len())];
                let reply = respond(head, &nf.stats, served);
                let _ = sock.send_slice(&reply);
                sock.close();
                c.answered = true;
                served += 1;
            }
        }
        let delay = iface.poll_delay(netfront::now(), &sockets);
        let deadline = delay.map(|d| kernel::time::now_ns() + d.total_micros() * 1000);
        nf.wait(deadline);
    }
}
