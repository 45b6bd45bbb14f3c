//! Scratch: helper B's areas against MemoryStorage. To be deleted.

use std::sync::Arc;

use authstore_backends::MemoryStorage;
use authstore_scenarios::{Area, Ctx, catalogue};
use authstore_spec::TimingProfile;

#[tokio::test(flavor = "multi_thread")]
async fn scratch_b() {
    let mine = [
        Area::Kv,
        Area::Expiry,
        Area::Listing,
        Area::BadInput,
        Area::Concurrency,
        Area::MultiHandle,
    ];
    let filter = std::env::var("SCRATCH_FILTER").unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for scenario in catalogue() {
        if !mine.contains(&scenario.area) || !scenario.id.contains(filter.as_str()) {
            continue;
        }
        let storage = MemoryStorage::new();
        let ctx = Ctx::new(Arc::new(storage.clone()), TimingProfile::IN_PROCESS)
            .with_second_handle(Arc::new(storage));
        let started = std::time::Instant::now();
        let outcome = (scenario.run)(ctx).await;
        ran += 1;
        eprintln!("{:<70} {:?} {:?}", scenario.id, started.elapsed(), outcome.as_ref().err().map(|f| f.message.clone()));
        if let Err(f) = outcome {
            failures.push(format!("{}: {}", scenario.id, f.message));
        }
    }
    eprintln!("ran {ran}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

mod mutants {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    use authstore_backends::MemoryStorage;
    use authstore_spec::{AuthStorage, AuthToken, Result, SessionData, async_trait};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum M {
        UnsortedListing,
        LikeUnderscore,
        CaseInsensitivePrefix,
        IgnoreTtl,
        ZeroTtlIsNone,
        HugeTtlOverflow,
        InvalidGetIsNone,
        InvalidDeleteIsOk,
        TrimIds,
        NonAtomicStore,
        TruncateLarge,
        StaleAccessIndex,
        CountCounter,
        ExpireLate,
        ExpireEarly,
        PanicOnEmptyKey,
        HangOnDrop,
        NormalizeKeys,
        CacheReads,
        LookupIgnoresInvalid,
        ListingStripsPrefix,
    }

    pub(crate) const ALL: &[M] = &[
        M::UnsortedListing,
        M::LikeUnderscore,
        M::CaseInsensitivePrefix,
        M::IgnoreTtl,
        M::ZeroTtlIsNone,
        M::HugeTtlOverflow,
        M::InvalidGetIsNone,
        M::InvalidDeleteIsOk,
        M::TrimIds,
        M::NonAtomicStore,
        M::TruncateLarge,
        M::StaleAccessIndex,
        M::CountCounter,
        M::ExpireLate,
        M::ExpireEarly,
        M::PanicOnEmptyKey,
        M::HangOnDrop,
        M::NormalizeKeys,
        M::CacheReads,
        M::LookupIgnoresInvalid,
        M::ListingStripsPrefix,
    ];

    #[derive(Debug)]
    pub(crate) struct Mutant {
        pub inner: MemoryStorage,
        pub m: M,
        side: Mutex<HashMap<String, AuthToken>>,
        cache: Mutex<HashMap<String, Option<AuthToken>>>,
        counter: AtomicI64,
    }

    impl Mutant {
        pub(crate) fn new(inner: MemoryStorage, m: M) -> Self {
            Self { inner, m, side: Mutex::default(), cache: Mutex::default(), counter: AtomicI64::new(0) }
        }
        fn key(&self, k: &str) -> String {
            if self.m == M::NormalizeKeys { k.replace("e\u{301}", "\u{e9}") } else { k.to_string() }
        }
        fn id(&self, k: &str) -> String {
            if self.m == M::TrimIds { k.trim().to_string() } else { k.to_string() }
        }
    }

    #[async_trait]
    impl AuthStorage for Mutant {
        async fn store_token(&self, token: &AuthToken) -> Result<()> {
            let mut t = token.clone();
            t.token_id = self.id(&t.token_id);
            if self.m == M::NonAtomicStore {
                self.inner.delete_token(&t.token_id).await?;
                tokio::task::yield_now().await;
            }
            self.inner.store_token(&t).await?;
            if self.m == M::StaleAccessIndex {
                self.side.lock().unwrap().insert(t.access_token.clone(), t.clone());
            }
            Ok(())
        }
        async fn get_token(&self, token_id: &str) -> Result<Option<AuthToken>> {
            if self.m == M::InvalidGetIsNone && authstore_spec::validate::id("x", token_id).is_err() {
                return Ok(None);
            }
            if self.m == M::CacheReads {
                if let Some(hit) = self.cache.lock().unwrap().get(token_id) {
                    return Ok(hit.clone());
                }
                let got = self.inner.get_token(token_id).await?;
                self.cache.lock().unwrap().insert(token_id.to_string(), got.clone());
                return Ok(got);
            }
            self.inner.get_token(&self.id(token_id)).await
        }
        async fn get_token_by_access_token(&self, access_token: &str) -> Result<Option<AuthToken>> {
            if self.m == M::LookupIgnoresInvalid && authstore_spec::validate::secret("x", access_token).is_err() {
                return Ok(None);
            }
            let got = self.inner.get_token_by_access_token(access_token).await?;
            if got.is_none() && self.m == M::StaleAccessIndex {
                return Ok(self.side.lock().unwrap().get(access_token).cloned());
            }
            Ok(got)
        }
        async fn update_token(&self, token: &AuthToken) -> Result<()> {
            let mut t = token.clone();
            t.token_id = self.id(&t.token_id);
            self.inner.update_token(&t).await?;
            if self.m == M::StaleAccessIndex {
                self.side.lock().unwrap().insert(t.access_token.clone(), t.clone());
            }
            Ok(())
        }
        async fn delete_token(&self, token_id: &str) -> Result<()> {
            if self.m == M::InvalidDeleteIsOk && authstore_spec::validate::id("x", token_id).is_err() {
                return Ok(());
            }
            self.inner.delete_token(&self.id(token_id)).await
        }
        async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<AuthToken>> {
            self.inner.list_user_tokens(user_id).await
        }
        async fn store_session(&self, session_id: &str, data: &SessionData) -> Result<()> {
            if self.m == M::NonAtomicStore {
                self.inner.delete_session(session_id).await?;
                tokio::task::yield_now().await;
            }
            self.inner.store_session(session_id, data).await?;
            self.counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn get_session(&self, session_id: &str) -> Result<Option<SessionData>> {
            self.inner.get_session(session_id).await
        }
        async fn delete_session(&self, session_id: &str) -> Result<()> {
            if self.inner.get_session(session_id).await.ok().flatten().is_some() {
                self.counter.fetch_sub(1, Ordering::SeqCst);
            }
            self.inner.delete_session(session_id).await
        }
        async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionData>> {
            self.inner.list_user_sessions(user_id).await
        }
        async fn count_active_sessions(&self) -> Result<u64> {
            if self.m == M::CountCounter {
                return Ok(self.counter.load(Ordering::SeqCst).max(0) as u64);
            }
            self.inner.count_active_sessions().await
        }
        async fn store_kv(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
            if self.m == M::PanicOnEmptyKey && key.is_empty() {
                panic!("mutant panics on an empty key");
            }
            let key = self.key(key);
            let ttl = match (self.m, ttl) {
                (M::IgnoreTtl, _) => None,
                (M::ZeroTtlIsNone, Some(Duration::ZERO)) => None,
                (M::HugeTtlOverflow, Some(t)) if t >= authstore_spec::time::NO_EXPIRY_THRESHOLD => Some(Duration::ZERO),
                (M::ExpireLate, Some(t)) if !t.is_zero() && t < Duration::from_secs(3000) => Some(t + Duration::from_millis(30)),
                (M::ExpireEarly, Some(t)) if t < Duration::from_secs(3000) => Some(t / 2),
                (_, t) => t,
            };
            let value = if self.m == M::TruncateLarge && value.len() > (4 << 20) - 1 { &value[..(4 << 20) - 1] } else { value };
            if self.m == M::NonAtomicStore {
                self.inner.delete_kv(&key).await?;
                tokio::task::yield_now().await;
            }
            self.inner.store_kv(&key, value, ttl).await
        }
        async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
            if self.m == M::HangOnDrop && key.contains("DROP") {
                std::future::pending::<()>().await;
            }
            self.inner.get_kv(&self.key(key)).await
        }
        async fn delete_kv(&self, key: &str) -> Result<()> {
            self.inner.delete_kv(&self.key(key)).await
        }
        async fn list_kv_keys(&self, prefix: &str) -> Result<Vec<String>> {
            match self.m {
                M::UnsortedListing => {
                    let mut v = self.inner.list_kv_keys(prefix).await?;
                    v.reverse();
                    Ok(v)
                }
                M::LikeUnderscore | M::CaseInsensitivePrefix => {
                    authstore_spec::validate::prefix(prefix)?;
                    let all = self.inner.list_kv_keys("").await?;
                    Ok(all
                        .into_iter()
                        .filter(|k| {
                            if self.m == M::CaseInsensitivePrefix {
                                k.to_lowercase().starts_with(&prefix.to_lowercase())
                            } else {
                                let kc: Vec<char> = k.chars().collect();
                                let pc: Vec<char> = prefix.chars().collect();
                                kc.len() >= pc.len() && pc.iter().zip(&kc).all(|(p, c)| *p == '_' || p == c)
                            }
                        })
                        .collect())
                }
                M::ListingStripsPrefix => Ok(self
                    .inner
                    .list_kv_keys(prefix)
                    .await?
                    .into_iter()
                    .map(|k| k[prefix.len()..].to_string())
                    .collect()),
                _ => self.inner.list_kv_keys(&self.key(prefix)).await,
            }
        }
        async fn cleanup_expired(&self) -> Result<()> {
            self.inner.cleanup_expired().await
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scratch_b_mutants() {
    use mutants::{ALL, Mutant};
    let mine = [Area::Kv, Area::Expiry, Area::Listing, Area::BadInput, Area::Concurrency, Area::MultiHandle];
    let mut undetected = Vec::new();
    for m in ALL {
        let mut caught = Vec::new();
        for scenario in catalogue() {
            if !mine.contains(&scenario.area) {
                continue;
            }
            let storage = MemoryStorage::new();
            let ctx = Ctx::new(Arc::new(Mutant::new(storage.clone(), *m)), TimingProfile::IN_PROCESS)
                .with_second_handle(Arc::new(Mutant::new(storage, *m)));
            let outcome = match tokio::spawn((scenario.run)(ctx)).await {
                Ok(o) => o.map_err(|f| f.message),
                Err(e) => Err(format!("SCENARIO PANICKED: {e}")),
            };
            if let Err(f) = outcome {
                caught.push(format!("{} ({})", scenario.id, &f.chars().take(160).collect::<String>()));
            }
        }
        eprintln!("{m:?}: {} scenarios fail", caught.len());
        for c in &caught {
            eprintln!("    {c}");
        }
        if caught.is_empty() {
            undetected.push(*m);
        }
    }
    assert!(undetected.is_empty(), "undetected mutants: {undetected:?}");
}
