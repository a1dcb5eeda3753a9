//! `search`, `count` and `facets`: flags, and presentation of `pairscope-query`'s results.

use std::fmt::Write as _;
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use clap::Args;
use clap::builder::PossibleValuesParser;
use pairscope_model::{ExitStatus, Registry};
use pairscope_query::{Engine, Facet, FacetBy, Hit, Limits, SearchPage, SearchRequest, Selection, SortBy};
use pairscope_store::Dataset;
use pairscope_text::names::NameList;

use crate::args::{FormatArgs, GlobalArgs, ResolvedPath, UsageError};
use crate::output::{print_batch, print_document, table};

/// Which rows: QUERY, --where, --url (shared by search, count and facets).
#[derive(Debug, Args, Clone)]
pub struct SelectionArgs {
    /// Dataset directory.
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    /// Words, "phrases", AND / OR / NOT (or -word), prefix*, and host: domain: language:
    /// license: nsfw_label: url: page_url: fields. Words match whole normalised tokens;
    /// Han, Kana, Thai, Lao, Khmer and Myanmar text matches as a substring. Empty: every row.
    pub query: Option<String>,
    /// Only rows where this filter-language expression is true, e.g.
    /// "aesthetic >= 6 AND punsafe < 0.5".
    #[arg(long = "where", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Image or page URL: a prefix ("https://www.artstation.com/name", scheme optional) or a
    /// pattern with * ("*name*"), ASCII case-insensitive.
    #[arg(long, value_name = "PATTERN")]
    pub url: Option<String>,
    /// Match words regardless of accents (Dürer = Durer).
    #[arg(long)]
    pub fold_accents: bool,
    /// Only captions that mention this entity of a name list (any of its aliases), exactly as
    /// `pairscope mentions` counts it. A name no list has is searched as one alias.
    #[arg(long, value_name = "ENTITY")]
    pub mention: Option<String>,
    /// The name lists --mention looks ENTITY up in, in order [default: builtin:artists,
    /// builtin:characters].
    #[arg(long = "names", value_name = "LIST", requires = "mention")]
    pub names: Vec<String>,
    /// Stop the query after this many seconds (exit code 1); `dups`, which searches once per
    /// selected row, has no limit unless given [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

impl SelectionArgs {
    pub fn selection(&self) -> Result<Selection> {
        Ok(Selection {
            query: self.query.clone(),
            filter: self.filter.clone(),
            url: self.url.clone(),
            aliases: self.mention.as_deref().map(|name| self.aliases(name)).transpose()?.unwrap_or_default(),
            fold_accents: self.fold_accents,
        })
    }

    /// The aliases of the entity `name` names in the first list that has it.
    fn aliases(&self, name: &str) -> Result<Vec<String>> {
        let defaults = ["builtin:artists".to_string(), "builtin:characters".to_string()];
        let specs = if self.names.is_empty() { &defaults[..] } else { &self.names[..] };
        for spec in specs {
            let list = NameList::load(spec).map_err(UsageError::because)?;
            if let Some(entity) = list.find(name) {
                tracing::info!("--mention: {} of {spec}, aliases {:?}", entity.name, entity.aliases);
                return Ok(entity.aliases.clone());
            }
        }
        if pairscope_text::normalize(name, false).is_empty() {
            return Err(UsageError::new(format!("--mention {name:?} has no letters or digits")).into());
        }
        Ok(vec![name.to_string()])
    }

    /// The limits of one query: `--timeout`, 30 seconds unless given.
    pub fn limits(&self) -> Result<Limits> {
        self.limits_or(Some(30.0))
    }

    /// The limits of a batch command: `--timeout` if given, else none.
    pub fn batch_limits(&self) -> Result<Limits> {
        self.limits_or(None)
    }

    fn limits_or(&self, default: Option<f64>) -> Result<Limits> {
        match self.timeout.or(default) {
            None => Ok(Limits { timeout: Duration::MAX }),
            Some(timeout) if timeout > 0.0 && timeout <= 3600.0 => {
                Ok(Limits { timeout: Duration::from_secs_f64(timeout) })
            }
            Some(_) => Err(UsageError::new("--timeout must be between 0 and 3600 seconds").into()),
        }
    }

    /// The engine of the dataset's current version, for one command: never dropped, since the
    /// process ends with the command and its exit unmaps the blocks' files at once, where
    /// dropping unmaps them one by one (at 100M rows, ~600 munmap calls, each a TLB shootdown
    /// across the threads: a tenth of a one-shot count).
    pub fn engine(&self) -> Result<ManuallyDrop<Engine>> {
        Ok(ManuallyDrop::new(Engine::open(Dataset::open(&self.dataset)?)?))
    }
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Order of the results (ties by row_id; rows without the value last).
    #[arg(long, default_value = "relevance", value_parser = sort_names(Registry::CANONICAL))]
    pub sort: String,
    /// Ascending order (default: descending).
    #[arg(long, conflicts_with = "desc")]
    pub asc: bool,
    /// Descending order (the default).
    #[arg(long)]
    pub desc: bool,
    /// Rows per page (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Continue after this cursor (printed as `next` by the previous page).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// Do not count every matching row: a page sorted by a column then checks phrases only
    /// on its best candidates, much faster for common words on a large dataset.
    #[arg(long)]
    pub no_total: bool,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct FacetsArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Column to count by: a keyword or flag (its top values) or a number (a histogram).
    #[arg(long, value_parser = facet_names(Registry::CANONICAL))]
    pub by: String,
    /// Values to list for a term facet.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Histogram buckets: [lo + i·w, lo + (i+1)·w) with w = (hi − lo) / K, plus below, above and
    /// null buckets. Default ranges: aesthetic 0–10, punsafe and pwatermark 0–1, similarity
    /// 0–0.5, width and height 0–4096 (each column's histogram role in `pairscope-model`).
    #[arg(long, default_value_t = 20)]
    pub buckets: usize,
    /// Histogram range start (inclusive).
    #[arg(long, requires = "hi", allow_hyphen_values = true)]
    pub lo: Option<f64>,
    /// Histogram range end (exclusive).
    #[arg(long, requires = "lo", allow_hyphen_values = true)]
    pub hi: Option<f64>,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// The `--sort` values: the orders of `registry`.
pub fn sort_names(registry: Registry) -> PossibleValuesParser {
    PossibleValuesParser::new(SortBy::names(registry))
}

/// The `facets --by` values: the columns `registry` gives a facet role.
pub fn facet_names(registry: Registry) -> PossibleValuesParser {
    PossibleValuesParser::new(registry.facets().map(|(c, _)| c.name))
}

pub fn run_search(args: &SearchArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    let engine = args.selection.engine()?;
    let request = SearchRequest {
        selection: args.selection.selection()?,
        // clap offers only these names; the check stays in case the two lists ever part.
        sort: SortBy::parse(&args.sort)
            .ok_or_else(|| UsageError::new(format!("--sort: {:?} is not an order search knows", args.sort)))?,
        descending: !args.asc,
        limit: args.limit,
        after: args.after.clone(),
        count_total: !args.no_total,
    };
    let page = engine.search(&request, &args.selection.limits()?)?;
    print_document(args.output.format(), &page, || human_page(&page), || hits_batch(&page))?;
    Ok(ExitStatus::Clean)
}

pub fn run_count(args: &CountArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    let engine = args.selection.engine()?;
    let count = engine.count(&args.selection.selection()?, &args.selection.limits()?)?;
    let document = serde_json::json!({ "count": count, "version": engine.version() });
    print_document(
        args.output.format(),
        &document,
        || format!("{count}\n"),
        || table(vec![("count", Arc::new(UInt64Array::from(vec![count])) as ArrayRef)]),
    )?;
    Ok(ExitStatus::Clean)
}

pub fn run_facets(args: &FacetsArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    let engine = args.selection.engine()?;
    let range = args.lo.zip(args.hi);
    let by = FacetBy::for_column(&args.by, args.top, args.buckets, range)?;
    let facet = engine.facets(&args.selection.selection()?, &by, &args.selection.limits()?)?;
    let batch = facet_batch(&facet);
    if args.output.format() == crate::args::Format::Json {
        crate::output::print_text(&format!("{}\n", serde_json::to_string_pretty(&facet)?))?;
    } else {
        print_batch(args.output.format(), &batch)?;
    }
    Ok(ExitStatus::Clean)
}

fn human_page(page: &SearchPage) -> String {
    let mut s = String::new();
    for hit in &page.hits {
        let score = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(
            s,
            "{}  {}  aesthetic {}  punsafe {}\n    {}\n    {}",
            hit.row_id,
            hit.host.as_deref().unwrap_or("-"),
            score(hit.aesthetic),
            score(hit.punsafe),
            one_line(&hit.caption),
            hit.url
        );
    }
    match page.total {
        Some(total) => {
            let _ = writeln!(s, "{total} matching rows (dataset version {})", page.version);
        }
        None => {
            let _ = writeln!(s, "matching rows not counted (--no-total; dataset version {})", page.version);
        }
    }
    if let Some(next) = &page.next {
        let _ = writeln!(s, "next page: --after {next}");
    }
    s
}

/// Captions may hold newlines and control characters; a listing shows them on one line.
pub fn one_line(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() > 200 { format!("{}…", flat.chars().take(200).collect::<String>()) } else { flat }
}

#[expect(clippy::expect_used, reason = "Hit::batch builds every column from the same hits, with the schema's types")]
fn hits_batch(page: &SearchPage) -> RecordBatch {
    Hit::batch(&page.hits).expect("a batch of hits has its schema")
}

fn facet_batch(facet: &Facet) -> RecordBatch {
    match facet {
        Facet::Terms { column, values, null, .. } => {
            let mut names: Vec<Option<&str>> = values.iter().map(|t| Some(t.value.as_str())).collect();
            let mut counts: Vec<u64> = values.iter().map(|t| t.rows).collect();
            if *null > 0 {
                names.push(None);
                counts.push(*null);
            }
            table(vec![
                (column.as_str(), Arc::new(StringArray::from(names)) as ArrayRef),
                ("rows", Arc::new(UInt64Array::from(counts))),
            ])
        }
        Facet::Histogram { column, buckets, below, above, null, .. } => {
            let mut labels: Vec<String> = vec![format!("< {}", buckets.first().map_or(0.0, |b| b.lo))];
            let mut counts = vec![*below];
            for bucket in buckets {
                labels.push(format!("[{}, {})", bucket.lo, bucket.hi));
                counts.push(bucket.count);
            }
            labels.push(format!(">= {}", buckets.last().map_or(0.0, |b| b.hi)));
            counts.push(*above);
            labels.push("null".into());
            counts.push(*null);
            table(vec![
                (column.as_str(), Arc::new(StringArray::from(labels)) as ArrayRef),
                ("rows", Arc::new(UInt64Array::from(counts))),
            ])
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use clap::builder::TypedValueParser;

    use super::*;

    fn names(parser: PossibleValuesParser) -> Vec<String> {
        parser.possible_values().into_iter().flatten().map(|v| v.get_name().to_string()).collect()
    }

    #[test]
    fn a_registry_with_one_more_score_reaches_the_clis_possible_values() {
        let registry = Registry::CANONICAL.with_score("watermark_v2");
        let extra = "watermark_v2".to_string();
        assert!(names(sort_names(registry)).contains(&extra));
        assert!(names(facet_names(registry)).contains(&extra));
        assert!(!names(sort_names(Registry::CANONICAL)).contains(&extra));
        // The orders the CLI took before the registry are all still taken.
        let canonical = names(sort_names(Registry::CANONICAL));
        for old in ["relevance", "aesthetic", "similarity", "width", "height", "punsafe", "pwatermark"] {
            assert!(canonical.contains(&old.to_string()), "{old}: {canonical:?}");
        }
    }
}
