# shellcheck shell=bash
# xenbus flight: the guest's xenstore client against dom0's real xenstored. The guest
# writes a value dom0 must read back, and waits on a watch that fires when dom0 writes.

guest_cfg xenstore ../images/xenstore
if guest_start xenstore /run/ferrun/xenstore.cfg; then
    guest_expect xenstore before-poke.expect 60
    domid=$(xl domid xenstore 2>/dev/null)
    got=$(xenstore-read "/local/domain/$domid/data/greeting" 2>&1)
    if [ "$got" = "hello from ferrun" ]; then
        step dom0-xs-read xenstore pass "/local/domain/$domid/data/greeting = \"$got\""
    else
        step dom0-xs-read xenstore fail "/local/domain/$domid/data/greeting: \"$got\""
    fi
    if xenstore-write "/local/domain/$domid/data/poke" from-dom0; then
        step dom0-xs-write xenstore pass "wrote data/poke"
    else
        step dom0-xs-write xenstore fail "xenstore-write exited $?"
    fi
    guest_expect xenstore after-poke.expect 60
    guest_wait_stop xenstore poweroff
else
    step guest-console xenstore fail "skipped: guest-start failed"
fi
