//! The runner and the reports: failures are reported as failures (a broken backend, a
//! panic, a hang, a failing factory or teardown), not-claimed scenarios never count as
//! passed, and every report format carries both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authstore_backends::MemoryStorage;
use authstore_conformance::{
    BackendUnderTest, ClauseStatus, Fixture, IntoFixture, Report, RunOptions, Status, Verdict,
    run_catalogue, run_scenario,
};
use authstore_scenarios::{Area, Failure, Scenario};
use authstore_spec::{
    AuthStorage, AuthToken, Capabilities, Capability, Result, SessionData, TimingProfile,
    async_trait,
};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a [`Faulty`] storage gets wrong.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `get_token` always answers `Ok(None)`.
    ForgetsTokens,
    /// `store_token` panics.
    PanicsOnStore,
    /// `store_token` never returns.
    HangsOnStore,
    /// `get_token` panics.
    PanicsOnGet,
}

/// A `MemoryStorage` with one deliberate fault.
#[derive(Debug, Clone)]
struct Faulty {
    inner: MemoryStorage,
    fault: Fault,
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        Self {
            inner: MemoryStorage::new(),
            fault,
        }
    }
}

#[async_trait]
impl AuthStorage for Faulty {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        match self.fault {
            Fault::PanicsOnStore => panic!("deliberate panic in store_token"),
            Fault::HangsOnStore => std::future::pending().await,
            Fault::ForgetsTokens | Fault::PanicsOnGet => self.inner.store_token(token).await,
        }
    }
    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        match self.fault {
            Fault::ForgetsTokens => Ok(None),
            Fault::PanicsOnGet => panic!("deliberate panic in a read"),
            _ => self.inner.get_token(token_id).await,
        }
    }
    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        self.inner.get_token_by_access_token(access_token).await
    }
    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        self.inner.update_token(token).await
    }
    async fn delete_token(&self, token_id: &str) -> Result<()> {
        self.inner.delete_token(token_id).await
    }
    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        self.inner.list_user_tokens(user_id).await
    }
    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        self.inner.store_session(session_id, data).await
    }
    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        self.inner.get_session(session_id).await
    }
    async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.inner.delete_session(session_id).await
    }
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        self.inner.list_user_sessions(user_id).await
    }
    async fn count_active_sessions(&self) -> Result<u64> {
        self.inner.count_active_sessions().await
    }
    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.inner.store_kv(key, value, ttl).await
    }
    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get_kv(key).await
    }
    async fn delete_kv(&self, key: &str) -> Result<()> {
        self.inner.delete_kv(key).await
    }
    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_kv_keys(prefix).await
    }
    async fn cleanup_expired(&self) -> Result<()> {
        self.inner.cleanup_expired().await
    }
}

fn catalogue_scenario(id: &str) -> Scenario {
    match authstore_scenarios::find(id) {
        Some(scenario) => scenario,
        None => panic!("the catalogue has no scenario {id}"),
    }
}

/// Set by [`needs_multi_handle`]'s body, which must never run unclaimed.
static MULTI_HANDLE_BODY_RAN: AtomicBool = AtomicBool::new(false);

/// A scenario needing `multi-handle` that would fail if run.
fn needs_multi_handle() -> Scenario {
    Scenario {
        id: "multi_handle_synthetic",
        area: Area::MultiHandle,
        clauses: &["MH-1"],
        needs: Capabilities::NONE.with(Capability::MultiHandle),
        summary: "a synthetic scenario that needs a second handle",
        run: |_ctx| {
            Box::pin(async {
                MULTI_HANDLE_BODY_RAN.store(true, Ordering::SeqCst);
                Err(Failure::new(
                    "this body must not run when multi-handle is not claimed",
                ))
            })
        },
    }
}

/// A scenario that always fails with a multi-line message holding Markdown and XML
/// metacharacters.
fn always_fails() -> Scenario {
    Scenario {
        id: "tokens_synthetic_failure",
        area: Area::Tokens,
        clauses: &["TOK-1"],
        needs: Capabilities::NONE,
        summary: "a synthetic scenario that always fails",
        run: |_ctx| Box::pin(async { Err(Failure::new("expected <a> & ```b```,\ngot | c |")) }),
    }
}

async fn run_on(scenario: &Scenario, fixture: Fixture, timeout: Duration) -> Verdict {
    run_scenario(
        scenario,
        fixture,
        Capabilities::ALL,
        TimingProfile::IN_PROCESS,
        timeout,
    )
    .await
    .verdict
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_backend_passes() {
    let scenario = catalogue_scenario("tokens_store_then_get");
    let verdict = run_on(&scenario, Fixture::new(MemoryStorage::new()), TIMEOUT).await;
    assert_eq!(verdict, Verdict::Passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_forgets_tokens_fails() {
    let scenario = catalogue_scenario("tokens_store_then_get");
    let fixture = Fixture::new(Faulty::new(Fault::ForgetsTokens));
    match run_on(&scenario, fixture, TIMEOUT).await {
        Verdict::Failed(message) => assert!(message.contains("get_token"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_backend_fails_citing_gen_1() {
    let scenario = catalogue_scenario("tokens_store_then_get");
    let fixture = Fixture::new(Faulty::new(Fault::PanicsOnStore));
    match run_on(&scenario, fixture, TIMEOUT).await {
        Verdict::Failed(message) => {
            assert!(message.contains("GEN-1"), "{message}");
            assert!(
                message.contains("deliberate panic in store_token"),
                "{message}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_names_the_method_in_flight() {
    let scenario = catalogue_scenario("tokens_store_then_get");
    let fixture = Fixture::new(Faulty::new(Fault::PanicsOnGet));
    match run_on(&scenario, fixture, TIMEOUT).await {
        Verdict::Failed(message) => {
            assert!(
                message.starts_with("the backend panicked in `get_token` (GEN-1"),
                "{message}"
            );
            assert!(message.contains("deliberate panic in a read"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A panic in a task the scenario spawned is caught by the scenario itself; the method
/// is named all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_caught_by_the_scenario_names_the_method() {
    let scenario = catalogue_scenario("input_hostile_values_never_panic_or_hang");
    let fixture = Fixture::new(Faulty::new(Fault::PanicsOnGet));
    match run_on(&scenario, fixture, TIMEOUT).await {
        Verdict::Failed(message) => {
            assert!(
                message.starts_with("the backend panicked in `get_token` (GEN-1"),
                "{message}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_backend_fails_citing_gen_2_and_still_tears_down() {
    let scenario = catalogue_scenario("tokens_store_then_get");
    let torn_down = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&torn_down);
    let fixture = Fixture::new(Faulty::new(Fault::HangsOnStore))
        .with_teardown(async move { flag.store(true, Ordering::SeqCst) });
    match run_on(&scenario, fixture, Duration::from_millis(200)).await {
        Verdict::Failed(message) => assert!(message.contains("GEN-2"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(torn_down.load(Ordering::SeqCst), "the teardown did not run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_teardown_fails_a_passing_scenario() {
    let scenario = catalogue_scenario("tokens_store_then_get");
    let fixture = Fixture::new(MemoryStorage::new())
        .with_teardown(async { Err::<(), _>("cannot drop schema s1") });
    match run_on(&scenario, fixture, TIMEOUT).await {
        Verdict::Failed(message) => assert!(message.contains("cannot drop schema s1"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclaimed_scenario_is_not_run_and_not_passed() {
    let scenario = needs_multi_handle();
    let run = run_scenario(
        &scenario,
        Fixture::new(MemoryStorage::new()),
        Capabilities::CORE,
        TimingProfile::IN_PROCESS,
        TIMEOUT,
    )
    .await;
    assert_eq!(
        run.verdict,
        Verdict::NotClaimed(vec![Capability::MultiHandle])
    );
    assert!(!run.verdict.is_passed());
    assert!(
        !MULTI_HANDLE_BODY_RAN.load(Ordering::SeqCst),
        "the body ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_factory_fails_with_its_message() {
    let backend = BackendUnderTest::new("unreachable", || async {
        Err::<MemoryStorage, _>("no PostgreSQL reachable: set AUTHSTORE_POSTGRES_URL")
    });
    let run = backend
        .run(&catalogue_scenario("tokens_store_then_get"), TIMEOUT)
        .await;
    match run.verdict {
        Verdict::Failed(message) => {
            assert!(message.contains("set AUTHSTORE_POSTGRES_URL"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn results_of_fixtures_convert_with_their_error() {
    let ok: std::result::Result<MemoryStorage, String> = Ok(MemoryStorage::new());
    assert!(ok.into_fixture().is_ok());
    let err: std::result::Result<Fixture, &str> = Err("broken");
    match err.into_fixture() {
        Err(err) => assert_eq!(err.message(), "broken"),
        Ok(_) => panic!("an Err became a fixture"),
    }
}

/// The token scenarios on a correct and a broken backend, plus the synthetic scenarios.
async fn mixed_report() -> Report {
    let mut scenarios: Vec<Scenario> = authstore_scenarios::catalogue()
        .into_iter()
        .filter(|s| s.id.starts_with("tokens_"))
        .collect();
    scenarios.push(needs_multi_handle());
    scenarios.push(always_fails());
    let backends = [
        BackendUnderTest::new("memory", || async { MemoryStorage::new() }),
        BackendUnderTest::new("forgetful", || async { Faulty::new(Fault::ForgetsTokens) }),
    ];
    let mut seen = 0;
    let report = run_catalogue(&backends, &scenarios, &RunOptions::default(), |progress| {
        seen += 1;
        assert_eq!(progress.done, seen);
        assert_eq!(progress.total, 2 * scenarios.len());
    })
    .await;
    assert_eq!(seen, 2 * scenarios.len());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_report_counts_each_verdict() {
    let report = mixed_report().await;
    let [memory, forgetful] = &report.backends[..] else {
        panic!("expected two backends, got {}", report.backends.len());
    };
    let scenarios = memory.results.len();
    // On the correct backend only the synthetic failure fails.
    assert_eq!(memory.totals.failed, 1, "{:#?}", memory.results);
    assert_eq!(memory.totals.not_claimed, 1);
    assert_eq!(memory.totals.passed, scenarios - 2);
    // The broken backend fails real catalogue scenarios too.
    assert!(forgetful.totals.failed > 1, "{:#?}", forgetful.totals);
    let entry = forgetful.result("tokens_store_then_get").map(|r| r.status);
    assert_eq!(entry, Some(Status::Failed));
    let unclaimed = memory.result("multi_handle_synthetic");
    assert_eq!(unclaimed.map(|r| r.status), Some(Status::NotClaimed));
    assert_eq!(
        unclaimed.and_then(|r| r.message.as_deref()),
        Some("not claimed: needs multi-handle")
    );
    let totals = report.totals();
    assert_eq!(
        totals.passed + totals.failed + totals.not_claimed,
        2 * scenarios
    );
    assert!(report.has_failures());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_report_round_trips() {
    let report = mixed_report().await;
    let json = match report.to_json() {
        Ok(json) => json,
        Err(err) => panic!("{err}"),
    };
    match Report::from_json(&json) {
        Ok(back) => assert_eq!(back, report),
        Err(err) => panic!("{err}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_skips_unclaimed_and_fails_failures() {
    let report = mixed_report().await;
    let xml = match report.to_junit() {
        Ok(xml) => xml,
        Err(err) => panic!("{err}"),
    };
    assert!(
        xml.contains(r#"<skipped message="not claimed: needs multi-handle""#),
        "{xml}"
    );
    assert!(!xml.contains(
        r#"<testcase name="multi_handle_synthetic" classname="authstore.memory" time="0.000"/>"#
    ));
    assert!(xml.contains("<failure message="), "{xml}");
    assert!(xml.contains("expected &lt;a&gt; &amp;"), "{xml}");
    let totals = report.totals();
    assert!(
        xml.contains(&format!(r#"failures="{}""#, totals.failed)),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"skipped="{}""#, totals.not_claimed)),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_has_the_matrix_totals_and_failures() {
    let report = mixed_report().await;
    let md = report.to_markdown();
    assert!(
        md.contains("| scenario | clauses | memory | forgetful |"),
        "{md}"
    );
    assert!(
        md.contains("| `multi_handle_synthetic` | MH-1 | not claimed | not claimed |"),
        "{md}"
    );
    assert!(
        md.contains("| `tokens_store_then_get` | TOK-1, GEN-3 | ✅ | ❌ |"),
        "{md}"
    );
    assert!(md.contains("## Failures"), "{md}");
    // The message's own triple backticks must not close the fence around it.
    assert!(
        md.contains("````text\nexpected <a> & ```b```,\ngot | c |\n````"),
        "{md}"
    );
    let memory = report.backends[0].totals;
    assert!(
        md.contains(&format!(
            "{} ✅ / {} ❌ / {} not claimed",
            memory.passed, memory.failed, memory.not_claimed
        )),
        "{md}"
    );
    let text = report.to_matrix_text();
    assert!(text.contains("not claimed"), "{text}");
    assert!(text.contains("FAIL"), "{text}");
    assert_eq!(report.totals().summary_line(), {
        let t = report.totals();
        format!(
            "{} passed, {} failed, {} not claimed",
            t.passed, t.failed, t.not_claimed
        )
    });
}

/// What `conformance_suite!` expands each test body to, with a factory that errs: the
/// test must fail with the factory's message, never pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "no PostgreSQL reachable: set AUTHSTORE_POSTGRES_URL")]
async fn a_suite_test_with_a_failing_factory_fails() {
    authstore_conformance::__private::run_test(
        "postgres",
        "tokens_store_then_get",
        Capabilities::CORE,
        TimingProfile::IN_PROCESS,
        TIMEOUT,
        async { Err::<MemoryStorage, _>("no PostgreSQL reachable: set AUTHSTORE_POSTGRES_URL") },
    )
    .await;
}

/// The same with a backend that fails the scenario: the panic carries id and clauses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "conformance scenario `tokens_store_then_get` failed on `forgetful`")]
async fn a_suite_test_on_a_broken_backend_fails() {
    authstore_conformance::__private::run_test(
        "forgetful",
        "tokens_store_then_get",
        Capabilities::CORE,
        TimingProfile::IN_PROCESS,
        TIMEOUT,
        async { Faulty::new(Fault::ForgetsTokens) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_carry_provenance_and_a_filtered_run_says_it_is_partial() {
    let report = mixed_report().await.with_filter("tokens_");
    let p = &report.provenance;
    assert_eq!(p.catalogue_size, authstore_scenarios::catalogue().len());
    assert_eq!(p.spec_sha256.len(), 64, "{p:?}");
    assert!(
        p.spec_sha256.chars().all(|c| c.is_ascii_hexdigit()),
        "{p:?}"
    );
    assert!(p.tool.starts_with("authstore-conformance "), "{p:?}");
    assert_eq!(p.filter.as_deref(), Some("tokens_"));
    let memory = &report.backends[0];
    assert!(!report.is_complete(memory));
    let md = report.to_markdown();
    let banner = format!(
        "**Partial run: {} of {} scenarios** on memory (filter `tokens_`)",
        memory.results.len(),
        p.catalogue_size
    );
    assert!(md.contains(&banner), "{md}");
    assert!(
        md.contains(&format!("| SPEC.md SHA-256 | `{}` |", p.spec_sha256)),
        "{md}"
    );
    let xml = report.to_junit().unwrap_or_else(|err| panic!("{err}"));
    assert!(
        xml.contains(r#"<property name="spec_sha256" value=""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<property name="complete" value="false"/>"#),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clauses_are_judged_from_the_scenarios_citing_them() {
    let report = mixed_report().await;
    let [memory, forgetful] = &report.backends[..] else {
        panic!("expected two backends");
    };
    let status = |backend: &authstore_conformance::BackendReport, id: &str| {
        backend
            .clauses
            .iter()
            .find(|c| c.clause == id)
            .map(|c| c.status)
    };
    assert_eq!(status(memory, "TOK-2"), Some(ClauseStatus::Passed));
    // The synthetic failure cites TOK-1: failed on both.
    assert_eq!(status(memory, "TOK-1"), Some(ClauseStatus::Failed));
    assert_eq!(status(forgetful, "TOK-1"), Some(ClauseStatus::Failed));
    // Cited only by the synthetic multi-handle scenario, which memory does not claim.
    assert_eq!(status(memory, "MH-1"), Some(ClauseStatus::NotClaimed));
    // No token scenario cites a kv clause.
    assert_eq!(status(memory, "KV-1"), Some(ClauseStatus::NotChecked));
    assert_eq!(memory.clauses.len(), authstore_spec::clauses().len());
    let xml = report.to_junit().unwrap_or_else(|err| panic!("{err}"));
    assert!(
        xml.contains(r#"<property name="clause" value="TOK-1"/>"#),
        "{xml}"
    );
    let md = report.to_markdown();
    assert!(md.contains("## Clauses"), "{md}");
    assert!(md.contains("| `TOK-1` | MUST | ❌ | ❌ |"), "{md}");
    assert!(md.contains("| `TOK-2` | MUST | ✅ |"), "{md}");
    assert!(
        md.contains("| `KV-1` | MUST | not checked | not checked |"),
        "{md}"
    );
    // Each failed clause once, with its sentence, the failing scenarios and a hint.
    assert!(md.contains("## Failed clauses"), "{md}");
    let tok1 = authstore_spec::clause("TOK-1").unwrap_or_else(|| panic!("no TOK-1"));
    let section = format!("### `TOK-1` (MUST)\n\n> {}\n\nFailed by ", tok1.text);
    assert_eq!(md.matches(&section).count(), 1, "{md}");
    assert!(md.contains("`tokens_synthetic_failure` on memory"), "{md}");
    assert!(md.contains("`tokens_store_then_get` on forgetful"), "{md}");
    assert!(md.contains("Hint: "), "{md}");
}

/// A statement and badge exist only for a complete run without failures, and one left
/// from an earlier clean run is removed when the next run fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_complete_clean_run_gets_a_conformance_statement() {
    let claimed = Capabilities::CORE.with(Capability::MultiHandle);
    let backend = BackendUnderTest::new("memory", || async {
        let storage = MemoryStorage::new();
        Fixture::new(storage.clone()).with_second_handle(storage)
    })
    .with_capabilities(claimed);
    let catalogue = authstore_scenarios::catalogue();
    let report = run_catalogue(&[backend], &catalogue, &RunOptions::default(), |_| {}).await;
    let memory = &report.backends[0];
    assert_eq!(memory.totals.failed, 0, "{}", report.to_markdown());
    assert!(report.is_complete(memory));
    let dir = std::env::temp_dir().join(format!("authstore-statement-{}", std::process::id()));
    let files = report
        .write_files(&dir)
        .unwrap_or_else(|err| panic!("{err}"));
    let statement = dir.join("conformance-memory.md");
    let badge = dir.join("badge-memory.svg");
    assert_eq!(files.statements, vec![statement.clone(), badge.clone()]);
    let text = std::fs::read_to_string(&statement).unwrap_or_else(|err| panic!("{err}"));
    assert!(text.contains("0 failed"), "{text}");
    assert!(text.contains(&report.provenance.spec_sha256), "{text}");
    assert!(
        text.contains("Capabilities claimed: expiry, concurrency, large-values, multi-handle"),
        "{text}"
    );
    let svg = std::fs::read_to_string(&badge).unwrap_or_else(|err| panic!("{err}"));
    assert!(
        svg.starts_with("<svg") && svg.contains("conformant: "),
        "{svg}"
    );

    // The same run with one failure: no statement, and the old one is gone.
    let mut results = memory.results.clone();
    results[0].status = Status::Failed;
    results[0].message = Some("deliberately failed".to_owned());
    let failed = Report::new(vec![authstore_conformance::BackendReport::new(
        "memory", claimed, results,
    )]);
    let files = failed
        .write_files(&dir)
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(files.statements.is_empty());
    assert!(!statement.exists() && !badge.exists());
    // And a filtered run never gets one, even when clean.
    let filtered = report.clone().with_filter("tokens_");
    assert!(
        filtered
            .write_files(&dir)
            .map(|f| f.statements)
            .unwrap_or_default()
            .is_empty()
    );
    assert!(!statement.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
