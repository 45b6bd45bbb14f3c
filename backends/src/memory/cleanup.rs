//! The background cleanup task shared by the in-process backends.
//!
//! The task holds only a [`Weak`] reference to the store, so it never keeps the data
//! alive, and a [`oneshot`] receiver whose sender lives in the store: when the last handle
//! is dropped the sender is dropped too and the task ends at once, not at its next tick.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// The store's side of a cleanup task: dropping it stops the task.
#[derive(Debug)]
pub(crate) struct CleanupTask {
    _stop: oneshot::Sender<()>,
    #[cfg_attr(not(test), allow(dead_code))]
    handle: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl CleanupTask {
    /// Takes the task's join handle so a test can wait for the task to end.
    #[cfg(test)]
    pub(crate) fn take_handle(&self) -> Option<JoinHandle<()>> {
        self.handle.lock().take()
    }
}

/// Spawns a task that calls `cleanup` on the store every `interval`, if called inside a
/// tokio runtime and `interval` is not zero; otherwise returns `None` and spawns nothing.
pub(crate) fn spawn<T, F>(store: &Arc<T>, interval: Duration, cleanup: F) -> Option<CleanupTask>
where
    T: Send + Sync + 'static,
    F: Fn(&T) + Send + 'static,
{
    if interval.is_zero() {
        return None;
    }
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let weak: Weak<T> = Arc::downgrade(store);
    let (stop, mut stopped) = oneshot::channel::<()>();
    let handle = runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick completes at once; the first cleanup is one interval away.
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticker.tick() => {}
            }
            let Some(store) = weak.upgrade() else { break };
            cleanup(&store);
        }
    });
    Some(CleanupTask {
        _stop: stop,
        handle: parking_lot::Mutex::new(Some(handle)),
    })
}
