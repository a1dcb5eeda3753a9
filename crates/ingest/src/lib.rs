//! `pairscope ingest`: the parquet files people have (LAION-5B, LAION-2B-en, LAION-Aesthetics,
//! COYO-700M, DataComp, img2dataset and cc2dataset output) turned into canonical pairscope rows
//! and committed as a new dataset version.
//!
//! This crate owns reading foreign schemas: which source column feeds which canonical column
//! ([`mapping`]), converting values (types unified, bad values nulled and counted, rows without
//! url or caption dropped and counted: `convert`), and the ingest pipeline ([`run`]: inputs,
//! sources, commit), taking a fetch's measurements back into the rows they came from
//! ([`fetched`]), and attaching published embeddings to their rows ([`embeddings`]). Where bytes go on disk, the block files' format and the commit protocol
//! are `pairscope-store`'s ([`pairscope_store::writer`], [`pairscope_store::blocks`]): this
//! crate never writes a dataset file itself.
//!
//! Invariants: a source is identified by the BLAKE3 of its bytes, so ingesting a file again
//! (under any name) changes nothing; a bad file is named with its row group, row and column
//! ([`BadInput`]), never a panic; an ingest commits all of its sources or none.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

mod convert;
pub mod embeddings;
pub mod error;
pub mod fetched;
mod inputs;
pub mod mapping;
pub mod run;
mod source;

pub use embeddings::{EmbeddingOptions, EmbeddingReport, ingest_embeddings};
pub use error::{BadInput, IngestError};
pub use fetched::{FetchedReport, ingest_fetched};
pub use run::{IngestOptions, IngestReport, ingest};
pub use source::MAX_SOURCE_COLUMNS;
