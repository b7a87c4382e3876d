//! Blocking synchronisation for cooperative threads: wait queues, a mutex and a condvar.
//!
//! With one vCPU and no preemption, "check the condition, then join the wait queue" is
//! atomic as long as nothing in between yields, which is what makes these simple.
//!
//! Only [`WaitQueue::wait_interruptible`] (and `sched::sleep_until_interruptible`) can be
//! ended by `sched::interrupt`; the mutex, the condvar, [`Event`] and the plain waits are
//! never woken by it, so their callers see only the wakes they wait for.

extern crate alloc;

use super::imp::{
    ThreadInner, block, block_interruptible, block_until, current, interrupt_flag, wake,
};
use alloc::collections::VecDeque;
use alloc::sync::Arc;

/// How an interruptible wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// A [`WaitQueue::wake_one`]/[`WaitQueue::wake_all`] took the thread off the queue
    /// (also when an interrupt or the deadline came at the same time: no wake is lost;
    /// the interrupt flag stays set for the next wait).
    Woken,
    /// The deadline passed.
    TimedOut,
    /// The thread's interrupt flag was set, before the wait or during it
    /// (`sched::interrupt`); the flag stays set until the thread clears it.
    Interrupted,
}

/// Threads waiting for something.
pub struct WaitQueue {
    waiters: spin::Mutex<VecDeque<Arc<ThreadInner>>>,
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        WaitQueue {
            waiters: spin::Mutex::new(VecDeque::new()),
        }
    }

    /// Blocks the running thread until [`wake_one`](Self::wake_one)/[`wake_all`](Self::wake_all).
    pub fn wait(&self) {
        self.waiters.lock().push_back(current());
        block();
    }

    /// Blocks the running thread until it is woken or the monotonic clock reaches
    /// `deadline` (ns). Returns true when it was woken (a wake that raced with the
    /// deadline counts as one, so no wake is lost), false when the time ran out.
    pub fn wait_until(&self, deadline: u64) -> bool {
        let me = current();
        self.waiters.lock().push_back(me.clone());
        block_until(deadline);
        let mut waiters = self.waiters.lock();
        let before = waiters.len();
        waiters.retain(|t| !Arc::ptr_eq(t, &me));
        waiters.len() == before
    }

    /// Blocks the running thread until it is woken, interrupted (`sched::interrupt`), or
    /// the monotonic clock reaches `deadline` (ns; `None`: no limit). Returns at once with
    /// `Interrupted` if the thread's interrupt flag is already set. On return the thread is
    /// off the queue, so a later wake goes to a thread that still waits.
    pub fn wait_interruptible(&self, deadline: Option<u64>) -> WaitResult {
        let me = current();
        if interrupt_flag(&me) {
            return WaitResult::Interrupted;
        }
        // Nothing yields between the check above and blocking below (one vCPU, no
        // preemption): an interrupt from now on finds the thread blocked interruptibly.
        self.waiters.lock().push_back(me.clone());
        block_interruptible(&me, deadline);
        let mut waiters = self.waiters.lock();
        let before = waiters.len();
        waiters.retain(|t| !Arc::ptr_eq(t, &me));
        if waiters.len() == before {
            // Not on the queue any more: a wake took it off.
            WaitResult::Woken
        } else if interrupt_flag(&me) {
            WaitResult::Interrupted
        } else {
            WaitResult::TimedOut
        }
    }

    /// Wakes the longest waiter; false if none.
    pub fn wake_one(&self) -> bool {
        let t = self.waiters.lock().pop_front();
        match t {
            Some(t) => {
                wake(t);
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter; returns how many.
    pub fn wake_all(&self) -> usize {
        let all = core::mem::take(&mut *self.waiters.lock());
        let n = all.len();
        for t in all {
            wake(t);
        }
        n
    }
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

/// Threads waiting on objects of several kinds at once (a `poll` over sockets and pipes):
/// every change in any object's readiness wakes them all, and each looks again. The
/// network service wakes it after every round, like its own waiters; other objects (pipes,
/// eventfds) wake it when they change. Join it only after looking, with nothing yielding in
/// between, and no change is missed.
pub static READINESS: WaitQueue = WaitQueue::new();

/// A flag that one side sets (an event handler, another thread) and a thread waits for:
/// a set that comes while nobody waits is kept, so no wakeup is lost between "I found
/// nothing to do" and "I block".
pub struct Event {
    set: core::sync::atomic::AtomicBool,
    waiters: WaitQueue,
}

impl Event {
    /// A clear event.
    pub const fn new() -> Self {
        Event {
            set: core::sync::atomic::AtomicBool::new(false),
            waiters: WaitQueue::new(),
        }
    }

    /// Sets the flag and wakes the waiters. Safe from event handlers (it never blocks).
    pub fn set(&self) {
        self.set.store(true, core::sync::atomic::Ordering::SeqCst);
        self.waiters.wake_all();
    }

    /// Waits until the flag is set or the monotonic clock reaches `deadline` (ns; `None`:
    /// no limit), then clears it. Returns whether it was set.
    pub fn wait_until(&self, deadline: Option<u64>) -> bool {
        use core::sync::atomic::Ordering;
        if !self.set.swap(false, Ordering::SeqCst) {
            // Nothing yields between the check above and joining the queue below (one
            // vCPU, no preemption): a `set` from now on finds us waiting.
            match deadline {
                Some(d) => {
                    self.waiters.wait_until(d);
                }
                None => self.waiters.wait(),
            }
            return self.set.swap(false, Ordering::SeqCst);
        }
        true
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

/// A mutex whose waiters block (other threads run meanwhile).
pub struct Mutex<T> {
    data: spin::Mutex<T>,
    waiters: WaitQueue,
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
pub struct MutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Mutex {
            data: spin::Mutex::new(value),
            waiters: WaitQueue::new(),
        }
    }

    /// Locks, blocking while another thread holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        loop {
            if let Some(g) = self.data.try_lock() {
                return MutexGuard {
                    guard: Some(g),
                    mutex: self,
                };
            }
            self.waiters.wait();
        }
    }

    /// Locks if free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.data.try_lock().map(|g| MutexGuard {
            guard: Some(g),
            mutex: self,
        })
    }
}

impl<T> core::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        #[expect(clippy::expect_used, reason = "the guard is only None inside drop")]
        self.guard.as_ref().expect("guard used after unlock")
    }
}

impl<T> core::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        #[expect(clippy::expect_used, reason = "the guard is only None inside drop")]
        self.guard.as_mut().expect("guard used after unlock")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.guard.take();
        self.mutex.waiters.wake_one();
    }
}

/// A condition variable for [`Mutex`].
pub struct Condvar {
    waiters: WaitQueue,
}

impl Condvar {
    /// A new condvar.
    pub const fn new() -> Self {
        Condvar {
            waiters: WaitQueue::new(),
        }
    }

    /// Unlocks `guard`, waits for a notification, and locks again.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        drop(guard);
        self.waiters.wait();
        mutex.lock()
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        self.waiters.wake_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.waiters.wake_all();
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}
