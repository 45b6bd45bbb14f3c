//! Peers (issue 13 item 4): auth-framework's storage backends on authstore's benchmark
//! workload, next to ours, in one run, pair by pair: our backend, then each of theirs
//! that does the same job, on the same dataset.
//!
//! | ours | theirs (bench name: type as constructed) |
//! |---|---|
//! | `memory` | `af-memory`: `MemoryStorage::new()`; `af-dashmap-memory`: `DashMapMemoryStorage::new()` |
//! | `unified` | `af-unified`: `UnifiedStorage::with_config` with `max_memory` 16 GiB, as ours |
//! | `redis` | `af-redis-core`: `storage::RedisStorage::new`; `af-redis-module`: `storage::redis::RedisStorage::with_config` |
//! | `postgres` | `af-postgres`: `PostgresStorage::new` + `migrate()`, a pool of 16 as ours |
//!
//! SQLite has no counterpart of ours and is left out. Their backends are opened by this
//! crate's conformance fixtures (`backends::*`), behind the adapter; ours by
//! `authstore_bench::setup::open`. Both sides run the matrix's workload
//! (`authstore_bench::workload`: `fill`, `call`, `measure`, `redo_of`,
//! `batches_per_restore`), all 16 operations in `RUN_ORDER`, at c1 and c16, with ids
//! `<op>/<backend>/<dataset>/c<conc>`.
//!
//! Before an operation is timed on either side, `workload::verify` probes it once with
//! the same call and reads back what it read or changed: if it errs, misses or gives a
//! wrong result, the operation is "not comparable" on that side, with what happened, and
//! is not timed. A panic while timing (a later call failing) is caught and recorded the
//! same way, so their defects never count as success nor stop the run.
//!
//! `AUTHSTORE_BENCH_MODE=quick`: 1k records, criterion's quick timing (about 6 minutes
//! here). `full` (default): 1k and 100k records for every pair, and 1M for the in-process
//! pairs, the matrix's full timing. With criterion's `--test`, each benchmark runs once on
//! 1k and no summary is written. Otherwise the run ends by writing
//! `reports/auth-framework-0.6.0-rc202/peers.json` (or `$AUTHSTORE_PEERS_OUT`) from this
//! run's criterion results; `cargo run -p authstore-bench --bin report -- --peers-only`
//! renders it into BENCHMARKS.md. Servers: `AUTHSTORE_POSTGRES_URL`, `AUTHSTORE_REDIS_URL`;
//! a pair whose server is not configured is left out, and the summary says so.
//!
//! ```sh
//! cd compat/auth-framework
//! AUTHSTORE_BENCH_MODE=quick cargo bench --features all-backends --bench peers
//! ```

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, UNIX_EPOCH};

use authstore_bench::dataset::Dataset;
use authstore_bench::ids::{BenchId, CONCURRENCIES, IN_PROCESS, RUN_ORDER, dataset_label};
use authstore_bench::manifest::{self, Manifest, now_unix};
use authstore_bench::mode::Mode;
use authstore_bench::report::peers::{Cell, PEERS_JSON, Pair, Peers, Row};
use authstore_bench::report::results;
use authstore_bench::setup::{self, Availability, POOL_SIZE};
use authstore_bench::workload;
use authstore_compat_auth_framework::backends;
use authstore_conformance::BackendUnderTest;
use authstore_spec::AuthStorage;
use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

/// One backend of theirs: its bench name, its type as constructed, its fixture.
struct Theirs {
    name: &'static str,
    ty: &'static str,
    fixture: fn() -> BackendUnderTest,
}

/// Our backends and the backends of theirs compared with each, in run order.
fn pairs() -> Vec<(&'static str, Vec<Theirs>)> {
    vec![
        (
            "memory",
            vec![
                Theirs {
                    name: "af-memory",
                    ty: "storage::MemoryStorage::new()",
                    fixture: backends::memory,
                },
                Theirs {
                    name: "af-dashmap-memory",
                    ty: "storage::dashmap_memory::DashMapMemoryStorage::new()",
                    fixture: backends::dashmap_memory,
                },
            ],
        ),
        (
            "unified",
            vec![Theirs {
                name: "af-unified",
                ty: "storage::UnifiedStorage::with_config(max_memory: 16 GiB)",
                fixture: || backends::unified_with_max_memory(16 << 30),
            }],
        ),
        (
            "redis",
            vec![
                Theirs {
                    name: "af-redis-core",
                    ty: "storage::RedisStorage::new(url, prefix)",
                    fixture: backends::redis_core,
                },
                Theirs {
                    name: "af-redis-module",
                    ty: "storage::redis::RedisStorage::with_config(url, prefix, 1 h)",
                    fixture: backends::redis_module,
                },
            ],
        ),
        (
            "postgres",
            vec![Theirs {
                name: "af-postgres",
                ty: "storage::postgres::PostgresStorage::new(pool of 16) + migrate()",
                fixture: || backends::postgres_with_pool(POOL_SIZE),
            }],
        ),
    ]
}

/// Why an operation of one side was not timed, by (operation, concurrency); a reason for
/// the whole side (it could not be opened or filled) under every key.
type Reasons = HashMap<(&'static str, u64), String>;

struct Run {
    criterion: Criterion,
    rt: Runtime,
    test_mode: bool,
}

fn main() {
    let mode = Mode::from_env().unwrap_or_else(|err| {
        eprintln!("peers: {err}");
        std::process::exit(2);
    });
    let test_mode = std::env::args().any(|a| a == "--test");
    let (warm_up, measurement, samples) = mode.timing();
    // The matrix's settings, so the figures are made alike.
    let criterion = Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .sample_size(samples)
        .without_plots()
        .nresamples(match mode {
            Mode::Quick => 10_000,
            Mode::Full => 20_000,
        })
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // The bench executable is <target>/<profile>/deps/peers-<hash>.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(ToOwned::to_owned))
        .unwrap_or_else(|| "target".into());
    let dir = manifest::criterion_dir(&target);
    let mode_name = if test_mode { "test" } else { mode.name() };
    let started = Manifest::start(mode_name);
    let mut run = Run {
        criterion,
        rt,
        test_mode,
    };
    let mut summary = Peers {
        peer: "auth-framework".into(),
        peer_version: "0.6.0-rc202".into(),
        mode: mode_name.into(),
        started_unix: started.started_unix,
        load_average: started.load_average.clone(),
        machine: started.machine.clone(),
        rustc: started.rustc.clone(),
        authstore_version: started.crate_version.clone(),
        notes: vec![
            "SQLite: auth-framework's `SqliteStorage` has no counterpart among our backends; \
             not measured."
                .into(),
        ],
        ..Peers::default()
    };
    println!(
        "peers: mode {mode_name}; criterion results in {}",
        dir.display()
    );

    // Per (ours, theirs, dataset): the reasons of both sides.
    let mut measured: Vec<(Pair, Reasons, Reasons)> = Vec::new();
    for (ours, theirs) in pairs() {
        let mut sizes = mode.datasets(IN_PROCESS.contains(&ours));
        if test_mode {
            sizes.truncate(1);
        }
        for records in sizes {
            let ds = Dataset::new(records);
            let label = dataset_label(records);
            let opened = match run.rt.block_on(setup::open(ours, records)) {
                Ok(Availability::Ready(opened)) => opened,
                Ok(Availability::NotConfigured(why)) => {
                    summary
                        .notes
                        .push(format!("{ours} ({label}): not measured: {why}."));
                    continue;
                }
                Err(err) => {
                    summary
                        .notes
                        .push(format!("{ours} ({label}): could not be opened: {err}."));
                    continue;
                }
            };
            if let Some(version) = &opened.server_version {
                summary.servers.insert(ours.into(), version.clone());
            }
            let our_reasons = bench_side(&mut run, ours, opened.storage.clone(), ds);
            if let Err(err) = run.rt.block_on((opened.teardown)()) {
                eprintln!("peers: {ours} ({label}): removing its namespace failed: {err}");
            }
            for their in &theirs {
                let fixture = run.rt.block_on((their.fixture)().fixture());
                let their_reasons = match fixture {
                    Ok(fixture) => {
                        let reasons =
                            bench_side(&mut run, their.name, fixture.storage().clone(), ds);
                        if let Err(err) = run.rt.block_on(fixture.teardown()) {
                            eprintln!("peers: {} ({label}): teardown failed: {err}", their.name);
                        }
                        reasons
                    }
                    Err(err) => everywhere(format!("could not be set up: {err}")),
                };
                let pair = Pair {
                    ours: ours.into(),
                    theirs: their.name.into(),
                    theirs_type: their.ty.into(),
                    dataset: records,
                    rows: Vec::new(),
                };
                measured.push((pair, our_reasons.clone(), their_reasons));
            }
        }
    }
    run.criterion.final_summary();
    if run.test_mode {
        // Criterion's test mode writes no results: nothing to summarise.
        return;
    }
    summary.finished_unix = Some(now_unix());
    summary.load_average.push(manifest::load_average());
    let loaded = results::load(&dir).unwrap_or_else(|err| {
        eprintln!("peers: cannot read criterion's results: {err}");
        std::process::exit(1);
    });
    // Only this run's results: an earlier run's may sit in the same directory.
    let since = UNIX_EPOCH + Duration::from_secs(summary.started_unix);
    let medians: HashMap<BenchId, f64> = loaded
        .measurements
        .into_iter()
        .filter(|m| m.written >= since)
        .map(|m| (m.id, m.median_ns))
        .collect();
    for (mut pair, ours, theirs) in measured {
        for op in RUN_ORDER {
            for concurrency in CONCURRENCIES {
                let cell = |backend: &str, reasons: &Reasons| match reasons.get(&(op, concurrency))
                {
                    Some(why) => Cell {
                        median_ns: None,
                        not_comparable: Some(why.clone()),
                    },
                    None => {
                        let id = BenchId {
                            operation: op.into(),
                            backend: backend.into(),
                            dataset: pair.dataset,
                            concurrency,
                        };
                        match medians.get(&id) {
                            Some(&ns) => Cell {
                                median_ns: Some(ns),
                                not_comparable: None,
                            },
                            None => Cell {
                                median_ns: None,
                                not_comparable: Some("no criterion result in this run".into()),
                            },
                        }
                    }
                };
                pair.rows.push(Row {
                    operation: op.into(),
                    concurrency,
                    ours: cell(&pair.ours, &ours),
                    theirs: cell(&pair.theirs, &theirs),
                });
            }
        }
        summary.pairs.push(pair);
    }
    let out = std::env::var_os("AUTHSTORE_PEERS_OUT").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(PEERS_JSON)
        },
        PathBuf::from,
    );
    let text = serde_json::to_string_pretty(&summary).expect("the summary serialises") + "\n";
    if let Err(err) = std::fs::write(&out, text) {
        eprintln!("peers: cannot write {}: {err}", out.display());
        std::process::exit(1);
    }
    println!("peers: wrote {}", out.display());
}

/// The same reason for every operation and concurrency.
fn everywhere(why: String) -> Reasons {
    let why = why.as_str();
    RUN_ORDER
        .iter()
        .flat_map(|op| {
            CONCURRENCIES
                .iter()
                .map(move |c| ((*op, *c), why.to_owned()))
        })
        .collect()
}

/// Fills `store` with `ds`, then probes and times every operation at every concurrency;
/// returns why some were not timed.
fn bench_side(run: &mut Run, backend: &str, store: Arc<dyn AuthStorage>, ds: Dataset) -> Reasons {
    let label = dataset_label(ds.records);
    // The matrix's fill parallelism: enough tasks to keep a server's pool busy, a few
    // in process.
    let on_a_server = backend.contains("redis") || backend.contains("postgres");
    let parallelism = if on_a_server { 32 } else { 2 };
    if let Err(err) = run.rt.block_on(workload::fill(&store, ds, parallelism)) {
        println!("peers: {backend} ({label}): filling failed: {err}");
        return everywhere(format!("filling the dataset failed: {err}"));
    }
    let mut reasons = Reasons::new();
    let next = AtomicU64::new(0);
    for op in RUN_ORDER {
        let probed = run
            .rt
            .block_on(workload::verify(op, store.clone(), ds, 0, 0));
        if let Err(why) = probed {
            println!("peers: {backend} ({label}): {op}: not comparable: {why}");
            for concurrency in CONCURRENCIES {
                reasons.insert((op, concurrency), format!("probe: {why}"));
            }
            continue;
        }
        for concurrency in CONCURRENCIES {
            let id = BenchId {
                operation: op.into(),
                backend: backend.into(),
                dataset: ds.records,
                concurrency,
            };
            let timed = catch_unwind(AssertUnwindSafe(|| {
                let mut group = run.criterion.benchmark_group(op);
                group.throughput(Throughput::Elements(concurrency));
                group.bench_function(id.function_id(), |b| {
                    b.to_async(&run.rt).iter_custom(|iters| {
                        let (bench, concurrency) = (id.function_id(), concurrency as usize);
                        workload::sample(op, &bench, store.clone(), ds, concurrency, &next, iters)
                    })
                });
                group.finish();
            }));
            if let Err(panic) = timed {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a call panicked".into());
                println!(
                    "peers: {backend} ({label}): {op} c{concurrency}: failed while timing: {why}"
                );
                reasons.insert((op, concurrency), format!("failed while timing: {why}"));
            }
        }
    }
    reasons
}
