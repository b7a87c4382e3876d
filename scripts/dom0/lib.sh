# shellcheck shell=bash
# ferrun flight library: the bash functions a flight script calls in dom0.
#
# dom0's init runs `bash /flight/flight.sh` with /flight as cwd and this file sourced first
# (through BASH_ENV). Results go to the serial line, one machine-readable line each, which
# scripts/testbed parses and prints:
#   @@STEP <step> <subject> <pass|fail> <detail...>   a result
#   @@BEGIN <step> <subject>                          a step started (charged on a timeout)
#   @@NOTE <text>                                     a remark shown to the user
#   @@FLIGHT <name>                                   the steps that follow belong to flight <name>
#   @@DUMP-BEGIN <title> ... @@DUMP-END               diagnostics shown to the user
#   [NAME] <line>                                     a line of guest NAME's console
# Guest functions return 0 when their step passed and 1 when it failed, so a flight can
# chain them; `step` itself always returns 0. Flights should not use `set -e`.
# Guest names must match [A-Za-z][A-Za-z0-9_.-]* (scripts/testbed tells "[NAME] " guest lines
# from dom0 kernel lines "[  12.3] " by that).

unset BASH_ENV # keep this library out of child bash processes (xl's hotplug scripts)

case ":$PATH:" in
    *:/usr/lib/xen-4.17/bin:*) ;;
    *) PATH=/usr/lib/xen-4.17/bin:$PATH ;;
esac

FERRUN_RUN=/run/ferrun                       # per-guest state, generated xl configs
FERRUN_CONSOLE_DIR=/var/log/xen/console      # xenconsoled --log=guest writes guest-NAME.log
FERRUN_CONSOLE_TIMEOUT=${FERRUN_CONSOLE_TIMEOUT:-30} # default guest_expect timeout (s)
FERRUN_STOP_TIMEOUT=${FERRUN_STOP_TIMEOUT:-30}       # default guest_wait_stop timeout (s)
mkdir -p "$FERRUN_RUN"

# Under TCG every fork+exec costs about 0.1 s in dom0, so the polling paths below use
# builtins only: time from $EPOCHREALTIME, pauses from a read timeout on a FIFO nobody
# writes (instead of /bin/sleep), results in REPLY instead of $(...) subshells.
[ -p "$FERRUN_RUN/.pause" ] || mkfifo "$FERRUN_RUN/.pause"
exec {_ferrun_pause_fd}<>"$FERRUN_RUN/.pause"

# Waits SECONDS (fractions allowed) without forking: _pause SECONDS
_pause() {
    read -r -t "$1" -u "$_ferrun_pause_fd" _ || true
}

# Prints the current time as seconds since the epoch, with microseconds (like date +%s.%N).
now() {
    printf '%s\n' "$EPOCHREALTIME"
}

# Sets REPLY to the current time in microseconds since the epoch.
_now_us() {
    _us_of "$EPOCHREALTIME"
}

# Sets REPLY to the microseconds since the epoch of a "seconds.microseconds" STAMP.
_us_of() {
    REPLY=$((10#${1%.*} * 1000000 + 10#${1#*.}))
}

# Sets REPLY to the time from microsecond value FROM to TO, as seconds with two decimals.
_secs() {
    local d=$(($2 - $1))
    ((d < 0)) && d=0
    printf -v REPLY '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}

# Sets REPLY to the number of newline-terminated lines in FILE (0 if it does not exist).
_count_lines() {
    local buf=""
    REPLY=0
    [ -r "$1" ] || return 0
    IFS= read -r -d '' buf <"$1" || true
    buf=${buf//[!$'\n']/}
    REPLY=${#buf}
}

# Emits a step result: step STEP SUBJECT pass|fail [DETAIL...]
step() {
    if [ $# -lt 3 ] || [[ $3 != pass && $3 != fail ]] || [[ $1$2 =~ [[:space:]] ]] ||
        [ -z "$1" ] || [ -z "$2" ]; then
        echo "@@STEP lib-usage step fail usage: step STEP SUBJECT pass|fail [DETAIL...] (got: step $*)"
        return 0
    fi
    local name=$1 subject=$2 result=$3
    shift 3
    echo "@@STEP $name $subject $result $*"
}

# Announces that STEP for SUBJECT is running (a testbed timeout then fails this step).
step_begin() {
    echo "@@BEGIN $1 $2"
}

# Prints a remark that scripts/testbed shows to the user.
note() {
    echo "@@NOTE $*"
}

# Starts flight NAME: the steps that follow are its steps (scripts/testbed --results writes
# them with this name; ci/flight runs several flights in one boot).
flight_begin() {
    echo "@@FLIGHT $1"
}

# Reports a misused library function as a failed step and returns 2.
_usage() {
    echo "@@STEP lib-usage ${FUNCNAME[1]} fail usage: $*"
    return 2
}

# Fails unless NAME is a valid guest name.
_check_name() {
    [[ $1 =~ ^[A-Za-z][A-Za-z0-9_.-]*$ ]] && return 0
    echo "@@STEP lib-usage ${FUNCNAME[1]} fail bad guest name '$1' (want [A-Za-z][A-Za-z0-9_.-]*)"
    return 2
}

# Sets REPLY to the 6-letter xl state of domain NAME (e.g. -b----, ---s--) or "gone", and
# REPLY_DOMID to its domid (one xl call, parsed without forking again).
_guest_state() {
    local out
    local -a f=()
    REPLY=gone REPLY_DOMID=""
    out=$(xl list "$1" 2>/dev/null) || return 0
    read -r -a f <<<"${out#*$'\n'}" # second line: Name ID Mem VCPUs State Time(s)
    [ "${#f[@]}" -ge 5 ] || return 0
    REPLY=${f[4]} REPLY_DOMID=${f[1]}
}

# True if xl state STATE is shut down (4th letter "s"; the 5th letter gives the reason).
_is_shutdown() {
    [ "$1" = gone ] || [ "${1:3:1}" = s ]
}

# Writes /run/ferrun/NAME.cfg: guest_cfg NAME KERNEL [CFG_LINE...] (later lines win per key).
guest_cfg() {
    if [ $# -lt 2 ]; then
        _usage "guest_cfg NAME KERNEL [CFG_LINE...]"
        return
    fi
    local name=$1 kernel=$2 line key i
    shift 2
    _check_name "$name" || return
    [[ $kernel = /* ]] || kernel=$PWD/$kernel
    local -a keys=() lines=()
    for line in "name = \"$name\"" 'type = "pv"' "kernel = \"$kernel\"" 'memory = 32' \
        'vcpus = 1' 'on_poweroff = "preserve"' 'on_reboot = "preserve"' \
        'on_crash = "preserve"' 'cmdline = ""' "$@"; do
        key=${line%%=*}
        key=${key//[[:space:]]/}
        [[ $line == *=* ]] || key="#${#keys[@]}" # not an assignment: keep it as it is
        for ((i = 0; i < ${#keys[@]}; i++)); do
            [ "${keys[i]}" = "$key" ] && break
        done
        keys[i]=$key
        lines[i]=$line
    done
    printf '%s\n' "${lines[@]}" >"$FERRUN_RUN/$name.cfg"
}

# Background job: copies guest NAME's console log to the serial line as "[NAME] line" and to
# /run/ferrun/NAME.lines as "<arrival time> line" (what guest_expect matches against).
_stream_run() {
    local name=$1 log=$FERRUN_CONSOLE_DIR/guest-$1.log copy=$FERRUN_RUN/$1.lines line fd
    exec {fd}< <(exec tail -s 0.1 -n +1 -F "$log" 2>/dev/null)
    echo $! >"$FERRUN_RUN/$name.tail.pid"
    while IFS= read -r line <&"$fd" || [ -n "$line" ]; do
        line=${line//$'\r'/}
        printf '[%s] %s\n' "$name" "$line"
        printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$copy"
    done
}

# Starts streaming guest NAME's console into the serial line, from an empty log.
_stream_start() {
    local name=$1 log=$FERRUN_CONSOLE_DIR/guest-$1.log i
    [ -e "$log" ] && mv -f "$log" "$log.old"
    : >"$log" # xenconsoled appends to it; tail -F follows it through inotify from the start
    : >"$FERRUN_RUN/$name.lines"
    rm -f "$FERRUN_RUN/$name.tail.pid"
    _stream_run "$name" &
    echo $! >"$FERRUN_RUN/$name.stream.pid"
    for ((i = 0; i < 100; i++)); do # bounded wait until tail runs, so stopping it works
        [ -s "$FERRUN_RUN/$name.tail.pid" ] && return 0
        _pause 0.02
    done
}

# Waits (bounded, 5 s) until every complete line of guest NAME's console log was streamed.
_stream_flush() {
    local name=$1 i have want
    [ -e "$FERRUN_RUN/$name.stream.pid" ] || return 0
    for ((i = 0; i < 100; i++)); do
        _count_lines "$FERRUN_CONSOLE_DIR/guest-$name.log"
        want=$REPLY
        _count_lines "$FERRUN_RUN/$name.lines"
        have=$REPLY
        ((have >= want)) && return 0
        _pause 0.05
    done
    note "console stream of $name lags: $have of $want lines streamed"
    return 1
}

# Stops streaming guest NAME's console, after flushing it.
_stream_stop() {
    local name=$1 pid i
    [ -e "$FERRUN_RUN/$name.stream.pid" ] || return 0
    _stream_flush "$name" || true
    read -r pid <"$FERRUN_RUN/$name.tail.pid" 2>/dev/null && kill "$pid" 2>/dev/null
    read -r pid <"$FERRUN_RUN/$name.stream.pid"
    for ((i = 0; i < 100; i++)); do # the reader prints a last partial line, then exits
        kill -0 "$pid" 2>/dev/null || break
        _pause 0.02
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$FERRUN_RUN/$name.stream.pid" "$FERRUN_RUN/$name.tail.pid"
}

# Prints the last 60 lines of xl dmesg for guest NAME, leaving out lines an earlier dump of
# this flight already showed.
_dump_xl_dmesg() {
    local name=$1 seen=$FERRUN_RUN/xl-dmesg.seen out total prev=0 state
    _guest_state "$name"
    state=$REPLY
    out=$(xl dmesg 2>&1)
    total=$(wc -l <<<"$out")
    [ -r "$seen" ] && read -r prev <"$seen"
    echo "$total" >"$seen"
    if ((prev > 0 && total >= prev)); then
        echo "@@DUMP-BEGIN $name: xl list state $state; xl dmesg since the last dump (at most 60 lines)"
        if ((total > prev)); then
            tail -n +$((prev + 1)) <<<"$out" | tail -n 60
        else
            echo "(no new lines)"
        fi
    else
        echo "@@DUMP-BEGIN $name: xl list state $state; xl dmesg | tail -60"
        tail -n 60 <<<"$out"
    fi
    echo "@@DUMP-END"
}

# guest_xenctx NAME: xenctx of guest NAME (all registers, the stack), with RIP and stack
# words named from the image's symbol file (KERNEL.map beside the kernel its configuration
# names, written by scripts/build) when there is one.
guest_xenctx() {
    if [ $# -ne 1 ]; then
        _usage "guest_xenctx NAME"
        return
    fi
    local kernel domid symbols=()
    domid=$(xl domid "$1" 2>/dev/null) || {
        echo "guest_xenctx: no domain $1"
        return 1
    }
    kernel=$(sed -n 's/^kernel = "\(.*\)"$/\1/p' "$FERRUN_RUN/$1.cfg" 2>/dev/null | head -n 1)
    if [ -n "$kernel" ] && [ -f "$kernel.map" ]; then
        symbols=(-s "$kernel.map")
    fi
    /usr/lib/xen-4.17/bin/xenctx "${symbols[@]}" -a -S "$domid" 2>&1
}

# Prints the diagnostics of guest NAME once: xl create output, xl dmesg, console log, xenctx.
_guest_dump() {
    local name=$1 log=$FERRUN_CONSOLE_DIR/guest-$1.log
    if [ -e "$FERRUN_RUN/$name.dumped" ]; then
        note "diagnostics of $name: see above"
        return 0
    fi
    : >"$FERRUN_RUN/$name.dumped"
    _stream_flush "$name" || true
    if grep -qv '^Parsing config' "$FERRUN_RUN/$name.create.log" 2>/dev/null; then
        echo "@@DUMP-BEGIN $name: xl create output"
        cat "$FERRUN_RUN/$name.create.log"
        echo "@@DUMP-END"
    fi
    _dump_xl_dmesg "$name"
    echo "@@DUMP-BEGIN $name: console log $log (last 200 lines)"
    if [ -s "$log" ]; then
        tail -n 200 "$log"
    else
        echo "(empty: the guest wrote nothing to its console)"
    fi
    echo "@@DUMP-END"
    _guest_state "$name"
    if [ "$REPLY" != gone ]; then
        echo "@@DUMP-BEGIN $name: xenctx -a -S $REPLY_DOMID (symbols from the image's .map, if any)"
        guest_xenctx "$name" | head -120
        echo "@@DUMP-END"
    fi
}

# Destroys guest NAME (if it exists) and stops streaming its console.
guest_destroy() {
    if [ $# -ne 1 ]; then
        _usage "guest_destroy NAME"
        return
    fi
    xl destroy "$1" >/dev/null 2>&1
    _stream_stop "$1"
}

# Creates guest NAME from CFGFILE and starts streaming its console: guest_start NAME CFGFILE
guest_start() {
    if [ $# -ne 2 ]; then
        _usage "guest_start NAME CFGFILE"
        return
    fi
    local name=$1 cfg=$2 t0 t1 rc took
    _check_name "$name" || return
    step_begin guest-start "$name"
    rm -f "$FERRUN_RUN/$name".{dumped,start_us,create.log}
    if [ ! -f "$cfg" ]; then
        step guest-start "$name" fail "no config file $cfg"
        return 1
    fi
    _guest_state "$name"
    if [ "$REPLY" != gone ]; then
        step guest-start "$name" fail "a domain named $name already exists (domid $REPLY_DOMID)"
        return 1
    fi
    _stream_start "$name"
    _now_us
    t0=$REPLY
    # Created paused, then unpaused: xl create's monitoring child must be in place before
    # the guest runs. A guest that crashed within xl create's first fraction of a second
    # made that child (Xen 4.17's xl) die of a segmentation fault on the testbed.
    xl create -p "$cfg" >"$FERRUN_RUN/$name.create.log" 2>&1
    rc=$?
    _now_us
    t1=$REPLY
    _secs "$t0" "$t1"
    took=$REPLY
    if [ $rc -eq 0 ]; then
        # Guest timings count from here: the moment the guest may run.
        echo "$t1" >"$FERRUN_RUN/$name.start_us"
        xl unpause "$name" >>"$FERRUN_RUN/$name.create.log" 2>&1
        rc=$?
    fi
    if [ $rc -ne 0 ]; then
        step guest-start "$name" fail "xl create -p / xl unpause exited $rc after ${took}s:" \
            "$(grep -m1 -i 'error' "$FERRUN_RUN/$name.create.log" || tail -n 1 "$FERRUN_RUN/$name.create.log")"
        _guest_dump "$name"
        guest_destroy "$name"
        return 1
    fi
    _guest_state "$name"
    step guest-start "$name" pass "domid $REPLY_DOMID, xl create ${took}s (paused), then unpaused"
}

# Matches NAME's streamed console lines not yet seen against the patterns (updates the
# caller's _m_idx, _m_pos, _m_first and _m_last).
_expect_scan() {
    local name=$1 entry text
    local -a new=()
    mapfile -t -s "$_m_pos" new <"$FERRUN_RUN/$name.lines"
    for entry in "${new[@]}"; do
        _m_pos=$((_m_pos + 1))
        text=${entry#* }
        [ -n "$_m_first" ] || _m_first=${entry%% *}
        if ((_m_idx < ${#_m_pats[@]})) && [[ $text =~ ${_m_pats[_m_idx]} ]]; then
            _m_idx=$((_m_idx + 1))
            _m_last=${entry%% *}
        fi
    done
}

# Like _expect_scan, but reads NAME's console log itself, past the lines the stream
# delivered: used when the stream still lags after a flush, so that a stalled stream costs
# the arrival times (taken as now), never a verdict.
_expect_scan_log() {
    local name=$1 line
    local -a lines=()
    mapfile -t -s "$_m_pos" lines <"$FERRUN_CONSOLE_DIR/guest-$name.log"
    _now_us
    for line in "${lines[@]}"; do
        _m_pos=$((_m_pos + 1))
        line=${line//$'\r'/}
        [ -n "$_m_first" ] || _m_first=$EPOCHREALTIME
        if ((_m_idx < ${#_m_pats[@]})) && [[ $line =~ ${_m_pats[_m_idx]} ]]; then
            _m_idx=$((_m_idx + 1))
            _m_last=$EPOCHREALTIME
        fi
    done
}

# Waits until NAME's console showed lines matching EXPECT_FILE's regexes in order:
# guest_expect NAME EXPECT_FILE [TIMEOUT_S]
guest_expect() {
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then
        _usage "guest_expect NAME EXPECT_FILE [TIMEOUT_S]"
        return
    fi
    local name=$1 file=$2 timeout=${3:-$FERRUN_CONSOLE_TIMEOUT} line t0 deadline why="" first
    local _m_idx=0 _m_pos=0 _m_first="" _m_last=""
    local -a _m_pats=()
    step_begin guest-console "$name"
    if [ ! -r "$file" ]; then
        step guest-console "$name" fail "cannot read expect file $file"
        _guest_dump "$name"
        return 1
    fi
    while IFS= read -r line || [ -n "$line" ]; do
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        [[ "" =~ $line ]]
        if [ $? -eq 2 ]; then
            step guest-console "$name" fail "invalid extended regex in $file: '$line'"
            return 1
        fi
        _m_pats+=("$line")
    done <"$file"
    if [ ${#_m_pats[@]} -eq 0 ]; then
        step guest-console "$name" fail "no patterns in $file"
        return 1
    fi
    if ! read -r t0 <"$FERRUN_RUN/$name.start_us" 2>/dev/null; then
        step guest-console "$name" fail "guest $name was not started with guest_start"
        return 1
    fi
    _now_us
    deadline=$((REPLY + timeout * 1000000))
    while :; do
        _expect_scan "$name"
        ((_m_idx == ${#_m_pats[@]})) && break
        [ -z "$why" ] || break # the scan after the guest stopped (or the timeout) failed too
        _guest_state "$name"
        if _is_shutdown "$REPLY"; then
            why="guest shut down, state $REPLY"
            _stream_flush "$name" || _expect_scan_log "$name"
            continue
        fi
        _now_us
        if ((REPLY >= deadline)); then
            why="timeout ${timeout}s"
            _stream_flush "$name" || _expect_scan_log "$name"
            continue
        fi
        _pause 0.1
    done
    first="no console output"
    if [ -n "$_m_first" ]; then
        _us_of "$_m_first"
        _secs "$t0" "$REPLY"
        first="first line ${REPLY}s"
    fi
    if ((_m_idx == ${#_m_pats[@]})); then
        _us_of "$_m_last"
        _secs "$t0" "$REPLY"
        step guest-console "$name" pass "$first, last expected line ${REPLY}s after unpause" \
            "(${#_m_pats[@]} patterns)"
        return 0
    fi
    step guest-console "$name" fail "pattern $((_m_idx + 1))/${#_m_pats[@]} not found:" \
        "'${_m_pats[_m_idx]}' ($why; $first)"
    _guest_dump "$name"
    return 1
}

# Waits until NAME has shut down, checks the reason, then destroys it:
# guest_wait_stop NAME poweroff|crash|reboot [TIMEOUT_S]
guest_wait_stop() {
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then
        _usage "guest_wait_stop NAME poweroff|crash|reboot [TIMEOUT_S]"
        return
    fi
    local name=$1 want=$2 timeout=${3:-$FERRUN_STOP_TIMEOUT} letter state got t0 t1 deadline ok=1
    case $want in
        poweroff) letter=- ;;
        reboot) letter=r ;;
        suspend) letter=s ;;
        crash) letter=c ;;
        watchdog) letter=w ;;
        *)
            _usage "guest_wait_stop NAME poweroff|crash|reboot [TIMEOUT_S] (got reason '$want')"
            return
            ;;
    esac
    step_begin guest-stop "$name"
    _now_us
    deadline=$((REPLY + timeout * 1000000))
    read -r t0 <"$FERRUN_RUN/$name.start_us" 2>/dev/null || t0=$REPLY
    while :; do
        _guest_state "$name"
        state=$REPLY
        _now_us
        t1=$REPLY
        _is_shutdown "$state" && break
        ((t1 >= deadline)) && break
        _pause 0.1
    done
    _stream_flush "$name" || true
    if [ "$state" = gone ]; then
        step guest-stop "$name" fail "expected $want, but the domain is gone (destroyed elsewhere?)"
    elif [ "${state:3:1}" != s ]; then
        step guest-stop "$name" fail "expected $want, still running after ${timeout}s (state $state)"
    else
        # xl state letters: r b p s <reason> d; the 5th gives the shutdown reason.
        case ${state:4:1} in
            -) got=poweroff ;;
            r) got=reboot ;;
            s) got=suspend ;;
            c) got=crash ;;
            w) got=watchdog ;;
            *) got="unknown(${state:4:1})" ;;
        esac
        if [ "${state:4:1}" = "$letter" ]; then
            _secs "$t0" "$t1"
            step guest-stop "$name" pass "$got (state $state), seen ${REPLY}s after unpause"
            ok=0
        else
            step guest-stop "$name" fail "expected $want, got $got (state $state)"
        fi
    fi
    [ $ok -eq 0 ] || _guest_dump "$name"
    guest_destroy "$name"
    return $ok
}

# Runs a whole guest: guest_run NAME KERNEL EXPECT_FILE REASON [CFG_LINE...]
guest_run() {
    if [ $# -lt 4 ]; then
        _usage "guest_run NAME KERNEL EXPECT_FILE poweroff|crash|reboot [CFG_LINE...]"
        return
    fi
    local name=$1 kernel=$2 expect=$3 reason=$4 ok=0
    shift 4
    guest_cfg "$name" "$kernel" "$@" || return
    if ! guest_start "$name" "$FERRUN_RUN/$name.cfg"; then
        step guest-console "$name" fail "skipped: guest-start failed"
        step guest-stop "$name" fail "skipped: guest-start failed"
        return 1
    fi
    guest_expect "$name" "$expect" || ok=1
    guest_wait_stop "$name" "$reason" || ok=1
    return $ok
}

# Prepares guest NAME's console stream for a guest that another toolstack is about to
# create (virsh, scripts/run), so that guest_expect can follow it; its times count from
# here: guest_watch NAME
guest_watch() {
    if [ $# -ne 1 ]; then
        _usage "guest_watch NAME"
        return
    fi
    _check_name "$1" || return
    rm -f "$FERRUN_RUN/$1".{dumped,create.log}
    _stream_start "$1"
    _now_us
    echo "$REPLY" >"$FERRUN_RUN/$1.start_us"
}

# Background job: waits for the line `ferrun-stop` on INPUT, then shuts guest NAME down
# with `xl shutdown` (and creates /run/ferrun/NAME.stop, with the time).
_stop_listen() {
    local name=$1 input=$2 fd line
    exec {fd}<>"$input" || return # read-write: a FIFO then never reports EOF
    [ -t "$fd" ] && stty -echo <&"$fd" 2>/dev/null
    while IFS= read -r line <&"$fd"; do
        [ "${line//$'\r'/}" = ferrun-stop ] || continue
        echo "$EPOCHREALTIME" >"$FERRUN_RUN/$name.stop"
        note "stop requested on $input: xl shutdown $name"
        xl shutdown "$name" >"$FERRUN_RUN/$name.shutdown.log" 2>&1 ||
            note "xl shutdown $name failed: $(tail -n 1 "$FERRUN_RUN/$name.shutdown.log")"
        return
    done
}

# Lets guest NAME (started with guest_start) run until it shuts down: by itself, or after
# a stop request, the line `ferrun-stop` on INPUT (default dom0's console input, where
# `scripts/testbed run --stop-on-int` sends it on SIGINT), which shuts it down with
# `xl shutdown` (its shutdown hooks run). Then step guest-stop checks the REASON (default
# poweroff) and the guest is destroyed: guest_serve NAME [REASON] [INPUT]
guest_serve() {
    if [ $# -lt 1 ] || [ $# -gt 3 ]; then
        _usage "guest_serve NAME [REASON] [INPUT]"
        return
    fi
    local name=$1 want=${2:-poweroff} input=${3:-/dev/hvc0} listener
    _check_name "$name" || return
    rm -f "$FERRUN_RUN/$name.stop"
    _stop_listen "$name" "$input" &
    listener=$!
    step_begin guest-stop "$name"
    # Once a second: xl list costs dom0 about 0.1 s of CPU under TCG, which the guest needs.
    while :; do
        _guest_state "$name"
        _is_shutdown "$REPLY" && break
        _pause 1
    done
    kill "$listener" 2>/dev/null
    wait "$listener" 2>/dev/null
    guest_wait_stop "$name" "$want" 30
}

# Pins all of dom0's vCPUs to the pCPUs other than CPU: dom0_pin_away_from CPU
dom0_pin_away_from() {
    if [ $# -ne 1 ] || [[ ! $1 =~ ^[0-9]+$ ]]; then
        _usage "dom0_pin_away_from CPU"
        return
    fi
    local cpu=$1 nr c list=""
    nr=$(xl info | awk -F': *' '$1 ~ /^nr_cpus/ {print $2}')
    for ((c = 0; c < nr; c++)); do
        [ "$c" -eq "$cpu" ] || list+=${list:+,}$c
    done
    if [ -z "$list" ]; then
        note "dom0_pin_away_from $cpu: no other pCPU (nr_cpus $nr)"
        return 1
    fi
    xl vcpu-pin Domain-0 all "$list" || return 1
    note "dom0 vCPUs pinned to pCPU $list (away from $cpu)"
}
