//! Time helpers shared by backends and scenarios: one definition of "now", of
//! microsecond truncation, and of how a TTL becomes an expiry instant.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// TTLs of this length or longer mean "no expiry" (SPEC.md `TTL-4`): about 100 years.
pub const NO_EXPIRY_THRESHOLD: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The current time, truncated to whole microseconds (the precision every backend keeps,
/// SPEC.md `GEN-3`).
pub fn now_micros() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

/// `instant` with its sub-microsecond digits dropped.
pub fn truncate_to_micros(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(instant)
}

/// `start + ttl`, saturating at the largest representable instant instead of panicking.
pub fn add_duration(start: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(ttl)
        .ok()
        .and_then(|delta| start.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The expiry instant of a kv entry written at `now` with `ttl` (SPEC.md `TTL-1`..`TTL-4`):
/// `None` for no expiry (no TTL, or one of [`NO_EXPIRY_THRESHOLD`] or more).
pub fn kv_expiry(now: DateTime<Utc>, ttl: Option<Duration>) -> Option<DateTime<Utc>> {
    match ttl {
        Some(ttl) if ttl < NO_EXPIRY_THRESHOLD => Some(add_duration(now, ttl)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_ttls_mean_no_expiry() {
        let now = Utc::now();
        assert_eq!(kv_expiry(now, Some(Duration::MAX)), None);
        assert_eq!(kv_expiry(now, Some(NO_EXPIRY_THRESHOLD)), None);
        assert_eq!(kv_expiry(now, None), None);
        assert_eq!(kv_expiry(now, Some(Duration::ZERO)), Some(now));
    }

    #[test]
    fn add_duration_saturates() {
        assert_eq!(
            add_duration(Utc::now(), Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
