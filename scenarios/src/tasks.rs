//! Joining the tasks a concurrency scenario spawns, so a hang, a panic in the backend or a
//! task's own failure all end the scenario with a message.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::check::Failure;

/// All tasks of a scenario finish within this, or the backend is taken to hang. It is
/// below the runner's default per-scenario timeout, so the message names the tasks.
pub(crate) const TASKS_DEADLINE: Duration = Duration::from_secs(60);

/// Awaits every task within [`TASKS_DEADLINE`] (aborting them all if it passes) and
/// returns their values in order; a panic (`JoinError`) or a task's own failure fails the
/// scenario.
pub(crate) async fn join_tasks<T>(
    what: &str,
    tasks: Vec<JoinHandle<Result<T, Failure>>>,
) -> Result<Vec<T>, Failure> {
    let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
    let Ok(results) = tokio::time::timeout(TASKS_DEADLINE, futures::future::join_all(tasks)).await
    else {
        aborts.iter().for_each(|task| task.abort());
        return Err(Failure::new(format!(
            "{what}: the tasks did not finish within {TASKS_DEADLINE:?} (a hang or deadlock)"
        )));
    };
    let mut values = Vec::with_capacity(results.len());
    for (i, result) in results.into_iter().enumerate() {
        values.push(result.map_err(|err| {
            Failure::new(format!(
                "{what}: task {i} panicked or was cancelled (a panic in the backend): {err}"
            ))
        })??);
    }
    Ok(values)
}
