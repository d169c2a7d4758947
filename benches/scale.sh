#!/usr/bin/env bash
# Cost against the instance count: N VRRPv3 instances (VRIDs 1..N, one VIP each from
# 198.51.100.0/24) between a master (priority 255) and a backup (priority 100) in two
# network namespaces joined by one veth (192.0.2.1 / 192.0.2.2), for vrrpd and for
# keepalived in the same run. Documentation addresses only; nothing leaves the namespaces.
#
# For each daemon, instance count and advert interval it prints one row:
#   start_s   time from the master's launch until all N VIPs sit on its eth0
#             (the backup is launched after that, so it cannot delay the master)
#   master/backup CPU, ms per wall second, over the window (/proc/PID/task/*/schedstat,
#             keepalived's processes summed), and ms/s per instance
#   false     transitions during the window: "Entering MASTER STATE" on the backup plus
#             any "Entering ... STATE" on the master (both daemons log that wording)
#   wake/s    voluntary context switches per second (each one a sleep, so a wake-up)
#
# `floor` in --daemons runs benches/advert_floor.c (built here with cc) instead: a master
# that sends the N adverts with one sendmmsg per interval off a periodic timerfd, and a
# backup that reads them with recvmmsg, and nothing else: the kernel's price of N adverts
# per interval, which any implementation pays (its start_s is "-": it holds no VIP).
#
# CPU figures are only meaningful on a quiet machine (see docs/BENCHMARKS.md); on a loaded
# one use --strace, whose system-call counts per second do not depend on the load.
#
# With --strace, each side is traced (strace -c -f) for a window of its own instead, the
# master first, then the backup (a traced master sends slower, which would change what
# the backup sees), and the rows give system calls per second for master and backup,
# followed by the per-call breakdown of each. ptrace slows the tracee: the CPU columns
# are then left out.
#
# With --callgrind, vrrpd's backup runs under valgrind's callgrind (counters zeroed after
# the settle time, dumped after the window): instructions per second of the steady state,
# which the load does not change either. keepalived rows are skipped in that mode. Symbols
# need a binary built with them (cargo build --profile profiling); set
# SCALE_KEEP_CALLGRIND=DIR to keep the profiles for callgrind_annotate.
#
# Usage: sudo benches/scale.sh [--vrrpd PATH] [--counts "1 10 50 200"]
#            [--intervals "100 1000"] [--seconds N] [--daemons "vrrpd keepalived"]
#            [--strace | --callgrind]
set -euo pipefail
vrrpd=target/release/vrrpd
counts="1 10 50 200"
intervals="100 1000"
seconds=20
daemons="vrrpd keepalived"
mode=cpu
while [[ $# -gt 0 ]]; do
    case $1 in
        --vrrpd) vrrpd=$2; shift 2 ;;
        --counts) counts=$2; shift 2 ;;
        --intervals) intervals=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --daemons) daemons=$2; shift 2 ;;
        --strace) mode=strace; shift ;;
        --callgrind) mode=callgrind; shift ;;
        *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
vrrpd=$(realpath "$vrrpd")
floor_binary=""
if [[ " $daemons " == *" floor "* ]]; then
    floor_binary=$(mktemp /tmp/advert_floor.XXXXXX)
    cc -O2 -o "$floor_binary" "$(dirname "$0")/advert_floor.c"
fi
for count in $counts; do
    if ((count < 1 || count > 250)); then
        echo "scale.sh: instance counts must be 1..250 (one VIP each from 198.51.100.0/24)" >&2
        exit 2
    fi
done
base="vscale$$"
prefix=$base
runs=0
dir=$(mktemp -d)
pids=()
stop_daemons() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Bounded wait (50 × 0.1 s) for a clean exit, then force.
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    pids=()
}
remove_lab() {
    ip netns del "$prefix-m" 2>/dev/null || true
    ip netns del "$prefix-b" 2>/dev/null || true
}
cleanup() {
    stop_daemons
    # keepalived's VRRP child is not in $pids: whatever still runs in our namespaces goes.
    for ns in "$prefix-m" "$prefix-b"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    remove_lab
    rm -rf "$dir"
    [[ -n $floor_binary ]] && rm -f "$floor_binary"
}
trap cleanup EXIT INT TERM
make_lab() {
    remove_lab
    # A fresh pair of names per row: re-adding a namespace just deleted can race with
    # its teardown.
    runs=$((runs + 1))
    prefix="$base-$runs"
    ip netns add "$prefix-m"
    ip netns add "$prefix-b"
    ip link add eth0 netns "$prefix-m" type veth peer name eth0 netns "$prefix-b"
    ip -n "$prefix-m" addr add 192.0.2.1/24 dev eth0
    ip -n "$prefix-b" addr add 192.0.2.2/24 dev eth0
    ip -n "$prefix-m" link set eth0 up
    ip -n "$prefix-b" link set eth0 up
}
vrrpd_config() { # role priority count interval_ms
    local i sep=""
    printf '{ "control_socket": "%s/%s.sock", "state_directory": "%s/%s.state",\n  "instances": [\n' \
        "$dir" "$1" "$dir" "$1"
    for ((i = 1; i <= $3; i++)); do
        printf '%s    { "name": "vi%d", "interface": "eth0", "virtual_router_id": %d, "version": 3,
      "priority": %d, "advert_interval_ms": %d, "virtual_addresses": ["198.51.100.%d/32"] }' \
            "$sep" "$i" "$i" "$2" "$4" "$i"
        sep=$',\n'
    done
    printf '\n  ] }\n'
}
keepalived_config() { # role priority count interval_ms
    local i
    printf 'global_defs { router_id %s }\n' "$1"
    for ((i = 1; i <= $3; i++)); do
        printf 'vrrp_instance vi%d {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d
    version 3\n    priority %d\n    advert_int %s\n    virtual_ipaddress { 198.51.100.%d/32 }\n}\n' \
            "$i" "$i" "$2" "$(awk "BEGIN{print $4/1000}")" "$i"
    done
}
# The processes of one side: vrrpd's PID, or every keepalived process of that config.
processes() { # daemon role
    if [[ $1 == vrrpd || $1 == floor ]]; then
        echo "${side_pid[$2]}"
    else
        pgrep -f "keepalived -n -l -P -f $dir/$2.conf" | tr '\n' ' '
    fi
}
wakes() { # pids...: voluntary context switches (sleeps, so wake-ups) of every thread, summed
    local total=0 pid task
    for pid in "$@"; do
        for task in /proc/"$pid"/task/*/status; do
            [[ -r $task ]] && total=$((total + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$task" 2>/dev/null || echo 0)))
        done
    done
    echo "$total"
}
cpu_ns() { # pids...: CPU time of every thread, summed
    local total=0 pid task
    for pid in "$@"; do
        for task in /proc/"$pid"/task/*/schedstat; do
            [[ -r $task ]] && total=$((total + $(awk '{print $1}' "$task" 2>/dev/null || echo 0)))
        done
    done
    echo "$total"
}
vips_on() { # role: how many of our VIPs sit on that side's eth0
    ip -n "$prefix-${1:0:1}" -4 addr show dev eth0 | grep -c 'inet 198\.51\.100\.' || true
}
launch() { # daemon role priority count interval
    local ns="$prefix-${2:0:1}"
    if [[ $1 == floor ]]; then
        if [[ $2 == master ]]; then
            ip netns exec "$ns" "$floor_binary" eth0 192.0.2.1 1 255 $(($5 / 10)) 198.51.100.1 "$4" \
                >"$dir/$2.log" 2>&1 &
        else
            ip netns exec "$ns" "$floor_binary" receive eth0 batch >"$dir/$2.log" 2>&1 &
        fi
    elif [[ $1 == vrrpd ]]; then
        vrrpd_config "$2" "$3" "$4" "$5" >"$dir/$2.json"
        local wrap=()
        if [[ $mode == callgrind && $2 == backup ]]; then
            wrap=(env VRRPD_SCHEMA_CHECK=in-process valgrind --tool=callgrind
                --callgrind-out-file="$dir/backup.callgrind")
        fi
        ip netns exec "$ns" "${wrap[@]}" "$vrrpd" run -c "$dir/$2.json" >"$dir/$2.log" 2>&1 &
    else
        keepalived_config "$2" "$3" "$4" "$5" >"$dir/$2.conf"
        ip netns exec "$ns" keepalived -n -l -P -f "$dir/$2.conf" \
            -p "$dir/$2.pid" -r "$dir/$2.vrrp.pid" >"$dir/$2.log" 2>&1 &
    fi
    pids+=($!)
    side_pid[$2]=$!
}
transitions() { # role pattern: matching log lines so far
    grep -c "$2" "$dir/$1.log" || true
}
# strace -c's table: "% time seconds usecs/call calls [errors] syscall"; print calls/s.
per_second() { # file seconds
    local pattern='$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total"'
    awk -v s="$2" "$pattern"' { total += $4 } END { printf "%.0f\t", total / s }' "$1"
    awk -v s="$2" "$pattern"' && $4 / s >= 0.5 { printf "%s=%.0f\n", $NF, $4 / s }' "$1" |
        sort | tr '\n' ' '
    echo
}
declare -A side_pid
case $mode in
    cpu) printf '%-10s %5s %6s %8s %9s %9s %10s %10s %6s %8s %8s\n' daemon N adv_ms start_s \
        master_ms/s backup_ms/s m_per_inst b_per_inst false m_wake/s b_wake/s ;;
    strace) printf '%-10s %5s %6s %8s %14s %14s %6s\n' daemon N adv_ms start_s \
        master_calls/s backup_calls/s false ;;
    callgrind) printf '%-10s %5s %6s %8s %18s %14s\n' daemon N adv_ms start_s \
        backup_instr/s instr/advert ;;
esac
details=()
for interval in $intervals; do
    for count in $counts; do
        for daemon in $daemons; do
            [[ $mode == callgrind && $daemon != vrrpd ]] && continue
            make_lab
            launch "$daemon" master 255 "$count" "$interval"
            t0=$(date +%s%N)
            start_s=timeout
            [[ $daemon == floor ]] && start_s=-
            # Bounded: 60 s at 20 ms per look.
            for _ in $(seq 1 3000); do
                [[ $daemon == floor ]] && break
                if [[ $(vips_on master) -ge $count ]]; then
                    start_s=$(awk "BEGIN{printf \"%.3f\", ($(date +%s%N) - $t0) / 1e9}")
                    break
                fi
                kill -0 "${side_pid[master]}" 2>/dev/null || break
                sleep 0.02
            done
            launch "$daemon" backup 100 "$count" "$interval"
            # Settle: the backup's first Master_Down interval (3 adverts + skew) and
            # start-up, with room; valgrind starts slowly.
            settle=$(awk "BEGIN{s = 4 * $interval / 1000 + 3; if (\"$mode\" == \"callgrind\") s += 20; print s}")
            sleep "$settle"
            for role in master backup; do
                if ! kill -0 "${side_pid[$role]}" 2>/dev/null; then
                    echo "scale.sh: $daemon $role exited:" >&2
                    tail -20 "$dir/$role.log" >&2
                    exit 1
                fi
            done
            mp=$(processes "$daemon" master); bp=$(processes "$daemon" backup)
            false0=$(($(transitions backup 'Entering MASTER STATE') + $(transitions master 'Entering [A-Z]* STATE')))
            case $mode in
                cpu)
                    # shellcheck disable=SC2086
                    m0=$(cpu_ns $mp); b0=$(cpu_ns $bp); w0=$(date +%s%N)
                    # shellcheck disable=SC2086
                    mw0=$(wakes $mp); bw0=$(wakes $bp)
                    sleep "$seconds"
                    # shellcheck disable=SC2086
                    m1=$(cpu_ns $mp); b1=$(cpu_ns $bp); w1=$(date +%s%N)
                    # shellcheck disable=SC2086
                    mw1=$(wakes $mp); bw1=$(wakes $bp)
                    false1=$(($(transitions backup 'Entering MASTER STATE') + $(transitions master 'Entering [A-Z]* STATE')))
                    awk -v d="$daemon" -v n="$count" -v i="$interval" -v st="$start_s" \
                        -v m=$((m1 - m0)) -v b=$((b1 - b0)) -v w=$((w1 - w0)) -v f=$((false1 - false0)) \
                        -v mw=$((mw1 - mw0)) -v bw=$((bw1 - bw0)) \
                        'BEGIN { ms = m / w * 1000; bs = b / w * 1000
                                 printf "%-10s %5d %6d %8s %11.3f %11.3f %10.4f %10.4f %6d %8.0f %8.0f\n",
                                        d, n, i, st, ms, bs, ms / n, bs / n, f, mw / w * 1e9, bw / w * 1e9 }'
                    ;;
                strace)
                    # One side at a time: a traced master sends its adverts slower (every
                    # system call stops it), which would change what the backup sees.
                    # shellcheck disable=SC2046
                    timeout -s INT "$seconds" strace -c -f $(printf -- '-p %s ' $mp) -o "$dir/strace.master" 2>/dev/null || true
                    # shellcheck disable=SC2046
                    timeout -s INT "$seconds" strace -c -f $(printf -- '-p %s ' $bp) -o "$dir/strace.backup" 2>/dev/null || true
                    ms=$(per_second "$dir/strace.master" "$seconds")
                    bs=$(per_second "$dir/strace.backup" "$seconds")
                    false1=$(($(transitions backup 'Entering MASTER STATE') + $(transitions master 'Entering [A-Z]* STATE')))
                    printf '%-10s %5d %6d %8s %14s %14s %6d\n' "$daemon" "$count" "$interval" "$start_s" \
                        "${ms%%$'\t'*}" "${bs%%$'\t'*}" $((false1 - false0))
                    details+=("$daemon N=$count ${interval}ms master calls/s:${ms#*$'\t'}")
                    details+=("$daemon N=$count ${interval}ms backup calls/s:${bs#*$'\t'}")
                    ;;
                callgrind)
                    callgrind_control -z "${side_pid[backup]}" >/dev/null 2>&1
                    w0=$(date +%s%N)
                    sleep "$seconds"
                    callgrind_control -d "${side_pid[backup]}" >/dev/null 2>&1
                    w1=$(date +%s%N)
                    file=$(ls -t "$dir"/backup.callgrind* | head -1)
                    ir=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
                    awk -v d="$daemon" -v n="$count" -v i="$interval" -v st="$start_s" \
                        -v ir="$ir" -v w=$((w1 - w0)) \
                        'BEGIN { per_s = ir / (w / 1e9); adverts = n * 1000 / i
                                 printf "%-10s %5d %6d %8s %18.0f %14.0f\n", d, n, i, st, per_s, per_s / adverts }'
                    details+=("vrrpd N=$count ${interval}ms backup, the costliest functions (instructions; callers include their inlined callees):")
                    while IFS= read -r line; do details+=("  $line"); done < <(
                        callgrind_annotate --threshold=100 "$file" 2>/dev/null |
                            grep -E 'vrrpd::(core|driver)|malloc|free|tokio::' | head -15)
                    if [[ -n ${SCALE_KEEP_CALLGRIND:-} ]]; then
                        cp "$file" "$SCALE_KEEP_CALLGRIND/backup.$count.$interval.callgrind"
                    fi
                    rm -f "$dir"/backup.callgrind*
                    ;;
            esac
            stop_daemons
            for ns in "$prefix-m" "$prefix-b"; do
                for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
            done
        done
    done
done
for line in "${details[@]}"; do echo "$line"; done
