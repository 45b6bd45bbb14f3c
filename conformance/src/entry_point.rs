//! [`main`]: the catalogue against one backend as a test target of its own
//! (`harness = false`), with the harness command line's flags.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::collector;
use crate::progress_printer::ProgressPrinter;
use crate::report::Report;
use crate::runner::{BackendUnderTest, DEFAULT_PARALLELISM, RunOptions, run_catalogue};
use crate::scenario_info::ScenarioInfo;
use crate::selection_args::SelectionArgs;

/// The exit code of a usage error, as clap's.
const USAGE_ERROR: u8 = 2;

/// Runs the AuthStorage conformance catalogue against this backend.
#[derive(Debug, Parser)]
#[command(name = "conformance", disable_version_flag = true)]
struct EntryArgs {
    #[command(flatten)]
    selection: SelectionArgs,
    /// Per-scenario timeout, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Scenarios run at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLELISM,
          value_parser = parse_parallelism)]
    parallelism: usize,
    /// Where to write the reports; default: $AUTHSTORE_REPORT_DIR if set, else
    /// target/conformance.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Lists the selected scenarios instead of running them: `<id>\t<clauses>` a line.
    #[arg(long)]
    list: bool,
    /// With --list: a JSON array, one object per scenario (id, area, clauses, needs,
    /// summary).
    #[arg(long, requires = "list")]
    json: bool,
    /// Only scenarios whose id contains FILTER, as `cargo test FILTER` passes it.
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    #[command(flatten)]
    libtest: LibtestFlags,
}

/// Flags cargo or a user may pass to a test binary, accepted and ignored: this target
/// has no test threads, output capture or formats to choose.
#[derive(Debug, clap::Args)]
struct LibtestFlags {
    #[arg(long, hide = true)]
    nocapture: bool,
    #[arg(long, hide = true)]
    show_output: bool,
    #[arg(long, short = 'q', hide = true)]
    quiet: bool,
    #[arg(long, hide = true)]
    exact: bool,
    #[arg(long, hide = true)]
    ignored: bool,
    #[arg(long, hide = true)]
    include_ignored: bool,
    #[arg(long, hide = true)]
    test: bool,
    #[arg(long, hide = true)]
    bench: bool,
    #[arg(long, hide = true)]
    report_time: bool,
    #[arg(long, hide = true)]
    shuffle: bool,
    #[arg(long, hide = true, value_name = "N")]
    test_threads: Option<String>,
    #[arg(long, hide = true, value_name = "WHEN")]
    color: Option<String>,
    #[arg(long, hide = true, value_name = "FORMAT")]
    format: Option<String>,
    #[arg(long, hide = true, value_name = "FILTER")]
    skip: Vec<String>,
    #[arg(long, hide = true, value_name = "PATH")]
    logfile: Option<String>,
    #[arg(long, hide = true, value_name = "SEED")]
    shuffle_seed: Option<String>,
    #[arg(short = 'Z', hide = true, value_name = "FLAG")]
    unstable: Vec<String>,
}

/// The whole catalogue against `backend`, as the `main` of a `harness = false` test
/// target, with the process's arguments; see [`run_main`].
///
/// ```toml
/// [[test]]
/// name = "conformance"
/// harness = false
/// ```
/// ```ignore
/// // tests/conformance.rs
/// use authstore_conformance::BackendUnderTest;
///
/// fn main() -> std::process::ExitCode {
///     authstore_conformance::main(BackendUnderTest::new("my_store", || async { MyStore::new() }))
/// }
/// ```
pub fn main(backend: BackendUnderTest) -> ExitCode {
    run_main(backend, std::env::args_os())
}

/// [`main`] with explicit arguments (the first is the program name).
///
/// Flags: `--scenario FILTER`, `--area AREA`, `--clause CLAUSE`, `--capability NAME`
/// (each repeatable; a bare word is a `--scenario`, as `cargo test WORD` passes it),
/// `--timeout SECONDS`, `--parallelism N`, `--out-dir DIR` (default
/// `$AUTHSTORE_REPORT_DIR`, else `target/conformance`), `--list [--json]`, `--help`.
/// libtest's flags (`--nocapture`, `--test-threads N`, `--quiet`, ...) are accepted and
/// ignored.
///
/// Builds its own tokio runtime, shows progress on stderr (a bar on a terminal, a line
/// per scenario otherwise), writes `report.json`, `report.xml` and `report.md` (and, for a
/// complete run without failures, the conformance statement and badge) into the
/// directory, sharing it with `conformance_suite!` tests as they do among themselves,
/// prints each failure and the summary line. The exit code is 0 only when no scenario
/// failed and the reports were written; 2 on a usage error.
pub fn run_main<I, T>(backend: BackendUnderTest, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match EntryArgs::try_parse_from(args) {
        Ok(args) => args,
        Err(err) => {
            // --help is an "error" that exits 0.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(USAGE_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let selection = args
        .filters
        .iter()
        .fold(args.selection.selection(), |s, f| s.with_id(f));
    let scenarios = match selection.select_from_catalogue() {
        Ok(scenarios) => scenarios,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    if args.list {
        return list(&scenarios, args.json);
    }
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
    let options = RunOptions {
        timeout: Duration::from_secs(args.timeout),
        parallelism: args.parallelism,
    };
    let backends = [backend];
    let mut printer = ProgressPrinter::new(scenarios.len());
    let report = runtime.block_on(run_catalogue(&backends, &scenarios, &options, |p| {
        printer.observe(&p)
    }));
    printer.finish();
    let report = match selection.description() {
        Some(filter) => report.with_filter(filter),
        None => report,
    };
    print_failures(&report);
    let out_dir = args.out_dir.unwrap_or_else(default_out_dir);
    let filter = report.provenance.filter.clone();
    let written = match collector::write_merged(&out_dir, report.backends.clone(), filter) {
        Ok(files) => {
            println!("{files}");
            true
        }
        Err(err) => {
            eprintln!("error: {err}");
            false
        }
    };
    println!("{}", report.totals().summary_line());
    if report.has_failures() || !written {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 1, got {text:?}"
        )),
    }
}

fn list(scenarios: &[authstore_scenarios::Scenario], json: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if json {
        match ScenarioInfo::json_listing(scenarios) {
            Ok(text) => {
                let _ = writeln!(out, "{text}");
            }
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        for scenario in scenarios {
            // A closed pipe (`| head`) ends the listing quietly.
            if writeln!(out, "{}", ScenarioInfo::plain_line(scenario)).is_err() {
                break;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Each failure with its clauses and whole message, after the progress.
fn print_failures(report: &Report) {
    for backend in &report.backends {
        for entry in &backend.results {
            if entry.status != crate::Status::Failed {
                continue;
            }
            println!(
                "\nFAILED {} {} ({})\n  checks: {}\n  failure: {}",
                backend.name,
                entry.scenario,
                entry.clauses.join(", "),
                entry.summary,
                entry.message.as_deref().unwrap_or_default()
            );
        }
    }
}

/// `$AUTHSTORE_REPORT_DIR` when set, else `target/conformance` (cargo runs a test binary
/// in its package's directory).
fn default_out_dir() -> PathBuf {
    collector::report_dir().unwrap_or_else(|| PathBuf::from("target").join("conformance"))
}
