//! `cargo run -p authstore-bench --bin report [-- OPTIONS]`: reads criterion's results
//! and writes `BENCHMARKS.md` and `target/bench-report/index.html`.
//!
//! Options: `--criterion-dir DIR` (default: `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `<workspace>/target/criterion`), `--out FILE`
//! (default `<workspace>/BENCHMARKS.md`), `--html-dir DIR` (default
//! `<target>/bench-report`), `--include-stale` (keep results older than the last run),
//! `--peers FILE` (the peers benchmark's summary, default
//! `<workspace>/reports/auth-framework-0.6.0-rc202/peers.json`; its section is left out
//! if the file does not exist), `--peers-only` (read nothing from criterion: replace only
//! the peers section of the existing `--out` file, between its marker comments, in place).

use std::path::PathBuf;
use std::process::ExitCode;

use authstore_bench::manifest::criterion_dir;
use authstore_bench::report::{self, html, markdown, peers};

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
    let mut peers_file = workspace.join(peers::PEERS_JSON);
    let mut peers_only = false;
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
            "--peers" => peers_file = value()?,
            "--peers-only" => peers_only = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; see the source's doc comment"
                ));
            }
        }
    }
    let peers = if peers_file.exists() {
        Some(peers::load(&peers_file)?)
    } else {
        None
    };
    if peers_only {
        let peers = peers.ok_or(format!("--peers-only: {} not found", peers_file.display()))?;
        let doc = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let updated = peers::replace_section(&doc, &peers::render_markdown(&peers));
        std::fs::write(&out, updated).map_err(|e| format!("{}: {e}", out.display()))?;
        println!(
            "report: replaced the peers section of {} from {}",
            out.display(),
            peers_file.display()
        );
        return Ok(());
    }
    let mut report = report::build(&criterion, include_stale)?;
    report.peers = peers;
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
