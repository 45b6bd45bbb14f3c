//! Access tokens: exact lookups, uniqueness among live tokens, and no stale index entry
//! after a re-store, an update, a delete or an expiry (`ACC-*`, `TOK-4`).

use std::time::Duration;

use authstore_spec::{AuthToken, Capabilities, Capability, ErrorKind};
use chrono::Utc;

use super::tokens::{
    Full, expect_lookup, expect_token, expect_token_live, expect_user_tokens, expired, live, store,
};
use crate::check::{Check, Failure, Outcome, expect_eq};
use crate::timing::{Attempt, ExpiryWindow, with_growing_ttl};
use crate::{Ctx, Scenario, scenario};

const EXPIRY: Capabilities = Capabilities::NONE.with(Capability::Expiry);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            access_lookup_returns_the_holder,
            AccessTokens,
            ["ACC-1"],
            Capabilities::NONE,
            "lookup returns the token holding the access token, and None for anything else",
            lookup_returns_the_holder
        ),
        scenario!(
            access_lookup_is_case_sensitive,
            AccessTokens,
            ["ACC-6", "ACC-1"],
            Capabilities::NONE,
            "access tokens differing only in case are different tokens",
            lookup_is_case_sensitive
        ),
        scenario!(
            access_lookup_does_not_normalise_unicode,
            AccessTokens,
            ["ACC-6", "ACC-1"],
            Capabilities::NONE,
            "NFC and NFD spellings of one text are different access tokens",
            lookup_does_not_normalise_unicode
        ),
        scenario!(
            access_store_of_held_access_token_conflicts,
            AccessTokens,
            ["ACC-2", "GEN-4"],
            Capabilities::NONE,
            "storing a new token with an access token held by another is Conflict, no change",
            store_of_held_access_token_conflicts
        ),
        scenario!(
            access_restore_onto_held_access_token_conflicts,
            AccessTokens,
            ["ACC-2", "GEN-4"],
            Capabilities::NONE,
            "re-storing a token with another's access token is Conflict, both unchanged",
            restore_onto_held_access_token_conflicts
        ),
        scenario!(
            access_update_onto_held_access_token_conflicts,
            AccessTokens,
            ["ACC-2", "GEN-4"],
            Capabilities::NONE,
            "update_token to another token's access token is Conflict, both unchanged",
            update_onto_held_access_token_conflicts
        ),
        scenario!(
            access_own_access_token_is_no_conflict,
            AccessTokens,
            ["ACC-2", "TOK-2", "TOK-6"],
            Capabilities::NONE,
            "re-storing or updating a token with its own access token succeeds",
            own_access_token_is_no_conflict
        ),
        scenario!(
            access_restore_with_new_access_token_frees_old,
            AccessTokens,
            ["TOK-4", "ACC-4", "ACC-3"],
            Capabilities::NONE,
            "after a re-store with a new access token the old one resolves to None and is free",
            restore_with_new_access_token_frees_old
        ),
        scenario!(
            access_update_with_new_access_token_frees_old,
            AccessTokens,
            ["TOK-4", "ACC-4", "ACC-3", "TOK-6"],
            Capabilities::NONE,
            "after an update with a new access token the old one resolves to None and is free",
            update_with_new_access_token_frees_old
        ),
        scenario!(
            access_delete_frees_access_token,
            AccessTokens,
            ["ACC-4", "ACC-3", "TOK-9"],
            Capabilities::NONE,
            "after delete_token the access token resolves to None and another token may take it",
            delete_frees_access_token
        ),
        scenario!(
            access_expired_holder_frees_access_token,
            AccessTokens,
            ["ACC-3", "ACC-4", "TOK-5"],
            EXPIRY,
            "an access token held only by expired tokens resolves to None and may be reused",
            expired_holder_frees_access_token
        ),
        scenario!(
            access_timed_expiry_frees_access_token,
            AccessTokens,
            ["ACC-2", "ACC-3", "ACC-4"],
            EXPIRY,
            "an access token conflicts while its holder lives and is free once it expires",
            timed_expiry_frees_access_token
        ),
        scenario!(
            access_lookup_follows_the_current_holder,
            AccessTokens,
            ["ACC-4", "ACC-3", "ACC-1"],
            Capabilities::NONE,
            "an access token passed from token to token resolves to its current holder only",
            lookup_follows_the_current_holder
        ),
        scenario!(
            access_removing_a_former_holder_keeps_the_new_one,
            AccessTokens,
            ["ACC-3", "ACC-4", "TOK-9", "TOK-12", "CLN-1"],
            Capabilities::NONE,
            "after an expired token's access token passes to a live one, removing the \
             expired one (cleanup, delete, or a re-store with another access token) leaves \
             the access token resolving to the live holder",
            removing_a_former_holder_keeps_the_new_one
        ),
        scenario!(
            access_non_ascii_access_tokens_match_byte_for_byte,
            AccessTokens,
            ["ACC-1", "ACC-6"],
            Capabilities::NONE,
            "access tokens with emoji and RTL text resolve exactly, not by prefix",
            non_ascii_access_tokens_match_byte_for_byte
        ),
    ]
}

async fn lookup_returns_the_holder(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let first = live("tok-1", "alice", "access-1").with_refresh_token("refresh-1");
    let second = live("tok-2", "bob", "access-2").with_scopes(["read"]);
    store(s, &first).await?;
    store(s, &second).await?;
    expect_lookup(s, "access-1", Some(&first), "with tok-1 holding it").await?;
    expect_lookup(s, "access-2", Some(&second), "with tok-2 holding it").await?;
    // Neither ids, users, refresh tokens nor near misses are access tokens.
    for other in [
        "access-3",
        "access-",
        "access-10",
        "tok-1",
        "alice",
        "refresh-1",
    ] {
        expect_lookup(s, other, None, "with only access-1 and access-2 held").await?;
    }
    Ok(())
}

async fn lookup_is_case_sensitive(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let mixed = live("tok-1", "alice", "AbC-Token");
    store(s, &mixed).await?;
    for other in ["abc-token", "ABC-TOKEN", "aBc-tOKEN"] {
        expect_lookup(s, other, None, "with only AbC-Token held").await?;
    }
    // A token differing only in case is another token, not a conflict.
    let lower = live("tok-2", "bob", "abc-token");
    store(s, &lower).await?;
    expect_lookup(s, "AbC-Token", Some(&mixed), "with abc-token also held").await?;
    expect_lookup(s, "abc-token", Some(&lower), "with AbC-Token also held").await?;
    for other in ["ABC-TOKEN", "Abc-Token", "abc-Token"] {
        expect_lookup(s, other, None, "with AbC-Token and abc-token held").await?;
    }
    Ok(())
}

async fn lookup_does_not_normalise_unicode(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let composed = "caf\u{e9}-token"; // NFC: é is U+00E9
    let decomposed = "cafe\u{301}-token"; // NFD: e followed by U+0301
    let nfc = live("tok-1", "alice", composed);
    store(s, &nfc).await?;
    expect_lookup(s, decomposed, None, "with only the NFC spelling held").await?;
    let nfd = live("tok-2", "bob", decomposed);
    store(s, &nfd).await?;
    expect_lookup(s, composed, Some(&nfc), "with both spellings held").await?;
    expect_lookup(s, decomposed, Some(&nfd), "with both spellings held").await?;
    // Fullwidth letters and ligatures are not folded either.
    for other in ["ｃａｆé-token", "CAFÉ-TOKEN", "cafe-token"] {
        expect_lookup(s, other, None, "with the NFC and NFD spellings held").await?;
    }
    Ok(())
}

async fn store_of_held_access_token_conflicts(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let holder = live("tok-1", "alice", "shared-access");
    store(s, &holder).await?;
    let intruder = live("tok-2", "bob", "shared-access").with_scopes(["admin"]);
    s.store_token(&intruder).await.check_err(
        ErrorKind::Conflict,
        "store_token(tok-2) with tok-1's access token",
    )?;
    expect_token(s, "tok-2", None, "after its store_token was refused").await?;
    expect_user_tokens(s, "bob", &[], "after store_token(tok-2) was refused").await?;
    expect_token_live(s, &holder, "after store_token(tok-2) was refused").await?;
    expect_user_tokens(
        s,
        "alice",
        &[&holder],
        "after store_token(tok-2) was refused",
    )
    .await
}

async fn restore_onto_held_access_token_conflicts(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let holder = live("tok-1", "alice", "access-1");
    let other = live("tok-2", "bob", "access-2").with_scopes(["read"]);
    store(s, &holder).await?;
    store(s, &other).await?;
    let grab = live("tok-2", "carol", "access-1").with_scopes(["write"]);
    s.store_token(&grab).await.check_err(
        ErrorKind::Conflict,
        "store_token(tok-2) with tok-1's access token",
    )?;
    expect_token_live(s, &holder, "after the refused re-store of tok-2").await?;
    expect_token_live(s, &other, "after its refused re-store").await?;
    expect_user_tokens(s, "bob", &[&other], "after the refused re-store of tok-2").await?;
    expect_user_tokens(s, "carol", &[], "after the refused re-store of tok-2").await
}

async fn update_onto_held_access_token_conflicts(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let holder = live("tok-1", "alice", "access-1");
    let other = live("tok-2", "bob", "access-2").with_scopes(["read"]);
    store(s, &holder).await?;
    store(s, &other).await?;
    let grab = live("tok-2", "carol", "access-1").with_token_type("Bearer");
    s.update_token(&grab).await.check_err(
        ErrorKind::Conflict,
        "update_token(tok-2) with tok-1's access token",
    )?;
    expect_token_live(s, &holder, "after the refused update of tok-2").await?;
    expect_token_live(s, &other, "after its refused update").await?;
    expect_user_tokens(s, "bob", &[&other], "after the refused update of tok-2").await?;
    expect_user_tokens(s, "carol", &[], "after the refused update of tok-2").await
}

async fn own_access_token_is_no_conflict(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    store(s, &live("tok-1", "alice", "access-1")).await?;
    let restored = live("tok-1", "alice", "access-1").with_scopes(["again"]);
    store(s, &restored).await?;
    expect_token_live(s, &restored, "after re-store with its own access token").await?;
    let updated = restored
        .clone()
        .with_user_id("bob")
        .with_token_type("Bearer");
    s.update_token(&updated)
        .await
        .check("update_token(tok-1) keeping its own access token")?;
    expect_token_live(s, &updated, "after update with its own access token").await
}

async fn restore_with_new_access_token_frees_old(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let before = live("tok-1", "alice", "access-old");
    store(s, &before).await?;
    let after = before.clone().with_access_token("access-new");
    store(s, &after).await?;
    expect_lookup(
        s,
        "access-old",
        None,
        "after tok-1 was re-stored with access-new",
    )
    .await?;
    expect_token_live(s, &after, "after re-store with access-new").await?;

    let taker = live("tok-2", "bob", "access-old");
    store(s, &taker).await?;
    expect_token_live(s, &taker, "after tok-2 took the freed access-old").await?;
    expect_token_live(s, &after, "after tok-2 took access-old").await
}

async fn update_with_new_access_token_frees_old(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let before = live("tok-1", "alice", "access-old");
    store(s, &before).await?;
    let after = before.clone().with_access_token("access-new");
    s.update_token(&after)
        .await
        .check("update_token(tok-1) with access-new")?;
    expect_lookup(
        s,
        "access-old",
        None,
        "after tok-1 was updated to access-new",
    )
    .await?;
    expect_token_live(s, &after, "after update to access-new").await?;

    let taker = live("tok-2", "bob", "access-old");
    store(s, &taker).await?;
    expect_token_live(s, &taker, "after tok-2 took the freed access-old").await?;
    expect_token_live(s, &after, "after tok-2 took access-old").await
}

async fn delete_frees_access_token(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let holder = live("tok-1", "alice", "access-1");
    store(s, &holder).await?;
    s.delete_token("tok-1").await.check("delete_token(tok-1)")?;
    expect_lookup(s, "access-1", None, "after delete_token(tok-1)").await?;

    let taker = live("tok-2", "bob", "access-1");
    store(s, &taker).await?;
    expect_token_live(
        s,
        &taker,
        "after tok-2 took the access token of deleted tok-1",
    )
    .await?;
    expect_token(s, "tok-1", None, "after tok-2 took its access token").await
}

async fn expired_holder_frees_access_token(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let timing = ctx.timing();

    // Stored already expired: never held the access token.
    let stillborn = expired("tok-1", "alice", "access-1", timing);
    store(s, &stillborn).await?;
    expect_lookup(s, "access-1", None, "with only an expired token holding it").await?;
    let taker = live("tok-2", "bob", "access-1");
    store(s, &taker).await?;
    expect_token_live(
        s,
        &taker,
        "after tok-2 took the access token of expired tok-1",
    )
    .await?;

    // Live first, then re-stored as expired: frees it.
    let holder = live("tok-3", "carol", "access-3");
    store(s, &holder).await?;
    store(s, &expired("tok-3", "carol", "access-3", timing)).await?;
    expect_lookup(s, "access-3", None, "after tok-3 was re-stored as expired").await?;
    let second_taker = live("tok-4", "dave", "access-3");
    store(s, &second_taker).await?;
    expect_token_live(
        s,
        &second_taker,
        "after tok-4 took the access token of tok-3",
    )
    .await?;
    expect_token(s, "tok-3", None, "after tok-4 took its access token").await?;
    expect_user_tokens(s, "carol", &[], "after tok-3 expired").await
}

async fn timed_expiry_frees_access_token(ctx: Ctx) -> Outcome {
    with_growing_ttl(ctx.timing(), |ttl| {
        let ctx = ctx.clone();
        async move { timed_expiry_attempt(&ctx, ttl).await }
    })
    .await
}

async fn timed_expiry_attempt(ctx: &Ctx, ttl: Duration) -> Result<Attempt, Failure> {
    let s = &**ctx.storage();
    // Ids unique per attempt: an inconclusive attempt may leave its tokens behind.
    let n = ttl.as_millis();
    let access = format!("access-{n}");
    let holder = AuthToken::new(format!("holder-{n}"), "alice", access.as_str(), ttl);
    let window = ExpiryWindow::at(holder.expires_at, ctx.timing());
    store(s, &holder).await?;
    let found = s.get_token_by_access_token(&access).await.check(&format!(
        "get_token_by_access_token({access:?}) while its holder lives"
    ))?;
    let rival = live(&format!("rival-{n}"), "bob", &access);
    let refused = s.store_token(&rival).await;
    if !window.surely_live_at(Utc::now()) {
        return Ok(Attempt::TooSlow);
    }
    expect_eq(
        &found.map(Full),
        &Some(Full(holder.clone())),
        &format!("get_token_by_access_token({access:?}) while its holder lives"),
    )?;
    refused.check_err(
        ErrorKind::Conflict,
        &format!("store_token(rival-{n}) while holder-{n} still holds {access:?}"),
    )?;

    window.wait_until_expired().await;
    expect_lookup(s, &access, None, "once its holder expired").await?;
    store(s, &rival).await?;
    expect_token_live(
        s,
        &rival,
        "after taking the access token of an expired holder",
    )
    .await?;
    expect_token(s, &holder.token_id, None, "after it expired").await?;
    Ok(Attempt::Conclusive)
}

async fn lookup_follows_the_current_holder(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    // A holds X.
    let a_x = live("tok-a", "alice", "X");
    store(s, &a_x).await?;
    // A moves to Y; B takes X.
    let a_y = a_x.clone().with_access_token("Y");
    store(s, &a_y).await?;
    let b_x = live("tok-b", "bob", "X");
    store(s, &b_x).await?;
    expect_lookup(s, "X", Some(&b_x), "after A moved to Y and B took X").await?;
    expect_lookup(s, "Y", Some(&a_y), "after A moved to Y").await?;
    // B is deleted: X resolves to nothing, not to A's old entry.
    s.delete_token("tok-b").await.check("delete_token(tok-b)")?;
    expect_lookup(s, "X", None, "after B, its last holder, was deleted").await?;
    // A goes back to X: Y is freed.
    s.update_token(&a_x)
        .await
        .check("update_token(tok-a) back to X")?;
    expect_lookup(s, "X", Some(&a_x), "after A went back to X").await?;
    expect_lookup(s, "Y", None, "after A went back to X").await?;
    expect_user_tokens(s, "alice", &[&a_x], "after the moves").await?;
    expect_user_tokens(s, "bob", &[], "after tok-b was deleted").await
}

async fn non_ascii_access_tokens_match_byte_for_byte(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let emoji = live("tok-1", "alice", "🔐🦀-עברית-مرحبا");
    store(s, &emoji).await?;
    expect_lookup(s, "🔐🦀-עברית-مرحبا", Some(&emoji), "with it held").await?;
    for other in ["🔐🦀", "🔐🦀-עברית-مرحبא", "🔐🦀-עברית-مرحبا ", "🔐"]
    {
        expect_lookup(s, other, None, "with only 🔐🦀-עברית-مرحبا held").await?;
    }
    Ok(())
}

async fn removing_a_former_holder_keeps_the_new_one(ctx: Ctx) -> Outcome {
    let s = &**ctx.storage();
    let timing = ctx.timing();
    // Each way of removing the former holder, on its own access token.
    for removal in [
        "cleanup_expired",
        "delete_token",
        "re-store with another access token",
    ] {
        let tag = removal
            .split(' ')
            .next()
            .unwrap_or(removal)
            .replace('-', "_");
        let (old_id, new_id, access) = (
            format!("former-{tag}"),
            format!("holder-{tag}"),
            format!("passed-{tag}"),
        );
        // The former holder: live with the access token, then re-stored already expired
        // (still naming it), so a backend may keep its index entry until removal.
        let former = live(&old_id, "alice", &access);
        store(s, &former).await?;
        store(s, &expired(&old_id, "alice", &access, timing)).await?;
        let holder = live(&new_id, "bob", &access);
        store(s, &holder).await?;
        expect_token_live(s, &holder, &format!("after {new_id} took {access:?}")).await?;
        match removal {
            "cleanup_expired" => s.cleanup_expired().await.check("cleanup_expired()")?,
            "delete_token" => s
                .delete_token(&old_id)
                .await
                .check(&format!("delete_token({old_id})"))?,
            _ => {
                let moved = live(&old_id, "alice", &format!("elsewhere-{tag}"));
                store(s, &moved).await?;
                expect_token_live(s, &moved, "after its re-store with another access token")
                    .await?;
            }
        }
        expect_token_live(
            s,
            &holder,
            &format!("after the former holder {old_id} was removed by {removal}"),
        )
        .await?;
        expect_user_tokens(
            s,
            "bob",
            &[&holder],
            &format!("after {removal} of {old_id}"),
        )
        .await?;
        s.delete_token(&new_id)
            .await
            .check(&format!("delete_token({new_id})"))?;
    }
    Ok(())
}
