// The auditor's view: the ledger newest first, a page at a time; the
// server's own verification; the timeline and each consumer's spend; the
// signed checkpoints checked in this browser against the pinned key; the
// export and the exact command that verifies it offline.

import { h, fmt, fill, stat } from "./dom.js";
import { api, report, confirmDialog, download } from "./api.js";
import { figure, legend, timeline, spendLines, dataTable, widthOf, EVENT_COLOURS } from "./charts.js";


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

export async function renderAudit(view) {
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
