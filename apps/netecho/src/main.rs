//! netecho: the echo service (RFC 862) on port 7, TCP and UDP, written the plain way:
//! a thread per TCP connection with blocking `accept`, `read` and `write_all`, and a
//! thread answering UDP datagrams with blocking `recv_from`. It exercises the network
//! service's blocking calls (the httpd uses the non-blocking ones and `net::poll`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec;
use kernel::net::{self, NetError, TcpListener, TcpStream, UdpSocket};
use kernel::sched;

kernel::main!(main);

/// The echo port.
const PORT: u16 = 7;

fn echo_stream(s: TcpStream) -> Result<u64, NetError> {
    let mut buf = vec![0u8; 4096];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn main() {
    let info = net::up().unwrap_or_else(|e| panic!("netecho: {e}"));
    let udp = UdpSocket::bind(PORT).unwrap_or_else(|e| panic!("netecho: udp {PORT}: {e}"));
    if let Err(e) = sched::spawn("udp-echo", move || {
        let mut buf = vec![0u8; 2048];
        loop {
            match udp.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if let Err(e) = udp.send_to(&buf[..n], from) {
                        log::warn!("udp to {from}: {e}");
                    }
                }
                Err(e) => log::warn!("udp: {e}"),
            }
        }
    }) {
        panic!("netecho: {e}");
    }
    let listener = TcpListener::bind(PORT).unwrap_or_else(|e| panic!("netecho: tcp {PORT}: {e}"));
    log::info!("echo on {}:{PORT} (tcp, udp)", info.address);
    loop {
        match listener.accept() {
            Ok(s) => {
                let peer = s.peer_addr().map_or(String::from("?"), |a| a.to_string());
                let spawned = sched::spawn("echo-conn", move || match echo_stream(s) {
                    Ok(n) => log::info!("tcp {peer}: {n} bytes echoed"),
                    Err(e) => log::warn!("tcp {peer}: {e}"),
                });
                if let Err(e) = spawned {
                    log::warn!("no thread for a connection: {e}");
                }
            }
            Err(e) => log::warn!("accept: {e}"),
        }
    }
}
