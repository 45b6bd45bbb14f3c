//! The one line an auth-framework user writes (the last line of this file), run on a
//! backend of theirs defined here, outside the crate: `CustomStore` implements
//! `auth_framework::storage::AuthStorage` over authstore's in-memory reference backend,
//! which meets the whole catalogue. So every scenario passes unless the adapter breaks
//! something on the way (a field lost in the mapping, an error given the wrong kind):
//! each record crosses the mapping twice, ours to theirs in the adapter and back here.

use std::time::Duration;

use async_trait::async_trait;
use auth_framework::errors::{AuthError, Result, StorageError as TheirStorageError, TokenError};
use auth_framework::storage::{AuthStorage, SessionData};
use auth_framework::tokens::AuthToken;
use authstore_compat_auth_framework::mapping::{
    session_from_theirs, session_to_theirs, token_from_theirs, token_to_theirs,
};
use authstore_spec::{AuthStorage as _, ErrorKind};

/// A user's backend: any type implementing their trait.
struct CustomStore(authstore_backends::MemoryStorage);

impl CustomStore {
    fn new() -> Self {
        Self(authstore_backends::MemoryStorage::new())
    }
}

/// Their error for one of ours, as a backend of theirs can say it: their error type has
/// `InvalidInput` and `TokenError::NotFound`; a uniqueness clash can only be told by
/// its text (as their SQLite backend's "UNIQUE constraint failed").
fn theirs(err: authstore_spec::StorageError) -> AuthError {
    let message = err.to_string();
    match err.kind() {
        ErrorKind::InvalidInput => AuthError::InvalidInput(message),
        ErrorKind::NotFound => AuthError::Token(TokenError::NotFound),
        ErrorKind::Conflict => AuthError::Storage(TheirStorageError::operation_failed(format!(
            "UNIQUE constraint failed: {message}"
        ))),
        ErrorKind::Serialization => {
            AuthError::Storage(TheirStorageError::Serialization { message })
        }
        ErrorKind::Unavailable => AuthError::Storage(TheirStorageError::BackendUnavailable),
        _ => AuthError::Storage(TheirStorageError::operation_failed(message)),
    }
}

#[async_trait]
impl AuthStorage for CustomStore {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        self.0
            .store_token(&token_from_theirs(token.clone()))
            .await
            .map_err(theirs)
    }
    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        let found = self.0.get_token(token_id).await.map_err(theirs)?;
        Ok(found.as_ref().map(token_to_theirs))
    }
    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        let found = self
            .0
            .get_token_by_access_token(access_token)
            .await
            .map_err(theirs)?;
        Ok(found.as_ref().map(token_to_theirs))
    }
    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        self.0
            .update_token(&token_from_theirs(token.clone()))
            .await
            .map_err(theirs)
    }
    async fn delete_token(&self, token_id: &str) -> Result<()> {
        self.0.delete_token(token_id).await.map_err(theirs)
    }
    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        let found = self.0.list_user_tokens(user_id).await.map_err(theirs)?;
        Ok(found.iter().map(token_to_theirs).collect())
    }
    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        let ours = session_from_theirs(data.clone());
        self.0
            .store_session(session_id, &ours)
            .await
            .map_err(theirs)
    }
    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        let found = self.0.get_session(session_id).await.map_err(theirs)?;
        Ok(found.as_ref().map(session_to_theirs))
    }
    async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.0.delete_session(session_id).await.map_err(theirs)
    }
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        let found = self.0.list_user_sessions(user_id).await.map_err(theirs)?;
        Ok(found.iter().map(session_to_theirs).collect())
    }
    async fn count_active_sessions(&self) -> Result<u64> {
        self.0.count_active_sessions().await.map_err(theirs)
    }
    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.0.store_kv(key, value, ttl).await.map_err(theirs)
    }
    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.0.get_kv(key).await.map_err(theirs)
    }
    async fn delete_kv(&self, key: &str) -> Result<()> {
        self.0.delete_kv(key).await.map_err(theirs)
    }
    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.0.list_kv_keys(prefix).await.map_err(theirs)
    }
    async fn cleanup_expired(&self) -> Result<()> {
        self.0.cleanup_expired().await.map_err(theirs)
    }
}

authstore_compat_auth_framework::auth_framework_suite!(custom_backend, async {
    CustomStore::new()
});
