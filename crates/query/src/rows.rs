//! Rows of a block's parquet file read by position. The index stores no text (the parquet
//! file is the one copy), so the url and caption of hits, the captions [`crate::compile`]
//! verifies, and whole rows for `get` are read here. Document `n` of a block index is row
//! `n` of its file.
//!
//! A read decodes only the pages holding the wanted rows (ingest writes small pages for the
//! text columns for exactly this), which needs the offset index of each column chunk it
//! reads. That index is most of a block's metadata (a million rows in 64-row text pages:
//! ~50,000 page locations, milliseconds to decode), so it is never read for the whole file:
//! the footer alone is read once per block, by the first call that needs a row of it (a count
//! never does: it stays on the index), and the offset indexes of one row group when a read
//! first needs a row of that group. Those are kept in one cache per engine bounded by
//! [`PageIndexCache::GROUPS`], so a long-running server holds at most that many, whatever
//! the number of blocks.

use std::fs::File;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{AsArray, RecordBatch, RecordBatchReader, StringArray};
use arrow::compute::concat_batches;
use lru::LruCache;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use pairscope_store::Dataset;

use crate::error::{BlockFileError, QueryError, Result};

/// The offset indexes of the row groups reads needed last, shared by every block of an
/// engine, keyed by (block ordinal, row group).
pub(crate) struct PageIndexCache(Mutex<LruCache<(usize, usize), ArrowReaderMetadata>>);

impl PageIndexCache {
    /// Row groups whose offset indexes are kept: ~150 KB each (128 Ki rows, three text columns
    /// in 64-row pages), so ~40 MB at most; a page of hits touches far fewer.
    pub const GROUPS: NonZeroUsize = NonZeroUsize::new(256).unwrap();

    pub fn new() -> Arc<PageIndexCache> {
        Arc::new(PageIndexCache(Mutex::new(LruCache::new(Self::GROUPS))))
    }

    fn get(&self, key: (usize, usize)) -> Option<ArrowReaderMetadata> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key).cloned()
    }

    fn put(&self, key: (usize, usize), metadata: ArrowReaderMetadata) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).put(key, metadata);
    }
}

pub(crate) struct BlockRows {
    path: PathBuf,
    /// The block's place in its engine: its key in `page_indexes`.
    ordinal: usize,
    /// The version the block belongs to, whose overlays every row read takes.
    dataset: Dataset,
    /// The file's footer, without page indexes: read on first use.
    footer: OnceLock<Arc<ParquetMetaData>>,
    page_indexes: Arc<PageIndexCache>,
}

impl BlockRows {
    /// The rows of the parquet file at `path`, block `ordinal` of `dataset` in an engine whose
    /// blocks share `page_indexes`; the file is not opened yet.
    pub fn new(path: &Path, ordinal: usize, dataset: Dataset, page_indexes: Arc<PageIndexCache>) -> BlockRows {
        BlockRows { path: path.to_path_buf(), ordinal, dataset, footer: OnceLock::new(), page_indexes }
    }

    fn error(&self) -> impl Fn(BlockFileError) -> QueryError + '_ {
        QueryError::block_file(&self.path)
    }

    /// The file's footer (schema, row groups, column chunks), read now if no call has read it
    /// yet.
    pub fn footer(&self) -> Result<&Arc<ParquetMetaData>> {
        if let Some(footer) = self.footer.get() {
            return Ok(footer);
        }
        let file = File::open(&self.path).map_err(|e| self.error()(e.into()))?;
        let footer = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Skip)
            .parse_and_finish(&file)
            .map_err(|e| self.error()(e.into()))?;
        // Threads that raced to read it read the same immutable file: any copy will do.
        Ok(self.footer.get_or_init(|| Arc::new(footer)))
    }

    /// Reader metadata for row group `group` alone, with its offset indexes: a file of that
    /// one row group as far as the reader knows (its column chunks keep their offsets in the
    /// real file).
    fn group_metadata(&self, file: &File, group: usize) -> Result<ArrowReaderMetadata> {
        let key = (self.ordinal, group);
        if let Some(kept) = self.page_indexes.get(key) {
            return Ok(kept);
        }
        let footer = self.footer()?;
        let one_group = ParquetMetaData::new(footer.file_metadata().clone(), vec![footer.row_group(group).clone()]);
        // The offset index finds the pages of the wanted rows; the column index (page
        // statistics) would only serve predicates, which the index answers.
        let mut reader = ParquetMetaDataReader::new_with_metadata(one_group)
            .with_offset_index_policy(PageIndexPolicy::Optional)
            .with_column_index_policy(PageIndexPolicy::Skip);
        reader.read_page_indexes(file).map_err(|e| self.error()(e.into()))?;
        let metadata = reader.finish().map_err(|e| self.error()(e.into()))?;
        let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(|e| self.error()(e.into()))?;
        self.page_indexes.put(key, metadata.clone());
        Ok(metadata)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rows at `positions` (ascending, distinct) as the version's readers see them (its
    /// overlays laid over them: [`Dataset::complete_rows`]), with the named columns (all the
    /// file's and the version's added columns when `columns` is `None`; look them up by name,
    /// the file's order is kept, and `row_id` may come with them).
    pub fn read(&self, positions: &[usize], columns: Option<&[&str]>) -> Result<RecordBatch> {
        let overlaid = match columns {
            Some(columns) => self.dataset.overlays_need_row_id(columns.iter().copied()),
            None => !self.dataset.overlays().is_empty(),
        };
        let mut projection: Option<Vec<&str>> = columns.map(<[&str]>::to_vec);
        if let Some(projection) = projection.as_mut().filter(|p| overlaid && !p.contains(&"row_id")) {
            projection.push("row_id");
        }
        let batch = self.read_file(positions, projection.as_deref())?;
        if !overlaid {
            return Ok(batch);
        }
        let wanted: Vec<String> = match columns {
            Some(columns) => columns.iter().map(|c| c.to_string()).collect(),
            None => batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .chain(self.dataset.added_fields().iter().map(|f| f.name().clone()))
                .collect(),
        };
        Ok(self.dataset.complete_rows(batch, &wanted)?)
    }

    /// [`Self::read`] of the file's values alone.
    fn read_file(&self, positions: &[usize], columns: Option<&[&str]>) -> Result<RecordBatch> {
        debug_assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions ascend");
        let footer = self.footer()?;
        let file = File::open(&self.path).map_err(|e| self.error()(e.into()))?;
        let groups = within_groups(footer, positions);
        let mut batches = Vec::with_capacity(groups.len());
        let mut schema = None;
        // Only the row groups holding a wanted row are opened: each other one would cost a
        // decompressor per column and a walk over its page headers.
        for (group, positions) in &groups {
            let metadata = self.group_metadata(&file, *group)?;
            let handle = file.try_clone().map_err(|e| self.error()(e.into()))?;
            let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata)
                .with_row_selection(selection(positions))
                .with_batch_size(positions.len().max(1));
            if let Some(columns) = columns {
                let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
                builder = builder.with_projection(mask);
            }
            let reader = builder.build().map_err(|e| self.error()(e.into()))?;
            schema.get_or_insert_with(|| reader.schema());
            for batch in reader {
                batches.push(batch.map_err(|e| self.error()(e.into()))?);
            }
        }
        let found: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if found != positions.len() {
            return Err(self.error()(BlockFileError::Content(format!(
                "holds {found} of the {} rows the index names",
                positions.len()
            ))));
        }
        match schema {
            Some(schema) => concat_batches(&schema, &batches).map_err(|e| self.error()(e.into())),
            None => self.empty(file, columns),
        }
    }

    /// No rows, with the columns a read of `columns` would have.
    fn empty(&self, file: File, columns: Option<&[&str]>) -> Result<RecordBatch> {
        let metadata = ArrowReaderMetadata::try_new(self.footer()?.clone(), ArrowReaderOptions::new())
            .map_err(|e| self.error()(e.into()))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata).with_row_groups(Vec::new());
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        let reader = builder.build().map_err(|e| self.error()(e.into()))?;
        Ok(RecordBatch::new_empty(reader.schema()))
    }

    /// One string column of a batch [`Self::read`] returned.
    pub fn strings(&self, batch: &RecordBatch, column: &str) -> Result<StringArray> {
        let error = |reason: String| QueryError::block_file(&self.path)(BlockFileError::Content(reason));
        let array = batch.column_by_name(column).ok_or_else(|| error(format!("has no {column} column")))?;
        array
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| error(format!("{column} is not text ({})", array.data_type())))
    }
}

/// The row groups of the file `footer` describes that hold any of `positions` (ascending),
/// each with its positions counted from the group's first row. Positions past the last row
/// group are left out (the caller's row count check reports them).
fn within_groups(footer: &ParquetMetaData, positions: &[usize]) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut start = 0usize;
    let mut wanted = positions.iter().copied().peekable();
    for (group, meta) in footer.row_groups().iter().enumerate() {
        let end = start + meta.num_rows().max(0) as usize;
        let within: Vec<usize> = std::iter::from_fn(|| wanted.next_if(|&p| p < end)).map(|p| p - start).collect();
        if !within.is_empty() {
            groups.push((group, within));
        }
        start = end;
    }
    groups
}

/// Select exactly `positions` (ascending, distinct), skipping the rows between.
fn selection(positions: &[usize]) -> RowSelection {
    let mut selectors = Vec::new();
    let mut next = 0;
    for &position in positions {
        if position > next {
            selectors.push(RowSelector::skip(position - next));
        }
        selectors.push(RowSelector::select(1));
        next = position + 1;
    }
    // RowSelection merges adjacent selectors of the same kind.
    RowSelection::from(selectors)
}
