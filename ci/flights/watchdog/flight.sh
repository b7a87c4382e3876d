# shellcheck shell=bash
# Watchdog flight: a thread that never yields is reported by the stall watchdog (from the
# timer upcall) while it spins, naming it, and the others run again once it is done; a
# guest that stops taking events is ended by Xen's domain watchdog.

guest_cfg stall ../images/stall 'memory = 32'
if guest_start stall /run/ferrun/stall.cfg && guest_expect stall stall.expect 60; then
    # When the report came after the spin began (dom0's arrival times of the two lines).
    lines=$FERRUN_RUN/stall.lines
    t0=$(grep -m1 'stall: spinner spinning' "$lines" | cut -d' ' -f1)
    t1=$(grep -m1 'ferrun: watchdog: thread' "$lines" | cut -d' ' -f1)
    step stall-report stall pass "reported $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after the spin began (watchdog=5), before it ended; the ticker ran again"
    guest_wait_stop stall poweroff 30
fi

# The same when the spin begins as a sleep's timer wakes the idle vCPU: that timer's
# upcall comes before a thread is chosen, and must still arm the next check.
FERRUN_CONSOLE_TIMEOUT=60 guest_run stall-after-sleep ../images/stall stall.expect poweroff 'memory = 32' \
    'cmdline = "after-sleep"'

guest_cfg hung ../images/stall 'memory = 32' 'cmdline = "masked domain-watchdog=4"' \
    'on_watchdog = "preserve"'
if guest_start hung /run/ferrun/hung.cfg && guest_expect hung masked.expect 60; then
    domid=$(xl domid hung)
    # From dom0, with the image's symbol file: the hung guest's RIP or stack names the
    # function it spins in.
    ctx=$(guest_xenctx hung)
    if grep -q 'stall::spin_without_yielding' <<<"$ctx"; then
        step xenctx-symbols hung pass "$(grep -m1 '^rip:' <<<"$ctx" | tr -s ' \t' ' '); stack names stall::spin_without_yielding"
    else
        step xenctx-symbols hung fail "xenctx output does not name stall::spin_without_yielding: $(head -c 600 <<<"$ctx" | tr '\n' '|')"
    fi
    step_begin xen-watchdog hung
    _now_us
    deadline=$((REPLY + 60000000))
    while _guest_state hung && ! _is_shutdown "$REPLY"; do
        _now_us
        ((REPLY < deadline)) || break
        _pause 0.5
    done
    fired=$(xl dmesg | grep -i "watchdog timer fired for domain $domid" | tail -n 1)
    if [ -n "$fired" ]; then
        step xen-watchdog hung pass "events masked for good: ${fired#*) }"
    else
        step xen-watchdog hung fail "no watchdog shutdown within 60 s (state $(xl list hung 2>&1 | tail -n 1))"
    fi
    guest_destroy hung
fi

# Failed hypercalls are named: op, arguments, errno, caller; a multicall's failed entry
# in seed 001's format.
guest_run diag ../images/diag diag.expect poweroff 'memory = 32'
