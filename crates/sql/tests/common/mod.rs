//! The dataset the tests of this crate query.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;

use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_store::Dataset;
use pairscope_synth::{SynthOptions, SynthSchema, generate};

/// A dataset of two sources with different extra columns: 12,000 LAION-Aesthetics-like rows in
/// three files and 3,000 COYO-like rows.
pub fn synth_dataset(dir: &Path) -> Dataset {
    let mut inputs = Vec::new();
    for (schema, rows, seed) in [(SynthSchema::LaionAesthetics, 12_000, 7), (SynthSchema::Coyo, 3_000, 8)] {
        let out = dir.join(schema.name());
        let options = SynthOptions { rows_per_shard: 4_000, threads: 2, ..SynthOptions::new(rows, seed, schema) };
        generate(&options, &out, &|_| {}).unwrap();
        inputs.push(out.to_str().unwrap().to_string());
    }
    let root = dir.join("ds");
    ingest(&root, &inputs, &IngestOptions { threads: 2, ..Default::default() }, &NoProgress).unwrap();
    Dataset::open(&root).unwrap()
}
