//! The whole catalogue against [`RedisStorage`] on a Redis Cluster
//! (`AUTHSTORE_REDIS_CLUSTER_URLS`), each scenario under its own key prefix (and so its
//! own hash slot) with a second, independent cluster connection as second handle.

use authstore_backends::RedisStorage;
use authstore_conformance::conformance_suite;
use authstore_harness::provision;

conformance_suite!(
    redis_cluster,
    async { provision::redis::cluster_fixture().await },
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
