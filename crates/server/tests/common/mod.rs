//! What the server's test files share: synthetic datasets.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;

use pairscope_synth::{SynthOptions, SynthSchema, generate};

/// `rows` synthetic LAION-aesthetics rows written under `dir`: the parquet files' paths.
pub fn synth(dir: &Path, rows: u64) -> Vec<String> {
    let mut options = SynthOptions::new(rows, 11, SynthSchema::LaionAesthetics);
    options.threads = 1;
    let summary = generate(&options, &dir.join("synth"), &|_| {}).unwrap();
    summary.files.iter().map(|f| f.display().to_string()).collect()
}
