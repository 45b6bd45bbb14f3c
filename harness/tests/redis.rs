//! The whole catalogue against [`RedisStorage`] on a single Redis server
//! (`AUTHSTORE_REDIS_URL`), each scenario under its own key prefix with a second,
//! independent connection as second handle.

use authstore_backends::RedisStorage;
use authstore_conformance::conformance_suite;
use authstore_harness::provision;

conformance_suite!(
    redis,
    async { provision::redis::fixture().await },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        namespaces,
        value_limit,
        default_ttl
    ],
    timing = RedisStorage::TIMING,
);
