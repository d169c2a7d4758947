#!/usr/bin/env bash
# Per-advert CPU cost of vrrpd at 10 ms VRRPv3 adverts: a master (priority 255) and a backup
# (priority 100) in two network namespaces joined by a veth, documentation addresses only.
# Prints CPU ns per wall second (from /proc/PID/task/*/schedstat: every thread) and
# VmRSS/RssAnon/RssFile for both.
#
# With --callgrind, both run under valgrind's callgrind; counters are zeroed after start-up
# and dumped after the window, so the reported instructions are the steady state only
# (divide by 100 × seconds for instructions per advert; valgrind may slow the master down).
#
# With --keepalived, the same pair runs keepalived instead (its parent and VRRP child
# are summed), for a baseline measured on the same machine at the same time.
#
# With --floor, both ends are benches/advert_floor.c (built here with cc): the master
# makes one timerfd read and one sendto per advert, the backup one blocking recv per
# advert, and nothing else: the least any VRRP master, and any backup that looks at each
# advert, can do. Their CPU figures are the kernel's price of the 10 ms cadence, which no
# such implementation avoids.
#
# With --epoll-floor, the same, but the backup is `advert_floor receive eth0 epoll`: it waits
# in epoll_wait with a timeout standing for its Master_Down_Timer, then reads, as a daemon
# that watches a timer and other sources besides the socket must: the floor of any such
# backup, which the blocking recv above is not. Its master is `advert_floor epoll`: it waits
# in epoll_pwait2 on its joined socket with the time to its next advert as the timeout, then
# sends, as a daemon's master that also listens must: the floor of any such master.
#
# With --timeout-floor, the --floor pair, but the backup's blocking recv has SO_RCVTIMEO set
# to the epoll floor's 40 ms (`advert_floor receive eth0 timeout`): one system call per
# advert, and the kernel timer that a receive with a timeout arms each time.
#
# With --touch-floor LINES[:STRIDE], the --floor pair, but the backup writes LINES cache
# lines STRIDE bytes apart (64: contiguous) after each advert (`advert_floor receive eth0
# touch`): what the memory a wake-up touches costs on this machine, for a cost model.
#
# With --lock-memory, vrrpd runs with `--lock-memory` and keepalived with `vrrp_no_swap`
# (both mlockall): the resident memory that locking costs.
#
# With --cpus M,B, the master runs on CPU M and the backup on CPU B (taskset; every thread
# and child). Unpinned, the scheduler places each pair anew, and on this VM a pair whose
# sender and receiver sit on two CPUs costs two to three times a pair on one (each advert's
# wake-up then crosses CPUs), which moves a round's figure more than the implementation
# does. Pinned, every implementation is measured with the same placement.
#
# With --start-at T (nanoseconds since the epoch), the window starts at T instead of a few
# seconds after start-up, so that several pairs started together (advert_compare.sh
# --together) measure the same seconds of the machine's time; a T already past when the
# pair is up is an error, not a shorter window.
#
# Usage: sudo benches/advert_cost.sh [--vrrpd PATH] [--seconds N] [--strace] [--callgrind]
#                                    [--keepalived | --floor | --epoll-floor | --timeout-floor |
#                                     --touch-floor LINES[:STRIDE]] [--lock-memory]
#                                    [--cpus M,B] [--start-at NS]
set -euo pipefail
vrrpd=target/release/vrrpd
seconds=10
strace=0
wrap=()
keepalived=0
floor=0
floor_mode=()
master_mode=()
lock=()
no_swap=""
pin_m=()
pin_b=()
start_at=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --vrrpd) vrrpd=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --strace) strace=1; shift ;;
        --keepalived) keepalived=1; shift ;;
        --floor) floor=1; shift ;;
        --epoll-floor) floor=1; floor_mode=(epoll); master_mode=(epoll); shift ;;
        --timeout-floor) floor=1; floor_mode=(timeout); shift ;;
        --touch-floor)
            floor=1
            [[ $2 =~ ^[0-9]+(:[0-9]+)?$ ]] || { echo "advert_cost.sh: --touch-floor takes LINES[:STRIDE]" >&2; exit 2; }
            floor_mode=(touch "${2%%:*}")
            [[ $2 == *:* ]] && floor_mode+=("${2##*:}")
            shift 2 ;;
        --lock-memory) lock=(--lock-memory); no_swap="vrrp_no_swap"; shift ;;
        --start-at) start_at=$2; shift 2 ;;
        --cpus) pin_m=(taskset -c "${2%%,*}"); pin_b=(taskset -c "${2##*,}"); shift 2 ;;
        --callgrind) wrap=(env VRRPD_SCHEMA_CHECK=in-process valgrind --tool=callgrind --callgrind-out-file="/tmp/advert_cost.%q{ROLE}.callgrind"); shift ;;
        *) echo "advert_cost.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
prefix="vcost$$"
dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Bounded wait (30 × 0.1 s) for a clean exit, then force.
    for _ in $(seq 1 30); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$prefix-m" 2>/dev/null || true
    ip netns del "$prefix-b" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
# With --start-at, wait until then (bounded: the caller picks a time seconds ahead).
wait_for_start() {
    [[ -z $start_at ]] && return 0
    local now left
    now=$(date +%s%N)
    if (( now >= start_at )); then
        echo "advert_cost.sh: the pair was up $(( (now - start_at) / 1000000 )) ms after --start-at" >&2
        exit 1
    fi
    left=$(( start_at - now ))
    sleep "$(( left / 1000000000 )).$(printf '%09d' $(( left % 1000000000 )))"
}
# Sleep for the window while sampling each side's CPU every half second, and print the
# median half-second slice of each: bursts of machine noise (this VM sees some that
# double every process's cost for a second or two, the floor's too) move a window's mean
# but not the median slice. Also prints in how many slices the master's and the backup's
# busiest thread last ran on the same CPU (field 39 of /proc/PID/task/TID/stat): a pair on
# one CPU costs a fraction of a pair whose every wake-up crosses CPUs, and unpinned, the
# scheduler decides that per round. Usage: slices SECONDS "MASTER-PIDS" "BACKUP-PIDS".
slices() {
    python3 - "$@" <<'PY'
import glob, statistics, sys, time
seconds, groups = float(sys.argv[1]), {"master": sys.argv[2].split(), "backup": sys.argv[3].split()}
def threads(pids):
    # Per thread: (CPU ns so far, the CPU it last ran on).
    found = {}
    for pid in pids:
        for task in glob.glob(f"/proc/{pid}/task/*"):
            try:
                ns = int(open(f"{task}/schedstat").read().split()[0])
                # The fields after the command name, which is in parentheses.
                stat = open(f"{task}/stat").read().rsplit(")", 1)[1].split()
                found[task] = (ns, int(stat[36]))
            except (OSError, ValueError, IndexError):
                pass
    return found
rates = {role: [] for role in groups}
last = {role: threads(pids) for role, pids in groups.items()}
same_cpu = 0
start = then = time.monotonic()
while then - start < seconds - 1e-3:
    time.sleep(0.5)
    now = time.monotonic()
    busiest = {}
    for role, pids in groups.items():
        current = threads(pids)
        deltas = {task: ns - last[role].get(task, (0, 0))[0] for task, (ns, _) in current.items()}
        rates[role].append(sum(deltas.values()) / (now - then))
        if deltas:
            busiest[role] = current[max(deltas, key=deltas.get)][1]
        last[role] = current
    same_cpu += busiest.get("master", -1) == busiest.get("backup", -2)
    then = now
for role in groups:
    print(f"{role} CPU median slice: {int(statistics.median(rates[role]))} ns/s "
          f"({len(rates[role])} slices of 0.5 s)")
print(f"placement: same CPU in {same_cpu} of {len(rates['master'])} slices")
PY
}
ip netns add "$prefix-m"
ip netns add "$prefix-b"
ip link add eth0 netns "$prefix-m" type veth peer name eth0 netns "$prefix-b"
ip -n "$prefix-m" addr add 192.0.2.1/24 dev eth0
ip -n "$prefix-b" addr add 192.0.2.2/24 dev eth0
ip -n "$prefix-m" link set eth0 up
ip -n "$prefix-b" link set eth0 up
config() { # name priority
    cat <<JSON
{ "control_socket": "$dir/$1.sock",
  "instances": [ { "name": "$1", "interface": "eth0", "virtual_router_id": 51, "version": 3,
    "priority": $2, "advert_interval_ms": 10, "virtual_addresses": ["192.0.2.40/24"] } ] }
JSON
}
kconfig() { # name priority
    cat <<CONF
global_defs {
    router_id $1
    $no_swap
}
vrrp_instance $1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority $2
    advert_int 0.01
    virtual_ipaddress { 192.0.2.40/24 }
}
CONF
}
if [[ $keepalived == 1 ]]; then
    for role in master:255 backup:100; do
        name=${role%%:*}
        kconfig "$name" "${role##*:}" >"$dir/$name.conf"
        if [[ $name == master ]]; then pin=("${pin_m[@]}"); else pin=("${pin_b[@]}"); fi
        ip netns exec "$prefix-${name:0:1}" "${pin[@]}" keepalived -n -l -P -f "$dir/$name.conf" \
            -p "$dir/$name.pid" -r "$dir/$name.vrrp.pid" >"$dir/$name.log" 2>&1 &
        pids+=($!)
        sleep 0.5
    done
    sleep 3
    wait_for_start
    t0=$(date +%s%N)
    declare -A c0
    all() { pgrep -f "keepalived -n -l -P -f $dir/$1.conf" | tr '\n' ' '; }
    sum_cpu() { local t=0; for p in $(all "$1"); do t=$((t + $(cat /proc/$p/task/*/schedstat | awk '{t += $1} END {print t}'))); done; echo $t; }
    m0=$(sum_cpu master); b0=$(sum_cpu backup)
    slices "$seconds" "$(all master)" "$(all backup)" | sed 's/^/keepalived /'
    m1=$(sum_cpu master); b1=$(sum_cpu backup); t1=$(date +%s%N)
    wall=$((t1 - t0))
    echo "keepalived master CPU: $(( (m1 - m0) * 1000000000 / wall )) ns/s (processes: $(all master))"
    echo "keepalived backup CPU: $(( (b1 - b0) * 1000000000 / wall )) ns/s"
    for role in master backup; do
        rss=0; for p in $(all "$role"); do rss=$((rss + $(awk '/^VmRSS/{print $2}' /proc/$p/status))); done
        lck=0; for p in $(all "$role"); do lck=$((lck + $(awk '/^VmLck/{print $2}' /proc/$p/status))); done
        echo "keepalived $role: VmRSS summed: $rss kB, VmLck summed: $lck kB"
    done
    exit 0
fi
config master 255 >"$dir/master.json"
config backup 100 >"$dir/backup.json"
if [[ $floor == 1 ]]; then
    here=$(cd "$(dirname "$0")" && pwd)
    cc -O2 -o "$dir/advert_floor" "$here/advert_floor.c"
    ip netns exec "$prefix-b" "${pin_b[@]}" "$dir/advert_floor" receive eth0 "${floor_mode[@]}" 2>"$dir/backup.log" &
else
    ROLE=backup ip netns exec "$prefix-b" "${pin_b[@]}" "${wrap[@]}" "$vrrpd" run -c "$dir/backup.json" "${lock[@]}" 2>"$dir/backup.log" &
fi
pids+=($!); backup=$!
sleep 0.5
if [[ $floor == 1 ]]; then
    ip netns exec "$prefix-m" "${pin_m[@]}" "$dir/advert_floor" "${master_mode[@]}" eth0 192.0.2.1 51 255 1 192.0.2.40 2>"$dir/master.log" &
else
    ROLE=master ip netns exec "$prefix-m" "${pin_m[@]}" "${wrap[@]}" "$vrrpd" run -c "$dir/master.json" "${lock[@]}" 2>"$dir/master.log" &
fi
pids+=($!); master=$!
sleep $(( ${#wrap[@]} > 0 ? 15 : 3 ))
wait_for_start
for role in master backup; do kill -0 "${!role}" 2>/dev/null || { echo "$role exited:"; cat "$dir/$role.log"; exit 1; }; done
# Every thread of the process (vrrpd has a protocol thread and a reactor thread).
cpu() { cat /proc/"$1"/task/*/schedstat | awk '{t += $1} END {print t}'; }
[[ ${#wrap[@]} -gt 0 ]] && { callgrind_control -z $master >/dev/null; callgrind_control -z $backup >/dev/null; }
m0=$(cpu $master); b0=$(cpu $backup); t0=$(date +%s%N)
if [[ $strace == 1 ]]; then
    timeout "$seconds" strace -c -f -p $master -o "$dir/strace.master" 2>/dev/null &
    timeout "$seconds" strace -c -f -p $backup -o "$dir/strace.backup" 2>/dev/null &
    wait %3 %4 2>/dev/null || true
elif [[ ${#wrap[@]} -gt 0 ]]; then
    sleep "$seconds"
else
    slices "$seconds" "$master" "$backup"
fi
m1=$(cpu $master); b1=$(cpu $backup); t1=$(date +%s%N)
if [[ ${#wrap[@]} -gt 0 ]]; then
    callgrind_control -d $master >/dev/null; callgrind_control -d $backup >/dev/null
    for role in master backup; do
        file=$(ls -t /tmp/advert_cost.$role.callgrind* | head -1)
        echo "$role instructions (steady state): $(callgrind_annotate "$file" 2>/dev/null | grep -m1 'PROGRAM TOTALS')"
    done
fi
wall=$(( (t1 - t0) ))
echo "master CPU: $(( (m1 - m0) * 1000000000 / wall )) ns/s ($(awk "BEGIN{printf \"%.3f\", ($m1-$m0)*100/$wall}") %)"
echo "backup CPU: $(( (b1 - b0) * 1000000000 / wall )) ns/s ($(awk "BEGIN{printf \"%.3f\", ($b1-$b0)*100/$wall}") %)"
for role in master backup; do
    pid=${!role}
    echo "$role: $(grep -E '^(VmRSS|RssAnon|RssFile|VmLck)' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
done
if [[ $strace == 1 ]]; then
    for role in master backup; do echo "== strace $role"; cat "$dir/strace.$role"; done
fi
echo "== master log"; tail -5 "$dir/master.log"; echo "== backup log"; tail -5 "$dir/backup.log"
