//! Rows of a block's parquet file read by position. The index stores no text (the parquet
//! file is the one copy), so the url and caption of hits, the captions [`crate::compile`]
//! verifies, and whole rows for `get` are read here. Document `n` of a block index is row
//! `n` of its file.
//!
//! The file's metadata, with its page index, is read once, by the first call that needs a row
//! of the block (a count never does: it stays on the index); a read then decodes only the
//! pages holding the wanted rows (ingest writes small pages for the text columns for exactly
//! this).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::array::{AsArray, RecordBatch, RecordBatchReader, StringArray};
use arrow::compute::concat_batches;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::file::metadata::PageIndexPolicy;

use pairscope_store::Dataset;

use crate::error::{BlockFileError, QueryError, Result};

pub(crate) struct BlockRows {
    path: PathBuf,
    /// The version the block belongs to, whose overlays every row read takes.
    dataset: Dataset,
    /// Read on first use: the page index of a million rows takes milliseconds to read and
    /// decode, which a one-shot command pays only for the blocks it reads rows of.
    metadata: OnceLock<ArrowReaderMetadata>,
}

impl BlockRows {
    /// The rows of the parquet file at `path`, a block of `dataset`, which is not opened yet.
    pub fn new(path: &Path, dataset: Dataset) -> BlockRows {
        BlockRows { path: path.to_path_buf(), dataset, metadata: OnceLock::new() }
    }

    /// The file's metadata, read now if no call has read it yet.
    pub fn metadata(&self) -> Result<&ArrowReaderMetadata> {
        if let Some(metadata) = self.metadata.get() {
            return Ok(metadata);
        }
        let error = |e: BlockFileError| QueryError::block_file(&self.path)(e);
        let file = File::open(&self.path).map_err(|e| error(e.into()))?;
        // The offset index finds the pages of the wanted rows; the column index (page
        // statistics) would only serve predicates, which the index answers.
        let options = ArrowReaderOptions::new()
            .with_offset_index_policy(PageIndexPolicy::Optional)
            .with_column_index_policy(PageIndexPolicy::Skip);
        let metadata = ArrowReaderMetadata::load(&file, options).map_err(|e| error(e.into()))?;
        // Threads that raced to read it read the same immutable file: any copy will do.
        Ok(self.metadata.get_or_init(|| metadata))
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
        let error = |e: BlockFileError| QueryError::block_file(&self.path)(e);
        debug_assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions ascend");
        let metadata = self.metadata()?.clone();
        let file = File::open(&self.path).map_err(|e| error(e.into()))?;
        // Only the row groups holding a wanted row are opened: each other one would cost a
        // decompressor per column and a walk over its page headers.
        let (groups, positions) = Self::within_groups(&metadata, positions);
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata)
            .with_row_groups(groups)
            .with_row_selection(selection(&positions))
            .with_batch_size(positions.len().max(1));
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        let reader = builder.build().map_err(|e| error(e.into()))?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| error(e.into()))?;
        let batch = concat_batches(&schema, &batches).map_err(|e| error(e.into()))?;
        if batch.num_rows() != positions.len() {
            return Err(error(BlockFileError::Content(format!(
                "holds {} of the {} rows the index names",
                batch.num_rows(),
                positions.len()
            ))));
        }
        Ok(batch)
    }

    /// The row groups of the file `metadata` describes that hold `positions` (ascending), and
    /// the positions counted within those groups alone.
    fn within_groups(metadata: &ArrowReaderMetadata, positions: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let mut groups = Vec::new();
        let mut within = Vec::with_capacity(positions.len());
        let (mut start, mut skipped) = (0usize, 0usize);
        let mut wanted = positions.iter().copied().peekable();
        for (group, meta) in metadata.metadata().row_groups().iter().enumerate() {
            let end = start + meta.num_rows() as usize;
            let mut any = false;
            while let Some(position) = wanted.next_if(|&p| p < end) {
                within.push(position - skipped);
                any = true;
            }
            if any {
                groups.push(group);
            } else {
                skipped += end - start;
            }
            start = end;
        }
        // Positions past the last row group stay out of range (the row count check reports them).
        within.extend(wanted.map(|p| p - skipped));
        (groups, within)
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
