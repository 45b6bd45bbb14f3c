//! Scratch: helper A's areas against the reference backends and against deliberately
//! broken wrappers (each must make some scenario fail). Deleted when done.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authstore_backends::{EncryptedStorage, EncryptionKey, MemoryStorage, UnifiedStorage};
use authstore_scenarios::{Area, Ctx, catalogue};
use authstore_spec::{
    AuthStorage, AuthToken, Result, SessionData, StorageError, TimingProfile, async_trait,
};
use chrono::{DurationRound, TimeDelta};
use parking_lot_free::Mutex;

mod parking_lot_free {
    pub(crate) type Mutex<T> = std::sync::Mutex<T>;
}

const MINE: [Area; 6] = [
    Area::Tokens,
    Area::AccessTokens,
    Area::Sessions,
    Area::Counting,
    Area::Cleanup,
    Area::Namespaces,
];

async fn run_all(make: &dyn Fn() -> (Arc<dyn AuthStorage>, Arc<dyn AuthStorage>)) -> Vec<String> {
    let mut failures = Vec::new();
    for scenario in catalogue().into_iter().filter(|s| MINE.contains(&s.area)) {
        let (a, b) = make();
        let ctx = Ctx::new(a, TimingProfile::IN_PROCESS).with_second_handle(b);
        if let Err(failure) = (scenario.run)(ctx).await {
            failures.push(format!("{}: {failure}", scenario.id));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_backends() {
    let mem = run_all(&|| {
        let s = MemoryStorage::new();
        (Arc::new(s.clone()), Arc::new(s))
    })
    .await;
    let uni = run_all(&|| {
        let s = Arc::new(UnifiedStorage::new());
        (s.clone(), s)
    })
    .await;
    let enc = run_all(&|| {
        let s = Arc::new(EncryptedStorage::new(
            MemoryStorage::new(),
            EncryptionKey::new(1, [7; 32]),
        ));
        (s.clone(), s)
    })
    .await;
    println!("memory: {mem:#?}\nunified: {uni:#?}\nencrypted: {enc:#?}");
    assert!(mem.is_empty() && uni.is_empty() && enc.is_empty());
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Bug {
    UpdateStoresAbsent,
    CaseInsensitiveLookup,
    StaleLookup,
    NoConflict,
    CountEveryStore,
    CleanupWipesKv,
    KvAliasesTokens,
    SessionMismatchStores,
    MillisTimestamps,
    DropNul,
    ListDuplicates,
    UserListStale,
}

struct Mutant {
    inner: MemoryStorage,
    bug: Bug,
    stale: Mutex<HashMap<String, AuthToken>>,
    stores: AtomicU64,
}

#[async_trait]
impl AuthStorage for Mutant {
    async fn store_token(&self, token: &AuthToken) -> Result<()> {
        if let Ok(mut m) = self.stale.lock() {
            m.insert(token.access_token.clone(), token.clone());
        }
        if self.bug == Bug::UserListStale {
            if let Ok(Some(old)) = self.inner.get_token(&token.token_id).await {
                if old.user_id != token.user_id {
                    // Keep a copy under the old user via a hidden twin.
                    let mut twin = old.clone();
                    twin.token_id = format!("{}\u{1}twin", old.token_id);
                    twin.access_token = format!("{}\u{1}twin", old.access_token);
                    let _ = self.inner.store_token(&twin).await;
                }
            }
        }
        match self.inner.store_token(token).await {
            Err(StorageError::Conflict(_)) if self.bug == Bug::NoConflict => {
                if let Ok(Some(holder)) = self.inner.get_token_by_access_token(&token.access_token).await {
                    self.inner.delete_token(&holder.token_id).await?;
                }
                self.inner.store_token(token).await
            }
            other => other,
        }
    }
    async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
        let got = self.inner.get_token(token_id).await?;
        if self.bug == Bug::MillisTimestamps {
            return Ok(got.map(|mut t| {
                t.issued_at = t.issued_at.duration_trunc(TimeDelta::milliseconds(1)).unwrap();
                t
            }));
        }
        Ok(got)
    }
    async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
        let got = self.inner.get_token_by_access_token(access_token).await?;
        if got.is_none() && self.bug == Bug::CaseInsensitiveLookup {
            for v in [access_token.to_lowercase(), access_token.to_uppercase()] {
                if let Some(t) = self.inner.get_token_by_access_token(&v).await? {
                    return Ok(Some(t));
                }
            }
        }
        if got.is_none() && self.bug == Bug::StaleLookup {
            return Ok(self.stale.lock().unwrap().get(access_token).cloned());
        }
        Ok(got)
    }
    async fn update_token(&self, token: &AuthToken) -> Result<()> {
        if self.bug == Bug::UpdateStoresAbsent {
            return self.inner.store_token(token).await;
        }
        self.inner.update_token(token).await
    }
    async fn delete_token(&self, token_id: &str) -> Result<()> {
        self.inner.delete_token(token_id).await
    }
    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
        let mut got = self.inner.list_user_tokens(user_id).await?;
        if self.bug == Bug::ListDuplicates {
            if let Some(first) = got.first().cloned() {
                got.push(first);
            }
        }
        if self.bug == Bug::UserListStale {
            for t in &mut got {
                if let Some(id) = t.token_id.strip_suffix("\u{1}twin") {
                    t.token_id = id.to_string();
                }
            }
        }
        Ok(got)
    }
    async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
        self.stores.fetch_add(1, Ordering::SeqCst);
        if self.bug == Bug::SessionMismatchStores {
            return self.inner.store_session(&data.session_id, data).await;
        }
        self.inner.store_session(session_id, data).await
    }
    async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
        let got = self.inner.get_session(session_id).await?;
        if self.bug == Bug::DropNul {
            return Ok(got.map(|mut d| {
                d.user_agent = d.user_agent.map(|u| u.replace('\0', ""));
                d
            }));
        }
        Ok(got)
    }
    async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.inner.delete_session(session_id).await
    }
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
        self.inner.list_user_sessions(user_id).await
    }
    async fn count_active_sessions(&self) -> Result<u64> {
        if self.bug == Bug::CountEveryStore {
            return Ok(self.stores.load(Ordering::SeqCst));
        }
        self.inner.count_active_sessions().await
    }
    async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        if self.bug == Bug::KvAliasesTokens {
            if let Some(id) = key.strip_prefix("token:") {
                self.inner.delete_token(id).await?;
            }
        }
        self.inner.store_kv(key, value, ttl).await
    }
    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get_kv(key).await
    }
    async fn delete_kv(&self, key: &str) -> Result<()> {
        self.inner.delete_kv(key).await
    }
    async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_kv_keys(prefix).await
    }
    async fn cleanup_expired(&self) -> Result<()> {
        if self.bug == Bug::CleanupWipesKv {
            for k in self.inner.list_kv_keys("").await? {
                self.inner.delete_kv(&k).await?;
            }
        }
        self.inner.cleanup_expired().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mutant_is_caught() {
    let bugs = [
        Bug::UpdateStoresAbsent,
        Bug::CaseInsensitiveLookup,
        Bug::StaleLookup,
        Bug::NoConflict,
        Bug::CountEveryStore,
        Bug::CleanupWipesKv,
        Bug::KvAliasesTokens,
        Bug::SessionMismatchStores,
        Bug::MillisTimestamps,
        Bug::DropNul,
        Bug::ListDuplicates,
        Bug::UserListStale,
    ];
    let mut uncaught = Vec::new();
    for bug in bugs {
        let failures = run_all(&move || {
            let s: Arc<dyn AuthStorage> = Arc::new(Mutant {
                inner: MemoryStorage::new(),
                bug,
                stale: Mutex::new(HashMap::new()),
                stores: AtomicU64::new(0),
            });
            (s.clone(), s)
        })
        .await;
        println!("{bug:?}: {} failing", failures.len());
        for f in &failures {
            println!("    {}", f.chars().take(200).collect::<String>());
        }
        if failures.is_empty() {
            uncaught.push(bug);
        }
    }
    assert!(uncaught.is_empty(), "{uncaught:?}");
}
