//! POSIX signals for one process: numbers, sets, actions, who gets what, and frames.
//!
//! The bookkeeping behind `rt_sigaction`, `rt_sigprocmask`, `kill`/`tkill`/`tgkill`,
//! `rt_sigpending`, `rt_sigtimedwait` and `rt_sigreturn`, as plain data with no kernel
//! calls, so that every rule is tested on the host. The system-call layer owns one
//! [`Signals`] per program, asks it where a signal goes ([`Delivery`]: interrupt this
//! thread with `sched::interrupt`, or end the program), and before a thread returns to
//! its program asks [`Signals::next_deliverable`] for a signal to run a handler for; it
//! then writes the [`Frame`] that [`build_frame`] lays out on the thread's stack, and
//! [`sigreturn`] reads it back when the handler returns through its restorer.
//!
//! The rules are Linux's (`kernel/signal.c`, signal(7)): a signal whose action is to
//! ignore it is discarded when sent unless it is blocked; standard signals (1-31) are
//! pending at most once, realtime ones (32-64) are queued, each with its own [`SigInfo`];
//! a thread takes its own pending signals before the process's, the lowest number first
//! but synchronous faults (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGTRAP`, `SIGFPE`, `SIGSYS`)
//! before anything; a process-directed signal goes to the main thread if it does not block
//! it, else to the first thread that does not; `SIGKILL` and `SIGSTOP` can be neither
//! caught, ignored nor blocked. Default actions that end (or stop) the program are returned
//! as outcomes of their own ([`Delivery::Fatal`], [`Deliverable::Fatal`], ...): what to do
//! then is the caller's decision.
//!
//! Layouts (checked in the tests against the headers they come from): `struct
//! k_sigaction` as musl passes it to `rt_sigaction` (handler, flags, restorer, an 8-byte
//! mask), `siginfo_t` (128 bytes), and the x86_64 `struct rt_sigframe` (Linux
//! `arch/x86/kernel/signal_64.c`): the restorer's address, `struct ucontext` with
//! `struct sigcontext_64`, `siginfo_t`, and the 512-byte `fxsave` image 64-byte aligned
//! above them.
//!
//! May use: `errno` (for the errno of each error).
#![forbid(unsafe_code)]

use crate::errno::Errno;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// A signal number, 1 to [`NSIG`].
pub type Signo = u32;

/// The highest signal number (Linux `_NSIG` is 64 on x86_64).
pub const NSIG: Signo = 64;

/// Hangup.
pub const SIGHUP: Signo = 1;
/// Interrupt from the keyboard.
pub const SIGINT: Signo = 2;
/// Quit from the keyboard.
pub const SIGQUIT: Signo = 3;
/// Illegal instruction.
pub const SIGILL: Signo = 4;
/// Trace or breakpoint trap.
pub const SIGTRAP: Signo = 5;
/// `abort()`.
pub const SIGABRT: Signo = 6;
/// Bus error (bad memory access).
pub const SIGBUS: Signo = 7;
/// Floating-point (arithmetic) exception.
pub const SIGFPE: Signo = 8;
/// Kill: cannot be caught, ignored or blocked.
pub const SIGKILL: Signo = 9;
/// User-defined signal 1.
pub const SIGUSR1: Signo = 10;
/// Invalid memory reference.
pub const SIGSEGV: Signo = 11;
/// User-defined signal 2.
pub const SIGUSR2: Signo = 12;
/// Write to a pipe or socket with no reader.
pub const SIGPIPE: Signo = 13;
/// Timer signal from `alarm`.
pub const SIGALRM: Signo = 14;
/// Termination request.
pub const SIGTERM: Signo = 15;
/// Coprocessor stack fault (unused).
pub const SIGSTKFLT: Signo = 16;
/// Child stopped or ended.
pub const SIGCHLD: Signo = 17;
/// Continue if stopped.
pub const SIGCONT: Signo = 18;
/// Stop: cannot be caught, ignored or blocked.
pub const SIGSTOP: Signo = 19;
/// Stop typed at the terminal.
pub const SIGTSTP: Signo = 20;
/// Terminal input for a background process.
pub const SIGTTIN: Signo = 21;
/// Terminal output for a background process.
pub const SIGTTOU: Signo = 22;
/// Urgent condition on a socket.
pub const SIGURG: Signo = 23;
/// CPU time limit exceeded.
pub const SIGXCPU: Signo = 24;
/// File size limit exceeded.
pub const SIGXFSZ: Signo = 25;
/// Virtual alarm clock.
pub const SIGVTALRM: Signo = 26;
/// Profiling timer expired.
pub const SIGPROF: Signo = 27;
/// Window resize.
pub const SIGWINCH: Signo = 28;
/// I/O now possible.
pub const SIGIO: Signo = 29;
/// Power failure.
pub const SIGPWR: Signo = 30;
/// Bad system call.
pub const SIGSYS: Signo = 31;
/// The first realtime signal as the kernel numbers them (musl keeps 32-34 for itself:
/// its `SIGRTMIN` is 35).
pub const SIGRTMIN: Signo = 32;
/// The last realtime signal.
pub const SIGRTMAX: Signo = 64;

/// `si_code`: sent by `kill` (or `raise` through it).
pub const SI_USER: i32 = 0;
/// `si_code`: sent by the kernel.
pub const SI_KERNEL: i32 = 0x80;
/// `si_code`: sent by `sigqueue`.
pub const SI_QUEUE: i32 = -1;
/// `si_code`: sent by a POSIX timer's expiry.
pub const SI_TIMER: i32 = -2;
/// `si_code`: sent by `tkill`/`tgkill`.
pub const SI_TKILL: i32 = -6;

/// `rt_sigprocmask` `how`: add the set to the mask.
pub const SIG_BLOCK: u64 = 0;
/// `rt_sigprocmask` `how`: remove the set from the mask.
pub const SIG_UNBLOCK: u64 = 1;
/// `rt_sigprocmask` `how`: make the set the mask.
pub const SIG_SETMASK: u64 = 2;

/// `sa_flags`: the handler takes `(sig, siginfo_t *, ucontext_t *)`.
pub const SA_SIGINFO: u64 = 4;
/// `sa_flags`: `sa_restorer` is set (musl always sets it).
pub const SA_RESTORER: u64 = 0x0400_0000;
/// `sa_flags`: run the handler on the alternate signal stack.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// `sa_flags`: restart interrupted system calls.
pub const SA_RESTART: u64 = 0x1000_0000;
/// `sa_flags`: do not block the signal while its handler runs.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// `sa_flags`: reset the action to the default when the handler is called.
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// `sigsetsize` the system calls accept: the kernel's `sigset_t` is 8 bytes.
pub const SIGSET_SIZE: u64 = 8;

/// How many signals one pending set holds queued at most (realtime instances; standard
/// signals are pending at most once each). A send beyond it fails with `EAGAIN`, as
/// Linux's does beyond `RLIMIT_SIGPENDING`.
pub const QUEUE_LIMIT: usize = 1024;

/// True for 1 to 64.
pub fn valid(sig: Signo) -> bool {
    (1..=NSIG).contains(&sig)
}

/// True for the realtime signals (32 to 64), which queue.
pub fn realtime(sig: Signo) -> bool {
    (SIGRTMIN..=SIGRTMAX).contains(&sig)
}

/// The names of signals 1 to 31, in order.
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The name of a standard signal (`"SIGTERM"`); `None` for realtime and invalid numbers
/// ([`Name`] prints every number).
pub fn name(sig: Signo) -> Option<&'static str> {
    let i = usize::try_from(sig.checked_sub(1)?).ok()?;
    NAMES.get(i).copied()
}

/// A signal number printed for messages: `SIGTERM`, `SIGRTMIN+3` (the kernel's
/// numbering), `signal 70`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name(pub Signo);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) => f.write_str(n),
            None if realtime(self.0) => write!(f, "SIGRTMIN+{}", self.0 - SIGRTMIN),
            None => write!(f, "signal {}", self.0),
        }
    }
}

/// A set of signals: bit `n - 1` for signal `n` (the kernel's `sigset_t` on x86_64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SigSet(pub u64);

impl SigSet {
    /// No signal.
    pub const EMPTY: SigSet = SigSet(0);
    /// Every signal.
    pub const FULL: SigSet = SigSet(u64::MAX);
    /// `SIGKILL` and `SIGSTOP`, which no mask can hold.
    pub const UNBLOCKABLE: SigSet = SigSet((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)));
    /// The synchronous faults, taken before other pending signals (Linux
    /// `SYNCHRONOUS_MASK`).
    pub const SYNCHRONOUS: SigSet = SigSet(
        (1 << (SIGSEGV - 1))
            | (1 << (SIGBUS - 1))
            | (1 << (SIGILL - 1))
            | (1 << (SIGTRAP - 1))
            | (1 << (SIGFPE - 1))
            | (1 << (SIGSYS - 1)),
    );

    fn bit(sig: Signo) -> u64 {
        if valid(sig) { 1 << (sig - 1) } else { 0 }
    }

    /// The set holding `sig` alone (empty for an invalid number).
    pub fn of(sig: Signo) -> SigSet {
        SigSet(Self::bit(sig))
    }

    /// Adds `sig` (an invalid number changes nothing).
    pub fn add(&mut self, sig: Signo) {
        self.0 |= Self::bit(sig);
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signo) {
        self.0 &= !Self::bit(sig);
    }

    /// True when `sig` is in the set (never for an invalid number).
    pub fn contains(self, sig: Signo) -> bool {
        self.0 & Self::bit(sig) != 0
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The signals in either set.
    pub fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// The signals in both sets.
    pub fn intersection(self, other: SigSet) -> SigSet {
        SigSet(self.0 & other.0)
    }

    /// The signals of `self` not in `other`.
    pub fn minus(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    /// The set as a mask may hold it: without `SIGKILL` and `SIGSTOP`.
    pub fn blockable(self) -> SigSet {
        self.minus(Self::UNBLOCKABLE)
    }

    /// The lowest signal in the set.
    pub fn lowest(self) -> Option<Signo> {
        (self.0 != 0).then(|| self.0.trailing_zeros() + 1)
    }

    /// The signal a thread takes first from the set: a synchronous fault if there is one,
    /// else the lowest number (Linux `next_signal`).
    pub fn next(self) -> Option<Signo> {
        self.intersection(Self::SYNCHRONOUS)
            .lowest()
            .or_else(|| self.lowest())
    }

    /// The signals in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = Signo> {
        let mut rest = self.0;
        core::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let sig = rest.trailing_zeros() + 1;
            rest &= rest - 1;
            Some(sig)
        })
    }
}

impl FromIterator<Signo> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signo>>(iter: I) -> SigSet {
        let mut s = SigSet::EMPTY;
        for sig in iter {
            s.add(sig);
        }
        s
    }
}

/// What a signal does when its action is the default (signal(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// End the program.
    Terminate,
    /// End the program and dump core.
    Core,
    /// Nothing.
    Ignore,
    /// Stop the program (job control).
    Stop,
    /// Continue the program if it is stopped (and otherwise nothing).
    Continue,
}

impl DefaultAction {
    /// The default action of `sig` (realtime signals terminate; so do invalid numbers,
    /// which no send accepts).
    pub fn of(sig: Signo) -> DefaultAction {
        match sig {
            SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU
            | SIGXFSZ | SIGSYS => DefaultAction::Core,
            SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
            SIGCONT => DefaultAction::Continue,
            SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
            _ => DefaultAction::Terminate,
        }
    }
}

/// What a signal's action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `SIG_DFL` (0): the [`DefaultAction`].
    Default,
    /// `SIG_IGN` (1): nothing.
    Ignore,
    /// A function of the program at this address.
    At(u64),
}

impl Handler {
    /// The handler a `sa_handler` value names.
    pub fn from_raw(raw: u64) -> Handler {
        match raw {
            0 => Handler::Default,
            1 => Handler::Ignore,
            a => Handler::At(a),
        }
    }

    /// The `sa_handler` value.
    pub fn raw(self) -> u64 {
        match self {
            Handler::Default => 0,
            Handler::Ignore => 1,
            Handler::At(a) => a,
        }
    }
}

/// Bytes of the kernel's `struct k_sigaction` on x86_64 (handler, flags, restorer, mask).
pub const KSIGACTION_SIZE: usize = 32;

/// A signal's action (`struct k_sigaction`, what `rt_sigaction` reads and writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigAction {
    /// What runs.
    pub handler: Handler,
    /// `SA_*` flags, kept as given (unknown bits too, as Linux keeps them).
    pub flags: u64,
    /// Where the handler returns to (musl's `__restore_rt`, which calls `rt_sigreturn`).
    pub restorer: u64,
    /// Signals blocked while the handler runs (never `SIGKILL` or `SIGSTOP`).
    pub mask: SigSet,
}

impl SigAction {
    /// `SIG_DFL` with no flags: every signal's action at program start.
    pub const DEFAULT: SigAction = SigAction {
        handler: Handler::Default,
        flags: 0,
        restorer: 0,
        mask: SigSet::EMPTY,
    };

    /// Reads a `struct k_sigaction` (musl `src/internal/ksigaction.h`: handler, flags,
    /// restorer, then the mask as two 32-bit words, which on x86_64 is one little-endian
    /// 64-bit word). `SIGKILL` and `SIGSTOP` are dropped from the mask.
    pub fn from_bytes(b: &[u8; KSIGACTION_SIZE]) -> SigAction {
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        SigAction {
            handler: Handler::from_raw(word(0)),
            flags: word(1),
            restorer: word(2),
            mask: SigSet(word(3)).blockable(),
        }
    }

    /// Writes it as a `struct k_sigaction`.
    pub fn to_bytes(&self) -> [u8; KSIGACTION_SIZE] {
        let mut b = [0; KSIGACTION_SIZE];
        for (i, w) in [self.handler.raw(), self.flags, self.restorer, self.mask.0]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// True when a signal with this action would be discarded: `SIG_IGN`, or `SIG_DFL`
    /// for a signal whose default is to ignore it (`SIGCONT` counts: with no job control
    /// there is nothing to continue).
    pub fn ignores(&self, sig: Signo) -> bool {
        match self.handler {
            Handler::Ignore => true,
            Handler::Default => matches!(
                DefaultAction::of(sig),
                DefaultAction::Ignore | DefaultAction::Continue
            ),
            Handler::At(_) => false,
        }
    }
}

/// Bytes of `siginfo_t`.
pub const SIGINFO_SIZE: usize = 128;

/// What a handler (with `SA_SIGINFO`) or `sigtimedwait` learns about a signal: the
/// fields of `siginfo_t` this layer fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: Signo,
    /// `si_code`: [`SI_USER`], [`SI_TKILL`], [`SI_QUEUE`], [`SI_TIMER`], [`SI_KERNEL`],
    /// or a fault's code.
    pub code: i32,
    /// `si_pid` (for [`SI_TIMER`]: `si_tid`, the timer's id).
    pub pid: u32,
    /// `si_uid` (for [`SI_TIMER`]: `si_overrun`).
    pub uid: u32,
    /// `si_value` (`sigqueue`, timers) or, for a fault, `si_addr`.
    pub value: u64,
}

impl SigInfo {
    /// Sent by `kill` from process `pid` of user `uid`.
    pub fn user(signo: Signo, pid: u32, uid: u32) -> SigInfo {
        SigInfo {
            signo,
            code: SI_USER,
            pid,
            uid,
            value: 0,
        }
    }

    /// Sent by `tkill`/`tgkill`.
    pub fn tkill(signo: Signo, pid: u32, uid: u32) -> SigInfo {
        SigInfo {
            code: SI_TKILL,
            ..SigInfo::user(signo, pid, uid)
        }
    }

    /// Sent by the kernel itself (a shutdown request, say).
    pub fn kernel(signo: Signo) -> SigInfo {
        SigInfo {
            code: SI_KERNEL,
            ..SigInfo::user(signo, 0, 0)
        }
    }

    /// A POSIX timer's expiry: timer `timer_id`, `overrun` expiries missed, its value.
    pub fn timer(signo: Signo, timer_id: u32, overrun: u32, value: u64) -> SigInfo {
        SigInfo {
            signo,
            code: SI_TIMER,
            pid: timer_id,
            uid: overrun,
            value,
        }
    }

    /// Writes it as a `siginfo_t` (the rest zero).
    pub fn to_bytes(&self) -> [u8; SIGINFO_SIZE] {
        let mut b = [0; SIGINFO_SIZE];
        b[siginfo::SIGNO..siginfo::SIGNO + 4].copy_from_slice(&self.signo.to_le_bytes());
        b[siginfo::CODE..siginfo::CODE + 4].copy_from_slice(&self.code.to_le_bytes());
        b[siginfo::PID..siginfo::PID + 4].copy_from_slice(&self.pid.to_le_bytes());
        b[siginfo::UID..siginfo::UID + 4].copy_from_slice(&self.uid.to_le_bytes());
        b[siginfo::VALUE..siginfo::VALUE + 8].copy_from_slice(&self.value.to_le_bytes());
        b
    }

    /// Reads the fields this layer knows from a `siginfo_t` (`rt_sigqueueinfo`).
    pub fn from_bytes(b: &[u8; SIGINFO_SIZE]) -> SigInfo {
        SigInfo {
            signo: le32(b, siginfo::SIGNO),
            code: i32::from_le_bytes(le32(b, siginfo::CODE).to_le_bytes()),
            pid: le32(b, siginfo::PID),
            uid: le32(b, siginfo::UID),
            value: le64(b, siginfo::VALUE),
        }
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Offsets in `siginfo_t` (x86_64; checked in the tests against the headers).
pub mod siginfo {
    /// `si_signo` (int).
    pub const SIGNO: usize = 0;
    /// `si_errno` (int).
    pub const ERRNO: usize = 4;
    /// `si_code` (int).
    pub const CODE: usize = 8;
    /// `si_pid` (pid_t), or a timer's `si_tid`.
    pub const PID: usize = 16;
    /// `si_uid` (uid_t), or a timer's `si_overrun`.
    pub const UID: usize = 20;
    /// `si_value` (union sigval, 8 bytes), or a fault's `si_addr`.
    pub const VALUE: usize = 24;
}

/// Why a signal call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigError {
    /// Not a signal number (0, or above 64).
    InvalidSignal(Signo),
    /// `SIGKILL` or `SIGSTOP` cannot be given an action.
    Uncatchable(Signo),
    /// No thread with this id in the program.
    NoThread(u64),
    /// A realtime signal could not be queued: [`QUEUE_LIMIT`] instances already wait.
    QueueFull(Signo),
    /// `rt_sigprocmask`'s `how` is not `SIG_BLOCK`, `SIG_UNBLOCK` or `SIG_SETMASK`.
    BadHow(u64),
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::InvalidSignal(s) => write!(f, "{s} is not a signal number"),
            SigError::Uncatchable(s) => write!(f, "{} cannot be caught or ignored", Name(*s)),
            SigError::NoThread(t) => write!(f, "no thread {t}"),
            SigError::QueueFull(s) => {
                write!(f, "{} not queued: {QUEUE_LIMIT} signals wait", Name(*s))
            }
            SigError::BadHow(h) => write!(f, "rt_sigprocmask how {h}"),
        }
    }
}

impl core::error::Error for SigError {}

impl From<SigError> for Errno {
    fn from(e: SigError) -> Errno {
        match e {
            SigError::InvalidSignal(_) | SigError::Uncatchable(_) | SigError::BadHow(_) => {
                Errno::EINVAL
            }
            SigError::NoThread(_) => Errno(3), // ESRCH
            SigError::QueueFull(_) => Errno::EAGAIN,
        }
    }
}

/// Where a sent signal went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Discarded: its action ignores it and nobody blocks it.
    Discarded,
    /// Pending; interrupt this thread (`sched::interrupt`) so that it takes it.
    Interrupt(u64),
    /// Pending, blocked by the thread (or by every thread, for a process signal): it waits
    /// until a mask lets it through or `sigtimedwait` takes it.
    Pending,
    /// Its default action ends the program (`core`: with a core dump), and a thread does
    /// not block it: the caller ends the program now. It is not queued.
    Fatal {
        /// The signal.
        sig: Signo,
        /// Default action [`DefaultAction::Core`].
        core: bool,
    },
    /// Its default action stops the program (`SIGSTOP`, or `SIGTSTP`/`SIGTTIN`/`SIGTTOU`
    /// without a handler); there is no job control: the caller decides. Not queued.
    Stop(Signo),
}

/// What a thread should do next about its signals ([`Signals::next_deliverable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deliverable {
    /// Run the handler: build a frame with `old_mask` ([`build_frame`]) and enter
    /// `action.handler` with the thread's mask already set to the handler's.
    Handle {
        /// The signal.
        sig: Signo,
        /// Its information.
        info: SigInfo,
        /// The action as it was when taken (before `SA_RESETHAND` reset it).
        action: SigAction,
        /// The thread's mask before: what the frame keeps for `rt_sigreturn`.
        old_mask: SigSet,
    },
    /// The default action ends the program.
    Fatal {
        /// The signal.
        sig: Signo,
        /// Its information.
        info: SigInfo,
        /// With a core dump.
        core: bool,
    },
    /// The default action stops the program (no job control: the caller decides).
    Stop {
        /// The signal.
        sig: Signo,
        /// Its information.
        info: SigInfo,
    },
}

/// Signals pending on a thread or on the process.
#[derive(Debug, Clone, Default)]
struct Pending {
    set: SigSet,
    /// One entry per pending instance, in the order sent.
    queue: VecDeque<SigInfo>,
}

impl Pending {
    /// Queues `info` (a standard signal already pending is not queued again).
    fn add(&mut self, sig: Signo, info: SigInfo) -> Result<(), SigError> {
        if self.set.contains(sig) && !realtime(sig) {
            return Ok(());
        }
        if self.queue.len() >= QUEUE_LIMIT {
            return Err(SigError::QueueFull(sig));
        }
        self.set.add(sig);
        self.queue.push_back(SigInfo { signo: sig, ..info });
        Ok(())
    }

    /// Takes the first instance of `sig`.
    fn take(&mut self, sig: Signo) -> Option<SigInfo> {
        let i = self.queue.iter().position(|q| q.signo == sig)?;
        let info = self.queue.remove(i)?;
        if !self.queue.iter().any(|q| q.signo == sig) {
            self.set.remove(sig);
        }
        Some(info)
    }

    /// Drops every instance of `sig`.
    fn discard(&mut self, sig: Signo) {
        self.queue.retain(|q| q.signo != sig);
        self.set.remove(sig);
    }
}

#[derive(Debug, Clone, Default)]
struct ThreadSignals {
    mask: SigSet,
    pending: Pending,
}

/// The signal state of one program: actions, the process's pending signals, and each
/// thread's mask and pending signals. Threads are named by their ids (`gettid`).
#[derive(Debug, Clone)]
pub struct Signals {
    actions: Vec<SigAction>,
    process: Pending,
    threads: BTreeMap<u64, ThreadSignals>,
    main: u64,
}

impl Signals {
    /// A program whose first thread is `main_tid`: every action the default, nothing
    /// blocked, nothing pending.
    pub fn new(main_tid: u64) -> Signals {
        let mut threads = BTreeMap::new();
        threads.insert(main_tid, ThreadSignals::default());
        Signals {
            actions: vec![SigAction::DEFAULT; NSIG as usize],
            process: Pending::default(),
            threads,
            main: main_tid,
        }
    }

    fn check(sig: Signo) -> Result<(), SigError> {
        if valid(sig) {
            Ok(())
        } else {
            Err(SigError::InvalidSignal(sig))
        }
    }

    fn slot(sig: Signo) -> usize {
        // `sig` was checked: 1..=64.
        (sig - 1) as usize
    }

    /// The action of `sig` (`rt_sigaction` with no new action).
    pub fn action(&self, sig: Signo) -> Result<SigAction, SigError> {
        Self::check(sig)?;
        Ok(self.actions[Self::slot(sig)])
    }

    /// Sets the action of `sig` and returns the old one. An action that ignores the
    /// signal discards its pending instances, blocked or not (POSIX, as Linux does).
    ///
    /// # Errors
    /// [`SigError::InvalidSignal`]; [`SigError::Uncatchable`] for `SIGKILL` and `SIGSTOP`.
    pub fn set_action(&mut self, sig: Signo, action: SigAction) -> Result<SigAction, SigError> {
        Self::check(sig)?;
        if SigSet::UNBLOCKABLE.contains(sig) {
            return Err(SigError::Uncatchable(sig));
        }
        let action = SigAction {
            mask: action.mask.blockable(),
            ..action
        };
        let old = core::mem::replace(&mut self.actions[Self::slot(sig)], action);
        if action.ignores(sig) {
            self.process.discard(sig);
            for t in self.threads.values_mut() {
                t.pending.discard(sig);
            }
        }
        Ok(old)
    }

    /// A new thread `tid` with `mask` (its creator's, as `clone` gives it) and nothing
    /// pending.
    pub fn thread_started(&mut self, tid: u64, mask: SigSet) {
        self.threads.insert(
            tid,
            ThreadSignals {
                mask: mask.blockable(),
                pending: Pending::default(),
            },
        );
    }

    /// Thread `tid` ended: its own pending signals are lost. Returns a thread to interrupt
    /// if process signals are pending that another thread can take now.
    pub fn thread_exited(&mut self, tid: u64) -> Option<u64> {
        self.threads.remove(&tid);
        let pending = self.process.set;
        pending.iter().find_map(|sig| self.taker(sig))
    }

    /// The threads known, by id.
    pub fn threads(&self) -> impl Iterator<Item = u64> + '_ {
        self.threads.keys().copied()
    }

    /// The thread a process signal goes to: the main thread if it does not block it, else
    /// the first that does not.
    fn taker(&self, sig: Signo) -> Option<u64> {
        let open = |t: &ThreadSignals| !t.mask.contains(sig);
        if self.threads.get(&self.main).is_some_and(open) {
            return Some(self.main);
        }
        self.threads
            .iter()
            .find(|(_, t)| open(t))
            .map(|(tid, _)| *tid)
    }

    /// The outcome of the default action for a signal a thread does not block, if it
    /// is not to queue it: fatal, stop.
    fn default_outcome(&self, sig: Signo) -> Option<Delivery> {
        if self.actions[Self::slot(sig)].handler != Handler::Default && sig != SIGKILL {
            return None;
        }
        match DefaultAction::of(sig) {
            DefaultAction::Terminate => Some(Delivery::Fatal { sig, core: false }),
            DefaultAction::Core => Some(Delivery::Fatal { sig, core: true }),
            DefaultAction::Stop => Some(Delivery::Stop(sig)),
            DefaultAction::Ignore | DefaultAction::Continue => None,
        }
    }

    /// Sends `sig` to the process (`kill`): see [`Delivery`]. An ignored signal is
    /// discarded unless a thread blocks it (it may be waiting for it in `sigtimedwait`).
    /// Signal 0 (a probe) is the caller's: it is not a signal here.
    ///
    /// # Errors
    /// [`SigError::InvalidSignal`]; [`SigError::QueueFull`] for a realtime signal.
    pub fn send_process(&mut self, sig: Signo, info: SigInfo) -> Result<Delivery, SigError> {
        Self::check(sig)?;
        let blocked_somewhere = self.threads.values().any(|t| t.mask.contains(sig));
        if self.actions[Self::slot(sig)].ignores(sig) && !blocked_somewhere {
            return Ok(Delivery::Discarded);
        }
        let taker = self.taker(sig);
        if taker.is_some()
            && let Some(outcome) = self.default_outcome(sig)
        {
            return Ok(outcome);
        }
        self.process.add(sig, info)?;
        Ok(taker.map_or(Delivery::Pending, Delivery::Interrupt))
    }

    /// Sends `sig` to thread `tid` (`tkill`/`tgkill`): see [`Delivery`]. A default action
    /// that ends the program ends all of it, as on Linux.
    ///
    /// # Errors
    /// [`SigError::InvalidSignal`], [`SigError::NoThread`], [`SigError::QueueFull`].
    pub fn send_thread(
        &mut self,
        tid: u64,
        sig: Signo,
        info: SigInfo,
    ) -> Result<Delivery, SigError> {
        Self::check(sig)?;
        let blocked = self
            .threads
            .get(&tid)
            .ok_or(SigError::NoThread(tid))?
            .mask
            .contains(sig);
        if self.actions[Self::slot(sig)].ignores(sig) && !blocked {
            return Ok(Delivery::Discarded);
        }
        if !blocked && let Some(outcome) = self.default_outcome(sig) {
            return Ok(outcome);
        }
        let t = self.threads.get_mut(&tid).ok_or(SigError::NoThread(tid))?;
        t.pending.add(sig, info)?;
        Ok(if blocked {
            Delivery::Pending
        } else {
            Delivery::Interrupt(tid)
        })
    }

    /// Thread `tid`'s mask.
    pub fn mask(&self, tid: u64) -> Result<SigSet, SigError> {
        Ok(self.threads.get(&tid).ok_or(SigError::NoThread(tid))?.mask)
    }

    /// Changes thread `tid`'s mask (`rt_sigprocmask`: [`SIG_BLOCK`], [`SIG_UNBLOCK`],
    /// [`SIG_SETMASK`]) and returns the old one. `SIGKILL` and `SIGSTOP` are left out
    /// silently. Signals it unblocks may now be deliverable: see [`Self::deliverable`].
    ///
    /// # Errors
    /// [`SigError::NoThread`], [`SigError::BadHow`].
    pub fn set_mask(&mut self, tid: u64, how: u64, set: SigSet) -> Result<SigSet, SigError> {
        let t = self.threads.get_mut(&tid).ok_or(SigError::NoThread(tid))?;
        let old = t.mask;
        t.mask = match how {
            SIG_BLOCK => old.union(set),
            SIG_UNBLOCK => old.minus(set),
            SIG_SETMASK => set,
            other => return Err(SigError::BadHow(other)),
        }
        .blockable();
        Ok(old)
    }

    /// The signals pending for thread `tid` (its own and the process's) that it blocks:
    /// what `rt_sigpending` reports.
    pub fn pending(&self, tid: u64) -> Result<SigSet, SigError> {
        let t = self.threads.get(&tid).ok_or(SigError::NoThread(tid))?;
        Ok(t.pending.set.union(self.process.set).intersection(t.mask))
    }

    /// The pending signals thread `tid` does not block (unknown thread: none).
    pub fn deliverable(&self, tid: u64) -> SigSet {
        self.threads.get(&tid).map_or(SigSet::EMPTY, |t| {
            t.pending.set.union(self.process.set).minus(t.mask)
        })
    }

    /// Takes the next signal of `set` pending for `tid` (its own first, then the
    /// process's), whatever the mask says: `rt_sigtimedwait` and `signalfd`. `SIGKILL`
    /// and `SIGSTOP` are never taken.
    pub fn take_from(&mut self, tid: u64, set: SigSet) -> Option<(Signo, SigInfo)> {
        let set = set.blockable();
        let t = self.threads.get_mut(&tid)?;
        if let Some(sig) = t.pending.set.intersection(set).next() {
            return t.pending.take(sig).map(|i| (sig, i));
        }
        let sig = self.process.set.intersection(set).next()?;
        self.process.take(sig).map(|i| (sig, i))
    }

    /// Dequeues the next signal thread `tid` does not block and says what to do with it
    /// (see [`Deliverable`]); `None` when there is none. Signals whose action became
    /// "ignore" while they were blocked are dropped on the way. For a handler, the
    /// thread's mask becomes the handler's (old mask, the action's mask, and the signal
    /// itself unless `SA_NODEFER`) and `SA_RESETHAND` resets the action to the default.
    pub fn next_deliverable(&mut self, tid: u64) -> Option<Deliverable> {
        loop {
            let t = self.threads.get_mut(&tid)?;
            let mask = t.mask;
            let (sig, info) = match t.pending.set.minus(mask).next() {
                Some(sig) => (sig, t.pending.take(sig)?),
                None => {
                    let sig = self.process.set.minus(mask).next()?;
                    (sig, self.process.take(sig)?)
                }
            };
            let slot = Self::slot(sig);
            let action = self.actions[slot];
            match action.handler {
                Handler::Ignore => continue,
                Handler::Default => match DefaultAction::of(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Terminate => {
                        return Some(Deliverable::Fatal {
                            sig,
                            info,
                            core: false,
                        });
                    }
                    DefaultAction::Core => {
                        return Some(Deliverable::Fatal {
                            sig,
                            info,
                            core: true,
                        });
                    }
                    DefaultAction::Stop => return Some(Deliverable::Stop { sig, info }),
                },
                Handler::At(_) => {
                    let mut during = mask.union(action.mask);
                    if action.flags & SA_NODEFER == 0 {
                        during.add(sig);
                    }
                    if action.flags & SA_RESETHAND != 0 {
                        self.actions[slot] = SigAction::DEFAULT;
                    }
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.mask = during.blockable();
                    }
                    return Some(Deliverable::Handle {
                        sig,
                        info,
                        action,
                        old_mask: mask,
                    });
                }
            }
        }
    }
}

/// Bytes of the red zone below a thread's stack pointer, which a signal frame skips
/// (psABI 3.2.2).
pub const RED_ZONE: u64 = 128;
/// Bytes of an `fxsave` image.
pub const FXSAVE_SIZE: usize = 512;

/// Offsets in the kernel's `struct ucontext` (x86_64, asm-generic/ucontext.h) and its
/// `struct sigcontext_64` (asm/sigcontext.h); checked in the tests.
pub mod ucontext {
    /// `uc_flags` (unsigned long).
    pub const FLAGS: usize = 0;
    /// `uc_link` (pointer).
    pub const LINK: usize = 8;
    /// `uc_stack.ss_sp` (pointer).
    pub const STACK_SP: usize = 16;
    /// `uc_stack.ss_flags` (int).
    pub const STACK_FLAGS: usize = 24;
    /// `uc_stack.ss_size` (size_t).
    pub const STACK_SIZE: usize = 32;
    /// `uc_mcontext` (`struct sigcontext_64`, 256 bytes).
    pub const MCONTEXT: usize = 40;
    /// `uc_sigmask` (the kernel's 8-byte `sigset_t`).
    pub const SIGMASK: usize = 296;
    /// Size of the kernel's `struct ucontext`.
    pub const SIZE: usize = 304;

    /// `struct sigcontext_64`: r8 to r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip,
    /// eflags, eight bytes each from here (musl's `REG_R8` to `REG_EFL`).
    pub const GREGS: usize = 0;
    /// `cs` (u16).
    pub const CS: usize = 144;
    /// `gs` (u16).
    pub const GS: usize = 146;
    /// `fs` (u16).
    pub const FS: usize = 148;
    /// `ss` (u16).
    pub const SS: usize = 150;
    /// `err`.
    pub const ERR: usize = 152;
    /// `trapno`.
    pub const TRAPNO: usize = 160;
    /// `oldmask`.
    pub const OLDMASK: usize = 168;
    /// `cr2`.
    pub const CR2: usize = 176;
    /// `fpstate` (pointer to the `fxsave` image; 0: none).
    pub const FPSTATE: usize = 184;
    /// Size of `struct sigcontext_64`.
    pub const MCONTEXT_SIZE: usize = 256;
    /// `uc_flags` bit: `ss` in the sigcontext is valid.
    pub const UC_SIGCONTEXT_SS: u64 = 0x2;
    /// `uc_flags` bit: restore `ss` exactly.
    pub const UC_STRICT_RESTORE_SS: u64 = 0x4;
}

/// Size of `struct rt_sigframe` on x86_64: `pretcode`, `struct ucontext`, `siginfo_t`.
pub const RT_SIGFRAME_SIZE: usize = 8 + ucontext::SIZE + SIGINFO_SIZE;
/// Offset of `uc` in `struct rt_sigframe`.
pub const FRAME_UCONTEXT: usize = 8;
/// Offset of `info` in `struct rt_sigframe`.
pub const FRAME_SIGINFO: usize = 8 + ucontext::SIZE;
/// Offset of `sw_reserved` in the `fxsave` image (bytes 464-511: software's; `magic1`
/// 0 there says "no extended state follows").
pub const FXSAVE_SW_RESERVED: usize = 464;

/// A thread's registers as a signal frame keeps them (`struct sigcontext_64` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs, reason = "the register names say what they are")]
pub struct Registers {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
    /// Code segment selector (informative: `rt_sigreturn` never loads it).
    pub cs: u16,
    /// Stack segment selector (informative, as `cs`).
    pub ss: u16,
}

impl Registers {
    /// The registers of a thread returning from a system call: its arguments
    /// (`rdi, rsi, rdx, r10, r8, r9`), `rax` its result, where it returns to (`rip`,
    /// `rsp`; `rcx` and `r11` get `rip` and `rflags`, as `syscall` leaves them), and the
    /// callee-saved ones unknown (0) unless the caller sets them.
    pub fn after_syscall(args: [u64; 6], result: u64, rip: u64, rsp: u64, rflags: u64) -> Self {
        let [rdi, rsi, rdx, r10, r8, r9] = args;
        Registers {
            rdi,
            rsi,
            rdx,
            r10,
            r8,
            r9,
            rax: result,
            rip,
            rsp,
            rflags,
            rcx: rip,
            r11: rflags,
            ..Registers::default()
        }
    }

    /// The 18 eight-byte registers in `struct sigcontext_64` order.
    fn gregs(&self) -> [u64; 18] {
        [
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rdi,
            self.rsi,
            self.rbp,
            self.rbx,
            self.rdx,
            self.rax,
            self.rcx,
            self.rsp,
            self.rip,
            self.rflags,
        ]
    }

    fn from_gregs(g: [u64; 18], cs: u16, ss: u16) -> Self {
        let [
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rdi,
            rsi,
            rbp,
            rbx,
            rdx,
            rax,
            rcx,
            rsp,
            rip,
            rflags,
        ] = g;
        Registers {
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rdi,
            rsi,
            rbp,
            rbx,
            rdx,
            rax,
            rcx,
            rsp,
            rip,
            rflags,
            cs,
            ss,
        }
    }
}

/// The alternate signal stack as `uc_stack` records it (`stack_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackT {
    /// `ss_sp`.
    pub sp: u64,
    /// `ss_flags` (`SS_ONSTACK` 1, `SS_DISABLE` 2).
    pub flags: i32,
    /// `ss_size`.
    pub size: u64,
}

/// `ss_flags`: the thread runs on its alternate stack.
pub const SS_ONSTACK: i32 = 1;
/// `ss_flags`: no alternate stack.
pub const SS_DISABLE: i32 = 2;

/// What a signal frame is built from.
#[derive(Debug, Clone, Copy)]
pub struct FrameRequest<'a> {
    /// The thread's registers at the point the handler interrupts (its `rsp` decides where
    /// the frame goes unless `alt_stack_top` is given).
    pub regs: &'a Registers,
    /// The mask to restore when the handler returns ([`Deliverable::Handle`]'s
    /// `old_mask`).
    pub old_mask: SigSet,
    /// The signal's information.
    pub info: &'a SigInfo,
    /// Where the handler returns to (`sa_restorer`).
    pub restorer: u64,
    /// The thread's `fxsave` image (`sched::save_fpu`).
    pub fpu: &'a [u8; FXSAVE_SIZE],
    /// The alternate stack's settings, recorded in `uc_stack`.
    pub stack: StackT,
    /// Build the frame from this address down instead of below `rsp` (`SA_ONSTACK` on an
    /// alternate stack the thread is not already on: `ss_sp + ss_size`); no red zone is
    /// skipped then.
    pub alt_stack_top: Option<u64>,
}

/// A signal frame, ready to be written to the thread's stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The bytes, to be written from `rsp` up.
    pub bytes: Vec<u8>,
    /// The handler's stack pointer: the lowest address of the frame, where the restorer's
    /// address is (as after a `call`: `rsp % 16 == 8`).
    pub rsp: u64,
    /// The `siginfo_t` (the handler's `rsi`).
    pub siginfo: u64,
    /// The `ucontext` (the handler's `rdx`; `rt_sigreturn` finds it at its `rsp`).
    pub ucontext: u64,
    /// The `fxsave` image (64-byte aligned).
    pub fpstate: u64,
}

/// Why a signal frame could not be built (Linux then kills the thread with `SIGSEGV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The stack pointer is too low to hold a frame below it.
    NoRoom {
        /// The stack pointer the frame would go below.
        sp: u64,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NoRoom { sp } => write!(f, "no room for a signal frame below {sp:#x}"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Lays out the x86_64 `struct rt_sigframe` for a handler, as Linux's `get_sigframe` and
/// `x64_setup_rt_frame` do for an `fxsave` machine: below the red zone (or from the
/// alternate stack's top), the `fxsave` image 64-byte aligned, below it the frame, its
/// start aligned so that `rsp % 16 == 8` at the handler's entry; `pretcode` (the
/// restorer) at `rsp`, then `struct ucontext` (registers, `fpstate` pointing at the
/// image, the old mask), then `siginfo_t`.
///
/// The handler is entered with `rsp` = [`Frame::rsp`], `rdi` = the signal, `rsi` =
/// [`Frame::siginfo`], `rdx` = [`Frame::ucontext`], `rax` = 0 (and, as Linux does,
/// `rflags` without DF, TF, RF and AC). An action without `SA_RESTORER` has no return
/// path: Linux sends `SIGSEGV` instead of building the frame, which is the caller's to do.
///
/// # Errors
/// [`FrameError::NoRoom`] when the addresses would go below 0.
pub fn build_frame(req: &FrameRequest<'_>) -> Result<Frame, FrameError> {
    let top = match req.alt_stack_top {
        Some(t) => Some(t),
        None => req.regs.rsp.checked_sub(RED_ZONE),
    }
    .ok_or(FrameError::NoRoom { sp: req.regs.rsp })?;
    let no_room = FrameError::NoRoom { sp: top };
    let fpstate = top.checked_sub(FXSAVE_SIZE as u64).ok_or(no_room)? & !63;
    let rsp = (fpstate
        .checked_sub(RT_SIGFRAME_SIZE as u64)
        .ok_or(no_room)?
        & !15)
        .checked_sub(8)
        .ok_or(no_room)?;
    // fpstate - rsp is at most RT_SIGFRAME_SIZE + 24 bytes.
    let fp_off = usize::try_from(fpstate - rsp).map_err(|_| no_room)?;
    let mut b = vec![0u8; fp_off + FXSAVE_SIZE];

    put64(&mut b, 0, req.restorer);
    let uc = FRAME_UCONTEXT;
    put64(
        &mut b,
        uc + ucontext::FLAGS,
        ucontext::UC_SIGCONTEXT_SS | ucontext::UC_STRICT_RESTORE_SS,
    );
    put64(&mut b, uc + ucontext::LINK, 0);
    put64(&mut b, uc + ucontext::STACK_SP, req.stack.sp);
    b[uc + ucontext::STACK_FLAGS..uc + ucontext::STACK_FLAGS + 4]
        .copy_from_slice(&req.stack.flags.to_le_bytes());
    put64(&mut b, uc + ucontext::STACK_SIZE, req.stack.size);
    let mc = uc + ucontext::MCONTEXT;
    for (i, r) in req.regs.gregs().into_iter().enumerate() {
        put64(&mut b, mc + ucontext::GREGS + 8 * i, r);
    }
    b[mc + ucontext::CS..mc + ucontext::CS + 2].copy_from_slice(&req.regs.cs.to_le_bytes());
    b[mc + ucontext::SS..mc + ucontext::SS + 2].copy_from_slice(&req.regs.ss.to_le_bytes());
    // err, trapno, cr2: no fault; oldmask: the old mask's first word, as Linux fills it.
    put64(&mut b, mc + ucontext::OLDMASK, req.old_mask.0);
    put64(&mut b, mc + ucontext::FPSTATE, fpstate);
    put64(&mut b, uc + ucontext::SIGMASK, req.old_mask.0);
    b[FRAME_SIGINFO..FRAME_SIGINFO + SIGINFO_SIZE].copy_from_slice(&req.info.to_bytes());
    let fp = &mut b[fp_off..fp_off + FXSAVE_SIZE];
    fp.copy_from_slice(req.fpu);
    // Plain fxsave state: no extended-state magic for a program to misread.
    fp[FXSAVE_SW_RESERVED..].fill(0);

    Ok(Frame {
        bytes: b,
        rsp,
        siginfo: rsp + FRAME_SIGINFO as u64,
        ucontext: rsp + FRAME_UCONTEXT as u64,
        fpstate,
    })
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The `rflags` bits a program may change through `rt_sigreturn` (Linux `FIX_EFLAGS`:
/// AC, OF, DF, TF, SF, ZF, AF, PF, CF, RF).
pub const FIX_EFLAGS: u64 =
    0x4_0000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x1_0000;

/// The first address above the user half of the address space: `rip` and `rsp` must be
/// below it (an `iret` to a non-canonical `rip` faults in the kernel).
pub const USER_LIMIT: u64 = 0x0000_8000_0000_0000;

/// What `rt_sigreturn` reads back from a `struct ucontext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ucontext {
    /// The registers to return with; `rflags` holds only [`FIX_EFLAGS`] bits, for the
    /// caller to merge with its own.
    pub regs: Registers,
    /// The mask to restore (without `SIGKILL` and `SIGSTOP`).
    pub mask: SigSet,
    /// The address of the `fxsave` image; 0: none (the FPU goes back to its initial
    /// state).
    pub fpstate: u64,
}

/// What `rt_sigreturn` restores: [`Ucontext`] with the `fxsave` image it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Registers and mask.
    pub context: Ucontext,
    /// The `fxsave` image, `None` when `fpstate` was 0. The MXCSR in it is the program's:
    /// the kernel's `restore_fpu` makes it safe to load.
    pub fpu: Option<[u8; FXSAVE_SIZE]>,
}

/// Why `rt_sigreturn` cannot restore (Linux then kills the thread with `SIGSEGV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigreturnError {
    /// The `ucontext` (or the `fxsave` image) at `addr`, `len` bytes, is not within the
    /// memory given (EFAULT).
    Fault {
        /// Start of the bytes wanted.
        addr: u64,
        /// How many.
        len: usize,
    },
    /// A register holds a value the thread cannot return with (`rip` or `rsp` outside
    /// the user half).
    BadRegister {
        /// The register.
        name: &'static str,
        /// Its value.
        value: u64,
    },
}

impl fmt::Display for SigreturnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigreturnError::Fault { addr, len } => {
                write!(f, "rt_sigreturn: {len} bytes at {addr:#x} not readable")
            }
            SigreturnError::BadRegister { name, value } => {
                write!(f, "rt_sigreturn: {name} = {value:#x} is not a user address")
            }
        }
    }
}

impl core::error::Error for SigreturnError {}

impl From<SigreturnError> for Errno {
    fn from(_: SigreturnError) -> Errno {
        Errno::EFAULT
    }
}

/// The address of the `ucontext` when a handler's restorer calls `rt_sigreturn`: its
/// `ret` popped `pretcode`, so the thread's `rsp` points at `uc` (Linux: `regs->sp -
/// sizeof(long)` is the frame).
pub fn ucontext_at_sigreturn(rsp: u64) -> u64 {
    rsp
}

/// Reads a `struct ucontext` from its bytes: registers, mask, `fpstate`.
///
/// # Errors
/// [`SigreturnError::BadRegister`] for a `rip` or `rsp` outside the user half.
pub fn parse_ucontext(b: &[u8; ucontext::SIZE]) -> Result<Ucontext, SigreturnError> {
    let mc = ucontext::MCONTEXT;
    let mut g = [0u64; 18];
    for (i, r) in g.iter_mut().enumerate() {
        *r = le64(b, mc + ucontext::GREGS + 8 * i);
    }
    let half = |o: usize| u16::from_le_bytes([b[mc + o], b[mc + o + 1]]);
    let mut regs = Registers::from_gregs(g, half(ucontext::CS), half(ucontext::SS));
    for (name, value) in [("rip", regs.rip), ("rsp", regs.rsp)] {
        if value >= USER_LIMIT {
            return Err(SigreturnError::BadRegister { name, value });
        }
    }
    regs.rflags &= FIX_EFLAGS;
    Ok(Ucontext {
        regs,
        mask: SigSet(le64(b, ucontext::SIGMASK)).blockable(),
        fpstate: le64(b, mc + ucontext::FPSTATE),
    })
}

/// `rt_sigreturn`: reads the `ucontext` at `uc` and the `fxsave` image it points at from
/// `mem`, the program's memory from address `base` on (a window the caller copied).
///
/// # Errors
/// [`SigreturnError::Fault`] when either is not wholly inside `mem`;
/// [`SigreturnError::BadRegister`] as [`parse_ucontext`].
pub fn sigreturn(mem: &[u8], base: u64, uc: u64) -> Result<Restored, SigreturnError> {
    let uc_bytes: &[u8; ucontext::SIZE] = window(mem, base, uc, ucontext::SIZE)?
        .try_into()
        .map_err(|_| SigreturnError::Fault {
            addr: uc,
            len: ucontext::SIZE,
        })?;
    let context = parse_ucontext(uc_bytes)?;
    let fpu = match context.fpstate {
        0 => None,
        at => {
            let mut image = [0u8; FXSAVE_SIZE];
            image.copy_from_slice(window(mem, base, at, FXSAVE_SIZE)?);
            Some(image)
        }
    };
    Ok(Restored { context, fpu })
}

/// The `len` bytes at address `addr` of `mem` (which starts at `base`).
fn window(mem: &[u8], base: u64, addr: u64, len: usize) -> Result<&[u8], SigreturnError> {
    let fault = SigreturnError::Fault { addr, len };
    let start = usize::try_from(addr.checked_sub(base).ok_or(fault)?).map_err(|_| fault)?;
    mem.get(start..start.checked_add(len).ok_or(fault)?)
        .ok_or(fault)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken expectation"
)]
mod tests;
