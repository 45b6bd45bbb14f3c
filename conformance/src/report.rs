//! [`Report`]: the verdicts of a run, per backend and scenario, and its writers (JSON,
//! JUnit XML, Markdown, terminal matrix).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authstore_scenarios::Scenario;
use authstore_spec::Capabilities;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use crate::runner::{ScenarioRun, Verdict, not_claimed_message};

/// How a scenario ended, as written in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It ran and every check held.
    Passed,
    /// It ran and failed (or could not run because the backend failed to set up).
    Failed,
    /// It needs a capability the backend does not claim, so it did not run.
    NotClaimed,
}

/// One scenario against one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// The scenario id.
    pub scenario: String,
    /// The SPEC.md clauses it checks.
    pub clauses: Vec<String>,
    /// What it checks, in one line.
    pub summary: String,
    /// How it ended.
    pub status: Status,
    /// The failure message, or `not claimed: needs ...`; `None` when passed.
    pub message: Option<String>,
    /// How long it took, in microseconds.
    pub duration_micros: u64,
}

impl ScenarioReport {
    /// The entry for `scenario` run as `run`.
    pub fn new(scenario: &Scenario, run: &ScenarioRun) -> Self {
        let (status, message) = match &run.verdict {
            Verdict::Passed => (Status::Passed, None),
            Verdict::Failed(message) => (Status::Failed, Some(message.clone())),
            Verdict::NotClaimed(missing) => {
                (Status::NotClaimed, Some(not_claimed_message(missing)))
            }
        };
        Self {
            scenario: scenario.id.to_string(),
            clauses: scenario.clauses.iter().map(|c| (*c).to_string()).collect(),
            summary: scenario.summary.to_string(),
            status,
            message,
            duration_micros: u64::try_from(run.duration.as_micros()).unwrap_or(u64::MAX),
        }
    }

    /// The duration as a [`Duration`].
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.duration_micros)
    }
}

/// How many scenarios passed, failed and were not claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Ran and passed.
    pub passed: usize,
    /// Ran and failed.
    pub failed: usize,
    /// Not run: a needed capability is not claimed.
    pub not_claimed: usize,
}

impl Totals {
    fn of<'a>(entries: impl IntoIterator<Item = &'a ScenarioReport>) -> Self {
        entries
            .into_iter()
            .fold(Totals::default(), |mut totals, entry| {
                match entry.status {
                    Status::Passed => totals.passed += 1,
                    Status::Failed => totals.failed += 1,
                    Status::NotClaimed => totals.not_claimed += 1,
                }
                totals
            })
    }

    /// `N passed, M failed, K not claimed`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} not claimed",
            self.passed, self.failed, self.not_claimed
        )
    }
}

/// Every scenario run against one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendReport {
    /// The backend's name.
    pub name: String,
    /// The capabilities it claimed, by name (`expiry`, `multi-handle`, ...).
    pub capabilities: Vec<String>,
    /// One entry per scenario, in catalogue order.
    pub results: Vec<ScenarioReport>,
    /// Counts over `results`.
    pub totals: Totals,
}

impl BackendReport {
    /// A backend's entries, with their totals.
    pub fn new(
        name: impl Into<String>,
        claimed: Capabilities,
        results: Vec<ScenarioReport>,
    ) -> Self {
        Self {
            name: name.into(),
            capabilities: claimed.iter().map(|c| c.name().to_string()).collect(),
            totals: Totals::of(&results),
            results,
        }
    }

    /// The entry for `scenario`, if it ran.
    pub fn result(&self, scenario: &str) -> Option<&ScenarioReport> {
        self.results.iter().find(|r| r.scenario == scenario)
    }
}

/// The verdicts of a run: per backend, per scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// One entry per backend, in the order they were given.
    pub backends: Vec<BackendReport>,
}

/// A report could not be encoded or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// JSON encoding or decoding failed.
    #[error("JSON report: {0}")]
    Json(#[from] serde_json::Error),
    /// JUnit XML encoding failed.
    #[error("JUnit report: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The files [`Report::write_files`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.xml` (JUnit).
    pub junit: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
}

impl Report {
    /// A report over these backends.
    pub fn new(backends: Vec<BackendReport>) -> Self {
        Self { backends }
    }

    /// Totals over every backend.
    pub fn totals(&self) -> Totals {
        Totals::of(self.backends.iter().flat_map(|b| &b.results))
    }

    /// Whether any scenario failed on any backend.
    pub fn has_failures(&self) -> bool {
        self.totals().failed > 0
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// A report read back from [`to_json`](Self::to_json)'s output.
    pub fn from_json(json: &str) -> Result<Self, ReportError> {
        Ok(serde_json::from_str(json)?)
    }

    /// The report as JUnit XML: a test suite per backend, a test case per scenario;
    /// failures carry their message, not-claimed scenarios are skipped with
    /// `not claimed: needs ...`.
    pub fn to_junit(&self) -> Result<String, ReportError> {
        let mut junit = quick_junit::Report::new("authstore-conformance");
        let mut total = Duration::ZERO;
        for backend in &self.backends {
            let mut suite = TestSuite::new(backend.name.as_str());
            let mut suite_time = Duration::ZERO;
            for entry in &backend.results {
                let status = match entry.status {
                    Status::Passed => TestCaseStatus::success(),
                    Status::Failed => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        let message = entry.message.as_deref().unwrap_or("failed");
                        status.set_message(first_line(message));
                        status.set_description(message);
                        status
                    }
                    Status::NotClaimed => {
                        let mut status = TestCaseStatus::skipped();
                        status.set_message(entry.message.as_deref().unwrap_or("not claimed"));
                        status
                    }
                };
                let mut case = TestCase::new(entry.scenario.as_str(), status);
                case.set_classname(format!("authstore.{}", backend.name));
                case.set_time(entry.duration());
                suite_time += entry.duration();
                suite.add_test_case(case);
            }
            suite.set_time(suite_time);
            total += suite_time;
            junit.add_test_suite(suite);
        }
        junit.set_time(total);
        Ok(junit.to_string()?)
    }

    /// The report as Markdown: a matrix scenario × backend (✅, ❌, not claimed), the
    /// totals, then every failure message.
    pub fn to_markdown(&self) -> String {
        let mut md = String::from("# AuthStorage conformance report\n\n");
        let _ = writeln!(md, "**{}**\n", self.totals().summary_line());
        md.push_str("| scenario | clauses |");
        for backend in &self.backends {
            let _ = write!(md, " {} |", escape_cell(&backend.name));
        }
        md.push_str("\n|---|---|");
        md.push_str(&"---|".repeat(self.backends.len()));
        md.push('\n');
        for (id, clauses) in self.scenario_rows() {
            let _ = write!(md, "| `{id}` | {} |", clauses.join(", "));
            for backend in &self.backends {
                let cell = match backend.result(id).map(|r| r.status) {
                    Some(Status::Passed) => "✅",
                    Some(Status::Failed) => "❌",
                    Some(Status::NotClaimed) => "not claimed",
                    None => "–",
                };
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
        md.push_str("| **totals** | |");
        for backend in &self.backends {
            let t = backend.totals;
            let _ = write!(
                md,
                " {} ✅ / {} ❌ / {} not claimed |",
                t.passed, t.failed, t.not_claimed
            );
        }
        md.push('\n');
        let failures: Vec<_> = self.failures().collect();
        if !failures.is_empty() {
            md.push_str("\n## Failures\n");
            for (backend, entry) in failures {
                let message = entry.message.as_deref().unwrap_or("failed");
                let fence = "`".repeat(longest_backtick_run(message).max(2) + 1);
                let _ = write!(
                    md,
                    "\n### `{}` on {} ({})\n\n{}\n\n{fence}text\n{message}\n{fence}\n",
                    entry.scenario,
                    escape_cell(backend),
                    entry.clauses.join(", "),
                    entry.summary,
                );
            }
        }
        md
    }

    /// The matrix for a terminal: a row per scenario, a column per backend with `pass`,
    /// `FAIL` or `not claimed`, the totals per backend, then the failure messages.
    pub fn to_matrix_text(&self) -> String {
        let rows = self.scenario_rows();
        let first = rows
            .iter()
            .map(|(id, _)| id.len())
            .max()
            .unwrap_or(0)
            .max("scenario".len());
        let widths: Vec<usize> = self
            .backends
            .iter()
            .map(|b| b.name.len().max("not claimed".len()))
            .collect();
        let mut out = format!("{:first$}", "scenario");
        for (backend, width) in self.backends.iter().zip(&widths) {
            let _ = write!(out, "  {:width$}", backend.name);
        }
        out = out.trim_end().to_string();
        out.push('\n');
        for (id, _) in &rows {
            let mut line = format!("{id:first$}");
            for (backend, width) in self.backends.iter().zip(&widths) {
                let cell = match backend.result(id).map(|r| r.status) {
                    Some(Status::Passed) => "pass",
                    Some(Status::Failed) => "FAIL",
                    Some(Status::NotClaimed) => "not claimed",
                    None => "-",
                };
                let _ = write!(line, "  {cell:width$}");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
        for backend in &self.backends {
            let _ = writeln!(out, "{}: {}", backend.name, backend.totals.summary_line());
        }
        let failures: Vec<_> = self.failures().collect();
        if !failures.is_empty() {
            out.push_str("\nfailures:\n");
            for (backend, entry) in failures {
                let _ = writeln!(
                    out,
                    "\n{} on {} ({}): {}",
                    entry.scenario,
                    backend,
                    entry.clauses.join(", "),
                    entry.summary
                );
                for line in entry.message.as_deref().unwrap_or("failed").lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        out
    }

    /// Writes `report.json`, `report.xml` and `report.md` into `dir`, creating it.
    pub fn write_files(&self, dir: &Path) -> Result<ReportFiles, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let files = ReportFiles {
            json: dir.join("report.json"),
            junit: dir.join("report.xml"),
            markdown: dir.join("report.md"),
        };
        write_file(&files.json, &self.to_json()?)?;
        write_file(&files.junit, &self.to_junit()?)?;
        write_file(&files.markdown, &self.to_markdown())?;
        Ok(files)
    }

    /// Scenario ids and clauses in order of first appearance over all backends.
    fn scenario_rows(&self) -> Vec<(&str, &[String])> {
        let mut rows: Vec<(&str, &[String])> = Vec::new();
        for entry in self.backends.iter().flat_map(|b| &b.results) {
            if !rows.iter().any(|(id, _)| *id == entry.scenario) {
                rows.push((&entry.scenario, &entry.clauses));
            }
        }
        rows
    }

    /// Every failed entry with its backend's name, backend by backend.
    fn failures(&self) -> impl Iterator<Item = (&str, &ScenarioReport)> {
        self.backends.iter().flat_map(|b| {
            b.results
                .iter()
                .filter(|r| r.status == Status::Failed)
                .map(move |r| (b.name.as_str(), r))
        })
    }
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    std::fs::write(path, contents).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
