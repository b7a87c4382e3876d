//! Failed hypercalls, named: the op, its arguments, the result as an errno name and the
//! function that made the call, printed on the console.
//!
//! Code that treats a hypercall's failure as unexpected reports it with
//! [`hypercall_failed`]; [`multicall`] runs a batch and reports every failed entry as
//! `call i/n: op=NAME args=[...] result=-EXXX caller+0xNN` (seed 001's format). The
//! caller is found by the frame-pointer chain and named from the image's symbols.
//!
//! May use: `arch` (hypercalls, frame pointer), `symbols`, `drivers/console`.
#![deny(unsafe_code)]

use crate::arch::x86_64::{self as arch, hypercall};
use core::fmt;
use xen::XenError;
use xen::multicall::{Args, Failure, MulticallEntry, Refusal, Result64, failures, hypercall_name};

/// A return address, shown as `function+0xNN` (or bare).
struct Caller(u64);

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::symbols::find(self.0.saturating_sub(1)) {
            Some((name, off)) => write!(f, "{name}+{:#x}", off + 1),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// The return address `levels` frames up from the frame at `rbp`.
#[inline(always)]
fn caller(levels: usize) -> Caller {
    let mut rbp = arch::frame_pointer();
    let mut ret = 0;
    for _ in 0..=levels {
        if rbp == 0 || !rbp.is_multiple_of(8) {
            return Caller(0);
        }
        ret = arch::read_stack_word(rbp + 8);
        rbp = arch::read_stack_word(rbp);
    }
    Caller(ret)
}

/// Reports hypercall `op` with `args` (its meaningful arguments: a sub-command, a port,
/// ...) failing with `err`, naming the function that reports it and its caller.
#[inline(never)]
pub fn hypercall_failed(op: u32, args: &[u64], err: XenError) {
    // The function that reported and the one that called it (either may have been
    // inlined into the next one up: both are named).
    let (at, from) = (caller(0), caller(1));
    let name = hypercall_name(u64::from(op)).unwrap_or("?");
    crate::drivers::console::print_polling(format_args!(
        "ferrun: hypercall failed: op={name} args=[{}] result={} in {at} from {from}\n",
        Args(args),
        Result64(-err.errno())
    ));
}

/// Reports a hypercall refused in `arch` (which cannot report it itself), naming the
/// function that made it.
pub fn refused(r: &Refusal) {
    crate::drivers::console::print_polling(format_args!(
        "ferrun: hypercall failed: {r} in {}\n",
        Caller(r.caller)
    ));
}

/// Reports a failed entry of a batch `arch` ran, made by the function that returns to
/// `caller`.
pub fn failed_entry(f: &Failure, caller: u64) {
    crate::drivers::console::print_polling(format_args!("ferrun: {f} {}\n", Caller(caller)));
}

/// Runs `entries` as one multicall and reports each failed entry (naming the caller).
/// `Ok(n)`: the batch ran and `n` entries failed.
///
/// # Safety
/// As for `hypercall::multicall`: each entry must be safe to make with its arguments.
#[allow(
    unsafe_code,
    reason = "forwards the caller's guarantee about the entries"
)]
#[inline(never)]
pub unsafe fn multicall(entries: &mut [MulticallEntry]) -> Result<usize, XenError> {
    let who = caller(0);
    // SAFETY: forwarded from this function's contract.
    if let Err(e) = unsafe { hypercall::multicall(entries) } {
        hypercall_failed(
            xen::abi::xen::hypercall::MULTICALL,
            &[entries.len() as u64],
            e,
        );
        return Err(e);
    }
    let mut n = 0;
    for f in failures(entries) {
        crate::drivers::console::print_polling(format_args!("ferrun: {f} {who}\n"));
        n += 1;
    }
    Ok(n)
}

/// A refused `update_va_mapping` (see `arch::refusal_demo`), reported: shows what a
/// refused call's report looks like. For the diagnostics flight.
pub fn refusal_demo() -> Option<Refusal> {
    let r = arch::refusal_demo();
    if let Some(r) = &r {
        refused(r);
    }
    r
}

/// A batch of two harmless calls of which the second is bad (an `mmuext_op` command
/// that does not exist): shows what a failed entry's report looks like. For the
/// diagnostics flight.
pub fn multicall_demo() -> Result<usize, XenError> {
    let bad = xen::abi::xen::MmuextOp {
        cmd: 0xdead,
        arg1: 0,
        arg2: 0,
    };
    let mut batch = [
        MulticallEntry::new(xen::abi::xen::hypercall::XEN_VERSION, &[0, 0]),
        MulticallEntry::new(
            xen::abi::xen::hypercall::MMUEXT_OP,
            &[
                (&raw const bad) as u64,
                1,
                0,
                u64::from(xen::abi::xen::DomId::SELF.0),
            ],
        ),
    ];
    // SAFETY: XENVER_version reads nothing; the mmuext_op entry points at one command on
    // this stack, which Xen refuses without changing anything (no such command).
    #[allow(unsafe_code, reason = "a multicall of two calls that change nothing")]
    unsafe {
        multicall(&mut batch)
    }
}
