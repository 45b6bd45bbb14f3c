//! The whole catalogue against [`PostgresStorage`] on a real server, on both of its
//! clients (`postgres`: the sqlx pool of `PostgresStorage::new`; `postgres_native`:
//! the tokio-postgres pool of `PostgresStorage::connect_with`): every scenario gets
//! a fresh schema on the server named by `AUTHSTORE_POSTGRES_URL` (see
//! `authstore_harness::provision::postgres`), and every test fails, saying how to
//! provide a server, when it is unset or unreachable.

use authstore_backends::PostgresStorage;
use authstore_conformance::conformance_suite;
use authstore_harness::provision;

conformance_suite!(
    postgres,
    async { provision::postgres::fixture().await },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        namespaces,
        value_limit,
        introspection
    ],
    timing = PostgresStorage::TIMING,
);

conformance_suite!(
    postgres_native,
    async { provision::postgres::native_fixture().await },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        namespaces,
        value_limit,
        introspection
    ],
    timing = PostgresStorage::TIMING,
);
