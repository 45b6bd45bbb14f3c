//! `authstore-bench`: criterion benchmarks of every [`AuthStorage`](authstore_spec::AuthStorage)
//! backend against its raw engine, and the report built from their results.
//!
//! - [`ids`]: benchmark ids, `<operation>/<backend>/<dataset>/c<concurrency>`, and which
//!   engine baseline each operation is compared with.
//! - [`dataset`], [`workload`], [`setup`]: what the benchmarks store, call and open.
//! - [`mode`]: the `AUTHSTORE_BENCH_MODE` variable (`quick` or `full`).
//! - [`anchors`]: the servers' own benchmark tools (pgbench, redis-benchmark, mysqlslap),
//!   run in the same run as external anchors.
//! - [`manifest`]: what a run records about itself (machine, versions, skipped backends).
//! - [`report`]: reading criterion's results, pivoting them, the Markdown and HTML report.

pub mod anchors;
pub mod dataset;
pub mod ids;
pub mod manifest;
pub mod mode;
pub mod report;
pub mod setup;
pub mod workload;
