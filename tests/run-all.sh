#!/usr/bin/env bash
# The project's test command (README "Tests"; .ci/run runs exactly this).
# Runs as root: the integration tests build network namespaces.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
failures=()
# Exit status 77 (the automake convention) means the step was skipped: not a pass.
step() {
  local name=$1 status=0; shift
  printf '\n==> %s\n' "$name"
  "$@" || status=$?
  if [ "$status" -eq 0 ]; then passed=$((passed + 1))
  elif [ "$status" -eq 77 ]; then skipped=$((skipped + 1)); printf 'SKIPPED: %s; not counted as passed\n' "$name"
  else failed=$((failed + 1)); failures+=("$name"); fi
}

step "format (cargo fmt --check)" cargo fmt --all -- --check
step "lint (cargo clippy, warnings are errors)" cargo clippy --all-targets --locked -- -D warnings
step "unit and integration tests (cargo test; root for the netns suites)" cargo test --all-targets --locked --no-fail-fast
step "doc tests" cargo test --doc --locked
# The fuzz targets, 20 s each, where a nightly toolchain and cargo-fuzz exist; SKIPPED
# (77) otherwise. The committed corpora run on stable in the cargo test step above
# (tests/fuzz_corpora.rs). docs/RELIABILITY.md, "Fuzzing".
step "fuzz targets, 20 s each (nightly and cargo-fuzz)" bash tests/fuzz-smoke.sh
# The tests' own validity: the failover suite's timing bounds against a second,
# independent implementation (tests/netns_failover.rs, VRRPD_LAB_IMPLEMENTATION). The
# other netns suites do not take it: interop, ipv6, unicast and sync_group already run
# keepalived as one side of every mixed pair; health, planned, demote, reload, systemd,
# demo, lab_keepalived and import_keepalived test vrrpd-only features (trackers, status
# and metrics, demote/promote, make-before-break hand-over, reload, sd_notify, the
# importer) that keepalived does not have. netns_health's interface-fault test is one of
# those: its timing is vrrpd's tracker's (a check interval, then Skew_Time); keepalived's
# track_interface reacts to netlink instead, and the Skew_Time part is this suite's SIGTERM
# test. docs/testing.md; tests/negative-controls.sh shows each timing test failing against
# a planted bug (not run here: five extra builds).
step "failover suite against keepalived (validity of the tests)" \
  env VRRPD_LAB_IMPLEMENTATION=keepalived cargo test --locked --test netns_failover
# systemd-networkd's restart/reload/reconfigure against vrrpd under the shipped unit, and
# the unit's privilege proof, with the host's systemd as PID 1 of a container
# (tests/netns_nspawn.rs; about half a minute). SKIPPED (77) without root or systemd-nspawn.
step "networkd and the shipped unit under a real systemd (systemd-nspawn)" bash tests/netns-nspawn.sh
step "every .nix file parses (nix-instantiate --parse)" bash tests/nix-parse.sh
# docs/monitoring/: promtool checks the alert rules, runs their unit tests and parses every
# dashboard query. SKIPPED (77) without promtool (.ci/run installs Debian's prometheus).
step "alert rules and dashboard queries (promtool)" bash tests/monitoring.sh
step "the unit's systemd-analyze security exposure, unit and module in step" bash tests/unit-security.sh

# The module evaluation needs the nixpkgs library, which cannot be downloaded here.
if [ -n "${NIXPKGS_LIB:-}" ]; then
  step "NixOS module evaluation (lib.evalModules)" bash tests/nixos-module-eval.sh
else
  printf '\n==> NixOS module evaluation: SKIPPED (set NIXPKGS_LIB to a nixpkgs lib/ directory to run it); not counted as passed\n'
  skipped=$((skipped + 1))
fi

# The package's check phase on exactly the Nix source set, as an unprivileged user
# in a fresh network namespace (what `nix build` does); needs the nixpkgs library.
if [ -n "${NIXPKGS_LIB:-}" ]; then
  step "package check phase on its Nix source set (unprivileged, no network)" bash tests/source-set-check.sh
else
  printf '\n==> package check phase on its Nix source set: SKIPPED (set NIXPKGS_LIB); not counted as passed\n'
  skipped=$((skipped + 1))
fi

printf '\n'
for f in "${failures[@]}"; do printf 'FAILED: %s\n' "$f"; done
printf 'suites: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
