# shellcheck shell=bash
# Benchmarks against peers measured in the same run: apps/httpd and two Linux PV guests
# (the testbed's own Debian kernel with an initramfs built here: busybox httpd, and
# Debian's nginx), each with a vif on xenbr0, all serving the same page
# (apps/httpd/www/index.html). Figures, not thresholds: a step fails only if nothing
# could be measured. Under TCG only the ratios mean something.

PAGE=www/index.html
WRK_SECS=${FERRUN_BENCH_SECS:-5}

# peer_initramfs KIND OUT: a Linux peer's initramfs (KIND busybox or nginx) at 10.0.0.3.
peer_initramfs() {
    local kind=$1 out=$2 root=/tmp/peer-$1 lib ko bin bins
    rm -rf "$root" && mkdir -p "$root"/{bin,sbin,proc,sys,dev,www,etc,tmp,var/lib/nginx,var/log/nginx} || return 1
    cp /usr/bin/busybox "$root/bin/" || return 1
    bins=(/usr/bin/busybox)
    if [ "$kind" = nginx ]; then
        cp /opt/ferrun-peer/usr/sbin/nginx "$root/sbin/nginx" || return 1
        bins+=(/opt/ferrun-peer/usr/sbin/nginx)
        echo 'root:x:0:0::/:/bin/sh' >"$root/etc/passwd"
        echo 'nobody:x:65534:65534::/:/bin/sh' >>"$root/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
        cat >"$root/etc/nginx.conf" <<'CONF'
worker_processes 1;
daemon off;
error_log stderr;
pid /tmp/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    types { text/html html; text/css css; }
    keepalive_requests 1000000;
    server { listen 80; root /www; }
}
CONF
    fi
    for bin in "${bins[@]}"; do
        for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
            cp --parents -n "$lib" "$root/" || return 1
        done
    done
    ko=$(find /usr/lib/modules -name 'xen-netfront.ko*' | head -n 1)
    [ -n "$ko" ] && cp "$ko" "$root/xen-netfront.ko" || return 1
    cp "$PAGE" "$root/www/index.html" || return 1
    {
        echo '#!/bin/busybox sh'
        echo '/bin/busybox --install -s /bin'
        echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
        echo 'insmod /xen-netfront.ko'
        echo 'ip link set eth0 up; ip addr add 10.0.0.3/24 dev eth0'
        if [ "$kind" = nginx ]; then
            echo '/sbin/nginx -c /etc/nginx.conf &'
        else
            echo 'httpd -p 80 -h /www'
        fi
        echo 'sleep 1; echo "peer: listening on 10.0.0.3:80"'
        echo 'exec sleep 100000'
    } >"$root/init"
    chmod +x "$root/init"
    (cd "$root" && find . | busybox cpio -o -H newc | gzip -1) >"$out" && [ -s "$out" ]
}

# listen_secs NAME: seconds from unpause to the guest's "listening" line.
listen_secs() {
    local start line
    start=$(cat "$FERRUN_RUN/$1.start_us")
    line=$(grep -m1 'listening on' "$FERRUN_RUN/$1.lines") || return 1
    _us_of "${line%% *}"
    _secs "$start" "$REPLY"
    echo "$REPLY"
}

# wrk_run URL CONNS MODE: one wrk run (MODE keepalive or close); prints "REQ_PER_S ERRORS".
wrk_run() {
    local out rps errs hdr=()
    [ "$3" = close ] && hdr=(-H 'Connection: close')
    out=$(wrk -t1 -c"$2" -d"${WRK_SECS}s" --timeout 10s "${hdr[@]}" "$1" 2>&1) || return 1
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    # Socket errors (connect, read, write, timeout) and non-2xx answers.
    errs=$(awk '/Socket errors:/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { s += $NF } END { print s + 0 }' <<<"$out")
    [ -n "$rps" ] || return 1
    echo "$rps $errs"
}

declare -A listen rps errs minmem
SERVERS=(ferrun busybox nginx)
for kind in busybox nginx; do
    if peer_initramfs "$kind" "/tmp/peer-$kind.cpio.gz"; then
        step peer-initramfs "$kind" pass "$(($(stat -c %s "/tmp/peer-$kind.cpio.gz") / 1024)) KiB"
    else
        step peer-initramfs "$kind" fail "could not build it from dom0's files"
    fi
done

# cfg_for SERVER NAME MEMORY: writes the xl config of a run.
cfg_for() {
    if [ "$1" = ferrun ]; then
        guest_cfg "$2" ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']" "memory = $3"
    else
        guest_cfg "$2" ../images/linux-peer.gz "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:03']" \
            "memory = $3" "ramdisk = \"/tmp/peer-$1.cpio.gz\"" 'cmdline = "console=hvc0 rdinit=/init quiet"'
    fi
}

# With the port: dom0 has no /etc/services for wrk to look "http" up in.
url_of() { [ "$1" = ferrun ] && echo http://10.0.0.2:80/ || echo http://10.0.0.3:80/; }
expect_of() { [ "$1" = ferrun ] && echo ferrun.expect || echo peer.expect; }

for s in "${SERVERS[@]}"; do
    mem=64
    [ "$s" = ferrun ] || mem=256
    cfg_for "$s" "$s" "$mem"
    if guest_start "$s" "/run/ferrun/$s.cfg" && guest_expect "$s" "$(expect_of "$s")" 120; then
        listen[$s]=$(listen_secs "$s")
        for c in 1 10 50; do
            for mode in keepalive close; do
                if r=$(wrk_run "$(url_of "$s")" "$c" "$mode"); then
                    read -r "rps[$s.$c.$mode]" "errs[$s.$c.$mode]" <<<"$r"
                fi
            done
        done
    fi
    guest_destroy "$s"
done

# The smallest memory = (MiB) at which each serves the page.
for s in "${SERVERS[@]}"; do
    sizes=(4 8 16 32 64)
    [ "$s" = ferrun ] || sizes=(32 48 64 96 128)
    for m in "${sizes[@]}"; do
        cfg_for "$s" "$s-m$m" "$m"
        if guest_start "$s-m$m" "/run/ferrun/$s-m$m.cfg" >/dev/null &&
            guest_expect "$s-m$m" "$(expect_of "$s")" 60 >/dev/null &&
            curl -s -m 20 -o /tmp/page.got "$(url_of "$s")" && cmp -s /tmp/page.got "$PAGE"; then
            minmem[$s]=$m
            guest_destroy "$s-m$m"
            break
        fi
        guest_destroy "$s-m$m"
    done
done

if [ -n "${listen[ferrun]:-}" ] && [ -n "${listen[busybox]:-}" ] && [ -n "${listen[nginx]:-}" ]; then
    step bench-boot all pass "unpause -> listening: ferrun ${listen[ferrun]} s, busybox ${listen[busybox]} s, nginx ${listen[nginx]} s"
else
    step bench-boot all fail "not measured: ferrun '${listen[ferrun]:-}' busybox '${listen[busybox]:-}' nginx '${listen[nginx]:-}'"
fi
for c in 1 10 50; do
    for mode in keepalive close; do
        k=$c.$mode
        if [ -n "${rps[ferrun.$k]:-}" ] && [ -n "${rps[busybox.$k]:-}" ] && [ -n "${rps[nginx.$k]:-}" ]; then
            step bench-wrk "c$c-$mode" pass "req/s (errors): ferrun ${rps[ferrun.$k]} (${errs[ferrun.$k]}), busybox ${rps[busybox.$k]} (${errs[busybox.$k]}), nginx ${rps[nginx.$k]} (${errs[nginx.$k]}); ferrun/nginx $(awk -v a="${rps[ferrun.$k]}" -v b="${rps[nginx.$k]}" 'BEGIN { printf "%.2f", a / b }')"
        else
            step bench-wrk "c$c-$mode" fail "not measured: ferrun '${rps[ferrun.$k]:-}' busybox '${rps[busybox.$k]:-}' nginx '${rps[nginx.$k]:-}'"
        fi
    done
done
step bench-memory all pass "smallest memory = that serves the page (MiB): ferrun ${minmem[ferrun]:-none of 4-64}, busybox ${minmem[busybox]:-none of 32-128}, nginx ${minmem[nginx]:-none of 32-128}"
ours=$(($(stat -c %s ../images/httpd) / 1024))
kernel=$(($(stat -c %s ../images/linux-peer.gz) / 1024))
step bench-image all pass "ferrun image ${ours} KiB; linux kernel.gz ${kernel} KiB + initramfs busybox $(($(stat -c %s /tmp/peer-busybox.cpio.gz 2>/dev/null || echo 0) / 1024)) KiB, nginx $(($(stat -c %s /tmp/peer-nginx.cpio.gz 2>/dev/null || echo 0) / 1024)) KiB"
