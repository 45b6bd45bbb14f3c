//! Two handles on the same data: acknowledged writes are seen everywhere, no handle
//! serves a stale version, counts, listings and access-token uniqueness hold across
//! handles (`MH-*`).
//!
//! Handle B reads every item before handle A changes it, so a handle that caches what
//! it read is caught serving the old version.

use std::sync::Arc;
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, Capabilities, Capability, ErrorKind, SessionData};

use crate::check::{Check, Failure, Outcome, expect_bytes, expect_eq};
use crate::tasks::join_tasks;
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn scenarios() -> Vec<Scenario> {
    let two = Capabilities::NONE.with(Capability::MultiHandle);
    vec![
        scenario!(
            multi_handle_writes_visible_on_other_handle,
            MultiHandle,
            ["MH-1"],
            two,
            "tokens, sessions and kv entries written on one handle are read, looked up, listed \
             and counted on the other",
            writes_visible_on_other_handle
        ),
        scenario!(
            multi_handle_token_update_and_delete_propagate,
            MultiHandle,
            ["MH-2", "MH-1"],
            two,
            "after an update, re-store or delete of a token on A, B never returns the old \
             version or resolves the old access token",
            token_update_and_delete_propagate
        ),
        scenario!(
            multi_handle_session_and_kv_changes_propagate,
            MultiHandle,
            ["MH-2", "MH-3"],
            two,
            "after a session or kv entry is replaced or deleted on A, B returns the new state \
             in reads, lists and counts",
            session_and_kv_changes_propagate
        ),
        scenario!(
            multi_handle_counts_and_listings_agree,
            MultiHandle,
            ["MH-3"],
            two,
            "after writes spread over both handles, both return the same counts and listings",
            counts_and_listings_agree
        ),
        scenario!(
            multi_handle_access_token_unique_across_handles,
            MultiHandle,
            ["MH-4", "ACC-2", "ACC-3"],
            two,
            "an access token held via A is a Conflict when stored or updated via B, and free \
             for B once A deletes its holder",
            access_token_unique_across_handles
        ),
        scenario!(
            multi_handle_concurrent_writes_converge,
            MultiHandle,
            ["MH-3", "MH-4", "CON-2", "CON-4"],
            two.with(Capability::Concurrency),
            "racing writers on both handles leave one access-token holder and one version of a \
             token, seen alike by both handles",
            concurrent_writes_converge
        ),
    ]
}

type Handle = Arc<dyn AuthStorage>;

/// Checks a token as seen through `handle` (called `name`): by id, by each access token
/// in `lookups` (expecting `current` only for its own access token), and in the lists of
/// `users`.
async fn expect_token_view(
    handle: &Handle,
    name: &str,
    id: &str,
    current: Option<&AuthToken>,
    lookups: &[&str],
    users: &[&str],
) -> Outcome {
    let got = handle
        .get_token(id)
        .await
        .check(&format!("{name}.get_token({id})"))?;
    expect_eq(&got.as_ref(), &current, &format!("{name}.get_token({id})"))?;
    for access in lookups {
        let got = handle
            .get_token_by_access_token(access)
            .await
            .check(&format!("{name}.get_token_by_access_token({access})"))?;
        let expected = current.filter(|t| t.access_token == *access);
        expect_eq(
            &got.as_ref(),
            &expected,
            &format!("{name}.get_token_by_access_token({access})"),
        )?;
    }
    for user in users {
        let listed = handle
            .list_user_tokens(user)
            .await
            .check(&format!("{name}.list_user_tokens({user})"))?;
        let expected: Vec<AuthToken> = current
            .filter(|t| t.user_id == *user)
            .cloned()
            .into_iter()
            .collect();
        expect_eq(
            &listed,
            &expected,
            &format!("{name}.list_user_tokens({user})"),
        )?;
    }
    Ok(())
}

async fn writes_visible_on_other_handle(ctx: Ctx) -> Outcome {
    let (a, b) = (ctx.storage(), ctx.second()?);
    for (writer, w, reader, r) in [(a, "A", b, "B"), (b, "B", a, "A")] {
        let id = format!("from-{w}");
        let user = format!("user-{w}");
        let access = format!("access-{w}");
        let token = AuthToken::new(&id, &user, &access, HOUR).with_scopes(["read"]);
        writer
            .store_token(&token)
            .await
            .check(&format!("{w}.store_token({id})"))?;
        let session = SessionData::new(&id, &user, HOUR).with_ip_address("192.0.2.1");
        writer
            .store_session(&id, &session)
            .await
            .check(&format!("{w}.store_session({id})"))?;
        writer
            .store_kv(&id, id.as_bytes(), None)
            .await
            .check(&format!("{w}.store_kv({id})"))?;

        expect_token_view(reader, r, &id, Some(&token), &[&access], &[&user]).await?;
        let got = reader
            .get_session(&id)
            .await
            .check(&format!("{r}.get_session({id})"))?;
        expect_eq(
            &got,
            &Some(session.clone()),
            &format!("{r}.get_session({id})"),
        )?;
        let listed = reader
            .list_user_sessions(&user)
            .await
            .check(&format!("{r}.list_user_sessions({user})"))?;
        expect_eq(
            &listed,
            &vec![session],
            &format!("{r}.list_user_sessions({user})"),
        )?;
        let got = reader
            .get_kv(&id)
            .await
            .check(&format!("{r}.get_kv({id})"))?;
        expect_bytes(
            got.as_deref(),
            Some(id.as_bytes()),
            &format!("{r}.get_kv({id})"),
        )?;
        let listed = reader
            .list_kv_keys("from-")
            .await
            .check(&format!("{r}.list_kv_keys(from-)"))?;
        ensure_contains(&listed, &id, &format!("{r}.list_kv_keys(from-)"))?;
    }
    for (handle, name) in [(a, "A"), (b, "B")] {
        let count = handle
            .count_active_sessions()
            .await
            .check(&format!("{name}.count_active_sessions()"))?;
        expect_eq(
            &count,
            &2,
            &format!("{name}.count_active_sessions() after one session per handle"),
        )?;
        let listed = handle
            .list_kv_keys("")
            .await
            .check(&format!("{name}.list_kv_keys(\"\")"))?;
        expect_eq(
            &listed,
            &vec!["from-A".to_string(), "from-B".to_string()],
            &format!("{name}.list_kv_keys(\"\") after one key per handle"),
        )?;
    }
    Ok(())
}

fn ensure_contains(listed: &[String], key: &str, what: &str) -> Outcome {
    if listed.iter().any(|k| k == key) {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{what}: expected it to contain {key:?}, got {listed:?}"
        )))
    }
}

async fn token_update_and_delete_propagate(ctx: Ctx) -> Outcome {
    let (a, b) = (ctx.storage(), ctx.second()?);
    let lookups = ["access-1", "access-2", "access-3"];
    let users = ["alice", "bob"];
    let v1 = AuthToken::new("tok", "alice", "access-1", HOUR).with_scopes(["v1"]);
    a.store_token(&v1).await.check("A.store_token(tok) v1")?;
    expect_token_view(b, "B", "tok", Some(&v1), &lookups, &users).await?;

    let v2 = v1
        .clone()
        .with_access_token("access-2")
        .with_user_id("bob")
        .with_scopes(["v2"]);
    a.update_token(&v2).await.check("A.update_token(tok) v2")?;
    expect_token_view(b, "B", "tok", Some(&v2), &lookups, &users).await?;

    let v3 = AuthToken::new("tok", "alice", "access-3", HOUR).with_scopes(["v3"]);
    a.store_token(&v3).await.check("A.store_token(tok) v3")?;
    expect_token_view(b, "B", "tok", Some(&v3), &lookups, &users).await?;

    a.delete_token("tok").await.check("A.delete_token(tok)")?;
    expect_token_view(b, "B", "tok", None, &lookups, &users).await?;
    // B may not update what A deleted.
    b.update_token(&v3).await.check_err(
        ErrorKind::NotFound,
        "B.update_token(tok) after A.delete_token(tok)",
    )
}

async fn session_and_kv_changes_propagate(ctx: Ctx) -> Outcome {
    let (a, b) = (ctx.storage(), ctx.second()?);
    let v1 = SessionData::new("ses", "alice", HOUR).with_data("v", serde_json::json!(1));
    a.store_session("ses", &v1)
        .await
        .check("A.store_session(ses) v1")?;
    a.store_kv("key", b"v1", None)
        .await
        .check("A.store_kv(key) v1")?;
    let got = b.get_session("ses").await.check("B.get_session(ses)")?;
    expect_eq(
        &got,
        &Some(v1.clone()),
        "B.get_session(ses) after A stored v1",
    )?;
    let got = b.get_kv("key").await.check("B.get_kv(key)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"v1"),
        "B.get_kv(key) after A stored v1",
    )?;

    let v2 = v1
        .clone()
        .with_user_id("bob")
        .with_data("v", serde_json::json!(2));
    a.store_session("ses", &v2)
        .await
        .check("A.store_session(ses) v2")?;
    a.store_kv("key", b"v2", None)
        .await
        .check("A.store_kv(key) v2")?;
    let got = b.get_session("ses").await.check("B.get_session(ses)")?;
    expect_eq(
        &got,
        &Some(v2.clone()),
        "B.get_session(ses) after A stored v2",
    )?;
    let listed = b
        .list_user_sessions("alice")
        .await
        .check("B.list_user_sessions(alice)")?;
    expect_eq(
        &listed,
        &Vec::new(),
        "B.list_user_sessions(alice) after A moved ses to bob",
    )?;
    let listed = b
        .list_user_sessions("bob")
        .await
        .check("B.list_user_sessions(bob)")?;
    expect_eq(
        &listed,
        &vec![v2],
        "B.list_user_sessions(bob) after A moved ses to bob",
    )?;
    let got = b.get_kv("key").await.check("B.get_kv(key)")?;
    expect_bytes(
        got.as_deref(),
        Some(b"v2"),
        "B.get_kv(key) after A stored v2",
    )?;

    a.delete_session("ses")
        .await
        .check("A.delete_session(ses)")?;
    a.delete_kv("key").await.check("A.delete_kv(key)")?;
    let got = b.get_session("ses").await.check("B.get_session(ses)")?;
    expect_eq(
        &got,
        &None,
        "B.get_session(ses) after A.delete_session(ses)",
    )?;
    let listed = b
        .list_user_sessions("bob")
        .await
        .check("B.list_user_sessions(bob)")?;
    expect_eq(
        &listed,
        &Vec::new(),
        "B.list_user_sessions(bob) after A.delete_session(ses)",
    )?;
    let count = b
        .count_active_sessions()
        .await
        .check("B.count_active_sessions()")?;
    expect_eq(
        &count,
        &0,
        "B.count_active_sessions() after A.delete_session(ses)",
    )?;
    let got = b.get_kv("key").await.check("B.get_kv(key)")?;
    expect_eq(&got, &None, "B.get_kv(key) after A.delete_kv(key)")?;
    let listed = b.list_kv_keys("").await.check("B.list_kv_keys(\"\")")?;
    expect_eq(
        &listed,
        &Vec::<String>::new(),
        "B.list_kv_keys(\"\") after A.delete_kv(key)",
    )
}

async fn counts_and_listings_agree(ctx: Ctx) -> Outcome {
    let (a, b) = (ctx.storage(), ctx.second()?);
    let handles = [a, b];
    let mut sessions = Vec::new();
    let mut tokens = Vec::new();
    let mut keys = Vec::new();
    for i in 0..10usize {
        let h = &handles[i % 2];
        let user = format!("user-{}", i % 3);
        let id = format!("id-{i}");
        let session = SessionData::new(&id, &user, HOUR);
        h.store_session(&id, &session)
            .await
            .check(&format!("store_session({id}) on handle {}", i % 2))?;
        let token = AuthToken::new(&id, &user, format!("access-{i}"), HOUR);
        h.store_token(&token)
            .await
            .check(&format!("store_token({id}) on handle {}", i % 2))?;
        h.store_kv(&format!("k/{i}"), b"v", None)
            .await
            .check(&format!("store_kv(k/{i}) on handle {}", i % 2))?;
        sessions.push(session);
        tokens.push(token);
        keys.push(format!("k/{i}"));
    }
    // Deletes on the handle that did not write the item.
    for i in [1usize, 4, 7] {
        let h = &handles[(i + 1) % 2];
        let id = format!("id-{i}");
        h.delete_session(&id)
            .await
            .check(&format!("delete_session({id})"))?;
        h.delete_token(&id)
            .await
            .check(&format!("delete_token({id})"))?;
        h.delete_kv(&format!("k/{i}"))
            .await
            .check(&format!("delete_kv(k/{i})"))?;
    }
    let kept = |i: &usize| ![1, 4, 7].contains(i);
    let live_sessions: Vec<&SessionData> = (0..10).filter(kept).map(|i| &sessions[i]).collect();
    let live_tokens: Vec<&AuthToken> = (0..10).filter(kept).map(|i| &tokens[i]).collect();
    let mut live_keys: Vec<String> = (0..10).filter(kept).map(|i| keys[i].clone()).collect();
    live_keys.sort();

    for (h, name) in [(a, "A"), (b, "B")] {
        let count = h
            .count_active_sessions()
            .await
            .check(&format!("{name}.count_active_sessions()"))?;
        expect_eq(
            &count,
            &(live_sessions.len() as u64),
            &format!("{name}.count_active_sessions()"),
        )?;
        let listed = h
            .list_kv_keys("k/")
            .await
            .check(&format!("{name}.list_kv_keys(k/)"))?;
        expect_eq(&listed, &live_keys, &format!("{name}.list_kv_keys(k/)"))?;
        for u in 0..3 {
            let user = format!("user-{u}");
            let mut listed = h
                .list_user_sessions(&user)
                .await
                .check(&format!("{name}.list_user_sessions({user})"))?;
            listed.sort_by(|x, y| x.session_id.cmp(&y.session_id));
            let mut expected: Vec<SessionData> = live_sessions
                .iter()
                .filter(|s| s.user_id == user)
                .map(|s| (*s).clone())
                .collect();
            expected.sort_by(|x, y| x.session_id.cmp(&y.session_id));
            expect_eq(
                &listed,
                &expected,
                &format!("{name}.list_user_sessions({user})"),
            )?;
            let mut listed = h
                .list_user_tokens(&user)
                .await
                .check(&format!("{name}.list_user_tokens({user})"))?;
            listed.sort_by(|x, y| x.token_id.cmp(&y.token_id));
            let mut expected: Vec<AuthToken> = live_tokens
                .iter()
                .filter(|t| t.user_id == user)
                .map(|t| (*t).clone())
                .collect();
            expected.sort_by(|x, y| x.token_id.cmp(&y.token_id));
            expect_eq(
                &listed,
                &expected,
                &format!("{name}.list_user_tokens({user})"),
            )?;
        }
    }
    Ok(())
}

async fn access_token_unique_across_handles(ctx: Ctx) -> Outcome {
    let (a, b) = (ctx.storage(), ctx.second()?);
    let holder = AuthToken::new("holder", "alice", "shared", HOUR);
    a.store_token(&holder)
        .await
        .check("A.store_token(holder) with shared")?;
    let newcomer = AuthToken::new("newcomer", "bob", "shared", HOUR);
    b.store_token(&newcomer).await.check_err(
        ErrorKind::Conflict,
        "B.store_token(newcomer) with shared, held via A",
    )?;
    let other = AuthToken::new("other", "bob", "access-other", HOUR);
    b.store_token(&other).await.check("B.store_token(other)")?;
    b.update_token(&other.clone().with_access_token("shared"))
        .await
        .check_err(
            ErrorKind::Conflict,
            "B.update_token(other) to shared, held via A",
        )?;
    for (h, name) in [(a, "A"), (b, "B")] {
        expect_token_view(h, name, "newcomer", None, &[], &[]).await?;
        // bob's list holds only "other": the rejected newcomer is in no list.
        expect_token_view(h, name, "other", Some(&other), &["access-other"], &["bob"]).await?;
        expect_token_view(h, name, "holder", Some(&holder), &["shared"], &["alice"]).await?;
    }
    a.delete_token("holder")
        .await
        .check("A.delete_token(holder)")?;
    b.store_token(&newcomer)
        .await
        .check("B.store_token(newcomer) with shared after A deleted its holder")?;
    let got = a
        .get_token_by_access_token("shared")
        .await
        .check("A.get_token_by_access_token(shared)")?;
    expect_eq(
        &got,
        &Some(newcomer),
        "A.get_token_by_access_token(shared) after B took it",
    )
}

async fn concurrent_writes_converge(ctx: Ctx) -> Outcome {
    const RACERS: usize = 32;
    let (a, b) = (ctx.storage().clone(), ctx.second()?.clone());
    let handle = |i: usize| {
        if i.is_multiple_of(2) {
            a.clone()
        } else {
            b.clone()
        }
    };

    // New tokens racing for one access token through both handles.
    let tasks = (0..RACERS)
        .map(|i| {
            let h = handle(i);
            tokio::spawn(async move {
                let token = AuthToken::new(format!("c-{i}"), "racer", "contested", HOUR);
                match h.store_token(&token).await {
                    Ok(()) => Ok(Some(i)),
                    Err(err) if err.kind() == ErrorKind::Conflict => Ok(None),
                    Err(err) => Err(Failure::new(format!(
                        "store_token(c-{i}) with contested on handle {}: expected Ok or \
                         Conflict, got error {:?}: {err}",
                        i % 2,
                        err.kind()
                    ))),
                }
            })
        })
        .collect();
    let winners: Vec<usize> = join_tasks("racers for one access token", tasks)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let [winner] = winners.as_slice() else {
        return Err(Failure::new(format!(
            "store_token of 32 tokens with access token contested over two handles: expected \
             exactly one Ok, got {} (writers {winners:?})",
            winners.len()
        )));
    };
    let winner_id = format!("c-{winner}");
    for (h, name) in [(&a, "A"), (&b, "B")] {
        let got = h
            .get_token_by_access_token("contested")
            .await
            .check(&format!("{name}.get_token_by_access_token(contested)"))?;
        expect_eq(
            &got.map(|t| t.token_id),
            &Some(winner_id.clone()),
            &format!("{name}.get_token_by_access_token(contested) after the race"),
        )?;
        let listed = h
            .list_user_tokens("racer")
            .await
            .check(&format!("{name}.list_user_tokens(racer)"))?;
        expect_eq(
            &listed.into_iter().map(|t| t.token_id).collect::<Vec<_>>(),
            &vec![winner_id.clone()],
            &format!("{name}.list_user_tokens(racer) after the race"),
        )?;
    }

    // Versions of one token written through both handles.
    let versions: Vec<AuthToken> = (0..RACERS)
        .map(|i| AuthToken::new("one", format!("user-{}", i % 3), format!("one-{i}"), HOUR))
        .collect();
    let tasks = versions
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (h, token) = (handle(i), token.clone());
            tokio::spawn(async move {
                h.store_token(&token)
                    .await
                    .check(&format!("store_token(one) v{i} on handle {}", i % 2))
            })
        })
        .collect();
    join_tasks("writers of one token on both handles", tasks).await?;
    let final_a = a.get_token("one").await.check("A.get_token(one)")?;
    let Some(current) = final_a.filter(|t| versions.contains(t)) else {
        return Err(Failure::new(
            "A.get_token(one) after 32 acknowledged writes: expected one of the written versions",
        ));
    };
    let lookups: Vec<&str> = versions.iter().map(|t| t.access_token.as_str()).collect();
    for (h, name) in [(&a, "A"), (&b, "B")] {
        expect_token_view(
            h,
            name,
            "one",
            Some(&current),
            &lookups,
            &["user-0", "user-1", "user-2"],
        )
        .await?;
    }
    Ok(())
}
