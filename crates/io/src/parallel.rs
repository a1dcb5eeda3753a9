//! The one work queue: items `0..n` handed out one at a time, from an atomic counter, to up to
//! `threads` scoped threads, so a slow item never holds back the others' threads. Three shapes:
//! [`map`] (every result, in item order), [`try_map`] (the same, stopping at the first error)
//! and [`try_fold`] (each thread folds the items it takes into a state of its own; the first
//! error stops them all). With one thread, or one item, the work runs on the calling thread.
//!
//! A stop is cooperative: threads finish the item in hand and take no more. Memory: the
//! results (or one state per thread), nothing per item beyond them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(0) … f(n - 1)` on up to `threads` threads; the results in item order.
pub fn map<R: Send>(n: usize, threads: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let Ok(results) = try_map::<R, std::convert::Infallible>(n, threads, |i| Ok(f(i)));
    results
}

/// `f(0) … f(n - 1)` on up to `threads` threads, the results in item order; or the first error
/// (the first to happen): items not yet taken are not run.
pub fn try_map<R: Send, E: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(usize) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let states = try_fold(n, threads, Vec::new, |done: &mut Vec<(usize, R)>, i| {
        done.push((i, f(i)?));
        Ok(())
    })?;
    // Without an error every item ran once, on some thread: its results in item order.
    let mut done: Vec<(usize, R)> = states.into_iter().flatten().collect();
    done.sort_unstable_by_key(|&(i, _)| i);
    Ok(done.into_iter().map(|(_, result)| result).collect())
}

/// Each of up to `threads` threads starts from `init()` and folds into it, with `step`, the
/// items it takes; returns the threads' states (in no particular order), or the first error.
pub fn try_fold<S: Send, E: Send>(
    n: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    step: impl Fn(&mut S, usize) -> Result<(), E> + Sync,
) -> Result<Vec<S>, E> {
    let next = AtomicUsize::new(0);
    let run = || -> Result<S, E> {
        let mut state = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return Ok(state);
            }
            if let Err(e) = step(&mut state, i) {
                // The other threads take no further item.
                next.store(n, Ordering::Relaxed);
                return Err(e);
            }
        }
    };
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return run().map(|state| vec![state]);
    }
    let outcomes: Mutex<Vec<Result<S, E>>> = Mutex::new(Vec::with_capacity(threads));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let outcome = run();
                outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
            });
        }
    });
    outcomes.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn results_come_in_item_order_whatever_the_threads() {
        for threads in [0, 1, 2, 7, 100] {
            let squares = map(50, threads, |i| {
                // Later items finish first.
                std::thread::sleep(std::time::Duration::from_micros((50 - i as u64) * 20));
                i * i
            });
            assert_eq!(squares, (0..50).map(|i| i * i).collect::<Vec<_>>(), "{threads} threads");
        }
        assert!(map(0, 4, |i| i).is_empty());
    }

    #[test]
    fn the_first_error_stops_the_queue() {
        let ran = AtomicUsize::new(0);
        let result: Result<Vec<usize>, String> = try_map(10_000, 4, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 10 { Err(format!("item {i}")) } else { Ok(i) }
        });
        assert_eq!(result.unwrap_err(), "item 10");
        assert!(ran.load(Ordering::Relaxed) < 10_000, "the items after the error were not all run");
    }

    #[test]
    fn every_item_is_folded_once_into_one_of_the_states() {
        let states: Result<Vec<Vec<usize>>, ()> = try_fold(1000, 3, Vec::new, |seen, i| {
            seen.push(i);
            Ok(())
        });
        let states = states.unwrap();
        assert!(!states.is_empty() && states.len() <= 3);
        let mut all: Vec<usize> = states.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }
}
