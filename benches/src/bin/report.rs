//! `cargo run -p authstore-bench --bin report [-- OPTIONS]`: reads criterion's results
//! and writes `BENCHMARKS.md` and `target/bench-report/index.html`.
//!
//! Options: `--criterion-dir DIR` (default: `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `<workspace>/target/criterion`), `--out FILE`
//! (default `<workspace>/BENCHMARKS.md`), `--html-dir DIR` (default
//! `<target>/bench-report`), `--include-stale` (keep results older than the last run).

use std::path::PathBuf;
use std::process::ExitCode;

use authstore_bench::manifest::criterion_dir;
use authstore_bench::report::{self, html, markdown};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("report: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let mut criterion = criterion_dir(&target);
    let mut out = workspace.join("BENCHMARKS.md");
    let mut html_dir = target.join("bench-report");
    let mut include_stale = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .ok_or(format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--criterion-dir" => criterion = value()?,
            "--out" => out = value()?,
            "--html-dir" => html_dir = value()?,
            "--include-stale" => include_stale = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; see the source's doc comment"
                ));
            }
        }
    }
    let report = report::build(&criterion, include_stale)?;
    if report.pivot.is_empty() {
        return Err(format!(
            "no benchmark results in {} (run `cargo bench -p authstore-bench` first)",
            criterion.display()
        ));
    }
    if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&out, markdown::render(&report))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::create_dir_all(&html_dir).map_err(|e| format!("{}: {e}", html_dir.display()))?;
    let page = html_dir.join("index.html");
    std::fs::write(&page, html::render(&report)?)
        .map_err(|e| format!("{}: {e}", page.display()))?;
    println!(
        "report: {} results from {}",
        report.pivot.len(),
        criterion.display()
    );
    if report.stale > 0 {
        println!("report: left out {} results of earlier runs", report.stale);
    }
    for v in &report.verdicts {
        println!(
            "report: target {}: {} ({})",
            v.status.label(),
            v.target,
            v.figure
        );
    }
    println!("report: wrote {} and {}", out.display(), page.display());
    Ok(())
}
