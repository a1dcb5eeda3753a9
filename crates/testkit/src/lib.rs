//! What pairscope's tests share, and only its tests (every user is a dev-dependency): where
//! the shared sample data is, which python runs the differential peers, and how a test writes
//! a small parquet input ([`write_parquet`]), how it damages a block index on disk
//! ([`damage_index_files`]). Every crate's
//! tests look them up here, so the locations and the skip notices are stated once.
//!
//! It owns the tests' view of the machine (`../shared/data`, `bench/.venv`); it never holds
//! test data, and nothing a user runs depends on it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};

/// Writes `columns` (name, values; every column nullable) as one parquet file at `path`.
pub fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let schema =
        Schema::new(columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>());
    let batch = RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

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

/// A python with DuckDB for differential tests ([`bench_python`]).
pub fn duckdb_python() -> Option<PathBuf> {
    bench_python("import duckdb", "DuckDB")
}

/// A python with numpy and pyarrow, to write embedding files as LAION's tools do
/// ([`bench_python`]).
pub fn numpy_python() -> Option<PathBuf> {
    bench_python("import numpy, pyarrow", "numpy")
}

/// A python with cc2dataset's WAT extractor and its two native dependencies (FastWARC,
/// pysimdjson), for `bench/peers/cc2dataset_wat.py` ([`bench_python`]).
pub fn cc2dataset_python() -> Option<PathBuf> {
    bench_python("import fastwarc, simdjson, importlib.util as u; assert u.find_spec('cc2dataset')", "cc2dataset")
}

/// A python where `check` runs: the bench venv `./dev/test` makes, else `python3` (found by
/// path, not by changing PATH: a changed PATH makes cargo rebuild crates whose build scripts
/// watch it). `None`, with a notice, when neither has `peer`, except under CI, which must have it.
pub fn bench_python(check: &str, peer: &str) -> Option<PathBuf> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests");
    let venv = PathBuf::from(manifest_dir).join("../../bench/.venv/bin/python");
    let found = [venv, PathBuf::from("python3")]
        .into_iter()
        .find(|python| std::process::Command::new(python).args(["-c", check]).status().is_ok_and(|s| s.success()));
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {peer} for python (./dev/test installs it in bench/.venv)"
        );
        eprintln!("skipping the {peer} comparison: no python with it (run ./dev/test once to make bench/.venv)");
    }
    found
}

/// Overwrites with noise the middle half of each file packed in the block index `dir` whose
/// name ends in `.<extension>` for one of `extensions`, keeping each file's last 24 bytes
/// (tantivy's footer and its length): bytes damaged on disk behind valid footers. Returns how
/// many files it damaged.
pub fn damage_index_files(dir: &Path, extensions: &[&str]) -> usize {
    let bundle = dir.join(pairscope_index::bundle::BUNDLE_FILE);
    let mut bytes = std::fs::read(&bundle).unwrap();
    let mut damaged = 0;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for (name, range) in pairscope_index::bundle::packed_files(&bundle).unwrap() {
        if !extensions.iter().any(|e| name.ends_with(&format!(".{e}"))) {
            continue;
        }
        let (start, len) = (range.start as usize, (range.end - range.start) as usize);
        for byte in &mut bytes[start + len / 4..start + (len * 3 / 4).min(len.saturating_sub(24))] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        damaged += 1;
    }
    std::fs::write(&bundle, bytes).unwrap();
    damaged
}
