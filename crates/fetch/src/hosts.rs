//! Per-host state: [`HostSlots`] (a connection semaphore and a "next allowed start" clock) and
//! [`BoundedMap`], the LRU map that keeps it and the robots.txt verdicts.
//!
//! Memory bound: a map holds at most `max(bound, hosts in use)` entries. An entry is in use
//! while a request holds its `Arc`; only idle entries are evicted, least recently used first,
//! so a host in use never gets a second set of slots and its limits hold. Memory therefore
//! grows with the hosts active at once (at most the caller's concurrency), not with the URLs.

use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// An LRU map of shared values that evicts only values nobody else holds.
pub(crate) struct BoundedMap<K: Hash + Eq, V> {
    bound: usize,
    entries: Mutex<LruCache<K, Arc<V>>>,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    pub(crate) fn new(bound: usize) -> BoundedMap<K, V> {
        BoundedMap { bound, entries: Mutex::new(LruCache::unbounded()) }
    }

    /// The value for `key`, made by `make` if absent; marks it most recently used.
    pub(crate) fn get_or_insert_with(&self, key: &K, make: impl FnOnce() -> V) -> Arc<V> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = entries.get(key) {
            return value.clone();
        }
        let value = Arc::new(make());
        entries.put(key.clone(), value.clone());
        while entries.len() > self.bound {
            // Least recently used first; one held elsewhere (strong count > 1) is in use.
            let idle = entries.iter().rev().find(|(_, value)| Arc::strong_count(value) == 1).map(|(k, _)| k.clone());
            match idle {
                Some(key) => {
                    entries.pop(&key);
                }
                None => break,
            }
        }
        value
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The politeness limits of one host: at most `connections` requests in flight, and request
/// starts spaced by at least `interval`.
pub(crate) struct HostSlots {
    connections: Arc<Semaphore>,
    interval: Duration,
    next_start: Mutex<Instant>,
}

/// The right to send one request to a host: keeps one of its connections until dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    host: Arc<HostSlots>,
}

impl Slot {
    /// Holds the host's next start back until `until` (a server's `Retry-After`).
    pub(crate) fn defer_host(&self, until: Instant) {
        let mut next = self.host.next_start.lock().unwrap_or_else(PoisonError::into_inner);
        *next = (*next).max(until);
    }
}

impl HostSlots {
    pub(crate) fn new(connections: usize, interval: Duration) -> HostSlots {
        HostSlots {
            connections: Arc::new(Semaphore::new(connections)),
            interval,
            next_start: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a free connection, then for the host's next start time, and takes both.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Slot {
        #[expect(clippy::expect_used, reason = "the semaphore is never closed")]
        let permit = self.connections.clone().acquire_owned().await.expect("host semaphore is never closed");
        let start = {
            let mut next = self.next_start.lock().unwrap_or_else(PoisonError::into_inner);
            let start = (*next).max(Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        Slot { _permit: permit, host: self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_entries_beyond_the_bound_are_evicted_least_recent_first() {
        let map: BoundedMap<u32, u32> = BoundedMap::new(2);
        let held = map.get_or_insert_with(&1, || 1);
        map.get_or_insert_with(&2, || 2);
        map.get_or_insert_with(&3, || 3);
        // 1 is the least recent but held, so 2 went.
        assert_eq!(map.len(), 2);
        assert!(Arc::ptr_eq(&held, &map.get_or_insert_with(&1, || 10)));
        assert_eq!(*map.get_or_insert_with(&2, || 20), 20);
        drop(held);
        for key in 10..100 {
            map.get_or_insert_with(&key, || key);
        }
        assert_eq!(map.len(), 2);
    }

    #[tokio::test]
    async fn slots_limit_concurrency_and_space_starts() {
        let host = Arc::new(HostSlots::new(1, Duration::from_millis(50)));
        let started = Instant::now();
        let first = host.acquire().await;
        let second = tokio::spawn({
            let host = host.clone();
            async move {
                let _slot = host.acquire().await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_millis(120)).await;
        drop(first);
        let second_start = second.await.unwrap();
        assert!(second_start - started >= Duration::from_millis(120));
    }
}
