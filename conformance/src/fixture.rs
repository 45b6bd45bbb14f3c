//! [`Fixture`]: what a backend's factory hands to one scenario, and [`IntoFixture`]: what
//! a factory may return instead (a bare storage, a fixture, or a `Result` of either).

use std::fmt::{self, Display};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::AuthStorage;
use futures::FutureExt;
use futures::future::BoxFuture;

/// Fresh handles on an empty store for one scenario, with an optional second handle on
/// the same data and an optional teardown.
///
/// ```
/// # use authstore_conformance::Fixture;
/// # fn demo<S: authstore_spec::AuthStorage + Clone + 'static>(storage: S) -> Fixture {
/// let second = storage.clone();
/// Fixture::new(storage)
///     .with_second_handle(second)
///     .with_teardown(async move { /* drop the scenario's schema */ })
/// # }
/// ```
pub struct Fixture {
    storage: Arc<dyn AuthStorage>,
    second: Option<Arc<dyn AuthStorage>>,
    teardown: Option<Teardown>,
    capacity: Option<u64>,
    other_namespace: Option<OtherNamespace>,
    default_ttl_store: Option<DefaultTtlStore>,
    kv_value_limit: Option<u64>,
    stored_items: Option<authstore_scenarios::StoredItemsProbe>,
}

/// Makes the fixture of a fresh store with a default kv TTL (see
/// [`Fixture::with_default_ttl_store`]).
pub(crate) type DefaultTtlStore =
    Arc<dyn Fn(Duration) -> BoxFuture<'static, Result<Fixture, String>> + Send + Sync>;

/// Makes the fixture of a second store under another namespace (see
/// [`Fixture::with_other_namespace`]).
pub(crate) type OtherNamespace =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Fixture, String>> + Send + Sync>;

/// A boxed teardown, its error as text.
pub(crate) type Teardown = BoxFuture<'static, Result<(), String>>;

/// A fixture taken apart.
pub(crate) struct FixtureParts {
    pub(crate) storage: Arc<dyn AuthStorage>,
    pub(crate) second: Option<Arc<dyn AuthStorage>>,
    pub(crate) teardown: Option<Teardown>,
    pub(crate) capacity: Option<u64>,
    pub(crate) other_namespace: Option<OtherNamespace>,
    pub(crate) default_ttl_store: Option<DefaultTtlStore>,
    pub(crate) kv_value_limit: Option<u64>,
    pub(crate) stored_items: Option<authstore_scenarios::StoredItemsProbe>,
}

impl Fixture {
    /// A fixture over `storage`, which must start empty.
    pub fn new(storage: impl AuthStorage + 'static) -> Self {
        Self {
            storage: Arc::new(storage),
            second: None,
            teardown: None,
            capacity: None,
            other_namespace: None,
            default_ttl_store: None,
            kv_value_limit: None,
            stored_items: None,
        }
    }

    /// This fixture able to make, on demand, a fresh empty store of the same backend
    /// configured so that kv entries stored without a TTL expire after the given default
    /// (e.g. `InMemoryConfig::with_default_ttl`), with its own teardown, which runs after
    /// the scenario. The `default-ttl` scenarios ask for it, with defaults of a fraction of
    /// a second to a few seconds; claim the `default-ttl` capability with it.
    pub fn with_default_ttl_store<F, Fut>(mut self, factory: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fixture, String>> + Send + 'static,
    {
        self.default_ttl_store = Some(Arc::new(move |ttl| factory(ttl).boxed()));
        self
    }

    /// This fixture declaring the backend's documented kv value size limit: the largest
    /// value, in bytes, that `store_kv` accepts (SPEC.md `KV-5`, `KV-6`). The
    /// `value-limit` scenarios store a value of exactly that size and one a byte larger;
    /// claim the `value-limit` capability with it.
    pub fn with_kv_value_limit(mut self, bytes: u64) -> Self {
        self.kv_value_limit = Some(bytes);
        self
    }

    /// This fixture able to count the items (tokens, sessions, kv entries) the store
    /// physically holds, expired ones not yet removed included: `probe` reads the
    /// backend's own bookkeeping (row counts, map sizes), never the `AuthStorage`
    /// methods. The `introspection` scenarios check with it that `cleanup_expired`
    /// really removes expired items (SPEC.md `CLN-1`); claim the `introspection`
    /// capability with it.
    pub fn with_stored_items<F, Fut>(mut self, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, String>> + Send + 'static,
    {
        self.stored_items = Some(Arc::new(move || probe().boxed()));
        self
    }

    /// This fixture able to make, on demand, a fresh store on the same server under
    /// another namespace (another schema, database or key prefix), with its own
    /// teardown, which runs after the scenario. The `namespaces` scenarios ask for it;
    /// claim the `namespaces` capability with it. `factory` is called at most once per
    /// scenario, and only by scenarios that need it.
    pub fn with_other_namespace<F, Fut>(mut self, factory: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fixture, String>> + Send + 'static,
    {
        self.other_namespace = Some(Arc::new(move || factory().boxed()));
        self
    }

    /// This fixture declaring that the store was configured to hold at most `bytes` of
    /// live data, by its own accounting (e.g. `UnifiedStorageConfig::max_memory`): the
    /// `capacity` scenarios churn far more than that through a small live set, then fill
    /// it. Claim the `capacity` capability with it.
    pub fn with_capacity(mut self, bytes: u64) -> Self {
        self.capacity = Some(bytes);
        self
    }

    /// This fixture with a second, independent handle on the same data (another pool,
    /// another node, another wrapper over the same inner store), used by the
    /// `multi-handle` scenarios.
    pub fn with_second_handle(mut self, second: impl AuthStorage + 'static) -> Self {
        self.second = Some(Arc::new(second));
        self
    }

    /// This fixture with a teardown that runs after the scenario, whether it passed,
    /// failed, panicked or timed out. It may return `()` or `Result<(), E: Display>`; an
    /// error (or a panic) makes the scenario fail, so a leak is never silent.
    pub fn with_teardown<F>(mut self, teardown: F) -> Self
    where
        F: Future + Send + 'static,
        F::Output: TeardownOutput,
    {
        self.teardown = Some(teardown.map(TeardownOutput::into_result).boxed());
        self
    }

    /// The storage under test.
    pub fn storage(&self) -> &Arc<dyn AuthStorage> {
        &self.storage
    }

    /// Runs the teardown (if any) and consumes the fixture: for code that uses a
    /// backend's fixture outside the runner, e.g. a benchmark opening the same store the
    /// catalogue runs on, which must still remove its schema or key prefix afterwards.
    pub async fn teardown(self) -> Result<(), String> {
        match self.teardown {
            Some(teardown) => teardown.await,
            None => Ok(()),
        }
    }

    /// Whether the fixture has a second handle.
    pub fn has_second_handle(&self) -> bool {
        self.second.is_some()
    }

    pub(crate) fn into_parts(self) -> FixtureParts {
        FixtureParts {
            storage: self.storage,
            second: self.second,
            teardown: self.teardown,
            capacity: self.capacity,
            other_namespace: self.other_namespace,
            default_ttl_store: self.default_ttl_store,
            kv_value_limit: self.kv_value_limit,
            stored_items: self.stored_items,
        }
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("second_handle", &self.second.is_some())
            .field("teardown", &self.teardown.is_some())
            .field("capacity", &self.capacity)
            .field("other_namespace", &self.other_namespace.is_some())
            .field("default_ttl_store", &self.default_ttl_store.is_some())
            .field("kv_value_limit", &self.kv_value_limit)
            .field("stored_items", &self.stored_items.is_some())
            .finish_non_exhaustive()
    }
}

/// What a teardown future may return: `()` or `Result<(), E>` with a displayable error.
pub trait TeardownOutput {
    /// `Err(message)` if the teardown failed.
    fn into_result(self) -> Result<(), String>;
}

impl TeardownOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> TeardownOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|err| err.to_string())
    }
}

/// Why a factory produced no fixture: its `Err`, displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError {
    message: String,
}

impl FixtureError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FixtureError {}

/// Marker types that keep the [`IntoFixture`] impls apart; never named by users.
///
/// A blanket impl for every storage cannot sit next to one for `Result<T, E>` (the spec
/// crate could implement `AuthStorage` for `Result`), so each impl has its own marker and
/// type inference picks the one that applies.
pub mod marker {
    use super::PhantomData;

    /// The factory returned a bare storage.
    #[derive(Debug)]
    pub struct Storage;

    /// The factory returned a [`Fixture`](super::Fixture).
    #[derive(Debug)]
    pub struct Ready;

    /// The factory returned a `Result` whose `Ok` is described by `M`.
    #[derive(Debug)]
    pub struct Fallible<M>(PhantomData<M>);
}

/// What a backend factory may yield: any `S: AuthStorage + 'static`, a [`Fixture`], or a
/// `Result<T, E>` of either with `E: Display`, whose `Err` fails the scenario with its
/// message (never a silent pass).
///
/// `M` is one of the [`marker`] types, inferred; write `T: IntoFixture<M>` with `M` a
/// generic parameter when passing a factory on.
pub trait IntoFixture<M> {
    /// The fixture, or why there is none.
    fn into_fixture(self) -> Result<Fixture, FixtureError>;
}

impl<S: AuthStorage + 'static> IntoFixture<marker::Storage> for S {
    fn into_fixture(self) -> Result<Fixture, FixtureError> {
        Ok(Fixture::new(self))
    }
}

impl IntoFixture<marker::Ready> for Fixture {
    fn into_fixture(self) -> Result<Fixture, FixtureError> {
        Ok(self)
    }
}

impl<T, E, M> IntoFixture<marker::Fallible<M>> for Result<T, E>
where
    T: IntoFixture<M>,
    E: Display,
{
    fn into_fixture(self) -> Result<Fixture, FixtureError> {
        match self {
            Ok(inner) => inner.into_fixture(),
            Err(err) => Err(FixtureError::new(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use authstore_backends::MemoryStorage;

    use super::*;

    /// A fixture used outside the runner (e.g. by a benchmark) can still undo its
    /// namespace: `teardown` runs the registered teardown once and returns its error.
    #[tokio::test]
    async fn teardown_runs_the_registered_teardown_and_reports_its_error() {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let fixture = Fixture::new(MemoryStorage::new()).with_teardown(async move {
            flag.store(true, Ordering::SeqCst);
            Err::<(), _>("schema still in use")
        });
        assert_eq!(
            fixture.teardown().await,
            Err("schema still in use".to_owned())
        );
        assert!(ran.load(Ordering::SeqCst));
        assert_eq!(Fixture::new(MemoryStorage::new()).teardown().await, Ok(()));
    }
}
