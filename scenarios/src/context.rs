//! [`Ctx`]: what a scenario is given to work on.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authstore_spec::{AuthStorage, TimingProfile};
use futures::future::BoxFuture;

use crate::check::Failure;

/// A scenario's handles on a fresh, empty store and the backend's timing profile.
///
/// `Ctx` is cheap to clone and `'static`, so concurrency scenarios can hand it to
/// spawned tasks.
#[derive(Clone)]
pub struct Ctx {
    storage: Arc<dyn AuthStorage>,
    second: Option<Arc<dyn AuthStorage>>,
    timing: TimingProfile,
    capacity: Option<u64>,
    other_namespace: Option<NamespaceFactory>,
    default_ttl_store: Option<DefaultTtlFactory>,
    kv_value_limit: Option<u64>,
    stored_items: Option<StoredItemsProbe>,
}

/// Makes, on demand, a fresh empty store of the backend under test configured with the
/// given default kv TTL (see [`Ctx::store_with_default_ttl`]); its error is a message.
pub type DefaultTtlFactory =
    Arc<dyn Fn(Duration) -> BoxFuture<'static, Result<Arc<dyn AuthStorage>, String>> + Send + Sync>;

/// Counts the items (tokens, sessions, kv entries) the store under test physically holds,
/// expired ones not yet removed included (see [`Ctx::stored_items`]); its error is a
/// message.
pub type StoredItemsProbe = Arc<dyn Fn() -> BoxFuture<'static, Result<u64, String>> + Send + Sync>;

/// Makes a second store on the same server under another namespace, on demand (see
/// [`Ctx::other_namespace`]); its error is a message.
pub type NamespaceFactory =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn AuthStorage>, String>> + Send + Sync>;

impl Ctx {
    /// A context over `storage`, with the backend's `timing`.
    pub fn new(storage: Arc<dyn AuthStorage>, timing: TimingProfile) -> Self {
        Self {
            storage,
            second: None,
            timing,
            capacity: None,
            other_namespace: None,
            default_ttl_store: None,
            kv_value_limit: None,
            stored_items: None,
        }
    }

    /// This context able to make stores configured with a default kv TTL.
    pub fn with_default_ttl_store(mut self, factory: DefaultTtlFactory) -> Self {
        self.default_ttl_store = Some(factory);
        self
    }

    /// A fresh, empty store of the backend under test whose kv entries stored without a
    /// TTL expire after `default_ttl`; a failure if the backend claimed `default-ttl` but
    /// its fixture provides no such store, or if it cannot be made.
    pub async fn store_with_default_ttl(
        &self,
        default_ttl: Duration,
    ) -> Result<Arc<dyn AuthStorage>, Failure> {
        let factory = self.default_ttl_store.as_ref().ok_or_else(|| {
            Failure::new(
                "the backend claims the default-ttl capability but its fixture provides no \
                 store with a default TTL (Fixture::with_default_ttl_store)",
            )
        })?;
        factory(default_ttl).await.map_err(|err| {
            Failure::new(format!(
                "the store with a default TTL of {default_ttl:?} could not be made: {err}"
            ))
        })
    }

    /// This context declaring the store's documented kv value size limit in bytes.
    pub fn with_kv_value_limit(mut self, bytes: u64) -> Self {
        self.kv_value_limit = Some(bytes);
        self
    }

    /// The declared kv value size limit; a failure if the backend claimed `value-limit`
    /// but its fixture declared none.
    pub fn kv_value_limit(&self) -> Result<u64, Failure> {
        self.kv_value_limit.ok_or_else(|| {
            Failure::new(
                "the backend claims the value-limit capability but its fixture declared no \
                 limit (Fixture::with_kv_value_limit)",
            )
        })
    }

    /// This context able to count what the store physically holds.
    pub fn with_stored_items(mut self, probe: StoredItemsProbe) -> Self {
        self.stored_items = Some(probe);
        self
    }

    /// How many items (tokens, sessions, kv entries) the store physically holds now,
    /// expired ones not yet removed included; a failure if the backend claimed
    /// `introspection` but its fixture provides no probe, or if the probe fails.
    pub async fn stored_items(&self) -> Result<u64, Failure> {
        let probe = self.stored_items.as_ref().ok_or_else(|| {
            Failure::new(
                "the backend claims the introspection capability but its fixture provides \
                 no probe (Fixture::with_stored_items)",
            )
        })?;
        probe()
            .await
            .map_err(|err| Failure::new(format!("the stored-items probe failed: {err}")))
    }

    /// This context able to make a second store under another namespace on the same
    /// server.
    pub fn with_other_namespace(mut self, factory: NamespaceFactory) -> Self {
        self.other_namespace = Some(factory);
        self
    }

    /// A fresh, empty store on the same server as [`storage`](Self::storage) under
    /// another namespace; a failure if the backend claimed `namespaces` but its fixture
    /// provides none, or if it cannot be made.
    pub async fn other_namespace(&self) -> Result<Arc<dyn AuthStorage>, Failure> {
        let factory = self.other_namespace.as_ref().ok_or_else(|| {
            Failure::new(
                "the backend claims the namespaces capability but its fixture provides no \
                 other namespace (Fixture::with_other_namespace)",
            )
        })?;
        factory().await.map_err(|err| {
            Failure::new(format!(
                "the store under another namespace could not be made: {err}"
            ))
        })
    }

    /// This context declaring the store's configured capacity in bytes of live data.
    pub fn with_capacity(mut self, bytes: u64) -> Self {
        self.capacity = Some(bytes);
        self
    }

    /// The declared capacity; a failure if the backend claimed `capacity` but its
    /// fixture declared none.
    pub fn capacity(&self) -> Result<u64, Failure> {
        self.capacity.ok_or_else(|| {
            Failure::new(
                "the backend claims the capacity capability but its fixture declared no \
                 capacity (Fixture::with_capacity)",
            )
        })
    }

    /// This context with a second, independent handle on the same data.
    pub fn with_second_handle(mut self, second: Arc<dyn AuthStorage>) -> Self {
        self.second = Some(second);
        self
    }

    /// The storage under test.
    pub fn storage(&self) -> &Arc<dyn AuthStorage> {
        &self.storage
    }

    /// The second handle on the same data; a failure if the backend claimed
    /// `multi-handle` but its factory provided none.
    pub fn second(&self) -> Result<&Arc<dyn AuthStorage>, Failure> {
        self.second.as_ref().ok_or_else(|| {
            Failure::new(
                "the backend claims the multi-handle capability but its factory provided no \
                 second handle",
            )
        })
    }

    /// Whether a second handle is available.
    pub fn has_second_handle(&self) -> bool {
        self.second.is_some()
    }

    /// The backend's declared timing profile.
    pub fn timing(&self) -> TimingProfile {
        self.timing
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("second_handle", &self.second.is_some())
            .field("timing", &self.timing)
            .field("capacity", &self.capacity)
            .field("other_namespace", &self.other_namespace.is_some())
            .field("default_ttl_store", &self.default_ttl_store.is_some())
            .field("kv_value_limit", &self.kv_value_limit)
            .field("stored_items", &self.stored_items.is_some())
            .finish_non_exhaustive()
    }
}
