//! Time: when an item is expired (SPEC.md `TIME-1`), and the instant a kv TTL makes an
//! entry expire at (`TTL-1`..`TTL-4`). The caller's clock, `chrono::Utc::now()`, kept to
//! the nanosecond: [`TimingProfile::IN_PROCESS`](authstore_spec::TimingProfile::IN_PROCESS).

use std::time::Duration;

use authstore_spec::time::kv_expiry;
use chrono::{DateTime, TimeDelta, Utc};

use crate::bug::Bug;

/// Whether an item whose expiry instant is `expires_at` is expired at `now`:
/// `now >= expires_at` (`TIME-1`).
pub(crate) fn is_expired(bug: Option<Bug>, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    match bug {
        Some(Bug::ExpiryComparedInWholeSeconds) => now.timestamp() > expires_at.timestamp(),
        Some(Bug::ExpiryAsNanosOverflows) => {
            now.timestamp_nanos_opt().unwrap_or(i64::MAX)
                >= expires_at.timestamp_nanos_opt().unwrap_or(0)
        }
        _ => now >= expires_at,
    }
}

/// The expiry instant of a kv entry written at `now` with `ttl`: `None` for no expiry
/// (no TTL, or one of 100 years or more).
pub(crate) fn kv_expires_at(
    bug: Option<Bug>,
    now: DateTime<Utc>,
    ttl: Option<Duration>,
) -> Option<DateTime<Utc>> {
    let ttl = ttl?;
    match bug {
        Some(Bug::ZeroTtlMeansNoExpiry) if ttl.is_zero() => None,
        // A TTL handed to a store that counts in milliseconds, where 0 means "keep".
        Some(Bug::SubMillisecondTtlMeansNoExpiry) if ttl.as_millis() == 0 => None,
        Some(Bug::TtlRoundedDownToSeconds) => {
            kv_expiry(now, Some(Duration::from_secs(ttl.as_secs())))
        }
        Some(Bug::TtlRoundedUpToSeconds) => {
            let secs = ttl
                .as_secs()
                .saturating_add(u64::from(ttl.subsec_nanos() > 0));
            kv_expiry(now, Some(Duration::from_secs(secs)))
        }
        Some(Bug::HugeTtlPanics) => Some(now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX)),
        _ => kv_expiry(now, Some(ttl)),
    }
}
