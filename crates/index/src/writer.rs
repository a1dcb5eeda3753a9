//! Building the index of one block from its canonical rows.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use pairscope_text::Normalizer;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::SingleSegmentIndexWriter;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{Document, Field, Value};
use tantivy::store::Compressor;
use tantivy::{IndexBuilder, IndexSettings};

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
    writer: SingleSegmentIndexWriter<RowDoc>,
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
            .settings(IndexSettings {
                // Nothing is stored (the block's parquet file holds the rows): the store keeps
                // an empty record per document, so compressing it, on a thread of its own per
                // block, buys nothing.
                docstore_compression: Compressor::None,
                docstore_compress_dedicated_thread: false,
                ..IndexSettings::default()
            })
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
        let values = Arc::new(BatchValues::new(batch, &self.fields, &mut self.plain, &mut self.folded)?);
        for row in 0..batch.num_rows() {
            self.writer
                .add_document(RowDoc { batch: values.clone(), row })
                .map_err(|e| IndexError::tantivy(&self.dir, e))?;
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

/// The field values of one batch's rows, resolved once and shared by the batch's documents:
/// a document is a row number into them, so adding it copies no text, and tantivy's several
/// passes over a document's values (postings, fast fields, store) are a walk over a slice.
struct BatchValues {
    /// The text columns that [`Stored::Text`] refers to.
    texts: Vec<StringArray>,
    /// Every row's values in field order, row after row: `starts[r]..starts[r + 1]` are row
    /// `r`'s.
    values: Vec<(Field, Stored)>,
    starts: Vec<usize>,
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
        let ints = typed(batch, fields, INT_COLUMNS, |a| a.as_primitive_opt::<Int32Type>());
        let floats = typed(batch, fields, FLOAT_COLUMNS, |a| a.as_primitive_opt::<Float64Type>());
        let keywords = typed(batch, fields, KEYWORD_COLUMNS, |a| a.as_string_opt::<i32>());
        let bools = typed(batch, fields, BOOL_COLUMNS, |a| a.as_boolean_opt());

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
        for row in 0..n {
            starts.push(values.len());
            values.push((fields.row_id, Stored::I64(row_ids.value(row))));
            values.push((fields.caption, Stored::Text(CAPTION)));
            let caption = captions.value(row);
            if !caption.is_ascii() && plain.normalize(caption) != folded.normalize(caption) {
                values.push((fields.caption_folded, Stored::Text(CAPTION)));
            }
            values.push((fields.url_key, Stored::Text(URL_KEY)));
            if texts[PAGE_URL_KEY].is_valid(row) {
                values.push((fields.page_url_key, Stored::Text(PAGE_URL_KEY)));
            }
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
        Ok(BatchValues { texts, values, starts })
    }
}

/// One row of a batch as a tantivy document.
struct RowDoc {
    batch: Arc<BatchValues>,
    row: usize,
}

impl Document for RowDoc {
    type Value<'a> = RowValue<'a>;
    type FieldsValuesIter<'a> = RowValues<'a>;

    fn iter_fields_and_values(&self) -> RowValues<'_> {
        let range = self.batch.starts[self.row]..self.batch.starts[self.row + 1];
        RowValues { texts: &self.batch.texts, row: self.row, values: self.batch.values[range].iter() }
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

/// The key a URL is kept under: the ASCII-lower-cased URL (hosts and schemes are
/// case-insensitive; users type paths in any case) up to the end of its first directory —
/// `https://i.pinimg.com/736x/` for `https://i.pinimg.com/736x/3f/1a/x.jpg`, `https://host/`
/// for `https://host/x.jpg` — and at most [`MAX_URL_KEY_BYTES`]. Always a prefix of the
/// lower-cased URL, so a URL whose key starts with a prefix starts with it too, and a URL
/// that starts with a prefix has a key that starts with it or is a shorter prefix of it.
///
/// Not the whole URL: keys are a fast column with a sorted dictionary, and a distinct value
/// per row (URLs are unique) made building it a quarter of ingest time; directories repeat.
pub fn url_key<'a>(url: &str, out: &'a mut String) -> &'a str {
    out.clear();
    let bytes = url.as_bytes();
    let authority = url.find("://").map_or(0, |i| i + 3);
    let end = match memchr_from(bytes, b'/', authority) {
        None => url.len(),
        Some(root) => memchr_from(bytes, b'/', root + 1).unwrap_or(root) + 1,
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
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
    use tantivy::collector::DocSetCollector;
    use tantivy::query::{PhraseQuery, TermQuery};
    use tantivy::schema::IndexRecordOption;
    use tantivy::{Index, Term};

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
        let mut writer = BlockIndexWriter::create(&dir).unwrap();
        writer.add_batch(&batch()).unwrap();
        writer.add_batch(&batch().slice(1, 2)).unwrap();
        assert_eq!(writer.finish().unwrap(), 6);

        let mut index = Index::open_in_dir(&dir).unwrap();
        index.set_tokenizers(tokenizers());
        let searcher = index.reader().unwrap().searcher();
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
        assert_eq!(
            strs("url_key"),
            [
                some("https://a.example/x.jpg/"),
                some("http://b/"),
                some("http://c/"),
                some("http://d/4/"),
                some("http://b/"),
                some("http://c/")
            ]
        );
        assert_eq!(strs("page_url_key"), [some("http://page/"), None, None, some("http://p/"), None, None]);
        assert_eq!(strs("host"), [some("a.example"), None, some("c"), some("d"), None, some("c")]);

        let fields = IndexFields::new();
        let docs = |query: &dyn tantivy::query::Query| -> BTreeSet<u32> {
            searcher.search(query, &DocSetCollector).unwrap().into_iter().map(|a| a.doc_id).collect()
        };
        let term =
            |field: Field, text: &str| TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic);
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

    /// Keys are the lower-cased URL up to its first directory, capped, and always a prefix of
    /// the lower-cased URL.
    #[test]
    fn url_keys_are_first_directories() {
        let mut out = String::new();
        let cases = [
            ("https://i.pinimg.com/736x/3f/1a/X.jpg", "https://i.pinimg.com/736x/"),
            ("HTTPS://Host.Example/Photo.JPG", "https://host.example/"),
            ("https://host.example", "https://host.example"),
            ("https://host.example/", "https://host.example/"),
            ("http://h/a?next=/b/c", "http://h/a?next=/"),
            ("//cdn.example/a/b", "//"),
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
