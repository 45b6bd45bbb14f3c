//! Unit tests of what the conformance suite cannot see: exact memory accounting, the
//! capacity limit, statistics, index invariants and the cleanup task's lifecycle.

use std::collections::HashSet;

use authstore_spec::StorageError;

use super::accounting::{kv_bytes, session_bytes, token_bytes};
use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn token(id: &str, user: &str, access: &str) -> AuthToken {
    AuthToken::new(id, user, access, MINUTE)
}

impl Core {
    /// The memory charge recomputed from scratch by walking every map.
    fn recompute_memory_bytes(&self) -> usize {
        let tokens: usize = self
            .tokens
            .iter()
            .map(|t| token_bytes(&t.record.unpack()).unwrap())
            .sum();
        let sessions: usize = self
            .sessions
            .iter()
            .map(|s| session_bytes(&s.record.unpack()).unwrap())
            .sum();
        let kv: usize = self.kv.iter().map(|e| kv_bytes(e.key(), &e.value)).sum();
        tokens + sessions + kv
    }

    /// Panics if an index disagrees with the items or the budget with the items.
    fn check_invariants(&self) {
        assert_eq!(self.budget.used(), self.recompute_memory_bytes());
        assert_eq!(self.access_index.len(), self.tokens.len());
        for t in self.tokens.iter() {
            let id = t.key();
            assert_eq!(t.record.token_id(), id);
            assert_eq!(
                self.access_index.get(t.record.access_token()).as_deref(),
                Some(id)
            );
            assert!(
                self.user_tokens
                    .get(t.record.user_id())
                    .unwrap()
                    .contains(id)
            );
        }
        let indexed: usize = self.user_tokens.iter().map(|s| s.len()).sum();
        assert_eq!(indexed, self.tokens.len());
        let expiry = self.session_expiry.lock();
        assert_eq!(expiry.len(), self.sessions.len());
        for s in self.sessions.iter() {
            assert_eq!(s.record.session_id(), s.key());
            assert!(expiry.contains(&(s.record.expires_at, s.key().clone())));
            assert!(
                self.user_sessions
                    .get(s.record.user_id())
                    .unwrap()
                    .contains(s.key())
            );
        }
        let indexed: usize = self.user_sessions.iter().map(|s| s.len()).sum();
        assert_eq!(indexed, self.sessions.len());
        let keys: Vec<String> = self.kv_keys.iter().map(|k| k.value().clone()).collect();
        let mut map_keys: Vec<String> = self.kv.iter().map(|e| e.key().clone()).collect();
        map_keys.sort();
        assert_eq!(keys, map_keys);
        assert!(self.user_tokens.iter().all(|s| !s.is_empty()));
        assert!(self.user_sessions.iter().all(|s| !s.is_empty()));
    }
}

fn check(s: &UnifiedStorage) {
    s.core.check_invariants();
}

/// A small deterministic generator (xorshift) so the op mix is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One random operation on a small key space, so ops collide often.
async fn random_op(s: &UnifiedStorage, rng: &mut Rng) {
    let id = format!("id{}", rng.below(8));
    let user = format!("user{}", rng.below(3));
    let access = format!("access{}", rng.below(10));
    let ttl = match rng.below(4) {
        0 => Duration::ZERO,
        1 => Duration::from_millis(1),
        _ => MINUTE,
    };
    let value = vec![7u8; rng.below(300) as usize];
    // Errors (Conflict, NotFound) are part of the mix; accounting must survive them.
    let _ = match rng.below(12) {
        0 | 1 => {
            s.store_token(&AuthToken::new(&id, &user, &access, ttl))
                .await
        }
        2 => {
            s.update_token(&AuthToken::new(&id, &user, &access, ttl))
                .await
        }
        3 => s.delete_token(&id).await,
        4 | 5 => {
            s.store_session(
                &id,
                &SessionData::new(&id, &user, ttl).with_data("v", value.len().into()),
            )
            .await
        }
        6 => s.delete_session(&id).await,
        7 | 8 => s.store_kv(&id, &value, Some(ttl)).await,
        9 => s.delete_kv(&id).await,
        10 => s.cleanup_expired().await,
        _ => s.get_kv(&id).await.map(drop),
    };
}

#[tokio::test]
async fn accounting_is_exact_after_a_random_mix() {
    let s = UnifiedStorage::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..3000 {
        random_op(&s, &mut rng).await;
        if step % 50 == 0 {
            check(&s);
        }
    }
    check(&s);
    s.cleanup_expired().await.unwrap();
    check(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounting_is_exact_after_concurrent_mixes() {
    let s = UnifiedStorage::new();
    let mut tasks = Vec::new();
    for seed in 1..=8u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
            for _ in 0..1500 {
                random_op(&s, &mut rng).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    check(&s);
    s.cleanup_expired().await.unwrap();
    check(&s);
}

/// `store_kv` of a new key racing with `delete_kv` of it: the key index must never keep a
/// key the map no longer holds. Each round uses a fresh key: the deleter deletes it over
/// and over while the writer stores it once, then deletes it a last time, so the map ends
/// empty and a stray index entry (which `delete_kv` cannot remove, having no entry to
/// find) stays to be seen. Listings, stats and the budget must agree with the map too.
/// The two sides run on blocking threads of the runtime, truly in parallel: the
/// operations never await, so two async tasks on one worker would never interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_store_and_delete_of_a_new_key_leave_no_stray_index_entry() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ROUNDS: usize = 2_000;
    let s = UnifiedStorage::new();
    let runtime = tokio::runtime::Handle::current();
    // The round the deleter is in, and how many rounds the writer has finished.
    let deleting = Arc::new(AtomicUsize::new(usize::MAX));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (s, runtime) = (s.clone(), runtime.clone());
        let (deleting, written) = (Arc::clone(&deleting), Arc::clone(&written));
        tokio::task::spawn_blocking(move || {
            for round in 0..ROUNDS {
                while deleting.load(Ordering::Acquire) != round {
                    std::thread::yield_now();
                }
                runtime
                    .block_on(s.store_kv(&format!("k{round}"), b"v", None))
                    .unwrap();
                written.store(round + 1, Ordering::Release);
            }
        })
    };
    let deleter = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || {
            for round in 0..ROUNDS {
                let key = format!("k{round}");
                deleting.store(round, Ordering::Release);
                loop {
                    let writer_done = written.load(Ordering::Acquire) > round;
                    runtime.block_on(s.delete_kv(&key)).unwrap();
                    if writer_done {
                        break;
                    }
                }
            }
        })
    };
    writer.await.unwrap();
    deleter.await.unwrap();
    let stray: Vec<String> = s.core.kv_keys.iter().map(|k| k.value().clone()).collect();
    assert_eq!(s.core.kv.len(), 0, "every key was deleted last");
    assert!(
        stray.is_empty(),
        "{} key index entries without an entry, e.g. {:?}",
        stray.len(),
        &stray[..stray.len().min(5)]
    );
    assert_eq!(s.list_kv_keys("").await.unwrap(), Vec::<String>::new());
    assert_eq!(s.get_stats().entries, 0);
    assert_eq!(s.get_stats().memory_bytes, 0);
    check(&s);
}

#[tokio::test]
async fn accounting_follows_overwrite_delete_and_cleanup() {
    let s = UnifiedStorage::new();
    s.store_kv("k", &[1; 100], None).await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, kv_bytes("k", &[1; 100]));
    s.store_kv("k", &[1; 10], None).await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, kv_bytes("k", &[1; 10]));
    s.delete_kv("k").await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, 0);

    let t = token("t", "u", "a");
    s.store_token(&t).await.unwrap();
    let moved = token("t", "v", "b").with_scopes(["read"]);
    s.store_token(&moved).await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, token_bytes(&moved).unwrap());
    s.delete_token("t").await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, 0);

    let ms = Duration::from_millis(2);
    s.store_kv("short", b"v", Some(ms)).await.unwrap();
    s.store_token(&AuthToken::new("t2", "u", "a2", ms))
        .await
        .unwrap();
    s.store_session("s", &SessionData::new("s", "u", ms))
        .await
        .unwrap();
    s.store_kv("long", b"v", None).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.get_stats().entries, 4);
    s.cleanup_expired().await.unwrap();
    assert_eq!(s.get_stats().entries, 1);
    assert_eq!(s.get_stats().memory_bytes, kv_bytes("long", b"v"));
    check(&s);
}

#[tokio::test]
async fn over_capacity_write_is_rejected_and_changes_nothing() {
    let budget = kv_bytes("a", &[0; 100]) + kv_bytes("b", &[0; 50]);
    let s = UnifiedStorage::with_config(UnifiedStorageConfig {
        max_memory: budget,
        ..Default::default()
    });
    s.store_kv("a", &[1; 100], None).await.unwrap();
    s.store_kv("b", &[2; 50], None).await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, budget);

    let err = s.store_kv("b", &[3; 51], None).await.unwrap_err();
    assert!(matches!(err, StorageError::CapacityExceeded(_)), "{err:?}");
    assert_eq!(s.get_kv("b").await.unwrap(), Some(vec![2; 50]));
    let err = s.store_kv("c", b"", None).await.unwrap_err();
    assert!(matches!(err, StorageError::CapacityExceeded(_)), "{err:?}");
    assert_eq!(s.list_kv_keys("").await.unwrap(), ["a", "b"]);
    let err = s.store_token(&token("t", "u", "x")).await.unwrap_err();
    assert!(matches!(err, StorageError::CapacityExceeded(_)), "{err:?}");
    assert_eq!(s.get_token("t").await.unwrap(), None);
    let err = s
        .store_session("s", &SessionData::new("s", "u", MINUTE))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::CapacityExceeded(_)), "{err:?}");
    assert_eq!(s.count_active_sessions().await.unwrap(), 0);
    assert_eq!(s.get_stats().memory_bytes, budget);

    // Shrinking always fits, and frees room for others.
    s.store_kv("a", &[1; 40], None).await.unwrap();
    s.store_kv("b", &[2; 110], None).await.unwrap();
    assert_eq!(s.get_stats().memory_bytes, budget);
    check(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_exceed_the_budget() {
    let max = 10 * kv_bytes("key00", &[0; 100]);
    let s = UnifiedStorage::with_config(UnifiedStorageConfig {
        max_memory: max,
        ..Default::default()
    });
    let mut tasks = Vec::new();
    for i in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.store_kv(&format!("key{i:02}"), &[0; 100], None).await
        }));
    }
    let mut stored = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            stored += 1;
        }
    }
    assert_eq!(stored, 10);
    assert_eq!(s.get_stats().memory_bytes, max);
    check(&s);
}

#[tokio::test]
async fn stats_count_point_reads() {
    let s = UnifiedStorage::new();
    s.store_kv("k", b"v", None).await.unwrap();
    s.store_token(&token("t", "u", "a")).await.unwrap();
    s.get_kv("k").await.unwrap();
    s.get_kv("absent").await.unwrap();
    s.get_token("t").await.unwrap();
    s.get_token_by_access_token("a").await.unwrap();
    s.get_token_by_access_token("b").await.unwrap();
    s.get_session("s").await.unwrap();
    s.list_kv_keys("").await.unwrap();
    let stats = s.get_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (3, 3, 2));
}

#[tokio::test]
async fn default_ttl_max_means_no_expiry() {
    let s = UnifiedStorage::with_config(UnifiedStorageConfig {
        default_ttl: Duration::MAX,
        ..Default::default()
    });
    s.store_kv("k", b"v", None).await.unwrap();
    assert!(s.core.kv.get("k").unwrap().expires_at.is_none());
    let s = UnifiedStorage::with_config(UnifiedStorageConfig {
        default_ttl: Duration::from_millis(2),
        ..Default::default()
    });
    s.store_kv("k", b"v", None).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.get_kv("k").await.unwrap(), None);
}

#[tokio::test]
async fn expired_holder_does_not_block_and_is_replaced() {
    let s = UnifiedStorage::new();
    s.store_token(&AuthToken::new("old", "u", "a", Duration::from_millis(2)))
        .await
        .unwrap();
    let err = s.store_token(&token("other", "u", "a")).await;
    assert!(matches!(err, Err(StorageError::Conflict(_))), "{err:?}");
    std::thread::sleep(Duration::from_millis(5));
    let taker = token("new", "v", "a");
    s.store_token(&taker).await.unwrap();
    assert_eq!(s.get_token_by_access_token("a").await.unwrap(), Some(taker));
    assert!(s.list_user_tokens("u").await.unwrap().is_empty());
    check(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_leave_one_version_and_no_dangling_index() {
    let s = UnifiedStorage::new();
    s.store_token(&token("t", "u0", "a0")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let t = token("t", &format!("u{i}"), &format!("a{i}"));
            s.update_token(&t).await.map(|()| t.access_token)
        }));
    }
    let mut written = HashSet::new();
    for task in tasks {
        written.insert(task.await.unwrap().unwrap());
    }
    check(&s);
    let last = s.get_token("t").await.unwrap().unwrap();
    assert!(written.contains(&last.access_token));
    for access in &written {
        let found = s.get_token_by_access_token(access).await.unwrap();
        assert_eq!(found.is_some(), *access == last.access_token);
    }
    assert_eq!(s.get_stats().entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_a_stale_access_token() {
    let s = UnifiedStorage::new();
    s.store_token(&token("t", "u", "a0")).await.unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 1..2000 {
                s.store_token(&token("t", "u", &format!("a{i}")))
                    .await
                    .unwrap();
            }
        })
    };
    let reader = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..2000 {
                let access = format!("a{i}");
                if let Some(found) = s.get_token_by_access_token(&access).await.unwrap() {
                    assert_eq!(found.access_token, access);
                }
            }
        })
    };
    writer.await.unwrap();
    reader.await.unwrap();
    check(&s);
}

#[tokio::test]
async fn listing_is_by_bytes_and_ordered() {
    let s = UnifiedStorage::new();
    for key in [
        "a%b", "a", "ab", "a\u{ff}", "b", "a_c", "e\u{301}", "\u{e9}x",
    ] {
        s.store_kv(key, b"v", None).await.unwrap();
    }
    s.store_kv("aexpired", b"v", Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        s.list_kv_keys("a").await.unwrap(),
        ["a", "a%b", "a_c", "ab", "a\u{ff}"]
    );
    assert_eq!(s.list_kv_keys("\u{e9}").await.unwrap(), ["\u{e9}x"]);
    assert_eq!(s.list_kv_keys("").await.unwrap().len(), 8);
    check(&s);
}

#[test]
fn no_task_outside_a_runtime() {
    let s = UnifiedStorage::new();
    assert!(s.task.is_none());
}

#[tokio::test(start_paused = true)]
async fn cleanup_task_runs_and_ends_when_last_clone_drops() {
    let s = UnifiedStorage::with_config(UnifiedStorageConfig {
        cleanup_interval: MINUTE,
        ..Default::default()
    });
    let handle = s
        .task
        .as_ref()
        .as_ref()
        .and_then(CleanupTask::take_handle)
        .expect("a task inside a runtime");
    s.store_kv("k", b"v", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.get_stats().entries, 1);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(s.get_stats().entries, 0);
    assert_eq!(s.get_stats().memory_bytes, 0);

    let clone = s.clone();
    drop(s);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!handle.is_finished(), "a clone is still alive");
    drop(clone);
    tokio::time::timeout(Duration::from_millis(1), handle)
        .await
        .expect("task ended")
        .unwrap();
}
