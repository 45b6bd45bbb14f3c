//! The catalogue against the corpus: the correct backend passes every scenario, and
//! every [`Bug`] makes at least one scenario fail.
//!
//! `every_bug_is_caught` runs, for each bug, its `caught_by()` scenarios first and the
//! rest of the catalogue only if none of them failed; it prints a table of what caught
//! each bug, writes it to `target/corpus/report.md`, warns where a declared scenario
//! did not fail, and fails if a bug went uncaught or names a scenario the catalogue does
//! not have. Bugs run [`BUGS_AT_ONCE`] at a time on a multi-thread runtime; a bug that
//! makes a scenario hang costs [`TIMEOUT`], then counts as caught.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use authstore_conformance::{DEFAULT_TIMEOUT, Fixture, Verdict, run_scenario};
use authstore_corpus::{BrokenStorage, Bug, MAX_VALUE_BYTES, TIMING};
use authstore_scenarios::{Scenario, catalogue};
use authstore_spec::{Capabilities, Capability};
use futures::StreamExt;

/// Per scenario (fixture, body and teardown each): a quarter of the runner's default, so
/// a bug that makes a scenario hang costs 30 s, not 2 min. The slowest scenario of the
/// correct backend takes a few seconds on a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(30);
const _: () = assert!(TIMEOUT.as_secs() <= DEFAULT_TIMEOUT.as_secs());
/// Bugs hunted at once.
const BUGS_AT_ONCE: usize = 4;
/// Scenarios of one bug (or of the base run) run at once.
const SCENARIOS_AT_ONCE: usize = 8;
/// Failure messages in the table are cut to about this many characters.
const MESSAGE_CHARS: usize = 150;

/// The capacity the corpus's stores are bounded to and declare.
const CAPACITY: u64 = 16 << 20;

/// Two handles on one fresh store with `bug`, bounded to [`CAPACITY`], declaring its
/// value limit, able to count what it holds and to make a store under another
/// namespace or with a default TTL.
fn fixture(bug: Option<Bug>) -> Fixture {
    let first = BrokenStorage::new(bug).with_capacity(CAPACITY);
    let second = first.second_handle();
    let namespaces = first.second_handle();
    let probe = first.second_handle();
    Fixture::new(first)
        .with_second_handle(second)
        .with_capacity(CAPACITY)
        .with_kv_value_limit(MAX_VALUE_BYTES as u64)
        .with_stored_items(move || {
            let count = probe.stored_items() as u64;
            async move { Ok(count) }
        })
        .with_other_namespace(move || {
            let other = namespaces.other_namespace();
            async move { Ok(Fixture::new(other)) }
        })
        .with_default_ttl_store(move |ttl| async move {
            Ok(Fixture::new(BrokenStorage::new(bug).with_default_ttl(ttl)))
        })
}

/// Runs one scenario on a fresh store with `bug`, claiming every capability.
async fn verdict(scenario: Scenario, bug: Option<Bug>) -> (Scenario, Verdict) {
    let claimed = Capability::ALL.into_iter().collect::<Capabilities>();
    let run = run_scenario(&scenario, fixture(bug), claimed, TIMING, TIMEOUT).await;
    (scenario, run.verdict)
}

/// Runs `scenarios` on fresh stores with `bug`, [`SCENARIOS_AT_ONCE`] at a time; the
/// verdicts come back in the order given.
async fn verdicts(scenarios: Vec<Scenario>, bug: Option<Bug>) -> Vec<(Scenario, Verdict)> {
    let mut done: Vec<(usize, (Scenario, Verdict))> = futures::stream::iter(scenarios)
        .enumerate()
        .map(|(i, scenario)| async move { (i, verdict(scenario, bug).await) })
        .buffer_unordered(SCENARIOS_AT_ONCE)
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, v)| v).collect()
}

/// One line of at most [`MESSAGE_CHARS`] characters, fit for a Markdown table cell.
fn abbreviate(message: &str) -> String {
    let line: String = message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|");
    if line.chars().count() <= MESSAGE_CHARS {
        return line;
    }
    let cut: String = line.chars().take(MESSAGE_CHARS).collect();
    format!("{cut}…")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn correct_backend_passes_the_whole_catalogue() {
    let started = Instant::now();
    let results = verdicts(catalogue(), None).await;
    let mut failures = Vec::new();
    for (scenario, verdict) in &results {
        // The store claims every capability (capacity included): a scenario left
        // unclaimed is a failure too.
        if !verdict.is_passed() {
            failures.push(format!("{}: {verdict}", scenario.id));
        }
    }
    println!(
        "correct backend: {} scenarios, {} passed, {} failed, in {:.1?}",
        results.len(),
        results.len() - failures.len(),
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "the correct BrokenStorage (bug = None) must pass every scenario; {} did not:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What hunting one bug found.
#[derive(Debug)]
struct Hunt {
    bug: Bug,
    /// Scenarios that failed, declared ones first, each with its message.
    caught: Vec<(&'static str, String)>,
    /// Declared scenarios that passed.
    missed: Vec<&'static str>,
    /// Declared ids the catalogue does not have.
    unknown: Vec<&'static str>,
    took: Duration,
}

async fn hunt(bug: Bug, all: &[Scenario]) -> Hunt {
    let started = Instant::now();
    let declared = bug.caught_by();
    let unknown: Vec<&'static str> = declared
        .iter()
        .copied()
        .filter(|id| !all.iter().any(|s| s.id == *id))
        .collect();
    let first: Vec<Scenario> = declared
        .iter()
        .filter_map(|id| all.iter().find(|s| s.id == *id).copied())
        .collect();
    let mut caught = Vec::new();
    let mut missed = Vec::new();
    for (scenario, verdict) in verdicts(first, Some(bug)).await {
        match verdict {
            Verdict::Failed(message) => caught.push((scenario.id, message)),
            _ => missed.push(scenario.id),
        }
    }
    if caught.is_empty() {
        let rest: Vec<Scenario> = all
            .iter()
            .filter(|s| !declared.contains(&s.id))
            .copied()
            .collect();
        for (scenario, verdict) in verdicts(rest, Some(bug)).await {
            if let Verdict::Failed(message) = verdict {
                caught.push((scenario.id, message));
            }
        }
    }
    Hunt {
        bug,
        caught,
        missed,
        unknown,
        took: started.elapsed(),
    }
}

/// The Markdown report: one row per bug.
fn report(hunts: &[Hunt], took: Duration) -> String {
    let caught = hunts.iter().filter(|h| !h.caught.is_empty()).count();
    let mut text = format!(
        "# Broken-backend corpus\n\n{caught} of {} bugs caught by the catalogue, in {:.1?}.\n\n\
         | Bug | Class | Caught by | Failure (abbreviated) |\n| --- | --- | --- | --- |\n",
        hunts.len(),
        took
    );
    for hunt in hunts {
        let (scenario, message) = hunt
            .caught
            .first()
            .map_or(("**not caught**", String::new()), |(id, message)| {
                (*id, abbreviate(message))
            });
        let _ = writeln!(
            text,
            "| `{}` | {} | `{scenario}` | {message} |",
            hunt.bug.name(),
            hunt.bug.class()
        );
    }
    text
}

/// `target/corpus`, next to the directory this test binary runs from.
fn report_dir() -> PathBuf {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("corpus")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bug_is_caught() {
    let started = Instant::now();
    let all = catalogue();
    let all = &all;
    let mut hunts: Vec<Hunt> = futures::stream::iter(Bug::ALL.iter().copied())
        .map(|bug| hunt(bug, all))
        .buffer_unordered(BUGS_AT_ONCE)
        .collect()
        .await;
    hunts.sort_by_key(|h| Bug::ALL.iter().position(|b| *b == h.bug));
    let took = started.elapsed();

    let text = report(&hunts, took);
    println!("{text}");
    let dir = report_dir();
    let path = dir.join("report.md");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, &text))
        .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    println!("written to {}", path.display());

    let mut slowest: Vec<&Hunt> = hunts.iter().collect();
    slowest.sort_by_key(|h| std::cmp::Reverse(h.took));
    for hunt in slowest.iter().take(5) {
        println!("slowest: {} took {:.1?}", hunt.bug.name(), hunt.took);
    }

    let mut problems = Vec::new();
    for hunt in &hunts {
        let name = hunt.bug.name();
        for id in &hunt.unknown {
            problems.push(format!(
                "{name}: caught_by() names `{id}`, which is not in the catalogue"
            ));
        }
        if hunt.caught.is_empty() {
            problems.push(format!(
                "{name} ({}): no scenario caught it — {}",
                hunt.bug.class(),
                hunt.bug.defect()
            ));
        } else if !hunt.missed.is_empty() {
            let others: Vec<&str> = hunt.caught.iter().map(|(id, _)| *id).collect();
            println!(
                "warning: {name}: declared scenario(s) {:?} did not fail; failing: {others:?}",
                hunt.missed
            );
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with the corpus:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The README's table names every bug with its defect and catching scenarios, so the
/// published list cannot drift from the code.
#[test]
fn readme_lists_every_bug() {
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&format!("## The bugs ({})", Bug::ALL.len())),
        "corpus/README.md: the heading must say {} bugs",
        Bug::ALL.len()
    );
    for bug in Bug::ALL {
        let caught_by: Vec<String> = bug.caught_by().iter().map(|s| format!("`{s}`")).collect();
        let row = format!(
            "| `{}` | {} | {} | {} |",
            bug.name(),
            bug.class().name(),
            bug.defect(),
            caught_by.join(", ")
        );
        assert!(
            readme.contains(&row),
            "corpus/README.md has no row ending in\n{row}"
        );
    }
}

/// Runs of each race bug in [`race_bugs_are_caught_in_every_run`].
const RACE_RUNS: usize = 20;

/// Every bug of the concurrency class (a check-then-act window, indexes written under
/// separate locks, a listing paged under separate locks) is caught by its declared
/// scenarios in every one of [`RACE_RUNS`] runs: a race scenario that catches its bug
/// only sometimes would let a racy backend pass at random.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn race_bugs_are_caught_in_every_run() {
    let started = Instant::now();
    let races: Vec<Bug> = Bug::ALL
        .iter()
        .copied()
        .filter(|bug| bug.class() == authstore_corpus::BugClass::Concurrency)
        .collect();
    assert!(!races.is_empty(), "the corpus has no concurrency bug");
    let runs: Vec<(Bug, usize)> = races
        .iter()
        .flat_map(|bug| (0..RACE_RUNS).map(move |run| (*bug, run)))
        .collect();
    let caught: Vec<(Bug, bool)> = futures::stream::iter(runs)
        .map(|(bug, _)| async move {
            let scenarios: Vec<Scenario> = bug
                .caught_by()
                .iter()
                .filter_map(|id| authstore_scenarios::find(id))
                .collect();
            let results = verdicts(scenarios, Some(bug)).await;
            (bug, results.iter().any(|(_, verdict)| verdict.is_failed()))
        })
        .buffer_unordered(BUGS_AT_ONCE)
        .collect()
        .await;
    let mut report = String::new();
    let mut missed = Vec::new();
    for bug in &races {
        let hits = caught.iter().filter(|(b, hit)| b == bug && *hit).count();
        let _ = writeln!(
            report,
            "{}: caught in {hits} of {RACE_RUNS} runs",
            bug.name()
        );
        if hits < RACE_RUNS {
            missed.push(format!("{} ({hits}/{RACE_RUNS})", bug.name()));
        }
    }
    println!("{report}race bugs checked in {:.1?}", started.elapsed());
    assert!(
        missed.is_empty(),
        "race bugs not caught in every run by their declared scenarios: {}",
        missed.join(", ")
    );
}
