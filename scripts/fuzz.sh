#!/usr/bin/env bash
# Fuzzing: runs each cargo-fuzz target under fuzz/ for a while and prints,
# per target, the executions, the time and what it found. Installs
# cargo-fuzz when missing. Runs on the stable toolchain with
# --sanitizer none (the crate forbids unsafe code): a finding is a panic,
# an arithmetic overflow (debug assertions on), a hang, or the export
# verifier accepting a changed export. Findings land in fuzz/artifacts/.
#
# Usage: scripts/fuzz.sh [seconds per target, default 30] [target...]
# FUZZ_PROFILE=dev (as CI sets) builds without optimisation (fuzz/Cargo.toml):
# minutes to build from nothing on two cores instead of 17 for a release
# build with one codegen unit, at fewer executions per second.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(query_parser policy_loader csv_import export_verifier)

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
FLAGS=(--sanitizer none --debug-assertions)
if [ "${FUZZ_PROFILE:-release}" = dev ]; then FLAGS+=(--dev); else FLAGS+=(--codegen-units 16); fi
cargo fuzz build "${FLAGS[@]}"

status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  if cargo fuzz run "${FLAGS[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    found=0
  else
    found=1
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz: $t: $runs executions in ${SECS} s, coverage $cov, $([ $found = 0 ] && echo 'no crash' || echo 'FOUND A CRASH')"
  if [ $found = 1 ]; then tail -n 40 "$log" >&2; fi
  rm -f "$log"
done
exit "$status"
