//! The targets of issue 6, evaluated on the measured figures (never asserted by a timed
//! test: the report shows them met or missed).

use super::pivot::Pivot;
use crate::ids::{OPERATIONS, dataset_label, is_point_operation};

/// Server backends (the first target's scope).
const SERVERS: [&str; 5] = ["postgres", "mysql", "redis", "redis-cluster", "tiered"];
/// Point reads of the second target.
const POINT_READS: [&str; 4] = [
    "get_token",
    "get_token_by_access_token",
    "get_session",
    "get_kv",
];
/// Listings, which return [`crate::dataset::ITEMS_PER_USER`] items at every dataset size.
const LISTINGS: [&str; 3] = ["list_user_tokens", "list_user_sessions", "list_kv_keys"];

/// Whether a target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every case checked is within the limit.
    Met,
    /// At least one is not.
    Missed,
    /// Nothing to check (e.g. only one dataset measured).
    NotEvaluated,
}

impl Status {
    /// `met`, `MISSED`, `not evaluated`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "MISSED",
            Status::NotEvaluated => "not evaluated",
        }
    }
}

/// One target and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The target as the issue states it.
    pub target: &'static str,
    /// Met, missed or not evaluated.
    pub status: Status,
    /// The deciding figure: cases within the limit and the worst case.
    pub figure: String,
    /// Every case outside the limit.
    pub misses: Vec<String>,
}

/// One checked case: a label and its value; `within` says if it meets the limit.
struct Case {
    label: String,
    value: f64,
    within: bool,
}

fn verdict(
    target: &'static str,
    unit: &str,
    cases: Vec<Case>,
    worst_is_max: bool,
    why_none: &str,
) -> Verdict {
    if cases.is_empty() {
        return Verdict {
            target,
            status: Status::NotEvaluated,
            figure: why_none.to_owned(),
            misses: Vec::new(),
        };
    }
    let met = cases.iter().filter(|c| c.within).count();
    let worst = cases
        .iter()
        .max_by(|a, b| {
            if worst_is_max {
                a.value.total_cmp(&b.value)
            } else {
                b.value.total_cmp(&a.value)
            }
        })
        .expect("not empty");
    let misses = cases
        .iter()
        .filter(|c| !c.within)
        .map(|c| format!("{}: {:.2}{unit}", c.label, c.value))
        .collect();
    Verdict {
        target,
        status: if met == cases.len() {
            Status::Met
        } else {
            Status::Missed
        },
        figure: format!(
            "{met}/{} within; worst {} at {:.2}{unit}",
            cases.len(),
            worst.label,
            worst.value
        ),
        misses,
    }
}

/// Evaluates every target on `pivot`.
pub fn evaluate(pivot: &Pivot) -> Vec<Verdict> {
    let mut server_cases = Vec::new();
    for backend in SERVERS {
        for dataset in pivot.datasets(backend) {
            for op in OPERATIONS.iter().filter(|op| is_point_operation(op)) {
                if let Some(r) = pivot.ratio(op, backend, dataset, 1) {
                    let speed = r.relative_speed();
                    server_cases.push(Case {
                        label: format!("{op}/{backend}/{} vs {}", dataset_label(dataset), r.engine),
                        value: speed,
                        within: speed >= 0.8,
                    });
                }
            }
        }
    }
    let mut read_cases = Vec::new();
    for backend in ["memory", "unified"] {
        for dataset in pivot.datasets(backend) {
            for op in POINT_READS {
                if let Some(r) = pivot.ratio(op, backend, dataset, 1) {
                    let ratio = r.latency_ratio();
                    read_cases.push(Case {
                        label: format!("{op}/{backend}/{}", dataset_label(dataset)),
                        value: ratio,
                        within: ratio <= 2.0,
                    });
                }
            }
        }
    }
    let growth_cases = |ops: &mut dyn Iterator<Item = &str>| {
        let ops: Vec<&str> = ops.collect();
        let mut cases = Vec::new();
        for backend in pivot.backends() {
            for op in &ops {
                if let Some(g) = pivot.growth(op, backend, 1) {
                    cases.push(Case {
                        label: format!(
                            "{op}/{backend} {}→{}",
                            dataset_label(g.from),
                            dataset_label(g.to)
                        ),
                        value: g.factor,
                        within: g.factor <= 1.5,
                    });
                }
            }
        }
        cases
    };
    let point_growth = growth_cases(
        &mut OPERATIONS
            .iter()
            .copied()
            .filter(|op| is_point_operation(op)),
    );
    let listing_growth = growth_cases(&mut LISTINGS.iter().copied());
    let one_dataset = "needs two dataset sizes of one backend (full mode)";
    vec![
        verdict(
            "Every single-item operation of a server backend at >= 0.8x its raw engine (speed, concurrency 1)",
            "x",
            server_cases,
            false,
            "no server backend measured together with its engine",
        ),
        verdict(
            "MemoryStorage/UnifiedStorage point reads <= 2x the raw DashMap get+clone (latency, concurrency 1)",
            "x",
            read_cases,
            true,
            "memory/unified or raw-dashmap not measured",
        ),
        verdict(
            "Point-operation latency at the largest dataset <= 1.5x the smallest (concurrency 1)",
            "x",
            point_growth,
            true,
            one_dataset,
        ),
        verdict(
            "Listing cost proportional to the result, not the store: listings of a fixed 10 items grow <= 1.5x from the smallest to the largest dataset",
            "x",
            listing_growth,
            true,
            one_dataset,
        ),
    ]
}
