//! Every backend × every `AuthStorage` method × dataset × concurrency, and the raw
//! engines' baselines, as criterion benchmarks with ids
//! `<operation>/<backend>/<dataset>/c<concurrency>`.
//!
//! `AUTHSTORE_BENCH_MODE=quick` (CI: 1k records, about a second per benchmark) or `full`
//! (default: 1k and 100k records, also 1M in process; servers also at 64 tasks).
//! `AUTHSTORE_BENCH_BACKENDS`, `AUTHSTORE_BENCH_DATASETS` and
//! `AUTHSTORE_BENCH_CONCURRENCIES` (comma-separated) narrow or widen a run. Server backends whose URL
//! variable is unset are not measured, and the run says so. With criterion's `--test`
//! every benchmark runs once on the smallest dataset.
//!
//! Each (backend, dataset) gets a fresh namespace, filled once through the backend's own
//! API and reused by all operations; deletes are undone after each batch, untimed, and
//! writes overwrite existing items, so the dataset keeps its size. Reads run before
//! writes, so the tiered backend's reads are cache hits (its cache is warmed after the
//! fill).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use authstore_bench::anchors;
use authstore_bench::dataset::Dataset;
use authstore_bench::ids::{
    BACKENDS, BASELINE_OPERATIONS, BenchId, IN_PROCESS, OPERATIONS, RUN_ORDER, baseline_for,
    best_baseline_for, dataset_label, parse_dataset_label,
};
use authstore_bench::manifest::{self, Manifest, now_unix};
use authstore_bench::mode::{self, Mode};
use authstore_bench::setup::engine::{Engine, EngineAvailability};
use authstore_bench::setup::{self, Availability};
use authstore_bench::workload;
use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

/// Each server's engines (the backend's own client, then the best client) and the
/// backends measured right after them, in run order (every backend appears once; the
/// tiered backend, measured against Redis and PostgreSQL, comes last).
const ENGINE_GROUPS: [(&[&str], &[&str]); 4] = [
    (&["raw-dashmap"], &["memory", "unified", "encrypted-memory"]),
    (&["raw-postgres", "best-postgres"], &["postgres"]),
    (&["raw-mysql", "best-mysql"], &["mysql"]),
    (
        &["raw-redis", "best-redis"],
        &["redis", "redis-cluster", "tiered"],
    ),
];

/// Filling tasks: enough to keep a server's pool busy, a few in process.
fn fill_parallelism(backend: &str) -> usize {
    if IN_PROCESS.contains(&backend) { 2 } else { 32 }
}

struct Run {
    criterion: Criterion,
    rt: Runtime,
    manifest: Manifest,
    dir: std::path::PathBuf,
    /// `false` in criterion's test mode, which writes no results: the manifest of the
    /// last measured run is kept.
    record: bool,
    /// Concurrency levels of in-process backends and engines, then of servers'.
    concurrencies: [Vec<u64>; 2],
}

impl Run {
    /// The concurrency levels for `name` (a backend or an engine).
    fn concurrencies(&self, name: &str) -> Vec<u64> {
        let in_process = IN_PROCESS.contains(&name) || name == "raw-dashmap";
        self.concurrencies[usize::from(!in_process)].clone()
    }
}

fn main() {
    let mode = Mode::from_env().unwrap_or_else(|err| {
        eprintln!("authstore-bench: {err}");
        std::process::exit(2);
    });
    let test_mode = std::env::args().any(|a| a == "--test");
    let (warm_up, measurement, samples) = mode.timing();
    let mut criterion = Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .sample_size(samples)
        .without_plots();
    // Criterion's bootstrap (100 000 resamples by default) costs more than quick mode's
    // whole measurement; fewer resamples still give stable medians and intervals.
    criterion = criterion.nresamples(match mode {
        Mode::Quick => 10_000,
        Mode::Full => 20_000,
    });
    let criterion = criterion.configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // The bench executable is <target>/<profile>/deps/matrix-<hash>.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(ToOwned::to_owned))
        .unwrap_or_else(|| "target".into());
    let dir = manifest::criterion_dir(&target);
    let mode_name = if test_mode { "test" } else { mode.name() };
    let concurrencies = match mode::concurrencies_from_env() {
        Ok(Some(levels)) => [levels.clone(), levels],
        Ok(None) => [mode.concurrencies(true), mode.concurrencies(false)],
        Err(err) => {
            eprintln!("authstore-bench: {err}");
            std::process::exit(2);
        }
    };
    let mut run = Run {
        criterion,
        rt,
        manifest: Manifest::start(mode_name),
        dir,
        record: !test_mode,
        concurrencies,
    };

    for backend in BACKENDS {
        let groups = ENGINE_GROUPS
            .iter()
            .filter(|(_, b)| b.contains(&backend))
            .count();
        assert_eq!(groups, 1, "{backend} must be in exactly one engine group");
    }
    for engine in authstore_bench::ids::ENGINES {
        let groups = ENGINE_GROUPS
            .iter()
            .filter(|(e, _)| e.contains(&engine))
            .count();
        assert_eq!(groups, 1, "{engine} must be in exactly one engine group");
    }
    let backends = selected(mode::BACKENDS_VAR, &BACKENDS);
    let wanted_datasets: Option<Vec<u64>> = mode::list_from_env(mode::DATASETS_VAR).map(|labels| {
        labels
            .iter()
            .map(|l| {
                parse_dataset_label(l)
                    .unwrap_or_else(|| panic!("{}: bad dataset {l:?}", mode::DATASETS_VAR))
            })
            .collect()
    });
    let datasets = |in_process: bool| -> Vec<u64> {
        let mut sizes = mode.datasets(in_process);
        if test_mode {
            sizes.truncate(1);
        }
        if let Some(wanted) = &wanted_datasets {
            sizes.retain(|s| wanted.contains(s));
        }
        sizes
    };
    println!(
        "authstore-bench: mode {mode_name}; backends {}; criterion results in {}",
        backends.join(", "),
        run.dir.display()
    );

    // Each engine's baseline runs right before the backends measured against it, on the
    // same dataset size, so a drift of the machine or a server over the hour of a full
    // run does not land between a backend and its baseline.
    let mut sizes: Vec<u64> = datasets(true);
    sizes.extend(datasets(false));
    sizes.sort_unstable();
    sizes.dedup();
    let smallest = sizes.first().copied();
    for records in sizes {
        for (engines, measured_against) in ENGINE_GROUPS {
            let in_process = engines.contains(&"raw-dashmap");
            if !datasets(in_process).contains(&records) {
                continue;
            }
            let group: Vec<&String> = backends
                .iter()
                .filter(|b| measured_against.contains(&b.as_str()))
                .collect();
            for &engine in engines {
                let used = backends.iter().any(|b| {
                    OPERATIONS.iter().any(|op| {
                        [baseline_for(b, op), best_baseline_for(b, op)]
                            .iter()
                            .flatten()
                            .any(|(e, _)| *e == engine)
                    })
                });
                if !used {
                    continue;
                }
                // The servers' own tools, once per run, next to the best client.
                if run.record && Some(records) == smallest {
                    let anchors = anchors::measure(engine, &run.rt);
                    for a in &anchors {
                        match (a.latency_ns, &a.note) {
                            (Some(ns), _) => println!(
                                "authstore-bench: anchor {} {}: {:.1} us",
                                a.tool,
                                a.operation,
                                ns / 1e3
                            ),
                            (None, note) => println!(
                                "authstore-bench: anchor {} {}: not measured ({})",
                                a.tool,
                                a.operation,
                                note.as_deref().unwrap_or("?")
                            ),
                        }
                    }
                    run.manifest.anchors.extend(anchors);
                    save(&run);
                }
                bench_engine(&mut run, engine, Dataset::new(records));
            }
            for backend in group {
                bench_backend(&mut run, backend, Dataset::new(records));
            }
        }
    }

    run.criterion.final_summary();
    run.manifest.finished_unix = Some(now_unix());
    run.manifest.load_average.push(manifest::load_average());
    save(&run);
    for (name, entry) in &run.manifest.backends {
        if !entry.measured {
            println!(
                "authstore-bench: {name}: NOT MEASURED ({})",
                entry.note.as_deref().unwrap_or("?")
            );
        }
    }
}

/// The names in `var` (checked against `known`), or all of `known`.
fn selected(var: &str, known: &[&str]) -> Vec<String> {
    let Some(names) = mode::list_from_env(var) else {
        return known.iter().map(|s| (*s).to_owned()).collect();
    };
    for name in &names {
        if !known.contains(&name.as_str()) {
            eprintln!(
                "authstore-bench: {var}: unknown backend {name:?}; known: {}",
                known.join(", ")
            );
            std::process::exit(2);
        }
    }
    names
}

fn save(run: &Run) {
    if !run.record {
        return;
    }
    if let Err(err) = run.manifest.save(&run.dir) {
        eprintln!("authstore-bench: cannot write the run manifest: {err}");
    }
}

/// Records that `name` was not measured on this dataset, and says so.
fn not_measured(run: &mut Run, name: &str, label: &str, why: String) {
    println!("authstore-bench: {name} ({label}): not measured: {why}");
    let entry = run.manifest.backend(name);
    if !entry.measured {
        entry.note = Some(why);
    }
    save(run);
}

fn bench_backend(run: &mut Run, backend: &str, ds: Dataset) {
    let label = dataset_label(ds.records);
    let opened = match run.rt.block_on(setup::open(backend, ds.records)) {
        Ok(Availability::Ready(opened)) => opened,
        Ok(Availability::NotConfigured(why)) => return not_measured(run, backend, &label, why),
        Err(err) => {
            return not_measured(run, backend, &label, format!("could not be opened: {err}"));
        }
    };
    let store = opened.storage.clone();
    let start = Instant::now();
    let filled = run.rt.block_on(async {
        workload::fill(&store, ds, fill_parallelism(backend)).await?;
        if backend == "tiered" {
            workload::warm(&store, ds, fill_parallelism(backend)).await?;
        }
        Ok::<(), String>(())
    });
    if let Err(err) = filled {
        let _undone = run.rt.block_on((opened.teardown)());
        return not_measured(run, backend, &label, format!("filling failed: {err}"));
    }
    let fill_seconds = start.elapsed().as_secs_f64();
    println!("authstore-bench: {backend}: filled {label} records in {fill_seconds:.1} s");
    let entry = run.manifest.backend(backend);
    entry.measured = true;
    entry.note = None;
    entry.server_version = opened.server_version.clone();
    entry.fill_seconds.insert(label.clone(), fill_seconds);
    save(run);

    let next = AtomicU64::new(0);
    for op in RUN_ORDER {
        for concurrency in run.concurrencies(backend) {
            let id = BenchId {
                operation: op.into(),
                backend: backend.into(),
                dataset: ds.records,
                concurrency,
            };
            let mut group = run.criterion.benchmark_group(op);
            group.throughput(Throughput::Elements(concurrency));
            group.bench_function(id.function_id(), |b| {
                b.to_async(&run.rt).iter_custom(|iters| {
                    let (bench, concurrency) = (id.function_id(), concurrency as usize);
                    workload::sample(op, &bench, store.clone(), ds, concurrency, &next, iters)
                })
            });
            group.finish();
        }
    }
    drop(store);
    if let Err(err) = run.rt.block_on((opened.teardown)()) {
        eprintln!("authstore-bench: {backend} ({label}): removing its namespace failed: {err}");
    }
}

fn bench_engine(run: &mut Run, name: &str, ds: Dataset) {
    let label = dataset_label(ds.records);
    let engine = match run.rt.block_on(Engine::open(name)) {
        Ok(EngineAvailability::Ready(engine)) => engine,
        Ok(EngineAvailability::NotConfigured(why)) => return not_measured(run, name, &label, why),
        Err(err) => return not_measured(run, name, &label, format!("could not be opened: {err}")),
    };
    let start = Instant::now();
    if let Err(err) = run.rt.block_on(engine.fill(ds)) {
        finish_engine(run, name, engine);
        return not_measured(run, name, &label, format!("filling failed: {err}"));
    }
    let fill_seconds = start.elapsed().as_secs_f64();
    println!("authstore-bench: {name}: filled {label} records in {fill_seconds:.1} s");
    let entry = run.manifest.backend(name);
    entry.measured = true;
    entry.note = None;
    entry.server_version = engine.server_version();
    entry.fill_seconds.insert(label, fill_seconds);
    save(run);

    let next = AtomicU64::new(0);
    for op in BASELINE_OPERATIONS {
        for concurrency in run.concurrencies(name) {
            let id = BenchId {
                operation: op.into(),
                backend: name.into(),
                dataset: ds.records,
                concurrency,
            };
            let mut group = run.criterion.benchmark_group(op);
            group.throughput(Throughput::Elements(concurrency));
            group.bench_function(id.function_id(), |b| {
                b.to_async(&run.rt).iter_custom(|iters| {
                    let engine = engine.clone();
                    let next = &next;
                    let site: workload::Site = format!("{op}/{}", id.function_id()).into();
                    async move {
                        workload::measure(
                            iters,
                            concurrency as usize,
                            next,
                            move |n, k| {
                                workload::call_engine(op, site.clone(), engine.clone(), ds, n, k)
                            },
                            None::<fn(u64, usize) -> futures::future::BoxFuture<'static, ()>>,
                            1,
                        )
                        .await
                    }
                })
            });
            group.finish();
        }
    }
    finish_engine(run, name, engine);
}

/// Drops the engine's namespace.
fn finish_engine(run: &mut Run, name: &str, engine: Arc<Engine>) {
    match Arc::try_unwrap(engine) {
        Ok(engine) => {
            if let Err(err) = run.rt.block_on(engine.teardown()) {
                eprintln!("authstore-bench: {name}: removing its namespace failed: {err}");
            }
        }
        Err(_) => eprintln!("authstore-bench: {name}: still in use, namespace left behind"),
    }
}
