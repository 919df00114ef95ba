#!/usr/bin/env bash
# The test command of the README: every test, on SQLite and on PostgreSQL,
# and the console in a real browser.
#
# PostgreSQL: uses CTM_TEST_POSTGRES_URL if set; otherwise starts a throwaway
# cluster of its own (PostgreSQL 15 binaries under /usr/lib/postgresql) on a
# free port and removes it afterwards. With CTM_REQUIRE_POSTGRES=1 (as CI
# sets) a missing PostgreSQL fails the run instead of skipping those tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cleanup() { :; }
trap 'cleanup' EXIT

if [ -z "${CTM_TEST_POSTGRES_URL:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ]; then
    PGDIR=$(mktemp -d /tmp/ctm-pg.XXXXXX)
    PGPORT=${CTM_TEST_PGPORT:-$(( 55000 + RANDOM % 5000 ))}
    RUNAS=()
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDIR"; RUNAS=(runuser -u postgres --); fi
    "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
    "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" -l "$PGDIR/log" -w start >/dev/null
    cleanup() { "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
    export CTM_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
    echo "test.sh: throwaway PostgreSQL on port $PGPORT"
  elif [ "${CTM_REQUIRE_POSTGRES:-0}" = 1 ]; then
    echo "test.sh: CTM_REQUIRE_POSTGRES=1 but no PostgreSQL binaries found" >&2
    exit 1
  else
    echo "test.sh: no PostgreSQL found; PostgreSQL variants will be skipped" >&2
  fi
fi

# Chromium, ChromeDriver and the Python quick start's environment, when
# missing (see the script; CTM_REQUIRE_BROWSER=1 makes their absence fail).
./scripts/test-deps.sh

# Benches are compiled by clippy in CI and run with `cargo bench`, not here.
cargo test --lib --bins --tests "$@"
