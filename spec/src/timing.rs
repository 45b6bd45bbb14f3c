//! How precisely a backend keeps time. Timing scenarios derive every TTL and wait from a
//! backend's [`TimingProfile`] instead of hand-tuned sleeps (SPEC.md `TIME-4`, `TIME-5`).

use std::time::Duration;

/// A backend's declared timing: the resolution at which it stores and compares expiry
/// instants, and how far its clock may differ from the caller's.
///
/// A backend claims: an item with expiry instant `T` (by the caller's clock) is visible
/// before `T - margin()` and invisible from `T + margin()` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimingProfile {
    /// The resolution of stored expiry instants (e.g. 1 ms for Redis `PEXPIREAT`, 1 µs
    /// for SQL timestamps).
    pub granularity: Duration,
    /// The largest difference between the backend's clock and the caller's clock.
    pub clock_skew: Duration,
}

impl TimingProfile {
    /// In-process backends: the caller's clock, kept to the microsecond; 1 ms covers
    /// coarse system clocks.
    pub const IN_PROCESS: TimingProfile =
        TimingProfile::new(Duration::from_millis(1), Duration::ZERO);

    /// A profile with this granularity and skew.
    pub const fn new(granularity: Duration, clock_skew: Duration) -> Self {
        Self {
            granularity,
            clock_skew,
        }
    }

    /// How far from its expiry instant an item's visibility may flip:
    /// `granularity + clock_skew`.
    pub fn margin(&self) -> Duration {
        self.granularity.saturating_add(self.clock_skew)
    }
}

impl Default for TimingProfile {
    fn default() -> Self {
        Self::IN_PROCESS
    }
}
