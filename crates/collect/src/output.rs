//! The parquet shards a run writes: one row per kept pair, under column names that
//! `pairscope ingest` maps with no `--map` (url, caption, page_url, language, uid → sample_id,
//! the `optout_*` flags; the rest are kept as extra columns).

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use pairscope_io::durable::AtomicFile;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::CollectError;
use crate::extract::Pair;

/// Rows buffered before they are encoded: bounds a writer's memory.
pub const BATCH_ROWS: usize = 8192;
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The output columns, in order.
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("url", false),
        text("caption", false),
        text("page_url", false),
        text("language", true),
        Field::new("html_width", DataType::Int32, true),
        Field::new("html_height", DataType::Int32, true),
        Field::new("optout_noai", DataType::Boolean, false),
        Field::new("optout_noimageai", DataType::Boolean, false),
        Field::new("optout_tdm_reservation", DataType::Boolean, false),
        text("uid", false),
        text("source_file", false),
        Field::new("source_offset", DataType::Int64, false),
        text("warc_date", true),
    ]))
});

/// A pair as written: the extracted pair, its caption's language and its input file.
pub(crate) struct Row<'a> {
    pub pair: &'a Pair,
    pub language: Option<&'a str>,
    pub source_file: &'a str,
}

/// Accumulates rows into Arrow arrays.
#[derive(Default)]
pub(crate) struct RowBuilder {
    url: StringBuilder,
    caption: StringBuilder,
    page_url: StringBuilder,
    language: StringBuilder,
    html_width: Int32Builder,
    html_height: Int32Builder,
    noai: BooleanBuilder,
    noimageai: BooleanBuilder,
    tdm: BooleanBuilder,
    uid: StringBuilder,
    source_file: StringBuilder,
    source_offset: Int64Builder,
    warc_date: StringBuilder,
    rows: usize,
}

impl RowBuilder {
    pub fn push(&mut self, row: Row<'_>) {
        let p = row.pair;
        self.url.append_value(&p.url);
        self.caption.append_value(&p.caption);
        self.page_url.append_value(&p.page_url);
        self.language.append_option(row.language);
        self.html_width.append_option(p.html_width);
        self.html_height.append_option(p.html_height);
        self.noai.append_value(p.optout_noai);
        self.noimageai.append_value(p.optout_noimageai);
        self.tdm.append_value(p.optout_tdm_reservation);
        self.uid.append_value(&p.uid);
        self.source_file.append_value(row.source_file);
        // Offsets of real files fit i64; a larger one cannot come from a file.
        self.source_offset.append_value(i64::try_from(p.source_offset).unwrap_or(i64::MAX));
        self.warc_date.append_option(p.warc_date.as_deref());
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows pushed since the last call, as one batch of [`SCHEMA`]; the builder is left empty.
    #[expect(
        clippy::expect_used,
        reason = "each builder has SCHEMA's column type, one value per row, and nulls only where SCHEMA allows them"
    )]
    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.url.finish()),
            Arc::new(self.caption.finish()),
            Arc::new(self.page_url.finish()),
            Arc::new(self.language.finish()),
            Arc::new(self.html_width.finish()),
            Arc::new(self.html_height.finish()),
            Arc::new(self.noai.finish()),
            Arc::new(self.noimageai.finish()),
            Arc::new(self.tdm.finish()),
            Arc::new(self.uid.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_offset.finish()),
            Arc::new(self.warc_date.finish()),
        ];
        RecordBatch::try_new(SCHEMA.clone(), columns).expect("the builders match SCHEMA")
    }
}

/// A parquet file written through the durable write ([`AtomicFile`]) and committed by
/// [`finish`]: a crash leaves the old state or the new, never a partial file under the final
/// name.
///
/// [`finish`]: AtomicParquet::finish
pub(crate) struct AtomicParquet {
    path: PathBuf,
    writer: ArrowWriter<AtomicFile>,
}

impl AtomicParquet {
    /// An output shard: zstd, kept.
    #[expect(clippy::expect_used, reason = "3 is a constant in zstd's range of levels, 1 to 22")]
    pub fn output(path: &Path) -> Result<Self, CollectError> {
        Self::create(path, Compression::ZSTD(ZstdLevel::try_new(3).expect("level 3 is valid")))
    }

    /// A staging file, read once and removed: uncompressed, since compressing it would cost
    /// more than writing its bytes (a few percent of the archive's).
    pub fn staging(path: &Path) -> Result<Self, CollectError> {
        Self::create(path, Compression::UNCOMPRESSED)
    }

    fn create(path: &Path, compression: Compression) -> Result<Self, CollectError> {
        let file = AtomicFile::create(path).map_err(|e| CollectError::file(path, e))?;
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            // Unique per row: a dictionary would only cost time.
            .set_column_dictionary_enabled(ColumnPath::from("url"), false)
            .set_column_dictionary_enabled(ColumnPath::from("caption"), false)
            .set_column_dictionary_enabled(ColumnPath::from("uid"), false)
            .set_created_by(format!("pairscope collect {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, SCHEMA.clone(), Some(properties))
            .map_err(|e| CollectError::file(path, std::io::Error::other(e)))?;
        Ok(AtomicParquet { path: path.to_path_buf(), writer })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), CollectError> {
        self.writer.write(batch).map_err(|e| CollectError::file(&self.path, std::io::Error::other(e)))
    }

    pub fn finish(self) -> Result<(), CollectError> {
        let AtomicParquet { path, writer } = self;
        let file = writer.into_inner().map_err(|e| CollectError::file(&path, std::io::Error::other(e)))?;
        file.commit().map_err(|e| CollectError::file(&path, e))
    }
}
