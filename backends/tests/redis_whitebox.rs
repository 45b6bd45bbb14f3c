//! White-box tests of `RedisStorage` against live servers: what it leaves in Redis, how
//! many requests each method costs, and how it fails when Redis does not answer.
//!
//! They need the `redis-storage` feature and the servers of `ci/start-redis`
//! (`AUTHSTORE_REDIS_URL`, and `AUTHSTORE_REDIS_CLUSTER_URLS` for the cluster test):
//! `cargo test -p authstore-backends --features redis-storage --test redis_whitebox`.

#[cfg(not(feature = "redis-storage"))]
#[test]
#[ignore = "needs the redis-storage feature: cargo test -p authstore-backends --features \
            redis-storage --test redis_whitebox"]
fn redis_whitebox_needs_the_redis_storage_feature() {}

#[cfg(feature = "redis-storage")]
mod live {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    use authstore_backends::{RedisConfig, RedisStorage};
    use authstore_spec::{AuthStorage, AuthToken, ErrorKind, SessionData};
    use chrono::{TimeDelta, Utc};
    use redis::aio::MultiplexedConnection;
    use redis::{ConnectionAddr, IntoConnectionInfo, Value};
    use sha2::{Digest, Sha256};

    const ADVICE: &str =
        "start servers with `eval \"$(bash ci/start-redis)\"` or point it at your own Redis";
    const HOUR: Duration = Duration::from_secs(3600);

    fn url() -> String {
        std::env::var("AUTHSTORE_REDIS_URL")
            .unwrap_or_else(|_| panic!("AUTHSTORE_REDIS_URL is not set: {ADVICE}"))
    }

    fn cluster_urls() -> Vec<String> {
        let urls = std::env::var("AUTHSTORE_REDIS_CLUSTER_URLS")
            .unwrap_or_else(|_| panic!("AUTHSTORE_REDIS_CLUSTER_URLS is not set: {ADVICE}"));
        urls.split(',').map(|u| u.trim().to_owned()).collect()
    }

    /// `host:port` of a `redis://` URL.
    fn address(url: &str) -> String {
        let info = url
            .into_connection_info()
            .unwrap_or_else(|err| panic!("{url} is not a Redis URL: {err}"));
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => panic!("{url}: only plain TCP servers are supported here, not {other:?}"),
        }
    }

    /// A prefix no other test or run uses, free of glob characters.
    fn unique_prefix(test: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = Utc::now().timestamp_subsec_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("whitebox:{test}:{}-{n}-{nanos}:", std::process::id())
    }

    async fn storage(prefix: &str) -> RedisStorage {
        RedisConfig::new(url())
            .with_prefix(prefix)
            .connect()
            .await
            .unwrap_or_else(|err| panic!("cannot connect to AUTHSTORE_REDIS_URL ({err}): {ADVICE}"))
    }

    async fn raw() -> MultiplexedConnection {
        let client = redis::Client::open(url()).expect("AUTHSTORE_REDIS_URL is a Redis URL");
        client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|err| panic!("cannot connect to AUTHSTORE_REDIS_URL ({err}): {ADVICE}"))
    }

    fn sha256_hex(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The last visible millisecond the storage must give an item expiring at `at`.
    fn last_ms(at: chrono::DateTime<Utc>) -> i64 {
        at.timestamp_micros().div_euclid(1000) - 1
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
    }

    // ---- dumping a prefix ----

    #[derive(Debug, Clone)]
    enum Val {
        Str(Vec<u8>),
        Hash(BTreeMap<Vec<u8>, Vec<u8>>),
        ZSet(Vec<(Vec<u8>, f64)>),
        Other(String),
    }

    /// Every key under a prefix: its value and `PEXPIRETIME` (-1: none).
    #[derive(Debug)]
    struct Dump {
        base: String,
        keys: BTreeMap<Vec<u8>, (Val, i64)>,
        /// The server's clock (ms since the epoch) when the dump began.
        now: i64,
    }

    impl Dump {
        /// Keys of one kind (`token:`, `user:`, ...), with the base and kind stripped.
        fn kind(&self, kind: &str) -> Vec<(Vec<u8>, &Val, i64)> {
            let start = format!("{}{kind}", self.base).into_bytes();
            self.keys
                .iter()
                .filter(|(k, _)| k.starts_with(&start))
                .map(|(k, (v, exp))| (k[start.len()..].to_vec(), v, *exp))
                .collect()
        }

        fn get(&self, rest: &[u8]) -> Option<&(Val, i64)> {
            let mut key = self.base.as_bytes().to_vec();
            key.extend_from_slice(rest);
            self.keys.get(&key)
        }

        fn zset(&self, rest: &[u8]) -> BTreeMap<Vec<u8>, f64> {
            match self.get(rest) {
                Some((Val::ZSet(members), _)) => members.iter().cloned().collect(),
                _ => BTreeMap::new(),
            }
        }

        /// Every byte string stored under the prefix: key names, values, fields, members.
        fn all_bytes(&self) -> Vec<(String, Vec<u8>)> {
            let mut out = Vec::new();
            for (key, (val, _)) in &self.keys {
                let name = String::from_utf8_lossy(key).into_owned();
                out.push((format!("key name {name}"), key.clone()));
                match val {
                    Val::Str(v) => out.push((format!("value of {name}"), v.clone())),
                    Val::Hash(fields) => {
                        for (f, v) in fields {
                            let field = String::from_utf8_lossy(f);
                            out.push((format!("field name {field} of {name}"), f.clone()));
                            out.push((format!("field {field} of {name}"), v.clone()));
                        }
                    }
                    Val::ZSet(members) => {
                        for (m, _) in members {
                            out.push((format!("member of {name}"), m.clone()));
                        }
                    }
                    Val::Other(t) => out.push((format!("{t} {name}"), Vec::new())),
                }
            }
            out
        }
    }

    async fn dump(conn: &mut MultiplexedConnection, prefix: &str) -> Dump {
        let base = format!("{{{prefix}}}");
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(conn).await.expect("TIME");
        let now = secs * 1000 + micros / 1000;
        let mut keys = BTreeMap::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{base}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .expect("SCAN");
            for key in found {
                let kind: String = redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(conn)
                    .await
                    .expect("TYPE");
                let val = match kind.as_str() {
                    // Expired since SCAN saw it: TYPE's lookup removed it.
                    "none" => continue,
                    "string" => Val::Str(
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async(conn)
                            .await
                            .expect("GET"),
                    ),
                    "hash" => Val::Hash(
                        redis::cmd("HGETALL")
                            .arg(&key)
                            .query_async(conn)
                            .await
                            .expect("HGETALL"),
                    ),
                    "zset" => Val::ZSet(
                        redis::cmd("ZRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(-1)
                            .arg("WITHSCORES")
                            .query_async(conn)
                            .await
                            .expect("ZRANGE"),
                    ),
                    other => Val::Other(other.to_owned()),
                };
                let expiry: i64 = redis::cmd("PEXPIRETIME")
                    .arg(&key)
                    .query_async(conn)
                    .await
                    .expect("PEXPIRETIME");
                keys.insert(key, (val, expiry));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Dump { base, keys, now }
    }

    // ---- the consistency check ----

    fn hash_field<'a>(fields: &'a BTreeMap<Vec<u8>, Vec<u8>>, name: &str) -> Option<&'a [u8]> {
        fields.get(name.as_bytes()).map(Vec::as_slice)
    }

    fn owner_member(user: &[u8], id: &[u8]) -> Vec<u8> {
        let mut m = user.to_vec();
        m.push(0);
        m.extend_from_slice(id);
        m
    }

    /// Every disagreement between items and indexes in `d`, and every index entry of an
    /// item that is not live: empty when the layout's invariants hold and no expired
    /// index entry is left.
    fn problems(d: &Dump) -> Vec<String> {
        let mut out = Vec::new();
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let tokens_index = d.zset(b"index:tokens");
        let sessions_index = d.zset(b"index:sessions");
        let kv_index = d.zset(b"index:kv");
        let kv_expiry = d.zset(b"index:kv-expiry");

        // Tokens: each hash against the record inside it and against every index.
        let mut tokens: BTreeMap<Vec<u8>, (Vec<u8>, Vec<u8>, i64)> = BTreeMap::new();
        for (id, val, exp) in d.kind("token:") {
            let Val::Hash(fields) = val else {
                out.push(format!("token {} is not a hash", show(&id)));
                continue;
            };
            let (Some(record), Some(user), Some(access)) = (
                hash_field(fields, "record"),
                hash_field(fields, "user"),
                hash_field(fields, "access"),
            ) else {
                out.push(format!("token {} lacks a field", show(&id)));
                continue;
            };
            match serde_json::from_slice::<AuthToken>(record) {
                Ok(t) => {
                    if t.token_id.as_bytes() != id.as_slice() || t.user_id.as_bytes() != user {
                        out.push(format!("token {} record disagrees with its key", show(&id)));
                    }
                    if sha256_hex(&t.access_token).as_bytes() != access {
                        out.push(format!("token {} access digest is wrong", show(&id)));
                    }
                    if exp != last_ms(t.expires_at) {
                        out.push(format!("token {} expires at {exp}", show(&id)));
                    }
                }
                Err(err) => out.push(format!("token {} record: {err}", show(&id))),
            }
            let mut access_key = b"access:".to_vec();
            access_key.extend_from_slice(access);
            match d.get(&access_key) {
                Some((Val::Str(holder), a_exp)) if *holder == id && *a_exp == exp => {}
                other => out.push(format!("token {} access entry is {other:?}", show(&id))),
            }
            let mut user_key = b"user:".to_vec();
            user_key.extend_from_slice(user);
            user_key.extend_from_slice(b":tokens");
            if d.zset(&user_key).get(&id) != Some(&(exp as f64)) {
                out.push(format!("token {} missing from its user's index", show(&id)));
            }
            if tokens_index.get(&owner_member(user, &id)) != Some(&(exp as f64)) {
                out.push(format!("token {} missing from index:tokens", show(&id)));
            }
            tokens.insert(id, (user.to_vec(), access.to_vec(), exp));
        }
        for (digest, val, _) in d.kind("access:") {
            let ok = matches!(val, Val::Str(id)
                if tokens.get(id).is_some_and(|(_, access, _)| *access == digest));
            if !ok {
                out.push(format!("access entry {} is orphaned", show(&digest)));
            }
        }
        for (m, score) in &tokens_index {
            let Some(at) = m.iter().position(|b| *b == 0) else {
                out.push(format!("index:tokens member {} has no NUL", show(m)));
                continue;
            };
            let (user, id) = (&m[..at], &m[at + 1..]);
            let ok = tokens
                .get(id)
                .is_some_and(|(u, _, exp)| u == user && *exp as f64 == *score);
            if !ok {
                out.push(format!("index:tokens member {} is orphaned", show(m)));
            }
        }

        // Sessions.
        let mut sessions: BTreeMap<Vec<u8>, (Vec<u8>, i64)> = BTreeMap::new();
        for (id, val, exp) in d.kind("session:") {
            let Val::Hash(fields) = val else {
                out.push(format!("session {} is not a hash", show(&id)));
                continue;
            };
            let (Some(record), Some(user)) =
                (hash_field(fields, "record"), hash_field(fields, "user"))
            else {
                out.push(format!("session {} lacks a field", show(&id)));
                continue;
            };
            match serde_json::from_slice::<SessionData>(record) {
                Ok(s) => {
                    if s.session_id.as_bytes() != id.as_slice() || s.user_id.as_bytes() != user {
                        out.push(format!(
                            "session {} record disagrees with its key",
                            show(&id)
                        ));
                    }
                    if exp != last_ms(s.expires_at) {
                        out.push(format!("session {} expires at {exp}", show(&id)));
                    }
                }
                Err(err) => out.push(format!("session {} record: {err}", show(&id))),
            }
            let mut user_key = b"user:".to_vec();
            user_key.extend_from_slice(user);
            user_key.extend_from_slice(b":sessions");
            if d.zset(&user_key).get(&id) != Some(&(exp as f64)) {
                out.push(format!(
                    "session {} missing from its user's index",
                    show(&id)
                ));
            }
            if sessions_index.get(&owner_member(user, &id)) != Some(&(exp as f64)) {
                out.push(format!("session {} missing from index:sessions", show(&id)));
            }
            sessions.insert(id, (user.to_vec(), exp));
        }
        for (m, score) in &sessions_index {
            let Some(at) = m.iter().position(|b| *b == 0) else {
                out.push(format!("index:sessions member {} has no NUL", show(m)));
                continue;
            };
            let (user, id) = (&m[..at], &m[at + 1..]);
            let ok = sessions
                .get(id)
                .is_some_and(|(u, exp)| u == user && *exp as f64 == *score);
            if !ok {
                out.push(format!("index:sessions member {} is orphaned", show(m)));
            }
        }

        // Per-user indexes, both kinds: every member is a live item of that user.
        for (rest, val, exp) in d.kind("user:") {
            let Val::ZSet(members) = val else {
                out.push(format!("user index {} is not a sorted set", show(&rest)));
                continue;
            };
            let (user, is_tokens) = if let Some(u) = rest.strip_suffix(b":tokens") {
                (u, true)
            } else if let Some(u) = rest.strip_suffix(b":sessions") {
                (u, false)
            } else {
                out.push(format!("unknown user index {}", show(&rest)));
                continue;
            };
            for (id, score) in members {
                let owner_and_expiry = if is_tokens {
                    tokens.get(id).map(|(u, _, e)| (u, *e))
                } else {
                    sessions.get(id).map(|(u, e)| (u, *e))
                };
                let ok = owner_and_expiry.is_some_and(|(u, e)| u == user && e as f64 == *score);
                if !ok {
                    out.push(format!(
                        "user index {} member {} is orphaned",
                        show(&rest),
                        show(id)
                    ));
                }
                if exp < *score as i64 {
                    out.push(format!(
                        "user index {} expires before a member",
                        show(&rest)
                    ));
                }
            }
        }

        // Kv entries and their two indexes.
        let mut entries: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (key, val, exp) in d.kind("kv:") {
            if !matches!(val, Val::Str(_)) {
                out.push(format!("kv entry {} is not a string", show(&key)));
            }
            if kv_index.get(&key) != Some(&0.0) {
                out.push(format!("kv entry {} missing from index:kv", show(&key)));
            }
            match (exp >= 0, kv_expiry.get(&key).copied()) {
                (true, score) if score != Some(exp as f64) => {
                    out.push(format!("kv entry {} expiry index disagrees", show(&key)));
                }
                // A permanent entry may keep the member of an earlier version that
                // expired (store_kv writes permanent entries with two commands), until
                // that member's time has passed: pruning drops it then.
                (false, Some(score)) if score < d.now as f64 => {
                    out.push(format!(
                        "index:kv-expiry member {} is stale: its entry is permanent",
                        show(&key)
                    ));
                }
                _ => {}
            }
            entries.insert(key, exp);
        }
        for key in kv_index.keys() {
            if !entries.contains_key(key) {
                out.push(format!("index:kv member {} is orphaned", show(key)));
            }
        }
        for key in kv_expiry.keys() {
            if !entries.contains_key(key) {
                out.push(format!("index:kv-expiry member {} is orphaned", show(key)));
            }
        }

        // Nothing else lives under the prefix.
        let known = ["token:", "access:", "session:", "user:", "kv:"];
        let indexes: [&[u8]; 4] = [
            b"index:tokens",
            b"index:sessions",
            b"index:kv",
            b"index:kv-expiry",
        ];
        for key in d.keys.keys() {
            let rest = &key[d.base.len()..];
            let ok =
                known.iter().any(|k| rest.starts_with(k.as_bytes())) || indexes.contains(&rest);
            if !ok {
                out.push(format!("unknown key {}", show(key)));
            }
        }
        out
    }

    fn expires_in(ttl: Duration) -> chrono::DateTime<Utc> {
        authstore_spec::time::add_duration(authstore_spec::time::now_micros(), ttl)
    }

    // ---- tests ----

    /// SPEC.md `ACC-5`: the access token appears in no key name and no index; the only
    /// copy is inside the token's own record (which `get_token` must return), and an access
    /// token replaced by another appears nowhere at all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_plaintext_access_token_outside_its_record() {
        let prefix = unique_prefix("secrets");
        let s = storage(&prefix).await;
        let mut conn = raw().await;
        let secret = |n: u32| format!("plaintext-access-secret-{n}-Zq");
        let t1 = AuthToken::new("t1", "alice", secret(1), HOUR).with_refresh_token("refresh-1");
        let t2 = AuthToken::new("t2", "bob", secret(2), HOUR);
        let t3 = AuthToken::new("t3", "carol", secret(3), HOUR);
        s.store_token(&t1).await.expect("store t1");
        s.store_token(&t2).await.expect("store t2");
        s.store_token(&t3).await.expect("store t3");
        // t2's first access token is replaced, t3 is deleted: neither may stay anywhere.
        let t2 = t2.with_access_token(secret(4)).with_user_id("dave");
        s.update_token(&t2).await.expect("update t2");
        s.delete_token("t3").await.expect("delete t3");
        s.store_session("s1", &SessionData::new("s1", "alice", HOUR))
            .await
            .expect("store s1");
        s.store_kv("k1", b"v", None).await.expect("store k1");

        let d = dump(&mut conn, &prefix).await;
        assert!(problems(&d).is_empty(), "{:#?}", problems(&d));
        for (n, live_in) in [(1, Some("t1")), (2, None), (3, None), (4, Some("t2"))] {
            let needle = secret(n);
            let mut found = 0;
            for (place, bytes) in d.all_bytes() {
                if !contains(&bytes, needle.as_bytes()) {
                    continue;
                }
                found += 1;
                let allowed = live_in.is_some_and(|id| {
                    place.ends_with(&format!("record of {{{prefix}}}token:{id}"))
                });
                assert!(allowed, "access token {n} found in {place}");
            }
            // A live token's one copy is in its record: the search does find text.
            assert_eq!(
                found,
                usize::from(live_in.is_some()),
                "copies of access token {n}"
            );
            // The live ones are indexed by their digest, which the dump must show.
            if live_in.is_some() {
                let key = format!("access:{}", sha256_hex(&needle));
                assert!(d.get(key.as_bytes()).is_some(), "no {key}");
            }
        }
        assert_eq!(
            s.get_token_by_access_token(&secret(4))
                .await
                .expect("lookup")
                .map(|t| t.token_id),
            Some("t2".to_owned())
        );
        s.purge().await.expect("purge");
    }

    /// SPEC.md `CLN-1`, `CON-3`: after a history of moves, replacements, deletes, expired
    /// re-stores and expiries, `cleanup_expired` leaves every index entry pointing at a live
    /// item that agrees with it, and every live item in all of its indexes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cleanup_leaves_no_orphaned_index_members() {
        let prefix = unique_prefix("cleanup");
        let s = storage(&prefix).await;
        let mut conn = raw().await;
        let short = Duration::from_millis(600);
        let users = ["alice", "bob", "x:tokens", "{evil}", "user:bob:tokens"];

        // Live items of every kind, with ids that look like internal key names.
        for (i, user) in users.iter().enumerate() {
            let token = AuthToken::new(format!("live-{i}"), *user, format!("at-live-{i}"), HOUR);
            s.store_token(&token).await.expect("store live token");
            let session = SessionData::new(format!("live-{i}"), *user, HOUR);
            s.store_session(&session.session_id, &session)
                .await
                .expect("store live session");
            s.store_kv(&format!("live:{user}*[?]"), b"v", None)
                .await
                .expect("store live kv");
        }
        // More short-lived items than the writes below prune on their way.
        for i in 0..12 {
            let user = users[i % users.len()];
            let token = AuthToken::new(format!("short-{i}"), user, format!("at-short-{i}"), short);
            s.store_token(&token).await.expect("store short token");
            let session = SessionData::new(format!("short-{i}"), user, short);
            s.store_session(&session.session_id, &session)
                .await
                .expect("store short session");
            s.store_kv(&format!("short-{i}"), b"v", Some(short))
                .await
                .expect("store short kv");
        }
        // Moves, replacements and deletes of live items.
        let moved = AuthToken::new("moved", "alice", "at-moved-1", HOUR);
        s.store_token(&moved).await.expect("store moved");
        let moved = moved.with_user_id("bob").with_access_token("at-moved-2");
        s.store_token(&moved).await.expect("re-store moved");
        let shortened = AuthToken::new("shortened", "alice", "at-shortened", HOUR);
        s.store_token(&shortened).await.expect("store shortened");
        s.update_token(&shortened.clone().with_expires_at(expires_in(short)))
            .await
            .expect("shorten");
        s.store_token(&AuthToken::new("deleted", "bob", "at-deleted", HOUR))
            .await
            .expect("store deleted");
        s.delete_token("deleted").await.expect("delete");
        let past = Utc::now() - TimeDelta::seconds(5);
        s.store_token(&AuthToken::new("hidden", "bob", "at-hidden", HOUR))
            .await
            .expect("store hidden");
        s.store_token(&AuthToken::new("hidden", "bob", "at-hidden", HOUR).with_expires_at(past))
            .await
            .expect("hide");
        let session = SessionData::new("s-moved", "alice", HOUR);
        s.store_session("s-moved", &session)
            .await
            .expect("store s-moved");
        s.store_session("s-moved", &session.clone().with_user_id("bob"))
            .await
            .expect("move s-moved");
        s.store_session("s-deleted", &SessionData::new("s-deleted", "bob", HOUR))
            .await
            .expect("store s-deleted");
        s.delete_session("s-deleted")
            .await
            .expect("delete s-deleted");
        s.store_kv("zeroed", b"v", None)
            .await
            .expect("store zeroed");
        s.store_kv("zeroed", b"w", Some(Duration::ZERO))
            .await
            .expect("zero zeroed");
        s.store_kv("made-permanent", b"v", Some(short))
            .await
            .expect("store made-permanent");
        s.store_kv("made-permanent", b"w", None)
            .await
            .expect("make permanent");
        s.store_kv("deleted", b"v", Some(HOUR))
            .await
            .expect("store kv deleted");
        s.delete_kv("deleted").await.expect("delete kv");
        // Expired, then re-stored for another user: the old owner's entries are stale.
        let comeback = AuthToken::new("comeback", "alice", "at-comeback", short);
        s.store_token(&comeback).await.expect("store comeback");
        let s_comeback = SessionData::new("s-comeback", "alice", short);
        s.store_session("s-comeback", &s_comeback)
            .await
            .expect("store s-comeback");

        let d = dump(&mut conn, &prefix).await;
        assert!(
            problems(&d).is_empty(),
            "before expiry: {:#?}",
            problems(&d)
        );

        tokio::time::sleep(short + RedisStorage::TIMING.margin() + Duration::from_millis(50)).await;
        s.store_token(
            &comeback
                .clone()
                .with_user_id("carol")
                .with_expires_at(expires_in(HOUR)),
        )
        .await
        .expect("comeback token");
        s.store_session(
            "s-comeback",
            &s_comeback
                .with_user_id("carol")
                .with_expires_at(expires_in(HOUR)),
        )
        .await
        .expect("comeback session");

        // The expired items' index entries are still there (the check can fail)...
        let d = dump(&mut conn, &prefix).await;
        let before = problems(&d);
        for kind in ["index:tokens", "index:sessions", "index:kv-expiry"] {
            assert!(
                before.iter().any(|p| p.contains(kind)),
                "expected stale {kind} entries before cleanup: {before:#?}"
            );
        }
        // ...and cleanup removes every one of them, and nothing live.
        s.cleanup_expired().await.expect("cleanup_expired");
        let d = dump(&mut conn, &prefix).await;
        assert!(
            problems(&d).is_empty(),
            "after cleanup: {:#?}",
            problems(&d)
        );

        let ids = |kind: &str| -> BTreeSet<String> {
            d.kind(kind)
                .into_iter()
                .map(|(id, _, _)| String::from_utf8_lossy(&id).into_owned())
                .collect()
        };
        let mut expected: BTreeSet<String> =
            (0..users.len()).map(|i| format!("live-{i}")).collect();
        expected.extend(["moved".to_owned(), "comeback".to_owned()]);
        assert_eq!(ids("token:"), expected);
        let mut expected: BTreeSet<String> =
            (0..users.len()).map(|i| format!("live-{i}")).collect();
        expected.extend(["s-moved".to_owned(), "s-comeback".to_owned()]);
        assert_eq!(ids("session:"), expected);
        let mut expected: BTreeSet<String> =
            users.iter().map(|u| format!("live:{u}*[?]")).collect();
        expected.insert("made-permanent".to_owned());
        assert_eq!(ids("kv:"), expected);
        assert_eq!(s.count_active_sessions().await.expect("count"), 7);
        let alice: Vec<String> = s
            .list_user_tokens("alice")
            .await
            .expect("list_user_tokens")
            .into_iter()
            .map(|t| t.token_id)
            .collect();
        assert_eq!(alice, ["live-0"]);
        s.purge().await.expect("purge");
    }

    // ---- counting requests with MONITOR ----

    /// `MONITOR` on one node, read by a thread, and a second connection for markers.
    struct NodeMonitor {
        lines: mpsc::Receiver<String>,
        stream: TcpStream,
        marker: TcpStream,
    }

    impl NodeMonitor {
        fn start(addr: &str) -> Self {
            let mut stream = TcpStream::connect(addr).expect("connect MONITOR");
            stream.write_all(b"MONITOR\r\n").expect("send MONITOR");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut ok = String::new();
            reader.read_line(&mut ok).expect("MONITOR reply");
            assert_eq!(ok.trim_end(), "+OK", "MONITOR refused");
            let (tx, lines) = mpsc::channel();
            thread::spawn(move || {
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if tx.send(std::mem::take(&mut line)).is_err() {
                        break;
                    }
                }
            });
            let marker = TcpStream::connect(addr).expect("connect marker");
            Self {
                lines,
                stream,
                marker,
            }
        }

        /// Sends `ECHO text` and waits for its reply: every command this node ran before
        /// is then already in the MONITOR feed, ahead of the marker.
        fn mark(&mut self, text: &str) {
            let cmd = format!("*2\r\n$4\r\nECHO\r\n${}\r\n{text}\r\n", text.len());
            self.marker.write_all(cmd.as_bytes()).expect("send ECHO");
            let mut reply = vec![0u8; text.len() + 32];
            let mut got = 0;
            while !contains(&reply[..got], text.as_bytes()) {
                let n = self.marker.read(&mut reply[got..]).expect("ECHO reply");
                assert!(n > 0, "marker connection closed");
                got += n;
            }
        }

        /// The names of the commands from clients (not from scripts) mentioning `needle`
        /// up to the line of `marker`.
        fn commands_until(&self, marker: &str, needle: &str) -> Vec<String> {
            let mut found = Vec::new();
            loop {
                let line = self
                    .lines
                    .recv_timeout(Duration::from_secs(10))
                    .expect("MONITOR line");
                if line.contains(marker) {
                    return found;
                }
                // `+<time> [<db> <client address or "lua">] "CMD" "arg" ...`
                let (Some(open), Some(close)) = (line.find('['), line.find(']')) else {
                    continue;
                };
                let from_script = line[open + 1..close].split_whitespace().nth(1) == Some("lua");
                if !from_script && line.contains(needle) {
                    let name = line[close + 1..].split('"').nth(1).unwrap_or("?");
                    found.push(name.to_owned());
                }
            }
        }
    }

    impl Drop for NodeMonitor {
        fn drop(&mut self) {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Monitors every node of a deployment and counts what one storage sends.
    struct Probe {
        nodes: Vec<NodeMonitor>,
        needle: String,
        marks: u32,
    }

    impl Probe {
        fn start(addrs: &[String], prefix: &str) -> Self {
            Self {
                nodes: addrs.iter().map(|a| NodeMonitor::start(a)).collect(),
                needle: prefix.to_owned(),
                marks: 0,
            }
        }

        /// The commands the storage sent since the previous call, on every node.
        fn commands(&mut self) -> Vec<String> {
            self.marks += 1;
            let marker = format!("round-trip-marker-{}-{}", std::process::id(), self.marks);
            tokio::task::block_in_place(|| {
                let mut all = Vec::new();
                for node in &mut self.nodes {
                    node.mark(&marker);
                }
                for node in &self.nodes {
                    all.extend(node.commands_until(&marker, &self.needle));
                }
                all
            })
        }
    }

    /// Calls every method (and the failure outcomes of the writes) and checks that each
    /// sent exactly one request, or none when validation rejected the input first.
    async fn one_request_per_method(s: &RedisStorage, probe: &mut Probe) {
        let one = |probe: &mut Probe, method: &str, expected: &str| {
            let sent = probe.commands();
            assert_eq!(sent, [expected], "{method} must be one request");
        };
        let token = AuthToken::new("t1", "alice", "at-1", HOUR);
        s.store_token(&token).await.expect("store_token");
        one(probe, "store_token", "FCALL");
        s.get_token("t1").await.expect("get_token");
        one(probe, "get_token", "HGET");
        s.get_token_by_access_token("at-1")
            .await
            .expect("by access");
        one(probe, "get_token_by_access_token", "FCALL");
        s.update_token(&token.clone().with_access_token("at-2"))
            .await
            .expect("update_token");
        one(probe, "update_token", "FCALL");
        let missing = s
            .update_token(&AuthToken::new("nope", "alice", "at-3", HOUR))
            .await;
        assert_eq!(missing.map_err(|e| e.kind()), Err(ErrorKind::NotFound));
        one(probe, "update_token (not found)", "FCALL");
        let clash = s
            .store_token(&AuthToken::new("t2", "bob", "at-2", HOUR))
            .await;
        assert_eq!(clash.map_err(|e| e.kind()), Err(ErrorKind::Conflict));
        one(probe, "store_token (conflict)", "FCALL");
        s.list_user_tokens("alice").await.expect("list_user_tokens");
        one(probe, "list_user_tokens", "FCALL");
        s.delete_token("t1").await.expect("delete_token");
        one(probe, "delete_token", "FCALL");
        let session = SessionData::new("s1", "alice", HOUR);
        s.store_session("s1", &session)
            .await
            .expect("store_session");
        one(probe, "store_session", "FCALL");
        s.get_session("s1").await.expect("get_session");
        one(probe, "get_session", "HGET");
        s.list_user_sessions("alice")
            .await
            .expect("list_user_sessions");
        one(probe, "list_user_sessions", "FCALL");
        s.count_active_sessions()
            .await
            .expect("count_active_sessions");
        one(probe, "count_active_sessions", "FCALL");
        s.delete_session("s1").await.expect("delete_session");
        one(probe, "delete_session", "FCALL");
        s.store_kv("k1", b"v", Some(HOUR)).await.expect("store_kv");
        one(probe, "store_kv", "FCALL");
        s.get_kv("k1").await.expect("get_kv");
        one(probe, "get_kv", "GET");
        s.list_kv_keys("k").await.expect("list_kv_keys");
        one(probe, "list_kv_keys", "FCALL");
        s.delete_kv("k1").await.expect("delete_kv");
        one(probe, "delete_kv", "FCALL");
        s.cleanup_expired().await.expect("cleanup_expired");
        one(probe, "cleanup_expired", "FCALL");
        // Invalid input is rejected before any request.
        assert!(s.get_token("").await.is_err());
        assert!(s.store_kv("a\0b", b"v", None).await.is_err());
        assert!(
            s.store_session("s2", &SessionData::new("s3", "u", HOUR))
                .await
                .is_err()
        );
        assert_eq!(
            probe.commands(),
            Vec::<String>::new(),
            "invalid input sent requests"
        );
    }

    /// The "one round trip per method", counted by the server: every command a
    /// client sends appears once in `MONITOR` (commands run by scripts are marked `lua`
    /// and not counted). Script operations are one `FCALL` of the function library.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_method_is_one_request_on_a_single_node() {
        let prefix = unique_prefix("round-trips");
        let s = storage(&prefix).await;
        let mut probe = Probe::start(&[address(&url())], &prefix);
        one_request_per_method(&s, &mut probe).await;
        s.purge().await.expect("purge");
    }

    /// The same on the cluster, watching every node: the hash tag sends each request to
    /// the one master of the prefix's slot, with no redirection or second hop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_method_is_one_request_on_a_cluster() {
        let prefix = unique_prefix("cluster-round-trips");
        let urls = cluster_urls();
        let s = RedisConfig::cluster(urls.clone())
            .with_prefix(prefix.as_str())
            .connect()
            .await
            .unwrap_or_else(|err| {
                panic!("cannot connect to AUTHSTORE_REDIS_CLUSTER_URLS ({err}): {ADVICE}")
            });
        let addrs: Vec<String> = urls.iter().map(|u| address(u)).collect();
        let mut probe = Probe::start(&addrs, &prefix);
        one_request_per_method(&s, &mut probe).await;
        s.purge().await.expect("purge");
    }

    // ---- failures ----

    /// A TCP proxy to `upstream` that can stop passing bytes on, like a hung server.
    struct Proxy {
        addr: String,
        frozen: Arc<AtomicBool>,
    }

    impl Proxy {
        fn start(upstream: String) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
            let addr = listener.local_addr().expect("proxy address").to_string();
            let frozen = Arc::new(AtomicBool::new(false));
            let gate = frozen.clone();
            thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { break };
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        break;
                    };
                    for (from, to) in [
                        (client.try_clone(), server.try_clone()),
                        (server.try_clone(), client.try_clone()),
                    ] {
                        let (Ok(from), Ok(to)) = (from, to) else {
                            return;
                        };
                        let gate = gate.clone();
                        thread::spawn(move || pipe(from, to, &gate));
                    }
                }
            });
            Self { addr, frozen }
        }
    }

    fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            while frozen.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(5));
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    }

    fn expect_unavailable<T: std::fmt::Debug>(
        method: &str,
        result: authstore_spec::Result<T>,
        took: Duration,
        limit: Duration,
    ) {
        assert_eq!(
            result.as_ref().map_err(|e| e.kind()).err(),
            Some(ErrorKind::Unavailable),
            "{method} against a hung server: {result:?}"
        );
        assert!(took < limit, "{method} took {took:?} against a hung server");
    }

    /// SPEC.md `GEN-2`, `ERR-1`: when Redis stops answering, every method fails with
    /// `Unavailable` within the operation timeout, and works again once Redis answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_server_is_unavailable_within_the_timeout() {
        let timeout = Duration::from_millis(300);
        let proxy = Proxy::start(address(&url()));
        let prefix = unique_prefix("hung");
        let s = RedisConfig::new(format!("redis://{}", proxy.addr))
            .with_prefix(prefix.as_str())
            .with_operation_timeout(timeout)
            .connect()
            .await
            .expect("connect through the proxy");
        s.store_kv("k", b"v", None).await.expect("store_kv");
        proxy.frozen.store(true, Ordering::SeqCst);
        let limit = timeout + Duration::from_millis(500);
        let started = Instant::now();
        let result = s.get_kv("k").await;
        expect_unavailable("get_kv", result, started.elapsed(), limit);
        let started = Instant::now();
        let result = s.store_kv("k", b"w", None).await;
        expect_unavailable("store_kv", result, started.elapsed(), limit);
        let started = Instant::now();
        let result = s.count_active_sessions().await;
        expect_unavailable("count_active_sessions", result, started.elapsed(), limit);
        let started = Instant::now();
        let result = s.get_token("t").await;
        expect_unavailable("get_token", result, started.elapsed(), limit);
        proxy.frozen.store(false, Ordering::SeqCst);
        // The replies held back arrive now; the connection (or a new one) serves again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match s.get_kv("k").await {
                Ok(value) => {
                    assert!(value.is_some());
                    break;
                }
                Err(err) if Instant::now() < deadline => {
                    eprintln!("not yet back: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("the storage did not recover: {err}"),
            }
        }
        storage(&prefix).await.purge().await.expect("purge");
    }

    /// Connecting fails cleanly: refused is `Unavailable`, a server that never answers is
    /// `Unavailable` within the timeout, a bad prefix or URL is `InvalidInput`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connect_failures_are_typed_errors() {
        let timeout = Duration::from_millis(300);
        // A port with nothing listening: bind one, then free it.
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let refused = format!("redis://{}", free.local_addr().expect("address"));
        drop(free);
        let result = RedisConfig::new(refused)
            .with_operation_timeout(timeout)
            .connect()
            .await;
        assert_eq!(
            result.map_err(|e| e.kind()).map(drop),
            Err(ErrorKind::Unavailable)
        );

        // A server that accepts and never answers.
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let silent_url = format!("redis://{}", silent.local_addr().expect("address"));
        thread::spawn(move || {
            let mut held = Vec::new();
            for conn in silent.incoming().flatten() {
                held.push(conn);
            }
        });
        let started = Instant::now();
        let result = RedisConfig::new(silent_url)
            .with_operation_timeout(timeout)
            .connect()
            .await;
        assert_eq!(
            result.map_err(|e| e.kind()).map(drop),
            Err(ErrorKind::Unavailable)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );

        for prefix in ["", "a{b", "a}b"] {
            let result = RedisConfig::new(url()).with_prefix(prefix).connect().await;
            assert_eq!(
                result.map_err(|e| e.kind()).map(drop),
                Err(ErrorKind::InvalidInput),
                "{prefix:?}"
            );
        }
        let result = RedisStorage::new("not a url").await;
        assert_eq!(
            result.map_err(|e| e.kind()).map(drop),
            Err(ErrorKind::InvalidInput)
        );
    }

    /// A `redis-server` of this test's own (Debian's package, as `ci/start-redis` installs),
    /// without persistence: tests can fill it, flush its scripts and restart it without
    /// disturbing anyone.
    struct OwnServer {
        child: std::process::Child,
        port: u16,
        dir: std::path::PathBuf,
    }

    impl OwnServer {
        fn start(port: u16) -> Self {
            let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
            let dir = std::env::temp_dir().join(format!("authstore-whitebox-{port}-{nanos}"));
            std::fs::create_dir_all(&dir).expect("server directory");
            let child = std::process::Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--maxmemory-policy", "noeviction"])
                .arg("--dir")
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|err| {
                    panic!(
                        "cannot run redis-server ({err}): install Debian's redis-server ({ADVICE})"
                    )
                });
            let server = Self { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(10);
            while !server.answers() {
                assert!(
                    Instant::now() < deadline,
                    "redis-server on port {port} did not start"
                );
                thread::sleep(Duration::from_millis(20));
            }
            server
        }

        fn answers(&self) -> bool {
            let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) else {
                return false;
            };
            let mut reply = [0u8; 7];
            conn.write_all(b"PING\r\n").is_ok()
                && conn.read_exact(&mut reply).is_ok()
                && &reply == b"+PONG\r\n"
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.port)
        }

        fn stop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for OwnServer {
        fn drop(&mut self) {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    fn kind<T: std::fmt::Debug>(result: &authstore_spec::Result<T>) -> Option<ErrorKind> {
        result.as_ref().err().map(|e| e.kind())
    }

    /// On a server of its own: a full server (`maxmemory`) refuses writes with
    /// `CapacityExceeded` and no partial change (`GEN-4`), while reads, deletes and
    /// listings still work; a lost script cache is refilled on the way; a stopped server
    /// makes calls fail with `Unavailable` in time, and a restarted one serves again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_flushed_and_restarted_server() {
        let mut server = OwnServer::start(free_port());
        let s = RedisConfig::new(server.url())
            .with_operation_timeout(Duration::from_secs(1))
            .connect()
            .await
            .expect("connect to the own server");
        let token = AuthToken::new("t1", "alice", "at-1", HOUR);
        s.store_token(&token).await.expect("store_token");
        s.store_session("s1", &SessionData::new("s1", "alice", HOUR))
            .await
            .expect("store_session");

        s.store_kv("k", b"v", None).await.expect("store_kv");
        let mut conn = redis::Client::open(server.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection");
        let set_maxmemory = |bytes: u64| {
            let mut cmd = redis::cmd("CONFIG");
            cmd.arg("SET").arg("maxmemory").arg(bytes);
            cmd
        };
        // A limit far below what the server holds: it is full.
        let () = set_maxmemory(1)
            .query_async(&mut conn)
            .await
            .expect("CONFIG SET maxmemory");
        let result = s.store_kv("k2", b"v", None).await;
        assert_eq!(
            kind(&result),
            Some(ErrorKind::CapacityExceeded),
            "{result:?}"
        );
        // A refused write changes nothing: the token keeps its user and access token.
        let moved = token.clone().with_user_id("bob").with_access_token("at-2");
        let result = s.store_token(&moved).await;
        assert_eq!(
            kind(&result),
            Some(ErrorKind::CapacityExceeded),
            "{result:?}"
        );
        assert_eq!(
            s.get_token("t1").await.expect("get_token"),
            Some(token.clone())
        );
        let by_old = s
            .get_token_by_access_token("at-1")
            .await
            .expect("by access");
        assert_eq!(by_old.map(|t| t.token_id), Some("t1".to_owned()));
        assert_eq!(
            s.get_token_by_access_token("at-2")
                .await
                .expect("by access"),
            None
        );
        assert_eq!(s.list_user_tokens("bob").await.expect("list"), Vec::new());
        assert_eq!(s.count_active_sessions().await.expect("count"), 1);
        assert_eq!(s.list_kv_keys("").await.expect("list"), ["k"]);
        // Removing works while full.
        s.delete_kv("k").await.expect("delete_kv while full");
        s.delete_session("s1")
            .await
            .expect("delete_session while full");
        s.cleanup_expired()
            .await
            .expect("cleanup_expired while full");
        assert_eq!(s.get_kv("k").await.expect("get_kv"), None);
        let () = set_maxmemory(0)
            .query_async(&mut conn)
            .await
            .expect("CONFIG SET maxmemory");
        s.store_token(&moved)
            .await
            .expect("store_token with memory again");

        // The server forgets the scripts: each is sent whole once, then cached again.
        let () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .expect("SCRIPT FLUSH");
        let by_new = s
            .get_token_by_access_token("at-2")
            .await
            .expect("after SCRIPT FLUSH");
        assert_eq!(by_new.map(|t| t.user_id), Some("bob".to_owned()));
        assert_eq!(s.list_user_tokens("alice").await.expect("list"), Vec::new());

        // Stopped: calls fail in time. Restarted (empty, no persistence): served again.
        server.stop();
        let started = Instant::now();
        let result = s.get_kv("k").await;
        assert_eq!(kind(&result), Some(ErrorKind::Unavailable), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        let server = OwnServer::start(server.port);
        let deadline = Instant::now() + Duration::from_secs(15);
        while let Err(err) = s.store_kv("after", b"v", None).await {
            assert!(
                Instant::now() < deadline,
                "no recovery after restart: {err}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            s.get_kv("after").await.expect("get_kv"),
            Some(b"v".to_vec())
        );
        assert_eq!(
            s.get_token("t1").await.expect("get_token"),
            None,
            "data survived?"
        );
        drop(server);
    }

    /// Redis reads the raw reply types the storage relies on (sanity of the dump helper).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dump_sees_what_the_storage_wrote() {
        let prefix = unique_prefix("dump");
        let s = storage(&prefix).await;
        let mut conn = raw().await;
        s.store_kv("bin", &[0, 0xFF, b'x'], None)
            .await
            .expect("store_kv");
        let d = dump(&mut conn, &prefix).await;
        match d.get(b"kv:bin") {
            Some((Val::Str(v), -1)) => assert_eq!(v, &[0, 0xFF, b'x']),
            other => panic!("kv:bin is {other:?}"),
        }
        let v: Value = redis::cmd("ZSCORE")
            .arg(format!("{{{prefix}}}index:kv"))
            .arg("bin")
            .query_async(&mut conn)
            .await
            .expect("ZSCORE");
        assert_ne!(v, Value::Nil);
        s.purge().await.expect("purge");
        assert!(
            dump(&mut conn, &prefix).await.keys.is_empty(),
            "purge left keys"
        );
    }
}
