//! Building the index of one block from its canonical rows.
//!
//! A block's index is one tantivy segment whose document `n` is row `n` of the block file. Its
//! two costly halves are built at once, each on a thread of its own: the inverted half (caption
//! tokens and URL keys: postings, positions, term dictionary, field norms, and the document
//! store, which holds an empty record per row) and the columnar half (the fast fields: row
//! ids, sizes, scores, keywords, flags). Each half is a whole tantivy [`SegmentWriter`] fed every
//! row with the values of its half only, both under the same segment id; the block's segment is
//! the inverted half's files with the columnar half's `.fast` file. Tantivy keeps each component
//! of a segment in a file of its own (`<segment id>.<component>`), written by that component's
//! writer from the values it was given, so the spliced segment is byte for byte the one a single
//! writer fed whole rows writes (tested) — in about half the wall time, which lets a one-file
//! ingest use two cores for its one block. The split is fixed (never chosen by thread count) and
//! the segment id is the caller's (derived from the block), so the same rows always give the
//! same bytes. Finished, the segment's files and its metadata are packed into the index's one
//! [`crate::bundle`] file.
//!
//! The caller's thread resolves each batch's values once (`BatchValues`: URL keys, which
//! captions folding changes) and shares them with both halves. Memory: two segment writers
//! (each holding its block's postings until finalised: a block is at most 2^20 rows, with
//! captions cut at 64 KiB) and at most `QUEUED_BATCHES` batches queued ahead of each.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use pairscope_model::panic_message;
use pairscope_text::Normalizer;
use tantivy::index::{SegmentComponent, SegmentId};
use tantivy::indexer::{AddOperation, SegmentWriter};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{Document, Field, Value};
use tantivy::store::Compressor;
use tantivy::{Index, IndexBuilder, IndexMeta, IndexSettings};

use crate::bundle::{self, Packed};
use crate::directory::StagingDirectory;
use crate::error::{IndexError, Result};
use crate::schema::{BOOL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, IndexFields, KEYWORD_COLUMNS, tokenizers};

/// The memory budget each half's segment writer is created with. A segment writer driven
/// directly (no `IndexWriter` flushing at the budget) uses it only to size its initial term
/// table (a third of it, at most 2^19 slots), which then doubles as terms come: a large budget
/// allocated and zeroed a 4 MiB table per half per block, most of a small block's ingest.
const TERM_TABLE_BUDGET: usize = 1 << 20;
/// Batches queued ahead of each half: enough to ride out the other half's pauses.
const QUEUED_BATCHES: usize = 4;
/// Where the columnar half is written, inside the index directory, until its `.fast` file
/// joins the segment.
const COLUMNAR_HALF_DIR: &str = "columnar-half";

/// Writes the index of one block: documents are added in row order, so document `n` of the
/// index is row `n` of the block's parquet file.
pub struct BlockIndexWriter {
    dir: PathBuf,
    fields: IndexFields,
    index: Index,
    segment_id: SegmentId,
    inverted: HalfWriter,
    columnar: HalfWriter,
    plain: Normalizer,
    folded: Normalizer,
    docs: u64,
}

/// Which of a row's values a [`RowDoc`] shows its segment writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    Inverted,
    Columnar,
    /// Both: what one writer fed whole rows sees (the reference the split is tested against).
    #[cfg(test)]
    Whole,
}

impl BlockIndexWriter {
    /// Creates the index in `dir`, which must not exist yet. `segment_id` names the segment's
    /// files: derive it from the block, so the same block always gets the same bytes.
    pub fn create(dir: &Path, segment_id: u128) -> Result<BlockIndexWriter> {
        let columnar_dir = dir.join(COLUMNAR_HALF_DIR);
        std::fs::create_dir_all(&columnar_dir).map_err(|e| IndexError::io(&columnar_dir, e))?;
        let segment_id = SegmentId::from_uuid_string(&format!("{segment_id:032x}"))
            .map_err(|e| IndexError::Schema(format!("segment id: {e}")))?;
        let fields = IndexFields::new();
        let index = create_index(dir, &fields)?;
        let inverted = HalfWriter::start(dir, index.clone(), segment_id, Half::Inverted)?;
        let columnar =
            HalfWriter::start(&columnar_dir, create_index(&columnar_dir, &fields)?, segment_id, Half::Columnar)?;
        Ok(BlockIndexWriter {
            dir: dir.to_path_buf(),
            fields,
            index,
            segment_id,
            inverted,
            columnar,
            plain: Normalizer::new(false),
            folded: Normalizer::new(true),
            docs: 0,
        })
    }

    /// Adds the rows of a canonical batch (the store's block schema: canonical columns by
    /// name; extra columns are ignored).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let values = Arc::new(BatchValues::new(batch, &self.fields, &mut self.plain, &mut self.folded)?);
        self.inverted.send(&values);
        self.columnar.send(&values);
        self.docs += batch.num_rows() as u64;
        Ok(())
    }

    /// No more rows: both halves finalise their segments on their own threads, while the
    /// caller goes on with other work until [`Self::finish`].
    pub fn seal(&mut self) {
        self.inverted.seal();
        self.columnar.seal();
    }

    /// Waits for both halves, joins them into one segment, writes the index's metadata and
    /// makes every file durable. Returns the number of documents.
    pub fn finish(mut self) -> Result<u64> {
        self.seal();
        let dir = self.dir;
        let columnar_dir = dir.join(COLUMNAR_HALF_DIR);
        let inverted_docs = self.inverted.finish(&dir)?;
        let columnar_docs = self.columnar.finish(&columnar_dir)?;
        if u64::from(inverted_docs) != self.docs || u64::from(columnar_docs) != self.docs {
            return Err(IndexError::Schema(format!(
                "the halves of {} hold {inverted_docs} and {columnar_docs} documents for {} rows",
                dir.display(),
                self.docs
            )));
        }
        let fast = self
            .index
            .segment(self.index.new_segment_meta(self.segment_id, 0))
            .relative_path(SegmentComponent::FastFields);
        std::fs::rename(columnar_dir.join(&fast), dir.join(&fast)).map_err(|e| IndexError::io(&dir.join(&fast), e))?;
        std::fs::remove_dir_all(&columnar_dir).map_err(|e| IndexError::io(&columnar_dir, e))?;
        publish(&self.index, &dir, self.segment_id, inverted_docs)?;
        Ok(self.docs)
    }
}

/// Packs the segment's files and the metadata a single-segment writer saves into the index's
/// bundle, durable before the caller's rename publishes the directory (see [`crate::bundle`]);
/// what else tantivy left in the staging directory (its list of files, locks) is removed.
fn publish(index: &Index, dir: &Path, segment_id: SegmentId, docs: u32) -> Result<()> {
    let meta = IndexMeta {
        index_settings: index.settings().clone(),
        persisted_custom_extensions: Vec::new(),
        segments: vec![index.new_segment_meta(segment_id, docs)],
        schema: index.schema(),
        opstamp: 0,
        payload: None,
    };
    let mut json = serde_json::to_vec_pretty(&meta).map_err(|e| IndexError::Schema(format!("index metadata: {e}")))?;
    json.push(b'\n');
    // The segment's files are `<segment id>.<component>`; the rest is tantivy's bookkeeping.
    let prefix = format!("{}.", segment_id.uuid_string());
    let mut files = BTreeMap::from([("meta.json".to_string(), Packed::Bytes(json))]);
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IndexError::io(dir, e))? {
        let entry = entry.map_err(|e| IndexError::io(dir, e))?;
        match entry.file_name().into_string() {
            Ok(name) if name.starts_with(&prefix) => {
                files.insert(name, Packed::File);
            }
            _ => others.push(entry.path()),
        }
    }
    bundle::pack(dir, &files).map_err(|e| IndexError::io(&dir.join(bundle::BUNDLE_FILE), e))?;
    for path in others {
        std::fs::remove_file(&path).map_err(|e| IndexError::io(&path, e))?;
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IndexError::io(dir, e))
}

/// An empty index in `dir` with the block schema, in a [`StagingDirectory`] (nothing synced
/// until [`publish`]): nothing is stored (the block's parquet file holds the rows), so the
/// store keeps an empty record per document, and compressing it, on a thread of its own, buys
/// nothing.
fn create_index(dir: &Path, fields: &IndexFields) -> Result<Index> {
    let staging = StagingDirectory::open(dir).map_err(|e| IndexError::tantivy(dir, e))?;
    IndexBuilder::new()
        .schema(fields.schema.clone())
        .settings(IndexSettings {
            docstore_compression: Compressor::None,
            docstore_compress_dedicated_thread: false,
            ..IndexSettings::default()
        })
        .tokenizers(tokenizers())
        .open_or_create(staging)
        .map_err(|e| IndexError::tantivy(dir, e))
}

/// One half of a block's segment, written on a thread of its own from the batches sent to it.
/// Dropped unfinished (the ingest failed), it stops its thread without writing the segment and
/// waits for it, so no thread goes on writing into a directory the caller is removing.
struct HalfWriter {
    batches: Option<SyncSender<Arc<BatchValues>>>,
    abandoned: Arc<AtomicBool>,
    worker: Option<JoinHandle<tantivy::Result<u32>>>,
}

impl HalfWriter {
    fn start(dir: &Path, index: Index, segment_id: SegmentId, half: Half) -> Result<HalfWriter> {
        let (sender, batches) = sync_channel(QUEUED_BATCHES);
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = abandoned.clone();
        let worker = std::thread::Builder::new()
            .name(format!("index {half:?} half"))
            .spawn(move || write_half(&index, segment_id, half, batches, &stop))
            .map_err(|e| IndexError::io(dir, e))?;
        Ok(HalfWriter { batches: Some(sender), abandoned, worker: Some(worker) })
    }

    fn send(&mut self, values: &Arc<BatchValues>) {
        let sent = self.batches.as_ref().is_some_and(|s| s.send(values.clone()).is_ok());
        if !sent {
            // The writer stopped early; `finish` reports why.
            self.batches = None;
        }
    }

    fn seal(&mut self) {
        self.batches = None;
    }

    /// The number of documents the half wrote into `dir`.
    #[expect(clippy::expect_used, reason = "the worker is taken only here and in drop, and finish consumes the writer")]
    fn finish(mut self, dir: &Path) -> Result<u32> {
        self.seal();
        let worker = self.worker.take().expect("a half is finished once");
        match worker.join() {
            Ok(written) => written.map_err(|e| IndexError::tantivy(dir, e)),
            Err(panic) => Err(IndexError::Schema(format!(
                "the index writer of {} failed: {}",
                dir.display(),
                panic_message(&panic)
            ))),
        }
    }
}

impl Drop for HalfWriter {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.abandoned.store(true, Ordering::Relaxed);
            self.batches = None;
            let _ = worker.join();
        }
    }
}

/// Feeds every row of `batches` to a segment writer, showing it `half` of the values, and
/// writes the segment's files. Returns the number of documents; nothing is written once
/// `abandoned` is set.
fn write_half(
    index: &Index,
    segment_id: SegmentId,
    half: Half,
    batches: Receiver<Arc<BatchValues>>,
    abandoned: &AtomicBool,
) -> tantivy::Result<u32> {
    let segment = index.segment(index.new_segment_meta(segment_id, 0));
    let mut writer = SegmentWriter::for_segment(TERM_TABLE_BUDGET, segment)?;
    let mut opstamp = 0;
    for values in batches {
        if abandoned.load(Ordering::Relaxed) {
            break;
        }
        for row in 0..values.rows() {
            writer.add_document(AddOperation { opstamp, document: RowDoc { batch: values.clone(), row, half } })?;
            opstamp += 1;
        }
    }
    let docs = writer.max_doc();
    if !abandoned.load(Ordering::Relaxed) {
        writer.finalize()?;
    }
    Ok(docs)
}

/// The field values of one batch's rows, resolved once and shared by both halves: a document
/// is a row number into them, so adding it copies no text, and tantivy's several passes over a
/// document's values are a walk over a slice.
struct BatchValues {
    /// The text columns that [`Stored::Text`] refers to.
    texts: Vec<StringArray>,
    /// Every row's values, row after row: `starts[r]..columnar[r]` are row `r`'s inverted
    /// values, `columnar[r]..starts[r + 1]` its columnar ones.
    values: Vec<(Field, Stored)>,
    starts: Vec<usize>,
    columnar: Vec<usize>,
}

/// A value as [`BatchValues`] holds it: text by column, the rest by value.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Text(usize),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl BatchValues {
    fn new(batch: &RecordBatch, fields: &IndexFields, plain: &mut Normalizer, folded: &mut Normalizer) -> Result<Self> {
        let column = |name: &str| batch.column_by_name(name);
        let missing = |name: &str| IndexError::Schema(format!("the batch has no {name} column"));
        let row_ids = column("row_id").ok_or_else(|| missing("row_id"))?.as_primitive_opt::<Int64Type>();
        let captions = column("caption").ok_or_else(|| missing("caption"))?.as_string_opt::<i32>();
        let urls = column("url").ok_or_else(|| missing("url"))?.as_string_opt::<i32>();
        let (Some(row_ids), Some(captions), Some(urls)) = (row_ids, captions, urls) else {
            return Err(IndexError::Schema("row_id, caption or url has the wrong type".into()));
        };
        let page_urls = column("page_url").and_then(|c| c.as_string_opt::<i32>());
        let ints = typed(batch, fields, &INT_COLUMNS, |a| a.as_primitive_opt::<Int32Type>());
        let floats = typed(batch, fields, &FLOAT_COLUMNS, |a| a.as_primitive_opt::<Float64Type>());
        let keywords = typed(batch, fields, &KEYWORD_COLUMNS, |a| a.as_string_opt::<i32>());
        let bools = typed(batch, fields, &BOOL_COLUMNS, |a| a.as_boolean_opt());

        const CAPTION: usize = 0;
        const URL_KEY: usize = 1;
        const PAGE_URL_KEY: usize = 2;
        const FIRST_KEYWORD: usize = 3;
        let page_url_keys = page_urls.map(url_keys).unwrap_or_else(|| StringArray::new_null(batch.num_rows()));
        let mut texts = vec![captions.clone(), url_keys(urls), page_url_keys];
        texts.extend(keywords.iter().map(|(_, a)| a.clone()));

        let n = batch.num_rows();
        let mut values = Vec::with_capacity(n * (4 + ints.len() + floats.len() + keywords.len() + bools.len()));
        let mut starts = Vec::with_capacity(n + 1);
        let mut columnar = Vec::with_capacity(n);
        for row in 0..n {
            starts.push(values.len());
            values.push((fields.caption, Stored::Text(CAPTION)));
            let caption = captions.value(row);
            if !caption.is_ascii() && plain.normalize(caption) != folded.normalize(caption) {
                values.push((fields.caption_folded, Stored::Text(CAPTION)));
            }
            values.push((fields.url_key, Stored::Text(URL_KEY)));
            if texts[PAGE_URL_KEY].is_valid(row) {
                values.push((fields.page_url_key, Stored::Text(PAGE_URL_KEY)));
            }
            columnar.push(values.len());
            values.push((fields.row_id, Stored::I64(row_ids.value(row))));
            for (field, a) in &ints {
                if a.is_valid(row) {
                    values.push((*field, Stored::I64(i64::from(a.value(row)))));
                }
            }
            for (field, a) in &floats {
                if a.is_valid(row) {
                    values.push((*field, Stored::F64(a.value(row))));
                }
            }
            for (i, (field, a)) in keywords.iter().enumerate() {
                if a.is_valid(row) {
                    values.push((*field, Stored::Text(FIRST_KEYWORD + i)));
                }
            }
            for (field, a) in &bools {
                if a.is_valid(row) {
                    values.push((*field, Stored::Bool(a.value(row))));
                }
            }
        }
        starts.push(values.len());
        Ok(BatchValues { texts, values, starts, columnar })
    }

    fn rows(&self) -> usize {
        self.columnar.len()
    }

    /// The values of `row` that `half` sees.
    fn of(&self, row: usize, half: Half) -> &[(Field, Stored)] {
        let range = match half {
            Half::Inverted => self.starts[row]..self.columnar[row],
            Half::Columnar => self.columnar[row]..self.starts[row + 1],
            #[cfg(test)]
            Half::Whole => self.starts[row]..self.starts[row + 1],
        };
        &self.values[range]
    }
}

/// One row of a batch as a tantivy document, as one half sees it.
struct RowDoc {
    batch: Arc<BatchValues>,
    row: usize,
    half: Half,
}

impl Document for RowDoc {
    type Value<'a> = RowValue<'a>;
    type FieldsValuesIter<'a> = RowValues<'a>;

    fn iter_fields_and_values(&self) -> RowValues<'_> {
        RowValues { texts: &self.batch.texts, row: self.row, values: self.batch.of(self.row, self.half).iter() }
    }
}

struct RowValues<'a> {
    texts: &'a [StringArray],
    row: usize,
    values: std::slice::Iter<'a, (Field, Stored)>,
}

impl<'a> Iterator for RowValues<'a> {
    type Item = (Field, RowValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let &(field, stored) = self.values.next()?;
        let value = match stored {
            Stored::Text(column) => RowValue::Str(self.texts[column].value(self.row)),
            Stored::I64(v) => RowValue::I64(v),
            Stored::F64(v) => RowValue::F64(v),
            Stored::Bool(v) => RowValue::Bool(v),
        };
        Some((field, value))
    }
}

/// A field value of a [`RowDoc`], borrowed from its batch.
#[derive(Debug, Clone, Copy)]
enum RowValue<'a> {
    Str(&'a str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl<'a> Value<'a> for RowValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        ReferenceValue::Leaf(match *self {
            RowValue::Str(s) => ReferenceValueLeaf::Str(s),
            RowValue::I64(v) => ReferenceValueLeaf::I64(v),
            RowValue::F64(v) => ReferenceValueLeaf::F64(v),
            RowValue::Bool(v) => ReferenceValueLeaf::Bool(v),
        })
    }
}

/// The (field, typed array) pairs of `names` present in `batch` with the expected type.
fn typed<'b, A: Clone + 'b>(
    batch: &'b RecordBatch,
    fields: &IndexFields,
    names: &[&str],
    cast: impl Fn(&'b dyn Array) -> Option<&'b A>,
) -> Vec<(Field, A)> {
    names
        .iter()
        .filter_map(|name| {
            let array = cast(batch.column_by_name(name)?.as_ref())?;
            Some((fields.field(name)?, array.clone()))
        })
        .collect()
}

/// The [`url_key`]s of a column of URLs (null stays null).
fn url_keys(urls: &StringArray) -> StringArray {
    let mut key = String::new();
    let mut keys = StringBuilder::with_capacity(urls.len(), urls.value_data().len());
    for url in urls.iter() {
        keys.append_option(url.map(|url| url_key(url, &mut key)));
    }
    keys.finish()
}

/// Longest [`url_key`], in bytes.
pub const MAX_URL_KEY_BYTES: usize = 256;

/// How many directories of a URL its key keeps.
pub const URL_KEY_DIRECTORIES: usize = 2;

/// The key a URL is kept under: the ASCII-lower-cased URL (hosts and schemes are
/// case-insensitive; users type paths in any case) up to the end of its
/// [`URL_KEY_DIRECTORIES`]th directory — `https://i.pinimg.com/736x/3f/` for
/// `https://i.pinimg.com/736x/3f/1a/x.jpg`, `https://host/a/` for `https://host/a/x.jpg`,
/// `https://host/` for `https://host/x.jpg` — and at most [`MAX_URL_KEY_BYTES`]. Always a
/// prefix of the lower-cased URL ending at a '/' (or the cap, or the URL's end), so a URL whose
/// key starts with a prefix starts with it too, and a URL that starts with a prefix has a key
/// that starts with it or is a shorter prefix of it ending there: readers find both whatever
/// the depth (an index written with keys of another depth reads the same).
///
/// Not the whole URL: a distinct term per row (URLs are unique) would make a broad prefix
/// (an image host) a walk over every one of its URLs' terms and postings; directories
/// repeat. Two directories, not one: a CDN's first directory (`/736x/`, `/wp-content/`)
/// holds most of its rows, so a prefix one directory deeper would leave all of those to be
/// checked against their URLs in the parquet.
pub fn url_key<'a>(url: &str, out: &'a mut String) -> &'a str {
    out.clear();
    let bytes = url.as_bytes();
    let authority = url.find("://").map_or(0, |i| i + 3);
    let end = match memchr_from(bytes, b'/', authority) {
        None => url.len(),
        Some(root) => {
            let mut end = root;
            for _ in 0..URL_KEY_DIRECTORIES {
                match memchr_from(bytes, b'/', end + 1) {
                    Some(next) => end = next,
                    None => break,
                }
            }
            end + 1
        }
    };
    let mut end = end.min(MAX_URL_KEY_BYTES);
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&url[..end]);
    out.make_ascii_lowercase();
    out
}

/// The first `byte` in `bytes` at or after `from`.
fn memchr_from(bytes: &[u8], byte: u8, from: usize) -> Option<usize> {
    bytes.get(from..)?.iter().position(|&b| b == byte).map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
    use tantivy::Term;
    use tantivy::collector::DocSetCollector;
    use tantivy::query::{PhraseQuery, TermQuery};
    use tantivy::schema::IndexRecordOption;

    use super::*;

    fn batch() -> RecordBatch {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("row_id", Arc::new(Int64Array::from(vec![10, 11, 12, 13]))),
            (
                "url",
                Arc::new(StringArray::from(vec![
                    "HTTPS://A.example/X.JPG/y",
                    "http://b/2",
                    "http://c/3",
                    "http://d/4/5/6",
                ])),
            ),
            (
                "caption",
                Arc::new(StringArray::from(vec!["A red barn", "Albrecht Dürer", "葛飾北斎 print", "Ｔｈｏｍａｓ"])),
            ),
            ("page_url", Arc::new(StringArray::from(vec![Some("http://Page/1"), None, None, Some("http://p/4")]))),
            ("width", Arc::new(Int32Array::from(vec![Some(640), None, Some(1), Some(2)]))),
            ("aesthetic", Arc::new(Float64Array::from(vec![Some(6.5), Some(1.0), None, Some(0.0)]))),
            ("host", Arc::new(StringArray::from(vec![Some("a.example"), None, Some("c"), Some("d")]))),
            ("optout_noai", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, None]))),
            ("extra", Arc::new(Int32Array::from(vec![1, 2, 3, 4]))),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    /// The documents, fast fields and terms of an index built from a batch are the batch's
    /// rows, field by field: nulls stay absent, URLs become keys, captions are tokenised by
    /// the normaliser, and only captions that folding changes get folded terms.
    #[test]
    fn documents_are_the_rows() {
        let dir = std::env::temp_dir().join(format!("pairscope-index-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut writer = BlockIndexWriter::create(&dir, 7).unwrap();
        writer.add_batch(&batch()).unwrap();
        writer.add_batch(&batch().slice(1, 2)).unwrap();
        assert_eq!(writer.finish().unwrap(), 6);

        let block = crate::BlockIndex::open(&dir).unwrap();
        let searcher = block.searcher();
        let segment = searcher.segment_reader(0);
        let fast = segment.fast_fields();
        let all: Vec<u32> = (0..segment.max_doc()).collect();
        let ints = |name: &str| all.iter().map(|&d| fast.i64(name).unwrap().first(d)).collect::<Vec<_>>();
        assert_eq!(ints("row_id"), [10, 11, 12, 13, 11, 12].map(Some));
        assert_eq!(ints("width"), [Some(640), None, Some(1), Some(2), None, Some(1)]);
        let aesthetic: Vec<_> = all.iter().map(|&d| fast.f64("aesthetic").unwrap().first(d)).collect();
        assert_eq!(aesthetic, [Some(6.5), Some(1.0), None, Some(0.0), Some(1.0), None]);
        let noai: Vec<_> = all.iter().map(|&d| fast.bool("optout_noai").unwrap().first(d)).collect();
        assert_eq!(noai, [Some(true), Some(false), None, None, Some(false), None]);
        let strs = |name: &str| -> Vec<Option<String>> {
            let column = fast.str(name).unwrap().unwrap();
            all.iter()
                .map(|&d| {
                    column.term_ords(d).next().map(|ord| {
                        let mut s = String::new();
                        column.ord_to_str(ord, &mut s).unwrap();
                        s
                    })
                })
                .collect()
        };
        let some = |s: &str| Some(s.to_string());
        assert_eq!(strs("host"), [some("a.example"), None, some("c"), some("d"), None, some("c")]);

        let fields = IndexFields::new();
        let docs = |query: &dyn tantivy::query::Query| -> BTreeSet<u32> {
            searcher.search(query, &DocSetCollector).unwrap().into_iter().map(|a| a.doc_id).collect()
        };
        let term =
            |field: Field, text: &str| TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic);
        // URL keys are whole terms with postings, not fast columns.
        assert!(fast.str("url_key").is_err());
        assert_eq!(docs(&term(fields.url_key, "https://a.example/x.jpg/")), BTreeSet::from([0]));
        assert_eq!(docs(&term(fields.url_key, "http://b/")), BTreeSet::from([1, 4]));
        assert_eq!(docs(&term(fields.url_key, "http://c/")), BTreeSet::from([2, 5]));
        assert_eq!(docs(&term(fields.url_key, "http://d/4/5/")), BTreeSet::from([3]));
        assert_eq!(segment.inverted_index(fields.url_key).unwrap().terms().num_terms(), 4);
        assert_eq!(docs(&term(fields.page_url_key, "http://page/")), BTreeSet::from([0]));
        assert_eq!(docs(&term(fields.page_url_key, "http://p/")), BTreeSet::from([3]));
        assert_eq!(segment.inverted_index(fields.page_url_key).unwrap().terms().num_terms(), 2);
        assert_eq!(docs(&term(fields.caption, "dürer")), BTreeSet::from([1, 4]));
        assert_eq!(docs(&term(fields.caption, "thomas")), BTreeSet::from([3]));
        assert_eq!(docs(&term(fields.caption, "北斎")), BTreeSet::from([2, 5]));
        // Folding changes only the Dürer caption (full-width Latin folds the same either way).
        assert_eq!(docs(&term(fields.caption_folded, "durer")), BTreeSet::from([1, 4]));
        assert_eq!(docs(&term(fields.caption_folded, "thomas")), BTreeSet::new());
        // Keywords live in the fast column only (checked above), without postings.
        let host = fields.field("host").unwrap();
        assert!(segment.inverted_index(host).unwrap().terms().num_terms() == 0);
        let phrase = PhraseQuery::new(vec![
            Term::from_field_text(fields.caption, "red"),
            Term::from_field_text(fields.caption, "barn"),
        ]);
        assert_eq!(docs(&phrase), BTreeSet::from([0]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `n` rows of varied values: repeated and unique caption words (postings longer than a
    /// block of 128 documents), folded captions, nulls in every nullable column.
    fn many(n: usize) -> RecordBatch {
        let words = ["barn", "Dürer", "北斎", "red", "sky", "Ｔｈｏｍａｓ", "kinkade", "café"];
        let captions: Vec<String> = (0..n)
            .map(|i| format!("{} {} w{} {}", words[i % 8], words[i * 7 % 8], i % 997, words[i / 3 % 8]))
            .collect();
        let urls: Vec<String> = (0..n).map(|i| format!("https://h{}.example/d{}/{i}.jpg", i % 13, i % 101)).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("row_id", Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| 1_000 + i)))),
            ("url", Arc::new(StringArray::from_iter_values(&urls))),
            ("caption", Arc::new(StringArray::from_iter_values(&captions))),
            ("page_url", Arc::new(StringArray::from_iter((0..n).map(|i| (i % 3 == 0).then(|| urls[i].clone()))))),
            ("width", Arc::new(Int32Array::from_iter((0..n as i32).map(|i| (i % 5 != 0).then_some(i))))),
            ("aesthetic", Arc::new(Float64Array::from_iter((0..n).map(|i| (i % 7 != 0).then_some(i as f64 / 100.0))))),
            ("host", Arc::new(StringArray::from_iter((0..n).map(|i| (i % 11 != 0).then(|| format!("h{}", i % 13)))))),
            ("optout_noai", Arc::new(BooleanArray::from_iter((0..n).map(|i| (i % 4 != 0).then_some(i % 2 == 0))))),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    /// Every file packed in the bundle of an index directory, and its bytes; the directory
    /// holds the bundle alone (anything else would be a leftover).
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [bundle::BUNDLE_FILE], "{}", dir.display());
        let path = dir.join(bundle::BUNDLE_FILE);
        let bytes = std::fs::read(&path).unwrap();
        bundle::packed_files(&path)
            .unwrap()
            .into_iter()
            .map(|(name, range)| (name, bytes[range.start as usize..range.end as usize].to_vec()))
            .collect()
    }

    /// The halves written on two threads and spliced make, byte for byte, the segment one
    /// writer fed whole rows makes, under the id the caller gave.
    #[test]
    fn halves_make_the_segment_one_writer_makes() {
        let base = std::env::temp_dir().join(format!("pairscope-index-halves-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (split, whole) = (base.join("split"), base.join("whole"));
        let batches = [many(3000), batch(), many(700)];

        let mut writer = BlockIndexWriter::create(&split, 0xfeed).unwrap();
        for b in &batches {
            writer.add_batch(b).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), 3704);

        std::fs::create_dir_all(&whole).unwrap();
        let fields = IndexFields::new();
        let index = create_index(&whole, &fields).unwrap();
        let id = SegmentId::from_uuid_string(&format!("{:032x}", 0xfeed)).unwrap();
        let (sender, receiver) = sync_channel(batches.len());
        let (mut plain, mut folded) = (Normalizer::new(false), Normalizer::new(true));
        for b in &batches {
            sender.send(Arc::new(BatchValues::new(b, &fields, &mut plain, &mut folded).unwrap())).unwrap();
        }
        drop(sender);
        let docs = write_half(&index, id, Half::Whole, receiver, &AtomicBool::new(false)).unwrap();
        publish(&index, &whole, id, docs).unwrap();

        let (split_files, whole_files) = (files(&split), files(&whole));
        assert_eq!(split_files.keys().collect::<Vec<_>>(), whole_files.keys().collect::<Vec<_>>());
        assert!(split_files.keys().any(|name| name == &format!("{}.fast", id.uuid_string())));
        assert!(split_files.contains_key("meta.json"));
        for (name, bytes) in &split_files {
            assert!(bytes == &whole_files[name], "{name} differs");
        }
        assert!(
            std::fs::read(split.join(bundle::BUNDLE_FILE)).unwrap()
                == std::fs::read(whole.join(bundle::BUNDLE_FILE)).unwrap()
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// An index of loose files (as published before bundles) opens and answers exactly as
    /// its bundle does; the bundle is one mapping where the loose files were one per large file.
    #[test]
    fn an_index_of_loose_files_answers_as_its_bundle() {
        let base = tempfile::tempdir().unwrap();
        let (bundled, loose) = (base.path().join("bundled"), base.path().join("loose"));
        let mut writer = BlockIndexWriter::create(&bundled, 0xb0b).unwrap();
        writer.add_batch(&many(20_000)).unwrap();
        writer.finish().unwrap();
        std::fs::create_dir_all(&loose).unwrap();
        for (name, bytes) in files(&bundled) {
            std::fs::write(loose.join(name), bytes).unwrap();
        }
        let (bundled, loose) = (crate::BlockIndex::open(&bundled).unwrap(), crate::BlockIndex::open(&loose).unwrap());
        assert_eq!((bundled.docs(), loose.docs()), (20_000, 20_000));
        assert_eq!(bundled.mapped_files(), 1);
        assert!(loose.mapped_files() > 1, "{}", loose.mapped_files());
        let fields = IndexFields::new();
        let docs = |index: &crate::BlockIndex, query: &dyn tantivy::query::Query| -> Vec<u32> {
            let mut docs: Vec<u32> =
                index.searcher().search(query, &DocSetCollector).unwrap().into_iter().map(|a| a.doc_id).collect();
            docs.sort_unstable();
            docs
        };
        for word in ["barn", "dürer", "w17", "kinkade"] {
            let query = TermQuery::new(Term::from_field_text(fields.caption, word), IndexRecordOption::Basic);
            let found = docs(&bundled, &query);
            assert!(!found.is_empty(), "{word}");
            assert_eq!(found, docs(&loose, &query), "{word}");
        }
    }

    /// Keys are the lower-cased URL up to its second directory, capped, and always a prefix of
    /// the lower-cased URL.
    #[test]
    fn url_keys_are_the_first_two_directories() {
        let mut out = String::new();
        let cases = [
            ("https://i.pinimg.com/736x/3f/1a/X.jpg", "https://i.pinimg.com/736x/3f/"),
            ("https://Host/A/x.jpg", "https://host/a/"),
            ("HTTPS://Host.Example/Photo.JPG", "https://host.example/"),
            ("https://host.example", "https://host.example"),
            ("https://host.example/", "https://host.example/"),
            ("http://h/a?next=/b/c", "http://h/a?next=/b/"),
            ("//cdn.example/a/b", "//cdn.example/"),
            ("relative/path/x.jpg", "relative/path/"),
            ("", ""),
        ];
        for (url, key) in cases {
            assert_eq!(url_key(url, &mut out), key, "{url}");
        }
        let long = format!("https://h/{}é/x", "a".repeat(MAX_URL_KEY_BYTES));
        let key = url_key(&long, &mut out).to_string();
        assert!(key.len() <= MAX_URL_KEY_BYTES && long.to_ascii_lowercase().starts_with(&key), "{key}");
        let multibyte = format!("https://h/{}éé/x", "a".repeat(MAX_URL_KEY_BYTES - 11));
        let key = url_key(&multibyte, &mut out).to_string();
        assert!(key.len() <= MAX_URL_KEY_BYTES && multibyte.starts_with(&key), "{key}");
    }
}
