//! Runs a task, restarting it with backoff when it fails or panics, until
//! cancelled; and joins cancelled tasks within a grace period, aborting what
//! does not finish in time.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use crate::behaviors::BehaviorError;

/// Keeps `make()` running under `cancel`. The span carries agent and behavior.
pub async fn supervise<F, Fut>(name: String, cancel: CancellationToken, span: tracing::Span, on_restart: impl Fn(), make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), BehaviorError>> + Send + 'static,
{
    let mut delays = crate::backoff::doubling(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let started = Instant::now();
        let task = AbortOnDropHandle::new(tokio::spawn(make().instrument(span.clone())));
        let result = task.await;
        if cancel.is_cancelled() {
            return;
        }
        if started.elapsed() > Duration::from_secs(120) {
            delays.reset();
        }
        let backoff = delays.next_delay();
        match result {
            Ok(Ok(())) => {
                span.in_scope(|| tracing::info!(task = %name, "finished"));
                return;
            }
            Ok(Err(e)) => span.in_scope(|| tracing::error!(task = %name, error = %e, "failed; restarting in {:?}", backoff)),
            Err(e) if e.is_panic() => span.in_scope(|| tracing::error!(task = %name, "panicked; restarting in {:?}", backoff)),
            Err(_) => return,
        }
        on_restart();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
    }
}

/// Waits up to `grace` for `tasks` (already cancelled) to finish, then aborts
/// the rest; false when something had to be aborted.
pub async fn join_within(tasks: Vec<tokio::task::JoinHandle<()>>, grace: Duration) -> bool {
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    if tokio::time::timeout(grace, futures::future::join_all(tasks)).await.is_err() {
        aborts.iter().for_each(|a| a.abort());
        return false;
    }
    true
}
