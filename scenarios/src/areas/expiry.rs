//! Expiry of every kind of item, and kv TTLs (`TIME-*`, `TTL-*`).
//!
//! Every wait comes from [`with_growing_ttl`] and [`ExpiryWindow`]: an attempt whose
//! "still visible" reads end too close to the expiry instant is inconclusive
//! ([`Attempt::TooSlow`]), removes what it stored, and is retried with a longer TTL.

use std::time::Duration;

use authstore_spec::time::{NO_EXPIRY_THRESHOLD, add_duration, now_micros};
use authstore_spec::{AuthToken, Capabilities, Capability, SessionData};
use chrono::{DateTime, TimeDelta, Utc};

use crate::check::{Check, Outcome, expect_bytes, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, sleep_until, with_growing_ttl};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn scenarios() -> Vec<Scenario> {
    let expiry = Capabilities::NONE.with(Capability::Expiry);
    vec![
        scenario!(
            expiry_kv_ttl_expires_on_time,
            Expiry,
            ["TTL-1", "TIME-2", "TIME-4", "TIME-5"],
            expiry,
            "a kv entry is readable and listed until write + ttl, and neither from then on",
            kv_ttl_expires_on_time
        ),
        scenario!(
            expiry_kv_ttls_are_per_key,
            Expiry,
            ["TTL-1", "TIME-4", "TIME-5"],
            expiry,
            "a short-TTL key expires while a longer-TTL key stays readable, then that one expires",
            kv_ttls_are_per_key
        ),
        scenario!(
            expiry_kv_zero_ttl_hides_value,
            Expiry,
            ["TTL-3", "TIME-2"],
            expiry,
            "store_kv with a zero TTL succeeds and hides the key, including its earlier value",
            kv_zero_ttl_hides_value
        ),
        scenario!(
            expiry_kv_huge_ttls_mean_no_expiry,
            Expiry,
            ["TTL-4"],
            Capabilities::NONE,
            "TTLs of 100 years, 200 years and up to Duration::MAX are accepted and the entries \
             are readable",
            kv_huge_ttls_mean_no_expiry
        ),
        scenario!(
            expiry_kv_restore_shortens_ttl,
            Expiry,
            ["TTL-5", "TIME-5"],
            expiry,
            "re-storing a key without expiry or with a long TTL with a short TTL makes it expire",
            kv_restore_shortens_ttl
        ),
        scenario!(
            expiry_kv_restore_lengthens_ttl,
            Expiry,
            ["TTL-5", "TTL-2"],
            expiry,
            "re-storing a short-TTL key with no TTL or a long TTL keeps it past the first expiry",
            kv_restore_lengthens_ttl
        ),
        scenario!(
            expiry_token_expires_on_time,
            Expiry,
            ["TIME-2", "TIME-4", "TIME-5"],
            expiry,
            "a token is found by id, access token and user list until expires_at, by none after",
            token_expires_on_time
        ),
        scenario!(
            expiry_session_expires_on_time,
            Expiry,
            ["TIME-2", "TIME-4", "TIME-5", "CNT-2"],
            expiry,
            "a session is readable, listed and counted until expires_at, and none of these after",
            session_expires_on_time
        ),
        scenario!(
            expiry_items_at_expiry_instant_are_invisible,
            Expiry,
            ["TIME-1", "TIME-2"],
            expiry,
            "tokens, sessions and kv entries whose expiry instant is now or past are invisible \
             to every read, with no cleanup run",
            items_at_expiry_instant_are_invisible
        ),
    ]
}

/// Sleeps until a fifth of `ttl` before `expires_at`, so that a "still visible" read
/// there catches an item that expires early (`TIME-4`), not only one that is never
/// visible. A read that then ends too late is inconclusive, never wrong.
async fn sleep_until_late_in_life(expires_at: DateTime<Utc>, ttl: Duration) {
    let lead = TimeDelta::from_std(ttl / 5).unwrap_or(TimeDelta::zero());
    sleep_until(expires_at.checked_sub_signed(lead).unwrap_or(expires_at)).await;
}

/// A per-attempt name, so an inconclusive attempt never disturbs the next one.
fn attempt_name(what: &str, ttl: Duration) -> String {
    format!("{what}-{}ms", ttl.as_millis())
}

async fn kv_ttl_expires_on_time(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl(timing, |ttl| {
        let ctx = ctx.clone();
        async move {
            let s = ctx.storage();
            let prefix = format!("{}/", attempt_name("ttl", ttl));
            let key = format!("{prefix}k");
            let started = Utc::now();
            s.store_kv(&key, b"v", Some(ttl))
                .await
                .check(&format!("store_kv({key}, ttl {ttl:?})"))?;
            let window = ExpiryWindow::after_ttl(started, Utc::now(), ttl, timing);
            sleep_until_late_in_life(add_duration(started, ttl), ttl).await;
            let got = s.get_kv(&key).await.check(&format!("get_kv({key})"))?;
            let listed = s
                .list_kv_keys(&prefix)
                .await
                .check(&format!("list_kv_keys({prefix})"))?;
            if !window.surely_live_now() {
                s.delete_kv(&key)
                    .await
                    .check(&format!("delete_kv({key})"))?;
                return Ok(Attempt::TooSlow);
            }
            expect_bytes(
                got.as_deref(),
                Some(b"v"),
                &format!("get_kv({key}) at 80% of its ttl {ttl:?}"),
            )?;
            expect_eq(
                &listed,
                &vec![key.clone()],
                &format!("list_kv_keys({prefix}) at 80% of the ttl"),
            )?;
            window.wait_until_expired().await;
            let got = s.get_kv(&key).await.check(&format!("get_kv({key})"))?;
            expect_eq(
                &got,
                &None,
                &format!("get_kv({key}) after ttl {ttl:?} + margin"),
            )?;
            let listed = s
                .list_kv_keys(&prefix)
                .await
                .check(&format!("list_kv_keys({prefix})"))?;
            expect_eq(
                &listed,
                &Vec::<String>::new(),
                &format!("list_kv_keys({prefix}) after the ttl + margin"),
            )?;
            Ok(Attempt::Conclusive)
        }
    })
    .await
}

async fn kv_ttls_are_per_key(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl(timing, |ttl| {
        let ctx = ctx.clone();
        async move {
            let s = ctx.storage();
            let prefix = format!("{}/", attempt_name("pair", ttl));
            let short = format!("{prefix}short");
            let long = format!("{prefix}long");
            let long_ttl = ttl.saturating_mul(4);
            let started = Utc::now();
            s.store_kv(&long, b"L", Some(long_ttl))
                .await
                .check(&format!("store_kv({long}, ttl {long_ttl:?})"))?;
            let long_window = ExpiryWindow::after_ttl(started, Utc::now(), long_ttl, timing);
            let long_expiry = add_duration(started, long_ttl);
            let started = Utc::now();
            s.store_kv(&short, b"S", Some(ttl))
                .await
                .check(&format!("store_kv({short}, ttl {ttl:?})"))?;
            let short_window = ExpiryWindow::after_ttl(started, Utc::now(), ttl, timing);
            sleep_until_late_in_life(add_duration(started, ttl), ttl).await;
            let got_short = s.get_kv(&short).await.check(&format!("get_kv({short})"))?;
            if !short_window.surely_live_now() {
                remove_keys(&ctx, &[&short, &long]).await?;
                return Ok(Attempt::TooSlow);
            }
            expect_bytes(
                got_short.as_deref(),
                Some(b"S"),
                &format!("get_kv({short}) at 80% of its ttl"),
            )?;
            short_window.wait_until_expired().await;
            sleep_until_late_in_life(long_expiry, long_ttl).await;
            let got_short = s.get_kv(&short).await.check(&format!("get_kv({short})"))?;
            let got_long = s.get_kv(&long).await.check(&format!("get_kv({long})"))?;
            let listed = s
                .list_kv_keys(&prefix)
                .await
                .check(&format!("list_kv_keys({prefix})"))?;
            if !long_window.surely_live_now() {
                remove_keys(&ctx, &[&short, &long]).await?;
                return Ok(Attempt::TooSlow);
            }
            expect_eq(
                &got_short,
                &None,
                &format!("get_kv({short}) after its ttl + margin"),
            )?;
            expect_bytes(
                got_long.as_deref(),
                Some(b"L"),
                &format!("get_kv({long}) at 80% of its ttl, after the shorter key expired"),
            )?;
            expect_eq(
                &listed,
                &vec![long.clone()],
                &format!("list_kv_keys({prefix}) between the two expiries"),
            )?;
            long_window.wait_until_expired().await;
            let got_long = s.get_kv(&long).await.check(&format!("get_kv({long})"))?;
            expect_eq(
                &got_long,
                &None,
                &format!("get_kv({long}) after its ttl + margin"),
            )?;
            Ok(Attempt::Conclusive)
        }
    })
    .await
}

async fn remove_keys(ctx: &Ctx, keys: &[&str]) -> Outcome {
    for key in keys {
        ctx.storage()
            .delete_kv(key)
            .await
            .check(&format!("delete_kv({key})"))?;
    }
    Ok(())
}

async fn kv_zero_ttl_hides_value(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    s.store_kv("z/replaced", b"old", None)
        .await
        .check("store_kv(z/replaced, no ttl)")?;
    s.store_kv("z/kept", b"kept", None)
        .await
        .check("store_kv(z/kept, no ttl)")?;
    s.store_kv("z/replaced", b"new", Some(Duration::ZERO))
        .await
        .check("store_kv(z/replaced, ttl 0)")?;
    s.store_kv("z/fresh", b"fresh", Some(Duration::ZERO))
        .await
        .check("store_kv(z/fresh, ttl 0)")?;
    for key in ["z/replaced", "z/fresh"] {
        let got = s.get_kv(key).await.check(&format!("get_kv({key})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_kv({key}) after store_kv with ttl 0"),
        )?;
    }
    let got = s.get_kv("z/kept").await.check("get_kv(z/kept)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"kept"),
        "get_kv(z/kept) next to zero-TTL keys",
    )?;
    let listed = s.list_kv_keys("z/").await.check("list_kv_keys(z/)")?;
    expect_eq(
        &listed,
        &vec!["z/kept".to_string()],
        "list_kv_keys(z/) with two zero-TTL keys",
    )
}

async fn kv_huge_ttls_mean_no_expiry(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let ttls = [
        ("100y", NO_EXPIRY_THRESHOLD),
        ("200y", NO_EXPIRY_THRESHOLD.saturating_mul(2)),
        ("10000y", NO_EXPIRY_THRESHOLD.saturating_mul(100)),
        // Would overflow i64 milliseconds, seconds and nanoseconds respectively.
        ("u64-millis", Duration::from_millis(u64::MAX)),
        ("u64-secs", Duration::from_secs(u64::MAX)),
        ("i64-nanos+1", Duration::from_nanos(i64::MAX as u64 + 1)),
        ("max", Duration::MAX),
    ];
    for (name, ttl) in ttls {
        let key = format!("huge/{name}");
        s.store_kv(&key, name.as_bytes(), Some(ttl))
            .await
            .check(&format!("store_kv({key}, ttl {ttl:?})"))?;
    }
    let mut expected = Vec::new();
    for (name, ttl) in ttls {
        let key = format!("huge/{name}");
        let got = s.get_kv(&key).await.check(&format!("get_kv({key})"))?;
        expect_bytes(
            got.as_deref(),
            Some(name.as_bytes()),
            &format!("get_kv({key}) stored with ttl {ttl:?} (no expiry)"),
        )?;
        expected.push(key);
    }
    expected.sort();
    let listed = s.list_kv_keys("huge/").await.check("list_kv_keys(huge/)")?;
    expect_eq(
        &listed,
        &expected,
        "list_kv_keys(huge/) of keys with huge TTLs",
    )
}

async fn kv_restore_shortens_ttl(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl(timing, |ttl| {
        let ctx = ctx.clone();
        async move {
            let s = ctx.storage();
            let prefix = format!("{}/", attempt_name("shorten", ttl));
            let from_none = format!("{prefix}from-none");
            let from_long = format!("{prefix}from-long");
            s.store_kv(&from_none, b"1", None)
                .await
                .check(&format!("store_kv({from_none}, no ttl)"))?;
            s.store_kv(&from_long, b"1", Some(HOUR))
                .await
                .check(&format!("store_kv({from_long}, ttl 1h)"))?;
            let started = Utc::now();
            for key in [&from_none, &from_long] {
                s.store_kv(key, b"2", Some(ttl))
                    .await
                    .check(&format!("store_kv({key}, ttl {ttl:?})"))?;
            }
            let window = ExpiryWindow::after_ttl(started, Utc::now(), ttl, timing);
            let got_none = s
                .get_kv(&from_none)
                .await
                .check(&format!("get_kv({from_none})"))?;
            let got_long = s
                .get_kv(&from_long)
                .await
                .check(&format!("get_kv({from_long})"))?;
            if !window.surely_live_now() {
                remove_keys(&ctx, &[&from_none, &from_long]).await?;
                return Ok(Attempt::TooSlow);
            }
            for (key, got) in [(&from_none, got_none), (&from_long, got_long)] {
                expect_bytes(
                    got.as_deref(),
                    Some(b"2"),
                    &format!("get_kv({key}) after re-store, before the new ttl elapsed"),
                )?;
            }
            window.wait_until_expired().await;
            for key in [&from_none, &from_long] {
                let got = s.get_kv(key).await.check(&format!("get_kv({key})"))?;
                expect_eq(
                    &got,
                    &None,
                    &format!(
                        "get_kv({key}) after the shorter ttl {ttl:?} of its re-store + margin"
                    ),
                )?;
            }
            let listed = s
                .list_kv_keys(&prefix)
                .await
                .check(&format!("list_kv_keys({prefix})"))?;
            expect_eq(
                &listed,
                &Vec::<String>::new(),
                &format!("list_kv_keys({prefix}) after the shortened ttls elapsed"),
            )?;
            Ok(Attempt::Conclusive)
        }
    })
    .await
}

async fn kv_restore_lengthens_ttl(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl(timing, |ttl| {
        let ctx = ctx.clone();
        async move {
            let s = ctx.storage();
            let prefix = format!("{}/", attempt_name("lengthen", ttl));
            let to_none = format!("{prefix}to-none");
            let to_long = format!("{prefix}to-long");
            let started = Utc::now();
            for key in [&to_none, &to_long] {
                s.store_kv(key, b"1", Some(ttl))
                    .await
                    .check(&format!("store_kv({key}, ttl {ttl:?})"))?;
            }
            let window = ExpiryWindow::after_ttl(started, Utc::now(), ttl, timing);
            s.store_kv(&to_none, b"2", None)
                .await
                .check(&format!("store_kv({to_none}, no ttl)"))?;
            s.store_kv(&to_long, b"2", Some(HOUR))
                .await
                .check(&format!("store_kv({to_long}, ttl 1h)"))?;
            // The re-stores must land while the first TTL still runs, or they would
            // only be writes to an absent key.
            if !window.surely_live_now() {
                remove_keys(&ctx, &[&to_none, &to_long]).await?;
                return Ok(Attempt::TooSlow);
            }
            window.wait_until_expired().await;
            for key in [&to_none, &to_long] {
                let got = s.get_kv(key).await.check(&format!("get_kv({key})"))?;
                expect_bytes(
                    got.as_deref(),
                    Some(b"2"),
                    &format!("get_kv({key}) re-stored with a longer expiry, after the first ttl"),
                )?;
            }
            let listed = s
                .list_kv_keys(&prefix)
                .await
                .check(&format!("list_kv_keys({prefix})"))?;
            let mut expected = vec![to_none.clone(), to_long.clone()];
            expected.sort();
            expect_eq(
                &listed,
                &expected,
                &format!("list_kv_keys({prefix}) after the first ttl"),
            )?;
            Ok(Attempt::Conclusive)
        }
    })
    .await
}

async fn token_expires_on_time(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl(timing, |ttl| {
        let ctx = ctx.clone();
        async move {
            let s = ctx.storage();
            let id = attempt_name("tok", ttl);
            let user = attempt_name("user", ttl);
            let access = attempt_name("access", ttl);
            let token = AuthToken::new(&id, &user, &access, ttl).with_scopes(["read"]);
            s.store_token(&token)
                .await
                .check(&format!("store_token({id})"))?;
            let window = ExpiryWindow::at(token.expires_at, timing);
            sleep_until_late_in_life(token.expires_at, ttl).await;
            let by_id = s.get_token(&id).await.check(&format!("get_token({id})"))?;
            let by_access = s
                .get_token_by_access_token(&access)
                .await
                .check(&format!("get_token_by_access_token({access})"))?;
            let listed = s
                .list_user_tokens(&user)
                .await
                .check(&format!("list_user_tokens({user})"))?;
            if !window.surely_live_now() {
                s.delete_token(&id)
                    .await
                    .check(&format!("delete_token({id})"))?;
                return Ok(Attempt::TooSlow);
            }
            let live = Some(token.clone());
            expect_eq(
                &by_id,
                &live,
                &format!("get_token({id}) at 80% of its lifetime"),
            )?;
            expect_eq(
                &by_access,
                &live,
                &format!("get_token_by_access_token({access}) at 80% of its lifetime"),
            )?;
            expect_eq(
                &listed,
                &vec![token.clone()],
                &format!("list_user_tokens({user}) at 80% of its lifetime"),
            )?;
            window.wait_until_expired().await;
            let by_id = s.get_token(&id).await.check(&format!("get_token({id})"))?;
            expect_eq(
                &by_id,
                &None,
                &format!("get_token({id}) after expires_at + margin"),
            )?;
            let by_access = s
                .get_token_by_access_token(&access)
                .await
                .check(&format!("get_token_by_access_token({access})"))?;
            expect_eq(
                &by_access,
                &None,
                &format!("get_token_by_access_token({access}) after expires_at + margin"),
            )?;
            let listed = s
                .list_user_tokens(&user)
                .await
                .check(&format!("list_user_tokens({user})"))?;
            expect_eq(
                &listed,
                &Vec::new(),
                &format!("list_user_tokens({user}) after expires_at + margin"),
            )?;
            Ok(Attempt::Conclusive)
        }
    })
    .await
}

async fn session_expires_on_time(ctx: Ctx) -> Outcome {
    let timing = ctx.timing();
    with_growing_ttl(timing, |ttl| {
        let ctx = ctx.clone();
        async move {
            let s = ctx.storage();
            let id = attempt_name("ses", ttl);
            let user = attempt_name("user", ttl);
            let session = SessionData::new(&id, &user, ttl).with_user_agent("agent");
            // Inconclusive attempts delete what they stored, so the store starts empty.
            s.store_session(&id, &session)
                .await
                .check(&format!("store_session({id})"))?;
            let window = ExpiryWindow::at(session.expires_at, timing);
            sleep_until_late_in_life(session.expires_at, ttl).await;
            let got = s
                .get_session(&id)
                .await
                .check(&format!("get_session({id})"))?;
            let listed = s
                .list_user_sessions(&user)
                .await
                .check(&format!("list_user_sessions({user})"))?;
            let count = s
                .count_active_sessions()
                .await
                .check("count_active_sessions()")?;
            if !window.surely_live_now() {
                s.delete_session(&id)
                    .await
                    .check(&format!("delete_session({id})"))?;
                return Ok(Attempt::TooSlow);
            }
            expect_eq(
                &got,
                &Some(session.clone()),
                &format!("get_session({id}) at 80% of its lifetime"),
            )?;
            expect_eq(
                &listed,
                &vec![session.clone()],
                &format!("list_user_sessions({user}) at 80% of its lifetime"),
            )?;
            expect_eq(&count, &1, "count_active_sessions() with one live session")?;
            window.wait_until_expired().await;
            let got = s
                .get_session(&id)
                .await
                .check(&format!("get_session({id})"))?;
            expect_eq(
                &got,
                &None,
                &format!("get_session({id}) after expires_at + margin"),
            )?;
            let listed = s
                .list_user_sessions(&user)
                .await
                .check(&format!("list_user_sessions({user})"))?;
            expect_eq(
                &listed,
                &Vec::new(),
                &format!("list_user_sessions({user}) after expires_at + margin"),
            )?;
            let count = s
                .count_active_sessions()
                .await
                .check("count_active_sessions()")?;
            expect_eq(
                &count,
                &0,
                "count_active_sessions() after the only session expired",
            )?;
            Ok(Attempt::Conclusive)
        }
    })
    .await
}

async fn items_at_expiry_instant_are_invisible(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let now = now_micros();
    let past = now - TimeDelta::seconds(1);
    let live_token = AuthToken::new("tok-live", "alice", "access-live", HOUR);
    let live_session = SessionData::new("ses-live", "alice", HOUR);
    s.store_token(&live_token)
        .await
        .check("store_token(tok-live)")?;
    s.store_session("ses-live", &live_session)
        .await
        .check("store_session(ses-live)")?;
    s.store_kv("kv-live", b"v", None)
        .await
        .check("store_kv(kv-live)")?;
    for (name, at) in [("now", now), ("past", past)] {
        let token = AuthToken::new(
            format!("tok-{name}"),
            "alice",
            format!("access-{name}"),
            HOUR,
        )
        .with_expires_at(at);
        s.store_token(&token)
            .await
            .check(&format!("store_token(tok-{name}) expiring at {at}"))?;
        let session = SessionData::new(format!("ses-{name}"), "alice", HOUR).with_expires_at(at);
        s.store_session(&session.session_id, &session)
            .await
            .check(&format!("store_session(ses-{name}) expiring at {at}"))?;
    }
    s.store_kv("kv-zero", b"v", Some(Duration::ZERO))
        .await
        .check("store_kv(kv-zero, ttl 0)")?;
    // The "now" items expire at `now`; a backend may see that instant up to its margin late.
    sleep_until(ExpiryWindow::at(now, ctx.timing()).surely_expired_from()).await;

    for name in ["now", "past"] {
        let id = format!("tok-{name}");
        let got = s.get_token(&id).await.check(&format!("get_token({id})"))?;
        expect_eq(&got, &None, &format!("get_token({id}) of an expired token"))?;
        let access = format!("access-{name}");
        let got = s
            .get_token_by_access_token(&access)
            .await
            .check(&format!("get_token_by_access_token({access})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_token_by_access_token({access}) of an expired token"),
        )?;
        let id = format!("ses-{name}");
        let got = s
            .get_session(&id)
            .await
            .check(&format!("get_session({id})"))?;
        expect_eq(
            &got,
            &None,
            &format!("get_session({id}) of an expired session"),
        )?;
    }
    let tokens = s
        .list_user_tokens("alice")
        .await
        .check("list_user_tokens(alice)")?;
    expect_eq(
        &tokens,
        &vec![live_token],
        "list_user_tokens(alice) with one live and two expired tokens",
    )?;
    let sessions = s
        .list_user_sessions("alice")
        .await
        .check("list_user_sessions(alice)")?;
    expect_eq(
        &sessions,
        &vec![live_session],
        "list_user_sessions(alice) with one live and two expired sessions",
    )?;
    let count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions()")?;
    expect_eq(
        &count,
        &1,
        "count_active_sessions() with one live and two expired sessions",
    )?;
    let got = s.get_kv("kv-zero").await.check("get_kv(kv-zero)")?;
    expect_eq(&got, &None, "get_kv(kv-zero) stored with ttl 0")?;
    let keys = s.list_kv_keys("kv-").await.check("list_kv_keys(kv-)")?;
    expect_eq(
        &keys,
        &vec!["kv-live".to_string()],
        "list_kv_keys(kv-) with one live and one zero-TTL key",
    )
}
