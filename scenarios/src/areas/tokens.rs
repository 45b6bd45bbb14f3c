//! Tokens: store, read, replace, update, delete, list (`TOK-*`), and the round trip of
//! every field (`GEN-3`, `GEN-5`).
//!
//! The token helpers at the top are also used by the access, cleanup and namespaces areas
//! (through `super::tokens`), so each check is written once.

use std::fmt;
use std::time::Duration;

use authstore_spec::time::{now_micros, truncate_to_micros};
use authstore_spec::validate::{max_timestamp, min_timestamp};
use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, ErrorKind, TimingProfile};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::check::{Check, Failure, Outcome, ensure, expect_eq};
use crate::{Ctx, Scenario, scenario};

/// Long enough that no scenario outlives it.
pub(super) const HOUR: Duration = Duration::from_secs(3600);

/// Text that GEN-5 says must round-trip: NUL, emoji (with joiners), right-to-left text,
/// bidi controls, combining marks, the empty string, quotes and JSON-looking text.
pub(super) const ODD_TEXTS: [&str; 10] = [
    "nul\0inside",
    "\0",
    "emoji 🦀🔐👩‍👩‍👧",
    "עברית مرحبا",
    "\u{202E}override\u{202C} rtl",
    "e\u{301} vs \u{e9}",
    "",
    "quote\" back\\slash ' `tick`",
    "{\"looks\": [\"like\", \"json\"]}",
    "line\nbreak\ttab\r\u{FEFF}\u{10FFFF}",
];

/// JSON metadata or session data that nests objects and arrays and carries [`ODD_TEXTS`]
/// in keys and values.
pub(super) fn odd_json() -> serde_json::Value {
    json!({
        "nul\0key": "nul\0value",
        "emoji 🦀": ["🔐", {"deep": ["👩‍👩‍👧", null, true, false, 7, -3, 1.5]}],
        "שלום": {"مرحبا": {"empty object": {}, "empty array": [], "empty string": ""}},
        "texts": ODD_TEXTS,
        "": "empty key",
    })
}

/// Shows every field, secrets included (scenario tokens hold no real secrets), so a
/// failure says which field differs; `AuthToken`'s own `Debug` redacts them.
#[derive(PartialEq)]
pub(super) struct Full(pub(super) AuthToken);

impl fmt::Debug for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.0;
        f.debug_struct("AuthToken")
            .field("token_id", &t.token_id)
            .field("user_id", &t.user_id)
            .field("access_token", &t.access_token)
            .field("refresh_token", &t.refresh_token)
            .field("token_type", &t.token_type)
            .field("scopes", &t.scopes)
            .field("issued_at", &t.issued_at)
            .field("expires_at", &t.expires_at)
            .field("metadata", &t.metadata)
            .finish()
    }
}

/// A token for `user` holding `access` that lives for an hour.
pub(super) fn live(id: &str, user: &str, access: &str) -> AuthToken {
    AuthToken::new(id, user, access, HOUR)
}

/// An instant the backend must already treat as past: a second before now, minus the
/// backend's declared margin (`TIME-5`).
pub(super) fn surely_past(timing: TimingProfile) -> DateTime<Utc> {
    let back = TimeDelta::from_std(timing.margin())
        .unwrap_or(TimeDelta::zero())
        .checked_add(&TimeDelta::seconds(1))
        .unwrap_or(TimeDelta::seconds(1));
    now_micros()
        .checked_sub_signed(back)
        .map_or(min_timestamp(), |past| past.max(min_timestamp()))
}

/// A token for `user` holding `access` whose expiry instant is surely past.
pub(super) fn expired(id: &str, user: &str, access: &str, timing: TimingProfile) -> AuthToken {
    let past = surely_past(timing);
    let mut token = live(id, user, access).with_expires_at(past);
    token.issued_at = past;
    token
}

/// `get_token(id)` returns `expected` (`None`: absent).
pub(super) async fn expect_token(
    s: &dyn AuthStorage,
    id: &str,
    expected: Option<&AuthToken>,
    when: &str,
) -> Outcome {
    let call = format!("get_token({id:?}) {when}");
    let got = s.get_token(id).await.check(&call)?;
    expect_eq(&got.map(Full), &expected.cloned().map(Full), &call)
}

/// `get_token_by_access_token(access)` returns `expected` (`None`: absent).
pub(super) async fn expect_lookup(
    s: &dyn AuthStorage,
    access: &str,
    expected: Option<&AuthToken>,
    when: &str,
) -> Outcome {
    let call = format!("get_token_by_access_token({access:?}) {when}");
    let got = s.get_token_by_access_token(access).await.check(&call)?;
    expect_eq(&got.map(Full), &expected.cloned().map(Full), &call)
}

/// `list_user_tokens(user)` returns exactly `expected`, each once, in any order.
pub(super) async fn expect_user_tokens(
    s: &dyn AuthStorage,
    user: &str,
    expected: &[&AuthToken],
    when: &str,
) -> Outcome {
    let call = format!("list_user_tokens({user:?}) {when}");
    let mut got = s.list_user_tokens(user).await.check(&call)?;
    got.sort_by(|a, b| a.token_id.cmp(&b.token_id));
    let mut want: Vec<AuthToken> = expected.iter().map(|t| (*t).clone()).collect();
    want.sort_by(|a, b| a.token_id.cmp(&b.token_id));
    let got: Vec<Full> = got.into_iter().map(Full).collect();
    let want: Vec<Full> = want.into_iter().map(Full).collect();
    expect_eq(&got, &want, &format!("{call} (sorted by token id)"))
}

/// `token` is invisible by id and by access token, and absent from its user's list.
async fn expect_token_gone(s: &dyn AuthStorage, token: &AuthToken, when: &str) -> Outcome {
    expect_token(s, &token.token_id, None, when).await?;
    expect_lookup(s, &token.access_token, None, when).await?;
    let call = format!("list_user_tokens({:?}) {when}", token.user_id);
    let listed = s.list_user_tokens(&token.user_id).await.check(&call)?;
    ensure(!listed.iter().any(|t| t.token_id == token.token_id), || {
        format!(
            "{call}: expected no token {:?}, got it among {:?}",
            token.token_id,
            listed.iter().map(|t| &t.token_id).collect::<Vec<_>>()
        )
    })
}

/// `token` reads back equal by id and by access token.
pub(super) async fn expect_token_live(
    s: &dyn AuthStorage,
    token: &AuthToken,
    when: &str,
) -> Outcome {
    expect_token(s, &token.token_id, Some(token), when).await?;
    expect_lookup(s, &token.access_token, Some(token), when).await
}

/// Stores `token`, naming it in the failure.
pub(super) async fn store(s: &dyn AuthStorage, token: &AuthToken) -> Outcome {
    s.store_token(token)
        .await
        .check(&format!("store_token({:?})", token.token_id))
}

const EXPIRY: Capabilities = Capabilities::NONE.with(Capability::Expiry);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            tokens_store_then_get,
            Tokens,
            ["TOK-1", "GEN-3"],
            Capabilities::NONE,
            "a stored token reads back equal, every field included",
            store_then_get
        ),
        scenario!(
            tokens_get_absent_is_none,
            Tokens,
            ["TOK-8"],
            Capabilities::NONE,
            "get_token of an id never stored is Ok(None), also next to similar stored ids",
            get_absent_is_none
        ),
        scenario!(
            tokens_restore_replaces_every_field,
            Tokens,
            ["TOK-2", "GEN-3"],
            Capabilities::NONE,
            "re-storing an id replaces every field, Some to None and back, scopes in order",
            restore_replaces_every_field
        ),
        scenario!(
            tokens_restore_moves_between_users,
            Tokens,
            ["TOK-3", "TOK-10"],
            Capabilities::NONE,
            "re-storing a token with another user moves it between the users' lists",
            restore_moves_between_users
        ),
        scenario!(
            tokens_update_replaces_live_token,
            Tokens,
            ["TOK-6", "TOK-3", "TOK-4"],
            Capabilities::NONE,
            "update_token of a live token replaces it like store_token, user and access too",
            update_replaces_live_token
        ),
        scenario!(
            tokens_update_absent_is_not_found,
            Tokens,
            ["TOK-7", "GEN-4"],
            Capabilities::NONE,
            "update_token of a never-stored or deleted id is NotFound and stores nothing",
            update_absent_is_not_found
        ),
        scenario!(
            tokens_update_expired_is_not_found,
            Tokens,
            ["TOK-7", "TOK-8", "GEN-4"],
            EXPIRY,
            "update_token of an expired token is NotFound; neither version becomes visible",
            update_expired_is_not_found
        ),
        scenario!(
            tokens_delete_removes_every_index_entry,
            Tokens,
            ["TOK-9"],
            Capabilities::NONE,
            "delete_token removes the token from get, access-token lookup and the user list",
            delete_removes_every_index_entry
        ),
        scenario!(
            tokens_delete_absent_is_ok,
            Tokens,
            ["TOK-9"],
            Capabilities::NONE,
            "deleting an absent or already deleted token is Ok and touches nothing else",
            delete_absent_is_ok
        ),
        scenario!(
            tokens_list_is_exact_per_user,
            Tokens,
            ["TOK-10"],
            Capabilities::NONE,
            "list_user_tokens returns exactly each user's tokens, each once",
            list_is_exact_per_user
        ),
        scenario!(
            tokens_list_of_user_without_tokens_is_empty,
            Tokens,
            ["TOK-10"],
            Capabilities::NONE,
            "list_user_tokens of a user with no tokens is empty, even for look-alike user ids",
            list_of_user_without_tokens_is_empty
        ),
        scenario!(
            tokens_store_expired_is_invisible,
            Tokens,
            ["TOK-5", "TOK-8", "TOK-10"],
            EXPIRY,
            "storing an already-expired token succeeds and it is invisible to every read",
            store_expired_is_invisible
        ),
        scenario!(
            tokens_store_expired_hides_earlier_version,
            Tokens,
            ["TOK-5", "TOK-1"],
            EXPIRY,
            "re-storing a live token as expired hides it; storing it live again shows it",
            store_expired_hides_earlier_version
        ),
        scenario!(
            tokens_timestamps_keep_microseconds,
            Tokens,
            ["GEN-3"],
            Capabilities::NONE,
            "timestamps with nanoseconds read back exact or truncated to the microsecond",
            timestamps_keep_microseconds
        ),
        scenario!(
            tokens_extreme_timestamps_round_trip,
            Tokens,
            ["GEN-3", "TOK-1"],
            Capabilities::NONE,
            "issued at the Unix epoch and expiring at the end of year 9999 reads back exactly",
            extreme_timestamps_round_trip
        ),
        scenario!(
            tokens_text_fields_round_trip_any_utf8,
            Tokens,
            ["GEN-5", "TOK-1"],
            Capabilities::NONE,
            "token type, scopes and metadata with NUL, emoji and RTL text round-trip",
            text_fields_round_trip_any_utf8
        ),
    ]
}

async fn store_then_get(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let token = AuthToken::new("tok-1", "alice", "access-1", HOUR)
        .with_refresh_token("refresh-1")
        .with_token_type("Bearer")
        .with_scopes(["read", "write"])
        .with_metadata("client", serde_json::json!({"name": "cli", "n": 3}));
    s.store_token(&token).await.check("store_token(tok-1)")?;
    let got = s.get_token("tok-1").await.check("get_token(tok-1)")?;
    expect_eq(
        &got.map(Full),
        &Some(Full(token)),
        "get_token(tok-1) after store_token",
    )
}

async fn get_absent_is_none(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    expect_token(s, "tok-1", None, "on an empty store").await?;
    store(s, &live("tok-1", "alice", "access-1")).await?;
    for id in ["tok-2", "tok-10", "tok-", "tok", "access-1", "alice"] {
        expect_token(s, id, None, "with only tok-1 stored").await?;
    }
    Ok(())
}

async fn restore_replaces_every_field(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let first = live("tok-1", "alice", "access-1")
        .with_refresh_token("refresh-1")
        .with_token_type("Bearer")
        .with_scopes(["read", "write", "admin"])
        .with_metadata("a", json!(1))
        .with_metadata("b", json!({"x": [1, 2]}));
    store(s, &first).await?;

    // Some -> None, scopes reordered and fewer, metadata keys replaced, new timestamps.
    let mut second = live("tok-1", "alice", "access-1")
        .with_scopes(["write", "read"])
        .with_metadata("c", json!("new"));
    second.issued_at = first.issued_at + TimeDelta::seconds(5);
    second.expires_at = first.expires_at + TimeDelta::hours(1);
    store(s, &second).await?;
    expect_token_live(
        s,
        &second,
        "after re-store without refresh token, type or old metadata",
    )
    .await?;
    expect_user_tokens(s, "alice", &[&second], "after re-store").await?;

    // None -> Some, non-empty -> empty.
    let third = live("tok-1", "alice", "access-1")
        .with_refresh_token("refresh-3")
        .with_token_type("mac");
    store(s, &third).await?;
    expect_token_live(s, &third, "after re-store with empty scopes and metadata").await?;
    expect_user_tokens(s, "alice", &[&third], "after the second re-store").await
}

async fn restore_moves_between_users(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let moving = live("tok-1", "alice", "access-1").with_scopes(["read"]);
    let staying = live("tok-2", "alice", "access-2");
    store(s, &moving).await?;
    store(s, &staying).await?;

    let moved = moving.clone().with_user_id("bob").with_scopes(["write"]);
    store(s, &moved).await?;
    expect_token_live(s, &moved, "after re-store with user bob").await?;
    expect_user_tokens(s, "alice", &[&staying], "after tok-1 moved to bob").await?;
    expect_user_tokens(s, "bob", &[&moved], "after tok-1 moved to bob").await?;

    store(s, &moving).await?;
    expect_user_tokens(s, "alice", &[&moving, &staying], "after tok-1 moved back").await?;
    expect_user_tokens(s, "bob", &[], "after tok-1 moved back to alice").await
}

async fn update_replaces_live_token(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let original = live("tok-1", "alice", "access-1")
        .with_refresh_token("refresh-1")
        .with_scopes(["read"])
        .with_metadata("v", json!(1));
    store(s, &original).await?;

    let mut updated = live("tok-1", "bob", "access-2")
        .with_token_type("Bearer")
        .with_scopes(["write", "read"])
        .with_metadata("w", json!([2]));
    updated.expires_at = original.expires_at + TimeDelta::minutes(30);
    s.update_token(&updated)
        .await
        .check("update_token(tok-1 for bob with access-2)")?;
    expect_token_live(s, &updated, "after update_token").await?;
    expect_lookup(
        s,
        "access-1",
        None,
        "after update_token changed it to access-2",
    )
    .await?;
    expect_user_tokens(s, "alice", &[], "after update_token moved tok-1 to bob").await?;
    expect_user_tokens(
        s,
        "bob",
        &[&updated],
        "after update_token moved tok-1 to bob",
    )
    .await
}

async fn update_absent_is_not_found(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let other = live("tok-2", "alice", "access-2");
    store(s, &other).await?;

    let ghost = live("tok-1", "bob", "access-1");
    s.update_token(&ghost)
        .await
        .check_err(ErrorKind::NotFound, "update_token(tok-1) never stored")?;
    expect_token_gone(s, &ghost, "after update_token of an absent id failed").await?;
    expect_user_tokens(s, "bob", &[], "after update_token of an absent id failed").await?;

    let deleted = live("tok-3", "carol", "access-3");
    store(s, &deleted).await?;
    s.delete_token("tok-3").await.check("delete_token(tok-3)")?;
    let revived = deleted.clone().with_scopes(["again"]);
    s.update_token(&revived).await.check_err(
        ErrorKind::NotFound,
        "update_token(tok-3) after delete_token",
    )?;
    expect_token_gone(s, &revived, "after update_token of a deleted id failed").await?;

    expect_token_live(s, &other, "after the failed updates").await?;
    expect_user_tokens(s, "alice", &[&other], "after the failed updates").await
}

async fn update_expired_is_not_found(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let timing = ctx.timing();

    // Stored already expired.
    let stale = expired("tok-1", "alice", "access-old", timing);
    store(s, &stale).await?;
    let fresh = live("tok-1", "alice", "access-new");
    s.update_token(&fresh).await.check_err(
        ErrorKind::NotFound,
        "update_token(tok-1) stored already expired",
    )?;
    expect_token_gone(s, &stale, "after update_token of an expired token failed").await?;
    expect_token_gone(s, &fresh, "after update_token of an expired token failed").await?;

    // Live first, then re-stored as expired.
    let was_live = live("tok-2", "bob", "access-2");
    store(s, &was_live).await?;
    let now_expired = expired("tok-2", "bob", "access-2", timing);
    store(s, &now_expired).await?;
    s.update_token(&was_live).await.check_err(
        ErrorKind::NotFound,
        "update_token(tok-2) re-stored as expired",
    )?;
    expect_token_gone(
        s,
        &was_live,
        "after update_token of a re-expired token failed",
    )
    .await?;
    expect_user_tokens(
        s,
        "bob",
        &[],
        "after update_token of a re-expired token failed",
    )
    .await
}

async fn delete_removes_every_index_entry(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let doomed = live("tok-1", "alice", "access-1");
    let kept = live("tok-2", "alice", "access-2");
    store(s, &doomed).await?;
    store(s, &kept).await?;
    s.delete_token("tok-1").await.check("delete_token(tok-1)")?;
    expect_token_gone(s, &doomed, "after delete_token(tok-1)").await?;
    expect_token_live(s, &kept, "after delete_token(tok-1)").await?;
    expect_user_tokens(s, "alice", &[&kept], "after delete_token(tok-1)").await
}

async fn delete_absent_is_ok(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    s.delete_token("tok-1")
        .await
        .check("delete_token(tok-1) on an empty store")?;
    let kept = live("tok-1", "alice", "access-1");
    store(s, &kept).await?;
    for id in ["tok-2", "tok-", "access-1"] {
        s.delete_token(id)
            .await
            .check(&format!("delete_token({id:?}) never stored"))?;
    }
    expect_token_live(s, &kept, "after deleting absent ids").await?;
    expect_user_tokens(s, "alice", &[&kept], "after deleting absent ids").await?;
    s.delete_token("tok-1").await.check("delete_token(tok-1)")?;
    s.delete_token("tok-1")
        .await
        .check("delete_token(tok-1) a second time")?;
    expect_token_gone(s, &kept, "after deleting tok-1 twice").await
}

async fn list_is_exact_per_user(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let a1 = live("a-1", "alice", "access-a1");
    let a2 = live("a-2", "alice", "access-a2").with_scopes(["x"]);
    let a3 = live("a-3", "alice", "access-a3");
    let b1 = live("b-1", "bob", "access-b1");
    let c1 = live("c-1", "carol", "access-c1");
    let c2 = live("c-2", "carol", "access-c2");
    for token in [&a1, &a2, &a3, &b1, &c1, &c2] {
        store(s, token).await?;
    }
    // Re-storing an unchanged token must not list it twice.
    store(s, &a2).await?;
    store(s, &c1).await?;
    expect_user_tokens(s, "alice", &[&a1, &a2, &a3], "with three tokens").await?;
    expect_user_tokens(s, "bob", &[&b1], "with one token").await?;
    expect_user_tokens(s, "carol", &[&c1, &c2], "with two tokens").await
}

async fn list_of_user_without_tokens_is_empty(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    expect_user_tokens(s, "alice", &[], "on an empty store").await?;
    store(s, &live("tok-1", "alice", "access-1")).await?;
    store(s, &live("tok-2", "alice-2", "access-2")).await?;
    for user in ["bob", "ali", "alice-", "Alice", "alice ", "tok-1"] {
        expect_user_tokens(s, user, &[], "while alice and alice-2 hold tokens").await?;
    }
    Ok(())
}

async fn store_expired_is_invisible(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let kept = live("tok-2", "alice", "access-2");
    store(s, &kept).await?;
    let gone = expired("tok-1", "alice", "access-1", ctx.timing());
    store(s, &gone).await?;
    expect_token_gone(s, &gone, "after storing it already expired").await?;
    expect_user_tokens(s, "alice", &[&kept], "after storing tok-1 already expired").await
}

async fn store_expired_hides_earlier_version(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let first = live("tok-1", "alice", "access-1");
    let kept = live("tok-2", "alice", "access-2");
    store(s, &first).await?;
    store(s, &kept).await?;
    let hidden = expired("tok-1", "alice", "access-1b", ctx.timing());
    store(s, &hidden).await?;
    expect_token_gone(s, &first, "after re-storing tok-1 already expired").await?;
    expect_token_gone(s, &hidden, "after re-storing tok-1 already expired").await?;
    expect_user_tokens(s, "alice", &[&kept], "after re-storing tok-1 expired").await?;

    let again = live("tok-1", "alice", "access-1").with_scopes(["again"]);
    store(s, &again).await?;
    expect_token_live(s, &again, "after storing tok-1 live again").await?;
    expect_user_tokens(
        s,
        "alice",
        &[&again, &kept],
        "after storing tok-1 live again",
    )
    .await
}

/// Whether `got` is `sent` or `sent` truncated to whole microseconds (`GEN-3`).
pub(super) fn same_instant(got: DateTime<Utc>, sent: DateTime<Utc>) -> bool {
    got == sent || got == truncate_to_micros(sent)
}

/// Checks `got` against `sent`, allowing microsecond truncation of the timestamps only.
fn expect_same_token_up_to_micros(got: &AuthToken, sent: &AuthToken, what: &str) -> Outcome {
    for (name, g, e) in [
        ("issued_at", got.issued_at, sent.issued_at),
        ("expires_at", got.expires_at, sent.expires_at),
    ] {
        ensure(same_instant(g, e), || {
            format!(
                "{what}: expected {name} {e:?} or {:?} (truncated to microseconds), got {g:?}",
                truncate_to_micros(e)
            )
        })?;
    }
    let mut rest = got.clone();
    rest.issued_at = sent.issued_at;
    rest.expires_at = sent.expires_at;
    expect_eq(
        &Full(rest),
        &Full(sent.clone()),
        &format!("{what} (timestamps aside)"),
    )
}

async fn timestamps_keep_microseconds(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let mut token = live("tok-1", "alice", "access-1");
    token.issued_at += TimeDelta::nanoseconds(123_456_789);
    token.expires_at += TimeDelta::nanoseconds(987_654_321);
    store(s, &token).await?;

    let by_id = s.get_token("tok-1").await.check("get_token(tok-1)")?;
    let by_id =
        by_id.ok_or_else(|| Failure::new("get_token(tok-1): expected the token, got None"))?;
    expect_same_token_up_to_micros(&by_id, &token, "get_token(tok-1)")?;

    let by_access = s
        .get_token_by_access_token("access-1")
        .await
        .check("get_token_by_access_token(access-1)")?
        .ok_or_else(|| {
            Failure::new("get_token_by_access_token(access-1): expected the token, got None")
        })?;
    expect_same_token_up_to_micros(&by_access, &token, "get_token_by_access_token(access-1)")?;

    let listed = s
        .list_user_tokens("alice")
        .await
        .check("list_user_tokens(alice)")?;
    let [one] = listed.as_slice() else {
        return Err(Failure::new(format!(
            "list_user_tokens(alice): expected exactly tok-1, got {} tokens",
            listed.len()
        )));
    };
    expect_same_token_up_to_micros(one, &token, "list_user_tokens(alice)")
}

async fn extreme_timestamps_round_trip(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let token = live("tok-1", "alice", "access-1").with_expires_at(max_timestamp());
    let token = AuthToken {
        issued_at: min_timestamp(),
        ..token
    };
    store(s, &token).await?;
    expect_token_live(
        s,
        &token,
        "issued at the epoch, expiring 9999-12-31T23:59:59Z",
    )
    .await?;
    expect_user_tokens(s, "alice", &[&token], "with the extreme timestamps").await
}

async fn text_fields_round_trip_any_utf8(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let serde_json::Value::Object(metadata) = odd_json() else {
        return Err(Failure::new("odd_json() is not an object"));
    };
    let mut token = live("tok-1", "alice", "access-1")
        .with_refresh_token("refresh 🦀 עברית مرحبا")
        .with_token_type("Bearer\0 🦀 مرحبا")
        .with_scopes(ODD_TEXTS);
    token.metadata = metadata;
    store(s, &token).await?;
    expect_token_live(
        s,
        &token,
        "with NUL, emoji and RTL text in every text field",
    )
    .await?;
    expect_user_tokens(s, "alice", &[&token], "with odd text fields").await?;

    let empty_type = live("tok-2", "alice", "access-2").with_token_type("");
    store(s, &empty_type).await?;
    expect_token(s, "tok-2", Some(&empty_type), "with token_type Some(\"\")").await
}
