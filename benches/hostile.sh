#!/usr/bin/env bash
# Hostile input and load: floods of junk, wrong-VRID, TTL-254, bad-checksum and forged
# priority-1 adverts at the master and at the backup, and the amplification of a forged
# lower-priority master; vrrpd and keepalived side by side in one run, in a lab of network
# namespaces (bridge, lb1, lb2, client, flooder) with documentation addresses only.
# What is measured and how: benches/hostile.py's docstring; the results: docs/RELIABILITY.md.
#
# This wrapper checks the prerequisites, builds the flooder (benches/flooder.c) with gcc,
# picks a unique namespace prefix and guarantees cleanup: the Python driver cleans up after
# itself, and this trap cleans up again if the driver itself was killed.
#
# Usage: sudo benches/hostile.sh [--runs N] [--rate PPS] [--seconds S] [--interval-ms MS]
#            [--kinds junk,vrid,ttl,checksum,valid] [--targets master,backup] [--ipv6]
#            [--amplification-rate PPS] [--amplification-seconds S] [--no-flood]
#            [--no-amplification] [--only vrrpd|keepalived] [--vrrpd PATH] [--json FILE]
#            [--keep-logs]
# Defaults: 1 run, 50,000 frames/s for 30 s of each kind at each target, 100 ms adverts,
# amplification 5,000 forged adverts/s for 5 s. One run of the defaults takes ~14 minutes.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
    echo "hostile.sh: must run as root (network namespaces, packet sockets)" >&2
    exit 2
fi
for tool in ip bridge python3 gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "hostile.sh: '$tool' not found" >&2
        exit 2
    fi
done

# Namespace names: vhost<PID>-{br,lb1,lb2,cl,fl}. The PID makes concurrent runs independent.
prefix="vhost$$"
build_dir=$(mktemp -d "${TMPDIR:-/tmp}/${prefix}-build.XXXXXX")
driver_pid=""
keep_logs=0
for arg in "$@"; do
    [[ $arg == --keep-logs ]] && keep_logs=1
done

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $driver_pid ]] && kill -0 "$driver_pid" 2>/dev/null; then
        kill -TERM "$driver_pid" 2>/dev/null || true
        # Bounded wait: 100 × 0.1 s for the driver's own cleanup (it stops two daemons).
        for _ in $(seq 1 100); do
            kill -0 "$driver_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$driver_pid" 2>/dev/null || true
    fi
    # Anything still running inside our namespaces was started by this run.
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}-" || true); do
        local pids
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$build_dir"
    if [[ $keep_logs -eq 0 ]]; then
        rm -rf "${TMPDIR:-/tmp}/${prefix}-"*
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

gcc -O2 -Wall -Wextra -o "$build_dir/flooder" "$script_dir/flooder.c"

python3 "$script_dir/hostile.py" --ns-prefix "$prefix" --flooder "$build_dir/flooder" "$@" &
driver_pid=$!
wait "$driver_pid"
