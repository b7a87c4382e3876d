//! The console proper (target only); see the module above.
#![forbid(unsafe_code)]

use super::lines::LineReader;
use crate::arch::x86_64 as arch;
use crate::sched::sync::WaitQueue;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use xen::abi::xen::Port;
use xen::console::{ConsoleError, ConsoleRing};

struct Console {
    ring: ConsoleRing,
    port: Port,
}

static CONSOLE: spin::Once<Console> = spin::Once::new();
static LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Set once the backend corrupted the ring: output is dropped from then on.
static BROKEN: AtomicBool = AtomicBool::new(false);

/// How long a full ring may stay full before output is dropped.
const STALL_LIMIT_NS: u64 = 2_000_000_000;

/// Sets the console up. Called once by boot.
pub(crate) fn init(ring: ConsoleRing, port: Port) {
    CONSOLE.call_once(|| Console { ring, port });
}

fn notify(c: &Console) {
    // A failed notify loses nothing: xenconsoled also polls the ring.
    let _ = arch::evtchn_send(c.port);
}

/// What a writer does when the ring is full.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// Yield the vCPU to Xen and try again, for [`STALL_LIMIT_NS`] at most, then drop
    /// the rest: kernel context (boot, traps, crash reports), where nothing may block.
    Poll,
    /// Block the thread until xenconsoled signals that it consumed output: thread
    /// context. Nothing is dropped, however long the backend takes.
    Block,
}

fn write_unlocked(bytes: &[u8]) {
    write_ring(bytes, WhenFull::Poll);
}

fn write_ring(bytes: &[u8], when_full: WhenFull) {
    let Some(c) = CONSOLE.get() else { return };
    let mut rest = bytes;
    let mut stalled_since: Option<u64> = None;
    while !rest.is_empty() && !BROKEN.load(Ordering::Relaxed) {
        match c.ring.write(rest) {
            Ok(0) if when_full == WhenFull::Block => {
                bind_events(c);
                notify(c);
                // Checked full and queued without yielding in between: the event that
                // says "consumed" cannot be missed.
                OUTPUT_WAITERS.wait();
            }
            Ok(0) => {
                notify(c);
                let now = crate::time::now_ns();
                let since = *stalled_since.get_or_insert(now);
                if now.saturating_sub(since) > STALL_LIMIT_NS {
                    return;
                }
                arch::sched_yield();
            }
            Ok(n) => {
                rest = rest.get(n..).unwrap_or_default();
                stalled_since = None;
                notify(c);
            }
            Err(_) => BROKEN.store(true, Ordering::Relaxed),
        }
    }
}

/// Writes bytes to the console: in a thread, waiting for room as long as it takes;
/// elsewhere (boot, trap handlers) for a bounded time.
pub fn write_bytes(bytes: &[u8]) {
    if crate::sched::can_block() {
        let _guard = THREAD_LOCK.lock();
        write_ring(bytes, WhenFull::Block);
    } else {
        let _guard = LOCK.lock();
        write_unlocked(bytes);
    }
}

/// Writes without taking the console lock: for crash reports, which must get out even if
/// the crash happened while the lock was held.
pub fn write_str_raw(s: &str) {
    write_unlocked(s.as_bytes());
}

/// Waits (bounded) until xenconsoled has consumed everything written, so that the last
/// lines are not lost when the domain is destroyed right after shutdown.
pub fn flush() {
    let Some(c) = CONSOLE.get() else { return };
    let start = crate::time::now_ns();
    while let Ok(false) = c.ring.drained() {
        notify(c);
        if crate::time::now_ns().saturating_sub(start) > STALL_LIMIT_NS {
            return;
        }
        arch::sched_yield();
    }
}

/// Threads waiting in [`read_line`].
static INPUT_WAITERS: WaitQueue = WaitQueue::new();
/// Threads waiting for room in the output ring.
static OUTPUT_WAITERS: WaitQueue = WaitQueue::new();
/// Serialises thread-context output (kernel context uses [`LOCK`]).
static THREAD_LOCK: crate::sched::sync::Mutex<()> = crate::sched::sync::Mutex::new(());
/// Bytes read from the ring that are not part of a returned line yet.
static INPUT: spin::Mutex<LineReader> = spin::Mutex::new(LineReader::new());
/// Set once the console event channel has a handler that wakes readers and writers.
static EVENTS_BOUND: spin::Once<()> = spin::Once::new();

/// Why console input could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputError {
    /// There is no console ring (boot has not set it up).
    NoConsole,
    /// The backend corrupted the ring.
    Ring(ConsoleError),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NoConsole => write!(f, "no console"),
            InputError::Ring(e) => write!(f, "{e}"),
        }
    }
}

/// Binds the console event channel (once) to a handler that wakes readers and writers
/// waiting for xenconsoled.
fn bind_events(c: &Console) {
    EVENTS_BOUND.call_once(|| {
        let bound = crate::event::bind_handler(
            c.port,
            Arc::new(|_| {
                INPUT_WAITERS.wake_all();
                OUTPUT_WAITERS.wake_all();
            }),
        );
        if let Err(e) = bound {
            print_polling(format_args!(
                "ferrun: console: no event handler ({e}); polling\n"
            ));
        }
    });
}

/// Moves whatever input the ring holds into [`INPUT`]; returns how many bytes.
fn pull_input(c: &Console) -> Result<usize, InputError> {
    let mut buf = [0u8; 256];
    let mut total = 0;
    loop {
        let n = c.ring.read(&mut buf).map_err(InputError::Ring)?;
        if n == 0 {
            break;
        }
        INPUT.lock().push(buf.get(..n).unwrap_or_default());
        total += n;
    }
    if total > 0 {
        // xenconsoled may be waiting for room in the input ring.
        notify(c);
    }
    Ok(total)
}

/// The next line of console input, without its line ending (`\n`, `\r` or `\r\n`),
/// blocking the calling thread until one arrives. A line longer than `max` bytes comes
/// back in pieces of `max` bytes; invalid UTF-8 is replaced.
pub fn read_line(max: usize) -> Result<String, InputError> {
    let c = CONSOLE.get().ok_or(InputError::NoConsole)?;
    bind_events(c);
    loop {
        pull_input(c)?;
        if let Some(line) = INPUT.lock().take_line(max) {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        // Woken by the next console event (input arrived or output was consumed); the
        // deadline only covers a handler that could not be bound.
        INPUT_WAITERS.wait_until(crate::time::now_ns().saturating_add(1_000_000_000));
    }
}

/// A `fmt::Write` that goes straight to the console.
pub struct ConsoleWriter {
    raw: bool,
}

impl ConsoleWriter {
    /// A writer that bypasses the console lock (crash path only).
    pub fn raw() -> Self {
        ConsoleWriter { raw: true }
    }
}

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.raw {
            write_str_raw(s);
        } else {
            write_unlocked(s.as_bytes());
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    if crate::sched::can_block() {
        let _guard = THREAD_LOCK.lock();
        let _ = BlockingWriter.write_fmt(args);
    } else {
        print_polling(args);
    }
}

/// Prints without ever blocking the thread (bounded polling when the ring is full): for
/// code that runs inside the scheduler.
pub fn print_polling(args: fmt::Arguments<'_>) {
    let _guard = LOCK.lock();
    let _ = ConsoleWriter { raw: false }.write_fmt(args);
}

/// Thread-context output: waits for room in the ring.
struct BlockingWriter;

impl Write for BlockingWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_ring(s.as_bytes(), WhenFull::Block);
        Ok(())
    }
}

/// Prints to the PV console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::drivers::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the PV console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::drivers::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
