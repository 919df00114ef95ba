// "My budget": the consumer's limit, spend and history (GET /v1/budget,
// GET /v1/budget/history: its own ledger entries only), and "My releases":
// each past release in words, reopened as a free repeat (the same query on
// the same data is answered again at no cost).

import { h, fmt, fill, stat } from "./dom.js";
import { session, api, allPages, unitSign } from "./api.js";
import { figure, spendLines, dataTable, widthOf } from "./charts.js";
import { bodyFromCanonical, filtersText, periodText } from "./view-researcher.js";
import { dimName } from "./labels.js";

/// A past release in words, and where to reopen it.
function describe(entry, role) {
  const body = entry.query ? bodyFromCanonical(entry.query) : null;
  if (!body) return null;
  const u = unitSign();
  const cost = body.epsilon ?? body.rho;
  const what = body.dimensions.length ? `Counts by ${body.dimensions.map(dimName).join(" × ")}` : "A total count";
  const when = entry.at.replace("T", " ").slice(0, 16);
  const paid = entry.event === "charge" ? `charged ${u} ${fmt(entry.cost)}` : "a free repeat";
  const text = `${what}, ${periodText(body.filters)}, ${filtersText(body.filters)}, at a cost of ${u} ${fmt(cost)} (${paid}), ${when} UTC.`;
  // Researchers and governments reopen it as the same count; a regional
  // partner's tables are reopened with its report (same query, free).
  const href = ["researcher", "government"].includes(role)
    ? `#/counts?${new URLSearchParams({ q: JSON.stringify(body) })}`
    : `#/${role === "regional" ? "regional" : "national"}`;
  return { text, href, seq: entry.seq };
}

export async function renderBudget(view) {
  const [me, history] = await Promise.all([api("/v1/budget"), allPages("/v1/budget/history", "entries")]);
  session.me = me;
  const u = unitSign();
  const points = history
    .filter((e) => e.spent_after != null)
    .map((e) => ({ consumer: me.consumer, at: new Date(e.at), spent: e.spent_after, limit: e.limit_after ?? me.limit, pct: (100 * e.spent_after) / (e.limit_after || me.limit || 1) }));
  const width = widthOf(view) - 40; // inside a card's padding
  const spend = points.length ? spendLines(points, { width, limit: me.limit, unit: u, ariaLabel: `Your spent budget over time against your limit (now ${fmt(me.spent)} of ${fmt(me.limit)})` }) : null;
  const meter = h("meter", { min: 0, max: me.limit || 1, value: me.spent, "aria-label": `spent ${fmt(me.spent)} of ${fmt(me.limit)}` });
  // Newest first; one line per distinct query (a repeat adds nothing new).
  const seen = new Set();
  const releases = [...history]
    .reverse()
    .filter((e) => (e.event === "charge" || e.event === "replay") && e.query && !seen.has(e.query) && seen.add(e.query))
    .map((e) => describe(e, me.role))
    .filter(Boolean);
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
      { className: "card", id: "my-releases" },
      h("h2", {}, "My releases"),
      releases.length
        ? h(
            "ol",
            { className: "releases", reversed: true },
            ...releases.map((r) => h("li", { "data-seq": r.seq }, r.text, " ", h("a", { href: r.href, className: "reopen", "data-seq": r.seq }, "Reopen (free repeat)"))),
          )
        : h("p", { className: "muted" }, "No release yet."),
      h("p", { className: "muted" }, "Reopening asks the same question again: on the same version of the data it returns the same figures and costs nothing. After a data update it would be a new release, and its cost is shown before anything is charged."),
    ),
    h(
      "section",
      { className: "card" },
      h("h2", {}, "History"),
      spend ? figure({ title: "Spent over time, against your limit", chart: spend.chart, table: historyTable(history) }) : h("p", { className: "muted" }, "Nothing charged yet."),
      !spend && history.length ? historyTable(history) : null,
    ),
  );
}

function historyTable(entries) {
  return dataTable(
    [...entries].reverse(),
    [
      { label: "#", num: true, value: (e) => e.seq },
      { label: "time (UTC)", value: (e) => e.at.replace("T", " ").replace("Z", "") },
      { label: "event", value: (e) => e.event },
      { label: "outcome", value: (e) => e.outcome },
      { label: "cost", num: true, value: (e) => fmt(e.cost) },
      { label: "spent after", num: true, value: (e) => fmt(e.spent_after) },
      { label: "query", value: (e) => h("code", {}, e.query ?? "") },
    ],
    null,
    "Your ledger entries, newest first",
  );
}
