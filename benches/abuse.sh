#!/usr/bin/env bash
# Control-socket and metrics abuse: 200 concurrent control clients (status requests, garbage
# lines, 1 MiB lines), 1,000 idle and 200 slowloris connections on the metrics port, while
# the master's adverts are watched from the backup; then a connect(2) as nobody. vrrpd only
# (keepalived has neither a control socket nor a metrics port of this kind). In a lab of two
# network namespaces joined by a veth, documentation addresses and the namespace's own
# loopback only. What is measured and how: benches/abuse.py's docstring; the results:
# docs/RELIABILITY.md.
#
# This wrapper checks the prerequisites, builds benches/flooder.c (its watch mode counts the
# adverts), picks a unique namespace prefix and guarantees cleanup: the Python driver cleans
# up after itself, and this trap cleans up again if the driver itself was killed.
#
# Usage: sudo benches/abuse.sh [--seconds S] [--clients N] [--idle N] [--slow N]
#            [--interval-ms MS] [--nofile SOFT:HARD] [--phases a,b,...] [--vrrpd PATH]
#            [--keep-logs]
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
    echo "abuse.sh: must run as root (network namespaces, packet sockets)" >&2
    exit 2
fi
for tool in ip python3 gcc prlimit setpriv; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "abuse.sh: '$tool' not found" >&2
        exit 2
    fi
done

# Namespace names: vabuse<PID>-{lb1,lb2}. The PID makes concurrent runs independent.
prefix="vabuse$$"
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
        # Bounded wait: 100 × 0.1 s for the driver's own cleanup.
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

python3 "$script_dir/abuse.py" --ns-prefix "$prefix" --flooder "$build_dir/flooder" "$@" &
driver_pid=$!
wait "$driver_pid"
