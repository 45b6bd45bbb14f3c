//! `MemoryStorage`, `DashMapMemoryStorage` and `EncryptedStorage` over memory: the
//! backends that need no feature and no server.

use std::collections::HashMap;
use std::sync::Arc;

use auth_framework::errors::Result as TheirResult;
use auth_framework::storage::MemoryStorage;
use auth_framework::storage::dashmap_memory::DashMapMemoryStorage;
use auth_framework::storage::encryption::{KeyProvider, LoadedKeys};
use auth_framework::storage::{EncryptedStorage, StorageEncryption};
use authstore_conformance::{BackendUnderTest, Fixture};
use authstore_spec::{Capabilities, Capability, TimingProfile};

use crate::AuthFrameworkCompat;

/// `MemoryStorage::new()`: multi-handle through a shared `Arc` (their `Clone` deep-copies
/// the maps, so it is not a second handle). Its maps are private: no introspection.
pub fn memory() -> BackendUnderTest {
    BackendUnderTest::new("memory", || async {
        let store = AuthFrameworkCompat::new(MemoryStorage::new());
        Fixture::new(store.clone()).with_second_handle(store)
    })
    .with_capabilities(Capabilities::CORE.with(Capability::MultiHandle))
    .with_timing(TimingProfile::IN_PROCESS)
}

/// `DashMapMemoryStorage::new()`: multi-handle through a shared `Arc`, introspection
/// from `get_storage_statistics` (tokens + sessions + kv pairs, expired ones included),
/// and a default TTL from `DashMapMemoryStorage::with_ttl`, its documented way to set one.
pub fn dashmap_memory() -> BackendUnderTest {
    BackendUnderTest::new("dashmap-memory", || async {
        dashmap_fixture(DashMapMemoryStorage::new()).with_default_ttl_store(|ttl| async move {
            Ok(dashmap_fixture(DashMapMemoryStorage::with_ttl(ttl)))
        })
    })
    .with_capabilities(
        Capabilities::CORE
            .with(Capability::MultiHandle)
            .with(Capability::Introspection)
            .with(Capability::DefaultTtl),
    )
    .with_timing(TimingProfile::IN_PROCESS)
}

fn dashmap_fixture(store: DashMapMemoryStorage) -> Fixture {
    let store = AuthFrameworkCompat::new(store);
    let probe = Arc::clone(store.inner());
    Fixture::new(store.clone())
        .with_second_handle(store)
        .with_stored_items(move || {
            let stats = probe.get_storage_statistics();
            let count = ["total_tokens", "total_sessions", "total_kv_pairs"]
                .iter()
                .map(|name| stats.get(*name).and_then(serde_json::Value::as_u64))
                .try_fold(0u64, |sum, n| n.map(|n| sum + n));
            async move { count.ok_or_else(|| "get_storage_statistics lacks a count".to_owned()) }
        })
}

/// `EncryptedStorage::new(MemoryStorage::new(), key, false, false)`: their encryption
/// wrapper as documented for production (no plaintext reads, no legacy envelopes), with
/// a fixed test key. It encrypts kv values only.
pub fn encrypted_memory() -> BackendUnderTest {
    BackendUnderTest::new("encrypted-memory", || async {
        let encryption = StorageEncryption::new(&TestKey).map_err(|e| e.to_string())?;
        let store = AuthFrameworkCompat::new(EncryptedStorage::new(
            MemoryStorage::new(),
            encryption,
            false,
            false,
        ));
        Ok::<_, String>(Fixture::new(store.clone()).with_second_handle(store))
    })
    .with_capabilities(Capabilities::CORE.with(Capability::MultiHandle))
    .with_timing(TimingProfile::IN_PROCESS)
}

/// One fixed 32-byte key, id `compat-1`: a test fixture, not a secret.
struct TestKey;

impl KeyProvider for TestKey {
    fn load_keys(&self) -> TheirResult<LoadedKeys> {
        Ok(LoadedKeys {
            current_key_id: "compat-1".to_owned(),
            keys: HashMap::from([("compat-1".to_owned(), [0x5a; 32])]),
        })
    }
}
