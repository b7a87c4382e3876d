//! The system calls: Linux x86_64 numbers, arguments and results, on the kernel's threads,
//! memory, time and console.
//!
//! Files 0, 1 and 2 are the console (reads take a line of console input). Memory comes from the kernel's frame allocator,
//! zero-filled; `brk` never moves (musl then uses `mmap` only, and no memory is claimed
//! that is not mapped). A call this layer does not implement is logged once, with its
//! number and name, and answered `-ENOSYS`.

use crate::errno::Errno;
use crate::nr::{self, num};
use crate::{fd, fs, io, pipe, poll, process, sig, socket, thread, user};
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::syscall::SyscallFrame;

type R = Result<i64, Errno>;

/// `ARCH_SET_FS`.
const ARCH_SET_FS: u64 = 0x1002;
/// `ARCH_GET_FS`.
const ARCH_GET_FS: u64 = 0x1003;
/// `MAP_ANONYMOUS`.
const MAP_ANONYMOUS: u64 = 0x20;
/// `MAP_FIXED`.
const MAP_FIXED: u64 = 0x10;
/// `PROT_EXEC`.
const PROT_EXEC: u64 = 4;
/// `TIMER_ABSTIME` for `clock_nanosleep`.
const TIMER_ABSTIME: u64 = 1;

/// Calls answered ENOSYS that were logged already (one bit per number below 512).
static LOGGED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn not_implemented(nr: u64) -> R {
    let word = usize::try_from(nr / 64).unwrap_or(usize::MAX);
    let first = LOGGED
        .get(word)
        .is_none_or(|w| w.fetch_or(1 << (nr % 64), Ordering::Relaxed) & (1 << (nr % 64)) == 0);
    if first {
        log::warn!(
            "system call {nr} ({}) not implemented: ENOSYS",
            nr::name(nr).unwrap_or("unknown")
        );
    }
    Err(Errno::ENOSYS)
}

/// The kernel's system-call handler (installed by `exec::run`).
pub(crate) fn handle(f: &mut SyscallFrame) -> i64 {
    const AT_FDCWD: u64 = -100i64 as u64;
    let nr = f.nr;
    let r = match nr {
        // Descriptors.
        num::READ => io::read(f.rdi, f.rsi, f.rdx),
        num::WRITE => io::write(f.rdi, f.rsi, f.rdx),
        num::READV => io::readv(f.rdi, f.rsi, f.rdx),
        num::WRITEV => io::writev(f.rdi, f.rsi, f.rdx),
        num::PREAD64 => io::pread64(f.rdi, f.rsi, f.rdx, f.r10),
        num::PWRITE64 => io::pwrite64(f.rdi, f.rsi, f.rdx, f.r10),
        num::PREADV | num::PREADV2 => io::preadv(f.rdi, f.rsi, f.rdx, f.r10),
        num::PWRITEV | num::PWRITEV2 => io::pwritev(f.rdi, f.rsi, f.rdx, f.r10),
        num::LSEEK => io::lseek(f.rdi, f.rsi, f.rdx),
        num::IOCTL => io::ioctl(f.rdi, f.rsi, f.rdx),
        num::FCNTL => io::fcntl(f.rdi, f.rsi, f.rdx),
        num::FLOCK => io::flock(f.rdi, f.rsi),
        num::CLOSE => io::close(f.rdi),
        num::CLOSE_RANGE => io::close_range(f.rdi, f.rsi, f.rdx),
        num::DUP => io::dup(f.rdi),
        num::DUP2 => io::dup2(f.rdi, f.rsi),
        num::DUP3 => io::dup3(f.rdi, f.rsi, f.rdx),
        num::FSYNC => io::fsync(f.rdi, false),
        num::FDATASYNC => io::fsync(f.rdi, true),
        num::SYNC => Ok(0),
        num::SYNCFS => io::fsync(f.rdi, false).or(Ok(0)),
        num::SENDFILE => io::sendfile(f.rdi, f.rsi, f.rdx, f.r10),
        num::COPY_FILE_RANGE => io::copy_file_range(f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9),
        num::FADVISE64 | num::READAHEAD => fd::get_open(f.rdi).map(|_| 0),
        num::PIPE => pipe::pipe2(f.rdi, 0),
        num::PIPE2 => pipe::pipe2(f.rdi, f.rsi),
        num::EVENTFD => pipe::eventfd2(f.rdi, 0),
        num::EVENTFD2 => pipe::eventfd2(f.rdi, f.rsi),
        // Paths.
        num::OPEN => fs::openat(AT_FDCWD, f.rdi, f.rsi, f.rdx),
        num::CREAT => fs::openat(AT_FDCWD, f.rdi, 0o1101, f.rsi),
        num::OPENAT => fs::openat(f.rdi, f.rsi, f.rdx, f.r10),
        num::STAT => fs::newfstatat(AT_FDCWD, f.rdi, f.rsi, 0),
        num::LSTAT => fs::newfstatat(AT_FDCWD, f.rdi, f.rsi, 0x100),
        num::FSTAT => fs::fstat(f.rdi, f.rsi),
        num::NEWFSTATAT => fs::newfstatat(f.rdi, f.rsi, f.rdx, f.r10),
        num::STATX => fs::statx(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::ACCESS => fs::faccessat(AT_FDCWD, f.rdi, f.rsi, 0),
        num::FACCESSAT => fs::faccessat(f.rdi, f.rsi, f.rdx, 0),
        num::FACCESSAT2 => fs::faccessat(f.rdi, f.rsi, f.rdx, f.r10),
        num::GETCWD => fs::getcwd(f.rdi, f.rsi),
        num::CHDIR => fs::chdir(f.rdi),
        num::FCHDIR => fs::fchdir(f.rdi),
        num::MKDIR => fs::mkdirat(AT_FDCWD, f.rdi, f.rsi),
        num::MKDIRAT => fs::mkdirat(f.rdi, f.rsi, f.rdx),
        num::MKNOD => fs::mknodat(AT_FDCWD, f.rdi, f.rsi, f.rdx),
        num::MKNODAT => fs::mknodat(f.rdi, f.rsi, f.rdx, f.r10),
        num::RMDIR => fs::unlinkat(AT_FDCWD, f.rdi, 0x200),
        num::UNLINK => fs::unlinkat(AT_FDCWD, f.rdi, 0),
        num::UNLINKAT => fs::unlinkat(f.rdi, f.rsi, f.rdx),
        num::RENAME => fs::renameat2(AT_FDCWD, f.rdi, AT_FDCWD, f.rsi, 0),
        num::RENAMEAT => fs::renameat2(f.rdi, f.rsi, f.rdx, f.r10, 0),
        num::RENAMEAT2 => fs::renameat2(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::LINK => fs::linkat(AT_FDCWD, f.rdi, AT_FDCWD, f.rsi, 0),
        num::LINKAT => fs::linkat(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::SYMLINK => fs::symlinkat(f.rdi, AT_FDCWD, f.rsi),
        num::SYMLINKAT => fs::symlinkat(f.rdi, f.rsi, f.rdx),
        num::READLINK => fs::readlinkat(AT_FDCWD, f.rdi, f.rsi, f.rdx),
        num::READLINKAT => fs::readlinkat(f.rdi, f.rsi, f.rdx, f.r10),
        num::TRUNCATE => fs::truncate(f.rdi, f.rsi),
        num::FTRUNCATE => fs::ftruncate(f.rdi, f.rsi),
        num::FALLOCATE => fs::fallocate(f.rdi, f.rsi, f.rdx, f.r10),
        num::GETDENTS64 => fs::getdents64(f.rdi, f.rsi, f.rdx),
        num::UMASK => fs::umask(f.rdi),
        num::CHMOD => fs::fchmodat(AT_FDCWD, f.rdi, f.rsi),
        num::FCHMODAT => fs::fchmodat(f.rdi, f.rsi, f.rdx),
        num::FCHMOD => fs::fchmod(f.rdi, f.rsi),
        num::CHOWN => fs::fchownat(AT_FDCWD, f.rdi, f.rsi, f.rdx, 0),
        num::LCHOWN => fs::fchownat(AT_FDCWD, f.rdi, f.rsi, f.rdx, 0x100),
        num::FCHOWN => fs::fchownat(f.rdi, 0, f.rsi, f.rdx, 0),
        num::FCHOWNAT => fs::fchownat(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::UTIMENSAT => fs::utimensat(f.rdi, f.rsi, f.rdx, f.r10),
        num::STATFS => fs::statfs(f.rdi, f.rsi),
        num::FSTATFS => fs::fstatfs(f.rdi, f.rsi),
        // Sockets.
        num::SOCKET => socket::socket(f.rdi, f.rsi, f.rdx),
        num::SOCKETPAIR => socket::socketpair(f.rdi, f.rsi, f.rdx, f.r10),
        num::BIND => socket::bind(f.rdi, f.rsi, f.rdx),
        num::LISTEN => socket::listen(f.rdi, f.rsi),
        num::ACCEPT => socket::accept(f.rdi, f.rsi, f.rdx, 0),
        num::ACCEPT4 => socket::accept(f.rdi, f.rsi, f.rdx, f.r10),
        num::CONNECT => socket::connect(f.rdi, f.rsi, f.rdx),
        num::SENDTO => socket::sendto(f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9),
        num::RECVFROM => socket::recvfrom(f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9),
        num::SENDMSG => socket::sendmsg(f.rdi, f.rsi, f.rdx),
        num::RECVMSG => socket::recvmsg(f.rdi, f.rsi, f.rdx),
        num::SHUTDOWN => socket::shutdown(f.rdi, f.rsi),
        num::SETSOCKOPT => socket::setsockopt(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::GETSOCKOPT => socket::getsockopt(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::GETSOCKNAME => socket::getsockname(f.rdi, f.rsi, f.rdx, false),
        num::GETPEERNAME => socket::getsockname(f.rdi, f.rsi, f.rdx, true),
        // Waiting on descriptors.
        num::POLL => poll::poll(f.rdi, f.rsi, f.rdx),
        num::PPOLL => poll::ppoll(f.rdi, f.rsi, f.rdx),
        num::SELECT => poll::select_timeval(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::PSELECT6 => poll::pselect(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::EPOLL_CREATE => {
            if (f.rdi as i32) <= 0 {
                Err(Errno::EINVAL)
            } else {
                poll::epoll_create(0)
            }
        }
        num::EPOLL_CREATE1 => poll::epoll_create(f.rdi),
        num::EPOLL_CTL => poll::epoll_ctl(f.rdi, f.rsi, f.rdx, f.r10),
        num::EPOLL_WAIT | num::EPOLL_PWAIT => poll::epoll_wait_ms(f.rdi, f.rsi, f.rdx, f.r10),
        num::EPOLL_PWAIT2 => poll::epoll_pwait2(f.rdi, f.rsi, f.rdx, f.r10),
        // The process.
        num::GETRLIMIT => process::getrlimit(f.rdi, f.rsi),
        num::SETRLIMIT => process::setrlimit(f.rdi, f.rsi),
        num::PRLIMIT64 => process::prlimit64(f.rdi, f.rsi, f.rdx, f.r10),
        num::SYSINFO => process::sysinfo(f.rdi),
        num::GETRUSAGE => process::getrusage(f.rdi, f.rsi),
        num::TIMES => process::times(f.rdi),
        num::SCHED_GETAFFINITY => process::sched_getaffinity(f.rdi, f.rsi, f.rdx),
        num::SCHED_SETAFFINITY => process::sched_setaffinity(f.rdi, f.rsi, f.rdx),
        num::ARCH_PRCTL => arch_prctl(f.rdi, f.rsi),
        num::SET_TID_ADDRESS => thread::set_tid_address(f.rdi),
        num::CLONE => thread::clone(f),
        num::FUTEX => thread::futex(f),
        num::PRCTL => thread::prctl(f.rdi, f.rsi),
        num::GETTID => Ok(crate::thread::tid() as i64),
        num::GETPID | num::GETPGRP | num::GETSID => Ok(i64::from(crate::file::PID)),
        num::GETPGID => Ok(i64::from(crate::file::PID)),
        num::GETPPID => Ok(0),
        num::GETUID | num::GETEUID | num::GETGID | num::GETEGID => Ok(0),
        num::GETRESUID | num::GETRESGID => getres(f.rdi, f.rsi, f.rdx),
        num::GETGROUPS => Ok(0),
        num::SETUID | num::SETGID | num::SETGROUPS | num::SETSID | num::SETPGID => Ok(0),
        num::SETRESUID | num::SETRESGID | num::SETREUID | num::SETREGID => Ok(0),
        num::EXIT => thread::exit_thread(f.rdi),
        num::EXIT_GROUP => exit_program(f.rdi),
        num::BRK => Ok(0),
        num::MMAP => mmap(f.rdi, f.rsi, f.rdx, f.r10, f.r8),
        num::MUNMAP => munmap(f.rdi, f.rsi),
        num::MPROTECT => mprotect(f.rdx),
        num::MADVISE => Ok(0),
        num::MREMAP => Err(Errno::ENOMEM),
        num::RT_SIGPROCMASK => sig::rt_sigprocmask(f.rdi, f.rsi, f.rdx, f.r10),
        num::RT_SIGACTION => sig::rt_sigaction(f.rdi, f.rsi, f.rdx, f.r10),
        num::RT_SIGPENDING => sig::rt_sigpending(f.rdi, f.rsi),
        num::RT_SIGSUSPEND => sig::rt_sigsuspend(f.rdi, f.rsi),
        num::RT_SIGTIMEDWAIT => sig::rt_sigtimedwait(f.rdi, f.rsi, f.rdx, f.r10),
        num::RT_SIGRETURN => sig::rt_sigreturn(f),
        num::PAUSE => sig::pause(),
        num::KILL => sig::kill(f.rdi, f.rsi),
        num::TKILL => sig::tgkill(-1, f.rdi, f.rsi),
        num::TGKILL => sig::tgkill(f.rdi as i32 as i64, f.rsi, f.rdx),
        num::SIGALTSTACK => sig::sigaltstack(f.rdi, f.rsi),
        num::ALARM => sig::alarm(f.rdi),
        num::SETITIMER => sig::setitimer(f.rdi, f.rsi, f.rdx),
        num::GETITIMER => sig::getitimer(f.rdi, f.rsi),
        num::CLOCK_GETTIME => clock_gettime(f.rdi, f.rsi),
        num::CLOCK_GETRES => clock_getres(f.rsi),
        num::GETTIMEOFDAY => gettimeofday(f.rdi),
        num::NANOSLEEP => sleep(1, 0, f.rdi, f.rsi),
        num::CLOCK_NANOSLEEP => sleep(f.rdi, f.rsi, f.rdx, f.r10),
        num::SCHED_YIELD => {
            kernel::sched::yield_now();
            Ok(0)
        }
        num::UNAME => uname(f.rdi),
        num::GETRANDOM => getrandom(f.rdi, f.rsi, f.rdx),
        nr => not_implemented(nr),
    };
    let ret = match r {
        Ok(v) => v,
        Err(e) => e.ret(),
    };
    kernel::trace::record(kernel::trace::Kind::Syscall, [nr, ret as u64, 0]);
    sig::on_return(f, nr, ret)
}

/// `getresuid`/`getresgid`: root for all three.
fn getres(a: u64, b: u64, c: u64) -> R {
    for p in [a, b, c] {
        user::write_u32(p, 0)?;
    }
    Ok(0)
}

fn arch_prctl(code: u64, addr: u64) -> R {
    match code {
        ARCH_SET_FS => {
            kernel::sched::set_tls_base(addr).map_err(|_| Errno::EPERM)?;
            Ok(0)
        }
        ARCH_GET_FS => {
            user::write_u64(addr, kernel::arch::x86_64::switch::tls_self())?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The program's end (`exit_group`, or its last thread's `exit`): status 0 powers the
/// domain off; any other is printed and the domain ends as crashed, so the toolstack sees
/// the failure.
pub(crate) fn exit_program(status: u64) -> R {
    let status = status & 0xff;
    kernel::drivers::console::flush();
    if let Some(reason) = kernel::drivers::control::requested_shutdown() {
        // The toolstack asked for a shutdown and the program stopped: carry it out.
        kernel::println!(
            "ferrun: program exited with status {status} after the toolstack's shutdown request"
        );
        kernel::shutdown(reason);
    }
    if status == 0 {
        kernel::poweroff();
    }
    kernel::println!("ferrun: program exited with status {status}");
    kernel::crash()
}

/// True when the bytes before `ret` end in a `call` (E8 rel32, or FF /2 through a
/// register or memory): `ret` is then a return address, not just a number.
fn after_call(ret: u64) -> bool {
    let Ok(b) = user::read_array::<7>(ret.saturating_sub(7)) else {
        return false;
    };
    b[2] == 0xe8
        || (b[5] == 0xff && b[6] & 0x38 == 0x10)
        || (b[4] == 0xff && b[5] & 0x38 == 0x10)
        || (b[1] == 0xff && b[2] & 0x38 == 0x10)
}

/// Lists the return addresses into the program found on its stack above `rsp`: musl's
/// own code keeps no frame pointers, so the frame chain cannot be followed through it.
pub(crate) fn print_program_stack(rsp: u64) {
    let Some(&(base, end)) = crate::exec::PROGRAM.get() else {
        return;
    };
    kernel::println!("program stack (return addresses into the program found above rsp {rsp:#x}):");
    let mut n = 0;
    for i in 0..4096u64 {
        let Ok(v) = user::read_u64(rsp + i * 8) else {
            break;
        };
        if (base..end).contains(&v) && after_call(v) {
            match kernel::symbols::find(v - 1) {
                Some((name, off)) => kernel::println!("  #{n:<2} {v:#018x} {name}+{:#x}", off + 1),
                None => kernel::println!("  #{n:<2} {v:#018x}"),
            }
            n += 1;
            if n == 16 {
                break;
            }
        }
    }
}

/// Anonymous mappings: start address -> pages.
static MAPS: spin::Mutex<BTreeMap<u64, usize>> = spin::Mutex::new(BTreeMap::new());

fn mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: u64) -> R {
    if flags & MAP_ANONYMOUS == 0 || fd as i64 != -1 {
        return Err(Errno::ENODEV);
    }
    if flags & MAP_FIXED != 0 || prot & PROT_EXEC != 0 || len == 0 {
        let _ = addr;
        return Err(Errno::EINVAL);
    }
    let pages = usize::try_from(len.div_ceil(4096)).map_err(|_| Errno::ENOMEM)?;
    let va = kernel::mm::alloc_pages(pages).map_err(|_| Errno::ENOMEM)?;
    MAPS.lock().insert(va, pages);
    Ok(va as i64)
}

fn munmap(addr: u64, len: u64) -> R {
    if !addr.is_multiple_of(4096) || len == 0 {
        return Err(Errno::EINVAL);
    }
    let end = addr
        .checked_add(len.div_ceil(4096) * 4096)
        .ok_or(Errno::EINVAL)?;
    let mut maps = MAPS.lock();
    let Some((&start, &pages)) = maps.range(..=addr).next_back() else {
        return Ok(0);
    };
    let map_end = start + pages as u64 * 4096;
    if addr >= map_end {
        return Ok(0);
    }
    let end = end.min(map_end);
    maps.remove(&start);
    if start < addr {
        maps.insert(start, ((addr - start) / 4096) as usize);
    }
    if end < map_end {
        maps.insert(end, ((map_end - end) / 4096) as usize);
    }
    drop(maps);
    kernel::mm::free_pages_at(addr, ((end - addr) / 4096) as usize).map_err(|_| Errno::EINVAL)?;
    Ok(0)
}

fn mprotect(prot: u64) -> R {
    if prot & PROT_EXEC != 0 {
        // W^X: memory a program maps stays data.
        return Err(Errno::EPERM);
    }
    Ok(0)
}

/// Nanoseconds of clock `clk` now.
fn clock_ns(clk: u64) -> Result<u128, Errno> {
    use kernel::time;
    match clk {
        // CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI.
        0 | 5 | 11 => Ok(time::now_and_wallclock_ns().1),
        // CLOCK_MONOTONIC, _RAW, _COARSE, CLOCK_BOOTTIME.
        1 | 4 | 6 | 7 => Ok(u128::from(time::now_ns())),
        // CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID: time the vCPU really ran.
        2 | 3 => Ok(u128::from(crate::process::cpu_ns())),
        _ => Err(Errno::EINVAL),
    }
}

fn timespec(ns: u128) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[0..8].copy_from_slice(&((ns / 1_000_000_000) as u64).to_le_bytes());
    t[8..16].copy_from_slice(&((ns % 1_000_000_000) as u64).to_le_bytes());
    t
}

fn clock_gettime(clk: u64, ts: u64) -> R {
    let ns = clock_ns(clk)?;
    user::write(ts, &timespec(ns))?;
    Ok(0)
}

fn clock_getres(ts: u64) -> R {
    if ts != 0 {
        user::write(ts, &timespec(1))?;
    }
    Ok(0)
}

fn gettimeofday(tv: u64) -> R {
    if tv != 0 {
        let ns = clock_ns(0)?;
        let mut t = [0u8; 16];
        t[0..8].copy_from_slice(&((ns / 1_000_000_000) as u64).to_le_bytes());
        t[8..16].copy_from_slice(&(((ns % 1_000_000_000) / 1000) as u64).to_le_bytes());
        user::write(tv, &t)?;
    }
    Ok(0)
}

/// `nanosleep(req, rem)` and `clock_nanosleep(clk, flags, req, rem)`: a signal ends the
/// sleep with `EINTR` and the time left in `rem` (for a relative sleep).
fn sleep(clk: u64, flags: u64, req: u64, rem: u64) -> R {
    let (sec, nsec) = user::read_timespec(req)?;
    if nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    let ns = u128::from(sec) * 1_000_000_000 + u128::from(nsec);
    let now = clock_ns(clk)?;
    let wait = if flags & TIMER_ABSTIME != 0 {
        ns.saturating_sub(now)
    } else {
        ns
    };
    let start = kernel::time::now_ns();
    let deadline = start.saturating_add(u64::try_from(wait).unwrap_or(u64::MAX));
    if kernel::sched::sleep_until_interruptible(deadline) {
        return Ok(0);
    }
    if rem != 0 && flags & TIMER_ABSTIME == 0 {
        let left = deadline.saturating_sub(kernel::time::now_ns());
        user::write_u64(rem, left / 1_000_000_000)?;
        user::write_u64(rem + 8, left % 1_000_000_000)?;
    }
    Err(Errno::EINTR)
}

fn uname(buf: u64) -> R {
    // struct utsname: six fields of 65 bytes.
    let mut u = [0u8; 6 * 65];
    for (i, v) in [
        "ferrun",
        "ferrun",
        "0.1",
        "ferrun 0.1 (Xen PV)",
        "x86_64",
        "(none)",
    ]
    .iter()
    .enumerate()
    {
        u[i * 65..i * 65 + v.len()].copy_from_slice(v.as_bytes());
    }
    user::write(buf, &u)?;
    Ok(0)
}

/// 16 random bytes (for `AT_RANDOM`: musl's stack canary and pointer guard), from the
/// kernel's ChaCha20 generator (`kernel::entropy`).
pub(crate) fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    kernel::entropy::fill(&mut b);
    b
}

/// Fills `buf` with random bytes from `kernel::entropy` (`/dev/random`, `/dev/urandom`).
pub(crate) fn fill_random(buf: &mut [u8]) {
    kernel::entropy::fill(buf);
}

/// `getrandom(buf, len, flags)`: up to 1 MiB at a time from `kernel::entropy`, which is
/// seeded before it answers, so it never blocks; `GRND_NONBLOCK` (1), `GRND_RANDOM` (2)
/// and `GRND_INSECURE` (4) are accepted, any other bit (or RANDOM with INSECURE, as
/// Linux) is `EINVAL`.
fn getrandom(buf: u64, len: u64, flags: u64) -> R {
    const KNOWN: u64 = 1 | 2 | 4;
    if flags & !KNOWN != 0 || flags & 6 == 6 {
        return Err(Errno::EINVAL);
    }
    let len = usize::try_from(len.min(1 << 20)).map_err(|_| Errno::EINVAL)?;
    let mut out = user::buffer(len)?;
    kernel::entropy::fill(&mut out);
    user::write(buf, &out)?;
    Ok(len as i64)
}
