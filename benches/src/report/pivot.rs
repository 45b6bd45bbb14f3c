//! Results indexed by their coordinates, and the figures derived from them: ratio to the
//! raw engine, latency growth with dataset size, throughput gain from concurrency.

use std::collections::{BTreeMap, BTreeSet};

use super::results::Measurement;
use crate::ids::{BenchId, baseline_for, best_baseline_for};

/// Results by id.
#[derive(Debug, Default)]
pub struct Pivot {
    by_id: BTreeMap<BenchId, Measurement>,
}

/// A backend operation against its engine's baseline at the same dataset and concurrency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// The engine (`raw-…`).
    pub engine: &'static str,
    /// The baseline operation.
    pub baseline: &'static str,
    /// The backend's median time per iteration, ns.
    pub backend_ns: f64,
    /// The baseline's, ns.
    pub engine_ns: f64,
}

impl Ratio {
    /// Backend latency over engine latency: 1 is as fast, 3 is three times slower.
    pub fn latency_ratio(&self) -> f64 {
        self.backend_ns / self.engine_ns
    }

    /// Engine latency over backend latency (the "≥ 0.8× its raw engine").
    pub fn relative_speed(&self) -> f64 {
        self.engine_ns / self.backend_ns
    }
}

/// Latency at the largest dataset over latency at the smallest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// Smallest dataset measured.
    pub from: u64,
    /// Largest dataset measured.
    pub to: u64,
    /// `latency(to) / latency(from)`.
    pub factor: f64,
}

impl Pivot {
    /// Indexes `measurements`; of two with the same id the later-written one wins.
    pub fn new(measurements: impl IntoIterator<Item = Measurement>) -> Self {
        let mut by_id: BTreeMap<BenchId, Measurement> = BTreeMap::new();
        for m in measurements {
            match by_id.get(&m.id) {
                Some(old) if old.written > m.written => {}
                _ => {
                    by_id.insert(m.id.clone(), m);
                }
            }
        }
        Self { by_id }
    }

    /// Number of results.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there is no result.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every result, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Measurement> {
        self.by_id.values()
    }

    /// One result.
    pub fn get(
        &self,
        operation: &str,
        backend: &str,
        dataset: u64,
        concurrency: u64,
    ) -> Option<&Measurement> {
        self.by_id.get(&BenchId {
            operation: operation.to_owned(),
            backend: backend.to_owned(),
            dataset,
            concurrency,
        })
    }

    /// The backends and engines with results.
    pub fn backends(&self) -> BTreeSet<&str> {
        self.by_id.keys().map(|id| id.backend.as_str()).collect()
    }

    /// The datasets `backend` has results for, ascending.
    pub fn datasets(&self, backend: &str) -> Vec<u64> {
        let sizes: BTreeSet<u64> = self
            .by_id
            .keys()
            .filter(|id| id.backend == backend)
            .map(|id| id.dataset)
            .collect();
        sizes.into_iter().collect()
    }

    /// `operation` of `backend` against its engine baseline, when both were measured.
    pub fn ratio(
        &self,
        operation: &str,
        backend: &str,
        dataset: u64,
        concurrency: u64,
    ) -> Option<Ratio> {
        self.ratio_to(
            baseline_for(backend, operation)?,
            operation,
            backend,
            dataset,
            concurrency,
        )
    }

    /// `operation` of `backend` against the best client's baseline on its engine
    /// ([`best_baseline_for`]), when both were measured.
    pub fn best_ratio(
        &self,
        operation: &str,
        backend: &str,
        dataset: u64,
        concurrency: u64,
    ) -> Option<Ratio> {
        let baseline = best_baseline_for(backend, operation)?;
        self.ratio_to(baseline, operation, backend, dataset, concurrency)
    }

    fn ratio_to(
        &self,
        (engine, baseline): (&'static str, &'static str),
        operation: &str,
        backend: &str,
        dataset: u64,
        concurrency: u64,
    ) -> Option<Ratio> {
        let ours = self.get(operation, backend, dataset, concurrency)?;
        let theirs = self.get(baseline, engine, dataset, concurrency)?;
        Some(Ratio {
            engine,
            baseline,
            backend_ns: ours.median_ns,
            engine_ns: theirs.median_ns,
        })
    }

    /// Latency growth of `operation` from the smallest to the largest dataset measured
    /// for it; `None` with fewer than two.
    pub fn growth(&self, operation: &str, backend: &str, concurrency: u64) -> Option<Growth> {
        let sizes: Vec<u64> = self
            .datasets(backend)
            .into_iter()
            .filter(|&d| self.get(operation, backend, d, concurrency).is_some())
            .collect();
        let (&from, &to) = (sizes.first()?, sizes.last()?);
        if from == to {
            return None;
        }
        let small = self.get(operation, backend, from, concurrency)?.median_ns;
        let large = self.get(operation, backend, to, concurrency)?.median_ns;
        Some(Growth {
            from,
            to,
            factor: large / small,
        })
    }

    /// Calls per second at concurrency 16 over calls per second at concurrency 1.
    pub fn concurrency_gain(&self, operation: &str, backend: &str, dataset: u64) -> Option<f64> {
        self.gain_between(operation, backend, dataset, 1, 16)
    }

    /// Calls per second at concurrency `to` over calls per second at concurrency `from`.
    pub fn gain_between(
        &self,
        operation: &str,
        backend: &str,
        dataset: u64,
        from: u64,
        to: u64,
    ) -> Option<f64> {
        let low = self.get(operation, backend, dataset, from)?;
        let high = self.get(operation, backend, dataset, to)?;
        Some(high.calls_per_second() / low.calls_per_second())
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}
