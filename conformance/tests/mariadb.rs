//! The whole catalogue against [`MySqlStorage`] on a MariaDB server: every scenario gets a
//! fresh database on the server from `AUTHSTORE_MARIADB_URL`, or when it is unset on a
//! MariaDB container (`AUTHSTORE_MARIADB_IMAGE`, default the official image; see
//! `authstore_conformance::provision`).

#[cfg(feature = "mysql")]
use authstore_backends::MySqlStorage;
#[cfg(feature = "mysql")]
use authstore_conformance::{conformance_suite, provision};

#[cfg(feature = "mysql")]
conformance_suite!(
    mariadb,
    async { provision::mysql::mariadb_fixture().await },
    capabilities = [
        expiry,
        concurrency,
        large_values,
        multi_handle,
        namespaces,
        introspection
    ],
    timing = MySqlStorage::TIMING,
);

/// Without the `mysql` feature (on by default through `cli`) there is no provisioning:
/// fail and say so rather than run nothing.
#[cfg(not(feature = "mysql"))]
#[test]
fn mariadb_suite_needs_the_mysql_feature() {
    panic!(
        "the MariaDB conformance suite needs the `mysql` feature of authstore-conformance; \
         run with default features or `--features mysql`"
    );
}
