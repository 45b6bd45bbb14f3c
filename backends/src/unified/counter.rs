//! A statistics counter that threads increment without contending.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Stripes per counter: enough for the worker threads of a typical runtime.
const STRIPES: usize = 16;

/// A count split over cache lines, one per thread (modulo [`STRIPES`]). A single atomic
/// that every point read increments is one cache line that all cores write, so readers
/// on different cores, which share nothing else, would take turns at it.
#[derive(Default)]
pub(super) struct StripedCounter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

impl StripedCounter {
    /// Adds one.
    pub(super) fn increment(&self) {
        self.stripes[stripe()].fetch_add(1, Ordering::Relaxed);
    }

    /// The count so far (a sum of relaxed loads: exact once increments have stopped).
    pub(super) fn get(&self) -> u64 {
        self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// This thread's stripe, handed out round-robin on first use.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<Option<usize>> = const { Cell::new(None) };
    }
    STRIPE.with(|stripe| {
        stripe.get().unwrap_or_else(|| {
            let index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            stripe.set(Some(index));
            index
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn counts_every_increment_from_every_thread() {
        let counter = Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.increment()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.get(), 40_000);
    }
}
