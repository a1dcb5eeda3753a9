//! Uniform output: every tabular result is a set of Arrow record batches, written in the
//! format `--format` names, so all commands print tables, CSV, JSON, JSON lines and parquet
//! the same way.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use pairscope_export::{BatchWriter, ExportOptions};
use pairscope_io::path::resolve;
use pairscope_store::layout::dataset_containing;

use crate::args::{Format, UsageError};

/// A record batch from named columns.
#[expect(clippy::expect_used, reason = "each caller builds all its columns from one list of rows: equal lengths")]
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

/// Set once a write to stdout failed because its reader went away (`pairscope … | head`).
/// Kept apart from the error: some writers keep only the text of an I/O error (arrow's CSV
/// writer), so the error alone cannot tell.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader went away: `main` then ends quietly, as Unix tools do.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Stdout, noting when its reader went away.
pub struct Stdout(std::io::Stdout);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        noting_closed(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        noting_closed(self.0.flush())
    }
}

fn noting_closed<T>(result: std::io::Result<T>) -> std::io::Result<T> {
    if result.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
    result
}

/// Prints `text` to stdout. A write error is returned, not a panic as from `print!`.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = Stdout(std::io::stdout());
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("writing to stdout")
}

/// Buffered stdout, refused for parquet when it is a terminal.
pub fn stdout_for(format: Format) -> Result<std::io::BufWriter<Stdout>> {
    let stdout = std::io::stdout();
    if format == Format::Parquet && stdout.is_terminal() {
        bail!("refusing to write parquet to a terminal: redirect stdout to a file");
    }
    Ok(std::io::BufWriter::new(Stdout(stdout)))
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
        Format::Json => print_text(&format!("{}\n", serde_json::to_string_pretty(document)?)),
        Format::Table => print_text(&human()),
        _ => print_batch(format, &rows()),
    }
}

/// What an `--out` flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// One file, written whole under a temporary name and renamed onto the path.
    File,
    /// A directory the command creates or resumes; what may already be in it is the command's
    /// own check (an earlier subset, a collect run).
    Directory,
}

/// Refuses an `--out` that would write inside a dataset (pairscope's writer alone writes
/// there), onto or around one of the command's own inputs, or over an existing file without
/// `--force`. Paths are compared after [`resolve`], so `..` and symlinks cannot hide a match.
/// A directory `--out` may lie inside an input directory (`collect crawl/ --out crawl/pairs`):
/// nothing there is read back.
pub fn check_out(out: &Path, kind: OutKind, inputs: &[&Path], force: bool) -> Result<(), UsageError> {
    let refuse = |why: String| Err(UsageError::new(format!("--out {}: {why}", out.display())));
    let resolved = resolve(out).map_err(|e| UsageError::new(format!("--out {}: {e}", out.display())))?;
    if let Some(dataset) = dataset_containing(&resolved) {
        return refuse(format!(
            "is inside the dataset {} (only ingest writes there): choose a path outside it",
            dataset.display()
        ));
    }
    for input in inputs {
        let Ok(input_resolved) = resolve(input) else { continue };
        let clash = match kind {
            OutKind::File => input_resolved == resolved,
            OutKind::Directory => input_resolved.starts_with(&resolved),
        };
        if clash {
            return refuse(format!("is or holds an input of this command ({})", input.display()));
        }
    }
    if kind == OutKind::File {
        match std::fs::metadata(&resolved) {
            Ok(meta) if !meta.is_file() => return refuse("exists and is not a regular file".into()),
            Ok(_) if !force => return refuse("exists: add --force to replace it".into()),
            _ => {}
        }
    }
    Ok(())
}
