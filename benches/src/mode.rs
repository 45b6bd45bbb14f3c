//! `AUTHSTORE_BENCH_MODE`: `quick` (CI) or `full` (the published figures), and the
//! optional filters `AUTHSTORE_BENCH_BACKENDS` / `AUTHSTORE_BENCH_DATASETS`.

use std::time::Duration;

/// The variable choosing the mode.
pub const MODE_VAR: &str = "AUTHSTORE_BENCH_MODE";
/// Comma-separated backends to measure (default: all).
pub const BACKENDS_VAR: &str = "AUTHSTORE_BENCH_BACKENDS";
/// Comma-separated dataset labels to measure, e.g. `100k,1M` (default: the mode's).
pub const DATASETS_VAR: &str = "AUTHSTORE_BENCH_DATASETS";

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Smallest dataset, short warm-up and measurement: about a second per benchmark.
    Quick,
    /// Every dataset, longer measurement.
    Full,
}

impl Mode {
    /// The mode named by `AUTHSTORE_BENCH_MODE` (default `full`).
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(MODE_VAR).as_deref() {
            Err(_) | Ok("") | Ok("full") => Ok(Self::Full),
            Ok("quick") => Ok(Self::Quick),
            Ok(other) => Err(format!("{MODE_VAR}={other:?}: expected `quick` or `full`")),
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }

    /// Dataset sizes for a backend (in-process backends also get 1M in full mode).
    pub fn datasets(self, in_process: bool) -> Vec<u64> {
        match (self, in_process) {
            (Self::Quick, _) => vec![1_000],
            (Self::Full, false) => vec![1_000, 100_000],
            (Self::Full, true) => vec![1_000, 100_000, 1_000_000],
        }
    }

    /// Criterion's warm-up time, measurement time and sample count.
    pub fn timing(self) -> (Duration, Duration, usize) {
        match self {
            Self::Quick => (Duration::from_millis(250), Duration::from_millis(750), 10),
            Self::Full => (Duration::from_secs(1), Duration::from_secs(3), 20),
        }
    }
}

/// The comma-separated list in `var`, or `None` when unset or empty.
pub fn list_from_env(var: &str) -> Option<Vec<String>> {
    let value = std::env::var(var).ok()?;
    let items: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}
