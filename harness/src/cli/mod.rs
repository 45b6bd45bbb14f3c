//! The command line: arguments, `list`, `run` and `matrix`.

mod backends;
mod matrix;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use authstore_conformance::{
    BackendUnderTest, ProgressPrinter, Report, RunOptions, ScenarioInfo, SelectionArgs,
    run_catalogue,
};
use authstore_harness::provision::{self, SOURCE_VAR, Source};
use authstore_scenarios::Scenario;
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

const USAGE_ERROR: u8 = 2;

/// Runs the AuthStorage conformance catalogue against the built-in backends.
#[derive(Debug, Parser)]
#[command(name = "authstore-conformance", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints every scenario (or those the selection flags choose), one a line:
    /// `<scenario-id>\t<clause-ids comma-separated>`; with --json, a JSON array.
    List(ListArgs),
    /// Runs the catalogue, prints the matrix scenario x backend and writes
    /// report.json, report.xml (JUnit) and report.md.
    Run(RunArgs),
    /// Runs the catalogue for every backend x source cell available here (in-process;
    /// servers by URL; containers), prints the cells with their counts and writes one
    /// JUnit file per cell and a combined Markdown summary.
    Matrix(matrix::MatrixArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// A JSON array, one object per scenario: id, area, clauses, needs (capability
    /// names), summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    selection: SelectionArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// A backend to run (repeatable); default: every in-process backend.
    #[arg(long = "backend", value_name = "NAME", value_parser = backend_names())]
    backends: Vec<String>,
    /// Where the servers come from: `url` (AUTHSTORE_*_URL), `container` (started here
    /// from AUTHSTORE_*_IMAGE or the official image) or `auto` (URL when set, else
    /// container). Default: AUTHSTORE_SOURCE, else auto.
    #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
    source: Option<Source>,
    /// Where to write the reports; default: `target/conformance` under the workspace
    /// root (or `$CARGO_TARGET_DIR/conformance`).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options `run` and `matrix` share.
#[derive(Debug, Args)]
struct CommonArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Per-scenario timeout, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Scenarios run at once, across backends.
    #[arg(long, value_name = "N", default_value_t = authstore_conformance::DEFAULT_PARALLELISM,
          value_parser = parse_parallelism)]
    parallelism: usize,
}

impl CommonArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            timeout: Duration::from_secs(self.timeout),
            parallelism: self.parallelism,
        }
    }

    /// The catalogue's scenarios the selection flags choose; a usage error when none.
    fn scenarios(&self) -> Result<Vec<Scenario>, ExitCode> {
        selected(&self.selection)
    }

    /// The selection, described for the report's partial-run banner; `None` for all.
    fn filter(&self) -> Option<String> {
        self.selection.selection().description()
    }
}

/// The catalogue's scenarios `selection` chooses; a usage error, said why, when none.
fn selected(selection: &SelectionArgs) -> Result<Vec<Scenario>, ExitCode> {
    selection
        .selection()
        .select_from_catalogue()
        .map_err(|err| {
            eprintln!("error: {err}");
            ExitCode::from(USAGE_ERROR)
        })
}

fn parse_source(text: &str) -> Result<Source, String> {
    Source::parse(text).map_err(|err| err.to_string())
}

fn backend_names() -> PossibleValuesParser {
    PossibleValuesParser::new(backends::all().into_iter().map(|b| b.name))
}

fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 1, got {text:?}"
        )),
    }
}

pub(crate) fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::List(args) => list(&args),
        Command::Run(args) => run(args),
        Command::Matrix(args) => matrix::main(args),
    }
}

fn list(args: &ListArgs) -> ExitCode {
    let scenarios = match selected(&args.selection) {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
    let mut out = io::stdout().lock();
    if args.json {
        return match ScenarioInfo::json_listing(&scenarios) {
            Ok(json) => {
                let _ = writeln!(out, "{json}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        };
    }
    for scenario in &scenarios {
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{}", ScenarioInfo::plain_line(scenario)).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn run(args: RunArgs) -> ExitCode {
    let scenarios = match args.common.scenarios() {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
    let source = match args.source.map_or_else(Source::from_env, Ok) {
        Ok(source) => source,
        Err(err) => {
            eprintln!("error: {SOURCE_VAR}: {err}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let chosen: BTreeSet<&str> = args.backends.iter().map(String::as_str).collect();
    let builtins: Vec<_> = backends::all()
        .into_iter()
        .filter(|b| {
            if chosen.is_empty() {
                b.in_process()
            } else {
                chosen.contains(b.name)
            }
        })
        .collect();
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    // Each backend's servers once, before any scenario: one that cannot be had here is
    // reported once as unavailable, not as a failure of each of its scenarios.
    let mut selected = Vec::new();
    let mut unavailable = Vec::new();
    for builtin in &builtins {
        match runtime.block_on(builtin.servers(source)) {
            Ok(_) => selected.push(builtin.backend(source)),
            Err(reason) => {
                println!("backend {}: unavailable: {reason}", builtin.name);
                unavailable.push(builtin.name);
            }
        }
    }
    let filter = args.common.filter();
    let report = runtime.block_on(async {
        let report = run_with_progress(&selected, &scenarios, &args.common.options()).await;
        let report = match filter {
            Some(filter) => report.with_filter(filter),
            None => report,
        };
        if let Err(err) = provision::remove_shared_containers().await {
            eprintln!("warning: {err}");
        }
        report
    });

    let written = if selected.is_empty() {
        // Nothing ran: an empty matrix and reports would read as a clean run.
        true
    } else {
        print!("{}", report.to_matrix_text());
        let out_dir = args.out_dir.unwrap_or_else(default_out_dir);
        let written = write_reports(&report, &out_dir);
        println!("{}", report.totals().summary_line());
        written
    };
    if !unavailable.is_empty() {
        // Every backend here was asked for by name: without `--backend` only in-process
        // ones run, and they need no server.
        eprintln!(
            "error: requested backend(s) unavailable, not run: {}",
            unavailable.join(", ")
        );
    }
    if report.has_failures() || !written || !unavailable.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A multi-threaded runtime with every driver, or `None` after saying why not.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            eprintln!("error: cannot start the tokio runtime: {err}");
            None
        }
    }
}

/// Runs the catalogue showing its progress (a bar on a terminal, plain lines in a log),
/// failures as they happen.
async fn run_with_progress(
    backends: &[BackendUnderTest],
    scenarios: &[Scenario],
    options: &RunOptions,
) -> Report {
    let mut printer = ProgressPrinter::new(backends.len() * scenarios.len());
    let report = run_catalogue(backends, scenarios, options, |progress| {
        printer.observe(&progress)
    })
    .await;
    printer.finish();
    report
}

fn write_reports(report: &Report, dir: &Path) -> bool {
    match report.write_files(dir) {
        Ok(files) => {
            println!("\n{files}");
            true
        }
        Err(err) => {
            eprintln!("error: {err}");
            false
        }
    }
}

/// `$CARGO_TARGET_DIR/conformance`, else `target/conformance` under the nearest
/// enclosing Cargo workspace (or package) of the current directory, else under it.
fn default_out_dir() -> PathBuf {
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("conformance");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let manifests: Vec<&Path> = cwd
        .ancestors()
        .filter(|d| d.join("Cargo.toml").is_file())
        .collect();
    let is_workspace = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|toml| toml.lines().any(|l| l.trim() == "[workspace]"))
    };
    let root = manifests
        .iter()
        .find(|dir| is_workspace(dir))
        .or(manifests.first())
        .map_or(cwd.as_path(), |dir| dir);
    root.join("target").join("conformance")
}
