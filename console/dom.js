// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so
// nothing the API returns can become markup or script.

/// Creates an element: `props` are properties (className, id, type...),
/// `on*` functions become listeners, `aria-*`/`data-*`/`for`/`scope` become
/// attributes; children are nodes or text (null and false are skipped).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k.startsWith("aria-") || k.startsWith("data-") || k === "for" || k === "scope" || k === "role" || k === "list")
      el.setAttribute(k, v === true ? "" : String(v));
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// A number for people: thousands separated, at most `digits` decimals.
export function fmt(x, digits = 3) {
  if (x == null || Number.isNaN(x)) return "–";
  return Number(x).toLocaleString("en-GB", { maximumFractionDigits: digits });
}

/// Replaces the children of `el`.
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

/// A figure with a label, for the stats row.
export function stat(label, value, extra = {}) {
  return h("div", { className: "stat", ...extra }, h("div", { className: "v" }, value), h("div", { className: "k" }, label));
}
