// The console's one door to the service: the session (token, consumer,
// catalog), calls with the bearer header, refusals read from problem+json
// (RFC 9457) and put in plain words, and the page-wide alert and
// confirmation dialog every view uses.
//
// The token lives in this tab's sessionStorage only and travels as a bearer
// header; it is never put in a URL, a cookie, the page or a log.

import { h, fmt, fill } from "./dom.js";

export const TOKEN_KEY = "ctm-stats.token";
export const $ = (id) => document.getElementById(id);

export const session = {
  token: null,
  me: null, // GET /v1/budget: consumer, role, country, unit, limit, spent...
  catalog: null, // the dataset of GET /v1/catalog
  onSignOut: () => {}, // set by app.js: a rejected token ends the session
};

/// A refusal of the API, as its problem+json says.
export class Problem extends Error {
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
export async function api(path, { method = "GET", body, accept = "application/json", raw = false, headers = {} } = {}) {
  const hd = { Accept: accept, ...headers };
  if (session.token) hd.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) hd["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: hd,
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

/// Every page of `path` (cursor paging), up to `max` entries.
export async function allPages(path, key, max = 20000) {
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

export const unitSign = () => (session.me?.unit === "rho" ? "ρ" : "ε");
export const costField = () => (session.catalog?.accounting === "zcdp" ? "rho" : "epsilon");

/// A problem in plain words: what happened and what to do next.
export function explain(p) {
  const d = p.body?.detail ?? "";
  const unit = unitSign();
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

export function showAlert(title, text, kind = "error") {
  const a = $("alert");
  a.className = kind === "error" ? "alert" : "alert info";
  fill(a, h("h2", {}, title), h("p", {}, text));
  a.hidden = false;
}

export function clearAlert() {
  $("alert").hidden = true;
}

/// Shows a refusal; a rejected token ends the session.
export function report(e, extra) {
  if (!(e instanceof Problem)) {
    console.error(e);
    showAlert("Something went wrong in the console", String(e?.message ?? e));
    return;
  }
  const [title, text] = explain(e);
  if (e.code === "auth.invalid_token" && session.token) {
    session.onSignOut();
    $("sign-in-error").textContent = `${title}. ${text}`;
    $("sign-in-error").hidden = false;
    return;
  }
  showAlert(title, extra ? `${text} ${extra}` : text);
  if (e.code) $("alert").dataset.code = e.code;
}

/// Asks the person to confirm; resolves to true or false.
export function confirmDialog(title, ...body) {
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
export async function download(path, accept, fallbackName) {
  const r = await api(path, { accept, raw: true });
  const blob = await r.blob();
  const cd = r.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(cd)?.[1] ?? fallbackName;
  saveBlob(blob, name);
  return name;
}

export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return "console-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/// Moves the focus to a result's heading (after a release), so keyboard and
/// screen-reader users land on what they asked for.
export function focusHeading(box) {
  const heading = box.querySelector("h2, h3");
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: false });
}
