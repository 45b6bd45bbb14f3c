//! The one error type every backend returns.

use std::error::Error as StdError;

/// A boxed error kept as the cause of a [`StorageError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The result type of every [`AuthStorage`](crate::AuthStorage) method.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What went wrong in a storage operation.
///
/// Each variant says what the caller can do about it: fix the input
/// ([`InvalidInput`](Self::InvalidInput)), look elsewhere ([`NotFound`](Self::NotFound)),
/// resolve a clash ([`Conflict`](Self::Conflict)), free space
/// ([`CapacityExceeded`](Self::CapacityExceeded)), suspect tampering or a wrong key
/// ([`Integrity`](Self::Integrity)), retry later ([`Unavailable`](Self::Unavailable)),
/// or read the server's own error ([`Backend`](Self::Backend)). SPEC.md clause `ERR-1`
/// says which variant each situation uses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An argument breaks the specification's input rules (empty or over-long id,
    /// NUL byte, mismatched session id, timestamp out of range); nothing was stored.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The operation needs an item that does not exist or has expired.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write would break a uniqueness rule (e.g. an access token held by another
    /// live token); nothing was changed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend's configured capacity would be exceeded; nothing was changed.
    #[error("capacity exceeded: {0}")]
    CapacityExceeded(String),
    /// A record could not be encoded or decoded.
    #[error("serialization failed: {message}")]
    Serialization {
        /// What was being encoded or decoded.
        message: String,
        /// The underlying encoder error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Stored data failed an integrity check (decryption or authentication failed,
    /// a ciphertext bound to another record, an unknown key id).
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// The backend could not be reached in time (connection refused or lost, pool or
    /// command timeout); the operation may be retried.
    #[error("backend unavailable: {message}")]
    Unavailable {
        /// What could not be reached and what to check.
        message: String,
        /// The underlying client error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other error reported by the backend's server or client library.
    #[error("backend error: {message}")]
    Backend {
        /// What the backend was doing.
        message: String,
        /// The underlying client error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// The variant of a [`StorageError`] without its payload, for matching and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`StorageError::InvalidInput`].
    InvalidInput,
    /// See [`StorageError::NotFound`].
    NotFound,
    /// See [`StorageError::Conflict`].
    Conflict,
    /// See [`StorageError::CapacityExceeded`].
    CapacityExceeded,
    /// See [`StorageError::Serialization`].
    Serialization,
    /// See [`StorageError::Integrity`].
    Integrity,
    /// See [`StorageError::Unavailable`].
    Unavailable,
    /// See [`StorageError::Backend`].
    Backend,
}

impl StorageError {
    /// The variant of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::CapacityExceeded(_) => ErrorKind::CapacityExceeded,
            Self::Serialization { .. } => ErrorKind::Serialization,
            Self::Integrity(_) => ErrorKind::Integrity,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
            Self::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// A [`StorageError::Serialization`] with its cause.
    pub fn serialization(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Serialization {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`StorageError::Unavailable`] with its cause.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`StorageError::Backend`] with its cause.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(err: serde_json::Error) -> Self {
        Self::serialization("JSON encoding of a record", err)
    }
}
