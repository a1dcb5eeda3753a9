//! One input file made a staged source: read, converted to canonical rows, written as block
//! files, in named phases ([`write_source`]):
//!
//! 1. [`SourceFile::open`] reads the footer: rows, row groups, schema; resolves the column
//!    mapping; refuses a file of more than [`MAX_SOURCE_COLUMNS`] columns before anything is
//!    decoded (the limit is what bounds memory).
//! 2. [`decode_ahead`] decodes on its own thread, a few batches ahead of conversion, so one
//!    large file keeps two cores busy.
//! 3. [`SourceFile::convert_into`] splits each batch at row-id block boundaries, converts it
//!    ([`Converter`]) and writes it to the store's [`BlockWriter`], counting skipped rows,
//!    nulled values and cut captions.
//! 4. [`SourceFile::entry`] makes the manifest entry, once the rows read match the footer's.
//!
//! Memory per source: [`DECODE_AHEAD`] decoded batches of [`BATCH_ROWS`] rows, one output row
//! group, and at most two blocks' indexes (see `pairscope_store::blocks`), whatever the file's
//! size. A panic of the parquet reader on a corrupt file is caught and reported as bad input.

use std::collections::BTreeMap;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use pairscope_index::INDEX_FORMAT;
use pairscope_model::row_id::BLOCK_ROWS;
use pairscope_model::{Progress, panic_message};
use pairscope_store::blocks::BlockWriter;
use pairscope_store::manifest::{ExtraColumn, SourceSettings, source_hash};
use pairscope_store::{DatasetWriter, SourceEntry};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::convert::Converter;
use crate::error::{BadInput, IngestError, Result};
use crate::mapping::ColumnMapping;

/// Columns a source file may have. Every column costs ingest tens of KiB (its decoder, its
/// column writer and their buffers) and costs every later query over the dataset, so a file
/// with 40,000 columns would need gigabytes. LAION-family files have fewer than 100.
pub const MAX_SOURCE_COLUMNS: usize = 1024;
/// Rows per batch read from a source. Divides [`BLOCK_ROWS`], so batches rarely straddle blocks.
const BATCH_ROWS: usize = 8192;
/// Decoded batches waiting for conversion.
const DECODE_AHEAD: usize = 4;

/// Stages source `id` (the file `path`), or reuses what a killed run staged with the same
/// settings. Returns its entry and whether it was reused.
pub(crate) fn stage_source(
    writer: &DatasetWriter,
    path: &Path,
    id: &str,
    settings: &SourceSettings,
    strict: bool,
    progress: &dyn Progress,
) -> Result<(SourceEntry, bool)> {
    if let Some(entry) = writer.staged(id)
        && entry.settings == *settings
        && entry.index_format == INDEX_FORMAT
        // Staged without --strict: staging it again finds the value to refuse.
        && (!strict || entry.nulled_values.is_empty())
    {
        tracing::info!(path = %path.display(), "reusing the staged copy of this source");
        progress.advance(entry.input_rows, entry.bytes);
        return Ok((entry, true));
    }
    let stage = writer.stage_source(id)?;
    let entry = catch_unwind(AssertUnwindSafe(|| write_source(stage.path(), path, id, settings, strict, progress)))
        .unwrap_or_else(|panic| {
            let message = panic_message(&panic);
            Err(BadInput::new(path, format!("the parquet reader failed on this file (corrupt?): {message}")).into())
        })?;
    stage.publish(&entry)?;
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
    let (source, reader) = SourceFile::open(path, settings)?;
    let hash = source_hash(id).ok_or_else(|| BadInput::new(path, format!("{id:?} is not a source id")))?;
    let converter =
        Converter::new(path, source.schema.clone(), &source.mapping, hash, settings.max_caption_bytes, strict);
    let mut blocks = BlockWriter::new(dir, id, converter.out_schema().clone())?;
    let counts = std::thread::scope(|scope| {
        let batches = decode_ahead(scope, reader);
        source.convert_into(batches, converter, &mut blocks, progress)
    })?;
    if counts.rows_read != source.input_rows {
        return Err(BadInput::new(
            path,
            format!("the footer promises {} rows but {} could be read", source.input_rows, counts.rows_read),
        )
        .into());
    }
    let files = blocks.finish()?;
    Ok(source.entry(id, settings, counts, files))
}

/// A source file opened at its footer: what is known before any row is decoded.
struct SourceFile<'a> {
    path: &'a Path,
    bytes: u64,
    input_rows: u64,
    /// The row one past the last of each row group, to name the row group of a failing row.
    row_group_ends: Vec<u64>,
    schema: Arc<Schema>,
    mapping: ColumnMapping,
}

/// What converting a source counted.
#[derive(Default)]
struct Counts {
    rows_read: u64,
    skipped_rows: BTreeMap<String, u64>,
    nulled_values: BTreeMap<String, u64>,
    truncated_captions: u64,
}

/// A decoded batch, or why decoding stopped.
type Decoded = std::result::Result<RecordBatch, String>;

impl<'a> SourceFile<'a> {
    /// Phase 1: the footer read, the mapping resolved, the column limit checked; and the
    /// reader of the file's batches.
    fn open(path: &'a Path, settings: &SourceSettings) -> Result<(Self, ParquetRecordBatchReader)> {
        let bad = |reason: String| IngestError::BadInput(BadInput::new(path, reason));
        let file = File::open(path).map_err(|source| IngestError::Io { path: path.to_path_buf(), source })?;
        let bytes = file.metadata().map_err(|source| IngestError::Io { path: path.to_path_buf(), source })?.len();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| bad(format!("not a readable parquet file: {e}")))?;
        let columns = builder.parquet_schema().num_columns();
        if columns > MAX_SOURCE_COLUMNS {
            return Err(bad(format!(
                "has {columns} columns; pairscope ingests at most {MAX_SOURCE_COLUMNS} per file, because every \
                 column costs memory at ingest and time in every later query (LAION-family files have fewer \
                 than 100); write the columns you need to a new file"
            )));
        }
        let metadata = builder.metadata().clone();
        let row_group_ends = metadata
            .row_groups()
            .iter()
            .scan(0u64, |end, rg| {
                *end += rg.num_rows().max(0) as u64;
                Some(*end)
            })
            .collect();
        let schema = builder.schema().clone();
        let mapping = ColumnMapping::resolve(&schema, &settings.overrides, &settings.constants).map_err(|e| {
            let mut located = BadInput::new(path, e.reason);
            located.column = e.column;
            IngestError::BadInput(located)
        })?;
        let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(|e| bad(format!("cannot read: {e}")))?;
        let input_rows = metadata.file_metadata().num_rows().max(0) as u64;
        Ok((SourceFile { path, bytes, input_rows, row_group_ends, schema, mapping }, reader))
    }

    /// The 0-based row group holding row `row` of the file.
    fn row_group_of(&self, row: u64) -> usize {
        self.row_group_ends.iter().position(|end| row < *end).unwrap_or(self.row_group_ends.len().saturating_sub(1))
    }

    /// Phase 3: every decoded batch converted and written to `blocks`, split at block
    /// boundaries so each piece's row ids share one block.
    fn convert_into(
        &self,
        batches: Receiver<Decoded>,
        mut converter: Converter<'_>,
        blocks: &mut BlockWriter<'_>,
        progress: &dyn Progress,
    ) -> Result<Counts> {
        let mut counts = Counts::default();
        for batch in batches {
            let next_row = counts.rows_read;
            let batch = batch.map_err(|e| {
                let row_group = self.row_group_of(next_row);
                let mut located =
                    BadInput::new(self.path, format!("cannot decode: {e}")).row_group(row_group).row(next_row);
                located.column = locate_bad_column(self.path, row_group);
                IngestError::BadInput(located)
            })?;
            let rows = batch.num_rows() as u64;
            let mut offset = 0u64;
            while offset < rows {
                let start = next_row + offset;
                let take = (rows - offset).min(BLOCK_ROWS - start % BLOCK_ROWS);
                let piece = batch.slice(offset as usize, take as usize);
                let converted = converter.convert(&piece, start).map_err(|mut located| {
                    located.row_group = located.row.map(|row| self.row_group_of(row));
                    IngestError::BadInput(located)
                })?;
                for (reason, n) in converted.skipped {
                    *counts.skipped_rows.entry(reason.to_string()).or_insert(0) += n;
                }
                for (reason, n) in converted.nulled {
                    *counts.nulled_values.entry(reason).or_insert(0) += n;
                }
                counts.truncated_captions += converted.truncated;
                blocks.write(start / BLOCK_ROWS, &converted.batch)?;
                offset += take;
            }
            counts.rows_read += rows;
            progress.advance(rows, self.bytes.saturating_mul(rows) / self.input_rows.max(1));
        }
        Ok(counts)
    }

    /// Phase 4: the source's manifest entry.
    fn entry(
        &self,
        id: &str,
        settings: &SourceSettings,
        counts: Counts,
        files: Vec<pairscope_store::manifest::DataFile>,
    ) -> SourceEntry {
        SourceEntry {
            id: id.to_string(),
            path: self.path.display().to_string(),
            bytes: self.bytes,
            input_rows: self.input_rows,
            rows: files.iter().map(|f| f.rows).sum(),
            skipped_rows: counts.skipped_rows,
            nulled_values: counts.nulled_values,
            truncated_captions: counts.truncated_captions,
            ingested_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            index_format: INDEX_FORMAT,
            settings: settings.clone(),
            mapping: self.mapping.describe(&self.schema),
            extra_columns: self
                .mapping
                .extras
                .iter()
                .map(|e| ExtraColumn {
                    name: e.name.clone(),
                    source_name: self.schema.field(e.index).name().clone(),
                    data_type: self.schema.field(e.index).data_type().to_string(),
                })
                .collect(),
            files,
        }
    }
}

/// Phase 2: decodes `reader` on a thread of `scope`, at most [`DECODE_AHEAD`] batches ahead of
/// the receiver. The first error (or a panic of the reader) is sent last.
fn decode_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    reader: ParquetRecordBatchReader,
) -> Receiver<Decoded> {
    let (sender, batches) = sync_channel::<Decoded>(DECODE_AHEAD);
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
    batches
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
