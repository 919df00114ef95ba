// The console: a client of the service's own JSON API, nothing more.
//
// The token lives in this tab's sessionStorage only and travels as a bearer
// header; it is never put in a URL, a cookie, the page or a log. Figures are
// shown as the API released them (noisy, suppressed where the policy says).
// Views by role: researchers and governments (counts, catalog, budget),
// governments (national figures), auditors (ledger), admins (budgets).

import { h, fmt, fill, stat } from "./dom.js";
import { figure, legend, cellBars, yearLine, timeline, spendLines, flowMatrix, dataTable, widthOf, EVENT_COLOURS } from "./charts.js";

const TOKEN_KEY = "ctm-stats.token";
const $ = (id) => document.getElementById(id);

const session = {
  token: null,
  me: null, // GET /v1/budget: consumer, role, country, unit, limit, spent...
  catalog: null, // the dataset of GET /v1/catalog
};

// ---------------------------------------------------------------- the API

/// A refusal of the API, as its problem+json says.
class Problem extends Error {
  constructor(status, body, headers) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
    this.code = this.body.code ?? `http.${status}`;
    this.retryAfter = headers?.get("Retry-After");
  }
}

/// Calls the API with the session's token. `accept` picks the format;
/// `raw` returns the Response (for downloads).
async function api(path, { method = "GET", body, accept = "application/json", raw = false, headers = {} } = {}) {
  const h = { Accept: accept, ...headers };
  if (session.token) h.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new Problem(0, { code: "network", detail: "The service could not be reached." });
  }
  if (!r.ok) {
    let problem = null;
    try {
      problem = await r.json();
    } catch {
      /* a refusal without a body (from the HTTP layer) */
    }
    throw new Problem(r.status, problem, r.headers);
  }
  if (raw) return r;
  return r.status === 204 ? null : r.json();
}

/// A problem in plain words: what happened and what to do next.
function explain(p) {
  const d = p.body?.detail ?? "";
  const unit = session.me?.unit === "rho" ? "ρ" : "ε";
  const retry = p.retryAfter ? ` Try again in ${p.retryAfter} s.` : " Try again in a moment.";
  switch (p.code) {
    case "network":
      return ["The service did not answer", "Check that it is running and your connection, then try again."];
    case "auth.invalid_token":
      return ["Your token was not accepted", `${d} Paste the whole token as it was issued; if it has expired, ask for a new one.`];
    case "auth.forbidden_role":
      return ["Not available to your role", `${d} Sign in with a token of the role this view is for.`];
    case "auth.country_scope":
      return ["Outside your country", `${d} Your token reads its own country's figures only.`];
    case "budget.exhausted":
      return [
        "Not enough privacy budget left",
        `${d} You have ${unit} ${fmt(session.me?.remaining)} left. Ask for a smaller cost (a wider margin of error), or ask your operator for more budget.`,
      ];
    case "budget.global_exhausted":
      return ["The dataset's budget is used up", `${d} No further releases are possible until the operator raises the dataset's limit.`];
    case "rate.limited":
      return ["Too many requests", `${d}${retry}`];
    case "service.unavailable":
    case "service.too_many_connections":
      return ["The service is busy or restarting", `${d}${retry}`];
    case "admin.unknown_consumer":
      return ["Unknown consumer", `${d} Give a role to create the consumer.`];
    default:
      if (p.status >= 500) return ["The service failed", `Nothing was charged. ${retry}`];
      return [p.body?.title || "The request was refused", d || `HTTP ${p.status}`];
  }
}

function showAlert(title, text, kind = "error") {
  const a = $("alert");
  a.className = kind === "error" ? "alert" : "alert info";
  fill(a, h("h2", {}, title), h("p", {}, text));
  a.hidden = false;
}

function clearAlert() {
  $("alert").hidden = true;
}

/// Shows a refusal; a rejected token ends the session.
function report(e, extra) {
  if (!(e instanceof Problem)) {
    console.error(e);
    showAlert("Something went wrong in the console", String(e?.message ?? e));
    return;
  }
  const [title, text] = explain(e);
  if (e.code === "auth.invalid_token" && session.token) {
    signOut();
    $("sign-in-error").textContent = `${title}. ${text}`;
    $("sign-in-error").hidden = false;
    return;
  }
  showAlert(title, extra ? `${text} ${extra}` : text);
  if (e.code) $("alert").dataset.code = e.code;
}

/// Asks the person to confirm; resolves to true or false.
function confirmDialog(title, ...body) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  fill($("confirm-body"), ...body);
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-ok").onclick = $("confirm-cancel").onclick = d.oncancel = null;
      d.close();
      resolve(answer);
    };
    $("confirm-ok").onclick = () => done(true);
    $("confirm-cancel").onclick = () => done(false);
    d.oncancel = (ev) => {
      ev.preventDefault();
      done(false);
    };
    d.showModal();
    $("confirm-ok").focus();
  });
}

/// Saves a response as a file (the token stays in a header, never a link).
async function download(path, accept, fallbackName) {
  const r = await api(path, { accept, raw: true });
  const blob = await r.blob();
  const cd = r.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(cd)?.[1] ?? fallbackName;
  saveBlob(blob, name);
  return name;
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return "console-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const unitSign = () => (session.me?.unit === "rho" ? "ρ" : "ε");
const costField = () => (session.catalog?.accounting === "zcdp" ? "rho" : "epsilon");

// ---------------------------------------------------------- session, views

const VIEWS = {
  counts: { title: "Counts", roles: ["researcher", "government"], render: renderCounts },
  national: { title: "National figures", roles: ["government"], render: renderNational },
  regional: { title: "Regional figures", roles: ["regional"], render: renderNational },
  budget: { title: "My budget", roles: ["researcher", "government", "regional"], render: renderBudget },
  audit: { title: "Ledger", roles: ["auditor"], render: renderAudit },
  admin: { title: "Budgets", roles: ["admin"], render: renderAdmin },
  catalog: { title: "Catalog", roles: ["researcher", "government", "regional", "auditor", "admin"], render: renderCatalog },
};

const HOME = { researcher: "counts", government: "national", regional: "regional", auditor: "audit", admin: "admin" };

async function signIn(token) {
  session.token = token;
  const [me, catalog] = await Promise.all([api("/v1/budget"), api("/v1/catalog")]);
  session.me = me;
  session.catalog = catalog.datasets?.[0] ?? null;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function signOut() {
  session.token = session.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("nav").hidden = $("who").hidden = $("view").hidden = true;
  $("sign-in").hidden = false;
  clearAlert();
  if (location.hash) history.replaceState(null, "", location.pathname);
  $("token").value = "";
  $("token").focus();
}

function layout() {
  const role = session.me.role;
  const nav = $("nav");
  fill(
    nav,
    ...Object.entries(VIEWS)
      .filter(([, v]) => v.roles.includes(role))
      .map(([id, v]) => h("a", { href: `#/${id}`, "data-view": id }, v.title)),
  );
  nav.hidden = false;
  const scope = session.me.country ?? session.me.region;
  $("who-text").textContent = `${session.me.consumer} · ${role}${scope ? " · " + scope : ""}`;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("view").hidden = false;
}

async function route() {
  if (!session.me) return;
  const role = session.me.role;
  let id = location.hash.replace(/^#\/?/, "");
  if (!VIEWS[id] || !VIEWS[id].roles.includes(role)) id = HOME[role];
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.view === id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clearAlert();
  const view = $("view");
  view.dataset.view = id;
  fill(view, h("p", { className: "muted" }, "Loading…"));
  document.title = `${VIEWS[id].title} · CTM statistics console`;
  try {
    await VIEWS[id].render(view);
  } catch (e) {
    fill(view, h("h1", {}, VIEWS[id].title));
    report(e);
  }
  view.dataset.ready = "true";
  $("main").focus({ preventScroll: true });
}

// ------------------------------------------------------------- researchers

function dimensionsFor(role) {
  return (session.catalog?.dimensions ?? []).filter((d) => !d.roles || d.roles.includes(role));
}

/// Cells of a count as chart rows, in the order the API gave them.
function cellRows(cells, dims) {
  return cells.map((c) => ({
    label: dims.map((d) => String(c.key?.[d] ?? "")).join(" · "),
    x: dims.length === 1 ? Number(c.key?.[dims[0]]) : null,
    count: c.count,
    moe: c.margin_of_error,
    suppressed: c.suppressed,
  }));
}

function cellsTable(cells, dims, caption) {
  return dataTable(
    cells,
    [
      ...dims.map((d) => ({ label: d, value: (c) => String(c.key?.[d] ?? "") })),
      { label: "count", num: true, value: (c) => (c.suppressed ? h("span", { className: "suppressed" }, "suppressed") : fmt(c.count)) },
      { label: "± margin", num: true, value: (c) => fmt(c.margin_of_error) },
    ],
    caption,
  );
}

async function renderCounts(view) {
  const ds = session.catalog;
  const dims = dimensionsFor(session.me.role);
  const cost = ds.cost ?? {};
  const form = h("form", { id: "count-form", noValidate: true });
  const dimChecks = h(
    "div",
    { className: "checks" },
    ...dims.map((d) =>
      h("label", { title: d.description ?? "" }, h("input", { type: "checkbox", name: "dimension", value: d.name }), d.name),
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
  const filterBoxes = dims
    .filter((d) => d.name !== "registration_year")
    .map((d) =>
      h(
        "details",
        { "data-dimension": d.name },
        h("summary", {}, `${d.name}: any`),
        h(
          "div",
          { className: "checks" },
          ...(d.values ?? []).map((v) =>
            h("label", {}, h("input", { type: "checkbox", name: `filter-${d.name}`, value: v }), String(v)),
          ),
        ),
      ),
    );
  for (const box of filterBoxes) {
    box.addEventListener("change", () => {
      const picked = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      box.querySelector("summary").textContent = `${box.dataset.dimension}: ${picked.length ? picked.join(", ") : "any"}`;
    });
  }
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
  fill(
    view,
    h("h1", {}, "Grouped counts"),
    h("section", { className: "card" }, form),
    estimateBox,
    resultBox,
  );

  const request = () => {
    const dimensions = picked.filter((d) => form.querySelector(`input[name=dimension][value="${d}"]`)?.checked);
    const filters = {};
    for (const box of filterBoxes) {
      const picked = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      if (picked.length) filters[box.dataset.dimension] = picked;
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

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearAlert();
    const body = request();
    if (!body.dimensions.length) {
      showAlert("Pick at least one dimension", "Tick the dimensions to group the counts by.");
      return;
    }
    try {
      const est = await api("/v1/counts/estimate", { method: "POST", body });
      showEstimate(estimateBox, resultBox, body, est);
    } catch (e) {
      estimateBox.hidden = true;
      report(e);
    }
  });
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
        : h("p", { className: "muted" }, `Cells below ${est.k} (after noise) are suppressed. Nothing is spent until you release.`),
    release,
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
      showResult(resultBox, body, res);
      resultBox.scrollIntoView({ block: "start" });
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

function showResult(box, body, res) {
  const u = unitSign();
  const dims = res.dimensions;
  const rows = cellRows(res.cells, dims);
  const nSup = res.cells.filter((c) => c.suppressed).length;
  const title = `Counts by ${dims.join(" × ")}`;
  box.hidden = false; // measured visible, so the chart takes the card's width
  const chartWidth = widthOf(box) - 40;
  const chart =
    dims.length === 1 && dims[0] === "registration_year"
      ? yearLine(rows, { width: chartWidth, ariaLabel: `${title}, as a line with its margin of error` })
      : cellBars(rows, { width: chartWidth, ariaLabel: `${title}: ${rows.length - nSup} released cells as bars with margins of error, ${nSup} suppressed` });
  const margin = res.cells.find((c) => !c.suppressed)?.margin_of_error;
  fill(
    box,
    h("h2", {}, "Result"),
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
    figure({
      title,
      chart,
      note: `Black lines: the margin of error at ${fmt(res.confidence * 100)} % confidence. "Suppressed": fewer than ${res.k} after noise, withheld — not zero.${res.repeat ? " This is a free repeat of a release you already paid for." : ""}`,
      table: cellsTable(res.cells, dims),
    }),
    h("p", { className: "muted" }, `Release ${res.release_id}, data version ${res.data_version}, ${res.mechanism?.name ?? ""}. Cite the margin with each figure.`),
    h(
      "div",
      { className: "actions" },
      h("button", { type: "button", className: "secondary", id: "download-json", onclick: () => saveBlob(new Blob([JSON.stringify(res, null, 2)], { type: "application/json" }), `counts-${res.release_id}.json`) }, "Download JSON"),
      h("button", { type: "button", className: "secondary", id: "download-csv", onclick: () => downloadCountsCsv(body, res).catch(report) }, "Download CSV"),
    ),
  );
  box.hidden = false;
}

/// The same query asked again as CSV: a repeat, free of charge.
async function downloadCountsCsv(body) {
  const r = await fetch("/v1/counts", {
    method: "POST",
    headers: { Authorization: `Bearer ${session.token}`, Accept: "text/csv", "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  if (!r.ok) throw new Problem(r.status, await r.json().catch(() => null), r.headers);
  saveBlob(await r.blob(), "counts.csv");
}

async function renderCatalog(view) {
  const ds = session.catalog;
  const u = ds.unit === "rho" ? "ρ" : "ε";
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
      ]),
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Dimensions"),
      dataTable(ds.dimensions ?? [], [
        { label: "name", value: (d) => h("code", {}, d.name) },
        { label: "kind", value: (d) => d.kind },
        { label: "roles", value: (d) => (d.roles ?? []).join(", ") },
        { label: "values", value: (d) => { const v = (d.values ?? []).map(String); return v.length > 12 ? `${v.slice(0, 12).join(", ")} … (${v.length})` : v.join(", "); } },
        { label: "about", value: (d) => d.description ?? "" },
      ]),
    ),
  );
}

// ---------------------------------------------------------------- budget

/// Every page of `path` (cursor paging), up to `max` entries.
async function allPages(path, key, max = 20000) {
  const out = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    out.push(...page[key]);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

async function renderBudget(view) {
  const [me, history] = await Promise.all([api("/v1/budget"), allPages("/v1/budget/history", "entries")]);
  session.me = me;
  const u = unitSign();
  const points = history
    .filter((e) => e.spent_after != null)
    .map((e) => ({ consumer: me.consumer, at: new Date(e.at), spent: e.spent_after, limit: e.limit_after ?? me.limit, pct: (100 * e.spent_after) / (e.limit_after || me.limit || 1) }));
  const width = widthOf(view) - 40; // inside a card's padding
  const spend = points.length ? spendLines(points, { width, limit: me.limit, unit: u, ariaLabel: `Your spent budget over time against your limit (now ${fmt(me.spent)} of ${fmt(me.limit)})` }) : null;
  const meter = h("meter", { min: 0, max: me.limit || 1, value: me.spent, "aria-label": `spent ${fmt(me.spent)} of ${fmt(me.limit)}` });
  fill(
    view,
    h("h1", {}, "My budget"),
    h(
      "section",
      { className: "card" },
      h(
        "div",
        { className: "stats" },
        stat(`limit (${u})`, fmt(me.limit), { id: "budget-limit" }),
        stat(`spent (${u})`, fmt(me.spent), { id: "budget-spent" }),
        stat(`remaining (${u})`, fmt(me.remaining), { id: "budget-remaining" }),
        ...Object.entries(me.history ?? {}).map(([k, v]) => stat(k.replace("_", " "), fmt(v))),
      ),
      meter,
      h("p", { className: "muted" }, `Your budget is per ${me.unit_of_privacy}: it bounds what all your releases together can reveal about any one ${me.unit_of_privacy}. Repeats of a release are free.`),
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "History"),
      spend
        ? figure({ title: "Spent over time, against your limit", chart: spend.chart, table: historyTable(history) })
        : h("p", { className: "muted" }, "Nothing charged yet."),
      !spend && history.length ? historyTable(history) : null,
    ),
  );
}

function historyTable(entries) {
  return dataTable([...entries].reverse(), [
    { label: "#", num: true, value: (e) => e.seq },
    { label: "time (UTC)", value: (e) => e.at.replace("T", " ").replace("Z", "") },
    { label: "event", value: (e) => e.event },
    { label: "outcome", value: (e) => e.outcome },
    { label: "cost", num: true, value: (e) => fmt(e.cost) },
    { label: "spent after", num: true, value: (e) => fmt(e.spent_after) },
    { label: "query", value: (e) => h("code", {}, e.query ?? "") },
  ]);
}

// -------------------------------------------------------------- government

/// National figures (governments) or regional figures (regional partners):
/// the same tables and report, for a country or a region as a whole.
async function renderNational(view) {
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
  const controls = h(
    "form",
    { className: "inline", id: "national-form" },
    h("div", {}, h("label", { for: "perspective" }, "Perspective"), perspective),
    h("button", { type: "submit", id: "national-load" }, "Show cost"),
  );
  const costBox = h("section", { className: "card", id: "national-cost", hidden: true, "aria-live": "polite" });
  const reportBox = h("div", { id: "national-report" });
  fill(
    view,
    h("h1", {}, regional ? `Regional figures: ${region?.name ?? area}` : `National figures: ${area}`),
    region ? h("p", { className: "muted" }, `Members: ${region.members.join(", ")}. SDMX code ${region.code}.`) : null,
    h("section", { className: "card" }, controls),
    costBox,
    reportBox,
    regional ? null : bilateralCard(area),
  );

  const load = async () => {
    clearAlert();
    const q = `perspective=${encodeURIComponent(perspective.value)}`;
    const tables = await api(`${base}/tables?${q}`);
    const charge = tables.report?.would_charge ?? 0;
    const go = h("button", { type: "button", id: "national-release" }, charge > 0 ? `Release the report for ${u} ${fmt(charge)}` : "Show the report (already paid for: free)");
    fill(
      costBox,
      h("h2", {}, "The annual report"),
      h("p", {}, `${tables.tables.length} tables, ${tables.from_year}–${tables.to_year}. Full cost ${u} ${fmt(tables.report?.cost)}; you would be charged ${u} ${fmt(charge)} now (tables you already paid for are free). Budget left: ${u} ${fmt(tables.budget?.remaining)}.`),
      go,
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
        showReport(reportBox, rep, q, base);
        costBox.hidden = true;
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

function showReport(box, rep, q, base) {
  const u = unitSign();
  const country = rep.country;
  // Two charts side by side on a wide screen, one per row on a narrow one.
  const full = widthOf(box);
  const width = full > 900 ? Math.floor(full / 2) - 60 : full - 40;
  const total = rep.tables.find((t) => t.consistent && t.total)?.total;
  const figs = rep.tables.map((t) => {
    const dims = t.dimensions;
    const rows = cellRows(t.cells, dims);
    const nSup = t.cells.filter((c) => c.suppressed).length;
    let chart;
    if (t.id === "flow_within" && dims.length === 2) {
      const order = rep.region?.members ?? [];
      const cells = t.cells.map((c) => ({ from: c.key[dims[0]], to: c.key[dims[1]], count: c.count, moe: c.margin_of_error, suppressed: c.suppressed }));
      chart = flowMatrix(cells, { width, order, ariaLabel: `${t.title}: a matrix of ${cells.length} flows, ${nSup} suppressed` });
    } else if (dims.length === 1 && dims[0] === "registration_year") {
      chart = yearLine(rows, { width, ariaLabel: `${t.title}: a line by year with its margin band; ${nSup} years suppressed` });
    } else {
      chart = cellBars(rows, { width, ariaLabel: `${t.title}: ${rows.length - nSup} released cells as bars with margins of error, ${nSup} suppressed` });
    }
    return h(
      "section",
      { className: "card", "data-table": t.id },
      figure({
        title: t.title,
        chart,
        note: `${t.total ? (t.total.count == null ? "Total withheld (S). " : `Total ${fmt(t.total.count)} ± ${fmt(t.total.margin_of_error)}. `) : ""}Cells ± ${fmt(t.margin_of_error)} at ${fmt(rep.confidence * 100)} % confidence${t.consistent ? "; consistent with the report's total" : "; kept as released, not reconciled with the total"}. Suppressed cells are withheld, not zero.`,
        table: cellsTable(t.cells, dims),
      }),
      h(
        "div",
        { className: "actions" },
        h("button", { type: "button", className: "secondary", onclick: () => download(`${base}/tables/${t.id}?${q}&format=csv`, "text/csv", `${t.id}.csv`).catch(report) }, "CSV"),
      ),
    );
  });
  fill(
    box,
    h(
      "section",
      { className: "card" },
      h("h2", {}, `Report ${rep.from_year}–${rep.to_year}, ${rep.perspective.replaceAll("_", " ")}`),
      h(
        "div",
        { className: "stats" },
        stat(`charged (${u})`, fmt(rep.charged), { id: "report-charged" }),
        stat(`budget left (${u})`, fmt(rep.budget?.remaining)),
        stat("tables", fmt(rep.tables.length)),
        total ? stat("victims in all (consistent total)", total.count == null ? "withheld (S)" : `${fmt(total.count)} ± ${fmt(total.margin_of_error)}`, { id: "report-total" }) : null,
      ),
      h(
        "div",
        { className: "actions" },
        h("button", { type: "button", className: "secondary", id: "download-report-csv", onclick: () => download(`${base}/report?${q}&format=csv`, "text/csv", `report-${country}.csv`).catch(report) }, "Download CSV"),
        h("button", { type: "button", className: "secondary", id: "download-report-sdmx", onclick: () => download(`${base}/report?${q}&format=sdmx`, "application/vnd.sdmx.data+csv", `report-${country}-sdmx.csv`).catch(report) }, "Download SDMX-CSV"),
        h("button", { type: "button", className: "secondary", id: "download-report-json", onclick: () => saveBlob(new Blob([JSON.stringify(rep, null, 2)], { type: "application/json" }), `report-${country}.json`) }, "Download JSON"),
      ),
      (rep.notes ?? []).length ? h("ul", { className: "muted" }, ...rep.notes.map((n) => h("li", {}, n))) : null,
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
    h("datalist", { id: "bilateral-countries" }, ...countries.filter((c) => c !== country && c !== "unknown").map((c) => h("option", { value: c }))),
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
    const ok = await confirmDialog("Spend privacy budget?", h("p", {}, `The flow between ${country} and ${code} (both directions) charges up to ${u} ${fmt(2 * cost)}; directions you already paid for are free.`));
    if (!ok) return;
    try {
      const rep = await api(`/v1/national/${country}/bilateral/${code}`);
      const rows = rep.tables.map((t) => {
        const c = t.cells[0] ?? {};
        return { label: t.id === "outbound" ? `${country} nationals exploited in ${code}` : `${code} nationals exploited in ${country}`, count: c.count, moe: c.margin_of_error, suppressed: c.suppressed };
      });
      fill(
        result,
        figure({
          title: `Bilateral flow ${country} ↔ ${code}`,
          chart: cellBars(rows, { width: widthOf(result) - 10, ariaLabel: `Bilateral flow between ${country} and ${code}` }),
          table: dataTable(rows, [
            { label: "direction", value: (r) => r.label },
            { label: "count", num: true, value: (r) => (r.suppressed ? h("span", { className: "suppressed" }, "suppressed") : fmt(r.count)) },
            { label: "± margin", num: true, value: (r) => fmt(r.moe) },
          ]),
          open: true,
          note: `Charged ${u} ${fmt(rep.charged)}. Both directions are about your own country.`,
        }),
      );
    } catch (e) {
      report(e);
    }
  });
  return h("section", { className: "card", id: "bilateral" }, h("h2", {}, "Bilateral flow"), h("p", { className: "muted" }, "Your nationals exploited in another country, and that country's nationals exploited in yours, as one table for a bilateral agreement."), form, result);
}

// ---------------------------------------------------------------- auditors

/// Ledger entries per page of the auditor's view.
const LEDGER_PAGE = 1000;
/// Where the auditor's pinned checkpoint key is kept (this browser only).
const PINNED_KEY = "ctm.pinned-public-key";

/// The ledger, newest first, a page at a time: `older()` reads the page
/// before the oldest loaded one by sequence range (sequence numbers run
/// from 1 to the ledger's size without a gap).
function ledgerPager() {
  const pager = { entries: [], size: 0, oldest: null };
  pager.older = async () => {
    if (pager.oldest === null) {
      // The size first, then exactly the newest page up to it.
      pager.size = (await api("/v1/audit/entries?limit=1")).ledger_size;
      pager.oldest = pager.size + 1;
    }
    const upto = pager.oldest - 1;
    if (upto < 1) return;
    const after = Math.max(0, upto - LEDGER_PAGE);
    const page = await api(`/v1/audit/entries?limit=${upto - after}&cursor=${after}`);
    const got = page.entries.filter((e) => e.seq <= upto).reverse();
    pager.entries.push(...got);
    pager.oldest = got.length ? got[got.length - 1].seq : after + 1;
  };
  return pager;
}

/// A pinned key as pasted or loaded: 64 hex characters, or the JSON that
/// `GET /v1/audit/public-key` and `ctm-stats audit public-key` print.
function parsePinnedKey(text) {
  let t = (text ?? "").trim();
  if (t.startsWith("{")) {
    try {
      t = String(JSON.parse(t).public_key ?? "");
    } catch {
      return null;
    }
  }
  t = t.toLowerCase();
  return /^[0-9a-f]{64}$/.test(t) ? t : null;
}

async function renderAudit(view) {
  const ledger = ledgerPager();
  const [consumers, checkpoints, key] = await Promise.all([
    api("/v1/audit/consumers"),
    api("/v1/audit/checkpoints?limit=50"),
    api("/v1/audit/public-key"),
    ledger.older(),
  ]);
  const entries = ledger.entries; // newest first; grows as older pages load
  const u = consumers.unit === "rho" ? "ρ" : "ε";
  const width = widthOf(view) - 40; // inside a card's padding
  const g = consumers.global ?? {};

  // Cumulative spend of each consumer against its own limit (loaded entries, oldest first).
  const points = [...entries]
    .reverse()
    .filter((e) => e.consumer_spent_micro != null && e.consumer_limit_micro)
    .map((e) => ({
      consumer: e.consumer_id,
      at: new Date(e.at),
      spent: e.consumer_spent_micro / 1e6,
      limit: e.consumer_limit_micro / 1e6,
      pct: (100 * e.consumer_spent_micro) / e.consumer_limit_micro,
    }));
  const spend = points.length ? spendLines(points, { width, ariaLabel: "Each consumer's cumulative spend over time as a share of its limit" }) : null;

  const consumerFilter = h("select", { id: "audit-consumer" }, h("option", { value: "" }, "all consumers"), ...consumers.consumers.map((c) => h("option", { value: c.consumer }, c.consumer)));
  const eventFilter = h("select", { id: "audit-event" }, h("option", { value: "" }, "all events"), ...Object.keys(EVENT_COLOURS).map((e) => h("option", { value: e }, e)));
  const timelineBox = h("div", { id: "timeline" });
  const showing = h("p", { id: "ledger-showing", "aria-live": "polite" });
  const olderButton = h("button", { type: "button", className: "secondary", id: "load-older", onclick: () => loadOlder().catch(report) }, "Load older entries");
  const loadOlder = async () => {
    olderButton.disabled = true;
    try {
      await ledger.older();
      drawTimeline();
    } finally {
      olderButton.disabled = false;
    }
  };
  const drawTimeline = () => {
    const shown = entries.filter((e) => (!consumerFilter.value || e.consumer_id === consumerFilter.value) && (!eventFilter.value || e.event === eventFilter.value));
    fill(showing, `Showing ${fmt(entries.length)} of ${fmt(ledger.size)} entries, newest first${entries.length < ledger.size ? ` (entries #${fmt(ledger.oldest)} to #${fmt(ledger.size)})` : ""}.`);
    olderButton.hidden = ledger.oldest <= 1;
    const counts = Object.keys(EVENT_COLOURS).map((k) => `${shown.filter((e) => e.event === k).length} ${k}`).join(", ");
    fill(
      timelineBox,
      figure({
        title: `Ledger timeline: ${shown.length} entries`,
        legend: legend(Object.entries(EVENT_COLOURS)),
        chart: timeline(shown, { width, ariaLabel: `Ledger timeline: ${counts}` }),
        note: counts,
        table: entriesTable(shown.slice(0, 500)),
      }),
    );
  };
  consumerFilter.addEventListener("change", drawTimeline);
  eventFilter.addEventListener("change", drawTimeline);

  const verifyBox = h("div", { id: "verify-result", "aria-live": "polite" });
  const checkpointBox = h("div", { id: "checkpoints" });
  const verify = async () => {
    fill(verifyBox, h("p", { className: "muted" }, "Verifying…"));
    const r = await api("/v1/audit/verify");
    fill(
      verifyBox,
      h("p", {}, h("span", { className: `badge ${r.ok ? "ok" : "bad"}`, id: "verify-status" }, r.ok ? "verified" : "FAILED"), " ", r.ok ? `Chain of ${fmt(r.size)} entries intact; ${r.checkpoints_checked} checkpoint signatures valid; ${r.consumers_reconciled} consumers' budgets agree with the ledger.` : `${r.failure?.kind ?? "failure"} at entry ${r.first_bad_seq ?? "?"}: ${r.failure?.detail ?? ""}`),
      h("p", { className: "muted mono" }, `head ${r.head_hash}`),
      r.unsigned_tail ? h("p", { className: "muted" }, `${r.unsigned_tail} entries after the latest checkpoint are chained but not signed yet.`) : null,
      ...(r.notes ?? []).map((n) => h("p", { className: "muted" }, n)),
    );
  };
  const sign = async () => {
    const ok = await confirmDialog("Sign a checkpoint?", h("p", {}, "The server signs the current head of the ledger with its key. Anyone holding the public key can later check that no entry up to here was changed."));
    if (!ok) return;
    await api("/v1/audit/checkpoints", { method: "POST" });
    const list = await api("/v1/audit/checkpoints?limit=50");
    await drawCheckpoints(checkpointBox, list.checkpoints, key);
  };

  // The offline check uses the key the auditor pinned (received out of band),
  // never the one this server serves: a compromised server would serve its own.
  let pinned = parsePinnedKey(localStorage.getItem(PINNED_KEY));
  let savedAs = null; // the export's file name as the browser saved it
  const command = h("pre", { id: "verify-command" });
  const keyStatus = h("div", { id: "key-status", "aria-live": "polite" });
  const keyInput = h("input", { id: "pinned-key", autocomplete: "off", placeholder: "64 hex characters", value: pinned ?? "" });
  const keyFile = h("input", { id: "pinned-key-file", type: "file", accept: ".json,.txt,.hex,application/json,text/plain" });
  const drawKey = () => {
    fill(command, `ctm-stats audit verify ${savedAs ?? "<downloaded export>"} --public-key ${pinned ?? "<your pinned key>"}`);
    if (!pinned) {
      fill(keyStatus, h("p", { className: "muted", id: "key-match", "data-match": "none" }, "No key pinned. Paste the public key you received from the operator out of band (or load its file), not the one this page shows: a key served by the server you are auditing proves nothing if that server is compromised."));
    } else if (pinned === key.public_key) {
      fill(keyStatus, h("p", { id: "key-match", "data-match": "yes" }, h("span", { className: "badge ok" }, "match"), " Your pinned key is the key this server signs checkpoints with."));
    } else {
      fill(keyStatus, h("p", { className: "error", id: "key-match", "data-match": "no", role: "alert" }, h("span", { className: "badge bad" }, "MISMATCH"), ` Warning: this server serves a different key (id ${key.key_id}) from the one you pinned. Its checkpoints are not signed by your key; the offline check will fail until you learn why the key changed.`));
    }
  };
  const setPinned = (text) => {
    const k = parsePinnedKey(text);
    if (text.trim() && !k) {
      fill(keyStatus, h("p", { className: "error", id: "key-match", "data-match": "invalid" }, "That is not a public key: give 64 hex characters, or the JSON of GET /v1/audit/public-key."));
      return;
    }
    pinned = k;
    if (k) localStorage.setItem(PINNED_KEY, k);
    else localStorage.removeItem(PINNED_KEY);
    keyInput.value = k ?? "";
    drawKey();
  };
  keyInput.addEventListener("change", () => setPinned(keyInput.value));
  keyFile.addEventListener("change", async () => {
    const f = keyFile.files?.[0];
    if (f) setPinned(await f.text());
  });
  const downloadExport = async () => {
    savedAs = await download("/v1/audit/export", "application/x-ndjson, application/json;q=0.9", "ledger-export.jsonl");
    drawKey();
  };
  drawKey();
  fill(
    view,
    h("h1", {}, "Privacy-budget ledger"),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Global budget"),
      h(
        "div",
        { className: "stats" },
        stat(`spent (${u})`, fmt(g.spent), { id: "global-spent" }),
        stat(`limit (${u})`, g.limit == null ? "none" : fmt(g.limit)),
        stat("entries", fmt(ledger.size), { id: "entry-count" }),
        stat("consumers", fmt(consumers.consumers.length)),
      ),
      g.limit ? h("meter", { min: 0, max: g.limit, value: g.spent, "aria-label": `global budget: ${fmt(g.spent)} of ${fmt(g.limit)} spent` }) : null,
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Verification"),
      h("p", {}, "Ask the server to re-check the whole hash chain, every checkpoint signature and every consumer's budget against the ledger."),
      h("button", { type: "button", id: "verify-now", onclick: () => verify().catch(report) }, "Verify now"),
      verifyBox,
    ),
    h("section", { className: "card" }, h("h2", {}, "Timeline"), showing, h("div", { className: "inline" }, h("div", {}, h("label", { for: "audit-consumer" }, "Consumer"), consumerFilter), h("div", {}, h("label", { for: "audit-event" }, "Event"), eventFilter)), timelineBox, olderButton),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Spend against limits"),
      spend ? figure({ title: "Cumulative spend, share of each consumer's limit", legend: legend(spend.colours), chart: spend.chart }) : h("p", { className: "muted" }, "No charges yet."),
      dataTable(consumers.consumers, [
        { label: "consumer", value: (c) => c.consumer },
        { label: "role", value: (c) => c.role },
        { label: `spent (${u})`, num: true, value: (c) => fmt(c.spent) },
        { label: `limit (${u})`, num: true, value: (c) => (c.limit == null ? "–" : fmt(c.limit)) },
        { label: "releases", num: true, value: (c) => fmt(c.releases) },
        { label: "repeats", num: true, value: (c) => fmt(c.repeats) },
        { label: "refusals", num: true, value: (c) => fmt(c.refusals) },
        { label: "last activity", value: (c) => c.last_activity ?? "–" },
      ], "Consumers"),
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Checkpoints"),
      h("p", { className: "muted" }, `Signed with key ${key.key_id} (${key.algorithm}). The public key this server serves (compare it with the one you pinned, below): `, h("code", { id: "public-key" }, key.public_key)),
      h("button", { type: "button", className: "secondary", id: "sign-checkpoint", onclick: () => sign().catch(report) }, "Sign a checkpoint now"),
      checkpointBox,
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "Export and offline verification"),
      h("p", {}, "Download the whole ledger with its checkpoints, then verify it on your own machine against the public key you pinned:"),
      h("label", { for: "pinned-key" }, "Your pinned public key (kept in this browser)"),
      keyInput,
      h("label", { for: "pinned-key-file" }, "or load it from a file"),
      keyFile,
      keyStatus,
      h("button", { type: "button", id: "download-export", onclick: () => downloadExport().catch(report) }, "Download export"),
      command,
      h("p", { className: "muted" }, "The command names the file as this browser saved it; if your browser renamed it (a file of that name already existed), use the new name."),
    ),
  );
  drawTimeline();
  await drawCheckpoints(checkpointBox, checkpoints.checkpoints, key);
}

function entriesTable(entries) {
  return dataTable(entries, [
    { label: "#", num: true, value: (e) => e.seq },
    { label: "time (UTC)", value: (e) => e.at.replace("T", " ").replace("Z", "") },
    { label: "consumer", value: (e) => e.consumer_id },
    { label: "event", value: (e) => e.event },
    { label: "outcome", value: (e) => e.outcome },
    { label: "cost", num: true, value: (e) => fmt(e.cost_micro / 1e6) },
    { label: "query", value: (e) => h("code", {}, e.canonical_query ?? "") },
  ], "Newest first (at most 500 of the loaded entries)");
}

/// Checkpoints with their signature checked here, in the browser, against
/// the pinned public key (WebCrypto Ed25519; on a page that is not a
/// secure context the browser offers no WebCrypto and the status says so).
async function drawCheckpoints(box, list, key) {
  const status = await Promise.all(list.map((c) => checkSignature(c, key)));
  fill(
    box,
    list.length
      ? dataTable(list.map((c, i) => ({ ...c, status: status[i] })), [
          { label: "entries", num: true, value: (c) => fmt(c.size) },
          { label: "signed at", value: (c) => c.at },
          { label: "key", value: (c) => h("code", {}, c.key_id) },
          { label: "head hash", value: (c) => h("code", { title: c.head_hash }, c.head_hash.slice(0, 16) + "…") },
          { label: "signature", value: (c) => h("span", { className: `badge ${c.status === "valid" ? "ok" : c.status === "INVALID" ? "bad" : "neutral"}`, "data-status": c.status }, c.status) },
        ], "Newest first; signatures checked in this browser")
      : h("p", { className: "muted" }, "No checkpoint signed yet."),
  );
}

function hexBytes(hex) {
  return new Uint8Array((hex.match(/../g) ?? []).map((b) => parseInt(b, 16)));
}

async function checkSignature(c, key) {
  if (!globalThis.crypto?.subtle) return "not checked (no WebCrypto here)";
  if (c.key_id !== key.key_id) return "other key";
  try {
    const pk = await crypto.subtle.importKey("raw", hexBytes(key.public_key), { name: "Ed25519" }, false, ["verify"]);
    const message = JSON.stringify({ context: "ctm-stats/ledger-checkpoint/v1", dataset: c.dataset, size: c.size, head_hash: c.head_hash, at: c.at });
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, pk, hexBytes(c.signature), new TextEncoder().encode(message));
    return ok ? "valid" : "INVALID";
  } catch {
    return "not checked (browser lacks Ed25519)";
  }
}

// ------------------------------------------------------------------ admins

async function renderAdmin(view) {
  const list = await api("/v1/admin/consumers");
  const u = list.unit === "rho" ? "ρ" : "ε";
  const ids = list.consumers.map((c) => c.consumer);
  const form = h(
    "form",
    { id: "budget-form", noValidate: true },
    h(
      "div",
      { className: "inline" },
      h("div", {}, h("label", { for: "b-consumer" }, "Consumer id"), h("input", { id: "b-consumer", required: true, list: "consumer-ids", autocomplete: "off" })),
      h("datalist", { id: "consumer-ids" }, ...ids.map((id) => h("option", { value: id }))),
      h("div", {}, h("label", { for: "b-role" }, "Role (new consumers only)"), h("select", { id: "b-role" }, h("option", { value: "" }, "(existing)"), ...["researcher", "government", "regional", "auditor", "admin"].map((r) => h("option", { value: r }, r)))),
      h("div", {}, h("label", { for: "b-limit" }, `New limit (${u})`), h("input", { id: "b-limit", type: "number", min: 0, step: "0.000001", required: true })),
      h("button", { type: "submit", id: "b-set" }, "Set budget"),
    ),
  );
  const tableBox = h("div", { id: "consumer-table" });
  const draw = (consumers) =>
    fill(
      tableBox,
      dataTable(consumers, [
        { label: "consumer", value: (c) => c.consumer },
        { label: "role", value: (c) => c.role },
        { label: `limit (${u})`, num: true, value: (c) => fmt(c.limit, 6) },
        { label: `spent (${u})`, num: true, value: (c) => fmt(c.spent, 6) },
        { label: `remaining (${u})`, num: true, value: (c) => fmt(c.remaining, 6) },
        { label: "since", value: (c) => c.created_at ?? "–" },
      ]),
    );
  draw(list.consumers);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearAlert();
    const id = $("b-consumer").value.trim();
    const limit = Number($("b-limit").value);
    const role = $("b-role").value;
    if (!id || $("b-limit").value === "" || !(limit >= 0)) {
      showAlert("Consumer and limit needed", "Give the consumer id (a token's subject) and the new limit, a number of at most six decimals.");
      return;
    }
    const current = list.consumers.find((c) => c.consumer === id);
    // The server would refuse these; say so before asking to confirm.
    if (!current && !role) {
      showAlert("Role needed", `${id} is not a consumer yet: choose its role to create it.`);
      return;
    }
    if (current && role && role !== current.role) {
      showAlert("Role mismatch", `${id} is a ${current.role}; a consumer's role cannot change. Choose "(existing)" or ${current.role}.`);
      return;
    }
    const ok = await confirmDialog(
      "Change this budget?",
      h("p", {}, current ? `${id} (${current.role}): limit ${u} ${fmt(current.limit, 6)} → ${u} ${fmt(limit, 6)}. Spent so far: ${u} ${fmt(current.spent, 6)}.` : `Create ${id} as ${role || "(no role given)"} with a limit of ${u} ${fmt(limit, 6)}.`),
      h("p", { className: "muted" }, "The change is recorded in the ledger, with your id."),
    );
    if (!ok) return;
    try {
      const body = { limit };
      if (role) body.role = role;
      await api(`/v1/admin/consumers/${encodeURIComponent(id)}/budget`, { method: "PUT", body });
      const fresh = await api("/v1/admin/consumers");
      list.consumers = fresh.consumers;
      draw(fresh.consumers);
      showAlert("Budget set", `${id} now has a limit of ${u} ${fmt(limit, 6)}.`, "info");
    } catch (e) {
      report(e);
    }
  });
  fill(view, h("h1", {}, "Consumer budgets"), h("section", { className: "card" }, h("h2", {}, "Set a budget"), form), h("section", { className: "card" }, h("h2", {}, "Consumers"), tableBox));
}

// ------------------------------------------------------------------- start

async function start() {
  $("sign-in-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim().replace(/^Bearer\s+/i, "").replace(/^export \w+=/, "");
    $("sign-in-error").hidden = true;
    if (!token) {
      $("sign-in-error").textContent = "Paste a token first.";
      $("sign-in-error").hidden = false;
      return;
    }
    try {
      await signIn(token);
      $("token").value = "";
      layout();
      if (!location.hash) location.hash = `#/${HOME[session.me.role]}`;
      else await route();
    } catch (e) {
      session.token = null;
      const [title, text] = e instanceof Problem ? explain(e) : ["Sign-in failed", String(e)];
      $("sign-in-error").textContent = `${title}. ${text}`;
      $("sign-in-error").hidden = false;
    }
  });
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", () => route());
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    try {
      await signIn(saved);
      layout();
      await route();
      return;
    } catch (e) {
      signOut();
      if (e instanceof Problem) {
        const [title, text] = explain(e);
        $("sign-in-error").textContent = `${title}. ${text}`;
        $("sign-in-error").hidden = false;
      }
    }
  }
  $("sign-in").hidden = false;
  document.body.dataset.ready = "true";
}

start();
