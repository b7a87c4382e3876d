# shellcheck shell=bash
# Benchmarks against a peer measured in the same run: apps/httpd and a Linux PV guest
# (the testbed's own Debian kernel with busybox httpd in an initramfs built here), each
# with a vif on xenbr0. Figures, not thresholds: a step fails only if nothing could be
# measured. Under TCG only the ratios mean something.

# The peer's initramfs: busybox and its libraries from dom0, xen-netfront, an init.
build_peer_initramfs() {
    local root=/tmp/peer lib ko
    rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,www} || return 1
    cp /usr/bin/busybox "$root/bin/" || return 1
    for lib in $(ldd /usr/bin/busybox | grep -o '/[^ ]*'); do
        cp --parents "$lib" "$root/" || return 1
    done
    ko=$(find /usr/lib/modules -name 'xen-netfront.ko*' | head -n 1)
    [ -n "$ko" ] && cp "$ko" "$root/xen-netfront.ko" || return 1
    cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /xen-netfront.ko
ip link set eth0 up
ip addr add 10.0.0.3/24 dev eth0
cp /index.html /www/index.html
httpd -p 80 -h /www
echo 'peer: listening on 10.0.0.3:80'
exec sleep 100000
INIT
    chmod +x "$root/init"
    # The same page as ferrun's (apps/httpd/www/index.html).
    cp www/index.html "$root/index.html" || return 1
    (cd "$root" && find . | busybox cpio -o -H newc | gzip -1) >/tmp/peer.cpio.gz && [ -s /tmp/peer.cpio.gz ]
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

# req_per_s URL: 200 sequential requests (a connection each); prints answered/elapsed as
# "N SECS".
req_per_s() {
    local t0 n
    _now_us
    t0=$REPLY
    n=$(curl -s -m 120 -o /dev/null -w '%{http_code}\n' -H 'Connection: close' "$1?[1-200]" | grep -c '^200$')
    _now_us
    _secs "$t0" "$REPLY"
    echo "$n $REPLY"
}

if build_peer_initramfs; then
    step peer-initramfs linux pass "$(($(stat -c %s /tmp/peer.cpio.gz) / 1024)) KiB: busybox httpd, xen-netfront"
else
    step peer-initramfs linux fail "could not build it from dom0's files"
fi

guest_cfg ferrun ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']" 'memory = 64'
guest_cfg linux ../images/linux-peer.gz "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:03']" \
    'memory = 256' 'ramdisk = "/tmp/peer.cpio.gz"' 'cmdline = "console=hvc0 rdinit=/init quiet"'
declare -A listen rate
for g in ferrun linux; do
    expect=ferrun.expect url=http://10.0.0.2/
    [ "$g" = linux ] && expect=peer.expect url=http://10.0.0.3/
    if guest_start "$g" "/run/ferrun/$g.cfg" && guest_expect "$g" "$expect" 120; then
        listen[$g]=$(listen_secs "$g")
        read -r n secs < <(req_per_s "$url")
        if [ "$n" = 200 ]; then
            rate[$g]=$(awk -v s="$secs" 'BEGIN { printf "%.1f", 200 / s }')
        fi
    fi
    guest_destroy "$g"
done
if [ -n "${listen[ferrun]:-}" ] && [ -n "${listen[linux]:-}" ]; then
    step bench-boot both pass "unpause -> listening: ferrun ${listen[ferrun]} s, linux ${listen[linux]} s, ratio linux/ferrun $(awk -v a="${listen[ferrun]}" -v b="${listen[linux]}" 'BEGIN { printf "%.1f", b / a }')"
else
    step bench-boot both fail "not measured: ferrun '${listen[ferrun]:-}' linux '${listen[linux]:-}'"
fi
if [ -n "${rate[ferrun]:-}" ] && [ -n "${rate[linux]:-}" ]; then
    step bench-http both pass "200 sequential GETs: ferrun ${rate[ferrun]} req/s, linux ${rate[linux]} req/s, ratio ferrun/linux $(awk -v a="${rate[ferrun]}" -v b="${rate[linux]}" 'BEGIN { printf "%.2f", a / b }')"
else
    step bench-http both fail "not measured: ferrun '${rate[ferrun]:-}' linux '${rate[linux]:-}'"
fi
ours=$(($(stat -c %s ../images/httpd) / 1024))
theirs=$((($(stat -c %s ../images/linux-peer.gz) + $(stat -c %s /tmp/peer.cpio.gz 2>/dev/null || echo 0)) / 1024))
step bench-image both pass "ferrun image ${ours} KiB (memory = 64), linux kernel.gz + initramfs ${theirs} KiB (memory = 256), ratio linux/ferrun $((theirs / (ours > 0 ? ours : 1)))"
