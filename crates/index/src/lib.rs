//! The full-text index of captions: one tantivy index per row-id block of a source.
//!
//! This crate owns:
//! - [`schema`]: the tantivy schema (caption text with positions, the accent-folded caption,
//!   URL keys, and the filter/sort/facet columns as fast fields) and its format number;
//! - [`units`]: how a canonical form becomes index terms and positions — shared by the
//!   indexer and the query compiler, so they always agree;
//! - [`tokenizer`]: the tantivy tokenizer, which is `pairscope_text`'s normalisation followed
//!   by [`units`] (no other text processing happens here);
//! - [`writer`] / [`reader`]: building one block's index next to its parquet file, and
//!   opening it — through tantivy directories of its own: one that syncs nothing while the
//!   index is staged, and a read-only one that takes no lock and reads small files whole
//!   ([`READ_WHOLE_BYTES`]) rather than mapping them;
//! - [`bundle`]: a published index as one file (its files end to end, with their table), so
//!   opening a block is one open and at most one mapping.
//!
//! Invariants:
//! - A block index holds exactly the rows of its block file, in the same order: document `n`
//!   is row `n` of `block-NNNNN.parquet`. It is one segment in one bundle, written once — its inverted and
//!   columnar halves by two threads at once, whatever the caller's thread count — under a
//!   segment id the caller derives from the block, so the same rows give the same bytes; it is
//!   never modified, and the store publishes it atomically with the block.
//! - Missing values stay missing (a fast field without a value), never 0.
//!
//! It must never decide what a query means (that is `pairscope-query`), never read parquet
//! and never normalise text any other way than through `pairscope-text`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod bundle;
mod directory;
pub mod error;
pub mod reader;
pub mod schema;
pub mod tokenizer;
pub mod units;
pub mod writer;

pub use directory::READ_WHOLE_BYTES;
pub use error::{IndexError, Result};
pub use reader::BlockIndex;
pub use schema::{INDEX_FORMAT, IndexFields};
pub use writer::{BlockIndexWriter, MAX_URL_KEY_BYTES, url_key};

/// Re-exported so the query crate builds terms and queries with the same tantivy.
pub use tantivy;
