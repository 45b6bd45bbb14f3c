//! The command line: arguments, `list` and `run`.

mod backends;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use authstore_conformance::{Report, RunOptions, Verdict, run_catalogue};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

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
    /// Prints every scenario, one a line: `<scenario-id>\t<clause-ids comma-separated>`.
    List,
    /// Runs the catalogue, prints the matrix scenario x backend and writes
    /// report.json, report.xml (JUnit) and report.md.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// A backend to run (repeatable); default: every in-process backend.
    #[arg(long = "backend", value_name = "NAME", value_parser = backend_names())]
    backends: Vec<String>,
    /// Where to write the reports; default: `target/conformance` under the workspace
    /// root (or `$CARGO_TARGET_DIR/conformance`).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Runs only scenarios whose id contains FILTER.
    #[arg(long, value_name = "FILTER")]
    scenario: Option<String>,
    /// Per-scenario timeout, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Scenarios run at once, across backends.
    #[arg(long, value_name = "N", default_value_t = authstore_conformance::DEFAULT_PARALLELISM,
          value_parser = parse_parallelism)]
    parallelism: usize,
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
        Command::List => list(),
        Command::Run(args) => run(args),
    }
}

fn list() -> ExitCode {
    let mut out = io::stdout().lock();
    for scenario in authstore_scenarios::catalogue() {
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{}\t{}", scenario.id, scenario.clauses.join(",")).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn run(args: RunArgs) -> ExitCode {
    let scenarios: Vec<_> = authstore_scenarios::catalogue()
        .into_iter()
        .filter(|s| args.scenario.as_deref().is_none_or(|f| s.id.contains(f)))
        .collect();
    if scenarios.is_empty() {
        eprintln!(
            "error: no scenario id contains {:?}; `authstore-conformance list` shows them",
            args.scenario.as_deref().unwrap_or_default()
        );
        return ExitCode::from(USAGE_ERROR);
    }
    let chosen: BTreeSet<&str> = args.backends.iter().map(String::as_str).collect();
    let selected: Vec<_> = backends::all()
        .into_iter()
        .filter(|b| {
            if chosen.is_empty() {
                b.default
            } else {
                chosen.contains(b.name)
            }
        })
        .map(|b| b.backend())
        .collect();
    let options = RunOptions {
        timeout: Duration::from_secs(args.timeout),
        parallelism: args.parallelism,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };

    let bar = ProgressBar::new(u64::try_from(selected.len() * scenarios.len()).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {wide_msg}") {
        bar.set_style(style);
    }
    let report = runtime.block_on(run_catalogue(&selected, &scenarios, &options, |progress| {
        bar.inc(1);
        bar.set_message(format!("{} {}", progress.backend, progress.scenario.id));
        if let Verdict::Failed(_) = progress.run.verdict {
            bar.println(format!(
                "FAIL {} {}",
                progress.backend, progress.scenario.id
            ));
        }
    }));
    bar.finish_and_clear();

    print!("{}", report.to_matrix_text());
    let out_dir = args.out_dir.unwrap_or_else(default_out_dir);
    let written = write_reports(&report, &out_dir);
    println!("{}", report.totals().summary_line());
    if report.has_failures() || !written {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_reports(report: &Report, dir: &Path) -> bool {
    match report.write_files(dir) {
        Ok(files) => {
            println!(
                "\nreports: {}, {}, {}",
                files.json.display(),
                files.junit.display(),
                files.markdown.display()
            );
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
