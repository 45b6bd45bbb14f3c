//! The `authstore-conformance` binary: `list` output, a small `run`, usage errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_authstore-conformance"))
        .args(args)
        .env_remove("CARGO_TARGET_DIR")
        .output()
    {
        Ok(output) => output,
        Err(err) => panic!("cannot run authstore-conformance: {err}"),
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn list_prints_each_scenario_with_its_clauses() {
    let output = cli(&["list"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let expected: Vec<String> = authstore_scenarios::catalogue()
        .iter()
        .map(|s| format!("{}\t{}", s.id, s.clauses.join(",")))
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, expected);
    for line in lines {
        let (id, clauses) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("no tab in {line:?}"));
        assert!(!id.is_empty() && !id.contains(' '), "{line:?}");
        assert!(
            clauses
                .split(',')
                .all(|c| authstore_spec::clause(c).is_some()),
            "{line:?} cites a clause SPEC.md lacks"
        );
    }
}

#[test]
fn run_writes_reports_and_ends_with_the_summary() {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-run-reports");
    let _ = std::fs::remove_dir_all(&out_dir);
    let dir = out_dir.to_string_lossy().into_owned();
    let output = cli(&[
        "run",
        "--backend",
        "memory",
        "--backend",
        "encrypted-memory",
        "--scenario",
        "tokens_store_then_get",
        "--out-dir",
        &dir,
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text.lines().last(),
        Some("2 passed, 0 failed, 0 not claimed"),
        "{text}"
    );
    assert!(text.contains("tokens_store_then_get"), "{text}");
    for file in ["report.json", "report.xml", "report.md"] {
        assert!(out_dir.join(file).is_file(), "{file} missing in {dir}");
    }
}

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let output = cli(&["run", "--backend", "no-such-backend"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("memory"),
        "the error should list the known backends: {err}"
    );
}

#[test]
fn a_filter_matching_nothing_is_a_usage_error() {
    let output = cli(&["run", "--scenario", "no_such_scenario_anywhere"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

fn json_listing(args: &[&str]) -> Vec<serde_json::Value> {
    let output = cli(args);
    assert!(output.status.success(), "{output:?}");
    match serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&output)) {
        Ok(listing) => listing,
        Err(err) => panic!("`{}` is not a JSON array: {err}", args.join(" ")),
    }
}

#[test]
fn list_json_describes_every_scenario() {
    let listing = json_listing(&["list", "--json"]);
    let catalogue = authstore_scenarios::catalogue();
    assert_eq!(listing.len(), catalogue.len());
    for (entry, scenario) in listing.iter().zip(&catalogue) {
        assert_eq!(entry["id"], scenario.id);
        assert_eq!(entry["area"], scenario.area.name());
        assert_eq!(entry["summary"], scenario.summary);
        assert_eq!(entry["clauses"], serde_json::json!(scenario.clauses));
        let needs: Vec<&str> = scenario.needs.iter().map(|c| c.name()).collect();
        assert_eq!(entry["needs"], serde_json::json!(needs));
    }
}

#[test]
fn a_clause_selects_only_the_scenarios_citing_it() {
    let listing = json_listing(&["list", "--json", "--clause", "TOK-1"]);
    let expected: Vec<&str> = authstore_scenarios::catalogue()
        .iter()
        .filter(|s| s.clauses.contains(&"TOK-1"))
        .map(|s| s.id)
        .collect();
    let listed: Vec<&str> = listing.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(listed, expected);
}

#[test]
fn selection_flags_combine_on_run_too() {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-run-selection");
    let _ = std::fs::remove_dir_all(&out_dir);
    let dir = out_dir.to_string_lossy().into_owned();
    let output = cli(&[
        "run",
        "--backend",
        "memory",
        "--area",
        "tokens",
        "--clause",
        "TOK-8",
        "--out-dir",
        &dir,
    ]);
    assert!(output.status.success(), "{output:?}");
    let expected = authstore_scenarios::catalogue()
        .iter()
        .filter(|s| s.area.name() == "tokens" && s.clauses.contains(&"TOK-8"))
        .count();
    assert!(expected > 0);
    assert_eq!(
        stdout(&output).lines().last(),
        Some(format!("{expected} passed, 0 failed, 0 not claimed").as_str())
    );
    let report = std::fs::read_to_string(out_dir.join("report.json")).unwrap_or_default();
    assert!(
        report.contains("area tokens; clause TOK-8"),
        "the report should record the selection: {report}"
    );
}

#[test]
fn an_unknown_area_is_a_usage_error_listing_the_areas() {
    for command in ["list", "run", "matrix"] {
        let output = cli(&[command, "--area", "no-such-area"]);
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains("multi_handle"), "{command}: {err}");
    }
}

/// Not on a terminal (here stderr is a pipe), progress is plain lines a CI log keeps.
#[test]
fn progress_off_a_terminal_is_a_line_per_scenario() {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-run-progress");
    let dir = out_dir.to_string_lossy().into_owned();
    let output = cli(&[
        "run",
        "--backend",
        "memory",
        "--scenario",
        "tokens_store_then_get",
        "--out-dir",
        &dir,
    ]);
    assert!(output.status.success(), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("[1/1] memory tokens_store_then_get passed (")),
        "{err}"
    );
}
