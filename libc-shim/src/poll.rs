//! Waiting on descriptors: `poll`, `ppoll`, `select`, `pselect6` and `epoll`, over
//! objects of every kind.
//!
//! Each object says what it is ready for ([`FileObject::poll`]): bits known now (pipes,
//! files, devices) or a socket of the network service, whose readiness the service
//! reports. A wait looks at all of them, and if nothing is ready joins
//! [`kernel::sched::sync::READINESS`] with nothing yielding in between; every change
//! (a network round, a pipe written) wakes it to look again. A wait that finds something
//! ready at once still yields, so a program polling in a loop lets the network run.
//!
//! Epoll registrations belong to the open file description: the set holds it by weak
//! reference, so the registration ends with the description's last close, as on Linux.
//! `EPOLLET` reports a registration when its readiness rose, or when the program did I/O
//! on it since the last report (so a program that read to `EAGAIN` hears of the next
//! data); a ready registration nobody touched is not reported again, so an edge-triggered
//! event loop blocks instead of spinning. `EPOLLONESHOT` disables it after one report.

use crate::errno::Errno;
use crate::fd::{self, Description, FileObject, Readiness, pollbits};
use crate::stat::StatInfo;
use crate::user;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use kernel::net::{self, PollEntry, ready};
use kernel::sched::sync::{READINESS, WaitResult};

type R = Result<i64, Errno>;

/// `EPOLLRDHUP`.
const EPOLLRDHUP: u32 = 0x2000;
/// `EPOLLONESHOT`.
const EPOLLONESHOT: u32 = 1 << 30;
/// `EPOLLET`.
const EPOLLET: u32 = 1 << 31;

/// The `poll` bits a socket's readiness means.
fn net_bits(r: u8) -> u16 {
    let mut e = 0;
    if r & ready::READ != 0 {
        e |= pollbits::IN | pollbits::RDNORM;
    }
    if r & ready::WRITE != 0 {
        e |= pollbits::OUT | pollbits::WRNORM;
    }
    if r & ready::HUP != 0 {
        e |= pollbits::HUP | pollbits::RDHUP;
    }
    if r & ready::ERR != 0 {
        e |= pollbits::ERR;
    }
    e
}

/// What is ready of `events` (plus `ERR`, `HUP`) on objects whose readiness is `r`,
/// looking at the network once without waiting.
pub(crate) fn ready_now(r: Readiness, events: u16) -> u16 {
    look(&[Some((r, events))]).first().copied().unwrap_or(0)
}

/// One look at each entry (`None`: not an open descriptor, reported as `NVAL`).
fn look(entries: &[Option<(Readiness, u16)>]) -> Vec<u16> {
    let mut out = alloc::vec![0u16; entries.len()];
    let mut socks = Vec::new();
    let mut which = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(slot) = out.get_mut(i) else { continue };
        match e {
            None => *slot = pollbits::NVAL,
            Some((r, events)) => {
                let always = pollbits::ERR | pollbits::HUP;
                *slot = r.now & (events | always);
                if let Some(id) = r.net {
                    let mut interest = 0;
                    if events & (pollbits::IN | pollbits::RDNORM) != 0 {
                        interest |= ready::READ;
                    }
                    if events & (pollbits::OUT | pollbits::WRNORM) != 0 {
                        interest |= ready::WRITE;
                    }
                    socks.push(PollEntry::new(id, interest));
                    which.push(i);
                }
            }
        }
    }
    if !socks.is_empty() {
        // A socket exists only once the network is up; a look never waits.
        if net::poll(&mut socks, Some(0)).is_err() {
            for p in &mut socks {
                p.ready = ready::ERR;
            }
        }
        for (p, &i) in socks.iter().zip(&which) {
            let events = entries.get(i).and_then(|e| e.as_ref()).map_or(0, |e| e.1);
            if let Some(slot) = out.get_mut(i) {
                *slot |= net_bits(p.ready) & (events | pollbits::ERR | pollbits::HUP);
            }
        }
    }
    out
}

/// Waits until `f` (one look at everything) finds something, or `deadline` (ns of
/// monotonic time; `None`: for ever) passes; returns the last look.
fn wait_for<T>(
    deadline: Option<u64>,
    mut f: impl FnMut() -> Result<Option<T>, Errno>,
) -> Result<Option<T>, Errno> {
    let mut first = true;
    loop {
        if let Some(v) = f()? {
            if first {
                // Found at once: let the network (and the other threads) have a turn,
                // so a program that polls in a loop does not starve them.
                kernel::sched::yield_now();
            }
            return Ok(Some(v));
        }
        first = false;
        match deadline {
            Some(d) if kernel::time::now_ns() >= d => return Ok(None),
            // Nothing yielded since the look above: a change from now on wakes us; a
            // signal ends the wait (EINTR).
            d => {
                if READINESS.wait_interruptible(d) == WaitResult::Interrupted {
                    return Err(Errno::EINTR);
                }
            }
        }
    }
}

/// Milliseconds (negative: for ever) as a deadline.
fn ms_deadline(ms: i32) -> Option<u64> {
    (ms >= 0).then(|| kernel::time::now_ns().saturating_add((ms as u64).saturating_mul(1_000_000)))
}

/// A `struct timespec` timeout at `ts` (null: for ever) as a deadline.
pub(crate) fn ts_deadline(ts: u64) -> Result<Option<u64>, Errno> {
    if ts == 0 {
        return Ok(None);
    }
    let ns = user::read_timespec_ns(ts)?;
    Ok(Some(kernel::time::now_ns().saturating_add(ns)))
}

fn poll_with(fds: u64, n: u64, deadline: Option<u64>) -> R {
    if n > u64::from(fd::limit()) {
        return Err(Errno::EINVAL);
    }
    let mut list = Vec::new();
    list.try_reserve_exact(n as usize)
        .map_err(|_| Errno::ENOMEM)?;
    for i in 0..n {
        let b: [u8; 8] = user::read_array(fds + i * 8)?;
        list.push((
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
        ));
    }
    // A negative descriptor is skipped (revents 0), as POSIX says; a closed one is NVAL.
    let entries: Vec<Option<(i32, Arc<Description>, u16)>> = list
        .iter()
        .map(|&(f, ev)| {
            (f >= 0)
                .then(|| fd::get(f as u64).ok().map(|d| (f, d, ev)))
                .flatten()
        })
        .collect();
    let found = wait_for(deadline, || {
        let looks: Vec<Option<(Readiness, u16)>> = list
            .iter()
            .zip(&entries)
            .map(|(&(f, _), e)| match e {
                Some((_, d, ev)) => Some((d.object.poll(), *ev)),
                None if f < 0 => Some((Readiness::default(), 0)),
                None => None,
            })
            .collect();
        let out = look(&looks);
        Ok(out.iter().any(|&r| r != 0).then_some(out))
    })?;
    let out = found.unwrap_or_else(|| alloc::vec![0; list.len()]);
    let mut count = 0;
    for (i, r) in out.iter().enumerate() {
        user::write(fds + i as u64 * 8 + 6, &r.to_le_bytes())?;
        if *r != 0 {
            count += 1;
        }
    }
    Ok(count)
}

pub(crate) fn poll(fds: u64, n: u64, timeout_ms: u64) -> R {
    poll_with(fds, n, ms_deadline(timeout_ms as i32))
}

pub(crate) fn ppoll(fds: u64, n: u64, ts: u64) -> R {
    poll_with(fds, n, ts_deadline(ts)?)
}

/// `select`/`pselect6` over fd_sets (bitmaps of `nfds` bits).
fn select(nfds: u64, rd: u64, wr: u64, ex: u64, deadline: Option<u64>) -> R {
    let nfds = i32::try_from(nfds as i64).map_err(|_| Errno::EINVAL)?;
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let nfds = (nfds as u64).min(u64::from(fd::limit()));
    let words = nfds.div_ceil(64) as usize;
    let read_set = |p: u64| -> Result<Vec<u64>, Errno> {
        (0..words)
            .map(|i| {
                if p == 0 {
                    Ok(0)
                } else {
                    user::read_u64(p + i as u64 * 8)
                }
            })
            .collect()
    };
    let (r, w, x) = (read_set(rd)?, read_set(wr)?, read_set(ex)?);
    let bit = |s: &[u64], f: u64| {
        s.get((f / 64) as usize)
            .is_some_and(|v| v & (1 << (f % 64)) != 0)
    };
    let mut list = Vec::new();
    for f in 0..nfds {
        let ev = if bit(&r, f) { pollbits::IN } else { 0 }
            | if bit(&w, f) { pollbits::OUT } else { 0 }
            | if bit(&x, f) { pollbits::PRI } else { 0 };
        if ev != 0 {
            // A descriptor in a set that is not open: EBADF, as on Linux.
            list.push((f, fd::get(f)?, ev));
        }
    }
    let found = wait_for(deadline, || {
        let looks: Vec<Option<(Readiness, u16)>> = list
            .iter()
            .map(|(_, d, ev)| Some((d.object.poll(), *ev)))
            .collect();
        let out = look(&looks);
        let hit = list.iter().zip(&out).any(|((_, _, ev), &rv)| {
            rv & (pollbits::IN | pollbits::HUP | pollbits::ERR) != 0 && ev & pollbits::IN != 0
                || rv & (pollbits::OUT | pollbits::ERR) != 0 && ev & pollbits::OUT != 0
                || rv & pollbits::PRI != 0
        });
        Ok(hit.then_some(out))
    })?;
    let out = found.unwrap_or_else(|| alloc::vec![0; list.len()]);
    let (mut ro, mut wo, mut xo) = (
        alloc::vec![0u64; words],
        alloc::vec![0u64; words],
        alloc::vec![0u64; words],
    );
    let mut count = 0;
    for ((f, _, ev), &rv) in list.iter().zip(&out) {
        let (i, b) = ((f / 64) as usize, 1u64 << (f % 64));
        let mut set = |s: &mut Vec<u64>| {
            if let Some(v) = s.get_mut(i) {
                *v |= b;
            }
            count += 1;
        };
        if rv & (pollbits::IN | pollbits::HUP | pollbits::ERR) != 0 && ev & pollbits::IN != 0 {
            set(&mut ro);
        }
        if rv & (pollbits::OUT | pollbits::ERR) != 0 && ev & pollbits::OUT != 0 {
            set(&mut wo);
        }
        if rv & pollbits::PRI != 0 && ev & pollbits::PRI != 0 {
            set(&mut xo);
        }
    }
    for (p, s) in [(rd, &ro), (wr, &wo), (ex, &xo)] {
        if p != 0 {
            for (i, v) in s.iter().enumerate() {
                user::write_u64(p + i as u64 * 8, *v)?;
            }
        }
    }
    Ok(count)
}

pub(crate) fn select_timeval(nfds: u64, rd: u64, wr: u64, ex: u64, tv: u64) -> R {
    let deadline = if tv == 0 {
        None
    } else {
        Some(kernel::time::now_ns().saturating_add(user::read_timeval_ns(tv)?))
    };
    select(nfds, rd, wr, ex, deadline)
}

pub(crate) fn pselect(nfds: u64, rd: u64, wr: u64, ex: u64, ts: u64) -> R {
    select(nfds, rd, wr, ex, ts_deadline(ts)?)
}

/// One registration of an epoll set.
struct Reg {
    /// The description, while it lives.
    desc: Weak<Description>,
    /// `EPOLL*` events and flags asked for.
    events: u32,
    /// What `epoll_wait` hands back.
    data: u64,
    /// Bits reported last (for `EPOLLET`).
    last: u16,
    /// The description's I/O count at the last report (for `EPOLLET`).
    seq: u64,
    /// Disabled by `EPOLLONESHOT` until `EPOLL_CTL_MOD`.
    disabled: bool,
}

/// An epoll set: registrations keyed by (descriptor, description id).
pub(crate) struct Epoll {
    regs: spin::Mutex<BTreeMap<(i32, u64), Reg>>,
}

impl FileObject for Epoll {
    fn poll(&self) -> Readiness {
        // An epoll set inside another: ready when one of its registrations is, which
        // needs a look at the network; not supported (no program here nests them).
        Readiness::default()
    }

    fn stat(&self) -> Result<StatInfo, Errno> {
        Ok(StatInfo::anonymous(0, 0o600, 0, crate::dev::now()))
    }

    fn as_epoll(&self) -> Option<&Epoll> {
        Some(self)
    }
}

pub(crate) fn epoll_create(flags: u64) -> R {
    const EPOLL_CLOEXEC: u64 = 0o2000000;
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let ep = Arc::new(Epoll {
        regs: spin::Mutex::new(BTreeMap::new()),
    });
    let f = fd::oflag::RDWR
        | if flags & EPOLL_CLOEXEC != 0 {
            fd::oflag::CLOEXEC
        } else {
            0
        };
    Ok(i64::from(fd::open_object(ep, f)?))
}

pub(crate) fn epoll_ctl(epfd: u64, op: u64, fdn: u64, ev: u64) -> R {
    const ADD: u64 = 1;
    const DEL: u64 = 2;
    const MOD: u64 = 3;
    let e = fd::get_open(epfd)?;
    let ep = e.object.as_epoll().ok_or(Errno::EINVAL)?;
    let target = fd::get_open(fdn)?;
    if Arc::ptr_eq(&e, &target) {
        return Err(Errno::EINVAL);
    }
    if target.object.as_epoll().is_some()
        || target
            .object
            .as_node()
            .is_some_and(|n| n.is_regular_or_dir())
    {
        // Linux: regular files and directories cannot be watched (EPERM); nesting is
        // not supported here.
        return Err(Errno::EPERM);
    }
    let key = (fdn as i32, target.id);
    let mut regs = ep.regs.lock();
    // Registrations whose description is gone leave first.
    regs.retain(|_, r| r.desc.strong_count() > 0);
    match op {
        ADD | MOD => {
            let b: [u8; 12] = user::read_array(ev)?;
            let events = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let mut d = [0u8; 8];
            d.copy_from_slice(&b[4..12]);
            if op == ADD && regs.contains_key(&key) {
                return Err(Errno::EEXIST);
            }
            if op == MOD && !regs.contains_key(&key) {
                return Err(Errno::ENOENT);
            }
            regs.insert(
                key,
                Reg {
                    desc: Arc::downgrade(&target),
                    events,
                    data: u64::from_le_bytes(d),
                    last: 0,
                    seq: target.io_seq(),
                    disabled: false,
                },
            );
        }
        DEL => {
            regs.remove(&key).ok_or(Errno::ENOENT)?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

pub(crate) fn epoll_wait(epfd: u64, events: u64, max: u64, deadline: Option<u64>) -> R {
    let e = fd::get_open(epfd)?;
    let ep = e.object.as_epoll().ok_or(Errno::EINVAL)?;
    let max = usize::try_from(max as i32).map_err(|_| Errno::EINVAL)?;
    if max == 0 || max > 65536 {
        return Err(Errno::EINVAL);
    }
    user::check(events, max * 12)?;
    let found = wait_for(deadline, || {
        // The live registrations, with their descriptions held for this look.
        let list: Vec<((i32, u64), Arc<Description>, u32)> = {
            let mut regs = ep.regs.lock();
            regs.retain(|_, r| r.desc.strong_count() > 0);
            regs.iter()
                .filter(|(_, r)| !r.disabled)
                .filter_map(|(k, r)| Some((*k, r.desc.upgrade()?, r.events)))
                .collect()
        };
        let looks: Vec<Option<(Readiness, u16)>> = list
            .iter()
            .map(|(_, d, ev)| {
                let mut want = (*ev & 0xffff) as u16;
                if *ev & EPOLLRDHUP != 0 {
                    want |= pollbits::RDHUP;
                }
                Some((d.object.poll(), want))
            })
            .collect();
        let out = look(&looks);
        let mut report = Vec::new();
        let mut regs = ep.regs.lock();
        for ((key, d, ev), bits) in list.iter().zip(out) {
            let Some(r) = regs.get_mut(key) else { continue };
            // Bits that fell are forgotten, so their next rise is an edge.
            r.last &= bits;
            if bits == 0 || report.len() == max {
                continue;
            }
            let seq = d.io_seq();
            if *ev & EPOLLET != 0 && bits & !r.last == 0 && seq == r.seq {
                continue;
            }
            r.last = bits;
            r.seq = seq;
            if *ev & EPOLLONESHOT != 0 {
                r.disabled = true;
            }
            report.push((u32::from(bits), r.data));
        }
        Ok((!report.is_empty()).then_some(report))
    })?;
    let report = found.unwrap_or_default();
    for (i, (bits, data)) in report.iter().enumerate() {
        let mut rec = [0u8; 12];
        rec[0..4].copy_from_slice(&bits.to_le_bytes());
        rec[4..12].copy_from_slice(&data.to_le_bytes());
        user::write(events + i as u64 * 12, &rec)?;
    }
    Ok(report.len() as i64)
}

pub(crate) fn epoll_wait_ms(epfd: u64, events: u64, max: u64, timeout_ms: u64) -> R {
    epoll_wait(epfd, events, max, ms_deadline(timeout_ms as i32))
}

pub(crate) fn epoll_pwait2(epfd: u64, events: u64, max: u64, ts: u64) -> R {
    epoll_wait(epfd, events, max, ts_deadline(ts)?)
}
