//! `ingest`: parquet files in, a new committed dataset version out.
//!
//! Streaming and bounded: each worker holds a few input batches (decoding runs ahead on its own
//! thread through a bounded channel), one output row group ([`ROW_GROUP_ROWS`] canonical rows,
//! plus the source's extra columns) and the indexes of at most two blocks (the open one, and the
//! one before it finishing; each built by two threads, `pairscope_index::writer`) at a time,
//! whatever the size of the input: one file keeps two cores busy. Idempotent: sources are
//! identified by the BLAKE3 of their bytes, so the same file again (under any name) changes
//! nothing. Atomic: everything is staged under `sources/` and becomes visible only when `CURRENT`
//! is replaced; a source fully staged by a killed run is picked up again instead of being re-read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::BufWriter;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use pairscope_model::row_id::{BLOCK_ROWS, block_key};
use pairscope_model::{CANONICAL_COLUMNS, Progress, panic_message};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use pairscope_index::{BlockIndexWriter, INDEX_FORMAT};
use pairscope_io::durable::{fsync_dir, temp_path, write_atomic};
use pairscope_io::path::resolve;
use pairscope_io::{parallel, walk};

use crate::convert::Converter;
use crate::dataset::{WriterLock, commit, committed_manifest};
use crate::error::{BadInput, Result, StoreError};
use crate::layout::{Layout, block_file_name, block_index_name};
use crate::manifest::{DataFile, ExtraColumn, Manifest, SourceEntry, SourceSettings, source_hash};
use crate::mapping::{ColumnMapping, validate_settings};

/// Rows per output row group: large enough for scan speed, small enough that a point lookup
/// by row id decodes little.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Canonical columns whose values are (nearly) all distinct: the scores too, which are
/// continuous. A dictionary of 2^17 distinct doubles per row group is larger than the plain
/// values, and interning them cost 2% of ingest's instructions.
const HIGH_CARDINALITY: &[&str] = &[
    "row_id",
    "url",
    "caption",
    "page_url",
    "sample_id",
    "image_sha256",
    "hash",
    "similarity",
    "punsafe",
    "pwatermark",
    "aesthetic",
];
/// Text columns whose values are unique and unordered.
const UNORDERED_TEXT: &[&str] = &["url", "caption", "page_url", "sample_id", "image_sha256", "hash"];
/// Text columns read by position at query time, and the page size they are written with.
const TEXT_COLUMNS: &[&str] = &["url", "caption", "page_url"];
const TEXT_PAGE_BYTES: usize = 4 * 1024;
const TEXT_PAGE_ROWS: usize = 64;
/// Columns a source file may have. Every column costs ingest tens of KiB (its decoder, its
/// column writer and their buffers) and costs every later query over the dataset, so a file
/// with 40,000 columns would need gigabytes. LAION-family files have fewer than 100.
pub const MAX_SOURCE_COLUMNS: usize = 1024;
/// Distinct column names a dataset may have (canonical and extra, over all its sources): SQL
/// plans over the union of every source's columns, and that union is what every query pays for.
pub const MAX_DATASET_COLUMNS: usize = 4096;
/// Rows per batch read from a source. Divides [`BLOCK_ROWS`], so batches rarely straddle blocks.
const BATCH_ROWS: usize = 8192;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// `--map canonical=source`.
    pub overrides: BTreeMap<String, String>,
    /// `--set canonical=value`.
    pub constants: BTreeMap<String, String>,
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
    /// The version before, and after (equal when nothing changed).
    pub version_before: u64,
    pub version: u64,
    pub added: Vec<SourceEntry>,
    /// Inputs whose content the dataset already had: (path, source id).
    pub already_present: Vec<(PathBuf, String)>,
    /// Files skipped with `--skip-bad`.
    pub bad_files: Vec<BadInput>,
}

impl IngestReport {
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
    validate_settings(&options.overrides, &options.constants).map_err(StoreError::Usage)?;
    let settings = SourceSettings {
        overrides: options.overrides.iter().map(|(k, v)| (k.clone(), v.to_lowercase())).collect(),
        constants: options.constants.clone(),
        max_caption_bytes: options.max_caption_bytes,
    };
    let files = expand_inputs(inputs)?;
    let layout = Layout::new(root);
    let lock = WriterLock::acquire(&layout)?;
    let previous = committed_manifest(&layout)?;
    let mut report = IngestReport { version_before: previous.version, version: previous.version, ..Default::default() };

    let total_bytes = files.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum();
    progress.set_total_bytes(total_bytes);

    // Identify every input by content, in parallel; unreadable files are bad input.
    let hashed = parallel::map(files.len(), options.threads, |i| hash_file(&files[i]));
    let mut pending: Vec<(PathBuf, String)> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for (path, hash) in files.iter().zip(hashed) {
        match hash {
            Err(bad) => report.bad_files.push(bad),
            Ok(id) => {
                if previous.source(&id).is_some() || seen.contains_key(&id) {
                    report.already_present.push((path.clone(), id));
                } else {
                    seen.insert(id.clone(), path.clone());
                    pending.push((path.clone(), id));
                }
            }
        }
    }

    fs::create_dir_all(layout.sources()).map_err(StoreError::io(&layout.sources()))?;
    let staged = parallel::map(pending.len(), options.threads, |i| {
        let (path, id) = &pending[i];
        stage_source(&layout, path, id, &settings, options.strict, progress)
    });
    let mut added = Vec::new();
    let mut staged_now = Vec::new();
    for result in staged {
        match result {
            Ok((entry, reused)) => {
                if !reused {
                    staged_now.push(layout.source_dir(&entry.id));
                }
                added.push(entry);
            }
            Err(StoreError::BadInput(bad)) => report.bad_files.push(bad),
            Err(other) => {
                discard(&staged_now);
                return Err(other);
            }
        }
    }
    if !options.skip_bad && !report.bad_files.is_empty() {
        discard(&staged_now);
        let first = report.bad_files.remove(0);
        return Err(StoreError::BadInput(first));
    }
    if let Err(e) = check_block_keys(&previous, &added).and_then(|()| check_columns(&previous, &added)) {
        discard(&staged_now);
        return Err(e);
    }

    if !added.is_empty() {
        let mut sources = previous.sources.clone();
        sources.extend(added.iter().cloned());
        let manifest = commit(&lock, &layout, &previous, sources)?;
        report.version = manifest.version;
    }
    report.added = added;
    Ok(report)
}

/// Takes sources out of the dataset: `selector` is a source id (or a unique prefix of at
/// least 8 hex digits) or the path a source was ingested from, as recorded or in any spelling
/// that resolves to it. Returns the removed entries.
pub fn remove_sources(root: &Path, selectors: &[String]) -> Result<(Manifest, Vec<SourceEntry>)> {
    let layout = Layout::new(root);
    let lock = WriterLock::acquire(&layout)?;
    let previous = committed_manifest(&layout)?;
    if previous.version == 0 {
        return Err(StoreError::NotADataset(root.to_path_buf()));
    }
    let mut removed = Vec::new();
    for selector in selectors {
        let resolved = resolve(Path::new(selector)).ok();
        let matches: Vec<&SourceEntry> = previous
            .sources
            .iter()
            .filter(|s| {
                (selector.len() >= 8 && s.id.starts_with(selector.as_str()))
                    || s.path == *selector
                    || resolved.as_ref().is_some_and(|path| path.as_os_str() == s.path.as_str())
            })
            .collect();
        match matches.as_slice() {
            [one] => removed.push((*one).clone()),
            [] => return Err(StoreError::UnknownSource(selector.clone())),
            _ => {
                return Err(StoreError::Usage(format!(
                    "{selector:?} matches {} sources; give more of the id",
                    matches.len()
                )));
            }
        }
    }
    let kept = previous.sources.iter().filter(|s| !removed.iter().any(|r| r.id == s.id)).cloned().collect();
    let manifest = commit(&lock, &layout, &previous, kept)?;
    Ok((manifest, removed))
}

fn discard(dirs: &[PathBuf]) {
    for dir in dirs {
        if let Err(e) = fs::remove_dir_all(dir) {
            tracing::warn!("could not remove staged {}: {e}", dir.display());
        }
    }
}

/// Files named by `inputs`, sorted and without repeats.
fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(StoreError::Usage("no input files given".into()));
    }
    let mut files = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        let before = files.len();
        if path.exists() || !input.contains(['*', '?', '[']) {
            add_input(path, &mut files)?;
        } else {
            glob_inputs(input, &mut files)?;
        }
        if files.len() == before {
            return Err(StoreError::NoInput(input.clone()));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// A directory's `*.parquet` files, or the regular file `path` names.
fn add_input(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let walked = if path.is_dir() {
        walk::files_under(path, &is_parquet).map(|found| files.extend(found))
    } else {
        walk::regular_file(path).map(|()| files.push(path.to_path_buf()))
    };
    walked.map_err(walk_error)
}

/// The inputs a glob pattern names: matching files, and the `*.parquet` files of matching
/// directories. A pattern with `**` is matched against a walk of the directory before its first
/// wildcard, because the glob crate follows `**` through symlink loops without end;
/// [`walk::files_under`] reads each directory once.
fn glob_inputs(input: &str, files: &mut Vec<PathBuf>) -> Result<()> {
    let bad_pattern = |e: glob::PatternError| StoreError::Usage(format!("bad pattern {input:?}: {e}"));
    if !input.contains("**") {
        for entry in glob::glob(input).map_err(bad_pattern)? {
            let entry = entry.map_err(|e| StoreError::Io { path: e.path().to_path_buf(), source: e.into() })?;
            add_input(&entry, files)?;
        }
        return Ok(());
    }
    let pattern = glob::Pattern::new(input).map_err(bad_pattern)?;
    // As glob::glob matches: a wildcard never crosses a `/`.
    let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
    let base: PathBuf = Path::new(input)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    let root = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
    // Paths as the pattern spells them: without the `./` a walk of the working directory adds.
    let spelled = |path: &Path| -> PathBuf {
        if base.as_os_str().is_empty() {
            path.strip_prefix(".").unwrap_or(path).to_path_buf()
        } else {
            path.to_path_buf()
        }
    };
    let wanted = |path: &Path| {
        let path = spelled(path);
        pattern.matches_path_with(&path, options)
            || is_parquet(&path)
                && path
                    .ancestors()
                    .skip(1)
                    .take_while(|dir| *dir != base && !dir.as_os_str().is_empty())
                    .any(|dir| pattern.matches_path_with(dir, options))
    };
    let found = walk::files_under(root, &wanted).map_err(walk_error)?;
    files.extend(found.iter().map(|path| spelled(path)));
    Ok(())
}

fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn walk_error(e: walk::WalkError) -> StoreError {
    StoreError::Io { path: e.path, source: e.source }
}

fn hash_file(path: &Path) -> Result<String, BadInput> {
    let mut hasher = blake3::Hasher::new();
    let file = File::open(path).map_err(|e| BadInput::new(path, format!("cannot open: {e}")))?;
    hasher.update_reader(file).map_err(|e| BadInput::new(path, format!("cannot read: {e}")))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Stages one source under `sources/<id16>/`, or reuses what a killed run staged with the same
/// settings. Returns its entry and whether it was reused.
fn stage_source(
    layout: &Layout,
    path: &Path,
    id: &str,
    settings: &SourceSettings,
    strict: bool,
    progress: &dyn Progress,
) -> Result<(SourceEntry, bool)> {
    let dir = layout.source_dir(id);
    if let Ok(entry) = SourceEntry::read(&dir.join("source.json"))
        && entry.id == id
        && entry.settings == *settings
        && entry.index_format == INDEX_FORMAT
        // Staged without --strict: staging it again finds the value to refuse.
        && !(strict && !entry.nulled_values.is_empty())
    {
        tracing::info!(path = %path.display(), "reusing the staged copy of this source");
        progress.advance(entry.input_rows, entry.bytes);
        return Ok((entry, true));
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(StoreError::io(&dir))?;
    }
    let tmp = temp_path(&dir);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
    let result = catch_unwind(AssertUnwindSafe(|| write_source(&tmp, path, id, settings, strict, progress)))
        .unwrap_or_else(|panic| {
            let message = panic_message(&panic);
            Err(StoreError::BadInput(BadInput::new(
                path,
                format!("the parquet reader failed on this file (corrupt?): {message}"),
            )))
        });
    let entry = match result {
        Ok(entry) => entry,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let json = serde_json::to_vec_pretty(&entry).expect("entries serialise");
    let entry_path = tmp.join("source.json");
    write_atomic(&entry_path, &json).map_err(StoreError::io(&entry_path))?;
    fs::rename(&tmp, &dir).map_err(StoreError::io(&dir))?;
    fsync_dir(&layout.sources()).map_err(StoreError::io(&layout.sources()))?;
    Ok((entry, false))
}

/// Reads `path` and writes its canonical rows into `dir`, one file per row-id block.
fn write_source(
    dir: &Path,
    path: &Path,
    id: &str,
    settings: &SourceSettings,
    strict: bool,
    progress: &dyn Progress,
) -> Result<SourceEntry> {
    let bad = |reason: String| StoreError::BadInput(BadInput::new(path, reason));
    let file = File::open(path).map_err(StoreError::io(path))?;
    let bytes = file.metadata().map_err(StoreError::io(path))?.len();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(format!("not a readable parquet file: {e}")))?;
    // Counted from the footer before anything is decoded: the limit is what bounds memory.
    let columns = builder.parquet_schema().num_columns();
    if columns > MAX_SOURCE_COLUMNS {
        return Err(bad(format!(
            "has {columns} columns; pairscope ingests at most {MAX_SOURCE_COLUMNS} per file, because every \
             column costs memory at ingest and time in every later query (LAION-family files have fewer \
             than 100); write the columns you need to a new file"
        )));
    }
    let metadata = builder.metadata().clone();
    let input_rows = metadata.file_metadata().num_rows().max(0) as u64;
    let row_group_ends: Vec<u64> = metadata
        .row_groups()
        .iter()
        .scan(0u64, |end, rg| {
            *end += rg.num_rows().max(0) as u64;
            Some(*end)
        })
        .collect();
    let row_group_of =
        |row: u64| row_group_ends.iter().position(|end| row < *end).unwrap_or(row_group_ends.len().saturating_sub(1));
    let source_schema = builder.schema().clone();
    let mapping = ColumnMapping::resolve(&source_schema, &settings.overrides, &settings.constants).map_err(|e| {
        let mut b = BadInput::new(path, e.reason);
        b.column = e.column;
        StoreError::BadInput(b)
    })?;
    let source_hash = parse_hash(id);
    let mut converter =
        Converter::new(path, source_schema.clone(), &mapping, source_hash, settings.max_caption_bytes, strict);
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(|e| bad(format!("cannot read: {e}")))?;

    let mut blocks = BlockWriter::new(dir, id, converter.out_schema().clone());
    let mut skipped_rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut nulled_values: BTreeMap<String, u64> = BTreeMap::new();
    let mut truncated = 0;
    let mut next_row: u64 = 0;
    // Decoding runs on its own thread, a few batches ahead of conversion and encoding, so one
    // large file uses two cores; the bounded channel keeps memory at a few batches.
    std::thread::scope(|scope| -> Result<()> {
        let (sender, batches) = std::sync::mpsc::sync_channel::<Decoded>(4);
        scope.spawn(move || {
            let decode = catch_unwind(AssertUnwindSafe(|| {
                for batch in reader {
                    let failed = batch.is_err();
                    if sender.send(batch.map_err(|e| e.to_string())).is_err() || failed {
                        return;
                    }
                }
            }));
            if let Err(panic) = decode {
                let _ = sender.send(Err(format!("the parquet reader panicked: {}", panic_message(&panic))));
            }
        });
        for batch in batches {
            let batch = batch.map_err(|e| {
                let row_group = row_group_of(next_row);
                let mut located = BadInput::new(path, format!("cannot decode: {e}")).row_group(row_group).row(next_row);
                located.column = locate_bad_column(path, row_group);
                StoreError::BadInput(located)
            })?;
            let rows = batch.num_rows() as u64;
            // Split at block boundaries so each piece's row ids share one block.
            let mut offset = 0u64;
            while offset < rows {
                let start = next_row + offset;
                let take = (rows - offset).min(BLOCK_ROWS - start % BLOCK_ROWS);
                let piece = batch.slice(offset as usize, take as usize);
                let converted = converter.convert(&piece, start).map_err(|mut b| {
                    b.row_group = b.row.map(row_group_of);
                    StoreError::BadInput(b)
                })?;
                for (reason, n) in converted.skipped {
                    *skipped_rows.entry(reason.to_string()).or_insert(0) += n;
                }
                for (reason, n) in converted.nulled {
                    *nulled_values.entry(reason).or_insert(0) += n;
                }
                truncated += converted.truncated;
                blocks.write(start / BLOCK_ROWS, &converted.batch)?;
                offset += take;
            }
            next_row += rows;
            progress.advance(rows, bytes.saturating_mul(rows) / input_rows.max(1));
        }
        Ok(())
    })?;
    if next_row != input_rows {
        return Err(bad(format!("the footer promises {input_rows} rows but {next_row} could be read")));
    }
    let files = blocks.finish()?;
    Ok(SourceEntry {
        id: id.to_string(),
        path: path.display().to_string(),
        bytes,
        input_rows,
        rows: files.iter().map(|f| f.rows).sum(),
        skipped_rows,
        nulled_values,
        truncated_captions: truncated,
        ingested_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        index_format: INDEX_FORMAT,
        settings: settings.clone(),
        mapping: mapping.describe(&source_schema),
        extra_columns: mapping
            .extras
            .iter()
            .map(|e| ExtraColumn {
                name: e.name.clone(),
                source_name: source_schema.field(e.index).name().clone(),
                data_type: source_schema.field(e.index).data_type().to_string(),
            })
            .collect(),
        files,
    })
}

/// After a decode error in `row_group`, finds the first column that fails alone, so the error
/// can name it. Best effort: `None` when no single column fails.
fn locate_bad_column(path: &Path, row_group: usize) -> Option<String> {
    let columns = {
        let file = File::open(path).ok()?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
        builder.parquet_schema().columns().len()
    };
    for leaf in 0..columns {
        let outcome = catch_unwind(AssertUnwindSafe(|| -> Option<String> {
            let file = File::open(path).ok()?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
            let name = builder.parquet_schema().column(leaf).path().string();
            let mask = ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
            let reader = builder.with_projection(mask).with_row_groups(vec![row_group]).build().ok()?;
            for batch in reader {
                if batch.is_err() {
                    return Some(name);
                }
            }
            None
        }));
        match outcome {
            Ok(Some(name)) => return Some(name),
            Ok(None) => {}
            Err(_) => {
                let file = File::open(path).ok()?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
                return Some(builder.parquet_schema().column(leaf).path().string());
            }
        }
    }
    None
}

/// A decoded batch, or why decoding stopped.
type Decoded = std::result::Result<RecordBatch, String>;

/// The hash of a source id ingest computed, or one of a manifest (validated when read).
fn parse_hash(id: &str) -> [u8; 32] {
    source_hash(id).expect("ids are BLAKE3 hex: computed by ingest or checked when their manifest was read")
}

/// Refuses sources whose row-id blocks would collide with the dataset's or each other's.
fn check_block_keys(previous: &Manifest, added: &[SourceEntry]) -> Result<()> {
    let mut owners: HashMap<u64, &str> = HashMap::new();
    for source in previous.sources.iter().chain(added) {
        let blocks = source.input_rows.div_ceil(BLOCK_ROWS).max(1);
        for block in 0..blocks {
            let key = block_key(&parse_hash(&source.id), block);
            if let Some(existing) = owners.insert(key, &source.path)
                && existing != source.path
            {
                return Err(StoreError::RowIdCollision { new: source.path.clone(), existing: existing.to_string() });
            }
        }
    }
    Ok(())
}

/// Refuses sources that would give the dataset more than [`MAX_DATASET_COLUMNS`] columns.
fn check_columns(previous: &Manifest, added: &[SourceEntry]) -> Result<()> {
    let mut names: HashSet<&str> = CANONICAL_COLUMNS.iter().map(|c| c.name).collect();
    for source in previous.sources.iter().chain(added) {
        names.extend(source.extra_columns.iter().map(|e| e.name.as_str()));
        if names.len() > MAX_DATASET_COLUMNS {
            return Err(StoreError::BadInput(BadInput::new(
                Path::new(&source.path),
                format!(
                    "its columns would give the dataset more than {MAX_DATASET_COLUMNS} distinct columns, \
                     which every query over it pays for; ingest it into a dataset of its own"
                ),
            )));
        }
    }
    Ok(())
}

/// Writes a source's canonical rows, one parquet file and one full-text index per row-id
/// block.
struct BlockWriter<'a> {
    dir: &'a Path,
    id: &'a str,
    schema: SchemaRef,
    open: Option<OpenBlock>,
    /// The block before the open one: its parquet file is written, its index is finishing.
    sealed: Option<SealedBlock>,
    done: Vec<DataFile>,
}

struct SealedBlock {
    block: u64,
    path: PathBuf,
    bytes: u64,
    index: BlockIndexWriter,
    rows: u64,
}

struct OpenBlock {
    block: u64,
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    index: BlockIndexWriter,
    rows: u64,
}

impl<'a> BlockWriter<'a> {
    fn new(dir: &'a Path, id: &'a str, schema: SchemaRef) -> Self {
        BlockWriter { dir, id, schema, open: None, sealed: None, done: Vec::new() }
    }

    fn properties() -> WriterProperties {
        let builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(format!("pairscope {}", env!("CARGO_PKG_VERSION")));
        // Dictionaries pay only where values repeat (host, domain, language, …); on unique
        // values (urls, captions, ids) building them costs ~15% of ingest time for nothing.
        let builder = HIGH_CARDINALITY
            .iter()
            .fold(builder, |b, column| b.set_column_dictionary_enabled(ColumnPath::from(*column), false));
        // Min/max of random text (urls, captions, hashes) prunes nothing, and computing it
        // compares every value: ~10% of ingest's CPU. Pages stay located by the offset index.
        let builder = UNORDERED_TEXT.iter().fold(builder, |b, column| {
            b.set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None)
        });
        // Search reads the url and caption of each hit by position (the index keeps no copy of
        // the text): small pages mean a hit decodes a few KiB, not a megabyte. The writer checks
        // page sizes every write batch, so that bounds the rows per page too. On pages that
        // small zstd pays its per-frame set-up (match tables, Huffman tables) every 64 rows;
        // Snappy there takes 8% off ingest's instructions for block files 27% larger (the
        // dataset stays smaller than the SQLite + FTS5 database: bench/REPORT.md).
        TEXT_COLUMNS
            .iter()
            .fold(builder.set_write_batch_size(TEXT_PAGE_ROWS), |b, column| {
                b.set_column_data_page_size_limit(ColumnPath::from(*column), TEXT_PAGE_BYTES)
                    .set_column_compression(ColumnPath::from(*column), Compression::SNAPPY)
            })
            .build()
    }

    fn write(&mut self, block: u64, batch: &RecordBatch) -> Result<()> {
        if self.open.as_ref().is_some_and(|open| open.block != block) {
            self.close()?;
        }
        if self.open.is_none() {
            // The segment is named after the block, so the same block always has the same bytes.
            let key = block_key(&parse_hash(self.id), block);
            let index = BlockIndexWriter::create(
                &self.dir.join(block_index_name(block)),
                (u128::from(key) << 64) | u128::from(block),
            )?;
            let path = self.dir.join(block_file_name(block));
            let file = File::create(&path).map_err(StoreError::io(&path))?;
            let writer = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 20, file),
                self.schema.clone(),
                Some(Self::properties()),
            )
            .map_err(|e| StoreError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
            self.open = Some(OpenBlock { block, path, writer, index, rows: 0 });
        }
        let open = self.open.as_mut().expect("opened above");
        open.writer
            .write(batch)
            .map_err(|e| StoreError::Io { path: open.path.clone(), source: std::io::Error::other(e) })?;
        open.index.add_batch(batch)?;
        open.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Writes out the open block's parquet file and lets its index finish on its own threads,
    /// so the next block's rows flow while the last one's index is serialised. The block
    /// sealed before it is settled first: at most two indexes are in memory at once.
    fn close(&mut self) -> Result<()> {
        let Some(OpenBlock { block, path, writer, mut index, rows }) = self.open.take() else { return Ok(()) };
        index.seal();
        self.settle()?;
        let to_io =
            |e: parquet::errors::ParquetError| StoreError::Io { path: path.clone(), source: std::io::Error::other(e) };
        let file = writer
            .into_inner()
            .map_err(to_io)?
            .into_inner()
            .map_err(|e| StoreError::Io { path: path.clone(), source: e.into() })?;
        file.sync_all().map_err(StoreError::io(&path))?;
        let bytes = file.metadata().map_err(StoreError::io(&path))?.len();
        self.sealed = Some(SealedBlock { block, path, bytes, index, rows });
        Ok(())
    }

    /// Waits for the sealed block's index and records the block as done.
    fn settle(&mut self) -> Result<()> {
        let Some(SealedBlock { block, path, bytes, index, rows }) = self.sealed.take() else { return Ok(()) };
        let indexed = index.finish()?;
        if indexed != rows {
            return Err(StoreError::Index(pairscope_index::IndexError::Schema(format!(
                "the index of {} holds {indexed} documents for {rows} rows",
                path.display()
            ))));
        }
        self.done.push(DataFile {
            path: Layout::block_file(self.id, block),
            rows,
            block,
            block_key: block_key(&parse_hash(self.id), block),
            bytes,
            index: Some(Layout::block_index(self.id, block)),
        });
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<DataFile>> {
        self.close()?;
        self.settle()?;
        fsync_dir(self.dir).map_err(StoreError::io(self.dir))?;
        Ok(self.done)
    }
}
