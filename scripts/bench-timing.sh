#!/usr/bin/env bash
# What a paying consumer's wait says about other consumers: the residual
# timing channel docs/benchmarks.md states.
#
# Starts the release binary on the demo data (a throwaway SQLite store, a
# policy with large budgets and no rate limit), then, for N distinct
# queries, alternates:
#   - "stored": alice made the query first; bob pays for it (the service
#     recounts it and drops the copy, so bob waits as for a new one);
#   - "new": bob pays for a query nobody made;
#   - "refused, stored" / "refused, new": carol, whose budget is spent,
#     asks for a query someone made / nobody made.
# Prints the median and the 10th/90th percentiles of each, in microseconds
# (curl's time_total, on loopback).
#
# Usage: scripts/bench-timing.sh [N]   (default 200; BENCH_BIN to use a build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
BIN=${BENCH_BIN:-target/release/ctm-stats}
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release --quiet; fi
DIR=$(mktemp -d /tmp/ctm-timing.XXXXXX)
PORT=$(( 56000 + RANDOM % 4000 ))
sed -e 's/^researcher = .*/researcher = 100000.0/' \
    -e 's/^global = .*/global = 100000000.0/' \
    -e 's/^requests_per_minute = .*/requests_per_minute = 1000000/' \
    policy/default.toml > "$DIR/policy.toml"
DATA_DIR="$DIR/data" POLICY_FILE="$DIR/policy.toml" BIND="127.0.0.1:$PORT" \
  DEMO_CASES=${DEMO_CASES:-50000} RUST_LOG=warn \
  "$BIN" serve --demo > "$DIR/banner" 2> "$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 600); do
  if curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 $PID 2>/dev/null; then echo "bench-timing.sh: the server stopped:" >&2; cat "$DIR/log" >&2; exit 1; fi
  sleep 0.2
done
mint() { "$BIN" token --role "$2" --sub "$1" 2>/dev/null | tail -n 1; }
export DATA_DIR="$DIR/data" POLICY_FILE="$DIR/policy.toml"
ALICE=$(mint alice researcher); BOB=$(mint bob researcher); CAROL=$(mint carol researcher)
ADMIN=$(mint timing-admin admin)
URL="http://127.0.0.1:$PORT/v1/counts"
post() { # token body -> time_total in microseconds
  curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -d "$2" "$URL" | awk '{printf "%d\n", $1 * 1e6}'
}
query() { # i tag -> a distinct query
  local years=(2005 2006 2007 2008 2009 2010 2011 2012 2013 2014 2015 2016 2017 2018 2019 2020)
  local y=${years[$(( $1 % 16 ))]}
  local e; e=$(awk -v i="$1" -v t="$2" 'BEGIN { printf "%.2f", 0.05 + ((i / 16) % 60) * 0.01 + (t == "b" ? 0.9 : 0) }')
  printf '{"dimensions":["gender","age_broad","citizenship"],"filters":{"registration_year":{"from":%s,"to":%s}},"epsilon":%s}' "$y" "$y" "$e"
}
# Spend carol's budget: lower her limit to what one query costs.
code=$(curl -sS -o "$DIR/put" -w "%{http_code}" -X PUT -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"limit": 0.05, "role": "researcher"}' "http://127.0.0.1:$PORT/v1/admin/consumers/carol/budget")
if [ "$code" != 200 ]; then echo "bench-timing.sh: setting carol's limit: $code $(cat "$DIR/put")" >&2; exit 1; fi
post "$CAROL" "$(query 0 c)" > /dev/null
: > "$DIR/stored"; : > "$DIR/new"; : > "$DIR/rstored"; : > "$DIR/rnew"
for i in $(seq 1 "$N"); do
  post "$ALICE" "$(query "$i" a)" > /dev/null
  post "$BOB" "$(query "$i" a)" >> "$DIR/stored"
  post "$BOB" "$(query "$i" b)" >> "$DIR/new"
  post "$CAROL" "$(query "$i" a)" >> "$DIR/rstored"
  post "$CAROL" "$(query "$((i + N))" b)" >> "$DIR/rnew"
done
stats() {
  sort -n "$DIR/$1" | awk -v name="$2" '{ v[NR] = $1 } END {
    printf "%-34s median %6d us   p10 %6d   p90 %6d   (n=%d)\n", name, v[int(NR/2)+1], v[int(NR/10)+1], v[int(NR*9/10)], NR }'
}
echo "bench-timing.sh: $N queries, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
stats stored "paid, made before by another"
stats new "paid, new"
stats rstored "refused, made before by another"
stats rnew "refused, new"
