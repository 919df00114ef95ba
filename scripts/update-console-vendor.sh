#!/usr/bin/env bash
# Refreshes the console's vendored libraries from the npm registry, with
# their licences and checksums:
# - console/vendor (served by the product): Observable Plot (UMD build) and
#   D3, the one library it needs; topojson-client, which turns the map data
#   into GeoJSON for Plot's own projections; world-atlas's countries-110m.json
#   (TopoJSON, Natural Earth data, feature ids are ISO 3166-1 numeric codes);
# - tests/vendor (test-only, never served): axe-core, which the browser tests
#   inject into the page through WebDriver.
# The files are committed, so `cargo build` alone embeds a working console
# and no test downloads anything; run this only to move to new versions
# (then rebuild and run the browser tests), e.g.
#   scripts/update-console-vendor.sh 0.6.17 7.9.2 3.1.0 2.0.2 4.14.1
# (Plot, D3, topojson-client, world-atlas, axe-core).
set -euo pipefail
cd "$(dirname "$0")/.."
PLOT=${1:-0.6.17}
D3=${2:-7.9.2}
TOPOJSON=${3:-3.1.0}
ATLAS=${4:-2.0.2}
AXE=${5:-4.14.1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@observablehq/plot@$PLOT" "d3@$D3" \
  "topojson-client@$TOPOJSON" "world-atlas@$ATLAS" "axe-core@$AXE" >/dev/null)
for pkg in plot:observablehq-plot-$PLOT d3:d3-$D3 topojson:topojson-client-$TOPOJSON \
  atlas:world-atlas-$ATLAS axe:axe-core-$AXE; do
  mkdir -p "$work/${pkg%%:*}"
  tar xzf "$work/${pkg#*:}.tgz" -C "$work/${pkg%%:*}"
done
out=console/vendor
cp "$work/plot/package/dist/plot.umd.min.js" "$out/plot.umd.min.js"
cp "$work/plot/package/LICENSE" "$out/LICENSE-plot"
cp "$work/d3/package/dist/d3.min.js" "$out/d3.min.js"
cp "$work/d3/package/LICENSE" "$out/LICENSE-d3"
cp "$work/topojson/package/dist/topojson-client.min.js" "$out/topojson-client.min.js"
cp "$work/topojson/package/LICENSE" "$out/LICENSE-topojson-client"
cp "$work/atlas/package/countries-110m.json" "$out/countries-110m.json"
cp "$work/atlas/package/LICENSE" "$out/LICENSE-world-atlas"
{
  echo "Vendored by scripts/update-console-vendor.sh from the npm registry."
  echo
  echo "@observablehq/plot $PLOT (ISC licence, LICENSE-plot)"
  echo "d3 $D3 (ISC licence, LICENSE-d3)"
  echo "topojson-client $TOPOJSON (ISC licence, LICENSE-topojson-client)"
  echo "world-atlas $ATLAS: countries-110m.json (ISC licence, LICENSE-world-atlas;"
  echo "  the boundaries are Natural Earth's, in the public domain)"
  echo
  (cd "$out" && sha256sum plot.umd.min.js d3.min.js topojson-client.min.js countries-110m.json)
} > "$out/VERSIONS"
tests_out=tests/vendor
mkdir -p "$tests_out"
cp "$work/axe/package/axe.min.js" "$tests_out/axe.min.js"
cp "$work/axe/package/LICENSE" "$tests_out/LICENSE-axe-core"
{
  echo "Vendored by scripts/update-console-vendor.sh from the npm registry."
  echo "Test-only: the browser tests inject these into the page; the service never serves them."
  echo
  echo "axe-core $AXE (MPL-2.0 licence, LICENSE-axe-core)"
  echo
  (cd "$tests_out" && sha256sum axe.min.js)
} > "$tests_out/VERSIONS"
cat "$out/VERSIONS" "$tests_out/VERSIONS"
