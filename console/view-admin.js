// The admin's view: every consumer's budget, and setting one (the role
// checked before the confirmation; every change is a ledger entry).

import { h, fmt, fill } from "./dom.js";
import { $, api, report, showAlert, clearAlert, confirmDialog } from "./api.js";
import { dataTable } from "./charts.js";

export async function renderAdmin(view) {
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
