//! Operator metrics, in the OpenMetrics text format Prometheus scrapes:
//! traffic by route and status, latency, releases, repeats and refusals,
//! group-commit batches, snapshot loads, and budget spent per role.
//!
//! It owns the process's one registry. It never holds a case, a true or noisy
//! count, a cell, or a figure about one consumer: labels are routes (never
//! paths with their values), statuses, problem codes and roles, and budget
//! spent is a sum per role read at scrape time, as auditors already see it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

/// The process's metrics. One per process, as a scrape sees one process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Media type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// How a release was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Counted, noised and charged now.
    Fresh,
    /// The stored answer of an earlier release (free).
    Repeat,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    releases: Family<KindLabels, Counter>,
    refusals: Family<CodeLabels, Counter>,
    batch_size: Histogram,
    commit_seconds: Histogram,
    snapshot_load_seconds: Gauge<f64, AtomicU64>,
    snapshot_loads: Counter,
    data_version: Gauge,
    spent: Family<RoleLabels, Gauge<f64, AtomicU64>>,
    global_spent: Gauge<f64, AtomicU64>,
    global_limit: Gauge<f64, AtomicU64>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ctm");
        let requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route template",
            latency.clone(),
        );
        let releases = Family::<KindLabels, Counter>::default();
        registry.register(
            "releases",
            "Tables released: kind=fresh (counted, noised and charged) or kind=repeat (stored answer, free)",
            releases.clone(),
        );
        let refusals = Family::<CodeLabels, Counter>::default();
        registry.register(
            "problems",
            "Problem responses (4xx and 5xx), by stable problem code",
            refusals.clone(),
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "ledger_batch_size",
            "Charges and refusal entries per group-committed ledger transaction",
            batch_size.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "ledger_commit_duration_seconds",
            "Time to commit one ledger batch durably",
            commit_seconds.clone(),
        );
        let snapshot_load_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_load_duration_seconds",
            "Time the latest snapshot load took",
            snapshot_load_seconds.clone(),
        );
        let snapshot_loads = Counter::default();
        registry.register(
            "snapshot_loads",
            "Snapshots loaded (at start and after each import)",
            snapshot_loads.clone(),
        );
        let data_version = Gauge::default();
        registry.register(
            "data_version",
            "Data version of the snapshot being served",
            data_version.clone(),
        );
        let spent = Family::<RoleLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "budget_spent",
            "Privacy budget spent in the dataset, summed over the consumers of each role (epsilon or rho, as the policy accounts)",
            spent.clone(),
        );
        let global_spent = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "global_budget_spent",
            "Privacy budget spent against the dataset's global limit",
            global_spent.clone(),
        );
        let global_limit = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "global_budget_limit",
            "The dataset's global privacy budget",
            global_limit.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            releases,
            refusals,
            batch_size,
            commit_seconds,
            snapshot_load_seconds,
            snapshot_loads,
            data_version,
            spent,
            global_spent,
            global_limit,
        }
    }

    /// One HTTP exchange: `route` is the route template (`/v1/national/{country}/report`),
    /// never the path with its values.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// A problem response with its stable code.
    pub fn problem(&self, code: &str) {
        self.refusals
            .get_or_create(&CodeLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    /// `tables` released, freshly or as repeats.
    pub fn released(&self, served: Served, tables: usize) {
        let kind = match served {
            Served::Fresh => "fresh",
            Served::Repeat => "repeat",
        };
        self.releases
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc_by(tables as u64);
    }

    /// One ledger transaction of `size` jobs, committed in `seconds`.
    pub fn ledger_batch(&self, size: usize, seconds: f64) {
        self.batch_size.observe(size as f64);
        self.commit_seconds.observe(seconds);
    }

    /// A snapshot of `data_version` loaded in `seconds`.
    pub fn snapshot_loaded(&self, data_version: i64, seconds: f64) {
        self.snapshot_loads.inc();
        self.snapshot_load_seconds.set(seconds);
        self.data_version.set(data_version);
    }

    /// Sets the budget gauges: spent per role (role, amount) and the global
    /// budget (spent, limit), read from the store just before a scrape.
    pub fn set_budgets(&self, spent: &[(String, f64)], global: (f64, f64)) {
        for (role, amount) in spent {
            self.spent
                .get_or_create(&RoleLabels { role: role.clone() })
                .set(*amount);
        }
        self.global_spent.set(global.0);
        self.global_limit.set(global.1);
    }

    /// The text a scrape gets.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoding error would be a bug
        // in a label type, and an empty scrape is how it would show.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_names_routes_codes_and_roles_only() {
        let m = Metrics::new();
        m.request("/v1/national/{country}/report", "GET", 200, 0.003);
        m.problem("budget.exhausted");
        m.released(Served::Fresh, 2);
        m.released(Served::Repeat, 1);
        m.ledger_batch(4, 0.002);
        m.snapshot_loaded(7, 1.5);
        m.set_budgets(&[("researcher".into(), 1.25)], (1.25, 100.0));
        let text = m.render();
        for line in [
            r#"ctm_http_requests_total{route="/v1/national/{country}/report",method="GET",status="200"} 1"#,
            r#"ctm_problems_total{code="budget.exhausted"} 1"#,
            r#"ctm_releases_total{kind="fresh"} 2"#,
            r#"ctm_releases_total{kind="repeat"} 1"#,
            r#"ctm_budget_spent{role="researcher"} 1.25"#,
            "ctm_data_version 7",
            "ctm_ledger_batch_size_count 1",
            "ctm_global_budget_limit 100.0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
