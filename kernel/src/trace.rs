//! The trace ring: what the runtime did just before a hang or a crash.
//!
//! Fixed-size records (time in ns, kind, thread, three arguments) in a ring whose size is
//! the command line's `trace=N` records (default 4096, `trace=0` off). Thread switches,
//! event-channel dispatch, timer events, xenstore requests and replies, network polls,
//! system calls and the app's own events ([`trace!`](crate::trace!)) are recorded. Every
//! crash report ends with the last 64 records; [`dump`] writes the whole ring (the httpd
//! serves it at `/trace`).
//!
//! Recording is lock-free: a slot is claimed with one atomic add and written as atomic
//! words, so the event upcall may record while a thread is recording (one vCPU).
//!
//! May use: `time`, `sched` (names, via the caller), `lib`, `cmdline`.
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// The scheduler switched threads: from, to (thread ids).
    Switch = 1,
    /// An event-channel port's handler ran: port.
    Event = 2,
    /// The one-shot timer fired.
    Timer = 3,
    /// A xenstore request went out: type, request id.
    XsRequest = 4,
    /// Its reply came back: type, request id.
    XsReply = 5,
    /// The network thread polled: frames received, frames sent (device totals).
    NetPoll = 6,
    /// A Linux system call returned: number, result.
    Syscall = 7,
    /// The app's own event (`trace!`): code and two values.
    App = 8,
}

impl Kind {
    fn from_u16(v: u16) -> Option<Kind> {
        Some(match v {
            1 => Kind::Switch,
            2 => Kind::Event,
            3 => Kind::Timer,
            4 => Kind::XsRequest,
            5 => Kind::XsReply,
            6 => Kind::NetPoll,
            7 => Kind::Syscall,
            8 => Kind::App,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Switch => "switch",
            Kind::Event => "event",
            Kind::Timer => "timer",
            Kind::XsRequest => "xs-request",
            Kind::XsReply => "xs-reply",
            Kind::NetPoll => "net-poll",
            Kind::Syscall => "syscall",
            Kind::App => "app",
        }
    }
}

/// Words per record: time, kind and thread, three arguments.
const WORDS: usize = 5;

/// The ring: `WORDS` atomic words per record.
pub struct Ring {
    words: Box<[AtomicU64]>,
    records: usize,
    next: AtomicUsize,
}

/// One record, read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Monotonic time (ns).
    pub time_ns: u64,
    /// What it is about.
    pub kind: Kind,
    /// The running thread's id (low 32 bits).
    pub thread: u32,
    /// Its arguments.
    pub args: [u64; 3],
}

impl Ring {
    /// A ring of `records` records (at least 1).
    pub fn new(records: usize) -> Ring {
        let records = records.max(1);
        let words = (0..records * WORDS)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>();
        Ring {
            words: words.into_boxed_slice(),
            records,
            next: AtomicUsize::new(0),
        }
    }

    /// Records an event.
    pub fn record(&self, time_ns: u64, kind: Kind, thread: u32, args: [u64; 3]) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let base = (n % self.records) * WORDS;
        let Some(slot) = self.words.get(base..base + WORDS) else {
            return;
        };
        let head = u64::from(kind as u16) | (u64::from(thread) << 32);
        // Kind last: a reader skips a slot whose kind is 0 (being written, or never).
        slot[1].store(0, Ordering::Relaxed);
        slot[0].store(time_ns, Ordering::Relaxed);
        slot[2].store(args[0], Ordering::Relaxed);
        slot[3].store(args[1], Ordering::Relaxed);
        slot[4].store(args[2], Ordering::Relaxed);
        slot[1].store(head, Ordering::Release);
    }

    /// The last `n` records, oldest first.
    pub fn last(&self, n: usize) -> Vec<Record> {
        let end = self.next.load(Ordering::Acquire);
        let count = n.min(self.records).min(end);
        (end - count..end)
            .filter_map(|i| {
                let base = (i % self.records) * WORDS;
                let slot = self.words.get(base..base + WORDS)?;
                let head = slot[1].load(Ordering::Acquire);
                let kind = Kind::from_u16((head & 0xffff) as u16)?;
                Some(Record {
                    time_ns: slot[0].load(Ordering::Relaxed),
                    kind,
                    thread: (head >> 32) as u32,
                    args: [
                        slot[2].load(Ordering::Relaxed),
                        slot[3].load(Ordering::Relaxed),
                        slot[4].load(Ordering::Relaxed),
                    ],
                })
            })
            .collect()
    }

    /// Records ever made (the ring keeps the last `capacity` of them).
    pub fn total(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    /// How many records it keeps.
    pub fn capacity(&self) -> usize {
        self.records
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.args;
        write!(
            f,
            "{:>6}.{:06} t{:<4} {:<10}",
            self.time_ns / 1_000_000_000,
            self.time_ns / 1000 % 1_000_000,
            self.thread,
            self.kind.name()
        )?;
        match self.kind {
            Kind::Switch => write!(f, " {a} -> {b}"),
            Kind::Event => write!(f, " port {a}"),
            Kind::Timer => Ok(()),
            Kind::XsRequest | Kind::XsReply => {
                let name = u32::try_from(a)
                    .ok()
                    .and_then(xen::xenstore::MsgType::from_raw);
                match name {
                    Some(t) => write!(f, " {} id {b}", t.name()),
                    None => write!(f, " type {a} id {b}"),
                }
            }
            Kind::NetPoll => write!(f, " rx {a} tx {b}"),
            Kind::Syscall => write!(f, " nr {a} -> {}", b as i64),
            Kind::App => write!(f, " code {a} {b:#x} {c:#x}"),
        }
    }
}

/// Writes `records` one per line.
pub fn write_records(out: &mut impl Write, records: &[Record]) -> fmt::Result {
    for r in records {
        writeln!(out, "  {r}")?;
    }
    Ok(())
}

#[cfg(target_os = "none")]
mod imp {
    use super::{Kind, Record, Ring};
    use alloc::vec::Vec;

    static RING: spin::Once<Option<Ring>> = spin::Once::new();

    /// Sets the ring up from `trace=N` (boot).
    pub(crate) fn init(cmdline: &str) {
        let n = crate::cmdline::number(
            cmdline,
            "trace",
            0..=1 << 20,
            "a number of records (0 to 1048576)",
        )
        .unwrap_or_else(|e| {
            crate::println!("ferrun: {e}; 4096 kept");
            None
        })
        .map_or(4096, |n| usize::try_from(n).unwrap_or(4096));
        RING.call_once(|| (n > 0).then(|| Ring::new(n)));
    }

    /// Records an event, if tracing is on (the time and thread read here).
    #[inline]
    pub fn record(kind: Kind, args: [u64; 3]) {
        if let Some(Some(r)) = RING.get() {
            let thread = crate::sched::current_id().unwrap_or(0) as u32;
            r.record(crate::time::now_ns(), kind, thread, args);
        }
    }

    /// Records an event whose time and thread the caller has already (the scheduler).
    #[inline]
    pub(crate) fn record_at(time_ns: u64, kind: Kind, thread: u64, args: [u64; 3]) {
        if let Some(Some(r)) = RING.get() {
            r.record(time_ns, kind, thread as u32, args);
        }
    }

    /// The last `n` records (none when tracing is off).
    pub fn last(n: usize) -> Vec<Record> {
        match RING.get() {
            Some(Some(r)) => r.last(n),
            _ => Vec::new(),
        }
    }

    /// `(records made, records kept)`.
    pub fn stats() -> (usize, usize) {
        match RING.get() {
            Some(Some(r)) => (r.total(), r.capacity()),
            _ => (0, 0),
        }
    }

    /// The whole ring as text, oldest first.
    pub fn dump() -> alloc::string::String {
        let mut s = alloc::string::String::new();
        let (total, cap) = stats();
        let _ = core::fmt::Write::write_fmt(
            &mut s,
            format_args!(
                "trace: {total} records made, the last {} kept\n",
                total.min(cap)
            ),
        );
        let _ = super::write_records(&mut s, &last(cap));
        s
    }
}

#[cfg(target_os = "none")]
pub use imp::{dump, last, record, stats};
#[cfg(target_os = "none")]
pub(crate) use imp::{init, record_at};

/// Records an app event in the trace ring: `trace!(code)`, `trace!(code, a)` or
/// `trace!(code, a, b)` (numbers).
#[macro_export]
macro_rules! trace {
    ($code:expr) => {
        $crate::trace::record($crate::trace::Kind::App, [$code as u64, 0, 0])
    };
    ($code:expr, $a:expr) => {
        $crate::trace::record($crate::trace::Kind::App, [$code as u64, $a as u64, 0])
    };
    ($code:expr, $a:expr, $b:expr) => {
        $crate::trace::record(
            $crate::trace::Kind::App,
            [$code as u64, $a as u64, $b as u64],
        )
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_records_in_order() {
        let r = Ring::new(4);
        for i in 0..10u64 {
            r.record(i * 1000, Kind::App, 7, [i, 0, 0]);
        }
        let last = r.last(3);
        assert_eq!(
            last.iter().map(|x| x.args[0]).collect::<Vec<_>>(),
            [7, 8, 9]
        );
        assert_eq!(r.last(100).len(), 4, "at most the capacity");
        assert_eq!(r.total(), 10);
        assert_eq!(last[0].thread, 7);
        assert_eq!(Ring::new(8).last(5), [], "empty");
    }

    #[test]
    fn records_print_as_lines() {
        let r = Ring::new(2);
        r.record(1_500_000_000, Kind::Switch, 3, [3, 5, 0]);
        r.record(2_000_001_000, Kind::Syscall, 5, [39, u64::MAX, 0]);
        let mut s = String::new();
        write_records(&mut s, &r.last(2)).unwrap();
        assert_eq!(
            s,
            "       1.500000 t3    switch     3 -> 5\n       2.000001 t5    syscall    nr 39 -> -1\n"
        );
    }

    #[test]
    fn xenstore_records_name_the_message_type() {
        let r = Ring::new(2);
        r.record(1_000, Kind::XsRequest, 2, [2, 8, 0]);
        r.record(2_000, Kind::XsReply, 2, [99, 8, 0]);
        let mut s = String::new();
        write_records(&mut s, &r.last(2)).unwrap();
        assert_eq!(
            s,
            "       0.000001 t2    xs-request read id 8\n       0.000002 t2    xs-reply   type 99 id 8\n"
        );
    }
}
