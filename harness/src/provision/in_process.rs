//! Fixtures of the in-process reference backends, as the CLI and this crate's tests run
//! them: a second handle sharing the data, and every capability they can back — a store
//! with a short default TTL on demand, the documented value limit, a stored-items probe,
//! and for `unified` a declared capacity.

use std::time::Duration;

use authstore_backends::{
    EncryptedStorage, EncryptionKey, InMemoryConfig, MemoryStorage, UnifiedStorage,
    UnifiedStorageConfig,
};
use authstore_spec::{AuthStorage, Capabilities, Capability};

use authstore_conformance::Fixture;

/// What `memory` claims: everything but a capacity and namespaces.
pub const MEMORY_CAPABILITIES: Capabilities = Capabilities::ALL
    .with(Capability::DefaultTtl)
    .with(Capability::ValueLimit)
    .with(Capability::Introspection);

/// What `encrypted_memory` claims: as `memory`, without the value limit: sealing and
/// opening 64 MiB values in an unoptimised test build takes minutes (the cipher is
/// instantiated in `authstore-backends`), so the limit is declared but not claimed.
pub const ENCRYPTED_MEMORY_CAPABILITIES: Capabilities =
    MEMORY_CAPABILITIES.without(Capability::ValueLimit);

/// What `unified` claims: everything but a value limit (it has none of its own) and
/// namespaces.
pub const UNIFIED_CAPABILITIES: Capabilities = Capabilities::ALL
    .with(Capability::Capacity)
    .with(Capability::DefaultTtl)
    .with(Capability::Introspection);

/// What `encrypted_unified` claims: as `unified`, without the capacity (the envelope
/// changes what each item is charged).
pub const ENCRYPTED_UNIFIED_CAPABILITIES: Capabilities = Capabilities::ALL
    .with(Capability::DefaultTtl)
    .with(Capability::Introspection);

/// The capacity the `unified` fixture is configured with and declares: room for every
/// other scenario (1 MiB values, 10 000 sessions), small enough to churn 32 times over
/// quickly.
pub const UNIFIED_CAPACITY: usize = 32 << 20;

/// How often the short-default-TTL stores clean up in the background: often, so that a
/// builder dropping an earlier setting shows.
const CLEANUP_INTERVAL: Duration = Duration::from_millis(50);

/// A fresh [`MemoryStorage`] with its default settings.
pub fn memory() -> Fixture {
    let storage = MemoryStorage::new();
    let probe = storage.clone();
    shared(storage)
        .with_kv_value_limit(MemoryStorage::MAX_VALUE_BYTES as u64)
        .with_stored_items(move || {
            let count = probe.stored_items() as u64;
            async move { Ok(count) }
        })
        .with_default_ttl_store(|ttl| async move { Ok(Fixture::new(memory_with_default_ttl(ttl))) })
}

/// A `MemoryStorage` whose kv default TTL is `ttl`: set before the cleanup interval, so
/// a builder step that loses earlier settings cannot pass.
fn memory_with_default_ttl(ttl: Duration) -> MemoryStorage {
    InMemoryConfig::new()
        .with_default_ttl(ttl)
        .with_cleanup_interval(CLEANUP_INTERVAL)
        .build()
}

/// A fresh [`UnifiedStorage`] bounded to [`UNIFIED_CAPACITY`], declared.
pub fn unified() -> Fixture {
    let storage = UnifiedStorage::with_config(UnifiedStorageConfig {
        max_memory: UNIFIED_CAPACITY,
        ..UnifiedStorageConfig::default()
    });
    let probe = storage.clone();
    shared(storage)
        .with_capacity(UNIFIED_CAPACITY as u64)
        .with_stored_items(move || {
            let count = probe.get_stats().entries as u64;
            async move { Ok(count) }
        })
        .with_default_ttl_store(
            |ttl| async move { Ok(Fixture::new(unified_with_default_ttl(ttl))) },
        )
}

fn unified_with_default_ttl(ttl: Duration) -> UnifiedStorage {
    UnifiedStorage::with_config(UnifiedStorageConfig {
        default_ttl: ttl,
        cleanup_interval: CLEANUP_INTERVAL,
        ..UnifiedStorageConfig::default()
    })
}

/// [`EncryptedStorage`] over a fresh [`MemoryStorage`]; its value limit is the inner
/// one's minus the envelope.
pub fn encrypted_memory() -> Result<Fixture, String> {
    let inner = MemoryStorage::new();
    let probe = inner.clone();
    Ok(encrypted(inner)?
        .with_kv_value_limit(
            (MemoryStorage::MAX_VALUE_BYTES - EncryptedStorage::<MemoryStorage>::KV_VALUE_OVERHEAD)
                as u64,
        )
        .with_stored_items(move || {
            let count = probe.stored_items() as u64;
            async move { Ok(count) }
        })
        .with_default_ttl_store(|ttl| async move {
            let inner = memory_with_default_ttl(ttl);
            Ok(Fixture::new(EncryptedStorage::new(inner, key()?)))
        }))
}

/// [`EncryptedStorage`] over a fresh, unbounded [`UnifiedStorage`].
pub fn encrypted_unified() -> Result<Fixture, String> {
    let inner = UnifiedStorage::new();
    let probe = inner.clone();
    Ok(encrypted(inner)?
        .with_stored_items(move || {
            let count = probe.get_stats().entries as u64;
            async move { Ok(count) }
        })
        .with_default_ttl_store(|ttl| async move {
            let inner = unified_with_default_ttl(ttl);
            Ok(Fixture::new(EncryptedStorage::new(inner, key()?)))
        }))
}

/// A fixture whose second handle is a clone sharing the data.
fn shared<S: AuthStorage + Clone + 'static>(storage: S) -> Fixture {
    let second = storage.clone();
    Fixture::new(storage).with_second_handle(second)
}

/// A fresh random key.
fn key() -> Result<EncryptionKey, String> {
    EncryptionKey::generate(1).map_err(|err| format!("cannot generate a key: {err}"))
}

/// `inner` wrapped with a fresh random key; the second handle wraps a clone of `inner`
/// with the same key, as a second application node would be configured.
fn encrypted<S: AuthStorage + Clone + 'static>(inner: S) -> Result<Fixture, String> {
    let key = key()?;
    let second = EncryptedStorage::new(inner.clone(), key.clone());
    Ok(Fixture::new(EncryptedStorage::new(inner, key)).with_second_handle(second))
}
