#!/usr/bin/env bash
# Runs one fuzz target (docs/RELIABILITY.md, "Fuzzing") and prints the figures reported
# there: executions, executions per second, coverage (cov/ft), corpus size, crashes.
#
#   bash fuzz/run.sh TARGET [LIBFUZZER_OPTION...]     e.g. -runs=10000000, -max_total_time=20
#
# Needs a nightly toolchain and cargo-fuzz (`cargo +nightly install cargo-fuzz --locked`).
# Built without a sanitizer (-s none): the code fuzzed has no `unsafe` (src/core,
# src/config, src/import_keepalived, src/driver/control.rs), so AddressSanitizer would
# only slow it down; overflow checks and debug assertions stay on (cargo-fuzz's default).
# One libFuzzer process, niced: the machines have 2 cores shared with others.
#
# New inputs go to fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET/, the log to
# fuzz/logs/TARGET.log (neither committed). VRRPD_FUZZ_SCRATCH=DIR sends all three to DIR
# instead and starts from the committed seeds; VRRPD_FUZZ_DEV=1 uses the unoptimised
# build, which compiles in less CPU time (both: tests/fuzz-smoke.sh, CI).
set -uo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET [LIBFUZZER_OPTION...]}
shift
corpora=("fuzz/corpus/$target")
artifacts=fuzz/artifacts/$target/
logs=fuzz/logs
if [ -n "${VRRPD_FUZZ_SCRATCH:-}" ]; then
  # From the seeds and regression inputs only: libFuzzer runs every corpus input before
  # -max_total_time counts, and the whole corpus is replayed by tests/fuzz_corpora.rs.
  corpora=("$VRRPD_FUZZ_SCRATCH/corpus/$target")
  artifacts=$VRRPD_FUZZ_SCRATCH/artifacts/$target/
  logs=$VRRPD_FUZZ_SCRATCH/logs
  mkdir -p "${corpora[0]}"
  cp fuzz/corpus/"$target"/seed-* "${corpora[0]}"/
  cp fuzz/corpus/"$target"/regression-* "${corpora[0]}"/ 2>/dev/null
fi
mkdir -p "$logs" "${corpora[@]}" "$artifacts"
log=$logs/$target.log
started=$(date +%s)
profile=()
[ -n "${VRRPD_FUZZ_DEV:-}" ] && profile=(--dev)
nice -n 10 cargo +nightly fuzz run "${profile[@]}" -s none "$target" "${corpora[@]}" -- \
  -artifact_prefix="$artifacts" -print_final_stats=1 -timeout=10 "$@" >"$log" 2>&1
status=$?
elapsed=$(( $(date +%s) - started ))
# libFuzzer's last status line: "#N  DONE  cov: C ft: F corp: K/S ...", or the last
# progress line before a crash.
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
crashes=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
printf '%s: %s executions, %s exec/s, %s, %s s wall, exit %s, crash/timeout/oom artifacts %s\n' \
  "$target" "${executions:-?}" "${per_second:-?}" \
  "$(printf '%s' "$last" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')" \
  "$elapsed" "$status" "$crashes"
if [ "$status" -ne 0 ]; then
  grep -E 'panicked at|Test unit written to|ERROR: libFuzzer' "$log" | head -n 5
  grep -A3 'panicked at' "$log" | head -n 8
fi
exit "$status"
