//! The httpd's HTTP/1.1 engine: request bytes in, response bytes out.
//!
//! A [`Connection`] is the state machine of one TCP connection (RFC 9112): the app feeds
//! it the bytes the socket delivered, takes the responses it produces (in request order,
//! so pipelining works), writes them, and closes when told. Time is passed in as
//! nanoseconds, so the same code runs in the guest and in host tests. Request heads are
//! parsed by `httparse`; the engine applies the message rules on top (version, `Host`,
//! framing, persistence, targets, limits) and looks paths up in the app's [`Site`].
//!
//! Only GET and HEAD are served. Static files answer with a body that borrows the
//! `&'static` bytes embedded in the image ([`Body::Static`]); generated pages such as
//! `/stats` are [`Resource::Dynamic`]. Refusals carry a [`Rejection`] saying why.
//!
//! The app's loop for one connection (smoltcp names; `send_from` writes `head()` then
//! `body()` from an offset, so a static body goes from the image to the socket):
//!
//! ```ignore
//! let mut conn = http::Connection::new(now_ns());
//! let mut writing: Option<(http::Response, usize)> = None; // and bytes sent so far
//! loop {
//!     let now = now_ns();
//!     if writing.is_none() && conn.deadline().is_some_and(|d| now >= d) {
//!         writing = conn.on_timeout(now).map(|r| (r, 0)); // a 408, or nothing
//!     }
//!     loop {
//!         // Feed what the socket holds; the engine takes less when its buffer is full.
//!         let took = sock.recv(|data| { let n = conn.feed(data, now); (n, n) }).unwrap_or(0);
//!         if !sock.may_recv() {
//!             conn.peer_closed();
//!         }
//!         // Write responses in order while the socket has room.
//!         loop {
//!             if writing.is_none() {
//!                 writing = conn.poll(&site, now).map(|r| (r, 0));
//!             }
//!             let Some((r, sent)) = &mut writing else { break };
//!             *sent += send_from(&mut sock, r.head(), r.body(), *sent);
//!             if *sent < r.wire_len() {
//!                 break; // send buffer full: go on at the next event
//!             }
//!             writing = None;
//!         }
//!         if took == 0 {
//!             break;
//!         }
//!     }
//!     if conn.should_close() && writing.is_none() {
//!         sock.close();
//!         break;
//!     }
//!     wait_for_socket_event_or(conn.deadline());
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "build"))]
extern crate std;

#[cfg(any(test, feature = "build"))]
pub mod build;
mod connection;
mod request;
mod response;
mod site;
mod status;

pub use connection::{Connection, Limits};
pub use response::{Body, Response};
pub use site::{Resource, Site, StaticFile, content_type_for};
pub use status::{Rejection, StatusCode};
