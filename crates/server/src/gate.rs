//! The bounded queue in front of the blocking work: `max_concurrent` run at once, up to
//! `max_queued` more wait for their turn (at most the query time limit), and any beyond that
//! are refused at once (503 with `Retry-After`), so a burst is smoothed but an overload is
//! not turned into unbounded waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Failure;

pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts a request in the queue while it waits (also when the client goes away and the
/// wait is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub fn new(running: usize, queued: usize) -> Gate {
        Gate { permits: Arc::new(Semaphore::new(running)), waiting: AtomicUsize::new(0), max_waiting: queued }
    }

    /// A permit to run: at once when one is free, after a wait of at most `patience` when the
    /// queue has room, or [`Failure::Busy`].
    pub async fn enter(&self, patience: Duration) -> Result<OwnedSemaphorePermit, Failure> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Failure::Busy);
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(patience, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Failure::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn waits_while_the_queue_has_room_and_refuses_beyond_it() {
        let gate = Arc::new(Gate::new(1, 1));
        let running = gate.enter(LONG).await.unwrap();
        let queued = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(LONG).await.map(drop) }
        });
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The queue is full: refused without waiting.
        assert!(matches!(gate.enter(LONG).await, Err(Failure::Busy)));
        drop(running);
        assert!(queued.await.unwrap().is_ok(), "the queued request runs when the permit is free");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        assert!(gate.enter(LONG).await.is_ok());
    }

    #[tokio::test]
    async fn a_wait_ends_at_its_patience_and_leaves_the_queue() {
        let gate = Gate::new(1, 4);
        let _running = gate.enter(LONG).await.unwrap();
        assert!(matches!(gate.enter(Duration::from_millis(20)).await, Err(Failure::Busy)));
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        // Without a queue, no wait at all.
        let strict = Gate::new(0, 0);
        assert!(matches!(strict.enter(LONG).await, Err(Failure::Busy)));
    }
}
