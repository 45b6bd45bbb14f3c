"""The text of each class in the report README: what their code does, what their docs
say, and the reproduction (shortened from tests/reproductions.rs)."""
EXTRA = {
"C1": """Their trait documents no input rule, and no backend of theirs returns `AuthError::InvalidInput` from storage: empty ids, ids over 255 bytes, NUL bytes, timestamps before 1970 or after 9999, metadata nested 65-200 levels deep and `store_session(id, data)` with `id != data.session_id` are all stored (`Ok`). SPEC.md requires `InvalidInput` and nothing stored. The adapter deliberately does not validate on their behalf (see the adapter's README), so these are their backends' answers. No backend panicked or hung on these inputs.""",
"C2": """Every backend implements `update_token` as a store (`dashmap_memory.rs:523-526`, `core.rs:1051-1054`, `redis.rs:256-259`, `sqlite.rs:152-154`, `unified.rs:423-426`; PostgreSQL updates zero rows and returns `Ok`); their trait says only "Update a token". SPEC.md TOK-7 wants `NotFound` for a missing or expired token; CON-5 then follows: an update racing a delete resurrects the token.""",
"C3": """Their trait says nothing about access-token uniqueness; the in-memory and Redis backends let any number of live tokens share one (`get_token_by_access_token` then returns whichever the index last saw). PostgreSQL and SQLite declare the column `UNIQUE`, and the adapter maps their constraint error to `Conflict`, so they pass ACC-2 (but see D12).""",
"C4": """Their trait: "Expired keys are not listed" and nothing about order (`core.rs:244-249`); DashMap, Unified and `storage::RedisStorage` return hash or `SCAN` order. SPEC.md LST-4 wants ascending byte order. Every failure here was checked to list exactly the expected keys in another order (the classifier compares the two lists as sets; for `kv_keys_round_trip_exactly`, whose message the suite truncates, by reading: their maps store the key `String` as given). `redis-module`, PostgreSQL and SQLite sort.""",
"C5": """`DashMapMemoryStorage::with_ttl` is documented as "Create storage with default TTL for all stored items" (`dashmap_memory.rs:168`): tokens stored through it get the default TTL too, as documented. SPEC.md TTL-6 limits a default TTL to kv entries stored without one.""",
"C6": """A TTL of `Duration::MAX` or `u64::MAX` ms is sent to Redis as `PSETEX` milliseconds, which Redis refuses (`invalid expire time`): an error, not a silent loss. SPEC.md TTL-4 reads 100 years or more as no expiry; their trait does not.""",
"C7": """`redis.rs:516-519` refuses an already-expired token on purpose with its own message; SPEC.md TOK-5 stores it (replacing any earlier version) and shows nothing. Note that the same backend accepts an expired *session* (D9).""",
"D1": """Re-storing token `t1` with a new access token leaves `access → t1` for the old one (`dashmap_memory.rs:439-451`, `core.rs:988-1011`, `redis.rs:510-559`, `unified.rs:366-392`); the old access token then finds a token that no longer carries it.

```rust
let store = MemoryStorage::new();
store.store_token(&token("t1", "alice", "old")).await?;
store.store_token(&token("t1", "alice", "new")).await?;
// Expected None: t1's access token is now "new".
assert_eq!(store.get_token_by_access_token("old").await?.map(|t| t.access_token), Some("new".into()));
```""",
"D2": """User lists are appended to on every store and never told about a change of user (`dashmap_memory.rs:383-409`, `unified.rs:381-392,488-499`, Redis sets not cleaned on re-store; PostgreSQL's session upsert does not update the `user_id` column, `postgres.rs:339-343`).

```rust
let store = DashMapMemoryStorage::new();
store.store_token(&token("t1", "alice", "a")).await?;
store.store_token(&token("t1", "alice", "a")).await?;
assert_eq!(store.list_user_tokens("alice").await?.len(), 2);   // expected 1
store.store_token(&token("t1", "bob", "a")).await?;
assert!(store.list_user_tokens("alice").await?.iter().any(|t| t.user_id == "bob")); // expected none
```""",
"D3": """`list_user_tokens`/`list_user_sessions` return records whose `expires_at` has passed, while `get_token`/`get_session` of the same store hide them: DashMap checks only its store-wide TTL (`dashmap_memory.rs:575`), PostgreSQL and SQLite have no expiry filter in the list queries (`postgres.rs:317-330`, `sqlite.rs:165-178,228-241`). Their trait does not spell out expiry for lists; it is classified a defect because each backend's own lookup treats those records as gone.

```rust
let store = MemoryStorage::new();
let mut expired = token("t1", "alice", "a");
expired.expires_at = Utc::now() - chrono::Duration::seconds(1);
store.store_token(&expired).await?;
assert_eq!(store.list_user_tokens("alice").await?.len(), 1);   // expected 0
assert!(store.get_token("t1").await?.is_none());
```""",
"D4": """`MemoryStorage::list_kv_keys` calls `list_kv_keys_by_prefix`, which has no expiry filter (`core.rs:765-767`, `dashmap_memory.rs:423-434`), although their trait says "Expired keys are not listed" (DashMap's own `list_kv_keys` filters).

```rust
let store = MemoryStorage::new();
store.store_kv("k", b"v", Some(Duration::from_millis(1))).await?;
tokio::time::sleep(Duration::from_millis(20)).await;
assert_eq!(store.list_kv_keys("k").await?, vec!["k"]);          // expected []
```""",
"D5": """`cleanup_expired` removes tokens only when the store-wide TTL expired them (`dashmap_memory.rs:878-882`), so without `with_ttl` expired tokens are never pruned, contrary to "periodically called to prune stale tokens and sessions" (`core.rs:41-42`).

```rust
let store = DashMapMemoryStorage::new();
let mut expired = token("t1", "alice", "a");
expired.expires_at = Utc::now() - chrono::Duration::seconds(1);
store.store_token(&expired).await?;
store.cleanup_expired().await?;
assert_eq!(store.get_storage_statistics()["total_tokens"], json!(1)); // expected 0
```""",
"D6": """`(expires_at.timestamp() - now.timestamp()) as u64` turns a past instant into a huge `Duration`, and `SystemTime + Duration` panics (`unified.rs:366-367,477-478,299`); the same for kv TTLs near `Duration::MAX`. The runner caught each panic and recorded it (GEN-1).

```rust
let store = UnifiedStorage::new();
let mut expired = token("t1", "alice", "a");
expired.expires_at = Utc::now() - chrono::Duration::seconds(1);
store.store_token(&expired).await;   // panics: overflow when adding duration to instant
```""",
"D7": """`total_memory` is increased by every store and never decreased by deletes or overwrites (`unified.rs:321,610`), so the limit counts cumulative writes, not live data. Seen at the default 512 MiB in one scenario; the capacity scenarios were not claimed (see "Not claimed").

```rust
let store = UnifiedStorage::with_config(UnifiedStorageConfig { max_memory: 1 << 20, ..Default::default() });
for _ in 0..2048 { store.store_kv("one-key", &[0; 1024], None).await?; } // fails near round 1024: Memory limit exceeded
```""",
"D8": """The cleanup task keeps its own `total_memory` starting at 0 (`unified.rs:162-171`) and subtracts the bytes it frees: the `u64` wraps, `aggressive_cleanup` then evicts entries oldest-first until a target it can never reach, i.e. all of them, live ones included. It first runs right after construction, then every 60 s; which scenarios it hits depends on timing.

```rust
let store = UnifiedStorage::new();
store.store_kv("live", b"stays", None).await?;
store.store_kv("brief", b"x", Some(Duration::from_nanos(1))).await?;
tokio::time::sleep(Duration::from_millis(300)).await;
assert_eq!(store.get_kv("live").await?, None);                  // expected Some
```""",
"D9": """`storage::RedisStorage` stores tokens and sessions with `SET EX max(1, secs)` (`core.rs:982,1120`) and kv with `PSETEX max(1, ms)` (`core.rs:1273`); `storage::redis::RedisStorage` stores an expired session for its default TTL, 1 h (`redis.rs:266-270`); neither checks `expires_at` on reads. The fixtures declare 1 s granularity, so this is not a timing-margin artefact: the items were stored an hour past their expiry, or with TTL zero.

```rust
let store = RedisStorage::new(&url, "repro:")?;
let mut expired = token("t1", "alice", "a");
expired.expires_at = Utc::now() - chrono::Duration::hours(1);
store.store_token(&expired).await?;
assert!(store.get_token("t1").await?.is_some());                // expected None
store.store_kv("k", b"new", Some(Duration::ZERO)).await?;
assert_eq!(store.get_kv("k").await?, Some(b"new".to_vec()));    // expected None
```""",
"D10": """`core.rs:1342-1352` puts the prefix into `SCAN MATCH` unescaped; `postgres.rs:611-619` and `sqlite.rs:416-428` into `LIKE '{prefix}%'` unescaped, and SQLite's `LIKE` is ASCII-case-insensitive. `redis-module` escapes its pattern and is not affected.

```rust
let store = RedisStorage::new(&url, "repro:")?;                 // storage::RedisStorage
store.store_kv("a*b", b"1", None).await?;
store.store_kv("abc", b"2", None).await?;
assert_eq!(sorted(store.list_kv_keys("a*").await?), ["a*b", "abc"]); // expected ["a*b"]
// PostgreSQL: list_kv_keys("a%") lists "abc"; SQLite: list_kv_keys("user") lists "USER:1".
```""",
"D11": """`store_token`'s `ON CONFLICT` updates only `access_token, refresh_token, expires_at, user_profile, permissions, roles` (`postgres.rs:187-193`); `update_token` omits `user_id` (`postgres.rs:257-275`). No single call moves a token to another user or changes its scopes.

```rust
store.store_token(&token("t1", "alice", "a1")).await?;
let mut moved = token("t1", "bob", "a1");
moved.scopes = Scopes(vec!["new".into()]);
store.store_token(&moved).await?;
let read = store.get_token("t1").await?.unwrap();
assert_eq!((read.user_id.as_str(), read.scopes.0.len()), ("alice", 0)); // expected ("bob", 1)
```""",
"D12": """`access_token TEXT NOT NULL UNIQUE` (`postgres.rs:79`, `sqlite.rs:40`) is held by expired rows until `cleanup_expired`: SPEC.md ACC-3 frees an access token when its holder expires.

```rust
let mut expired = token("t2", "alice", "shared");
expired.expires_at = Utc::now() - chrono::Duration::hours(1);
store.store_token(&expired).await?;
store.store_token(&token("t3", "bob", "shared")).await.unwrap_err(); // duplicate key ... auth_tokens_access_token_key
```""",
"D13": """PostgreSQL `TEXT` and `JSONB` cannot hold U+0000; Rust strings can, and their types accept them. The other backends (JSON text) round-trip it.

```rust
let mut nul = token("t4", "alice", "a4");
nul.scopes = Scopes(vec!["a\\u{0}b".into()]);
store.store_token(&nul).await.unwrap_err(); // invalid byte sequence for encoding "UTF8": 0x00
```""",
"D14": """PostgreSQL maps a `chrono::Duration::from_std` failure to zero seconds (`postgres.rs:415-418`); SQLite computes `ttl.as_millis() as i64`, which wraps to -1 for `Duration::MAX` (`sqlite.rs:90`): the value is stored already expired, with `Ok`.

```rust
store.store_kv("forever", b"v", Some(Duration::MAX)).await?;
assert_eq!(store.get_kv("forever").await?, None);               // expected Some(b"v")
```""",
"D15": """SQLite keeps kv `expires_at` in whole seconds and compares with the current second (`sqlite.rs:89-92,377`), so TTL zero (SPEC.md TTL-3: already expired) stays visible until the second ends. The fixture declares 1 s granularity; TTL zero has no margin.

```rust
store.store_kv("k", b"v", Some(Duration::ZERO)).await?;
assert_eq!(store.get_kv("k").await?, Some(b"v".to_vec()));      // expected None
```""",
"D16": """`redis.rs:553-556` runs `EXPIRE` on the user's token set with the newest token's lifetime, shortening it for older, longer-lived tokens.

```rust
let store = redis::RedisStorage::with_config(&url, "repro:", HOUR).await?;
store.store_token(&token("long", "alice", "a-long")).await?;
let mut short = token("short", "alice", "a-short");
short.expires_at = Utc::now() + chrono::Duration::seconds(3);
store.store_token(&short).await?;
tokio::time::sleep(Duration::from_millis(3200)).await;
assert!(store.list_user_tokens("alice").await?.is_empty());     // expected ["long"]
```""",
"U1": """Not seen in the published run. In two later runs made at the same time on this 2-core machine (debug build), three concurrency scenarios of `encrypted-memory` and one of `redis-module` hit the scenario's 60 s task timeout; alone they finish in seconds. With the three backend groups of `ci/check-compat` running at once, `redis-core`'s two 5 000-record scenarios exceeded the 120 s scenario timeout (37.7 s in the published run; `storage::RedisStorage` opens a new connection for every call, `core.rs:790-798`). Listed so that `ci/check-compat` names it when it recurs; a deadlock in their code is not excluded, but there is no evidence of one.""",
}
