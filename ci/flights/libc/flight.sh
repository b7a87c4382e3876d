# shellcheck shell=bash
# libc-shim flight: C programs on Debian's unmodified musl, through the Linux system-call
# ABI. Each program also ran natively on the build host (ci/flight, `c-golden`): its
# output there is what the guest's console must show, byte for byte.

# The programs compared with the host's output compute for seconds without a system
# call that blocks (c-hello's benchmarks, Lua's workload): on a loaded host (load 8 on
# 2 cores) that passed the stall watchdog's 5 s, and its report landed in the output.
# They run with watchdog=60, which still reports a real stall.
c_watchdog=watchdog=60

# c_run NAME ARGS...: boots images/NAME with the arguments after `--`, waits for it to
# power off, and compares its console (without the kernel's log lines) with NAME.golden.
c_run() {
    local name=$1 log
    shift
    guest_cfg "$name" "../images/$name" "cmdline = \"$c_watchdog -- $*\"" 'memory = 64'
    guest_start "$name" "/run/ferrun/$name.cfg" || return 1
    guest_wait_stop "$name" poweroff 120 || return 1
    log=$FERRUN_CONSOLE_DIR/guest-$name.log
    grep -av '^\[[0-9.]*\]\[' "$log" | tr -d '\r' | grep -av '^figure ' >"/tmp/$name.out"
    if cmp -s "/tmp/$name.out" "$name.golden"; then
        step c-output "$name" pass "$(wc -l <"$name.golden") lines, the same as on the host: $(tail -n 1 "$name.golden")"
    else
        step c-output "$name" fail "differs from the host's output: $(diff "$name.golden" "/tmp/$name.out" | head -n 20 | tr '\n' '|')"
        return 1
    fi
}

if c_run c-hello one two; then
    fig() { grep -a "^figure $2 " "$1" | tr -d '\r' | awk '{ print $3 }'; }
    ../images/c-hello.elf one two >/tmp/c-hello.dom0
    g=$FERRUN_CONSOLE_DIR/guest-c-hello.log
    step bench-syscall c-hello pass "null system call (getpid): guest $(fig "$g" null-syscall-ns) ns, dom0 (Linux PV) $(fig /tmp/c-hello.dom0 null-syscall-ns) ns; function call: guest $(fig "$g" function-call-ns) ns, dom0 $(fig /tmp/c-hello.dom0 function-call-ns) ns (under TCG)"
fi

# Lua 5.4 (lua-src's C sources) with a script: coroutines, %.17g, sorting 20,000 floats,
# pcall(error). Then its workload's time in the guest against the same static-pie run
# in dom0 (a Linux PV guest), in this boot.
if c_run lua; then
    guest_ms=$(grep -a '^figure lua-workload-ms' "$FERRUN_CONSOLE_DIR/guest-lua.log" | tr -d '\r' | awk '{ print $3 }')
    dom0_ms=$(../images/lua.elf | awk '/^figure lua-workload-ms/ { print $3 }')
    if [ -n "$guest_ms" ] && [ -n "$dom0_ms" ]; then
        step bench-lua lua pass "workload: guest $guest_ms ms, the same binary in dom0 $dom0_ms ms (ratio $(awk -v g="$guest_ms" -v d="$dom0_ms" 'BEGIN { printf "%.2f", g / (d > 0 ? d : 1) }'))"
    else
        step bench-lua lua fail "not measured: guest '$guest_ms' dom0 '$dom0_ms'"
    fi
fi

# SQLite (libsqlite3-sys's amalgamation, THREADSAFE=1): two threads, each with its own
# in-memory database (inserts, aggregates, JSON, dates).
c_run sqlite

# One generic image (apps/cprog, no program built in) runs the same static-pie given as
# the guest's ramdisk.
guest_cfg c-ramdisk ../images/cprog 'memory = 64' 'ramdisk = "../images/c-hello.elf"' \
    "cmdline = \"$c_watchdog -- one two\""
if guest_start c-ramdisk /run/ferrun/c-ramdisk.cfg && guest_wait_stop c-ramdisk poweroff 120; then
    grep -av '^\[[0-9.]*\]\[' "$FERRUN_CONSOLE_DIR/guest-c-ramdisk.log" | tr -d '\r' | grep -av '^figure ' >/tmp/c-ramdisk.out
    if cmp -s /tmp/c-ramdisk.out c-hello.golden; then
        step c-output c-ramdisk pass "c-hello from the ramdisk: the same output as on the host"
    else
        step c-output c-ramdisk fail "$(diff c-hello.golden /tmp/c-ramdisk.out | head -n 20 | tr '\n' '|')"
    fi
fi

# Files, directories, pipes, eventfds, socket pairs, poll/select/epoll, descriptors,
# locks, limits, devices, /etc and /proc: the same checks, the same output as on the host.
c_run c-posix

# The same program from a file tree: a newc cpio archive as the ramdisk is the read-only
# root, and the program is a path in it.
mkdir -p /tmp/c-root/bin /tmp/c-root/etc
cp ../images/c-posix.elf /tmp/c-root/bin/c-posix
echo 'from the root archive' >/tmp/c-root/etc/motd
(cd /tmp/c-root && find . | busybox cpio -o -H newc >/tmp/c-root.cpio 2>/dev/null)
guest_cfg c-root ../images/cprog 'memory = 64' 'ramdisk = "/tmp/c-root.cpio"' \
    "cmdline = \"$c_watchdog -- /bin/c-posix\""
if guest_start c-root /run/ferrun/c-root.cfg && guest_wait_stop c-root poweroff 120; then
    grep -av '^\[[0-9.]*\]\[' "$FERRUN_CONSOLE_DIR/guest-c-root.log" | tr -d '\r' | grep -av '^figure ' >/tmp/c-root.out
    if cmp -s /tmp/c-root.out c-posix.golden; then
        step c-output c-root pass "c-posix run from a cpio root ($(stat -c %s /tmp/c-root.cpio) bytes): the same output as on the host"
    else
        step c-output c-root fail "$(diff c-posix.golden /tmp/c-root.out | head -n 20 | tr '\n' '|')"
    fi
fi

# A web server in C (sockets, accept4, poll, non-blocking I/O) reached from dom0.
guest_cfg c-httpd ../images/c-httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:08']" \
    'memory = 64' 'cmdline = "ip=10.0.0.8/24 -- 8080"'
if guest_start c-httpd /run/ferrun/c-httpd.cfg && guest_expect c-httpd c-httpd.expect 60; then
    got=$(curl -s -m 20 http://10.0.0.8:8080/ | grep -c 'hello from C on ferrun')
    code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' http://10.0.0.8:8080/nothing)
    if [ "$got" = 1 ] && [ "$code" = 404 ]; then
        step c-httpd-get c-httpd pass "/ served, /nothing 404"
    else
        step c-httpd-get c-httpd fail "page matched $got times, /nothing gave '$code'"
    fi
    n=$(curl -s --no-progress-meter -m 120 -Z --parallel-max 50 -o /dev/null -w '%{http_code}\n' \
        "http://10.0.0.8:8080/?[1-50]" | grep -c '^200$')
    if [ "$n" = 50 ]; then
        step c-httpd-parallel c-httpd pass "50 of 50 clients at once answered"
    else
        step c-httpd-parallel c-httpd fail "$n of 50 clients at once answered"
    fi
    xl shutdown c-httpd
    guest_wait_stop c-httpd poweroff 20
fi

# Signals: handlers, masks, EINTR and SA_RESTART, sigsuspend, sigtimedwait, timers,
# SIGPIPE, threads: the same output as on the host.
c_run c-signals

# `xl shutdown` of a C program: SIGTERM. Caught, the program stops cleanly and the domain
# powers off; with SIGTERM's default action the domain powers off at once; ignored, the
# domain is shut down after the grace period (shutdown-grace=2).
for how in handler default ignore; do
    guest_cfg "c-sigterm-$how" ../images/c-sigterm 'memory = 32' "cmdline = \"shutdown-grace=2 -- $how\""
    if guest_start "c-sigterm-$how" "/run/ferrun/c-sigterm-$how.cfg" &&
        guest_expect "c-sigterm-$how" c-sigterm-ready.expect 60; then
        xl shutdown "c-sigterm-$how"
        if [ "$how" != default ]; then
            guest_expect "c-sigterm-$how" "c-sigterm-$how.expect" 30
        fi
        guest_wait_stop "c-sigterm-$how" poweroff 30
    fi
done

# Failing C programs: abort() and a NULL store end in crash reports naming the C
# functions; exit(3) ends the domain as crashed.
for how in abort segv exit; do
    guest_cfg "c-$how" ../images/c-crash 'memory = 32' "cmdline = \"-- $how\""
    if guest_start "c-$how" "/run/ferrun/c-$how.cfg" && guest_expect "c-$how" "c-$how.expect" 60; then
        guest_wait_stop "c-$how" crash 20
    fi
done

# stdin is the console: fgets reads what dom0 writes to the console's pty.
guest_cfg c-echo ../images/c-echo 'memory = 32'
if guest_start c-echo /run/ferrun/c-echo.cfg && guest_expect c-echo c-echo-ready.expect 60; then
    tty=$(xenstore-read "/local/domain/$(xl domid c-echo)/console/tty")
    if [ -c "$tty" ] && printf 'hello from dom0\r\nsecond line\nquit\n' >"$tty"; then
        guest_expect c-echo c-echo.expect 30 && guest_wait_stop c-echo poweroff 20
    else
        step c-console-input c-echo fail "cannot write to the console pty '$tty'"
    fi
fi

# Big ramdisks (built by ./prepare on the host): a static-pie of about 1, 8 and 32 MiB
# whose initialised array of random bytes it checksums, so every byte of the module is
# read; the output must be the host's. Each runs at the smallest `memory =` that holds it,
# found by trying each MiB on this testbed (one MiB less stops with cprog's message): the
# ramdisk stays reserved for good and the program is loaded beside it, so S MiB need
# about 2 S + 3 MiB (cprog's image and Xen's boot structures, the runtime's heap and
# file tree, the program's 1 MiB stack): 5, 20 and 68 MiB.
for size_mem in 1:5 8:20 32:68; do
    size=${size_mem%:*} mem=${size_mem#*:} name=c-ramdisk-${size_mem%:*}m
    guest_cfg "$name" ../images/cprog "memory = $mem" "ramdisk = \"$PWD/pad-$size.elf\"" \
        "cmdline = \"$c_watchdog\""
    if guest_start "$name" "/run/ferrun/$name.cfg" && guest_wait_stop "$name" poweroff 120; then
        grep -av '^\[[0-9.]*\]\[' "$FERRUN_CONSOLE_DIR/guest-$name.log" | tr -d '\r' >"/tmp/$name.out"
        if cmp -s "/tmp/$name.out" "pad-$size.golden"; then
            step c-output "$name" pass "$(stat -c %s "pad-$size.elf")-byte ramdisk at memory = $mem: $(cat "pad-$size.golden"), as on the host"
        else
            step c-output "$name" fail "host: $(cat "pad-$size.golden"); guest: $(head -n 5 "/tmp/$name.out" | tr '\n' '|')"
        fi
    fi
done

# A ramdisk that does not fit: the 32 MiB program at memory = 48 (Xen's builder takes it;
# loading it beside itself does not fit) ends as crashed with one line naming the sizes.
guest_cfg c-ramdisk-nofit ../images/cprog 'memory = 48' "ramdisk = \"$PWD/pad-32.elf\""
if guest_start c-ramdisk-nofit /run/ferrun/c-ramdisk-nofit.cfg &&
    guest_expect c-ramdisk-nofit c-ramdisk-nofit.expect 60; then
    guest_wait_stop c-ramdisk-nofit crash 20
fi

# Arguments with spaces, empty ones and quotes. The xl config's string is itself quoted:
# in a single-quoted xl string, \' is a quote and \\ a backslash, so the guest's command
# line is: -- plain "two words" "" '' a\ b "say \"hi\"" 'it'\''s' mixed"quo ted"end $HOME
# (xl list -l shows it), which cprog splits as a POSIX shell would.
guest_cfg c-argv ../images/cprog 'memory = 16' "ramdisk = \"$PWD/argv.elf\"" "$(cat <<'XL'
cmdline = 'watchdog=60 -- plain "two words" "" \'\' a\\ b "say \\"hi\\"" \'it\'\\\'\'s\' mixed"quo ted"end $HOME'
XL
)"
if guest_start c-argv /run/ferrun/c-argv.cfg && guest_wait_stop c-argv poweroff 60; then
    grep -av '^\[[0-9.]*\]\[' "$FERRUN_CONSOLE_DIR/guest-c-argv.log" | tr -d '\r' >/tmp/c-argv.out
    if cmp -s /tmp/c-argv.out c-argv.golden; then
        step c-argv-quoting c-argv pass "$(($(wc -l <c-argv.golden) - 1)) arguments as a shell splits them: $(tail -n +2 c-argv.golden | tr -d '\n')"
    else
        step c-argv-quoting c-argv fail "$(diff c-argv.golden /tmp/c-argv.out | head -n 20 | tr '\n' '|')"
    fi
fi
# An unterminated quote stops it with the quote's offset.
guest_cfg c-argv-open ../images/cprog 'memory = 16' "ramdisk = \"$PWD/argv.elf\"" \
    "cmdline = \"-- 'open\""
if guest_start c-argv-open /run/ferrun/c-argv-open.cfg &&
    guest_expect c-argv-open c-argv-open.expect 60; then
    guest_wait_stop c-argv-open crash 20
fi

# getrandom and AT_RANDOM from the kernel's ChaCha20 generator: the console names its
# seed's source; two boots give different bytes; a bad flag is EINVAL.
rand_ok=1
for boot in 1 2; do
    guest_cfg "c-random-$boot" ../images/cprog 'memory = 16' "ramdisk = \"$PWD/random.elf\""
    if guest_start "c-random-$boot" "/run/ferrun/c-random-$boot.cfg" &&
        guest_expect "c-random-$boot" c-random.expect 60 &&
        guest_wait_stop "c-random-$boot" poweroff 30; then
        tr -d '\r' <"$FERRUN_CONSOLE_DIR/guest-c-random-$boot.log" >"/tmp/c-random-$boot.out"
    else
        rand_ok=0
    fi
done
if [ "$rand_ok" = 1 ]; then
    src=$(grep -ao 'seeded from [A-Za-z ]*[A-Za-z]' /tmp/c-random-1.out | head -n 1)
    a=$(grep -a '^getrandom ' /tmp/c-random-1.out) b=$(grep -a '^getrandom ' /tmp/c-random-2.out)
    at_a=$(grep -a '^AT_RANDOM ' /tmp/c-random-1.out) at_b=$(grep -a '^AT_RANDOM ' /tmp/c-random-2.out)
    if [ -n "$a" ] && [ "$a" != "$b" ] && [ -n "$at_a" ] && [ "$at_a" != "$at_b" ]; then
        step c-random-boots c-random pass "$src; two boots differ: ${a#getrandom } vs ${b#getrandom }"
    else
        step c-random-boots c-random fail "two boots gave '$a' and '$b', AT_RANDOM '$at_a' and '$at_b'"
    fi
fi
