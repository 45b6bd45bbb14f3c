//! The one mapping from the Redis client's errors to [`StorageError`] (SPEC.md `ERR-1`).

use ::redis::{ErrorKind, RedisError};
use authstore_spec::StorageError;

/// `err`, met while doing `operation`, as a [`StorageError`]: connection failures,
/// timeouts, a server busy running another script (`BUSY`) and transient cluster states
/// (`TRYAGAIN`, `CLUSTERDOWN`, redirections, a master that is down, loading or read-only
/// after a failover) are
/// [`Unavailable`](StorageError::Unavailable), worth retrying; `OOM` (the server's
/// `maxmemory` reached) is [`CapacityExceeded`](StorageError::CapacityExceeded); anything
/// else (script
/// errors, wrong types, authentication, a malformed reply) is
/// [`Backend`](StorageError::Backend). The cause is kept as the source.
pub(super) fn storage_error(operation: &str, err: RedisError) -> StorageError {
    if err.code() == Some("OOM") {
        // `maxmemory` reached: a configured limit, and nothing was written (the scripts'
        // shebang makes Redis refuse them before they start).
        return StorageError::CapacityExceeded(format!(
            "Redis refused {operation}: its maxmemory limit is reached ({err})"
        ));
    }
    if is_unavailable(&err) {
        StorageError::unavailable(format!("Redis unreachable during {operation}: {err}"), err)
    } else {
        StorageError::backend(format!("Redis failed {operation}: {err}"), err)
    }
}

fn is_unavailable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_cluster_error()
        || err.kind() == ErrorKind::ClusterConnectionNotFound
        // By code, whether the client parsed the reply into a known kind or not.
        || err.code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
}

/// Server error codes of states that pass: a server busy with a long script, a cluster
/// reconfiguring or failing over, a server loading its data, a former master that is
/// now a read-only replica.
const TRANSIENT_CODES: [&str; 8] = [
    "BUSY",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "LOADING",
    "READONLY",
    "MOVED",
    "ASK",
];

/// The error of an operation that got no reply within the storage's operation timeout
/// (SPEC.md `GEN-2`). The command may still have run on the server.
pub(super) fn timed_out(operation: &str, timeout: std::time::Duration) -> StorageError {
    StorageError::Unavailable {
        message: format!(
            "Redis did not answer {operation} within the operation timeout of {timeout:?} \
             (the command may still have run)"
        ),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authstore_spec::ErrorKind as Kind;

    #[test]
    fn maps_by_cause() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(storage_error("get_kv", refused).kind(), Kind::Unavailable);
        let script = RedisError::from((ErrorKind::Client, "user_script:1: boom"));
        assert_eq!(storage_error("store_kv", script).kind(), Kind::Backend);
        let full = ::redis::make_extension_error("OOM".into(), Some("used memory".into()));
        assert_eq!(
            storage_error("store_kv", full).kind(),
            Kind::CapacityExceeded
        );
        for code in [
            "BUSY",
            "LOADING",
            "MASTERDOWN",
            "TRYAGAIN",
            "CLUSTERDOWN",
            "READONLY",
        ] {
            let transient = ::redis::make_extension_error(code.into(), Some("detail".into()));
            assert_eq!(
                storage_error("get_kv", transient).kind(),
                Kind::Unavailable,
                "{code}"
            );
        }
        let unknown = ::redis::make_extension_error("WRONGTYPE".into(), None);
        assert_eq!(storage_error("get_kv", unknown).kind(), Kind::Backend);
        assert_eq!(
            timed_out("get_kv", std::time::Duration::from_secs(1)).kind(),
            Kind::Unavailable
        );
    }
}
