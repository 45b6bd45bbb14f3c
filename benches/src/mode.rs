//! `AUTHSTORE_BENCH_MODE`: `quick` (CI) or `full` (the published figures), and the
//! optional filters `AUTHSTORE_BENCH_BACKENDS` / `AUTHSTORE_BENCH_DATASETS`.

use std::time::Duration;

use crate::ids::{CONCURRENCIES, SCALE_OUT};

/// The variable choosing the mode.
pub const MODE_VAR: &str = "AUTHSTORE_BENCH_MODE";
/// Comma-separated backends to measure (default: all).
pub const BACKENDS_VAR: &str = "AUTHSTORE_BENCH_BACKENDS";
/// Comma-separated dataset labels to measure, e.g. `100k,1M` (default: the mode's).
pub const DATASETS_VAR: &str = "AUTHSTORE_BENCH_DATASETS";
/// Comma-separated concurrency levels, e.g. `1,16,64` (default: the mode's; see
/// [`Mode::concurrencies`]). Applies to every backend and engine measured.
pub const CONCURRENCIES_VAR: &str = "AUTHSTORE_BENCH_CONCURRENCIES";

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

    /// Concurrency levels for a backend or engine: 1 and 16 everywhere; server backends
    /// and their engines also 64 in full mode (issue 15 item 6: scale out), where 64
    /// tasks share the SQL pools' 16 connections or one Redis connection. In process,
    /// 16 tasks already keep both worker threads busy.
    pub fn concurrencies(self, in_process: bool) -> Vec<u64> {
        let mut levels = CONCURRENCIES.to_vec();
        if self == Self::Full && !in_process {
            levels.push(SCALE_OUT);
        }
        levels
    }

    /// Criterion's warm-up time, measurement time and sample count.
    pub fn timing(self) -> (Duration, Duration, usize) {
        match self {
            Self::Quick => (Duration::from_millis(250), Duration::from_millis(750), 10),
            Self::Full => (Duration::from_secs(1), Duration::from_secs(3), 20),
        }
    }
}

/// The concurrency levels named by [`CONCURRENCIES_VAR`], or `None` when unset.
pub fn concurrencies_from_env() -> Result<Option<Vec<u64>>, String> {
    let Some(items) = list_from_env(CONCURRENCIES_VAR) else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| match item.parse::<u64>() {
            Ok(level) if level > 0 => Ok(level),
            _ => Err(format!(
                "{CONCURRENCIES_VAR}: {item:?} is not a positive number of tasks"
            )),
        })
        .collect::<Result<Vec<u64>, String>>()
        .map(Some)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_scale_out_to_64_tasks_in_full_mode_only() {
        assert_eq!(Mode::Full.concurrencies(false), vec![1, 16, 64]);
        assert_eq!(Mode::Full.concurrencies(true), vec![1, 16]);
        assert_eq!(Mode::Quick.concurrencies(false), vec![1, 16]);
        assert_eq!(Mode::Quick.concurrencies(true), vec![1, 16]);
    }
}
