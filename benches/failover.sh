#!/usr/bin/env bash
# Failover and resource benchmark: keepalived vs vrrpd in a network-namespace lab.
#
# This wrapper only checks the prerequisites, picks a unique namespace prefix and guarantees
# cleanup: the Python driver (benches/failover.py) cleans up after itself, and this trap cleans
# up again if the driver itself was killed (SIGKILL leaves no chance to run its own handlers).
#
# Usage: sudo benches/failover.sh [--runs N] [--quick] [--only keepalived|vrrpd]
#                                 [--vrrpd PATH] [--write docs/BENCHMARKS.md] [--help]
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
    echo "failover.sh: must run as root (network namespaces, raw sockets)" >&2
    exit 2
fi
for tool in ip python3 keepalived; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        # keepalived is optional with --only vrrpd; the driver reports that case itself.
        [[ $tool == keepalived ]] && continue
        echo "failover.sh: '$tool' not found" >&2
        exit 2
    fi
done

# Namespace names: vbench<PID>-{br,lb1,lb2,cl}. The PID makes concurrent runs independent.
prefix="vbench$$"
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
        # Bounded wait: 50 × 0.1 s for the driver's own cleanup.
        for _ in $(seq 1 50); do
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
    # The driver's work directory (configs, daemon logs), unless asked to keep it.
    if [[ $keep_logs -eq 0 ]]; then
        rm -rf "${TMPDIR:-/tmp}/${prefix}-"*
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# benches/planned_moves.sh runs its own driver through this same wrapper.
driver=${VRRPD_BENCH_DRIVER:-failover.py}
case $driver in
    failover.py | planned_moves.py) ;;
    *) echo "failover.sh: unknown driver $driver" >&2; exit 2 ;;
esac
python3 "$script_dir/$driver" --ns-prefix "$prefix" "$@" &
driver_pid=$!
wait "$driver_pid"
