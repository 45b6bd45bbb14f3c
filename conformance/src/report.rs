//! [`Report`]: the verdicts of a run, per backend and scenario, and its writers (JSON,
//! JUnit XML, Markdown, terminal matrix).

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use authstore_scenarios::Scenario;
use authstore_spec::{Capabilities, TimingProfile};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use crate::clause_report::{self, ClauseReport, ClauseStatus};
use crate::provenance::Provenance;
use crate::statement;
use crate::verdict::{ScenarioRun, Verdict, not_claimed_message};

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
    /// The timing profile it declared (granularity and clock skew), when known.
    #[serde(default)]
    pub timing: Option<String>,
    /// One entry per scenario, in catalogue order.
    pub results: Vec<ScenarioReport>,
    /// Counts over `results`.
    pub totals: Totals,
    /// One entry per SPEC.md clause, judged on `results`.
    #[serde(default)]
    pub clauses: Vec<ClauseReport>,
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
            timing: None,
            totals: Totals::of(&results),
            clauses: clause_report::judge(&results),
            results,
        }
    }

    /// Records the timing profile the backend declared.
    pub fn with_timing(mut self, timing: TimingProfile) -> Self {
        self.timing = Some(format!(
            "granularity {:?}, clock skew {:?}",
            timing.granularity, timing.clock_skew
        ));
        self
    }

    /// Whether every scenario of a catalogue of `catalogue_size` is in the report (run,
    /// or not claimed).
    pub fn is_complete(&self, catalogue_size: usize) -> bool {
        self.results.len() >= catalogue_size
    }

    /// The entry for `scenario`, if it ran.
    pub fn result(&self, scenario: &str) -> Option<&ScenarioReport> {
        self.results.iter().find(|r| r.scenario == scenario)
    }
}

/// The verdicts of a run: per backend, per scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Which tool, specification and catalogue produced it, over which filter, when.
    pub provenance: Provenance,
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
    /// Per backend with a complete run and no failure, its conformance statement
    /// (`conformance-<backend>.md`) and badge (`badge-<backend>.svg`).
    pub statements: Vec<PathBuf>,
}

/// The lines a command prints after writing: `reports: <json>, <xml>, <md>`, then one
/// `conformance statement: <file>` per statement or badge.
impl fmt::Display for ReportFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reports: {}, {}, {}",
            self.json.display(),
            self.junit.display(),
            self.markdown.display()
        )?;
        for statement in &self.statements {
            write!(f, "\nconformance statement: {}", statement.display())?;
        }
        Ok(())
    }
}

impl Report {
    /// A report over these backends, stamped with this build's [`Provenance`] for an
    /// unfiltered run.
    pub fn new(backends: Vec<BackendReport>) -> Self {
        Self {
            provenance: Provenance::current(None),
            backends,
        }
    }

    /// Records the scenario filter the run used.
    pub fn with_filter(mut self, filter: impl Into<String>) -> Self {
        self.provenance.filter = Some(filter.into());
        self
    }

    /// Whether `backend`'s entry covers the whole catalogue (unfiltered, every scenario
    /// run or not claimed).
    pub fn is_complete(&self, backend: &BackendReport) -> bool {
        self.provenance.filter.is_none() && backend.is_complete(self.provenance.catalogue_size)
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
            suite.add_properties(self.suite_properties(backend));
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
                case.add_properties(
                    entry
                        .clauses
                        .iter()
                        .map(|clause| Property::new("clause", clause.as_str())),
                );
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

    /// The report as Markdown: a banner when it does not cover the whole catalogue, the
    /// totals and provenance, the matrix scenario × backend (✅, ❌, not claimed), every
    /// clause × backend, the failed clauses with their sentence and a hint, then every
    /// failure message.
    pub fn to_markdown(&self) -> String {
        let mut md = String::from("# AuthStorage conformance report\n\n");
        let catalogue = self.provenance.catalogue_size;
        for backend in &self.backends {
            if !self.is_complete(backend) {
                let filter = match &self.provenance.filter {
                    Some(filter) => format!(" (filter `{filter}`)"),
                    None => String::new(),
                };
                let _ = writeln!(
                    md,
                    "> **Partial run: {} of {catalogue} scenarios** on {}{filter}: not a \
                     conformance result.\n",
                    backend.results.len(),
                    escape_cell(&backend.name),
                );
            }
        }
        let _ = writeln!(md, "**{}**\n", self.totals().summary_line());
        self.provenance_markdown(&mut md);
        md.push_str("\n## Scenarios\n\n| scenario | clauses |");
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
        self.clauses_markdown(&mut md);
        self.failed_clauses_markdown(&mut md);
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

    /// The provenance table, and per backend its claims and timing.
    fn provenance_markdown(&self, md: &mut String) {
        let p = &self.provenance;
        md.push_str("| provenance | |\n|---|---|\n");
        let _ = writeln!(md, "| tool | {} |", p.tool);
        let _ = writeln!(
            md,
            "| specification | SPEC.md of authstore-spec {} |",
            p.spec_version
        );
        let _ = writeln!(md, "| SPEC.md SHA-256 | `{}` |", p.spec_sha256);
        let _ = writeln!(md, "| catalogue | {} scenarios |", p.catalogue_size);
        let filter = p
            .filter
            .as_deref()
            .map_or("none".to_owned(), |f| format!("`{f}`"));
        let _ = writeln!(md, "| filter | {} |", escape_cell(&filter));
        let _ = writeln!(md, "| generated | {} |", p.generated_at);
        for backend in &self.backends {
            let _ = writeln!(
                md,
                "| {} | claims {}; timing: {} |",
                escape_cell(&backend.name),
                backend.capabilities.join(", "),
                backend.timing.as_deref().unwrap_or("not declared"),
            );
        }
    }

    /// Every clause × backend: pass, FAIL, not claimed or not checked.
    fn clauses_markdown(&self, md: &mut String) {
        let Some(first) = self.backends.first() else {
            return;
        };
        md.push_str("\n## Clauses\n\n| clause | level |");
        for backend in &self.backends {
            let _ = write!(md, " {} |", escape_cell(&backend.name));
        }
        md.push_str("\n|---|---|");
        md.push_str(&"---|".repeat(self.backends.len()));
        md.push('\n');
        for (row, clause) in first.clauses.iter().enumerate() {
            let _ = write!(md, "| `{}` | {} |", clause.clause, clause.level);
            for backend in &self.backends {
                let cell = match backend.clauses.get(row).map(|c| c.status) {
                    Some(ClauseStatus::Passed) => "✅",
                    Some(ClauseStatus::Failed) => "❌",
                    Some(status) => status.label(),
                    None => "–",
                };
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
    }

    /// The failed clauses, each once: its sentence, the backends and scenarios that
    /// failed it, and where to look.
    fn failed_clauses_markdown(&self, md: &mut String) {
        let mut failed: Vec<(&str, Vec<String>)> = Vec::new();
        for backend in &self.backends {
            for clause in backend
                .clauses
                .iter()
                .filter(|c| c.status == ClauseStatus::Failed)
            {
                let scenarios = clause
                    .scenarios
                    .iter()
                    .filter(|id| backend.result(id).map(|r| r.status) == Some(Status::Failed));
                let lines: Vec<String> = scenarios
                    .map(|id| format!("`{id}` on {}", escape_cell(&backend.name)))
                    .collect();
                match failed.iter_mut().find(|(id, _)| *id == clause.clause) {
                    Some((_, all)) => all.extend(lines),
                    None => failed.push((&clause.clause, lines)),
                }
            }
        }
        if failed.is_empty() {
            return;
        }
        md.push_str("\n## Failed clauses\n");
        for (id, scenarios) in failed {
            let Some(clause) = authstore_spec::clause(id) else {
                continue;
            };
            let _ = write!(
                md,
                "\n### `{id}` ({})\n\n> {}\n\nFailed by {}.\n\nHint: {}\n",
                clause_report::level_name(&clause),
                clause.text,
                scenarios.join(", "),
                clause_report::hint(id),
            );
        }
    }

    /// The JUnit properties of a backend's test suite: provenance, claims, timing.
    fn suite_properties(&self, backend: &BackendReport) -> Vec<Property> {
        let p = &self.provenance;
        let mut properties = vec![
            Property::new("tool", p.tool.as_str()),
            Property::new("spec_version", p.spec_version.as_str()),
            Property::new("spec_sha256", p.spec_sha256.as_str()),
            Property::new("catalogue_size", p.catalogue_size.to_string()),
            Property::new("filter", p.filter.as_deref().unwrap_or("")),
            Property::new("generated_at", p.generated_at.as_str()),
            Property::new("capabilities", backend.capabilities.join(",")),
            Property::new("complete", self.is_complete(backend).to_string()),
        ];
        if let Some(timing) = &backend.timing {
            properties.push(Property::new("timing", timing.as_str()));
        }
        properties
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
        let mut files = ReportFiles {
            json: dir.join("report.json"),
            junit: dir.join("report.xml"),
            markdown: dir.join("report.md"),
            statements: Vec::new(),
        };
        write_file(&files.json, &self.to_json()?)?;
        write_file(&files.junit, &self.to_junit()?)?;
        write_file(&files.markdown, &self.to_markdown())?;
        for backend in &self.backends {
            let slug = statement::file_slug(&backend.name);
            let markdown = dir.join(format!("conformance-{slug}.md"));
            let badge = dir.join(format!("badge-{slug}.svg"));
            match statement::Statement::of(self, backend) {
                Some(statement) => {
                    write_file(&markdown, &statement.markdown())?;
                    write_file(&badge, &statement.badge_svg())?;
                    files.statements.extend([markdown, badge]);
                }
                // A statement left from an earlier, conformant run must not outlive it.
                None => {
                    remove_file(&markdown)?;
                    remove_file(&badge)?;
                }
            }
        }
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

fn remove_file(path: &Path) -> Result<(), ReportError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(ReportError::Io {
            path: path.to_path_buf(),
            source: err,
        }),
        _ => Ok(()),
    }
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
