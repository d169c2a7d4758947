#!/usr/bin/env bash
# Every fuzz target briefly (docs/RELIABILITY.md, "Fuzzing"): a CI step of
# tests/run-all.sh. Exit 77 (skipped, never passed) where the nightly toolchain or
# cargo-fuzz is missing. Each starts from the committed seeds and regression inputs; new
# inputs, crashes and logs go to a scratch directory, the committed corpora are not
# changed (tests/fuzz_corpora.rs replays them all). VRRPD_FUZZ_SECONDS sets the time per target
# (default 20).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${VRRPD_FUZZ_SECONDS:-20}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "SKIPPED: no nightly toolchain (rustup toolchain install nightly); the corpora still run on stable in tests/fuzz_corpora.rs"
  exit 77
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "SKIPPED: cargo-fuzz is not installed (cargo +nightly install cargo-fuzz --locked); the corpora still run on stable in tests/fuzz_corpora.rs"
  exit 77
fi
scratch=$(mktemp -d /tmp/vrrpd-fuzz-smoke.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
started=$(date +%s)
# Unoptimised: it builds in about 60 % of the release build's CPU time (docs/RELIABILITY.md
# has both figures); the long runs of fuzz/run.sh use the release build.
export VRRPD_FUZZ_DEV=1
if ! nice -n 10 cargo +nightly fuzz build --dev -s none >"$scratch/build.log" 2>&1; then
  tail -n 30 "$scratch/build.log"
  echo "FAILED: building the fuzz targets"
  exit 1
fi
echo "fuzz targets built in $(( $(date +%s) - started )) s"
status=0
for target in advert_decoder config_loader control_protocol keepalived_import node; do
  VRRPD_FUZZ_SCRATCH=$scratch bash fuzz/run.sh "$target" -max_total_time="$seconds" || status=1
done
echo "fuzz smoke: $(( $(date +%s) - started )) s in all"
exit "$status"
