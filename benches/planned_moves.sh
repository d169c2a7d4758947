#!/usr/bin/env bash
# Planned moves repeated at scale (issue 15): stop, failback, restart, demote, promote and
# reloads of lb1's vrrpd, each many times, with two probers on the client and its neighbour
# entry put into REACHABLE, STALE or PROBE before each move. See benches/planned_moves.py.
#
# Usage: sudo benches/planned_moves.sh [--rounds N] [--cases v3-10ms,v2-1s] [--capture]
#                                      [--threshold-ms MS] [--json FILE] [--vrrpd PATH]
# Runs through failover.sh, which checks the prerequisites and cleans the lab up on every exit.
set -euo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VRRPD_BENCH_DRIVER=planned_moves.py exec "$script_dir/failover.sh" "$@"
