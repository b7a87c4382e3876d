# shellcheck shell=bash
# Network flight: apps/httpd on the kernel's network service (smoltcp on netfront), reached
# from dom0 over xenbr0 with real clients: curl, raw requests from bash, ping.

H=http://10.0.0.2

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

# raw NAME SECS: sends stdin on a new connection to port 80, prints what comes back
# within SECS seconds (the sending runs in the background, so a server that answers
# before it has read everything is seen answering).
raw() {
    local fd out
    exec {fd}<>/dev/tcp/10.0.0.2/80 || return 1
    cat >&"$fd" &
    out=$(timeout "$2" cat <&"$fd")
    exec {fd}>&-
    wait
    printf '%s' "$out"
}

guest_cfg httpd ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']" 'memory = 64'
if guest_start httpd /run/ferrun/httpd.cfg && guest_expect httpd httpd.expect 60; then
    # The page is the file in www/, byte for byte.
    if curl -s -m 20 -o /tmp/index.got "$H/" && cmp -s /tmp/index.got www/index.html; then
        step http-get httpd pass "/ is www/index.html, $(stat -c %s www/index.html) bytes, byte for byte"
    else
        step http-get httpd fail "/ differs from www/index.html: $(head -c 200 /tmp/index.got 2>&1)"
    fi
    http_check http-type '^text/css' -o /dev/null -w '%{content_type}' "$H/style.css"
    http_check http-404 '^404$' -o /dev/null -w '%{http_code}' "$H/nothing"
    http_check http-405 '^405 GET, HEAD$' -o /dev/null -w '%{http_code} %header{allow}' -X POST -d x "$H/"
    http_check http-head "^200 $(stat -c %s www/index.html) 0\$" -I -o /dev/null \
        -w '%{http_code} %header{content-length} %{size_download}' "$H/"
    # Two requests in one curl: the second reuses the connection (keep-alive).
    out=$(curl -s -v -m 20 -o /dev/null -o /dev/null "$H/" "$H/robots.txt" 2>&1)
    if grep -q 'Re-using existing connection' <<<"$out" && [ "$(grep -c '< HTTP/1.1 200' <<<"$out")" = 2 ]; then
        step http-keepalive httpd pass "two GETs on one connection"
    else
        step http-keepalive httpd fail "$(grep -E '^(\*|<) ' <<<"$out" | tr '\n' '|' | head -c 400)"
    fi
    # Three pipelined requests in one packet: three answers, in order.
    got=$(printf 'GET /robots.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /nothing HTTP/1.1\r\nHost: a\r\n\r\nGET /style.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
        raw pipeline 20 | grep -a '^HTTP/1.1' | tr -d '\r' | tr '\n' '|')
    if [ "$got" = "HTTP/1.1 200 OK|HTTP/1.1 404 Not Found|HTTP/1.1 200 OK|" ]; then
        step http-pipeline httpd pass "3 pipelined requests answered in order: $got"
    else
        step http-pipeline httpd fail "got: $got"
    fi
    # HTTP/1.0 closes; absolute-form targets are served.
    got=$(printf 'GET http://10.0.0.2/robots.txt HTTP/1.0\r\n\r\n' | raw abs 20 | head -n 1 | tr -d '\r')
    if [ "$got" = "HTTP/1.1 200 OK" ]; then
        step http-absolute httpd pass "absolute-form target over HTTP/1.0: $got"
    else
        step http-absolute httpd fail "got '$got'"
    fi
    got=$(printf 'garbage\r\n\r\n' | raw malformed 20 | head -n 1 | tr -d '\r')
    if [ "$got" = "HTTP/1.1 400 Bad Request" ]; then
        step http-malformed httpd pass "$got"
    else
        step http-malformed httpd fail "got '$got'"
    fi
    # A 64 KiB header: 431, and the server goes on serving.
    big=$(head -c 65536 /dev/zero | tr '\0' a)
    got=$(printf 'GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n' "$big" | raw big-header 20 | head -n 1 | tr -d '\r')
    if [ "$got" = "HTTP/1.1 431 Request Header Fields Too Large" ] &&
        [ "$(curl -s -m 20 -o /dev/null -w '%{http_code}' "$H/")" = 200 ]; then
        step http-431 httpd pass "64 KiB header: $got; next request 200"
    else
        step http-431 httpd fail "got '$got'"
    fi
    # 200 requests one after another (a new connection each) from one curl process.
    _now_us
    t0=$REPLY
    codes=$(curl -s -m 120 -o /dev/null -w '%{http_code} %{time_total}s %{errormsg}\n' -H 'Connection: close' "$H/?[1-200]")
    n=$(grep -c '^200 ' <<<"$codes")
    _now_us
    _secs "$t0" "$REPLY"
    secs=$REPLY
    if [ "$n" = 200 ]; then
        step http-200-requests httpd pass "200 of 200 answered in ${secs} s ($(awk -v s="$secs" 'BEGIN { printf "%.0f", 200 / s }') req/s, a connection each, under TCG)"
    else
        # Which requests failed, and how (curl's status and error for each).
        step http-200-requests httpd fail "$n of 200 answered in ${secs} s; the others: $(grep -vn '^200 ' <<<"$codes" | head -5 | tr '\n' '|')"
    fi
    # 100 connections at once.
    _now_us
    t0=$REPLY
    codes=$(curl -s -m 120 -Z --parallel-max 100 -o /dev/null -w '%{http_code} %{time_total}s %{errormsg}\n' -H 'Connection: close' "$H/?[1-100]")
    n=$(grep -c '^200 ' <<<"$codes")
    _now_us
    _secs "$t0" "$REPLY"
    if [ "$n" = 100 ]; then
        step http-parallel httpd pass "100 of 100 answered, 100 connections at once, in ${REPLY} s"
    else
        step http-parallel httpd fail "$n of 100 answered, 100 connections at once, in ${REPLY} s; the others: $(grep -v '^200 ' <<<"$codes" | sort | uniq -c | head -5 | tr '\n' '|')"
    fi
    # 32 non-blocking connects sent in one go (more SYNs at once than the stack keeps spare
    # listening sockets): each connects and is answered, none refused with a RST; one
    # beyond the backlog is dropped and the client's SYN retry gets it in.
    got=$(perl -MSocket -MFcntl -e '
        my @s;
        for (1 .. 32) {
            socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
            fcntl($s, F_SETFL, O_NONBLOCK);
            connect($s, pack_sockaddr_in(80, inet_aton("10.0.0.2")));
            push @s, $s;
        }
        my %n;
        for my $s (@s) {
            my $w = ""; vec($w, fileno($s), 1) = 1;
            select(undef, $w, undef, 60);
            $! = unpack("i", getsockopt($s, SOL_SOCKET, SO_ERROR));
            if ($!) { $n{"$!"}++; next }
            fcntl($s, F_SETFL, 0);
            syswrite($s, "GET / HTTP/1.0\r\n\r\n");
            my $r = ""; my $t = time;
            while (length($r) < 12 && time - $t < 60 && sysread($s, my $b, 12 - length($r))) { $r .= $b }
            $n{$r =~ /^HTTP\/1\.1 200/ ? "answered" : "no answer"}++;
        }
        print join(", ", map { "$n{$_} $_" } sort keys %n), "\n";' 2>&1)
    if [ "$got" = "32 answered" ]; then
        step tcp-syn-burst httpd pass "32 non-blocking connects at once: $got"
    else
        step tcp-syn-burst httpd fail "32 non-blocking connects at once: $got"
    fi
    # 30 slow senders (half a request head each, then nothing) hold connections open while
    # a good client is served.
    slow=()
    for _ in $(seq 30); do
        exec {fd}<>/dev/tcp/10.0.0.2/80 && printf 'GET / HTTP/1.1\r\nHost: slow\r\n' >&"$fd" && slow+=("$fd")
    done
    _now_us
    t0=$REPLY
    code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "$H/")
    _now_us
    _secs "$t0" "$REPLY"
    if [ "${#slow[@]}" = 30 ] && [ "$code" = 200 ]; then
        step http-slow-senders httpd pass "a good client got 200 in ${REPLY} s while 30 slow senders held connections"
    else
        step http-slow-senders httpd fail "${#slow[@]} slow senders connected; good client got '$code' after ${REPLY} s"
    fi
    # The slow senders get 408 once their head deadline (10 s) passes.
    got=$(timeout 30 head -n 1 <&"${slow[0]}" | tr -d '\r')
    for fd in "${slow[@]}"; do exec {fd}>&-; done
    if [ "$got" = "HTTP/1.1 408 Request Timeout" ]; then
        step http-408 httpd pass "a slow sender: $got"
    else
        step http-408 httpd fail "a slow sender got '$got'"
    fi
    if out=$(busybox ping -c 3 -W 5 10.0.0.2 2>&1); then
        step ping httpd pass "$(grep -E 'packets transmitted' <<<"$out")"
    else
        step ping httpd fail "${out//$'\n'/ | }"
    fi
    # The trace ring: its first line and how many records came (not the whole ring).
    trace=$(curl -s -m 20 "$H/trace")
    first=$(head -n 1 <<<"$trace")
    if [[ $first =~ ^trace:\ [0-9]+\ records\ made ]] && [ "$(wc -l <<<"$trace")" -gt 10 ]; then
        step http-trace httpd pass "$first; $(grep -c ' switch ' <<<"$trace") switch records among them"
    else
        step http-trace httpd fail "got: ${first:0:200}"
    fi
    stats=$(curl -s -m 20 "$H/stats")
    if [[ $stats =~ \"requests_served\":[1-9][0-9]*,.*\"dhcp_leases\":1 ]]; then
        step http-stats httpd pass "${stats:0:300}"
    else
        step http-stats httpd fail "${stats:0:500}"
    fi
    # Steal is counted since boot: the seconds the domain spent created but paused (vif
    # hotplug scripts) are not in it, so it stays below uptime.
    stats=$(curl -s -m 20 "$H/stats")
    steal=$(grep -o '"steal_ns":[0-9]*' <<<"$stats" | cut -d: -f2)
    up=$(grep -o '"uptime_ns":[0-9]*' <<<"$stats" | cut -d: -f2)
    if [ -n "$steal" ] && [ -n "$up" ] && [ "$steal" -lt "$up" ]; then
        step steal-since-boot httpd pass "steal $((steal / 1000000)) ms < uptime $((up / 1000000)) ms"
    else
        step steal-since-boot httpd fail "steal '$steal' uptime '$up'"
    fi
    # The backend goes away (xl network-detach) and a new one comes (xl network-attach).
    _now_us
    t0=$REPLY
    out=$(xl network-detach httpd 0 2>&1)
    rc=$?
    _now_us
    _secs "$t0" "$REPLY"
    if [ $rc -eq 0 ] && ! grep -qi 'timed out\|timeout' <<<"$out"; then
        step net-detach httpd pass "xl network-detach took ${REPLY} s"
    else
        step net-detach httpd fail "xl network-detach exited $rc after ${REPLY} s: ${out//$'\n'/ | }"
    fi
    if xl network-attach httpd bridge=xenbr0 mac=00:16:3e:00:00:02 >/tmp/attach.log 2>&1 &&
        guest_expect httpd reattach.expect 60; then
        http_check net-reattach-get '^200$' -o /dev/null -w '%{http_code}' "$H/"
    else
        step net-reattach httpd fail "$(cat /tmp/attach.log)"
    fi
    xl shutdown httpd
    guest_wait_stop httpd poweroff 20
fi

# A malformed address on the command line is an error that names the word.
guest_cfg httpd-bad ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:06']" \
    'cmdline = "ip=10.0.0.6"'
if guest_start httpd-bad /run/ferrun/httpd-bad.cfg && guest_expect httpd-bad bad-ip.expect 60; then
    guest_wait_stop httpd-bad crash 20
fi

# A static address and another port, from the command line.
guest_cfg httpd-static ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:05']" 'memory = 64' \
    'cmdline = "ip=10.0.0.5/24 port=8081"'
if guest_start httpd-static /run/ferrun/httpd-static.cfg && guest_expect httpd-static static.expect 60; then
    if curl -s -m 20 -o /tmp/index.got http://10.0.0.5:8081/ && cmp -s /tmp/index.got www/index.html; then
        step http-static-ip httpd-static pass "10.0.0.5:8081 serves www/index.html"
    else
        step http-static-ip httpd-static fail "$(head -c 200 /tmp/index.got 2>&1)"
    fi
    xl shutdown httpd-static
    guest_wait_stop httpd-static poweroff 20
fi

# The echo service (apps/netecho): blocking calls, a thread per TCP connection, and UDP.
guest_cfg netecho ../images/netecho "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:07']" \
    'cmdline = "ip=10.0.0.7/24"'
if guest_start netecho /run/ferrun/netecho.cfg && guest_expect netecho netecho.expect 60; then
    head -c 300000 /dev/urandom >/tmp/echo.in
    # Writes everything (non-blocking, reading as it goes), half-closes, reads to the end.
    perl -MIO::Socket::INET -MIO::Select -e '
        my $s = IO::Socket::INET->new(PeerAddr => "10.0.0.7", PeerPort => 7, Proto => "tcp",
            Timeout => 10) or die "connect: $!\n";
        open(my $f, "<", "/tmp/echo.in") or die; binmode $f; local $/; my $data = <$f>;
        my ($off, $out, $shut) = (0, "", 0);
        $s->blocking(0);
        my $sel = IO::Select->new($s);
        while (1) {
            if ($off < length $data) {
                my $n = syswrite($s, $data, 65536, $off);
                $off += $n if defined $n;
            } elsif (!$shut) { shutdown($s, 1); $shut = 1; }
            next unless $sel->can_read($off < length $data ? 0.05 : 20);
            my $n = sysread($s, my $buf, 65536);
            last if defined $n && $n == 0;
            $out .= $buf if $n;
        }
        binmode STDOUT; print $out;' >/tmp/echo.out 2>/tmp/echo.err
    if cmp -s /tmp/echo.in /tmp/echo.out && guest_expect netecho netecho-done.expect 20; then
        step tcp-echo netecho pass "300000 random bytes echoed back byte for byte (blocking read/write in a thread)"
    else
        step tcp-echo netecho fail "got $(stat -c %s /tmp/echo.out) bytes back: $(cat /tmp/echo.err)"
    fi
    got=$(perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "10.0.0.7", PeerPort => 7, Proto => "udp")
            or die "socket: $!\n";
        my $ok = 0;
        for my $i (1 .. 20) {
            my $msg = "datagram $i " . ("x" x ($i * 50));
            for my $try (1 .. 3) {
                $s->send($msg);
                my $r = "";
                eval { local $SIG{ALRM} = sub { die "t\n" }; alarm 2; $s->recv($r, 4096); alarm 0; };
                if ($r eq $msg) { $ok++; last }
            }
        }
        print $ok;' 2>&1)
    if [ "$got" = 20 ]; then
        step udp-echo netecho pass "20 of 20 datagrams (50-1000 bytes) echoed"
    else
        step udp-echo netecho fail "$got of 20 datagrams echoed"
    fi
    xl shutdown netecho
    guest_wait_stop netecho poweroff 20
fi
