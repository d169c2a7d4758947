#!/usr/bin/env bash
# What a backup's wake-up touches, per advert, at 10 ms VRRPv3 adverts: the distinct cache
# lines (64 bytes) and pages (4 KiB) of code and of data that its user-space code reads or
# writes between one wait and the next, for vrrpd, keepalived 2.2.7 and the epoll floor
# (benches/advert_floor.c `receive eth0 epoll`).
#
# Why: on this VM a backup's CPU per advert is mostly the wake-up itself (the floor, which
# runs about 35 instructions per advert in user space, costs 10-15 µs of CPU per advert),
# and between two adverts the other processes evict what it touched, so each line and
# each page it touches again costs a cache or TLB miss, which no instruction count shows
# and this VM cannot count (no hardware counters). The footprint is what can be counted,
# and it does not move with the machine's load: valgrind's lackey records every access.
#
# Each backup runs alone under `valgrind --tool=lackey --trace-mem=yes --trace-syscalls=yes`
# for SECONDS behind a floor master in two namespaces joined by a veth (documentation
# addresses only); a wake-up is what runs from the return of one epoll_wait to the next
# call (under valgrind vrrpd waits with epoll_wait: valgrind refuses epoll_pwait2). The
# medians are over the last 200 wake-ups (start-up under lackey takes several seconds).
# Kernel work is not traced: only the process's own code and data.
#
# Usage: sudo benches/advert_footprint.sh [--vrrpd PATH] [--seconds N] [--only NAME]
set -euo pipefail
vrrpd=target/release/vrrpd
seconds=30
only=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --vrrpd) vrrpd=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "advert_footprint.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "advert_footprint.sh: needs valgrind" >&2; exit 2; }
vrrpd=$(realpath "$vrrpd")
here=$(cd "$(dirname "$0")" && pwd)
prefix="vfoot$$"
dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    pkill -TERM -f "$dir/" 2>/dev/null || true
    # Bounded wait (50 × 0.1 s) for valgrind to finish its log, then force.
    for _ in $(seq 1 50); do
        pgrep -f "$dir/" >/dev/null || break
        sleep 0.1
    done
    pkill -KILL -f "$dir/" 2>/dev/null || true
    ip netns del "$prefix-m" 2>/dev/null || true
    ip netns del "$prefix-b" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
ip netns add "$prefix-m"
ip netns add "$prefix-b"
ip link add eth0 netns "$prefix-m" type veth peer name eth0 netns "$prefix-b"
ip -n "$prefix-m" addr add 192.0.2.1/24 dev eth0
ip -n "$prefix-b" addr add 192.0.2.2/24 dev eth0
ip -n "$prefix-m" link set eth0 up
ip -n "$prefix-b" link set eth0 up
cc -O2 -o "$dir/advert_floor" "$here/advert_floor.c"
cat >"$dir/backup.json" <<JSON
{ "control_socket": "$dir/backup.sock",
  "instances": [ { "name": "backup", "interface": "eth0", "virtual_router_id": 51, "version": 3,
    "priority": 100, "advert_interval_ms": 10, "virtual_addresses": ["192.0.2.40/24"] } ] }
JSON
cat >"$dir/backup.conf" <<CONF
global_defs {
    router_id backup
}
vrrp_instance backup {
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority 100
    advert_int 0.01
    virtual_ipaddress { 192.0.2.40/24 }
}
CONF
ip netns exec "$prefix-m" "$dir/advert_floor" eth0 192.0.2.1 51 255 1 192.0.2.40 2>"$dir/master.log" &
pids+=($!)
sleep 0.5

# Median footprint per wake-up of the process whose log has the most epoll_wait calls.
analyse() { # name, then log files
    python3 - "$@" <<'PY'
import collections, re, statistics, sys
name, logs = sys.argv[1], sys.argv[2:]
wait = re.compile(r"^SYSCALL\[\d+,\d+\]\(\d+\) sys_epoll_p?wait2? \(")
def wake_ups(path):
    kept, current = collections.deque(maxlen=201), None
    with open(path, errors="replace") as log:
        for line in log:
            if wait.match(line):
                if current is not None:
                    kept.append(current)
                current = []
            elif current is not None and line[:2] in ("I ", " L", " S", " M"):
                current.append((line[0] == "I", int(line[3:].split(",")[0], 16)))
    return list(kept)[1:]
best = max((wake_ups(path) for path in logs), key=len)
if len(best) < 50:
    sys.exit(f"{name}: only {len(best)} wake-ups traced (raise --seconds)")
rows = []
for accesses in best:
    code = [a for is_code, a in accesses if is_code]
    data = [a for is_code, a in accesses if not is_code]
    rows.append((len(code), len({a >> 6 for a in code}), len({a >> 12 for a in code}),
                 len({a >> 6 for a in data}), len({a >> 12 for a in data})))
m = [statistics.median(row[i] for row in rows) for i in range(5)]
print(f"| {name} | {len(best)} | {m[0]:.0f} | {m[1]:.0f} | {m[2]:.0f} | {m[3]:.0f} | {m[4]:.0f} "
      f"| {m[1] + m[3]:.0f} | {m[2] + m[4]:.0f} |")
PY
}

run() { # name, then the command
    local name=$1; shift
    [[ -n $only && $only != "$name" ]] && return 0
    ip netns exec "$prefix-b" valgrind --tool=lackey --trace-mem=yes --trace-syscalls=yes \
        --log-file="$dir/$name.%p.log" "$@" >"$dir/$name.out" 2>&1 &
    local pid=$!
    pids+=("$pid")
    sleep "$seconds"
    kill -TERM "$pid" 2>/dev/null || true
    pkill -TERM -f "$dir/backup" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    analyse "$name" "$dir/$name".*.log
    rm -f "$dir/$name".*.log
}

# The schema check in the process itself, not in a child (valgrind follows no exec here).
export VRRPD_SCHEMA_CHECK=in-process
echo "Per wake-up of a backup at 10 ms adverts, medians of the last 200 (${seconds} s under lackey):"
echo
echo "| backup | wake-ups | instructions | code lines | code pages | data lines | data pages | lines | pages |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
run epoll-floor "$dir/advert_floor" receive eth0 epoll
run vrrpd "$vrrpd" run -c "$dir/backup.json"
run keepalived keepalived -n -l -P -f "$dir/backup.conf" -p "$dir/backup.pid" -r "$dir/backup.vrrp.pid"
