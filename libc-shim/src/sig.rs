//! POSIX signals for the program: the system calls (`rt_sigaction`, `rt_sigprocmask`,
//! `rt_sigpending`, `kill`, `tkill`, `tgkill`, `rt_sigsuspend`, `pause`,
//! `rt_sigtimedwait`, `sigaltstack`, `rt_sigreturn`, `alarm`, `setitimer`,
//! `getitimer`), delivery at system-call return, and the signals the guest sends itself:
//! `SIGPIPE` on a write to a closed pipe or socket, `SIGALRM` from the timers, and
//! `SIGTERM` when the toolstack asks the domain to shut down (`xl shutdown`).
//!
//! The rules are `crate::signal`'s (host-tested). A signal sent to a thread blocked in an
//! interruptible wait (poll, epoll, pipes, sockets, sleeps, record locks) interrupts it
//! (`kernel::sched::interrupt`): the call returns `EINTR`, or starts again under
//! `SA_RESTART` for the calls Linux restarts. Every system call's return looks for a
//! deliverable signal: a handler is entered through a Linux x86_64 signal frame built on
//! the thread's stack (or its alternate stack under `SA_ONSTACK`), with the FPU state
//! saved in it; `rt_sigreturn` (musl's restorer) restores the call's registers, the mask
//! and the FPU state. A signal whose default action ends the program ends it with a line
//! on the console; after a shutdown request the domain then shuts down as asked.

use crate::errno::Errno;
use crate::nr::num;
use crate::signal::{
    self, Deliverable, Delivery, FrameRequest, Registers, SigAction, SigInfo, SigSet, Signals,
    Signo, StackT,
};
use crate::user;
use alloc::collections::BTreeMap;
use kernel::drivers::control::{self, Disposition};
use kernel::sched;
use kernel::syscall::SyscallFrame;
use xen::abi::sched::ShutdownReason;

type R = Result<i64, Errno>;

/// The program's signals, set up when it starts.
static SIGNALS: spin::Mutex<Option<Signals>> = spin::Mutex::new(None);

/// Per-thread state the bookkeeping does not keep: the alternate stack, and the mask a
/// `rt_sigsuspend` replaced (what the handler's frame must give back).
#[derive(Clone, Copy, Default)]
struct ThreadExtra {
    alt: StackT,
    suspended_mask: Option<SigSet>,
}

static EXTRA: spin::Mutex<BTreeMap<u64, ThreadExtra>> = spin::Mutex::new(BTreeMap::new());

/// Room left between the system call's own frames and a signal frame on the same stack.
const FRAME_MARGIN: u64 = 8192;

/// The program's process id.
const PID: u32 = crate::file::PID;

/// `MSG_NOSIGNAL`.
pub(crate) const MSG_NOSIGNAL: u64 = 0x4000;

fn with<T>(f: impl FnOnce(&mut Signals) -> T) -> Option<T> {
    SIGNALS.lock().as_mut().map(f)
}

fn tid() -> u64 {
    crate::thread::tid()
}

/// Sets up the signal state with the program's first thread `main` (an empty mask, every
/// action the default) and takes over the toolstack's shutdown requests.
pub(crate) fn init(main: u64) {
    *SIGNALS.lock() = Some(Signals::new(main));
    control::on_shutdown_request(shutdown_requested);
}

/// A new thread of the program, with its creator's mask (as `clone` gives it).
pub(crate) fn thread_started(child: u64, parent: u64) {
    with(|s| {
        let mask = s.mask(parent).unwrap_or(SigSet::EMPTY);
        s.thread_started(child, mask);
    });
}

/// A thread of the program ended: its process signals go to another thread.
pub(crate) fn thread_exited(t: u64) {
    let other = with(|s| s.thread_exited(t)).flatten();
    EXTRA.lock().remove(&t);
    if let Some(o) = other {
        sched::interrupt(o);
    }
}

/// Acts on where a sent signal went.
fn act(d: Delivery) {
    match d {
        Delivery::Interrupt(t) => {
            sched::interrupt(t);
        }
        Delivery::Fatal { sig, .. } => die(sig, None),
        Delivery::Discarded | Delivery::Pending | Delivery::Stop(_) => {}
    }
}

/// Sends `sig` to the calling thread (a fault the kernel found, `SIGPIPE`).
pub(crate) fn raise_kernel(sig: Signo) {
    let t = tid();
    if let Some(Ok(d)) = with(|s| s.send_thread(t, sig, SigInfo::kernel(sig))) {
        // A fatal default ends the program at this call's return, after its result is
        // known, so the line names what the program did.
        if !matches!(d, Delivery::Fatal { .. }) {
            act(d);
        } else {
            sched::interrupt(t);
            PENDING_FATAL.lock().replace((sig, None));
        }
    }
}

/// A fatal signal the calling thread raised for itself, ended at the call's return: the
/// signal, and the call that raised it (`tkill`/`tgkill`: `abort()` or `raise()`).
static PENDING_FATAL: spin::Mutex<Option<(Signo, Option<u64>)>> = spin::Mutex::new(None);

/// `EPIPE` from a write: `SIGPIPE` to the thread, unless `MSG_NOSIGNAL`.
pub(crate) fn on_epipe<T>(r: Result<T, Errno>, flags: u64) -> Result<T, Errno> {
    if r.as_ref().err() == Some(&Errno::EPIPE) && flags & MSG_NOSIGNAL == 0 {
        raise_kernel(signal::SIGPIPE);
    }
    r
}

/// The program ends by signal `sig` (its default action): a line on the console, then the
/// domain powers off when the toolstack asked for a shutdown, or ends as crashed.
fn die(sig: Signo, rsp: Option<u64>) -> ! {
    kernel::drivers::console::flush();
    match control::requested_shutdown() {
        Some(reason) if matches!(sig, signal::SIGTERM | signal::SIGINT | signal::SIGHUP) => {
            kernel::println!(
                "ferrun: the program ended on {} after the toolstack's shutdown request",
                signal::Name(sig)
            );
            kernel::shutdown(reason)
        }
        _ => {
            kernel::println!("ferrun: the program was killed by {}", signal::Name(sig));
            if let Some(sp) = rsp {
                crate::sys::print_program_stack(sp);
            }
            kernel::crash()
        }
    }
}

/// The program killed itself (`abort`, `raise`): a crash report with its stack.
fn killed_itself(sig: Signo, by: u64, rsp: u64) -> ! {
    let how = crate::nr::name(by).unwrap_or("kill");
    kernel::println!(
        "ferrun: the program killed itself with signal {sig} ({how}: abort() or raise())"
    );
    crate::sys::print_program_stack(rsp);
    panic!("program killed itself with signal {sig} ({how}: abort() or raise())")
}

/// The toolstack asks the domain to shut down: `SIGTERM` to the program, which gets the
/// grace period to stop (its exit then shuts the domain down as asked).
fn shutdown_requested(_reason: ShutdownReason) -> Disposition {
    let r = with(|s| s.send_process(signal::SIGTERM, SigInfo::user(signal::SIGTERM, 0, 0)));
    match r {
        // No program, or SIGTERM's default: the driver shuts down at once, as before.
        None | Some(Err(_)) | Some(Ok(Delivery::Fatal { .. })) => Disposition::Default,
        Some(Ok(d)) => {
            kernel::println!("ferrun: SIGTERM sent to the program");
            act(d);
            Disposition::Stopping
        }
    }
}

/// `rt_sigaction(sig, act, oldact, sigsetsize)`.
pub(crate) fn rt_sigaction(sig: u64, act_p: u64, old_p: u64, size: u64) -> R {
    if size != signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let sig = Signo::try_from(sig).map_err(|_| Errno::EINVAL)?;
    let new = if act_p != 0 {
        Some(SigAction::from_bytes(&user::read_array(act_p)?))
    } else {
        None
    };
    let old = with(|s| -> Result<SigAction, Errno> {
        match new {
            Some(a) => Ok(s.set_action(sig, a)?),
            None => Ok(s.action(sig)?),
        }
    })
    .ok_or(Errno::EINVAL)??;
    if old_p != 0 {
        user::write(old_p, &old.to_bytes())?;
    }
    Ok(0)
}

/// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
pub(crate) fn rt_sigprocmask(how: u64, set_p: u64, old_p: u64, size: u64) -> R {
    if size != signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let t = tid();
    let set = if set_p != 0 {
        Some(SigSet(user::read_u64(set_p)?))
    } else {
        None
    };
    let old = with(|s| -> Result<SigSet, Errno> {
        match set {
            Some(set) => Ok(s.set_mask(t, how, set)?),
            None => Ok(s.mask(t)?),
        }
    })
    .unwrap_or(Ok(SigSet::EMPTY))?;
    if old_p != 0 {
        user::write_u64(old_p, old.0)?;
    }
    Ok(0)
}

/// `rt_sigpending(set, sigsetsize)`.
pub(crate) fn rt_sigpending(set_p: u64, size: u64) -> R {
    if size > signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let t = tid();
    let p = with(|s| s.pending(t)).unwrap_or(Ok(SigSet::EMPTY))?;
    user::write_u64(set_p, p.0)?;
    Ok(0)
}

/// `kill(pid, sig)`: the program is process 1 (and 0 and -1 name it too).
pub(crate) fn kill(pid: u64, sig: u64) -> R {
    let pid = pid as i32;
    if ![0, -1, PID as i32, -(PID as i32)].contains(&pid) {
        return Err(Errno::ESRCH);
    }
    let sig = Signo::try_from(sig).map_err(|_| Errno::EINVAL)?;
    if sig == 0 {
        return Ok(0);
    }
    let d = with(|s| s.send_process(sig, SigInfo::user(sig, PID, 0))).ok_or(Errno::ESRCH)??;
    act(d);
    Ok(0)
}

/// `tgkill(tgid, tid, sig)` (and `tkill` with `tgid` -1).
pub(crate) fn tgkill(tgid: i64, target: u64, sig: u64) -> R {
    let tgkill = tgid;
    if tgid != -1 && tgid != i64::from(PID) {
        return Err(Errno::ESRCH);
    }
    let sig = Signo::try_from(sig).map_err(|_| Errno::EINVAL)?;
    if (target as i64) <= 0 {
        return Err(Errno::EINVAL);
    }
    let d = with(|s| -> Result<Option<Delivery>, Errno> {
        if sig == 0 {
            s.mask(target)?;
            return Ok(None);
        }
        Ok(Some(s.send_thread(
            target,
            sig,
            SigInfo::tkill(sig, PID, 0),
        )?))
    })
    .ok_or(Errno::ESRCH)??;
    if let Some(d) = d {
        if target == tid() && matches!(d, Delivery::Fatal { .. }) {
            // abort(), raise(): ended at this call's return, with its stack.
            let nr = if tgkill == -1 {
                num::TKILL
            } else {
                num::TGKILL
            };
            PENDING_FATAL.lock().replace((sig, Some(nr)));
        } else {
            act(d);
        }
    }
    Ok(0)
}

/// Waits until the calling thread has a deliverable signal (`rt_sigsuspend`, `pause`):
/// always `EINTR`, the handler running at the return.
fn wait_for_signal() -> R {
    let t = tid();
    loop {
        if with(|s| !s.deliverable(t).is_empty()).unwrap_or(false) {
            return Err(Errno::EINTR);
        }
        sched::clear_interrupt();
        if with(|s| !s.deliverable(t).is_empty()).unwrap_or(false) {
            return Err(Errno::EINTR);
        }
        sched::sleep_until_interruptible(u64::MAX);
    }
}

/// `rt_sigsuspend(mask, sigsetsize)`.
pub(crate) fn rt_sigsuspend(mask_p: u64, size: u64) -> R {
    if size != signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let t = tid();
    let mask = SigSet(user::read_u64(mask_p)?);
    let old = with(|s| s.set_mask(t, signal::SIG_SETMASK, mask)).ok_or(Errno::EINVAL)??;
    EXTRA.lock().entry(t).or_default().suspended_mask = Some(old);
    wait_for_signal()
}

/// `pause()`.
pub(crate) fn pause() -> R {
    wait_for_signal()
}

/// `rt_sigtimedwait(set, info, timeout, sigsetsize)`: takes a signal of `set` (blocked,
/// as POSIX asks) without running its handler.
pub(crate) fn rt_sigtimedwait(set_p: u64, info_p: u64, ts: u64, size: u64) -> R {
    if size != signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = SigSet(user::read_u64(set_p)?).blockable();
    let deadline = crate::poll::ts_deadline(ts)?;
    let t = tid();
    loop {
        if let Some((sig, info)) = with(|s| s.take_from(t, set)).flatten() {
            if info_p != 0 {
                user::write(info_p, &info.to_bytes())?;
            }
            return Ok(i64::from(sig));
        }
        if with(|s| !s.deliverable(t).minus(set).is_empty()).unwrap_or(false) {
            return Err(Errno::EINTR);
        }
        sched::clear_interrupt();
        if with(|s| s.pending(t).map(|p| !p.intersection(set).is_empty()))
            .is_some_and(|r| r.unwrap_or(false))
        {
            continue;
        }
        let d = deadline.unwrap_or(u64::MAX);
        if kernel::time::now_ns() >= d {
            return Err(Errno::EAGAIN);
        }
        sched::sleep_until_interruptible(d);
    }
}

/// `sigaltstack(ss, old)`.
pub(crate) fn sigaltstack(ss: u64, old: u64) -> R {
    const MINSIGSTKSZ: u64 = 2048;
    let t = tid();
    let cur = EXTRA.lock().get(&t).copied().unwrap_or_default().alt;
    if old != 0 {
        let mut b = [0u8; 24];
        b[0..8].copy_from_slice(&cur.sp.to_le_bytes());
        let flags = if cur.size == 0 {
            signal::SS_DISABLE
        } else {
            cur.flags
        };
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..24].copy_from_slice(&cur.size.to_le_bytes());
        user::write(old, &b)?;
    }
    if ss != 0 {
        let b: [u8; 24] = user::read_array(ss)?;
        let sp = u64::from_le_bytes(b[0..8].try_into().unwrap_or_default());
        let flags = i32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(b[16..24].try_into().unwrap_or_default());
        let new = if flags & signal::SS_DISABLE != 0 {
            StackT::default()
        } else {
            if flags & !signal::SS_DISABLE != 0 {
                return Err(Errno::EINVAL);
            }
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            StackT { sp, flags: 0, size }
        };
        EXTRA.lock().entry(t).or_default().alt = new;
    }
    Ok(0)
}

/// The calls Linux never restarts after a handler (they return `EINTR`).
fn restartable(nr: u64) -> bool {
    !matches!(
        nr,
        num::POLL
            | num::PPOLL
            | num::SELECT
            | num::PSELECT6
            | num::EPOLL_WAIT
            | num::EPOLL_PWAIT
            | num::EPOLL_PWAIT2
            | num::NANOSLEEP
            | num::CLOCK_NANOSLEEP
            | num::RT_SIGSUSPEND
            | num::PAUSE
            | num::RT_SIGTIMEDWAIT
    )
}

/// At a system call's return (result `ret`): ends the program for a fatal signal, or
/// enters the handler of the next deliverable one by a signal frame; returns what RAX
/// gets.
pub(crate) fn on_return(f: &mut SyscallFrame, nr: u64, ret: i64) -> i64 {
    let fatal = PENDING_FATAL.lock().take();
    match fatal {
        Some((sig, Some(by))) => killed_itself(sig, by, f.rsp),
        Some((sig, None)) => die(sig, Some(f.rsp)),
        None => {}
    }
    let t = tid();
    let next = {
        let mut g = SIGNALS.lock();
        let Some(s) = g.as_mut() else { return ret };
        if s.deliverable(t).is_empty() {
            drop(g);
            sched::clear_interrupt();
            return ret;
        }
        s.next_deliverable(t)
    };
    sched::clear_interrupt();
    match next {
        None | Some(Deliverable::Stop { .. }) => ret,
        // Sent by the program to itself with tkill/tgkill (musl's raise blocks signals
        // around it, so abort's SIGABRT arrives when the mask comes back).
        Some(Deliverable::Fatal { sig, info, .. })
            if info.code == signal::SI_TKILL && info.pid == PID =>
        {
            killed_itself(sig, num::TGKILL, f.rsp)
        }
        Some(Deliverable::Fatal { sig, .. }) => die(sig, Some(f.rsp)),
        Some(Deliverable::Handle {
            sig,
            info,
            action,
            old_mask,
        }) => enter_handler(f, nr, ret, sig, &info, &action, old_mask),
    }
}

/// Builds the signal frame and points the call's return at the handler.
fn enter_handler(
    f: &mut SyscallFrame,
    nr: u64,
    ret: i64,
    sig: Signo,
    info: &SigInfo,
    action: &SigAction,
    old_mask: SigSet,
) -> i64 {
    let t = tid();
    let mut extra = EXTRA.lock().get(&t).copied().unwrap_or_default();
    // rt_sigsuspend's mask goes back when the handler returns.
    let old_mask = extra.suspended_mask.take().unwrap_or(old_mask);
    EXTRA.lock().insert(t, extra);
    let interrupted = ret == Errno::EINTR.ret() || ret == -512;
    let restart = interrupted && action.flags & signal::SA_RESTART != 0 && restartable(nr);
    let mut regs = Registers::after_syscall(
        [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9],
        ret as u64,
        f.rip,
        f.rsp,
        0x202,
    );
    if restart {
        // The call runs again after the handler: its instruction, its number.
        regs.rip = f.rip.wrapping_sub(2);
        regs.rax = nr;
    }
    if action.flags & signal::SA_RESTORER == 0 || action.restorer == 0 {
        // Linux sends SIGSEGV without a restorer; musl always gives one.
        kernel::println!(
            "ferrun: a handler for {} has no restorer",
            signal::Name(sig)
        );
        die(signal::SIGSEGV, Some(f.rsp));
    }
    let on_alt = extra.alt.size != 0
        && action.flags & signal::SA_ONSTACK != 0
        && !(extra.alt.sp..extra.alt.sp.saturating_add(extra.alt.size)).contains(&f.rsp);
    let mut fpu = [0u8; 512];
    sched::save_fpu(&mut fpu);
    // This call runs on the thread's own stack, below the program's red zone: the frame
    // goes below the frames running now (with room for the calls still to come), or they
    // would overwrite it before the handler runs.
    let below_us = kernel::arch::x86_64::stack_pointer().saturating_sub(FRAME_MARGIN);
    let top = if on_alt {
        extra.alt.sp.saturating_add(extra.alt.size)
    } else {
        below_us.min(f.rsp.saturating_sub(128))
    };
    let req = FrameRequest {
        regs: &regs,
        old_mask,
        info,
        restorer: action.restorer,
        fpu: &fpu,
        stack: extra.alt,
        alt_stack_top: Some(top),
    };
    let frame = match signal::build_frame(&req) {
        Ok(fr) => fr,
        Err(e) => {
            kernel::println!("ferrun: delivering {}: {e}", signal::Name(sig));
            die(signal::SIGSEGV, Some(f.rsp))
        }
    };
    if user::write(frame.rsp, &frame.bytes).is_err() {
        kernel::println!(
            "ferrun: delivering {}: the stack at {:#x} cannot take its frame",
            signal::Name(sig),
            frame.rsp
        );
        die(signal::SIGSEGV, Some(f.rsp));
    }
    let signal::Handler::At(handler) = action.handler else {
        return ret;
    };
    f.rip = handler;
    f.rsp = frame.rsp;
    f.rdi = u64::from(sig);
    f.rsi = frame.siginfo;
    f.rdx = frame.ucontext;
    0
}

/// `rt_sigreturn()`: the registers, mask and FPU state the frame at the stack pointer
/// kept; the value is the interrupted call's result.
pub(crate) fn rt_sigreturn(f: &mut SyscallFrame) -> R {
    let uc = signal::ucontext_at_sigreturn(f.rsp);
    let bytes: [u8; signal::ucontext::SIZE] = user::read_array(uc)?;
    let ctx = match signal::parse_ucontext(&bytes) {
        Ok(c) => c,
        Err(e) => {
            kernel::println!("ferrun: rt_sigreturn: {e}");
            die(signal::SIGSEGV, Some(f.rsp))
        }
    };
    if ctx.fpstate != 0 {
        let img: [u8; 512] = user::read_array(ctx.fpstate)?;
        sched::restore_fpu(&img);
    }
    let t = tid();
    with(|s| s.set_mask(t, signal::SIG_SETMASK, ctx.mask));
    let r = &ctx.regs;
    f.rdi = r.rdi;
    f.rsi = r.rsi;
    f.rdx = r.rdx;
    f.r10 = r.r10;
    f.r8 = r.r8;
    f.r9 = r.r9;
    f.rip = r.rip;
    f.rsp = r.rsp;
    Ok(r.rax as i64)
}

/// The one interval timer (`ITIMER_REAL`, `alarm`): when it fires next and its
/// interval, ns.
static ITIMER: spin::Mutex<(Option<u64>, u64)> = spin::Mutex::new((None, 0));
/// The timer thread, once started.
static ITIMER_THREAD: spin::Once<u64> = spin::Once::new();

/// The timer thread: sleeps until the interval timer's deadline, then sends `SIGALRM`.
fn itimer_thread() {
    loop {
        let (next, interval) = *ITIMER.lock();
        match next {
            Some(d) if kernel::time::now_ns() >= d => {
                *ITIMER.lock() = ((interval > 0).then(|| d.saturating_add(interval)), interval);
                if let Some(Ok(dl)) =
                    with(|s| s.send_process(signal::SIGALRM, SigInfo::kernel(signal::SIGALRM)))
                {
                    act(dl);
                }
            }
            Some(d) => {
                sched::sleep_until_interruptible(d);
                sched::clear_interrupt();
            }
            None => {
                sched::sleep_until_interruptible(u64::MAX);
                sched::clear_interrupt();
            }
        }
    }
}

/// Sets the interval timer (deadline from now and interval, ns; 0 disarms); returns the
/// old (time left, interval).
fn set_itimer(value: u64, interval: u64) -> Result<(u64, u64), Errno> {
    let now = kernel::time::now_ns();
    let old = {
        let mut g = ITIMER.lock();
        let old = (g.0.map_or(0, |d| d.saturating_sub(now)), g.1);
        *g = ((value > 0).then(|| now.saturating_add(value)), interval);
        old
    };
    let id = ITIMER_THREAD.call_once(|| {
        sched::Builder::new("itimer")
            .stack_pages(4)
            .spawn(itimer_thread)
            .map_or(0, |h| h.id())
    });
    if *id == 0 {
        return Err(Errno::EAGAIN);
    }
    sched::interrupt(*id);
    Ok(old)
}

/// `alarm(seconds)`: the seconds that were left (rounded up).
pub(crate) fn alarm(secs: u64) -> R {
    let (left, _) = set_itimer(secs.saturating_mul(1_000_000_000), 0)?;
    Ok(left.div_ceil(1_000_000_000) as i64)
}

fn write_itimerval(p: u64, (value, interval): (u64, u64)) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, ns) in [interval, value].iter().enumerate() {
        b[i * 16..i * 16 + 8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
        b[i * 16 + 8..i * 16 + 16].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
    }
    user::write(p, &b)
}

/// `setitimer(which, new, old)`: `ITIMER_REAL` only.
pub(crate) fn setitimer(which: u64, new: u64, old: u64) -> R {
    if which != 0 {
        return Err(Errno::EINVAL);
    }
    let (interval, value) = if new == 0 {
        (0, 0)
    } else {
        (
            user::read_timeval_ns(new)?,
            user::read_timeval_ns(new + 16)?,
        )
    };
    let was = set_itimer(value, interval)?;
    if old != 0 {
        write_itimerval(old, was)?;
    }
    Ok(0)
}

/// `getitimer(which, cur)`.
pub(crate) fn getitimer(which: u64, cur: u64) -> R {
    if which != 0 {
        return Err(Errno::EINVAL);
    }
    let now = kernel::time::now_ns();
    let (next, interval) = *ITIMER.lock();
    write_itimerval(cur, (next.map_or(0, |d| d.saturating_sub(now)), interval))?;
    Ok(0)
}
