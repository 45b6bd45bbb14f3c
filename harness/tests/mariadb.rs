//! The whole catalogue against [`MySqlStorage`] on a MariaDB server: every scenario gets a
//! fresh database on the server from `AUTHSTORE_MARIADB_URL`, or when it is unset on a
//! MariaDB container (`AUTHSTORE_MARIADB_IMAGE`, default the official image; see
//! `authstore_harness::provision`).

use authstore_backends::MySqlStorage;
use authstore_conformance::conformance_suite;
use authstore_harness::provision;

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
