#!/usr/bin/env bash
# What the tests need beyond cargo, installed when missing (each step is a
# no-op once done, so scripts/test.sh calls this on every run):
# - Debian's Chromium and ChromeDriver, for the console's browser tests
#   (needs root or passwordless sudo; nothing is downloaded from elsewhere);
# - a Python virtual environment in target/quickstart-venv with requests,
#   pandas and matplotlib, for the researcher quick start the tests run;
# - wheels in target/python-wheels, from which the tests install the Python
#   client (clients/python) into fresh virtual environments, offline;
# - a Python virtual environment in target/sdmx-venv with sdmx1 and pandas,
#   and Debian's R with rsdmx and httr2, for the SDMX client tests
#   (tests/sdmx_clients.rs; CTM_REQUIRE_R=1 fails instead of skipping the R test).
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

# Wheels for the Python client (clients/python): tests/client.rs installs the
# package from them into a fresh virtual environment with pip --no-index, so
# the tests download nothing. The marker names the list, so a new entry here
# downloads again.
WHEELS=target/python-wheels
CLIENT_WHEELS="requests pandas matplotlib sdmx1 setuptools wheel"
if [ "$(cat "$WHEELS/.complete" 2>/dev/null)" != "$CLIENT_WHEELS" ]; then
  echo "test-deps: downloading wheels into $WHEELS ($CLIENT_WHEELS)"
  # shellcheck disable=SC2086 # the list is words on purpose
  if [ -x "$VENV/bin/pip" ] &&
     "$VENV/bin/pip" download -q --disable-pip-version-check -d "$WHEELS" $CLIENT_WHEELS; then
    echo "$CLIENT_WHEELS" > "$WHEELS/.complete"
  else
    echo "test-deps: could not download the client's wheels; the client tests will be skipped" >&2
  fi
fi
# SDMX clients: sdmx1 (Python) and rsdmx (R) read the SDMX REST interface.
SDMX_VENV=target/sdmx-venv
if ! [ -x "$SDMX_VENV/bin/python" ] || ! "$SDMX_VENV/bin/python" -c 'import sdmx, pandas' 2>/dev/null; then
  echo "test-deps: creating $SDMX_VENV (sdmx1, pandas)"
  mkdir -p target
  if ! { python3 -m venv "$SDMX_VENV" &&
         "$SDMX_VENV/bin/pip" install -q --disable-pip-version-check 'sdmx1>=2.20' pandas requests; }; then
    echo "test-deps: could not set up $SDMX_VENV; the sdmx1 test will be skipped" >&2
  fi
fi
if ! { [ -x /usr/bin/Rscript ] && Rscript -e 'library(rsdmx); library(httr2)' >/dev/null 2>&1; }; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then SUDO=(sudo -n); fi
  echo "test-deps: installing Debian's r-base-core, r-cran-rsdmx and r-cran-httr2"
  if ! { DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
           r-base-core r-cran-rsdmx r-cran-httr2 >/dev/null; }; then
    echo "test-deps: could not install R (not root?); the rsdmx test will be skipped" >&2
  fi
fi
exit 0
