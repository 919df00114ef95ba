// The catalog, for every role: the dataset's terms (accounting, unit of
// privacy, k, cost bounds, budgets by role) and each dimension with its
// values, as labels with their codes.

import { h, fmt, fill, stat } from "./dom.js";
import { session } from "./api.js";
import { dataTable } from "./charts.js";
import { label, dimName } from "./labels.js";

export async function renderCatalog(view) {
  const ds = session.catalog;
  const u = ds.unit === "rho" ? "ρ" : "ε";
  const values = (d) => {
    const v = (d.values ?? []).map((x) => label(d.name, x));
    return v.length > 12 ? `${v.slice(0, 12).join(", ")} … (${v.length})` : v.join(", ");
  };
  fill(
    view,
    h("h1", {}, "Catalog"),
    h(
      "section",
      { className: "card" },
      h("h2", {}, ds.title ?? ds.id),
      h("p", {}, ds.description ?? ""),
      h(
        "div",
        { className: "stats" },
        stat("accounting", `${ds.accounting} (${ds.mechanism})`),
        stat("unit of privacy", ds.unit_of_privacy),
        stat("k (suppression)", fmt(ds.k)),
        stat(`cost: default ${u}`, fmt(ds.cost?.default)),
        stat(`cost: min – max ${u}`, `${fmt(ds.cost?.min)} – ${fmt(ds.cost?.max)}`),
        stat("max dimensions · cells", `${ds.max_dimensions} · ${fmt(ds.max_cells)}`),
      ),
      h("h3", {}, "Lifetime budgets by role"),
      dataTable(Object.entries(ds.role_budgets ?? {}), [
        { label: "role", value: ([r]) => r },
        { label: `budget (${u})`, num: true, value: ([, b]) => fmt(b) },
      ], null, "Lifetime budgets by role"),
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Dimensions"),
      dataTable(ds.dimensions ?? [], [
        { label: "name", value: (d) => h("span", {}, dimName(d.name), " ", h("code", {}, d.name)) },
        { label: "kind", value: (d) => (d.kind === "multi" ? "several per case (cells overlap)" : "one per case") },
        { label: "roles", value: (d) => (d.roles ?? []).join(", ") },
        { label: "values", value: values, title: (d) => (d.values ?? []).join(", ") },
        { label: "about", value: (d) => d.description ?? "" },
      ], null, "Dimensions"),
    ),
  );
}
