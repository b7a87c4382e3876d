# shellcheck shell=bash
# Repeat flight (issue 16): apps/httpd created and ended 50 times in one boot, by `xl
# destroy` (odd cycles) and by `xl shutdown` (even cycles: the guest powers off, then the
# preserved domain is destroyed). Every start must serve `/` to curl in dom0; afterwards
# Xen's free memory is back where it was before the first cycle, and no xenstore node of
# any of the 50 domains is left (backend or frontend).
#
# Steps: guest-start.repeat (every start served), guest-stop.repeat (every guest ended as
# asked), free-memory (xl info), free-pages (the same at page precision, from Xen's debug
# key m), xenstore-clean. A failed cycle is named with its domid and what went wrong, and
# the first one's own steps and diagnostics are shown.
#
# The guests' vif uses vif-hotplug from this directory instead of Debian's vif-bridge (see
# there): the same bridge port, at a fraction of the time per cycle under emulation.

CYCLES=50
NAME=repeat
H=http://10.0.0.2
OUT=$FERRUN_RUN/repeat-cycle.out       # what the cycle running now printed
FIRST_FAIL=$FERRUN_RUN/repeat-first-fail.out

# Sets REPLY to Xen's free memory in MiB (xl info free_memory), or "" if xl info failed.
xen_free_mib() {
    local info
    REPLY=""
    info=$(xl info 2>/dev/null) || return 1
    [[ $info =~ free_memory[[:space:]]*:[[:space:]]*([0-9]+) ]] || return 1
    REPLY=${BASH_REMATCH[1]}
}

# Sets REPLY to the free domain heap in KiB (page precision) that Xen's debug key m prints
# on its console, or "" if it could not be read.
xen_heap_kib() {
    local line
    REPLY=""
    xl debug-keys m >/dev/null 2>&1 || return 1
    line=$(xl dmesg 2>/dev/null | grep -a 'Dom heap:' | tail -n 1)
    [[ $line =~ Dom\ heap:\ ([0-9]+)kB\ free ]] || return 1
    REPLY=${BASH_REMATCH[1]}
}

# Sets REPLY to the domains other than Domain-0, "name(domid)" each (one xl call).
other_domains() {
    REPLY=$(xl list 2>&1 | awk 'NR > 1 && $1 != "Domain-0" { printf "%s%s(%s)", s, $1, $2; s = " " }')
}

# wait_alone SECS: waits until Domain-0 is the only domain (dying ones are listed too, as
# "(null)", while Xen still holds their pages); fails when SECS pass first, with the
# others in REPLY.
wait_alone() {
    local deadline
    _now_us
    deadline=$((REPLY + $1 * 1000000))
    while other_domains && [ -n "$REPLY" ]; do
        _now_us
        if ((REPLY >= deadline)); then
            other_domains
            return 1
        fi
        _pause 0.2
    done
}

# Every xenstore path, one a line, sorted (values left out).
xs_paths() {
    xenstore-ls -f / 2>/dev/null | sed 's/ = .*//' | LC_ALL=C sort
}

# The paths of FILE that belong to one of the domids given after it: the domain's own
# directory (frontends), its toolstack directory, its backends in dom0 and a device model.
xs_of_domids() {
    local file=$1
    shift
    awk -v ids="$*" '
        BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        {
            split($0, p, "/")
            # /local/domain/D..., /libxl/D..., /local/domain/0/backend/TYPE/D...,
            # /local/domain/0/device-model/D...
            if ((p[2] == "local" && p[3] == "domain" && (p[4] in want)) ||
                (p[2] == "libxl" && (p[3] in want)) ||
                (p[2] == "local" && p[3] == "domain" && p[4] == "0" && p[5] == "backend" && (p[7] in want)) ||
                (p[2] == "local" && p[3] == "domain" && p[4] == "0" && p[5] == "device-model" && (p[6] in want)))
                print
        }' "$file"
}

# cycle I: one start, one request, one stop (destroy when I is odd, shutdown when even).
# Sets served=1 when / was served, stopped=1 when the guest ended as asked, why to what
# went wrong, and domid. Prints the library's steps and diagnostics (the caller keeps them).
cycle() {
    local i=$1 code out rc
    served=0 stopped=0 why="" domid="?"
    if ! guest_start "$NAME" "$FERRUN_RUN/$NAME.cfg"; then
        why="xl create failed: $(grep -m1 -i error "$FERRUN_RUN/$NAME.create.log")"
        return
    fi
    domid=$REPLY_DOMID # from guest_start's last look at the domain
    [[ $domid =~ ^[0-9]+$ ]] && domids+=("$domid")
    if guest_expect "$NAME" httpd.expect 60; then
        ((i == 1)) && xs_paths >"$FERRUN_RUN/repeat-xs.live"
        rm -f "$FERRUN_RUN/repeat.got"
        code=$(curl -sS -m 20 -o "$FERRUN_RUN/repeat.got" -w '%{http_code}' "$H/" 2>&1)
        if [ "$code" = 200 ] && cmp -s "$FERRUN_RUN/repeat.got" www/index.html; then
            served=1
        else
            why="GET / answered '${code//$'\n'/ }', $(stat -c %s "$FERRUN_RUN/repeat.got" 2>/dev/null || echo 0) bytes (want 200 and www/index.html)"
        fi
    else
        why="not listening within 60 s (console above)"
    fi
    if ((i % 2)); then
        out=$(xl destroy "$NAME" 2>&1)
        rc=$?
        _stream_stop "$NAME"
        if [ $rc -eq 0 ]; then
            stopped=1
        else
            why=${why:-"xl destroy exited $rc: ${out//$'\n'/ | }"}
        fi
    else
        out=$(xl shutdown "$NAME" 2>&1)
        rc=$?
        if [ $rc -ne 0 ]; then
            why=${why:-"xl shutdown exited $rc: ${out//$'\n'/ | }"}
            guest_destroy "$NAME"
        elif guest_wait_stop "$NAME" poweroff 30; then
            stopped=1
        else
            why=${why:-"no poweroff within 30 s of xl shutdown (guest-stop above)"}
        fi
    fi
}

guest_cfg "$NAME" ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02,script=$PWD/vif-hotplug']"

# Before the first cycle: no other domain (an earlier flight's may still be dying), then
# Xen's free memory and every xenstore path.
step_begin free-memory xen
if ! wait_alone 60; then
    note "repeat: other domains still there after 60 s, measuring anyway: $REPLY"
fi
xen_free_mib
mib0=$REPLY
xen_heap_kib
kib0=$REPLY
xs_paths >"$FERRUN_RUN/repeat-xs.before"
rm -f "$FIRST_FAIL"

domids=()
n_served=0
n_stopped=0
n_destroy=0
n_shutdown=0
fails=()
secs=()
kib1=""
step_begin guest-start.repeat httpd
_now_us
t_all=$REPLY
for ((i = 1; i <= CYCLES; i++)); do
    _now_us
    t0=$REPLY
    cycle "$i" >"$OUT" 2>&1
    _now_us
    _secs "$t0" "$REPLY"
    secs+=("$REPLY")
    n_served=$((n_served + served))
    n_stopped=$((n_stopped + stopped))
    if ((stopped && i % 2)); then
        n_destroy=$((n_destroy + 1))
    elif ((stopped)); then
        n_shutdown=$((n_shutdown + 1))
    fi
    if [ -n "$why" ]; then
        fails+=("cycle $i (domid $domid): $why")
        [ -s "$FIRST_FAIL" ] || { echo "cycle $i of $CYCLES"; cat "$OUT"; } >"$FIRST_FAIL"
    fi
    # Xen's free pages once the first guest is gone: what the other 49 must leave as found.
    if ((i == 1)); then
        wait_alone 60 && xen_heap_kib && kib1=$REPLY
    fi
    if ((i % 10 == 0 && i < CYCLES)); then
        _now_us
        _secs "$t_all" "$REPLY"
        note "repeat: $i of $CYCLES cycles in $REPLY s, $n_served served, ${#fails[@]} failed"
    fi
done
_now_us
t_end=$REPLY
_secs "$t_all" "$t_end"
total=$REPLY
read -r s_min s_med s_max < <(printf '%s\n' "${secs[@]}" | sort -n |
    awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)], v[NR] }')
timing="cycles took ${s_min}-${s_max} s (median ${s_med}), ${total} s in all"

if [ -s "$FIRST_FAIL" ]; then
    # The first failed cycle's own steps, as remarks (they are not steps of this flight).
    note "repeat: the first failed cycle's output follows"
    sed -e 's/^@@STEP /@@NOTE (step) /' -e '/^@@BEGIN /d' "$FIRST_FAIL"
fi
detail="${fails[*]:0:3}"
((${#fails[@]} <= 3)) || detail+=" (and $((${#fails[@]} - 3)) more failed cycles)"
if ((n_served == CYCLES)); then
    step guest-start.repeat httpd pass "$n_served/$CYCLES served / (byte for byte); $timing"
else
    step guest-start.repeat httpd fail "$n_served/$CYCLES served; $detail"
fi
if ((n_stopped == CYCLES)); then
    step guest-stop.repeat httpd pass "$n_stopped/$CYCLES ended: $n_destroy by xl destroy, $n_shutdown powered off on xl shutdown"
else
    step guest-stop.repeat httpd fail "$n_stopped/$CYCLES ended as asked ($n_destroy xl destroy, $n_shutdown xl shutdown); $detail"
fi

# Xen frees a domain's pages once nobody maps them any more (netback's grant mappings
# can keep a dying domain a while): wait for that, bounded.
step_begin free-memory xen
_now_us
deadline=$((REPLY + 120 * 1000000))
while :; do
    other_domains
    left=$REPLY
    xen_free_mib
    mib=$REPLY
    if [ -z "$left" ] && [ -n "$mib" ] && [ -n "$mib0" ] && ((mib >= mib0)); then
        break
    fi
    _now_us
    ((REPLY < deadline)) || break
    _pause 0.5
done
_now_us
_secs "$t_end" "$REPLY"
lag=$REPLY
if [ -z "$mib0" ] || [ -z "$mib" ]; then
    step free-memory xen fail "xl info gave no free_memory (before '$mib0', after '$mib')"
elif [ -n "$left" ] || ((mib < mib0)); then
    step free-memory xen fail "xl info free_memory $mib0 MiB before cycle 1, $mib MiB ${lag} s after cycle $CYCLES" \
        "($((mib0 - mib)) MiB short); domains still there: ${left:-none}"
else
    step free-memory xen pass "xl info free_memory $mib0 MiB before cycle 1, $mib MiB after cycle $CYCLES" \
        "(seen ${lag} s after the last stop)"
fi

# The same at page precision: cycles 2-50 must leave Xen's free pages as cycle 1 left them
# (the first guest of a boot makes Xen allocate a few pages it keeps, e.g. 8 KiB).
step_begin free-pages xen
while :; do
    xen_heap_kib
    kib=$REPLY
    [ -n "$kib" ] && [ -n "$kib1" ] && ((kib >= kib1)) && break
    _now_us
    ((REPLY < deadline)) || break
    _pause 1
done
if [ -z "$kib0" ] || [ -z "$kib1" ] || [ -z "$kib" ]; then
    step free-pages xen fail "could not read Xen's free domain heap (debug key m): before '$kib0'," \
        "after cycle 1 '$kib1', after cycle $CYCLES '$kib'"
elif ((kib < kib1)); then
    step free-pages xen fail "free domain heap $kib0 KiB before, $kib1 KiB after cycle 1, $kib KiB after cycle $CYCLES:" \
        "$((kib1 - kib)) KiB ($(((kib1 - kib) / 4)) pages) fewer over $((CYCLES - 1)) cycles"
else
    step free-pages xen pass "free domain heap (debug key m) $kib0 KiB before, $kib1 KiB after cycle 1," \
        "$kib KiB after cycle $CYCLES: cycles 2-$CYCLES left no page behind"
fi

# No node of any of the domains, and no path that was not there before cycle 1 but for
# the toolstack's own top directories (libxl makes /libxl and /vm for its first domain).
step_begin xenstore-clean xenstore
xs_paths >"$FERRUN_RUN/repeat-xs.after"
if [ ${#domids[@]} -eq 0 ]; then
    step xenstore-clean xenstore fail "no domain was created"
else
    live=$(xs_of_domids "$FERRUN_RUN/repeat-xs.live" "${domids[0]}" 2>/dev/null | wc -l)
    leaked=$(xs_of_domids "$FERRUN_RUN/repeat-xs.after" "${domids[@]}")
    new=$(LC_ALL=C comm -13 "$FERRUN_RUN/repeat-xs.before" "$FERRUN_RUN/repeat-xs.after" | grep -vx -e /libxl -e /vm)
    ids="${#domids[@]} domids (${domids[0]}-${domids[-1]})"
    if [ "$live" -eq 0 ]; then
        step xenstore-clean xenstore fail "the check finds nothing even for the running guest of cycle 1" \
            "(domid ${domids[0]}): it looks in the wrong places"
    elif [ -n "$leaked$new" ]; then
        all=$(printf '%s\n' "$leaked" "$new" | grep -v '^$' | LC_ALL=C sort -u)
        # The topmost of them (a node's children left out).
        top=$(awk 'p == "" || index($0, p "/") != 1 { print; p = $0 }' <<<"$all")
        step xenstore-clean xenstore fail "$ids: $(wc -l <<<"$all") paths left, under:" \
            "$(head -n 8 <<<"$top" | tr '\n' ' ')$( (($(wc -l <<<"$top") <= 8)) || echo ...)"
    else
        step xenstore-clean xenstore pass "$ids: no node under /local/domain/D, /libxl/D," \
            "/local/domain/0/backend/*/D (cycle 1's guest had $live there while it ran), and no path" \
            "that was not there before ($(wc -l <"$FERRUN_RUN/repeat-xs.after") paths)"
    fi
fi
