//! The process as the program sees it: resource limits (`getrlimit`, `setrlimit`,
//! `prlimit64`), `sysinfo`, `getrusage`, `times`, `sched_getaffinity`, with true figures
//! from the kernel.
//!
//! Limits are kept per resource and reported back as set; `RLIMIT_NOFILE` is the
//! descriptor table's real size and `RLIMIT_STACK` the first thread's real stack. The
//! others are not enforced (there is one program and nothing to share with), which their
//! value (infinity unless the program lowered it) says.

use crate::errno::Errno;
use crate::fd;
use crate::user;

type R = Result<i64, Errno>;

/// `RLIM_INFINITY`.
const INF: u64 = u64::MAX;
/// `RLIMIT_STACK`.
const RLIMIT_STACK: usize = 3;
/// `RLIMIT_CORE`.
const RLIMIT_CORE: usize = 4;
/// `RLIMIT_NOFILE`.
const RLIMIT_NOFILE: usize = 7;
/// `RLIMIT_MEMLOCK`.
const RLIMIT_MEMLOCK: usize = 8;
/// `RLIMIT_NLIMITS`.
const NLIMITS: usize = 16;

/// (soft, hard) of each resource other than `RLIMIT_NOFILE` (kept by the descriptor
/// table).
static LIMITS: spin::Mutex<[(u64, u64); NLIMITS]> = spin::Mutex::new({
    let mut l = [(INF, INF); NLIMITS];
    l[RLIMIT_CORE] = (0, INF);
    l[RLIMIT_MEMLOCK] = (8 << 20, 8 << 20);
    l
});

/// Sets the first thread's stack size, as `RLIMIT_STACK` reports it.
pub(crate) fn set_stack_size(bytes: u64) {
    LIMITS.lock()[RLIMIT_STACK] = (bytes, INF);
}

fn get(res: usize) -> Result<(u64, u64), Errno> {
    if res == RLIMIT_NOFILE {
        return Ok((u64::from(fd::limit()), u64::from(fd::NOFILE_MAX)));
    }
    LIMITS.lock().get(res).copied().ok_or(Errno::EINVAL)
}

fn set(res: usize, soft: u64, hard: u64) -> Result<(), Errno> {
    if soft > hard {
        return Err(Errno::EINVAL);
    }
    if res == RLIMIT_NOFILE {
        if hard > u64::from(fd::NOFILE_MAX) {
            return Err(Errno::EPERM);
        }
        return fd::set_limit(soft);
    }
    let mut l = LIMITS.lock();
    let slot = l.get_mut(res).ok_or(Errno::EINVAL)?;
    // Root may raise a hard limit; nothing here stops it.
    *slot = (soft, hard);
    Ok(())
}

/// `prlimit64(pid, resource, new, old)` (and `getrlimit`, `setrlimit`).
pub(crate) fn prlimit64(pid: u64, res: u64, new: u64, old: u64) -> R {
    if pid != 0 && pid != u64::from(crate::file::PID) {
        return Err(Errno::ESRCH);
    }
    let res = usize::try_from(res).map_err(|_| Errno::EINVAL)?;
    let before = get(res)?;
    if new != 0 {
        let (s, h) = (user::read_u64(new)?, user::read_u64(new + 8)?);
        set(res, s, h)?;
    }
    if old != 0 {
        user::write_u64(old, before.0)?;
        user::write_u64(old + 8, before.1)?;
    }
    Ok(0)
}

pub(crate) fn getrlimit(res: u64, out: u64) -> R {
    prlimit64(0, res, 0, out)
}

pub(crate) fn setrlimit(res: u64, new: u64) -> R {
    prlimit64(0, res, new, 0)
}

/// Time the vCPU ran, ns: the program's CPU time (`getrusage`, `times`, the CPU-time
/// clocks, `/proc`).
pub(crate) fn cpu_ns() -> u64 {
    kernel::time::runstate().map_or(kernel::time::run_clock_ns(), |r| r.running)
}

/// Pages of the domain not free: what the program holds, as its resident size reports
/// (`getrusage`, `/proc/self/stat`, `/proc/self/status`).
pub(crate) fn used_pages() -> u64 {
    kernel::mem_info()
        .nr_pages
        .saturating_sub(kernel::mm::frame_usage().free as u64)
}

/// `sysinfo(info)`: uptime, memory (total, free) and the thread count.
pub(crate) fn sysinfo(info: u64) -> R {
    let mi = kernel::mem_info();
    let fu = kernel::mm::frame_usage();
    let mut b = [0u8; 112];
    let put = |b: &mut [u8; 112], at: usize, v: u64| {
        if let Some(d) = b.get_mut(at..at + 8) {
            d.copy_from_slice(&v.to_le_bytes());
        }
    };
    put(&mut b, 0, kernel::time::now_ns() / 1_000_000_000);
    put(&mut b, 32, mi.nr_pages * 4096);
    put(&mut b, 40, fu.free as u64 * 4096);
    let procs = u16::try_from(kernel::sched::live_threads()).unwrap_or(u16::MAX);
    b[80..82].copy_from_slice(&procs.to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    user::write(info, &b)?;
    Ok(0)
}

/// `getrusage(who, usage)`: the vCPU's running time as user time, the memory in use as
/// the largest resident size, the scheduler's switches as voluntary ones.
pub(crate) fn getrusage(who: u64, usage: u64) -> R {
    const SELF: i64 = 0;
    const CHILDREN: i64 = -1;
    const THREAD: i64 = 1;
    let who = who as i64;
    if ![SELF, CHILDREN, THREAD].contains(&who) {
        return Err(Errno::EINVAL);
    }
    let mut b = [0u8; 144];
    if who != CHILDREN {
        let ns = cpu_ns();
        b[0..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
        b[8..16].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
        b[32..40].copy_from_slice(&(used_pages() * 4).to_le_bytes());
        // ru_nvcsw: the 13th long after the two timevals.
        b[32 + 12 * 8..32 + 13 * 8].copy_from_slice(&kernel::sched::switches().to_le_bytes());
    }
    user::write(usage, &b)?;
    Ok(0)
}

/// `times(buf)`: ticks (100 a second) since boot; the vCPU's running time as user time.
pub(crate) fn times(buf: u64) -> R {
    let ticks = |ns: u64| ns / 10_000_000;
    if buf != 0 {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&ticks(cpu_ns()).to_le_bytes());
        user::write(buf, &b)?;
    }
    Ok(ticks(kernel::time::now_ns()) as i64)
}

/// `sched_getaffinity(pid, len, mask)`: one CPU.
pub(crate) fn sched_getaffinity(pid: u64, len: u64, mask: u64) -> R {
    if pid != 0 && pid != u64::from(crate::file::PID) && pid != crate::thread::tid() {
        return Err(Errno::ESRCH);
    }
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    user::write_u64(mask, 1)?;
    Ok(8)
}

/// `sched_setaffinity(pid, len, mask)`: CPU 0 must be in the mask.
pub(crate) fn sched_setaffinity(_pid: u64, len: u64, mask: u64) -> R {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let first: [u8; 1] = user::read_array(mask)?;
    if first[0] & 1 == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
