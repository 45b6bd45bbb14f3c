//! [`Ctx`]: what a scenario is given to work on.

use std::fmt;
use std::sync::Arc;

use authstore_spec::{AuthStorage, TimingProfile};

use crate::check::Failure;

/// A scenario's handles on a fresh, empty store and the backend's timing profile.
///
/// `Ctx` is cheap to clone and `'static`, so concurrency scenarios can hand it to
/// spawned tasks.
#[derive(Clone)]
pub struct Ctx {
    storage: Arc<dyn AuthStorage>,
    second: Option<Arc<dyn AuthStorage>>,
    timing: TimingProfile,
    capacity: Option<u64>,
}

impl Ctx {
    /// A context over `storage`, with the backend's `timing`.
    pub fn new(storage: Arc<dyn AuthStorage>, timing: TimingProfile) -> Self {
        Self {
            storage,
            second: None,
            timing,
            capacity: None,
        }
    }

    /// This context declaring the store's configured capacity in bytes of live data.
    pub fn with_capacity(mut self, bytes: u64) -> Self {
        self.capacity = Some(bytes);
        self
    }

    /// The declared capacity; a failure if the backend claimed `capacity` but its
    /// fixture declared none.
    pub fn capacity(&self) -> Result<u64, Failure> {
        self.capacity.ok_or_else(|| {
            Failure::new(
                "the backend claims the capacity capability but its fixture declared no \
                 capacity (Fixture::with_capacity)",
            )
        })
    }

    /// This context with a second, independent handle on the same data.
    pub fn with_second_handle(mut self, second: Arc<dyn AuthStorage>) -> Self {
        self.second = Some(second);
        self
    }

    /// The storage under test.
    pub fn storage(&self) -> &Arc<dyn AuthStorage> {
        &self.storage
    }

    /// The second handle on the same data; a failure if the backend claimed
    /// `multi-handle` but its factory provided none.
    pub fn second(&self) -> Result<&Arc<dyn AuthStorage>, Failure> {
        self.second.as_ref().ok_or_else(|| {
            Failure::new(
                "the backend claims the multi-handle capability but its factory provided no \
                 second handle",
            )
        })
    }

    /// Whether a second handle is available.
    pub fn has_second_handle(&self) -> bool {
        self.second.is_some()
    }

    /// The backend's declared timing profile.
    pub fn timing(&self) -> TimingProfile {
        self.timing
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("second_handle", &self.second.is_some())
            .field("timing", &self.timing)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
