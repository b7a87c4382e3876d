//! Domain control from the toolstack: `xl shutdown` and `xl reboot` arrive as a value
//! written to `control/shutdown` in our xenstore home, `xl sysrq DOMAIN KEY` as a key
//! written to `control/sysrq`.
//!
//! A thread named `control` advertises `control/feature-poweroff` and
//! `control/feature-reboot`, watches the `control` directory, acknowledges a request it carries
//! out by clearing the key, runs the registered shutdown hooks (newest first) and shuts
//! the domain down: `poweroff` and `halt` with reason poweroff, `reboot` with reason
//! reboot. An app that runs a program of its own can take such a request over
//! ([`on_shutdown_request`]): its handler asks the program to stop (libc-shim sends it
//! `SIGTERM`) and answers [`Disposition::Stopping`]; the program's own exit then ends the
//! domain ([`requested_shutdown`] says with which reason), and if it has not within the
//! grace period (`shutdown-grace=S` on the command line, default 10 s, 0 to 3600) this
//! driver says so on the console, runs the hooks and shuts the domain down itself. Other
//! requests (`suspend`, anything unknown) are logged and left in place,
//! unacknowledged, so the toolstack does not wait for what will not happen. A sysrq key is
//! cleared and handled as Linux does for the keys it shares: `z` prints the trace ring,
//! `m` memory use, any other key the list of keys. Like every thread it runs only when the
//! others yield or block, so a sysrq reaches a guest whose threads still yield.
#![forbid(unsafe_code)]

use crate::drivers::xenbus::{self, Tx, Xenbus};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};
use xen::abi::sched::ShutdownReason;
use xen::control::{ShutdownRequest as Request, Sysrq};
use xen::xenstore::XsError;

/// Something to do before the domain shuts down on request (close sockets, flush).
pub type Hook = Box<dyn FnOnce() + Send>;

static HOOKS: spin::Mutex<Vec<Hook>> = spin::Mutex::new(Vec::new());

/// Registers `hook` to run before a requested poweroff or reboot.
pub fn on_shutdown(hook: Hook) {
    HOOKS.lock().push(hook);
}

/// What the app's shutdown-request handler does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing: the driver carries the request out at once (hooks, then shutdown), as
    /// without a handler.
    Default,
    /// The app has asked its program to stop and will end the domain itself; the driver
    /// does it after the grace period if the app has not.
    Stopping,
}

/// Takes a shutdown request over (see [`on_shutdown_request`]).
pub type RequestHandler = fn(ShutdownReason) -> Disposition;

static HANDLER: spin::Mutex<Option<RequestHandler>> = spin::Mutex::new(None);

/// The reason of the request being carried out, as `ShutdownReason as u8`; `NO_REQUEST`
/// while there is none.
static REQUESTED: AtomicU8 = AtomicU8::new(NO_REQUEST);
const NO_REQUEST: u8 = u8::MAX;

/// Grace period (s) without `shutdown-grace=`.
pub const DEFAULT_GRACE_S: u64 = 10;

/// Registers `handler` to be asked first about each `xl shutdown`/`xl reboot` (the last
/// registration counts). It runs on the `control` thread and must not block for long:
/// it should only ask its program to stop.
pub fn on_shutdown_request(handler: RequestHandler) {
    *HANDLER.lock() = Some(handler);
}

/// The reason of the shutdown the toolstack asked for and a handler took over, if one
/// is under way: the reason an app should shut down with when its program exits.
pub fn requested_shutdown() -> Option<ShutdownReason> {
    use ShutdownReason::*;
    let v = REQUESTED.load(Ordering::SeqCst);
    [Poweroff, Reboot, Suspend, Crash, Watchdog]
        .into_iter()
        .find(|r| *r as u8 == v)
}

/// The grace period in seconds: `shutdown-grace=S` (0 to 3600), else the default (a
/// malformed value is reported and the default used).
fn grace_s() -> u64 {
    let cmdline = crate::boot_info().cmdline();
    crate::cmdline::number(cmdline, "shutdown-grace", 0..=3600, "seconds (0 to 3600)")
        .unwrap_or_else(|e| {
            log::warn!("{e}; using {DEFAULT_GRACE_S} s");
            None
        })
        .unwrap_or(DEFAULT_GRACE_S)
}

/// Runs the hooks (newest first) and shuts the domain down.
fn carry_out(reason: ShutdownReason) -> ! {
    let hooks = core::mem::take(&mut *HOOKS.lock());
    for hook in hooks.into_iter().rev() {
        hook();
    }
    crate::shutdown(reason)
}

/// A request the toolstack made: the handler's, or carried out now.
fn requested(value: &str, reason: ShutdownReason) {
    if requested_shutdown().is_some() {
        log::info!("{value} requested by the toolstack (already stopping)");
        return;
    }
    let handler = *HANDLER.lock();
    let disposition = handler.map_or(Disposition::Default, |h| h(reason));
    if disposition == Disposition::Default {
        log::info!("{value} requested by the toolstack");
        carry_out(reason);
    }
    let grace = grace_s();
    log::info!("{value} requested by the toolstack: the program has {grace} s to stop");
    REQUESTED.store(reason as u8, Ordering::SeqCst);
    let value = String::from(value);
    let timer = crate::sched::spawn("shutdown-grace", move || {
        crate::sched::sleep_ns(grace.saturating_mul(1_000_000_000));
        crate::println!(
            "ferrun: the program did not stop within {grace} s of the toolstack's {value}; \
             shutting down"
        );
        carry_out(reason)
    });
    if let Err(e) = timer {
        log::error!("no thread for the shutdown grace period ({e}): shutting down now");
        carry_out(reason);
    }
}

/// Starts the `control` thread (at boot, before the app's main).
pub(crate) fn start() {
    if let Err(e) = crate::sched::spawn("control", run) {
        log::error!("no thread for xl shutdown/reboot: {e}");
    }
}

fn run() {
    let bus = match xenbus::get() {
        Ok(bus) => bus,
        Err(e) => {
            log::warn!("no xenstore, xl shutdown will not work: {e}");
            return;
        }
    };
    for feature in ["control/feature-poweroff", "control/feature-reboot"] {
        // The toolstack may not let us write there; the watch still works.
        let _ = bus.write(feature, b"1", Tx::NONE);
    }
    // One watch on the directory: it fires once when set, then for every key below.
    let watch = match bus.watch("control", "ferrun-control") {
        Ok(w) => w,
        Err(e) => {
            log::error!("cannot watch control/shutdown and control/sysrq: {e}");
            return;
        }
    };
    loop {
        let path = match watch.next(u64::MAX) {
            Ok(path) => path,
            Err(e) => {
                log::error!("watch on control/ ended: {e}");
                return;
            }
        };
        let everything = !path.contains("control/");
        if everything || path.ends_with("control/sysrq") {
            match take_sysrq(&bus) {
                Ok(key) => sysrq(key),
                Err(e) => log::error!("reading control/sysrq: {e}"),
            }
        }
        if !(everything || path.ends_with("control/shutdown")) {
            continue;
        }
        match take_request(&bus) {
            Ok((value, Request::Shutdown(reason))) => requested(&value, reason),
            Ok((value, Request::Unsupported)) => {
                log::warn!("ignoring unsupported request '{value}' (left unacknowledged)");
            }
            Ok((_, Request::None)) => {}
            Err(e) => log::error!("reading control/shutdown: {e}"),
        }
    }
}

/// Reads `control/sysrq` and clears it, in one transaction.
fn take_sysrq(bus: &Xenbus) -> Result<Sysrq, XsError> {
    bus.transaction(|b, tx| {
        let value = match b.read_string("control/sysrq", tx) {
            Ok(v) => v,
            Err(XsError::Xenstore(xen::xenstore::Errno::Enoent)) => return Ok(Sysrq::None),
            Err(e) => return Err(e),
        };
        let key = Sysrq::parse(&value);
        if key != Sysrq::None {
            b.write("control/sysrq", b"", tx)?;
        }
        Ok(key)
    })
}

/// Carries out a sysrq key, printing on the console.
fn sysrq(key: Sysrq) {
    match key {
        Sysrq::None => {}
        Sysrq::DumpTrace => crate::print!("sysrq: z\n{}", crate::trace::dump()),
        Sysrq::ShowMemory => {
            let (used, size) = crate::mm::heap_usage();
            crate::println!(
                "sysrq: m: {} free pages, heap {used} of {size} bytes used, {} threads",
                crate::mm::free_pages(),
                crate::sched::live_threads()
            );
        }
        Sysrq::Help(c) => crate::println!("sysrq: unknown key {c:?}; {}", Sysrq::HELP),
    }
}

/// Reads `control/shutdown` and clears it, in one transaction.
fn take_request(bus: &Xenbus) -> Result<(String, Request), XsError> {
    bus.transaction(|b, tx| {
        let value = match b.read_string("control/shutdown", tx) {
            Ok(v) => v,
            Err(XsError::Xenstore(xen::xenstore::Errno::Enoent)) => String::new(),
            Err(e) => return Err(e),
        };
        let request = Request::parse(&value);
        if request.acknowledged() {
            b.write("control/shutdown", b"", tx)?;
        }
        Ok((value, request))
    })
}
