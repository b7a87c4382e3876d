# shellcheck shell=bash
# libc-shim flight: C programs on Debian's unmodified musl, through the Linux system-call
# ABI. Each program also ran natively on the build host (ci/flight, `c-golden`): its
# output there is what the guest's console must show, byte for byte.

# c_run NAME ARGS...: boots images/NAME with the arguments after `--`, waits for it to
# power off, and compares its console (without the kernel's log lines) with NAME.golden.
c_run() {
    local name=$1 log
    shift
    guest_cfg "$name" "../images/$name" "cmdline = \"-- $*\"" 'memory = 64'
    guest_start "$name" "/run/ferrun/$name.cfg" || return 1
    guest_wait_stop "$name" poweroff 120 || return 1
    log=$FERRUN_CONSOLE_DIR/guest-$name.log
    grep -av '^\[[0-9.]*\]\[' "$log" | tr -d '\r' >"/tmp/$name.out"
    if cmp -s "/tmp/$name.out" "$name.golden"; then
        step c-output "$name" pass "$(wc -l <"$name.golden") lines, the same as on the host: $(tail -n 1 "$name.golden")"
    else
        step c-output "$name" fail "differs from the host's output: $(diff "$name.golden" "/tmp/$name.out" | head -n 20 | tr '\n' '|')"
    fi
}

c_run c-hello one two
