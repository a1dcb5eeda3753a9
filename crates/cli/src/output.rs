//! Uniform output: every tabular result is a set of Arrow record batches, written in the
//! format `--format` names, so all commands print tables, CSV, JSON, JSON lines and parquet
//! the same way.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use pairscope_store::export::{BatchWriter, ExportOptions};

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
    let mut out = stdout_for(format)?;
    write_batches(format, std::slice::from_ref(batch), &mut out)?;
    out.flush().context("writing to stdout")
}

/// Buffered stdout, refused for parquet when it is a terminal.
pub fn stdout_for(format: Format) -> Result<std::io::BufWriter<std::io::Stdout>> {
    let stdout = std::io::stdout();
    if format == Format::Parquet && stdout.is_terminal() {
        bail!("refusing to write parquet to a terminal: redirect stdout to a file");
    }
    Ok(std::io::BufWriter::new(stdout))
}

pub fn write_batches<W: Write + Send>(format: Format, batches: &[RecordBatch], out: &mut W) -> Result<()> {
    let Some(first) = batches.first() else { return Ok(()) };
    if format == Format::Table {
        writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?;
        return Ok(());
    }
    let mut writer = batch_writer(format, first.schema(), out)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(())
}

/// A streaming writer for `format` (every format but `table`, whose column widths depend on
/// all rows). CSV from the command line holds the exact text; the web UI's export neutralises
/// formulas.
pub fn batch_writer<W: Write + Send>(format: Format, schema: SchemaRef, out: W) -> Result<BatchWriter<W>> {
    let format =
        format.export().context("table output cannot be streamed: choose --format csv, json, jsonl or parquet")?;
    Ok(BatchWriter::new(format, schema, out, ExportOptions::default())?)
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
