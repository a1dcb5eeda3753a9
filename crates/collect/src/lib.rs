//! Collecting image–alt-text pairs from Common Crawl.
//!
//! This crate owns reading Common Crawl archives ([`archive`]: the gzip-member-per-record
//! stream and WARC headers; [`wat`]: the WAT JSON layout; [`html`]: the HTML of WARC responses),
//! extracting pairs the way LAION / cc2dataset did ([`extract`]: which links count, URL
//! resolution, `uid`, caption cleanup, the per-page opt-out signals `noai` / `noimageai` /
//! TDMRep `tdm-reservation`), the inputs ([`input`]: files, directories, list files, and
//! http(s) / s3 objects streamed through `pairscope_remote`), and a whole collect run ([`run`]:
//! dedup, each caption's language from `pairscope_langid`, parquet shards, resuming).
//!
//! Invariants:
//! - Bad input never panics and never stops a read: a damaged record is skipped and counted by
//!   reason ([`SkipReason`]), and reading resumes at the next gzip member. Only a failure of the
//!   underlying reader is an error ([`CollectError`]).
//! - Every pair carries the compressed offset of its record, so it can be traced back.
//! - Memory is bounded per record ([`ReadLimits`]), never per file.
//! - A run's output depends on its inputs and options only, never on `threads` or timing.
//!
//! The network is used only to read remote inputs (GET requests, nothing uploaded), and files
//! are written only under the run's output directory.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod archive;
pub mod error;
pub mod extract;
pub mod html;
pub mod input;
pub mod output;
pub mod run;
pub mod wat;

use std::io::Read;

pub use archive::{ReadLimits, ReadStats, Record, RecordReader, SkipReason};
pub use error::CollectError;
pub use extract::{ExtractOptions, ExtractStats, OptOut, Pair, clean_caption, uid};
pub use input::{Input, resolve_inputs};
pub use pairscope_remote::{Remote, parse_url};
pub use run::{CollectOptions, CollectReport, InputOutcome, InputStats, collect};

/// Which records a read extracts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Each record by its kind: WAT metadata records as WAT, WARC responses as HTML.
    #[default]
    Auto,
    /// WAT metadata records only.
    Wat,
    /// WARC response records only.
    Warc,
}

/// What reading one archive counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The records read and the records (or bytes) skipped, by reason.
    pub read: ReadStats,
    /// The pages and image links seen, the pairs found, and the links dropped, by reason.
    pub extract: ExtractStats,
}

/// Reads a whole gzipped WAT or WARC stream, handing each extracted pair to `on_pair` as it is
/// found: memory stays bounded by one record, whatever the size of the file.
pub fn extract_archive<R: Read>(
    reader: R,
    format: Format,
    options: &ExtractOptions,
    mut on_pair: impl FnMut(Pair),
) -> Result<ArchiveSummary, CollectError> {
    let mut records = RecordReader::new(reader);
    let mut read_skips = ReadStats::default();
    let mut extract = ExtractStats::default();
    for record in records.by_ref() {
        let record = record?;
        let done = match format {
            Format::Wat => wat_record(&record, options, &mut extract, &mut on_pair),
            Format::Warc => html::warc_pairs(&record, options, &mut extract, &mut on_pair),
            Format::Auto => match record.is_type("response") {
                true => html::warc_pairs(&record, options, &mut extract, &mut on_pair),
                false => wat_record(&record, options, &mut extract, &mut on_pair),
            },
        };
        if let Err((reason, detail)) = done {
            read_skips.skip(record.offset, reason, detail);
        }
    }
    let mut read = records.into_stats();
    read.absorb(read_skips);
    Ok(ArchiveSummary { read, extract })
}

fn wat_record(
    record: &Record,
    options: &ExtractOptions,
    stats: &mut ExtractStats,
    on_pair: &mut impl FnMut(Pair),
) -> Result<(), (SkipReason, String)> {
    if let Some(metadata) = wat::parse(record)? {
        extract::wat_pairs(record, &metadata, options, stats, on_pair);
    }
    Ok(())
}
