#!/usr/bin/env bash
# Steady-state cost at 10 ms VRRPv3 adverts, vrrpd against keepalived and against the floor,
# interleaved so that all three see the same machine load: ROUNDS × (floor, vrrpd,
# keepalived), each a fresh benches/advert_cost.sh pair measured for SECONDS. Prints the
# median of each figure and its ratios, as a Markdown table: CPU as the window's mean, and
# as its median half-second slice (see advert_cost.sh: robust to bursts of machine noise).
#
# The floor (benches/advert_floor.c) is a master that only reads a periodic timerfd and
# sends a pre-built advert, and a backup that only makes one blocking recv per advert: the
# kernel's price of one wake-up and one multicast send (or receive) per advert, which
# every implementation pays.
#
# --epoll-floor adds a fourth pair to each round: the floor whose backup waits in epoll_wait
# (a timeout standing for its timer) and then reads, as any daemon's backup must (see
# advert_cost.sh --epoll-floor); its column, and vrrpd's ratio to it, are added.
#
# --cpus M,B pins every pair's master to CPU M and backup to CPU B (see advert_cost.sh).
#
# Usage: sudo benches/advert_compare.sh [--rounds N] [--seconds S] [--vrrpd PATH] [--cpus M,B]
#                                       [--epoll-floor]
set -euo pipefail
rounds=5
seconds=10
vrrpd=target/release/vrrpd
cpus=()
impls=(floor vrrpd keepalived)
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --vrrpd) vrrpd=$2; shift 2 ;;
        --cpus) cpus=(--cpus "$2"); shift 2 ;;
        --epoll-floor) impls=(floor epoll-floor vrrpd keepalived); shift ;;
        *) echo "advert_compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq 1 "$rounds"); do
    for impl in "${impls[@]}"; do
        case $impl in
            floor) args=(--floor) ;;
            epoll-floor) args=(--epoll-floor) ;;
            vrrpd) args=() ;;
            keepalived) args=(--keepalived) ;;
        esac
        bash "$here/advert_cost.sh" --vrrpd "$vrrpd" --seconds "$seconds" "${cpus[@]}" "${args[@]}" \
            >"$out/$impl.$round" 2>&1 || { cat "$out/$impl.$round" >&2; exit 1; }
    done
done
python3 - "$out" "$rounds" "${impls[@]}" <<'PY'
import re, statistics, sys
out, rounds, impls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def figures(path):
    text = open(path).read()
    f = {}
    for role in ("master", "backup"):
        m = re.search(rf"{role} CPU: (\d+) ns/s", text)
        f[f"{role}_cpu"] = int(m.group(1)) / 1e6 if m else None
        m = re.search(rf"{role} CPU median slice: (\d+) ns/s", text)
        f[f"{role}_slice"] = int(m.group(1)) / 1e6 if m else None
        m = re.search(rf"{role}:.*?VmRSS: (\d+) kB", text) or re.search(rf"{role}: VmRSS summed: (\d+) kB", text)
        f[f"{role}_rss"] = int(m.group(1)) / 1024 if m else None
    m = re.search(r"placement: same CPU in (\d+) of (\d+) slices", text)
    f["same_cpu"] = f"{m.group(1)} of {m.group(2)}" if m else "?"
    return f
data = {impl: [figures(f"{out}/{impl}.{r}") for r in range(1, rounds + 1)] for impl in impls}
epoll = "epoll-floor" in impls
def median(impl, key):
    values = [run[key] for run in data[impl] if run[key] is not None]
    return statistics.median(values) if values else None
rows = [("master CPU, ms per s", "master_cpu"), ("backup CPU, ms per s", "backup_cpu"),
        ("master CPU, median 0.5 s slice, ms per s", "master_slice"),
        ("backup CPU, median 0.5 s slice, ms per s", "backup_slice"),
        ("master VmRSS, MiB", "master_rss"), ("backup VmRSS, MiB", "backup_rss")]
print(f"Median of {rounds} interleaved rounds (schedstat CPU; VmRSS summed over each daemon's processes).\n")
if epoll:
    print("| Figure | floor | epoll floor | keepalived | vrrpd | vrrpd/keepalived | vrrpd/floor "
          "| vrrpd/epoll floor | epoll floor/floor |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
else:
    print("| Figure | floor | keepalived | vrrpd | vrrpd/keepalived | vrrpd/floor | floor/keepalived |")
    print("|---|---:|---:|---:|---:|---:|---:|")
for label, key in rows:
    k, v, f = median("keepalived", key), median("vrrpd", key), median("floor", key)
    fmt = lambda x: "–" if x is None else f"{x:.2f}"
    ratio = lambda a, b: "–" if a is None or not b else f"{a / b:.2f}×"
    if epoll:
        e = median("epoll-floor", key)
        print(f"| {label} | {fmt(f)} | {fmt(e)} | {fmt(k)} | {fmt(v)} | {ratio(v, k)} | {ratio(v, f)} "
              f"| {ratio(v, e)} | {ratio(e, f)} |")
    else:
        print(f"| {label} | {fmt(f)} | {fmt(k)} | {fmt(v)} | {ratio(v, k)} | {ratio(v, f)} | {ratio(f, k)} |")
order = [impl for impl in ("floor", "epoll-floor", "keepalived", "vrrpd") if impl in impls]
def cell(value):
    return "–" if value is None else f"{value:.2f}"
names = " / ".join(order)
print(f"\nPer round, slices with master and backup on the same CPU ({names}):",
      "; ".join(" / ".join(data[impl][i]["same_cpu"] for impl in order) for i in range(rounds)))
for role in ("master", "backup"):
    for key, what in (("_cpu", "CPU ms/s"), ("_slice", "median-slice CPU ms/s")):
        print(f"\nPer round ({role} {what}: {names}):",
              "; ".join(" / ".join(cell(data[impl][i][role + key]) for impl in order)
                        for i in range(rounds)))
PY
