//! The whole catalogue against [`MySqlStorage`] on a real MySQL 8 or MariaDB server:
//! every scenario gets a fresh database on the server named by `AUTHSTORE_MYSQL_URL`
//! (see `authstore_harness::provision::mysql`), and every test fails, saying how to
//! provide a server, when it is unset or unreachable.

use authstore_backends::MySqlStorage;
use authstore_conformance::conformance_suite;
use authstore_harness::provision;

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
