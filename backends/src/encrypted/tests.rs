//! EncryptedStorage over MemoryStorage: round trips, what the inner store holds, tamper
//! and move detection, key rotation.

use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, ErrorKind, JsonMap, SessionData, StorageError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;

use super::{EncryptedStorage, EncryptionKey, Keyring};
use crate::MemoryStorage;

mod tampering;

const HOUR: Duration = Duration::from_secs(3600);

fn key1() -> EncryptionKey {
    EncryptionKey::new(1, [0x11; 32])
}

fn key2() -> EncryptionKey {
    EncryptionKey::new(2, [0x22; 32])
}

/// The inner store (a handle sharing its data) and the encrypted wrapper over it.
fn setup() -> (MemoryStorage, EncryptedStorage<MemoryStorage>) {
    let inner = MemoryStorage::new();
    (inner.clone(), EncryptedStorage::new(inner, key1()))
}

fn full_token(id: &str, user: &str, access: &str) -> AuthToken {
    AuthToken::new(id, user, access, HOUR)
        .with_refresh_token(format!("refresh-of-{id}"))
        .with_token_type("Bearer")
        .with_scopes(["read", "write"])
        .with_metadata(
            "client",
            json!({"name": "cli", "nul": "a\0b", "emoji": "🔑"}),
        )
}

fn full_session(id: &str, user: &str) -> SessionData {
    SessionData::new(id, user, HOUR)
        .with_ip_address("192.0.2.7")
        .with_user_agent("Agent/1.0")
        .with_data("cart", json!([1, 2, 3]))
}

fn kind<T: std::fmt::Debug>(result: authstore_spec::Result<T>) -> ErrorKind {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(err) => err.kind(),
    }
}

fn assert_integrity<T: std::fmt::Debug>(result: authstore_spec::Result<T>, names: &str) {
    match result {
        Err(StorageError::Integrity(message)) => {
            assert!(message.contains(names), "{message:?} should name {names:?}");
        }
        other => panic!("expected Integrity naming {names:?}, got {other:?}"),
    }
}

/// The JSON envelope with byte `at` of its sealed bytes flipped.
fn flip_envelope_byte(envelope: &JsonMap, at: usize) -> JsonMap {
    let mut sealed = BASE64.decode(envelope["ct"].as_str().unwrap()).unwrap();
    let at = at % sealed.len();
    sealed[at] ^= 0x01;
    let mut out = envelope.clone();
    out.insert("ct".into(), BASE64.encode(sealed).into());
    out
}

#[tokio::test]
async fn all_sixteen_methods_round_trip() {
    let (_inner, s) = setup();

    // Tokens: store, get, by access token, list, update, delete.
    let token = full_token("t1", "alice", "at-1");
    s.store_token(&token).await.unwrap();
    assert_eq!(s.get_token("t1").await.unwrap(), Some(token.clone()));
    assert_eq!(
        s.get_token_by_access_token("at-1").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(s.get_token_by_access_token("AT-1").await.unwrap(), None);
    let other = full_token("t2", "alice", "at-2");
    s.store_token(&other).await.unwrap();
    let mut listed = s.list_user_tokens("alice").await.unwrap();
    listed.sort_by(|a, b| a.token_id.cmp(&b.token_id));
    assert_eq!(listed, vec![token.clone(), other.clone()]);

    let updated = token.clone().with_access_token("at-1b").with_user_id("bob");
    s.update_token(&updated).await.unwrap();
    assert_eq!(s.get_token("t1").await.unwrap(), Some(updated.clone()));
    assert_eq!(s.get_token_by_access_token("at-1").await.unwrap(), None);
    assert_eq!(
        s.get_token_by_access_token("at-1b").await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(s.list_user_tokens("bob").await.unwrap(), vec![updated]);
    assert_eq!(s.list_user_tokens("alice").await.unwrap(), vec![other]);
    assert_eq!(
        kind(s.update_token(&full_token("absent", "a", "at-x")).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(s.store_token(&full_token("t3", "carol", "at-2")).await),
        ErrorKind::Conflict
    );
    s.delete_token("t1").await.unwrap();
    s.delete_token("t1").await.unwrap();
    assert_eq!(s.get_token("t1").await.unwrap(), None);
    assert_eq!(s.get_token_by_access_token("at-1b").await.unwrap(), None);

    // Sessions: store, get, list, count, delete.
    let session = full_session("s1", "alice");
    s.store_session("s1", &session).await.unwrap();
    s.store_session("s2", &full_session("s2", "bob"))
        .await
        .unwrap();
    assert_eq!(s.get_session("s1").await.unwrap(), Some(session.clone()));
    assert_eq!(s.list_user_sessions("alice").await.unwrap(), vec![session]);
    assert_eq!(s.count_active_sessions().await.unwrap(), 2);
    s.delete_session("s1").await.unwrap();
    assert_eq!(s.get_session("s1").await.unwrap(), None);
    assert_eq!(s.count_active_sessions().await.unwrap(), 1);

    // Kv: store, get, list, delete, TTL zero, empty and binary values.
    s.store_kv("k/a", b"alpha", None).await.unwrap();
    s.store_kv("k/b", &[0, 0xff, 0], Some(HOUR)).await.unwrap();
    s.store_kv("k/empty", b"", None).await.unwrap();
    s.store_kv("k/gone", b"x", Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(s.get_kv("k/a").await.unwrap(), Some(b"alpha".to_vec()));
    assert_eq!(s.get_kv("k/b").await.unwrap(), Some(vec![0, 0xff, 0]));
    assert_eq!(s.get_kv("k/empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(s.get_kv("k/gone").await.unwrap(), None);
    assert_eq!(
        s.list_kv_keys("k/").await.unwrap(),
        vec!["k/a", "k/b", "k/empty"]
    );
    s.delete_kv("k/a").await.unwrap();
    assert_eq!(s.get_kv("k/a").await.unwrap(), None);
    assert_eq!(s.list_kv_keys("").await.unwrap(), vec!["k/b", "k/empty"]);

    let big: Vec<u8> = (0..(1usize << 20)).map(|i| (i % 251) as u8).collect();
    s.store_kv("big", &big, None).await.unwrap();
    assert_eq!(s.get_kv("big").await.unwrap(), Some(big));

    // Expired items stay invisible through cleanup, live ones stay.
    let expired = full_token("old", "alice", "at-old").with_expires_at(token.issued_at);
    s.store_token(&expired).await.unwrap();
    assert_eq!(s.get_token("old").await.unwrap(), None);
    s.cleanup_expired().await.unwrap();
    assert_eq!(s.get_token("old").await.unwrap(), None);
    assert_eq!(s.get_kv("k/b").await.unwrap(), Some(vec![0, 0xff, 0]));
    assert_eq!(s.count_active_sessions().await.unwrap(), 1);
}

#[tokio::test]
async fn inner_store_holds_no_secret() {
    let (inner, s) = setup();
    let token = AuthToken::new("tok-scan", "alice", "ACCESS-SECRET-1", HOUR)
        .with_refresh_token("REFRESH-SECRET-1")
        .with_token_type("TYPE-SECRET-1")
        .with_scopes(["SCOPE-SECRET-1"])
        .with_metadata("m", json!("META-SECRET-1"));
    let session = SessionData::new("ses-scan", "alice", HOUR)
        .with_ip_address("IP-SECRET-1")
        .with_user_agent("UA-SECRET-1")
        .with_data("d", json!("SESSION-DATA-SECRET-1"));
    s.store_token(&token).await.unwrap();
    s.store_session("ses-scan", &session).await.unwrap();
    s.store_kv("kv-scan", b"KV-VALUE-SECRET-1", None)
        .await
        .unwrap();
    let secrets = [
        "ACCESS-SECRET-1",
        "REFRESH-SECRET-1",
        "TYPE-SECRET-1",
        "SCOPE-SECRET-1",
        "META-SECRET-1",
        "IP-SECRET-1",
        "UA-SECRET-1",
        "SESSION-DATA-SECRET-1",
        "KV-VALUE-SECRET-1",
    ];

    let stored_token = inner.get_token("tok-scan").await.unwrap().unwrap();
    let stored_session = inner.get_session("ses-scan").await.unwrap().unwrap();
    let stored_value = inner.get_kv("kv-scan").await.unwrap().unwrap();
    // What the inner store may see, per the type docs.
    assert_eq!(stored_token.user_id, "alice");
    assert_eq!(stored_token.expires_at, token.expires_at);
    assert_eq!(stored_token.refresh_token, None);
    assert_eq!(stored_token.token_type, None);
    assert!(stored_token.scopes.is_empty());
    assert_eq!(stored_token.access_token.len(), 64);
    assert_eq!(stored_session.ip_address, None);
    assert_eq!(stored_session.user_agent, None);
    assert_eq!(stored_value.len(), b"KV-VALUE-SECRET-1".len() + 33);
    // The bearer value resolves to nothing in the inner store.
    assert_eq!(
        inner
            .get_token_by_access_token("ACCESS-SECRET-1")
            .await
            .unwrap(),
        None
    );

    let mut seen = vec![
        serde_json::to_string(&stored_token).unwrap(),
        serde_json::to_string(&stored_session).unwrap(),
        serde_json::to_string(&inner.list_user_tokens("alice").await.unwrap()).unwrap(),
        serde_json::to_string(&inner.list_user_sessions("alice").await.unwrap()).unwrap(),
        format!("{stored_token:?}"),
        format!("{stored_session:?}"),
        format!("{inner:?}"),
        format!("{s:?}"),
        String::from_utf8_lossy(&stored_value).into_owned(),
    ];
    seen.extend(inner.list_kv_keys("").await.unwrap());
    for text in &seen {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{secret} visible in inner store: {text}"
            );
        }
    }
    for secret in secrets {
        assert!(
            !stored_value
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "{secret} in the stored kv bytes"
        );
    }
}

#[tokio::test]
async fn validates_outer_values_first() {
    let (inner, s) = setup();
    let long = "a".repeat(8193);
    assert_eq!(
        kind(s.store_token(&full_token("t", "u", &long)).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.store_token(&full_token("t", "u", "a\0b")).await),
        ErrorKind::InvalidInput
    );
    let bad_refresh = full_token("t", "u", "ok").with_refresh_token("");
    assert_eq!(
        kind(s.store_token(&bad_refresh).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.get_token_by_access_token(&long).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.get_token_by_access_token("").await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.store_session("s1", &full_session("s2", "u")).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.store_kv("", b"v", None).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(kind(s.list_kv_keys("a\0").await), ErrorKind::InvalidInput);
    assert_eq!(inner.get_token("t").await.unwrap(), None);
    assert_eq!(inner.count_active_sessions().await.unwrap(), 0);
}

#[tokio::test]
async fn tampered_ciphertexts_fail_with_integrity() {
    let (inner, s) = setup();
    s.store_token(&full_token("t1", "alice", "at-1"))
        .await
        .unwrap();
    s.store_session("s1", &full_session("s1", "alice"))
        .await
        .unwrap();
    s.store_kv("k1", b"value", None).await.unwrap();
    let token = inner.get_token("t1").await.unwrap().unwrap();
    let session = inner.get_session("s1").await.unwrap().unwrap();
    let value = inner.get_kv("k1").await.unwrap().unwrap();

    // First nonce byte, a ciphertext byte, last tag byte.
    for at in [0, 13, usize::MAX] {
        let mut bad = token.clone();
        bad.metadata = flip_envelope_byte(&token.metadata, at);
        inner.store_token(&bad).await.unwrap();
        assert_integrity(s.get_token("t1").await, "\"t1\"");
        assert_integrity(s.get_token_by_access_token("at-1").await, "\"t1\"");
        assert_integrity(s.list_user_tokens("alice").await, "\"t1\"");

        let mut bad = session.clone();
        bad.data = flip_envelope_byte(&session.data, at);
        inner.store_session("s1", &bad).await.unwrap();
        assert_integrity(s.get_session("s1").await, "\"s1\"");
        assert_integrity(s.list_user_sessions("alice").await, "\"s1\"");

        let mut bad = value.clone();
        let at = 5 + at % (value.len() - 5);
        bad[at] ^= 0x01;
        inner.store_kv("k1", &bad, None).await.unwrap();
        assert_integrity(s.get_kv("k1").await, "\"k1\"");
    }

    // A truncated kv envelope and a missing token envelope field.
    inner.store_kv("k1", &value[..20], None).await.unwrap();
    assert_integrity(s.get_kv("k1").await, "\"k1\"");
    let mut bad = token.clone();
    bad.metadata.remove("ct");
    inner.store_token(&bad).await.unwrap();
    assert_integrity(s.get_token("t1").await, "\"t1\"");
}

#[tokio::test]
async fn moved_ciphertexts_fail_with_integrity() {
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

    // Token a's envelope on token b.
    let a = inner.get_token("a").await.unwrap().unwrap();
    let mut b = inner.get_token("b").await.unwrap().unwrap();
    b.metadata = a.metadata.clone();
    inner.store_token(&b).await.unwrap();
    assert_integrity(s.get_token("b").await, "\"b\"");
    assert_integrity(s.get_token_by_access_token("at-b").await, "\"b\"");

    // Session a's envelope on session b, and token a's envelope on session a (same id,
    // other namespace).
    let sa = inner.get_session("a").await.unwrap().unwrap();
    let mut sb = inner.get_session("b").await.unwrap().unwrap();
    sb.data = sa.data.clone();
    inner.store_session("b", &sb).await.unwrap();
    assert_integrity(s.get_session("b").await, "\"b\"");
    let mut sa_moved = sa.clone();
    sa_moved.data = a.metadata.clone();
    inner.store_session("a", &sa_moved).await.unwrap();
    assert_integrity(s.get_session("a").await, "\"a\"");

    // Kv a's envelope under key b.
    let va = inner.get_kv("a").await.unwrap().unwrap();
    inner.store_kv("b", &va, None).await.unwrap();
    assert_integrity(s.get_kv("b").await, "\"b\"");
    assert_eq!(s.get_kv("a").await.unwrap(), Some(b"value-a".to_vec()));
}

#[tokio::test]
async fn altered_plaintext_columns_fail_with_integrity() {
    let (inner, s) = setup();
    s.store_token(&full_token("a", "alice", "at-a"))
        .await
        .unwrap();
    s.store_token(&full_token("b", "alice", "at-b"))
        .await
        .unwrap();
    s.store_session("s", &full_session("s", "alice"))
        .await
        .unwrap();
    let a = inner.get_token("a").await.unwrap().unwrap();

    // Moved to another user's list.
    inner
        .store_token(&a.clone().with_user_id("mallory"))
        .await
        .unwrap();
    assert_integrity(s.list_user_tokens("mallory").await, "\"a\"");
    // Lifetime extended.
    let later = a.expires_at + chrono::TimeDelta::hours(1);
    inner
        .store_token(&a.clone().with_expires_at(later))
        .await
        .unwrap();
    assert_integrity(s.get_token("a").await, "expires_at");
    // Token a made to answer for b's access token.
    let b_hash = inner.get_token("b").await.unwrap().unwrap().access_token;
    inner.delete_token("b").await.unwrap();
    inner
        .store_token(&a.clone().with_access_token(b_hash))
        .await
        .unwrap();
    assert_integrity(
        s.get_token_by_access_token("at-b").await,
        "found by an access token it does not hold",
    );

    let stored = inner.get_session("s").await.unwrap().unwrap();
    inner
        .store_session("s", &stored.with_user_id("mallory"))
        .await
        .unwrap();
    assert_integrity(
        s.list_user_sessions("mallory").await,
        "listed among the sessions of user \"mallory\"",
    );
}

#[tokio::test]
async fn wrong_key_fails_with_integrity() {
    let (inner, s) = setup();
    s.store_token(&full_token("t", "alice", "at"))
        .await
        .unwrap();
    s.store_session("s", &full_session("s", "alice"))
        .await
        .unwrap();
    s.store_kv("k", b"v", None).await.unwrap();

    // Same key id, other material.
    let wrong = EncryptedStorage::new(inner.clone(), EncryptionKey::new(1, [0x99; 32]));
    assert_integrity(wrong.get_token("t").await, "\"t\"");
    assert_integrity(wrong.list_user_tokens("alice").await, "\"t\"");
    assert_integrity(wrong.get_session("s").await, "\"s\"");
    assert_integrity(wrong.get_kv("k").await, "\"k\"");
    // Its lookup hash differs, so the access token simply resolves to nothing.
    assert_eq!(wrong.get_token_by_access_token("at").await.unwrap(), None);

    // Another key id: the keyring lacks key 1.
    let unknown = EncryptedStorage::new(inner.clone(), key2());
    for result in [
        unknown.get_token("t").await.map(drop),
        unknown.get_session("s").await.map(drop),
        unknown.get_kv("k").await.map(drop),
    ] {
        assert_integrity(result, "key id 1, which the keyring lacks");
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_records_readable() {
    let inner = MemoryStorage::new();
    let v1 = EncryptedStorage::new(inner.clone(), key1());
    let a = full_token("a", "alice", "at-a");
    let sa = full_session("sa", "alice");
    v1.store_token(&a).await.unwrap();
    v1.store_session("sa", &sa).await.unwrap();
    v1.store_kv("ka", b"old", None).await.unwrap();

    let ring = Keyring::new(key2()).with_old_key(key1()).unwrap();
    let v2 = EncryptedStorage::with_keyring(inner.clone(), ring);
    assert_eq!(v2.get_token("a").await.unwrap(), Some(a.clone()));
    assert_eq!(
        v2.get_token_by_access_token("at-a").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(v2.get_session("sa").await.unwrap(), Some(sa.clone()));
    assert_eq!(v2.get_kv("ka").await.unwrap(), Some(b"old".to_vec()));

    // New writes use key 2.
    let b = full_token("b", "alice", "at-b");
    v2.store_token(&b).await.unwrap();
    v2.store_session("sb", &full_session("sb", "alice"))
        .await
        .unwrap();
    v2.store_kv("kb", b"new", None).await.unwrap();
    let stored_b = inner.get_token("b").await.unwrap().unwrap();
    assert_eq!(stored_b.metadata["kid"], json!(2));
    let stored_sb = inner.get_session("sb").await.unwrap().unwrap();
    assert_eq!(stored_sb.data["kid"], json!(2));
    let stored_kb = inner.get_kv("kb").await.unwrap().unwrap();
    assert_eq!(&stored_kb[1..5], &2u32.to_be_bytes());
    assert_eq!(
        inner.get_token("a").await.unwrap().unwrap().metadata["kid"],
        json!(1)
    );
    assert_eq!(
        v2.get_token_by_access_token("at-b").await.unwrap(),
        Some(b.clone())
    );
    let mut listed = v2.list_user_tokens("alice").await.unwrap();
    listed.sort_by(|x, y| x.token_id.cmp(&y.token_id));
    assert_eq!(listed, vec![a.clone(), b.clone()]);

    // ACC-2 across keys: "at-a" is held under key 1's hash.
    assert_eq!(
        kind(v2.store_token(&full_token("c", "bob", "at-a")).await),
        ErrorKind::Conflict
    );
    v2.store_token(&full_token("c", "bob", "at-c"))
        .await
        .unwrap();
    assert_eq!(
        kind(v2.update_token(&full_token("c", "bob", "at-a")).await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(v2.update_token(&full_token("absent", "bob", "at-a")).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        v2.get_token("c").await.unwrap().unwrap().access_token,
        "at-c"
    );
    // The holder itself may be re-stored: it moves to key 2.
    v2.update_token(&a).await.unwrap();
    assert_eq!(
        inner.get_token("a").await.unwrap().unwrap().metadata["kid"],
        json!(2)
    );
    assert_eq!(v2.get_token_by_access_token("at-a").await.unwrap(), Some(a));
    assert_eq!(
        kind(v2.store_token(&full_token("c", "bob", "at-a")).await),
        ErrorKind::Conflict
    );
    // A handle that knows only key 1 can't read what key 2 wrote.
    assert_integrity(v1.get_token("b").await, "key id 2, which the keyring lacks");
}

#[tokio::test]
async fn debug_shows_inner_and_key_ids_only() {
    let key = EncryptionKey::new(7, [0xab; 32]);
    let encoded = key.to_base64();
    let ring = Keyring::new(key).with_old_key(key1()).unwrap();
    let s = EncryptedStorage::with_keyring(MemoryStorage::new(), ring);
    let shown = format!("{s:?}");
    assert!(shown.contains("MemoryStorage"), "{shown}");
    assert!(shown.contains("current_key_id: 7"), "{shown}");
    assert!(shown.contains("old_key_ids: [1]"), "{shown}");
    assert!(!shown.contains(encoded.as_str()), "{shown}");
    assert!(!shown.contains("171") && !shown.contains("0xab"), "{shown}");
    let clone = s.clone();
    assert_eq!(format!("{clone:?}"), shown);
}

#[tokio::test]
async fn clones_share_data() {
    let (_inner, s) = setup();
    let other = s.clone();
    s.store_kv("k", b"v", None).await.unwrap();
    assert_eq!(other.get_kv("k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "current_thread")]
async fn loops_of_calls_yield_to_other_tasks() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // MemoryStorage never waits, so without a yield point the looping task would run all
    // its calls before the other task gets the (single) thread.
    let (_inner, s) = setup();
    s.store_kv("k", b"v", None).await.unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let looper = {
        let flag = flag.clone();
        tokio::spawn(async move {
            for i in 0..1_000 {
                if flag.load(Ordering::Acquire) {
                    return Some(i);
                }
                s.get_kv("k").await.unwrap();
            }
            None
        })
    };
    let setter = tokio::spawn(async move { flag.store(true, Ordering::Release) });
    let seen_at = looper.await.unwrap();
    setter.await.unwrap();
    assert!(
        seen_at.is_some(),
        "the other task never ran during 1000 calls"
    );
}
