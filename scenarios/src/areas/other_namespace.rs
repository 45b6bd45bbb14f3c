//! Two stores on one server under different namespaces (two PostgreSQL schemas, two
//! MySQL databases, Redis prefixes one of which starts with the other and holds glob
//! characters) see nothing of each other: point reads, access-token lookups and
//! uniqueness, user lists, listings, counts, deletes and cleanup (`NS-4`).
//!
//! A Redis backend that lists with `SCAN MATCH prefix*` (which also matches the longer
//! prefix), a global index key without the prefix, or SQL that names a schema instead of
//! following the connection's fails here.

use std::time::Duration;

use authstore_spec::{
    AuthStorage, AuthToken, Capabilities, Capability, SessionData, TimingProfile,
};
use chrono::Utc;

use crate::check::{Check, Outcome, expect_eq};
use crate::timing::{ExpiryWindow, sleep_until};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![scenario!(
        namespaces_other_namespace_sees_nothing,
        Namespaces,
        ["NS-4", "ACC-2", "CNT-1", "LST-5", "CLN-1"],
        Capabilities::NONE.with(Capability::Namespaces),
        "two stores on one server under different namespaces, written with the same ids, \
         users, access tokens and keys: each reads, lists and counts only its own items, \
         the same access token is no conflict, and deletes and cleanup stay on their side",
        other_namespace_sees_nothing
    )]
}

/// What namespace `side` ("a" or "b") writes: one token, two sessions (one expired), two
/// kv entries (one expired), all under the same names on both sides.
async fn write_side(s: &dyn AuthStorage, side: &str, timing: TimingProfile) -> Outcome {
    let past = super::tokens::surely_past(timing);
    let token = AuthToken::new("shared-token", "shared-user", "shared-access", HOUR)
        .with_metadata("side", serde_json::json!(side));
    s.store_token(&token)
        .await
        .check(&format!("{side}.store_token(shared-token)"))?;
    let session = SessionData::new("shared-session", "shared-user", HOUR)
        .with_data("side", serde_json::json!(side));
    s.store_session("shared-session", &session)
        .await
        .check(&format!("{side}.store_session(shared-session)"))?;
    let gone = SessionData::new("gone-session", "shared-user", HOUR).with_expires_at(past);
    s.store_session("gone-session", &gone)
        .await
        .check(&format!("{side}.store_session(gone-session) expired"))?;
    s.store_kv("shared/key", side.as_bytes(), None)
        .await
        .check(&format!("{side}.store_kv(shared/key)"))?;
    s.store_kv(&format!("only-{side}/key"), side.as_bytes(), None)
        .await
        .check(&format!("{side}.store_kv(only-{side}/key)"))?;
    let started = Utc::now();
    s.store_kv("gone/key", side.as_bytes(), Some(Duration::from_nanos(1)))
        .await
        .check(&format!("{side}.store_kv(gone/key, 1 ns)"))?;
    // Checks assume it expired: wait out the margin.
    let window = ExpiryWindow::after_ttl(started, Utc::now(), Duration::from_nanos(1), timing);
    sleep_until(window.surely_expired_from()).await;
    Ok(())
}

/// Checks that namespace `side` holds exactly what [`write_side`] wrote for it, less
/// what `deleted` says was deleted there.
async fn expect_side(s: &dyn AuthStorage, side: &str, deleted: bool, step: &str) -> Outcome {
    let context = format!("on namespace {side} {step}");
    let token = s
        .get_token("shared-token")
        .await
        .check(&format!("{side}.get_token(shared-token)"))?;
    let token_side = token.as_ref().and_then(|t| t.metadata.get("side").cloned());
    let expected = (!deleted).then(|| serde_json::json!(side));
    expect_eq(
        &token_side,
        &expected,
        &format!("get_token(shared-token) {context}: its side"),
    )?;
    let by_access = s
        .get_token_by_access_token("shared-access")
        .await
        .check(&format!("{side}.get_token_by_access_token(shared-access)"))?;
    expect_eq(
        &by_access,
        &token,
        &format!("get_token_by_access_token(shared-access) {context}"),
    )?;
    let listed = s
        .list_user_tokens("shared-user")
        .await
        .check(&format!("{side}.list_user_tokens(shared-user)"))?;
    expect_eq(
        &listed,
        &token.clone().into_iter().collect(),
        &format!("list_user_tokens(shared-user) {context}"),
    )?;
    let session = s
        .get_session("shared-session")
        .await
        .check(&format!("{side}.get_session(shared-session)"))?;
    expect_eq(
        &session.as_ref().and_then(|d| d.data.get("side").cloned()),
        &expected,
        &format!("get_session(shared-session) {context}: its side"),
    )?;
    let sessions = s
        .list_user_sessions("shared-user")
        .await
        .check(&format!("{side}.list_user_sessions(shared-user)"))?;
    expect_eq(
        &sessions,
        &session.clone().into_iter().collect(),
        &format!("list_user_sessions(shared-user) {context}"),
    )?;
    let count = s
        .count_active_sessions()
        .await
        .check(&format!("{side}.count_active_sessions()"))?;
    expect_eq(
        &count,
        &u64::from(!deleted),
        &format!("count_active_sessions() {context}"),
    )?;
    let value = s
        .get_kv("shared/key")
        .await
        .check(&format!("{side}.get_kv(shared/key)"))?;
    expect_eq(
        &value,
        &(!deleted).then(|| side.as_bytes().to_vec()),
        &format!("get_kv(shared/key) {context}"),
    )?;
    let keys = s
        .list_kv_keys("")
        .await
        .check(&format!("{side}.list_kv_keys(\"\")"))?;
    let mut expected_keys = vec![format!("only-{side}/key")];
    if !deleted {
        expected_keys.push("shared/key".to_string());
    }
    expected_keys.sort();
    expect_eq(
        &keys,
        &expected_keys,
        &format!("list_kv_keys(\"\") {context}"),
    )?;
    for prefix in ["only-", "shared/", "gone/"] {
        let keys = s
            .list_kv_keys(prefix)
            .await
            .check(&format!("{side}.list_kv_keys({prefix})"))?;
        let expected: Vec<String> = expected_keys
            .iter()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        expect_eq(
            &keys,
            &expected,
            &format!("list_kv_keys({prefix}) {context}"),
        )?;
    }
    Ok(())
}

async fn other_namespace_sees_nothing(ctx: Ctx) -> Outcome {
    let a = ctx.storage();
    let b = ctx.other_namespace().await?;
    // B starts empty whatever A holds.
    write_side(&**a, "a", ctx.timing()).await?;
    expect_eq(
        &b.get_token("shared-token")
            .await
            .check("b.get_token(shared-token)")?,
        &None,
        "get_token(shared-token) on namespace b while only a was written",
    )?;
    expect_eq(
        &b.get_token_by_access_token("shared-access")
            .await
            .check("b.get_token_by_access_token(shared-access)")?,
        &None,
        "get_token_by_access_token(shared-access) on namespace b while only a was written",
    )?;
    expect_eq(
        &b.list_user_sessions("shared-user")
            .await
            .check("b.list_user_sessions(shared-user)")?,
        &Vec::new(),
        "list_user_sessions(shared-user) on namespace b while only a was written",
    )?;
    let empty = b.list_kv_keys("").await.check("b.list_kv_keys(\"\")")?;
    expect_eq(
        &empty,
        &Vec::<String>::new(),
        "list_kv_keys(\"\") on namespace b while only a was written",
    )?;
    expect_eq(
        &b.count_active_sessions()
            .await
            .check("b.count_active_sessions()")?,
        &0,
        "count_active_sessions() on namespace b while only a was written",
    )?;
    // The same names on B: no Conflict for the access token, which only A holds.
    write_side(&*b, "b", ctx.timing()).await?;
    expect_side(&**a, "a", false, "after both were written").await?;
    expect_side(&*b, "b", false, "after both were written").await?;
    // Cleanup on one side; deletes on the other.
    a.cleanup_expired().await.check("a.cleanup_expired()")?;
    expect_side(&*b, "b", false, "after a's cleanup_expired").await?;
    a.delete_token("shared-token")
        .await
        .check("a.delete_token(shared-token)")?;
    a.delete_session("shared-session")
        .await
        .check("a.delete_session(shared-session)")?;
    a.delete_kv("shared/key")
        .await
        .check("a.delete_kv(shared/key)")?;
    expect_side(&**a, "a", true, "after its deletes").await?;
    expect_side(&*b, "b", false, "after a's deletes").await?;
    b.cleanup_expired().await.check("b.cleanup_expired()")?;
    expect_side(&**a, "a", true, "after b's cleanup_expired").await?;
    expect_side(&*b, "b", false, "after its own cleanup_expired").await
}
