//! The report's reading, pivoting, ratios and verdicts on a small fixture directory of
//! criterion-shaped results (`tests/fixtures/criterion`): memory at 1k and 1M with its
//! DashMap baseline, PostgreSQL at 1k with its engine through sqlx and through the best
//! client, criterion's `base/` copy, an id
//! of another shape and a half-written result.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use authstore_bench::anchors::Anchor;
use authstore_bench::ids::BenchId;
use authstore_bench::manifest::{BackendRun, Manifest, now_unix};
use authstore_bench::report::pivot::{Pivot, median};
use authstore_bench::report::results::{Measurement, load};
use authstore_bench::report::targets::Status;
use authstore_bench::report::{self, html, markdown};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criterion")
}

fn pivot() -> Pivot {
    Pivot::new(load(&fixtures()).expect("fixtures load").measurements)
}

#[test]
fn reads_new_results_and_skips_the_rest() {
    let loaded = load(&fixtures()).unwrap();
    assert_eq!(loaded.measurements.len(), 13);
    assert_eq!(loaded.skipped.len(), 2, "{:#?}", loaded.skipped);
    assert!(
        loaded
            .skipped
            .iter()
            .any(|s| s.contains("is not <operation>")),
        "{:#?}",
        loaded.skipped
    );
    assert!(
        loaded.skipped.iter().any(|s| s.contains("estimates.json")),
        "{:#?}",
        loaded.skipped
    );
    // The `base/` copy (9999999 ns) is never read.
    let pivot = Pivot::new(loaded.measurements);
    assert_eq!(
        pivot.get("get_kv", "memory", 1_000, 1).unwrap().median_ns,
        500.0
    );
}

#[test]
fn throughput_counts_the_calls_of_a_batch() {
    let pivot = pivot();
    let c16 = pivot.get("get_kv", "memory", 1_000, 16).unwrap();
    assert_eq!(c16.calls_per_iteration, 16);
    assert!((c16.calls_per_second() - 4_000_000.0).abs() < 1.0);
    let gain = pivot.concurrency_gain("get_kv", "memory", 1_000).unwrap();
    assert!((gain - 2.0).abs() < 1e-9, "{gain}");
}

#[test]
fn ratios_pair_each_backend_with_its_engine() {
    let pivot = pivot();
    let memory = pivot.ratio("get_kv", "memory", 1_000, 1).unwrap();
    assert_eq!(
        (memory.engine, memory.baseline),
        ("raw-dashmap", "engine_read_kv")
    );
    assert!((memory.latency_ratio() - 2.5).abs() < 1e-9);
    let write = pivot.ratio("store_kv", "postgres", 1_000, 1).unwrap();
    assert_eq!(write.engine, "raw-postgres");
    assert!((write.relative_speed() - 0.5).abs() < 1e-9);
    // No baseline was measured at c16, and listings have none at all.
    assert!(pivot.ratio("get_kv", "memory", 1_000, 16).is_none());
    assert!(pivot.ratio("list_kv_keys", "memory", 1_000, 1).is_none());
}

#[test]
fn best_client_ratios_sit_next_to_the_same_client_ones() {
    let pivot = pivot();
    // get_kv/postgres 100 us: 1.11x sqlx's read (90 us), 2x tokio-postgres's (50 us).
    let best = pivot.best_ratio("get_kv", "postgres", 1_000, 1).unwrap();
    assert_eq!(
        (best.engine, best.baseline),
        ("best-postgres", "engine_read_kv")
    );
    assert!((best.latency_ratio() - 2.0).abs() < 1e-9);
    let same = pivot.ratio("get_kv", "postgres", 1_000, 1).unwrap();
    assert_eq!(same.engine, "raw-postgres");
    // In process the DashMap is both.
    let memory = pivot.best_ratio("get_kv", "memory", 1_000, 1).unwrap();
    assert_eq!(memory.engine, "raw-dashmap");
    // Issue 15's PostgreSQL target: the read at 2x misses, the write at 1.11x is within.
    let verdicts = authstore_bench::report::targets::evaluate(&pivot);
    let pg = verdicts
        .iter()
        .find(|v| v.target.starts_with("PostgreSQL point reads"))
        .expect("the PostgreSQL target");
    assert_eq!(pg.status, Status::Missed);
    assert!(pg.figure.starts_with("1/2 within"), "{}", pg.figure);
    assert!(
        pg.misses[0].contains("get_kv/postgres/1k vs best-postgres: 2.00x"),
        "{:?}",
        pg.misses
    );
}

#[test]
fn growth_spans_the_smallest_to_the_largest_dataset() {
    let pivot = pivot();
    assert_eq!(pivot.datasets("memory"), vec![1_000, 1_000_000]);
    let g = pivot.growth("get_kv", "memory", 1).unwrap();
    assert_eq!((g.from, g.to), (1_000, 1_000_000));
    assert!((g.factor - 1.2).abs() < 1e-9);
    assert!(
        pivot.growth("get_kv", "postgres", 1).is_none(),
        "one dataset: no growth"
    );
}

#[test]
fn targets_are_judged_on_the_figures() {
    let verdicts = authstore_bench::report::targets::evaluate(&pivot());
    let statuses: Vec<Status> = verdicts.iter().map(|v| v.status).collect();
    // Server: get_kv at 0.9x is within, store_kv at 0.5x is not.
    assert_eq!(statuses[0], Status::Missed);
    assert!(
        verdicts[0].figure.starts_with("1/2 within"),
        "{}",
        verdicts[0].figure
    );
    assert!(
        verdicts[0].misses[0].contains("store_kv/postgres/1k"),
        "{:?}",
        verdicts[0].misses
    );
    // Memory reads: 2.5x at 1k misses, 2.0x at 1M is within the 2x limit.
    assert_eq!(statuses[1], Status::Missed);
    assert_eq!(verdicts[1].misses.len(), 1);
    // Point growth 1.2x is within 1.5x; the listing grew 5x.
    assert_eq!(statuses[2], Status::Met);
    assert_eq!(statuses[3], Status::Missed);
    assert!(
        verdicts[3].figure.contains("5.00x"),
        "{}",
        verdicts[3].figure
    );
}

#[test]
fn the_newest_of_two_results_wins() {
    let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let m = |ns, secs| Measurement {
        id: BenchId::parse("get_kv/memory/1k/c1").unwrap(),
        median_ns: ns,
        median_ci_ns: (ns, ns),
        calls_per_iteration: 1,
        written: at(secs),
    };
    let pivot = Pivot::new([m(2.0, 20), m(1.0, 10)]);
    assert_eq!(
        pivot.get("get_kv", "memory", 1_000, 1).unwrap().median_ns,
        2.0
    );
    assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), Some(2.5));
    assert_eq!(median(vec![]), None);
}

/// A copy of the fixtures in a fresh directory, with `manifest` if given.
fn copy_fixtures(name: &str, manifest: Option<&Manifest>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("authstore-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(fixtures())
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    if let Some(m) = manifest {
        m.save(&dir).unwrap();
    }
    dir
}

#[test]
fn results_older_than_the_run_are_left_out() {
    let mut manifest = Manifest::start("quick");
    manifest.started_unix = now_unix() + 3600;
    let dir = copy_fixtures("stale", Some(&manifest));
    let report = report::build(&dir, false).unwrap();
    assert_eq!((report.pivot.len(), report.stale), (0, 13));
    let report = report::build(&dir, true).unwrap();
    assert_eq!((report.pivot.len(), report.stale), (13, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run of an unoptimized build (CI's quick run) says so wherever the mode is shown.
#[test]
fn an_unoptimized_run_says_its_figures_mean_nothing() {
    let mut manifest = Manifest::start("quick");
    manifest.started_unix = 0;
    for unoptimized in [false, true] {
        manifest.unoptimized = unoptimized;
        let dir = copy_fixtures("unoptimized", Some(&manifest));
        let report = report::build(&dir, false).unwrap();
        let md = markdown::render(&report);
        let page = html::render(&report).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let warning = "unoptimized build: these figures say nothing of speed";
        assert_eq!(md.contains(warning), unoptimized, "{md}");
        assert_eq!(page.contains(warning), unoptimized);
        assert!(md.contains("| Mode | quick"), "{md}");
    }
}

#[test]
fn writers_show_figures_and_say_what_was_not_measured() {
    let mut manifest = Manifest::start("full");
    manifest.started_unix = 0;
    manifest.anchors = vec![
        Anchor {
            tool: "pgbench".into(),
            engine: "best-postgres".into(),
            operation: "point read".into(),
            command: "pgbench -S".into(),
            latency_ns: Some(130_000.0),
            note: None,
        },
        Anchor {
            tool: "mysqlslap".into(),
            engine: "best-mysql".into(),
            operation: "point read".into(),
            command: "mysqlslap".into(),
            latency_ns: None,
            note: Some("mysqlslap is not installed".into()),
        },
    ];
    manifest.backends.insert(
        "redis".into(),
        BackendRun {
            note: Some("AUTHSTORE_REDIS_URL is not set".into()),
            ..BackendRun::default()
        },
    );
    let dir = copy_fixtures("writers", Some(&manifest));
    let report = report::build(&dir, false).unwrap();
    let md = markdown::render(&report);
    assert!(
        md.contains(
            "| memory | 1k | 500 ns | 2.00 M/s | 4.00 µs | 4.00 M/s | 2.50x (raw-dashmap) | — |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| postgres | 1k | 100 µs | 10.0 k/s | — | — | 2.00x (best-postgres) | — | 1.11x (raw-postgres) | — |"),
        "{md}"
    );
    assert!(
        md.contains("| pgbench | best-postgres | point read | 130 µs | `pgbench -S` |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| mysqlslap | best-mysql | point read | not measured (mysqlslap is not installed) |"
        ),
        "{md}"
    );
    assert!(
        md.contains("not measured (AUTHSTORE_REDIS_URL is not set)"),
        "{md}"
    );
    assert!(md.contains("**MISSED**") && md.contains("**met**"), "{md}");
    assert!(md.contains("## Storage Backend Comparison"));
    let page = html::render(&report).unwrap();
    // 3 growth charts, latency and throughput for 16 operations, a ratio chart for 11.
    assert_eq!(
        page.matches("<figure class=\"chart\"").count(),
        3 + 2 * 16 + 11
    );
    assert_eq!(page.matches("<svg").count(), 46);
    // get_kv's latency chart plots memory and postgres: two bars in their colours.
    assert!(page.contains("data-plotted=\"2\""));
    assert!(page.contains("fill=\"#4E79A7\""), "memory's bar colour");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scale_out_shows_64_tasks_against_16_and_the_best_client() {
    let m = |id: &str, ns: f64, calls: u64| Measurement {
        id: BenchId::parse(id).unwrap(),
        median_ns: ns,
        median_ci_ns: (ns, ns),
        calls_per_iteration: calls,
        written: SystemTime::now(),
    };
    let report = |measurements: Vec<Measurement>| report::Report {
        manifest: None,
        pivot: Pivot::new(measurements),
        verdicts: Vec::new(),
        comparison: Vec::new(),
        skipped: Vec::new(),
        stale: 0,
        peers: None,
    };
    let c16 = vec![m("get_token/postgres/1k/c16", 400_000.0, 16)];
    let md = markdown::render(&report(c16.clone()));
    assert!(
        md.contains("## Scale out: 64 tasks\n\nNot measured in this run"),
        "{md}"
    );
    let mut runs = c16;
    runs.push(m("get_token/postgres/1k/c64", 800_000.0, 64));
    runs.push(m("engine_read_record/best-postgres/1k/c64", 400_000.0, 64));
    let md = markdown::render(&report(runs));
    // c16: 40 k/s; c64: 80 k/s, twice the calls/s; twice the best client's batch time.
    assert!(
        md.contains(
            "| postgres | `get_token` | 1k | 40.0 k/s | 800 µs | 80.0 k/s | 2.00x | 2.00x (best-postgres) |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| best-postgres | `engine_read_record` | 1k | — | 400 µs | 160 k/s | — | — |"),
        "{md}"
    );
}

/// Issue 15's Redis, cluster and in-process targets, on measurements made up for it:
/// each verdict judged met or missed on the figures it names.
#[test]
fn issue_15_targets_are_judged_on_the_figures() {
    let m = |id: &str, ns: f64| Measurement {
        id: BenchId::parse(id).unwrap(),
        median_ns: ns,
        median_ci_ns: (ns, ns),
        calls_per_iteration: BenchId::parse(id).unwrap().concurrency,
        written: SystemTime::UNIX_EPOCH,
    };
    let pivot = Pivot::new([
        // Redis get_kv at 100 us against the best client's 70 us read: 0.70x, missed;
        // store_kv at 100 us against its 90 us write: 0.90x, within.
        m("get_kv/redis/1k/c1", 100_000.0),
        m("engine_read_kv/best-redis/1k/c1", 70_000.0),
        m("store_kv/redis/1k/c1", 100_000.0),
        m("engine_write_kv/best-redis/1k/c1", 90_000.0),
        // The cluster: get_kv 0.83x the single node (within), store_kv 0.50x (missed).
        m("get_kv/redis-cluster/1k/c1", 120_000.0),
        m("store_kv/redis-cluster/1k/c1", 200_000.0),
        // memory store_kv: 16 calls in 8 us against 1 in 1 us, 2x the calls/s; unified
        // the same calls/s at both.
        m("store_kv/memory/1k/c1", 1_000.0),
        m("store_kv/memory/1k/c16", 8_000.0),
        m("store_kv/unified/1k/c1", 1_000.0),
        m("store_kv/unified/1k/c16", 16_000.0),
        // Growth 1k -> 1M: memory get_kv 3x where the DashMap grew 2x (1.5x relative).
        m("get_kv/memory/1M/c1", 3_000.0),
        m("get_kv/memory/1k/c1", 1_000.0),
        m("engine_read_kv/raw-dashmap/1k/c1", 500.0),
        m("engine_read_kv/raw-dashmap/1M/c1", 1_000.0),
    ]);
    let verdicts = authstore_bench::report::targets::evaluate(&pivot);
    let find = |start: &str| {
        verdicts
            .iter()
            .find(|v| v.target.starts_with(start))
            .unwrap_or_else(|| panic!("no target starting {start:?}"))
    };
    let redis = find("Redis: every single-node");
    assert_eq!(redis.status, Status::Missed);
    assert_eq!(redis.misses, ["get_kv/redis/1k vs best-redis: 0.70x"]);
    let cluster = find("Redis Cluster");
    assert_eq!(cluster.status, Status::Missed);
    assert_eq!(
        cluster.misses,
        ["store_kv/redis-cluster/1k vs redis: 0.50x"]
    );
    let gain = find("In process: writes at 16 tasks");
    assert_eq!(gain.status, Status::Missed);
    assert!(gain.figure.starts_with("1/2 within"), "{}", gain.figure);
    assert_eq!(gain.misses, ["store_kv/unified/1k: 1.00x"]);
    let growth = find("In process: point-operation growth");
    assert_eq!(growth.status, Status::Missed);
    assert_eq!(growth.misses, ["get_kv/memory 1k→1M: 1.50x"]);
}
