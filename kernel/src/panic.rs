//! Crash reports: panics and unexpected traps print what happened, the registers and a
//! backtrace on the console, then shut the domain down with reason crash.
#![forbid(unsafe_code)]

use crate::arch::x86_64::{self as arch, traps::TrapFrame};
use crate::drivers::console::ConsoleWriter;
use crate::unwind;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

static CRASHING: AtomicBool = AtomicBool::new(false);

/// Deepest backtrace printed.
const MAX_FRAMES: usize = 64;

fn trap_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point error",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point error",
        arch::traps::VECTOR_FAILSAFE => "failsafe callback (bad segment on return)",
        arch::traps::VECTOR_BAD_SYSCALL => "system call with no such hypercall",
        _ => "unknown",
    }
}

/// The stack that holds `sp`, for bounding the backtrace.
fn stack_bounds(sp: u64) -> (u64, u64) {
    let (lo, hi) = crate::sched::current_info().map_or_else(arch::boot_stack, |t| t.stack);
    if sp >= lo && sp < hi {
        (lo, hi)
    } else {
        (sp, sp.saturating_add(64 * 1024))
    }
}

/// Names the running thread in a report line.
fn thread_line(w: &mut ConsoleWriter) {
    match crate::sched::current_info() {
        Some(t) => {
            let _ = writeln!(
                w,
                "  in thread '{}' (id {}), stack {:#x}..{:#x}",
                t.name, t.id, t.stack.0, t.stack.1
            );
        }
        None => {
            let _ = writeln!(
                w,
                "  in thread (unknown: the thread table was being updated)"
            );
        }
    }
}

fn backtrace(w: &mut ConsoleWriter, rip: Option<u64>, rbp: u64, sp: u64) {
    let _ = writeln!(w, "backtrace:");
    let mut n = 0usize;
    let mut last = None;
    let mut repeats = 0usize;
    // A return address follows its call, which may be a function's last instruction:
    // name the byte before it.
    let name = |addr: u64, is_return: bool| {
        crate::symbols::find(addr.saturating_sub(u64::from(is_return)))
            .map(|(f, off)| (f, off + u64::from(is_return)))
    };
    let line = |w: &mut ConsoleWriter, n: usize, addr: u64, is_return: bool| {
        let _ = match name(addr, is_return) {
            Some((f, off)) => writeln!(w, "  #{n:<2} {addr:#018x} {f}+{off:#x}"),
            None => writeln!(w, "  #{n:<2} {addr:#018x}"),
        };
    };
    if let Some(rip) = rip {
        line(w, n, rip, false);
        n += 1;
    }
    unwind::walk(
        rbp,
        stack_bounds(sp),
        MAX_FRAMES,
        arch::read_stack_word,
        |f| {
            // Deep recursion repeats one return address: print it once with a count.
            if last == Some(f.return_address) {
                repeats += 1;
                return;
            }
            if repeats > 0 {
                let _ = writeln!(w, "       (the frame above repeats {repeats} more times)");
                repeats = 0;
            }
            line(w, n, f.return_address, true);
            last = Some(f.return_address);
            n += 1;
        },
    );
    if repeats > 0 {
        let _ = writeln!(
            w,
            "       (the frame above repeats {repeats} more times; walk stopped at {MAX_FRAMES} frames)"
        );
    }
}

/// Enters crash reporting once; a fault inside the report shuts down at once.
fn begin_crash() -> ConsoleWriter {
    if CRASHING.swap(true, Ordering::SeqCst) {
        crate::drivers::console::write_str_raw("ferrun: fault while reporting a crash\n");
        crate::crash();
    }
    ConsoleWriter::raw()
}

/// An exception nobody handles: report and crash.
pub(crate) fn fatal_trap(f: &TrapFrame) -> ! {
    let mut w = begin_crash();
    let cr2 = if f.vector == 14 {
        arch::fault_address()
    } else {
        0
    };
    if let Some(t) = crate::sched::current_info()
        && let Some((g0, g1)) = t.guard
        && f.vector == 14
        && (g0..g1).contains(&cr2)
    {
        let _ = writeln!(
            w,
            "ferrun: stack overflow in thread '{}' (id {}): fault at {cr2:#x} in its guard page {g0:#x}..{g1:#x}",
            t.name, t.id
        );
    }
    let _ = write!(
        w,
        "ferrun: fatal trap {} ({}) error code {:#x}",
        f.vector,
        trap_name(f.vector),
        f.error
    );
    if f.vector == 14 {
        let _ = write!(w, " address {cr2:#x}");
    }
    let mode = if f.cs & 3 == 3 { "user" } else { "kernel" };
    let _ = writeln!(w, " ({mode} mode)");
    thread_line(&mut w);
    let rows: [[(&str, u64); 4]; 5] = [
        [
            ("rip", f.rip),
            ("rsp", f.rsp),
            ("rbp", f.rbp),
            ("rflags", f.rflags),
        ],
        [
            ("rax", f.rax),
            ("rbx", f.rbx),
            ("rcx", f.rcx),
            ("rdx", f.rdx),
        ],
        [("rsi", f.rsi), ("rdi", f.rdi), ("r8", f.r8), ("r9", f.r9)],
        [
            ("r10", f.r10),
            ("r11", f.r11),
            ("r12", f.r12),
            ("r13", f.r13),
        ],
        [("r14", f.r14), ("r15", f.r15), ("cs", f.cs), ("ss", f.ss)],
    ];
    for row in rows {
        let _ = write!(w, " ");
        for (name, value) in row {
            let _ = write!(w, " {name:<3} {value:#018x}");
        }
        let _ = writeln!(w);
    }
    backtrace(&mut w, Some(f.rip), f.rbp, f.rsp);
    trace_tail(&mut w);
    let _ = writeln!(w, "ferrun: crashing domain");
    crate::crash()
}

/// The last records of the trace ring (what the runtime did just before).
fn trace_tail(w: &mut ConsoleWriter) {
    let last = crate::trace::last(64);
    if last.is_empty() {
        return;
    }
    let _ = writeln!(w, "last {} trace records:", last.len());
    let _ = crate::trace::write_records(w, &last);
}

/// A thread that ran `ran_ns` without yielding (the stall watchdog, from the timer upcall
/// that interrupted it): where it is. The domain goes on.
pub(crate) fn stall_report(f: &TrapFrame, ran_ns: u64) {
    let mut w = ConsoleWriter::raw();
    let _ = match crate::sched::current_info() {
        Some(t) => writeln!(
            w,
            "ferrun: watchdog: thread '{}' (id {}) has run {}.{} s without yielding",
            t.name,
            t.id,
            ran_ns / 1_000_000_000,
            ran_ns / 100_000_000 % 10
        ),
        None => writeln!(
            w,
            "ferrun: watchdog: the vCPU has run {} ms without yielding",
            ran_ns / 1_000_000
        ),
    };
    let _ = writeln!(
        w,
        "  rip {:#018x} rsp {:#018x} rbp {:#018x}",
        f.rip, f.rsp, f.rbp
    );
    backtrace(&mut w, Some(f.rip), f.rbp, f.rsp);
    trace_tail(&mut w);
    let _ = writeln!(
        w,
        "ferrun: watchdog: other threads run again once it yields"
    );
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut w = begin_crash();
    let _ = write!(w, "ferrun: panic: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(w, " at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    let _ = writeln!(w);
    thread_line(&mut w);
    let rbp = arch::frame_pointer();
    let rsp = arch::stack_pointer();
    let _ = writeln!(w, "  rsp {rsp:#018x} rbp {rbp:#018x}");
    backtrace(&mut w, None, rbp, rsp);
    trace_tail(&mut w);
    let _ = writeln!(w, "ferrun: crashing domain");
    crate::crash()
}
