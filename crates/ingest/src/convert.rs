//! Turning a source record batch into canonical rows: types unified, nulls kept null, rows
//! without url or caption dropped (and counted), values no column can hold nulled (and counted,
//! or refused under `--strict`), long captions cut, row ids and host/domain derived.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    StringBuilder,
};
use arrow::compute::{cast, filter};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use arrow::util::display::array_value_to_string;
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

/// The reasons a source value is stored as null, counted per column (`width: negative`).
/// NaN is not among them: it is how parquet writers spell a missing score.
pub const NOT_FINITE: &str = "not finite";
pub const NEGATIVE: &str = "negative";
pub const NOT_INTEGRAL: &str = "not an integer";
pub const OUT_OF_RANGE: &str = "out of range";

/// Rows of a converted column whose source value became null, and why.
type Lost = Vec<(usize, &'static str)>;

pub(crate) struct Converter<'a> {
    path: &'a Path,
    source_schema: SchemaRef,
    mapping: &'a ColumnMapping,
    source_hash: [u8; 32],
    max_caption_bytes: usize,
    /// Refuse values that would be nulled, instead of counting them.
    strict: bool,
    out_schema: SchemaRef,
    /// Host → registrable domain: hosts repeat, and the Public Suffix lookup is the costly
    /// part. Fx-hashed (SipHash was 1% of ingest); the entry cap bounds a crafted input.
    domains: FxHashMap<String, Option<String>>,
}

pub(crate) struct Converted {
    pub batch: RecordBatch,
    pub skipped: BTreeMap<&'static str, u64>,
    pub truncated: u64,
    /// Values stored as null, by `column: reason`.
    pub nulled: BTreeMap<String, u64>,
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
        strict: bool,
    ) -> Self {
        let out_schema = stored_schema(&source_schema, mapping);
        Converter {
            path,
            source_schema,
            mapping,
            source_hash,
            max_caption_bytes,
            strict,
            out_schema,
            domains: FxHashMap::default(),
        }
    }

    pub fn out_schema(&self) -> &SchemaRef {
        &self.out_schema
    }

    /// Converts `batch`, whose first row is row `first_row` of the source file.
    pub fn convert(&mut self, batch: &RecordBatch, first_row: u64) -> Result<Converted, BadInput> {
        let n = batch.num_rows();
        let mut columns: BTreeMap<&'static str, ArrayRef> = BTreeMap::new();
        // (canonical column, source column index, its lost rows)
        let mut lost: Vec<(&'static str, usize, Lost)> = Vec::new();
        for (column, source) in &self.mapping.fields {
            let array = match source {
                FieldSource::Column(index) => {
                    let name = self.source_schema.field(*index).name();
                    let (array, rows) = self.convert_column(column, batch.column(*index), name, first_row)?;
                    if !rows.is_empty() {
                        lost.push((column.name, *index, rows));
                    }
                    array
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

        let nulled = self.count_lost(batch, &lost, &keep, first_row)?;

        // Callers hand batches that lie within one row-id block: one key serves every row.
        let key = block_key(&self.source_hash, first_row / BLOCK_ROWS);
        let row_ids = Int64Array::from_iter_values(
            (0..n as u64).map(|i| RowId::from_block_key(key, (first_row + i) % BLOCK_ROWS).0),
        );
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
        Ok(Converted { batch, skipped, truncated, nulled })
    }

    /// Counts the nulled values of the rows that are kept (a skipped row stores nothing), or
    /// refuses the first under `--strict`.
    fn count_lost(
        &self,
        batch: &RecordBatch,
        lost: &[(&'static str, usize, Lost)],
        keep: &BooleanArray,
        first_row: u64,
    ) -> Result<BTreeMap<String, u64>, BadInput> {
        let mut counts = BTreeMap::new();
        for (column, index, rows) in lost {
            for &(row, reason) in rows.iter().filter(|(row, _)| keep.value(*row)) {
                if self.strict {
                    let value = array_value_to_string(batch.column(*index), row).unwrap_or_default();
                    return Err(BadInput::new(
                        self.path,
                        format!(
                            "{value} is {reason} for {column}; --strict refuses values that ingest would \
                             store as null"
                        ),
                    )
                    .column(self.source_schema.field(*index).name())
                    .row(first_row + row as u64));
                }
                *counts.entry(format!("{column}: {reason}")).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    fn convert_column(
        &self,
        column: &CanonicalColumn,
        array: &ArrayRef,
        source_name: &str,
        first_row: u64,
    ) -> Result<(ArrayRef, Lost), BadInput> {
        let bad = |reason: String| BadInput::new(self.path, reason).column(source_name).row(first_row);
        Ok(match column.kind {
            ColumnKind::Text => {
                let text = to_utf8(array).map_err(|(row, reason)| {
                    BadInput::new(self.path, reason).column(source_name).row(first_row + row as u64)
                })?;
                let text = if column.name == "nsfw_label" { upper_labels(&text) } else { text };
                (Arc::new(text), Lost::new())
            }
            ColumnKind::Int | ColumnKind::RowId => {
                let (sizes, lost) = to_sizes(array).map_err(|e| bad(e.to_string()))?;
                (Arc::new(sizes), lost)
            }
            ColumnKind::Float => {
                let (scores, lost) = to_scores(array).map_err(|e| bad(e.to_string()))?;
                (Arc::new(scores), lost)
            }
            ColumnKind::Bool => {
                let flags = array.as_boolean_opt().cloned().ok_or_else(|| bad("expected booleans".into()))?;
                (Arc::new(flags), Lost::new())
            }
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

/// Pixel sizes from integers or floats. NaN is a missing value; a value that is no pixel size
/// (infinite, negative, fractional, above `i32::MAX`) becomes null too, and is returned with its
/// row and reason so that ingest counts it: a size is never silently rounded or dropped.
fn to_sizes(array: &ArrayRef) -> Result<(Int32Array, Lost), arrow::error::ArrowError> {
    let sizes: Vec<Option<Result<i32, &'static str>>> = if array.data_type().is_integer() {
        let ints = cast(array, &DataType::Int64)?;
        ints.as_primitive::<Int64Type>()
            .iter()
            .enumerate()
            .map(|(row, v)| match v {
                Some(v) if v < 0 => Some(Err(NEGATIVE)),
                Some(v) => Some(i32::try_from(v).map_err(|_| OUT_OF_RANGE)),
                // The cast nulls what Int64 cannot hold (a UInt64 above 2^63).
                None => array.is_valid(row).then_some(Err(OUT_OF_RANGE)),
            })
            .collect()
    } else {
        let floats = cast(array, &DataType::Float64)?;
        floats.as_primitive::<Float64Type>().iter().map(|v| v.filter(|v| !v.is_nan()).map(size_of_float)).collect()
    };
    let mut lost = Lost::new();
    let sizes = sizes
        .into_iter()
        .enumerate()
        .map(|(row, size)| size.and_then(|size| size.map_err(|reason| lost.push((row, reason))).ok()))
        .collect();
    Ok((sizes, lost))
}

fn size_of_float(v: f64) -> Result<i32, &'static str> {
    if !v.is_finite() {
        Err(NOT_FINITE)
    } else if v < 0.0 {
        Err(NEGATIVE)
    } else if v.fract() != 0.0 {
        Err(NOT_INTEGRAL)
    } else if v > i32::MAX as f64 {
        Err(OUT_OF_RANGE)
    } else {
        Ok(v as i32)
    }
}

/// Scores as double. NaN is a missing value; an infinity is no score, so it becomes null too and
/// is returned with its row.
fn to_scores(array: &ArrayRef) -> Result<(Float64Array, Lost), arrow::error::ArrowError> {
    let floats = cast(array, &DataType::Float64)?;
    let mut lost = Lost::new();
    let scores = floats
        .as_primitive::<Float64Type>()
        .iter()
        .enumerate()
        .map(|(row, v)| match v {
            Some(v) if v.is_infinite() => {
                lost.push((row, NOT_FINITE));
                None
            }
            v => v.filter(|v| !v.is_nan()),
        })
        .collect();
    Ok((scores, lost))
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
