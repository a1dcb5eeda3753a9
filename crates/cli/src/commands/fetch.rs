//! `pairscope fetch`: flags and presentation of `pairscope-fetch`'s run. Rows come from a
//! dataset selection (cut by `pairscope-subset` into the run's `selection/` directory, once) or
//! from parquet files given with `--from`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, StringArray, UInt64Array};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use pairscope_export::ExportFormat;
use pairscope_fetch::run::SELECTION_DIR;
use pairscope_fetch::shard::OutputFormat;
use pairscope_fetch::{FetchConfig, Fetcher, Input, RunOptions, run};
use pairscope_images::{Limits, ResizeMode, ResizeOptions};
use pairscope_model::ExitStatus;
use pairscope_store::Dataset;
use pairscope_subset::{SubsetManifest, SubsetRequest, run_subset};

use crate::args::{Format, GlobalArgs, RemovalArgs, ResolvedPath, UsageError};
use crate::output::{OutKind, check_out, print_document, table};
use crate::progress::Bar;

#[derive(Debug, Args)]
#[command(after_help = "Consent and safety, before any request: rows whose page opted out (optout_pair), \
    rows whose punsafe is above --unsafe-threshold or whose NSFW label is not UNLIKELY (unsafe_skipped, \
    unless --include-unsafe), hosts and URLs on the removal lists (removed_by_list); then robots.txt \
    and the X-Robots-Tag opt-out header; after the download, image-hash lists.\n\
    A run killed and started again with the same arguments fetches only what it had not finished.")]
pub struct FetchArgs {
    /// Dataset to fetch the images of (with --preset, --where, --query, --url to choose rows).
    #[arg(value_parser = ResolvedPath, long, short = 'd', conflicts_with = "from", required_unless_present = "from")]
    pub dataset: Option<PathBuf>,
    /// Parquet files or directories with a URL column (a LAION shard, a subset's output, …).
    /// Rows without a row_id column cannot be taken back into a dataset.
    #[arg(value_parser = ResolvedPath, long, value_name = "FILE|DIR", num_args = 1..)]
    pub from: Vec<PathBuf>,
    /// One of LAION's published subsets (`subset --list-presets`).
    #[arg(long, value_name = "NAME", requires = "dataset")]
    pub preset: Option<String>,
    /// Rows where this filter-language expression is true.
    #[arg(long = "where", value_name = "EXPR", requires = "dataset")]
    pub filter: Option<String>,
    /// Rows matching this search query (the `search` QUERY language).
    #[arg(long, value_name = "QUERY", requires = "dataset")]
    pub query: Option<String>,
    /// Rows whose image or page URL matches this pattern (as `search --url`).
    #[arg(long, value_name = "PATTERN", requires = "dataset")]
    pub url: Option<String>,
    /// Match the query regardless of accents.
    #[arg(long, requires = "dataset")]
    pub fold_accents: bool,
    /// Output directory: created, or resumed when it holds a run of the same arguments.
    #[arg(value_parser = ResolvedPath, long, value_name = "DIR")]
    pub out: PathBuf,
    /// What each shard is written as, beside its NNNNN.parquet and NNNNN_stats.json.
    #[arg(long, value_enum, default_value = "webdataset")]
    pub output_format: OutputFormatArg,
    /// Input rows per shard.
    #[arg(long, value_name = "N", default_value_t = pairscope_fetch::run::SHARD_ROWS)]
    pub shard_rows: u64,
    /// Requests in flight at once, over all hosts.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub concurrency: usize,
    /// How images are resized (img2dataset's modes).
    #[arg(long, value_name = "MODE", default_value = "border")]
    pub resize_mode: ResizeMode,
    /// Target side in pixels.
    #[arg(long, value_name = "PX", default_value_t = 256)]
    pub image_size: u32,
    /// Leave images no larger than --image-size as they are.
    #[arg(long)]
    pub resize_only_if_bigger: bool,
    /// Images whose smaller side is below this fail with too_small.
    #[arg(long, value_name = "PX", default_value_t = 0)]
    pub min_image_size: u32,
    /// Images whose larger side over smaller side is above this fail with bad_aspect_ratio.
    #[arg(long, value_name = "RATIO")]
    pub max_aspect_ratio: Option<f64>,
    /// JPEG quality of the images kept, 1–100.
    #[arg(long, value_name = "Q", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Images with more pixels than this (as their header says) are refused as bombs before decoding.
    #[arg(long, value_name = "PIXELS", default_value_t = 100_000_000)]
    pub max_pixels: u64,
    /// Requests in flight to one host at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub connections_per_host: usize,
    /// Requests started per second on one host.
    #[arg(long, value_name = "R", default_value_t = 4.0)]
    pub requests_per_second_per_host: f64,
    /// Seconds allowed to connect, and between two bytes of a response.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
    /// Hard limit in seconds on one image, redirects and retries included.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub deadline: f64,
    /// Largest body accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    pub max_body_mib: u64,
    /// Retries after a timeout, DNS error, broken connection, 429 or 5xx.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// Fetch rows that may be unsafe too (punsafe above the threshold, NSFW label not UNLIKELY).
    /// LAION's links include illegal images: leave this off unless you must.
    #[arg(long)]
    pub include_unsafe: bool,
    /// The punsafe above which a row is skipped as unsafe.
    #[arg(long, value_name = "P", default_value_t = pairscope_model::safety::DEFAULT_UNSAFE_THRESHOLD)]
    pub unsafe_threshold: f64,
    #[command(flatten)]
    pub removal: RemovalArgs,
    /// Do not read robots.txt (only for sites that agreed to be fetched; prints a warning).
    #[arg(long)]
    pub ignore_robots: bool,
    /// Allow hosts that resolve to loopback, private or link-local addresses (your own mirror).
    #[arg(long)]
    pub allow_private_addresses: bool,
    /// Fetch again the rows of finished shards whose status is retryable (timeouts, DNS, 429, 5xx).
    #[arg(long)]
    pub retry_failed: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormatArg {
    /// NNNNN.tar of KEY.jpg, KEY.txt, KEY.json.
    Webdataset,
    /// NNNNN/KEY.jpg, KEY.txt, KEY.json.
    Files,
    /// No images: the NNNNN.parquet files only.
    Parquet,
}

pub fn run_fetch(args: &FetchArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let list_files = args.removal.files();
    let mut inputs: Vec<&Path> = args.from.iter().map(PathBuf::as_path).chain(list_files.iter().copied()).collect();
    if let Some(dataset) = &args.dataset {
        inputs.push(dataset);
    }
    check_out(&args.out, OutKind::Directory, &inputs, false)?;
    let seconds = |s: f64, flag: &str| -> Result<Duration, UsageError> {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| UsageError::new(format!("{flag} {s}: must be a positive number of seconds")))
    };
    let rate = args.requests_per_second_per_host;
    if !rate.is_finite() || rate <= 0.0 || args.connections_per_host == 0 || args.concurrency == 0 {
        return Err(UsageError::new(
            "--concurrency, --connections-per-host and --requests-per-second-per-host must be above 0",
        )
        .into());
    }
    if args.ignore_robots {
        eprintln!("warning: --ignore-robots: robots.txt is not read. Use it only for sites that agreed to be fetched.");
    }
    let config = FetchConfig {
        connections_per_host: args.connections_per_host,
        requests_per_second_per_host: args.requests_per_second_per_host,
        connect_timeout: seconds(args.timeout, "--timeout")?,
        byte_timeout: seconds(args.timeout, "--timeout")?,
        deadline: seconds(args.deadline, "--deadline")?,
        max_body_bytes: args.max_body_mib.saturating_mul(1 << 20),
        retries: args.retries,
        respect_robots: !args.ignore_robots,
        allow_private_addresses: args.allow_private_addresses,
        ..FetchConfig::default()
    };
    pairscope_fetch::run::check_output_dir(&args.out)?;
    let fetcher = Fetcher::new(config).context("cannot start the HTTP client")?;
    let sources = match &args.dataset {
        Some(dataset) => vec![select(dataset, args)?],
        None => args.from.clone(),
    };
    let input = Input::open(&sources)?;
    let options = RunOptions {
        out: args.out.clone(),
        format: match args.output_format {
            OutputFormatArg::Webdataset => OutputFormat::Webdataset,
            OutputFormatArg::Files => OutputFormat::Files,
            OutputFormatArg::Parquet => OutputFormat::Parquet,
        },
        shard_rows: args.shard_rows.max(1),
        concurrency: args.concurrency,
        resize: ResizeOptions {
            resize_mode: args.resize_mode,
            image_size: args.image_size,
            resize_only_if_bigger: args.resize_only_if_bigger,
            min_image_size: args.min_image_size,
            max_aspect_ratio: args.max_aspect_ratio.unwrap_or(f64::INFINITY),
            quality: args.quality,
        },
        image_limits: Limits { max_pixels: args.max_pixels, ..Limits::default() },
        include_unsafe: args.include_unsafe,
        unsafe_threshold: args.unsafe_threshold,
        lists: args.removal.load()?,
        retry_failed: args.retry_failed,
        ..RunOptions::default()
    };
    let bar = Bar::new(global, "fetch");
    let report = run(&input, fetcher, &options, &bar)?;
    bar.finish();
    let statuses: Vec<(&String, &u64)> = report.total.iter().collect();
    print_document(
        if args.json { Format::Json } else { Format::Table },
        &report,
        || {
            let mut text = format!(
                "{} rows in {} shards ({} done by an earlier run); this run: {} samples, {} requests, {:.1} s\n",
                report.rows,
                report.shards,
                report.shards_already_done,
                report.this_run.values().sum::<u64>(),
                report.requests,
                report.elapsed_seconds
            );
            for (status, n) in &statuses {
                let _ = writeln!(text, "  {status}: {n}");
            }
            let _ = writeln!(text, "output: {}", args.out.display());
            text
        },
        || {
            table(vec![
                (
                    "status",
                    Arc::new(StringArray::from(statuses.iter().map(|s| s.0.as_str()).collect::<Vec<_>>())) as ArrayRef,
                ),
                ("rows", Arc::new(UInt64Array::from(statuses.iter().map(|s| *s.1).collect::<Vec<_>>()))),
            ])
        },
    )?;
    Ok(ExitStatus::Clean)
}

/// The dataset rows `args` select, as a subset directory inside the run's output (cut once; a
/// resumed run reuses it when it was cut by the same selection from the same version).
fn select(dataset: &Path, args: &FetchArgs) -> Result<PathBuf> {
    let dir = args.out.join(SELECTION_DIR);
    let dataset = Dataset::open(dataset)?;
    if let Ok(manifest) = SubsetManifest::read(&dir) {
        let filter = &manifest.filter;
        let same = manifest.dataset.version == dataset.version()
            && filter.preset == args.preset
            && filter.r#where == args.filter
            && filter.query == args.query
            && filter.url == args.url
            && filter.fold_accents == args.fold_accents;
        if !same {
            return Err(UsageError::new(format!(
                "--out {}: holds a fetch of another selection or dataset version ({}): resume it with the \
                 same arguments, or choose another --out",
                args.out.display(),
                dir.join(pairscope_subset::manifest::MANIFEST).display()
            ))
            .into());
        }
        return Ok(dir);
    }
    let request = SubsetRequest {
        preset: args.preset.clone(),
        filter: args.filter.clone(),
        query: args.query.clone(),
        url: args.url.clone(),
        fold_accents: args.fold_accents,
        lists: pairscope_lists::RemovalLists::default(),
        dedup: None,
        sample: None,
        format: ExportFormat::Parquet,
        out: dir.clone(),
        memory_limit: 512 << 20,
        threads: crate::commands::synth::default_threads(),
        shard_rows: pairscope_subset::run::SHARD_ROWS,
    };
    run_subset(&dataset, &request)?;
    Ok(dir)
}
