//! Selections, listings and the `harness = false` entry point: what a backend author's
//! filters choose, what a listing says, and what `main` does with a process's arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use authstore_backends::MemoryStorage;
use authstore_conformance::{
    Area, BackendUnderTest, Report, ScenarioInfo, Selection, SelectionError, Status, run_main,
};
use authstore_scenarios::catalogue;
use authstore_spec::Capability;

fn ids(selection: &Selection) -> Vec<&'static str> {
    match selection.select_from_catalogue() {
        Ok(scenarios) => scenarios.iter().map(|s| s.id).collect(),
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn an_exact_clause_selects_only_the_scenarios_citing_it() {
    let selected = ids(&Selection::all().with_clause("TOK-1"));
    let expected: Vec<&str> = catalogue()
        .iter()
        .filter(|s| s.clauses.contains(&"TOK-1"))
        .map(|s| s.id)
        .collect();
    assert!(!expected.is_empty());
    // TOK-10, TOK-11 and TOK-12 start with "TOK-1" but are other clauses.
    assert_eq!(selected, expected);
}

#[test]
fn a_clause_family_selects_every_clause_of_it_and_no_other_family() {
    let selected = ids(&Selection::all().with_clause("TOK"));
    let expected: Vec<&str> = catalogue()
        .iter()
        .filter(|s| s.clauses.iter().any(|c| c.starts_with("TOK-")))
        .map(|s| s.id)
        .collect();
    assert_eq!(selected, expected);
    assert!(
        Selection::all()
            .with_clause("TO")
            .select_from_catalogue()
            .is_err(),
        "a prefix short of the family's name must match nothing"
    );
}

#[test]
fn kinds_combine_with_and_and_repeats_with_or() {
    let kv_or_expiry = ids(&Selection::all().with_area(Area::Kv).with_area(Area::Expiry));
    let by_area: Vec<&str> = catalogue()
        .iter()
        .filter(|s| s.area == Area::Kv || s.area == Area::Expiry)
        .map(|s| s.id)
        .collect();
    assert_eq!(kv_or_expiry, by_area);

    let selection = Selection::all()
        .with_area(Area::Kv)
        .with_capability(Capability::LargeValues);
    let expected: Vec<&str> = catalogue()
        .iter()
        .filter(|s| s.area == Area::Kv && s.needs.contains(Capability::LargeValues))
        .map(|s| s.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&selection), expected);
    assert_eq!(
        selection.description().as_deref(),
        Some("area kv; needs large-values")
    );
    assert_eq!(Selection::all().description(), None);
}

#[test]
fn an_empty_selection_is_an_error_listing_what_exists() {
    let err = match Selection::all()
        .with_id("no_such_scenario")
        .select_from_catalogue()
    {
        Err(err) => err,
        Ok(found) => panic!("selected {found:?}"),
    };
    assert!(matches!(err, SelectionError::NothingSelected { .. }));
    let text = err.to_string();
    for known in [
        "id contains \"no_such_scenario\"",
        "kv",
        "multi_handle",
        "multi-handle",
    ] {
        assert!(text.contains(known), "{known} missing from: {text}");
    }
    assert!(matches!(
        Selection::parse_area("nope"),
        Err(SelectionError::UnknownArea { .. })
    ));
    assert_eq!(
        Selection::parse_capability("multi_handle"),
        Ok(Capability::MultiHandle)
    );
}

#[test]
fn a_scenario_info_carries_what_a_listing_needs() {
    let Some(scenario) = catalogue()
        .into_iter()
        .find(|s| s.needs.iter().next().is_some())
    else {
        panic!("no scenario needs a capability");
    };
    let json = match ScenarioInfo::json_listing(&[scenario]) {
        Ok(json) => json,
        Err(err) => panic!("{err}"),
    };
    let listed: Vec<ScenarioInfo> = match serde_json::from_str(&json) {
        Ok(listed) => listed,
        Err(err) => panic!("{err}: {json}"),
    };
    let info = &listed[0];
    assert_eq!(info.id, scenario.id);
    assert_eq!(info.area, scenario.area.name());
    assert_eq!(info.clauses, scenario.clauses);
    assert!(!info.needs.is_empty());
    assert_eq!(info.summary, scenario.summary);
}

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn memory() -> BackendUnderTest {
    BackendUnderTest::new("memory", || async { MemoryStorage::new() })
}

fn report_in(dir: &std::path::Path) -> Report {
    let json = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|err| panic!("no report.json in {}: {err}", dir.display()));
    Report::from_json(&json).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn the_entry_point_runs_a_selection_ignoring_libtest_flags_and_writes_reports() {
    let dir = out_dir("entry-point-clean");
    let code = run_main(
        memory(),
        [
            "conformance",
            "tokens_store_then",
            "--clause",
            "TOK-1",
            "--nocapture",
            "--test-threads",
            "1",
            "--quiet",
            "--out-dir",
            &dir.to_string_lossy(),
        ],
    );
    assert_eq!(code, ExitCode::SUCCESS);
    let report = report_in(&dir);
    let [backend] = report.backends.as_slice() else {
        panic!("{report:?}");
    };
    assert!(!backend.results.is_empty());
    assert!(backend.results.iter().all(|r| r.status == Status::Passed
        && r.scenario.contains("tokens_store_then")
        && r.clauses.iter().any(|c| c == "TOK-1")));
    assert_eq!(
        report.provenance.filter.as_deref(),
        Some("id contains \"tokens_store_then\"; clause TOK-1")
    );
    assert!(dir.join("report.xml").is_file() && dir.join("report.md").is_file());
}

#[test]
fn the_entry_point_fails_on_a_failing_backend_and_on_bad_usage() {
    let dir = out_dir("entry-point-broken");
    let forgetful = BackendUnderTest::new("forgetful", || async {
        // A factory that fails: every scenario it is asked for fails.
        Err::<MemoryStorage, _>("no store today")
    });
    let code = run_main(
        forgetful,
        [
            "conformance",
            "--scenario",
            "tokens_store_then_get",
            "--out-dir",
            &dir.to_string_lossy(),
        ],
    );
    assert_eq!(code, ExitCode::FAILURE);
    let report = report_in(&dir);
    assert_eq!(report.totals().failed, 1, "{report:?}");

    let usage = ExitCode::from(2);
    assert_eq!(run_main(memory(), ["conformance", "--area", "nope"]), usage);
    assert_eq!(
        run_main(memory(), ["conformance", "no_such_scenario"]),
        usage
    );
    assert_eq!(run_main(memory(), ["conformance", "--bogus"]), usage);
    assert_eq!(
        run_main(
            memory(),
            ["conformance", "--list", "--json", "--area", "kv"]
        ),
        ExitCode::SUCCESS
    );
}
