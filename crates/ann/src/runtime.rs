//! The environment training and encoding run best in, which the libraries under faiss read only
//! once, when the process is loaded (before `main`), so that it can only be given to a process
//! before it starts (`pairscope ingest --embeddings` starts itself again with it).
//!
//! - `OMP_WAIT_POLICY=PASSIVE`: an OpenMP thread that finished its share of a step sleeps at
//!   once, instead of spinning for some milliseconds (libgomp's default), which on a small
//!   machine took a quarter of a training's CPU time from the threads doing the work.
//! - `OPENBLAS_CORETYPE`: OpenBLAS picks its matrix kernels by the CPU's model number, and a
//!   release older than the CPU falls back to a generic kernel (Debian 12's 0.3.21 runs
//!   `Prescott` SSE3 code on Sapphire Rapids servers); where the CPU has AVX-512 or AVX2 the
//!   kernel of those (`SkylakeX`, `Haswell`) is named. The k-means of training is nearly all
//!   matrix products: measured here, the whole ingest took 30% less CPU.
//!
//! A variable the user set is never changed.
//!
//! And one thing every process does when it starts: [`stop_idle_blas_threads`].

/// Stops the idle thread pool OpenBLAS (pthread build) starts when the process is loaded: a
/// thread per core but one, each spinning on `sched_yield` for work for a while before it
/// sleeps, which on a small machine takes the cores from the threads doing the work of a short
/// command (a one-shot search at 100M rows on 2 cores: 104 → 65 ms without it). The pool
/// starts again, by OpenBLAS itself, at the first BLAS call that wants threads (training,
/// encoding), so they lose nothing. Call it before starting threads of one's own; it does
/// nothing when the BLAS is not OpenBLAS's pthread build.
pub fn stop_idle_blas_threads() {
    crate::ffi::bridge::stop_blas_threads();
}

/// OpenBLAS's kernels older than AVX2: the ones a CPU it does not know gets.
const GENERIC_CORES: &[&str] = &["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Northwood"];

/// The variables (name, value) this process lacks for training and encoding at full speed;
/// empty when it has them all (or when nothing better is known).
pub fn missing_environment() -> Vec<(&'static str, &'static str)> {
    let mut missing = Vec::new();
    let unset = |name: &str| std::env::var_os(name).is_none();
    if unset("OMP_WAIT_POLICY") {
        missing.push(("OMP_WAIT_POLICY", "PASSIVE"));
    }
    if unset("OPENBLAS_CORETYPE")
        && GENERIC_CORES.contains(&crate::ffi::bridge::blas_core_name().as_str())
        && let Some(core) = best_openblas_core()
    {
        missing.push(("OPENBLAS_CORETYPE", core));
    }
    missing
}

/// The OpenBLAS kernel family this CPU can run: `SkylakeX` (AVX-512 F, CD, BW, DQ, VL) or
/// `Haswell` (AVX2 and FMA).
fn best_openblas_core() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return Some("SkylakeX");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Some("Haswell");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_already_set_is_never_asked_for() {
        // The test binary's environment: whatever it holds, no name comes back twice and none
        // that is set comes back.
        let missing = missing_environment();
        for (name, value) in &missing {
            assert!(std::env::var_os(name).is_none(), "{name} is set");
            assert!(!value.is_empty());
        }
        let core = crate::ffi::bridge::blas_core_name();
        if let Some((_, kernel)) = missing.iter().find(|(name, _)| *name == "OPENBLAS_CORETYPE") {
            assert!(GENERIC_CORES.contains(&core.as_str()), "{core} is not generic, yet {kernel} was asked for");
        }
    }
}
