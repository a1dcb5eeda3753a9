//! For tests only: where the shared sample data is. Every crate's tests look it up here, so
//! the location and the skip notice are stated once.

use std::path::PathBuf;

/// `../shared/data/REL` beside the workspace, or `None` after printing a skip notice when it
/// is absent (tests that need it then skip). The directory comes from `CARGO_MANIFEST_DIR`
/// at run time, not `env!()`: cargo may reuse a test binary built in another clone.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests");
    let path = PathBuf::from(manifest_dir).join("../../../shared/data").join(rel);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: ../shared/data/{rel} is not here");
        None
    }
}

/// A python with DuckDB for differential tests: the bench venv `./dev/test` makes, else
/// `python3` (found by path, not by changing PATH: a changed PATH makes cargo rebuild crates
/// whose build scripts watch it). `None`, with a notice, when neither has DuckDB, except under
/// CI, which must have it.
pub fn duckdb_python() -> Option<PathBuf> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests");
    let venv = PathBuf::from(manifest_dir).join("../../bench/.venv/bin/python");
    let found = [venv, PathBuf::from("python3")].into_iter().find(|python| {
        std::process::Command::new(python).args(["-c", "import duckdb"]).status().is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have DuckDB for python (./dev/test installs it in bench/.venv)"
        );
        eprintln!("skipping the DuckDB comparison: no python with duckdb (run ./dev/test once to make bench/.venv)");
    }
    found
}
