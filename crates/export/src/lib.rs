//! Writing rows out: Arrow record batches streamed as CSV, JSON, JSON lines or parquet.
//!
//! One writer serves every command and the web UI's export, so a file exported from the
//! browser, from `pairscope sql --out` and from `pairscope subset` is written the same way.
//! Batches are written one at a time; memory does not grow with the result. CSV cells that a
//! spreadsheet would run as a formula are neutralised.
//!
//! This crate writes to any `std::io::Write`; it never names, stages or commits files (that is
//! `pairscope-io`'s atomic file, used by the callers) and never reads a dataset.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;

/// A streamed output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (zstd).
    Parquet,
}

impl ExportFormat {
    /// The usual file extension (no dot).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Parquet => "parquet",
        }
    }

    /// The format a file name's extension names, if any.
    pub fn from_extension(path: &std::path::Path) -> Option<ExportFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ExportFormat::Csv),
            "json" => Some(ExportFormat::Json),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            "parquet" => Some(ExportFormat::Parquet),
            _ => None,
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// How a writer treats values.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Prefix CSV text cells that a spreadsheet would run as a formula (they begin with `=`,
    /// `+`, `-`, `@`, tab or carriage return) with `'`. Captions are written by strangers:
    /// a CSV opened in a spreadsheet must not execute them. Off, the CSV holds the exact text.
    pub neutralise_formulas: bool,
    /// Rows per parquet row group; `None` for the parquet writer's default (1Mi rows).
    pub row_group_rows: Option<usize>,
}

/// Why rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A batch could not be encoded (CSV or JSON), or its formulas neutralised.
    #[error("writing rows: {0}")]
    Arrow(#[from] ArrowError),
    /// A batch could not be encoded as parquet.
    #[error("writing parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// The output could not be written.
    #[error("writing rows: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes batches one at a time in one format.
pub struct BatchWriter<W: Write + Send> {
    schema: SchemaRef,
    options: ExportOptions,
    wrote: bool,
    sink: Sink<W>,
}

#[expect(clippy::large_enum_variant, reason = "one sink per export: its size does not matter")]
enum Sink<W: Write + Send> {
    Csv(arrow::csv::Writer<W>),
    Json(arrow::json::ArrayWriter<W>),
    Jsonl(arrow::json::LineDelimitedWriter<W>),
    Parquet(Box<ArrowWriter<W>>),
}

impl<W: Write + Send> BatchWriter<W> {
    /// A writer of batches of `schema` to `out` in `format`.
    pub fn new(
        format: ExportFormat,
        schema: SchemaRef,
        out: W,
        options: ExportOptions,
    ) -> Result<BatchWriter<W>, ExportError> {
        let sink = match format {
            ExportFormat::Csv => Sink::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            ExportFormat::Json => Sink::Json(arrow::json::ArrayWriter::new(out)),
            ExportFormat::Jsonl => Sink::Jsonl(arrow::json::LineDelimitedWriter::new(out)),
            ExportFormat::Parquet => {
                let properties = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .set_max_row_group_row_count(Some(options.row_group_rows.unwrap_or(1 << 20).max(1)))
                    .build();
                Sink::Parquet(Box::new(ArrowWriter::try_new(out, schema.clone(), Some(properties))?))
            }
        };
        Ok(BatchWriter { schema, options, wrote: false, sink })
    }

    /// Writes `batch` (of the writer's schema).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ExportError> {
        self.wrote = true;
        match &mut self.sink {
            Sink::Csv(w) if self.options.neutralise_formulas => w.write(&neutralise_formulas(batch)?)?,
            Sink::Csv(w) => w.write(batch)?,
            Sink::Json(w) => w.write(batch)?,
            Sink::Jsonl(w) => w.write(batch)?,
            Sink::Parquet(w) => w.write(batch)?,
        }
        Ok(())
    }

    /// Ends the output and returns the sink. A result without rows still gets its CSV header,
    /// `[]`, or a parquet file with the schema.
    pub fn finish(mut self) -> Result<W, ExportError> {
        if !self.wrote {
            self.write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        Ok(match self.sink {
            Sink::Csv(w) => w.into_inner(),
            Sink::Json(mut w) => {
                w.finish()?;
                let mut out = w.into_inner();
                writeln!(out)?;
                out
            }
            Sink::Jsonl(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            Sink::Parquet(w) => w.into_inner()?,
        })
    }
}

/// Whether a spreadsheet would treat `cell` as a formula.
pub fn starts_like_formula(cell: &str) -> bool {
    matches!(cell.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

/// `batch` with every text cell that looks like a formula prefixed with `'`.
fn neutralise_formulas(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| -> Result<ArrayRef, ArrowError> {
            let text = match column.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    arrow::compute::cast(column, &DataType::Utf8)?
                }
                _ => return Ok(column.clone()),
            };
            let text = text.as_string::<i32>();
            if !text.iter().flatten().any(starts_like_formula) {
                return Ok(column.clone());
            }
            let neutral: StringArray = text
                .iter()
                .map(|cell| cell.map(|c| if starts_like_formula(c) { format!("'{c}") } else { c.to_owned() }))
                .collect();
            arrow::compute::cast(&(Arc::new(neutral) as ArrayRef), column.data_type())
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(batch.schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("row_id", DataType::Int64, false),
            Field::new("caption", DataType::Utf8, true),
        ]));
        let captions = StringArray::from(vec![
            Some("=HYPERLINK(\"http://x\")"),
            Some("a cat"),
            None,
            Some("-5 degrees"),
            Some("@me"),
        ]);
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])), Arc::new(captions)]).unwrap()
    }

    fn csv(options: ExportOptions) -> String {
        let b = batch();
        let mut writer = BatchWriter::new(ExportFormat::Csv, b.schema(), Vec::new(), options).unwrap();
        writer.write(&b).unwrap();
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn formulas_are_neutralised_only_when_asked() {
        let safe = csv(ExportOptions { neutralise_formulas: true, ..Default::default() });
        assert!(safe.contains("'=HYPERLINK"), "{safe}");
        assert!(safe.contains(",'-5 degrees") && safe.contains(",'@me") && safe.contains(",a cat\n"), "{safe}");
        assert!(!safe.contains(",=HYPERLINK"), "{safe}");
        let exact = csv(ExportOptions::default());
        assert!(exact.contains("=HYPERLINK") && !exact.contains("'=HYPERLINK"), "{exact}");
        assert!(exact.contains(",-5 degrees"), "{exact}");
    }

    #[test]
    fn an_empty_result_keeps_its_shape() {
        let schema = batch().schema();
        let out = BatchWriter::new(ExportFormat::Csv, schema.clone(), Vec::new(), ExportOptions::default())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "row_id,caption\n");
        let out = BatchWriter::new(ExportFormat::Json, schema.clone(), Vec::new(), ExportOptions::default())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim(), "[]");
        let out = BatchWriter::new(ExportFormat::Parquet, schema, Vec::new(), ExportOptions::default())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(&out[..4], b"PAR1");
    }
}
