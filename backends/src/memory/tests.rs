//! Unit tests of what the conformance suite cannot see: index invariants after mixed and
//! concurrent operations, and the cleanup task's lifecycle.

use std::collections::HashSet;

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn token(id: &str, user: &str, access: &str) -> AuthToken {
    AuthToken::new(id, user, access, MINUTE)
}

fn check(s: &MemoryStorage) {
    s.inner.state.read().check_invariants();
}

fn counts(s: &MemoryStorage) -> (usize, usize, usize) {
    s.inner.state.read().stored_counts()
}

#[tokio::test]
async fn restore_moves_indexes_and_frees_access_token() {
    let s = MemoryStorage::new();
    s.store_token(&token("t1", "alice", "a1")).await.unwrap();
    let moved = token("t1", "bob", "a2");
    s.store_token(&moved).await.unwrap();
    check(&s);
    assert_eq!(s.get_token_by_access_token("a1").await.unwrap(), None);
    assert_eq!(
        s.get_token_by_access_token("a2").await.unwrap(),
        Some(moved)
    );
    assert!(s.list_user_tokens("alice").await.unwrap().is_empty());
    assert_eq!(s.list_user_tokens("bob").await.unwrap().len(), 1);
    // a1 is free again for another token.
    s.store_token(&token("t2", "carol", "a1")).await.unwrap();
    check(&s);
}

#[tokio::test]
async fn conflict_changes_nothing_and_expired_holder_does_not_block() {
    let s = MemoryStorage::new();
    let held = token("t1", "alice", "shared");
    s.store_token(&held).await.unwrap();
    let err = s
        .store_token(&token("t2", "bob", "shared"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    assert_eq!(s.get_token("t2").await.unwrap(), None);
    assert_eq!(
        s.get_token_by_access_token("shared").await.unwrap(),
        Some(held)
    );

    // An expired holder (stored live, then expired by the clock) does not block.
    let brief = AuthToken::new("t3", "alice", "brief", Duration::from_millis(5));
    s.store_token(&brief).await.unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let taker = token("t4", "bob", "brief");
    s.store_token(&taker).await.unwrap();
    check(&s);
    assert_eq!(
        s.get_token_by_access_token("brief").await.unwrap(),
        Some(taker)
    );
    assert_eq!(s.get_token("t3").await.unwrap(), None);
}

#[tokio::test]
async fn update_requires_a_live_token() {
    let s = MemoryStorage::new();
    let err = s
        .update_token(&token("t1", "alice", "a1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound(_)), "{err:?}");
    assert_eq!(counts(&s), (0, 0, 0));
}

#[tokio::test]
async fn expired_writes_hide_earlier_versions() {
    let s = MemoryStorage::new();
    s.store_token(&token("t1", "alice", "a1")).await.unwrap();
    let past = Utc::now() - chrono::TimeDelta::seconds(1);
    s.store_token(&token("t1", "alice", "a1").with_expires_at(past))
        .await
        .unwrap();
    assert_eq!(s.get_token("t1").await.unwrap(), None);
    assert_eq!(s.get_token_by_access_token("a1").await.unwrap(), None);

    s.store_session("s1", &SessionData::new("s1", "alice", MINUTE))
        .await
        .unwrap();
    s.store_session(
        "s1",
        &SessionData::new("s1", "alice", MINUTE).with_expires_at(past),
    )
    .await
    .unwrap();
    assert_eq!(s.get_session("s1").await.unwrap(), None);
    assert_eq!(s.count_active_sessions().await.unwrap(), 0);

    s.store_kv("k", b"v", None).await.unwrap();
    s.store_kv("k", b"w", Some(Duration::ZERO)).await.unwrap();
    assert_eq!(s.get_kv("k").await.unwrap(), None);
    check(&s);
}

#[tokio::test]
async fn default_ttl_and_huge_ttls() {
    let s = InMemoryConfig::new()
        .with_default_ttl(Duration::from_millis(5))
        .build();
    s.store_kv("short", b"v", None).await.unwrap();
    s.store_kv("forever", b"v", Some(Duration::MAX))
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(s.get_kv("short").await.unwrap(), None);
    assert_eq!(s.get_kv("forever").await.unwrap(), Some(b"v".to_vec()));

    let s = InMemoryConfig::new().without_default_ttl().build();
    s.store_kv("k", b"", None).await.unwrap();
    assert_eq!(s.get_kv("k").await.unwrap(), Some(Vec::new()));
    assert_eq!(s.inner.state.read().stored_counts(), (0, 0, 1));
}

#[tokio::test]
async fn listing_is_by_bytes_and_ordered() {
    let s = MemoryStorage::new();
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
    assert_eq!(s.list_kv_keys("a%").await.unwrap(), ["a%b"]);
    assert_eq!(s.list_kv_keys("\u{e9}").await.unwrap(), ["\u{e9}x"]);
    let all = s.list_kv_keys("").await.unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(all.len(), 8);
}

#[tokio::test]
async fn oversized_value_is_rejected() {
    let s = MemoryStorage::new();
    s.store_kv("k", b"old", None).await.unwrap();
    let big = vec![0u8; MAX_VALUE_BYTES + 1];
    let err = s.store_kv("k", &big, None).await.unwrap_err();
    assert!(matches!(err, StorageError::CapacityExceeded(_)), "{err:?}");
    assert_eq!(s.get_kv("k").await.unwrap(), Some(b"old".to_vec()));
}

#[tokio::test]
async fn cleanup_removes_expired_items_and_indexes() {
    let s = InMemoryConfig::new()
        .with_cleanup_interval(Duration::ZERO)
        .build();
    let ms = Duration::from_millis(5);
    s.store_token(&AuthToken::new("t1", "alice", "a1", ms))
        .await
        .unwrap();
    s.store_token(&token("t2", "alice", "a2")).await.unwrap();
    s.store_session("s1", &SessionData::new("s1", "alice", ms))
        .await
        .unwrap();
    s.store_session("s2", &SessionData::new("s2", "alice", MINUTE))
        .await
        .unwrap();
    s.store_kv("k1", b"v", Some(ms)).await.unwrap();
    s.store_kv("k2", b"v", None).await.unwrap();
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(counts(&s), (2, 2, 2));
    assert_eq!(s.count_active_sessions().await.unwrap(), 1);
    s.cleanup_expired().await.unwrap();
    check(&s);
    assert_eq!(counts(&s), (1, 1, 1));
    s.cleanup_expired().await.unwrap();
    assert_eq!(counts(&s), (1, 1, 1));
    assert_eq!(s.count_active_sessions().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_leave_one_version() {
    let s = MemoryStorage::new();
    s.store_token(&token("t", "u0", "a0")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let t = token("t", &format!("u{i}"), &format!("a{i}"));
            s.update_token(&t).await.map(|()| t)
        }));
    }
    let mut written = HashSet::new();
    for task in tasks {
        written.insert(task.await.unwrap().unwrap().access_token);
    }
    check(&s);
    let last = s.get_token("t").await.unwrap().unwrap();
    assert!(written.contains(&last.access_token));
    assert_eq!(counts(&s).0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_access_token_let_one_win() {
    let s = MemoryStorage::new();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.store_token(&token(&format!("t{i}"), "u", "contested"))
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(err) => assert!(matches!(err, StorageError::Conflict(_)), "{err:?}"),
        }
    }
    assert_eq!(ok, 1);
    check(&s);
}

#[test]
fn no_task_outside_a_runtime() {
    let s = MemoryStorage::new();
    assert!(s.task.is_none());
}

#[tokio::test(start_paused = true)]
async fn cleanup_task_runs_and_ends_when_last_clone_drops() {
    let s = InMemoryConfig::new()
        .with_cleanup_interval(Duration::from_secs(60))
        .build();
    let handle = s.take_cleanup_handle().expect("a task inside a runtime");
    s.store_kv("k", b"v", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    // Expiry follows the wall clock, cleanup ticks follow tokio's (paused) clock.
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(counts(&s), (0, 0, 1));
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(counts(&s), (0, 0, 0));

    let clone = s.clone();
    drop(s);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!handle.is_finished(), "a clone is still alive");
    drop(clone);
    // Ends promptly, without waiting for another tick.
    tokio::time::timeout(Duration::from_millis(1), handle)
        .await
        .expect("task ended")
        .unwrap();
}
