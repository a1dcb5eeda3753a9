//! Uniform output: every tabular result is a set of Arrow record batches, written in the
//! format `--format` names, so all commands print tables, CSV, JSON, JSON lines and parquet
//! the same way.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};

use crate::args::Format;

/// A record batch from named columns.
pub fn table(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let schema = Schema::new(
        columns.iter().map(|(name, array)| Field::new(*name, array.data_type().clone(), true)).collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect())
        .expect("columns of equal length")
}

/// Writes `batch` to stdout in `format`.
pub fn print_batch(format: Format, batch: &RecordBatch) -> Result<()> {
    let stdout = std::io::stdout();
    if format == Format::Parquet && stdout.is_terminal() {
        bail!("refusing to write parquet to a terminal: redirect stdout to a file");
    }
    let mut out = std::io::BufWriter::new(stdout);
    write_batches(format, std::slice::from_ref(batch), &mut out)?;
    out.flush().context("writing to stdout")
}

pub fn write_batches<W: Write + Send>(format: Format, batches: &[RecordBatch], out: &mut W) -> Result<()> {
    let Some(first) = batches.first() else { return Ok(()) };
    match format {
        Format::Table => {
            writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(writer.into_inner())?;
        }
        Format::Jsonl => {
            let mut writer = arrow::json::LineDelimitedWriter::new(out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Parquet => {
            let mut writer = parquet::arrow::ArrowWriter::try_new(out, first.schema(), None)?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
    }
    Ok(())
}

/// Prints a document: as JSON for `json`, as `human` text for `table`; other formats print
/// `rows` (the document's main table).
pub fn print_document<T: serde::Serialize>(
    format: Format,
    document: &T,
    human: impl FnOnce() -> String,
    rows: impl FnOnce() -> RecordBatch,
) -> Result<()> {
    match format {
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(document)?);
            Ok(())
        }
        Format::Table => {
            print!("{}", human());
            Ok(())
        }
        _ => print_batch(format, &rows()),
    }
}
