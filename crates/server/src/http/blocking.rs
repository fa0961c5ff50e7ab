//! Blocking HTTP work (index searches, store reads, rendering), bounded by one semaphore.
//!
//! It exists because the edge's concurrency limit and timeout bound only futures: when a
//! timeout drops a request, a `spawn_blocking` task it started keeps running, so without this
//! an overloaded node would keep admitting requests while old work still ran (up to tokio's
//! blocking threads and an unbounded queue). Here a permit is taken before the task is
//! spawned and moved into it, so it is held exactly as long as the work runs; with none free
//! the request is refused at once with the shedding layer's 503.

use crate::metrics::HTTP_BLOCKING_IN_FLIGHT;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The permits for blocking HTTP work; clones share them.
#[derive(Clone)]
pub struct Blocking {
    permits: Arc<Semaphore>,
}

/// Why blocking work did not give an answer.
#[derive(Debug)]
pub(super) enum Refused {
    /// Every permit is held by work still running.
    Overloaded,
    /// The task panicked or was cancelled.
    Failed(tokio::task::JoinError),
}

/// A permit held by running work, counted in the in-flight gauge until it is dropped.
struct Running {
    _permit: OwnedSemaphorePermit,
}

impl Running {
    fn start(permit: OwnedSemaphorePermit) -> Self {
        ::metrics::gauge!(HTTP_BLOCKING_IN_FLIGHT).increment(1.0);
        Running { _permit: permit }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        ::metrics::gauge!(HTTP_BLOCKING_IN_FLIGHT).decrement(1.0);
    }
}

impl Blocking {
    /// At most `limit` blocking tasks at once (at least one).
    pub fn new(limit: usize) -> Self {
        Blocking {
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    /// Runs `f` off the async threads if a permit is free now; refuses at once otherwise.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Overloaded)?;
        Self::spawn(permit, f).await
    }

    /// Runs `f` off the async threads once a permit is free: for the chunks of a response
    /// already being streamed, which cannot be refused half-way.
    pub(super) async fn run_waiting<T, F>(&self, f: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Refused::Overloaded)?;
        Self::spawn(permit, f).await
    }

    async fn spawn<T, F>(permit: OwnedSemaphorePermit, f: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            let _running = Running::start(permit);
            f()
        })
        .await
        .map_err(Refused::Failed)
    }
}
