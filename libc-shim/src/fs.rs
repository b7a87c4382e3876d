//! The program's file tree and the system calls on paths.
//!
//! The tree (`vfs::Vfs`, host-tested) is set up when the program starts:
//! - `/`: read-only, from the `newc` cpio archive the image carries or the domain's
//!   ramdisk is (the user's root directory, packed), or empty;
//! - `/tmp` and every `tmpfs=PATH` of the command line: tmpfs, writable, each limited to
//!   half of the memory free at start (`ENOSPC` past it, never an out-of-memory crash);
//! - `/dev`: `null`, `zero`, `full`, `random`, `urandom`, `console`, `tty`, `stdin`,
//!   `stdout`, `stderr`;
//! - `/proc`: the few files programs read (`meminfo`, `stat`, `uptime`, `loadavg`,
//!   `cpuinfo`, `version`, `self/stat`, `self/status`, `self/cmdline`,
//!   `sys/net/core/somaxconn`, `sys/vm/overcommit_memory`), made anew at each open with
//!   true figures;
//! - `/etc/passwd`, `/etc/group`, `/etc/hosts`, `/etc/localtime` (UTC) and
//!   `/etc/resolv.conf` when the root does not supply them.
//!
//! The program runs as root (uid 0), so permission bits are kept and shown but do not
//! refuse anything; a read-only file system refuses writes with `EROFS`.

use crate::errno::Errno;
use crate::fd::{self, Description, oflag};
use crate::file::NodeFile;
use crate::stat::{StatInfo, makedev};
use crate::user;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use vfs::memfs::{MemFs, MemFsOptions};
use vfs::{
    FileSystem, FileType, FsError, MountId, NodeRef, OpenOptions, SetAttr, TimeSet, Timespec, Vfs,
};

type R = Result<i64, Errno>;

/// `AT_FDCWD`.
const AT_FDCWD: i64 = -100;
/// `AT_SYMLINK_NOFOLLOW`.
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `AT_REMOVEDIR`.
const AT_REMOVEDIR: u64 = 0x200;
/// `AT_SYMLINK_FOLLOW`.
const AT_SYMLINK_FOLLOW: u64 = 0x400;
/// `AT_EMPTY_PATH`.
const AT_EMPTY_PATH: u64 = 0x1000;
/// `PATH_MAX` without its NUL.
const PATH_MAX: usize = 4095;

/// `statfs` magic numbers.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

impl From<FsError> for Errno {
    fn from(e: FsError) -> Errno {
        Errno(i64::from(e.errno()))
    }
}

/// The tree, the working directory, the umask and the generated files' mount.
struct State {
    vfs: Vfs,
    cwd: NodeRef,
    proc_mount: Option<MountId>,
    /// The generated files of `/proc`: node and name below `/proc`.
    proc_files: Vec<(NodeRef, &'static str)>,
}

static STATE: spin::Once<spin::Mutex<State>> = spin::Once::new();
static UMASK: AtomicU32 = AtomicU32::new(0o022);

/// The tree, locked. Nothing waits while it is held (memory file systems only).
pub(crate) fn vfs_lock() -> VfsGuard {
    VfsGuard(state())
}

fn state() -> spin::MutexGuard<'static, State> {
    STATE
        .call_once(|| {
            let mut fs = MemFs::new(MemFsOptions {
                read_only: true,
                size_limit: None,
                magic: RAMFS_MAGIC,
            });
            fs.set_clock(clock);
            let vfs = Vfs::new(Box::new(fs));
            let cwd = vfs.root();
            spin::Mutex::new(State {
                vfs,
                cwd,
                proc_mount: None,
                proc_files: Vec::new(),
            })
        })
        .lock()
}

/// The tree, locked (see [`vfs_lock`]).
pub(crate) struct VfsGuard(spin::MutexGuard<'static, State>);

impl core::ops::Deref for VfsGuard {
    type Target = Vfs;
    fn deref(&self) -> &Vfs {
        &self.0.vfs
    }
}

impl core::ops::DerefMut for VfsGuard {
    fn deref_mut(&mut self) -> &mut Vfs {
        &mut self.0.vfs
    }
}

/// The wall clock for the file systems' times.
fn clock() -> Timespec {
    let (sec, nsec) = crate::dev::now();
    Timespec { sec, nsec }
}

/// `node`'s attributes as the stat calls report them.
pub(crate) fn stat_info(v: &Vfs, node: NodeRef) -> Result<StatInfo, FsError> {
    let s = v.stat(node)?;
    Ok(StatInfo {
        dev: v.dev_of(node),
        ino: s.ino.0,
        mode: s.kind.mode_bits() | (s.mode & 0o7777),
        nlink: s.nlink,
        uid: s.uid,
        gid: s.gid,
        rdev: makedev(s.rdev.0, s.rdev.1),
        size: s.size,
        blksize: s.blksize,
        blocks: s.blocks,
        atime: (s.atime.sec, s.atime.nsec),
        mtime: (s.mtime.sec, s.mtime.nsec),
        ctime: (s.ctime.sec, s.ctime.nsec),
    })
}

/// Why the tree could not be set up.
#[derive(Debug)]
pub enum TreeError {
    /// The root archive is not a valid `newc` cpio archive.
    Archive(vfs::cpio::CpioError),
    /// A path the tree needs is taken by something that is not a directory.
    NotADirectory(String),
    /// Mounting failed.
    Mount(String, FsError),
}

impl core::fmt::Display for TreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TreeError::Archive(e) => write!(f, "the root archive: {e}"),
            TreeError::NotADirectory(p) => write!(f, "{p} in the root is not a directory"),
            TreeError::Mount(p, e) => write!(f, "mounting {p}: {e}"),
        }
    }
}

/// What the program's tree holds.
pub struct TreeConfig<'a> {
    /// The root directory as a `newc` cpio archive (`None`: an empty root).
    pub root: Option<&'static [u8]>,
    /// Extra tmpfs mount points besides `/tmp` (`tmpfs=PATH` on the command line).
    pub tmpfs: &'a [&'a str],
}

/// Made-up `/etc` files for a root without them.
const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// `/etc/localtime` for UTC: a TZif version 2 file with no transitions and one type (UTC,
/// offset 0), as `zic` writes it, v1 and v2 parts both.
fn tzif_utc() -> Vec<u8> {
    let mut part = Vec::new();
    part.extend_from_slice(b"TZif2");
    part.extend_from_slice(&[0u8; 15]);
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
    for v in [1u32, 1, 0, 0, 1, 4] {
        part.extend_from_slice(&v.to_be_bytes());
    }
    // One ttinfo: utoff 0, isdst 0, desigidx 0; "UTC\0"; isstd 0; isut 0.
    part.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    part.extend_from_slice(b"UTC\0");
    part.extend_from_slice(&[0, 0]);
    let mut f = part.clone();
    f.extend_from_slice(&part);
    f.extend_from_slice(b"\nUTC0\n");
    f
}

/// Makes directory `path` (absolute, one level below an existing one) in the root file
/// system if it is missing, read-only or not.
fn ensure_dir(fs: &mut MemFs, path: &str) -> Result<(), TreeError> {
    let mut dir = fs.root();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir = match fs.lookup(dir, part.as_bytes()) {
            Ok(i) => {
                if fs.stat(i).map(|s| s.kind) != Ok(FileType::Directory) {
                    return Err(TreeError::NotADirectory(String::from(path)));
                }
                i
            }
            Err(_) => fs
                .add_dir(dir, part.as_bytes(), 0o755)
                .map_err(|e| TreeError::Mount(String::from(path), e))?,
        };
    }
    Ok(())
}

/// Adds `/etc/NAME` to the root when it has none.
fn ensure_etc(fs: &mut MemFs, name: &str, data: Vec<u8>) -> Result<(), TreeError> {
    let root = fs.root();
    let etc = fs
        .lookup(root, b"etc")
        .map_err(|e| TreeError::Mount(String::from("/etc"), e))?;
    if fs.lookup(etc, name.as_bytes()).is_err() {
        fs.add_owned_file(etc, name.as_bytes(), 0o644, data)
            .map_err(|e| TreeError::Mount(format!("/etc/{name}"), e))?;
    }
    Ok(())
}

/// The files of `/proc`, relative to it, made anew at each open.
const PROC_FILES: &[&str] = &[
    "meminfo",
    "stat",
    "uptime",
    "loadavg",
    "cpuinfo",
    "version",
    "self/stat",
    "self/status",
    "self/cmdline",
    "sys/net/core/somaxconn",
    "sys/vm/overcommit_memory",
    "sys/kernel/random/boot_id",
    "net/resolv.conf",
];

/// Sets up the program's tree (see the module docs).
pub(crate) fn init(cfg: &TreeConfig<'_>) -> Result<(), TreeError> {
    let mut root = MemFs::new(MemFsOptions {
        read_only: true,
        size_limit: None,
        magic: RAMFS_MAGIC,
    });
    root.set_clock(clock);
    if let Some(archive) = cfg.root {
        vfs::cpio::load_newc(archive, &mut root).map_err(TreeError::Archive)?;
    }
    for d in ["/dev", "/tmp", "/proc", "/etc"] {
        ensure_dir(&mut root, d)?;
    }
    for t in cfg.tmpfs {
        ensure_dir(&mut root, t)?;
    }
    ensure_etc(&mut root, "passwd", Vec::from(PASSWD.as_bytes()))?;
    ensure_etc(&mut root, "group", Vec::from(GROUP.as_bytes()))?;
    ensure_etc(&mut root, "hosts", Vec::from(HOSTS.as_bytes()))?;
    ensure_etc(&mut root, "localtime", tzif_utc())?;
    {
        let r = root.root();
        if let Ok(etc) = root.lookup(r, b"etc")
            && root.lookup(etc, b"resolv.conf").is_err()
        {
            root.add_symlink(etc, b"resolv.conf", b"/proc/net/resolv.conf")
                .map_err(|e| TreeError::Mount(String::from("/etc/resolv.conf"), e))?;
        }
    }

    let mut vfs = Vfs::new(Box::new(root));
    let limit = kernel::mm::frame_usage().free as u64 * 4096 / 2;
    let mount_tmpfs = |vfs: &mut Vfs, at: &str| -> Result<(), TreeError> {
        let mut t = MemFs::new(MemFsOptions {
            read_only: false,
            size_limit: Some(limit),
            magic: TMPFS_MAGIC,
        });
        t.set_clock(clock);
        // /tmp is world-writable with the sticky bit, as on Linux.
        let r = t.root();
        let _ = t.set_attr(
            r,
            &SetAttr {
                mode: Some(0o1777),
                ..SetAttr::default()
            },
        );
        vfs.mount(at.as_bytes(), Box::new(t))
            .map_err(|e| TreeError::Mount(String::from(at), e))?;
        Ok(())
    };
    mount_tmpfs(&mut vfs, "/tmp")?;
    for t in cfg.tmpfs {
        mount_tmpfs(&mut vfs, t)?;
    }

    let mut dev = MemFs::new(MemFsOptions {
        read_only: true,
        size_limit: None,
        magic: TMPFS_MAGIC,
    });
    dev.set_clock(clock);
    let d = dev.root();
    let chr = FileType::CharDevice;
    let devices: [(&str, u32, (u32, u32)); 10] = [
        ("null", 0o666, (1, 3)),
        ("zero", 0o666, (1, 5)),
        ("full", 0o666, (1, 7)),
        ("random", 0o666, (1, 8)),
        ("urandom", 0o666, (1, 9)),
        ("tty", 0o666, (5, 0)),
        ("console", 0o600, (5, 1)),
        ("stdin", 0o600, (5, 1)),
        ("stdout", 0o600, (5, 1)),
        ("stderr", 0o600, (5, 1)),
    ];
    for (name, mode, numbers) in devices {
        dev.add_device(d, name.as_bytes(), chr, mode, numbers)
            .map_err(|e| TreeError::Mount(format!("/dev/{name}"), e))?;
    }
    for sub in ["shm", "pts"] {
        dev.add_dir(d, sub.as_bytes(), 0o755)
            .map_err(|e| TreeError::Mount(format!("/dev/{sub}"), e))?;
    }
    vfs.mount(b"/dev", Box::new(dev))
        .map_err(|e| TreeError::Mount(String::from("/dev"), e))?;
    mount_tmpfs(&mut vfs, "/dev/shm")?;

    // /proc: a memory file system the program cannot write (refused here, EACCES),
    // whose files are made anew at each open.
    let mut proc = MemFs::new(MemFsOptions {
        read_only: false,
        size_limit: Some(1 << 20),
        magic: PROC_SUPER_MAGIC,
    });
    proc.set_clock(clock);
    for f in PROC_FILES {
        let mut dir = proc.root();
        let mut parts = f.split('/').peekable();
        while let Some(p) = parts.next() {
            if parts.peek().is_none() {
                proc.add_owned_file(dir, p.as_bytes(), 0o444, Vec::new())
                    .map_err(|e| TreeError::Mount(format!("/proc/{f}"), e))?;
            } else {
                dir = match proc.lookup(dir, p.as_bytes()) {
                    Ok(i) => i,
                    Err(_) => proc
                        .add_dir(dir, p.as_bytes(), 0o555)
                        .map_err(|e| TreeError::Mount(format!("/proc/{f}"), e))?,
                };
            }
        }
    }
    let proc_mount = vfs
        .mount(b"/proc", Box::new(proc))
        .map_err(|e| TreeError::Mount(String::from("/proc"), e))?;

    let cwd = vfs.root();
    let mut proc_files = Vec::new();
    for f in PROC_FILES {
        let path = format!("/proc/{f}");
        let node = vfs
            .resolve(cwd, path.as_bytes(), false)
            .map_err(|e| TreeError::Mount(path.clone(), e))?;
        proc_files.push((node, *f));
    }
    let mut st = state();
    st.vfs = vfs;
    st.cwd = cwd;
    st.proc_mount = Some(proc_mount);
    st.proc_files = proc_files;
    Ok(())
}

/// The contents of `/proc/NAME` now.
fn proc_file(name: &[u8]) -> Vec<u8> {
    let fu = kernel::mm::frame_usage();
    let mi = kernel::mem_info();
    let total_kb = mi.nr_pages * 4;
    let free_kb = fu.free as u64 * 4;
    let up_ns = kernel::time::now_ns();
    let (up_s, up_cs) = (up_ns / 1_000_000_000, (up_ns / 10_000_000) % 100);
    let run_ns = crate::process::cpu_ns();
    let ticks = |ns: u64| ns / 10_000_000;
    let steal = kernel::time::steal_ns().unwrap_or(0);
    let idle = up_ns.saturating_sub(run_ns).saturating_sub(steal);
    let s = match name {
        b"meminfo" => format!(
            "MemTotal:       {total_kb:8} kB\nMemFree:        {free_kb:8} kB\nMemAvailable:   {free_kb:8} kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"
        ),
        b"stat" => format!(
            "cpu  {u} 0 0 {i} 0 0 0 {s} 0 0\ncpu0 {u} 0 0 {i} 0 0 0 {s} 0 0\nbtime {bt}\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n",
            u = ticks(run_ns),
            i = ticks(idle),
            s = ticks(steal),
            bt = crate::dev::now().0 as u64 - up_s,
        ),
        b"uptime" => format!(
            "{up_s}.{up_cs:02} {}.{:02}\n",
            idle / 1_000_000_000,
            (idle / 10_000_000) % 100
        ),
        b"loadavg" => format!("0.00 0.00 0.00 1/{} 1\n", kernel::sched::live_threads()),
        b"cpuinfo" => String::from(
            "processor\t: 0\nvendor_id\t: ferrun\nmodel name\t: Xen PV vCPU\ncpu MHz\t\t: 0\ncpu cores\t: 1\nflags\t\t: fpu sse sse2\n\n",
        ),
        b"version" => {
            String::from("Linux version 6.1.0-ferrun (ferrun unikernel, Xen PV) #1 SMP\n")
        }
        b"self/stat" => {
            let rss = crate::process::used_pages();
            format!(
                "1 (program) R 0 1 1 0 -1 0 0 0 0 0 {ut} 0 0 0 20 0 {th} 0 0 {vsz} {rss} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
                ut = ticks(run_ns),
                th = kernel::sched::live_threads(),
                vsz = rss * 4096,
            )
        }
        b"self/status" => format!(
            "Name:\tprogram\nState:\tR (running)\nPid:\t1\nPPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t{}\nVmRSS:\t{} kB\n",
            kernel::sched::live_threads(),
            crate::process::used_pages() * 4,
        ),
        b"self/cmdline" => {
            let mut v = Vec::new();
            for a in crate::exec::args() {
                v.extend_from_slice(a.as_bytes());
                v.push(0);
            }
            return v;
        }
        b"sys/net/core/somaxconn" => String::from("4096\n"),
        b"sys/vm/overcommit_memory" => String::from("1\n"),
        b"sys/kernel/random/boot_id" => {
            let mut b = [0u8; 16];
            crate::sys::fill_random(&mut b);
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}\n",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
        // The network service keeps no DNS server from DHCP: say so rather than
        // pretend one.
        b"net/resolv.conf" => match kernel::net::info() {
            Some(i) => format!(
                "# ferrun: address {}/{}; no DNS server is known\n",
                i.address, i.prefix
            ),
            None => String::from("# ferrun: the network is not up; no DNS server is known\n"),
        },
        _ => String::new(),
    };
    s.into_bytes()
}

/// The descriptor `dirfd` as the start of a relative path (`AT_FDCWD`: the working
/// directory).
fn start_of(st: &State, dirfd: u64) -> Result<NodeRef, Errno> {
    if dirfd as i64 as i32 as i64 == AT_FDCWD {
        return Ok(st.cwd);
    }
    let d = fd::get(dirfd)?;
    let n = d.object.as_node().ok_or(Errno::ENOTDIR)?;
    if n.kind != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    Ok(n.node)
}

/// A path argument.
fn path_arg(p: u64) -> Result<Vec<u8>, Errno> {
    user::read_cstr(p, PATH_MAX)
}

/// Refreshes a generated `/proc` file before it is opened.
fn refresh_proc(st: &mut State, node: NodeRef) -> Result<(), Errno> {
    let Some(&(_, name)) = st.proc_files.iter().find(|(n, _)| *n == node) else {
        return Ok(());
    };
    let data = proc_file(name.as_bytes());
    st.vfs.truncate(node, 0)?;
    st.vfs.write(node, 0, &data)?;
    Ok(())
}

/// The object for node `node` of kind `kind` opened with `flags`.
fn object_for(
    st: &mut State,
    node: NodeRef,
    kind: FileType,
    flags: u32,
) -> Result<Arc<dyn fd::FileObject>, Errno> {
    if kind == FileType::CharDevice && flags & oflag::PATH == 0 {
        let info = stat_info(&st.vfs, node)?;
        let (major, minor) = crate::stat::split_dev(info.rdev);
        if let Some(dev) = crate::dev::MemDevice::from_numbers(major, minor) {
            return Ok(crate::dev::MemDeviceFile::new(dev, info));
        }
        return match (major, minor) {
            (5, 0 | 1) | (4, _) => Ok(Arc::new(crate::dev::Console)),
            _ => Err(Errno::ENXIO),
        };
    }
    if matches!(
        kind,
        FileType::Fifo | FileType::Socket | FileType::BlockDevice
    ) && flags & oflag::PATH == 0
    {
        return Err(Errno::ENXIO);
    }
    Ok(Arc::new(NodeFile::new(&mut st.vfs, node, kind)?))
}

/// `openat(dirfd, path, flags, mode)`.
pub(crate) fn openat(dirfd: u64, path: u64, flags: u64, mode: u64) -> R {
    let flags = flags as u32;
    let path = path_arg(path)?;
    if flags & oflag::TMPFILE == oflag::TMPFILE {
        return Err(Errno::EOPNOTSUPP);
    }
    let acc = flags & oflag::ACCMODE;
    if acc == 3 {
        return Err(Errno::EINVAL);
    }
    let path_only = flags & oflag::PATH != 0;
    let write = !path_only && acc != oflag::RDONLY;
    let mut st = state();
    let start = start_of(&st, dirfd)?;
    let opts = OpenOptions {
        create: !path_only && flags & oflag::CREAT != 0,
        exclusive: !path_only && flags & oflag::EXCL != 0,
        truncate: !path_only && flags & oflag::TRUNC != 0 && write,
        directory: flags & oflag::DIRECTORY != 0,
        nofollow: flags & oflag::NOFOLLOW != 0,
        write,
        mode: (mode as u32) & 0o7777 & !UMASK.load(Ordering::Relaxed),
    };
    let (node, _created) = match st.vfs.open(start, &path, &opts) {
        // O_PATH|O_NOFOLLOW on a symlink opens the link itself.
        Err(FsError::Loop) if path_only && opts.nofollow => {
            (st.vfs.resolve(start, &path, false)?, false)
        }
        r => r?,
    };
    if write && st.proc_mount == Some(node.mount) {
        return Err(Errno::EACCES);
    }
    refresh_proc(&mut st, node)?;
    let kind = st.vfs.stat(node)?.kind;
    let obj = object_for(&mut st, node, kind, flags)?;
    drop(st);
    Ok(i64::from(fd::open_object(obj, flags)?))
}

/// The node `path` names from `dirfd` (`AT_EMPTY_PATH` with an empty path: `dirfd`
/// itself, returned as its description).
fn lookup_at(
    dirfd: u64,
    path: u64,
    flags: u64,
) -> Result<Result<NodeRef, Arc<Description>>, Errno> {
    let p = path_arg(path)?;
    if p.is_empty() {
        if flags & AT_EMPTY_PATH != 0 {
            if dirfd as i64 as i32 as i64 == AT_FDCWD {
                return Ok(Ok(state().cwd));
            }
            return Ok(Err(fd::get(dirfd)?));
        }
        return Err(Errno::ENOENT);
    }
    let st = state();
    let start = start_of(&st, dirfd)?;
    Ok(Ok(st.vfs.resolve(
        start,
        &p,
        flags & AT_SYMLINK_NOFOLLOW == 0,
    )?))
}

fn stat_of(dirfd: u64, path: u64, flags: u64) -> Result<StatInfo, Errno> {
    match lookup_at(dirfd, path, flags)? {
        Ok(node) => Ok(stat_info(&state().vfs, node)?),
        Err(d) => d.object.stat(),
    }
}

/// `newfstatat(dirfd, path, buf, flags)` (and `stat`, `lstat`).
pub(crate) fn newfstatat(dirfd: u64, path: u64, buf: u64, flags: u64) -> R {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800) != 0 {
        return Err(Errno::EINVAL);
    }
    let s = stat_of(dirfd, path, flags)?;
    user::write(buf, &s.to_stat())?;
    Ok(0)
}

/// `statx(dirfd, path, flags, mask, buf)`.
pub(crate) fn statx(dirfd: u64, path: u64, flags: u64, _mask: u64, buf: u64) -> R {
    let s = stat_of(dirfd, path, flags)?;
    user::write(buf, &s.to_statx())?;
    Ok(0)
}

/// `fstat(fd, buf)`.
pub(crate) fn fstat(fdn: u64, buf: u64) -> R {
    let s = fd::get(fdn)?.object.stat()?;
    user::write(buf, &s.to_stat())?;
    Ok(0)
}

/// `faccessat2(dirfd, path, mode, flags)` (and `access`, `faccessat`).
pub(crate) fn faccessat(dirfd: u64, path: u64, mode: u64, flags: u64) -> R {
    const W_OK: u64 = 2;
    const X_OK: u64 = 1;
    if mode & !7 != 0 || flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x200) != 0 {
        return Err(Errno::EINVAL);
    }
    let node = match lookup_at(dirfd, path, flags)? {
        Ok(n) => n,
        Err(d) => d.object.as_node().map(|n| n.node).ok_or(Errno::EBADF)?,
    };
    let st = state();
    let s = st.vfs.stat(node)?;
    if mode & W_OK != 0 && (st.vfs.is_read_only(node) || st.proc_mount == Some(node.mount)) {
        return Err(Errno::EROFS);
    }
    // Root may execute a file when any execute bit is set.
    if mode & X_OK != 0 && s.kind != FileType::Directory && s.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

/// `getcwd(buf, size)`.
pub(crate) fn getcwd(buf: u64, size: u64) -> R {
    let mut st = state();
    let cwd = st.cwd;
    let mut p = st.vfs.path_of(cwd)?;
    drop(st);
    p.push(0);
    if (size as usize) < p.len() {
        return Err(Errno::ERANGE);
    }
    user::write(buf, &p)?;
    Ok(p.len() as i64)
}

/// `chdir(path)`.
pub(crate) fn chdir(path: u64) -> R {
    let p = path_arg(path)?;
    let mut st = state();
    let cwd = st.cwd;
    let n = st.vfs.resolve(cwd, &p, true)?;
    if st.vfs.stat(n)?.kind != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    st.cwd = n;
    Ok(0)
}

/// `fchdir(fd)`.
pub(crate) fn fchdir(fdn: u64) -> R {
    let d = fd::get(fdn)?;
    let n = d.object.as_node().ok_or(Errno::ENOTDIR)?;
    if n.kind != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    state().cwd = n.node;
    Ok(0)
}

/// Refuses a change inside `/proc`.
fn writable(st: &State, dir: NodeRef) -> Result<(), Errno> {
    if st.proc_mount == Some(dir.mount) {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// `mkdirat(dirfd, path, mode)`.
pub(crate) fn mkdirat(dirfd: u64, path: u64, mode: u64) -> R {
    let p = path_arg(path)?;
    let mut st = state();
    let start = start_of(&st, dirfd)?;
    writable(&st, start)?;
    let mode = (mode as u32) & 0o7777 & !UMASK.load(Ordering::Relaxed);
    st.vfs.mkdir(start, &p, mode)?;
    Ok(0)
}

/// `mknodat(dirfd, path, mode, dev)`: regular files, FIFOs and sockets (device nodes:
/// `EPERM`, there is no driver behind a new one).
pub(crate) fn mknodat(dirfd: u64, path: u64, mode: u64, _dev: u64) -> R {
    let p = path_arg(path)?;
    let kind = match (mode as u32) & crate::stat::ifmt::MASK {
        0 | crate::stat::ifmt::REG => FileType::Regular,
        crate::stat::ifmt::FIFO => FileType::Fifo,
        crate::stat::ifmt::SOCK => FileType::Socket,
        crate::stat::ifmt::CHR | crate::stat::ifmt::BLK => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let mut st = state();
    let start = start_of(&st, dirfd)?;
    writable(&st, start)?;
    let perm = (mode as u32) & 0o7777 & !UMASK.load(Ordering::Relaxed);
    st.vfs.mknod(start, &p, kind, perm, (0, 0))?;
    Ok(0)
}

/// `unlinkat(dirfd, path, flags)` (and `unlink`, `rmdir`).
pub(crate) fn unlinkat(dirfd: u64, path: u64, flags: u64) -> R {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let p = path_arg(path)?;
    let mut st = state();
    let start = start_of(&st, dirfd)?;
    writable(&st, start)?;
    if flags & AT_REMOVEDIR != 0 {
        st.vfs.rmdir(start, &p)?;
    } else {
        st.vfs.unlink(start, &p)?;
    }
    Ok(0)
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)` (and `rename`, `renameat`).
pub(crate) fn renameat2(odir: u64, old: u64, ndir: u64, new: u64, flags: u64) -> R {
    const RENAME_NOREPLACE: u64 = 1;
    if flags & !RENAME_NOREPLACE != 0 {
        // RENAME_EXCHANGE and RENAME_WHITEOUT are not supported.
        return Err(Errno::EINVAL);
    }
    let (o, n) = (path_arg(old)?, path_arg(new)?);
    let mut st = state();
    let (os, ns) = (start_of(&st, odir)?, start_of(&st, ndir)?);
    writable(&st, os)?;
    writable(&st, ns)?;
    if flags & RENAME_NOREPLACE != 0 && st.vfs.resolve(ns, &n, false).is_ok() {
        return Err(Errno::EEXIST);
    }
    st.vfs.rename(os, &o, ns, &n)?;
    Ok(0)
}

/// `linkat(olddirfd, old, newdirfd, new, flags)` (and `link`).
pub(crate) fn linkat(odir: u64, old: u64, ndir: u64, new: u64, flags: u64) -> R {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (o, n) = (path_arg(old)?, path_arg(new)?);
    let mut st = state();
    let (os, ns) = (start_of(&st, odir)?, start_of(&st, ndir)?);
    writable(&st, ns)?;
    st.vfs
        .link(os, &o, ns, &n, flags & AT_SYMLINK_FOLLOW != 0)?;
    Ok(0)
}

/// `symlinkat(target, newdirfd, path)` (and `symlink`).
pub(crate) fn symlinkat(target: u64, dirfd: u64, path: u64) -> R {
    let (t, p) = (path_arg(target)?, path_arg(path)?);
    let mut st = state();
    let start = start_of(&st, dirfd)?;
    writable(&st, start)?;
    st.vfs.symlink(&t, start, &p)?;
    Ok(0)
}

/// `readlinkat(dirfd, path, buf, size)` (and `readlink`).
pub(crate) fn readlinkat(dirfd: u64, path: u64, buf: u64, size: u64) -> R {
    let size = i32::try_from(size as i64).map_err(|_| Errno::EINVAL)?;
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = path_arg(path)?;
    let st = state();
    let start = start_of(&st, dirfd)?;
    // /proc/self/exe and /proc/self/fd/N: the program's name and what the descriptor is.
    let link = match special_link(&p) {
        Some(l) => l,
        None => {
            let n = st.vfs.resolve(start, &p, false)?;
            st.vfs.readlink(n)?
        }
    };
    drop(st);
    let n = link.len().min(size as usize);
    user::write(buf, link.get(..n).unwrap_or_default())?;
    Ok(n as i64)
}

/// `readlink` answers for `/proc/self/exe` (the program's path).
fn special_link(p: &[u8]) -> Option<Vec<u8>> {
    match p {
        b"/proc/self/exe" | b"/proc/1/exe" => {
            let a = crate::exec::args();
            let name = a.first().map_or("/program", String::as_str);
            Some(Vec::from(name.as_bytes()))
        }
        _ => None,
    }
}

/// `truncate(path, len)`.
pub(crate) fn truncate(path: u64, len: u64) -> R {
    let len = i64::try_from(len).map_err(|_| Errno::EINVAL)?;
    let p = path_arg(path)?;
    let mut st = state();
    let cwd = st.cwd;
    let n = st.vfs.resolve(cwd, &p, true)?;
    writable(&st, n)?;
    if st.vfs.stat(n)?.kind == FileType::Directory {
        return Err(Errno::EISDIR);
    }
    st.vfs.truncate(n, len as u64)?;
    Ok(0)
}

/// `ftruncate(fd, len)`.
pub(crate) fn ftruncate(fdn: u64, len: u64) -> R {
    let len = i64::try_from(len).map_err(|_| Errno::EINVAL)?;
    let d = fd::get_open(fdn)?;
    let n = d.object.as_node().ok_or(Errno::EINVAL)?;
    if n.kind != FileType::Regular || d.check_writable().is_err() {
        return Err(Errno::EINVAL);
    }
    vfs_lock().truncate(n.node, len as u64)?;
    Ok(0)
}

/// `fallocate(fd, mode, offset, len)`: mode 0 (grow to cover the range) only.
pub(crate) fn fallocate(fdn: u64, mode: u64, off: u64, len: u64) -> R {
    if mode != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let (off, len) = (off as i64, len as i64);
    if off < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    let d = fd::get_open(fdn)?;
    d.check_writable()?;
    let n = d.object.as_node().ok_or(Errno::ENODEV)?;
    let end = (off as u64).checked_add(len as u64).ok_or(Errno::EFBIG)?;
    let mut v = vfs_lock();
    if v.stat(n.node)?.size < end {
        v.truncate(n.node, end)?;
    }
    Ok(0)
}

/// `getdents64(fd, dirp, count)`.
pub(crate) fn getdents64(fdn: u64, dirp: u64, count: u64) -> R {
    let d = fd::get_open(fdn)?;
    let n = d.object.as_node().ok_or(Errno::ENOTDIR)?;
    let room = usize::try_from(count.min(1 << 20)).map_err(|_| Errno::EINVAL)?;
    let mut out = user::buffer(room)?;
    let mut used = 0usize;
    let mut too_small = false;
    n.read_dir(room / 24 + 1, |e| {
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        let reclen = (19 + e.name.len() + 1).next_multiple_of(8);
        if used + reclen > room {
            too_small = used == 0;
            return false;
        }
        let Some(rec) = out.get_mut(used..used + reclen) else {
            return false;
        };
        rec[0..8].copy_from_slice(&e.ino.0.to_le_bytes());
        rec[8..16].copy_from_slice(&((used + reclen) as i64).to_le_bytes());
        rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        rec[18] = e.kind.dirent_type();
        rec[19..19 + e.name.len()].copy_from_slice(&e.name);
        used += reclen;
        true
    })?;
    if too_small {
        return Err(Errno::EINVAL);
    }
    user::write(dirp, out.get(..used).unwrap_or_default())?;
    Ok(used as i64)
}

/// `umask(mask)`: the old mask.
pub(crate) fn umask(mask: u64) -> R {
    Ok(i64::from(
        UMASK.swap(mask as u32 & 0o777, Ordering::Relaxed),
    ))
}

/// Applies `attr` to the node `path` names from `dirfd` (or `dirfd` itself with
/// `AT_EMPTY_PATH`, or a null `path` for `utimensat`).
fn set_attr_at(dirfd: u64, path: u64, flags: u64, attr: &SetAttr) -> R {
    let node = if path == 0 {
        let d = fd::get(dirfd)?;
        d.object.as_node().map(|n| n.node).ok_or(Errno::EBADF)?
    } else {
        match lookup_at(dirfd, path, flags)? {
            Ok(n) => n,
            Err(d) => d.object.as_node().map(|n| n.node).ok_or(Errno::EBADF)?,
        }
    };
    let mut st = state();
    writable(&st, node)?;
    st.vfs.set_attr(node, attr)?;
    Ok(0)
}

/// `fchmodat(dirfd, path, mode)` (and `chmod`).
pub(crate) fn fchmodat(dirfd: u64, path: u64, mode: u64) -> R {
    set_attr_at(
        dirfd,
        path,
        0,
        &SetAttr {
            mode: Some(mode as u32 & 0o7777),
            ..SetAttr::default()
        },
    )
}

/// `fchmod(fd, mode)`.
pub(crate) fn fchmod(fdn: u64, mode: u64) -> R {
    set_attr_at(
        fdn,
        0,
        0,
        &SetAttr {
            mode: Some(mode as u32 & 0o7777),
            ..SetAttr::default()
        },
    )
}

/// `fchownat(dirfd, path, uid, gid, flags)` (and `chown`, `lchown`, `fchown` with a null
/// path): -1 leaves an id as it is.
pub(crate) fn fchownat(dirfd: u64, path: u64, uid: u64, gid: u64, flags: u64) -> R {
    let id = |v: u64| (v as u32 != u32::MAX).then_some(v as u32);
    set_attr_at(
        dirfd,
        path,
        flags,
        &SetAttr {
            uid: id(uid),
            gid: id(gid),
            ..SetAttr::default()
        },
    )
}

/// `utimensat(dirfd, path, times, flags)`.
pub(crate) fn utimensat(dirfd: u64, path: u64, times: u64, flags: u64) -> R {
    const UTIME_NOW: u64 = (1 << 30) - 1;
    const UTIME_OMIT: u64 = (1 << 30) - 2;
    let ts = |i: u64| -> Result<Option<TimeSet>, Errno> {
        if times == 0 {
            return Ok(Some(TimeSet::Now));
        }
        let (sec, nsec) = user::read_timespec(times + i * 16)?;
        Ok(match nsec {
            UTIME_NOW => Some(TimeSet::Now),
            UTIME_OMIT => None,
            n if n < 1_000_000_000 => Some(TimeSet::At(Timespec {
                sec: sec as i64,
                nsec: n as u32,
            })),
            _ => return Err(Errno::EINVAL),
        })
    };
    let attr = SetAttr {
        atime: ts(0)?,
        mtime: ts(1)?,
        ..SetAttr::default()
    };
    set_attr_at(dirfd, path, flags, &attr)
}

/// Writes a `struct statfs` (x86_64, 120 bytes) for the file system of `node`.
fn write_statfs(v: &Vfs, node: NodeRef, buf: u64) -> R {
    let s = v.statfs(node)?;
    let mut b = [0u8; 120];
    let dev = v.dev_of(node);
    let words: [u64; 7] = [
        s.magic,
        u64::from(s.bsize),
        s.blocks,
        s.bfree,
        s.bavail,
        s.files,
        s.ffree,
    ];
    for (i, w) in words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    b[56..64].copy_from_slice(&dev.to_le_bytes());
    b[64..72].copy_from_slice(&u64::from(s.namelen).to_le_bytes());
    b[72..80].copy_from_slice(&u64::from(s.bsize).to_le_bytes());
    // ST_RDONLY for read-only mounts.
    let flags: u64 = if v.is_read_only(node) { 1 } else { 0 };
    b[80..88].copy_from_slice(&flags.to_le_bytes());
    user::write(buf, &b)?;
    Ok(0)
}

/// `statfs(path, buf)`.
pub(crate) fn statfs(path: u64, buf: u64) -> R {
    let p = path_arg(path)?;
    let st = state();
    let n = st.vfs.resolve(st.cwd, &p, true)?;
    write_statfs(&st.vfs, n, buf)
}

/// `fstatfs(fd, buf)`.
pub(crate) fn fstatfs(fdn: u64, buf: u64) -> R {
    let d = fd::get(fdn)?;
    let n = d.object.as_node().ok_or(Errno::ENOSYS)?;
    let st = state();
    write_statfs(&st.vfs, n.node, buf)
}
