// Released cells made readable: labelled rows for charts and tables, long
// one-dimension tables (250 countries) sorted by count with the top cells
// shown and the rest grouped, suppressed cells counted as one group, and
// two-dimension results as a crosstab (rows by columns, totals where the
// table is consistent).

import { h, fmt } from "./dom.js";
import { dataTable } from "./charts.js";
import { t, label, dimName, isCountryDim, isMulti } from "./labels.js";

/// How many cells a long table shows before it groups the rest.
export const TOP = 15;
/// Tables with more cells than this are treated as long.
export const LONG = 20;

const keyOf = (c, dims) => dims.map((d) => String(c.key?.[d] ?? "")).join(" · ");
const labelOf = (c, dims) => dims.map((d) => label(d, c.key?.[d])).join(" · ");

/// Cells as chart rows, labelled, in the order given.
export function cellRows(cells, dims) {
  return cells.map((c) => ({
    label: labelOf(c, dims),
    title: `${labelOf(c, dims)} (${keyOf(c, dims)})`,
    x: dims.length === 1 ? Number(c.key?.[dims[0]]) : null,
    count: c.count,
    moe: c.margin_of_error,
    suppressed: c.suppressed,
  }));
}

/// A long one-dimension table as chart rows: released cells by count, the
/// top `TOP`, then "Other (N)" summing the rest of the released cells, then
/// one line for all the suppressed cells ("141 countries suppressed").
/// (`dims`: one dimension, or several, whose cells are then ranked as "a · b".)
export function longRows(cells, dims) {
  const list = Array.isArray(dims) ? dims : [dims];
  const rows = cellRows(cells, list);
  const released = rows.filter((r) => !r.suppressed && r.count != null).sort((a, b) => b.count - a.count);
  const nSup = rows.length - released.length;
  const what = list.length === 1 && isCountryDim(list[0]) ? t("other.countries") : list.length === 1 ? t("other.values") : "cells";
  const out = released.slice(0, TOP);
  const rest = released.slice(TOP);
  if (rest.length) {
    out.push({
      label: t("other", { n: rest.length }),
      title: `${rest.length} more ${what}: ${rest.map((r) => r.label).join(", ")}`,
      count: rest.reduce((s, r) => s + r.count, 0),
      moe: null,
      kind: "other",
    });
  }
  if (nSup) {
    out.push({
      label: t("suppressed.group", { n: nSup, what }),
      title: rows.filter((r) => r.suppressed || r.count == null).map((r) => r.label).join(", "),
      kind: "suppressed-group",
      count: null,
    });
  }
  return { rows: out, released: released.length, suppressed: nSup, other: rest.length };
}

/// The table of a result's cells: each dimension's label (code in the
/// tooltip), the count and its margin; long tables sorted by count.
export function cellsTable(cells, dims, caption) {
  const sorted = cells.length > LONG ? [...cells].sort((a, b) => (b.count ?? -1) - (a.count ?? -1)) : cells;
  return dataTable(
    sorted,
    [
      ...dims.map((d) => ({ label: dimName(d), value: (c) => label(d, c.key?.[d]), title: (c) => String(c.key?.[d] ?? "") })),
      { label: "count", num: true, value: (c) => (c.suppressed ? h("span", { className: "suppressed" }, t("suppressed")) : fmt(c.count)) },
      { label: "± margin", num: true, value: (c) => fmt(c.margin_of_error) },
    ],
    caption,
    caption ?? `Figures by ${dims.map(dimName).join(" and ")}`,
  );
}

/// Distinct values of `dim` in the cells, in the order they come.
export function valuesOf(cells, dim) {
  const seen = new Set();
  for (const c of cells) seen.add(String(c.key?.[dim] ?? ""));
  return [...seen];
}

/// A crosstab of a two-dimension result: rows are the first dimension's
/// values, columns the second's. Totals are shown only where they are
/// sound: the table is consistent (its cells were estimated to add up),
/// neither dimension is multi-valued (a case in several cells would be
/// counted twice), and no cell of that row or column is suppressed.
export function crosstab(cells, dims, { consistent = false, caption } = {}) {
  const [rd, cd] = dims;
  const rowsV = valuesOf(cells, rd);
  const colsV = valuesOf(cells, cd);
  const at = new Map(cells.map((c) => [`${c.key?.[rd]}\u0000${c.key?.[cd]}`, c]));
  const totals = consistent && !isMulti(rd) && !isMulti(cd);
  const cellText = (c) => (!c ? "–" : c.suppressed ? h("span", { className: "suppressed", title: t("suppressed") }, "S") : fmt(c.count));
  const sum = (list) => (list.some((c) => !c || c.suppressed || c.count == null) ? null : list.reduce((s, c) => s + c.count, 0));
  const rowTotal = (r) => sum(colsV.map((v) => at.get(`${r}\u0000${v}`)));
  const colTotal = (v) => sum(rowsV.map((r) => at.get(`${r}\u0000${v}`)));
  const totalText = (x) => (x == null ? h("span", { className: "muted", title: "not shown: a cell of this line is suppressed" }, "–") : fmt(x));
  const table = h(
    "table",
    { className: "crosstab" },
    h("caption", {}, caption ?? t("crosstab.title", { rows: dimName(rd), cols: dimName(cd) })),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, `${dimName(rd)} \\ ${dimName(cd)}`),
        ...colsV.map((v) => h("th", { scope: "col", className: "num", title: v }, label(cd, v))),
        totals ? h("th", { scope: "col", className: "num" }, t("crosstab.total")) : null,
      ),
    ),
    h(
      "tbody",
      {},
      ...rowsV.map((r) =>
        h(
          "tr",
          {},
          h("th", { scope: "row", title: r }, label(rd, r)),
          ...colsV.map((v) => h("td", { className: "num" }, cellText(at.get(`${r}\u0000${v}`)))),
          totals ? h("td", { className: "num total" }, totalText(rowTotal(r))) : null,
        ),
      ),
    ),
    totals
      ? h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, t("crosstab.total")), ...colsV.map((v) => h("td", { className: "num total" }, totalText(colTotal(v)))), h("td", { className: "num total" }, totalText(sum(cells)))))
      : null,
  );
  return h("div", { className: "table-wrap crosstab-wrap", tabIndex: 0, role: "region", "aria-label": `Crosstab of ${dimName(rd)} by ${dimName(cd)}`, "data-crosstab": dims.join(",") }, table);
}
