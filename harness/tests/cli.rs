//! The `authstore-conformance` binary: `list` output, a small `run`, usage errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    cli_with(args, |command| command)
}

/// Runs the binary with `args`, its environment adjusted by `env` first.
fn cli_with(args: &[&str], env: impl FnOnce(&mut Command) -> &mut Command) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authstore-conformance"));
    command.args(args).env_remove("CARGO_TARGET_DIR");
    match env(&mut command).output() {
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

/// Runs `run --backend postgres --source <source>` into a fresh report directory and
/// checks that the backend is reported once as unavailable (its line containing
/// `reason`), that nothing ran or was reported, and that the exit code says so.
fn assert_postgres_unavailable(
    source: &str,
    reason: &str,
    env: impl FnOnce(&mut Command) -> &mut Command,
) {
    let out_dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-unavailable-{source}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    let dir = out_dir.to_string_lossy().into_owned();
    let output = cli_with(
        &[
            "run",
            "--backend",
            "postgres",
            "--source",
            source,
            "--out-dir",
            &dir,
        ],
        env,
    );
    let text = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    let unavailable: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("unavailable"))
        .filter(|line| line.starts_with("backend postgres: unavailable: "))
        .collect();
    assert_eq!(
        unavailable.len(),
        1,
        "one unavailable line expected:\n{text}"
    );
    assert!(
        unavailable[0].contains(reason),
        "{:?} lacks {reason:?}",
        unavailable[0]
    );
    assert!(
        !text.contains("FAIL"),
        "no scenario may be reported failed:\n{text}"
    );
    assert!(!text.contains(" passed, "), "no scenario may run:\n{text}");
    assert!(
        !out_dir.join("report.json").exists(),
        "no report for a run of nothing"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error: requested backend(s) unavailable, not run: postgres"),
        "{text}"
    );
}

#[test]
fn a_backend_whose_url_is_unset_is_unavailable_once_and_fails_the_run() {
    assert_postgres_unavailable("url", "AUTHSTORE_POSTGRES_URL is not set", |command| {
        command
            .env_remove("AUTHSTORE_POSTGRES_URL")
            .env_remove("AUTHSTORE_SOURCE")
    });
}

#[test]
fn a_backend_without_a_container_engine_is_unavailable_once_and_fails_the_run() {
    assert_postgres_unavailable("container", "no container engine", |command| {
        command
            .env("DOCKER_HOST", "unix:///nonexistent/authstore/docker.sock")
            .env_remove("AUTHSTORE_SOURCE")
    });
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
