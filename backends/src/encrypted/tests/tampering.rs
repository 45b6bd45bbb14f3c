//! An inner store that answers with records other than the ones asked for, as anyone who
//! can write the database can make any store do, and what `EncryptedStorage` makes of
//! its answers: every answer is bound to the request (issue 14 item 1).

use std::sync::Arc;
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Result, SessionData, async_trait};
use chrono::{TimeDelta, Utc};
use parking_lot::Mutex;

use super::{assert_integrity, full_session, full_token, key1};
use crate::MemoryStorage;
use crate::encrypted::EncryptedStorage;

/// How [`TamperingStorage`] rewrites what passes through it.
#[derive(Debug, Default)]
struct Tamper {
    /// Reads of id `.0` (token, session, kv, and the access-token lookup that finds token
    /// `.0`) answer with the record of id `.1`.
    swap_id: Option<(String, String)>,
    /// `list_user_*(.0)` also returns the records of user `.1`.
    add_user: Option<(String, String)>,
    /// Tokens and sessions are written with their visible expiry this much later, so the
    /// inner store keeps them live past their real expiry.
    stretch: Option<TimeDelta>,
    /// Reads serve the expiry a record was written with, as a store ignoring expiry
    /// would: with `stretch`, expired records come back with consistent columns.
    unstretch_reads: bool,
}

/// [`MemoryStorage`] rewriting its answers as [`Tamper`] says.
#[derive(Debug, Clone, Default)]
struct TamperingStorage {
    inner: MemoryStorage,
    tamper: Arc<Mutex<Tamper>>,
}

impl TamperingStorage {
    fn set(&self, tamper: Tamper) {
        *self.tamper.lock() = tamper;
    }

    fn swapped(&self, asked: &str) -> String {
        match &self.tamper.lock().swap_id {
            Some((from, to)) if from == asked => to.clone(),
            _ => asked.to_owned(),
        }
    }

    fn added_user(&self, asked: &str) -> Option<String> {
        match &self.tamper.lock().add_user {
            Some((from, to)) if from == asked => Some(to.clone()),
            _ => None,
        }
    }

    fn written_token(&self, token: &AuthToken) -> AuthToken {
        match self.tamper.lock().stretch {
            Some(by) => token.clone().with_expires_at(token.expires_at + by),
            None => token.clone(),
        }
    }

    fn served_token(&self, token: AuthToken) -> AuthToken {
        let tamper = self.tamper.lock();
        match tamper.stretch {
            Some(by) if tamper.unstretch_reads => {
                let expires_at = token.expires_at - by;
                token.with_expires_at(expires_at)
            }
            _ => token,
        }
    }

    fn written_session(&self, session: &SessionData) -> SessionData {
        match self.tamper.lock().stretch {
            Some(by) => session.clone().with_expires_at(session.expires_at + by),
            None => session.clone(),
        }
    }

    fn served_session(&self, session: SessionData) -> SessionData {
        let tamper = self.tamper.lock();
        match tamper.stretch {
            Some(by) if tamper.unstretch_reads => {
                let expires_at = session.expires_at - by;
                session.with_expires_at(expires_at)
            }
            _ => session,
        }
    }
}

#[async_trait]
impl AuthStorage for TamperingStorage {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        self.inner.store_token(&self.written_token(token)).await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        let found = self.inner.get_token(&self.swapped(token_id)).await?;
        Ok(found.map(|t| self.served_token(t)))
    }

    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        let Some(found) = self.inner.get_token_by_access_token(access_token).await? else {
            return Ok(None);
        };
        let swapped = self.swapped(&found.token_id);
        let found = if swapped == found.token_id {
            Some(found)
        } else {
            self.inner.get_token(&swapped).await?
        };
        Ok(found.map(|t| self.served_token(t)))
    }

    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        self.inner.update_token(&self.written_token(token)).await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        self.inner.delete_token(token_id).await
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        let mut listed = self.inner.list_user_tokens(user_id).await?;
        if let Some(other) = self.added_user(user_id) {
            listed.extend(self.inner.list_user_tokens(&other).await?);
        }
        Ok(listed.into_iter().map(|t| self.served_token(t)).collect())
    }

    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        let written = self.written_session(data);
        self.inner.store_session(session_id, &written).await
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        let found = self.inner.get_session(&self.swapped(session_id)).await?;
        Ok(found.map(|s| self.served_session(s)))
    }

    async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.inner.delete_session(session_id).await
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        let mut listed = self.inner.list_user_sessions(user_id).await?;
        if let Some(other) = self.added_user(user_id) {
            listed.extend(self.inner.list_user_sessions(&other).await?);
        }
        Ok(listed.into_iter().map(|s| self.served_session(s)).collect())
    }

    async fn count_active_sessions(&self) -> Result<u64> {
        self.inner.count_active_sessions().await
    }

    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.inner.store_kv(key, value, ttl).await
    }

    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get_kv(&self.swapped(key)).await
    }

    async fn delete_kv(&self, key: &str) -> Result<()> {
        self.inner.delete_kv(key).await
    }

    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_kv_keys(prefix).await
    }

    async fn cleanup_expired(&self) -> Result<()> {
        self.inner.cleanup_expired().await
    }
}

/// The tampering store and the encrypted wrapper over it.
fn setup() -> (TamperingStorage, EncryptedStorage<TamperingStorage>) {
    let inner = TamperingStorage::default();
    (inner.clone(), EncryptedStorage::new(inner, key1()))
}

fn swap(from: &str, to: &str) -> Tamper {
    Tamper {
        swap_id: Some((from.into(), to.into())),
        ..Tamper::default()
    }
}

#[tokio::test]
async fn a_read_answered_with_another_ids_record_is_integrity() {
    let (inner, s) = setup();
    s.store_token(&full_token("a", "alice", "at-a"))
        .await
        .unwrap();
    s.store_token(&full_token("b", "alice", "at-b"))
        .await
        .unwrap();
    s.store_session("a", &full_session("a", "alice"))
        .await
        .unwrap();
    s.store_session("b", &full_session("b", "alice"))
        .await
        .unwrap();
    s.store_kv("a", b"value-a", None).await.unwrap();
    s.store_kv("b", b"value-b", None).await.unwrap();

    inner.set(swap("a", "b"));
    assert_integrity(s.get_token("a").await, "\"a\"");
    assert_integrity(s.get_session("a").await, "\"a\"");
    assert_integrity(s.get_kv("a").await, "\"a\"");
    // The lookup of a's access token answered with token b.
    assert_integrity(s.get_token_by_access_token("at-a").await, "\"b\"");
    // Untouched ids still read.
    assert_eq!(s.get_token("b").await.unwrap().unwrap().token_id, "b");
    assert_eq!(s.get_kv("b").await.unwrap(), Some(b"value-b".to_vec()));
}

#[tokio::test]
async fn a_user_list_holding_another_users_record_is_integrity() {
    let (inner, s) = setup();
    s.store_token(&full_token("ta", "alice", "at-a"))
        .await
        .unwrap();
    s.store_token(&full_token("tb", "bob", "at-b"))
        .await
        .unwrap();
    s.store_session("sa", &full_session("sa", "alice"))
        .await
        .unwrap();
    s.store_session("sb", &full_session("sb", "bob"))
        .await
        .unwrap();

    inner.set(Tamper {
        add_user: Some(("alice".into(), "bob".into())),
        ..Tamper::default()
    });
    assert_integrity(s.list_user_tokens("alice").await, "\"tb\"");
    assert_integrity(s.list_user_sessions("alice").await, "\"sb\"");
    // Bob's own lists are his.
    assert_eq!(s.list_user_tokens("bob").await.unwrap().len(), 1);
    assert_eq!(s.list_user_sessions("bob").await.unwrap().len(), 1);
}

/// Writes token `t` and session `s` of alice that expired an hour ago, through `s`.
async fn store_expired(s: &EncryptedStorage<TamperingStorage>) -> (AuthToken, SessionData) {
    let expired_at = Utc::now() - TimeDelta::hours(1);
    let token = full_token("t", "alice", "at-t").with_expires_at(expired_at);
    let session = full_session("s", "alice").with_expires_at(expired_at);
    s.store_token(&token).await.unwrap();
    s.store_session("s", &session).await.unwrap();
    (token, session)
}

async fn assert_invisible(s: &EncryptedStorage<TamperingStorage>) {
    assert_eq!(s.get_token("t").await.unwrap(), None);
    assert_eq!(s.get_token_by_access_token("at-t").await.unwrap(), None);
    assert_eq!(s.list_user_tokens("alice").await.unwrap(), vec![]);
    assert_eq!(s.get_session("s").await.unwrap(), None);
    assert_eq!(s.list_user_sessions("alice").await.unwrap(), vec![]);
}

#[tokio::test]
async fn an_expired_record_whose_visible_expiry_was_stretched_stays_invisible() {
    let (inner, s) = setup();
    inner.set(Tamper {
        stretch: Some(TimeDelta::hours(2)),
        ..Tamper::default()
    });
    store_expired(&s).await;
    // The inner store holds them as live, with the stretched expiry.
    assert!(inner.inner.get_token("t").await.unwrap().is_some());
    assert!(inner.inner.get_session("s").await.unwrap().is_some());
    assert_invisible(&s).await;
}

#[tokio::test]
async fn an_expired_record_served_as_live_stays_invisible() {
    let (inner, s) = setup();
    inner.set(Tamper {
        stretch: Some(TimeDelta::hours(2)),
        unstretch_reads: true,
        ..Tamper::default()
    });
    let (token, _) = store_expired(&s).await;
    // The inner store serves the expired token with the columns it was written with.
    let served = inner.get_token("t").await.unwrap().unwrap();
    assert_eq!(served.expires_at, token.expires_at);
    assert_invisible(&s).await;
}

#[tokio::test]
async fn a_live_record_whose_visible_expiry_was_stretched_is_integrity() {
    let (inner, s) = setup();
    inner.set(Tamper {
        stretch: Some(TimeDelta::hours(2)),
        ..Tamper::default()
    });
    s.store_token(&full_token("t", "alice", "at-t"))
        .await
        .unwrap();
    s.store_session("s", &full_session("s", "alice"))
        .await
        .unwrap();
    assert_integrity(s.get_token("t").await, "expires_at");
    assert_integrity(s.list_user_tokens("alice").await, "expires_at");
    assert_integrity(s.get_session("s").await, "expires_at");
}
