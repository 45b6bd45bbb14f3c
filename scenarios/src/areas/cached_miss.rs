//! A handle that read an item while it was absent must see it once another handle has
//! created it (`MH-1`, `MH-5`): a cache that stores misses ("negative caching") and
//! serves them after another node's write fails here. Every read compares the whole
//! value, not membership.

use std::time::Duration;

use authstore_spec::{AuthToken, Capabilities, Capability, SessionData};

use crate::check::{Check, Outcome, expect_eq};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![scenario!(
        multi_handle_cached_miss_is_not_served,
        MultiHandle,
        ["MH-1", "MH-5", "MH-3"],
        Capabilities::NONE.with(Capability::MultiHandle),
        "B reads a token (by id and access token), a session, a kv key, both lists, the \
         listing and the count while they are absent or empty; A creates them; B then \
         returns each whole, never the remembered miss",
        cached_miss_is_not_served
    )]
}

async fn cached_miss_is_not_served(ctx: Ctx) -> Outcome {
    let (a, b) = (ctx.storage(), ctx.second()?);
    let token = AuthToken::new("late-token", "late-user", "late-access", HOUR)
        .with_scopes(["read", "write"])
        .with_metadata("origin", serde_json::json!("A"));
    let session = SessionData::new("late-session", "late-user", HOUR)
        .with_user_agent("agent")
        .with_data("origin", serde_json::json!("A"));
    let value = b"late value".to_vec();

    // Misses on B, each of which a caching handle might remember.
    for round in ["before A writes", "again, before A writes"] {
        expect_eq(
            &b.get_token("late-token")
                .await
                .check("B.get_token(late-token)")?,
            &None,
            &format!("B.get_token(late-token) {round}"),
        )?;
        expect_eq(
            &b.get_token_by_access_token("late-access")
                .await
                .check("B.get_token_by_access_token(late-access)")?,
            &None,
            &format!("B.get_token_by_access_token(late-access) {round}"),
        )?;
        expect_eq(
            &b.list_user_tokens("late-user")
                .await
                .check("B.list_user_tokens(late-user)")?,
            &Vec::new(),
            &format!("B.list_user_tokens(late-user) {round}"),
        )?;
        expect_eq(
            &b.get_session("late-session")
                .await
                .check("B.get_session(late-session)")?,
            &None,
            &format!("B.get_session(late-session) {round}"),
        )?;
        expect_eq(
            &b.list_user_sessions("late-user")
                .await
                .check("B.list_user_sessions(late-user)")?,
            &Vec::new(),
            &format!("B.list_user_sessions(late-user) {round}"),
        )?;
        expect_eq(
            &b.count_active_sessions()
                .await
                .check("B.count_active_sessions()")?,
            &0,
            &format!("B.count_active_sessions() {round}"),
        )?;
        expect_eq(
            &b.get_kv("late-key").await.check("B.get_kv(late-key)")?,
            &None,
            &format!("B.get_kv(late-key) {round}"),
        )?;
        expect_eq(
            &b.list_kv_keys("late-")
                .await
                .check("B.list_kv_keys(late-)")?,
            &Vec::<String>::new(),
            &format!("B.list_kv_keys(late-) {round}"),
        )?;
    }

    a.store_token(&token)
        .await
        .check("A.store_token(late-token)")?;
    a.store_session("late-session", &session)
        .await
        .check("A.store_session(late-session)")?;
    a.store_kv("late-key", &value, None)
        .await
        .check("A.store_kv(late-key)")?;

    let after = "after A created it";
    expect_eq(
        &b.get_token("late-token")
            .await
            .check("B.get_token(late-token)")?,
        &Some(token.clone()),
        &format!("B.get_token(late-token) {after}"),
    )?;
    expect_eq(
        &b.get_token_by_access_token("late-access")
            .await
            .check("B.get_token_by_access_token(late-access)")?,
        &Some(token.clone()),
        &format!("B.get_token_by_access_token(late-access) {after}"),
    )?;
    expect_eq(
        &b.list_user_tokens("late-user")
            .await
            .check("B.list_user_tokens(late-user)")?,
        &vec![token],
        &format!("B.list_user_tokens(late-user) {after}"),
    )?;
    expect_eq(
        &b.get_session("late-session")
            .await
            .check("B.get_session(late-session)")?,
        &Some(session.clone()),
        &format!("B.get_session(late-session) {after}"),
    )?;
    expect_eq(
        &b.list_user_sessions("late-user")
            .await
            .check("B.list_user_sessions(late-user)")?,
        &vec![session],
        &format!("B.list_user_sessions(late-user) {after}"),
    )?;
    expect_eq(
        &b.count_active_sessions()
            .await
            .check("B.count_active_sessions()")?,
        &1,
        &format!("B.count_active_sessions() {after}"),
    )?;
    expect_eq(
        &b.get_kv("late-key").await.check("B.get_kv(late-key)")?,
        &Some(value),
        &format!("B.get_kv(late-key) {after}"),
    )?;
    expect_eq(
        &b.list_kv_keys("late-")
            .await
            .check("B.list_kv_keys(late-)")?,
        &vec!["late-key".to_string()],
        &format!("B.list_kv_keys(late-) {after}"),
    )
}
