//! Reports from `cargo test`: with [`REPORT_DIR_VAR`] set, every test that
//! [`conformance_suite!`](crate::conformance_suite) generated records its verdict here,
//! and the report files in that directory are rewritten after each one, so they are
//! complete when the last test ends, however the others ended.
//!
//! Test threads of one process share the collector; test processes (several test
//! binaries writing to one directory) share the files under a lock, each replacing only
//! its own suites' entries.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use authstore_scenarios::Scenario;
use authstore_spec::{Capabilities, TimingProfile};

use crate::report::{BackendReport, Report, ReportError, ReportFiles, ScenarioReport};
use crate::verdict::{ScenarioRun, Verdict, not_claimed_message};

/// The environment variable naming the directory `cargo test` writes `report.json`,
/// `report.xml` and `report.md` into (and, after a complete run without failures, the
/// conformance statement and badge).
pub const REPORT_DIR_VAR: &str = "AUTHSTORE_REPORT_DIR";

/// What one suite (one `conformance_suite!` invocation) has recorded in this process.
#[derive(Debug)]
struct SuiteRecord {
    claimed: Capabilities,
    timing: TimingProfile,
    results: HashMap<&'static str, ScenarioReport>,
}

static SUITES: LazyLock<Mutex<BTreeMap<String, SuiteRecord>>> = LazyLock::new(Default::default);

/// The report directory, when one is asked for.
pub(crate) fn report_dir() -> Option<PathBuf> {
    std::env::var_os(REPORT_DIR_VAR)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// Records how `scenario` went on `suite` and rewrites the report files in `dir`.
/// `run` is what happened when the scenario ran as if claimed; a scenario the suite does
/// not claim stays *not claimed* whatever it did (it was tried with `--ignored`).
pub(crate) fn record(
    dir: &Path,
    suite: &str,
    claimed: Capabilities,
    timing: TimingProfile,
    scenario: &Scenario,
    run: &ScenarioRun,
) -> Result<(), ReportError> {
    let missing = claimed.missing(scenario.needs);
    let entry = if missing.is_empty() {
        ScenarioReport::new(scenario, run)
    } else {
        let tried = match &run.verdict {
            Verdict::Passed => "passed".to_owned(),
            other => other.to_string(),
        };
        let not_claimed = ScenarioRun {
            verdict: Verdict::NotClaimed(missing.clone()),
            duration: run.duration,
        };
        ScenarioReport {
            message: Some(format!(
                "{}; tried anyway (--ignored): {tried}",
                not_claimed_message(&missing)
            )),
            ..ScenarioReport::new(scenario, &not_claimed)
        }
    };
    // Snapshot and write under one lock: a snapshot written after a newer one would
    // drop the newer verdict from the files.
    let mut suites = SUITES.lock().unwrap_or_else(PoisonError::into_inner);
    let record = suites
        .entry(suite.to_owned())
        .or_insert_with(|| SuiteRecord {
            claimed,
            timing,
            results: HashMap::new(),
        });
    record.results.insert(scenario.id, entry);
    let ours = suites
        .iter()
        .map(|(name, record)| backend_report(name, record))
        .collect();
    write_merged(dir, ours, None).map(drop)
}

/// A suite's entries in catalogue order: what ran, and every scenario it does not claim
/// (never run by `cargo test` unless asked, but part of a complete report).
fn backend_report(name: &str, record: &SuiteRecord) -> BackendReport {
    let results = authstore_scenarios::catalogue()
        .iter()
        .filter_map(|scenario| match record.results.get(scenario.id) {
            Some(entry) => Some(entry.clone()),
            None => {
                let missing = record.claimed.missing(scenario.needs);
                (!missing.is_empty()).then(|| {
                    ScenarioReport::new(
                        scenario,
                        &ScenarioRun {
                            verdict: Verdict::NotClaimed(missing),
                            duration: Default::default(),
                        },
                    )
                })
            }
        })
        .collect();
    BackendReport::new(name, record.claimed, results).with_timing(record.timing)
}

/// Under the directory's lock: keeps the other processes' backends from the existing
/// `report.json`, replaces ours, writes every file, marked with `filter` when ours was a
/// filtered run. The [`main`](crate::main) entry point writes through here too, so it can
/// share a directory with `conformance_suite!` tests.
pub(crate) fn write_merged(
    dir: &Path,
    ours: Vec<BackendReport>,
    filter: Option<String>,
) -> Result<ReportFiles, ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let lock_path = dir.join(".report.lock");
    let lock: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let json_path = dir.join("report.json");
    let mut backends: Vec<BackendReport> = match std::fs::read_to_string(&json_path) {
        // Another process's suites survive; a file this version cannot read is replaced.
        Ok(json) => Report::from_json(&json)
            .map(|report| report.backends)
            .unwrap_or_default()
            .into_iter()
            .filter(|theirs| !ours.iter().any(|mine| mine.name == theirs.name))
            .collect(),
        Err(_) => Vec::new(),
    };
    backends.extend(ours);
    backends.sort_by(|a, b| a.name.cmp(&b.name));
    let report = Report::new(backends);
    let report = match filter {
        Some(filter) => report.with_filter(filter),
        None => report,
    };
    let written = report.write_files(dir);
    let _unlocked = lock.unlock();
    written
}
