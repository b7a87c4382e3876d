//! The scheduler proper (target only).
//!
//! Its `unsafe` calls are the context switch and writing a new thread's first frame (both
//! in `arch::x86_64::switch`) and installing the LDT on frames it took; everything else
//! here is safe code.
//!
//! Interrupts (what a signal needs, like Linux's `TIF_SIGPENDING` and
//! `TASK_INTERRUPTIBLE`): [`interrupt`] sets a thread's flag and, if the thread is blocked
//! in an interruptible wait ([`WaitQueue::wait_interruptible`](super::sync::WaitQueue),
//! [`sleep_until_interruptible`]), makes it runnable. Every other wait (mutex, condvar,
//! plain wait queue, join) is left alone: its callers count on being woken only by the
//! one they wait for. Threads are found by id in a registry of weak references, one
//! B-tree insertion per spawn and one removal per exit.

extern crate alloc;

use super::frame::initial_frame;
use crate::arch::x86_64::fpu::FpuArea;
use crate::arch::x86_64::{self as arch, switch};
use crate::mm::{Stack, StackError};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use heapless::String;

/// Longest thread name kept (longer names are cut).
pub const NAME_LEN: usize = 32;
/// Default stack size in pages (64 KiB), plus one guard page.
pub const DEFAULT_STACK_PAGES: usize = 16;

/// What a thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// On the CPU.
    Running = 0,
    /// In the run queue.
    Runnable = 1,
    /// Waiting (wait queue, sleep, join).
    Blocked = 2,
    /// Finished; its stack is freed once nothing refers to it.
    Exited = 3,
}

/// The TLS block FS points at: `[fs:0]` is its own address (x86-64 TLS ABI, variant II).
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Tcb {
    self_ptr: u64,
    thread_id: u64,
    /// Per-thread `errno` for the C ABI.
    pub errno: i32,
}

pub(crate) struct ThreadInner {
    id: u64,
    name: spin::Mutex<String<NAME_LEN>>,
    /// Saved RSP while switched out (written by the switch asm).
    rsp: AtomicU64,
    state: AtomicU8,
    /// Owned for its Drop (unmaps nothing, remaps the guard, frees the frames).
    _stack: Option<Stack>,
    bounds: (u64, u64),
    guard: Option<(u64, u64)>,
    entry: spin::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    joiners: super::sync::WaitQueue,
    tcb: Box<Tcb>,
    /// LDT entry and selector of the TLS segment, when the thread has one.
    ldt: Option<(usize, u16)>,
    /// The TLS block foreign code chose (`arch_prctl(ARCH_SET_FS)`): its segment, if it
    /// got one, and its base. Replaces `tcb` for FS.
    foreign_tls: spin::Mutex<Option<ForeignTls>>,
    /// The whole x87/SSE state, for threads that run foreign code (saved when the thread
    /// switches out, restored when it runs again).
    fpu: spin::Once<Box<FpuArea>>,
    /// Set by [`interrupt`], cleared by the thread itself ([`clear_interrupt`]).
    interrupt: AtomicBool,
}

/// A TLS block foreign code set up: its LDT entry and selector, if it got one, and base.
type ForeignTls = (Option<(usize, u16)>, u64);

/// Gives an LDT entry back (an entry Xen would not clear stays allocated rather than
/// reused).
fn free_ldt_entry(index: usize) {
    match arch::ldt::set_entry(index, 0) {
        Ok(()) => LDT_SLOTS.lock().give(index),
        Err(r) => crate::diag::refused(&r),
    }
}

impl Drop for ThreadInner {
    fn drop(&mut self) {
        if let Some((index, _)) = self.ldt {
            free_ldt_entry(index);
        }
        if let Some((Some((index, _)), _)) = *self.foreign_tls.lock() {
            free_ldt_entry(index);
        }
    }
}

static LDT_SLOTS: spin::Mutex<super::tls::LdtSlots> = spin::Mutex::new(super::tls::LdtSlots::new());
/// Set once the LDT is installed; without it every thread uses `set_segment_base`.
static LDT_READY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Gives the TLS block at `base` an LDT segment, if the LDT is up, the base fits in a
/// descriptor and an entry is free.
fn tls_segment(base: u64) -> Option<(usize, u16)> {
    if !LDT_READY.load(Ordering::Relaxed) {
        return None;
    }
    let descriptor = super::tls::data_descriptor(base)?;
    let index = LDT_SLOTS.lock().take()?;
    let selector = super::tls::ldt_selector(index);
    let made = selector.map(|sel| (sel, arch::ldt::set_entry(index, descriptor)));
    match made {
        Some((sel, Ok(()))) => Some((index, sel)),
        other => {
            if let Some((_, Err(r))) = other {
                crate::diag::refused(&r);
            }
            LDT_SLOTS.lock().give(index);
            None
        }
    }
}

impl ThreadInner {
    fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            0 => State::Running,
            1 => State::Runnable,
            2 => State::Blocked,
            _ => State::Exited,
        }
    }
    fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
    fn tls(&self) -> (Option<u16>, u64) {
        if let Some((seg, base)) = *self.foreign_tls.lock() {
            return (seg.map(|(_, sel)| sel), base);
        }
        (self.ldt.map(|(_, sel)| sel), self.tcb.self_ptr)
    }
    /// Where this thread's whole FPU state is kept, if it keeps one.
    fn fpu_area(&self) -> Option<*mut FpuArea> {
        self.fpu.get().map(|b| (&raw const **b).cast_mut())
    }
}

struct Sched {
    current: Option<Arc<ThreadInner>>,
    runq: VecDeque<Arc<ThreadInner>>,
    sleepers: BTreeMap<(u64, u64), Arc<ThreadInner>>,
    zombies: Vec<Arc<ThreadInner>>,
    /// Every thread not yet exited, by id (for [`interrupt`]).
    threads: BTreeMap<u64, Weak<ThreadInner>>,
    /// The threads blocked in an interruptible wait, by id, with the deadline of their
    /// entry in `sleepers` if they have one. A thread is here from the moment it decides to
    /// block until it runs again.
    interruptible: BTreeMap<u64, Option<u64>>,
    next_id: u64,
    switches: u64,
    live: usize,
}

static SCHED: spin::Mutex<Sched> = spin::Mutex::new(Sched {
    current: None,
    runq: VecDeque::new(),
    sleepers: BTreeMap::new(),
    zombies: Vec::new(),
    threads: BTreeMap::new(),
    interruptible: BTreeMap::new(),
    next_id: 1,
    switches: 0,
    live: 0,
});

/// What the crash path needs about the running thread, readable without the scheduler lock.
#[derive(Debug, Clone)]
pub struct CurrentInfo {
    /// Thread name.
    pub name: String<NAME_LEN>,
    /// Thread id.
    pub id: u64,
    /// Stack `[bottom, top)`.
    pub stack: (u64, u64),
    /// Guard page `[start, end)`, if the stack has one.
    pub guard: Option<(u64, u64)>,
}

static CURRENT_INFO: spin::Mutex<Option<CurrentInfo>> = spin::Mutex::new(None);

fn publish_current(t: &ThreadInner) {
    *CURRENT_INFO.lock() = Some(CurrentInfo {
        name: t.name.lock().clone(),
        id: t.id,
        stack: t.bounds,
        guard: t.guard,
    });
}

/// True when the caller may block: it runs in thread context (not on the kernel stack of
/// a trap, nor before threads exist) and not inside an event handler.
pub fn can_block() -> bool {
    let rsp = crate::arch::x86_64::stack_pointer();
    let (k0, k1) = crate::arch::x86_64::kernel_stack();
    // Thread code runs on its own stack, or (C threads) on one its program made: anything
    // but the kernel stack, where traps and upcalls run.
    !crate::event::dispatching() && current_info().is_some() && !(k0..k1).contains(&rsp)
}

/// The running thread as the crash path sees it (`None` before threads exist or if the
/// record is being updated).
pub fn current_info() -> Option<CurrentInfo> {
    CURRENT_INFO.try_lock().and_then(|g| g.clone())
}

fn short_name(name: &str) -> String<NAME_LEN> {
    let mut s = String::new();
    for c in name.chars() {
        if s.push(c).is_err() {
            break;
        }
    }
    s
}

fn new_tcb(thread_id: u64) -> Box<Tcb> {
    let mut tcb = Box::new(Tcb {
        self_ptr: 0,
        thread_id,
        errno: 0,
    });
    tcb.self_ptr = &raw const *tcb as u64;
    tcb
}

/// A thread record with a fresh id, TLS block and (if possible) TLS segment. Without a
/// stack of its own the thread is the one running on the boot stack.
fn new_thread(
    name: &str,
    rsp: u64,
    state: State,
    stack: Option<Stack>,
    entry: Option<Box<dyn FnOnce() + Send>>,
) -> Arc<ThreadInner> {
    let id = {
        let mut s = SCHED.lock();
        let id = s.next_id;
        s.next_id += 1;
        id
    };
    let (bounds, guard) = match &stack {
        Some(st) => ((st.bottom(), st.top()), st.guard()),
        None => (arch::boot_stack(), arch::boot_stack_guard()),
    };
    let tcb = new_tcb(id);
    let ldt = tls_segment(tcb.self_ptr);
    let t = Arc::new(ThreadInner {
        id,
        name: spin::Mutex::new(short_name(name)),
        rsp: AtomicU64::new(rsp),
        state: AtomicU8::new(state as u8),
        _stack: stack,
        bounds,
        guard: Some((guard, guard + 4096)),
        entry: spin::Mutex::new(entry),
        joiners: super::sync::WaitQueue::new(),
        tcb,
        ldt,
        foreign_tls: spin::Mutex::new(None),
        fpu: spin::Once::new(),
        interrupt: AtomicBool::new(false),
    });
    SCHED.lock().threads.insert(id, Arc::downgrade(&t));
    t
}

/// Why the LDT for TLS segments could not be installed.
#[derive(Debug, Clone, Copy)]
pub enum LdtError {
    /// No frames for it.
    Frames(crate::mm::frame::FrameError),
    /// Xen refused it.
    Xen(xen::multicall::Refusal),
}

impl core::fmt::Display for LdtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LdtError::Frames(e) => write!(f, "{e}"),
            LdtError::Xen(e) => write!(f, "{e}"),
        }
    }
}

/// Takes frames for the LDT and installs it (one TLS segment per thread).
fn install_ldt() -> Result<(), LdtError> {
    use super::tls::LDT_ENTRIES;
    const { assert!(LDT_ENTRIES <= arch::ldt::MAX_ENTRIES) };
    let pages = LDT_ENTRIES * 8 / xen::abi::xen::PAGE_SIZE;
    let pfn = crate::mm::alloc_run_low(pages).map_err(LdtError::Frames)?;
    // SAFETY: the frames were just taken from the allocator (mapped at their identity VA
    // by alloc_run_low) for the LDT alone, and are never given back.
    unsafe { arch::ldt::install(pfn, LDT_ENTRIES) }.map_err(|r| {
        crate::diag::refused(&r);
        LdtError::Xen(r)
    })
}

/// How thread TLS blocks are made current.
#[derive(Debug, Clone, Copy)]
pub enum TlsMode {
    /// By loading an LDT selector (one `mov`): the fast path.
    Selectors,
    /// By `set_segment_base` on every switch, because the LDT could not be installed.
    Hypercall(LdtError),
}

/// Makes the boot stack the thread `main`. Called once by boot.
pub(crate) fn init() -> Result<TlsMode, xen::XenError> {
    let mode = match install_ldt() {
        Ok(()) => {
            LDT_READY.store(true, Ordering::Relaxed);
            TlsMode::Selectors
        }
        Err(e) => TlsMode::Hypercall(e),
    };
    let main = new_thread("main", 0, State::Running, None, None);
    let mut s = SCHED.lock();
    let (sel, base) = main.tls();
    switch::set_tls(sel, base)?;
    publish_current(&main);
    s.current = Some(main);
    s.live = 1;
    Ok(mode)
}

/// Why a thread could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// No memory for its stack (or Xen refused the guard page).
    Stack(StackError),
    /// The stack could not hold the first frame (a kernel bug).
    Frame(super::frame::FrameError),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::Stack(e) => write!(f, "cannot create thread: {e}"),
            SpawnError::Frame(e) => write!(f, "cannot create thread: bad initial frame {e:?}"),
        }
    }
}

impl core::error::Error for SpawnError {}

/// A thread to join; dropping it detaches the thread.
pub struct JoinHandle<T> {
    inner: Arc<ThreadInner>,
    result: Arc<spin::Mutex<Option<T>>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish; `None` if it finished without a result (it cannot,
    /// short of a kernel bug: a panic crashes the domain).
    pub fn join(self) -> Option<T> {
        while self.inner.state() != State::Exited {
            self.inner.joiners.wait();
        }
        self.result.lock().take()
    }

    /// The thread's id (what `gettid` says in it).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The thread's name.
    pub fn name(&self) -> String<NAME_LEN> {
        self.inner.name.lock().clone()
    }
}

/// Creates threads with a name and a stack size.
#[derive(Debug, Clone)]
pub struct Builder<'a> {
    name: &'a str,
    stack_pages: usize,
}

impl<'a> Builder<'a> {
    /// A builder for a thread called `name`.
    pub fn new(name: &'a str) -> Self {
        Builder {
            name,
            stack_pages: DEFAULT_STACK_PAGES,
        }
    }

    /// Stack size in pages (a guard page is added below).
    pub fn stack_pages(mut self, pages: usize) -> Self {
        self.stack_pages = pages.max(1);
        self
    }

    /// Starts the thread; it runs when the caller next yields or blocks.
    pub fn spawn<T: Send + 'static>(
        self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        let stack = Stack::new(self.stack_pages).map_err(SpawnError::Stack)?;
        let frame = initial_frame(
            stack.top(),
            switch::thread_start_address(),
            thread_entry as *const () as u64,
            0,
        )
        .map_err(SpawnError::Frame)?;
        // SAFETY: the frame's words lie at the top of `stack`, which was just allocated,
        // is mapped and writable, and no code runs on it yet.
        unsafe { switch::write_frame(&frame.words) };
        let result = Arc::new(spin::Mutex::new(None));
        let slot = result.clone();
        let body: Box<dyn FnOnce() + Send> = Box::new(move || {
            let v = f();
            *slot.lock() = Some(v);
        });
        let inner = new_thread(
            self.name,
            frame.rsp,
            State::Runnable,
            Some(stack),
            Some(body),
        );
        let mut s = SCHED.lock();
        s.runq.push_back(inner.clone());
        s.live += 1;
        Ok(JoinHandle { inner, result })
    }
}

/// Starts a thread with the default stack.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, SpawnError> {
    Builder::new(name).spawn(f)
}

/// First Rust code of every new thread (entered from `thread_start`, see `frame`).
extern "C" fn thread_entry(_unused: u64) -> ! {
    reap();
    let me = current();
    if let Some(a) = me.fpu.get() {
        a.restore();
    }
    let body = me.entry.lock().take();
    drop(me);
    if let Some(body) = body {
        body();
    }
    exit()
}

/// The running thread.
pub(crate) fn current() -> Arc<ThreadInner> {
    #[expect(
        clippy::expect_used,
        reason = "threads exist from boot on; none is a kernel bug"
    )]
    SCHED.lock().current.clone().expect("no current thread")
}

/// The running thread's id, if threads exist (readable from the upcall).
pub fn current_id() -> Option<u64> {
    CURRENT_INFO
        .try_lock()
        .and_then(|g| g.as_ref().map(|c| c.id))
}

/// The running thread's name.
pub fn current_name() -> String<NAME_LEN> {
    current().name.lock().clone()
}

/// Drops the threads that exited (their stacks are freed when the last handle goes).
fn reap() {
    let zombies = core::mem::take(&mut SCHED.lock().zombies);
    drop(zombies);
}

/// Ends the running thread.
pub fn exit() -> ! {
    let me = current();
    me.joiners.wake_all();
    drop(me);
    switch_away(State::Exited);
    unreachable!("an exited thread was resumed")
}

/// Lets every other runnable thread run once.
pub fn yield_now() {
    switch_away(State::Runnable);
}

/// Sleeps for at least `ns` nanoseconds of pvclock time.
pub fn sleep_ns(ns: u64) {
    let deadline = crate::time::now_ns().saturating_add(ns);
    sleep_until(deadline);
}

/// Sleeps until pvclock time `deadline` (ns).
pub fn sleep_until(deadline: u64) {
    {
        let mut s = SCHED.lock();
        #[expect(clippy::expect_used, reason = "threads exist from boot on")]
        let me = s.current.clone().expect("no current thread");
        let key = (deadline, me.id);
        s.sleepers.insert(key, me);
    }
    switch_away(State::Blocked);
}

/// Marks a blocked thread runnable.
pub(crate) fn wake(t: Arc<ThreadInner>) {
    if t.state() == State::Blocked {
        t.set_state(State::Runnable);
        SCHED.lock().runq.push_back(t);
    }
}

/// Blocks the running thread until someone calls [`wake`] on it.
pub(crate) fn block() {
    switch_away(State::Blocked);
}

/// Blocks the running thread until someone calls [`wake`] on it or the monotonic clock
/// reaches `deadline` (ns), whichever comes first.
pub(crate) fn block_until(deadline: u64) {
    let key = {
        let mut s = SCHED.lock();
        #[expect(clippy::expect_used, reason = "threads exist from boot on")]
        let me = s.current.clone().expect("no current thread");
        let key = (deadline, me.id);
        s.sleepers.insert(key, me);
        key
    };
    switch_away(State::Blocked);
    // Woken by `wake` before the deadline: the timer entry must not fire later.
    SCHED.lock().sleepers.remove(&key);
}

/// Blocks the running thread `me` interruptibly until someone calls [`wake`] on it,
/// [`interrupt`]s it, or the monotonic clock reaches `deadline` (ns; `None`: no limit).
/// The caller checked `me`'s interrupt flag with nothing yielding since.
pub(crate) fn block_interruptible(me: &Arc<ThreadInner>, deadline: Option<u64>) {
    {
        let mut s = SCHED.lock();
        if let Some(d) = deadline {
            s.sleepers.insert((d, me.id), me.clone());
        }
        s.interruptible.insert(me.id, deadline);
    }
    switch_away(State::Blocked);
    let mut s = SCHED.lock();
    // Woken (or interrupted) before the deadline: the timer entry must not fire later.
    if let Some(d) = s.interruptible.remove(&me.id).flatten() {
        s.sleepers.remove(&(d, me.id));
    }
}

/// Interrupts thread `id`: sets its interrupt flag and, if it is blocked in an
/// interruptible wait, makes it runnable (its wait then returns `Interrupted`). A thread
/// in any other wait keeps waiting; it sees the flag at its next interruptible wait, or
/// when it asks [`interrupted`]. False when no live thread has that id.
///
/// Call it from thread context (a thread or an event handler), never from the upcall.
pub fn interrupt(id: u64) -> bool {
    let mut s = SCHED.lock();
    let Some(t) = s.threads.get(&id).and_then(Weak::upgrade) else {
        return false;
    };
    if t.state() == State::Exited {
        return false;
    }
    t.interrupt.store(true, Ordering::SeqCst);
    if let Some(deadline) = s.interruptible.remove(&id) {
        if let Some(d) = deadline {
            s.sleepers.remove(&(d, id));
        }
        // Already made runnable by a wake (then its wait counts as woken): queued once.
        if t.state() == State::Blocked {
            t.set_state(State::Runnable);
            s.runq.push_back(t);
        }
    }
    true
}

/// True when the running thread's interrupt flag is set.
pub fn interrupted() -> bool {
    current().interrupt.load(Ordering::SeqCst)
}

/// Clears the running thread's interrupt flag (once it has dealt with what the
/// interrupt was for, say the pending signals).
pub fn clear_interrupt() {
    current().interrupt.store(false, Ordering::SeqCst);
}

/// The running thread's interrupt flag (for [`WaitQueue`](super::sync::WaitQueue)).
pub(crate) fn interrupt_flag(t: &ThreadInner) -> bool {
    t.interrupt.load(Ordering::SeqCst)
}

/// Sleeps until pvclock time `deadline` (ns) unless interrupted first: true when it slept
/// to the deadline, false when the thread's interrupt flag was set (before the sleep or
/// during it).
pub fn sleep_until_interruptible(deadline: u64) -> bool {
    let me = current();
    if interrupt_flag(&me) {
        return false;
    }
    // Nothing yields between the check above and blocking below: an interrupt from now on
    // finds the thread in the interruptible set.
    block_interruptible(&me, Some(deadline));
    !interrupt_flag(&me)
}

/// Stores the running thread's live x87/SSE state (`fxsave64`) in `buf`: what a signal
/// frame keeps of a C thread's floating-point registers. Kernel code is soft-float and
/// never touches them, so they hold the program's values during its system calls.
pub fn save_fpu(buf: &mut [u8; 512]) {
    let mut a = FpuArea::initial();
    a.save();
    buf.copy_from_slice(&a.0);
}

/// Loads the running thread's x87/SSE state from `buf` (`fxrstor64`), an image that
/// [`save_fpu`] made and the program may have changed since (a signal frame lives in its
/// memory): MXCSR bits the CPU does not support are cleared first, so the restore cannot
/// fault.
pub fn restore_fpu(buf: &[u8; 512]) {
    FpuArea::sanitized(buf).restore();
}

/// Renames the running thread (`pthread_setname_np`); longer names are cut.
pub fn set_current_name(name: &str) {
    let me = current();
    *me.name.lock() = short_name(name);
    publish_current(&me);
}

/// Makes the running thread keep its whole x87/SSE state across switches (for threads
/// that run C: XMM and x87 registers live across a blocking system call there). The
/// state it has now is its first saved state.
pub fn keep_fpu_state() {
    let me = current();
    me.fpu.call_once(|| {
        let mut a = Box::new(FpuArea::initial());
        a.save();
        a
    });
}

/// Starts a thread that keeps its whole x87/SSE state from the start, beginning with
/// `state` (a copy of its creator's, say).
pub fn spawn_with_fpu_state<T: Send + 'static>(
    builder: Builder<'_>,
    state: FpuArea,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, SpawnError> {
    let h = builder.spawn(f)?;
    h.inner.fpu.call_once(|| Box::new(state));
    Ok(h)
}

/// The running thread's x87/SSE state now (for a thread created to run the same code).
pub fn fpu_state_now() -> FpuArea {
    let mut a = FpuArea::initial();
    a.save();
    a
}

/// Points the running thread's FS at a TLS block foreign code set up (`base`:
/// `arch_prctl(ARCH_SET_FS)`, `CLONE_SETTLS`): from now on every switch back to this
/// thread loads it. Through an LDT segment when one is free and the base fits, else by
/// `set_segment_base`.
pub fn set_tls_base(base: u64) -> Result<(), xen::XenError> {
    let me = current();
    let seg = tls_segment(base);
    let old = me.foreign_tls.lock().replace((seg, base));
    switch::set_tls(seg.map(|(_, sel)| sel), base)?;
    if let Some((Some((index, _)), _)) = old {
        free_ldt_entry(index);
    }
    Ok(())
}

/// True when thread TLS blocks are made current with LDT selectors (no hypercall per
/// switch); false when every switch uses `set_segment_base`.
pub fn tls_by_selector() -> bool {
    LDT_READY.load(Ordering::Relaxed) && current().ldt.is_some()
}

/// Context switches so far.
pub fn switches() -> u64 {
    SCHED.lock().switches
}

/// Threads alive (not yet exited).
pub fn live_threads() -> usize {
    SCHED.lock().live
}

/// Leaves the CPU in state `new_state` and returns when this thread is chosen again.
fn switch_away(new_state: State) {
    {
        let mut s = SCHED.lock();
        #[expect(clippy::expect_used, reason = "threads exist from boot on")]
        let me = s.current.clone().expect("no current thread");
        me.set_state(new_state);
        match new_state {
            State::Runnable => s.runq.push_back(me),
            State::Exited => {
                s.live -= 1;
                s.threads.remove(&me.id);
                s.zombies.push(me);
            }
            State::Blocked | State::Running => {}
        }
    }
    loop {
        crate::event::dispatch();
        let now = crate::time::now_ns();
        let mut s = SCHED.lock();
        while let Some(entry) = s.sleepers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let t = entry.remove();
            // A timed wait may have been ended by `wake` already: then it is queued.
            if t.state() == State::Blocked {
                t.set_state(State::Runnable);
                s.runq.push_back(t);
            }
        }
        if let Some(next) = s.runq.pop_front() {
            #[expect(clippy::expect_used, reason = "threads exist from boot on")]
            let me = s.current.clone().expect("no current thread");
            next.set_state(State::Running);
            // The running thread yielded (or another runs now): the stall clock restarts.
            crate::watchdog::switched(now);
            if Arc::ptr_eq(&next, &me) {
                return;
            }
            crate::trace::record_at(now, crate::trace::Kind::Switch, me.id, [me.id, next.id, 0]);
            let save = me.rsp.as_ptr();
            let load = next.rsp.load(Ordering::Relaxed);
            let my_fpu = me.fpu_area();
            let (tls_sel, tls_base) = next.tls();
            publish_current(&next);
            s.current = Some(next);
            s.switches += 1;
            // The zombie list (or a wait queue, or the run queue) keeps `me` alive; no
            // reference to it may stay on this stack, which may be freed while we are away.
            drop(me);
            drop(s);
            if let Err(e) = switch::set_tls(tls_sel, tls_base) {
                // The next thread would run on another thread's TLS block: stop here, with
                // a crash report, rather than corrupt it.
                panic!("switching TLS: set_segment_base(FS, {tls_base:#x}) failed: {e}");
            }
            if let Some(a) = my_fpu {
                // SAFETY: the area lives in this thread's ThreadInner, which the scheduler
                // keeps alive while the thread exists; only this thread touches it.
                unsafe { (*a).save() };
            }
            // SAFETY: `save` points into the current thread's ThreadInner, kept alive by the
            // scheduler until this thread runs again or is reaped (after it switched away);
            // `load` is the RSP the next thread saved when it switched out, or its initial
            // frame, and it has not been resumed since (it was in the run queue).
            unsafe { switch::switch(save, load) };
            if let Some(a) = my_fpu {
                // SAFETY: as above: this thread runs again, its ThreadInner is alive.
                unsafe { (*a).restore() };
            }
            reap();
            return;
        }
        let deadline = s.sleepers.first_key_value().map(|((d, _), _)| *d);
        drop(s);
        idle(deadline);
    }
}

/// Nothing can run: sleep in Xen until an event or the next deadline.
fn idle(deadline: Option<u64>) {
    use crate::arch::x86_64::events::{mask_upcalls, restore_upcalls};
    // With upcalls masked, an event arriving from here on keeps evtchn_upcall_pending set,
    // and SCHEDOP_block returns at once for it (sched.h): no lost wakeup.
    let prev = mask_upcalls();
    if crate::event::pending() || deadline.is_some_and(|d| d <= crate::time::now_ns()) {
        restore_upcalls(prev);
        return;
    }
    let now = crate::time::now_ns();
    crate::watchdog::idle();
    crate::time::set_timer(
        crate::time::earliest(deadline, crate::watchdog::deadline(now, false)).unwrap_or(0),
    );
    arch::sched_block();
    // Leaving idle: a thread will run; arm the timer for the stall check too. The vCPU
    // counts as running from here, so the upcall that comes once upcalls are restored
    // (often at once: the deadline that woke it) arms the next check in its turn.
    let now = crate::time::now_ns();
    crate::watchdog::woke(now);
    if let Some(w) = crate::watchdog::deadline(now, true) {
        crate::time::set_timer(crate::time::earliest(deadline, Some(w)).unwrap_or(w));
    }
    restore_upcalls(prev);
}
