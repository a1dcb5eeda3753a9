//! `ingest`: parquet files in, a new committed dataset version out, in three phases:
//!
//! 1. **Inputs** (`inputs.rs`): the files the arguments name (files, directories searched
//!    for `*.parquet`, glob patterns), each identified by the BLAKE3 of its bytes, in parallel. A
//!    file the dataset already has (under any name) is reported and left alone: ingest is
//!    idempotent.
//! 2. **Sources** (`source.rs`): each new file is converted into a staged source (block
//!    files and indexes), files in parallel; a source fully staged by a killed run with the same
//!    settings is reused instead of read again.
//! 3. **Commit**: the store's single-writer commit ([`DatasetWriter::commit`]) makes the staged
//!    sources a version, or nothing: a failed ingest removes what it staged.
//!
//! Memory is per worker (`threads` files at once): see `source.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use pairscope_io::parallel;
use pairscope_model::Progress;
use pairscope_store::manifest::SourceSettings;
use pairscope_store::{DatasetWriter, SourceEntry};

use crate::error::{BadInput, IngestError, Result};
use crate::inputs::{expand_inputs, hash_file};
use crate::mapping::validate_settings;
use crate::source::stage_source;

/// How to ingest: the column mapping's overrides and constants, limits, and what to do with
/// bad input.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// `--map canonical=source`.
    pub overrides: BTreeMap<String, String>,
    /// `--set canonical=value`.
    pub constants: BTreeMap<String, String>,
    /// Captions longer than this many bytes are cut (at a character boundary) and counted.
    pub max_caption_bytes: usize,
    /// Skip (count and list) files that cannot be read instead of failing the ingest.
    pub skip_bad: bool,
    /// Files processed at once.
    pub threads: usize,
    /// Refuse a file with a value ingest would store as null (a negative size, an infinite
    /// score, …) instead of counting it.
    pub strict: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            overrides: BTreeMap::new(),
            constants: BTreeMap::new(),
            max_caption_bytes: 64 * 1024,
            skip_bad: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            strict: false,
        }
    }
}

/// What an ingest did.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// The version before the ingest.
    pub version_before: u64,
    /// The version after (equal to `version_before` when nothing changed).
    pub version: u64,
    /// The sources the new version added, with their counts.
    pub added: Vec<SourceEntry>,
    /// Inputs whose content the dataset already had: (path, source id).
    pub already_present: Vec<(PathBuf, String)>,
    /// Files skipped with `--skip-bad`.
    pub bad_files: Vec<BadInput>,
}

impl IngestReport {
    /// Rows the new version added.
    pub fn rows_added(&self) -> u64 {
        self.added.iter().map(|s| s.rows).sum()
    }

    /// Skipped rows by reason, over the added sources.
    pub fn rows_skipped(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for (reason, n) in self.added.iter().flat_map(|s| &s.skipped_rows) {
            *total.entry(reason.clone()).or_insert(0) += n;
        }
        total
    }

    /// Values stored as null by `column: reason`, over the added sources.
    pub fn nulled_values(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for (reason, n) in self.added.iter().flat_map(|s| &s.nulled_values) {
            *total.entry(reason.clone()).or_insert(0) += n;
        }
        total
    }

    /// Captions cut to `max_caption_bytes`, over the added sources.
    pub fn truncated_captions(&self) -> u64 {
        self.added.iter().map(|s| s.truncated_captions).sum()
    }

    /// Inputs (files and rows) that were skipped: non-zero means exit code 3.
    pub fn skipped_inputs(&self) -> u64 {
        self.bad_files.len() as u64 + self.rows_skipped().values().sum::<u64>()
    }
}

/// Ingests `inputs` (files, directories searched for `*.parquet`, glob patterns) into the
/// dataset at `root`, creating it if needed.
pub fn ingest(
    root: &Path,
    inputs: &[String],
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    validate_settings(&options.overrides, &options.constants).map_err(IngestError::usage)?;
    let settings = SourceSettings {
        overrides: options.overrides.iter().map(|(k, v)| (k.clone(), v.to_lowercase())).collect(),
        constants: options.constants.clone(),
        max_caption_bytes: options.max_caption_bytes,
    };
    let files = expand_inputs(inputs)?;
    let writer = DatasetWriter::open(root)?;
    let previous = writer.committed();
    let mut report = IngestReport { version_before: previous.version, version: previous.version, ..Default::default() };
    progress.set_total_bytes(files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum());

    // Phase 1: identify every input by content; unreadable files are bad input.
    let hashed = parallel::map(files.len(), options.threads, |i| hash_file(&files[i]));
    let mut pending: Vec<(PathBuf, String)> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for (path, hash) in files.iter().zip(hashed) {
        match hash {
            Err(bad) => report.bad_files.push(bad),
            Ok(id) if previous.source(&id).is_some() || seen.contains_key(&id) => {
                report.already_present.push((path.clone(), id));
            }
            Ok(id) => {
                seen.insert(id.clone(), path.clone());
                pending.push((path.clone(), id));
            }
        }
    }

    // Phase 2: stage the new sources.
    let staged = parallel::map(pending.len(), options.threads, |i| {
        let (path, id) = &pending[i];
        stage_source(&writer, path, id, &settings, options.strict, progress)
    });
    let mut added = Vec::new();
    let mut staged_now = Vec::new();
    let mut failure = None;
    for result in staged {
        match result {
            Ok((entry, reused)) => {
                if !reused {
                    staged_now.push(entry.id.clone());
                }
                added.push(entry);
            }
            Err(IngestError::BadInput(bad)) => report.bad_files.push(bad),
            Err(other) => failure = failure.or(Some(other)),
        }
    }
    if failure.is_none() && !options.skip_bad && !report.bad_files.is_empty() {
        failure = Some(IngestError::BadInput(report.bad_files.remove(0)));
    }
    if let Some(e) = failure {
        writer.discard(&staged_now);
        return Err(e);
    }

    // Phase 3: commit.
    if !added.is_empty() {
        let mut sources = previous.sources.clone();
        sources.extend(added.iter().cloned());
        if let Err(e) = writer.check(&sources) {
            writer.discard(&staged_now);
            return Err(e.into());
        }
        report.version = writer.commit(sources)?.version;
    }
    report.added = added;
    Ok(report)
}
