//! `matrix`: the catalogue over every backend x source cell this machine offers.
//!
//! A cell is a backend with one source for its servers: `in-process` for backends that
//! need none, else `url` (the servers the `AUTHSTORE_*_URL` variables name) or
//! `container` (started here). A cell whose servers cannot be had at all — URL variable
//! unset, image neither present nor pullable, no Docker engine — is *unavailable*: listed
//! with the reason, never counted as passed. `--require` turns that into a failure for the
//! cells a CI run must have.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use authstore_conformance::{Report, Totals};
use authstore_harness::provision::{self, CONTAINER_LABEL, Endpoint, ProvisionError, Source};
use clap::Args;

use super::backends::{self, Builtin};
use super::{CommonArgs, USAGE_ERROR, backend_names, default_out_dir, run_with_progress, runtime};

/// Arguments of `matrix`.
#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {
    /// A backend to include (repeatable); default: all.
    #[arg(long = "backend", value_name = "NAME", value_parser = backend_names())]
    backends: Vec<String>,
    /// A source for the server backends (repeatable): `url` or `container`; default both.
    #[arg(long = "source", value_name = "SOURCE", value_parser = parse_cell_source)]
    sources: Vec<Source>,
    /// A cell that must be available, as `<backend>/<source>` (repeatable), or `all`;
    /// an unavailable required cell fails the run.
    #[arg(long = "require", value_name = "CELL")]
    require: Vec<String>,
    /// Where to write `summary.md`, `report.json` and `junit/<backend>-<source>.xml`;
    /// default: `target/conformance/matrix` under the workspace root.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

fn parse_cell_source(text: &str) -> Result<Source, String> {
    match Source::parse(text).map_err(|err| err.to_string())? {
        Source::Auto => Err("a matrix cell's source is `url` or `container`".to_owned()),
        source => Ok(source),
    }
}

/// One cell's outcome.
#[derive(Debug)]
enum Outcome {
    /// Ran: the counts, the servers met, the wall time.
    Ran {
        totals: Totals,
        servers: String,
        startup: String,
        elapsed: Duration,
    },
    /// Could not run here, and why.
    Unavailable(String),
}

#[derive(Debug)]
struct Cell {
    backend: &'static str,
    source: &'static str,
    outcome: Outcome,
}

impl Cell {
    fn name(&self) -> String {
        format!("{}/{}", self.backend, self.source)
    }

    fn failed(&self) -> bool {
        matches!(&self.outcome, Outcome::Ran { totals, .. } if totals.failed > 0)
    }
}

pub(crate) fn main(args: MatrixArgs) -> ExitCode {
    let scenarios = match args.common.scenarios() {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
    let sources = if args.sources.is_empty() {
        vec![Source::Url, Source::Container]
    } else {
        args.sources.clone()
    };
    let chosen: Vec<Builtin> = backends::all()
        .into_iter()
        .filter(|b| args.backends.is_empty() || args.backends.iter().any(|n| n == b.name))
        .collect();
    let plan: Vec<(&Builtin, Option<Source>)> = chosen
        .iter()
        .flat_map(|b| {
            if b.in_process() {
                vec![(b, None)]
            } else {
                sources.iter().map(|s| (b, Some(*s))).collect()
            }
        })
        .collect();
    let cell_names: Vec<String> = plan
        .iter()
        .map(|(b, s)| format!("{}/{}", b.name, s.map_or("in-process", Source::name)))
        .collect();
    let required = match required_cells(&args.require, &cell_names) {
        Ok(required) => required,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    let options = args.common.options();

    let mut cells = Vec::new();
    let mut reports = Vec::new();
    runtime.block_on(async {
        for (builtin, source) in &plan {
            let label = source.map_or("in-process", Source::name);
            eprintln!("== {}/{label}", builtin.name);
            let began = Instant::now();
            let (servers, startup) = match source {
                None => ("in-process".to_owned(), String::new()),
                Some(source) => match builtin.servers(*source).await {
                    Ok(endpoints) => describe(&endpoints),
                    Err(err) => {
                        eprintln!("   unavailable: {err}");
                        let reason = unavailable_reason(&err);
                        cells.push(Cell {
                            backend: builtin.name,
                            source: label,
                            outcome: Outcome::Unavailable(reason),
                        });
                        continue;
                    }
                },
            };
            let backend = builtin
                .backend(source.unwrap_or(Source::Auto))
                .with_name(format!("{}/{label}", builtin.name));
            let report =
                run_with_progress(std::slice::from_ref(&backend), &scenarios, &options).await;
            let report = match args.common.filter() {
                Some(filter) => report.with_filter(filter),
                None => report,
            };
            let totals = report.totals();
            eprintln!(
                "   {} ({servers}) in {:.1?}",
                totals.summary_line(),
                began.elapsed()
            );
            cells.push(Cell {
                backend: builtin.name,
                source: label,
                outcome: Outcome::Ran {
                    totals,
                    servers,
                    startup,
                    elapsed: began.elapsed(),
                },
            });
            reports.push(report);
        }
    });
    let removed = runtime.block_on(provision::remove_shared_containers());
    let leaked = leaked_containers();

    let table = text_table(&cells);
    print!("{table}");
    let mut problems = Vec::new();
    if let Err(err) = removed {
        problems.push(format!("removing containers: {err}"));
    }
    match leaked {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => problems.push(format!("containers left behind: {}", ids.join(" "))),
        Err(err) => problems.push(format!("cannot check for leftover containers: {err}")),
    }
    for cell in &cells {
        if let Outcome::Unavailable(reason) = &cell.outcome
            && required.contains(&cell.name())
        {
            problems.push(format!(
                "required cell {} is unavailable: {reason}",
                cell.name()
            ));
        }
    }
    let out_dir = args
        .out_dir
        .unwrap_or_else(|| default_out_dir().join("matrix"));
    if let Err(err) = write_files(&out_dir, &cells, &reports) {
        problems.push(format!("writing {}: {err}", out_dir.display()));
    } else {
        println!(
            "\nwritten: {}/summary.md, report.json, junit/*.xml",
            out_dir.display()
        );
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    let failed: Vec<String> = cells
        .iter()
        .filter(|c| c.failed())
        .map(Cell::name)
        .collect();
    if !failed.is_empty() {
        eprintln!("error: failing cells: {}", failed.join(", "));
    }
    if failed.is_empty() && problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--require` values checked against the planned cells; `all` means every one.
fn required_cells(require: &[String], planned: &[String]) -> Result<Vec<String>, String> {
    let mut required = Vec::new();
    for cell in require {
        if cell == "all" {
            required.extend(planned.iter().cloned());
        } else if planned.contains(cell) {
            required.push(cell.clone());
        } else {
            return Err(format!(
                "--require {cell}: not a planned cell (planned: {})",
                planned.join(", ")
            ));
        }
    }
    Ok(required)
}

/// Why a cell is unavailable, short enough for the table (the full message, with its
/// advice, is printed as the cell starts).
fn unavailable_reason(err: &ProvisionError) -> String {
    match err {
        ProvisionError::NotConfigured { var, .. } => format!("{var} is not set"),
        ProvisionError::ImageUnavailable { image, var, .. } => {
            format!("image {image} is not present here and cannot be pulled (set {var})")
        }
        ProvisionError::NoContainerEngine { reason, .. } => {
            format!("no container engine: {}", first_line(reason))
        }
        other => first_line(&other.to_string()).to_owned(),
    }
}

/// `("PostgreSQL 15.14 + Redis 7.0.15", "postgres 2.1s, redis 0.6s")`.
fn describe(endpoints: &[Endpoint]) -> (String, String) {
    let servers = endpoints
        .iter()
        .map(|e| e.server.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let startup = endpoints
        .iter()
        .filter_map(|e| Some(format!("{} {:.1?}", e.service, e.startup?)))
        .collect::<Vec<_>>()
        .join(", ");
    (servers, startup)
}

/// Ids of containers this process started that still exist.
fn leaked_containers() -> Result<Vec<String>, String> {
    let output = std::process::Command::new("docker")
        .args([
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("label={CONTAINER_LABEL}"),
            "--filter",
            &format!("label=org.authstore.pid={}", std::process::id()),
        ])
        .output();
    match output {
        Ok(output) if output.status.success() => Ok(String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()),
        Ok(output) => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
        // No docker CLI: no container could have been started by the reaper's means
        // either; report it rather than claim a clean state.
        Err(err) => Err(format!("cannot run `docker ps`: {err}")),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The cells as an aligned text table.
fn text_table(cells: &[Cell]) -> String {
    let mut out = String::new();
    let width = cells
        .iter()
        .map(|c| c.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "\n{:width$}  {:>6}  {:>6}  {:>11}  {:>7}  server",
        "cell", "passed", "failed", "not claimed", "time"
    );
    for cell in cells {
        match &cell.outcome {
            Outcome::Ran {
                totals,
                servers,
                elapsed,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "{:width$}  {:>6}  {:>6}  {:>11}  {:>6.0}s  {servers}",
                    cell.name(),
                    totals.passed,
                    totals.failed,
                    totals.not_claimed,
                    elapsed.as_secs_f64()
                );
            }
            Outcome::Unavailable(reason) => {
                let _ = writeln!(out, "{:width$}  unavailable: {reason}", cell.name());
            }
        }
    }
    out
}

/// `summary.md`, the combined `report.json`, and one JUnit file per cell that ran.
fn write_files(dir: &std::path::Path, cells: &[Cell], reports: &[Report]) -> Result<(), String> {
    let junit_dir = dir.join("junit");
    std::fs::create_dir_all(&junit_dir).map_err(|err| err.to_string())?;
    for report in reports {
        let Some(backend) = report.backends.first() else {
            continue;
        };
        let file = junit_dir.join(format!("{}.xml", backend.name.replace('/', "-")));
        let xml = report.to_junit().map_err(|err| err.to_string())?;
        std::fs::write(&file, xml).map_err(|err| format!("{}: {err}", file.display()))?;
    }
    let combined = Report::new(
        reports
            .iter()
            .flat_map(|r| r.backends.iter().cloned())
            .collect(),
    );
    let json = combined.to_json().map_err(|err| err.to_string())?;
    std::fs::write(dir.join("report.json"), json).map_err(|err| err.to_string())?;
    std::fs::write(dir.join("summary.md"), markdown(cells, &combined))
        .map_err(|err| err.to_string())
}

/// The combined Markdown summary: the cell table, then each failure.
fn markdown(cells: &[Cell], combined: &Report) -> String {
    let mut md = String::from("# AuthStorage conformance matrix\n\n");
    md.push_str("| Cell | Passed | Failed | Not claimed | Time | Server | Container startup |\n");
    md.push_str("|---|---:|---:|---:|---:|---|---|\n");
    for cell in cells {
        match &cell.outcome {
            Outcome::Ran {
                totals,
                servers,
                startup,
                elapsed,
            } => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {:.0} s | {servers} | {startup} |",
                    cell.name(),
                    totals.passed,
                    totals.failed,
                    totals.not_claimed,
                    elapsed.as_secs_f64()
                );
            }
            Outcome::Unavailable(reason) => {
                let _ = writeln!(
                    md,
                    "| {} | – | – | – | – | unavailable: {} | |",
                    cell.name(),
                    reason.replace('|', "\\|")
                );
            }
        }
    }
    let totals = combined.totals();
    let _ = writeln!(md, "\nAll cells that ran: {}.", totals.summary_line());
    let mut failures = String::new();
    for backend in &combined.backends {
        for entry in backend
            .results
            .iter()
            .filter(|e| e.message.is_some() && e.status == authstore_conformance::Status::Failed)
        {
            let _ = writeln!(
                failures,
                "- `{}` `{}`: {}",
                backend.name,
                entry.scenario,
                first_line(entry.message.as_deref().unwrap_or_default())
            );
        }
    }
    if !failures.is_empty() {
        md.push_str("\n## Failures\n\n");
        md.push_str(&failures);
    }
    md
}
