//! `pairscope collect`: flags and the summary; the run itself is `pairscope_collect::collect`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};
use pairscope_collect::{CollectOptions, CollectReport, ExtractOptions, Format, Remote, collect, resolve_inputs};
use pairscope_model::ExitStatus;
use serde_json::json;

use crate::args::{GlobalArgs, ResolvedInput, ResolvedPath, UsageError};
use crate::commands::synth::default_threads;
use crate::output::{OutKind, check_out};
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Gzipped WAT or WARC files, directories (searched recursively for *.wat.gz and
    /// *.warc.gz), list files (one path or URL a line, optionally gzipped like wat.paths.gz),
    /// or http(s):// and s3:// URLs of archives or lists, streamed (never downloaded whole).
    /// s3:// uses the AWS environment (AWS_ACCESS_KEY_ID, AWS_REGION, ...), unsigned without.
    #[arg(required = true, value_name = "INPUT", value_parser = ResolvedInput)]
    pub inputs: Vec<String>,
    /// What relative lines of list files resolve against, e.g.
    /// https://data.commoncrawl.org/ for a downloaded wat.paths.gz. Default: the list's
    /// directory (local lists), the root of its host or bucket (remote lists).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Output directory for the parquet shards (`pairscope ingest` reads it as it is).
    /// Re-running with the same arguments resumes an interrupted run.
    #[arg(value_parser = ResolvedPath, long)]
    pub out: PathBuf,
    /// Which records to read: auto takes WAT metadata and WARC responses alike.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Drop pairs whose cleaned alt text is shorter than this many characters (LAION: 5).
    #[arg(long, default_value_t = 5)]
    pub min_alt_chars: usize,
    /// Keep only captions detected in these languages (ISO 639-1 codes, `und` for unsure),
    /// e.g. --langs en,de.
    #[arg(long, value_delimiter = ',')]
    pub langs: Option<Vec<String>>,
    /// Inputs read at once (default: all cores). The output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory of an earlier collect: pairs (url, caption) already there are dropped.
    /// Repeatable.
    #[arg(value_parser = ResolvedPath, long, value_name = "DIR")]
    pub seen: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Auto,
    Wat,
    Warc,
}

pub fn run(args: &CollectArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let langs = args.langs.as_ref().map(|l| l.iter().map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>());
    if let Some(bad) = langs.iter().flatten().find(|l| l.is_empty() || !l.chars().all(|c| c.is_ascii_lowercase())) {
        return Err(UsageError::new(format!("--langs: {bad:?} is not a language code like en or und")).into());
    }
    let options = CollectOptions {
        format: match args.format {
            FormatArg::Auto => Format::Auto,
            FormatArg::Wat => Format::Wat,
            FormatArg::Warc => Format::Warc,
        },
        extract: ExtractOptions { min_alt_chars: args.min_alt_chars },
        langs,
        threads: args.threads.unwrap_or_else(default_threads).max(1),
        seen: args.seen.clone(),
    };
    let base_url = args
        .base_url
        .as_deref()
        .map(pairscope_collect::parse_url)
        .transpose()
        .map_err(|e| UsageError::new(e.to_string()))?;
    // Before the inputs are read: a list file named as an input is read whole.
    let local_inputs = args.inputs.iter().filter(|input| !input.contains("://")).map(Path::new);
    let inputs_read: Vec<&Path> = local_inputs.chain(args.seen.iter().map(PathBuf::as_path)).collect();
    check_out(&args.out, OutKind::Directory, &inputs_read, false)?;
    let inputs = resolve_inputs(&args.inputs, base_url.as_ref(), &Remote::new())?;
    let bar = Bar::new(global, "collect");
    let result = collect(&inputs, &args.out, &options, &bar);
    bar.finish();
    let report = result?;
    for failed in report.failed() {
        tracing::warn!("skipped input {}: {}", failed.input, failed.error.as_deref().unwrap_or_default());
    }
    for input in report.inputs.iter().filter_map(|i| i.stats.as_ref()) {
        for skip in &input.read.examples {
            tracing::warn!(
                "{}: skipped record at offset {}: {}: {}",
                input.path,
                skip.offset,
                skip.reason,
                skip.detail
            );
        }
    }
    if args.json {
        crate::output::print_text(&format!("{}\n", serde_json::to_string_pretty(&document(&report, &args.out))?))?;
    } else if !global.quiet {
        eprint!("{}", human(&report, &args.out));
    }
    Ok(ExitStatus::completed(report.skipped()))
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

fn document(report: &CollectReport, out: &std::path::Path) -> serde_json::Value {
    let t = report.totals();
    json!({
        "out": out.display().to_string(),
        "inputs": report.inputs.iter().map(|i| json!({
            "path": i.input.to_string(),
            "resumed": i.resumed,
            "error": i.error,
            "kept": i.kept,
            "stats": i.stats,
        })).collect::<Vec<_>>(),
        "records": t.read.records,
        "skipped_records": t.read.skipped,
        "pages": t.extract.html_pages,
        "images": t.extract.image_links,
        "pairs_extracted": t.extract.pairs,
        "dropped": {
            "no_alt": t.extract.no_alt,
            "not_http": t.extract.not_http,
            "short_caption": t.extract.short_caption,
            "other_language": t.other_language,
            "duplicate": report.duplicates,
            "seen": report.seen_duplicates,
        },
        "kept": report.kept,
        "seconds": report.seconds,
        "compressed_mb_per_s": mb_per_s(report.bytes_read, report.seconds),
        "uncompressed_mb_per_s": mb_per_s(report.inflated_read, report.seconds),
    })
}

fn human(report: &CollectReport, out: &std::path::Path) -> String {
    let t = report.totals();
    let mut s = String::new();
    let resumed = report.inputs.iter().filter(|i| i.resumed).count();
    let _ = writeln!(
        s,
        "{} input(s){}: {} records, {} pages, {} images, {} pairs kept in {}",
        report.inputs.len(),
        if resumed > 0 { format!(" ({resumed} staged by an earlier run)") } else { String::new() },
        t.read.records,
        t.extract.html_pages,
        t.extract.image_links,
        report.kept,
        out.display()
    );
    let _ = writeln!(
        s,
        "dropped: {} without alt, {} not http(s), {} alt shorter than the minimum, {} other language, {} duplicates, {} already seen",
        t.extract.no_alt,
        t.extract.not_http,
        t.extract.short_caption,
        t.other_language,
        report.duplicates,
        report.seen_duplicates
    );
    for (reason, n) in &t.read.skipped {
        let _ = writeln!(s, "skipped records, {reason}: {n}");
    }
    for failed in report.failed() {
        let _ = writeln!(s, "failed input: {}: {}", failed.input, failed.error.as_deref().unwrap_or_default());
    }
    let _ = writeln!(
        s,
        "{:.1} s, {:.1} MB/s compressed, {:.1} MB/s uncompressed",
        report.seconds,
        mb_per_s(report.bytes_read, report.seconds),
        mb_per_s(report.inflated_read, report.seconds)
    );
    s
}
