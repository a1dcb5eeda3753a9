//! `pairscope sql`: read-only SQL over a dataset (see `pairscope-sql`); this file owns only
//! the flags and how results are written.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use clap::Args;
use pairscope_export::ExportFormat;
use pairscope_io::durable::{AtomicFile, remove_dead_temporaries};
use pairscope_model::ExitStatus;
use pairscope_sql::{BlockingRows, Limits, SqlSession};
use pairscope_store::Dataset;

use crate::args::{Format, FormatArgs, GlobalArgs, ResolvedPath, UsageError};
use crate::output::{OutKind, batch_writer, check_out, stdout_for, write_batches};

/// Rows `--format table` shows on stdout unless `--limit` says otherwise.
pub const DISPLAY_ROWS: u64 = 1000;

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Dataset directory.
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    /// One read-only query over the table `pairs` (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE,
    /// SHOW), with the functions host(url), domain(url) and normalize(text [, fold_accents]).
    pub query: String,
    #[command(flatten)]
    pub output: FormatArgs,
    /// Write every row to FILE, in --format or, when that is table, in the format the file's
    /// extension names (.csv, .json, .jsonl, .parquet).
    /// The file is written under a temporary name and renamed into place when complete: a
    /// failed or stopped query leaves any earlier file as it was.
    #[arg(value_parser = ResolvedPath, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Write at most this many rows [default: 1000 for table output on stdout; every row
    /// otherwise].
    #[arg(long, value_name = "ROWS")]
    pub limit: Option<u64>,
    /// Stop the query after this many seconds, writing included (0: no limit).
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::DEFAULT_TIMEOUT.as_secs_f64(), value_parser = parse_timeout)]
    pub timeout: f64,
    /// Memory the query's operators may hold, e.g. 512MiB or 8GiB; sorts, aggregations and
    /// joins spill to temporary files past it.
    #[arg(long, value_name = "BYTES", default_value_t = Bytes(Limits::DEFAULT_MEMORY_LIMIT))]
    pub memory_limit: Bytes,
}

pub fn run(args: &SqlArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let format = output_format(args)?;
    if let Some(out) = &args.out {
        check_out(out, OutKind::File, &[&args.dataset], args.force)?;
    }
    let dataset = Dataset::open(&args.dataset)?;
    let limits = Limits {
        timeout: (args.timeout > 0.0).then(|| Duration::from_secs_f64(args.timeout)),
        memory_limit: args.memory_limit.0,
    };
    let session = SqlSession::new(&dataset, limits)?;
    let rows = session.query_blocking(&args.query)?;
    match (&args.out, format) {
        (None, Format::Table) => print_table(rows, args.limit.unwrap_or(DISPLAY_ROWS), global.quiet)?,
        (None, format) => {
            let mut out = stdout_for(format)?;
            stream(rows, format, args.limit, &mut out)?;
            out.flush().context("writing to stdout")?;
        }
        (Some(path), format) => export(rows, format, args.limit, path)?,
    }
    Ok(ExitStatus::Clean)
}

/// `--format`, or for `--out` with table format, the format the file's extension names.
fn output_format(args: &SqlArgs) -> Result<Format, UsageError> {
    let format = args.output.format();
    let Some(path) = args.out.as_deref().filter(|_| format == Format::Table) else { return Ok(format) };
    match ExportFormat::from_extension(path) {
        Some(ExportFormat::Csv) => Ok(Format::Csv),
        Some(ExportFormat::Json) => Ok(Format::Json),
        Some(ExportFormat::Jsonl) => Ok(Format::Jsonl),
        Some(ExportFormat::Parquet) => Ok(Format::Parquet),
        None => Err(UsageError::new(format!(
            "--out {}: name the format with --format csv|json|jsonl|parquet, or end the file name with one",
            path.display()
        ))),
    }
}

/// Prints at most `limit` rows as a table, and says so when the query has more.
fn print_table(mut rows: BlockingRows, limit: u64, quiet: bool) -> Result<()> {
    let mut batches = Vec::new();
    let mut kept = 0u64;
    let mut more = false;
    for batch in rows.by_ref() {
        let batch = batch?;
        let room = limit - kept;
        if batch.num_rows() as u64 > room {
            batches.push(batch.slice(0, room as usize));
            more = true;
            break;
        }
        kept += batch.num_rows() as u64;
        batches.push(batch);
    }
    if batches.iter().all(|b| b.num_rows() == 0) {
        batches = vec![RecordBatch::new_empty(rows.schema())];
    }
    let mut out = stdout_for(Format::Table)?;
    write_batches(Format::Table, &batches, &mut out)?;
    out.flush().context("writing to stdout")?;
    if more && !quiet {
        eprintln!("… more rows than the {limit} shown: raise --limit, or write them all with --out FILE");
    }
    Ok(())
}

/// Writes the rows batch by batch (at most `limit`), so memory does not grow with the result.
fn stream(rows: BlockingRows, format: Format, limit: Option<u64>, out: &mut (impl Write + Send)) -> Result<()> {
    let mut writer = batch_writer(format, rows.schema(), out)?;
    let mut room = limit.unwrap_or(u64::MAX);
    for batch in rows {
        let batch = batch?;
        if batch.num_rows() as u64 >= room {
            writer.write(&batch.slice(0, room as usize))?;
            break;
        }
        room -= batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    writer.finish()?;
    Ok(())
}

/// Streams into `path` through an [`AtomicFile`]: a failed or stopped query leaves no file
/// (and any earlier one untouched); a killed earlier export's temporary is removed first.
fn export(rows: BlockingRows, format: Format, limit: Option<u64>, path: &Path) -> Result<()> {
    remove_dead_temporaries(path).with_context(|| format!("cleaning up beside {}", path.display()))?;
    let mut file = AtomicFile::create(path).with_context(|| format!("creating {}", path.display()))?;
    stream(rows, format, limit, &mut file)
        .and_then(|()| file.commit().map_err(Into::into))
        .with_context(|| format!("writing {}", path.display()))
}

/// A `--timeout`: seconds, 0 for no limit.
pub(crate) fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 && Duration::try_from_secs_f64(seconds).is_ok() => {
            Ok(seconds)
        }
        _ => Err(format!("{text:?} is not a number of seconds (0 for no limit)")),
    }
}

/// A size in bytes, written `2GiB`, `512MiB`, `64KiB` or plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub usize);

const UNITS: [(&str, usize); 4] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)];

impl FromStr for Bytes {
    type Err = String;

    fn from_str(text: &str) -> Result<Bytes, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim();
        let scale = if unit.is_empty() {
            Some(1)
        } else {
            UNITS.iter().find(|(name, _)| name.eq_ignore_ascii_case(unit)).map(|(_, scale)| *scale)
        };
        match (number.parse::<usize>(), scale) {
            (Ok(n), Some(scale)) if n > 0 => {
                n.checked_mul(scale).map(Bytes).ok_or_else(|| format!("{text:?} is too large"))
            }
            _ => Err(format!("{text:?} is not a size (e.g. 512MiB, 2GiB)")),
        }
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, scale) = UNITS.iter().find(|(_, scale)| self.0.is_multiple_of(*scale)).copied().unwrap_or(("B", 1));
        write!(f, "{}{name}", self.0 / scale)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("2GiB".parse(), Ok(Bytes(2 << 30)));
        assert_eq!("512 mib".parse(), Ok(Bytes(512 << 20)));
        assert_eq!("1000".parse(), Ok(Bytes(1000)));
        assert!("0".parse::<Bytes>().is_err());
        assert!("2GB".parse::<Bytes>().is_err());
        assert!("-1GiB".parse::<Bytes>().is_err());
        assert!("99999999999999GiB".parse::<Bytes>().is_err());
        assert_eq!(Bytes(Limits::DEFAULT_MEMORY_LIMIT).to_string(), "2GiB");
        assert_eq!(Bytes(1536 << 20).to_string(), "1536MiB");
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("0.05"), Ok(0.05));
        assert_eq!(parse_timeout("0"), Ok(0.0));
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("inf").is_err());
        assert!(parse_timeout("1e300").is_err());
    }
}
