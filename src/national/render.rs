//! Rendering a national release: the JSON answer, the CSV (one row per cell,
//! then the derived total row) and the SDMX-CSV observations. Everything here
//! reads the noisy cells of receipts, so it only runs after the charge.
//!
//! Over 500 lines because the three formats and the reconciliation step
//! that feeds them (`make_consistent`: the consistent estimate, then the
//! bounds of [`super::bounds`]) share one `Rendered` table; splitting them
//! would pass its fields between files. The arithmetic lives in
//! `release::consistent` and `bounds`, not here.

use super::bounds::{Bounds, Part};
use super::total::{NationalTotal, derived_total};
use super::{Format, Scope, TablePlan, perspective_name, sdmx};
use crate::budget::{Receipt, RenderResult};
use crate::domain::Field;
use crate::domain::budget::{Amount, Budget, compose_amounts};
use crate::policy::Policy;
use crate::release::query::Perspective;
use crate::release::{
    self, BudgetView, CellKey, CellOut, Charged, MechanismView, StoredRelease, consistent,
};
use serde::Serialize;
use serde_json::Value;

/// One table of a national release.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NationalTable {
    /// Table id from the policy.
    pub id: String,
    pub title: String,
    pub dimensions: Vec<String>,
    /// SHA-256 of the canonical query: equal to that of the equivalent `POST /v1/counts`.
    pub query_id: String,
    /// SHA-256 of the canonical query and the data version: equal for identical answers.
    pub release_id: String,
    /// Every cell of the declared domain, suppressed ones included.
    pub cells: Vec<CellOut>,
    /// The total row; null when the table has none. In a consistent table it
    /// is the report's one total, which the table's cells add up to.
    pub total: Option<NationalTotal>,
    /// True when the cells are the report's consistent estimate: this table
    /// and every other consistent table add up to the same total.
    pub consistent: bool,
    pub cost: f64,
    /// What this request charged you for this table (0 if you had paid for it).
    pub charged: f64,
    pub repeat: bool,
    pub mechanism: MechanismView,
    /// Margin of error of every released cell at `confidence`.
    pub margin_of_error: u64,
    /// Position of this table's entry in the audit ledger.
    pub ledger_seq: i64,
    /// The `POST /v1/counts` body that asks for this very release.
    #[schema(value_type = Object)]
    pub count_request: Value,
    /// How this table relates to the others of the release, where a reader
    /// could expect a relation that is only a bound or is not enforced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Answer of `GET /v1/national/{country}/tables/{table}` (one table) and
/// `GET /v1/national/{country}/report` (every table of the perspective).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NationalRelease {
    pub dataset: String,
    /// ISO 3166-1 alpha-3, or the region's code for a regional release.
    pub country: String,
    /// The region, for a regional release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<super::RegionView>,
    /// The other country of a bilateral flow (ISO 3166-1 alpha-3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    pub perspective: Perspective,
    /// Registration years covered, first and last.
    pub from_year: u16,
    pub to_year: u16,
    pub data_version: i64,
    pub confidence: f64,
    /// Cells whose noisy count is below k are suppressed.
    pub k: u64,
    pub clamp_negative: bool,
    pub round_to: u64,
    /// True when the tables that partition the population (those with a
    /// total row) were estimated together: one total, agreeing marginals,
    /// non-negative integers.
    pub consistent: bool,
    /// How, when `consistent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_method: Option<&'static str>,
    pub tables: Vec<NationalTable>,
    /// Sum of the tables' costs.
    pub cost: f64,
    /// zCDP only: the cost read as (epsilon, delta)-DP at the policy's delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_approx_dp: Option<release::ApproxDp>,
    /// Whose privacy the cost is per: `person` (with all of their cases) or `case` (one record).
    pub unit_of_privacy: crate::policy::PrivacyUnit,
    /// What this request charged you: the tables you had not paid for yet.
    pub charged: f64,
    /// True when nothing was charged: you had paid for every table.
    pub repeat: bool,
    pub budget: BudgetView,
    pub notes: Vec<String>,
}

/// A table as released to this request, ready to render.
struct Rendered<'a> {
    tp: &'a TablePlan<'a>,
    release_id: &'a str,
    keys: Vec<CellKey>,
    /// In the request's dimension order, as `keys`: what is published.
    cells: Vec<Option<i64>>,
    /// The noisy counts the cells were made from (never published).
    noisy: Option<Vec<i64>>,
    /// Each cell's margin of error.
    margins: Vec<u64>,
    /// The total row, when the table has one.
    total: Option<NationalTotal>,
    /// Whether the cells are the report's consistent estimate.
    consistent: bool,
    charged: Amount,
    repeat: bool,
    ledger_seq: i64,
}

impl<'a> Rendered<'a> {
    fn new(
        tp: &'a TablePlan<'a>,
        release_id: &'a str,
        receipt: &Receipt,
        round_to: u64,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let stored = StoredRelease::read(&receipt.release_body, &tp.plan)?;
        let keys = CellKey::all(&tp.plan.query);
        if keys.len() != stored.cells.len() {
            return Err(format!(
                "table {}: a release of {} cells for {} keys",
                tp.table.id,
                stored.cells.len(),
                keys.len()
            )
            .into());
        }
        let plan = &tp.plan;
        let total = tp
            .table
            .total
            .then(|| derived_total(plan, &stored.cells, plan.query.confidence, round_to));
        Ok(Rendered {
            tp,
            release_id,
            margins: vec![plan.margin; keys.len()],
            keys,
            total,
            consistent: false,
            cells: stored.cells,
            noisy: stored.noisy,
            charged: receipt.charged,
            repeat: receipt.replay,
            ledger_seq: receipt.ledger_seq,
        })
    }
}

/// Everything a response says besides its tables.
struct Context<'a> {
    policy: &'a Policy,
    scope: &'a Scope,
    data_version: i64,
    /// The consumer's budget after the charge.
    budget: Budget<Amount>,
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// One table as post-processing across tables sees it.
struct Source<'a> {
    tp: &'a TablePlan<'a>,
    keys: &'a [CellKey],
    noisy: Option<&'a [i64]>,
}

/// The consistent estimate ([`consistent`]) of the tables of `sources`
/// that partition the population, in order (`None` for the others: tables
/// with a multi-valued dimension, or released before noisy counts were
/// stored).
fn consistent_outputs(
    policy: &Policy,
    sources: &[Source<'_>],
) -> Result<Vec<Option<consistent::Output>>, Box<dyn std::error::Error + Send + Sync>> {
    let taking_part: Vec<(usize, consistent::Input<'_>)> = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.tp.table.total
                && s.tp
                    .plan
                    .query
                    .dimensions
                    .iter()
                    .all(|d| d.field.kind() == crate::domain::FieldKind::Single)
        })
        .filter_map(|(i, s)| {
            s.noisy.map(|noisy| {
                (
                    i,
                    consistent::Input {
                        plan: &s.tp.plan,
                        keys: s.keys,
                        noisy,
                    },
                )
            })
        })
        .collect();
    let inputs: Vec<consistent::Input<'_>> = taking_part.iter().map(|(_, i)| *i).collect();
    let outputs = consistent::estimate(&inputs, policy.k)?;
    let mut out: Vec<Option<consistent::Output>> = sources.iter().map(|_| None).collect();
    for ((i, _), o) in taking_part.iter().zip(outputs) {
        out[*i] = Some(o);
    }
    Ok(out)
}

impl Rendered<'_> {
    fn take_consistent(&mut self, out: consistent::Output) {
        let suppressed = out.cells.iter().filter(|c| c.is_none()).count();
        self.total = Some(NationalTotal {
            count: out.total,
            margin_of_error: out.total_margin,
            cells_summed: out.cells.len(),
            cells_suppressed: suppressed,
            complete: true,
            method: "consistent_total",
        });
        self.cells = out.cells;
        self.margins = out.margins;
        self.consistent = true;
    }
}

/// The report a single table belongs to, already paid for by the consumer:
/// every table's plan, release key and stored body. A table asked for on
/// its own is then published as in that report.
pub(super) struct PaidReport<'a> {
    pub plans: &'a [TablePlan<'a>],
    pub keys: &'a [String],
    pub bodies: &'a [String],
}

/// How the tables of a national release are published.
pub(super) enum Consistency<'a> {
    /// Each table as released (a single table nobody paid a report for).
    Independent,
    /// A report: its tables estimated together.
    Report,
    /// A single table of a report the consumer already paid for, as published there.
    AsInReport(&'a PaidReport<'a>),
}

/// Makes `items` consistent: a report's own tables, or a single table as
/// in the `report` it belongs to; then brings the tables not estimated
/// together within what the consistent ones publish ([`Bounds`]).
fn make_consistent(
    policy: &Policy,
    scope: &Scope,
    items: &mut [Rendered<'_>],
    report: Option<&PaidReport<'_>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let perspective = scope.perspective.field();
    let region = scope.area.region(policy).is_some();
    let bounds = match report {
        None => {
            let (outputs, bounds) = {
                let sources: Vec<Source<'_>> = items
                    .iter()
                    .map(|it| Source {
                        tp: it.tp,
                        keys: &it.keys,
                        noisy: it.noisy.as_deref(),
                    })
                    .collect();
                let outputs = consistent_outputs(policy, &sources)?;
                let plans: Vec<&TablePlan<'_>> = sources.iter().map(|s| s.tp).collect();
                let keys: Vec<&[CellKey]> = sources.iter().map(|s| s.keys).collect();
                let bounds = Bounds::of(&plans, &keys, &outputs, perspective, region);
                (outputs, bounds)
            };
            for (it, out) in items.iter_mut().zip(outputs) {
                if let Some(out) = out {
                    it.take_consistent(out);
                }
            }
            bounds
        }
        Some(report) => {
            let stored: Vec<(Vec<CellKey>, StoredRelease)> = report
                .plans
                .iter()
                .zip(report.bodies)
                .map(|(tp, body)| {
                    Ok((
                        CellKey::all(&tp.plan.query),
                        StoredRelease::read(body, &tp.plan)?,
                    ))
                })
                .collect::<Result<_, serde_json::Error>>()?;
            let sources: Vec<Source<'_>> = report
                .plans
                .iter()
                .zip(&stored)
                .map(|(tp, (keys, s))| Source {
                    tp,
                    keys,
                    noisy: s.noisy.as_deref(),
                })
                .collect();
            let mut outputs = consistent_outputs(policy, &sources)?;
            let plans: Vec<&TablePlan<'_>> = report.plans.iter().collect();
            let keys: Vec<&[CellKey]> = stored.iter().map(|(k, _)| k.as_slice()).collect();
            let bounds = Bounds::of(&plans, &keys, &outputs, perspective, region);
            // The report's other tables, bounded together as the report
            // publishes them.
            let mut others: Vec<(usize, Vec<Option<i64>>, Vec<u64>)> = outputs
                .iter()
                .enumerate()
                .filter(|(_, o)| o.is_none())
                .map(|(i, _)| {
                    let cells = stored[i].1.cells.clone();
                    let margins = vec![report.plans[i].plan.margin; cells.len()];
                    (i, cells, margins)
                })
                .collect();
            let mut parts: Vec<Part<'_>> = others
                .iter_mut()
                .map(|(i, cells, margins)| Part {
                    tp: &report.plans[*i],
                    keys: keys[*i],
                    cells,
                    margins,
                })
                .collect();
            bounds.apply(&mut parts, perspective, policy.k);
            drop(parts);
            for it in items.iter_mut() {
                // The same release as the report's (same data), or nothing.
                let Some(i) = report.keys.iter().position(|k| k == it.release_id) else {
                    continue;
                };
                if let Some(out) = outputs[i].take() {
                    it.take_consistent(out);
                } else if let Some((_, cells, margins)) = others.iter().find(|(j, _, _)| *j == i)
                    && cells.len() == it.cells.len()
                {
                    it.cells.clone_from(cells);
                    it.margins.clone_from(margins);
                }
            }
            return Ok(());
        }
    };
    let mut parts: Vec<Part<'_>> = items
        .iter_mut()
        .filter(|it| !it.consistent)
        .map(|it| Part {
            tp: it.tp,
            keys: &it.keys,
            cells: &mut it.cells,
            margins: &mut it.margins,
        })
        .collect();
    bounds.apply(&mut parts, perspective, policy.k);
    Ok(())
}

/// The response of a national release of `plans` (one table or a report),
/// built from the receipts of its charge; a report (`consistent`) publishes
/// its tables' consistent estimate. Any failure is an error, never an empty
/// or partial body.
pub(super) fn render(
    policy: &Policy,
    scope: &Scope,
    plans: &[TablePlan<'_>],
    charged: &Charged<'_>,
    format: Format,
    consistency: Consistency<'_>,
) -> RenderResult {
    if plans.len() != charged.receipts.len() || plans.len() != charged.release_ids.len() {
        return Err(format!(
            "{} receipts for {} tables",
            charged.receipts.len(),
            plans.len()
        )
        .into());
    }
    let mut items: Vec<Rendered<'_>> = plans
        .iter()
        .zip(charged.release_ids)
        .zip(charged.receipts)
        .map(|((tp, id), receipt)| Rendered::new(tp, id, receipt, policy.output.round_to))
        .collect::<Result<_, _>>()?;
    // Controlled rounding keeps sums in whole units; a policy that rounds
    // to a coarser base publishes its tables as they are.
    if policy.output.round_to <= 1 {
        match consistency {
            Consistency::Independent => {}
            Consistency::Report => make_consistent(policy, scope, &mut items, None)?,
            Consistency::AsInReport(report) => {
                make_consistent(policy, scope, &mut items, Some(report))?
            }
        }
    }
    let budget = charged
        .receipts
        .first()
        .map(|r| r.budget)
        .ok_or("a national release without tables")?;
    let cx = Context {
        policy,
        scope,
        data_version: charged.data_version,
        budget,
    };
    Ok(match format {
        Format::Json => serde_json::to_vec(&json_release(&cx, &items)?)?,
        Format::Csv => csv_release(&cx, &items)?,
        Format::Sdmx => sdmx::write_csv(
            cx.policy,
            &sdmx_observations(&cx, &items),
            sdmx::CsvVersion::V1,
        )?,
        Format::Sdmx2 => sdmx::write_csv(
            cx.policy,
            &sdmx_observations(&cx, &items),
            sdmx::CsvVersion::V2,
        )?,
        Format::Observations => serde_json::to_vec(&sdmx_observations(&cx, &items))?,
    })
}

fn json_release(
    cx: &Context<'_>,
    items: &[Rendered<'_>],
) -> Result<NationalRelease, Box<dyn std::error::Error + Send + Sync>> {
    let policy = cx.policy;
    let confidence = policy.default_confidence_micro as f64 / 1e6;
    let tables: Vec<NationalTable> = items
        .iter()
        .map(|it| {
            let plan = &it.tp.plan;
            let names: Vec<&str> = plan
                .query
                .dimensions
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            let cells = it
                .keys
                .iter()
                .cloned()
                .zip(&it.cells)
                .zip(&it.margins)
                .map(|((key, cell), margin)| CellOut {
                    key,
                    count: *cell,
                    suppressed: cell.is_none(),
                    margin_of_error: *margin,
                })
                .collect();
            Ok(NationalTable {
                id: it.tp.table.id.clone(),
                title: it.tp.table.title.clone(),
                dimensions: names.iter().map(|s| s.to_string()).collect(),
                query_id: plan.query_id.clone(),
                release_id: it.release_id.to_owned(),
                cells,
                total: it.total.clone(),
                consistent: it.consistent,
                cost: plan.cost.to_f64(),
                charged: it.charged.to_f64(),
                repeat: it.repeat,
                mechanism: release::mechanism_view(&plan.mechanism, plan.sensitivity),
                margin_of_error: it.margins.iter().copied().max().unwrap_or(plan.margin),
                ledger_seq: it.ledger_seq,
                count_request: strip_nulls(serde_json::to_value(&it.tp.request)?),
                notes: table_notes(cx, it, items.len() > 1),
            })
        })
        .collect::<Result<_, serde_json::Error>>()?;
    let cost = compose_amounts(items.iter().map(|it| it.tp.plan.cost))?;
    let charged = compose_amounts(items.iter().map(|it| it.charged))?;
    let consistent = items.iter().any(|it| it.consistent);
    let mut notes =
        vec!["counts are noisy; cells whose noisy count is below k are suppressed".to_string()];
    if consistent {
        notes.push("the tables with a total row are consistent: estimated together from all the tables' noisy counts (weighted least squares, then non-negative integers by controlled rounding), they add up to one total and agree on what they share (the dimensions two tables both break down by; internal_vs_international with the citizenship or country of exploitation table). This is post-processing: free, and no true count is read".to_string());
        notes.push("cells below k are suppressed, and then as many more cells as it takes (the smallest first) so that no suppressed cell can be computed from the published ones, the total and the other tables included; a total below k is withheld".to_string());
        notes.push("margins of consistent cells come from the exact variance of the estimate (usually smaller than one table's alone), plus how far making them whole and non-negative moved each cell, so they hold for the published numbers".to_string());
        notes.push("tables with a multi-valued dimension (a victim in several cells) have no total and keep their own noisy cells".to_string());
        notes.push("each table is measured by the same release as POST /v1/counts with its count_request (repeats through either route are free); the report publishes the consistent estimate made from them, so its cells may differ from that release's by up to their margins".to_string());
    } else {
        notes.push("totals are derived from the released noisy cells (free post-processing, never true counts); a total that leaves out suppressed cells has complete = false and understates".to_string());
        notes.push("each table is the same release as POST /v1/counts with its count_request: repeats through either route are free and identical".to_string());
    }
    if policy.output.round_to > 1 {
        notes.push(format!(
            "counts are rounded to multiples of {}; totals add the rounded cells",
            policy.output.round_to
        ));
    }
    Ok(NationalRelease {
        dataset: policy.dataset.clone(),
        country: cx.scope.area.code(policy).to_owned(),
        region: cx.scope.area.region(policy).map(super::RegionView::of),
        other: cx.scope.other.map(|c| c.code().to_owned()),
        perspective: cx.scope.perspective,
        from_year: cx.scope.from_year,
        to_year: cx.scope.to_year,
        data_version: cx.data_version,
        confidence,
        k: policy.k,
        clamp_negative: policy.output.clamp_negative,
        round_to: policy.output.round_to,
        consistent,
        consistency_method: consistent.then_some(consistent::METHOD),
        tables,
        cost: cost.to_f64(),
        cost_approx_dp: release::approx_dp(policy, cost),
        unit_of_privacy: policy.unit,
        charged: charged.to_f64(),
        repeat: items.iter().all(|it| it.repeat),
        budget: release::budget_view(policy, cx.budget),
        notes,
    })
}

/// The notes next to one table (see [`NationalTable::notes`]).
fn table_notes(cx: &Context<'_>, it: &Rendered<'_>, in_report: bool) -> Vec<String> {
    let region = cx.scope.area.region(cx.policy).is_some();
    let query = &it.tp.plan.query;
    let mut notes = Vec::new();
    if it.tp.table.flow.is_some() && region && in_report {
        notes.push(
            "part of the members' victims: for each member, at most its figure in by_member \
             (brought down to it where the noise put it above, the margins widened by as much); \
             not made to add up to by_member, since victims of unknown citizenship or country of \
             exploitation are in no flow"
                .to_owned(),
        );
    }
    if query
        .dimensions
        .iter()
        .any(|d| d.field.kind() == crate::domain::FieldKind::Multi)
    {
        notes.push(
            "a victim may be in several cells: the cells do not add up to the total, and in a \
             report each is at most the report's total"
                .to_owned(),
        );
    }
    if region
        && it.consistent
        && query
            .dimensions
            .iter()
            .any(|d| d.field == Field::IsInternal)
    {
        notes.push(
            "internal counts members' nationals exploited in their own country; the diagonal \
             of flow_within measures the same victims in another release and is not reconciled \
             with it (the two may differ within their margins)"
                .to_owned(),
        );
    }
    notes
}

/// Status column of the CSV.
const CSV_RELEASED: &str = "released";
const CSV_SUPPRESSED: &str = "suppressed";
const CSV_TOTAL: &str = "total";
const CSV_PARTIAL_TOTAL: &str = "partial_total";

/// One CSV for every table of the release: one row per cell, then the
/// table's total row if it has one. Columns: country, perspective, period,
/// table, the dimensions of all tables (empty where a table does not break
/// down by one), count, margin_of_error, status.
fn csv_release(cx: &Context<'_>, items: &[Rendered<'_>]) -> Result<Vec<u8>, csv::Error> {
    let mut dims: Vec<&str> = Vec::new();
    for it in items {
        for d in &it.tp.plan.query.dimensions {
            if !dims.contains(&d.name.as_str()) {
                dims.push(d.name.as_str());
            }
        }
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut header = vec!["country", "perspective", "period", "table"];
    header.extend(dims.iter().copied());
    header.extend(["count", "margin_of_error", "status"]);
    w.write_record(&header)?;
    let country = cx.scope.area.code(cx.policy);
    let perspective = perspective_name(cx.scope.perspective);
    let period = cx.scope.period();
    for it in items {
        let plan = &it.tp.plan;
        let position = |name: &str| plan.query.dimensions.iter().position(|d| d.name == name);
        let row = |values: Vec<String>, count: String, margin: String, status: &str| {
            let mut r = vec![
                country.to_owned(),
                perspective.to_owned(),
                period.clone(),
                it.tp.table.id.clone(),
            ];
            r.extend(values);
            r.extend([count, margin, status.to_owned()]);
            r
        };
        for ((key, cell), margin) in it.keys.iter().zip(&it.cells).zip(&it.margins) {
            let values = dims
                .iter()
                .map(|d| {
                    position(d)
                        .and_then(|p| key.value(p))
                        .map_or(String::new(), str::to_owned)
                })
                .collect();
            let r = match cell {
                Some(v) => row(values, v.to_string(), margin.to_string(), CSV_RELEASED),
                None => row(values, String::new(), String::new(), CSV_SUPPRESSED),
            };
            w.write_record(&r)?;
        }
        if let Some(t) = &it.total {
            let values = dims
                .iter()
                .map(|d| {
                    if position(d).is_some() {
                        "total".to_owned()
                    } else {
                        String::new()
                    }
                })
                .collect();
            let r = match t.count {
                Some(count) => row(
                    values,
                    count.to_string(),
                    t.margin_of_error.to_string(),
                    if t.complete {
                        CSV_TOTAL
                    } else {
                        CSV_PARTIAL_TOTAL
                    },
                ),
                None => row(values, String::new(), String::new(), CSV_SUPPRESSED),
            };
            w.write_record(r)?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The code of a filter on `field` in an observation's key: the one value it
/// keeps; a region's code when it keeps the region's members; "outside the
/// region" (`_O`) when it keeps the rest of the world; else not broken down.
fn area_code(policy: &Policy, scope: &Scope, field: Field, values: &[String]) -> String {
    if let [one] = values {
        return sdmx::value_code(field, one);
    }
    match scope.area.region(policy) {
        Some(region)
            if values.len() == region.members.len()
                && region
                    .members
                    .iter()
                    .all(|m| values.iter().any(|v| v == m.code())) =>
        {
            region.code.clone()
        }
        Some(_) if matches!(field, Field::Citizenship | Field::CountryOfExploitation) => {
            sdmx::OTHER.to_owned()
        }
        _ => sdmx::TOTAL.to_owned(),
    }
}

/// The SDMX key (one code per structure field) and time period of every
/// cell of `plans` for `scope`, in release order. They follow from the
/// policy and the request alone (every cell of the declared domain is
/// answered), so they can be listed before anything is released.
pub(super) fn observation_keys(
    policy: &Policy,
    scope: &Scope,
    plans: &[&TablePlan<'_>],
) -> Vec<(Vec<String>, String)> {
    let fields = sdmx::structure_fields(policy);
    let mut out = Vec::new();
    for tp in plans {
        let q = &tp.plan.query;
        let year_pos = q
            .dimensions
            .iter()
            .position(|d| d.field == Field::RegistrationYear);
        for key in CellKey::all(q) {
            let codes = fields
                .iter()
                .map(|&f| {
                    if let Some(p) = q.dimensions.iter().position(|d| d.field == f) {
                        key.value(p)
                            .map_or_else(|| sdmx::TOTAL.to_owned(), |v| sdmx::value_code(f, v))
                    } else if let Some(flt) = q.filters.iter().find(|flt| flt.field == f) {
                        area_code(policy, scope, f, &flt.values)
                    } else {
                        sdmx::TOTAL.to_owned()
                    }
                })
                .collect();
            let time_period = match year_pos.and_then(|p| key.value(p)) {
                Some(y) => y.to_owned(),
                None => sdmx::time_period(scope.from_year, scope.to_year),
            };
            out.push((codes, time_period));
        }
    }
    out
}

/// The released cells as SDMX observations (derived totals are not observations).
fn sdmx_observations(cx: &Context<'_>, items: &[Rendered<'_>]) -> Vec<sdmx::Observation> {
    let plans: Vec<&TablePlan<'_>> = items.iter().map(|it| it.tp).collect();
    let values = items.iter().flat_map(|it| it.cells.iter().zip(&it.margins));
    observation_keys(cx.policy, cx.scope, &plans)
        .into_iter()
        .zip(values)
        .map(|((key, time_period), (cell, margin))| sdmx::Observation {
            key,
            time_period,
            value: *cell,
            margin_of_error: *margin,
        })
        .collect()
}
