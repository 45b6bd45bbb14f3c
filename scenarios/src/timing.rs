//! TTLs and waits derived from the backend's [`TimingProfile`], never hand-tuned.
//!
//! An expiry scenario checks two things: the item is visible while surely before its
//! expiry instant, and invisible once surely after it. "Surely" is decided with the
//! declared margin (granularity + clock skew) and the measured start and end of every
//! call, so a slow, loaded machine can make an attempt *inconclusive* but never wrong.
//! An inconclusive attempt is repeated with a TTL twice as long.

use std::future::Future;
use std::time::Duration;

use authstore_spec::TimingProfile;
use chrono::{DateTime, Utc};

use crate::check::{Failure, Outcome};

/// The shortest TTL an attempt uses.
const MIN_TTL: Duration = Duration::from_millis(60);
/// The first TTL is at least this many margins long.
const MARGINS_PER_TTL: u32 = 20;
/// Attempts before giving up: the last TTL is `2^(ATTEMPTS-1)` times the first.
const ATTEMPTS: u32 = 7;

/// The result of one attempt at an expiry scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Every check ran in its window and held.
    Conclusive,
    /// A call ended too late for a "still visible" check to mean anything; try again
    /// with a longer TTL.
    TooSlow,
}

/// The first TTL for a backend with this profile.
pub fn first_ttl(timing: TimingProfile) -> Duration {
    MIN_TTL.max(timing.margin().saturating_mul(MARGINS_PER_TTL))
}

/// Runs `attempt(ttl)` with growing TTLs until an attempt is conclusive; fails if an
/// attempt fails or none is conclusive.
pub async fn with_growing_ttl<F, Fut>(timing: TimingProfile, attempt: F) -> Outcome
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<Attempt, Failure>>,
{
    with_growing_ttl_from(first_ttl(timing), attempt).await
}

/// The shortest first TTL a sub-second scenario may use: [`MIN_TTL`], or 6 margins for a
/// backend whose margin is longer (still under a second for a 50 ms skew).
pub fn first_short_ttl(timing: TimingProfile) -> Duration {
    MIN_TTL.max(timing.margin().saturating_mul(6))
}

/// [`with_growing_ttl`] starting from `first` instead of the profile's first TTL.
pub async fn with_growing_ttl_from<F, Fut>(first: Duration, mut attempt: F) -> Outcome
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<Attempt, Failure>>,
{
    let mut ttl = first;
    for _ in 0..ATTEMPTS {
        if attempt(ttl).await? == Attempt::Conclusive {
            return Ok(());
        }
        ttl = ttl.saturating_mul(2);
    }
    Err(Failure::new(format!(
        "inconclusive: every call took longer than the TTL allowed, up to a TTL of {:?}",
        ttl / 2
    )))
}

/// When an item expires, as far as the caller can know: between `earliest` and `latest`
/// by the caller's clock, give or take the backend's margin.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryWindow {
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
    margin: Duration,
}

impl ExpiryWindow {
    /// An item whose expiry instant was set by the caller (tokens, sessions).
    pub fn at(expires_at: DateTime<Utc>, timing: TimingProfile) -> Self {
        Self {
            earliest: expires_at,
            latest: expires_at,
            margin: timing.margin(),
        }
    }

    /// A kv entry stored with `ttl` by a call that started at `call_started` and ended
    /// at `call_ended`.
    pub fn after_ttl(
        call_started: DateTime<Utc>,
        call_ended: DateTime<Utc>,
        ttl: Duration,
        timing: TimingProfile,
    ) -> Self {
        Self {
            earliest: authstore_spec::time::add_duration(call_started, ttl),
            latest: authstore_spec::time::add_duration(call_ended, ttl),
            margin: timing.margin(),
        }
    }

    /// Whether a read that ended at `read_ended` surely happened before expiry, so the
    /// item must have been visible to it.
    pub fn surely_live_at(&self, read_ended: DateTime<Utc>) -> bool {
        authstore_spec::time::add_duration(read_ended, self.margin) < self.earliest
    }

    /// Whether the item is surely live now, i.e. a read ending now must see it.
    pub fn surely_live_now(&self) -> bool {
        self.surely_live_at(Utc::now())
    }

    /// The first instant from which the item must be invisible.
    pub fn surely_expired_from(&self) -> DateTime<Utc> {
        authstore_spec::time::add_duration(self.latest, self.margin)
    }

    /// Sleeps until the item must be invisible.
    pub async fn wait_until_expired(&self) {
        sleep_until(self.surely_expired_from()).await;
    }
}

/// Sleeps until the caller's clock reads `instant` (plus one millisecond, so a clock
/// that just reached it has passed it).
pub async fn sleep_until(instant: DateTime<Utc>) {
    let remaining = (instant - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::sleep(remaining + Duration::from_millis(1)).await;
}
