//! The block files of a source: one parquet file of canonical rows (then the source's extra
//! columns) and one full-text index per row-id block, written as the rows arrive.
//!
//! The parquet settings are part of the storage format readers rely on: zstd, 128k-row row
//! groups, page-level statistics, and the url, caption and page_url columns in Snappy pages
//! of at most 64 rows, so that search reads a hit's text by position, decoding a few KiB.
//!
//! Memory: one open block (its parquet writer's row group and its index's two segment
//! writers) and the block before it, whose index finishes on its own threads while the next
//! block's rows flow: at most two indexes at a time, whatever the source's size.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use pairscope_index::BlockIndexWriter;
use pairscope_io::durable::fsync_dir;
use pairscope_model::row_id::block_key;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Result, StoreError};
use crate::layout::{Layout, block_file_name, block_index_name};
use crate::manifest::{DataFile, source_hash};

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
/// Writes a source's canonical rows, one parquet file and one full-text index per row-id
/// block. Rows arrive in row-id order, each batch within one block.
pub struct BlockWriter<'a> {
    dir: &'a Path,
    id: &'a str,
    hash: [u8; 32],
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

impl OpenBlock {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| StoreError::Io { path: self.path.clone(), source: std::io::Error::other(e) })?;
        self.index.add_batch(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }
}

impl<'a> BlockWriter<'a> {
    /// A writer of source `id`'s blocks into `dir` (a [`crate::writer::StagedSource`]'s), with
    /// rows of `schema`.
    pub fn new(dir: &'a Path, id: &'a str, schema: SchemaRef) -> Result<Self> {
        let hash = source_hash(id).ok_or_else(|| StoreError::Corrupt {
            path: dir.to_path_buf(),
            reason: format!("source id {id:?} is not a BLAKE3 hash"),
        })?;
        Ok(BlockWriter { dir, id, hash, schema, open: None, sealed: None, done: Vec::new() })
    }

    fn properties() -> WriterProperties {
        let builder = WriterProperties::builder()
            // Level 1, parquet's default: ingest speed matters more than the last few % of size.
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
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

    /// Appends `batch`, whose rows all belong to `block` (not before the block of the rows
    /// written before them).
    pub fn write(&mut self, block: u64, batch: &RecordBatch) -> Result<()> {
        if self.open.as_ref().is_some_and(|open| open.block != block) {
            self.close()?;
        }
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.open_block(block)?,
        };
        let written = open.write(batch);
        self.open = Some(open);
        written
    }

    /// Creates block `block`'s parquet file and index.
    fn open_block(&self, block: u64) -> Result<OpenBlock> {
        // The segment is named after the block, so the same block always has the same bytes.
        let key = block_key(&self.hash, block);
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
        Ok(OpenBlock { block, path, writer, index, rows: 0 })
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
            block_key: block_key(&self.hash, block),
            bytes,
            index: Some(Layout::block_index(self.id, block)),
        });
        Ok(())
    }

    /// Finishes every block and returns their manifest entries, in block order.
    pub fn finish(mut self) -> Result<Vec<DataFile>> {
        self.close()?;
        self.settle()?;
        fsync_dir(self.dir).map_err(StoreError::io(self.dir))?;
        Ok(self.done)
    }
}
