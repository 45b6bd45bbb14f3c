//! `cleanup_expired`: removes what expired with its index entries, keeps every live item
//! exactly as it was, and is idempotent (`CLN-1`, `CLN-2`).

use std::collections::BTreeSet;
use std::time::Duration;

use authstore_spec::validate::max_timestamp;
use authstore_spec::{
    AuthStorage, AuthToken, Capabilities, Capability, SessionData, TimingProfile,
};
use chrono::Utc;

use super::sessions::{
    expect_count, expect_session, expect_user_sessions, expired_session, live_session,
    store_session,
};
use super::tokens::{
    Full, HOUR, expect_lookup, expect_token, expect_token_live, expect_user_tokens, expired, live,
    store,
};
use crate::check::{Check, Failure, Outcome, ensure, expect_bytes, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, with_growing_ttl};
use crate::{Ctx, Scenario, scenario};

const EXPIRY: Capabilities = Capabilities::NONE.with(Capability::Expiry);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            cleanup_on_empty_store_succeeds,
            Cleanup,
            ["CLN-2"],
            Capabilities::NONE,
            "cleanup_expired on an empty store succeeds, twice, and leaves it empty",
            on_empty_store_succeeds
        ),
        scenario!(
            cleanup_with_nothing_expired_changes_nothing,
            Cleanup,
            ["CLN-1", "CLN-2"],
            Capabilities::NONE,
            "with only live tokens, sessions and kv entries, cleanup changes nothing visible",
            with_nothing_expired_changes_nothing
        ),
        scenario!(
            cleanup_removes_stored_expired_keeps_live,
            Cleanup,
            ["CLN-1", "CLN-2", "ACC-3"],
            EXPIRY,
            "cleanup after storing expired items keeps the live ones and frees access tokens",
            removes_stored_expired_keeps_live
        ),
        scenario!(
            cleanup_removes_items_expired_in_place,
            Cleanup,
            ["CLN-1", "CLN-2", "ACC-3"],
            EXPIRY,
            "items that reach their expiry instant are cleaned up; live ones stay identical",
            removes_items_expired_in_place
        ),
        scenario!(
            cleanup_physically_removes_expired,
            Cleanup,
            ["CLN-1", "CLN-2"],
            EXPIRY.with(Capability::Introspection),
            "after cleanup_expired the store holds exactly its live items (the fixture's probe \
             counts expired ones too), and live items read back unchanged",
            physically_removes_expired
        ),
    ]
}

/// What the store must show: live items exactly, gone items nowhere.
#[derive(Debug, Clone, Default)]
struct World {
    tokens: Vec<AuthToken>,
    gone_tokens: Vec<AuthToken>,
    sessions: Vec<SessionData>,
    gone_sessions: Vec<SessionData>,
    kv: Vec<(String, Vec<u8>)>,
    gone_kv: Vec<String>,
}

impl World {
    /// Live tokens, sessions and kv entries of alice, bob and carol, some with edge-case
    /// expiries (year 9999, no TTL), stored into `s`.
    async fn stored_live(s: &dyn AuthStorage) -> Result<World, Failure> {
        let mut world = World {
            tokens: vec![
                live("tok-a1", "alice", "access-a1").with_scopes(["read"]),
                live("tok-a2", "alice", "access-a2").with_expires_at(max_timestamp()),
                live("tok-b1", "bob", "access-b1").with_refresh_token("refresh-b1"),
            ],
            sessions: vec![
                live_session("ses-a1", "alice").with_ip_address("192.0.2.1"),
                live_session("ses-b1", "bob"),
                live_session("ses-c1", "carol").with_expires_at(max_timestamp()),
            ],
            kv: vec![
                ("kv-none".into(), b"no ttl".to_vec()),
                ("kv-hour".into(), b"an hour".to_vec()),
                ("kv-empty".into(), Vec::new()),
                ("kv-bytes".into(), vec![0, 0xFF, 0x80, 0]),
            ],
            ..World::default()
        };
        for token in &world.tokens {
            store(s, token).await?;
        }
        for session in &world.sessions {
            store_session(s, session).await?;
        }
        for (key, value) in &world.kv {
            let ttl = (key == "kv-hour").then_some(HOUR);
            s.store_kv(key, value, ttl)
                .await
                .check(&format!("store_kv({key:?}, ttl {ttl:?})"))?;
        }
        world.kv.sort();
        Ok(world)
    }

    /// Every user any item of the world belongs to.
    fn users(&self) -> BTreeSet<&str> {
        let tokens = self
            .tokens
            .iter()
            .chain(&self.gone_tokens)
            .map(|t| &t.user_id);
        let sessions = self
            .sessions
            .iter()
            .chain(&self.gone_sessions)
            .map(|d| &d.user_id);
        tokens.chain(sessions).map(String::as_str).collect()
    }

    /// Checks every read against the world.
    async fn expect_in(&self, s: &dyn AuthStorage, when: &str) -> Outcome {
        for token in &self.tokens {
            expect_token_live(s, token, when).await?;
        }
        for token in &self.gone_tokens {
            expect_token(s, &token.token_id, None, when).await?;
            if !self
                .tokens
                .iter()
                .any(|t| t.access_token == token.access_token)
            {
                expect_lookup(s, &token.access_token, None, when).await?;
            }
        }
        for session in &self.sessions {
            expect_session(s, &session.session_id, Some(session), when).await?;
        }
        for session in &self.gone_sessions {
            expect_session(s, &session.session_id, None, when).await?;
        }
        for user in self.users() {
            let tokens: Vec<&AuthToken> =
                self.tokens.iter().filter(|t| t.user_id == user).collect();
            expect_user_tokens(s, user, &tokens, when).await?;
            let sessions: Vec<&SessionData> =
                self.sessions.iter().filter(|d| d.user_id == user).collect();
            expect_user_sessions(s, user, &sessions, when).await?;
        }
        expect_count(s, self.sessions.len() as u64, when).await?;
        for (key, value) in &self.kv {
            let call = format!("get_kv({key:?}) {when}");
            let got = s.get_kv(key).await.check(&call)?;
            expect_bytes(got.as_deref(), Some(value), &call)?;
        }
        for key in &self.gone_kv {
            let call = format!("get_kv({key:?}) {when}");
            let got = s.get_kv(key).await.check(&call)?;
            expect_bytes(got.as_deref(), None, &call)?;
        }
        let call = format!("list_kv_keys(\"\") {when}");
        let mut keys = s.list_kv_keys("").await.check(&call)?;
        keys.sort();
        let want: Vec<String> = self.kv.iter().map(|(k, _)| k.clone()).collect();
        expect_eq(&keys, &want, &call)
    }
}

/// Runs `cleanup_expired`, naming the step on failure.
async fn cleanup(s: &dyn AuthStorage, which: &str) -> Outcome {
    s.cleanup_expired()
        .await
        .check(&format!("cleanup_expired() {which}"))
}

async fn on_empty_store_succeeds(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    cleanup(s, "on an empty store").await?;
    cleanup(s, "a second time on an empty store").await?;
    let empty = World::default();
    empty
        .expect_in(s, "after cleanup of an empty store")
        .await?;
    expect_user_tokens(s, "alice", &[], "after cleanup of an empty store").await?;
    expect_user_sessions(s, "alice", &[], "after cleanup of an empty store").await
}

async fn with_nothing_expired_changes_nothing(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let world = World::stored_live(s).await?;
    world.expect_in(s, "before cleanup").await?;
    cleanup(s, "with nothing expired").await?;
    world.expect_in(s, "after the first cleanup").await?;
    cleanup(s, "a second time").await?;
    world.expect_in(s, "after the second cleanup").await
}

/// Adds expired items to `world` and `s`: some stored already expired, some stored live
/// and then re-stored as expired.
async fn add_expired(s: &dyn AuthStorage, world: &mut World, timing: TimingProfile) -> Outcome {
    let born_expired = [
        expired("gone-t1", "alice", "gone-access-1", timing),
        expired("gone-t2", "carol", "gone-access-2", timing),
    ];
    for token in &born_expired {
        store(s, token).await?;
    }
    store(s, &live("gone-t3", "bob", "gone-access-3")).await?;
    let re_expired = expired("gone-t3", "bob", "gone-access-3", timing);
    store(s, &re_expired).await?;
    world.gone_tokens.extend(born_expired);
    world.gone_tokens.push(re_expired);

    let born_expired = expired_session("gone-s1", "alice", timing);
    store_session(s, &born_expired).await?;
    store_session(s, &live_session("gone-s2", "bob")).await?;
    let re_expired = expired_session("gone-s2", "bob", timing);
    store_session(s, &re_expired).await?;
    world.gone_sessions.extend([born_expired, re_expired]);

    s.store_kv("gone-k1", b"born expired", Some(Duration::ZERO))
        .await
        .check("store_kv(\"gone-k1\", ttl 0)")?;
    s.store_kv("gone-k2", b"live", None)
        .await
        .check("store_kv(\"gone-k2\", no ttl)")?;
    s.store_kv("gone-k2", b"now expired", Some(Duration::ZERO))
        .await
        .check("store_kv(\"gone-k2\", ttl 0)")?;
    world.gone_kv.extend(["gone-k1".into(), "gone-k2".into()]);
    Ok(())
}

async fn removes_stored_expired_keeps_live(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let mut world = World::stored_live(s).await?;
    add_expired(s, &mut world, ctx.timing()).await?;
    world.expect_in(s, "before cleanup").await?;
    cleanup(s, "with expired items").await?;
    world.expect_in(s, "after cleanup").await?;

    // The access tokens of expired tokens are free for others.
    let reuser = live("reuser", "dave", "gone-access-1");
    store(s, &reuser).await?;
    world.tokens.push(reuser);
    world
        .expect_in(s, "after reusing an expired token's access token")
        .await?;
    cleanup(s, "a second time").await?;
    world.expect_in(s, "after the second cleanup").await
}

/// How many items (tokens, sessions, kv entries) `world` holds live.
fn live_items(world: &World) -> u64 {
    (world.tokens.len() + world.sessions.len() + world.kv.len()) as u64
}

async fn physically_removes_expired(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let timing = ctx.timing();
    let mut world = World::stored_live(s).await?;
    let live = live_items(&world);
    let stored = ctx.stored_items().await?;
    expect_eq(
        &stored,
        &live,
        "stored items (the fixture's probe) with only live items stored",
    )?;
    add_expired(s, &mut world, timing).await?;
    // Items that expire where they stand, written live: the ones a store keeps longest.
    let ttl = crate::timing::first_short_ttl(timing);
    let token = AuthToken::new("fading-t", "alice", "fading-access", ttl);
    let session = SessionData::new("fading-s", "bob", ttl);
    store(s, &token).await?;
    store_session(s, &session).await?;
    s.store_kv("fading-k", b"fading", Some(ttl))
        .await
        .check("store_kv(\"fading-k\", short ttl)")?;
    let latest = Utc::now();
    world.gone_tokens.push(token.clone());
    world.gone_sessions.push(session.clone());
    world.gone_kv.push("fading-k".into());
    for window in [
        ExpiryWindow::at(token.expires_at, timing),
        ExpiryWindow::at(session.expires_at, timing),
        ExpiryWindow::after_ttl(latest, latest, ttl, timing),
    ] {
        window.wait_until_expired().await;
    }
    // No read before the cleanup: a store may remove what a read meets, and the
    // cleanup must do it alone.
    let before = ctx.stored_items().await?;
    ensure(before >= live, || {
        format!("stored items before cleanup: {before}, fewer than the {live} live items")
    })?;
    cleanup(s, "with expired items never read").await?;
    let after = ctx.stored_items().await?;
    expect_eq(
        &after,
        &live,
        &format!(
            "stored items after cleanup_expired (CLN-1: expired items are removed; {before} \
             were stored before it, {live} are live)"
        ),
    )?;
    world.expect_in(s, "after cleanup").await?;
    cleanup(s, "a second time").await?;
    let again = ctx.stored_items().await?;
    expect_eq(&again, &live, "stored items after a second cleanup_expired")
}

async fn removes_items_expired_in_place(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let world = World::stored_live(s).await?;
    with_growing_ttl(ctx.timing(), |ttl| {
        let ctx = ctx.clone();
        let world = world.clone();
        async move { expired_in_place_attempt(&ctx, world, ttl).await }
    })
    .await
}

async fn expired_in_place_attempt(
    ctx: &Ctx,
    mut world: World,
    ttl: Duration,
) -> Result<Attempt, Failure> {
    let s = &**ctx.storage();
    let timing = ctx.timing();
    let n = ttl.as_millis();
    let token = AuthToken::new(
        format!("short-t{n}"),
        "alice",
        format!("short-access-{n}"),
        ttl,
    );
    let session = SessionData::new(format!("short-s{n}"), "bob", ttl);
    let key = format!("short-k{n}");
    let windows = [
        ExpiryWindow::at(token.expires_at, timing),
        ExpiryWindow::at(session.expires_at, timing),
    ];
    store(s, &token).await?;
    store_session(s, &session).await?;
    let started = Utc::now();
    s.store_kv(&key, b"short", Some(ttl))
        .await
        .check(&format!("store_kv({key:?}, ttl {ttl:?})"))?;
    let kv_window = ExpiryWindow::after_ttl(started, Utc::now(), ttl, timing);

    let before = (
        s.get_token(&token.token_id).await,
        s.get_session(&session.session_id).await,
        s.get_kv(&key).await,
    );
    let ended = Utc::now();
    if !windows
        .iter()
        .chain([&kv_window])
        .all(|w| w.surely_live_at(ended))
    {
        // Leave the store as the next attempt expects it.
        s.delete_token(&token.token_id)
            .await
            .check("delete_token(short token)")?;
        s.delete_session(&session.session_id)
            .await
            .check("delete_session(short session)")?;
        s.delete_kv(&key).await.check("delete_kv(short key)")?;
        return Ok(Attempt::TooSlow);
    }
    let (got_token, got_session, got_kv) = before;
    let got_token = got_token.check("get_token(short token) while it lives")?;
    expect_eq(
        &got_token.map(Full),
        &Some(Full(token.clone())),
        "get_token(short token) while it lives",
    )?;
    let got_session = got_session.check("get_session(short session) while it lives")?;
    expect_eq(
        &got_session,
        &Some(session.clone()),
        "get_session(short session) while it lives",
    )?;
    let got_kv = got_kv.check("get_kv(short key) while it lives")?;
    expect_bytes(
        got_kv.as_deref(),
        Some(b"short"),
        "get_kv(short key) while it lives",
    )?;

    for window in windows.iter().chain([&kv_window]) {
        window.wait_until_expired().await;
    }
    world.gone_tokens.push(token.clone());
    world.gone_sessions.push(session);
    world.gone_kv.push(key);
    cleanup(s, "after the short items expired").await?;
    world
        .expect_in(s, "after cleanup of the expired short items")
        .await?;

    let reuser = live(&format!("reuser-{n}"), "dave", &token.access_token);
    store(s, &reuser).await?;
    world.tokens.push(reuser);
    cleanup(s, "a second time").await?;
    world.expect_in(s, "after the second cleanup").await?;
    Ok(Attempt::Conclusive)
}
