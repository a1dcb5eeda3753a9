//! The pairscope dataset on disk.
//!
//! This crate owns the storage layout, the manifest (what a dataset version consists of), the
//! block files' format ([`blocks`]), and the single-writer commit protocol ([`writer`]) that
//! every command changing a dataset goes through. Turning the parquet files people have into
//! canonical rows is `pairscope-ingest`'s.
//!
//! Layout of a dataset directory `DS/`:
//!
//! ```text
//! DS/CURRENT                       the committed version number; replaced atomically (the commit point)
//! DS/versions/v00000007.json       the manifest of each version: sources, files, column mappings,
//!                                  settings, PSL version (immutable once written)
//! DS/sources/<id16>/block-NNNNN.parquet
//!                                  canonical rows of one source file, one file per row-id block
//!                                  (2^20 source rows), in source order, so row_id ascends in a file;
//!                                  zstd (the 64-row url, caption and page_url pages Snappy), 128k-row
//!                                  row groups, page-level statistics; canonical columns, then extras
//! DS/sources/<id16>/index-NNNNN/   the block's full-text index (`pairscope-index`, one segment in
//!                                  one file, index.bundle): document n is row n of
//!                                  block-NNNNN.parquet; published with it
//! DS/sources/<id16>/source.json    the source's entry, written last: a complete staged source
//! DS/overlays/<id16>-NNNNN-vNNNNNNNN.columnar
//!                                  values laid over block NNNNN's rows after ingest ([`overlay`]),
//!                                  written by version vN, at most one per block in a version
//! DS/vectors/<kind>/<id16>-NNNNN-vNNNNNNNN.f16
//!                                  embeddings of block NNNNN's rows (`pairscope-vectors`' file:
//!                                  float16, unit-normalised, all zeros for a row without one),
//!                                  written by version vN, at most one per block and kind
//! DS/vectors/<kind>/ivfpq-vNNNNNNNN.trained
//!                                  the vector index's model (coarse quantizer, codebooks), trained once
//! DS/vectors/<kind>/<id16>-NNNNN-vNNNNNNNN.ivfpq
//!                                  the block's inverted lists of that index (`pairscope-ann`'s file)
//! DS/cache/<kind>/v{N}-<key>       what readers computed once for version N and kept ([`cache`]:
//!                                  mention counts, the overview, global ordinals; never needed)
//! DS/LOCK                          held (flock) by the one writer
//! ```
//!
//! Invariants:
//! - Files under `sources/` are written once, under a temporary name, fsynced and renamed;
//!   they are never modified. A version is the set of sources its manifest lists.
//! - A writer holds `LOCK`; readers never take it. Readers read `CURRENT` and then the immutable
//!   manifest it names, so they always see a whole version, and keep reading it while a writer
//!   commits the next one.
//! - Commit = write the new manifest, then replace `CURRENT`. A process killed at any moment
//!   leaves the last committed version; what it staged is reused or removed by the next writer.
//!
//! This crate never reads foreign schemas (that is `pairscope-ingest`), never interprets
//! captions (that is `pairscope-text`) and never filters rows (that is `pairscope-expr` and the
//! query crates).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod blocks;
pub mod cache;
pub mod dataset;
pub mod error;
pub mod layout;
pub mod manifest;
pub mod overlay;
pub mod writer;

pub use dataset::{Dataset, with_missing_columns};
pub use error::StoreError;
pub use layout::Layout;
pub use manifest::{AddedColumn, BlockFile, Manifest, OverlayEntry, SourceEntry, VECTOR_KINDS, VectorIndex, VectorSet};
pub use writer::{DatasetWriter, StagedSource};
