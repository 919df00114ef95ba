#!/usr/bin/env bash
# Checks that the SDMX-CSV of national figures reads with a real SDMX client
# library (Python `sdmx1`), end to end:
#   1. builds the service and starts `serve --demo` on a throwaway data
#      directory (SQLite, synthetic cases) on a free port;
#   2. fetches the CTM_VICTIMS structure (GET /v1/national/sdmx) and, with the
#      demo government token (USA), the report in SDMX-CSV on both
#      perspectives and one table over a year range;
#   3. runs scripts/check_sdmx.py on them in a virtualenv with sdmx1 (see that
#      file for what is checked);
#   4. stops the server it started and removes the data directory.
#
# Environment: SDMX_VENV (default .venv-sdmx, created on first run; needs PyPI),
# DEMO_CASES (default 20000), CARGO_TARGET_DIR (as for cargo).
# Keeps the fetched files when KEEP=1 (their path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SDMX_VENV:-.venv-sdmx}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet 'sdmx1>=2.20' pandas
fi

cargo build --quiet --bin ctm-stats
BIN="${CARGO_TARGET_DIR:-target}/debug/ctm-stats"

WORK=$(mktemp -d /tmp/ctm-sdmx.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

DATA_DIR="$WORK/data" BIND="127.0.0.1:$PORT" DEMO_CASES="${DEMO_CASES:-20000}" \
  CHECKPOINT_INTERVAL_SECS=0 RUST_LOG=warn \
  "$BIN" serve --demo >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  if curl -sf "$BASE/health" >/dev/null 2>&1 && grep -q '^export GOVERNMENT_TOKEN=' "$WORK/serve.log"; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/serve.log" >&2; exit 1; fi
  sleep 0.2
done
GOVERNMENT_TOKEN=$(sed -n 's/^export GOVERNMENT_TOKEN=//p' "$WORK/serve.log")
[ -n "$GOVERNMENT_TOKEN" ] || { echo "no government token in the demo output" >&2; exit 1; }

fetch() { # fetch PATH FILE: GET with the government token, Accept SDMX-CSV 1.0
  curl -sf "$BASE$1" -H "Authorization: Bearer $GOVERNMENT_TOKEN" \
    -H 'Accept: application/vnd.sdmx.data+csv;version=1.0.0' -o "$2"
}
curl -sf "$BASE/v1/national/sdmx" -o "$WORK/structure.json"
fetch "/v1/national/USA/report" "$WORK/usa-report.csv"
fetch "/v1/national/USA/report?perspective=citizenship&year=2019" "$WORK/usa-nationals-2019.csv"
fetch "/v1/national/USA/tables/by_sex_and_age?from_year=2015&to_year=2020" "$WORK/usa-sex-age-2015-2020.csv"
# SDMX-CSV 2.0, read by sdmx1 as served.
curl -sf "$BASE/v1/national/USA/report" -H "Authorization: Bearer $GOVERNMENT_TOKEN" \
  -H 'Accept: application/vnd.sdmx.data+csv;version=2.0.0' -o "$WORK/usa-report-v2.csv"

"$VENV/bin/python" scripts/check_sdmx.py "$WORK/structure.json" \
  "$WORK/usa-report.csv" "$WORK/usa-nationals-2019.csv" "$WORK/usa-sex-age-2015-2020.csv" \
  "$WORK/usa-report-v2.csv"
echo "check-sdmx: OK"
