//! The whole catalogue against [`MySqlStorage`] on a real MySQL 8 or MariaDB server:
//! every scenario gets a fresh database on the server named by `AUTHSTORE_MYSQL_URL`
//! (see `authstore_conformance::provision::mysql`), and every test fails, saying how to
//! provide a server, when it is unset or unreachable.

#[cfg(feature = "mysql")]
use authstore_backends::MySqlStorage;
#[cfg(feature = "mysql")]
use authstore_conformance::{conformance_suite, provision};

#[cfg(feature = "mysql")]
conformance_suite!(
    mysql,
    async { provision::mysql::fixture().await },
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
fn mysql_suite_needs_the_mysql_feature() {
    panic!(
        "the MySQL conformance suite needs the `mysql` feature of authstore-conformance; \
         run with default features or `--features mysql`"
    );
}
