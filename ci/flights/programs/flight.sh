# shellcheck shell=bash
# Programs flight: Debian 12's own lua 5.4, sqlite3 3.40, redis 7.0, nginx 1.22 and
# memcached 1.6, built from their unmodified source packages with scripts/ferrun-cc
# (ci/programs), each run by the generic cprog image from a read-only root (a newc cpio
# archive as the ramdisk, packed by ./prepare) as a user would: lua and sqlite3 print what
# they print on the host; the servers are driven from dom0 by real clients (curl, wrk,
# redis-benchmark, nc) and stopped by `xl shutdown`, which they see as SIGTERM.

# Programs that compute for seconds under emulation without a blocking call.
p_watchdog=watchdog=60

# p_output NAME: the guest's console without the kernel's log lines (and the entropy line).
p_output() {
    grep -av '^\[[0-9.]*\]\[' "$FERRUN_CONSOLE_DIR/guest-$1.log" | tr -d '\r'
}

# p_compare NAME: its console output against NAME.golden (what the host printed).
p_compare() {
    local name=$1
    p_output "$name" >"/tmp/$name.out"
    if cmp -s "/tmp/$name.out" "$name.golden"; then
        step p-output "$name" pass "$(wc -l <"$name.golden") lines, the same as on the host: $(tail -n 1 "$name.golden")"
    else
        step p-output "$name" fail "differs from the host's output: $(diff "$name.golden" "/tmp/$name.out" | head -n 20 | tr '\n' '|')"
    fi
}

# lua: a script file that reads a data file and writes to /tmp.
guest_cfg lua ../images/cprog 'memory = 32' "ramdisk = \"$PWD/lua.cpio\"" \
    "cmdline = \"$p_watchdog -- /usr/bin/lua /srv/script.lua /srv\""
if guest_start lua /run/ferrun/lua.cfg && guest_wait_stop lua poweroff 120; then
    p_compare lua
fi

# sqlite3: a .sql file from the root against a database file on tmpfs (an index on 200k
# rows, whose sort spills to a temporary file), ending with PRAGMA integrity_check.
guest_cfg sqlite ../images/cprog 'memory = 128' "ramdisk = \"$PWD/sqlite.cpio\"" \
    "cmdline = \"$p_watchdog -- /usr/bin/sqlite3 /tmp/test.db '.read /srv/test.sql'\""
if guest_start sqlite /run/ferrun/sqlite.cfg && guest_wait_stop sqlite poweroff 600; then
    p_compare sqlite
fi

# redis-server with its configuration file from the root, under redis-benchmark's default
# tests from dom0; xl shutdown is SIGTERM, and redis shuts itself down.
guest_cfg redis ../images/cprog 'memory = 128' "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:21']" \
    "ramdisk = \"$PWD/redis.cpio\"" \
    "cmdline = \"$p_watchdog ip=10.0.0.21/24 -- /usr/bin/redis-server /etc/redis.conf\""
if guest_start redis /run/ferrun/redis.cfg && guest_expect redis redis-ready.expect 120; then
    ./redis-benchmark -h 10.0.0.21 -q -n 1000 -c 10 >/tmp/redis-bench.out 2>&1
    tr '\r' '\n' </tmp/redis-bench.out | grep -a 'requests per second' >/tmp/redis-bench.rps
    tests=$(wc -l </tmp/redis-bench.rps)
    errors=$(tr '\r' '\n' </tmp/redis-bench.out | grep -aciE 'error|ERR |timeout|refused|reset')
    if [ "$tests" -ge 15 ] && [ "$errors" = 0 ]; then
        step redis-benchmark redis pass "$tests tests, 0 errors: $(tr '\n' ';' </tmp/redis-bench.rps | cut -c1-400)"
    else
        step redis-benchmark redis fail "$tests tests, $errors error lines: $(tr '\r' '\n' </tmp/redis-bench.out | tail -n 8 | tr '\n' '|')"
    fi
    xl shutdown redis
    guest_expect redis redis-stop.expect 60
    guest_wait_stop redis poweroff 60
fi

# nginx with `daemon off; master_process off;`, its own mime.types, serving a tree from
# the root: the index, a 404, a directory's index, a 1 MiB file byte for byte, then wrk.
guest_cfg nginx ../images/cprog 'memory = 96' "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:22']" \
    "ramdisk = \"$PWD/nginx.cpio\"" \
    "cmdline = \"$p_watchdog ip=10.0.0.22/24 -- /usr/sbin/nginx -p /tmp/ -c /etc/nginx/nginx.conf -e stderr\""
if guest_start nginx /run/ferrun/nginx.cfg && guest_expect nginx nginx-ready.expect 120; then
    base=http://10.0.0.22
    code=$(curl -s -m 20 -o /tmp/nginx-index -w '%{http_code}' "$base/")
    missing=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "$base/missing.html")
    docs=$(curl -s -m 20 "$base/docs/")
    if [ "$code" = 200 ] && cmp -s /tmp/nginx-index index.html && [ "$missing" = 404 ] &&
        [ "$docs" = '<p>docs index</p>' ]; then
        step nginx-get nginx pass "/ is index.html byte for byte, /missing.html 404, /docs/ its index"
    else
        step nginx-get nginx fail "/ gave $code, /missing.html $missing, /docs/ '$docs'"
    fi
    sum=$(curl -s -m 60 "$base/big.bin" | sha256sum | cut -d' ' -f1)
    if [ "$sum" = "$(cat big.sha256)" ]; then
        step nginx-big nginx pass "the 1 MiB file byte for byte (sha256 ${sum:0:16}...)"
    else
        step nginx-big nginx fail "sha256 $sum, expected $(cat big.sha256)"
    fi
    wrk -t1 -c10 -d5s "$base:80/" >/tmp/nginx-wrk.out 2>&1
    req=$(awk '/requests in/ { print $1 }' /tmp/nginx-wrk.out)
    bad=$(grep -cE 'Socket errors|Non-2xx' /tmp/nginx-wrk.out)
    if [ -n "$req" ] && [ "$req" -gt 0 ] && [ "$bad" = 0 ]; then
        step nginx-wrk nginx pass "wrk -c10 5 s: $req requests, $(awk '/Requests\/sec/ { print $2 }' /tmp/nginx-wrk.out) req/s, 0 errors"
    else
        step nginx-wrk nginx fail "$(tr '\n' '|' </tmp/nginx-wrk.out | cut -c1-400)"
    fi
    xl shutdown nginx
    guest_expect nginx nginx-stop.expect 60
    guest_wait_stop nginx poweroff 60
fi

# memcached (threads, libevent, epoll): set and get with a plain client from dom0.
guest_cfg memcached ../images/cprog 'memory = 64' "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:23']" \
    "ramdisk = \"$PWD/memcached.cpio\"" \
    "cmdline = \"$p_watchdog ip=10.0.0.23/24 -- /usr/bin/memcached -u root -l 0.0.0.0 -p 11211 -t 2 -vv\""
if guest_start memcached /run/ferrun/memcached.cfg && guest_expect memcached memcached-ready.expect 120; then
    got=$(printf 'set greeting 0 0 5\r\nhello\r\nget greeting\r\nquit\r\n' |
        busybox nc -w 10 10.0.0.23 11211 | tr -d '\r' | tr '\n' '|')
    if [ "$got" = 'STORED|VALUE greeting 0 5|hello|END|' ]; then
        step memcached-get memcached pass "set then get: $got"
    else
        step memcached-get memcached fail "got '$got'"
    fi
    xl shutdown memcached
    guest_wait_stop memcached poweroff 60
fi
