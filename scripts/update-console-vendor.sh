#!/usr/bin/env bash
# Refreshes the console's vendored charting library from the npm registry:
# Observable Plot (UMD build) and D3, the one library it needs, with their
# licences. The files are committed, so `cargo build` alone embeds a working
# console; run this only to move to new versions (then rebuild and run the
# browser tests), e.g. `scripts/update-console-vendor.sh 0.6.17 7.9.2`.
set -euo pipefail
cd "$(dirname "$0")/.."
PLOT=${1:-0.6.17}
D3=${2:-7.9.2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@observablehq/plot@$PLOT" "d3@$D3" >/dev/null)
mkdir -p "$work/plot" "$work/d3"
tar xzf "$work/observablehq-plot-$PLOT.tgz" -C "$work/plot"
tar xzf "$work/d3-$D3.tgz" -C "$work/d3"
out=console/vendor
cp "$work/plot/package/dist/plot.umd.min.js" "$out/plot.umd.min.js"
cp "$work/plot/package/LICENSE" "$out/LICENSE-plot"
cp "$work/d3/package/dist/d3.min.js" "$out/d3.min.js"
cp "$work/d3/package/LICENSE" "$out/LICENSE-d3"
{
  echo "Vendored by scripts/update-console-vendor.sh from the npm registry."
  echo
  echo "@observablehq/plot $PLOT (ISC licence, LICENSE-plot)"
  echo "d3 $D3 (ISC licence, LICENSE-d3)"
  echo
  (cd "$out" && sha256sum plot.umd.min.js d3.min.js)
} > "$out/VERSIONS"
cat "$out/VERSIONS"
