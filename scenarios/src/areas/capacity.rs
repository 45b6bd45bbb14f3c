//! A store with a configured capacity (declared by the fixture) keeps accepting writes
//! while its live data stays under that capacity, however much was written, overwritten,
//! deleted or expired before (`CAP-1`); a write past it is refused with
//! `CapacityExceeded` and changes nothing (`CAP-2`).
//!
//! The scenario pushes at least 1 GiB (and at least 32 capacities) through a live set of
//! an eighth of the capacity — overwrites, deletes, values that expire at once, tokens
//! and sessions stored and deleted — then fills the store: at least half the capacity
//! must still be free, and the store must refuse to go past it. A usage counter that
//! never decreases, or that keeps charging expired or deleted items, fails here.

use std::time::Duration;

use authstore_spec::{AuthToken, Capabilities, Capability, ErrorKind, SessionData};

use crate::check::{Check, Failure, Outcome, ensure, expect_bytes};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);
/// Least cumulative volume of the churn.
const CHURN_BYTES: u64 = 1 << 30;
/// Keys of the live set.
const LIVE_KEYS: u64 = 8;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            kv_capacity_counts_tokens_and_sessions,
            Kv,
            ["CAP-1", "CAP-2", "GEN-4"],
            Capabilities::NONE.with(Capability::Capacity),
            "tokens and sessions count against the declared capacity by their size: a \
             quarter of it in large records fits, and records carrying the whole capacity \
             do not; the refused record is stored nowhere",
            capacity_counts_records
        ),
        scenario!(
            kv_capacity_reclaims_churned_data,
            Kv,
            ["CAP-1", "CAP-2", "KV-5", "ERR-1", "GEN-4"],
            Capabilities::NONE.with(Capability::Capacity),
            "≥ 1 GiB of overwrites, deletes and expiring writes through a live set of 1/8 of \
         the declared capacity never gives CapacityExceeded; afterwards at least half the \
         capacity can be filled, and a write past it is refused and changes nothing",
            capacity_reclaims_churned_data
        ),
    ]
}

/// A value of `len` bytes that says which write made it.
fn value(len: u64, writer: u64) -> Vec<u8> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut v = vec![(writer % 251) as u8; len];
    let tag = writer.to_le_bytes();
    let n = tag.len().min(v.len());
    v[..n].copy_from_slice(&tag[..n]);
    v
}

async fn capacity_reclaims_churned_data(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let capacity = ctx.capacity()?;
    ensure(capacity >= 64 * 1024, || {
        format!(
            "the declared capacity of {capacity} bytes is too small for this scenario (64 KiB at least)"
        )
    })?;
    // Live data: LIVE_KEYS values of capacity/64 each, an eighth of the capacity.
    let chunk = capacity / 64;
    let churn = CHURN_BYTES.max(capacity.saturating_mul(32));
    let writes = churn.div_ceil(chunk);
    let key = |i: u64| format!("cap/live/{}", i % LIVE_KEYS);
    let mut last = vec![0u64; LIVE_KEYS as usize];
    let fail = |call: String| {
        move |err: authstore_spec::StorageError| {
            Failure::new(format!(
                "{call} during the churn, with live data of about 1/8 of the declared capacity \
                 of {capacity} bytes: expected success, got error {:?}: {err}",
                err.kind()
            ))
        }
    };
    for w in 0..writes {
        let k = key(w);
        match w % 4 {
            // Delete then store again.
            0 => {
                s.delete_kv(&k)
                    .await
                    .map_err(fail(format!("delete_kv({k})")))?;
                s.store_kv(&k, &value(chunk, w), None)
                    .await
                    .map_err(fail(format!("store_kv({k}) write #{w}")))?;
            }
            // A value that expires at once, under a key never used again.
            1 => {
                let gone = format!("cap/expired/{w}");
                s.store_kv(&gone, &value(chunk, w), Some(Duration::from_nanos(1)))
                    .await
                    .map_err(fail(format!("store_kv({gone}, ttl 1 ns) write #{w}")))?;
                s.store_kv(&k, &value(chunk, w), Some(HOUR))
                    .await
                    .map_err(fail(format!("store_kv({k}) write #{w}")))?;
            }
            // Overwrites, shrinking to half the size and growing back: a charge that
            // adds instead of subtracting the old size drifts up.
            2 => {
                s.store_kv(&k, &value(chunk / 2, w), None)
                    .await
                    .map_err(fail(format!("store_kv({k}) write #{w}, half size")))?;
                s.store_kv(&k, &value(chunk, w), None)
                    .await
                    .map_err(fail(format!("store_kv({k}) write #{w}, grown back")))?;
            }
            _ => s
                .store_kv(&k, &value(chunk, w), None)
                .await
                .map_err(fail(format!("store_kv({k}) write #{w}")))?,
        }
        last[(w % LIVE_KEYS) as usize] = w;
        // Records too: a token and a session stored, one stored already expired, and
        // the first deleted again.
        if w % 8 == 0 {
            let id = format!("cap-{}", w % 64);
            let token = AuthToken::new(&id, "cap-user", format!("{id}-acc"), HOUR)
                .with_metadata("pad", serde_json::json!("x".repeat(512)));
            s.store_token(&token)
                .await
                .map_err(fail(format!("store_token({id})")))?;
            s.delete_token(&id)
                .await
                .map_err(fail(format!("delete_token({id})")))?;
            let past = super::tokens::surely_past(ctx.timing());
            let session = SessionData::new(format!("cap-{w}"), "cap-user", HOUR)
                .with_data("pad", serde_json::json!("y".repeat(512)))
                .with_expires_at(past);
            s.store_session(&session.session_id, &session)
                .await
                .map_err(fail(format!("store_session(cap-{w}) already expired")))?;
        }
    }
    for (i, w) in last.iter().enumerate() {
        let k = key(i as u64);
        let got = s.get_kv(&k).await.check(&format!("get_kv({k})"))?;
        expect_bytes(
            got.as_deref(),
            Some(&value(chunk, *w)),
            &format!("get_kv({k}) after the churn: the value of write #{w}"),
        )?;
    }

    // Fill: at least half the capacity must be free again, and the store must stop
    // before its live data passes the capacity.
    let mut filled = 0u64;
    let refused_at = loop {
        let k = format!("cap/fill/{filled}");
        match s.store_kv(&k, &value(chunk, filled), None).await {
            Ok(()) => filled += 1,
            Err(err) if err.kind() == ErrorKind::CapacityExceeded => break k,
            Err(err) => {
                return Err(Failure::new(format!(
                    "store_kv({k}) while filling the store: expected Ok or CapacityExceeded, \
                     got error {:?}: {err}",
                    err.kind()
                )));
            }
        }
        ensure((filled + LIVE_KEYS) * chunk <= capacity, || {
            format!(
                "stored {filled} values of {chunk} bytes on top of the live set ({} bytes in \
                 all) with a declared capacity of {capacity} bytes: the capacity is not \
                 enforced (CAP-2)",
                (filled + LIVE_KEYS) * chunk
            )
        })?;
    };
    ensure(filled * chunk >= capacity / 2, || {
        format!(
            "after the churn only {filled} values of {chunk} bytes ({} bytes) fitted next to \
             a live set of {} bytes before CapacityExceeded, with a declared capacity of \
             {capacity} bytes: deleted, overwritten or expired data still counts (CAP-1)",
            filled * chunk,
            LIVE_KEYS * chunk
        )
    })?;
    let got = s
        .get_kv(&refused_at)
        .await
        .check(&format!("get_kv({refused_at})"))?;
    expect_bytes(
        got.as_deref(),
        None,
        &format!("get_kv({refused_at}) after its store_kv was refused (GEN-4)"),
    )?;
    // A refused overwrite leaves the old value: one that needs two chunks more than
    // the full store has, and one larger than the whole capacity.
    let k = key(0);
    let grown = value(3 * chunk, 0);
    match s.store_kv(&k, &grown, None).await {
        Err(err)
            if err.kind() == ErrorKind::CapacityExceeded
                || err.kind() == ErrorKind::InvalidInput => {}
        other => {
            return Err(Failure::new(format!(
                "store_kv({k}) growing a value by two chunks in the full store: expected \
                 CapacityExceeded (or InvalidInput over a value size limit), got {:?}",
                other.map_err(|e| e.kind())
            )));
        }
    }
    let got = s.get_kv(&k).await.check(&format!("get_kv({k})"))?;
    expect_bytes(
        got.as_deref(),
        Some(&value(chunk, last[0])),
        &format!("get_kv({k}) after an overwrite refused for lack of room (GEN-4)"),
    )?;
    let big = value(capacity + 1, 0);
    match s.store_kv(&k, &big, None).await {
        Err(err)
            if err.kind() == ErrorKind::CapacityExceeded
                || err.kind() == ErrorKind::InvalidInput => {}
        other => {
            return Err(Failure::new(format!(
                "store_kv({k}) with a value larger than the declared capacity: expected \
                 CapacityExceeded (or InvalidInput), got {:?}",
                other.map_err(|e| e.kind())
            )));
        }
    }
    let got = s.get_kv(&k).await.check(&format!("get_kv({k})"))?;
    expect_bytes(
        got.as_deref(),
        Some(&value(chunk, last[0])),
        &format!("get_kv({k}) after a refused overwrite (GEN-4)"),
    )?;
    // Freeing space makes room again.
    for i in 0..filled {
        let k = format!("cap/fill/{i}");
        s.delete_kv(&k).await.check(&format!("delete_kv({k})"))?;
    }
    s.store_kv(&refused_at, &value(chunk, 0), None)
        .await
        .check(&format!(
            "store_kv({refused_at}) after the fill was deleted"
        ))
}

/// Which kind of record [`capacity_counts_records`] fills the store with.
#[derive(Debug, Clone, Copy)]
enum Record {
    Token,
    Session,
}

impl Record {
    fn name(self) -> &'static str {
        match self {
            Record::Token => "token",
            Record::Session => "session",
        }
    }
}

/// Stores record `i` of `kind` carrying `pad` bytes of JSON string.
async fn store_record(
    s: &dyn authstore_spec::AuthStorage,
    kind: Record,
    i: u64,
    pad: usize,
) -> authstore_spec::Result<()> {
    let id = format!("cap-rec-{i}");
    match kind {
        Record::Token => {
            let token = AuthToken::new(&id, "cap-rec-user", format!("{id}-acc"), HOUR)
                .with_metadata("pad", serde_json::json!("t".repeat(pad)));
            s.store_token(&token).await
        }
        Record::Session => {
            let session = SessionData::new(&id, "cap-rec-user", HOUR)
                .with_data("pad", serde_json::json!("s".repeat(pad)));
            s.store_session(&id, &session).await
        }
    }
}

/// Whether record `i` of `kind` can be read back, by id and in its user's list.
async fn record_visible(
    s: &dyn authstore_spec::AuthStorage,
    kind: Record,
    i: u64,
) -> Result<(bool, bool), Failure> {
    let id = format!("cap-rec-{i}");
    Ok(match kind {
        Record::Token => (
            s.get_token(&id)
                .await
                .check(&format!("get_token({id})"))?
                .is_some(),
            s.list_user_tokens("cap-rec-user")
                .await
                .check("list_user_tokens(cap-rec-user)")?
                .iter()
                .any(|t| t.token_id == id),
        ),
        Record::Session => (
            s.get_session(&id)
                .await
                .check(&format!("get_session({id})"))?
                .is_some(),
            s.list_user_sessions("cap-rec-user")
                .await
                .check("list_user_sessions(cap-rec-user)")?
                .iter()
                .any(|t| t.session_id == id),
        ),
    })
}

async fn delete_record(
    s: &dyn authstore_spec::AuthStorage,
    kind: Record,
    i: u64,
) -> Result<(), Failure> {
    let id = format!("cap-rec-{i}");
    match kind {
        Record::Token => s
            .delete_token(&id)
            .await
            .check(&format!("delete_token({id})")),
        Record::Session => s
            .delete_session(&id)
            .await
            .check(&format!("delete_session({id})")),
    }
}

/// Tokens, then sessions, each carrying 1/64 of the capacity: 16 of them (a quarter of
/// the capacity) must fit (CAP-1), and the store must refuse one before 64 of them (the
/// whole capacity in padding alone) are stored (CAP-2), storing the refused one nowhere
/// (GEN-4).
/// A backend that charges records nothing, a fixed amount or far more than their size
/// fails here.
async fn capacity_counts_records(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let capacity = ctx.capacity()?;
    ensure(capacity >= 64 * 1024, || {
        format!(
            "the declared capacity of {capacity} bytes is too small for this scenario (64 KiB at least)"
        )
    })?;
    let pad = usize::try_from(capacity / 64).unwrap_or(usize::MAX);
    for kind in [Record::Token, Record::Session] {
        let name = kind.name();
        let mut stored = 0u64;
        let refused = loop {
            match store_record(s.as_ref(), kind, stored, pad).await {
                Ok(()) => stored += 1,
                Err(err) if err.kind() == ErrorKind::CapacityExceeded && stored >= 16 => {
                    break stored;
                }
                Err(err) => {
                    return Err(Failure::new(format!(
                        "store_{name}(cap-rec-{stored}) with {pad} bytes of JSON, after {stored} \
                         such records ({} bytes) in a store with a declared capacity of \
                         {capacity} bytes: expected success, got {:?}: {err} (CAP-1: a quarter \
                         of the capacity must fit)",
                        stored * pad as u64,
                        err.kind()
                    )));
                }
            }
            // 64 such records carry the whole capacity in padding alone.
            ensure(stored < 64, || {
                format!(
                    "stored {stored} {name}s of {pad} bytes of JSON each ({} bytes of padding \
                     alone) with a declared capacity of {capacity} bytes and none was \
                     refused: {name}s do not count against the capacity by their size (CAP-2)",
                    stored * pad as u64
                )
            })?;
        };
        let (by_id, listed) = record_visible(s.as_ref(), kind, refused).await?;
        ensure(!by_id && !listed, || {
            format!(
                "cap-rec-{refused}: its store_{name} was refused with CapacityExceeded, yet \
                 it is {} (GEN-4)",
                if by_id {
                    "readable by id"
                } else {
                    "in its user's list"
                }
            )
        })?;
        for i in 0..stored {
            delete_record(s.as_ref(), kind, i).await?;
        }
    }
    Ok(())
}
