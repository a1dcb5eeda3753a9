//! `pairscope mentions`: flags, the cache, and presentation of `pairscope-mentions`' counts.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use clap::Args;
use clap::builder::PossibleValuesParser;
use pairscope_mentions::{ByColumn, MentionsReport, MentionsRequest, Method, cache, count_mentions};
use pairscope_model::{ExitStatus, Registry, UsageError};
use pairscope_store::Dataset;
use pairscope_text::names::NameList;

use crate::args::{FormatArgs, GlobalArgs, ResolvedInput, ResolvedPath};
use crate::commands::sql::parse_timeout;
use crate::output::{print_document, table};
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct MentionsArgs {
    /// Dataset directory.
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    /// A name list: a file (one entity a line, aliases separated by " | ", # comments),
    /// builtin:artists or builtin:characters. Repeat to count several lists.
    #[arg(long = "names", value_name = "LIST", required = true, value_parser = ResolvedInput)]
    pub names: Vec<String>,
    /// Only count rows where this filter-language expression is true; shares are of these rows.
    #[arg(long = "where", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Break each entity's count down by this column.
    #[arg(long, value_parser = by_names(Registry::CANONICAL))]
    pub by: Option<String>,
    /// With --by: the values shown per entity [default: 10]. Without: keep only the N
    /// most-mentioned entities.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Match names regardless of accents (Dürer = Durer).
    #[arg(long)]
    pub fold_accents: bool,
    /// Also count each name's captions once per near-duplicate group of image embeddings
    /// (`near` = cosine ≥ 0.94, as `pairscope dups`, or `near:T`): how many distinct images
    /// mention it, beside how many rows.
    #[arg(long, value_name = "near[:T]", value_parser = clap::builder::ValueParser::new(near_threshold))]
    pub dedup: Option<f32>,
    /// Count by reading every caption, not through the full-text index: slower, the same
    /// counts (a check of the index's answer).
    #[arg(long)]
    pub scan: bool,
    /// Count again even when the dataset holds this count for its current version.
    #[arg(long)]
    pub no_cache: bool,
    /// Stop the count after this many seconds (exit code 1; 0: no limit, the default, since
    /// a count reads every caption of a large dataset).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_timeout)]
    pub timeout: f64,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// `--dedup`: `near` or `near:T`, as `subset --dedup` spells them.
fn near_threshold(text: &str) -> Result<f32, String> {
    match text.parse::<pairscope_subset::DedupKey>()? {
        pairscope_subset::DedupKey::Near(threshold) => Ok(threshold),
        _ => Err(format!("{text}: mentions dedup by near-duplicate images only (near or near:T)")),
    }
}

/// The `--by` values: the columns of `registry` a count can be broken down by.
pub fn by_names(registry: Registry) -> PossibleValuesParser {
    PossibleValuesParser::new(ByColumn::names(registry))
}

pub fn run(args: &MentionsArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let dataset = Dataset::open(&args.dataset)?;
    let lists = args
        .names
        .iter()
        .map(|spec| NameList::load(spec).map_err(UsageError::because))
        .collect::<Result<Vec<_>, _>>()?;
    // clap offers only these names; the check stays in case the two lists ever part.
    let by = args.by.as_deref().map(|name| {
        ByColumn::parse(name)
            .ok_or_else(|| UsageError::new(format!("--by: {name:?} is not a column counts can be broken down by")))
    });
    let request = MentionsRequest {
        lists,
        filter: args.filter.clone(),
        by: by.transpose()?,
        top: args.top,
        fold_accents: args.fold_accents,
        timeout: if args.timeout > 0.0 { Duration::from_secs_f64(args.timeout) } else { Duration::MAX },
        dedup_near: args.dedup,
        scan: args.scan,
    };
    let cached = if args.no_cache { None } else { cache::load(&dataset, &request) };
    let from_cache = cached.is_some();
    let report = match cached {
        Some(report) => report,
        None => {
            let bar = Bar::new(global, "mentions");
            let report = count_mentions(&dataset, &request, &bar)?;
            bar.finish();
            if let Err(why) = cache::store(&dataset, &request, &report) {
                tracing::warn!("the count was not cached: {why}");
            }
            report
        }
    };
    if !global.quiet {
        let seconds = report.elapsed_ms as f64 / 1000.0;
        let mb = report.caption_bytes as f64 / 1e6;
        if from_cache {
            eprintln!("(from the cache of dataset version {}; --no-cache counts again)", report.dataset_version);
        } else {
            let names = report.lists.iter().map(|l| l.entities).sum::<usize>();
            match report.method {
                Method::Index => eprintln!(
                    "counted {names} names over {} rows in {seconds:.2} s (phrase counts on the full-text index)",
                    report.rows
                ),
                Method::Scan(_) => eprintln!(
                    "counted {names} names over {} rows in {seconds:.2} s (scanned {mb:.0} MB of captions, {:.0} MB/s)",
                    report.rows_scanned,
                    mb / seconds.max(1e-3)
                ),
            }
        }
    }
    print_document(args.output.format(), &report, || human(&report), || rows(&report))?;
    Ok(ExitStatus::Clean)
}

fn human(report: &MentionsReport) -> String {
    let mut s = String::new();
    let name_width = report.entities.iter().map(|e| e.name.chars().count()).max().unwrap_or(6).clamp(6, 40);
    let deduplicated = report.entities.iter().any(|e| e.distinct.is_some());
    let distinct_header = if deduplicated { format!("  {:>10}", "distinct") } else { String::new() };
    let _ = writeln!(s, "{:<name_width$}  {:>10}{distinct_header}  {:>8}  note", "entity", "captions", "share");
    for entity in &report.entities {
        let note = entity.ambiguous.as_deref().map(|why| format!("ambiguous: {why}")).unwrap_or_default();
        let distinct = entity.distinct.map(|d| format!("  {d:>10}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<name_width$}  {:>10}{distinct}  {:>7.3}%  {note}",
            truncate(&entity.name, name_width),
            entity.count,
            entity.share * 100.0
        );
        for by in &entity.by {
            let _ =
                writeln!(s, "  {:<w$}  {:>10}", by.value.as_deref().unwrap_or("(none)"), by.count, w = name_width - 2);
        }
    }
    let _ = writeln!(
        s,
        "{} rows{}",
        report.rows,
        report.filter.as_deref().map(|f| format!(" where {f}")).unwrap_or_default()
    );
    s
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    text.chars().take(width - 1).chain(['…']).collect()
}

/// One row per entity, or with --by one row per (entity, value).
fn rows(report: &MentionsReport) -> arrow::array::RecordBatch {
    let (mut list, mut entity, mut count, mut share, mut ambiguous) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut value, mut value_count, mut distinct) = (vec![], vec![], vec![]);
    for e in &report.entities {
        let lines: Vec<(Option<&str>, Option<u64>)> = if report.by.is_some() && !e.by.is_empty() {
            e.by.iter().map(|b| (b.value.as_deref(), Some(b.count))).collect()
        } else {
            vec![(None, None)]
        };
        for (v, c) in lines {
            list.push(e.list.clone());
            entity.push(e.name.clone());
            count.push(e.count);
            distinct.push(e.distinct);
            share.push(e.share);
            ambiguous.push(e.ambiguous.clone());
            value.push(v.map(str::to_string));
            value_count.push(c);
        }
    }
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("list", Arc::new(StringArray::from(list))),
        ("entity", Arc::new(StringArray::from(entity))),
        ("captions", Arc::new(UInt64Array::from(count))),
        ("share", Arc::new(Float64Array::from(share))),
        ("ambiguous", Arc::new(StringArray::from(ambiguous))),
    ];
    if distinct.iter().any(Option::is_some) {
        columns.insert(3, ("distinct_images", Arc::new(UInt64Array::from(distinct))));
    }
    if let Some(by) = report.by {
        columns.push((by.column(), Arc::new(StringArray::from(value))));
        columns.push(("captions_with_value", Arc::new(UInt64Array::from(value_count))));
    }
    table(columns)
}
