// National figures (governments) and regional figures (regional partners):
// the report's cost shown first, released on confirmation, then each table
// as a captioned figure (long country tables ranked with a world map,
// two-dimension tables as grouped bars and a crosstab, flows as an
// origin → destination matrix and ranked list), and a government's
// bilateral flow with another country.

import { h, fmt, fill, stat } from "./dom.js";
import { session, api, report, showAlert, clearAlert, confirmDialog, download, saveBlob, unitSign, focusHeading } from "./api.js";
import { cellBars, flowMatrix, widthOf } from "./charts.js";
import { cellsTable, LONG } from "./cells.js";
import { figureCard, cellColumns } from "./figure.js";
import { countFigures } from "./view-researcher.js";
import { howToRead } from "./methodology.js";
import { snippetBox, setPermalink } from "./snippets.js";
import { countryName, regionName, dimName, isMulti, t } from "./labels.js";

/// Who a perspective counts, in words.
function perspectiveText(perspective, area, regional) {
  const name = regional ? regionName(area) : countryName(area);
  return perspective === "citizenship"
    ? `${name} nationals${regional ? " (of the members)" : ""}, wherever exploited`
    : `victims identified in ${name}`;
}

/// The render of the national or regional view; `params`: the permalink
/// (`perspective=`), restored on load.
export async function renderNational(view, params) {
  const regional = session.me.role === "regional";
  const area = regional ? session.me.region : session.me.country;
  const base = regional ? `/v1/regional/${encodeURIComponent(area)}` : `/v1/national/${area}`;
  const region = regional ? (session.catalog?.regions ?? []).find((r) => r.id === area) : null;
  const u = unitSign();
  const perspective = h(
    "select",
    { id: "perspective" },
    h("option", { value: "country_of_exploitation" }, regional ? "Country of exploitation (victims identified in a member)" : "Country of exploitation (victims identified here)"),
    h("option", { value: "citizenship" }, regional ? "Citizenship (members' nationals, wherever exploited)" : "Citizenship (our nationals, wherever exploited)"),
  );
  if (params?.get("perspective") === "citizenship") perspective.value = "citizenship";
  const controls = h(
    "form",
    { className: "inline", id: "national-form" },
    h("div", { className: "grow" }, h("label", { for: "perspective" }, "Perspective"), perspective),
    h("button", { type: "submit", id: "national-load" }, "Show cost"),
  );
  const costBox = h("section", { className: "card", id: "national-cost", hidden: true, "aria-live": "polite" });
  const reportBox = h("div", { id: "national-report" });
  fill(
    view,
    h("h1", {}, regional ? `Regional figures: ${regionName(area)}` : `National figures: ${countryName(area)}`),
    region ? h("p", { className: "muted" }, `Members: ${region.members.map(countryName).join(", ")}. SDMX code ${region.code}.`) : null,
    h("section", { className: "card" }, controls),
    costBox,
    reportBox,
    regional ? null : bilateralCard(area),
  );

  const load = async () => {
    clearAlert();
    const q = `perspective=${encodeURIComponent(perspective.value)}`;
    setPermalink(regional ? "regional" : "national", { perspective: perspective.value });
    const tables = await api(`${base}/tables?${q}`);
    const charge = tables.report?.would_charge ?? 0;
    const go = h("button", { type: "button", id: "national-release" }, charge > 0 ? `Release the report for ${u} ${fmt(charge)}` : "Show the report (already paid for: free)");
    fill(
      costBox,
      h("h2", {}, "The annual report"),
      h("p", {}, `${tables.tables.length} tables, ${tables.from_year}–${tables.to_year}. Full cost ${u} ${fmt(tables.report?.cost)}; you would be charged ${u} ${fmt(charge)} now (tables you already paid for are free). Budget left: ${u} ${fmt(tables.budget?.remaining)}.`),
      go,
      snippetBox({ method: "GET", path: `${base}/report?${q}` }, "Set CTM_TOKEN to your token first. Once you have released the report, asking for it again is free."),
    );
    costBox.hidden = false;
    go.addEventListener("click", async () => {
      if (charge > 0) {
        const ok = await confirmDialog("Spend privacy budget?", h("p", {}, `Releasing the report charges ${u} ${fmt(charge)}, leaving ${u} ${fmt((tables.budget?.remaining ?? 0) - charge)}. Downloads of the same report afterwards are free.`));
        if (!ok) return;
      }
      go.disabled = true;
      try {
        const rep = await api(`${base}/report?${q}`);
        await showReport(reportBox, rep, q, base, regional ? area : rep.country);
        costBox.hidden = true;
        focusHeading(reportBox);
      } catch (e) {
        go.disabled = false;
        report(e);
      }
    });
  };
  controls.addEventListener("submit", (ev) => {
    ev.preventDefault();
    fill(reportBox);
    load().catch(report);
  });
  await load();
}

/// A table's release context, for its caption, citation and downloads.
function tableCtx(rep, tbl, area, regional) {
  const u = unitSign();
  return {
    dataset: rep.dataset,
    title: tbl.title,
    filters: perspectiveText(rep.perspective, area, regional),
    period: `registered ${rep.from_year}–${rep.to_year}`,
    spent: `${u} ${fmt(tbl.cost)}${tbl.repeat ? " (paid before: a free repeat)" : ""}`,
    dataVersion: rep.data_version,
    releaseId: tbl.release_id,
    k: rep.k,
    confidence: rep.confidence,
  };
}

/// Flows between two country dimensions: the matrix (members × members)
/// and the largest flows as a ranked list of origin → destination arrows.
function flowFigures(tbl, ctx, { width, order }) {
  const [fd, td] = tbl.dimensions;
  const cells = tbl.cells.map((c) => ({ from: c.key[fd], to: c.key[td], count: c.count, moe: c.margin_of_error, suppressed: c.suppressed }));
  const nSup = cells.filter((c) => c.suppressed).length;
  const matrix = flowMatrix(cells, { width, order: order.length ? order : [...new Set(cells.map((c) => c.from))], ariaLabel: `${tbl.title}: a matrix of ${cells.length} flows, ${nSup} suppressed` });
  const ranked = cells
    .filter((c) => !c.suppressed && c.count != null && c.count > 0)
    .sort((a, b) => b.count - a.count)
    .slice(0, 15)
    .map((c) => ({ label: `${countryName(c.from)} → ${countryName(c.to)}`, title: `${c.from} → ${c.to}`, count: c.count, moe: c.moe }));
  if (nSup) ranked.push({ label: t("suppressed.group", { n: nSup, what: "flows" }), kind: "suppressed-group", count: null });
  const csv = { columns: cellColumns(tbl.dimensions), rows: tbl.cells };
  return [
    figureCard({ id: tbl.id, title: tbl.title, chart: matrix, ctx, csv, notes: [`Rows: ${dimName(fd)} (origin); columns: ${dimName(td)} (destination). Shade and number: the estimate; S: suppressed.`], table: cellsTable(tbl.cells, tbl.dimensions) }),
    figureCard({ id: `${tbl.id}-ranked`, title: `${t("flows.title")}: ${tbl.title}`, chart: cellBars(ranked, { width, ariaLabel: `${tbl.title}: the ${ranked.length} largest flows, origin to destination` }), ctx, csv, className: "flows", notes: ["Each bar is one flow, from the country of citizenship to the country of exploitation; black lines: its margin of error."] }),
  ];
}

async function showReport(box, rep, q, base, area) {
  const u = unitSign();
  const regional = !!rep.region;
  // Two charts side by side on a wide screen, one per row on a narrow one.
  const full = widthOf(box);
  const width = full > 900 ? Math.floor(full / 2) - 60 : full - 40;
  const total = rep.tables.find((x) => x.consistent && x.total)?.total;
  const figs = [];
  for (const tbl of rep.tables) {
    const ctx = tableCtx(rep, tbl, area, regional);
    // Crosstabs, maps and flows take the whole row.
    const wide = tbl.dimensions.length === 2 || tbl.cells.length > LONG;
    const w = wide ? full - 40 : width;
    const consistency = tbl.total
      ? tbl.total.count == null
        ? "Total withheld (S)."
        : `Total ${fmt(tbl.total.count)} ± ${fmt(tbl.total.margin_of_error)}.`
      : "";
    const agree = tbl.consistent
      ? "Adjusted with the report's other tables: they add up to the same total."
      : tbl.dimensions.some(isMulti)
        ? "Not adjusted with the other tables (a victim may be in several cells)."
        : "Not adjusted with the other tables: it may differ from them within its margins.";
    const inner =
      tbl.id === "flow_within" && tbl.dimensions.length === 2
        ? flowFigures(tbl, ctx, { width: w, order: rep.region?.members ?? [] })
        : await countFigures(tbl.cells, tbl.dimensions, ctx, { width: w, title: tbl.title, consistent: tbl.consistent, idPrefix: tbl.id });
    figs.push(
      h(
        "section",
        { className: `card${tbl.consistent ? "" : " not-adjusted"}${wide ? " wide" : ""}`, "data-table": tbl.id, "data-consistent": String(tbl.consistent) },
        h("p", { className: `note consistency${tbl.consistent ? "" : " flag"}` }, tbl.consistent ? null : h("span", { className: "badge neutral" }, "not adjusted"), " ", `${consistency} ${agree}`.trim()),
        ...inner,
      ),
    );
  }
  const name = regional ? rep.region.code : rep.country;
  fill(
    box,
    h(
      "section",
      { className: "card" },
      h("h2", { id: "report-heading" }, `Report ${rep.from_year}–${rep.to_year}: ${perspectiveText(rep.perspective, area, regional)}`),
      h(
        "div",
        { className: "stats" },
        stat(`charged (${u})`, fmt(rep.charged), { id: "report-charged" }),
        stat(`budget left (${u})`, fmt(rep.budget?.remaining)),
        stat("tables", fmt(rep.tables.length)),
        total ? stat("victims in all (consistent total)", total.count == null ? "withheld (S)" : `${fmt(total.count)} ± ${fmt(total.margin_of_error)}`, { id: "report-total" }) : null,
      ),
      howToRead({ k: rep.k, confidence: rep.confidence, consistent: rep.consistent, overlap: rep.tables.some((x) => x.dimensions.some(isMulti)), report: true }),
      h(
        "div",
        { className: "actions" },
        h("button", { type: "button", className: "secondary", id: "download-report-csv", onclick: () => download(`${base}/report?${q}&format=csv`, "text/csv", `report-${name}.csv`).catch(report) }, "Download CSV"),
        h("button", { type: "button", className: "secondary", id: "download-report-sdmx", onclick: () => download(`${base}/report?${q}&format=sdmx`, "application/vnd.sdmx.data+csv", `report-${name}-sdmx.csv`).catch(report) }, "Download SDMX-CSV"),
        h("button", { type: "button", className: "secondary", id: "download-report-json", onclick: () => saveBlob(new Blob([JSON.stringify(rep, null, 2)], { type: "application/json" }), `report-${name}.json`) }, "Download JSON"),
      ),
    ),
    h("div", { className: "grid" }, ...figs),
  );
}

/// A government's bilateral flow with one other country: both directions
/// in one release, after a confirmation of its cost.
function bilateralCard(country) {
  const u = unitSign();
  const cost = session.catalog?.bilateral_cost;
  if (cost == null) return null;
  const countries = (session.catalog?.dimensions ?? []).find((d) => d.name === "citizenship")?.values ?? [];
  const other = h("input", { id: "bilateral-other", list: "bilateral-countries", autocomplete: "off", placeholder: "e.g. MEX", maxLength: 3, size: 6 });
  const result = h("div", { id: "bilateral-result", "aria-live": "polite" });
  const form = h(
    "form",
    { className: "inline", id: "bilateral-form", noValidate: true },
    h("div", {}, h("label", { for: "bilateral-other" }, "Other country (ISO alpha-3)"), other),
    h("datalist", { id: "bilateral-countries" }, ...countries.filter((c) => c !== country && c !== "unknown").map((c) => h("option", { value: c }, countryName(c)))),
    h("button", { type: "submit", id: "bilateral-go" }, `Release the flow (up to ${u} ${fmt(2 * cost)})`),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearAlert();
    const code = other.value.trim().toUpperCase();
    if (!/^[A-Z]{3}$/.test(code)) {
      showAlert("Name the other country", "Give its ISO 3166-1 alpha-3 code, such as MEX or THA.");
      return;
    }
    const ok = await confirmDialog("Spend privacy budget?", h("p", {}, `The flow between ${countryName(country)} and ${countryName(code)} (both directions) charges up to ${u} ${fmt(2 * cost)}; directions you already paid for are free.`));
    if (!ok) return;
    try {
      const rep = await api(`/v1/national/${country}/bilateral/${code}`);
      const [a, b] = [countryName(country), countryName(code)];
      const rows = rep.tables.map((tb) => {
        const c = tb.cells[0] ?? {};
        const out = tb.id === "outbound";
        return { label: out ? `${a} → ${b}` : `${b} → ${a}`, title: out ? `${a} nationals exploited in ${b} (${country} → ${code})` : `${b} nationals exploited in ${a} (${code} → ${country})`, count: c.count, moe: c.margin_of_error, suppressed: c.suppressed, release: tb.release_id };
      });
      const ctx = {
        dataset: rep.dataset,
        title: `Bilateral flow ${a} ↔ ${b}`,
        filters: "victims by citizenship → country of exploitation",
        period: `registered ${rep.from_year}–${rep.to_year}`,
        spent: `${u} ${fmt(rep.cost ?? rep.charged)} (charged now ${u} ${fmt(rep.charged)})`,
        dataVersion: rep.data_version,
        releaseId: rep.tables.map((x) => x.release_id).join(" + "),
        k: rep.k,
        confidence: rep.confidence,
      };
      const columns = [
        { name: "direction", value: (r) => r.title },
        { name: "count", value: (r) => (r.suppressed ? "" : r.count) },
        { name: "suppressed", value: (r) => String(!!r.suppressed) },
        { name: "margin_of_error", value: (r) => r.moe },
        { name: "release_id", value: (r) => r.release },
      ];
      fill(
        result,
        figureCard({
          id: "bilateral",
          title: ctx.title,
          chart: cellBars(rows, { width: widthOf(result) - 10, ariaLabel: `Bilateral flow between ${a} and ${b}: origin to destination` }),
          ctx,
          csv: { columns, rows },
          notes: ["Each bar is one direction, from the country of citizenship to the country of exploitation. Both directions are about your own country."],
          table: cellsTableOf(rows),
          open: true,
        }),
      );
    } catch (e) {
      report(e);
    }
  });
  return h("section", { className: "card", id: "bilateral" }, h("h2", {}, "Bilateral flow"), h("p", { className: "muted" }, "Your nationals exploited in another country, and that country's nationals exploited in yours, as one table for a bilateral agreement."), form, result);
}

function cellsTableOf(rows) {
  return cellsTable(
    rows.map((r) => ({ key: { direction: r.title }, count: r.count, suppressed: r.suppressed, margin_of_error: r.moe })),
    ["direction"],
    "Both directions",
  );
}
