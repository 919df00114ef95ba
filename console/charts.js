// Charts of the console, drawn with Observable Plot (vendor/plot.umd.min.js).
//
// Every chart comes inside a <figure> with a caption, an aria-label saying
// what it shows, and its figures as a table a screen reader (or a person
// who prefers numbers) can read. Suppressed cells are drawn as a marked
// "suppressed" label, never as a zero-length bar: a reader must not take
// "too few to publish" for "none".

import { h, fmt } from "./dom.js";

const ACCENT = "#1d4e89";
const WARN = "#9a6700";
export const EVENT_COLOURS = {
  charge: "#1d4e89",
  replay: "#6e7781",
  refusal: "#b42318",
  budget_change: "#9a6700",
};

/// Plot appends <style> elements to what it draws; the console's CSP allows
/// no inline style, so they are removed before the chart enters the page
/// (console.css carries the same rules for the `chart` class). The chart is
/// one image to assistive technology: `role="img"` with its label on the
/// <svg>, and no `aria-label` on inner groups and marks (an `aria-label` on
/// an element without a role is not announced, and axe-core flags it);
/// each mark keeps its <title> tooltip, and the figures are in the table.
export function clean(node) {
  for (const s of node.querySelectorAll("style")) s.remove();
  const svg = node instanceof SVGSVGElement ? node : node.querySelector("svg");
  for (const e of node.querySelectorAll("[aria-label]")) if (e !== svg) e.removeAttribute("aria-label");
  for (const e of node.querySelectorAll("[aria-description]")) e.removeAttribute("aria-description");
  if (svg) {
    svg.setAttribute("role", "img");
    if (!svg.getAttribute("aria-label")) svg.setAttribute("aria-label", "chart");
  }
  return node;
}

/// The width a chart should take in `container`.
export function widthOf(container) {
  const w = container?.clientWidth || 800;
  return Math.max(300, Math.min(w - 4, 1100));
}

/// A captioned figure: the chart, an optional legend and note, and the
/// figures as a table inside a disclosure.
export function figure({ title, chart, legend, note, table, open = false }) {
  return h(
    "figure",
    {},
    h("figcaption", {}, title),
    legend ?? null,
    chart,
    note ? h("p", { className: "note" }, note) : null,
    table
      ? h("details", { open }, h("summary", {}, "Show the figures as a table"), table)
      : null,
  );
}

/// A legend of categorical colours, built in the page (Plot's own legends
/// rely on inline styles).
export function legend(entries) {
  return h(
    "ul",
    { className: "legend", "aria-hidden": "true" },
    ...entries.map(([label, colour]) => {
      const sw = h("span", { className: "sw" });
      sw.style.background = colour;
      return h("li", {}, sw, label);
    }),
  );
}

/// Released cells as horizontal bars with their margin of error drawn as
/// error bars; suppressed cells as a marked label on the axis.
/// `rows`: [{label, count, moe, suppressed, title?, kind?}] in display
/// order; `kind: "other"` is the sum of the smaller cells (a grey bar, no
/// margin), `kind: "suppressed-group"` a line saying how many cells were
/// withheld.
export function cellBars(rows, { width, ariaLabel, xLabel = "count" }) {
  const isGroup = (r) => r.kind === "suppressed-group";
  const released = rows.filter((r) => !r.kind && !r.suppressed && r.count != null);
  const other = rows.filter((r) => r.kind === "other" && r.count != null);
  const suppressed = rows.filter((r) => !r.kind && (r.suppressed || r.count == null));
  const groups = rows.filter(isGroup);
  const longest = Math.max(4, ...rows.filter((r) => !isGroup(r)).map((r) => r.label.length));
  const max = Math.max(1, ...released.map((r) => r.count + r.moe), ...other.map((r) => r.count));
  const tip = (r) => r.title ?? r.label;
  const plot = window.Plot.plot({
    width,
    height: 34 + rows.length * 22,
    marginLeft: Math.min(Math.max(120, Math.floor(width * 0.42)), 12 + longest * 6.6),
    marginRight: 24,
    className: "chart",
    ariaLabel,
    x: { label: xLabel, grid: true, domain: [0, max * 1.05], nice: true },
    y: { label: null, domain: rows.map((r) => r.label), padding: 0.2, tickFormat: (l) => (groups.some((g) => g.label === l) ? "" : l) },
    marks: [
      window.Plot.barX(released, {
        x: "count",
        y: "label",
        fill: ACCENT,
        className: "released-bar",
        title: (r) => `${tip(r)}\n${fmt(r.count)} ± ${fmt(r.moe)}`,
      }),
      window.Plot.barX(other, {
        x: "count",
        y: "label",
        fill: "#8c959f",
        className: "other-bar",
        title: (r) => `${tip(r)}\n${fmt(r.count)} in all (sum of released cells)`,
      }),
      window.Plot.ruleY(released, {
        y: "label",
        x1: (r) => Math.max(0, r.count - r.moe),
        x2: (r) => r.count + r.moe,
        stroke: "#000",
        strokeWidth: 1.5,
        className: "error-bar",
        ariaHidden: true,
      }),
      window.Plot.text(suppressed, {
        y: "label",
        x: 0,
        text: () => "suppressed",
        textAnchor: "start",
        dx: 4,
        fill: WARN,
        fontStyle: "italic",
        className: "suppressed-mark",
        title: (r) => `${tip(r)}: suppressed`,
      }),
      window.Plot.text(groups, {
        y: "label",
        text: "label",
        x: 0,
        textAnchor: "start",
        dx: 4,
        fill: WARN,
        fontStyle: "italic",
        className: "suppressed-group",
        title: (r) => r.title ?? r.label,
      }),
      window.Plot.ruleX([0]),
    ],
  });
  return clean(plot);
}

/// Cells of two dimensions as bars grouped by the first and coloured by
/// the second, each with its margin as an error bar; suppressed cells
/// marked "S" in their group. `rows`: [{group, series, count, moe,
/// suppressed, title}]; returns {chart, colours: [[series, colour]]}.
export function groupedBars(rows, { width, ariaLabel, groups, series, xLabel = "count" }) {
  const released = rows.filter((r) => !r.suppressed && r.count != null);
  const suppressed = rows.filter((r) => r.suppressed || r.count == null);
  const longest = Math.max(4, ...groups.map((g) => g.length));
  const max = Math.max(1, ...released.map((r) => r.count + r.moe));
  const marginLeft = Math.min(Math.max(110, Math.floor(width * 0.35)), 12 + longest * 6.6);
  const plot = window.Plot.plot({
    width,
    height: 40 + groups.length * (series.length * 12 + 10),
    marginLeft,
    marginRight: 24,
    className: "chart",
    ariaLabel,
    x: { label: xLabel, grid: true, domain: [0, max * 1.05], nice: true },
    y: { domain: series, axis: null, padding: 0.1 },
    fy: { domain: groups, label: null, axis: "left", padding: 0.15 },
    color: { domain: series, scheme: "tableau10" },
    marks: [
      window.Plot.barX(released, { x: "count", y: "series", fy: "group", fill: "series", className: "released-bar", title: (r) => `${r.title}\n${fmt(r.count)} ± ${fmt(r.moe)}` }),
      window.Plot.ruleY(released, { y: "series", fy: "group", x1: (r) => Math.max(0, r.count - r.moe), x2: (r) => r.count + r.moe, stroke: "#000", strokeWidth: 1, className: "error-bar", ariaHidden: true }),
      window.Plot.text(suppressed, { y: "series", fy: "group", x: 0, text: () => "S", dx: 4, textAnchor: "start", fill: WARN, fontWeight: "bold", className: "suppressed-mark", title: (r) => `${r.title}: suppressed` }),
      window.Plot.ruleX([0]),
    ],
  });
  const scale = plot.scale("color");
  const colours = scale ? scale.domain.map((d, i) => [d, scale.range[i % scale.range.length]]) : [];
  return { chart: clean(plot), colours };
}

/// A count per year as a line with its margin of error as a band;
/// suppressed years break the line and are marked on the axis.
/// `rows`: [{x (year), count, moe, suppressed}].
export function yearLine(rows, { width, ariaLabel }) {
  const released = rows.filter((r) => !r.suppressed && r.count != null);
  const suppressed = rows.filter((r) => r.suppressed || r.count == null);
  const line = rows.map((r) => ({ ...r, y: r.suppressed ? NaN : r.count }));
  const plot = window.Plot.plot({
    width,
    height: 260,
    marginLeft: 50,
    className: "chart",
    ariaLabel,
    x: { label: "year", tickFormat: "d", ticks: Math.min(rows.length, 12) },
    y: { label: "count", grid: true, zero: true },
    marks: [
      window.Plot.areaY(released, {
        x: "x",
        y1: (r) => Math.max(0, r.count - r.moe),
        y2: (r) => r.count + r.moe,
        fill: ACCENT,
        fillOpacity: 0.18,
        className: "margin-band",
        ariaHidden: true,
      }),
      window.Plot.lineY(line, { x: "x", y: "y", stroke: ACCENT, strokeWidth: 2, ariaHidden: true }),
      window.Plot.dot(released, {
        x: "x",
        y: "count",
        fill: ACCENT,
        r: 3,
        className: "released-point",
        ariaLabel: (r) => `${r.x}: ${fmt(r.count)} ± ${fmt(r.moe)}`,
        title: (r) => `${r.x}\n${fmt(r.count)} ± ${fmt(r.moe)}`,
      }),
      window.Plot.text(suppressed, {
        x: "x",
        y: 0,
        text: () => "S",
        dy: -8,
        fill: WARN,
        fontWeight: "bold",
        className: "suppressed-mark",
        ariaLabel: (r) => `${r.x}: suppressed`,
        title: () => "suppressed",
      }),
      window.Plot.ruleY([0]),
    ],
  });
  return clean(plot);
}

/// The ledger as a timeline: one dot per entry, a row per event kind.
export function timeline(entries, { width, ariaLabel }) {
  const events = Object.keys(EVENT_COLOURS);
  const plot = window.Plot.plot({
    width,
    height: 200,
    marginLeft: 100,
    className: "chart",
    ariaLabel,
    x: { type: "utc", label: "time", grid: true },
    y: { domain: events, label: null },
    color: { domain: events, range: events.map((e) => EVENT_COLOURS[e]) },
    marks: [
      window.Plot.dot(entries, {
        x: (e) => new Date(e.at),
        y: "event",
        fill: "event",
        r: 3.5,
        fillOpacity: 0.75,
        className: "ledger-dot",
        ariaLabel: (e) => `#${e.seq} ${e.event} ${e.consumer_id}`,
        title: (e) =>
          `#${e.seq} ${e.at}\n${e.event} · ${e.consumer_id} · ${e.outcome}` +
          (e.cost_micro ? `\ncost ${fmt(e.cost_micro / 1e6)}` : ""),
      }),
    ],
  });
  return clean(plot);
}

/// Cumulative spend per consumer over time, with the limit as a dashed
/// rule: as a share of each consumer's own limit (`limit` omitted: 100 %),
/// or in budget units against one `limit`.
/// `points`: [{consumer, at (Date), spent, limit, pct}].
export function spendLines(points, { width, ariaLabel, limit, unit = "ε" }) {
  const absolute = limit != null;
  const y = absolute ? "spent" : "pct";
  const rule = absolute ? limit : 100;
  const plot = window.Plot.plot({
    width,
    height: 280,
    marginLeft: 50,
    className: "chart",
    ariaLabel,
    x: { type: "utc", label: "time", grid: true },
    y: {
      label: absolute ? `spent (${unit})` : "% of own limit spent",
      grid: true,
      domain: [0, Math.max(rule, ...points.map((p) => p[y])) * 1.05],
    },
    color: { type: "categorical" },
    marks: [
      window.Plot.ruleY([rule], { stroke: "#b42318", strokeDasharray: "4,3", className: "limit-rule" }),
      window.Plot.text([rule], { y: (d) => d, text: () => (absolute ? `limit ${fmt(rule)}` : "limit"), frameAnchor: "right", dy: -7, fill: "#b42318" }),
      window.Plot.line(points, {
        x: "at",
        y,
        z: "consumer",
        stroke: "consumer",
        curve: "step-after",
        strokeWidth: 2,
        className: "spend-line",
      }),
      window.Plot.dot(points, {
        x: "at",
        y,
        fill: "consumer",
        r: 2.5,
        title: (p) => `${p.consumer}\n${p.at.toISOString()}\n${fmt(p.spent)} of ${fmt(p.limit)} (${p.pct.toFixed(1)} %)`,
        ariaHidden: true,
      }),
    ],
  });
  const scale = plot.scale("color");
  const colours = scale ? scale.domain.map((d, i) => [d, scale.range[i % scale.range.length]]) : [];
  return { chart: clean(plot), colours };
}

/// A flow matrix: rows are citizenship, columns country of exploitation,
/// each released cell a shaded square with its count; suppressed cells
/// marked "S", never shaded as zero.
/// `cells`: [{from, to, count, moe, suppressed}].
export function flowMatrix(cells, { width, ariaLabel, order }) {
  const released = cells.filter((c) => !c.suppressed && c.count != null);
  const suppressed = cells.filter((c) => c.suppressed || c.count == null);
  const side = Math.min(56, Math.max(30, Math.floor((width - 120) / Math.max(1, order.length))));
  const plot = window.Plot.plot({
    width: 120 + side * order.length,
    height: 70 + side * order.length,
    marginLeft: 70,
    marginTop: 50,
    className: "chart",
    ariaLabel,
    x: { domain: order, axis: "top", label: "country of exploitation →", tickSize: 0 },
    y: { domain: order, label: "citizenship ↓", tickSize: 0 },
    color: { type: "sqrt", scheme: "blues", domain: [0, Math.max(1, ...released.map((c) => c.count))] },
    marks: [
      window.Plot.cell(released, {
        x: "to",
        y: "from",
        fill: "count",
        inset: 1,
        className: "flow-cell",
        ariaLabel: (c) => `${c.from} to ${c.to}: ${fmt(c.count)} ± ${fmt(c.moe)}`,
        title: (c) => `${c.from} nationals exploited in ${c.to}\n${fmt(c.count)} ± ${fmt(c.moe)}`,
      }),
      window.Plot.text(released, {
        x: "to",
        y: "from",
        text: (c) => fmt(c.count),
        fill: "black",
        stroke: "white",
        strokeWidth: 3,
        paintOrder: "stroke",
        ariaHidden: true,
      }),
      window.Plot.text(suppressed, {
        x: "to",
        y: "from",
        text: () => "S",
        fill: WARN,
        fontWeight: "bold",
        className: "suppressed-mark",
        ariaLabel: (c) => `${c.from} to ${c.to}: suppressed`,
        title: () => "suppressed",
      }),
    ],
  });
  return clean(plot);
}

/// A flat table: `columns` are [{label, value: row => text|Node, num?}].
/// The box scrolls (a long table on a phone): it is focusable and labelled,
/// so keyboard users can scroll it too.
export function dataTable(rows, columns, caption, label) {
  return h(
    "div",
    { className: "table-wrap", tabIndex: 0, role: "region", "aria-label": label ?? caption ?? "table" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col", className: c.num ? "num" : "" }, c.label)))),
      h(
        "tbody",
        {},
        ...rows.map((r) =>
          h("tr", {}, ...columns.map((c) => h("td", { className: c.num ? "num" : "", title: c.title?.(r) ?? null }, c.value(r)))),
        ),
      ),
    ),
  );
}
