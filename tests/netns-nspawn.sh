#!/usr/bin/env bash
# vrrpd and systemd-networkd under a real systemd: tests/netns_nspawn.rs boots the host's
# systemd as PID 1 of a systemd-nspawn container joined to a lab network namespace
# (tests/common/nspawn.rs). Those tests are #[ignore]d in a plain `cargo test`; this runs
# them (and the file's other tests).
#
#   sudo tests/netns-nspawn.sh [test harness arguments: a test name, --nocapture, ...]
#
# Needs root and systemd-nspawn (Debian: systemd-container). Without either it says
# SKIPPED and exits 77 (the automake "skipped" status, which tests/run-all.sh counts as
# skipped, never as passed). Anything else that stops the containers from booting is a
# failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: the systemd-nspawn suite needs root (network namespaces, containers) — NOT tested"
  exit 77
fi
if ! command -v systemd-nspawn >/dev/null; then
  echo "SKIPPED: systemd-nspawn not found (apt-get install systemd-container) — NOT tested"
  exit 77
fi
echo "systemd-nspawn: $(systemd-nspawn --version | head -n 1)"
exec cargo test --locked --test netns_nspawn -- --include-ignored "$@"
