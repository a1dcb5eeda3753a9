//! Building the index of one block from its canonical rows.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use pairscope_text::Normalizer;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::SingleSegmentIndexWriter;
use tantivy::schema::Field;
use tantivy::tokenizer::MAX_TOKEN_LEN;
use tantivy::{IndexBuilder, IndexSettings, TantivyDocument};

use crate::error::{IndexError, Result};
use crate::schema::{BOOL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, IndexFields, KEYWORD_COLUMNS, tokenizers};

/// Memory the segment writer may use before it must be finalised. A block is at most 2^20
/// rows, so the budget is never reached on alt-text-sized captions; it bounds the pathological
/// case (every caption at the 64 KiB cut).
const MEMORY_BUDGET: usize = 1 << 30;

/// Writes the index of one block: documents are added in row order, so document `n` of the
/// index is row `n` of the block's parquet file. One segment, written by the calling thread:
/// the result does not depend on timing or thread count.
pub struct BlockIndexWriter {
    dir: PathBuf,
    fields: IndexFields,
    writer: SingleSegmentIndexWriter<TantivyDocument>,
    plain: Normalizer,
    folded: Normalizer,
    docs: u64,
}

impl BlockIndexWriter {
    /// Creates the index in `dir`, which must not exist yet.
    pub fn create(dir: &Path) -> Result<BlockIndexWriter> {
        std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        let fields = IndexFields::new();
        let directory = MmapDirectory::open(dir).map_err(|e| IndexError::tantivy(dir, e))?;
        let writer = IndexBuilder::new()
            .schema(fields.schema.clone())
            .settings(IndexSettings::default())
            .tokenizers(tokenizers())
            .single_segment_index_writer(directory, MEMORY_BUDGET)
            .map_err(|e| IndexError::tantivy(dir, e))?;
        Ok(BlockIndexWriter {
            dir: dir.to_path_buf(),
            fields,
            writer,
            plain: Normalizer::new(false),
            folded: Normalizer::new(true),
            docs: 0,
        })
    }

    /// Adds the rows of a canonical batch (the store's block schema: canonical columns by
    /// name; extra columns are ignored).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let column = |name: &str| batch.column_by_name(name);
        let missing = |name: &str| IndexError::Schema(format!("the batch has no {name} column"));
        let row_ids = column("row_id").ok_or_else(|| missing("row_id"))?.as_primitive_opt::<Int64Type>();
        let captions = column("caption").ok_or_else(|| missing("caption"))?.as_string_opt::<i32>();
        let urls = column("url").ok_or_else(|| missing("url"))?.as_string_opt::<i32>();
        let (Some(row_ids), Some(captions), Some(urls)) = (row_ids, captions, urls) else {
            return Err(IndexError::Schema("row_id, caption or url has the wrong type".into()));
        };
        let page_urls = column("page_url").and_then(|c| c.as_string_opt::<i32>());
        let ints = typed(batch, &self.fields, INT_COLUMNS, |a| a.as_primitive_opt::<Int32Type>());
        let floats = typed(batch, &self.fields, FLOAT_COLUMNS, |a| a.as_primitive_opt::<Float64Type>());
        let keywords = typed(batch, &self.fields, KEYWORD_COLUMNS, |a| a.as_string_opt::<i32>());
        let bools = typed(batch, &self.fields, BOOL_COLUMNS, |a| a.as_boolean_opt());

        let mut key = String::new();
        for row in 0..batch.num_rows() {
            let mut doc = TantivyDocument::new();
            doc.add_i64(self.fields.row_id, row_ids.value(row));
            let caption = captions.value(row);
            doc.add_text(self.fields.caption, caption);
            if !caption.is_ascii() && self.plain.normalize(caption) != self.folded.normalize(caption) {
                doc.add_text(self.fields.caption_folded, caption);
            }
            let url = urls.value(row);
            doc.add_text(self.fields.url_key, url_key(url, &mut key));
            if let Some(page_urls) = page_urls.filter(|p| p.is_valid(row)) {
                doc.add_text(self.fields.page_url_key, url_key(page_urls.value(row), &mut key));
            }
            for (field, array) in &ints {
                if array.is_valid(row) {
                    doc.add_i64(*field, i64::from(array.value(row)));
                }
            }
            for (field, array) in &floats {
                if array.is_valid(row) {
                    doc.add_f64(*field, array.value(row));
                }
            }
            for (field, array) in &keywords {
                if array.is_valid(row) {
                    doc.add_text(*field, array.value(row));
                }
            }
            for (field, array) in &bools {
                if array.is_valid(row) {
                    doc.add_bool(*field, array.value(row));
                }
            }
            self.writer.add_document(doc).map_err(|e| IndexError::tantivy(&self.dir, e))?;
            self.docs += 1;
        }
        Ok(())
    }

    /// Writes the segment and its metadata and makes every file durable. Returns the number of
    /// documents.
    pub fn finish(self) -> Result<u64> {
        let dir = self.dir;
        self.writer.finalize().map_err(|e| IndexError::tantivy(&dir, e))?;
        // tantivy fsyncs its meta file; the segment files are made durable here, before the
        // caller's rename publishes the directory.
        for entry in std::fs::read_dir(&dir).map_err(|e| IndexError::io(&dir, e))? {
            let path = entry.map_err(|e| IndexError::io(&dir, e))?.path();
            File::open(&path).and_then(|f| f.sync_all()).map_err(|e| IndexError::io(&path, e))?;
        }
        File::open(&dir).and_then(|f| f.sync_all()).map_err(|e| IndexError::io(&dir, e))?;
        Ok(self.docs)
    }
}

/// The (field, typed array) pairs of `names` present in `batch` with the expected type.
fn typed<'b, A: ?Sized>(
    batch: &'b RecordBatch,
    fields: &IndexFields,
    names: &[&str],
    cast: impl Fn(&'b dyn Array) -> Option<&'b A>,
) -> Vec<(Field, &'b A)> {
    names
        .iter()
        .filter_map(|name| {
            let array = cast(batch.column_by_name(name)?.as_ref())?;
            Some((fields.field(name)?, array))
        })
        .collect()
}

/// The term a URL is indexed under: ASCII-lower-cased (hosts and schemes are
/// case-insensitive; users type paths in any case), cut to tantivy's longest term.
pub fn url_key<'a>(url: &str, out: &'a mut String) -> &'a str {
    out.clear();
    let mut end = url.len().min(MAX_TOKEN_LEN);
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&url[..end]);
    out.make_ascii_lowercase();
    out
}
