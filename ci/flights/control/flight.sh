# shellcheck shell=bash
# Control flight: `xl shutdown` powers the guest off and `xl reboot` reboots it (kept for
# inspection by on_reboot = "preserve"), each after the app's shutdown hook ran; a request
# the guest does not support is logged and ignored, and `xl sysrq` keys are handled. Then console input: lines dom0 writes
# to the guest's console reach the app. The log level follows the command line.

# control_run NAME EXPECT [CMDLINE]: starts NAME from the control image and waits until
# its console matched EXPECT.
control_run() {
    guest_cfg "$1" ../images/control "cmdline = \"${3:-}\"" || return 1
    guest_start "$1" "/run/ferrun/$1.cfg" && guest_expect "$1" "$2" 60
}

# control_stop NAME COMMAND REASON: runs `xl COMMAND NAME` and expects shutdown REASON
# within 10 s, the request and the hook on the console.
control_stop() {
    local name=$1 command=$2 reason=$3 t0
    _now_us
    t0=$REPLY
    if ! xl "$command" "$name"; then
        step guest-shutdown "$name" fail "xl $command exited $?"
        guest_destroy "$name"
        return 1
    fi
    guest_wait_stop "$name" "$reason" 10 || return 1
    _now_us
    _secs "$t0" "$REPLY"
    step guest-shutdown "$name" pass "xl $command -> $reason in $REPLY s (xl start-up and polling included)"
    guest_expect "$name" "$reason.expect" 10
}

# At loglevel=debug the app's debug line shows; at the default level (ctl-reboot) not.
if control_run ctl-off ready-debug.expect loglevel=debug; then
    domid=$(xl domid ctl-off)
    xenstore-write "/local/domain/$domid/control/shutdown" bogus
    if guest_expect ctl-off bogus.expect 30; then
        # Not carried out, so not acknowledged: the key keeps the request.
        left=$(xenstore-read "/local/domain/$domid/control/shutdown" 2>&1)
        if [ "$left" = bogus ]; then
            step control-no-ack ctl-off pass "an unsupported request stays unacknowledged"
        else
            step control-no-ack ctl-off fail "control/shutdown is '$left' after 'bogus'"
        fi
        xenstore-write "/local/domain/$domid/control/shutdown" ""
    fi
    # xl sysrq: z dumps the trace ring, m shows memory, another key lists the keys; each
    # key is cleared once read.
    if xl sysrq ctl-off z && guest_expect ctl-off sysrq-z.expect 30 &&
        xl sysrq ctl-off m && guest_expect ctl-off sysrq-m.expect 30 &&
        xl sysrq ctl-off x && guest_expect ctl-off sysrq.expect 30; then
        left=$(xenstore-read "/local/domain/$domid/control/sysrq" 2>&1)
        if [ -z "$left" ]; then
            step sysrq-cleared ctl-off pass "control/sysrq is empty after three keys"
        else
            step sysrq-cleared ctl-off fail "control/sysrq is '$left' after three keys"
        fi
    fi
    control_stop ctl-off shutdown poweroff
fi
if control_run ctl-reboot ready.expect; then
    control_stop ctl-reboot reboot reboot
    if grep -q 'DEBUG' /var/log/xen/console/guest-ctl-reboot.log; then
        step log-level ctl-reboot fail "a DEBUG line at the default level (info)"
    else
        step log-level ctl-reboot pass "no DEBUG line at the default level (info)"
    fi
fi

# Console input: dom0 writes lines to the guest console's pty; the guest echoes them.
# A bad loglevel word is reported and the default kept.
guest_cfg echo ../images/echo 'cmdline = "loglevel=loud"'
if guest_start echo /run/ferrun/echo.cfg && guest_expect echo echo-ready.expect 60; then
    domid=$(xl domid echo)
    tty=$(xenstore-read "/local/domain/$domid/console/tty")
    if [ -c "$tty" ] && printf 'hello from dom0\r\nsecond line\nquit\n' >"$tty"; then
        step guest-console-input echo pass "three lines written to $tty"
    else
        step guest-console-input echo fail "cannot write to the console pty '$tty'"
    fi
    guest_expect echo echo.expect 30
    guest_wait_stop echo poweroff
fi

# Console flow control: with xenconsoled stopped for 5 s (longer than the 2 s a full ring
# is allowed in kernel context), a thread printing 1000 lines waits for room and loses
# none of them.
guest_cfg burst ../images/burst
if guest_start burst /run/ferrun/burst.cfg && guest_expect burst burst-ready.expect 60; then
    domid=$(xl domid burst)
    consoled=$(pidof xenconsoled)
    kill -STOP "$consoled"
    xenstore-write "/local/domain/$domid/data/burst" 1000
    sleep 5 # the injected stall, not a synchronisation
    kill -CONT "$consoled"
    guest_expect burst burst-done.expect 60
    got=$(tr -d '\r' <"$FERRUN_CONSOLE_DIR/guest-burst.log" |
        awk '/^burst line / { if ($3 + 0 != n) { bad = 1 } n++ } END { print (bad ? "out-of-order" : n + 0) }')
    if [ "$got" = 1000 ]; then
        step console-stall burst pass "1000 of 1000 lines, in order, after a 5 s backend stall"
    else
        step console-stall burst fail "expected 1000 lines in order, got $got"
    fi
    guest_wait_stop burst poweroff
fi
