//! Sessions: store, read, replace, delete, list (`SES-*`), and the round trip of every
//! field (`GEN-3`, `GEN-5`).
//!
//! The session helpers at the top are also used by the counting, cleanup and namespaces
//! areas (through `super::sessions`).

use authstore_spec::time::truncate_to_micros;
use authstore_spec::{
    AuthStorage, Capabilities, Capability, ErrorKind, SessionData, TimingProfile,
};
use chrono::TimeDelta;
use serde_json::json;

use super::tokens::{HOUR, ODD_TEXTS, odd_json, same_instant, surely_past};
use crate::check::{Check, Failure, Outcome, ensure, expect_eq};
use crate::{Ctx, Scenario, scenario};

/// A session of `user` that lives for an hour.
pub(super) fn live_session(id: &str, user: &str) -> SessionData {
    SessionData::new(id, user, HOUR)
}

/// A session of `user` whose expiry instant is surely past.
pub(super) fn expired_session(id: &str, user: &str, timing: TimingProfile) -> SessionData {
    let past = surely_past(timing);
    let mut session = live_session(id, user).with_expires_at(past);
    session.created_at = past;
    session.last_activity = past;
    session
}

/// Stores `session` under its own id, naming it in the failure.
pub(super) async fn store_session(s: &dyn AuthStorage, session: &SessionData) -> Outcome {
    s.store_session(&session.session_id, session)
        .await
        .check(&format!("store_session({:?})", session.session_id))
}

/// `get_session(id)` returns `expected` (`None`: absent).
pub(super) async fn expect_session(
    s: &dyn AuthStorage,
    id: &str,
    expected: Option<&SessionData>,
    when: &str,
) -> Outcome {
    let call = format!("get_session({id:?}) {when}");
    let got = s.get_session(id).await.check(&call)?;
    expect_eq(&got, &expected.cloned(), &call)
}

/// `list_user_sessions(user)` returns exactly `expected`, each once, in any order.
pub(super) async fn expect_user_sessions(
    s: &dyn AuthStorage,
    user: &str,
    expected: &[&SessionData],
    when: &str,
) -> Outcome {
    let call = format!("list_user_sessions({user:?}) {when}");
    let mut got = s.list_user_sessions(user).await.check(&call)?;
    got.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let mut want: Vec<SessionData> = expected.iter().map(|d| (*d).clone()).collect();
    want.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    expect_eq(&got, &want, &format!("{call} (sorted by session id)"))
}

/// `count_active_sessions()` returns `expected`.
pub(super) async fn expect_count(s: &dyn AuthStorage, expected: u64, when: &str) -> Outcome {
    let call = format!("count_active_sessions() {when}");
    let got = s.count_active_sessions().await.check(&call)?;
    expect_eq(&got, &expected, &call)
}

/// `session` is invisible by id and absent from its user's list.
async fn expect_session_gone(s: &dyn AuthStorage, session: &SessionData, when: &str) -> Outcome {
    expect_session(s, &session.session_id, None, when).await?;
    let call = format!("list_user_sessions({:?}) {when}", session.user_id);
    let listed = s.list_user_sessions(&session.user_id).await.check(&call)?;
    ensure(
        !listed.iter().any(|d| d.session_id == session.session_id),
        || {
            format!(
                "{call}: expected no session {:?}, got it among {:?}",
                session.session_id,
                listed.iter().map(|d| &d.session_id).collect::<Vec<_>>()
            )
        },
    )
}

const EXPIRY: Capabilities = Capabilities::NONE.with(Capability::Expiry);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            sessions_store_then_get,
            Sessions,
            ["SES-2", "GEN-3"],
            Capabilities::NONE,
            "a stored session reads back equal, every field included",
            store_then_get
        ),
        scenario!(
            sessions_get_absent_is_none,
            Sessions,
            ["SES-3"],
            Capabilities::NONE,
            "get_session of an id never stored is Ok(None), also next to similar stored ids",
            get_absent_is_none
        ),
        scenario!(
            sessions_id_mismatch_is_invalid_input,
            Sessions,
            ["SES-1", "GEN-4"],
            Capabilities::NONE,
            "store_session under an id other than data.session_id is InvalidInput, stores nothing",
            id_mismatch_is_invalid_input
        ),
        scenario!(
            sessions_restore_replaces_whole_record,
            Sessions,
            ["SES-2", "GEN-3"],
            Capabilities::NONE,
            "re-storing a session replaces every field, Some to None and back, data keys too",
            restore_replaces_whole_record
        ),
        scenario!(
            sessions_restore_moves_between_users,
            Sessions,
            ["SES-2", "SES-5"],
            Capabilities::NONE,
            "re-storing a session with another user moves it between the users' lists",
            restore_moves_between_users
        ),
        scenario!(
            sessions_delete_removes_every_index_entry,
            Sessions,
            ["SES-4", "CNT-2"],
            Capabilities::NONE,
            "delete_session removes the session from get, its user's list and the count",
            delete_removes_every_index_entry
        ),
        scenario!(
            sessions_delete_absent_is_ok,
            Sessions,
            ["SES-4"],
            Capabilities::NONE,
            "deleting an absent or already deleted session is Ok and touches nothing else",
            delete_absent_is_ok
        ),
        scenario!(
            sessions_list_is_exact_per_user,
            Sessions,
            ["SES-5"],
            Capabilities::NONE,
            "list_user_sessions returns exactly each user's sessions, each once",
            list_is_exact_per_user
        ),
        scenario!(
            sessions_list_of_user_without_sessions_is_empty,
            Sessions,
            ["SES-5"],
            Capabilities::NONE,
            "list_user_sessions of a user with none is empty, even for look-alike user ids",
            list_of_user_without_sessions_is_empty
        ),
        scenario!(
            sessions_store_expired_is_invisible,
            Sessions,
            ["SES-6", "SES-3", "SES-5"],
            EXPIRY,
            "storing an already-expired session succeeds and it is invisible to every read",
            store_expired_is_invisible
        ),
        scenario!(
            sessions_store_expired_hides_earlier_version,
            Sessions,
            ["SES-6", "SES-2"],
            EXPIRY,
            "re-storing a live session as expired hides it; storing it live again shows it",
            store_expired_hides_earlier_version
        ),
        scenario!(
            sessions_timestamps_keep_microseconds,
            Sessions,
            ["GEN-3"],
            Capabilities::NONE,
            "timestamps with nanoseconds read back exact or truncated to the microsecond",
            timestamps_keep_microseconds
        ),
        scenario!(
            sessions_text_fields_round_trip_any_utf8,
            Sessions,
            ["GEN-5", "SES-2"],
            Capabilities::NONE,
            "address, user agent and data with NUL, emoji and RTL text round-trip",
            text_fields_round_trip_any_utf8
        ),
    ]
}

async fn store_then_get(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let session = live_session("ses-1", "alice")
        .with_ip_address("192.0.2.7")
        .with_user_agent("Mozilla/5.0 (X11; Linux x86_64)")
        .with_data("cart", json!({"items": [1, 2], "total": 12}))
        .with_data("theme", json!("dark"));
    store_session(s, &session).await?;
    expect_session(s, "ses-1", Some(&session), "after store_session").await?;
    expect_user_sessions(s, "alice", &[&session], "after store_session").await
}

async fn get_absent_is_none(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    expect_session(s, "ses-1", None, "on an empty store").await?;
    store_session(s, &live_session("ses-1", "alice")).await?;
    for id in ["ses-2", "ses-10", "ses-", "ses", "alice"] {
        expect_session(s, id, None, "with only ses-1 stored").await?;
    }
    Ok(())
}

async fn id_mismatch_is_invalid_input(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    // Nothing stored under either id.
    let data = live_session("ses-2", "alice");
    s.store_session("ses-1", &data).await.check_err(
        ErrorKind::InvalidInput,
        "store_session(\"ses-1\", data for ses-2)",
    )?;
    expect_session(s, "ses-1", None, "after the mismatched store_session").await?;
    expect_session(s, "ses-2", None, "after the mismatched store_session").await?;
    expect_user_sessions(s, "alice", &[], "after the mismatched store_session").await?;
    expect_count(s, 0, "after the mismatched store_session").await?;

    // An existing session is left as it was; ids differing only in case do not match.
    let existing = live_session("ses-1", "bob").with_ip_address("192.0.2.1");
    store_session(s, &existing).await?;
    let other_case = live_session("SES-1", "carol");
    s.store_session("ses-1", &other_case).await.check_err(
        ErrorKind::InvalidInput,
        "store_session(\"ses-1\", data for SES-1)",
    )?;
    expect_session(s, "ses-1", Some(&existing), "after the refused overwrite").await?;
    expect_session(s, "SES-1", None, "after the refused overwrite").await?;
    expect_user_sessions(s, "bob", &[&existing], "after the refused overwrite").await?;
    expect_user_sessions(s, "carol", &[], "after the refused overwrite").await?;
    expect_count(s, 1, "after the refused overwrite").await
}

async fn restore_replaces_whole_record(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let first = live_session("ses-1", "alice")
        .with_ip_address("192.0.2.7")
        .with_user_agent("agent-1")
        .with_data("a", json!(1))
        .with_data("b", json!({"x": [1, 2]}));
    store_session(s, &first).await?;

    let mut second = live_session("ses-1", "alice").with_data("c", json!("new"));
    second.created_at = first.created_at + TimeDelta::seconds(3);
    second.last_activity = first.last_activity + TimeDelta::seconds(9);
    second.expires_at = first.expires_at + TimeDelta::hours(1);
    store_session(s, &second).await?;
    expect_session(
        s,
        "ses-1",
        Some(&second),
        "after re-store without address or agent",
    )
    .await?;
    expect_user_sessions(s, "alice", &[&second], "after re-store").await?;

    let third = live_session("ses-1", "alice")
        .with_ip_address("2001:db8::1")
        .with_user_agent("agent-3");
    store_session(s, &third).await?;
    expect_session(s, "ses-1", Some(&third), "after re-store with empty data").await?;
    expect_user_sessions(s, "alice", &[&third], "after the second re-store").await
}

async fn restore_moves_between_users(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let moving = live_session("ses-1", "alice").with_data("v", json!(1));
    let staying = live_session("ses-2", "alice");
    store_session(s, &moving).await?;
    store_session(s, &staying).await?;

    let moved = moving.clone().with_user_id("bob").with_data("v", json!(2));
    store_session(s, &moved).await?;
    expect_session(s, "ses-1", Some(&moved), "after re-store with user bob").await?;
    expect_user_sessions(s, "alice", &[&staying], "after ses-1 moved to bob").await?;
    expect_user_sessions(s, "bob", &[&moved], "after ses-1 moved to bob").await?;

    store_session(s, &moving).await?;
    expect_user_sessions(s, "alice", &[&moving, &staying], "after ses-1 moved back").await?;
    expect_user_sessions(s, "bob", &[], "after ses-1 moved back to alice").await
}

async fn delete_removes_every_index_entry(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let doomed = live_session("ses-1", "alice");
    let kept = live_session("ses-2", "alice");
    store_session(s, &doomed).await?;
    store_session(s, &kept).await?;
    expect_count(s, 2, "with two sessions").await?;
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1)")?;
    expect_session(s, "ses-1", None, "after delete_session(ses-1)").await?;
    expect_session(s, "ses-2", Some(&kept), "after delete_session(ses-1)").await?;
    expect_user_sessions(s, "alice", &[&kept], "after delete_session(ses-1)").await?;
    expect_count(s, 1, "after delete_session(ses-1)").await
}

async fn delete_absent_is_ok(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1) on an empty store")?;
    let kept = live_session("ses-1", "alice");
    store_session(s, &kept).await?;
    for id in ["ses-2", "ses-", "alice"] {
        s.delete_session(id)
            .await
            .check(&format!("delete_session({id:?}) never stored"))?;
    }
    expect_session(s, "ses-1", Some(&kept), "after deleting absent ids").await?;
    expect_user_sessions(s, "alice", &[&kept], "after deleting absent ids").await?;
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1)")?;
    s.delete_session("ses-1")
        .await
        .check("delete_session(ses-1) a second time")?;
    expect_session_gone(s, &kept, "after deleting ses-1 twice").await
}

async fn list_is_exact_per_user(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let a1 = live_session("a-1", "alice");
    let a2 = live_session("a-2", "alice").with_data("k", json!(2));
    let a3 = live_session("a-3", "alice");
    let b1 = live_session("b-1", "bob");
    let c1 = live_session("c-1", "carol");
    let c2 = live_session("c-2", "carol");
    for session in [&a1, &a2, &a3, &b1, &c1, &c2] {
        store_session(s, session).await?;
    }
    // Re-storing an unchanged session must not list it twice.
    store_session(s, &a2).await?;
    store_session(s, &c1).await?;
    expect_user_sessions(s, "alice", &[&a1, &a2, &a3], "with three sessions").await?;
    expect_user_sessions(s, "bob", &[&b1], "with one session").await?;
    expect_user_sessions(s, "carol", &[&c1, &c2], "with two sessions").await
}

async fn list_of_user_without_sessions_is_empty(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    expect_user_sessions(s, "alice", &[], "on an empty store").await?;
    store_session(s, &live_session("ses-1", "alice")).await?;
    store_session(s, &live_session("ses-2", "alice-2")).await?;
    for user in ["bob", "ali", "alice-", "Alice", "alice ", "ses-1"] {
        expect_user_sessions(s, user, &[], "while alice and alice-2 have sessions").await?;
    }
    Ok(())
}

async fn store_expired_is_invisible(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let kept = live_session("ses-2", "alice");
    store_session(s, &kept).await?;
    let gone = expired_session("ses-1", "alice", ctx.timing());
    store_session(s, &gone).await?;
    expect_session(s, "ses-1", None, "after storing it already expired").await?;
    expect_user_sessions(s, "alice", &[&kept], "after storing ses-1 already expired").await
}

async fn store_expired_hides_earlier_version(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let first = live_session("ses-1", "alice");
    let kept = live_session("ses-2", "alice");
    store_session(s, &first).await?;
    store_session(s, &kept).await?;
    store_session(s, &expired_session("ses-1", "alice", ctx.timing())).await?;
    expect_session(s, "ses-1", None, "after re-storing ses-1 already expired").await?;
    expect_user_sessions(s, "alice", &[&kept], "after re-storing ses-1 expired").await?;

    let again = live_session("ses-1", "alice").with_data("again", json!(true));
    store_session(s, &again).await?;
    expect_session(s, "ses-1", Some(&again), "after storing ses-1 live again").await?;
    expect_user_sessions(
        s,
        "alice",
        &[&again, &kept],
        "after storing ses-1 live again",
    )
    .await
}

/// Checks `got` against `sent`, allowing microsecond truncation of the timestamps only.
fn expect_same_session_up_to_micros(got: &SessionData, sent: &SessionData, what: &str) -> Outcome {
    for (name, g, e) in [
        ("created_at", got.created_at, sent.created_at),
        ("expires_at", got.expires_at, sent.expires_at),
        ("last_activity", got.last_activity, sent.last_activity),
    ] {
        ensure(same_instant(g, e), || {
            format!(
                "{what}: expected {name} {e:?} or {:?} (truncated to microseconds), got {g:?}",
                truncate_to_micros(e)
            )
        })?;
    }
    let mut rest = got.clone();
    rest.created_at = sent.created_at;
    rest.expires_at = sent.expires_at;
    rest.last_activity = sent.last_activity;
    expect_eq(&rest, sent, &format!("{what} (timestamps aside)"))
}

async fn timestamps_keep_microseconds(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let mut session = live_session("ses-1", "alice");
    session.created_at += TimeDelta::nanoseconds(123_456_789);
    session.last_activity += TimeDelta::nanoseconds(555_000_001);
    session.expires_at += TimeDelta::nanoseconds(987_654_321);
    store_session(s, &session).await?;

    let got = s
        .get_session("ses-1")
        .await
        .check("get_session(ses-1)")?
        .ok_or_else(|| Failure::new("get_session(ses-1): expected the session, got None"))?;
    expect_same_session_up_to_micros(&got, &session, "get_session(ses-1)")?;

    let listed = s
        .list_user_sessions("alice")
        .await
        .check("list_user_sessions(alice)")?;
    let [one] = listed.as_slice() else {
        return Err(Failure::new(format!(
            "list_user_sessions(alice): expected exactly ses-1, got {} sessions",
            listed.len()
        )));
    };
    expect_same_session_up_to_micros(one, &session, "list_user_sessions(alice)")
}

async fn text_fields_round_trip_any_utf8(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let serde_json::Value::Object(data) = odd_json() else {
        return Err(Failure::new("odd_json() is not an object"));
    };
    let mut session = live_session("ses-1", "alice")
        .with_ip_address("fe80::1%eth0\0 🦀 עברית")
        .with_user_agent(ODD_TEXTS.concat());
    session.data = data;
    store_session(s, &session).await?;
    expect_session(s, "ses-1", Some(&session), "with NUL, emoji and RTL text").await?;
    expect_user_sessions(s, "alice", &[&session], "with odd text fields").await?;

    // Each odd text on its own, and the empty string, as address and user agent.
    for (i, text) in ODD_TEXTS.iter().enumerate() {
        let id = format!("ses-odd-{i}");
        let odd = live_session(&id, "bob")
            .with_ip_address(*text)
            .with_user_agent(*text)
            .with_data(*text, json!(text));
        store_session(s, &odd).await?;
        expect_session(s, &id, Some(&odd), &format!("with text {text:?}")).await?;
    }
    Ok(())
}
