//! Embeddings: the vectors LAION published for its images and captions, read and stored.
//!
//! This crate owns:
//! - [`dot`]: the inner product every exact score goes through, vectorised for the CPU it runs on;
//! - [`npy`]: reading clip-retrieval's embedding files (`img_emb/img_emb_N.npy`, an `N × D`
//!   matrix of float16 or float32 whose row `i` belongs to row `i` of
//!   `metadata/metadata_N.parquet`), every claim of the header checked against the file;
//! - [`store`]: the vector file of one block: its rows' vectors, unit-normalised, as float16,
//!   memory-mapped by readers (cosine similarity = inner product, as clip-retrieval).
//!
//! It never joins vectors to rows (the ingest does, by the key the metadata carries) and never
//! reads a dataset's manifest.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod dot;
pub mod npy;
pub mod store;
