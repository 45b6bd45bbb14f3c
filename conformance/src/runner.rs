//! Running scenarios: one with [`run_scenario`], the catalogue against several backends
//! with [`run_catalogue`].

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use authstore_scenarios::{Ctx, Scenario};
use authstore_spec::{AuthStorage, Capabilities, TimingProfile};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::task::JoinError;

use crate::fixture::{
    DefaultTtlStore, Fixture, FixtureError, FixtureParts, IntoFixture, OtherNamespace, Teardown,
};
use crate::panic_witness::PanicWitness;
use crate::report::{BackendReport, Report, ScenarioReport};
use crate::verdict::{ScenarioRun, Verdict};

/// How long one scenario (fixture set-up, body and teardown each) may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the runner waits for a timed-out scenario's body to stop after aborting it.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// How many scenarios [`run_catalogue`] runs at once by default; timing scenarios mostly
/// sleep, so this is more than the cores.
pub const DEFAULT_PARALLELISM: usize = 8;

/// Runs `scenario` on `fixture`, unless it needs a capability outside `claimed`.
///
/// The body runs in its own tokio task, so a panic (`GEN-1`) is a failure rather than a
/// crash, and it is abandoned after `timeout` (`GEN-2`). The fixture's teardown then
/// runs in every case, under the same timeout. Must be called within a tokio runtime.
pub async fn run_scenario(
    scenario: &Scenario,
    fixture: Fixture,
    claimed: Capabilities,
    timing: TimingProfile,
    timeout: Duration,
) -> ScenarioRun {
    let started = Instant::now();
    let FixtureParts {
        storage,
        second,
        teardown,
        capacity,
        other_namespace,
        default_ttl_store,
        kv_value_limit,
        stored_items,
    } = fixture.into_parts();
    // Teardowns of the stores made under other namespaces, run after the body.
    let other_teardowns: Arc<Mutex<Vec<Teardown>>> = Arc::default();
    let missing = claimed.missing(scenario.needs);
    let witness = Arc::new(PanicWitness::default());
    let verdict = if missing.is_empty() {
        let mut ctx = Ctx::new(witness.watch(storage), timing);
        if let Some(second) = second {
            ctx = ctx.with_second_handle(witness.watch(second));
        }
        if let Some(capacity) = capacity {
            ctx = ctx.with_capacity(capacity);
        }
        if let Some(make) = other_namespace {
            ctx = ctx.with_other_namespace(namespace_factory(
                make,
                other_teardowns.clone(),
                witness.clone(),
            ));
        }
        if let Some(make) = default_ttl_store {
            ctx = ctx.with_default_ttl_store(default_ttl_factory(
                make,
                other_teardowns.clone(),
                witness.clone(),
            ));
        }
        if let Some(bytes) = kv_value_limit {
            ctx = ctx.with_kv_value_limit(bytes);
        }
        if let Some(probe) = stored_items {
            ctx = ctx.with_stored_items(probe);
        }
        run_body(scenario, ctx, timeout, &witness).await
    } else {
        // Drop the handles before teardown, as after a run.
        drop((storage, second));
        Verdict::NotClaimed(missing)
    };
    let mut teardowns: Vec<Teardown> = std::mem::take(
        &mut *other_teardowns
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    teardowns.extend(teardown);
    let verdict = match (verdict, run_teardowns(teardowns, timeout).await) {
        (verdict, Ok(())) => verdict,
        (Verdict::Failed(message), Err(teardown)) => {
            Verdict::Failed(format!("{message}\n(the teardown failed too: {teardown})"))
        }
        (_, Err(teardown)) => Verdict::Failed(format!("the fixture's teardown failed: {teardown}")),
    };
    ScenarioRun {
        verdict,
        duration: started.elapsed(),
    }
}

/// Runs the body; a failure after a backend method panicked (whether the panic ended the
/// body or the scenario caught it in a task of its own) names the method first.
async fn run_body(
    scenario: &Scenario,
    ctx: Ctx,
    timeout: Duration,
    witness: &PanicWitness,
) -> Verdict {
    let mut task = tokio::spawn((scenario.run)(ctx));
    match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(Ok(()))) => Verdict::Passed,
        Ok(Ok(Err(failure))) => Verdict::Failed(match witness.describe() {
            Some(panicked) => format!("{panicked}: {}", failure.message),
            None => failure.message,
        }),
        Ok(Err(join)) => {
            let payload = join_error_message(join);
            Verdict::Failed(match witness.describe() {
                Some(panicked) => format!("{panicked}: {payload}"),
                None => format!("the scenario panicked (GEN-1: no method may panic): {payload}"),
            })
        }
        Err(_) => {
            task.abort();
            // Wait (briefly: a body stuck without an await point never stops) for the
            // abort to land, so a store the body was making under another namespace has
            // queued its teardown before the teardowns are taken.
            let _aborted = tokio::time::timeout(ABORT_GRACE, task).await;
            Verdict::Failed(format!(
                "the scenario did not finish within {timeout:?} (GEN-2: every method returns \
                 within the backend's operation timeout)"
            ))
        }
    }
}

/// Wraps a fixture's maker of other-namespace fixtures as the scenarios see it: each store
/// it makes has its teardown queued in `teardowns`.
fn namespace_factory(
    make: OtherNamespace,
    teardowns: Arc<Mutex<Vec<Teardown>>>,
    witness: Arc<PanicWitness>,
) -> authstore_scenarios::NamespaceFactory {
    Arc::new(move || {
        let (make, teardowns, witness) = (make.clone(), teardowns.clone(), witness.clone());
        async move { Ok(witness.watch(queue_teardown(make().await?, &teardowns))) }.boxed()
    })
}

/// Wraps a fixture's maker of stores with a default TTL as the scenarios see it: each
/// store it makes has its teardown queued in `teardowns`.
fn default_ttl_factory(
    make: DefaultTtlStore,
    teardowns: Arc<Mutex<Vec<Teardown>>>,
    witness: Arc<PanicWitness>,
) -> authstore_scenarios::DefaultTtlFactory {
    Arc::new(move |ttl| {
        let (make, teardowns, witness) = (make.clone(), teardowns.clone(), witness.clone());
        async move { Ok(witness.watch(queue_teardown(make(ttl).await?, &teardowns))) }.boxed()
    })
}

/// The storage of a fixture made during a scenario, its teardown queued to run after it.
fn queue_teardown(fixture: Fixture, teardowns: &Mutex<Vec<Teardown>>) -> Arc<dyn AuthStorage> {
    let parts = fixture.into_parts();
    teardowns
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(parts.teardown);
    parts.storage
}

/// Runs every teardown, in order, each under `timeout`; the errors, joined.
async fn run_teardowns(teardowns: Vec<Teardown>, timeout: Duration) -> Result<(), String> {
    let mut errors = Vec::new();
    for teardown in teardowns {
        if let Err(err) = run_teardown(Some(teardown), timeout).await {
            errors.push(err);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

async fn run_teardown(teardown: Option<Teardown>, timeout: Duration) -> Result<(), String> {
    let Some(teardown) = teardown else {
        return Ok(());
    };
    let mut task = tokio::spawn(teardown);
    match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(format!("it panicked: {}", join_error_message(join))),
        Err(_) => {
            task.abort();
            Err(format!("it did not finish within {timeout:?}"))
        }
    }
}

/// The panic message in a [`JoinError`], or what else ended the task.
fn join_error_message(join: JoinError) -> String {
    if join.is_cancelled() {
        return "the task was cancelled".to_string();
    }
    panic_message(join.into_panic())
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

type Factory = Arc<dyn Fn() -> BoxFuture<'static, Result<Fixture, FixtureError>> + Send + Sync>;

/// A named backend to run the catalogue against: a factory called afresh for every
/// scenario, the capabilities it claims and its timing profile.
#[derive(Clone)]
pub struct BackendUnderTest {
    name: String,
    capabilities: Capabilities,
    timing: TimingProfile,
    factory: Factory,
}

impl BackendUnderTest {
    /// A backend named `name` whose `factory` yields a fresh, empty store (anything
    /// [`IntoFixture`]) each call. It claims [`Capabilities::CORE`] and
    /// [`TimingProfile::IN_PROCESS`] until told otherwise.
    pub fn new<F, Fut, T, M>(name: impl Into<String>, factory: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: IntoFixture<M> + 'static,
        M: 'static,
    {
        Self {
            name: name.into(),
            capabilities: Capabilities::CORE,
            timing: TimingProfile::IN_PROCESS,
            factory: Arc::new(move || factory().map(IntoFixture::into_fixture).boxed()),
        }
    }

    /// This backend claiming exactly `capabilities`.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// This backend with another timing profile.
    pub fn with_timing(mut self, timing: TimingProfile) -> Self {
        self.timing = timing;
        self
    }

    /// This backend under another name (e.g. `postgres/container` in a matrix cell).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The backend's name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the backend claims.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The backend's timing profile.
    pub fn timing(&self) -> TimingProfile {
        self.timing
    }

    /// Calls the factory once.
    pub async fn fixture(&self) -> Result<Fixture, FixtureError> {
        (self.factory)().await
    }

    /// Runs one scenario on a fresh fixture: not claimed without calling the factory,
    /// failed if the factory errs, panics or hangs.
    pub async fn run(&self, scenario: &Scenario, timeout: Duration) -> ScenarioRun {
        let started = Instant::now();
        let missing = self.capabilities.missing(scenario.needs);
        if !missing.is_empty() {
            return ScenarioRun {
                verdict: Verdict::NotClaimed(missing),
                duration: started.elapsed(),
            };
        }
        let build = tokio::spawn((self.factory)());
        let fixture = match tokio::time::timeout(timeout, build).await {
            Ok(Ok(Ok(fixture))) => fixture,
            Ok(Ok(Err(err))) => return setup_failed(started, err.to_string()),
            Ok(Err(join)) => {
                return setup_failed(
                    started,
                    format!("the factory panicked: {}", join_error_message(join)),
                );
            }
            Err(_) => {
                return setup_failed(
                    started,
                    format!("the factory did not finish within {timeout:?}"),
                );
            }
        };
        let mut run =
            run_scenario(scenario, fixture, self.capabilities, self.timing, timeout).await;
        run.duration = started.elapsed();
        run
    }
}

fn setup_failed(started: Instant, reason: String) -> ScenarioRun {
    ScenarioRun {
        verdict: Verdict::Failed(format!("the backend could not be set up: {reason}")),
        duration: started.elapsed(),
    }
}

impl fmt::Debug for BackendUnderTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendUnderTest")
            .field("name", &self.name)
            .field("capabilities", &self.capabilities)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Settings of [`run_catalogue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Per scenario: fixture set-up, body and teardown each.
    pub timeout: Duration,
    /// Scenarios running at once, across all backends (at least 1).
    pub parallelism: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            parallelism: DEFAULT_PARALLELISM,
        }
    }
}

/// One finished scenario, reported to [`run_catalogue`]'s progress callback.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The backend's name.
    pub backend: &'a str,
    /// The scenario that finished.
    pub scenario: &'a Scenario,
    /// How it went.
    pub run: &'a ScenarioRun,
    /// Scenarios finished so far, this one included.
    pub done: usize,
    /// Scenarios in the whole run.
    pub total: usize,
}

/// Runs every scenario against every backend, `options.parallelism` at a time, calling
/// `progress` as each finishes; the report lists backends in the order given and
/// scenarios in catalogue order. Must be called within a tokio runtime.
pub async fn run_catalogue(
    backends: &[BackendUnderTest],
    scenarios: &[Scenario],
    options: &RunOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Report {
    let timeout = options.timeout;
    let jobs: Vec<(usize, usize)> = (0..backends.len())
        .flat_map(|b| (0..scenarios.len()).map(move |s| (b, s)))
        .collect();
    let total = jobs.len();
    let mut results: HashMap<(usize, usize), ScenarioRun> = HashMap::with_capacity(total);
    let mut finished = futures::stream::iter(jobs)
        .map(|(b, s)| {
            let backend = backends[b].clone();
            let scenario = scenarios[s];
            // A task per job, so factories and fixtures of different jobs use both cores.
            tokio::spawn(async move { backend.run(&scenario, timeout).await })
                .map(move |joined| ((b, s), joined))
        })
        .buffer_unordered(options.parallelism.max(1));
    while let Some(((b, s), joined)) = finished.next().await {
        let run = joined.unwrap_or_else(|join| ScenarioRun {
            verdict: Verdict::Failed(format!(
                "the runner's task for this scenario failed: {}",
                join_error_message(join)
            )),
            duration: Duration::ZERO,
        });
        progress(Progress {
            backend: backends[b].name(),
            scenario: &scenarios[s],
            run: &run,
            done: results.len() + 1,
            total,
        });
        results.insert((b, s), run);
    }
    let backends = backends
        .iter()
        .enumerate()
        .map(|(b, backend)| {
            let entries = scenarios
                .iter()
                .enumerate()
                .filter_map(|(s, scenario)| {
                    results
                        .remove(&(b, s))
                        .map(|run| ScenarioReport::new(scenario, &run))
                })
                .collect();
            BackendReport::new(backend.name(), backend.capabilities(), entries)
                .with_timing(backend.timing())
        })
        .collect();
    Report::new(backends)
}
