#!/usr/bin/env bash
# End-to-end HTTP benchmark: the service on N synthetic cases (default 1M, on
# SQLite unless DATABASE_URL says otherwise), driven by wrk from a second
# process with fresh queries (each a new release: count, noise, charge, ledger)
# and with repeated queries (served from the stored release, free).
#
#   scripts/bench-http.sh [CASES] [CONNECTIONS] [SECONDS]
#
# BENCH_BIN=path/to/ctm-stats runs that binary instead of building this
# checkout (to compare two builds side by side, in alternating runs).
#
# Installs wrk from Debian's packages if it is missing. Prints requests per
# second and latency percentiles for each workload.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${1:-1000000}
CONNS=${2:-32}
SECS=${3:-20}
PORT=${BENCH_PORT:-18080}

if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  (apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null))
fi

if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  cargo build --release --quiet
  BIN=target/release/ctm-stats
fi
WORK=$(mktemp -d /tmp/ctm-bench.XXXXXX)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A policy with budgets large enough for a load test, and no rate limit to speak of.
sed -e 's/^researcher = .*/researcher = 1000000.0/' -e 's/^global = .*/global = 100000000.0/' \
    -e "s/^requests_per_minute = .*/requests_per_minute = 1000000/" policy/default.toml > "$WORK/policy.toml"
export DATA_DIR="$WORK/data" POLICY_FILE="$WORK/policy.toml" BIND="127.0.0.1:$PORT" RUST_LOG=warn
export DATABASE_URL=${DATABASE_URL:-sqlite:$WORK/data/bench.db}

$BIN generate --cases "$CASES" --seed 5 >/dev/null
# The generated store is hundreds of megabytes of dirty pages; flush them now,
# or the kernel writes them back during the first run and every fsync waits.
sync
$BIN serve > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  kill -0 $SERVER 2>/dev/null || { echo "the service did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.2
done
TOKEN=$($BIN token --role researcher --sub bench-researcher)

cat > "$WORK/fresh.lua" <<'LUA'
-- Every request a distinct 3-dimension query with a filter: a new release each time.
local countries = {"USA","UKR","RUS","PHL","IDN","THA","MDA","KHM","GHA","HTI","MEX","IND","NGA","VNM","BLR","MMR"}
local n = 0
function setup(thread) thread:set("id", math.random(0, 1000000)) end
request = function()
  n = n + 1
  local k = id * 7919 + n
  local from = 2002 + (k % 20)
  local to = from + (math.floor(k / 20) % (2025 - from + 1))
  local c = countries[(math.floor(k / 400) % #countries) + 1]
  local eps = 0.05 + 0.01 * (math.floor(k / 6400) % 150)
  local body = string.format('{"dimensions":["gender","age_broad","type_of_exploitation"],"filters":{"registration_year":{"from":%d,"to":%d},"country_of_exploitation":["%s"]},"epsilon":%.2f}', from, to, c, eps)
  return wrk.format("POST", "/v1/counts", nil, body)
end
LUA
cat > "$WORK/repeat.lua" <<'LUA'
-- The same query every time: served from the stored release, charged nothing.
wrk.method = "POST"
wrk.body = '{"dimensions":["gender","age_broad","type_of_exploitation"],"filters":{"registration_year":{"from":2015,"to":2020},"country_of_exploitation":["USA"]},"epsilon":0.5}'
LUA
cat > "$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("  requests/s %.0f  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  errors %d non-2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
LUA
HDR=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
echo "== $CASES cases, ${DATABASE_URL%%:*}, $CONNS connections, $SECS s each"
# Warm-up, not reported: connections, caches, the first releases.
cat "$WORK/fresh.lua" > "$WORK/warm.lua"
wrk -t2 -c"$CONNS" -d5s "${HDR[@]}" -s "$WORK/warm.lua" "http://127.0.0.1:$PORT/v1/counts" >/dev/null
for w in fresh repeat; do
  cat "$WORK/$w.lua" "$WORK/report.lua" > "$WORK/run-$w.lua"
  echo "$w queries:"
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "${HDR[@]}" -s "$WORK/run-$w.lua" "http://127.0.0.1:$PORT/v1/counts" | grep -E "requests/s" || true
done
