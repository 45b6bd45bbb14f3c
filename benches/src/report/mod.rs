//! The report: criterion's results read ([`results`]), indexed ([`pivot`]), judged
//! against issue 6's targets ([`targets`]), summarised as the seed's comparison table
//! ([`comparison`]) and written as Markdown ([`markdown`]) and HTML with SVG charts
//! ([`html`], [`charts`]).

pub mod charts;
pub mod comparison;
pub mod format;
pub mod html;
pub mod markdown;
pub mod peers;
pub mod pivot;
pub mod results;
pub mod targets;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::manifest::Manifest;

/// Everything the writers need.
#[derive(Debug)]
pub struct Report {
    /// The run's manifest, if it left one.
    pub manifest: Option<Manifest>,
    /// The results kept.
    pub pivot: pivot::Pivot,
    /// The targets, judged.
    pub verdicts: Vec<targets::Verdict>,
    /// The comparison table.
    pub comparison: Vec<comparison::Row>,
    /// Result directories not used, with the reason.
    pub skipped: Vec<String>,
    /// Results older than the run's start, left out.
    pub stale: usize,
    /// The peers benchmark's summary, rendered as its own section when present
    /// ([`build`] leaves it empty; the report binary reads [`peers::PEERS_JSON`]).
    pub peers: Option<peers::Peers>,
}

/// Reads `criterion_dir` and builds the report. Results written before the manifest's
/// run started are stale (an earlier run's) and left out unless `include_stale`.
pub fn build(criterion_dir: &Path, include_stale: bool) -> Result<Report, String> {
    let loaded = results::load(criterion_dir)?;
    let manifest = Manifest::load(criterion_dir).ok();
    let started = manifest
        .as_ref()
        .map(|m| UNIX_EPOCH + Duration::from_secs(m.started_unix));
    let (fresh, stale): (Vec<_>, Vec<_>) = loaded
        .measurements
        .into_iter()
        .partition(|m| include_stale || started.is_none_or(|s| m.written >= s));
    let pivot = pivot::Pivot::new(fresh);
    Ok(Report {
        verdicts: targets::evaluate(&pivot),
        comparison: comparison::rows(&pivot, manifest.as_ref()),
        manifest,
        pivot,
        skipped: loaded.skipped,
        stale: stale.len(),
        peers: None,
    })
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(seconds: u64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0).map_or_else(
        || seconds.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The load averages of a run, at its start and end.
pub fn load_text(manifest: &Manifest) -> String {
    match manifest.load_average.as_slice() {
        [] => "not recorded".to_owned(),
        [start] => format!("{start} at the start (the run did not finish)"),
        [start, .., end] => format!("{start} at the start, {end} at the end"),
    }
}

/// The commands that reproduce the figures.
pub const COMMANDS: &str = "\
eval \"$(bash ci/start-postgres)\"; eval \"$(bash ci/start-mysql)\"; eval \"$(bash ci/start-redis)\"
AUTHSTORE_BENCH_MODE=full cargo bench -p authstore-bench     # every dataset (about an hour on 2 cores)
AUTHSTORE_BENCH_MODE=quick cargo bench -p authstore-bench    # CI: 1k records, a few minutes
cargo run -p authstore-bench --bin report                    # BENCHMARKS.md + target/bench-report/index.html
(cd compat/auth-framework && AUTHSTORE_BENCH_MODE=quick cargo bench --features all-backends --bench peers)   # peers.json
cargo run -p authstore-bench --bin report -- --peers-only    # only the peers section of BENCHMARKS.md, in place
bash ci/check-report                                         # renders the page in headless Chromium";

/// How the figures are made, for both writers.
pub const METHOD: &[&str] = &[
    "Ids are `<operation>/<backend>/<dataset>/c<concurrency>`; figures are criterion's median time per iteration.",
    "A dataset of N records holds N/3 tokens, N/3 sessions and N/3 kv entries (256-byte values); every user owns 10 tokens and 10 sessions and every listed kv prefix 10 keys, so listings return 10 items at every size.",
    "Each backend and dataset gets a fresh PostgreSQL schema, MySQL database or Redis key prefix, filled once through the backend's API and dropped afterwards; SQL pools hold 16 connections.",
    "c1: one call per iteration, awaited inline. c16: 16 long-lived tokio tasks (2 worker threads) each make one call of every iteration, back to back; the time is the wall time of all iterations, so latency is per batch of 16 and calls/s = 16 / batch time (no task is spawned per call). In full mode the server backends and their engines also run at c64 (64 such tasks; the pools stay at 16 connections).",
    "Writes overwrite existing items; deletes remove an existing item and are undone, untimed: after each call at c1, after at most an eighth of the dataset at c16; so the dataset keeps (about) its size.",
    "Order: for each dataset size, each raw engine is measured right before the backends compared with it (DashMap; PostgreSQL; MySQL; Redis, then Redis Cluster and tiered), so a drift of the machine over the run does not fall between a backend and its baseline.",
    "Every call builds its arguments (ids, the record) as its baseline does; reads assert they found the item, listings and counts that they saw all of it.",
    "Baselines: `DashMap<String, Vec<u8>>` get+clone and `DashMap<String, AuthToken>` (token-sized struct clone); PostgreSQL/MySQL prepared primary-key SELECT and upsert on `(id, bytes)` tables; Redis GET/SET; each filled with the same kv values and token JSON. Every baseline write changes the stored bytes (a write counter in the kv value, the token's timestamps), as the backends' writes do: InnoDB skips an upsert of identical bytes (no redo, no log flush), which would time a write that never happens. Deletes are compared with the upsert.",
    "Tiered reads are compared with Redis (after a warm-up they are cache hits; the cache TTL is 1 h here instead of 60 s so they stay hits), its writes with PostgreSQL. Redis Cluster is compared with the single Redis node.",
    "Latency ratio = backend latency / engine latency (1x: as fast). The issue's server target is stated as speed (engine / backend >= 0.8).",
];
