//! `ingest --fetched DIR`: what a fetch measured (`pairscope fetch`'s output, whose layout
//! [`pairscope_model::fetched`] states) laid over the rows it came from, as a new version,
//! through the store's overlays ([`pairscope_store::overlay`]): no block or index is rewritten.
//!
//! Rules, per fetched row (matched by `row_id`):
//! - every fetched row gets `fetched_status`; rows fetched `ok` get `fetched_width`,
//!   `fetched_height`, `fetched_md5`, `fetched_sha1`, `fetched_sha256`;
//! - the measured values fill `width`, `height` and `image_sha256` where the row has none
//!   ([`FILLS`]); published values are kept;
//! - a row fetched again replaces what an earlier fetch recorded, except that a failed fetch
//!   never erases an `ok` one (the image was there, and its measurements hold);
//! - rows of blocks this version does not have (another dataset, a removed source) are counted
//!   and left out; rows without a `row_id` (fetched `--from` a file that has none) refuse the
//!   whole input: nothing ties them to a row.
//!
//! Algorithm: the finished shards (`NNNNN.parquet` beside its `NNNNN_stats.json`) are read once
//! for their row ids alone, counting the rows of each block; blocks are then taken in groups of
//! at most [`GROUP_ROWS`] fetched rows, and for each group the shards are read again keeping that
//! group's rows; each block of the group is merged with its committed overlay and its own
//! `width`, `height` and `image_sha256`, and its new overlay written (a block whose overlay
//! would not change keeps it). One commit lists them all; a run killed before it leaves the
//! last version, and a re-run writes the same overlays.
//!
//! Memory: one group's fetched rows (at most [`GROUP_ROWS`], about 300 bytes each), one
//! block's overlay rows (the committed ones and the new ones, a few hundred bytes each) and
//! 8 bytes per row of that block. The shards are read 1 + ⌈fetched rows / [`GROUP_ROWS`]⌉
//! times.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use pairscope_model::Progress;
use pairscope_model::fetched::{ADDED_COLUMNS, FILLS, OK, RECORD, STATS_SUFFIX, STATUS_COLUMN, added_type};
use pairscope_model::row_id::RowId;
use pairscope_store::overlay::{Overlay, OverlayRows, Value};
use pairscope_store::{AddedColumn, BlockFile, DatasetWriter, OverlayEntry, StoreError};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{BadInput, IngestError, Result};

/// Fetched rows held at once (about 300 bytes each): the blocks of a group are merged together.
/// A block is at most 2^20 rows, so a fully fetched block is one group.
pub const GROUP_ROWS: u64 = 1 << 20;

/// What `ingest --fetched` did.
#[derive(Debug, Clone, Default)]
pub struct FetchedReport {
    /// The version before.
    pub version_before: u64,
    /// The version after (the same when nothing changed).
    pub version: u64,
    /// Finished shards read.
    pub shards: usize,
    /// Shards a killed or running fetch has not finished (not read).
    pub unfinished_shards: usize,
    /// Rows of the finished shards.
    pub rows_read: u64,
    /// Rows that matched a row of this version.
    pub rows_matched: u64,
    /// Of those, rows fetched `ok`.
    pub rows_ok: u64,
    /// Rows whose row id this version does not have.
    pub rows_not_in_version: u64,
    /// Rows whose row id an earlier row of the input already had (the `ok` one, else the last,
    /// counts).
    pub duplicate_rows: u64,
    /// Per filled column ([`FILLS`]), the rows whose value is now the measured one.
    pub filled: BTreeMap<String, u64>,
    /// Blocks whose overlay was written.
    pub blocks_written: usize,
}

/// One fetched row, as the merge needs it.
#[derive(Debug, Clone)]
struct FetchedRow {
    row_id: i64,
    /// Its values of [`ADDED_COLUMNS`], in their order.
    values: Vec<Option<Value>>,
}

impl FetchedRow {
    fn ok(&self) -> bool {
        self.added(STATUS_COLUMN) == Some(&Value::Text(OK.into()))
    }

    /// Its value of added column `name`.
    fn added(&self, name: &str) -> Option<&Value> {
        ADDED_COLUMNS.iter().position(|c| c.name == name).and_then(|i| self.values[i].as_ref())
    }
}

/// Lays what the fetch output `dir` measured over the rows of the dataset at `dataset`, and
/// commits it as a new version (unless nothing changes).
pub fn ingest_fetched(dataset: &Path, dir: &Path, progress: &dyn Progress) -> Result<FetchedReport> {
    let (shards, unfinished_shards) = finished_shards(dir)?;
    let writer = DatasetWriter::open(dataset)?;
    let committed = writer.committed().clone();
    if committed.version == 0 {
        return Err(StoreError::NotADataset(dataset.to_path_buf()).into());
    }
    let mut report = FetchedReport {
        version_before: committed.version,
        version: committed.version,
        shards: shards.len(),
        unfinished_shards,
        ..FetchedReport::default()
    };
    // Block key → (source id, block, block file, committed overlay).
    let mut blocks: HashMap<u64, (String, u64, PathBuf, Option<OverlayEntry>)> = HashMap::new();
    for source in &committed.sources {
        let Some(hash) = source.hash() else { continue };
        for file in &source.files {
            let overlay =
                committed.overlays.iter().find(|o| o.file.source == source.id && o.file.block == file.block).cloned();
            let key = pairscope_model::row_id::block_key(&hash, file.block);
            blocks.insert(key, (source.id.clone(), file.block, dataset.join(&file.path), overlay));
        }
    }
    let shard_bytes: Vec<u64> = shards.iter().map(|s| fs::metadata(s).map_or(0, |m| m.len())).collect();
    progress.set_total_bytes(shard_bytes.iter().sum());

    // Pass 1: rows per block.
    let mut per_block: BTreeMap<u64, u64> = BTreeMap::new();
    for (shard, bytes) in shards.iter().zip(&shard_bytes) {
        for_each_batch(shard, &["row_id"], |batch| {
            let ids = row_ids(shard, &batch)?;
            for id in ids.values() {
                let key = RowId(*id).block_key();
                if blocks.contains_key(&key) {
                    *per_block.entry(key).or_insert(0) += 1;
                } else {
                    report.rows_not_in_version += 1;
                }
            }
            report.rows_read += batch.num_rows() as u64;
            Ok(())
        })?;
        progress.advance(0, *bytes);
    }

    // Pass 2, group by group.
    let mut groups: Vec<Vec<u64>> = Vec::new();
    let mut in_group = 0;
    for (&key, &rows) in &per_block {
        if groups.is_empty() || in_group + rows > GROUP_ROWS {
            groups.push(Vec::new());
            in_group = 0;
        }
        if let Some(group) = groups.last_mut() {
            group.push(key);
        }
        in_group += rows;
    }
    progress.set_total_bytes(shard_bytes.iter().sum::<u64>() * (1 + groups.len() as u64));
    let mut written: Vec<OverlayEntry> = Vec::new();
    for group in &groups {
        let mut rows: HashMap<u64, Vec<FetchedRow>> = group.iter().map(|&k| (k, Vec::new())).collect();
        for (shard, bytes) in shards.iter().zip(&shard_bytes) {
            for_each_batch(shard, &shard_read(), |batch| read_rows(shard, &batch, &mut rows))?;
            progress.advance(0, *bytes);
        }
        for key in group {
            let (source, block, file, old) = &blocks[key];
            let fetched = rows.remove(key).unwrap_or_default();
            if let Some(entry) =
                merge_block(&writer, dataset, source, *block, file, old.as_ref(), fetched, &mut report)?
            {
                written.push(entry);
            }
        }
    }
    progress.advance(report.rows_read, 0);
    report.blocks_written = written.len();
    if written.is_empty() {
        return Ok(report);
    }
    let added = ADDED_COLUMNS
        .iter()
        .map(|c| AddedColumn { name: c.name.into(), data_type: added_type(c).to_string(), doc: c.doc.into() })
        .collect();
    let manifest = writer.commit_overlays(written, added)?;
    report.version = manifest.version;
    Ok(report)
}

/// The shard columns pass 2 reads: the row id and those of the added columns.
fn shard_read() -> Vec<&'static str> {
    std::iter::once("row_id").chain(ADDED_COLUMNS.iter().map(|c| c.shard_column)).collect()
}

/// The finished shards of the fetch output `dir`, in name order, and how many it has not
/// finished.
fn finished_shards(dir: &Path) -> Result<(Vec<PathBuf>, usize)> {
    if !dir.join(RECORD).is_file() {
        return Err(IngestError::usage(format!(
            "{}: not the output of `pairscope fetch` (it has no {RECORD})",
            dir.display()
        )));
    }
    let io = |e| IngestError::Io { path: dir.to_path_buf(), source: e };
    let mut shards = Vec::new();
    let mut unfinished = 0;
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(stem) = name.strip_suffix(".parquet") {
            if dir.join(format!("{stem}{STATS_SUFFIX}")).is_file() {
                shards.push(path);
            } else {
                unfinished += 1;
            }
        } else if name.ends_with(".partial") {
            unfinished += 1;
        }
    }
    shards.sort();
    Ok((shards, unfinished))
}

/// Calls `each` with every batch of `columns` of the parquet file at `path`.
fn for_each_batch(path: &Path, columns: &[&str], mut each: impl FnMut(RecordBatch) -> Result<()>) -> Result<()> {
    let bad = |reason: String| IngestError::from(BadInput::new(path, reason));
    let file = File::open(path).map_err(|e| IngestError::Io { path: path.to_path_buf(), source: e })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
    for column in columns {
        if builder.schema().field_with_name(column).is_err() {
            return Err(BadInput::new(path, "a fetch shard must have it").column(*column).into());
        }
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder.with_projection(mask).with_batch_size(8192).build().map_err(|e| bad(e.to_string()))?;
    for batch in reader {
        each(batch.map_err(|e| bad(e.to_string()))?)?;
    }
    Ok(())
}

/// The `row_id` column of a batch of shard `path`, refused if any row has none.
fn row_ids(path: &Path, batch: &RecordBatch) -> Result<arrow::array::Int64Array> {
    let column = typed(path, batch, "row_id", &DataType::Int64)?;
    let ids = column.as_primitive::<Int64Type>().clone();
    if let Some(row) = (0..ids.len()).find(|&i| ids.is_null(i)) {
        return Err(BadInput::new(
            path,
            "a row without a row id: rows fetched `--from` a file without row ids cannot be taken back \
             into a dataset (fetch with `-d DATASET` instead)",
        )
        .column("row_id")
        .row(row as u64)
        .into());
    }
    Ok(ids)
}

/// Column `name` of a shard batch, as `data_type`.
fn typed(path: &Path, batch: &RecordBatch, name: &str, data_type: &DataType) -> Result<arrow::array::ArrayRef> {
    let bad = |reason: String| IngestError::from(BadInput::new(path, reason).column(name));
    let column = batch.column_by_name(name).ok_or_else(|| bad("a fetch shard must have it".into()))?;
    cast(column, data_type).map_err(|e| bad(format!("not {data_type}: {e}")))
}

/// Adds the rows of `batch` (of shard `path`) whose block is in `rows` to it.
fn read_rows(path: &Path, batch: &RecordBatch, rows: &mut HashMap<u64, Vec<FetchedRow>>) -> Result<()> {
    let ids = row_ids(path, batch)?;
    let columns =
        ADDED_COLUMNS.iter().map(|c| typed(path, batch, c.shard_column, &added_type(c))).collect::<Result<Vec<_>>>()?;
    for (i, id) in ids.values().iter().enumerate() {
        let Some(block) = rows.get_mut(&RowId(*id).block_key()) else { continue };
        let row = FetchedRow { row_id: *id, values: columns.iter().map(|c| Value::of(c.as_ref(), i)).collect() };
        if row.added(STATUS_COLUMN).is_none() {
            return Err(BadInput::new(path, "a row without a status").column("status").row(i as u64).into());
        }
        block.push(row);
    }
    Ok(())
}

/// Which of the columns a fetch fills ([`FILLS`]) each row of a block has a value of: bit `n`
/// for `FILLS[n]`, by row offset, ascending (row ids ascend through a block file). Eight bytes
/// a row of the block.
struct BlockValues {
    rows: Vec<(u32, u8)>,
}

impl BlockValues {
    fn read(file: &Path) -> Result<BlockValues> {
        let mut rows = Vec::new();
        let columns: Vec<&str> = std::iter::once("row_id").chain(FILLS.iter().map(|(target, _)| *target)).collect();
        for_each_batch(file, &columns, |batch| {
            let store = |e: String| IngestError::Store(StoreError::Corrupt { path: file.to_path_buf(), reason: e });
            let ids =
                batch.column(0).as_primitive_opt::<Int64Type>().ok_or_else(|| store("row_id is not Int64".into()))?;
            for (i, id) in ids.values().iter().enumerate() {
                let has = batch.columns()[1..]
                    .iter()
                    .enumerate()
                    .fold(0u8, |bits, (n, column)| if column.is_valid(i) { bits | 1 << n } else { bits });
                rows.push((RowId(*id).offset_in_block() as u32, has));
            }
            Ok(())
        })?;
        if !rows.is_sorted_by_key(|(offset, _)| *offset) {
            return Err(IngestError::Store(StoreError::Corrupt {
                path: file.to_path_buf(),
                reason: "its row ids do not ascend".into(),
            }));
        }
        Ok(BlockValues { rows })
    }

    /// Which filled columns the row at `offset` has a value of, if the block has that row.
    fn get(&self, offset: u32) -> Option<u8> {
        let at = self.rows.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        Some(self.rows[at].1)
    }
}

/// Merges `fetched` (rows of one block) with the block's committed overlay `old` and writes
/// the new overlay, unless it would not change. Returns its entry when written.
#[allow(clippy::too_many_arguments, reason = "one block's whole context, called once")]
fn merge_block(
    writer: &DatasetWriter,
    dataset: &Path,
    source: &str,
    block: u64,
    file: &Path,
    old: Option<&OverlayEntry>,
    fetched: Vec<FetchedRow>,
    report: &mut FetchedReport,
) -> Result<Option<OverlayEntry>> {
    let values = BlockValues::read(file)?;
    // The fetched rows by offset: of several, the `ok` one, else the last.
    let mut latest: BTreeMap<u32, FetchedRow> = BTreeMap::new();
    for row in fetched {
        let offset = RowId(row.row_id).offset_in_block() as u32;
        if values.get(offset).is_none() {
            report.rows_not_in_version += 1;
            continue;
        }
        report.rows_matched += 1;
        report.rows_ok += u64::from(row.ok());
        match latest.get(&offset) {
            Some(seen) => {
                report.duplicate_rows += 1;
                if row.ok() || !seen.ok() {
                    latest.insert(offset, row);
                }
            }
            None => {
                latest.insert(offset, row);
            }
        }
    }
    let ours: Vec<String> = ADDED_COLUMNS
        .iter()
        .map(|c| c.name.to_string())
        .chain(FILLS.iter().map(|(target, _)| target.to_string()))
        .collect();
    let mut after = match old {
        Some(entry) => {
            let columns: Vec<String> = entry.columns.iter().chain(&ours).fold(Vec::new(), |mut all, c| {
                if !all.contains(c) {
                    all.push(c.clone());
                }
                all
            });
            Overlay::open(&dataset.join(&entry.file.path), entry.file.bytes)?.rows(&columns)?
        }
        None => OverlayRows { columns: ours.clone(), rows: BTreeMap::new() },
    };
    let index = |name: &str| after.columns.iter().position(|c| c == name);
    let added_at: Vec<Option<usize>> = ADDED_COLUMNS.iter().map(|c| index(c.name)).collect();
    let fills_at: Vec<Option<usize>> = FILLS.iter().map(|(target, _)| index(target)).collect();
    let status_at = index(STATUS_COLUMN);
    let width = after.columns.len();
    let mut changed = false;
    for (offset, row) in latest {
        let slot = after.rows.entry(offset).or_insert_with(|| {
            changed = true;
            vec![None; width]
        });
        let had_ok = status_at.and_then(|i| slot[i].as_ref()) == Some(&Value::Text(OK.into()));
        if had_ok && !row.ok() {
            continue;
        }
        let mut set = |i: Option<usize>, value: Option<Value>| {
            if let Some(i) = i
                && slot[i] != value
            {
                slot[i] = value;
                changed = true;
            }
        };
        for (added, at) in ADDED_COLUMNS.iter().zip(&added_at) {
            set(*at, if row.ok() || !added.measured { row.added(added.name).cloned() } else { None });
        }
        let own = values.get(offset).unwrap_or_default();
        for (n, ((target, from), at)) in FILLS.iter().zip(&fills_at).enumerate() {
            let measured = if row.ok() && own & (1 << n) == 0 { row.added(from).cloned() } else { None };
            if measured.is_some() {
                *report.filled.entry(target.to_string()).or_insert(0) += 1;
            }
            set(*at, measured);
        }
    }
    if !changed {
        return Ok(None);
    }
    let (relative, path) = writer.overlay_path(source, block)?;
    let bytes = after.write(&path)?;
    Ok(Some(OverlayEntry {
        file: BlockFile {
            source: source.to_string(),
            block,
            written_in: writer.committed().version + 1,
            path: relative,
            rows: after.rows.len() as u64,
            bytes,
        },
        columns: after.columns_with_values(),
    }))
}
