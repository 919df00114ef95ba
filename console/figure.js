// Every figure of the console says what it is: a caption with the filters,
// the period, the budget spent, the data version and the release id; a
// ready citation with a copy button; CSV with that context as a header; SVG
// and PNG with title, notes, source and the suppression legend drawn in;
// and a link to the plain-language methodology.

import { h, fmt } from "./dom.js";
import { report } from "./api.js";
import { saveSvg, savePng, saveCsv } from "./export.js";
import { t, label, dimName, isMulti } from "./labels.js";

/// The context of one release, shared by its figures.
/// `{dataset, title, filters, period, spent, dataVersion, releaseId, k, confidence, unit}`.
export function citation(ctx) {
  const date = new Date().toISOString().slice(0, 10);
  return (
    `${ctx.title}. ${[ctx.filters, ctx.period].filter(Boolean).join("; ")}. ` +
    `CTM statistics service, dataset "${ctx.dataset}", data version ${ctx.dataVersion}, release ${ctx.releaseId} ` +
    `(differentially private counts; margins of error at ${fmt(ctx.confidence * 100)} % confidence; cells below ${ctx.k} suppressed). ` +
    `${location.origin}/console/, retrieved ${date}.`
  );
}

export function suppressionLegend(ctx) {
  return t("legend.suppressed", { k: ctx.k });
}

export function sourceLine(ctx) {
  return `Source: ${t("fig.source")}, dataset "${ctx.dataset}", data version ${ctx.dataVersion}, release ${ctx.releaseId}; budget spent ${ctx.spent}.`;
}

/// The `#` lines of a CSV download.
export function csvMeta(ctx, title, overlap) {
  return {
    title,
    filters: ctx.filters || "none",
    period: ctx.period,
    "release id": ctx.releaseId,
    "budget spent": ctx.spent,
    "data version": ctx.dataVersion,
    source: `${t("fig.source")}, dataset ${ctx.dataset}, ${location.origin}`,
    suppression: `suppressed=true: fewer than ${ctx.k} after noise; the count is withheld, not zero`,
    margin_of_error: `the noise in a cell is at most this with probability ${ctx.confidence}`,
    overlap,
    citation: citation({ ...ctx, title }),
  };
}

/// Columns of a cells CSV: each dimension's code and label, then the figures.
export function cellColumns(dims) {
  return [
    ...dims.flatMap((d) => [
      { name: d, value: (c) => c.key?.[d] ?? "" },
      { name: `${d}_label`, value: (c) => label(d, c.key?.[d]) },
    ]),
    { name: "count", value: (c) => (c.suppressed ? "" : c.count) },
    { name: "suppressed", value: (c) => (c.suppressed ? "true" : "false") },
    { name: "margin_of_error", value: (c) => c.margin_of_error },
  ];
}

/// The overlap warning for multi-valued dimensions, if any.
export function overlapNote(dims) {
  const multi = dims.filter(isMulti);
  return multi.length ? multi.map((d) => t("overlap", { dim: dimName(d) })).join(" ") : null;
}

function fileName(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "figure";
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = t("fig.copied");
  } catch {
    // No clipboard (an insecure page, or a refusal): select the text instead.
    const p = button.parentElement.querySelector(".citation");
    const range = document.createRange();
    range.selectNodeContents(p);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    button.textContent = "Press Ctrl+C to copy";
  }
}

/// A captioned figure with its context and downloads.
/// `chart`: an <svg> or a node holding one (exported as the image);
/// `legend`: [[label, colour]] (drawn here and into the exported image);
/// `notes`: plain-language notes; `overlap`: the multi-valued warning;
/// `csv`: {columns, rows, name?}; `table`: node.
export function figureCard({ id, title, chart, legend, notes = [], overlap = null, ctx, csv, table, open = false, className = "" }) {
  const svg = () => (chart instanceof SVGElement ? chart : chart?.querySelector?.("svg"));
  const name = fileName(`${title}-${(ctx.releaseId ?? "").slice(0, 12)}`);
  const exportCtx = () => ({
    title,
    subtitle: [ctx.filters, ctx.period].filter(Boolean).join("; "),
    notes: [overlap, ...notes].filter(Boolean),
    legend,
    suppression: suppressionLegend(ctx),
    source: sourceLine(ctx),
  });
  const act = (fn) => () => {
    try {
      const r = fn();
      if (r?.catch) r.catch(report);
    } catch (e) {
      report(e);
    }
  };
  const cite = citation({ ...ctx, title });
  const citeButton = h("button", { type: "button", className: "secondary small", "data-action": "cite" }, t("fig.cite"));
  citeButton.addEventListener("click", () => copy(cite, citeButton));
  const hasSvg = !!svg();
  return h(
    "figure",
    { className: `fig ${className}`.trim(), "data-figure": id, "data-release": ctx.releaseId ?? "" },
    h(
      "figcaption",
      {},
      h("span", { className: "fig-title" }, title),
      h(
        "span",
        { className: "fig-meta" },
        [ctx.filters, ctx.period, `budget spent ${ctx.spent}`, `data version ${ctx.dataVersion}`].filter(Boolean).join(" · "),
        " · release ",
        h("code", { className: "release-id" }, ctx.releaseId ?? "–"),
      ),
    ),
    legend?.length ? legendList(legend) : null,
    chart,
    h(
      "div",
      { className: "fig-notes" },
      overlap ? h("p", { className: "note overlap", "data-overlap": "true" }, overlap) : null,
      ...notes.filter(Boolean).map((n) => h("p", { className: "note" }, n)),
      h("p", { className: "note suppression-legend" }, suppressionLegend(ctx), " ", h("a", { href: "#/methodology", className: "howto" }, t("fig.howto"))),
    ),
    table ? h("details", { open }, h("summary", {}, t("fig.table")), table) : null,
    h(
      "div",
      { className: "actions fig-actions" },
      csv ? h("button", { type: "button", className: "secondary small", "data-export": "csv", onclick: act(() => saveCsv(csvMeta(ctx, title, overlap), csv.columns, csv.rows, csv.name ?? `${name}.csv`)) }, t("fig.csv")) : null,
      hasSvg ? h("button", { type: "button", className: "secondary small", "data-export": "svg", onclick: act(() => saveSvg(svg(), exportCtx(), name)) }, t("fig.svg")) : null,
      hasSvg ? h("button", { type: "button", className: "secondary small", "data-export": "png", onclick: act(() => savePng(svg(), exportCtx(), name)) }, t("fig.png")) : null,
    ),
    h("details", { className: "cite" }, h("summary", {}, "Cite this figure"), h("p", { className: "citation" }, cite), citeButton),
  );
}

/// A legend of categorical colours, built in the page (Plot's own legends
/// rely on inline styles).
export function legendList(entries) {
  return h(
    "ul",
    { className: "legend", "aria-hidden": "true" },
    ...entries.map(([lab, colour]) => {
      const sw = h("span", { className: "sw" });
      sw.style.background = colour;
      return h("li", {}, sw, lab);
    }),
  );
}
