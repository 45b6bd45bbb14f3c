//! User listings in bounded script calls (`listing.rs`), driven one call at a time with a
//! tiny batch so that every batch boundary falls inside a group of same-score members,
//! between expired, gone and re-owned members, and next to items deleted meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use authstore_spec::{AuthStorage, AuthToken, SessionData};
use chrono::{DateTime, TimeDelta, Utc};

use super::super::RedisStorage;
use super::super::keys::last_visible_ms;
use super::super::listing::OwnedListing;
use super::url;

/// The batch the tests drive the listing with: the items below span several batches.
const BATCH: u64 = 4;

/// Live items of the listed user: three batches and a part.
const LIVE: usize = 3 * BATCH as usize + 7;

/// The listed user.
const USER: &str = "alice";

/// Tokens or sessions: the listing code is the same, the records differ.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Token,
    Session,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Session => "session",
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Kind::Token => "list_user_tokens",
            Kind::Session => "list_user_sessions",
        }
    }

    fn index(self, s: &RedisStorage, user: &str) -> String {
        match self {
            Kind::Token => s.ns.user_tokens(user),
            Kind::Session => s.ns.user_sessions(user),
        }
    }

    async fn store(self, s: &RedisStorage, id: &str, user: &str, expires_at: DateTime<Utc>) {
        match self {
            Kind::Token => {
                let mut token = AuthToken::new(id, user, format!("access-{id}"), HOUR);
                token.expires_at = expires_at;
                s.store_token(&token).await.expect("store_token");
            }
            Kind::Session => {
                let mut session = SessionData::new(id, user, HOUR);
                session.expires_at = expires_at;
                s.store_session(id, &session).await.expect("store_session");
            }
        }
    }

    async fn delete(self, s: &RedisStorage, id: &str) {
        match self {
            Kind::Token => s.delete_token(id).await.expect("delete_token"),
            Kind::Session => s.delete_session(id).await.expect("delete_session"),
        }
    }

    /// The id inside a listed record, and its owner.
    fn id_and_user(self, record: &[u8]) -> (String, String) {
        let value: serde_json::Value = serde_json::from_slice(record).expect("record JSON");
        let field = match self {
            Kind::Token => "token_id",
            Kind::Session => "session_id",
        };
        let text = |name: &str| value[name].as_str().expect("a string field").to_owned();
        (text(field), text("user_id"))
    }

    /// The ids the public listing returns for `user`.
    async fn public_listing(self, s: &RedisStorage, user: &str) -> Vec<String> {
        match self {
            Kind::Token => s
                .list_user_tokens(user)
                .await
                .expect("list_user_tokens")
                .into_iter()
                .map(|t| t.token_id)
                .collect(),
            Kind::Session => s
                .list_user_sessions(user)
                .await
                .expect("list_user_sessions")
                .into_iter()
                .map(|t| t.session_id)
                .collect(),
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// An instant `ms` milliseconds from now on a whole millisecond, so that items given the
/// same one share their index score.
fn in_ms(ms: i64) -> DateTime<Utc> {
    let at = Utc::now() + TimeDelta::milliseconds(ms);
    DateTime::from_timestamp_millis(at.timestamp_millis()).expect("a valid instant")
}

/// The ids of the live items: byte orders that differ from a locale's collation (upper
/// case, punctuation, UTF-8 above ASCII) so that a comparison by anything but bytes puts
/// the cursor in the wrong place.
fn live_id(i: usize) -> String {
    let lead = ["a", "B", "é", "~", "Z", "ß", "_"][i % 7];
    format!("{lead}{i:02}")
}

async fn storage(cluster: bool, test: &str) -> RedisStorage {
    let prefix = format!(
        "listing:{test}:{}-{}:",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let config = if cluster {
        let urls = std::env::var("AUTHSTORE_REDIS_CLUSTER_URLS").unwrap_or_else(|_| {
            panic!("AUTHSTORE_REDIS_CLUSTER_URLS is not set: `eval \"$(bash ci/start-redis)\"`")
        });
        super::super::RedisConfig::cluster(urls.split(',').map(str::trim))
    } else {
        super::super::RedisConfig::new(url())
    };
    config.with_prefix(prefix).connect().await.expect("connect")
}

/// Runs `command` on the node that serves the storage's keys.
async fn raw<T: ::redis::FromRedisValue>(s: &RedisStorage, command: &::redis::Cmd) -> T {
    s.conn.query(command).await.expect("raw command")
}

/// `ZADD index score member`.
async fn zadd(s: &RedisStorage, index: &str, score: i64, member: &str) {
    let () = raw(s, ::redis::cmd("ZADD").arg(index).arg(score).arg(member)).await;
}

/// The members of `index` scored before now (expired).
async fn expired_members(s: &RedisStorage, index: &str) -> u64 {
    raw(
        s,
        ::redis::cmd("ZCOUNT")
            .arg(index)
            .arg("-inf")
            .arg(format!("({}", Utc::now().timestamp_millis())),
    )
    .await
}

/// The user index's members, in order.
async fn members(s: &RedisStorage, index: &str) -> Vec<String> {
    raw(s, ::redis::cmd("ZRANGE").arg(index).arg(0).arg(-1)).await
}

/// Writes the listed user's items with every kind of member a listing must handle, and
/// returns the live ids. Two same-score groups: the first (`LIVE - 7` items) spans
/// several batches. Among them, in byte order, members a listing must drop: items
/// re-owned by `bob` (their ids still in alice's index), items gone without their index
/// entry, and `BATCH + 3` expired members (more than one call may remove).
async fn populate(s: &RedisStorage, kind: Kind) -> (Vec<String>, String) {
    let index = kind.index(s, USER);
    let (first, second) = (in_ms(3_600_000), in_ms(7_200_000));
    let mut live = Vec::new();
    for i in 0..LIVE {
        let id = live_id(i);
        let at = if i < LIVE - 7 { first } else { second };
        kind.store(s, &id, USER, at).await;
        live.push(id);
    }
    for (n, id) in ["a03x", "é09x", "~10x", "ß19x", "Z11x"].iter().enumerate() {
        let at = if n < 3 { first } else { second };
        kind.store(s, id, "bob", at).await;
        zadd(s, &index, last_visible_ms(at), id).await;
    }
    for id in ["B05gone", "_13gone", "a14gone"] {
        zadd(s, &index, last_visible_ms(first), id).await;
    }
    for n in 0..BATCH + 3 {
        zadd(s, &index, 1_000 + n as i64, &format!("expired{n}")).await;
    }
    (live, index)
}

/// A listing of `LIVE` items with ties, expired, gone and re-owned members, driven one
/// script call at a time: no call returns more than a batch, the calls continue past
/// every boundary, every live item comes back once, and the members to drop are
/// removed a bounded number at a time.
async fn listing_in_bounded_batches(cluster: bool, kind: Kind) {
    let s = storage(cluster, kind.name()).await;
    let (live, index) = populate(&s, kind).await;

    let mut listing = OwnedListing::new(kind.operation(), index.clone(), USER, kind.name(), BATCH);
    let mut calls = 0;
    while !listing.is_done() {
        let returned = listing.step(&s).await.expect("one batch");
        calls += 1;
        assert!(
            returned as u64 <= BATCH,
            "{kind:?}: script call {calls} returned {returned} records; a call may read at most \
             {BATCH} members"
        );
        if calls == 1 {
            let left = expired_members(&s, &index).await;
            assert!(
                left >= 3,
                "{kind:?}: the first call removed {} of {} expired members; at most {BATCH} per \
                 call",
                BATCH + 3 - left,
                BATCH + 3
            );
        }
        assert!(calls < 100, "{kind:?}: the listing does not end");
    }
    // Every member not expired is read once: live, re-owned (5) and gone (3) ones.
    let min_calls = (LIVE as u64 + 5 + 3).div_ceil(BATCH);
    assert!(
        calls as u64 >= min_calls,
        "{kind:?}: {calls} script calls for {} members and batch {BATCH}",
        LIVE + 5 + 3
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for record in listing.into_records() {
        let (id, user) = kind.id_and_user(&record);
        assert_eq!(user, USER, "{kind:?}: {id} listed for {USER}");
        *counts.entry(id).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = live.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(counts, expected, "{kind:?}: ids listed and how often");

    // Everything to drop was dropped over the calls; only the live items are left.
    let mut sorted = live.clone();
    sorted.sort();
    let mut left = members(&s, &index).await;
    left.sort();
    assert_eq!(left, sorted, "{kind:?}: members left in the user's index");

    let mut public = kind.public_listing(&s, USER).await;
    public.sort();
    assert_eq!(public, sorted, "{kind:?}: the public listing");
    s.purge().await.expect("purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_listings_run_in_bounded_batches_on_a_single_node() {
    for kind in [Kind::Token, Kind::Session] {
        listing_in_bounded_batches(false, kind).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_listings_run_in_bounded_batches_on_a_cluster() {
    for kind in [Kind::Token, Kind::Session] {
        listing_in_bounded_batches(true, kind).await;
    }
}

/// Between script calls, the item just read (the cursor's own member) and one read
/// earlier are deleted, one not yet read is deleted, and one read earlier is re-stored
/// with a later expiry (its member moves ahead of the cursor). Every item live and
/// unchanged throughout is listed exactly once, a re-stored one once, deleted unread
/// ones not at all. A rank cursor would skip live items here, a score-only cursor the
/// rest of a same-score group, and a listing without de-duplication would list the
/// re-stored item twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_listings_survive_deletes_and_moves_between_batches() {
    for kind in [Kind::Token, Kind::Session] {
        let s = storage(false, &format!("concurrent-{}", kind.name())).await;
        let (live, index) = populate(&s, kind).await;
        let later = in_ms(10_800_000);

        let mut listing =
            OwnedListing::new(kind.operation(), index.clone(), USER, kind.name(), BATCH);
        let mut deleted_unread = Vec::new();
        let mut deleted_read = Vec::new();
        let mut moved = Vec::new();
        let mut read: Vec<String> = Vec::new();
        let mut calls = 0;
        while !listing.is_done() {
            let before = listing.records().len();
            listing.step(&s).await.expect("one batch");
            calls += 1;
            assert!(calls < 100, "{kind:?}: the listing does not end");
            let new: Vec<String> = listing.records()[before..]
                .iter()
                .map(|r| kind.id_and_user(r).0)
                .collect();
            read.extend(new.iter().cloned());
            if listing.is_done() {
                break;
            }
            // The cursor's own member, and the first item read, go.
            if let Some(last) = new.last() {
                kind.delete(&s, last).await;
                deleted_read.push(last.clone());
            }
            if calls == 1 {
                kind.delete(&s, &read[0]).await;
                deleted_read.push(read[0].clone());
                // The second item read moves behind every other member.
                kind.store(&s, &read[1], USER, later).await;
                moved.push(read[1].clone());
            }
            // One item not read yet goes.
            if let Some(unread) = live
                .iter()
                .rev()
                .find(|id| !read.contains(id) && !deleted_unread.contains(*id))
            {
                kind.delete(&s, unread).await;
                deleted_unread.push(unread.clone());
            }
        }

        assert!(
            !moved.is_empty() && deleted_unread.len() > 1,
            "{kind:?}: the listing took {calls} script call(s) for {} members with batch \
             {BATCH}: nothing could happen between batches",
            LIVE + 5 + 3
        );
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for record in listing.into_records() {
            *counts.entry(kind.id_and_user(&record).0).or_default() += 1;
        }
        let expected: BTreeMap<String, usize> = live
            .iter()
            .filter(|id| !deleted_unread.contains(id))
            .map(|id| (id.clone(), 1))
            .collect();
        assert_eq!(
            counts, expected,
            "{kind:?}: ids listed and how often (deleted before being read: {deleted_unread:?}; \
             deleted after: {deleted_read:?}; moved: {moved:?})"
        );
        s.purge().await.expect("purge");
    }
}
