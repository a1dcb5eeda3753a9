//! Turning a source record batch into canonical rows: types unified, nulls kept null, rows
//! without url or caption dropped (and counted), long captions cut, row ids and host/domain
//! derived.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    StringBuilder,
};
use arrow::compute::{cast, filter};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use pairscope_model::RowId;
use pairscope_model::columns::{CANONICAL_COLUMNS, CanonicalColumn, ColumnKind};
use pairscope_model::row_id::{BLOCK_ROWS, block_key};
use pairscope_model::web::{domain_of, host_of};
use rustc_hash::FxHashMap;

use crate::error::BadInput;
use crate::mapping::{ColumnMapping, FieldSource};

/// Domains looked up per host; LAION's hosts are Zipf-distributed, so a small cache absorbs
/// most lookups. Cleared when full rather than evicting, which is enough for that shape.
const DOMAIN_CACHE_ENTRIES: usize = 65_536;

/// The reasons a source row is skipped, as counted in reports and manifests.
pub const NULL_URL: &str = "null url";
pub const EMPTY_URL: &str = "empty url";
pub const NULL_CAPTION: &str = "null caption";
pub const EMPTY_CAPTION: &str = "empty caption";

pub(crate) struct Converter<'a> {
    path: &'a Path,
    source_schema: SchemaRef,
    mapping: &'a ColumnMapping,
    source_hash: [u8; 32],
    max_caption_bytes: usize,
    out_schema: SchemaRef,
    /// Host → registrable domain: hosts repeat, and the Public Suffix lookup is the costly
    /// part. Fx-hashed (SipHash was 1% of ingest); the entry cap bounds a crafted input.
    domains: FxHashMap<String, Option<String>>,
}

pub(crate) struct Converted {
    pub batch: RecordBatch,
    pub skipped: BTreeMap<&'static str, u64>,
    pub truncated: u64,
}

/// The schema of the stored rows of a source: canonical columns, then its extras.
pub(crate) fn stored_schema(source: &Schema, mapping: &ColumnMapping) -> SchemaRef {
    let mut fields: Vec<Field> =
        CANONICAL_COLUMNS.iter().map(|c| Field::new(c.name, c.kind.data_type(), c.nullable)).collect();
    for extra in &mapping.extras {
        fields.push(Field::new(&extra.name, source.field(extra.index).data_type().clone(), true));
    }
    Arc::new(Schema::new(fields))
}

impl<'a> Converter<'a> {
    pub fn new(
        path: &'a Path,
        source_schema: SchemaRef,
        mapping: &'a ColumnMapping,
        source_hash: [u8; 32],
        max_caption_bytes: usize,
    ) -> Self {
        let out_schema = stored_schema(&source_schema, mapping);
        Converter { path, source_schema, mapping, source_hash, max_caption_bytes, out_schema, domains: FxHashMap::default() }
    }

    pub fn out_schema(&self) -> &SchemaRef {
        &self.out_schema
    }

    /// Converts `batch`, whose first row is row `first_row` of the source file.
    pub fn convert(&mut self, batch: &RecordBatch, first_row: u64) -> Result<Converted, BadInput> {
        let n = batch.num_rows();
        let mut columns: BTreeMap<&'static str, ArrayRef> = BTreeMap::new();
        for (column, source) in &self.mapping.fields {
            let array = match source {
                FieldSource::Column(index) => {
                    let name = self.source_schema.field(*index).name();
                    self.convert_column(column, batch.column(*index), name, first_row)?
                }
                FieldSource::Constant(value) => constant(column.kind, value, n),
                FieldSource::Absent => arrow::array::new_null_array(&column.kind.data_type(), n),
            };
            columns.insert(column.name, array);
        }

        let urls = columns["url"].as_string::<i32>().clone();
        let captions = columns["caption"].as_string::<i32>().clone();
        let mut skipped = BTreeMap::new();
        let keep: BooleanArray = (0..n)
            .map(|i| {
                let reason = if urls.is_null(i) {
                    Some(NULL_URL)
                } else if urls.value(i).trim().is_empty() {
                    Some(EMPTY_URL)
                } else if captions.is_null(i) {
                    Some(NULL_CAPTION)
                } else if captions.value(i).trim().is_empty() {
                    Some(EMPTY_CAPTION)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    *skipped.entry(reason).or_insert(0) += 1;
                }
                Some(reason.is_none())
            })
            .collect();

        // Callers hand batches that lie within one row-id block: one key serves every row.
        let key = block_key(&self.source_hash, first_row / BLOCK_ROWS);
        let row_ids =
            Int64Array::from_iter_values((0..n as u64).map(|i| RowId::from_block_key(key, (first_row + i) % BLOCK_ROWS).0));
        let (captions, truncated_from, truncated) = self.cut_captions(&captions);
        let (hosts, domains) = self.hosts_and_domains(&urls);
        columns.insert("row_id", Arc::new(row_ids));
        columns.insert("caption", Arc::new(captions));
        columns.insert("caption_truncated_from", Arc::new(truncated_from));
        columns.insert("host", Arc::new(hosts));
        columns.insert("domain", Arc::new(domains));

        let mut arrays: Vec<ArrayRef> = CANONICAL_COLUMNS.iter().map(|c| columns[c.name].clone()).collect();
        arrays.extend(self.mapping.extras.iter().map(|e| batch.column(e.index).clone()));
        if !skipped.is_empty() {
            arrays = arrays
                .iter()
                .map(|a| filter(a, &keep))
                .collect::<Result<_, _>>()
                .map_err(|e| BadInput::new(self.path, format!("internal filter error: {e}")).row(first_row))?;
        }
        let batch = RecordBatch::try_new(self.out_schema.clone(), arrays)
            .map_err(|e| BadInput::new(self.path, format!("internal conversion error: {e}")).row(first_row))?;
        Ok(Converted { batch, skipped, truncated })
    }

    fn convert_column(
        &self,
        column: &CanonicalColumn,
        array: &ArrayRef,
        source_name: &str,
        first_row: u64,
    ) -> Result<ArrayRef, BadInput> {
        let bad = |reason: String| BadInput::new(self.path, reason).column(source_name).row(first_row);
        Ok(match column.kind {
            ColumnKind::Text => {
                let text = to_utf8(array).map_err(|(row, reason)| {
                    BadInput::new(self.path, reason).column(source_name).row(first_row + row as u64)
                })?;
                if column.name == "nsfw_label" { Arc::new(upper_labels(&text)) } else { Arc::new(text) }
            }
            ColumnKind::Int | ColumnKind::RowId => Arc::new(to_int32(array).map_err(|e| bad(e.to_string()))?),
            ColumnKind::Float => Arc::new(to_float64(array).map_err(|e| bad(e.to_string()))?),
            ColumnKind::Bool => array
                .as_boolean_opt()
                .cloned()
                .map(|a| Arc::new(a) as ArrayRef)
                .ok_or_else(|| bad("expected booleans".into()))?,
        })
    }

    fn cut_captions(&self, captions: &StringArray) -> (StringArray, Int32Array, u64) {
        let max = self.max_caption_bytes;
        if captions.iter().flatten().all(|c| c.len() <= max) {
            return (captions.clone(), Int32Array::new_null(captions.len()), 0);
        }
        let mut truncated = 0;
        let mut from = Vec::with_capacity(captions.len());
        let cut: StringArray = captions
            .iter()
            .map(|c| {
                c.map(|c| {
                    if c.len() > max {
                        truncated += 1;
                        from.push(Some(i32::try_from(c.len()).unwrap_or(i32::MAX)));
                        &c[..c.floor_char_boundary(max)]
                    } else {
                        from.push(None);
                        c
                    }
                })
                .or_else(|| {
                    from.push(None);
                    None
                })
            })
            .collect();
        (cut, Int32Array::from(from), truncated)
    }

    fn hosts_and_domains(&mut self, urls: &StringArray) -> (StringArray, StringArray) {
        let mut hosts = StringBuilder::with_capacity(urls.len(), urls.len() * 16);
        let mut domains = StringBuilder::with_capacity(urls.len(), urls.len() * 12);
        for url in urls.iter() {
            let Some(host) = url.and_then(host_of) else {
                hosts.append_null();
                domains.append_null();
                continue;
            };
            hosts.append_value(&host);
            // Appended from the cache entry itself: no copy of the domain per row.
            if let Some(domain) = self.domains.get(&host) {
                domains.append_option(domain.as_deref());
                continue;
            }
            if self.domains.len() >= DOMAIN_CACHE_ENTRIES {
                self.domains.clear();
            }
            let domain = domain_of(&host);
            domains.append_option(domain.as_deref());
            self.domains.insert(host, domain);
        }
        (hosts.finish(), domains.finish())
    }
}

/// Text from any text-like or integer column; binary must be valid UTF-8.
/// Errors carry the offending row within the batch.
fn to_utf8(array: &ArrayRef) -> Result<StringArray, (usize, String)> {
    let binary_values: Option<Vec<Option<&[u8]>>> = match array.data_type() {
        DataType::Binary => Some(array.as_binary::<i32>().iter().collect()),
        DataType::LargeBinary => Some(array.as_binary::<i64>().iter().collect()),
        DataType::BinaryView => Some(array.as_binary_view().iter().collect()),
        _ => None,
    };
    if let Some(values) = binary_values {
        return values
            .into_iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Ok(None),
                Some(bytes) => std::str::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| (row, format!("invalid UTF-8 at byte {}", e.valid_up_to()))),
            })
            .collect();
    }
    let cast = cast(array, &DataType::Utf8).map_err(|e| (0, format!("cannot read as text: {e}")))?;
    Ok(cast.as_string::<i32>().clone())
}

fn upper_labels(labels: &StringArray) -> StringArray {
    labels
        .iter()
        .map(|l| {
            l.map(|l| match l.trim().to_ascii_uppercase().as_str() {
                "UNLIKELY" => "UNLIKELY".to_string(),
                "UNSURE" => "UNSURE".to_string(),
                "NSFW" => "NSFW".to_string(),
                _ => l.to_string(),
            })
        })
        .collect()
}

/// Pixel sizes from integers or floats: NaN, infinities and values outside `Int32` become
/// null (a missing value is null, never 0); fractional values are rounded.
fn to_int32(array: &ArrayRef) -> Result<Int32Array, arrow::error::ArrowError> {
    if array.data_type().is_floating() {
        let f = cast(array, &DataType::Float64)?;
        Ok(f.as_primitive::<Float64Type>()
            .iter()
            .map(|v| {
                v.filter(|v| v.is_finite())
                    .map(f64::round)
                    .filter(|v| (i32::MIN as f64..=i32::MAX as f64).contains(v))
                    .map(|v| v as i32)
            })
            .collect())
    } else {
        let i = cast(array, &DataType::Int64)?;
        Ok(i.as_primitive::<Int64Type>().iter().map(|v| v.and_then(|v| i32::try_from(v).ok())).collect())
    }
}

/// Scores as double; NaN is a missing value.
fn to_float64(array: &ArrayRef) -> Result<Float64Array, arrow::error::ArrowError> {
    let f = cast(array, &DataType::Float64)?;
    Ok(f.as_primitive::<Float64Type>().iter().map(|v| v.filter(|v| !v.is_nan())).collect())
}

/// A column of `n` copies of a `--set` value, already validated by `mapping::validate_settings`.
fn constant(kind: ColumnKind, value: &str, n: usize) -> ArrayRef {
    match kind {
        ColumnKind::Text => Arc::new(StringArray::from(vec![value; n])),
        ColumnKind::Int | ColumnKind::RowId => Arc::new(Int32Array::from(vec![value.parse::<i32>().ok(); n])),
        ColumnKind::Float => Arc::new(Float64Array::from(vec![value.parse::<f64>().ok(); n])),
        ColumnKind::Bool => Arc::new(BooleanArray::from(vec![value == "true"; n])),
    }
}
