//! `authstore-conformance`: runs the AuthStorage conformance catalogue
//! ([`authstore_scenarios::catalogue()`]) against backends. It is the library a backend
//! author depends on, and needs no database client, container library or feature flag.
//!
//! - [`conformance_suite!`] turns the catalogue into one `#[test]` per scenario for a
//!   backend of your own:
//!
//!   ```toml
//!   [dev-dependencies]
//!   authstore-conformance = { path = "../authstore/conformance" }
//!   ```
//!   ```ignore
//!   // tests/conformance.rs
//!   authstore_conformance::conformance_suite!(my_store, async { MyStore::new() });
//!   ```
//! - [`main`] runs the catalogue as one test target of its own, with the harness command
//!   line's flags, its progress and its summary line:
//!
//!   ```toml
//!   [[test]]
//!   name = "conformance_main"
//!   harness = false
//!   ```
//!   ```ignore
//!   // tests/conformance_main.rs
//!   use authstore_conformance::BackendUnderTest;
//!
//!   fn main() -> std::process::ExitCode {
//!       authstore_conformance::main(BackendUnderTest::new("my_store", || async { MyStore::new() }))
//!   }
//!   ```
//!
//!   `cargo test --test conformance_main -- --area kv --clause TOK --capability expiry`
//!   selects (a bare word filters ids, as `cargo test WORD` passes it; libtest's own flags
//!   are ignored), `-- --list --json` lists, `-- --help` shows every flag. Progress goes
//!   to stderr (a bar on a terminal, a line per scenario in a CI log), the reports to
//!   `$AUTHSTORE_REPORT_DIR` or `target/conformance`, and the exit code is non-zero when
//!   a scenario fails. [`spec`] re-exports `authstore-spec` for the types a backend
//!   declares (`Capabilities`, `TimingProfile`).
//! - [`Selection`] chooses scenarios by id, area, clause and capability, as the entry
//!   point and the harness command line do; [`ScenarioInfo`] describes one for listings.
//! - [`run_scenario`] and [`run_catalogue`] are the runner underneath, for tools, and
//!   [`ProgressPrinter`] shows a run's progress.
//! - [`Report`] collects verdicts and writes JSON, JUnit XML and Markdown.
//!
//! The command line over the built-in backends, server provisioning and the matrix live
//! in this repository's `authstore-harness` crate.
//!
//! A scenario that needs a capability the backend does not claim is *not claimed*: it is
//! never run and never counted as passed.

mod clause_report;
mod collector;
mod entry_point;
mod fixture;
mod panic_witness;
mod progress_printer;
mod provenance;
mod report;
mod runner;
mod scenario_info;
mod selection;
mod selection_args;
mod statement;
mod verdict;

/// One `#[test]` per catalogue scenario against your backend.
///
/// ```ignore
/// authstore_conformance::conformance_suite!(NAME, FACTORY [, OPTION = VALUE]...);
/// ```
///
/// - `NAME`: an identifier; the expansion is `#[cfg(test)] mod NAME { .. }` with one test
///   per scenario, named exactly after the scenario id (`NAME::tokens_store_then_get`),
///   so `cargo test NAME::tokens_` selects by name.
/// - `FACTORY`: an async expression (e.g. `async { MyStore::new() }`) evaluated afresh
///   for every scenario. It yields anything [`IntoFixture`]: a storage, a [`Fixture`]
///   (for a second handle or a teardown), or a `Result` of either whose `Err` fails the
///   test with its message, e.g. `Err("no PostgreSQL reachable: set AUTHSTORE_POSTGRES_URL")`.
///   Each scenario needs a fresh, empty store.
/// - Options, each optional, in any order:
///   - `capabilities = [expiry, concurrency, large_values, multi_handle]`: what the
///     backend claims, any of those and `capacity`, `namespaces`, `default_ttl`,
///     `value_limit`, `introspection` (each declared or provided by the [`Fixture`]); default `[expiry, concurrency, large_values]`
///     ([`Capabilities::CORE`](authstore_spec::Capabilities::CORE)). A scenario needing
///     an unclaimed capability is emitted with `#[ignore = "not claimed: needs ..."]`:
///     `cargo test` shows it as ignored, never as passed, and `cargo test -- --ignored`
///     runs it as if claimed, to try a capability before claiming it.
///   - `timing = <TimingProfile>`: default
///     [`TimingProfile::IN_PROCESS`](authstore_spec::TimingProfile::IN_PROCESS).
///   - `timeout = <Duration>`: per scenario, default [`DEFAULT_TIMEOUT`] (120 s).
///
/// A test fails, with the scenario's failure message, id, cited clauses and summary,
/// when the scenario fails, exceeds the timeout (`GEN-2`), the backend panics (`GEN-1`;
/// the message names the method that panicked),
/// the factory errs, or the fixture's teardown fails.
///
/// Each test is a multi-thread tokio test run through this crate's own tokio, so your
/// crate needs no tokio dependency. The expansion names `::authstore_conformance::...`:
/// depend on this crate under its own name (do not rename it in `Cargo.toml`). Inside the
/// module, `use super::*;` brings the invoking module's names into scope, so `FACTORY`
/// and the options may use them; paths starting with `self::` do not work there.
///
/// ```ignore
/// use std::time::Duration;
/// use authstore_conformance::{Fixture, conformance_suite};
///
/// conformance_suite!(
///     my_store,
///     async {
///         let store = MyStore::connect(std::env::var("MY_STORE_URL")?).await?;
///         let second = store.clone();
///         Ok::<_, Box<dyn std::error::Error>>(Fixture::new(store).with_second_handle(second))
///     },
///     capabilities = [expiry, concurrency, large_values, multi_handle],
///     timing = authstore_spec::TimingProfile::new(Duration::from_millis(1), Duration::ZERO),
///     timeout = Duration::from_secs(30),
/// );
/// ```
pub use authstore_conformance_macros::conformance_suite;
pub use authstore_scenarios::{Area, Scenario};
pub use clause_report::{ClauseReport, ClauseStatus};
pub use collector::REPORT_DIR_VAR;
pub use entry_point::{main, run_main};
pub use fixture::{Fixture, FixtureError, IntoFixture, TeardownOutput, marker};
pub use progress_printer::ProgressPrinter;
pub use provenance::Provenance;
pub use report::{BackendReport, Report, ReportError, ReportFiles, ScenarioReport, Status, Totals};
pub use runner::{
    BackendUnderTest, DEFAULT_PARALLELISM, DEFAULT_TIMEOUT, Progress, RunOptions, run_catalogue,
    run_scenario,
};
pub use scenario_info::ScenarioInfo;
pub use selection::{Selection, SelectionError};
pub use selection_args::SelectionArgs;
pub use verdict::{ScenarioRun, Verdict};

/// The `authstore-spec` types a backend's tests name (`Capabilities`, `TimingProfile`,
/// `AuthStorage`, ...), so a test target needs no dependency of its own on it.
pub use authstore_spec as spec;

/// What [`conformance_suite!`]'s expansion refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;
    use std::time::{Duration, Instant};

    pub use authstore_spec::{Capabilities, Capability, TimingProfile};
    pub use tokio;

    use crate::collector;
    use crate::fixture::IntoFixture;
    use crate::runner::run_scenario;
    use crate::verdict::{ScenarioRun, Verdict, not_claimed_message};

    /// A failed run whose fixture could not be built.
    fn set_up_failed(started: Instant, message: String) -> ScenarioRun {
        ScenarioRun {
            verdict: Verdict::Failed(message),
            duration: started.elapsed(),
        }
    }

    /// The body of one generated test: builds the fixture, runs scenario `id` as if every
    /// capability it needs were claimed (the `#[ignore]` on unclaimed tests does the
    /// gating), and panics with the scenario's failure, as a test must, if it fails.
    pub async fn run_test<Fut, T, M>(
        suite: &str,
        id: &str,
        claimed: Capabilities,
        timing: TimingProfile,
        timeout: Duration,
        factory: Fut,
    ) where
        Fut: Future<Output = T>,
        T: IntoFixture<M>,
    {
        let Some(scenario) = authstore_scenarios::find(id) else {
            panic!(
                "scenario `{id}` is not in the catalogue of the authstore-scenarios this test \
                 was linked with; rebuild so conformance_suite! expands again"
            );
        };
        let missing = claimed.missing(scenario.needs);
        let as_if_claimed: Capabilities = claimed.iter().chain(scenario.needs.iter()).collect();
        let context = || {
            let mut text = format!(
                "conformance scenario `{id}` failed on `{suite}`\n  checks: {} ({})",
                scenario.summary,
                scenario.clauses.join(", ")
            );
            if !missing.is_empty() {
                text.push_str(&format!(
                    "\n  note: run although the suite does not claim it ({})",
                    not_claimed_message(&missing)
                ));
            }
            text
        };
        let started = Instant::now();
        let run = match tokio::time::timeout(timeout, factory).await {
            Ok(output) => match output.into_fixture() {
                Ok(fixture) => {
                    run_scenario(&scenario, fixture, as_if_claimed, timing, timeout).await
                }
                Err(err) => {
                    set_up_failed(started, format!("the backend could not be set up: {err}"))
                }
            },
            Err(_) => set_up_failed(
                started,
                format!(
                    "the backend could not be set up: the factory did not finish within \
                     {timeout:?}"
                ),
            ),
        };
        if let Some(dir) = collector::report_dir()
            && let Err(err) = collector::record(&dir, suite, claimed, timing, &scenario, &run)
        {
            panic!(
                "{}\n  {} could not be written: {err}",
                context(),
                crate::REPORT_DIR_VAR
            );
        }
        match run.verdict {
            Verdict::Passed => {}
            Verdict::Failed(message) => panic!("{}\n  failure: {message}", context()),
            // Unreachable with `as_if_claimed`, but never let it pass silently.
            Verdict::NotClaimed(missing) => {
                panic!("{}\n  {}", context(), not_claimed_message(&missing))
            }
        }
    }
}
