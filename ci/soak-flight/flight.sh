# shellcheck shell=bash
# Soak flight, run by ci/soak (not a suite flight): apps/httpd under wrk in dom0 at 50
# keep-alive connections for MINUTES minutes (from soak.conf, written by ci/soak), as one
# 60 s wrk run per minute, each followed by the guest's /stats. Every minute gives one
# line that ci/soak collects (scripts/testbed shows it as "note: soak-minute ..."):
#   soak-minute M t=S rps=R p99_ms=L requests=N errors=E socket_errors=S non2xx=X
#     free_pages=P heap_used=U heap_size=Z connections_open=C
# (S: seconds since the first minute began; errors = socket errors + non-2xx answers).
# Steps: guest-start, guest-console, soak-wrk (every minute measured), guest-stop (the
# guest still powers off on xl shutdown after the soak).

# shellcheck source=/dev/null
source ./soak.conf
MINUTES=${MINUTES:?soak.conf sets MINUTES}
URL=http://10.0.0.2:80/ # with the port: dom0 has no /etc/services for wrk

# wrk_minute: one 60 s wrk run at 50 connections; sets rps p99 requests sock non2xx.
wrk_minute() {
    local out
    rps="" p99="" requests="" sock="" non2xx=""
    out=$(wrk -t1 -c50 -d60s --timeout 10s --latency "$URL" 2>&1)
    read -r rps p99 requests sock non2xx < <(awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v + 0
        }
        /^Requests\/sec:/ { rps = $2 }
        /^ +99%/ { p99 = ms($2) }
        / requests in / { req = $1 }
        /Socket errors:/ { gsub(/,/, ""); sock = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { non = $NF }
        END { printf "%s %.3f %s %d %d\n", rps, p99, req, sock, non }' <<<"$out")
    [ -n "$rps" ] && [ -n "$requests" ] && return 0
    note "soak: wrk gave no figures: ${out//$'\n'/ | }"
    return 1
}

# stats_field NAME: the number NAME has in $stats (the guest's /stats JSON), or "?".
stats_field() {
    [[ $stats =~ \"$1\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"
}

guest_cfg soak ./httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']" 'memory = 64'
if guest_start soak /run/ferrun/soak.cfg && guest_expect soak httpd.expect 60; then
    step_begin soak-wrk httpd
    note "soak: $MINUTES minutes of wrk -t1 -c50 (keep-alive) against $URL"
    measured=0
    _now_us
    t_start=$REPLY
    for ((m = 1; m <= MINUTES; m++)); do
        _now_us
        _secs "$t_start" "$REPLY"
        t=$REPLY
        wrk_minute || break
        stats=$(curl -s -m 20 "${URL}stats")
        note "soak-minute $m t=$t rps=$rps p99_ms=$p99 requests=$requests errors=$((sock + non2xx))" \
            "socket_errors=$sock non2xx=$non2xx free_pages=$(stats_field free_pages)" \
            "heap_used=$(stats_field heap_used_bytes) heap_size=$(stats_field heap_size_bytes)" \
            "connections_open=$(stats_field connections_open)"
        measured=$m
        _guest_state soak
        if _is_shutdown "$REPLY"; then
            note "soak: the guest stopped (state $REPLY) after minute $m"
            break
        fi
    done
    if ((measured == MINUTES)); then
        step soak-wrk httpd pass "$measured of $MINUTES minutes measured"
    else
        step soak-wrk httpd fail "$measured of $MINUTES minutes measured"
        _guest_dump soak
    fi
    xl shutdown soak >/dev/null
    guest_wait_stop soak poweroff 30
fi
