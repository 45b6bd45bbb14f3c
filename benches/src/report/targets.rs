//! The targets of issues 6 and 15, evaluated on the measured figures (never asserted by a timed
//! test: the report shows them met or missed).

use super::pivot::Pivot;
use crate::ids::{OPERATIONS, WRITES, baseline_for, dataset_label, is_point_operation};

/// Server backends (the first target's scope).
const SERVERS: [&str; 5] = ["postgres", "mysql", "redis", "redis-cluster", "tiered"];
/// Point reads of the second target.
const POINT_READS: [&str; 4] = [
    "get_token",
    "get_token_by_access_token",
    "get_session",
    "get_kv",
];
/// The in-process backends of issue 15's item 5.
const IN_PROCESS: [&str; 2] = ["memory", "unified"];
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
    // Issue 15: PostgreSQL against the best client (tokio-postgres, prepared, one
    // connection), reads against its read and writes against its upsert.
    let mut pg_cases = Vec::new();
    for dataset in pivot.datasets("postgres") {
        for op in OPERATIONS.iter().filter(|op| is_point_operation(op)) {
            if let Some(r) = pivot.best_ratio(op, "postgres", dataset, 1) {
                let ratio = r.latency_ratio();
                pg_cases.push(Case {
                    label: format!("{op}/postgres/{} vs {}", dataset_label(dataset), r.engine),
                    value: ratio,
                    within: ratio <= 1.25,
                });
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
    // Each case also relative to its raw engine's own growth over the same sizes (for
    // listings, the point read of the engine that holds the records, which for the tiered
    // backend is PostgreSQL): what the memory hierarchy and the server alone add as the
    // store grows, which no index removes.
    let growth_cases = |ops: &mut dyn Iterator<Item = &str>| {
        let ops: Vec<&str> = ops.collect();
        let (mut cases, mut relative) = (Vec::new(), Vec::new());
        for backend in pivot.backends() {
            for op in &ops {
                let Some(g) = pivot.growth(op, backend, 1) else {
                    continue;
                };
                let label = format!(
                    "{op}/{backend} {}→{}",
                    dataset_label(g.from),
                    dataset_label(g.to)
                );
                let engine_growth = baseline_for(backend, op)
                    .or_else(|| {
                        let (store_of_record, _) = baseline_for(backend, "delete_kv")?;
                        Some((store_of_record, "engine_read_kv"))
                    })
                    .and_then(|(engine, engine_op)| pivot.growth(engine_op, engine, 1))
                    .filter(|e| (e.from, e.to) == (g.from, g.to));
                if let Some(e) = engine_growth {
                    let factor = g.factor / e.factor;
                    relative.push(Case {
                        label: label.clone(),
                        value: factor,
                        within: factor <= 1.5,
                    });
                }
                cases.push(Case {
                    label,
                    value: g.factor,
                    within: g.factor <= 1.5,
                });
            }
        }
        (cases, relative)
    };
    let (point_growth, point_relative) = growth_cases(
        &mut OPERATIONS
            .iter()
            .copied()
            .filter(|op| is_point_operation(op)),
    );
    let (listing_growth, listing_relative) = growth_cases(&mut LISTINGS.iter().copied());
    let in_process = |cases: &[Case]| -> Vec<Case> {
        cases
            .iter()
            .filter(|c| {
                IN_PROCESS
                    .iter()
                    .any(|b| c.label.contains(&format!("/{b} ")))
            })
            .map(|c| Case {
                label: c.label.clone(),
                value: c.value,
                within: c.value <= 1.2,
            })
            .collect()
    };
    let in_process_relative = in_process(&point_relative);
    // Issue 15 item 3: Redis against the best client's plain GET/SET (speed, c1), and
    // the cluster against the single node, operation by operation.
    let mut redis_cases = Vec::new();
    let mut cluster_cases = Vec::new();
    for dataset in pivot.datasets("redis") {
        for op in OPERATIONS.iter().filter(|op| is_point_operation(op)) {
            let label = format!("{op}/redis/{}", dataset_label(dataset));
            if let Some(r) = pivot.best_ratio(op, "redis", dataset, 1) {
                let speed = r.relative_speed();
                redis_cases.push(Case {
                    label: format!("{label} vs {}", r.engine),
                    value: speed,
                    within: speed >= 0.8,
                });
            }
            let single = pivot.get(op, "redis", dataset, 1);
            let cluster = pivot.get(op, "redis-cluster", dataset, 1);
            if let (Some(single), Some(cluster)) = (single, cluster) {
                let speed = single.median_ns / cluster.median_ns;
                cluster_cases.push(Case {
                    label: format!("{op}/redis-cluster/{} vs redis", dataset_label(dataset)),
                    value: speed,
                    within: speed >= 0.7,
                });
            }
        }
    }
    // Issue 15 item 5: in process, writes gain from 16 tasks.
    let mut write_gain_cases = Vec::new();
    for backend in IN_PROCESS {
        for dataset in pivot.datasets(backend) {
            for op in WRITES {
                if let Some(gain) = pivot.concurrency_gain(op, backend, dataset) {
                    write_gain_cases.push(Case {
                        label: format!("{op}/{backend}/{}", dataset_label(dataset)),
                        value: gain,
                        within: gain >= 1.5,
                    });
                }
            }
        }
    }
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
        with_relative(
            verdict(
                "Point-operation latency at the largest dataset <= 1.5x the smallest (concurrency 1)",
                "x",
                point_growth,
                true,
                one_dataset,
            ),
            &point_relative,
        ),
        with_relative(
            verdict(
                "Listing cost proportional to the result, not the store: listings of a fixed 10 items grow <= 1.5x from the smallest to the largest dataset",
                "x",
                listing_growth,
                true,
                one_dataset,
            ),
            &listing_relative,
        ),
        verdict(
            "PostgreSQL point reads <= 1.25x the best client's prepared read, writes <= 1.25x its prepared upsert (tokio-postgres, one connection; latency, concurrency 1)",
            "x",
            pg_cases,
            true,
            "postgres or best-postgres not measured",
        ),
        verdict(
            "Redis: every single-node operation >= 0.8x the best client's plain GET/SET (speed, concurrency 1)",
            "x",
            redis_cases,
            false,
            "redis or best-redis not measured",
        ),
        verdict(
            "Redis Cluster: every operation >= 0.7x the same operation on a single node (speed, concurrency 1)",
            "x",
            cluster_cases,
            false,
            "redis and redis-cluster not measured on one dataset",
        ),
        verdict(
            "In process: point-operation growth from the smallest to the largest dataset <= 1.2x the raw DashMap's own growth (concurrency 1)",
            "x",
            in_process_relative,
            true,
            one_dataset,
        ),
        verdict(
            "In process: writes at 16 tasks reach >= 1.5x the calls/s of 1 task",
            "x",
            write_gain_cases,
            false,
            "memory/unified not measured at both concurrencies",
        ),
    ]
}

/// Adds to a growth verdict's figure how the same cases grow relative to their raw
/// engine's own growth (information only: the verdict stays the target's as stated).
fn with_relative(mut verdict: Verdict, relative: &[Case]) -> Verdict {
    let Some(worst) = relative.iter().max_by(|a, b| a.value.total_cmp(&b.value)) else {
        return verdict;
    };
    let within = relative.iter().filter(|c| c.within).count();
    verdict.figure.push_str(&format!(
        "; relative to the raw engine's own growth over the same sizes: {within}/{} within \
         1.5x, worst {} at {:.2}x",
        relative.len(),
        worst.label,
        worst.value
    ));
    verdict
}
