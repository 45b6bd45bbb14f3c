//! The whole catalogue against the in-process reference backends, through
//! `conformance_suite!`, with the fixtures the CLI uses (`provision::in_process`): a
//! second handle on the same data, a store with a short default TTL on demand, a
//! stored-items probe, the documented value limit where there is one, and for `unified`
//! a declared capacity.

use authstore_backends::{MemoryStorage, UnifiedStorage};
use authstore_conformance::conformance_suite;
use authstore_harness::provision::in_process;

conformance_suite!(
    memory,
    async { in_process::memory() },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        default_ttl,
        value_limit,
        introspection
    ],
    timing = MemoryStorage::TIMING,
);

conformance_suite!(
    unified,
    async { in_process::unified() },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        capacity,
        default_ttl,
        introspection
    ],
    timing = UnifiedStorage::TIMING,
);

conformance_suite!(
    encrypted_memory,
    async { in_process::encrypted_memory() },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        default_ttl,
        introspection
    ],
    timing = MemoryStorage::TIMING,
);

conformance_suite!(
    encrypted_unified,
    async { in_process::encrypted_unified() },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        default_ttl,
        introspection
    ],
    timing = UnifiedStorage::TIMING,
);
