//! Reading criterion's results: every `<criterion dir>/**/new/{benchmark,estimates}.json`
//! whose id has the `<operation>/<backend>/<dataset>/c<concurrency>` shape.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use crate::ids::BenchId;

/// One benchmark's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Its coordinates.
    pub id: BenchId,
    /// Median time of one iteration (one call, or one batch of concurrent calls), ns.
    pub median_ns: f64,
    /// The median's 95 % confidence interval, ns.
    pub median_ci_ns: (f64, f64),
    /// Calls per iteration (criterion's `Throughput::Elements`; 1 if absent).
    pub calls_per_iteration: u64,
    /// When criterion wrote the estimates.
    pub written: SystemTime,
}

impl Measurement {
    /// Calls per second: calls per iteration over the median iteration time.
    pub fn calls_per_second(&self) -> f64 {
        self.calls_per_iteration as f64 * 1e9 / self.median_ns
    }
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Results with a well-formed id.
    pub measurements: Vec<Measurement>,
    /// Result directories skipped, with the reason (foreign ids, unreadable files).
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
    /// `{"Elements": n}`, `{"Bytes": n}`, … or null.
    throughput: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// Reads every result under `dir`. A missing directory is an error; a result that
/// cannot be read is listed in [`Loaded::skipped`].
pub fn load(dir: &Path) -> Result<Loaded, String> {
    let mut found = Vec::new();
    walk(dir, &mut found).map_err(|e| format!("{}: {e}", dir.display()))?;
    found.sort();
    let mut loaded = Loaded::default();
    for new_dir in found {
        match read_one(&new_dir) {
            Ok(m) => loaded.measurements.push(m),
            Err(why) => loaded.skipped.push(format!("{}: {why}", new_dir.display())),
        }
    }
    Ok(loaded)
}

/// Collects the `new` directories holding a `benchmark.json`.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").is_file() {
            found.push(path);
        } else {
            walk(&path, found)?;
        }
    }
    Ok(())
}

fn read_one(new_dir: &Path) -> Result<Measurement, String> {
    let read = |name: &str| {
        std::fs::read_to_string(new_dir.join(name)).map_err(|e| format!("{name}: {e}"))
    };
    let benchmark: BenchmarkJson = serde_json::from_str(&read("benchmark.json")?)
        .map_err(|e| format!("benchmark.json: {e}"))?;
    let id = BenchId::parse(&benchmark.full_id).ok_or_else(|| {
        format!(
            "id {:?} is not <operation>/<backend>/<dataset>/c<n>",
            benchmark.full_id
        )
    })?;
    let estimates: EstimatesJson = serde_json::from_str(&read("estimates.json")?)
        .map_err(|e| format!("estimates.json: {e}"))?;
    let median = estimates.median;
    if !(median.point_estimate.is_finite() && median.point_estimate > 0.0) {
        return Err(format!(
            "median {} ns is not a positive time",
            median.point_estimate
        ));
    }
    let calls_per_iteration = benchmark
        .throughput
        .as_ref()
        .and_then(|t| t.get("Elements"))
        .and_then(serde_json::Value::as_u64)
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let written = std::fs::metadata(new_dir.join("estimates.json"))
        .and_then(|m| m.modified())
        .map_err(|e| format!("estimates.json: {e}"))?;
    Ok(Measurement {
        id,
        median_ns: median.point_estimate,
        median_ci_ns: (
            median.confidence_interval.lower_bound,
            median.confidence_interval.upper_bound,
        ),
        calls_per_iteration,
        written,
    })
}
