//! selftest: the runtime core tested inside a real Xen PV guest.
//!
//! One line per test (`TEST name ... ok` or `... FAILED: why`), a closing line
//! `selftest: N passed, N failed`, then poweroff; any failure ends in a crash shutdown so
//! the testbed sees it in the domain's shutdown reason too. Figures (context switches per
//! second, oversleep, pages used by the kernel) are printed as `selftest: figure ...`
//! lines: measured, never asserted.
//!
//! It passes at any memory size from 32 MiB: a test that needs many threads scales to the
//! memory there is and prints what it scaled to (`selftest: ldt: ...`, `selftest:
//! threads: ...`). Each test gives back what it took, passed or failed, so one test
//! running out of memory cannot fail the next: the runner checks that the threads alive
//! and the frames not lent out (`mm::frame_usage`) are the same before and after it.
//!
//! May use: the kernel's public API and the `xen` crate's types.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::arch::x86_64::mm::MapError;
use kernel::arch::x86_64::{probe, switch};
use kernel::sched::sync::{Condvar, Event, Mutex, WaitQueue, WaitResult};
use kernel::sched::{self, Builder, JoinHandle};
use kernel::{mm, println, time};
use xen::abi::xen::DomId;

kernel::main!(main);

/// A test's result: `Err` says what went wrong.
type Outcome<T = ()> = Result<T, String>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

unsafe extern "C" {
    /// C code compiled with SSE (c/sse.c): returns 11 * x.
    fn ferrun_c_sse_probe(x: i64) -> i64;
}

/// The psABI checks every thread must pass.
fn abi_checks() -> Outcome {
    let rsp = probe::entry_rsp();
    check!(
        (rsp + 8).is_multiple_of(16),
        "function entry rsp {rsp:#x}: (rsp + 8) % 16 != 0"
    );
    // Faults (#GP, a crash report) if the stack is misaligned.
    probe::movaps_on_stack();
    let (mxcsr, fcw) = probe::fpu_control();
    check!(
        mxcsr == 0x1f80,
        "MXCSR {mxcsr:#x}, expected the default 0x1f80"
    );
    check!(
        fcw == 0x037f,
        "x87 control word {fcw:#x}, expected the default 0x37f"
    );
    // SAFETY: a plain C function taking and returning integers (c/sse.c).
    let c = unsafe { ferrun_c_sse_probe(3) };
    check!(c == 33, "SSE C code computed {c}, expected 33");
    Ok(())
}

fn alignment_in_the_first_thread() -> Outcome {
    abi_checks()
}

fn alignment_in_64_threads() -> Outcome {
    let handles = spawn_n(64, |i| sched::spawn(&format!("align-{i}"), abi_checks))?;
    // Every thread is joined before the first failure is reported.
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| {
            let name = String::from(h.name().as_str());
            (name, h.join())
        })
        .collect();
    for (name, result) in results {
        result
            .ok_or_else(|| format!("{name}: no result"))?
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

fn mxcsr_is_saved_per_thread() -> Outcome {
    let other = sched::spawn("mxcsr-b", || {
        let (m, _) = probe::fpu_control();
        m
    })
    .map_err(|e| format!("{e}"))?;
    // Round toward zero in this thread only.
    probe::set_mxcsr(0x7f80);
    sched::yield_now();
    let seen_by_other = other.join().unwrap_or(0);
    let (mine, _) = probe::fpu_control();
    probe::set_mxcsr(0x1f80);
    check!(
        seen_by_other == 0x1f80,
        "another thread saw MXCSR {seen_by_other:#x}"
    );
    check!(
        mine == 0x7f80,
        "MXCSR {mine:#x} after a switch, expected 0x7f80"
    );
    Ok(())
}

fn tls_is_per_thread() -> Outcome {
    let main_tls = switch::tls_self();
    check!(main_tls != 0, "%fs:0 is 0 in main");
    // Each thread checks its TLS block survives switches and a sleep (the vCPU blocks
    // and Xen saves and restores its segment state).
    let other = sched::spawn("tls", || {
        let before = switch::tls_self();
        sched::sleep_ns(2_000_000);
        (before, switch::tls_self())
    })
    .map_err(|e| format!("{e}"))?;
    sched::yield_now();
    sched::sleep_ns(3_000_000);
    let (other_tls, other_after) = other.join().unwrap_or((0, 1));
    check!(
        other_tls != 0 && other_tls != main_tls,
        "TLS of main {main_tls:#x} and thread {other_tls:#x}"
    );
    check!(
        other_tls == other_after,
        "the thread's TLS moved: {other_tls:#x} -> {other_after:#x}"
    );
    check!(
        switch::tls_self() == main_tls,
        "main's TLS changed across switches and a sleep"
    );
    Ok(())
}

/// Threads parked at a gate for [`threads_until_the_ldt_or_memory_runs_out`]: each says
/// how its TLS block is made current, waits for the gate to open, then checks over a few
/// switches that its TLS block stays its own.
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    arrived: AtomicU64,
    by_hypercall: AtomicU64,
    moved: AtomicU64,
}

impl Gate {
    /// Stack pages of a gated thread (plus the guard page): small, so that many fit.
    const STACK_PAGES: usize = 2;

    fn new() -> Arc<Gate> {
        Arc::new(Gate {
            open: Mutex::new(false),
            opened: Condvar::new(),
            arrived: AtomicU64::new(0),
            by_hypercall: AtomicU64::new(0),
            moved: AtomicU64::new(0),
        })
    }

    /// Starts a thread that waits at the gate and returns its TLS block's address.
    fn spawn(self: &Arc<Gate>) -> Result<JoinHandle<u64>, sched::SpawnError> {
        let g = self.clone();
        Builder::new("ldt-full")
            .stack_pages(Gate::STACK_PAGES)
            .spawn(move || {
                let mine = switch::tls_self();
                if !sched::tls_by_selector() {
                    g.by_hypercall.fetch_add(1, Ordering::Relaxed);
                }
                g.arrived.fetch_add(1, Ordering::Relaxed);
                let mut open = g.open.lock();
                while !*open {
                    open = g.opened.wait(open);
                }
                drop(open);
                for _ in 0..3 {
                    sched::yield_now();
                    if switch::tls_self() != mine {
                        g.moved.fetch_add(1, Ordering::Relaxed);
                    }
                }
                mine
            })
    }

    /// Opens the gate and joins every thread, giving back what they hold: the TLS block
    /// addresses they returned (fewer than the threads if one ended without a result).
    fn release(&self, threads: Vec<JoinHandle<u64>>) -> Vec<u64> {
        *self.open.lock() = true;
        self.opened.notify_all();
        let mut tls = Vec::with_capacity(threads.len());
        for (i, h) in threads.into_iter().enumerate() {
            // Joining a thread that has ended frees its stack and LDT entry (a hypercall
            // each): 8448 of them ran 5 s without a yield on a loaded host.
            if i % 256 == 255 {
                sched::yield_now();
            }
            tls.extend(h.join());
        }
        tls
    }
}

/// How [`fill`] stopped.
enum Filled {
    /// It had the number of threads asked for.
    Reached,
    /// Threads got no LDT entry: all of them were taken.
    LdtFull,
    /// A thread could not be created for want of memory (this error).
    OutOfMemory(sched::SpawnError),
}

/// Threads that fell back to `set_segment_base` before the LDT counts as full.
const FALLBACKS: u64 = 4;

/// Adds threads waiting at `gate` to `threads`, a batch at a time (each batch runs up to
/// the gate, so every thread has said how its TLS block is made current before the next
/// batch is made), until there are `until` of them, the LDT is full or memory runs out.
fn fill(gate: &Arc<Gate>, threads: &mut Vec<JoinHandle<u64>>, until: usize) -> Outcome<Filled> {
    const BATCH: usize = 256;
    loop {
        if gate.by_hypercall.load(Ordering::Relaxed) >= FALLBACKS {
            return Ok(Filled::LdtFull);
        }
        if threads.len() >= until {
            return Ok(Filled::Reached);
        }
        for _ in 0..BATCH {
            match gate.spawn() {
                Ok(h) => threads.push(h),
                Err(
                    e @ sched::SpawnError::Stack(
                        mm::StackError::Frames(mm::frame::FrameError::OutOfFrames { .. })
                        | mm::StackError::Map(MapError::NoFrameForTable),
                    ),
                ) => return Ok(Filled::OutOfMemory(e)),
                Err(e) => return Err(format!("thread {}: {e}", threads.len())),
            }
        }
        while (gate.arrived.load(Ordering::Relaxed) as usize) < threads.len() {
            sched::yield_now();
        }
    }
}

/// Threads are made until the LDT's TLS entries or the memory runs out, whichever comes
/// first at this memory size. Past the LDT, new threads make their TLS block current with
/// `set_segment_base` on each switch; switches between threads of both kinds keep every
/// thread's own TLS. Memory running out is an error value from `spawn`, not a crash. Then
/// every thread is released, and a new thread gets an LDT entry back (the runner checks
/// that every frame came back too).
///
/// The heap is grown first for all the threads memory can hold, so that their stacks are
/// what runs out: a heap that cannot grow is a crash report by design (`mm::heap`).
fn threads_until_the_ldt_or_memory_runs_out() -> Outcome {
    const SAMPLE: usize = 256;
    // Room on the heap for error messages and the scheduler's queues growing.
    const HEAP_SLACK: usize = 256 * 1024;
    let main_tls = switch::tls_self();
    let others = sched::live_threads();
    let gate = Gate::new();
    // What one gated thread costs on the heap, from a first sample of them.
    let heap0 = mm::heap_usage().0;
    let mut threads = Vec::new();
    let filled = fill(&gate, &mut threads, SAMPLE).and_then(|sampled| {
        let per_thread_heap = mm::heap_usage().0.saturating_sub(heap0) / threads.len().max(1);
        // Frames and heap per thread, with the heap's share taken three times over for
        // the queues that double as they grow.
        let per_thread = (Gate::STACK_PAGES + 1) * 4096 + 3 * per_thread_heap;
        let room = (mm::free_pages() * 4096).saturating_sub(HEAP_SLACK);
        let allows = threads.len() + room / per_thread;
        let wanted = sched::tls::LDT_ENTRIES + FALLBACKS as usize;
        let more = allows.min(wanted).saturating_sub(threads.len());
        let mut reserve: Vec<u8> = Vec::new();
        reserve
            .try_reserve_exact(more * 3 * per_thread_heap + HEAP_SLACK)
            .map_err(|e| format!("growing the heap for {more} threads: {e}"))?;
        drop(reserve);
        threads
            .try_reserve_exact(more + 256)
            .map_err(|e| format!("room for {more} join handles: {e}"))?;
        match sampled {
            Filled::Reached => {
                fill(&gate, &mut threads, 3 * sched::tls::LDT_ENTRIES).map(|f| (f, allows))
            }
            f => Ok((f, allows)),
        }
    });
    let spawned = threads.len();
    let mut tls = gate.release(threads);
    let (filled, allows) = filled?;
    let by_hypercall = gate.by_hypercall.load(Ordering::Relaxed);
    let moved = gate.moved.load(Ordering::Relaxed);
    check!(
        tls.len() == spawned,
        "{} of {spawned} threads ended with a result",
        tls.len()
    );
    check!(
        moved == 0,
        "{moved} times a thread's TLS moved across a switch"
    );
    tls.sort_unstable();
    tls.dedup();
    check!(
        tls.len() == spawned && !tls.contains(&0) && !tls.contains(&main_tls),
        "{} distinct TLS blocks among {spawned} threads",
        tls.len()
    );
    check!(
        switch::tls_self() == main_tls,
        "main's TLS moved to {:#x}",
        switch::tls_self()
    );
    check!(
        (by_hypercall as usize) < spawned,
        "all {spawned} threads used set_segment_base: the LDT was never used"
    );
    let how = match filled {
        Filled::LdtFull => format!("yes ({by_hypercall} threads by set_segment_base)"),
        Filled::OutOfMemory(e) => {
            // Each thread alive holds at most one LDT entry: with fewer threads than
            // entries, none may have gone without one.
            check!(
                spawned + others >= sched::tls::LDT_ENTRIES || by_hypercall == 0,
                "{by_hypercall} of {spawned} threads used set_segment_base with LDT entries free"
            );
            match by_hypercall {
                0 => format!("no (then out of memory: {e})"),
                n => format!("yes ({n} threads by set_segment_base, then out of memory: {e})"),
            }
        }
        Filled::Reached => {
            return Err(format!(
                "{spawned} threads and neither the LDT ({} entries) nor memory ran out",
                sched::tls::LDT_ENTRIES
            ));
        }
    };
    let again = sched::spawn("ldt-again", sched::tls_by_selector)
        .map_err(|e| format!("{e}"))?
        .join();
    check!(
        again == Some(true),
        "a thread spawned after the others ended got no LDT entry back"
    );
    println!(
        "selftest: ldt: {spawned} threads (memory allows about {allows}), TLS entries exhausted: {how}"
    );
    Ok(())
}

/// Starts `n` threads made by `make(i)`, for threads that end on their own; if one cannot
/// be started, joins those that were (so they give back what they took) and says why.
fn spawn_n<T: Send + 'static>(
    n: usize,
    mut make: impl FnMut(usize) -> Result<JoinHandle<T>, sched::SpawnError>,
) -> Outcome<Vec<JoinHandle<T>>> {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        match make(i) {
            Ok(h) => handles.push(h),
            Err(e) => {
                for h in handles {
                    h.join();
                }
                return Err(format!("thread {i} of {n}: {e}"));
            }
        }
    }
    Ok(handles)
}

/// Ten thousand threads, a batch at a time (as many as half the free memory holds, at
/// most 100), give back every page and heap byte they took.
fn ten_thousand_threads_without_leaking_pages() -> Outcome {
    const THREADS: usize = 10_000;
    let at_once = mm::free_pages() / (sched::DEFAULT_STACK_PAGES + 1);
    let size = (at_once / 2).clamp(1, 100);
    let counter = Arc::new(AtomicU64::new(0));
    let batch = |n: usize| -> Outcome {
        let hs = spawn_n(n, |_| {
            let c = counter.clone();
            sched::spawn("batch", move || {
                c.fetch_add(1, Ordering::Relaxed);
            })
        })?;
        let mut lost = 0;
        for h in hs {
            lost += usize::from(h.join().is_none());
        }
        check!(lost == 0, "{lost} threads ended without their result");
        Ok(())
    };
    // Warm up: the heap grows once to its working size; frames stay with it.
    batch(size)?;
    let before = mm::free_pages();
    let heap_before = kernel::mm::heap_usage().0;
    counter.store(0, Ordering::Relaxed);
    let mut started = 0;
    while started < THREADS {
        let n = size.min(THREADS - started);
        batch(n)?;
        started += n;
    }
    let after = mm::free_pages();
    let heap_after = kernel::mm::heap_usage().0;
    let ran = counter.load(Ordering::Relaxed);
    check!(ran == THREADS as u64, "{ran} of {THREADS} threads ran");
    check!(
        before == after,
        "free pages {before} before, {after} after {THREADS} threads"
    );
    check!(
        heap_before == heap_after,
        "heap bytes in use {heap_before} before, {heap_after} after"
    );
    println!("selftest: threads: {THREADS} in batches of {size} (memory allows {at_once} at once)");
    println!("selftest: figure free-pages {after} (unchanged over {THREADS} threads)");
    Ok(())
}

fn sleeps_never_wake_early() -> Outcome {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut worst_late = 0u64;
    for i in 0..100 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ms = 1 + (seed >> 33) % 20;
        let asked = ms * 1_000_000;
        let start = time::now_ns();
        sched::sleep_ns(asked);
        let slept = time::now_ns() - start;
        check!(
            slept >= asked,
            "sleep {i}: asked {asked} ns, woke after {slept} ns"
        );
        worst_late = worst_late.max(slept - asked);
    }
    println!("selftest: figure worst-oversleep-us {}", worst_late / 1000);
    Ok(())
}

fn clock_never_goes_backwards() -> Outcome {
    let mut prev = time::now_ns();
    let (mut raw_prev, mut raw_backsteps, mut raw_worst) = (time::raw_now_ns(), 0u32, 0u64);
    for i in 0..1_000_000u32 {
        // A million reads take 5 to 35 s under emulation: yield now and then, as a thread
        // must (the stall watchdog reports one that runs 5 s without yielding).
        if i % 16_384 == 0 {
            sched::yield_now();
        }
        let now = time::now_ns();
        check!(now >= prev, "read {i}: {now} after {prev}");
        prev = now;
        // How the raw pvclock behaves here (a figure: the guard above hides it).
        if i % 16 == 0 {
            let raw = time::raw_now_ns();
            if raw < raw_prev {
                raw_backsteps += 1;
                raw_worst = raw_worst.max(raw_prev - raw);
            }
            raw_prev = raw;
        }
    }
    let flags = time::time_info().map_or(0, |t| t.flags);
    println!(
        "selftest: figure raw-pvclock-backsteps {raw_backsteps} worst-us {} (tsc-stable flag {})",
        raw_worst / 1000,
        flags & xen::abi::xen::XEN_PVCLOCK_TSC_STABLE_BIT
    );
    Ok(())
}

fn wall_clock_follows_the_monotonic_clock() -> Outcome {
    let (m1, w1) = time::now_and_wallclock_ns();
    sched::sleep_ns(5_000_000);
    let (m2, w2) = time::now_and_wallclock_ns();
    // 2020-01-01 in ns since the epoch.
    check!(
        w1 > 1_577_836_800_000_000_000,
        "wall clock {w1} ns is before 2020"
    );
    check!(
        m2 - m1 >= 5_000_000,
        "monotonic clock moved {} ns over a 5 ms sleep",
        m2 - m1
    );
    // Both come from one pvclock reading each, so they move by exactly the same amount
    // unless Xen's wall-clock base changed, which nothing in the testbed does.
    check!(
        w2.checked_sub(w1) == Some(u128::from(m2 - m1)),
        "wall clock moved {} ns while monotonic moved {} ns",
        w2.wrapping_sub(w1) as i128,
        m2 - m1
    );
    Ok(())
}

/// A timed wait ends at its deadline when nobody wakes it, ends early when someone does,
/// and leaves no timer behind that could end a later sleep early.
fn timed_waits_time_out_and_wake() -> Outcome {
    let wq = Arc::new(WaitQueue::new());
    let start = time::now_ns();
    let deadline = start + 5_000_000;
    check!(!wq.wait_until(deadline), "woken with nobody to wake it");
    let now = time::now_ns();
    check!(
        now >= deadline,
        "returned {} ns before its deadline",
        deadline - now
    );

    let waker = {
        let wq = wq.clone();
        sched::spawn("waker", move || wq.wake_all()).map_err(|e| format!("{e}"))?
    };
    let far = time::now_ns() + 20_000_000;
    let woken = wq.wait_until(far);
    let found = waker.join();
    check!(woken, "the waker's wake was lost");
    check!(found == Some(1), "the waker did not find the waiter");
    // The 20 ms timer of the wait above must be gone: it would end this sleep early.
    let t0 = time::now_ns();
    sched::sleep_ns(30_000_000);
    let slept = time::now_ns() - t0;
    check!(
        slept >= 30_000_000,
        "a 30 ms sleep after an early-woken timed wait ended after {slept} ns"
    );
    Ok(())
}

/// Starts a thread that runs `f` once it has told the caller it is about to wait, and
/// runs it until it waits: when this returns, the thread is blocked in `f` (or done).
fn spawn_waiter<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Outcome<JoinHandle<T>> {
    let h = sched::spawn(name, f).map_err(|e| format!("{name}: {e}"))?;
    // Cooperative threads: one yield runs the new thread until it blocks.
    sched::yield_now();
    Ok(h)
}

/// `sched::interrupt` ends an interruptible wait at once (with or without a deadline),
/// an interrupt that came first ends the next one before it starts, a wait nobody ends
/// times out, the early-ended wait leaves no timer behind, and an exited thread cannot be
/// interrupted.
fn interrupt_ends_an_interruptible_wait() -> Outcome {
    let wq = Arc::new(WaitQueue::new());
    let q = wq.clone();
    let far = time::now_ns() + 2_000_000_000;
    let waiter = spawn_waiter("interruptible", move || {
        let first = q.wait_interruptible(None);
        let flag = sched::interrupted();
        // The flag stays set: the next wait ends before it starts.
        let second = q.wait_interruptible(Some(far));
        sched::clear_interrupt();
        let third = q.wait_interruptible(Some(far));
        sched::clear_interrupt();
        (first, flag, second, third, time::now_ns())
    })?;
    let id = waiter.id();
    check!(sched::interrupt(id), "interrupt({id}) found no thread");
    sched::yield_now();
    // Now blocked in the third wait, with a deadline 2 s away.
    let t0 = time::now_ns();
    check!(
        sched::interrupt(id),
        "second interrupt({id}) found no thread"
    );
    let (first, flag, second, third, ended) = waiter.join().ok_or("waiter gave no result")?;
    check!(
        first == WaitResult::Interrupted && flag,
        "untimed wait ended with {first:?}, interrupt flag {flag}"
    );
    check!(
        second == WaitResult::Interrupted,
        "a wait with the flag already set ended with {second:?}"
    );
    check!(
        third == WaitResult::Interrupted && ended < far,
        "timed wait ended with {third:?}, {} ms after the interrupt",
        (ended.saturating_sub(t0)) / 1_000_000
    );
    check!(
        !sched::interrupt(id),
        "interrupt({id}) found the thread after it exited"
    );
    check!(!wq.wake_one(), "the interrupted waiter stayed queued");

    let deadline = time::now_ns() + 5_000_000;
    let r = wq.wait_interruptible(Some(deadline));
    check!(
        r == WaitResult::TimedOut,
        "an undisturbed wait ended with {r:?}"
    );
    check!(time::now_ns() >= deadline, "the timed wait ended early");
    // The 2 s timer of the interrupted wait is gone: it would end this sleep early.
    let t0 = time::now_ns();
    sched::sleep_ns(30_000_000);
    let slept = time::now_ns() - t0;
    check!(
        slept >= 30_000_000,
        "a 30 ms sleep after an interrupted timed wait ended after {slept} ns"
    );
    Ok(())
}

/// A thread blocked on a plain wait queue or a mutex stays blocked when interrupted (its
/// flag is set for later), and runs on when what it waits for comes.
fn interrupt_leaves_other_waits_alone() -> Outcome {
    let wq = Arc::new(WaitQueue::new());
    let lock = Arc::new(Mutex::new(0u64));
    let done = Arc::new(AtomicU64::new(0));
    let guard = lock.lock();
    let (q, l, d) = (wq.clone(), lock.clone(), done.clone());
    let waiter = spawn_waiter("plain-waiter", move || {
        q.wait();
        d.store(1, Ordering::SeqCst);
        let flag_after_wait = sched::interrupted();
        sched::clear_interrupt();
        *l.lock() += 1;
        d.store(2, Ordering::SeqCst);
        let flag_after_lock = sched::interrupted();
        sched::clear_interrupt();
        (flag_after_wait, flag_after_lock)
    })?;
    let id = waiter.id();
    check!(sched::interrupt(id), "interrupt({id}) found no thread");
    sched::sleep_ns(5_000_000);
    let stage = done.load(Ordering::SeqCst);
    let woken = wq.wake_one();
    sched::yield_now();
    // Now blocked on the mutex.
    check!(sched::interrupt(id), "interrupt({id}) found no thread");
    sched::sleep_ns(5_000_000);
    let stage2 = done.load(Ordering::SeqCst);
    drop(guard);
    let flags = waiter.join();
    check!(
        stage == 0 && woken,
        "interrupting a plain wait woke it (stage {stage}, still queued {woken})"
    );
    check!(
        stage2 == 1,
        "interrupting a mutex wait woke it (stage {stage2})"
    );
    check!(
        flags == Some((true, true)),
        "interrupt flags seen after the waits: {flags:?}"
    );
    check!(*lock.lock() == 1, "the waiter never took the mutex");
    Ok(())
}

/// A wake and an interrupt arriving together, in either order, end the wait as woken:
/// the wake is not lost, and the interrupt flag is still set for the next wait.
fn a_wake_racing_an_interrupt_is_not_lost() -> Outcome {
    for wake_first in [true, false] {
        let wq = Arc::new(WaitQueue::new());
        let q = wq.clone();
        let waiter = spawn_waiter("racer", move || {
            let r = q.wait_interruptible(None);
            let flag = sched::interrupted();
            sched::clear_interrupt();
            (r, flag)
        })?;
        let id = waiter.id();
        let (woke, interrupted) = if wake_first {
            let w = wq.wake_one();
            (w, sched::interrupt(id))
        } else {
            let i = sched::interrupt(id);
            (wq.wake_one(), i)
        };
        let got = waiter.join();
        check!(
            woke && interrupted,
            "wake first {wake_first}: wake_one found a waiter {woke}, interrupt found the thread {interrupted}"
        );
        check!(
            got == Some((WaitResult::Woken, true)),
            "wake first {wake_first}: the wait ended with {got:?}, expected (Woken, flag set)"
        );
    }
    Ok(())
}

/// `sleep_until_interruptible` sleeps to its deadline when left alone and returns false
/// at once when interrupted.
fn interruptible_sleep_ends_early() -> Outcome {
    let deadline = time::now_ns() + 5_000_000;
    check!(
        sched::sleep_until_interruptible(deadline),
        "an undisturbed sleep said it was interrupted"
    );
    check!(time::now_ns() >= deadline, "the sleep ended early");
    let far = time::now_ns() + 2_000_000_000;
    let sleeper = spawn_waiter("sleeper", move || {
        let slept = sched::sleep_until_interruptible(far);
        sched::clear_interrupt();
        (slept, time::now_ns())
    })?;
    let t0 = time::now_ns();
    check!(sched::interrupt(sleeper.id()), "interrupt found no sleeper");
    let (slept, ended) = sleeper.join().ok_or("sleeper gave no result")?;
    check!(!slept, "an interrupted sleep said it slept to its deadline");
    check!(
        ended < far,
        "the interrupted sleep ended {} ms after the interrupt",
        ended.saturating_sub(t0) / 1_000_000
    );
    Ok(())
}

/// `save_fpu`/`restore_fpu` round-trip the x87/SSE state, and restoring an image with
/// MXCSR bits the CPU lacks does not fault (they are cleared).
fn fpu_images_round_trip_and_are_sanitized() -> Outcome {
    let mut saved = [0u8; 512];
    sched::save_fpu(&mut saved);
    let mxcsr = u32::from_le_bytes([saved[24], saved[25], saved[26], saved[27]]);
    check!(mxcsr == 0x1f80, "saved MXCSR {mxcsr:#x}, expected 0x1f80");
    let mut bad = saved;
    // Round toward zero (0x6000) and every reserved bit above 16.
    bad[24..28].copy_from_slice(&(0xffff_0000u32 | 0x7f80).to_le_bytes());
    sched::restore_fpu(&bad);
    let (loaded, _) = probe::fpu_control();
    sched::restore_fpu(&saved);
    let (back, _) = probe::fpu_control();
    check!(
        loaded == 0x7f80,
        "restoring MXCSR 0xffff7f80 loaded {loaded:#x}, expected 0x7f80"
    );
    check!(
        back == 0x1f80,
        "MXCSR {back:#x} after restoring the saved image"
    );
    Ok(())
}

/// The grant table is set up by Xen (query_size, setup_table, frames mapped), and a page
/// granted to dom0 can be ended again; bad requests are errors.
fn grant_table_grants_and_ends() -> Outcome {
    use kernel::drivers::gnttab::{self, GrantError, GrantPageError};
    let (free, capacity) = gnttab::usage().map_err(|e| format!("{e}"))?;
    check!(
        capacity > 0 && capacity <= gnttab::FRAMES * 512 && free == capacity - 8,
        "{free} of {capacity} entries free"
    );
    let layout = core::alloc::Layout::from_size_align(4096, 4096).map_err(|e| format!("{e}"))?;
    // SAFETY: a non-zero-sized layout; the page is freed below.
    let page = unsafe { alloc::alloc::alloc_zeroed(layout) };
    check!(!page.is_null(), "no page");
    let va = page as u64;
    let result = (|| {
        let g = gnttab::grant_page(xen::abi::xen::DomId(0), va, true)
            .map_err(|e| format!("grant: {e}"))?;
        check!(
            gnttab::usage().map(|u| u.0) == Ok(free - 1),
            "a grant did not take an entry"
        );
        gnttab::end(g).map_err(|e| format!("end: {e}"))?;
        check!(
            gnttab::end(g) == Err(GrantPageError::Grant(GrantError::NotGranted { gref: g })),
            "a grant ended twice"
        );
        check!(
            gnttab::grant_page(xen::abi::xen::DomId(0), va + 8, true)
                == Err(GrantPageError::NotOurs { va: va + 8 }),
            "an unaligned address was granted"
        );
        check!(gnttab::usage().map(|u| u.0) == Ok(free), "entries leaked");
        println!("selftest: figure grant-entries {capacity}");
        Ok(())
    })();
    // SAFETY: allocated above with this layout; no grant of it is left.
    unsafe { alloc::alloc::dealloc(page, layout) };
    result
}

fn mutex_and_condvar_hand_over_work() -> Outcome {
    struct Shared {
        queue: Mutex<VecDeque<u64>>,
        ready: Condvar,
    }
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        ready: Condvar::new(),
    });
    // A consumer that cannot be started ends the test, after the others are stopped.
    let mut consumers = Vec::new();
    let mut not_started = None;
    for i in 0..4 {
        let s = shared.clone();
        let spawned = sched::spawn(&format!("consumer-{i}"), move || {
            let mut sum = 0u64;
            loop {
                let mut q = s.queue.lock();
                while q.is_empty() {
                    q = s.ready.wait(q);
                }
                let v = q.pop_front().unwrap_or(0);
                drop(q);
                if v == 0 {
                    return sum;
                }
                sum += v;
            }
        });
        match spawned {
            Ok(h) => consumers.push(h),
            Err(e) => {
                not_started = Some(format!("consumer {i}: {e}"));
                break;
            }
        }
    }
    if not_started.is_none() {
        for v in 1..=1000u64 {
            shared.queue.lock().push_back(v);
            shared.ready.notify_one();
            if v % 7 == 0 {
                sched::yield_now();
            }
        }
    }
    for _ in &consumers {
        shared.queue.lock().push_back(0);
        shared.ready.notify_all();
    }
    let total: u64 = consumers.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    if let Some(why) = not_started {
        return Err(why);
    }
    check!(
        total == 500_500,
        "consumers summed {total}, expected 500500"
    );
    Ok(())
}

fn event_channel_loopback_wakes_a_waiter() -> Outcome {
    let a = kernel::event::alloc_unbound(DomId::SELF).map_err(|e| format!("alloc_unbound: {e}"))?;
    let b = match kernel::event::bind_interdomain(DomId::SELF, a) {
        Ok(b) => b,
        Err(e) => {
            // Given back before the failure is reported.
            let _ = kernel::event::close(a);
            return Err(format!("bind_interdomain: {e}"));
        }
    };
    let hits = Arc::new(AtomicU64::new(0));
    let wq = Arc::new(WaitQueue::new());
    let (h, q) = (hits.clone(), wq.clone());
    let rounds = kernel::event::bind_handler(
        b,
        Arc::new(move |_| {
            h.fetch_add(1, Ordering::SeqCst);
            q.wake_all();
        }),
    )
    .map_err(|e| format!("unmask: {e}"))
    .and_then(|()| {
        for round in 1..=3u64 {
            kernel::event::send(a).map_err(|e| format!("send: {e}"))?;
            while hits.load(Ordering::SeqCst) < round {
                wq.wait();
            }
        }
        Ok(())
    });
    // Both ends are closed whatever happened above.
    let closed_b = kernel::event::close(b).map_err(|e| format!("close: {e}"));
    let closed_a = kernel::event::close(a).map_err(|e| format!("close: {e}"));
    rounds.and(closed_b).and(closed_a)
}

fn steal_time_is_readable_and_consistent() -> Outcome {
    let r1 =
        time::runstate().ok_or("no runstate area: VCPUOP_register_runstate_memory_area refused")?;
    // The running time is Xen's sum up to its last update of the area, brought forward
    // to now with our clock, which need not agree with Xen's to the microsecond. On a
    // loaded host it was twice seen not to have advanced over 2M additions: so compute
    // until it has, for up to a second.
    let start = time::now_ns();
    let (mut x, mut rounds) = (0u64, 0u32);
    let r2 = loop {
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i);
        }
        rounds += 1;
        let r = time::runstate().ok_or("runstate area vanished")?;
        if r.running > r1.running || time::now_ns() - start >= 1_000_000_000 {
            break r;
        }
    };
    core::hint::black_box(x);
    check!(
        r2.running > r1.running,
        "running time did not advance while we ran {rounds} times 2M additions ({} ms): \
         {} ns, then {} ns (steal {} ns, then {} ns)",
        (time::now_ns() - start) / 1_000_000,
        r1.running,
        r2.running,
        r1.steal(),
        r2.steal()
    );
    check!(
        r2.steal() >= r1.steal(),
        "steal went back: {} -> {}",
        r1.steal(),
        r2.steal()
    );
    check!(r2.total() >= r1.total(), "runstate total went back");
    // Counted since boot: the time the domain spent created but paused is not in it.
    let uptime = time::now_ns().saturating_sub(kernel::boot_times().entry_ns);
    check!(
        r2.total() <= uptime + 1_000_000,
        "runstate since boot ({} ns) exceeds uptime ({uptime} ns)",
        r2.total()
    );
    check!(
        r2.steal() < uptime,
        "steal since boot ({} ns) is not below uptime ({uptime} ns)",
        r2.steal()
    );
    let run = time::run_clock_ns();
    check!(
        run <= time::now_ns(),
        "run clock ahead of the monotonic clock"
    );
    Ok(())
}

fn out_of_memory_is_an_error_value() -> Outcome {
    match Builder::new("huge").stack_pages(1 << 30).spawn(|| ()) {
        Err(sched::SpawnError::Stack(mm::StackError::Frames(
            mm::frame::FrameError::OutOfFrames { .. },
        ))) => Ok(()),
        Err(e) => Err(format!("unexpected error: {e}")),
        Ok(_) => Err(String::from("a 4 TiB stack was created")),
    }
}

fn context_switch_rate() -> Outcome {
    const ROUNDS: u64 = 20_000;
    let before = sched::switches();
    let start = time::now_ns();
    let other = sched::spawn("pingpong", || {
        for _ in 0..ROUNDS {
            sched::yield_now();
        }
    })
    .map_err(|e| format!("{e}"))?;
    for _ in 0..ROUNDS {
        sched::yield_now();
    }
    other.join();
    let ns = time::now_ns() - start;
    let n = sched::switches() - before;
    check!(
        n >= 2 * ROUNDS,
        "only {n} switches for {ROUNDS} ping-pong rounds"
    );
    println!(
        "selftest: figure context-switches-per-second {} (TLS by {})",
        n * 1_000_000_000 / ns.max(1),
        if sched::tls_by_selector() {
            "LDT selector"
        } else {
            "set_segment_base"
        }
    );
    Ok(())
}

fn no_periodic_ticks_while_asleep() -> Outcome {
    // With Xen's default 100 Hz periodic timer still running, a 500 ms sleep would see
    // about 50 timer events; with the one-shot timer alone, the deadline's one (and maybe
    // one more for an early wakeup).
    let before = time::timer_events();
    sched::sleep_ns(500_000_000);
    let n = time::timer_events() - before;
    check!(
        n <= 3,
        "{n} timer events during one 500 ms sleep: periodic ticks?"
    );
    println!("selftest: figure timer-events-in-500ms-sleep {n}");
    Ok(())
}

fn trace_records_cost_little() -> Outcome {
    let (made0, kept) = kernel::trace::stats();
    check!(kept > 0, "tracing is off (trace=0?)");
    const N: u64 = 100_000;
    let t0 = time::now_ns();
    for i in 0..N {
        // 100k records took over 5 s on a loaded host: yield now and then (the last
        // yield comes long before the last record, which stays ours).
        if i % 16_384 == 0 {
            sched::yield_now();
        }
        kernel::trace!(0x5e1f, i);
    }
    let ns = time::now_ns() - t0;
    let (made1, _) = kernel::trace::stats();
    check!(
        made1 - made0 >= N as usize,
        "{} records made for {N} events",
        made1 - made0
    );
    let last = kernel::trace::last(1);
    check!(
        last.first().is_some_and(|r| r.args == [0x5e1f, N - 1, 0]),
        "the last record is {last:?}"
    );
    println!("selftest: figure trace-ns-per-event {}", ns / N);
    Ok(())
}

/// What a test must give back by the time it returns: its threads, and every frame it
/// took apart from those the heap and the page tables keep for good (the heap grows and
/// memory is mapped on first use; neither gives frames back, by design).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holdings {
    threads: usize,
    frames_not_lent: usize,
}

impl Holdings {
    fn now() -> Holdings {
        Holdings {
            threads: sched::live_threads(),
            frames_not_lent: mm::frame_usage().not_lent(),
        }
    }

    /// The change from `self` to `after`, in words.
    fn change_to(self, after: Holdings) -> String {
        format!(
            "{} threads alive before, {} after; {} frames free or kept by the heap and page \
             tables before, {} after",
            self.threads, after.threads, self.frames_not_lent, after.frames_not_lent
        )
    }
}

/// The runner's leak check can fail: a thread held alive shows as one more thread and
/// its stack (with the guard page) as that many frames lent out; released, neither shows.
fn the_leak_check_counts_a_held_thread_and_its_stack() -> Outcome {
    let before = Holdings::now();
    let release = Arc::new(Event::new());
    let r = release.clone();
    let held = sched::spawn("held", move || r.wait_until(None)).map_err(|e| format!("{e}"))?;
    let during = Holdings::now();
    release.set();
    let woken = held.join();
    let after = Holdings::now();
    let stack = sched::DEFAULT_STACK_PAGES + 1;
    check!(woken == Some(true), "the held thread ended with {woken:?}");
    check!(
        during.threads == before.threads + 1
            && during.frames_not_lent + stack == before.frames_not_lent,
        "a held thread with a {stack}-page stack: {}",
        before.change_to(during)
    );
    check!(
        after == before,
        "released, it still shows: {}",
        before.change_to(after)
    );
    Ok(())
}

/// A named test.
type Test = (&'static str, fn() -> Outcome);

const TESTS: &[Test] = &[
    (
        "alignment_in_the_first_thread",
        alignment_in_the_first_thread,
    ),
    ("alignment_in_64_threads", alignment_in_64_threads),
    ("mxcsr_is_saved_per_thread", mxcsr_is_saved_per_thread),
    ("tls_is_per_thread", tls_is_per_thread),
    (
        "the_leak_check_counts_a_held_thread_and_its_stack",
        the_leak_check_counts_a_held_thread_and_its_stack,
    ),
    (
        "threads_until_the_ldt_or_memory_runs_out",
        threads_until_the_ldt_or_memory_runs_out,
    ),
    (
        "ten_thousand_threads_without_leaking_pages",
        ten_thousand_threads_without_leaking_pages,
    ),
    ("sleeps_never_wake_early", sleeps_never_wake_early),
    ("clock_never_goes_backwards", clock_never_goes_backwards),
    (
        "wall_clock_follows_the_monotonic_clock",
        wall_clock_follows_the_monotonic_clock,
    ),
    (
        "timed_waits_time_out_and_wake",
        timed_waits_time_out_and_wake,
    ),
    (
        "interrupt_ends_an_interruptible_wait",
        interrupt_ends_an_interruptible_wait,
    ),
    (
        "interrupt_leaves_other_waits_alone",
        interrupt_leaves_other_waits_alone,
    ),
    (
        "a_wake_racing_an_interrupt_is_not_lost",
        a_wake_racing_an_interrupt_is_not_lost,
    ),
    (
        "interruptible_sleep_ends_early",
        interruptible_sleep_ends_early,
    ),
    (
        "fpu_images_round_trip_and_are_sanitized",
        fpu_images_round_trip_and_are_sanitized,
    ),
    ("grant_table_grants_and_ends", grant_table_grants_and_ends),
    (
        "mutex_and_condvar_hand_over_work",
        mutex_and_condvar_hand_over_work,
    ),
    (
        "event_channel_loopback_wakes_a_waiter",
        event_channel_loopback_wakes_a_waiter,
    ),
    (
        "steal_time_is_readable_and_consistent",
        steal_time_is_readable_and_consistent,
    ),
    (
        "out_of_memory_is_an_error_value",
        out_of_memory_is_an_error_value,
    ),
    ("context_switch_rate", context_switch_rate),
    (
        "no_periodic_ticks_while_asleep",
        no_periodic_ticks_while_asleep,
    ),
    ("trace_records_cost_little", trace_records_cost_little),
];

fn main() {
    let mem = kernel::mem_info();
    println!(
        "selftest: figure kernel-pages-before-main {} of {} (free {})",
        mem.kernel_pages, mem.nr_pages, mem.free_pages
    );
    let (mut passed, mut failed) = (0u32, 0u32);
    for (name, test) in TESTS {
        let start = time::now_ns();
        let before = Holdings::now();
        let outcome = test();
        let after = Holdings::now();
        let ms = (time::now_ns() - start) / 1_000_000;
        // A test gives back what it took, whether it passed or failed.
        let outcome = match (outcome, after == before) {
            (outcome, true) => outcome,
            (Ok(()), false) => Err(format!("left behind: {}", before.change_to(after))),
            (Err(why), false) => Err(format!(
                "{why}; and left behind: {}",
                before.change_to(after)
            )),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("TEST {name} ... ok ({ms} ms)");
            }
            Err(why) => {
                failed += 1;
                println!("TEST {name} ... FAILED: {why}");
            }
        }
    }
    println!("selftest: {passed} passed, {failed} failed");
    if failed > 0 {
        kernel::crash();
    }
}
