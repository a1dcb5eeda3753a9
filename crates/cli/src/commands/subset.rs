//! `pairscope subset` and `pairscope diff`: flags and presentation of `pairscope-subset`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, StringArray, UInt64Array};
use clap::{Args, ValueEnum};
use pairscope_export::ExportFormat;
use pairscope_model::ExitStatus;
use pairscope_store::Dataset;
use pairscope_subset::{DedupKey, DiffKey, DiffRequest, PRESETS, SampleSpec, SubsetRequest, diff, run_subset};

use crate::args::{Format, FormatArgs, GlobalArgs, RemovalArgs, ResolvedPath, UsageError};
use crate::output::{OutKind, check_out, print_document, table};

#[derive(Debug, Args)]
#[command(after_help = "Order of operations: filter (--preset AND --where) → --query → removal lists \
    (domains, URLs, image hashes, opt-outs) → --dedup (lowest row_id survives) → --sample.\n\
    The output directory holds part-NNNNN shards in row_id order and manifest.json.")]
pub struct SubsetArgs {
    /// Dataset directory.
    #[arg(value_parser = ResolvedPath, long, short = 'd', required_unless_present = "list_presets")]
    pub dataset: Option<PathBuf>,
    /// One of LAION's published subsets (see --list-presets). Combined with --where by AND.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Keep rows where this filter-language expression is true.
    #[arg(long = "where", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Keep rows matching this search query (the `search` QUERY language).
    #[arg(long, value_name = "QUERY")]
    pub query: Option<String>,
    /// Keep rows whose image or page URL matches this pattern (as `search --url`).
    #[arg(long, value_name = "PATTERN")]
    pub url: Option<String>,
    /// Match the query regardless of accents.
    #[arg(long)]
    pub fold_accents: bool,
    #[command(flatten)]
    pub removal: RemovalArgs,
    /// Keep one row per URL (`url`), URL and caption (`url+caption`), or near-duplicate group
    /// of image embeddings (`near:T`, cosine ≥ T; `near` is near:0.94, as `pairscope dups`):
    /// the lowest row_id.
    #[arg(long, value_name = "KEY", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<DedupKey>()))]
    pub dedup: Option<DedupKey>,
    /// Keep N rows chosen by a seeded hash of row_id (the same N for the same seed).
    #[arg(long, value_name = "N", requires = "seed")]
    pub sample: Option<u64>,
    /// The sampling seed.
    #[arg(long, value_name = "S", requires = "sample")]
    pub seed: Option<u64>,
    /// Output directory: created, or replaced atomically if it is empty or holds an earlier
    /// subset and nothing else; any other directory is refused.
    #[arg(value_parser = ResolvedPath, long, value_name = "DIR", required_unless_present = "list_presets")]
    pub out: Option<PathBuf>,
    /// Format of the output shards.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: OutFormat,
    /// Rows per output file.
    #[arg(long, value_name = "N", default_value_t = pairscope_subset::run::SHARD_ROWS)]
    pub shard_rows: usize,
    /// Threads for the scan (the output does not depend on it) [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Memory (MiB) the dedup grouping may hold before it spills to disk.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub memory_mib: usize,
    /// Print the presets with their definitions and sources, and exit.
    #[arg(long)]
    pub list_presets: bool,
    /// Print the manifest (or the presets) as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutFormat {
    Parquet,
    Csv,
    Jsonl,
}

pub fn run_subset_command(args: &SubsetArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    if args.list_presets {
        return list_presets(args);
    }
    let (Some(dataset), Some(out)) = (&args.dataset, &args.out) else {
        return Err(UsageError::new("--dataset and --out are required").into());
    };
    let list_files = args.removal.files();
    check_out(out, OutKind::Directory, &list_files, false)?;
    let dataset = Dataset::open(dataset)?;
    let lists = args.removal.load()?;
    let request = SubsetRequest {
        preset: args.preset.clone(),
        filter: args.filter.clone(),
        query: args.query.clone(),
        url: args.url.clone(),
        fold_accents: args.fold_accents,
        lists,
        dedup: args.dedup,
        sample: args.sample.zip(args.seed).map(|(rows, seed)| SampleSpec { rows, seed }),
        format: match args.format {
            OutFormat::Parquet => ExportFormat::Parquet,
            OutFormat::Csv => ExportFormat::Csv,
            OutFormat::Jsonl => ExportFormat::Jsonl,
        },
        out: out.clone(),
        memory_limit: args.memory_mib.max(64) << 20,
        shard_rows: args.shard_rows.max(1),
        threads: args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let manifest = run_subset(&dataset, &request)?;
    let removed = &manifest.removed;
    let steps = [
        ("filter", removed.filter),
        ("query", removed.query),
        ("domain_list", removed.domain_list),
        ("url_list", removed.url_list),
        ("image_hash_list", removed.image_hash_list),
        ("opt_out", removed.opt_out),
        ("dedup", removed.dedup),
        ("sample", removed.sample),
    ];
    print_document(
        report_format(args),
        &manifest,
        || {
            let mut text = format!(
                "{} of {} rows kept in {} file(s) under {}\n",
                manifest.rows.out,
                manifest.rows.r#in,
                manifest.files.len(),
                out.display()
            );
            for (step, rows) in steps.iter().filter(|(_, rows)| *rows > 0) {
                let _ = writeln!(text, "  removed by {step}: {rows}");
            }
            text
        },
        || {
            table(vec![
                ("step", Arc::new(StringArray::from(steps.iter().map(|s| s.0).collect::<Vec<_>>())) as ArrayRef),
                ("removed", Arc::new(UInt64Array::from(steps.iter().map(|s| s.1).collect::<Vec<_>>()))),
            ])
        },
    )?;
    Ok(ExitStatus::Clean)
}

fn report_format(args: &SubsetArgs) -> Format {
    if args.json { Format::Json } else { Format::Table }
}

fn list_presets(args: &SubsetArgs) -> Result<ExitStatus> {
    print_document(
        report_format(args),
        &PRESETS,
        || {
            let mut text = String::new();
            for preset in PRESETS {
                let _ = writeln!(
                    text,
                    "{}\n  where: {}\n  published size: {}\n  source: {}",
                    preset.name, preset.filter, preset.published_rows, preset.source
                );
                if !preset.note.is_empty() {
                    let _ = writeln!(text, "  note: {}", preset.note);
                }
            }
            text
        },
        || {
            table(vec![
                ("name", Arc::new(StringArray::from(PRESETS.iter().map(|p| p.name).collect::<Vec<_>>())) as ArrayRef),
                ("where", Arc::new(StringArray::from(PRESETS.iter().map(|p| p.filter).collect::<Vec<_>>()))),
                (
                    "published_rows",
                    Arc::new(StringArray::from(PRESETS.iter().map(|p| p.published_rows).collect::<Vec<_>>())),
                ),
                ("source", Arc::new(StringArray::from(PRESETS.iter().map(|p| p.source).collect::<Vec<_>>()))),
            ])
        },
    )?;
    Ok(ExitStatus::Clean)
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The two sides: pairscope datasets or directories of parquet files (a subset's output).
    #[arg(value_parser = ResolvedPath, long = "dataset", short = 'd', value_name = "DIR", num_args = 1, required = true)]
    pub datasets: Vec<PathBuf>,
    /// What identifies a row on both sides.
    #[arg(long, value_enum, default_value = "row")]
    pub key: DiffKeyArg,
    /// Break the counts down by registrable domain.
    #[arg(long, value_enum)]
    pub by: Option<DiffBy>,
    /// With --by: the domains shown, most differing first [default: 50].
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Memory (MiB) the join may hold before it spills or fails.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    pub memory_mib: usize,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiffKeyArg {
    Row,
    Url,
    #[value(name = "url+caption")]
    UrlCaption,
    SampleId,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiffBy {
    Domain,
}

pub fn run_diff(args: &DiffArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    let [a, b] = args.datasets.as_slice() else {
        return Err(UsageError::new(format!("diff takes exactly two --dataset, got {}", args.datasets.len())).into());
    };
    let request = DiffRequest {
        a: a.clone(),
        b: b.clone(),
        key: match args.key {
            DiffKeyArg::Row => DiffKey::Row,
            DiffKeyArg::Url => DiffKey::Url,
            DiffKeyArg::UrlCaption => DiffKey::UrlCaption,
            DiffKeyArg::SampleId => DiffKey::SampleId,
        },
        by_domain: args.by.is_some(),
        top: Some(args.top.unwrap_or(50)),
        memory_limit: args.memory_mib.max(64) << 20,
    };
    let report = diff(&request)?;
    print_document(
        args.output.format(),
        &report,
        || {
            let mut text = format!(
                "key {}: {} rows only in A, {} only in B, {} in both\n",
                report.key.name(),
                report.only_a,
                report.only_b,
                report.both
            );
            if args.by.is_some() {
                let _ = writeln!(text, "\n{:<40} {:>12} {:>12} {:>12}", "domain", "only in A", "only in B", "in both");
                for row in &report.by_domain {
                    let _ = writeln!(
                        text,
                        "{:<40} {:>12} {:>12} {:>12}",
                        row.domain.as_deref().unwrap_or("(none)"),
                        row.only_a,
                        row.only_b,
                        row.both
                    );
                }
                if (report.by_domain.len() as u64) < report.domains {
                    let _ =
                        writeln!(text, "… {} more domains (--top N)", report.domains - report.by_domain.len() as u64);
                }
            }
            text
        },
        || {
            if args.by.is_none() {
                return table(vec![
                    ("only_a", Arc::new(UInt64Array::from(vec![report.only_a])) as ArrayRef),
                    ("only_b", Arc::new(UInt64Array::from(vec![report.only_b]))),
                    ("both", Arc::new(UInt64Array::from(vec![report.both]))),
                ]);
            }
            let rows = &report.by_domain;
            table(vec![
                (
                    "domain",
                    Arc::new(StringArray::from(rows.iter().map(|r| r.domain.clone()).collect::<Vec<_>>())) as ArrayRef,
                ),
                ("only_a", Arc::new(UInt64Array::from(rows.iter().map(|r| r.only_a).collect::<Vec<_>>()))),
                ("only_b", Arc::new(UInt64Array::from(rows.iter().map(|r| r.only_b).collect::<Vec<_>>()))),
                ("both", Arc::new(UInt64Array::from(rows.iter().map(|r| r.both).collect::<Vec<_>>()))),
            ])
        },
    )?;
    Ok(ExitStatus::Clean)
}
