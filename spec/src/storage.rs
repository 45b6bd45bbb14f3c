//! The [`AuthStorage`] trait and its forwarding impls for smart pointers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::session::SessionData;
use crate::token::AuthToken;

/// The names of the [`AuthStorage`] methods, in declaration order: the operation names
/// that tools iterating over the whole trait (benchmarks, fault runners, reports) share.
pub const METHOD_NAMES: [&str; 16] = [
    "store_token",
    "get_token",
    "get_token_by_access_token",
    "update_token",
    "delete_token",
    "list_user_tokens",
    "store_session",
    "get_session",
    "delete_session",
    "list_user_sessions",
    "count_active_sessions",
    "store_kv",
    "get_kv",
    "delete_kv",
    "list_kv_keys",
    "cleanup_expired",
];

/// Async storage for tokens, sessions and key-value entries with TTL.
///
/// # Contract
/// SPEC.md is the contract; the clause ids next to each method are the ones that govern
/// it. In short, for every method:
/// - Expired items (`now >= expires_at`) are invisible to every read, whether or not
///   [`cleanup_expired`](Self::cleanup_expired) has run (`TIME-1`, `TIME-2`).
/// - Ids are non-empty UTF-8 of at most 255 bytes, keys at most 512 bytes, neither with
///   NUL; anything else is [`InvalidInput`](crate::StorageError::InvalidInput) and stores
///   nothing (`VAL-*`).
/// - Each call is atomic; concurrent writers leave one whole version and no dangling
///   index entry (`CON-*`).
/// - No input makes a backend panic or hang; server failures are
///   [`Unavailable`](crate::StorageError::Unavailable) or
///   [`Backend`](crate::StorageError::Backend) (`GEN-*`, `ERR-1`).
#[async_trait]
pub trait AuthStorage: Send + Sync {
    /// Inserts or wholly replaces the token with `token.token_id`
    /// (`TOK-1`..`TOK-5`, `ACC-2`). Fails with `Conflict` if another live token holds
    /// `token.access_token`.
    async fn store_token(&self, token: &AuthToken) -> Result<()>;

    /// The live token with this id, or `None` (`TOK-8`).
    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>>;

    /// The live token whose current access token is exactly `access_token`, or `None`
    /// (`ACC-1`, `ACC-4`, `ACC-6`).
    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>>;

    /// Replaces a live token; `NotFound` if there is none with that id (`TOK-6`, `TOK-7`).
    async fn update_token(&self, token: &AuthToken) -> Result<()>;

    /// Removes the token and every index entry pointing to it; absent is `Ok` (`TOK-9`).
    async fn delete_token(&self, token_id: &str) -> Result<()>;

    /// Exactly the user's live tokens, each once, in no set order (`TOK-10`).
    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>>;

    /// Inserts or wholly replaces a session; `session_id` must equal `data.session_id`
    /// (`SES-1`, `SES-2`, `SES-6`).
    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()>;

    /// The live session with this id, or `None` (`SES-3`).
    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>>;

    /// Removes the session and its index entries; absent is `Ok` (`SES-4`).
    async fn delete_session(&self, session_id: &str) -> Result<()>;

    /// Exactly the user's live sessions, each once, in no set order (`SES-5`).
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>>;

    /// The exact number of live sessions of all users (`CNT-1`, `CNT-2`).
    async fn count_active_sessions(&self) -> Result<u64>;

    /// Inserts or replaces a value; `ttl` as in `TTL-1`..`TTL-5` (`None`: no expiry unless
    /// the backend has a documented default TTL; `ZERO`: already expired; 100 years or
    /// more: no expiry).
    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()>;

    /// The live value under `key`, byte for byte, or `None` (`KV-2`, `KV-3`).
    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Removes the value; absent is `Ok` (`KV-4`).
    async fn delete_kv(&self, key: &str) -> Result<()>;

    /// Every live key starting with `prefix` (byte-wise, literal), in full, each once, in
    /// ascending byte order (`LST-1`..`LST-8`).
    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>>;

    /// Removes expired items and their index entries, nothing live; idempotent (`CLN-*`).
    async fn cleanup_expired(&self) -> Result<()>;
}

/// Forwards every method to `**self`, for smart pointers over storages.
macro_rules! forward_auth_storage {
    ($($pointer:ty),+ $(,)?) => {$(
        #[async_trait]
        impl<S: AuthStorage + ?Sized> AuthStorage for $pointer {
            async fn store_token(&self, token: &AuthToken) -> Result<()> {
                (**self).store_token(token).await
            }
            async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
                (**self).get_token(token_id).await
            }
            async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
                (**self).get_token_by_access_token(access_token).await
            }
            async fn update_token(&self, token: &AuthToken) -> Result<()> {
                (**self).update_token(token).await
            }
            async fn delete_token(&self, token_id: &str) -> Result<()> {
                (**self).delete_token(token_id).await
            }
            async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
                (**self).list_user_tokens(user_id).await
            }
            async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
                (**self).store_session(session_id, data).await
            }
            async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
                (**self).get_session(session_id).await
            }
            async fn delete_session(&self, session_id: &str) -> Result<()> {
                (**self).delete_session(session_id).await
            }
            async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
                (**self).list_user_sessions(user_id).await
            }
            async fn count_active_sessions(&self) -> Result<u64> {
                (**self).count_active_sessions().await
            }
            async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
                (**self).store_kv(key, value, ttl).await
            }
            async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
                (**self).get_kv(key).await
            }
            async fn delete_kv(&self, key: &str) -> Result<()> {
                (**self).delete_kv(key).await
            }
            async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
                (**self).list_kv_keys(prefix).await
            }
            async fn cleanup_expired(&self) -> Result<()> {
                (**self).cleanup_expired().await
            }
        }
    )+};
}

forward_auth_storage!(Arc<S>, Box<S>, &S);
