//! Lifetimes shorter than the units a backend may be tempted to round to: kv TTLs from
//! 1 ns to 999 µs (below a millisecond, and far below a second), and tokens and sessions
//! that live under a second with an expiry instant late in its second.
//!
//! A TTL rounded down to whole seconds or milliseconds becomes 0, which some stores read
//! as "no expiry" (the entry lives forever) and others reject (an error): both fail
//! here. An expiry instant stored as whole seconds expires up to a second early
//! (truncated) or late (rounded up): the instant used here is 0.9 s into its second, so
//! either shows against the declared margin.

use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, SessionData};
use chrono::{DateTime, Timelike, Utc};

use crate::check::{Check, Failure, Outcome, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, first_short_ttl, sleep_until, with_growing_ttl_from};
use crate::{Ctx, Scenario, scenario};

/// The kv TTLs below a millisecond.
const TINY_TTLS: [Duration; 6] = [
    Duration::from_nanos(1),
    Duration::from_nanos(999),
    Duration::from_micros(1),
    Duration::from_micros(10),
    Duration::from_micros(500),
    Duration::from_micros(999),
];

/// Where in its second a sub-second expiry instant falls.
const PHASE_NANOS: u32 = 900_000_000;

pub(crate) fn scenarios() -> Vec<Scenario> {
    let expiry = Capabilities::NONE.with(Capability::Expiry);
    vec![
        scenario!(
            expiry_kv_sub_millisecond_ttls_expire,
            Expiry,
            ["TTL-1", "TIME-5", "TIME-2"],
            expiry,
            "kv entries stored with TTLs of 1 ns to 999 µs are accepted and are neither \
             readable nor listed once the TTL and the margin have passed (never kept forever)",
            sub_millisecond_ttls_expire
        ),
        scenario!(
            expiry_sub_second_lifetimes_keep_their_instant,
            Expiry,
            ["TIME-4", "TIME-5", "TIME-2"],
            expiry,
            "a token and a session living under a second, expiring 0.9 s into a second, are \
             visible until that instant and invisible from it, within the margin (no \
             rounding to whole seconds)",
            sub_second_lifetimes_keep_their_instant
        ),
    ]
}

async fn sub_millisecond_ttls_expire(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let timing = ctx.timing();
    s.store_kv("tiny/control", b"stays", None)
        .await
        .check("store_kv(tiny/control)")?;
    let mut latest = Utc::now();
    for ttl in TINY_TTLS {
        let key = format!("tiny/{}ns", ttl.as_nanos());
        let started = Utc::now();
        s.store_kv(&key, b"brief", Some(ttl))
            .await
            .check(&format!("store_kv({key}, ttl {ttl:?})"))?;
        let window = ExpiryWindow::after_ttl(started, Utc::now(), ttl, timing);
        latest = latest.max(window.surely_expired_from());
    }
    sleep_until(latest).await;
    for ttl in TINY_TTLS {
        let key = format!("tiny/{}ns", ttl.as_nanos());
        let got = s.get_kv(&key).await.check(&format!("get_kv({key})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_kv({key}) once its TTL of {ttl:?} and the margin had passed"),
        )?;
    }
    let listed = s.list_kv_keys("tiny/").await.check("list_kv_keys(tiny/)")?;
    expect_eq(
        &listed,
        &vec!["tiny/control".to_string()],
        "list_kv_keys(tiny/) once every sub-millisecond TTL had passed",
    )
}

/// The first instant at least `ttl` from now that lies [`PHASE_NANOS`] into its second.
fn instant_late_in_second(ttl: Duration) -> DateTime<Utc> {
    let earliest = authstore_spec::time::add_duration(Utc::now(), ttl);
    let at_phase = earliest.with_nanosecond(PHASE_NANOS).unwrap_or(earliest);
    if at_phase >= earliest {
        at_phase
    } else {
        at_phase + chrono::Duration::seconds(1)
    }
}

async fn sub_second_lifetimes_keep_their_instant(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl_from(first_short_ttl(timing), |ttl| {
        let ctx = ctx.clone();
        async move { sub_second_attempt(&**ctx.storage(), &ctx, ttl).await }
    })
    .await
}

async fn sub_second_attempt(
    s: &dyn AuthStorage,
    ctx: &Ctx,
    ttl: Duration,
) -> Result<Attempt, Failure> {
    // Wait until the phase is reachable with exactly `ttl` to go.
    let expires_at = instant_late_in_second(ttl);
    sleep_until(expires_at - chrono::Duration::from_std(ttl).unwrap_or_default()).await;
    let n = ttl.as_millis();
    let id = format!("brief-{n}");
    let token = AuthToken::new(&id, "brief-user", format!("brief-acc-{n}"), ttl)
        .with_expires_at(expires_at);
    let session = SessionData::new(&id, "brief-user", ttl).with_expires_at(expires_at);
    let window = ExpiryWindow::at(expires_at, ctx.timing());
    s.store_token(&token)
        .await
        .check(&format!("store_token({id}) expiring at {expires_at}"))?;
    s.store_session(&id, &session)
        .await
        .check(&format!("store_session({id}) expiring at {expires_at}"))?;
    let got_token = s.get_token(&id).await.check(&format!("get_token({id})"))?;
    let got_session = s
        .get_session(&id)
        .await
        .check(&format!("get_session({id})"))?;
    let by_access = s
        .get_token_by_access_token(&token.access_token)
        .await
        .check("get_token_by_access_token")?;
    if !window.surely_live_now() {
        s.delete_token(&id)
            .await
            .check(&format!("delete_token({id})"))?;
        s.delete_session(&id)
            .await
            .check(&format!("delete_session({id})"))?;
        return Ok(Attempt::TooSlow);
    }
    let context = format!("before its expiry instant {expires_at} (lifetime {ttl:?})");
    expect_eq(
        &got_token.as_ref(),
        &Some(&token),
        &format!("get_token({id}) {context}"),
    )?;
    expect_eq(
        &by_access.as_ref(),
        &Some(&token),
        &format!("get_token_by_access_token {context}"),
    )?;
    expect_eq(
        &got_session.as_ref(),
        &Some(&session),
        &format!("get_session({id}) {context}"),
    )?;
    window.wait_until_expired().await;
    let context = format!("once its expiry instant {expires_at} and the margin had passed");
    let got = s.get_token(&id).await.check(&format!("get_token({id})"))?;
    expect_eq(&got, &None, &format!("get_token({id}) {context}"))?;
    let got = s
        .get_session(&id)
        .await
        .check(&format!("get_session({id})"))?;
    expect_eq(&got, &None, &format!("get_session({id}) {context}"))?;
    let listed = s
        .list_user_sessions("brief-user")
        .await
        .check("list_user_sessions(brief-user)")?;
    expect_eq(
        &listed,
        &Vec::new(),
        &format!("list_user_sessions(brief-user) {context}"),
    )?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(&count, &0, &format!("count_active_sessions() {context}"))?;
    Ok(Attempt::Conclusive)
}
