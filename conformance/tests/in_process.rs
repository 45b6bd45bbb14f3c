//! The whole catalogue against the in-process reference backends, through
//! `conformance_suite!`, each claiming every capability with a second handle on the same
//! data.

use authstore_backends::{
    EncryptedStorage, EncryptionKey, MemoryStorage, UnifiedStorage, UnifiedStorageConfig,
};
use authstore_conformance::{Fixture, conformance_suite};
use authstore_spec::AuthStorage;

/// A fixture whose second handle is a clone sharing the data.
fn shared<S: AuthStorage + Clone + 'static>(storage: S) -> Fixture {
    let second = storage.clone();
    Fixture::new(storage).with_second_handle(second)
}

/// `inner` encrypted; the second handle is another `EncryptedStorage` over a clone of
/// the same inner store with the same key, as a second application node would be.
fn encrypted<S: AuthStorage + Clone + 'static>(inner: S) -> Fixture {
    let key = EncryptionKey::new(1, [0x5a; 32]);
    let second = EncryptedStorage::new(inner.clone(), key.clone());
    Fixture::new(EncryptedStorage::new(inner, key)).with_second_handle(second)
}

conformance_suite!(
    memory,
    async { shared(MemoryStorage::new()) },
    capabilities = [expiry, concurrency, large_values, multi_handle],
    timing = MemoryStorage::TIMING,
);

/// The capacity `unified` is configured with and declares: large enough for every other
/// scenario (1 MiB values, 10 000 sessions), small enough to churn 32 times over quickly.
const UNIFIED_CAPACITY: usize = 32 << 20;

/// A `UnifiedStorage` bounded to [`UNIFIED_CAPACITY`], declared to the capacity scenarios.
fn bounded_unified() -> Fixture {
    let storage = UnifiedStorage::with_config(UnifiedStorageConfig {
        max_memory: UNIFIED_CAPACITY,
        ..UnifiedStorageConfig::default()
    });
    shared(storage).with_capacity(UNIFIED_CAPACITY as u64)
}

conformance_suite!(
    unified,
    async { bounded_unified() },
    capabilities = [expiry, concurrency, large_values, multi_handle, capacity],
    timing = UnifiedStorage::TIMING,
);

conformance_suite!(
    encrypted_memory,
    async { encrypted(MemoryStorage::new()) },
    capabilities = [expiry, concurrency, large_values, multi_handle],
    timing = MemoryStorage::TIMING,
);

conformance_suite!(
    encrypted_unified,
    async { encrypted(UnifiedStorage::new()) },
    capabilities = [expiry, concurrency, large_values, multi_handle],
    timing = UnifiedStorage::TIMING,
);
