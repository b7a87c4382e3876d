# shellcheck shell=bash
# Operations flight: what a user of a real Xen host does with scripts/run, done on this
# dom0 (a real Xen dom0 with xl): where scripts/run decides to run, the xl configuration
# it prints booted with xl create, the libvirt XML it prints booted by libvirtd's libxl
# driver with virsh, scripts/run itself on this dom0 stopped with Ctrl-C (SIGINT), and
# lib.sh's guest_serve (the dom0 half of scripts/run's Ctrl-C in the testbed).
#
# scripts/run and the httpd's xl.cfg come in tree/, laid out as in a checkout (symlinks,
# copied as files), so that scripts/run finds apps/httpd/xl.cfg; the image comes from
# ci/flight as ../images/httpd.

RUN=./tree/scripts/run
IMG=$(cd ../images && pwd)/httpd
H=http://10.0.0.2

# Sets REPLY to the seconds since the microsecond time T0, two decimals.
ops_since() {
    _now_us
    _secs "$1" "$REPLY"
}

# ops_http_ok SECS: true once GET / answers 200 with www/index.html, within SECS seconds;
# stops early (false) when the optional PID is no longer running.
ops_http_ok() {
    local deadline pid=${2:-}
    _now_us
    deadline=$((REPLY + $1 * 1000000))
    while :; do
        if curl -s -m 5 -o /tmp/ops-index.got "$H/" && cmp -s /tmp/ops-index.got www/index.html; then
            return 0
        fi
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
        _now_us
        ((REPLY < deadline)) || return 1
        _pause 0.5
    done
}

# ops_wait_gone NAME SECS: true once domain NAME is gone (destroyed after its poweroff by the
# toolstack that runs it); false if it is still there after SECS or has crashed (a crash
# is preserved: on_crash = "preserve"). Sets REPLY to its last state.
ops_wait_gone() {
    local deadline state
    _now_us
    deadline=$((REPLY + $2 * 1000000))
    while :; do
        _guest_state "$1"
        state=$REPLY
        [ "$state" = gone ] && return 0
        [ "${state:4:1}" = c ] && return 1
        _now_us
        ((REPLY < deadline)) || { REPLY=$state; return 1; }
        _pause 0.2
    done
}

# ops_wait_line REGEX FILE SECS: true once a line of FILE matches REGEX (grep -E), within
# SECS seconds.
ops_wait_line() {
    local deadline
    _now_us
    deadline=$((REPLY + $3 * 1000000))
    until grep -qE -- "$1" "$2" 2>/dev/null; do
        _now_us
        ((REPLY < deadline)) || return 1
        _pause 0.2
    done
}

# Prints FILE as a diagnostics dump.
ops_dump() {
    echo "@@DUMP-BEGIN $2"
    tail -n "${3:-60}" "$1"
    echo "@@DUMP-END"
}

# 1. Where scripts/run runs: here (a dom0 whose xl works), in the testbed elsewhere.
here=$("$RUN" --detect 2>&1)
elsewhere=$(FERRUN_XEN_CAPABILITIES=/nonexistent "$RUN" --detect 2>&1)
forced=$("$RUN" --testbed --detect 2>&1)
if [[ $here == "xen-host: a Xen dom0 (/proc/xen/capabilities says control_d) with a working xl" &&
    $elsewhere == "testbed: not a Xen dom0 (no /nonexistent)" && $forced == "testbed: --testbed" ]]; then
    step run-detect dom0 pass "$here; without the capabilities file: $elsewhere; $forced"
else
    step run-detect dom0 fail "here: '$here'; without the capabilities file: '$elsewhere'; --testbed: '$forced'"
fi

# 2. The printed xl configuration, as it is, boots with xl create and serves; xl shutdown
# powers it off (xl's own log says so) after the httpd's shutdown hook.
if "$RUN" --image "$IMG" --xl 'name = "httpd-xl"' --print-xl httpd >httpd-xl.cfg 2>print-xl.err &&
    grep -qx "kernel = \"$IMG\"" httpd-xl.cfg && grep -q '^vif = .*bridge=xenbr0' httpd-xl.cfg &&
    grep -qx 'on_crash = "preserve"' httpd-xl.cfg; then
    step print-xl httpd-xl pass "$(grep -vc '^#' httpd-xl.cfg) settings: $(grep -v '^#' httpd-xl.cfg | tr '\n' ';' | head -c 300)"
else
    step print-xl httpd-xl fail "$(cat print-xl.err httpd-xl.cfg | tr '\n' ';' | head -c 400)"
fi
if guest_start httpd-xl httpd-xl.cfg && guest_expect httpd-xl listening.expect 60; then
    if ops_http_ok 30; then
        step xl-serve httpd-xl pass "GET / is www/index.html from the guest of the printed configuration"
    else
        step xl-serve httpd-xl fail "GET / did not answer www/index.html within 30 s"
    fi
    xl shutdown httpd-xl >/tmp/ops-shutdown.log 2>&1
    xl_log=/var/log/xen/xl-httpd-xl.log
    if ops_wait_gone httpd-xl 60 && guest_expect httpd-xl stopped.expect 10 &&
        grep -q 'Action for shutdown reason code 0 is destroy' "$xl_log"; then
        step xl-poweroff httpd-xl pass "xl shutdown: hook ran, then $(grep -m1 'has shut down' "$xl_log"), destroyed (on_poweroff)"
    else
        _guest_state httpd-xl
        step xl-poweroff httpd-xl fail "after xl shutdown: state $REPLY; $(cat /tmp/ops-shutdown.log)"
        [ ! -f "$xl_log" ] || ops_dump "$xl_log" "$xl_log"
    fi
fi
guest_destroy httpd-xl

# 3. The printed libvirt XML: valid for libvirt's schema, and libvirtd's libxl driver boots
# it (virsh create), it serves, and virsh shutdown powers it off after the shutdown hook.
# libvirtd runs only during this part.
ops_libvirt() {
    local t0 t1 pid ev ok=0 map=/usr/share/libvirt/cpu_map
    _now_us
    t0=$REPLY
    # The CPU Xen reports here (QEMU's TCG `-cpu max`; xl info's hw_caps) has neither VME
    # nor SEP, which every x86 model in libvirt's CPU map requires: libvirt 9.0's libxl
    # driver then cannot name the host CPU and refuses to start ("Cannot find suitable CPU
    # model for given data"). Real CPUs have both; here a model with just fpu lets it start.
    if [ ! -f "$map/x86_ferrun-tcg.xml" ]; then
        printf '%s\n' '<cpus>' "  <model name='ferrun-tcg'>" "    <decode host='on' guest='off'/>" \
            "    <feature name='fpu'/>" '  </model>' '</cpus>' >"$map/x86_ferrun-tcg.xml"
        sed -i "s|<include filename='x86_features.xml'/>|&\n    <include filename='x86_ferrun-tcg.xml'/>|" "$map/index.xml"
    fi
    mkdir -p /var/log/libvirt /var/lib/libvirt /run/libvirt
    rm -f /run/libvirtd.pid
    if ! libvirtd -d -p /run/libvirtd.pid >/tmp/libvirtd.out 2>&1; then
        step libvirtd dom0 fail "libvirtd -d: $(tr '\n' ' ' </tmp/libvirtd.out)"
        return 1
    fi
    # Up once its socket is there; gone (pid file removed) if a driver failed to start.
    while [ ! -S /run/libvirt/libvirt-sock ] && [ -e /run/libvirtd.pid ]; do
        ops_since "$t0"
        [ "${REPLY%.*}" -lt 120 ] || break
        _pause 0.2
    done
    ops_since "$t0"
    if [ ! -S /run/libvirt/libvirt-sock ] || [ ! -e /run/libvirtd.pid ]; then
        step libvirtd dom0 fail "no libvirtd socket after ${REPLY} s"
        ops_dump /var/log/libvirt/libvirtd.log /var/log/libvirt/libvirtd.log
        return 1
    fi
    read -r pid </run/libvirtd.pid
    step libvirtd dom0 pass "libvirtd $(libvirtd --version | awk '{print $NF}') with the libxl driver, listening ${REPLY} s after start"

    if "$RUN" --image "$IMG" --xl 'name = "httpd-virt"' --print-libvirt httpd >httpd-virt.xml 2>print-libvirt.err &&
        virt-xml-validate httpd-virt.xml domain >/tmp/ops-validate.out 2>&1; then
        step print-libvirt httpd-virt pass "$(tr '\n' ' ' </tmp/ops-validate.out)($(grep -c . httpd-virt.xml) lines)"
    else
        step print-libvirt httpd-virt fail "$(cat print-libvirt.err /tmp/ops-validate.out | tr '\n' ' ' | head -c 400)"
        ops_dump httpd-virt.xml httpd-virt.xml
    fi
    guest_watch httpd-virt
    # libvirt's lifecycle events, from before the domain exists.
    virsh -c xen:/// event --all --loop >/tmp/ops-events.out 2>&1 &
    ev=$!
    _now_us
    t1=$REPLY
    if virsh -c xen:/// create httpd-virt.xml >/tmp/ops-create.out 2>&1; then
        ops_since "$t1"
        step libvirt-create httpd-virt pass "virsh create: $(head -n 1 /tmp/ops-create.out) in ${REPLY} s"
    else
        step libvirt-create httpd-virt fail "virsh create: $(tr '\n' ' ' </tmp/ops-create.out)"
        ok=1
    fi
    if [ $ok -eq 0 ] && guest_expect httpd-virt listening.expect 60; then
        if ops_http_ok 30; then
            step libvirt-serve httpd-virt pass "GET / from dom0 is www/index.html"
        else
            step libvirt-serve httpd-virt fail "GET / did not answer www/index.html within 30 s"
        fi
        virsh -c xen:/// shutdown httpd-virt >/tmp/ops-vshutdown.out 2>&1
        # virsh event may print the Stopped event after the domain is gone from xl list.
        if ops_wait_gone httpd-virt 60 && guest_expect httpd-virt stopped.expect 10 &&
            ops_wait_line "'httpd-virt': Stopped" /tmp/ops-events.out 30 &&
            grep -q "'httpd-virt': Stopped Shutdown" /tmp/ops-events.out; then
            step libvirt-shutdown httpd-virt pass "virsh shutdown: hook ran, event$(grep -o ': Stopped Shutdown' /tmp/ops-events.out), gone from xl list"
        else
            _guest_state httpd-virt
            step libvirt-shutdown httpd-virt fail "after virsh shutdown: state $REPLY; events: $(tr '\n' '|' </tmp/ops-events.out)"
            ops_dump /var/log/libvirt/libxl/httpd-virt.log "libvirt's log of httpd-virt" 40
        fi
    fi
    kill "$ev" 2>/dev/null
    wait "$ev" 2>/dev/null
    virsh -c xen:/// destroy httpd-virt >/dev/null 2>&1
    guest_destroy httpd-virt
    kill "$pid"
    _now_us
    t1=$REPLY
    while [ -e /run/libvirtd.pid ]; do
        ops_since "$t1"
        [ "${REPLY%.*}" -lt 60 ] || break
        _pause 0.2
    done
    ops_since "$t0"
    note "libvirt part: ${REPLY} s in all, libvirtd $([ -e /run/libvirtd.pid ] && echo 'still running' || echo stopped)"
}
ops_libvirt

# 4. guest_serve (what scripts/run's testbed flight runs): a stop request on its input,
# after a line that is not one, shuts the guest down with xl shutdown.
guest_cfg httpd-serve ../images/httpd "vif = ['bridge=xenbr0,mac=00:16:3e:00:00:02']" 'memory = 64'
if guest_start httpd-serve /run/ferrun/httpd-serve.cfg && guest_expect httpd-serve listening.expect 60; then
    rm -f /tmp/ops-stop
    mkfifo /tmp/ops-stop
    exec {stop_fd}<>/tmp/ops-stop
    printf 'not a stop request\nferrun-stop\n' >&"$stop_fd"
    if guest_serve httpd-serve poweroff /tmp/ops-stop && [ -e /run/ferrun/httpd-serve.stop ] &&
        guest_expect httpd-serve stopped.expect 10; then
        step serve-stop httpd-serve pass "the stop request shut it down with xl shutdown; its hook ran"
    else
        step serve-stop httpd-serve fail "stop request seen: $([ -e /run/ferrun/httpd-serve.stop ] && echo yes || echo no)"
    fi
    exec {stop_fd}>&-
fi
guest_destroy httpd-serve

# 5. scripts/run on this dom0: it uses the local xl, shows the console, says where the
# httpd is reachable; SIGINT to its process group (a Ctrl-C) shuts the guest down with xl
# shutdown, and scripts/run exits with status 0 and a last line saying it stopped.
ops_run() {
    local pid rc="" t0 last
    _now_us
    t0=$REPLY
    setsid "$RUN" --image "$IMG" httpd >/tmp/ops-run.out 2>&1 </dev/null &
    pid=$!
    if ! ops_http_ok 90 "$pid"; then
        step run-xen-host httpd fail "scripts/run on dom0 did not serve within 90 s"
        ops_dump /tmp/ops-run.out "scripts/run's output"
        kill -TERM -- -"$pid" 2>/dev/null
        xl destroy httpd >/dev/null 2>&1
        return 1
    fi
    ops_since "$t0"
    step run-xen-host httpd pass "served ${REPLY} s after scripts/run started: $(grep -m1 'reachable at' /tmp/ops-run.out)"
    kill -INT -- -"$pid"
    _now_us
    t0=$REPLY
    while kill -0 "$pid" 2>/dev/null; do
        ops_since "$t0"
        [ "${REPLY%.*}" -lt 90 ] || break
        _pause 0.2
    done
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        rc=$?
    fi
    last=$(tail -n 1 /tmp/ops-run.out)
    if [ "$rc" = 0 ] && [[ $last =~ ^scripts/run:\ .*\ stopped\ \(Ctrl-C\):\ httpd\ shut\ down\ with\ xl\ shutdown\ and\ powered\ off$ ]] &&
        grep -q 'poweroff requested by the toolstack' /tmp/ops-run.out &&
        grep -q 'httpd\] shutting down: ' /tmp/ops-run.out && ! xl domid httpd >/dev/null 2>&1; then
        step run-ctrl-c httpd pass "exit status 0, hook on the console, domain destroyed; last line: $last"
    else
        step run-ctrl-c httpd fail "exit status '${rc:-still running after 90 s}'; last line: $last"
        ops_dump /tmp/ops-run.out "scripts/run's output"
        kill -KILL -- -"$pid" 2>/dev/null
        xl destroy httpd >/dev/null 2>&1
    fi
}
ops_run
