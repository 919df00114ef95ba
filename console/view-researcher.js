// The researcher's view (also a government's "Counts"): build a grouped
// count, see its cost for free, release it after a confirmation, and read
// it as a labelled chart (a crosstab and grouped bars for two dimensions,
// a ranked list and a world map for countries), with its caption, citation,
// downloads and the query as a permalink and as curl / Python / R.

import { h, fmt, fill, stat } from "./dom.js";
import { $, session, api, report, showAlert, clearAlert, confirmDialog, saveBlob, randomKey, unitSign, costField, focusHeading } from "./api.js";
import { cellBars, groupedBars, yearLine, widthOf } from "./charts.js";
import { cellRows, longRows, cellsTable, crosstab, valuesOf, LONG } from "./cells.js";
import { figureCard, cellColumns, overlapNote } from "./figure.js";
import { worldMap } from "./map.js";
import { howToRead } from "./methodology.js";
import { snippetBox, setPermalink } from "./snippets.js";
import { label, dimName, isCountryDim, t } from "./labels.js";

function dimensionsFor(role) {
  return (session.catalog?.dimensions ?? []).filter((d) => !d.roles || d.roles.includes(role));
}

/// The filters of a request in words ("registered 2021; gender: Woman, Man").
/// (The years are the period, `periodText`.)
export function filtersText(filters = {}) {
  const parts = [];
  for (const [d, v] of Object.entries(filters)) {
    if (d === "registration_year") continue;
    const list = Array.isArray(v) ? v : [v];
    parts.push(`${dimName(d)}: ${list.map((x) => label(d, x)).join(", ")}`);
  }
  return parts.length ? parts.join("; ") : "all cases";
}

/// The period a request covers, from its year filter or the whole domain.
export function periodText(filters = {}) {
  const years = (session.catalog?.dimensions ?? []).find((d) => d.name === "registration_year")?.values ?? [];
  const f = filters.registration_year;
  let from = years[0], to = years.at(-1);
  if (Array.isArray(f) && f.length) [from, to] = [f[0], f.at(-1)];
  else if (f) [from, to] = [f.from ?? from, f.to ?? to];
  return from == null ? "" : `registered ${from}${String(to) !== String(from) ? `–${to}` : ""}`;
}

/// A request body from a ledger entry's canonical query (for reopening a
/// past release as a free repeat): the same cells, filters and cost.
export function bodyFromCanonical(text) {
  let q;
  try {
    q = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(q?.dimensions) || q.cost_micro == null) return null;
  const filters = {};
  for (const f of q.filters ?? []) {
    const years = f.name === "registration_year" ? f.values.map(Number).sort((a, b) => a - b) : null;
    if (years && years.every((y, i) => i === 0 || y === years[i - 1] + 1)) filters.registration_year = { from: years[0], to: years.at(-1) };
    else filters[f.name] = f.values;
  }
  const body = { dimensions: q.dimensions.map((d) => d.name), filters };
  body[q.accounting === "zcdp" ? "rho" : "epsilon"] = q.cost_micro / 1e6;
  return body;
}

export async function renderCounts(view, params) {
  const ds = session.catalog;
  const dims = dimensionsFor(session.me.role);
  const cost = ds.cost ?? {};
  const form = h("form", { id: "count-form", noValidate: true });
  const dimChecks = h(
    "div",
    { className: "checks" },
    ...dims.map((d) =>
      h("label", { title: `${d.name}${d.description ? ": " + d.description : ""}` }, h("input", { type: "checkbox", name: "dimension", value: d.name }), dimName(d.name), d.kind === "multi" ? h("span", { className: "muted" }, " (several per case)") : null),
    ),
  );
  // The order the dimensions were ticked in is the order of the output.
  const picked = [];
  dimChecks.addEventListener("change", (ev) => {
    const v = ev.target.value;
    const i = picked.indexOf(v);
    if (ev.target.checked && i < 0) picked.push(v);
    if (!ev.target.checked && i >= 0) picked.splice(i, 1);
  });
  const summaryOf = (box) => {
    const on = [...box.querySelectorAll("input:checked")].map((i) => label(box.dataset.dimension, i.value));
    box.querySelector("summary").textContent = `${dimName(box.dataset.dimension)}: ${on.length ? on.join(", ") : "any"}`;
  };
  const filterBoxes = dims
    .filter((d) => d.name !== "registration_year")
    .map((d) =>
      h(
        "details",
        { "data-dimension": d.name },
        h("summary", {}, `${dimName(d.name)}: any`),
        h("div", { className: "checks" }, ...(d.values ?? []).map((v) => h("label", { title: String(v) }, h("input", { type: "checkbox", name: `filter-${d.name}`, value: v }), label(d.name, v)))),
      ),
    );
  for (const box of filterBoxes) box.addEventListener("change", () => summaryOf(box));
  const years = dims.find((d) => d.name === "registration_year");
  const yearValues = (years?.values ?? []).map(Number).filter(Number.isFinite);
  const u = unitSign();
  form.append(
    h("fieldset", {}, h("legend", {}, "Group by (in this order)"), dimChecks),
    h(
      "fieldset",
      {},
      h("legend", {}, "Keep only (optional)"),
      years
        ? h(
            "div",
            { className: "inline" },
            h("div", {}, h("label", { for: "year-from" }, "Registered from"), h("input", { id: "year-from", type: "number", min: yearValues[0], max: yearValues.at(-1), placeholder: String(yearValues[0] ?? "") })),
            h("div", {}, h("label", { for: "year-to" }, "to"), h("input", { id: "year-to", type: "number", min: yearValues[0], max: yearValues.at(-1), placeholder: String(yearValues.at(-1) ?? "") })),
          )
        : null,
      ...filterBoxes,
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Cost or accuracy"),
      h(
        "div",
        { className: "inline" },
        h("label", {}, h("input", { type: "radio", name: "by", value: "cost", checked: true }), ` Privacy cost ${u}`),
        h("input", { id: "cost", type: "number", step: "any", min: cost.min, max: cost.max, value: cost.default, "aria-label": `privacy cost ${u}` }),
        h("label", {}, h("input", { type: "radio", name: "by", value: "margin" }), " Target margin of error ±"),
        h("input", { id: "margin", type: "number", min: 1, step: 1, placeholder: "e.g. 20", "aria-label": "target margin of error" }),
      ),
      h("p", { className: "muted" }, `Cost between ${u} ${fmt(cost.min)} and ${fmt(cost.max)}; margins at ${fmt((ds.default_confidence ?? 0.95) * 100)} % confidence. A smaller cost gives a wider margin.`),
    ),
    h("button", { type: "submit", id: "estimate" }, "Estimate"),
  );
  const estimateBox = h("section", { className: "card", id: "estimate-box", hidden: true, "aria-live": "polite" });
  const resultBox = h("section", { className: "card", id: "result", hidden: true });
  fill(view, h("h1", {}, "Grouped counts"), h("section", { className: "card" }, form), estimateBox, resultBox);

  const request = () => {
    const dimensions = picked.filter((d) => form.querySelector(`input[name=dimension][value="${d}"]`)?.checked);
    const filters = {};
    for (const box of filterBoxes) {
      const on = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      if (on.length) filters[box.dataset.dimension] = on;
    }
    const from = $("year-from")?.value, to = $("year-to")?.value;
    if (from || to) {
      filters.registration_year = {};
      if (from) filters.registration_year.from = Number(from);
      if (to) filters.registration_year.to = Number(to);
    }
    const body = { dimensions, filters };
    if (form.querySelector("input[name=by]:checked").value === "margin") {
      body.accuracy = { margin: Number($("margin").value), confidence: session.catalog?.default_confidence ?? 0.95 };
    } else if ($("cost").value) {
      body[costField()] = Number($("cost").value);
    }
    return body;
  };

  /// Puts a request back into the form (a permalink, a reopened release).
  const restore = (body) => {
    for (const d of body.dimensions ?? []) {
      const box = form.querySelector(`input[name=dimension][value="${CSS.escape(d)}"]`);
      if (box && !box.checked) {
        box.checked = true;
        picked.push(d);
      }
    }
    for (const [d, v] of Object.entries(body.filters ?? {})) {
      if (d === "registration_year") {
        const list = Array.isArray(v) ? v.map(Number) : null;
        if ($("year-from")) $("year-from").value = String((list ? Math.min(...list) : v.from) ?? "");
        if ($("year-to")) $("year-to").value = String((list ? Math.max(...list) : v.to) ?? "");
        continue;
      }
      const box = filterBoxes.find((b) => b.dataset.dimension === d);
      if (!box) continue;
      for (const x of Array.isArray(v) ? v : [v]) {
        const i = box.querySelector(`input[value="${CSS.escape(String(x))}"]`);
        if (i) i.checked = true;
      }
      summaryOf(box);
    }
    const c = body.epsilon ?? body.rho;
    if (body.accuracy) {
      form.querySelector("input[name=by][value=margin]").checked = true;
      $("margin").value = String(body.accuracy.margin ?? "");
    } else if (c != null) $("cost").value = String(c);
  };

  const estimate = async () => {
    clearAlert();
    const body = request();
    if (!body.dimensions.length) {
      showAlert("Pick at least one dimension", "Tick the dimensions to group the counts by.");
      return;
    }
    setPermalink("counts", { q: JSON.stringify(body) });
    try {
      const est = await api("/v1/counts/estimate", { method: "POST", body });
      showEstimate(estimateBox, resultBox, body, est);
    } catch (e) {
      estimateBox.hidden = true;
      report(e);
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    estimate();
  });

  // A permalink (#/counts?q=...) restores its query and asks for its cost,
  // which is free; nothing is released without a click and a confirmation.
  const q = params?.get("q");
  if (q) {
    try {
      restore(JSON.parse(q));
      await estimate();
      view.dataset.restored = "true";
    } catch {
      showAlert("This link's query could not be read", "Build the query again with the form.");
    }
  }
}

function showEstimate(box, resultBox, body, est) {
  const u = unitSign();
  const after = est.budget.remaining - est.would_charge;
  const key = randomKey(); // one key per estimate: a double click is one charge
  const release = h("button", { type: "button", id: "release", disabled: !est.affordable || !est.global_affordable }, est.would_charge > 0 ? `Release for ${u} ${fmt(est.would_charge)}` : "Release (free repeat)");
  fill(
    box,
    h("h2", {}, "Estimate"),
    h(
      "div",
      { className: "stats" },
      stat(`cost (${u})`, fmt(est.cost), { id: "est-cost" }),
      stat(`would charge (${u})`, fmt(est.would_charge), { id: "est-charge" }),
      stat(`± margin per cell (${fmt(est.confidence * 100)} %)`, fmt(est.margin_of_error), { id: "est-margin" }),
      stat("cells", fmt(est.cells)),
      stat(`budget left now`, fmt(est.budget.remaining), { id: "est-remaining" }),
      stat(`budget left after`, fmt(after), { id: "est-after" }),
    ),
    !est.affordable
      ? h("p", { className: "error", id: "est-unaffordable" }, `Your remaining budget (${u} ${fmt(est.budget.remaining)}) does not cover this cost. Lower the cost, or ask for a wider margin.`)
      : !est.global_affordable
        ? h("p", { className: "error" }, "The dataset's global budget does not cover this cost.")
        : h("p", { className: "muted" }, est.would_charge > 0 ? `Cells below ${est.k} (after noise) are suppressed. Nothing is spent until you release.` : "You already paid for this release: releasing it again is free."),
    release,
    snippetBox({ method: "POST", path: "/v1/counts", body }),
  );
  box.hidden = false;
  box.scrollIntoView({ block: "start" });
  if (!est.affordable) offerWhatIsLeft(box, body, est).catch(() => {});
  release.addEventListener("click", async () => {
    const ok = await confirmDialog(
      "Spend privacy budget?",
      h("p", {}, est.would_charge > 0 ? `This release charges ${u} ${fmt(est.would_charge)} to your budget, leaving ${u} ${fmt(after)}. It cannot be undone.` : "You have already paid for this release: it is repeated free of charge."),
    );
    if (!ok) return;
    release.disabled = true;
    try {
      const res = await api("/v1/counts", { method: "POST", body, headers: { "Idempotency-Key": key } });
      session.me = { ...session.me, spent: res.budget.spent, remaining: res.budget.remaining };
      await showResult(resultBox, body, res);
      focusHeading(resultBox);
    } catch (e) {
      release.disabled = false;
      report(e);
    }
  });
}

/// When the budget does not cover a request: what the rest of the budget
/// would buy (an estimate, which is free), and a button to ask for that.
async function offerWhatIsLeft(box, body, est) {
  const u = unitSign();
  const left = Math.floor(est.budget.remaining * 1e6) / 1e6;
  const min = session.catalog?.cost?.min ?? 0;
  if (!(left > 0) || left < min) {
    box.append(h("p", { className: "muted", id: "est-alternative" }, `What is left (${u} ${fmt(left)}) is below the smallest cost a query may have (${u} ${fmt(min)}). Ask your operator for more budget.`));
    return;
  }
  const smaller = { dimensions: body.dimensions, filters: body.filters, [costField()]: left };
  const alt = await api("/v1/counts/estimate", { method: "POST", body: smaller });
  box.append(
    h(
      "p",
      { id: "est-alternative" },
      `With all you have left, ${u} ${fmt(left)}, the margin of error would be ± ${fmt(alt.margin_of_error)} per cell (instead of ± ${fmt(est.margin_of_error)}). `,
      h("button", { type: "button", className: "secondary", onclick: () => {
        document.querySelector("input[name=by][value=cost]").checked = true;
        $("cost").value = String(left);
        $("estimate").click();
      } }, `Use ${u} ${fmt(left)}`),
    ),
  );
}

/// The figures of a released count: the chart that suits its shape, with
/// its caption, notes and downloads.
export async function countFigures(cells, dims, ctx, { width, title, consistent = false, idPrefix = "result", csvName }) {
  const nSup = cells.filter((c) => c.suppressed).length;
  const overlap = overlapNote(dims);
  const csv = { columns: cellColumns(dims), rows: cells, name: csvName };
  const notes = [`Bars: the estimate; black lines: its margin of error at ${fmt(ctx.confidence * 100)} % confidence.`];
  const out = [];
  if (dims.length === 1 && dims[0] === "registration_year") {
    const chart = yearLine(cellRows(cells, dims), { width, ariaLabel: `${title}, as a line with its margin of error; ${nSup} years suppressed` });
    out.push(figureCard({ id: idPrefix, title, chart, ctx, csv, overlap, notes: ["Line: the estimate; band: its margin of error."], table: cellsTable(cells, dims) }));
  } else if (dims.length === 1 && cells.length > LONG) {
    const long = longRows(cells, dims[0]);
    const chart = cellBars(long.rows, { width, ariaLabel: `${title}: the ${Math.min(long.released, 15)} largest of ${long.released} released cells as bars, ${long.other} more grouped as Other, ${long.suppressed} suppressed` });
    out.push(figureCard({ id: idPrefix, title, chart, ctx, csv, overlap, notes: [...notes, `The ${Math.min(long.released, 15)} largest cells; "Other" sums the ${long.other} smaller released cells; the suppressed cells are counted in one line. Every cell is in the table and the CSV.`], table: cellsTable(cells, dims) }));
    if (isCountryDim(dims[0])) {
      const map = await worldMap(cells, dims[0], { width, ariaLabel: `${title} as a world map: ${long.released} countries shaded by count, ${long.suppressed} marked suppressed` });
      out.push(map ? figureCard({ id: `${idPrefix}-map`, title: t("map.title", { title }), chart: map, ctx, csv, className: "map-figure" }) : h("p", { className: "muted", id: `${idPrefix}-no-map` }, t("map.none")));
    }
  } else if (dims.length === 2 && valuesOf(cells, dims[0]).length <= LONG && valuesOf(cells, dims[1]).length <= 12) {
    const [gd, sd] = dims;
    const groups = valuesOf(cells, gd).map((v) => label(gd, v));
    const series = valuesOf(cells, sd).map((v) => label(sd, v));
    const rows = cells.map((c) => ({ group: label(gd, c.key?.[gd]), series: label(sd, c.key?.[sd]), count: c.count, moe: c.margin_of_error, suppressed: c.suppressed, title: `${label(gd, c.key?.[gd])} · ${label(sd, c.key?.[sd])}` }));
    const g = groupedBars(rows, { width, groups, series, ariaLabel: `${title}: bars grouped by ${dimName(gd)}, coloured by ${dimName(sd)}; ${cells.length - nSup} released, ${nSup} suppressed` });
    out.push(figureCard({ id: idPrefix, title, chart: g.chart, legend: g.colours, ctx, csv, overlap, notes: [...notes, "S: suppressed."], table: cellsTable(cells, dims) }));
    out.push(h("div", { className: "crosstab-box" }, crosstab(cells, dims, { consistent }), consistent ? null : h("p", { className: "note muted" }, "No totals: each cell carries its own noise, so a sum of cells is less precise than its parts (and a suppressed cell would leave it incomplete).")));
  } else if (cells.length > LONG) {
    // Too many cells to draw each (a country by anything): the largest
    // ranked, the rest grouped; a crosstab too for two dimensions.
    const long = longRows(cells, dims);
    const chart = cellBars(long.rows, { width, ariaLabel: `${title}: the largest of ${long.released} released cells as bars, ${long.other} more grouped as Other, ${long.suppressed} suppressed` });
    out.push(figureCard({ id: idPrefix, title, chart, ctx, csv, overlap, notes: [...notes, `The largest cells; "Other" sums the ${long.other} smaller released cells; the suppressed cells are counted in one line. Every cell is in the table and the CSV.`], table: cellsTable(cells, dims) }));
    if (dims.length === 2) out.push(h("div", { className: "crosstab-box" }, crosstab(cells, dims, { consistent })));
  } else {
    const chart = cellBars(cellRows(cells, dims), { width, ariaLabel: `${title}: ${cells.length - nSup} released cells as bars with margins of error, ${nSup} suppressed` });
    out.push(figureCard({ id: idPrefix, title, chart, ctx, csv, overlap, notes, table: cellsTable(cells, dims) }));
  }
  return out;
}

async function showResult(box, body, res) {
  const u = unitSign();
  const dims = res.dimensions;
  const nSup = res.cells.filter((c) => c.suppressed).length;
  const title = `Counts by ${dims.map(dimName).join(" × ")}`;
  box.hidden = false; // measured visible, so the chart takes the card's width
  const ctx = {
    dataset: res.dataset,
    title,
    filters: filtersText(body.filters),
    period: periodText(body.filters),
    spent: `${u} ${fmt(res.cost)}${res.repeat ? " (a free repeat: nothing charged now)" : ""}`,
    dataVersion: res.data_version,
    releaseId: res.release_id,
    k: res.k,
    confidence: res.confidence,
  };
  const figs = await countFigures(res.cells, dims, ctx, { width: widthOf(box) - 40, title, csvName: "counts.csv" });
  const margin = res.cells.find((c) => !c.suppressed)?.margin_of_error;
  fill(
    box,
    h("h2", { id: "result-heading" }, `Result: ${title}`),
    h(
      "div",
      { className: "stats" },
      stat(`charged (${u})`, fmt(res.charged), { id: "res-charged" }),
      stat(`budget left (${u})`, fmt(res.budget.remaining), { id: "res-remaining" }),
      stat("released cells", fmt(res.cells.length - nSup), { id: "res-released" }),
      stat("suppressed cells", fmt(nSup), { id: "res-suppressed" }),
      stat(`± margin (${fmt(res.confidence * 100)} %)`, fmt(margin)),
      stat("ledger entry", `#${res.ledger_seq}`, { id: "res-seq" }),
    ),
    howToRead({ k: res.k, confidence: res.confidence, overlap: !!overlapNote(dims) }),
    ...figs,
    h(
      "div",
      { className: "actions" },
      h("button", { type: "button", className: "secondary", id: "download-json", onclick: () => saveBlob(new Blob([JSON.stringify(res, null, 2)], { type: "application/json" }), `counts-${res.release_id}.json`) }, "Download JSON"),
      h("button", { type: "button", className: "secondary", id: "download-csv", onclick: () => box.querySelector("[data-export=csv]")?.click() }, "Download CSV"),
    ),
  );
  box.hidden = false;
}
