# shellcheck shell=bash
# Steal-time flight: a spinning guest alone on its pCPU sees almost no steal; two
# spinning guests pinned to the same pCPU each see about half their wall time stolen.
# dom0's vCPUs are pinned to the other pCPU first (TESTBED.md: otherwise dom0's own work
# lands on the guest's pCPU too).

# steal_check NAME LO HI: the guest's reported steal share is in [LO, HI) percent.
steal_check() {
    local name=$1 lo=$2 hi=$3 line share
    line=$(grep -a '^spin: ' "/var/log/xen/console/guest-$name.log" | tail -n 1)
    share=$(sed -n 's/.* share \([0-9]*\)\.[0-9]%$/\1/p' <<<"$line")
    if [ -n "$share" ] && [ "$share" -ge "$lo" ] && [ "$share" -lt "$hi" ]; then
        step steal-share "$name" pass "${line#spin: } (expected ${lo}-${hi}%)"
    else
        step steal-share "$name" fail "${line:-no spin line}: expected a share of ${lo}-${hi}%"
    fi
}

if dom0_pin_away_from 1; then
    step dom0-pin dom0 pass "dom0 vCPUs kept off pCPU 1"
else
    step dom0-pin dom0 fail "xl vcpu-pin failed"
fi

# The emulated platform must keep dom0 processes' vector registers across vCPU switches on
# one pCPU (see ci/tools/fpcheck.c): two checkers on each dom0 vCPU, both vCPUs on pCPU 0.
fp_pids=()
for i in 1 2 3 4; do
    taskset -c $((i % 2)) ../tools/fpcheck "$i" 8 >"/tmp/fpcheck.$i" 2>&1 &
    fp_pids+=($!)
done
fp_bad=0
for pid in "${fp_pids[@]}"; do
    wait "$pid" || fp_bad=$((fp_bad + 1))
done
fp_out=$(cat /tmp/fpcheck.[1-4] | sed 's/^fpcheck //' | paste -sd ';')
if [ "$fp_bad" -eq 0 ]; then
    step dom0-fpu dom0 pass "vector state kept: $fp_out"
else
    step dom0-fpu dom0 fail "$fp_bad of 4 checkers saw corrupted vector state: $fp_out"
fi

guest_run spin-alone ../images/spin spin.expect poweroff 'cpus = "1"' 'cmdline = "spin=10"'
steal_check spin-alone 0 10

# xl pause while it spins: the paused seconds are offline time, and steal.
guest_cfg spin-paused ../images/spin 'cpus = "1"' 'cmdline = "spin=10"'
if guest_start spin-paused /run/ferrun/spin-paused.cfg &&
    guest_expect spin-paused spin-started.expect 60; then
    _now_us
    p0=$REPLY
    xl pause spin-paused && sleep 2 && xl unpause spin-paused
    _now_us
    _secs "$p0" "$REPLY"
    paused=$REPLY
    guest_expect spin-paused spin.expect 60 && guest_wait_stop spin-paused poweroff
    line=$(grep -a '^spin: wall' "/var/log/xen/console/guest-spin-paused.log" | tail -n 1)
    offline=$(sed -n 's/.* offline-ms \([0-9]*\) .*/\1/p' <<<"$line")
    if [ -n "$offline" ] && [ "$offline" -ge 1500 ]; then
        step steal-pause spin-paused pass "paused ${paused} s (xl pause .. unpause): ${line#spin: }"
    else
        step steal-pause spin-paused fail "paused ${paused} s, but: ${line:-no spin line}"
    fi
fi

# Both sleep until the same wall-clock second, then spin together: xl create of the second
# guest takes seconds under emulation, so starting at creation would barely overlap.
start=$(($(date +%s) + 15))
guest_cfg spin-a ../images/spin 'cpus = "1"' "cmdline = \"spin=10 start=$start\""
guest_cfg spin-b ../images/spin 'cpus = "1"' "cmdline = \"spin=10 start=$start\""
guest_start spin-a /run/ferrun/spin-a.cfg
guest_start spin-b /run/ferrun/spin-b.cfg
guest_expect spin-a spin.expect 120
guest_expect spin-b spin.expect 120
guest_wait_stop spin-a poweroff
guest_wait_stop spin-b poweroff
steal_check spin-a 35 65
steal_check spin-b 35 65
