#!/usr/bin/env python3
"""Summarises ci/programs-survey's strace -f traces as markdown (stdout).

    ci/programs-survey.py SURVEY_DIR PROGRAM...

Per program: every distinct system call with its number, count, failures (errno: count),
what libc-shim does with it today (read from libc-shim/src/sys.rs's dispatch) and the
arguments that matter (open flags and paths, fcntl commands, ioctl requests, socket
families, signal numbers, mmap protections...), most frequent first; then the
`--inject=CALL:error=ENOSYS` results from SURVEY_DIR/inject.tsv.
"""

import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def syscall_numbers():
    """name -> number, from musl's bits/syscall.h."""
    nums = {}
    with open("/usr/include/x86_64-linux-musl/bits/syscall.h") as f:
        for line in f:
            m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
            if m:
                nums[m.group(1)] = int(m.group(2))
    return nums


def shim_calls():
    """The calls libc-shim's dispatch names (lower case), from its source."""
    src = open(os.path.join(ROOT, "libc-shim/src/sys.rs")).read()
    body = src[src.index("pub(crate) fn handle(") :]
    body = body[: body.index("nr => not_implemented(nr)")]
    return {n.lower() for n in re.findall(r"num::([A-Z0-9_]+)", body)}


# What libc-shim's dispatch does with calls it answers without doing the real thing.
SHIM_STUBS = {
    "open": "ENOENT always",
    "openat": "ENOENT always",
    "lseek": "ESPIPE always",
    "brk": "0: never moves",
    "madvise": "0, no effect",
    "mremap": "ENOMEM always",
    "mprotect": "0 (EPERM for PROT_EXEC), no effect",
    "rt_sigaction": "0, not stored",
    "rt_sigprocmask": "0, old mask 0",
    "sigaltstack": "0, no effect",
    "mmap": "anonymous only (files: ENODEV; MAP_FIXED, PROT_EXEC: EINVAL)",
    "socket": "AF_INET SOCK_STREAM/SOCK_DGRAM only",
    "ioctl": "TIOCGWINSZ on 0-2, FIONBIO on sockets; others ENOTTY",
    "fcntl": "F_GETFL/F_SETFL/F_GETFD/F_SETFD; others EINVAL",
    "prctl": "PR_SET_NAME/PR_GET_NAME",
    "getpid": "1",
    "getuid": "0",
    "geteuid": "0",
    "getgid": "0",
    "getegid": "0",
    "tkill": "ends the program (abort)",
    "tgkill": "ends the program (abort)",
}


def split_args(s):
    """Top-level comma split of a strace argument list (braces, brackets, quotes)."""
    out, depth, cur, q, esc = [], 0, [], False, False
    for ch in s:
        if q:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                q = False
            continue
        if ch == '"':
            q = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur or out:
        out.append("".join(cur).strip())
    return out


def norm_path(p, work):
    p = p.replace(work, "$WORK") if work else p
    p = re.sub(r"/tmp/ferrun-survey\.[A-Za-z0-9]{6}(?=[/\"]|$)", "$WORK", p)
    p = re.sub(r"etilqs_[0-9a-fA-F]+", "etilqs_*", p)
    p = re.sub(r"temp-\d+\.rdb", "temp-*.rdb", p)
    return p


def field(s, name):
    m = re.search(name + r"=([^,}]+)", s)
    return m.group(1) if m else "?"


def sockaddr(s):
    fam = field(s, "sa_family")
    if fam == "AF_INET":
        return "AF_INET %s:%s" % (
            field(s, "sin_addr").replace('inet_addr("', "").replace('")', ""),
            field(s, "sin_port").replace("htons(", "").replace(")", ""),
        )
    if fam == "AF_UNIX":
        return "AF_UNIX " + field(s, "sun_path")
    return fam


def detail(name, a, work):
    """The arguments of one call that matter, as one string (None: nothing to say)."""
    g = lambda i: a[i] if i < len(a) else "?"
    if name == "open":
        return "%s %s" % (norm_path(g(0), work), g(1))
    if name == "openat":
        return "%s %s" % (norm_path(g(1), work), g(2))
    if name in ("stat", "lstat", "access", "readlink", "unlink", "mkdir", "rmdir", "chdir",
                "chmod", "chown", "truncate", "statfs", "creat", "utimes", "utime"):
        return norm_path(g(0), work) + ("" if name in ("stat", "lstat", "statfs", "unlink", "chdir", "rmdir") else " " + g(1))
    if name in ("newfstatat", "faccessat", "unlinkat", "mkdirat", "readlinkat", "statx", "utimensat", "fchmodat"):
        if g(1) == '""':
            return "fd (AT_EMPTY_PATH)"
        return norm_path(g(1), work) + " " + " ".join(x for x in a[2:] if not x.startswith("{") and not x.startswith("0x"))
    if name in ("rename", "link", "symlink"):
        return "%s -> %s" % (norm_path(g(0), work), norm_path(g(1), work))
    if name == "renameat2" or name == "renameat":
        return "%s -> %s" % (norm_path(g(1), work), norm_path(g(3), work))
    if name == "fcntl":
        cmd = g(1)
        if cmd in ("F_SETFL", "F_SETFD", "F_DUPFD", "F_DUPFD_CLOEXEC"):
            return "%s %s" % (cmd, g(2))
        if cmd in ("F_SETLK", "F_SETLKW", "F_GETLK", "F_OFD_SETLK", "F_OFD_GETLK"):
            return "%s l_type=%s" % (cmd, field(g(2), "l_type"))
        return cmd
    if name == "ioctl":
        return g(1)
    if name == "socket":
        return ", ".join(a)
    if name == "socketpair":
        return ", ".join(a[:3])
    if name in ("setsockopt", "getsockopt"):
        return "%s %s%s" % (g(1), g(2), (" = " + g(3)) if name == "setsockopt" else "")
    if name in ("bind", "connect"):
        return sockaddr(g(1))
    if name == "accept4":
        return "flags " + g(3)
    if name == "listen":
        return "backlog " + g(1)
    if name == "shutdown":
        return g(1)
    if name in ("sendto", "recvfrom"):
        return "flags " + g(3)
    if name in ("sendmsg", "recvmsg"):
        return "flags " + g(2)
    if name == "prctl":
        return g(0)
    if name == "rt_sigaction":
        if g(1) == "NULL":
            return "%s (query)" % g(0)
        h = field(g(1), "sa_handler")
        h = h if h in ("SIG_IGN", "SIG_DFL") else "handler"
        flags = "|".join(f for f in field(g(1), "sa_flags").split("|") if f != "SA_RESTORER")
        return "%s %s %s" % (g(0), h, flags or "0")
    if name == "rt_sigprocmask":
        return "%s %s" % (g(0), g(1))
    if name == "mmap":
        kind = "anon" if "MAP_ANONYMOUS" in g(3) else "file fd"
        return "%s %s (%s)" % (g(2), g(3), kind)
    if name == "mprotect":
        return g(2)
    if name == "madvise":
        return g(2)
    if name == "mremap":
        return g(3)
    if name == "clone":
        for x in a:
            if x.startswith("flags="):
                return x[6:]
        return None
    if name == "clone3":
        return field(g(0), "flags")
    if name == "futex":
        return g(1)
    if name in ("clock_gettime", "clock_getres", "clock_nanosleep"):
        return g(0) + ((" " + g(1)) if name == "clock_nanosleep" else "")
    if name == "epoll_create1":
        return g(0)
    if name == "epoll_create":
        return "size " + g(0)
    if name == "epoll_ctl":
        return "%s %s" % (g(1), field(g(3), "events") if g(3) != "NULL" else "")
    if name in ("epoll_wait", "epoll_pwait"):
        return "timeout " + ("-1" if g(3) == "-1" else ("0" if g(3) == "0" else ">0"))
    if name in ("poll", "ppoll"):
        t = g(2)
        return "timeout " + ("-1" if t == "-1" else ("0" if t == "0" else ">0"))
    if name == "eventfd2":
        return "%s %s" % (g(0), g(1))
    if name == "pipe2":
        return g(1)
    if name == "prlimit64":
        return "%s %s" % (g(1), "set" if g(2) != "NULL" else "get")
    if name in ("getrlimit", "setrlimit"):
        return g(0)
    if name in ("kill", "tkill"):
        return g(1)
    if name == "tgkill":
        return g(2)
    if name == "getrandom":
        return "%s bytes %s" % (g(1), g(2))
    if name == "lseek":
        return g(2)
    if name in ("exit", "exit_group"):
        return g(0)
    if name == "arch_prctl":
        return g(0)
    if name in ("setuid", "setgid", "umask", "setpgid", "sched_setaffinity", "flock"):
        return g(1) if name == "flock" else g(0)
    if name == "setgroups":
        return g(0)
    if name in ("getdents64", "pread64", "pwrite64", "ftruncate", "fsync", "fdatasync"):
        return None
    if name in ("sched_getaffinity",):
        return "size " + g(1)
    if name == "dup2" or name == "dup3":
        return "%s -> %s" % (g(0), g(1))
    if name == "getcwd":
        return None
    return None


LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)(?:\s+([A-Z][A-Z0-9_]+))?")


def parse(path):
    """Calls as (pid, name, args string, result, errno) from one strace -f -o file."""
    calls, pending = [], {}
    signals = collections.Counter()
    for raw in open(path, errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, rest = m.group(1), m.group(2)
        if rest.startswith("---"):
            sm = re.match(r"--- (SIG\w+)", rest)
            if sm:
                signals[sm.group(1)] += 1
            continue
        if rest.startswith("+++"):
            continue
        r = RESUMED.match(rest)
        if r:
            name, tail = r.group(1), r.group(2)
            head = pending.pop(pid, (name, ""))[1]
            full = head + tail
        else:
            c = CALL.match(rest)
            if not c:
                continue
            name, full = c.group(1), c.group(2)
            if full.endswith("<unfinished ...>"):
                pending[pid] = (name, full[: -len("<unfinished ...>")].rstrip(" ,") + ", ")
                continue
        res = RESULT.search(full)
        if res:
            args_s = full[: res.start()]
            result, errno = res.group(1), res.group(2)
        else:
            args_s, result, errno = full.rstrip(")"), "?", None
        if name == "execve" and not calls:
            continue  # strace starting the program
        calls.append((pid, name, args_s, result, errno))
    return calls, signals


# Calls that need a file system (left out of the "minimal layer" experiment, where their
# failing is a foregone conclusion).
FS_CALLS = {
    "open", "openat", "stat", "fstat", "lstat", "newfstatat", "statx", "access", "faccessat",
    "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "chown", "fchown", "lchown", "chmod",
    "fchmod", "chdir", "fchdir", "umask", "pread64", "pwrite64", "fsync", "fdatasync",
    "ftruncate", "truncate", "getdents64", "rename", "renameat", "readlink", "getcwd", "flock",
}
# What musl (or the program) calls when a call fails with ENOSYS.
FALLBACKS = {
    "prlimit64": ["getrlimit", "setrlimit"],
    "epoll_create1": ["epoll_create"],
    "pipe2": ["pipe"],
    "eventfd2": ["eventfd"],
    "dup3": ["dup2"],
    "accept4": ["accept"],
    "epoll_pwait": ["epoll_wait"],
}


def missing_nonfs(trace):
    """The calls in trace libc-shim lacks (but file-system ones and rt_sigreturn), with
    the fallbacks they lead to."""
    shim = shim_calls()
    made = {c[1] for c in parse(trace)[0]}
    out = set()
    for n in made:
        # rt_sigreturn only ends a signal handler: a layer without signals never sees it.
        if n in shim or n in FS_CALLS or n == "rt_sigreturn":
            continue
        out.add(n)
        out.update(m for m in FALLBACKS.get(n, []) if m not in shim)
    return sorted(out)


def main():
    if sys.argv[1] == "--missing-nonfs":
        print(",".join(missing_nonfs(sys.argv[2])))
        return
    out, progs = sys.argv[1], sys.argv[2:]
    nums = syscall_numbers()
    shim = shim_calls()
    inject = collections.defaultdict(dict)
    tsv = os.path.join(out, "inject.tsv")
    if os.path.exists(tsv):
        for line in open(tsv):
            p, call, r = line.rstrip("\n").split("\t")
            inject[p][call] = r
    clocks = collections.defaultdict(dict)
    ctsv = os.path.join(out, "clocks.tsv")
    if os.path.exists(ctsv):
        for line in open(ctsv):
            p, clk, n = line.rstrip("\n").split("\t")
            clocks[p][clk] = int(n)
    clocks_run = {f[: -len(".clocks.perf")] for f in os.listdir(out) if f.endswith(".clocks.perf")}
    for p in progs:
        trace = os.path.join(out, p + ".trace")
        if not os.path.exists(trace):
            continue
        calls, signals = parse(trace)
        pids = {c[0] for c in calls}
        count = collections.Counter(c[1] for c in calls)
        errs = collections.defaultdict(collections.Counter)
        details = collections.defaultdict(collections.Counter)
        for pid, name, args_s, result, errno in calls:
            if errno:
                errs[name][errno] += 1
            d = detail(name, split_args(args_s), None)
            if d is not None:
                details[name][d + (" -> " + errno if errno else "")] += 1
        print("### %s: %d calls, %d distinct, %d thread(s)\n" % (p, len(calls), len(count), len(pids)))
        missing = sorted(n for n in count if n not in shim)
        print("Not in libc-shim's dispatch today (ENOSYS there): %s\n" % (", ".join("`%s`" % n for n in missing) or "none"))
        print("| call | nr | count | failed | libc-shim today | arguments that matter (count) |")
        print("|---|---|---|---|---|---|")
        for name, n in sorted(count.items(), key=lambda kv: (-kv[1], kv[0])):
            e = ", ".join("%s %d" % kv for kv in errs[name].most_common())
            today = SHIM_STUBS.get(name, "yes") if name in shim else "**ENOSYS**"
            ds = details[name].most_common()
            shown = "; ".join("`%s` (%d)" % (d.replace("|", "\\|").replace("`", "'"), c) for d, c in ds[:12])
            if len(ds) > 12:
                shown += "; ... %d more" % (len(ds) - 12)
            print("| %s | %s | %d | %s | %s | %s |" % (name, nums.get(name, "?"), n, e, today, shown))
        if p in clocks_run and not clocks.get(p):
            print("\nClock reads in libc (a uprobe on musl's `__clock_gettime`): none.")
        if clocks.get(p):
            names = ["CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID",
                     "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME"]
            shown = ", ".join("%s %d" % (names[int(c)] if 0 <= int(c) < len(names) else c, n)
                              for c, n in sorted(clocks[p].items(), key=lambda kv: -kv[1]))
            seen = count.get("clock_gettime", 0)
            print("\nClock reads in libc (a uprobe on musl's `__clock_gettime`; `time()`, `gettimeofday()` and")
            print("`clock()` go through it): %s; %d in all, of which strace saw %d as system calls: the" % (
                shown, sum(clocks[p].values()), seen))
            print("host's vDSO answered the rest, and a guest without a vDSO gets each as `clock_gettime` (228).")
        if signals:
            print("\nSignals delivered: %s" % ", ".join("%s %d" % kv for kv in signals.most_common()))
        if inject.get(p):
            print("\nWith one call failing (`strace --inject=CALL:error=ENOSYS`, every call of it): whether")
            print("the workload still gave the right results, the calls made then that the plain run did")
            print("not make (a fallback), and for a failure the program's first complaint:\n")
            print("| call | result | calls made instead | what the program said |")
            print("|---|---|---|---|")
            for call, r in inject[p].items():
                if call.startswith("minimal:"):
                    continue
                icalls, _ = parse(os.path.join(out, "%s.inject-%s.trace" % (p, call)))
                new = sorted({c[1] for c in icalls} - set(count))
                said = ""
                if r != "survives":
                    said = complaint(os.path.join(out, "%s.inject-%s.out" % (p, call)),
                                     os.path.join(out, "%s.inject-%s.trace" % (p, call)))
                print("| %s | %s | %s | %s |" % (
                    call,
                    "survives" if r == "survives" else "**fails**",
                    ", ".join("`%s`" % n for n in new),
                    said.replace("|", "\\|"),
                ))
        for call, r in inject[p].items():
            if call.startswith("minimal:"):
                calls = call[len("minimal:"):]
                tr = os.path.join(out, "%s.inject-minimal.trace" % p)
                said = "" if r == "survives" else ": " + complaint(os.path.join(out, "%s.inject-minimal.out" % p), tr)
                print("\nAll at once, the calls above that libc-shim lacks but for file-system ones, and their")
                print("fallbacks, failing with ENOSYS (`%s`): the workload **%s**%s." % (
                    calls.replace(",", " "), "survives" if r == "survives" else "fails", said))
        print()


def complaint(path, trace):
    """How a failed run ended: killed by a signal, else the program's first error line."""
    killed = ""
    if os.path.exists(trace):
        for line in open(trace, errors="replace"):
            m = re.search(r"\+\+\+ killed by (SIG\w+)", line)
            if m:
                killed = "killed by %s" % m.group(1)
                break
    if killed:
        return killed
    lines = []
    if os.path.exists(path):
        lines = [l.strip() for l in open(path, errors="replace") if l.strip()]
    strong = r"(?i)emerg|crit|fatal|failed|error|can.t|cannot|unable|not implemented"
    for l in lines:
        if re.search(strong, l) and "WARNING" not in l and not l.startswith("STAT "):
            return "`%s`" % l[:110].replace("`", "'")
    return "(no error message)"


main()
