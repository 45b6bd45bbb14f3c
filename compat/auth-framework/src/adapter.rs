//! [`AuthFrameworkCompat`]: any auth-framework storage seen through authstore's trait.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use auth_framework::storage::AuthStorage as TheirStorage;
use authstore_spec::{AuthStorage, AuthToken, Result, SessionData, async_trait};

use crate::errors::to_ours;
use crate::mapping::{session_from_theirs, session_to_theirs, token_from_theirs, token_to_theirs};

/// An `auth_framework::storage::AuthStorage` implementing `authstore_spec::AuthStorage`.
///
/// Faithful: each of our methods calls the one method of theirs with the same name, once,
/// with the records mapped field by field ([`mapping`](crate::mapping)) and the error
/// mapped to a kind ([`errors`](crate::errors)). It validates nothing, filters nothing,
/// sorts nothing and retries nothing, so what the conformance catalogue finds is what
/// their backend does. Their extra methods (`*_bulk`, `store_kv_if_absent`, `swap_kv`,
/// `get_kv_ttl`) are never called.
///
/// It holds the store in an `Arc`, so two adapters can share one store (a second handle,
/// `Capability::MultiHandle`) and a fixture can keep the raw store for introspection.
pub struct AuthFrameworkCompat<S: ?Sized> {
    inner: Arc<S>,
}

impl<S> AuthFrameworkCompat<S> {
    /// The adapter over `store`.
    pub fn new(store: S) -> Self {
        Self {
            inner: Arc::new(store),
        }
    }
}

impl<S: ?Sized> AuthFrameworkCompat<S> {
    /// The adapter over a shared store (e.g. an `Arc<dyn AuthStorage>` of theirs).
    pub fn from_arc(inner: Arc<S>) -> Self {
        Self { inner }
    }

    /// Their store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

impl<S: ?Sized> Clone for AuthFrameworkCompat<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: ?Sized> fmt::Debug for AuthFrameworkCompat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFrameworkCompat")
            .field("inner", &std::any::type_name::<S>())
            .finish()
    }
}

#[async_trait]
impl<S: TheirStorage + ?Sized + 'static> AuthStorage for AuthFrameworkCompat<S> {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        (*self.inner)
            .store_token(&token_to_theirs(token))
            .await
            .map_err(|e| to_ours("store_token", e))
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        (*self.inner)
            .get_token(token_id)
            .await
            .map(|found| found.map(token_from_theirs))
            .map_err(|e| to_ours("get_token", e))
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        (*self.inner)
            .get_token_by_access_token(access_token)
            .await
            .map(|found| found.map(token_from_theirs))
            .map_err(|e| to_ours("get_token_by_access_token", e))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        (*self.inner)
            .update_token(&token_to_theirs(token))
            .await
            .map_err(|e| to_ours("update_token", e))
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        (*self.inner)
            .delete_token(token_id)
            .await
            .map_err(|e| to_ours("delete_token", e))
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        (*self.inner)
            .list_user_tokens(user_id)
            .await
            .map(|tokens| tokens.into_iter().map(token_from_theirs).collect())
            .map_err(|e| to_ours("list_user_tokens", e))
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        (*self.inner)
            .store_session(session_id, &session_to_theirs(data))
            .await
            .map_err(|e| to_ours("store_session", e))
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        (*self.inner)
            .get_session(session_id)
            .await
            .map(|found| found.map(session_from_theirs))
            .map_err(|e| to_ours("get_session", e))
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        (*self.inner)
            .delete_session(session_id)
            .await
            .map_err(|e| to_ours("delete_session", e))
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        (*self.inner)
            .list_user_sessions(user_id)
            .await
            .map(|sessions| sessions.into_iter().map(session_from_theirs).collect())
            .map_err(|e| to_ours("list_user_sessions", e))
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        (*self.inner)
            .count_active_sessions()
            .await
            .map_err(|e| to_ours("count_active_sessions", e))
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        (*self.inner)
            .store_kv(key, value, ttl)
            .await
            .map_err(|e| to_ours("store_kv", e))
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        (*self.inner)
            .get_kv(key)
            .await
            .map_err(|e| to_ours("get_kv", e))
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        (*self.inner)
            .delete_kv(key)
            .await
            .map_err(|e| to_ours("delete_kv", e))
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        (*self.inner)
            .list_kv_keys(prefix)
            .await
            .map_err(|e| to_ours("list_kv_keys", e))
    }

    async fn cleanup_expired(&self) -> Result<()> {
        (*self.inner)
            .cleanup_expired()
            .await
            .map_err(|e| to_ours("cleanup_expired", e))
    }
}
