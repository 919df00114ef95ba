#!/usr/bin/env bash
# What the tests need beyond cargo, installed when missing (each step is a
# no-op once done, so scripts/test.sh calls this on every run):
# - Debian's Chromium and ChromeDriver, for the console's browser tests
#   (needs root or passwordless sudo; nothing is downloaded from elsewhere);
# - a Python virtual environment in target/quickstart-venv with requests,
#   pandas and matplotlib, for the researcher quick start the tests run.
# Where a step cannot be done, it says so and the tests that need it are
# skipped (CI sets CTM_REQUIRE_BROWSER=1, which turns a skip into a failure).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then SUDO=(sudo -n); fi
  echo "test-deps: installing Debian's chromium and chromium-driver"
  if ! { DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
           chromium chromium-driver fonts-dejavu-core >/dev/null; }; then
    echo "test-deps: could not install chromium (not root?); the browser tests will be skipped" >&2
  fi
fi

VENV=target/quickstart-venv
if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import requests, pandas, matplotlib' 2>/dev/null; then
  echo "test-deps: creating $VENV (requests, pandas, matplotlib)"
  mkdir -p target
  if ! { python3 -m venv "$VENV" &&
         "$VENV/bin/pip" install -q --disable-pip-version-check requests pandas matplotlib; }; then
    echo "test-deps: could not set up $VENV; the quick start test will be skipped" >&2
  fi
fi
exit 0
