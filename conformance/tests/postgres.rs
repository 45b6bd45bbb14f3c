//! The whole catalogue against [`PostgresStorage`] on a real server: every scenario gets
//! a fresh schema on the server named by `AUTHSTORE_POSTGRES_URL` (see
//! `authstore_conformance::provision::postgres`), and every test fails, saying how to
//! provide a server, when it is unset or unreachable.

#[cfg(feature = "postgres")]
use authstore_backends::PostgresStorage;
#[cfg(feature = "postgres")]
use authstore_conformance::{conformance_suite, provision};

#[cfg(feature = "postgres")]
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

/// Without the `postgres` feature (on by default through `cli`) there is no provisioning:
/// fail and say so rather than run nothing.
#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_suite_needs_the_postgres_feature() {
    panic!(
        "the PostgreSQL conformance suite needs the `postgres` feature of \
         authstore-conformance; run with default features or `--features postgres`"
    );
}
