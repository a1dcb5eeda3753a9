//! Search, count, facets and row lookup over a dataset: the library API the CLI, the server and
//! the benchmarks call.
//!
//! This crate owns:
//! - [`parse`]: the QUERY language (words, phrases, AND / OR / NOT, prefix*, field:value);
//! - [`compile`]: QUERY and URL patterns → tantivy queries with exactly the text semantics of
//!   `pairscope_text::reference::alias_matches` (a phrase search for a name returns what a
//!   mention count counts);
//! - [`Engine`]: one dataset version with its block indexes open; [`Engine::search`] (sorted,
//!   cursor-paged, exact total), [`Engine::count`], [`Engine::facets`] (exact term counts and
//!   fixed-edge histograms), [`Engine::search_with_facets`] (a page, its total and several
//!   facets from one pass over the matching rows), [`Engine::get`] (a row by id) and
//!   [`Engine::similar`] (nearest neighbours by embedding, [`similar`]),
//!   [`Engine::near_duplicates`] (groups of rows whose embeddings are alike, [`dups`]);
//! - how `--where` (the `pairscope-expr` filter language, the one evaluator) runs over the
//!   index's fast fields, or over the parquet rows for columns the index does not keep.
//!
//! Every call takes [`Limits`]: its deadline is checked between batches of documents (tantivy
//! has no query timeout of its own), page sizes, facet sizes and query sizes are capped, and
//! a prefix that stands for too many words is refused rather than truncated.
//!
//! It must never write to a dataset and never match text any other way than through
//! `pairscope-text` and `pairscope_index::units`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

mod columns;
pub mod compile;
pub mod dups;
mod engine;
pub mod error;
pub mod facets;
mod ordinals;
mod page;
pub mod parse;
mod rows;
pub mod search;
pub mod similar;

pub use dups::{DupsRequest, NearDuplicates};
pub use engine::{Engine, Limits, MAX_PARQUET_FILTER_ROWS, Selection};
pub use error::{QueryError, Result};
pub use facets::{Bucket, Facet, FacetBy, MAX_TOP, TermCount};
pub use page::FacetedPage;
pub use search::{Hit, MAX_LIMIT, SearchPage, SearchRequest, SortBy};
pub use similar::{Neighbour, SimilarBatchRequest, SimilarHit, SimilarPage, SimilarRequest, SimilarTo};
