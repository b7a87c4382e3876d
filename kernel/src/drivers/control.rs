//! Domain control from the toolstack: `xl shutdown` and `xl reboot` arrive as a value
//! written to `control/shutdown` in our xenstore home, `xl sysrq DOMAIN KEY` as a key
//! written to `control/sysrq`.
//!
//! A thread named `control` advertises `control/feature-poweroff` and
//! `control/feature-reboot`, watches the `control` directory, acknowledges a request it carries
//! out by clearing the key, runs the registered shutdown hooks (newest first) and shuts
//! the domain down: `poweroff` and `halt` with reason poweroff, `reboot` with reason
//! reboot. Other requests (`suspend`, anything unknown) are logged and left in place,
//! unacknowledged, so the toolstack does not wait for what will not happen. A sysrq key is
//! cleared and handled as Linux does for the keys it shares: `z` prints the trace ring,
//! `m` memory use, any other key the list of keys. Like every thread it runs only when the
//! others yield or block, so a sysrq reaches a guest whose threads still yield.
#![forbid(unsafe_code)]

use crate::drivers::xenbus::{self, Tx, Xenbus};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use xen::control::{ShutdownRequest as Request, Sysrq};
use xen::xenstore::XsError;

/// Something to do before the domain shuts down on request (close sockets, flush).
pub type Hook = Box<dyn FnOnce() + Send>;

static HOOKS: spin::Mutex<Vec<Hook>> = spin::Mutex::new(Vec::new());

/// Registers `hook` to run before a requested poweroff or reboot.
pub fn on_shutdown(hook: Hook) {
    HOOKS.lock().push(hook);
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
            Ok((value, Request::Shutdown(reason))) => {
                log::info!("{value} requested by the toolstack");
                let hooks = core::mem::take(&mut *HOOKS.lock());
                for hook in hooks.into_iter().rev() {
                    hook();
                }
                crate::shutdown(reason);
            }
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
