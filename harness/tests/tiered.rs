//! The whole catalogue against [`TieredStorage`] (Redis cache over PostgreSQL): every
//! scenario gets a fresh PostgreSQL schema (`AUTHSTORE_POSTGRES_URL`) and a fresh Redis
//! prefix (`AUTHSTORE_REDIS_URL`), and the second handle is a second node built
//! independently over both, so the multi-handle scenarios test cross-node coherence.

use authstore_backends::TieredStorage;
use authstore_conformance::conformance_suite;
use authstore_harness::provision;

conformance_suite!(
    tiered,
    async { provision::tiered::fixture().await },
    capabilities = [expiry, concurrency, large_values, multi_handle, namespaces],
    timing = TieredStorage::TIMING,
);

conformance_suite!(
    tiered_native,
    async { provision::tiered::native_fixture().await },
    capabilities = [expiry, concurrency, large_values, multi_handle, namespaces],
    timing = TieredStorage::TIMING,
);
