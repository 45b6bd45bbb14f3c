//! The seed guide's "Storage Backend Comparison" table, rebuilt: Performance and
//! Scalability from the measured figures, the other rows from each backend's documented
//! properties (marked as declared).

use super::format::{factor, nanos};
use super::pivot::{Pivot, median};
use crate::ids::{BACKENDS, dataset_label};
use crate::manifest::Manifest;

/// The point reads whose median makes the Performance row.
const POINT_READS: [&str; 4] = [
    "get_token",
    "get_token_by_access_token",
    "get_session",
    "get_kv",
];

/// The single-item writes whose median makes the Performance row's second half.
const POINT_WRITES: [&str; 3] = ["store_token", "store_session", "store_kv"];

/// `what` (e.g. `point read`): the median latency of `ops` of `backend` at concurrency 1
/// on `dataset`, with the median of their ratios to the best client's baseline and to
/// the same-client engine; `None` when none of them was measured.
fn point_cell(
    pivot: &Pivot,
    backend: &str,
    dataset: u64,
    what: &str,
    ops: &[&str],
) -> Option<String> {
    let latencies = ops
        .iter()
        .filter_map(|op| pivot.get(op, backend, dataset, 1))
        .map(|m| m.median_ns)
        .collect();
    let latency = median(latencies)?;
    let ratios = ops
        .iter()
        .filter_map(|op| pivot.ratio(op, backend, dataset, 1))
        .map(|r| r.latency_ratio())
        .collect();
    let best = ops
        .iter()
        .filter_map(|op| pivot.best_ratio(op, backend, dataset, 1))
        .filter(|r| r.engine.starts_with("best-"))
        .map(|r| r.latency_ratio())
        .collect();
    let best = median(best).map_or(String::new(), |b| {
        format!("{} the best client's latency, ", factor(b))
    });
    Some(match median(ratios) {
        Some(r) => format!(
            "{what} {} ({best}{} engine latency)",
            nanos(latency),
            factor(r)
        ),
        None => format!("{what} {} (engine not measured)", nanos(latency)),
    })
}

/// One row: its name, whether it is measured, and a cell per backend (in
/// [`BACKENDS`] order).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The seed's row name.
    pub name: &'static str,
    /// `true`: from this run's figures; `false`: from documented properties.
    pub measured: bool,
    /// One cell per backend.
    pub cells: Vec<String>,
}

/// How a row's cell is written when the backend has no results.
fn not_measured(manifest: Option<&Manifest>, backend: &str) -> String {
    match manifest
        .and_then(|m| m.backends.get(backend))
        .and_then(|b| b.note.clone())
    {
        Some(why) => format!("not measured ({why})"),
        None => "not measured".to_owned(),
    }
}

/// The table's rows.
pub fn rows(pivot: &Pivot, manifest: Option<&Manifest>) -> Vec<Row> {
    let performance = BACKENDS
        .iter()
        .map(|backend| {
            let Some(&smallest) = pivot.datasets(backend).first() else {
                return not_measured(manifest, backend);
            };
            let read = point_cell(pivot, backend, smallest, "point read", &POINT_READS);
            let write = point_cell(pivot, backend, smallest, "point write", &POINT_WRITES);
            match (read, write) {
                (Some(read), Some(write)) => format!("{read}; {write}"),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => not_measured(manifest, backend),
            }
        })
        .collect();
    let scalability = BACKENDS
        .iter()
        .map(|backend| {
            let sizes = pivot.datasets(backend);
            let Some(&smallest) = sizes.first() else {
                return not_measured(manifest, backend);
            };
            let growths: Vec<_> = POINT_READS
                .iter()
                .filter_map(|op| pivot.growth(op, backend, 1))
                .collect();
            let growth = match (
                median(growths.iter().map(|g| g.factor).collect()),
                growths.first(),
            ) {
                (Some(f), Some(g)) => {
                    format!(
                        "reads {} from {} to {}",
                        factor(f),
                        dataset_label(g.from),
                        dataset_label(g.to)
                    )
                }
                _ => format!("one dataset ({})", dataset_label(smallest)),
            };
            let gains = POINT_READS
                .iter()
                .filter_map(|op| pivot.concurrency_gain(op, backend, smallest))
                .collect();
            match median(gains) {
                Some(g) => format!("{growth}; 16 tasks give {} the calls/s of 1", factor(g)),
                None => growth,
            }
        })
        .collect();
    let declared = |name: &'static str, cells: [&str; 8]| Row {
        name,
        measured: false,
        cells: cells.iter().map(|c| (*c).to_owned()).collect(),
    };
    let mut setup = declared(
        "Setup complexity",
        [
            "minimal: none",
            "minimal: none (memory cap to size)",
            "low: a 256-bit key to keep",
            "moderate: a server, `migrate()`",
            "moderate: a server (`max_allowed_packet` > 1 MiB), `migrate()`",
            "low: a Redis >= 7.0 with `noeviction`",
            "moderate: a cluster; one prefix per slot",
            "high: PostgreSQL and Redis, `migrate()`",
        ],
    );
    // The measured part of setup: how long the largest dataset took to load.
    if let Some(manifest) = manifest {
        for (cell, backend) in setup.cells.iter_mut().zip(BACKENDS) {
            let fills = manifest.backends.get(backend).map(|b| &b.fill_seconds);
            let largest = fills.and_then(|f| {
                f.iter()
                    .max_by_key(|(label, _)| crate::ids::parse_dataset_label(label).unwrap_or(0))
            });
            if let Some((label, seconds)) = largest {
                cell.push_str(&format!(
                    "; filling {label} records took {seconds:.1} s (measured)"
                ));
            }
        }
    }
    vec![
        Row {
            name: "Performance",
            measured: true,
            cells: performance,
        },
        Row {
            name: "Scalability",
            measured: true,
            cells: scalability,
        },
        declared(
            "Persistence",
            [
                "none: process memory",
                "none: process memory",
                "as the wrapped store (here memory: none)",
                "full: WAL, each call committed",
                "full: InnoDB redo log, each call committed",
                "as the server is configured (RDB/AOF); memory first",
                "as the cluster is configured (RDB/AOF)",
                "full: PostgreSQL is the source of truth",
            ],
        ),
        declared(
            "ACID compliance",
            [
                "each call atomic (one lock); not durable",
                "each call atomic; not durable",
                "as the wrapped store",
                "full: each call one transaction",
                "full: each call one InnoDB transaction",
                "each call atomic (one command or Lua script); no rollback",
                "as Redis, per prefix (one slot)",
                "PostgreSQL's for writes; another node's cached read may lag <= 1 s after a failed invalidation",
            ],
        ),
        setup,
        declared(
            "Best for",
            [
                "development and tests",
                "high-throughput single process",
                "keeping secrets out of any store",
                "single-node production",
                "existing MySQL/MariaDB",
                "session caching, rate limiting",
                "the same, sharded by tenant prefix",
                "multi-node deployments",
            ],
        ),
    ]
}
