#!/usr/bin/env bash
# Contract test: schemathesis against a running service, with a token of
# each role, failing on any 5xx, any status the OpenAPI document does not
# list, and any response that does not match its schema. Uses the built
# debug binary (cargo test builds it) and a throwaway SQLite store.
#
# Usage: scripts/contract.sh [max examples per operation, default 25]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-${CONTRACT_EXAMPLES:-25}}
SCHEMATHESIS_VERSION=4.32.5
VENV=${CONTRACT_VENV:-target/contract-venv}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

BIN=${CONTRACT_BIN:-target/debug/ctm-stats}
[ -x "$BIN" ] || cargo build --quiet
WORK=$(mktemp -d /tmp/ctm-contract.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Room for a fuzzer: no practical rate limit, budgets it cannot exhaust
# quickly (an exhausted budget is a documented 403 all the same).
sed -e 's/^requests_per_minute = .*/requests_per_minute = 1000000/' \
    -e 's/^researcher = .*/researcher = 100000.0/' \
    -e 's/^government = .*/government = 100000.0/' \
    -e 's/^regional = .*/regional = 100000.0/' \
    -e 's/^global = .*/global = 10000000.0/' policy/default.toml > "$WORK/policy.toml"
export DATABASE_URL="sqlite:$WORK/ctm.db" DATA_DIR="$WORK" POLICY_FILE="$WORK/policy.toml" \
       BIND="127.0.0.1:$PORT" DEMO_CASES=5000 RUST_LOG=warn BODY_TIMEOUT_SECS=5
"$BIN" serve --demo > "$WORK/serve.out" 2> "$WORK/serve.log" &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null

token() {
  case "$1" in
    regional) "$BIN" token --role regional --sub "$2" --region "$3" ;;
    *) "$BIN" token --role "$1" --sub "$2" ${3:+--country "$3"} ;;
  esac
}
status=0
for who in "researcher contract-researcher" "government contract-government USA" \
           "regional contract-regional gms" "auditor contract-auditor" "admin contract-admin"; do
  # shellcheck disable=SC2086
  set -- $who
  echo "contract.sh: as $1"
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$PORT/openapi.json" \
    --header "Authorization: Bearer $(token "$@")" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance \
    --max-examples "$EXAMPLES" --workers 1 --seed 20261130 \
    --phases examples,coverage,fuzzing \
    --suppress-health-check all --warnings off \
    --request-timeout 15 || status=1
done
if [ "$status" != 0 ]; then
  echo "contract.sh: the service disagrees with its OpenAPI document (above)" >&2
  tail -n 50 "$WORK/serve.log" >&2
fi
exit "$status"
