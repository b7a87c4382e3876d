# shellcheck shell=bash
# Runtime-core flight: the in-guest self tests (threads, memory, time, events, steal).

# selftest_at MIB LDT_FULL: the selftest in a MIB MiB guest (steps for guest
# selftest-MIBMiB). LDT_FULL (yes or no) is whether its LDT test must use up the LDT's
# 8192 TLS entries before memory runs out: a thread takes about 13 KiB (a 2-page stack,
# its guard page and some heap), so from about 115 MiB on.
selftest_at() {
    local mib=$1 full=$2 line expect=$FERRUN_RUN/selftest-$1.expect
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s\n' "${line//@LDT_FULL@/$full}"
    done <selftest.expect >"$expect"
    # 30 s is too short under a loaded host: one run took 38 s (2 cores, load 5).
    FERRUN_CONSOLE_TIMEOUT=180 guest_run "selftest-${mib}MiB" ../images/selftest "$expect" \
        poweroff "memory = $mib"
}

# The selftest scales what it needs to the memory it has: the same tests at four sizes.
selftest_at 32 no
selftest_at 64 no
selftest_at 160 yes
# Xen has about 1256 MiB free (QEMU's 2048 less dom0's 768 and its own): room for a
# 1 GiB guest, run alone; xl create says so if not.
free_mib=$(xl info | awk -F': *' '$1 ~ /^free_memory/ { print $2 }')
note "Xen free memory before the 1024 MiB selftest: ${free_mib:-unknown} MiB"
selftest_at 1024 yes
# A thread that overflows its stack hits the guard page: reported, not silent.
guest_run overflow ../images/overflow overflow.expect crash
# The heap running out of memory is a crash report, not silent corruption.
guest_run oom ../images/oom oom.expect crash
