//! A configured default kv TTL (`TTL-2`, `TTL-6`): it applies to `store_kv` with `None`
//! and to nothing else.
//!
//! Each attempt asks the fixture for a fresh store whose default TTL is the attempt's
//! TTL `d` ([`Ctx::store_with_default_ttl`]), so no wait of a production default (an
//! hour) is needed, and an inconclusive attempt leaves nothing behind for the next one.

use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, SessionData};
use chrono::{DateTime, Utc};

use super::sessions::store_session;
use super::tokens::{Full, store};
use crate::check::{Check, Failure, Outcome, expect_bytes, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, with_growing_ttl};
use crate::{Ctx, Scenario, scenario};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![scenario!(
        expiry_default_ttl_applies_to_kv_none_only,
        Expiry,
        ["TTL-2", "TTL-6", "TTL-5", "TIME-4", "TIME-5"],
        Capabilities::NONE
            .with(Capability::Expiry)
            .with(Capability::DefaultTtl),
        "with a default TTL d, kv entries stored with None expire after d; explicit shorter and \
         longer TTLs, and tokens and sessions, keep their own expiry",
        applies_to_kv_none_only
    )]
}

/// How one key is stored: `(key, first ttl, re-stored ttl)`, where a TTL is a multiple
/// of the default (`None`: stored without one, so the default applies).
type KeyPlan = (&'static str, Option<Ttl>, Option<Option<Ttl>>);

/// The keys an attempt stores.
const KEYS: [KeyPlan; 5] = [
    ("none", None, None),
    ("short", Some(Ttl::Half), None),
    ("long", Some(Ttl::Four), None),
    ("none-then-long", None, Some(Some(Ttl::Four))),
    ("long-then-none", Some(Ttl::Four), Some(None)),
];

/// An explicit TTL, as a multiple of the default TTL `d`.
#[derive(Debug, Clone, Copy)]
enum Ttl {
    Half,
    Four,
}

impl Ttl {
    fn of(self, d: Duration) -> Duration {
        match self {
            Ttl::Half => d / 2,
            Ttl::Four => d * 4,
        }
    }
}

async fn applies_to_kv_none_only(ctx: Ctx) -> Outcome {
    with_growing_ttl(ctx.timing(), |d| {
        let ctx = ctx.clone();
        async move { attempt(&ctx, d).await }
    })
    .await
}

async fn attempt(ctx: &Ctx, d: Duration) -> Result<Attempt, Failure> {
    let timing = ctx.timing();
    let store_handle = ctx.store_with_default_ttl(d).await?;
    let s = &*store_handle;
    let when = |phase: &str| format!("{phase} (default TTL {d:?})");

    let started = Utc::now();
    for (key, first, again) in KEYS {
        let value = key.as_bytes();
        put(s, key, value, first.map(|t| t.of(d))).await?;
        if let Some(again) = again {
            put(s, key, value, again.map(|t| t.of(d))).await?;
        }
    }
    let token = AuthToken::new("dttl-token", "dttl-user", "dttl-access", d * 4);
    store(s, &token).await?;
    let session = SessionData::new("dttl-session", "dttl-user", d * 4);
    store_session(s, &session).await?;
    let ended = Utc::now();
    let window = |ttl: Duration| ExpiryWindow::after_ttl(started, ended, ttl, timing);
    let (half, default, long) = (window(d / 2), window(d), window(d * 4));
    let items_window = ExpiryWindow::at(token.expires_at.min(session.expires_at), timing);

    // Phase 1: the explicit short TTL has passed, the default has not.
    half.wait_until_expired().await;
    let phase1 = read_kv(s).await?;
    if !default.surely_live_at(Utc::now()) {
        return Ok(Attempt::TooSlow);
    }
    expect_kv(
        &phase1,
        &["long", "long-then-none", "none", "none-then-long"],
        &when("after the explicit TTL of d/2 passed, before d"),
    )?;

    // Phase 2: the default has passed; explicit long TTLs, tokens and sessions remain.
    default.wait_until_expired().await;
    let phase2 = read_kv(s).await?;
    let by_id = s.get_token(&token.token_id).await.check("get_token")?;
    let by_access = s
        .get_token_by_access_token(&token.access_token)
        .await
        .check("get_token_by_access_token")?;
    let tokens = s
        .list_user_tokens("dttl-user")
        .await
        .check("list_user_tokens")?;
    let by_session_id = s
        .get_session(&session.session_id)
        .await
        .check("get_session")?;
    let sessions = s
        .list_user_sessions("dttl-user")
        .await
        .check("list_user_sessions")?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions")?;
    let read_ended = Utc::now();
    if !long.surely_live_at(read_ended) || !items_window.surely_live_at(read_ended) {
        return Ok(Attempt::TooSlow);
    }
    let when2 = when("after d + margin, before 4d");
    expect_kv(&phase2, &["long", "none-then-long"], &when2)?;
    let live_token = Some(Full(token.clone()));
    expect_eq(&by_id.map(Full), &live_token, &format!("get_token {when2}"))?;
    expect_eq(
        &by_access.map(Full),
        &live_token,
        &format!("get_token_by_access_token {when2}"),
    )?;
    expect_eq(
        &tokens.into_iter().map(Full).collect::<Vec<_>>(),
        &vec![Full(token.clone())],
        &format!("list_user_tokens {when2}"),
    )?;
    expect_eq(
        &by_session_id,
        &Some(session.clone()),
        &format!("get_session {when2}"),
    )?;
    expect_eq(
        &sessions,
        &vec![session.clone()],
        &format!("list_user_sessions {when2}"),
    )?;
    expect_eq(&count, &1, &format!("count_active_sessions {when2}"))?;
    Ok(Attempt::Conclusive)
}

async fn put(s: &dyn AuthStorage, key: &str, value: &[u8], ttl: Option<Duration>) -> Outcome {
    s.store_kv(key, value, ttl)
        .await
        .check(&format!("store_kv({key:?}, ttl {ttl:?})"))
}

/// Every key's value and the full listing, read at one moment.
struct KvView {
    values: Vec<(&'static str, Option<Vec<u8>>)>,
    listed: Vec<String>,
    read_at: DateTime<Utc>,
}

async fn read_kv(s: &dyn AuthStorage) -> Result<KvView, Failure> {
    let mut values = Vec::new();
    for (key, _, _) in KEYS {
        let got = s.get_kv(key).await.check(&format!("get_kv({key:?})"))?;
        values.push((key, got));
    }
    let mut listed = s.list_kv_keys("").await.check("list_kv_keys(\"\")")?;
    listed.sort();
    Ok(KvView {
        values,
        listed,
        read_at: Utc::now(),
    })
}

/// `view` shows exactly the keys `live` (sorted), each with its own value.
fn expect_kv(view: &KvView, live: &[&str], when: &str) -> Outcome {
    for (key, got) in &view.values {
        let expected = live.contains(key).then_some(key.as_bytes());
        expect_bytes(
            got.as_deref(),
            expected,
            &format!("get_kv({key:?}) read by {} {when}", view.read_at),
        )?;
    }
    let live: Vec<String> = live.iter().map(|k| k.to_string()).collect();
    expect_eq(&view.listed, &live, &format!("list_kv_keys(\"\") {when}"))
}
