//! The rows a fetch run reads: parquet files with a URL column, as published (a LAION shard),
//! as `subset` writes them, or as any tool writes a URL list.
//!
//! Columns are found by the names ingest recognises
//! ([`pairscope_model::columns::source_names`]): the URL (`url`, `image_url`, LAION's `URL`) is
//! required; the caption, `punsafe`, the NSFW label and collect's opt-out flags are read when
//! present, and `row_id` (a dataset row, as a subset's output carries it) too. A column of a
//! type that cannot hold its values is an error naming the file and the column.
//!
//! The input's rows are numbered across its files in order (files of a directory in name
//! order, recursively); row `n` is sample `n % shard_rows` of shard `n / shard_rows`, so a
//! shard always holds the same rows and keys.
//!
//! Memory: one parquet batch ([`BATCH_ROWS`] rows of the read columns) and the shard being
//! assembled ([`InputRow`]s, metadata only).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use pairscope_model::columns::source_names;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

/// Rows decoded per parquet batch.
pub const BATCH_ROWS: usize = 8192;

/// One input row: what is needed to fetch it and decide whether it may be fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    /// The dataset row it is (`None` when the input carries no `row_id`).
    pub row_id: Option<i64>,
    /// The image URL (`None` when the input's value is null).
    pub url: Option<String>,
    /// The caption.
    pub caption: Option<String>,
    /// Predicted probability that the image is unsafe.
    pub punsafe: Option<f64>,
    /// LAION-5B's NSFW label.
    pub nsfw_label: Option<String>,
    /// Whether the page the pair came from opted out (any of collect's opt-out flags).
    pub opted_out: bool,
}

/// One input file, as a run's record identifies it (a re-run must read the same files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// The path as found.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its rows, from the parquet footer.
    pub rows: u64,
}

/// Why the input cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct InputError {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// What is wrong: the column, the row, the reader's error.
    pub message: String,
}

impl InputError {
    fn at(path: &Path, message: impl Into<String>) -> InputError {
        InputError { path: path.to_path_buf(), message: message.into() }
    }
}

/// The input files of a run, in the order their rows are numbered.
#[derive(Debug, Clone)]
pub struct Input {
    files: Vec<(PathBuf, InputFile)>,
}

/// Where each wanted column is in one file's schema.
struct Columns {
    url: usize,
    caption: Option<usize>,
    row_id: Option<usize>,
    punsafe: Option<usize>,
    nsfw_label: Option<usize>,
    optouts: Vec<usize>,
}

impl Input {
    /// The parquet files of `paths` (a file as itself; a directory's `*.parquet` files,
    /// recursively in name order), each opened and its columns checked.
    pub fn open(paths: &[PathBuf]) -> Result<Input, InputError> {
        let mut found = Vec::new();
        for path in paths {
            if path.is_dir() {
                let parquet = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
                let files = pairscope_io::walk::files_under(path, &parquet)
                    .map_err(|e| InputError::at(&e.path, e.source.to_string()))?;
                if files.is_empty() {
                    return Err(InputError::at(path, "no .parquet files in this directory"));
                }
                found.extend(files);
            } else {
                pairscope_io::walk::regular_file(path).map_err(|e| InputError::at(&e.path, e.source.to_string()))?;
                found.push(path.clone());
            }
        }
        let mut files = Vec::with_capacity(found.len());
        for path in found {
            let file = File::open(&path).map_err(|e| InputError::at(&path, e.to_string()))?;
            let bytes = file.metadata().map_err(|e| InputError::at(&path, e.to_string()))?.len();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| InputError::at(&path, format!("not a readable parquet file: {e}")))?;
            columns_of(&path, builder.schema())?;
            let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
            files.push((path.clone(), InputFile { path: path.display().to_string(), bytes, rows }));
        }
        Ok(Input { files })
    }

    /// The files, as a run's record lists them.
    pub fn files(&self) -> Vec<InputFile> {
        self.files.iter().map(|(_, f)| f.clone()).collect()
    }

    /// Rows in all files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|(_, f)| f.rows).sum()
    }

    /// Reads every row in order, calling `each(n, row)` with the row's number across the
    /// files; rows whose number `skip(n)` accepts are not decoded into [`InputRow`]s (their
    /// batch is still read). Stops at the first error, or when `each` returns false.
    pub fn read(
        &self,
        skip: &dyn Fn(u64) -> bool,
        each: &mut dyn FnMut(u64, InputRow) -> bool,
    ) -> Result<(), InputError> {
        let mut number = 0u64;
        for (path, _) in &self.files {
            let file = File::open(path).map_err(|e| InputError::at(path, e.to_string()))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| InputError::at(path, format!("not a readable parquet file: {e}")))?;
            let columns = columns_of(path, builder.schema())?;
            let wanted: Vec<usize> =
                [Some(columns.url), columns.caption, columns.row_id, columns.punsafe, columns.nsfw_label]
                    .into_iter()
                    .flatten()
                    .chain(columns.optouts.iter().copied())
                    .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
            let schema = builder.schema().clone();
            let reader = builder
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| InputError::at(path, e.to_string()))?;
            // The projected batch keeps the file's column order: map each wanted column to it.
            let mut sorted = wanted.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let at = |index: usize| sorted.iter().position(|&i| i == index);
            for batch in reader {
                let first = number;
                let batch = batch
                    .map_err(|e| InputError::at(path, format!("rows from {}: {e}", first - self.start_of(path))))?;
                let rows = batch.num_rows() as u64;
                if (first..first + rows).all(skip) {
                    number += rows;
                    continue;
                }
                let decoded = Decoded::of(path, &schema, &columns, &batch, &at)?;
                number += rows;
                for i in 0..batch.num_rows() {
                    let n = first + i as u64;
                    if skip(n) {
                        continue;
                    }
                    if !each(n, decoded.row(i)) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// The number of the first row of `path`.
    fn start_of(&self, path: &Path) -> u64 {
        self.files.iter().take_while(|(p, _)| p != path).map(|(_, f)| f.rows).sum()
    }
}

/// The columns of one batch, cast to the types rows are read from.
struct Decoded {
    url: arrow::array::StringArray,
    caption: Option<arrow::array::StringArray>,
    row_id: Option<arrow::array::Int64Array>,
    punsafe: Option<arrow::array::Float64Array>,
    nsfw_label: Option<arrow::array::StringArray>,
    optouts: Vec<arrow::array::BooleanArray>,
}

impl Decoded {
    fn of(
        path: &Path,
        schema: &Schema,
        columns: &Columns,
        batch: &RecordBatch,
        at: &dyn Fn(usize) -> Option<usize>,
    ) -> Result<Decoded, InputError> {
        let column = |index: usize, to: &DataType| -> Result<std::sync::Arc<dyn Array>, InputError> {
            let position = at(index).ok_or_else(|| InputError::at(path, "internal: column not projected"))?;
            cast(batch.column(position), to)
                .map_err(|e| InputError::at(path, format!("column {}: {e}", schema.field(index).name())))
        };
        let text = |index: usize| column(index, &DataType::Utf8).map(|a| a.as_string::<i32>().clone());
        Ok(Decoded {
            url: text(columns.url)?,
            caption: columns.caption.map(text).transpose()?,
            row_id: columns
                .row_id
                .map(|i| column(i, &DataType::Int64).map(|a| a.as_primitive::<Int64Type>().clone()))
                .transpose()?,
            punsafe: columns
                .punsafe
                .map(|i| column(i, &DataType::Float64).map(|a| a.as_primitive::<Float64Type>().clone()))
                .transpose()?,
            nsfw_label: columns.nsfw_label.map(text).transpose()?,
            optouts: columns
                .optouts
                .iter()
                .map(|&i| column(i, &DataType::Boolean).map(|a| a.as_boolean().clone()))
                .collect::<Result<_, _>>()?,
        })
    }

    fn row(&self, i: usize) -> InputRow {
        let text = |a: &arrow::array::StringArray| a.is_valid(i).then(|| a.value(i).to_string());
        InputRow {
            row_id: self.row_id.as_ref().and_then(|a| a.is_valid(i).then(|| a.value(i))),
            url: text(&self.url),
            caption: self.caption.as_ref().and_then(text),
            punsafe: self.punsafe.as_ref().and_then(|a| a.is_valid(i).then(|| a.value(i))).filter(|p| !p.is_nan()),
            nsfw_label: self.nsfw_label.as_ref().and_then(text),
            opted_out: self.optouts.iter().any(|a| a.is_valid(i) && a.value(i)),
        }
    }
}

/// Finds the wanted columns of `schema` by the names ingest recognises, and checks their types.
fn columns_of(path: &Path, schema: &Schema) -> Result<Columns, InputError> {
    let lower: Vec<String> = schema.fields().iter().map(|f| f.name().to_lowercase()).collect();
    let find = |canonical: &str| -> Option<usize> {
        let names: &[&str] = if canonical == "row_id" { &["row_id"] } else { source_names(canonical) };
        names.iter().find_map(|name| lower.iter().position(|n| n == name))
    };
    let check = |index: Option<usize>, fits: fn(&DataType) -> bool, wants: &str| -> Result<Option<usize>, InputError> {
        match index {
            Some(i) if !fits(schema.field(i).data_type()) => Err(InputError::at(
                path,
                format!("column {} has type {}, not {wants}", schema.field(i).name(), schema.field(i).data_type()),
            )),
            other => Ok(other),
        }
    };
    let is_text = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let is_integer = |t: &DataType| t.is_integer();
    let is_number = |t: &DataType| t.is_numeric();
    let is_bool = |t: &DataType| matches!(t, DataType::Boolean);
    let url = check(find("url"), is_text, "text")?.ok_or_else(|| {
        InputError::at(
            path,
            format!(
                "no URL column (looked for {}; the file has: {})",
                source_names("url").join(", "),
                schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    // A numeric `NSFW` is some detector's score, not LAION's label: not read (as ingest does).
    let nsfw_label = find("nsfw_label").filter(|&i| is_text(schema.field(i).data_type()));
    let mut optouts = Vec::new();
    for flag in ["optout_noai", "optout_noimageai", "optout_tdm_reservation"] {
        optouts.extend(check(find(flag), is_bool, "boolean")?);
    }
    Ok(Columns {
        url,
        caption: check(find("caption"), is_text, "text")?,
        row_id: check(find("row_id"), is_integer, "an integer")?,
        punsafe: check(find("punsafe"), is_number, "a number")?,
        nsfw_label,
        optouts,
    })
}
