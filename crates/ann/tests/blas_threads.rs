//! What every pairscope process does first (`runtime::stop_idle_blas_threads`): OpenBLAS's idle
//! pool stops, and a training that wants threads afterwards still runs (the pool starts again
//! by itself). One test in its own process, so the thread count is this test's alone.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use pairscope_ann::{TrainParams, Trained, runtime};

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn the_idle_blas_pool_stops_and_training_still_runs() {
    // OpenBLAS's pthread build starts a pool of one thread per core but one when it is loaded,
    // unless told to use one thread.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let one_thread = std::env::var("OPENBLAS_NUM_THREADS").is_ok_and(|v| v.trim() == "1");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pooled = maps.contains("openblas-pthread") && cores > 1 && !one_thread;
    let before = threads();
    runtime::stop_idle_blas_threads();
    let after = threads();
    if pooled {
        assert!(after < before, "OpenBLAS's pool is loaded, yet {before} threads became {after}");
    } else {
        eprintln!("notice: no OpenBLAS pthread pool in this process ({cores} cores); nothing to stop");
        assert_eq!(after, before);
    }

    let dim = 16;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let vectors: Vec<f32> = (0..4_000 * dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let trained = Trained::train(&TrainParams { dim, nlist: 8, m: 4, seed: 3, threads: 2 }, &vectors).unwrap();
    assert_eq!((trained.dim(), trained.nlist()), (dim, 8));
    assert!(!trained.to_bytes().unwrap().is_empty());
}
