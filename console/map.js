// A world choropleth of a country table (citizenship, country of
// exploitation): D3's own projection (d3-geo, in vendor/d3.min.js) over the
// world-atlas TopoJSON (vendor/countries-110m.json, Natural Earth, ids are
// ISO 3166-1 numeric codes) read with topojson-client. The map data and its
// reader load on first use only, so a view without a map never fetches
// them; if either is missing, or the catalog gives no numeric codes, there
// is no map and the table still says everything.
//
// Classes of equal counts of countries (quantiles) in blues; suppressed
// countries in the warning colour, never shaded as zero; countries with
// no figure in grey. The legend is drawn inside the SVG so an exported
// map carries it.

import { fmt } from "./dom.js";
import { countryName, numericOf } from "./labels.js";

const NS = "http://www.w3.org/2000/svg";
const SUPPRESSED = "#f2cc60";
const NONE = "#e6e8eb";
let world = null;

function loadScript(src) {
  return new Promise((ok, fail) => {
    if (window.topojson) return ok();
    const s = document.createElement("script");
    s.src = src;
    s.onload = ok;
    s.onerror = () => fail(new Error(`${src} did not load`));
    document.head.append(s);
  });
}

/// The countries as GeoJSON features (once per page), or null.
function countries() {
  world ??= Promise.all([
    loadScript("vendor/topojson-client.min.js"),
    fetch("vendor/countries-110m.json", { credentials: "omit" }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`map data: HTTP ${r.status}`)))),
  ])
    .then(([, topo]) => window.topojson.feature(topo, topo.objects.countries).features.filter((f) => f.id !== "010"))
    .catch((e) => {
      console.warn("no map:", e.message);
      return null;
    });
  return world;
}

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, String(v));
  if (text != null) e.textContent = text;
  return e;
}

/// The map of `cells` (one dimension, ISO alpha-3 codes), or null when it
/// cannot be drawn. `ariaLabel` says what it shows.
export async function worldMap(cells, dim, { width, ariaLabel }) {
  const d3 = window.d3;
  if (!d3?.geoEqualEarth) return null;
  const byNum = new Map();
  for (const c of cells) {
    const n = numericOf(c.key?.[dim]);
    if (n) byNum.set(n, c);
  }
  if (!byNum.size) return null;
  const features = await countries();
  if (!features) return null;
  const w = Math.max(300, Math.floor(Math.min(width, 960)));
  const projection = d3.geoEqualEarth().fitWidth(w - 8, { type: "FeatureCollection", features });
  const path = d3.geoPath(projection);
  const [[, y0], [, y1]] = path.bounds({ type: "FeatureCollection", features });
  const mapH = Math.ceil(y1 - y0) + 8;
  const released = [...byNum.values()].filter((c) => !c.suppressed && c.count != null).map((c) => c.count).sort((a, b) => a - b);
  const colours = d3.schemeBlues[5];
  const breaks = released.length >= 5 ? [0.2, 0.4, 0.6, 0.8].map((q) => d3.quantile(released, q)) : [];
  const uniq = [...new Set(breaks.map((b) => Math.round(b)))].filter((b) => b > 0);
  const scale = d3.scaleThreshold().domain(uniq).range(colours.slice(5 - (uniq.length + 1)));
  const legendH = 46;
  const svg = el("svg", { xmlns: NS, width: w, height: mapH + legendH, viewBox: `0 0 ${w} ${mapH + legendH}`, class: "chart world-map", role: "img", "aria-label": ariaLabel });
  const g = el("g", { transform: `translate(4,${4 - y0})` });
  let drawn = 0;
  for (const f of features) {
    const c = byNum.get(String(f.id).padStart(3, "0"));
    const d = path(f);
    if (!d) continue;
    let fill = NONE, cls = "country", tip = f.properties?.name ?? f.id;
    if (c) {
      const code = c.key?.[dim];
      tip = `${countryName(code)} (${code})`;
      if (c.suppressed || c.count == null) {
        fill = SUPPRESSED;
        cls = "country suppressed-country";
        tip += ": suppressed";
      } else {
        fill = scale(c.count);
        cls = "country released-country";
        tip += `: ${fmt(c.count)} ± ${fmt(c.margin_of_error)}`;
      }
      drawn++;
    }
    const p = el("path", { d, fill, stroke: "#ffffff", "stroke-width": 0.5, class: cls, "data-iso3": c?.key?.[dim] ?? null });
    p.append(el("title", {}, tip));
    g.append(p);
  }
  svg.append(g);
  // The legend: the count classes, then suppressed and no figure.
  const lg = el("g", { transform: `translate(8,${mapH + 8})`, class: "map-legend" });
  const edges = [0, ...uniq];
  const classes = scale.range().map((col, i) => [col, i < edges.length - 1 ? `${fmt(edges[i])}–${fmt(edges[i + 1] - 1)}` : `${fmt(edges[i])}+`]);
  let x = 0;
  for (const [col, text] of [...classes, [SUPPRESSED, "suppressed"], [NONE, "no figure"]]) {
    const tw = 16 + text.length * 6;
    if (x + tw > w - 16) break;
    lg.append(el("rect", { x, y: 0, width: 12, height: 12, fill: col, stroke: "#8c959f", "stroke-width": 0.5 }), el("text", { x: x + 16, y: 10, "font-size": 11 }, text));
    x += tw + 10;
  }
  lg.append(el("text", { x: 0, y: 30, "font-size": 10, fill: "#59636e" }, "Classes hold about equal numbers of countries. Map: Natural Earth via world-atlas."));
  svg.append(lg);
  svg.dataset.countries = String(drawn);
  return svg;
}
