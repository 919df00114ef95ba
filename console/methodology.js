// The figures explained in plain words: a short "How to read these
// figures" for every report and result, and the methodology page every
// figure links to (#/methodology). No API vocabulary here: what a reader
// of a published table needs to know, in the words of a statistics office.

import { h, fmt } from "./dom.js";
import { session } from "./api.js";

/// The short version, shown with every report and result.
export function howToRead({ k, confidence, consistent = false, overlap = false, report = false } = {}) {
  const c = fmt((confidence ?? 0.95) * 100);
  return h(
    "details",
    { className: "howto-read", open: true },
    h("summary", {}, "How to read these figures"),
    h(
      "ul",
      {},
      h("li", {}, "Every number is an estimate: a small random amount was added to each count so that no single victim can be recognised in it. Read a figure as “about this many”."),
      h("li", {}, `The ± figure is the margin of error: the true count is within it of the published one ${c} times in 100.`),
      h("li", {}, `“S” or “suppressed” means fewer than ${k ?? "k"} were counted after the random amount was added, or that the cell had to be hidden so that another hidden cell cannot be worked out. It is withheld, not zero.`),
      report && consistent
        ? h("li", {}, "The tables of this report were adjusted together so that they add up to the same total and agree with each other; a table marked as not adjusted keeps its own estimates.")
        : h("li", {}, "Each cell is estimated on its own: adding cells adds their errors too, so a sum is less precise than the cells it is made of."),
      overlap ? h("li", {}, "Where a victim can be in several categories (several types of exploitation, several kinds of assistance), the categories overlap and do not add up to the number of victims.") : null,
      h("li", {}, "Asking the same question again gives the same numbers, at no further cost."),
    ),
    h("p", {}, h("a", { href: "#/methodology" }, "More about the method")),
  );
}

/// The methodology page.
export async function renderMethodology(view) {
  const ds = session.catalog ?? {};
  const unit = ds.unit_of_privacy ?? "person";
  const u = ds.unit === "rho" ? "ρ" : "ε";
  view.replaceChildren(
    h("h1", {}, "How to read the figures"),
    h(
      "section",
      { className: "card", id: "methodology" },
      h("h2", {}, "Where the figures come from"),
      h("p", {}, `The figures count case records of identified victims of trafficking in ${ds.title ?? "the dataset"}. Nobody sees the records themselves: every figure is computed inside the service and released only as a rounded, deliberately blurred count.`),
      h("h2", {}, "Why the numbers are blurred"),
      h("p", {}, `Before a count leaves the service, a random amount is added to it (the method is called differential privacy). The amount is small for large counts and large relative to small ones, so that a published table cannot reveal whether any one ${unit} is in the data. Each release uses up part of a “privacy budget” (${u}): the more precise a figure, the more budget it uses; once the budget is spent, no more figures are released.`),
      h("h2", {}, "Margins of error"),
      h("p", {}, `Every figure comes with a margin of error (±). With ${fmt((ds.default_confidence ?? 0.95) * 100)} % confidence, the count before blurring lies within the margin of the published one. Cite the margin with the figure. Differences between two figures smaller than their margins may be due to the blurring alone.`),
      h("h2", {}, "Suppressed cells (S)"),
      h("p", {}, `A cell whose blurred count is below ${ds.k ?? "k"} is not published: it is shown as “S” or “suppressed”. A few more cells may be hidden as well, so that a hidden cell cannot be worked out from a total and the other cells. A suppressed cell means “too few to publish”, never “none”. Long tables group the hidden cells in one line (“141 countries suppressed”).`),
      h("h2", {}, "Totals and tables that add up"),
      h("p", {}, "In a national or regional report, the tables that show a total were adjusted together, after blurring, so that they add up to one total and agree with each other. Other tables, and counts you ask for yourself, keep their own estimates: adding their cells adds their errors."),
      h("h2", {}, "Categories that overlap"),
      h("p", {}, "Some questions allow several answers for one victim (types of exploitation, means of control, assistance received). Counts by such a category overlap: a victim is counted once in each category that applies, and the cells do not add up to the number of victims. Only victims for whom the category is known are counted."),
      h("h2", {}, "Repeats and citations"),
      h("p", {}, "Asking the same question again, on the same version of the data, returns exactly the same numbers and costs nothing. Each release has an identifier (shown under every figure and in every download): quote it with the data version so that others can find the very same figures."),
      h("h2", {}, "Countries and labels"),
      h("p", {}, "Countries are named by their ISO 3166-1 codes in downloads (with their English names alongside); the names shown are labels only. “Unknown” counts victims whose value was not recorded."),
    ),
  );
}
