//! Overlays: values laid over a committed block's rows without rewriting the block or its
//! index — how values measured after ingest (`ingest --fetched`: image sizes and hashes) become
//! part of the rows they belong to, at a cost proportional to the rows that changed.
//!
//! An overlay is one file per overlaid block ([`Layout::overlay_file`]), written once and never
//! modified: a later change to the block writes a new file holding the old rows and the new ones,
//! and the version's manifest names it ([`crate::Manifest::overlays`], at most one per block).
//! The file is a tantivy columnar file (the format of the index's fast fields) whose documents
//! are the block's row offsets (a row id's low 20 bits), so the value of any row is found in
//! constant time from its row id alone, and readers memory-map it: nothing per row is held in
//! memory, whatever the number of overlaid rows.
//!
//! Reading: a value of an overlaid column is the overlay's where it has one, else the block's
//! ([`Overlay::values`]). Every reader of rows goes through [`VersionOverlays::apply`] (parquet
//! rows: `get`, the filters the index cannot answer, mention scans, SQL) or through the overlay's
//! fast columns ([`Overlay::fast_i64`] and its siblings: the index's filters, sorts and facets).
//! Which canonical columns an overlay may fill is [`can_fill`]'s to say.
//!
//! Memory: a reader maps each overlay it opens (page cache, not heap); a writer holds the rows
//! of one block's overlay ([`OverlayRows`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    new_null_array,
};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{concat_batches, is_not_null};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use pairscope_index::tantivy::columnar::{
    Column, ColumnIndex, ColumnarReader, ColumnarWriter, DynamicColumn, NumericalType,
};
use pairscope_index::tantivy::directory::{Directory, MmapDirectory};
use pairscope_io::durable::write_atomic;
use pairscope_model::ColumnKind;
use pairscope_model::columns::canonical;
use pairscope_model::row_id::{BLOCK_ROWS, RowId};

use crate::error::{Result, StoreError};
use crate::layout::Layout;
use crate::manifest::Manifest;

/// The column every overlaid row has (true): which rows an overlay covers.
const OVERLAID: &str = "__overlaid";

/// The kind of the canonical column `name` if an overlay may fill it: the numbers, scores and
/// flags a source publishes (sizes, predicted scores, opt-outs) and the image's hash. The row's
/// identity, text and URLs, the columns ingest derives and the keywords the index keeps as term
/// dictionaries are never overlaid.
pub fn can_fill(name: &str) -> Option<ColumnKind> {
    let column = canonical(name)?;
    let fillable = !column.derived
        && match column.kind {
            ColumnKind::Int | ColumnKind::Float | ColumnKind::Bool => true,
            ColumnKind::Text => name == "image_sha256",
            ColumnKind::RowId => false,
        };
    fillable.then_some(column.kind)
}

/// One value of an overlay.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Of an integer column.
    Int(i64),
    /// Of a float column.
    Float(f64),
    /// Of a flag column.
    Bool(bool),
    /// Of a text column.
    Text(String),
}

impl Value {
    /// Element `i` of `array` (an integer, float, flag or text column), `None` when null or of
    /// another type.
    pub fn of(array: &dyn Array, i: usize) -> Option<Value> {
        if array.is_null(i) {
            return None;
        }
        let any = array.as_any();
        if let Some(a) = any.downcast_ref::<Int32Array>() {
            Some(Value::Int(a.value(i).into()))
        } else if let Some(a) = any.downcast_ref::<Int64Array>() {
            Some(Value::Int(a.value(i)))
        } else if let Some(a) = any.downcast_ref::<Float64Array>() {
            Some(Value::Float(a.value(i)))
        } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
            Some(Value::Bool(a.value(i)))
        } else {
            any.downcast_ref::<StringArray>().map(|a| Value::Text(a.value(i).to_string()))
        }
    }

    /// `values` as an array of `data_type` (integers, floats, flags or text; an integer too
    /// large for Int32 is null), or `None` when one of them is of another type.
    pub fn array(values: &[Option<Value>], data_type: &DataType) -> Option<ArrayRef> {
        fn collect<T, A: FromIterator<Option<T>> + Array + 'static>(
            values: &[Option<Value>],
            pick: impl Fn(&Value) -> Option<Option<T>>,
        ) -> Option<ArrayRef> {
            let picked = values.iter().map(|v| v.as_ref().map_or(Some(None), &pick)).collect::<Option<Vec<_>>>()?;
            Some(Arc::new(picked.into_iter().collect::<A>()))
        }
        match data_type {
            DataType::Int32 => collect::<_, Int32Array>(values, |v| match v {
                Value::Int(i) => Some(i32::try_from(*i).ok()),
                _ => None,
            }),
            DataType::Int64 => collect::<_, Int64Array>(values, |v| match v {
                Value::Int(i) => Some(Some(*i)),
                _ => None,
            }),
            DataType::Float64 => collect::<_, Float64Array>(values, |v| match v {
                Value::Float(f) => Some(Some(*f)),
                Value::Int(i) => Some(Some(*i as f64)),
                _ => None,
            }),
            DataType::Boolean => collect::<_, BooleanArray>(values, |v| match v {
                Value::Bool(b) => Some(Some(*b)),
                _ => None,
            }),
            DataType::Utf8 => collect::<_, StringArray>(values, |v| match v {
                Value::Text(t) => Some(Some(t.clone())),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// The rows of one block's overlay by row offset, each with a value (or none) per column: what
/// a writer builds, and what [`Overlay::rows`] reads back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverlayRows {
    /// The columns, in the order of each row's values.
    pub columns: Vec<String>,
    /// Row offset in the block → a value per column.
    pub rows: BTreeMap<u32, Vec<Option<Value>>>,
}

impl OverlayRows {
    /// The columns that hold at least one value.
    pub fn columns_with_values(&self) -> Vec<String> {
        let has = |i: usize| self.rows.values().any(|values| values.get(i).is_some_and(Option::is_some));
        self.columns.iter().enumerate().filter(|(i, _)| has(*i)).map(|(_, c)| c.clone()).collect()
    }

    /// Writes the rows as an overlay file at `path` (under a temporary name, fsynced, renamed);
    /// returns its size in bytes.
    pub fn write(&self, path: &Path) -> Result<u64> {
        let mut writer = ColumnarWriter::default();
        for (&offset, values) in &self.rows {
            writer.record_bool(offset, OVERLAID, true);
            for (column, value) in self.columns.iter().zip(values) {
                match value {
                    None => {}
                    Some(Value::Int(v)) => writer.record_numerical(offset, column, *v),
                    Some(Value::Float(v)) => writer.record_numerical(offset, column, *v),
                    Some(Value::Bool(v)) => writer.record_bool(offset, column, *v),
                    Some(Value::Text(v)) => writer.record_str(offset, column, v),
                }
            }
        }
        let mut bytes = Vec::new();
        writer.serialize(BLOCK_ROWS as u32, None, &mut bytes).map_err(StoreError::io(path))?;
        write_atomic(path, &bytes).map_err(StoreError::io(path))?;
        Ok(bytes.len() as u64)
    }
}

/// One block's overlay, memory-mapped.
#[derive(Debug)]
pub struct Overlay {
    path: PathBuf,
    overlaid: Column<bool>,
    columns: HashMap<String, DynamicColumn>,
}

impl Overlay {
    /// Maps the overlay file at `path`, which the manifest says is `bytes` long. A file that is
    /// not one (damaged, or of another length) is an error naming it, never a panic.
    pub fn open(path: &Path, bytes: u64) -> Result<Overlay> {
        let damaged = |reason: String| StoreError::Overlay { path: path.to_path_buf(), reason };
        let length = std::fs::metadata(path).map_err(StoreError::io(path))?.len();
        if length != bytes {
            return Err(damaged(format!("it is {length} bytes long, and the manifest says {bytes}")));
        }
        // The columnar reader asserts what it expects of the bytes.
        std::panic::catch_unwind(|| Overlay::map(path)).unwrap_or_else(|panic| {
            Err(damaged(format!("reading it failed: {}", pairscope_model::panic_message(&panic))))
        })
    }

    fn map(path: &Path) -> Result<Overlay> {
        let damaged = |reason: String| StoreError::Overlay { path: path.to_path_buf(), reason };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(damaged("not a file path".into()));
        };
        let directory = MmapDirectory::open(dir).map_err(|e| damaged(e.to_string()))?;
        let file = directory.open_read(Path::new(name)).map_err(|e| damaged(e.to_string()))?;
        let reader = ColumnarReader::open(file).map_err(StoreError::io(path))?;
        let mut columns = HashMap::new();
        for (name, handle) in reader.list_columns().map_err(StoreError::io(path))? {
            let column = handle.open().map_err(StoreError::io(path))?;
            if columns.insert(name.clone(), column).is_some() {
                return Err(damaged(format!("column {name} has more than one type")));
            }
        }
        let overlaid = match columns.remove(OVERLAID) {
            Some(DynamicColumn::Bool(column)) => column,
            _ => return Err(damaged(format!("it has no {OVERLAID} column"))),
        };
        Ok(Overlay { path: path.to_path_buf(), overlaid, columns })
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it has values for column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }

    /// Its values of an integer column, by row offset.
    pub fn fast_i64(&self, name: &str) -> Option<Column<i64>> {
        self.columns.get(name).cloned().and_then(|c| c.coerce_numerical(NumericalType::I64)).and_then(Into::into)
    }

    /// Its values of a float column, by row offset.
    pub fn fast_f64(&self, name: &str) -> Option<Column<f64>> {
        self.columns.get(name).cloned().and_then(|c| c.coerce_numerical(NumericalType::F64)).and_then(Into::into)
    }

    /// Its values of a flag column, by row offset.
    pub fn fast_bool(&self, name: &str) -> Option<Column<bool>> {
        self.columns.get(name).cloned().and_then(Into::into)
    }

    /// Every row it covers, with its values of `columns`.
    pub fn rows(&self, columns: &[String]) -> Result<OverlayRows> {
        let offsets: Vec<u32> = match &self.overlaid.index {
            ColumnIndex::Empty { .. } => Vec::new(),
            ColumnIndex::Full => (0..self.overlaid.num_docs()).collect(),
            ColumnIndex::Optional(index) => index.iter_non_null_docs().collect(),
            ColumnIndex::Multivalued(_) => return Err(self.damaged(format!("{OVERLAID} has several values per row"))),
        };
        let mut rows: BTreeMap<u32, Vec<Option<Value>>> =
            offsets.iter().map(|&o| (o, Vec::with_capacity(columns.len()))).collect();
        for name in columns {
            let column = self.columns.get(name);
            for (&offset, values) in rows.iter_mut() {
                values.push(match column {
                    Some(column) => self.value_of(column, name, offset)?,
                    None => None,
                });
            }
        }
        Ok(OverlayRows { columns: columns.to_vec(), rows })
    }

    /// The value of `column` (its column `name`) at row `offset`, if the overlay has one.
    fn value_of(&self, column: &DynamicColumn, name: &str, offset: u32) -> Result<Option<Value>> {
        Ok(match column {
            DynamicColumn::I64(c) => c.first(offset).map(Value::Int),
            DynamicColumn::U64(c) => c.first(offset).and_then(|v| i64::try_from(v).ok()).map(Value::Int),
            DynamicColumn::F64(c) => c.first(offset).map(Value::Float),
            DynamicColumn::Bool(c) => c.first(offset).map(Value::Bool),
            DynamicColumn::Str(c) => match c.ords().first(offset) {
                None => None,
                Some(ord) => {
                    let mut text = String::new();
                    c.ord_to_str(ord, &mut text).map_err(StoreError::io(&self.path))?;
                    Some(Value::Text(text))
                }
            },
            other => return Err(self.damaged(format!("column {name} has the unexpected type {other:?}"))),
        })
    }

    /// Column `name` for the rows `row_ids` (all of this block): the overlay's value where it
    /// has one, else `base`'s (nulls without a base), as `data_type`.
    pub fn values(
        &self,
        name: &str,
        data_type: &DataType,
        row_ids: &Int64Array,
        base: Option<&ArrayRef>,
    ) -> Result<ArrayRef> {
        let column = self.columns.get(name);
        let values = row_ids
            .iter()
            .map(|id| match (column, id) {
                (Some(column), Some(id)) => self.value_of(column, name, RowId(id).offset_in_block() as u32),
                _ => Ok(None),
            })
            .collect::<Result<Vec<Option<Value>>>>()?;
        let overlaid = Value::array(&values, data_type)
            .ok_or_else(|| self.damaged(format!("column {name} holds values that are not {data_type}")))?;
        let Some(base) = base else { return Ok(overlaid) };
        if base.data_type() != data_type {
            return Err(self.damaged(format!("column {name} is {} in the block, not {data_type}", base.data_type())));
        }
        let mask = is_not_null(&overlaid).map_err(|e| self.damaged(e.to_string()))?;
        zip(&mask, &overlaid, base).map_err(|e| self.damaged(e.to_string()))
    }

    fn damaged(&self, reason: String) -> StoreError {
        StoreError::Overlay { path: self.path.clone(), reason }
    }
}

/// The overlays of one version, opened as readers first need them.
#[derive(Debug)]
pub struct VersionOverlays {
    /// The dataset's directory, for errors.
    root: PathBuf,
    /// Block key → its overlay file and the file's length.
    files: HashMap<u64, (PathBuf, u64)>,
    opened: Mutex<HashMap<u64, Arc<Overlay>>>,
    /// Every column some overlay has values for.
    columns: Vec<String>,
}

impl VersionOverlays {
    /// The overlays `manifest` (of the dataset at `layout`) lists.
    pub fn new(layout: &Layout, manifest: &Manifest) -> VersionOverlays {
        let mut files = HashMap::new();
        let mut columns: Vec<String> = Vec::new();
        for overlay in &manifest.overlays {
            // Manifests are checked when read: the source exists and its id is a hash.
            let file = &overlay.file;
            if let Some(hash) = manifest.source(&file.source).and_then(|s| s.hash()) {
                let key = pairscope_model::row_id::block_key(&hash, file.block);
                files.insert(key, (layout.root().join(&file.path), file.bytes));
            }
            for column in &overlay.columns {
                if !columns.contains(column) {
                    columns.push(column.clone());
                }
            }
        }
        VersionOverlays { root: layout.root().to_path_buf(), files, opened: Mutex::new(HashMap::new()), columns }
    }

    /// Whether the version has no overlay.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether some overlay has values for column `name`.
    pub fn covers(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c == name)
    }

    /// The overlay of the block whose key is `key`, if it has one.
    pub fn of_block(&self, key: u64) -> Result<Option<Arc<Overlay>>> {
        let Some((path, bytes)) = self.files.get(&key) else { return Ok(None) };
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(overlay) = opened.get(&key) {
            return Ok(Some(overlay.clone()));
        }
        let overlay = Arc::new(Overlay::open(path, *bytes)?);
        opened.insert(key, overlay.clone());
        Ok(Some(overlay))
    }

    /// `batch` (rows of this version, with their `row_id`) with the overlays' values laid over
    /// its columns, and `added` (columns it lacks, which only overlays hold) appended.
    pub fn apply(&self, batch: RecordBatch, added: &[Field]) -> Result<RecordBatch> {
        let touched = batch.schema().fields().iter().any(|f| self.covers(f.name()));
        if !touched && added.is_empty() {
            return Ok(batch);
        }
        let schema = batch.schema();
        let Some(row_ids) = batch.column_by_name("row_id").and_then(|c| c.as_primitive_opt::<Int64Type>()) else {
            return Err(self.error("rows read without their row_id cannot take their overlays".into()));
        };
        // Rows of one block are contiguous in every reader's batches: apply run by run.
        let mut parts = Vec::new();
        let mut start = 0;
        while start < batch.num_rows() {
            let key = |i: usize| row_ids.is_valid(i).then(|| RowId(row_ids.value(i)).block_key());
            let mut end = start + 1;
            while end < batch.num_rows() && key(end) == key(start) {
                end += 1;
            }
            let part = batch.slice(start, end - start);
            parts.push(self.apply_block(part, key(start), added)?);
            start = end;
        }
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(added.iter().cloned());
        let schema = Arc::new(Schema::new(fields));
        if parts.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        concat_batches(&schema, &parts).map_err(|e| self.error(e.to_string()))
    }

    /// [`Self::apply`] to rows of one block (`key`; `None` for rows without an id).
    fn apply_block(&self, rows: RecordBatch, key: Option<u64>, added: &[Field]) -> Result<RecordBatch> {
        let overlay = match key {
            Some(key) => self.of_block(key)?,
            None => None,
        };
        let mut fields: Vec<Field> = rows.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(added.iter().cloned());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        // Present: `apply` found it.
        let row_ids = rows.column_by_name("row_id").and_then(|c| c.as_primitive_opt::<Int64Type>()).cloned();
        for (i, field) in fields.iter().enumerate() {
            let base = rows.columns().get(i);
            let array = match (&overlay, &row_ids) {
                (Some(overlay), Some(ids)) if overlay.has(field.name()) => {
                    overlay.values(field.name(), field.data_type(), ids, base)?
                }
                _ => base.cloned().unwrap_or_else(|| new_null_array(field.data_type(), rows.num_rows())),
            };
            arrays.push(array);
        }
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.num_rows()));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
            .map_err(|e| self.error(e.to_string()))
    }

    /// An error of laying the overlays over rows read from the dataset.
    fn error(&self, reason: String) -> StoreError {
        StoreError::Overlay { path: self.root.join("overlays"), reason }
    }
}
