//! Collecting image–alt-text pairs from Common Crawl.
//!
//! This crate owns reading Common Crawl archives ([`wat`]: the gzip-member-per-record stream,
//! WARC headers, the WAT JSON layout), extracting pairs the way LAION / cc2dataset did
//! ([`extract`]: which links count, URL resolution, `uid`), caption cleanup, and the per-page
//! opt-out signals (`noai` / `noimageai` robots directives, TDMRep `tdm-reservation`).
//!
//! Invariants:
//! - Bad input never panics and never stops a read: a damaged record is skipped and counted by
//!   reason ([`SkipReason`]), and reading resumes at the next gzip member. Only a failure of the
//!   underlying reader is an error ([`CollectError`]).
//! - Every pair carries the compressed offset of its record, so it can be traced back.
//! - Memory is bounded per record ([`ReadLimits`]), never per file.
//!
//! This crate never writes a dataset: pairs go to the caller, and to disk only through the
//! parquet shards of the store. It never fetches anything over the network either.

pub mod error;
pub mod extract;
pub mod wat;

use std::io::Read;

pub use error::CollectError;
pub use extract::{ExtractOptions, ExtractStats, OptOut, Pair, clean_caption, extract_pairs, uid};
pub use wat::{ReadLimits, ReadStats, SkipReason, WatReader, WatRecord};

/// What reading one WAT stream counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatSummary {
    pub read: ReadStats,
    pub extract: ExtractStats,
}

/// Reads a whole `.wat.gz` stream, handing each extracted pair to `on_pair` as it is found:
/// memory stays bounded by one record, whatever the size of the file.
pub fn extract_wat<R: Read>(
    reader: R,
    options: &ExtractOptions,
    mut on_pair: impl FnMut(Pair),
) -> Result<WatSummary, CollectError> {
    let mut records = WatReader::new(reader);
    let mut summary = WatSummary::default();
    for record in records.by_ref() {
        extract_pairs(&record?, options, &mut summary.extract).into_iter().for_each(&mut on_pair);
    }
    summary.read = records.into_stats();
    Ok(summary)
}
