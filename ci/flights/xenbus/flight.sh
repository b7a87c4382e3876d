# shellcheck shell=bash
# xenbus flight: the guest's xenstore client against dom0's real xenstored. The guest
# writes a value dom0 must read back, lists its home tree as dom0's xenstore-ls does,
# waits on a watch that fires when dom0 writes, and gets a timeout error (not a hang)
# while dom0 has xenstored stopped.

# With a vif on dom0's bridge: the hotplug path network guests need.
guest_cfg xenstore ../images/xenstore "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']"
if guest_start xenstore /run/ferrun/xenstore.cfg; then
    guest_expect xenstore before-poke.expect 60
    domid=$(xl domid xenstore 2>/dev/null)
    if link=$(ip -o link show "vif$domid.0" 2>&1) && [[ $link == *"master xenbr0"* ]]; then
        step vif-hotplug xenstore pass "vif$domid.0 is on xenbr0"
    else
        step vif-hotplug xenstore fail "vif$domid.0 not on xenbr0: $link"
    fi
    # The guest's own listing of its home must equal dom0's (values, not permissions).
    tr -d '\r' <"/var/log/xen/console/guest-xenstore.log" |
        sed -n '/^xs-tree: begin/,/^xs-tree: end/s/^xs-tree: \(\/.*\)$/\1/p' | sort >/tmp/tree.guest
    xenstore-ls -fp "/local/domain/$domid" | sed 's/  *([^()]*)$//' | sort >/tmp/tree.dom0
    if [ -s /tmp/tree.guest ] && diff /tmp/tree.guest /tmp/tree.dom0 >/tmp/tree.diff; then
        step guest-xenstorels xenstore pass "$(wc -l </tmp/tree.guest) nodes, the same as xenstore-ls -fp"
    else
        step guest-xenstorels xenstore fail "guest and dom0 listings differ ($(wc -l </tmp/tree.guest) vs $(wc -l </tmp/tree.dom0) nodes):"
        head -n 20 /tmp/tree.diff
    fi
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
    # A reply that never comes is a timeout error, not a hang; the late one is a stray.
    tty=$(xenstore-read "/local/domain/$domid/console/tty")
    xenstored=$(cat /run/xen/xenstored.pid)
    kill -STOP "$xenstored"
    printf 'stall\n' >"$tty"
    # Nothing here may use xl or xenstore-* while xenstored is stopped (they would wait for
    # it): watch the console log directly, for 60 s at most.
    for ((i = 0; i < 300; i++)); do
        grep -q 'read timed out' "$FERRUN_CONSOLE_DIR/guest-xenstore.log" && break
        _pause 0.2
    done
    kill -CONT "$xenstored"
    guest_expect xenstore stall.expect 10
    printf 'resume\n' >"$tty"
    guest_expect xenstore resume.expect 60
    guest_wait_stop xenstore poweroff
else
    step guest-console xenstore fail "skipped: guest-start failed"
fi
