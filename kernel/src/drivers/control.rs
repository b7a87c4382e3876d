//! Domain control from the toolstack: `xl shutdown` and `xl reboot` arrive as a value
//! written to `control/shutdown` in our xenstore home.
//!
//! A thread named `control` advertises `control/feature-poweroff` and
//! `control/feature-reboot`, watches `control/shutdown`, acknowledges a request it carries
//! out by clearing the key, runs the registered shutdown hooks (newest first) and shuts
//! the domain down: `poweroff` and `halt` with reason poweroff, `reboot` with reason
//! reboot. Other requests (`suspend`, anything unknown) are logged and left in place,
//! unacknowledged, so the toolstack does not wait for what will not happen. Like every thread
//! it runs only when the others yield or block.
#![forbid(unsafe_code)]

use crate::drivers::xenbus::{self, Tx, Xenbus};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use xen::control::ShutdownRequest as Request;
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
    let watch = match bus.watch("control/shutdown", "ferrun-control") {
        Ok(w) => w,
        Err(e) => {
            log::error!("cannot watch control/shutdown: {e}");
            return;
        }
    };
    loop {
        if let Err(e) = watch.next(u64::MAX) {
            log::error!("watch on control/shutdown ended: {e}");
            return;
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
