//! The bounded queue in front of the blocking work: `max_concurrent` run at once, up to
//! `max_queued` more wait for their turn (at most the query time limit), and any beyond that
//! are refused at once (503 with `Retry-After`), so a burst is smoothed but an overload is
//! not turned into unbounded waiting.
//!
//! One client (one IP address) holds at most half of the permits (rounded up) at once, its
//! further requests waiting in the queue: a client alone cannot make everyone else wait. (All
//! the users of a server behind a reverse proxy are one address to it, and share one half.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

use crate::error::Failure;

tokio::task_local! {
    /// The address of the client a task answers, set by the guard for the whole request.
    static CLIENT: Option<IpAddr>;
}

/// Runs `work` (a request's handling) as the work of `client`.
pub(crate) async fn as_client<T>(client: Option<IpAddr>, work: impl Future<Output = T>) -> T {
    CLIENT.scope(client, work).await
}

/// The client whose request the current task answers; `None` outside a request (or for a
/// request that came without a connection, as in tests driving the router directly).
pub(crate) fn client() -> Option<IpAddr> {
    CLIENT.try_with(|client| *client).ok().flatten()
}

pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// The most permits one client holds at once.
    share: usize,
    /// The clients holding or waiting for a permit, each with its `share` of seats.
    clients: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
}

/// A permit to run; its client's seat, if any, goes with it.
pub(crate) struct Permit {
    _running: OwnedSemaphorePermit,
    _seat: Option<Seat>,
}

/// One of a client's seats (taken or not yet), which forgets the client when it is the last.
struct Seat {
    client: IpAddr,
    seats: Arc<Semaphore>,
    taken: Option<OwnedSemaphorePermit>,
    clients: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
}

impl Seat {
    /// Takes the seat, waiting while the client holds its whole share.
    async fn take(&mut self) -> Result<(), AcquireError> {
        if self.taken.is_none() {
            self.taken = Some(self.seats.clone().acquire_owned().await?);
        }
        Ok(())
    }

    fn try_take(&mut self) -> bool {
        if self.taken.is_none() {
            self.taken = self.seats.clone().try_acquire_owned().ok();
        }
        self.taken.is_some()
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.taken = None;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        // The map's and this one: no other request of the client holds or waits for a seat
        // (clones are made under this lock only).
        if Arc::strong_count(&self.seats) == 2 {
            clients.remove(&self.client);
        }
    }
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
        Gate {
            permits: Arc::new(Semaphore::new(running)),
            waiting: AtomicUsize::new(0),
            max_waiting: queued,
            share: running.div_ceil(2).max(1),
            clients: Arc::default(),
        }
    }

    fn seat(&self, client: IpAddr) -> Seat {
        let seats = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(client)
            .or_insert_with(|| Arc::new(Semaphore::new(self.share)))
            .clone();
        Seat { client, seats, taken: None, clients: self.clients.clone() }
    }

    /// A permit for `client` to run: at once when one is free (and the client holds less
    /// than its share), after a wait of at most `patience` when the queue has room, or
    /// [`Failure::Busy`].
    pub async fn enter(&self, client: Option<IpAddr>, patience: Duration) -> Result<Permit, Failure> {
        let mut seat = client.map(|client| self.seat(client));
        if seat.as_mut().is_none_or(Seat::try_take)
            && let Ok(running) = self.permits.clone().try_acquire_owned()
        {
            return Ok(Permit { _running: running, _seat: seat });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Failure::Busy);
        }
        let _waiting = Waiting(&self.waiting);
        let turn = async {
            if let Some(seat) = seat.as_mut() {
                seat.take().await?;
            }
            self.permits.clone().acquire_owned().await
        };
        let running = tokio::time::timeout(patience, turn).await;
        match running {
            Ok(Ok(running)) => Ok(Permit { _running: running, _seat: seat }),
            _ => Err(Failure::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);
    const SHORT: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn waits_while_the_queue_has_room_and_refuses_beyond_it() {
        let gate = Arc::new(Gate::new(1, 1));
        let running = gate.enter(None, LONG).await.unwrap();
        let queued = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(None, LONG).await.map(drop) }
        });
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The queue is full: refused without waiting.
        assert!(matches!(gate.enter(None, LONG).await, Err(Failure::Busy)));
        drop(running);
        assert!(queued.await.unwrap().is_ok(), "the queued request runs when the permit is free");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        assert!(gate.enter(None, LONG).await.is_ok());
    }

    #[tokio::test]
    async fn a_wait_ends_at_its_patience_and_leaves_the_queue() {
        let gate = Gate::new(1, 4);
        let _running = gate.enter(None, LONG).await.unwrap();
        assert!(matches!(gate.enter(None, Duration::from_millis(20)).await, Err(Failure::Busy)));
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        // Without a queue, no wait at all.
        let strict = Gate::new(0, 0);
        assert!(matches!(strict.enter(None, LONG).await, Err(Failure::Busy)));
    }

    #[tokio::test]
    async fn one_client_holds_at_most_half_the_permits_and_others_still_enter() {
        let gate = Gate::new(4, 8);
        let greedy = Some(IpAddr::from([10, 0, 0, 1]));
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        let held = [gate.enter(greedy, LONG).await.unwrap(), gate.enter(greedy, LONG).await.unwrap()];
        // Its third waits, though two permits are free, and gets one when one of its own ends.
        assert!(matches!(gate.enter(greedy, Duration::from_millis(50)).await, Err(Failure::Busy)));
        let others = [gate.enter(other, SHORT).await.unwrap(), gate.enter(other, SHORT).await.unwrap()];
        let [first, _second] = held;
        drop(first);
        drop(others);
        assert!(gate.enter(greedy, SHORT).await.is_ok());
        // A client with nothing running or waiting is forgotten.
        assert_eq!(gate.clients.lock().unwrap().len(), 1, "only the greedy client still holds a seat");
    }
}
