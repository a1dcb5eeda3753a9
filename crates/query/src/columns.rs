//! A segment's fast fields as Arrow arrays, for a batch of documents: how the filter language
//! (`pairscope-expr`, the one evaluator) runs over the index, and how sort keys, facets and
//! hits read their values.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use pairscope_index::schema::{BOOL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, KEYWORD_COLUMNS};
use pairscope_index::tantivy::columnar::{Column, ColumnIndex, ColumnValues, StrColumn};
use pairscope_index::tantivy::{DocId, SegmentReader, TantivyError};
use pairscope_model::RowId;
use pairscope_store::overlay::Overlay;

use crate::error::{QueryError, Result};

/// The type a column has in filter batches (the canonical type; keywords dictionary-encoded by
/// the segment's term ordinals).
pub fn filter_type(name: &str) -> Option<DataType> {
    if name == "row_id" {
        Some(DataType::Int64)
    } else if INT_COLUMNS.contains(&name) {
        Some(DataType::Int32)
    } else if FLOAT_COLUMNS.contains(&name) {
        Some(DataType::Float64)
    } else if KEYWORD_COLUMNS.contains(&name) {
        Some(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)))
    } else if BOOL_COLUMNS.contains(&name) {
        Some(DataType::Boolean)
    } else {
        None
    }
}

/// The schema of every column the index keeps, as filter batches carry them.
pub fn filter_schema() -> SchemaRef {
    let names = std::iter::once(&"row_id")
        .chain(INT_COLUMNS.iter())
        .chain(FLOAT_COLUMNS.iter())
        .chain(KEYWORD_COLUMNS.iter())
        .chain(BOOL_COLUMNS.iter());
    Arc::new(Schema::new(
        // Every name listed has a type.
        names.filter_map(|name| Some(Field::new(*name, filter_type(name)?, true))).collect::<Vec<_>>(),
    ))
}

/// The fast-field columns of one segment opened so far, kept for every call on the engine:
/// opening a column reads all its block headers (a vector that grows with the rows), and a
/// keyword column's values are read once into an array.
#[derive(Default)]
pub(crate) struct OpenColumns {
    /// The block's overlay, laid over the index's values of the columns it has.
    overlay: Option<Arc<Overlay>>,
    /// The id of the block's first row when its documents are the rows at consecutive offsets
    /// from 0 (see [`ConsecutiveRowIds`]).
    consecutive_from: Option<RowId>,
    i64s: Mutex<HashMap<&'static str, FastColumn<i64>>>,
    f64s: Mutex<HashMap<&'static str, FastColumn<f64>>>,
    bools: Mutex<HashMap<&'static str, FastColumn<bool>>>,
    strs: Mutex<HashMap<&'static str, StrColumn>>,
    values: Mutex<HashMap<&'static str, Arc<StringArray>>>,
}

impl OpenColumns {
    /// The columns of a segment of a block with `overlay`, none opened yet. `consecutive_from`:
    /// the block's first row id if the block holds every row of its range (its source skipped
    /// none), so that document `n` is the row at offset `n`.
    pub(crate) fn new(overlay: Option<Arc<Overlay>>, consecutive_from: Option<RowId>) -> OpenColumns {
        OpenColumns { overlay, consecutive_from, ..OpenColumns::default() }
    }

    /// The segment's row ids: computed when they are consecutive, else its `row_id` column.
    fn row_ids(&self, segment: &SegmentReader) -> std::result::Result<Column<i64>, TantivyError> {
        Ok(match self.consecutive_from {
            Some(first) => Column {
                index: ColumnIndex::Full,
                values: Arc::new(ConsecutiveRowIds { first: first.0, rows: segment.max_doc() }),
            },
            None => segment.fast_fields().i64("row_id")?,
        })
    }

    /// `base` (column `name` of `segment`) with the overlay's values of it, if it has any.
    fn overlaid<T>(
        &self,
        segment: &SegmentReader,
        name: &str,
        base: Column<T>,
        overlay_column: impl Fn(&Overlay, &str) -> Option<Column<T>>,
    ) -> std::result::Result<FastColumn<T>, TantivyError> {
        let Some(values) = self.overlay.as_deref().and_then(|o| overlay_column(o, name)) else {
            return Ok(FastColumn { base, overlay: None });
        };
        Ok(FastColumn { base, overlay: Some((values, self.row_ids(segment)?)) })
    }
}

/// The row ids of a block that holds every row of its range, computed from the document number
/// (document `n` is the row at offset `n`, whose id is the block's first id + `n`): exactly the
/// values of its stored `row_id` column, without opening it. Opening that column decodes a
/// header per 512 rows (~0.2 ms a 1M-row block), which a one-shot search paid for every block
/// with a candidate: a fifth of one at 100M rows.
#[derive(Debug)]
struct ConsecutiveRowIds {
    first: i64,
    rows: u32,
}

impl ColumnValues<i64> for ConsecutiveRowIds {
    fn get_val(&self, idx: u32) -> i64 {
        self.first + i64::from(idx)
    }

    fn min_value(&self) -> i64 {
        self.first
    }

    fn max_value(&self) -> i64 {
        self.first + i64::from(self.rows.saturating_sub(1))
    }

    fn num_vals(&self) -> u32 {
        self.rows
    }
}

/// A fast-field column of a segment as every reader must see it: the index's values, with the
/// block's overlay ([`pairscope_store::overlay`]) laid over them where it has a value. Only the
/// overlay's values are looked up besides the index's, so blocks without one pay nothing.
#[derive(Clone)]
pub struct FastColumn<T> {
    base: Column<T>,
    /// The overlay's values by row offset, and the segment's row ids that give a document's offset.
    overlay: Option<(Column<T>, Column<i64>)>,
}

impl<T: PartialOrd + Copy + Send + Sync + std::fmt::Debug + 'static> FastColumn<T> {
    /// The value of document `doc`.
    pub fn first(&self, doc: DocId) -> Option<T> {
        self.overlaid(doc).or_else(|| self.base.first(doc))
    }

    /// The values of `docs` (ascending) into `out` (as long as `docs`).
    pub fn first_vals(&self, docs: &[DocId], out: &mut [Option<T>]) {
        self.base.first_vals(docs, out);
        if self.overlay.is_some() {
            for (doc, value) in docs.iter().zip(out.iter_mut()) {
                if let Some(overlaid) = self.overlaid(*doc) {
                    *value = Some(overlaid);
                }
            }
        }
    }

    fn overlaid(&self, doc: DocId) -> Option<T> {
        let (values, row_ids) = self.overlay.as_ref()?;
        values.first(RowId(row_ids.first(doc)?).offset_in_block() as u32)
    }
}

/// The column `name` from `shared`, opened by `open` and kept there if it was not yet.
fn shared<T: Clone>(
    shared: &Mutex<HashMap<&'static str, T>>,
    name: &'static str,
    open: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let mut columns = shared.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(column) = columns.get(name) {
        return Ok(column.clone());
    }
    let column = open()?;
    columns.insert(name, column.clone());
    Ok(column)
}

/// One segment's fast-field columns for one call, taken from its [`OpenColumns`] (and opened
/// there) as they are first asked for.
pub struct SegmentColumns<'a> {
    segment: &'a SegmentReader,
    /// The block's index directory, for errors that name it.
    index: &'a Path,
    open: &'a OpenColumns,
    i64s: HashMap<&'static str, FastColumn<i64>>,
    f64s: HashMap<&'static str, FastColumn<f64>>,
    bools: HashMap<&'static str, FastColumn<bool>>,
    strs: HashMap<&'static str, (StrColumn, Arc<StringArray>)>,
    raw_strs: HashMap<&'static str, StrColumn>,
}

impl<'a> SegmentColumns<'a> {
    pub(crate) fn new(segment: &'a SegmentReader, open: &'a OpenColumns, index: &'a Path) -> Self {
        SegmentColumns {
            segment,
            index,
            open,
            i64s: HashMap::new(),
            f64s: HashMap::new(),
            bools: HashMap::new(),
            strs: HashMap::new(),
            raw_strs: HashMap::new(),
        }
    }

    pub fn i64(&mut self, name: &'static str) -> Result<&FastColumn<i64>> {
        if !self.i64s.contains_key(name) {
            let (segment, open, error) = (self.segment, self.open, self.error(name));
            let column = shared(&self.open.i64s, name, || {
                let base = if name == "row_id" { open.row_ids(segment) } else { segment.fast_fields().i64(name) };
                open.overlaid(segment, name, base.map_err(&error)?, Overlay::fast_i64).map_err(&error)
            })?;
            self.i64s.insert(name, column);
        }
        Ok(&self.i64s[name])
    }

    pub fn f64(&mut self, name: &'static str) -> Result<&FastColumn<f64>> {
        if !self.f64s.contains_key(name) {
            let (segment, open, error) = (self.segment, self.open, self.error(name));
            let column = shared(&self.open.f64s, name, || {
                let base = segment.fast_fields().f64(name).map_err(&error)?;
                open.overlaid(segment, name, base, Overlay::fast_f64).map_err(&error)
            })?;
            self.f64s.insert(name, column);
        }
        Ok(&self.f64s[name])
    }

    pub fn bool(&mut self, name: &'static str) -> Result<&FastColumn<bool>> {
        if !self.bools.contains_key(name) {
            let (segment, open, error) = (self.segment, self.open, self.error(name));
            let column = shared(&self.open.bools, name, || {
                let base = segment.fast_fields().bool(name).map_err(&error)?;
                open.overlaid(segment, name, base, Overlay::fast_bool).map_err(&error)
            })?;
            self.bools.insert(name, column);
        }
        Ok(&self.bools[name])
    }

    /// A keyword column, without its values.
    pub fn str_column(&mut self, name: &'static str) -> Result<&StrColumn> {
        if !self.raw_strs.contains_key(name) {
            let (segment, error) = (self.segment, self.error(name));
            let column = shared(&self.open.strs, name, || {
                segment.fast_fields().str(name).map_err(&error)?.ok_or_else(|| error(missing_column(name)))
            })?;
            self.raw_strs.insert(name, column);
        }
        Ok(&self.raw_strs[name])
    }

    /// A keyword column and all its values in ordinal order (ordinals are per segment).
    pub fn str(&mut self, name: &'static str) -> Result<&(StrColumn, Arc<StringArray>)> {
        if !self.strs.contains_key(name) {
            let column = self.str_column(name)?.clone();
            let error = self.error(name);
            let values = shared(&self.open.values, name, || {
                let mut values = Vec::with_capacity(column.num_terms());
                let mut stream = column.dictionary().stream().map_err(|e| error(e.into()))?;
                while stream.advance() {
                    values.push(String::from_utf8_lossy(stream.key()).into_owned());
                }
                Ok(Arc::new(StringArray::from(values)))
            })?;
            self.strs.insert(name, (column, values));
        }
        Ok(&self.strs[name])
    }

    /// The value of a keyword column for one document, looked up by its ordinal alone (no
    /// segment-wide dictionary is built: what a page of hits needs).
    pub fn keyword(&mut self, name: &'static str, doc: DocId) -> Result<Option<String>> {
        if let Some((column, values)) = self.strs.get(name) {
            return Ok(column.ords().first(doc).map(|o| values.value(o as usize).to_string()));
        }
        let error = self.error(name);
        let column = self.str_column(name)?;
        let Some(ord) = column.ords().first(doc) else { return Ok(None) };
        let mut value = String::new();
        column.ord_to_str(ord, &mut value).map_err(|e| error(e.into()))?;
        Ok(Some(value))
    }

    /// The values of column `name` for `docs`, typed as [`filter_type`] says.
    pub fn array(&mut self, name: &str, docs: &[DocId]) -> Result<ArrayRef> {
        let name = static_name(name).ok_or_else(|| self.error(name)(missing_column(name)))?;
        let mut out = Vec::new();
        Ok(if name == "row_id" {
            first_vals(self.i64(name)?, docs, &mut out);
            Arc::new(Int64Array::from(out))
        } else if INT_COLUMNS.contains(&name) {
            first_vals(self.i64(name)?, docs, &mut out);
            Arc::new(out.into_iter().map(|v| v.and_then(|v| i32::try_from(v).ok())).collect::<Int32Array>())
        } else if FLOAT_COLUMNS.contains(&name) {
            let mut floats = Vec::new();
            first_vals(self.f64(name)?, docs, &mut floats);
            Arc::new(Float64Array::from(floats))
        } else if BOOL_COLUMNS.contains(&name) {
            let mut bools = Vec::new();
            first_vals(self.bool(name)?, docs, &mut bools);
            Arc::new(BooleanArray::from(bools))
        } else {
            let (column, values) = self.str(name)?;
            let mut ords = vec![None; docs.len()];
            column.ords().first_vals(docs, &mut ords);
            let keys: arrow::array::PrimitiveArray<Int32Type> =
                ords.into_iter().map(|o| o.and_then(|o| i32::try_from(o).ok())).collect();
            let values: ArrayRef = values.clone();
            let assembling = |source| QueryError::Columns { columns: name.to_string(), source };
            Arc::new(DictionaryArray::try_new(keys, values).map_err(assembling)?)
        })
    }

    /// A batch of the named columns for `docs`.
    pub fn batch(&mut self, names: &[String], docs: &[DocId]) -> Result<RecordBatch> {
        let mut fields = Vec::with_capacity(names.len());
        let mut arrays = Vec::with_capacity(names.len());
        for name in names {
            let array = self.array(name, docs)?;
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(docs.len()));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
            .map_err(|source| QueryError::Columns { columns: names.join(", "), source })
    }

    /// The error of reading column `name` of this segment's index (built only on failure).
    fn error<'n>(&self, name: &'n str) -> impl Fn(TantivyError) -> QueryError + use<'a, 'n> {
        let index = self.index;
        move |source| QueryError::IndexColumn { index: index.to_path_buf(), column: name.to_string(), source }
    }
}

/// The error of an index without one of pairscope's columns (not built by pairscope, or damaged).
pub(crate) fn missing_column(name: &str) -> TantivyError {
    TantivyError::FieldNotFound(name.to_string())
}

fn first_vals<T: Copy + PartialOrd + Send + Sync + std::fmt::Debug + 'static>(
    column: &FastColumn<T>,
    docs: &[DocId],
    out: &mut Vec<Option<T>>,
) {
    out.clear();
    out.resize(docs.len(), None);
    column.first_vals(docs, out);
}

/// The `'static` spelling of an index column name.
pub fn static_name(name: &str) -> Option<&'static str> {
    std::iter::once(&"row_id")
        .chain(INT_COLUMNS.iter())
        .chain(FLOAT_COLUMNS.iter())
        .chain(KEYWORD_COLUMNS.iter())
        .chain(BOOL_COLUMNS.iter())
        .find(|n| **n == name)
        .copied()
}
