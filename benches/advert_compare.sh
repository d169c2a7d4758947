#!/usr/bin/env bash
# Steady-state cost at 10 ms VRRPv3 adverts, vrrpd against keepalived and against the floor:
# ROUNDS × (floor, vrrpd, keepalived), each a fresh benches/advert_cost.sh pair measured for
# SECONDS. Prints the median of each figure and its ratios, as a Markdown table: CPU as the
# window's mean, and as its median half-second slice (see advert_cost.sh: robust to bursts
# of machine noise), then each round's ratios and their median.
#
# The floor (benches/advert_floor.c) is a master that only reads a periodic timerfd and
# sends a pre-built advert, and a backup that only makes one blocking recv per advert: the
# kernel's price of one wake-up and one multicast send (or receive) per advert, which
# every implementation pays.
#
# By default a round runs the pairs one after another, interleaved so that all see the
# same load on average. With --together, a round starts every pair at once, each in its own
# namespaces, and measures all of them over the same seconds (advert_cost.sh --start-at):
# this VM has whole windows of ten seconds in which everything costs twice as much, and
# side by side a round's ratios compare the implementations under the same machine. The
# pairs then share two CPUs, so every figure is higher than alone, for all of them alike.
# The launch order rotates from round to round.
#
# --epoll-floor adds the floor whose backup waits in epoll_wait (a timeout standing for its
# timer) and then reads, as any daemon's backup must, and whose master waits in epoll_pwait2
# on its socket with the time to its next advert as the timeout, then sends, as any daemon's
# master must (see advert_cost.sh --epoll-floor).
#
# --timeout-floor adds the floor whose backup waits in its blocking recv with SO_RCVTIMEO
# set (advert_cost.sh --timeout-floor): one system call per advert and a timer per wait.
#
# --touch-floor LINES[:STRIDE] adds the floor whose backup also writes LINES cache lines per
# advert (advert_cost.sh --touch-floor): the price of the memory a wake-up touches.
#
# --ab PATH adds a second vrrpd build ("vrrpd-b"), for an A/B of two builds measured the
# same way (with --together, in the same seconds).
#
# --cpus M,B pins every pair's master to CPU M and backup to CPU B (see advert_cost.sh).
#
# Usage: sudo benches/advert_compare.sh [--rounds N] [--seconds S] [--vrrpd PATH] [--cpus M,B]
#                                       [--epoll-floor] [--timeout-floor] [--touch-floor LINES[:STRIDE]]
#                                       [--together] [--ab PATH]
set -euo pipefail
rounds=5
seconds=10
vrrpd=target/release/vrrpd
vrrpd_b=""
cpus=()
together=0
epoll=0
timeout=0
touch=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --vrrpd) vrrpd=$2; shift 2 ;;
        --cpus) cpus=(--cpus "$2"); shift 2 ;;
        --epoll-floor) epoll=1; shift ;;
        --timeout-floor) timeout=1; shift ;;
        --touch-floor) touch=$2; shift 2 ;;
        --together) together=1; shift ;;
        --ab) vrrpd_b=$2; shift 2 ;;
        *) echo "advert_compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
impls=(floor)
[[ $epoll == 1 ]] && impls+=(epoll-floor)
[[ $timeout == 1 ]] && impls+=(timeout-floor)
[[ -n $touch ]] && impls+=(touch-floor)
impls+=(vrrpd keepalived)
[[ -n $vrrpd_b ]] && impls+=(vrrpd-b)
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args_of() { # impl
    case $1 in
        floor) echo "--floor" ;;
        epoll-floor) echo "--epoll-floor" ;;
        timeout-floor) echo "--timeout-floor" ;;
        touch-floor) echo "--touch-floor $touch" ;;
        vrrpd) echo "--vrrpd $vrrpd" ;;
        vrrpd-b) echo "--vrrpd $vrrpd_b" ;;
        keepalived) echo "--keepalived" ;;
    esac
}
for round in $(seq 1 "$rounds"); do
    if [[ $together == 1 ]]; then
        # Every pair is up within about five seconds (keepalived's, the slowest, sleeps four);
        # twelve leave room for two CPUs starting them all at once.
        start=$(( $(date +%s%N) + 12000000000 ))
        n=${#impls[@]}
        running=()
        for i in $(seq 0 $((n - 1))); do
            impl=${impls[$(( (i + round) % n ))]}
            # shellcheck disable=SC2046
            bash "$here/advert_cost.sh" --seconds "$seconds" --start-at "$start" "${cpus[@]}" \
                $(args_of "$impl") >"$out/$impl.$round" 2>&1 &
            running+=("$!:$impl")
        done
        # Every pair is waited for (each cleans up its own namespaces) before a failure ends
        # the run.
        failed=0
        for entry in "${running[@]}"; do
            wait "${entry%%:*}" || { cat "$out/${entry#*:}.$round" >&2; failed=1; }
        done
        [[ $failed == 0 ]] || exit 1
    else
        for impl in "${impls[@]}"; do
            # shellcheck disable=SC2046
            bash "$here/advert_cost.sh" --seconds "$seconds" "${cpus[@]}" $(args_of "$impl") \
                >"$out/$impl.$round" 2>&1 || { cat "$out/$impl.$round" >&2; exit 1; }
        done
    fi
done
python3 - "$out" "$rounds" "$together" "$touch" "${impls[@]}" <<'PY'
import re, statistics, sys
out, rounds, together, touch, impls = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5:]
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
names = {"floor": "floor", "keepalived": "keepalived",
         "vrrpd": "vrrpd", "vrrpd-b": "vrrpd-b", "epoll-floor": "epoll floor",
         "timeout-floor": "timeout floor",
         "touch-floor": f"floor + {touch.replace(':', ' lines, stride ')}{'' if ':' in touch else ' lines'}"}
order = [impl for impl in ("floor", "epoll-floor", "timeout-floor", "touch-floor", "keepalived", "vrrpd",
                           "vrrpd-b")
         if impl in impls]
ratios = [(a, b) for a, b in (("vrrpd", "keepalived"), ("vrrpd", "floor"), ("vrrpd", "epoll-floor"),
                              ("epoll-floor", "floor"), ("timeout-floor", "floor"), ("touch-floor", "floor"),
                              ("keepalived", "floor"),
                              ("vrrpd-b", "vrrpd"), ("vrrpd-b", "keepalived"))
          if a in impls and b in impls]
def median(impl, key):
    values = [run[key] for run in data[impl] if run[key] is not None]
    return statistics.median(values) if values else None
fmt = lambda x: "–" if x is None else f"{x:.2f}"
ratio = lambda a, b: "–" if a is None or not b else f"{a / b:.2f}×"
rows = [("master CPU, ms per s", "master_cpu"), ("backup CPU, ms per s", "backup_cpu"),
        ("master CPU, median 0.5 s slice, ms per s", "master_slice"),
        ("backup CPU, median 0.5 s slice, ms per s", "backup_slice"),
        ("master VmRSS, MiB", "master_rss"), ("backup VmRSS, MiB", "backup_rss")]
how = "rounds, every pair in the same seconds" if together else "interleaved rounds"
print(f"Median of {rounds} {how} (schedstat CPU; VmRSS summed over each daemon's processes).\n")
print("| Figure | " + " | ".join(names[i] for i in order) + " | "
      + " | ".join(f"{names[a]}/{names[b]}" for a, b in ratios) + " |")
print("|---|" + "---:|" * (len(order) + len(ratios)))
for label, key in rows:
    cells = [fmt(median(i, key)) for i in order] + [ratio(median(a, key), median(b, key)) for a, b in ratios]
    print(f"| {label} | " + " | ".join(cells) + " |")
# Each round's own ratio: with --together both sides of a ratio shared the same seconds, so
# its median is the comparison that the machine's slow windows move least.
print("\nPer-round ratios of the window's mean CPU: median (lowest-highest): each round.\n")
print("| Ratio | master | backup |")
print("|---|---|---|")
for a, b in ratios:
    cells = []
    for role in ("master", "backup"):
        rs = [x[f"{role}_cpu"] / y[f"{role}_cpu"] for x, y in zip(data[a], data[b])
              if x[f"{role}_cpu"] and y[f"{role}_cpu"]]
        cells.append("–" if not rs else f"{statistics.median(rs):.2f}× ({min(rs):.2f}-{max(rs):.2f}): "
                     + ", ".join(f"{r:.2f}" for r in rs))
    print(f"| {names[a]}/{names[b]} | {cells[0]} | {cells[1]} |")
def cell(value):
    return "–" if value is None else f"{value:.2f}"
label = " / ".join(names[i] for i in order)
print(f"\nPer round, slices with master and backup on the same CPU ({label}):",
      "; ".join(" / ".join(data[impl][i]["same_cpu"] for impl in order) for i in range(rounds)))
for role in ("master", "backup"):
    for key, what in (("_cpu", "CPU ms/s"), ("_slice", "median-slice CPU ms/s")):
        print(f"\nPer round ({role} {what}: {label}):",
              "; ".join(" / ".join(cell(data[impl][i][role + key]) for impl in order)
                        for i in range(rounds)))
PY
