// The console: a client of the service's own JSON API, nothing more. This
// module signs in and out, lays out the views a role may see, and routes
// `#/view?params` to them; each view is its own module (view-*.js), and
// api.js is the one door to the service.
//
// Figures are shown as the API released them (noisy, suppressed where the
// policy says). The address's fragment holds a view's query (a permalink),
// never the token.

import { h, fill } from "./dom.js";
import { $, TOKEN_KEY, session, api, Problem, explain, report, clearAlert } from "./api.js";
import { setCatalog, t } from "./labels.js";
import { renderCounts } from "./view-researcher.js";
import { renderNational } from "./view-national.js";
import { renderRegional } from "./view-regional.js";
import { renderBudget } from "./view-budget.js";
import { renderAudit } from "./view-auditor.js";
import { renderAdmin } from "./view-admin.js";
import { renderCatalog } from "./view-catalog.js";
import { renderMethodology } from "./methodology.js";

const ALL = ["researcher", "government", "regional", "auditor", "admin"];
const VIEWS = {
  counts: { roles: ["researcher", "government"], render: renderCounts },
  national: { roles: ["government"], render: renderNational },
  regional: { roles: ["regional"], render: renderRegional },
  budget: { roles: ["researcher", "government", "regional"], render: renderBudget },
  audit: { roles: ["auditor"], render: renderAudit },
  admin: { roles: ["admin"], render: renderAdmin },
  catalog: { roles: ALL, render: renderCatalog },
  methodology: { roles: ALL, render: renderMethodology },
};

const HOME = { researcher: "counts", government: "national", regional: "regional", auditor: "audit", admin: "admin" };

async function signIn(token) {
  session.token = token;
  const [me, catalog] = await Promise.all([api("/v1/budget"), api("/v1/catalog")]);
  session.me = me;
  session.catalog = catalog.datasets?.[0] ?? null;
  // The catalog's countries may sit beside its datasets.
  if (session.catalog && catalog.countries && !session.catalog.countries) session.catalog.countries = catalog.countries;
  setCatalog(session.catalog);
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
session.onSignOut = signOut;

function layout() {
  const role = session.me.role;
  const nav = $("nav");
  fill(
    nav,
    ...Object.entries(VIEWS)
      .filter(([, v]) => v.roles.includes(role))
      .map(([id]) => h("a", { href: `#/${id}`, "data-view": id }, t(`view.${id}`))),
  );
  nav.hidden = false;
  const scope = session.me.country ?? session.me.region;
  $("who-text").textContent = `${session.me.consumer} · ${role}${scope ? " · " + scope : ""}`;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("view").hidden = false;
}

/// `#/view?a=b` as the view's id and its parameters.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const i = raw.indexOf("?");
  return [i < 0 ? raw : raw.slice(0, i), new URLSearchParams(i < 0 ? "" : raw.slice(i + 1))];
}

async function route() {
  if (!session.me) return;
  const role = session.me.role;
  let [id, params] = parseHash();
  if (!VIEWS[id] || !VIEWS[id].roles.includes(role)) [id, params] = [HOME[role], new URLSearchParams()];
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.view === id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clearAlert();
  const view = $("view");
  view.dataset.view = id;
  delete view.dataset.ready;
  delete view.dataset.restored;
  fill(view, h("p", { className: "muted" }, "Loading…"));
  document.title = `${t(`view.${id}`)} · CTM statistics console`;
  try {
    await VIEWS[id].render(view, params);
  } catch (e) {
    fill(view, h("h1", {}, t(`view.${id}`)));
    report(e);
  }
  view.dataset.ready = "true";
  if (!view.contains(document.activeElement) || document.activeElement === view) $("main").focus({ preventScroll: true });
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
