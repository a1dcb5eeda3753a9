//! Subsets and audits of a dataset: `pairscope subset` and `pairscope diff`.
//!
//! This crate owns:
//! - [`presets`]: LAION's published subsets as EXPRs, each with its source;
//! - [`run`]: the subset pipeline (filter → query → removal lists (`pairscope-lists`) → dedup → sample), planned
//!   on DataFusion, and its atomic, deterministic output;
//! - [`manifest`]: what a subset directory records to be reproduced and audited;
//! - [`diff`](mod@diff): rows only in A, only in B, in both, by a key and by domain.
//!
//! It evaluates no filter and matches no text itself: EXPRs become SQL through
//! `pairscope-expr`, queries run on `pairscope-query`, rows are read through `pairscope-sql`'s
//! table, and files are written by `pairscope_store::export`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod diff;
pub mod error;
pub mod manifest;
pub mod presets;
pub mod run;
pub mod udf;

pub use diff::{DiffKey, DiffReport, DiffRequest, diff};
pub use error::SubsetError;
pub use manifest::{SampleSpec, SubsetManifest};
pub use presets::{PRESETS, Preset, preset};
pub use run::{DedupKey, SubsetRequest, listed_rows, run_subset};
