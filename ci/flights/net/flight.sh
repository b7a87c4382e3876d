# shellcheck shell=bash
# Network flight: apps/httpd on netfront + smoltcp, reached from dom0 over xenbr0.

# http_check NAME EXPECTED CURL_ARGS...: one step, pass when curl's output matches.
http_check() {
    local name=$1 want=$2 got
    shift 2
    got=$(curl -s -m 20 "$@" 2>&1)
    if [[ $got =~ $want ]]; then
        step "$name" httpd pass "${got//$'\n'/ | }"
    else
        step "$name" httpd fail "expected /$want/, got: ${got//$'\n'/ | }"
    fi
}

guest_cfg httpd ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']" 'memory = 64'
if guest_start httpd /run/ferrun/httpd.cfg && guest_expect httpd httpd.expect 60; then
    http_check http-get '^hello from ferrun$' http://10.0.0.2:8080/
    http_check http-404 '^404$' -o /dev/null -w '%{http_code}' http://10.0.0.2:8080/nothing
    http_check http-405 '^405$' -o /dev/null -w '%{http_code}' -X POST http://10.0.0.2:8080/
    # A request line that is not HTTP gets 400, and the server goes on.
    bad=$(exec 3<>/dev/tcp/10.0.0.2/8080 && printf 'garbage\r\n\r\n' >&3 && head -n 1 <&3 | tr -d '\r')
    if [ "$bad" = "HTTP/1.1 400 Bad Request" ]; then
        step http-malformed httpd pass "$bad"
    else
        step http-malformed httpd fail "got '$bad'"
    fi
    # 200 requests one after another (a new connection each) from one curl process.
    _now_us
    t0=$REPLY
    n=$(curl -s -m 120 "http://10.0.0.2:8080/?[1-200]" | grep -c '^hello from ferrun$')
    _now_us
    _secs "$t0" "$REPLY"
    secs=$REPLY
    if [ "$n" = 200 ]; then
        step http-200-requests httpd pass "200 of 200 answered in ${secs} s ($(awk -v s="$secs" 'BEGIN { printf "%.0f", 200 / s }') req/s, sequential, under TCG)"
    else
        step http-200-requests httpd fail "$n of 200 answered in ${secs} s"
    fi
    # 100 requests, 8 connections at a time (the server has 8 sockets).
    _now_us
    t0=$REPLY
    n=$(curl -s -m 120 -Z --parallel-max 8 "http://10.0.0.2:8080/?[1-100]" | grep -c '^hello from ferrun$')
    _now_us
    _secs "$t0" "$REPLY"
    secs=$REPLY
    if [ "$n" = 100 ]; then
        step http-parallel httpd pass "100 of 100 answered, 8 at a time, in ${secs} s"
    else
        step http-parallel httpd fail "$n of 100 answered, 8 at a time, in ${secs} s"
    fi
    http_check http-stats '^requests [0-9]+' http://10.0.0.2:8080/stats
    xl shutdown httpd
    guest_wait_stop httpd poweroff 20
fi
