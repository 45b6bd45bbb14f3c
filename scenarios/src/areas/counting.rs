//! `count_active_sessions`: the exact number of live sessions of all users, through
//! re-stores, deletes and expiry (`CNT-1`, `CNT-2`).

use std::time::Duration;

use authstore_spec::{Capabilities, Capability, SessionData};
use chrono::Utc;

use super::sessions::{expect_count, expect_session, expired_session, live_session, store_session};
use super::tokens::{live, store};
use crate::check::{Check, Failure, Outcome, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, with_growing_ttl};
use crate::{Ctx, Scenario, scenario};

const EXPIRY: Capabilities = Capabilities::NONE.with(Capability::Expiry);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            counting_empty_store_is_zero,
            Counting,
            ["CNT-1"],
            Capabilities::NONE,
            "an empty store counts 0, and tokens and kv entries are not sessions",
            empty_store_is_zero
        ),
        scenario!(
            counting_counts_sessions_of_all_users,
            Counting,
            ["CNT-1"],
            Capabilities::NONE,
            "the count is the number of live sessions across every user",
            counts_sessions_of_all_users
        ),
        scenario!(
            counting_restore_is_not_counted_twice,
            Counting,
            ["CNT-2"],
            Capabilities::NONE,
            "re-storing a live session, also with another user, leaves the count unchanged",
            restore_is_not_counted_twice
        ),
        scenario!(
            counting_delete_lowers_by_one,
            Counting,
            ["CNT-2"],
            Capabilities::NONE,
            "each delete lowers the count by one; deleting absent or deleted ids does not",
            delete_lowers_by_one
        ),
        scenario!(
            counting_restore_after_delete_raises_by_one,
            Counting,
            ["CNT-2"],
            Capabilities::NONE,
            "storing a deleted session again raises the count by one",
            restore_after_delete_raises_by_one
        ),
        scenario!(
            counting_expired_store_is_not_counted,
            Counting,
            ["CNT-1", "SES-6"],
            EXPIRY,
            "sessions stored already expired are not counted",
            expired_store_is_not_counted
        ),
        scenario!(
            counting_restore_as_expired_lowers_then_raises,
            Counting,
            ["CNT-2"],
            EXPIRY,
            "re-storing a live session as expired lowers the count; live again raises it",
            restore_as_expired_lowers_then_raises
        ),
        scenario!(
            counting_timed_expiry_lowers_by_one,
            Counting,
            ["CNT-1", "CNT-2"],
            EXPIRY,
            "a session that reaches its expiry instant stops being counted",
            timed_expiry_lowers_by_one
        ),
    ]
}

async fn empty_store_is_zero(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    expect_count(s, 0, "on an empty store").await?;
    store(s, &live("tok-1", "alice", "access-1")).await?;
    s.store_kv("session:ses-1", b"not a session", None)
        .await
        .check("store_kv(\"session:ses-1\")")?;
    expect_count(s, 0, "with only a token and a kv entry stored").await
}

async fn counts_sessions_of_all_users(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let plan = [
        ("a-1", "alice"),
        ("a-2", "alice"),
        ("a-3", "alice"),
        ("b-1", "bob"),
        ("c-1", "carol"),
        ("c-2", "carol"),
    ];
    for (n, (id, user)) in (1..).zip(plan) {
        store_session(s, &live_session(id, user)).await?;
        expect_count(s, n, &format!("after storing {n} sessions")).await?;
    }
    Ok(())
}

async fn restore_is_not_counted_twice(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let session = live_session("ses-1", "alice");
    store_session(s, &live_session("ses-2", "bob")).await?;
    store_session(s, &session).await?;
    store_session(s, &session).await?;
    expect_count(s, 2, "after storing ses-1 twice").await?;
    store_session(s, &session.clone().with_data("k", serde_json::json!(1))).await?;
    expect_count(s, 2, "after re-storing ses-1 with other data").await?;
    store_session(s, &session.with_user_id("carol")).await?;
    expect_count(s, 2, "after re-storing ses-1 for another user").await
}

async fn delete_lowers_by_one(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    for (id, user) in [("ses-1", "alice"), ("ses-2", "alice"), ("ses-3", "bob")] {
        store_session(s, &live_session(id, user)).await?;
    }
    expect_count(s, 3, "with three sessions").await?;
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1)")?;
    expect_count(s, 2, "after delete_session(ses-1)").await?;
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1) a second time")?;
    s.delete_session("ses-9")
        .await
        .check("delete_session(ses-9) never stored")?;
    expect_count(s, 2, "after deleting a deleted and an absent id").await?;
    s.delete_session("ses-3")
        .await
        .check("delete_session(ses-3)")?;
    s.delete_session("ses-2")
        .await
        .check("delete_session(ses-2)")?;
    expect_count(s, 0, "after deleting every session").await
}

async fn restore_after_delete_raises_by_one(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let session = live_session("ses-1", "alice");
    store_session(s, &live_session("ses-2", "bob")).await?;
    store_session(s, &session).await?;
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1)")?;
    expect_count(s, 1, "after delete_session(ses-1)").await?;
    store_session(s, &session).await?;
    expect_count(s, 2, "after storing ses-1 again").await?;
    expect_session(s, "ses-1", Some(&session), "after storing it again").await
}

async fn expired_store_is_not_counted(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let timing = ctx.timing();
    store_session(s, &live_session("ses-1", "alice")).await?;
    store_session(s, &expired_session("ses-2", "alice", timing)).await?;
    store_session(s, &live_session("ses-3", "bob")).await?;
    store_session(s, &expired_session("ses-4", "carol", timing)).await?;
    expect_count(s, 2, "with two live and two already-expired sessions").await
}

async fn restore_as_expired_lowers_then_raises(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let session = live_session("ses-1", "alice");
    store_session(s, &session).await?;
    store_session(s, &live_session("ses-2", "bob")).await?;
    store_session(s, &expired_session("ses-1", "alice", ctx.timing())).await?;
    expect_count(s, 1, "after re-storing ses-1 as expired").await?;
    store_session(s, &expired_session("ses-1", "alice", ctx.timing())).await?;
    expect_count(s, 1, "after re-storing expired ses-1 expired again").await?;
    store_session(s, &session).await?;
    expect_count(s, 2, "after storing ses-1 live again").await
}

async fn timed_expiry_lowers_by_one(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let kept = [
        live_session("kept-1", "alice"),
        live_session("kept-2", "bob"),
    ];
    for session in &kept {
        store_session(s, session).await?;
    }
    with_growing_ttl(ctx.timing(), |ttl| {
        let ctx = ctx.clone();
        async move { timed_expiry_attempt(&ctx, ttl).await }
    })
    .await
}

async fn timed_expiry_attempt(ctx: &Ctx, ttl: Duration) -> Result<Attempt, Failure> {
    let s = &**ctx.storage();
    let short = SessionData::new(format!("short-{}", ttl.as_millis()), "alice", ttl);
    let window = ExpiryWindow::at(short.expires_at, ctx.timing());
    store_session(s, &short).await?;
    let live_count = s
        .count_active_sessions()
        .await
        .check("count_active_sessions() while the short session lives")?;
    if !window.surely_live_at(Utc::now()) {
        // Leave the store as the next attempt expects it: two sessions.
        s.delete_session(&short.session_id)
            .await
            .check(&format!("delete_session({:?})", short.session_id))?;
        return Ok(Attempt::TooSlow);
    }
    expect_eq(
        &live_count,
        &3,
        "count_active_sessions() while the short session lives",
    )?;
    window.wait_until_expired().await;
    expect_count(s, 2, "once the short session expired").await?;
    expect_session(s, &short.session_id, None, "once it expired").await?;
    Ok(Attempt::Conclusive)
}
