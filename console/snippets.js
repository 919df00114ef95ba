// "This query as curl / Python / R": the request the console just made,
// ready to paste, with the token as the $CTM_TOKEN placeholder (never the
// token itself), and the query in the page's address (a permalink: the
// fragment holds the query, never the token).

import { h } from "./dom.js";

/// Snippets for `{method, path, body}` (body: an object, or undefined).
export function snippets({ method = "GET", path, body }) {
  const url = `${location.origin}${path}`;
  const json = body === undefined ? null : JSON.stringify(body);
  const sq = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  const curl = [
    `curl -s ${method === "GET" ? "" : `-X ${method} `}${sq(url)} \\`,
    `  -H "Authorization: Bearer $CTM_TOKEN"${json ? " \\" : ""}`,
    ...(json ? [`  -H 'Content-Type: application/json' \\`, `  -d ${sq(json)}`] : []),
  ].join("\n");
  const py = [
    "import os, requests",
    "",
    `r = requests.${method.toLowerCase()}(`,
    `    ${JSON.stringify(url)},`,
    `    headers={"Authorization": "Bearer " + os.environ["CTM_TOKEN"]},`,
    ...(json ? [`    json=${pyLiteral(body)},`] : []),
    ")",
    "r.raise_for_status()  # a refusal is problem+json: r.json()['code']",
    "answer = r.json()",
  ].join("\n");
  const r = [
    "library(httr2)",
    "",
    `resp <- request(${JSON.stringify(url)}) |>`,
    `  req_auth_bearer_token(Sys.getenv("CTM_TOKEN")) |>`,
    ...(json ? [`  req_body_raw(${JSON.stringify(json)}, type = "application/json") |>`] : []),
    method === "GET" ? "  req_perform()" : `  req_method(${JSON.stringify(method)}) |>\n  req_perform()`,
    "answer <- resp_body_json(resp)",
  ].join("\n");
  return { curl, python: py, r };
}

/// A JSON value as a Python literal.
function pyLiteral(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(", ")}]`;
  if (typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(", ")}}`;
  return JSON.stringify(v);
}

/// A disclosure with the three snippets, each in a labelled box.
export function snippetBox(req, note) {
  const s = snippets(req);
  const block = (title, id, text) => h("div", { className: "snippet" }, h("h3", {}, title), h("pre", { id, tabIndex: 0, role: "region", "aria-label": `${title} snippet` }, text));
  return h(
    "details",
    { className: "snippets", id: "snippets" },
    h("summary", {}, "This query as curl / Python / R"),
    h("p", { className: "muted" }, note ?? "Set CTM_TOKEN to your token first (export CTM_TOKEN=…). The same query again is a free repeat."),
    block("curl", "snippet-curl", s.curl),
    block("Python", "snippet-python", s.python),
    block("R", "snippet-r", s.r),
  );
}

/// The view's query in the page's address: `#/view?name=value…`, replacing
/// the current entry (no new history step, no re-render).
export function setPermalink(view, params) {
  const q = new URLSearchParams(params).toString();
  const hash = `#/${view}${q ? `?${q}` : ""}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}
