// Human labels: the names of dimensions, values, countries and regions, as
// the catalog carries them per language (`dimensions[].labels`,
// `countries`, `regions[].labels`), and the console's own words (`UI`, one
// table per language). A code with no label is shown as itself; codes stay
// the identifiers everywhere (requests, CSV, SDMX) and are shown in
// tooltips next to their labels.

/// The console's own words. English is complete; French and Spanish have
/// every key and fall back to English where a string is not translated yet.
const UI = {
  en: {
    "view.counts": "Counts",
    "view.national": "National figures",
    "view.regional": "Regional figures",
    "view.budget": "My budget",
    "view.audit": "Ledger",
    "view.admin": "Budgets",
    "view.catalog": "Catalog",
    "view.methodology": "How to read the figures",
    suppressed: "suppressed",
    "suppressed.group": "{n} {what} suppressed",
    other: "Other ({n})",
    "other.countries": "countries",
    "other.values": "values",
    "fig.csv": "CSV",
    "fig.svg": "SVG",
    "fig.png": "PNG",
    "fig.cite": "Copy citation",
    "fig.copied": "Citation copied",
    "fig.howto": "How to read this figure",
    "fig.table": "Show the figures as a table",
    "fig.source": "CTM statistics service, differentially private counts",
    "legend.suppressed": "S or suppressed: fewer than {k} after noise; withheld, not zero.",
    "legend.margin": "Lines and ± figures: the margin of error at {c} % confidence.",
    "overlap": "A case can be in several cells of {dim}: the cells overlap and do not add up to the number of cases.",
    "map.title": "Map: {title}",
    "map.none": "The map could not be drawn (map data not available); the figures are in the table.",
    "flows.title": "Largest flows, origin → destination",
    "crosstab.title": "{rows} by {cols}",
    "crosstab.total": "Total",
  },
  fr: {},
  es: {},
};
for (const lang of ["fr", "es"]) for (const k of Object.keys(UI.en)) UI[lang][k] ??= null;

const state = { lang: "en", dims: new Map(), countries: {}, regions: new Map() };

/// Reads the labels of the catalog's dataset and picks the language: the
/// first of the browser's languages the catalog has labels in, else English.
export function setCatalog(ds) {
  state.dims = new Map((ds?.dimensions ?? []).map((d) => [d.name, d]));
  state.countries = ds?.countries ?? {};
  state.regions = new Map((ds?.regions ?? []).map((r) => [r.id, r]));
  const have = new Set(["en"]);
  for (const d of ds?.dimensions ?? []) for (const l of Object.keys(d.labels ?? {})) have.add(l);
  const wanted = (navigator.languages?.length ? navigator.languages : [navigator.language ?? "en"]).map((l) => String(l).slice(0, 2).toLowerCase());
  state.lang = wanted.find((l) => have.has(l) && UI[l]) ?? "en";
  document.documentElement.lang = state.lang;
}

export const lang = () => state.lang;

/// A UI string, with `{name}` filled from `vars`.
export function t(key, vars = {}) {
  const s = UI[state.lang]?.[key] ?? UI.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

/// Whether the dimension's values are ISO 3166-1 alpha-3 countries.
export function isCountryDim(dim) {
  return dim === "citizenship" || dim === "country_of_exploitation";
}

/// Whether a case may have several values of the dimension (its cells overlap).
export function isMulti(dim) {
  return state.dims.get(dim)?.kind === "multi";
}

function inLang(obj) {
  if (obj == null) return null;
  if (typeof obj === "string") return obj;
  return obj[state.lang] ?? obj.en ?? null;
}

/// The name of a dimension.
export function dimName(dim) {
  const l = state.dims.get(dim)?.labels;
  return (l?.[state.lang]?.name ?? l?.en?.name) || String(dim).replaceAll("_", " ");
}

/// The name of a country (ISO alpha-3), or the code.
export function countryName(code) {
  return inLang(state.countries[code]) ?? (code === "unknown" ? "Unknown" : String(code));
}

/// The ISO 3166-1 numeric code of a country ("004"), if the catalog gives it.
export function numericOf(code) {
  const c = state.countries[code];
  const n = c && typeof c === "object" ? c.numeric : null;
  return n == null ? null : String(n).padStart(3, "0");
}

/// The name of a region of the policy.
export function regionName(id) {
  const r = state.regions.get(id);
  return inLang(r?.labels) ?? r?.name ?? String(id);
}

/// The label of one value of a dimension (a country's name for the
/// country dimensions), falling back to the code.
export function label(dim, value, language = state.lang) {
  const v = String(value ?? "");
  const l = state.dims.get(dim)?.labels;
  const own = l?.[language]?.values?.[v] ?? l?.en?.values?.[v];
  if (own != null) return own;
  return isCountryDim(dim) ? countryName(v) : v;
}

/// A value as label with its code, for places where both fit (CSV, tooltips).
export function labelWithCode(dim, value) {
  const l = label(dim, value);
  return l === String(value) ? l : `${l} (${value})`;
}
