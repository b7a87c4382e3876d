//! Threads of a program: `clone` with musl's pthread flags on the kernel's cooperative
//! threads, thread `exit` (with the `CLONE_CHILD_CLEARTID` store and wake), the program's
//! end, and `futex` (WAIT, WAKE, REQUEUE, CMP_REQUEUE; private or not, all one address
//! space) with timeouts.
//!
//! Blocking: a futex waiter checks the word and joins its queue with nothing yielding in
//! between (one vCPU, no preemption), so a WAKE cannot slip between the two.

use crate::errno::Errno;
use crate::user;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::sched::{self, sync::Event};
use kernel::syscall::SyscallFrame;

type R = Result<i64, Errno>;

const CLONE_VM: u64 = 0x100;
const CLONE_SETTLS: u64 = 0x8_0000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_THREAD: u64 = 0x1_0000;

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
/// `FUTEX_PRIVATE_FLAG`: one address space here, so private and shared are the same.
const FUTEX_PRIVATE: u64 = 128;
/// `FUTEX_CLOCK_REALTIME`.
const FUTEX_CLOCK_REALTIME: u64 = 256;

/// Threads of the program alive (its first one included).
static LIVE: AtomicUsize = AtomicUsize::new(1);

/// `clear_child_tid` of each thread (by thread id): zeroed and woken when it exits.
static CLEAR_TID: spin::Mutex<BTreeMap<u64, u64>> = spin::Mutex::new(BTreeMap::new());

/// The calling thread's id (`gettid`); the scheduler's id for it.
pub(crate) fn tid() -> u64 {
    kernel::sched::current_id().unwrap_or(1)
}

/// `set_tid_address`: remembers where to clear on exit; returns the thread id.
pub(crate) fn set_tid_address(addr: u64) -> R {
    let tid = tid();
    CLEAR_TID.lock().insert(tid, addr);
    Ok(tid as i64)
}

/// `clone`: a new thread of this program, returning 0 on `stack` at the instruction after
/// the call, with the caller's R9 (musl's start function).
pub(crate) fn clone(f: &SyscallFrame) -> R {
    let (flags, stack, ptid, ctid, tls) = (f.rdi, f.rsi, f.rdx, f.r10, f.r8);
    if flags & (CLONE_VM | CLONE_THREAD) != CLONE_VM | CLONE_THREAD {
        // A new process (fork): there is one program per domain.
        return Err(Errno::ENOSYS);
    }
    if stack == 0 || !stack.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let (rip, r9) = (f.rip, f.r9);
    let state = sched::fpu_state_now();
    let h = sched::spawn_with_fpu_state(
        sched::Builder::new("c-thread").stack_pages(4),
        state,
        move || -> () {
            if flags & CLONE_SETTLS != 0 && sched::set_tls_base(tls).is_err() {
                panic!("clone: the new thread's TLS at {tls:#x} could not be set");
            }
            if flags & CLONE_CHILD_CLEARTID != 0 {
                CLEAR_TID.lock().insert(tid(), ctid);
            }
            // SAFETY: `rip` is the instruction after the program's `syscall`, `stack` the
            // stack it gave the new thread (its start argument on top), and R9 its start
            // function: musl's __clone expects exactly this in the child.
            unsafe { kernel::arch::x86_64::switch::resume_program(rip, stack, 0, r9) }
        },
    )
    .map_err(|_| Errno::EAGAIN)?;
    let tid = h.id();
    drop(h);
    crate::sig::thread_started(tid, self::tid());
    LIVE.fetch_add(1, Ordering::SeqCst);
    if flags & CLONE_PARENT_SETTID != 0 {
        user::write(ptid, &(tid as u32).to_le_bytes())?;
    }
    Ok(tid as i64)
}

/// `exit`: ends the calling thread (its `clear_child_tid` zeroed and woken); the last
/// thread's exit ends the program with `status`.
pub(crate) fn exit_thread(status: u64) -> R {
    crate::sig::thread_exited(tid());
    if let Some(addr) = CLEAR_TID.lock().remove(&tid())
        && addr != 0
        && user::write(addr, &0u32.to_le_bytes()).is_ok()
    {
        wake(addr, usize::MAX);
    }
    if LIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
        return crate::sys::exit_program(status);
    }
    sched::exit()
}

/// A thread waiting on a futex word.
struct Waiter {
    ev: Event,
    /// The word it waits on now (REQUEUE moves it).
    key: AtomicU64,
}

/// Waiters by futex word.
static QUEUES: spin::Mutex<BTreeMap<u64, VecDeque<Arc<Waiter>>>> =
    spin::Mutex::new(BTreeMap::new());

/// Wakes up to `n` waiters of `addr`; how many.
fn wake(addr: u64, n: usize) -> usize {
    let mut q = QUEUES.lock();
    let Some(list) = q.get_mut(&addr) else {
        return 0;
    };
    let mut woken = 0;
    while woken < n {
        let Some(w) = list.pop_front() else { break };
        w.ev.set();
        woken += 1;
    }
    if list.is_empty() {
        q.remove(&addr);
    }
    woken
}

fn timeout_deadline(ts: u64, realtime_abs: bool) -> Result<Option<u64>, Errno> {
    if ts == 0 {
        return Ok(None);
    }
    let (sec, nsec) = user::read_timespec(ts)?;
    if nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    let ns = sec.saturating_mul(1_000_000_000).saturating_add(nsec);
    let now = kernel::time::now_ns();
    if realtime_abs {
        let wall = kernel::time::now_and_wallclock_ns().1;
        let left = u128::from(ns).saturating_sub(wall);
        return Ok(Some(
            now.saturating_add(u64::try_from(left).unwrap_or(u64::MAX)),
        ));
    }
    Ok(Some(now.saturating_add(ns)))
}

/// `futex(addr, op, val, timeout/val2, addr2, val3)`.
pub(crate) fn futex(f: &SyscallFrame) -> R {
    let (addr, op, val) = (f.rdi, f.rsi, f.rdx);
    let cmd = op & !(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME);
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    match cmd {
        FUTEX_WAIT => {
            let deadline = timeout_deadline(f.r10, false)?;
            if u64::from(user::read_u32(addr)?) != val & 0xffff_ffff {
                return Err(Errno::EAGAIN);
            }
            let me = Arc::new(Waiter {
                ev: Event::new(),
                key: AtomicU64::new(addr),
            });
            QUEUES.lock().entry(addr).or_default().push_back(me.clone());
            // Nothing yielded since the word was read: a WAKE from now on finds us queued.
            if me.ev.wait_until(deadline) {
                return Ok(0);
            }
            // Timed out: leave whichever queue we are in (REQUEUE may have moved us).
            let key = me.key.load(Ordering::SeqCst);
            let mut q = QUEUES.lock();
            if let Some(list) = q.get_mut(&key) {
                list.retain(|w| !Arc::ptr_eq(w, &me));
                if list.is_empty() {
                    q.remove(&key);
                }
            }
            Err(Errno::ETIMEDOUT)
        }
        FUTEX_WAKE => Ok(wake(addr, usize::try_from(val).unwrap_or(usize::MAX)) as i64),
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let (n_requeue, addr2, val3) = (f.r10, f.r8, f.r9);
            if cmd == FUTEX_CMP_REQUEUE && u64::from(user::read_u32(addr)?) != val3 & 0xffff_ffff {
                return Err(Errno::EAGAIN);
            }
            let woken = wake(addr, usize::try_from(val).unwrap_or(usize::MAX));
            let mut q = QUEUES.lock();
            let mut moved = 0usize;
            let limit = usize::try_from(n_requeue).unwrap_or(usize::MAX);
            let mut taken = VecDeque::new();
            if let Some(list) = q.get_mut(&addr) {
                while moved < limit {
                    let Some(w) = list.pop_front() else { break };
                    w.key.store(addr2, Ordering::SeqCst);
                    taken.push_back(w);
                    moved += 1;
                }
                if list.is_empty() {
                    q.remove(&addr);
                }
            }
            if !taken.is_empty() {
                q.entry(addr2).or_default().append(&mut taken);
            }
            Ok((woken + moved) as i64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `prctl(PR_SET_NAME)` (what `pthread_setname_np` calls for the running thread).
pub(crate) fn prctl(option: u64, arg: u64) -> R {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match option {
        PR_SET_NAME => {
            let raw: [u8; 16] = user::read_array(arg)?;
            let len = raw.iter().position(|&b| b == 0).unwrap_or(15).min(15);
            let name = core::str::from_utf8(&raw[..len]).map_err(|_| Errno::EINVAL)?;
            sched::set_current_name(name);
            Ok(0)
        }
        PR_GET_NAME => {
            let name = sched::current_name();
            let mut out = [0u8; 16];
            let n = name.len().min(15);
            out[..n].copy_from_slice(&name.as_bytes()[..n]);
            user::write(arg, &out)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
