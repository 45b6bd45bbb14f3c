//! [`PanicWitness`]: which [`AuthStorage`] methods a panic came out of, so that a `GEN-1`
//! failure names the method rather than only the panic's payload.
//!
//! The runner hands scenarios the backend wrapped in [`Witnessed`], which runs each call
//! under `catch_unwind`, notes the method when it panics and resumes the panic: the
//! scenario sees exactly what it would have seen without the wrapper.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Result, SessionData, async_trait};
use futures::FutureExt;

/// The methods that panicked during one scenario, shared by every handle it was given.
#[derive(Debug, Default)]
pub(crate) struct PanicWitness {
    panicked_in: Mutex<BTreeSet<&'static str>>,
}

impl PanicWitness {
    /// `storage`, each of whose calls this witness watches.
    pub(crate) fn watch(self: &Arc<Self>, storage: Arc<dyn AuthStorage>) -> Arc<dyn AuthStorage> {
        Arc::new(Witnessed {
            inner: storage,
            witness: Arc::clone(self),
        })
    }

    /// `the backend panicked in `get_kv` (GEN-1: no method may panic)`, or `None` when no
    /// watched method panicked.
    pub(crate) fn describe(&self) -> Option<String> {
        let methods = self
            .panicked_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if methods.is_empty() {
            return None;
        }
        let names: Vec<String> = methods.iter().map(|m| format!("`{m}`")).collect();
        Some(format!(
            "the backend panicked in {} (GEN-1: no method may panic)",
            names.join(", ")
        ))
    }

    /// Awaits `call`, noting `method` if it panics, then letting the panic go on.
    async fn observe<T>(&self, method: &'static str, call: impl Future<Output = T>) -> T {
        // The payload is resumed untouched, so no state is observed after the panic.
        match AssertUnwindSafe(call).catch_unwind().await {
            Ok(output) => output,
            Err(payload) => {
                self.panicked_in
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(method);
                std::panic::resume_unwind(payload)
            }
        }
    }
}

/// A storage whose every call is watched by a [`PanicWitness`].
struct Witnessed {
    inner: Arc<dyn AuthStorage>,
    witness: Arc<PanicWitness>,
}

#[async_trait]
impl AuthStorage for Witnessed {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        let call = self.inner.store_token(token);
        self.witness.observe("store_token", call).await
    }
    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        let call = self.inner.get_token(token_id);
        self.witness.observe("get_token", call).await
    }
    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        let call = self.inner.get_token_by_access_token(access_token);
        self.witness
            .observe("get_token_by_access_token", call)
            .await
    }
    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        let call = self.inner.update_token(token);
        self.witness.observe("update_token", call).await
    }
    async fn delete_token(&self, token_id: &str) -> Result<()> {
        let call = self.inner.delete_token(token_id);
        self.witness.observe("delete_token", call).await
    }
    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        let call = self.inner.list_user_tokens(user_id);
        self.witness.observe("list_user_tokens", call).await
    }
    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        let call = self.inner.store_session(session_id, data);
        self.witness.observe("store_session", call).await
    }
    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        let call = self.inner.get_session(session_id);
        self.witness.observe("get_session", call).await
    }
    async fn delete_session(&self, session_id: &str) -> Result<()> {
        let call = self.inner.delete_session(session_id);
        self.witness.observe("delete_session", call).await
    }
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        let call = self.inner.list_user_sessions(user_id);
        self.witness.observe("list_user_sessions", call).await
    }
    async fn count_active_sessions(&self) -> Result<u64> {
        let call = self.inner.count_active_sessions();
        self.witness.observe("count_active_sessions", call).await
    }
    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let call = self.inner.store_kv(key, value, ttl);
        self.witness.observe("store_kv", call).await
    }
    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let call = self.inner.get_kv(key);
        self.witness.observe("get_kv", call).await
    }
    async fn delete_kv(&self, key: &str) -> Result<()> {
        let call = self.inner.delete_kv(key);
        self.witness.observe("delete_kv", call).await
    }
    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let call = self.inner.list_kv_keys(prefix);
        self.witness.observe("list_kv_keys", call).await
    }
    async fn cleanup_expired(&self) -> Result<()> {
        let call = self.inner.cleanup_expired();
        self.witness.observe("cleanup_expired", call).await
    }
}
