//! The whole catalogue on every auth-framework backend this build has (the features
//! choose: `--features all-backends` for all), one after another, each with its reports
//! in a directory of its own: `$AUTHSTORE_REPORT_DIR/<backend>/report.{json,xml,md}`
//! (default `target/auth-framework-reports`). `AF_COMPAT_BACKENDS=memory,postgres`
//! chooses backends; other arguments go to `authstore_conformance::run_main` (e.g.
//! `--parallelism 4`, a scenario filter).
//!
//! Their backends fail scenarios, which is what the report is about, so a failed
//! scenario does not fail this target. It fails when the adapter or a fixture breaks:
//! a backend that cannot be set up or torn down, reports that cannot be written or do
//! not cover the selection, or a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use authstore_compat_auth_framework::backends;
use authstore_conformance::{Report, Status};

/// Failure texts that say the fixture, not their backend, broke.
const FIXTURE_BROKE: [&str; 2] = ["the backend could not be set up", "teardown failed"];

fn main() -> ExitCode {
    let base = std::env::var_os(authstore_conformance::REPORT_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/auth-framework-reports"));
    let chosen: Option<Vec<String>> = std::env::var("AF_COMPAT_BACKENDS")
        .ok()
        .map(|list| list.split(',').map(|name| name.trim().to_owned()).collect());
    let args: Vec<String> = std::env::args().collect();
    let all = backends::all();
    if let Some(chosen) = &chosen
        && let Some(unknown) = chosen
            .iter()
            .find(|name| !all.iter().any(|b| b.name() == *name))
    {
        let known: Vec<&str> = all.iter().map(|b| b.name()).collect();
        eprintln!("AF_COMPAT_BACKENDS: no backend `{unknown}` in this build; it has {known:?}");
        return ExitCode::from(2);
    }
    let mut broken = Vec::new();
    for backend in all {
        let name = backend.name().to_owned();
        if chosen
            .as_ref()
            .is_some_and(|chosen| !chosen.contains(&name))
        {
            continue;
        }
        let dir = base.join(&name);
        // A fresh directory: the reports must be this run's alone.
        if dir.exists()
            && let Err(err) = std::fs::remove_dir_all(&dir)
        {
            broken.push(format!("{name}: cannot clear {}: {err}", dir.display()));
            continue;
        }
        let mut run_args = vec![
            args[0].clone(),
            "--out-dir".into(),
            dir.display().to_string(),
        ];
        run_args.extend(args[1..].iter().cloned());
        eprintln!("== auth-framework backend {name}");
        let code = authstore_conformance::run_main(backend, run_args);
        if code == ExitCode::from(2) {
            return code;
        }
        match check(&name, &dir) {
            Ok(line) => println!("{line}"),
            Err(problem) => broken.push(problem),
        }
    }
    if broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        for problem in &broken {
            eprintln!("BROKEN {problem}");
        }
        ExitCode::FAILURE
    }
}

/// The backend's summary line, or what shows the adapter or fixture broke.
fn check(name: &str, dir: &std::path::Path) -> Result<String, String> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{name}: no report at {}: {e}", path.display()))?;
    let report = Report::from_json(&text).map_err(|e| format!("{name}: {e}"))?;
    let backend = report
        .backends
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| format!("{name}: not in {}", path.display()))?;
    if report.provenance.filter.is_none() && !report.is_complete(backend) {
        return Err(format!(
            "{name}: the report has {} of {} scenarios",
            backend.results.len(),
            report.provenance.catalogue_size
        ));
    }
    let fixture_failures: Vec<String> = backend
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .filter_map(|r| {
            let message = r.message.as_deref().unwrap_or_default();
            FIXTURE_BROKE
                .iter()
                .any(|text| message.contains(text))
                .then(|| format!("{}: {}", r.scenario, message.lines().next().unwrap_or("")))
        })
        .collect();
    if !fixture_failures.is_empty() {
        return Err(format!(
            "{name}: the fixture broke in {} scenario(s): {}",
            fixture_failures.len(),
            fixture_failures.join("; ")
        ));
    }
    Ok(format!(
        "auth-framework {name}: {}",
        backend.totals.summary_line()
    ))
}
