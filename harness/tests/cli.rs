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
