#!/usr/bin/env bash
# End-to-end HTTP benchmark: the service on N synthetic cases (default 1M),
# driven by wrk from a second process.
#
#   scripts/bench-http.sh [CASES] [CONNECTIONS] [SECONDS]
#
# Workloads (BENCH_WORKLOADS, space-separated; default "fresh repeat"):
#   fresh     POST /v1/counts, every request a new release (count, noise,
#             charge, durable ledger entry)
#   repeat    the same query every time (served from the stored release, free)
#   report    GET /v1/national/{country}/report, all tables in JSON, at
#             REPORT_CONNS (default 8) connections: fresh (a new year range
#             or country each time) and repeated
#   restart   time from start to ready: the first start after the import
#             (snapshot built from the store) and a restart (snapshot file)
#   replicas  a second replica on the same store; fresh releases through
#             both at once (PostgreSQL only), against one replica alone
#
# BENCH_BACKEND=sqlite (default) or postgres. For postgres the script starts
# a throwaway PostgreSQL 15 cluster of its own, with the durability settings
# of a production server (fsync on, synchronous_commit on), or uses
# BENCH_DATABASE_URL when set.
# BENCH_BIN=path/to/ctm-stats runs that binary instead of building this
# checkout (to compare two builds side by side, in alternating runs).
#
# Installs wrk from Debian's packages if it is missing. Prints requests per
# second and latency percentiles for each workload, and the snapshot's size.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${1:-1000000}
CONNS=${2:-32}
SECS=${3:-20}
PORT=${BENCH_PORT:-18080}
PORT2=$((PORT + 1))
BACKEND=${BENCH_BACKEND:-sqlite}
WORKLOADS=${BENCH_WORKLOADS:-fresh repeat}
REPORT_CONNS=${REPORT_CONNS:-8}

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
SERVERS=()
PGSTOP=()
cleanup() {
  for s in "${SERVERS[@]}"; do kill "$s" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ ${#PGSTOP[@]} -gt 0 ]; then "${PGSTOP[@]}" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A policy with budgets large enough for a load test, and no rate limit to speak of.
sed -e 's/^researcher = .*/researcher = 1000000.0/' -e 's/^government = .*/government = 1000000.0/' \
    -e 's/^global = .*/global = 100000000.0/' \
    -e "s/^requests_per_minute = .*/requests_per_minute = 1000000/" policy/default.toml > "$WORK/policy.toml"
export POLICY_FILE="$WORK/policy.toml" RUST_LOG=warn,ctm_stats::snapshots=info
# Connections per client: wrk opens them all from 127.0.0.1.
export MAX_CONNECTIONS_PER_CLIENT=10000

case "$BACKEND" in
  sqlite)
    export DATABASE_URL="sqlite:$WORK/data/bench.db"
    ;;
  postgres)
    if [ -n "${BENCH_DATABASE_URL:-}" ]; then
      export DATABASE_URL=$BENCH_DATABASE_URL
    else
      PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
      PGDIR="$WORK/pg"
      PGPORT=$(( 56000 + RANDOM % 4000 ))
      mkdir -p "$PGDIR"
      RUNAS=()
      if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDIR" "$WORK"; RUNAS=(runuser -u postgres --); fi
      "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 >/dev/null
      # Durable as in production: fsync and synchronous_commit stay on.
      "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w start \
        -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=512MB -c shared_preload_libraries=pg_stat_statements" >/dev/null
      PG_STATEMENTS=1
      PGSTOP=("${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop)
      export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
      echo "PostgreSQL: $("$PGBIN/postgres" --version | awk '{print $3}'), fsync $(psql "$DATABASE_URL" -Atc 'show fsync'), synchronous_commit $(psql "$DATABASE_URL" -Atc 'show synchronous_commit')"
    fi
    ;;
  *) echo "BENCH_BACKEND must be sqlite or postgres" >&2; exit 2 ;;
esac

# Starts a replica on port $1 with data directory $2 and waits until it is
# ready; READY_SECS says how long that took.
start_server() {
  local port=$1 dir=$2 started pid
  started=$(date +%s.%N)
  DATA_DIR=$dir BIND="127.0.0.1:$port" $BIN serve >> "$dir.log" 2>&1 &
  pid=$!
  SERVERS+=("$pid")
  for _ in $(seq 1 6000); do
    curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "the service did not start:" >&2; cat "$dir.log" >&2; exit 1; }
    sleep 0.02
  done
  READY_SECS=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.2f", a - b }')
}
stop_servers() {
  for s in "${SERVERS[@]}"; do kill "$s" 2>/dev/null || true; done
  for s in "${SERVERS[@]}"; do wait "$s" 2>/dev/null || true; done
  SERVERS=()
}

mkdir -p "$WORK/data"
gen_started=$(date +%s.%N)
DATA_DIR="$WORK/data" $BIN generate --cases "$CASES" --seed 5 >/dev/null
echo "== $CASES cases, $BACKEND, $CONNS connections, $SECS s each (generated in $(awk -v a="$(date +%s.%N)" -v b="$gen_started" 'BEGIN { printf "%.0f", a - b }') s)"
# The generated store is hundreds of megabytes of dirty pages; flush them now,
# or the kernel writes them back during the first run and every fsync waits.
# On PostgreSQL the same goes for the checkpoint after the bulk load, and
# autovacuum would analyse the new table during the first run: both now.
if [ "$BACKEND" = postgres ]; then
  psql "$DATABASE_URL" -qc "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
  if [ -n "${PG_STATEMENTS:-}" ]; then psql "$DATABASE_URL" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null; fi
fi
sync
start_server "$PORT" "$WORK/data"
first=$READY_SECS
mem=$(grep -o 'memory_mib=[0-9]*' "$WORK/data.log" | tail -n 1 | cut -d= -f2 || true)
echo "snapshot: ${mem} MiB in memory ($(awk -v m="$mem" -v n="$CASES" 'BEGIN { printf "%.1f", m * 1048576 / n }') bytes per case at most)"
DATA_DIR="$WORK/data" $BIN token --role researcher --sub bench-researcher > "$WORK/token"
TOKEN=$(cat "$WORK/token")

cat > "$WORK/fresh.lua" <<'LUA'
-- Every request a distinct 3-dimension query with a filter: a new release each time.
local countries = {"USA","UKR","RUS","PHL","IDN","THA","MDA","KHM","GHA","HTI","MEX","IND","NGA","VNM","BLR","MMR"}
local n = 0
math.randomseed(os.time())
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
DATA_DIR="$WORK/data" $BIN token --role admin --sub bench-admin > "$WORK/admin-token"
HDR=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")

# Where the time went during a run: group-commit batches (how many, how
# large, how long each took to commit durably) and CPU seconds by process.
metric() { curl -sf -H "Authorization: Bearer $(cat "$WORK/admin-token")" "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
cpu_of() { # CPU seconds of processes named $1 (all of them), or of the replicas for "service"
  local total=0 pids
  # The replicas by their process ids: BENCH_BIN may run under another name.
  if [ "$1" = service ]; then pids="${SERVERS[*]}"; else pids=$(pgrep -x "$1" || true); fi
  for p in $pids; do
    total=$(awk -v t="$total" -v tk="$(getconf CLK_TCK)" '{ printf "%.2f", t + ($14 + $15) / tk }' "/proc/$p/stat" 2>/dev/null || echo "$total")
  done
  echo "$total"
}
# PostgreSQL's own view (the script's cluster only): the statements that took
# the most time during a run, per call.
pg_reset() { if [ -n "${PG_STATEMENTS:-}" ]; then psql "$DATABASE_URL" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null; fi; }
pg_top() {
  if [ -n "${PG_STATEMENTS:-}" ]; then
    psql "$DATABASE_URL" -qAt -F ' ' -c "SELECT '    ' || calls || ' calls, ' || round((total_exec_time / calls)::numeric, 3) || ' ms each: ' || left(regexp_replace(query, '\s+', ' ', 'g'), 70) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 6"
  fi
}
mark() {
  pg_reset
  M_BATCHES=$(metric ctm_ledger_batch_size_count); M_JOBS=$(metric ctm_ledger_batch_size_sum)
  M_SECS=$(metric ctm_ledger_commit_duration_seconds_sum)
  M_CPU_SVC=$(cpu_of service); M_CPU_PG=$(cpu_of postgres); rm -f "$WORK/wrk-cpu" "$WORK/last-rps"
}
since_mark() {
  local b j s
  b=$(metric ctm_ledger_batch_size_count); j=$(metric ctm_ledger_batch_size_sum); s=$(metric ctm_ledger_commit_duration_seconds_sum)
  awk -v b0="$M_BATCHES" -v b1="$b" -v j0="$M_JOBS" -v j1="$j" -v s0="$M_SECS" -v s1="$s" 'BEGIN {
    n = b1 - b0; if (n > 0) printf "  ledger: %d batches, %.1f charges each, %.2f ms each to commit\n", n, (j1 - j0) / n, 1000 * (s1 - s0) / n }'
  if [ -n "${PG_STATEMENTS:-}" ]; then echo "  PostgreSQL statements by time:"; pg_top; fi
  # CPU per request too, by whom: on a machine this small the load
  # generator's share bounds what any service could do beside it.
  awk -v s0="$M_CPU_SVC" -v s1="$(cpu_of service)" -v p0="$M_CPU_PG" -v p1="$(cpu_of postgres)" \
      -v w="$(awk 'END { print $1 + $2 }' "$WORK/wrk-cpu" 2>/dev/null)" -v rps="$(awk '{ print $2 }' "$WORK/last-rps" 2>/dev/null)" -v secs="$SECS" 'BEGIN {
    s = s1 - s0; p = p1 - p0; n = rps * secs
    printf "  CPU seconds: service %.1f, PostgreSQL %.1f, wrk %.1f", s, p, w
    if (n > 0) printf " (per request: service %.3f ms, PostgreSQL %.3f ms, wrk %.3f ms)", 1000 * s / n, 1000 * p / n, 1000 * w / n
    printf "\n" }'
}
# wrk's threads: two, or one per wrk when two run at once (2 cores here).
run_wrk() { # name script url [threads]
  cat "$WORK/$2.lua" "$WORK/report.lua" > "$WORK/run-$2.lua"
  echo "$1:"
  # wrk has exited before its CPU is read: bash's `time` keeps it (user, system).
  local TIMEFORMAT='%U %S'
  { time wrk -t"${4:-2}" -c"$CONNS" -d"${SECS}s" --latency "${HDR[@]}" -s "$WORK/run-$2.lua" "$3" | grep -E "requests/s" | tee "$WORK/last-rps" || true; } 2> "$WORK/wrk-cpu"
}

if [[ " $WORKLOADS " == *" fresh "* || " $WORKLOADS " == *" repeat "* || " $WORKLOADS " == *" replicas "* ]]; then
  # Warm-up, not reported: connections, caches, the first releases.
  wrk -t2 -c"$CONNS" -d5s "${HDR[@]}" -s "$WORK/fresh.lua" "http://127.0.0.1:$PORT/v1/counts" >/dev/null
  # A new store's plans are made for tiny tables until they are analysed
  # (the service has them analysed at 1,000, 10,000 and 100,000 ledger
  # entries, autovacuum later): analysed here at once too, so that runs
  # measure the steady state as they did before the service did it.
  if [ "$BACKEND" = postgres ]; then psql "$DATABASE_URL" -qc "ANALYZE" >/dev/null; fi
fi
for w in fresh repeat; do
  if [[ " $WORKLOADS " == *" $w "* ]]; then
    mark
    run_wrk "$w queries" "$w" "http://127.0.0.1:$PORT/v1/counts"
    since_mark
  fi
done

if [[ " $WORKLOADS " == *" report "* ]]; then
  # One government token per country: a report is a government's own.
  COUNTRIES=(USA UKR RUS PHL IDN THA MDA KHM GHA HTI MEX IND NGA VNM BLR MMR)
  {
    echo "local tokens = {"
    for c in "${COUNTRIES[@]}"; do
      echo "  {\"$c\", \"$(DATA_DIR="$WORK/data" $BIN token --role government --country "$c" --sub "bench-$c")\"},"
    done
    echo "}"
  } > "$WORK/tokens.lua"
  cat "$WORK/tokens.lua" - > "$WORK/report-fresh.lua" <<'LUA'
-- A new report each time: another country or year range (every table of it a new release).
local n = 0
math.randomseed(os.time())
function setup(thread) thread:set("id", math.random(0, 1000000)) end
request = function()
  n = n + 1
  local k = id * 7919 + n
  local t = tokens[(k % #tokens) + 1]
  local from = 2002 + (math.floor(k / #tokens) % 20)
  local to = from + (math.floor(k / (20 * #tokens)) % (2025 - from + 1))
  return wrk.format("GET", string.format("/v1/national/%s/report?from_year=%d&to_year=%d", t[1], from, to),
    {["Authorization"] = "Bearer " .. t[2]}, nil)
end
LUA
  cat "$WORK/tokens.lua" - > "$WORK/report-repeat.lua" <<'LUA'
-- The same few reports again: served from the stored releases, free.
local n = 0
request = function()
  n = n + 1
  local t = tokens[(n % 4) + 1]
  return wrk.format("GET", string.format("/v1/national/%s/report?from_year=2015&to_year=2020", t[1]),
    {["Authorization"] = "Bearer " .. t[2]}, nil)
end
LUA
  for w in report-fresh report-repeat; do
    cat "$WORK/$w.lua" "$WORK/report.lua" > "$WORK/run-$w.lua"
    # Warm the repeated reports first, so the run measures repeats.
    if [ "$w" = report-repeat ]; then wrk -t1 -c4 -d2s -s "$WORK/run-$w.lua" "http://127.0.0.1:$PORT/" >/dev/null; fi
    echo "national reports, ${w#report-} ($REPORT_CONNS connections):"
    wrk -t2 -c"$REPORT_CONNS" -d"${SECS}s" --latency -s "$WORK/run-$w.lua" "http://127.0.0.1:$PORT/" | grep -E "requests/s" || true
  done
fi

if [[ " $WORKLOADS " == *" replicas "* ]]; then
  if [ "$BACKEND" != postgres ]; then
    echo "replicas: PostgreSQL only (BENCH_BACKEND=postgres)"
  else
    mkdir -p "$WORK/data2"
    # The same keys (tokens, noise, ledger), its own snapshot.
    cp -r "$WORK/data"/. "$WORK/data2"/
    rm -f "$WORK/data2"/*snapshot*
    start_server "$PORT2" "$WORK/data2"
    run_wrk "one replica, fresh, wrk -t1" fresh "http://127.0.0.1:$PORT/v1/counts" 1
    echo "two replicas at once, fresh, one wrk -t1 each:"
    run_wrk "  replica 1" fresh "http://127.0.0.1:$PORT/v1/counts" 1 > "$WORK/r1" &
    other=$!
    run_wrk "  replica 2" fresh "http://127.0.0.1:$PORT2/v1/counts" 1 > "$WORK/r2"
    wait "$other"
    cat "$WORK/r1" "$WORK/r2"
    awk '/requests\/s/ {s += $2} END {printf "  together: requests/s %.0f\n", s}' "$WORK/r1" "$WORK/r2"
  fi
fi

if [[ " $WORKLOADS " == *" restart "* ]]; then
  echo "start to ready: first start after the import $first s"
  stop_servers
  start_server "$PORT" "$WORK/data"
  echo "start to ready: restart $READY_SECS s"
fi
