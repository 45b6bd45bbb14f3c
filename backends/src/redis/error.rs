//! The one mapping from the Redis client's errors to [`StorageError`] (SPEC.md `ERR-1`).

use ::redis::{ErrorKind, RedisError, ServerErrorKind};
use authstore_spec::StorageError;

/// `err`, met while doing `operation`, as a [`StorageError`]: connection failures,
/// timeouts and transient cluster states (`TRYAGAIN`, `CLUSTERDOWN`, redirections, a
/// master that is down, loading or read-only after a failover) are
/// [`Unavailable`](StorageError::Unavailable), worth retrying; anything else (script
/// errors, wrong types, authentication, a malformed reply) is
/// [`Backend`](StorageError::Backend). The cause is kept as the source.
pub(super) fn storage_error(operation: &str, err: RedisError) -> StorageError {
    if is_unavailable(&err) {
        StorageError::unavailable(format!("Redis unreachable during {operation}: {err}"), err)
    } else {
        StorageError::backend(format!("Redis failed {operation}: {err}"), err)
    }
}

fn is_unavailable(err: &RedisError) -> bool {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_cluster_error()
    {
        return true;
    }
    matches!(
        err.kind(),
        ErrorKind::ClusterConnectionNotFound
            | ErrorKind::Server(
                ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
            )
    )
}

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
        assert_eq!(
            timed_out("get_kv", std::time::Duration::from_secs(1)).kind(),
            Kind::Unavailable
        );
    }
}
