//! Every flag of every subcommand, with its documentation (the `--help` text comes from here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build, get hold of, search and audit the web-scale image–text datasets that
/// text-to-image models are trained on (LAION-5B, LAION-Aesthetics, COYO, DataComp, …).
#[derive(Debug, Parser)]
#[command(name = "pairscope", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). PAIRSCOPE_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bar and only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a demo dataset from synthetic data (once) and show it.
    Demo(DemoArgs),
    /// Generate deterministic, LAION-like synthetic parquet shards.
    Synth(SynthArgs),
    /// Add parquet files (LAION, COYO, DataComp, img2dataset, cc2dataset) to a dataset.
    Ingest(IngestArgs),
    /// Show a dataset: rows, version, sources, column mapping, size.
    Info(InfoArgs),
    /// List a dataset's sources, or remove one.
    Sources(SourcesArgs),
    /// Extract image URL + alt-text pairs from Common Crawl WAT or WARC files into parquet.
    Collect(crate::commands::collect::CollectArgs),
    /// Full-text search of captions and URLs, with filters, sorting and cursor paging.
    Search(crate::commands::search::SearchArgs),
    /// Count the rows a query, filter or URL pattern matches (exact).
    Count(crate::commands::search::CountArgs),
    /// Top values or a histogram of a column over the rows a query matches (exact).
    Facets(crate::commands::search::FacetsArgs),
    /// The rows whose image (or caption) embedding is most like a row's or a given vector's.
    Similar(crate::commands::similar::SimilarArgs),
    /// Groups of near-duplicate rows by embedding (cosine ≥ 0.94), with a size histogram.
    Dups(crate::commands::dups::DupsArgs),
    /// Count the captions that mention each name of name lists (artists, characters, …).
    Mentions(crate::commands::mentions::MentionsArgs),
    /// Cut a subset: a LAION preset or a filter, a query, removal lists, dedup, a sample; with a manifest.
    Subset(crate::commands::subset::SubsetArgs),
    /// Compare two datasets (or a dataset and a subset): rows only in A, only in B, in both.
    Diff(crate::commands::subset::DiffArgs),
    /// Download the images of a selection or a URL list, politely, like img2dataset (resumable).
    Fetch(crate::commands::fetch::FetchArgs),
    /// Run a read-only SQL query over a dataset's rows (the table `pairs`).
    Sql(crate::commands::sql::SqlArgs),
    /// Serve a web UI and JSON API to search a dataset (read-only, loopback by default).
    Serve(crate::commands::serve::ServeArgs),
}

/// How results are written. `--json` is short for `--format json`.
#[derive(Debug, Args, Clone)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl FormatArgs {
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (needs --out, or a redirected stdout).
    Parquet,
}

impl Format {
    /// The streamed export format, for every format but `table`.
    pub fn export(self) -> Option<pairscope_export::ExportFormat> {
        use pairscope_export::ExportFormat;
        match self {
            Format::Table => None,
            Format::Csv => Some(ExportFormat::Csv),
            Format::Json => Some(ExportFormat::Json),
            Format::Jsonl => Some(ExportFormat::Jsonl),
            Format::Parquet => Some(ExportFormat::Parquet),
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rows of synthetic data in the demo dataset (used when it is first made).
    #[arg(long, default_value_t = 200_000)]
    pub rows: u64,
    /// Where the demo's synthetic files and dataset live.
    #[arg(value_parser = ResolvedPath, long, default_value = "pairscope-demo")]
    pub dir: PathBuf,
    /// Show the sample search and mention counts, then exit instead of serving the web UI.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the web UI listens (loopback; port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub bind: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Random seed: the same rows, seed and schema always give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory to write part-NNNNN.parquet and synth.json into.
    #[arg(value_parser = ResolvedPath, long)]
    pub out: PathBuf,
    /// Column layout to imitate.
    #[arg(long, default_value = "laion-aesthetics", value_parser = ["laion-aesthetics", "laion5b", "coyo", "datacomp"])]
    pub schema: String,
    /// Rows per output file.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows_per_shard: u64,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write image embeddings for the rows, in clip-retrieval's layout, into this
    /// directory (img_emb/img_emb_N.npy beside metadata/metadata_N.parquet), for
    /// `ingest --embeddings`: float16 unit vectors around --clusters anisotropic centres.
    #[arg(value_parser = ResolvedPath, long)]
    pub embeddings: Option<PathBuf>,
    /// With --embeddings: dimensions (768 as CLIP ViT-L/14's).
    #[arg(long, default_value_t = 768, requires = "embeddings", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub dim: u64,
    /// With --embeddings: cluster centres.
    #[arg(long, default_value_t = 2000, requires = "embeddings", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub clusters: u64,
    /// With --embeddings: the share of vectors that are near-copies of an earlier one (cosine
    /// 0.94 to 1, as re-posted images are).
    #[arg(long, default_value_t = 0.2, requires = "embeddings")]
    pub near_copies: f64,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Dataset directory (created if missing).
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    /// Parquet files, directories (searched recursively for *.parquet) or glob patterns.
    #[arg(
        required_unless_present_any = ["fetched", "embeddings"],
        conflicts_with_all = ["fetched", "embeddings"],
        value_parser = ResolvedInput
    )]
    pub sources: Vec<String>,
    /// Take the sizes and hashes a `pairscope fetch -d DATASET` measured (its output directory)
    /// back into the rows they came from, as a new version: they fill width, height and
    /// image_sha256 where the rows have none, and add fetched_status, fetched_width, … to every
    /// fetched row.
    #[arg(long, value_name = "FETCH_OUT", value_parser = ResolvedPath, conflicts_with = "embeddings")]
    pub fetched: Option<PathBuf>,
    /// Attach published embeddings to the rows they belong to, as a new version:
    /// clip-retrieval's layout (img_emb/img_emb_N.npy beside metadata/metadata_N.parquet) or
    /// parquet files with a list-of-floats column; matched by sample_id, else url + caption.
    #[arg(long, value_name = "DIR", value_parser = ResolvedPath)]
    pub embeddings: Option<PathBuf>,
    /// With --embeddings: what they embed, `image` (img_emb/) or `text` (text_emb/).
    #[arg(long, default_value = "image", requires = "embeddings", value_parser = ["image", "text"])]
    pub kind: String,
    /// With --embeddings: the model that made them, recorded in the dataset (e.g. ViT-L/14
    /// for LAION-5B's 768-dimensional vectors).
    #[arg(long, requires = "embeddings")]
    pub model: Option<String>,
    /// Take a canonical column from a named source column, e.g. --map caption=alt_text.
    #[arg(long = "map", value_name = "CANONICAL=COLUMN")]
    pub maps: Vec<String>,
    /// Record a constant for every row of these sources, e.g. --set language=en
    /// (LAION-2B-en and LAION-Aesthetics files carry no language column).
    #[arg(long = "set", value_name = "CANONICAL=VALUE")]
    pub sets: Vec<String>,
    /// Cut longer captions at a character boundary (counted; the original length is kept).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_caption_bytes: usize,
    /// Skip unreadable files (counted and listed; exit code 3) instead of failing; with
    /// --embeddings, skip (and count) vectors with a NaN or infinite value.
    #[arg(long)]
    pub skip_bad: bool,
    /// Refuse a file holding a value its column cannot hold (a negative or fractional size, an
    /// infinite score, …) instead of storing null and counting it.
    #[arg(long)]
    pub strict: bool,
    /// Files processed at once (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Dataset directory.
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct SourcesArgs {
    /// Dataset directory.
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    /// Remove this source (its id, an id prefix of 8+ hex digits, or the path it was ingested
    /// from) and commit a new version. Repeatable.
    #[arg(long, value_name = "SOURCE")]
    pub remove: Vec<String>,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// The value parser of every path flag: the path as the kernel resolves it
/// ([`pairscope_io::path::resolve`]: absolute, symlinks followed and `..` applied where
/// they lead), once, where the argument is taken, so every later use (object-store URLs, the
/// comparison of an output with the inputs, manifests) sees one spelling. A name that is not
/// UTF-8 is refused (exit 2, the path shown): manifests, URLs and reports hold paths as text.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedPath;

impl clap::builder::TypedValueParser for ResolvedPath {
    type Value = PathBuf;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<PathBuf, clap::Error> {
        let path = std::path::Path::new(utf8(cmd, arg, value)?);
        pairscope_io::path::resolve(path)
            .map_err(|e| argument_error(cmd, arg, clap::error::ErrorKind::ValueValidation, path, &e.to_string()))
    }
}

/// The argument as text, or exit 2 naming it: manifests, URLs and reports hold paths as text.
fn utf8<'a>(cmd: &clap::Command, arg: Option<&clap::Arg>, value: &'a std::ffi::OsStr) -> Result<&'a str, clap::Error> {
    value.to_str().ok_or_else(|| {
        let why = "the name is not valid UTF-8; rename it";
        argument_error(cmd, arg, clap::error::ErrorKind::InvalidUtf8, std::path::Path::new(value), why)
    })
}

fn argument_error(
    cmd: &clap::Command,
    arg: Option<&clap::Arg>,
    kind: clap::error::ErrorKind,
    path: &std::path::Path,
    why: &str,
) -> clap::Error {
    let flag = arg.map(ToString::to_string).unwrap_or_default();
    cmd.clone().error(kind, format!("{flag} {}: {why}", path.display()))
}

/// An input argument that may name a local path or something else: a URL (`scheme://…`), a
/// glob pattern that names no existing path, or a `builtin:` name list stay as typed; a local
/// path is resolved as [`ResolvedPath`] resolves it (one spelling for manifests, source
/// records, caches and `sources --remove`). Not UTF-8: refused, as [`ResolvedPath`] refuses it.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedInput;

impl clap::builder::TypedValueParser for ResolvedInput {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let text = utf8(cmd, arg, value)?;
        let is_pattern = text.contains(['*', '?', '[']) && !std::path::Path::new(text).exists();
        if text.contains("://") || text.starts_with("builtin:") || is_pattern {
            return Ok(text.to_owned());
        }
        let path = ResolvedPath.parse_ref(cmd, arg, value)?;
        // A symlink can lead a UTF-8 name to a directory whose name is not.
        let resolved = utf8(cmd, arg, path.as_os_str())?;
        Ok(resolved.to_owned())
    }
}

/// A command-line mistake found after parsing (exit code 2): the one usage-error type.
pub use pairscope_model::UsageError;

/// Splits `KEY=VALUE` arguments (`--map`, `--set`) into a map; a repeated key is an error.
pub fn key_values(flag: &str, items: &[String]) -> Result<std::collections::BTreeMap<String, String>, UsageError> {
    let mut map = std::collections::BTreeMap::new();
    for item in items {
        let (key, value) =
            item.split_once('=').ok_or_else(|| UsageError::new(format!("{flag} {item:?}: expected NAME=VALUE")))?;
        let key = key.trim().to_lowercase();
        if map.insert(key.clone(), value.trim().to_string()).is_some() {
            return Err(UsageError::new(format!("{flag} {key} given twice")));
        }
    }
    Ok(map)
}

/// Removal lists, as `subset` applies them and `serve` hides them.
#[derive(Debug, Default, Args)]
pub struct RemovalArgs {
    /// Rows whose host is, or is under, a domain of this list (one a line; repeatable).
    #[arg(value_parser = ResolvedPath, long, value_name = "FILE")]
    pub exclude_domains: Vec<PathBuf>,
    /// Rows whose image URL is on this list: URLs, or their MD5/SHA-1/SHA-256 hex (repeatable).
    #[arg(value_parser = ResolvedPath, long, value_name = "FILE")]
    pub exclude_urls: Vec<PathBuf>,
    /// Rows whose image is on this list (MD5, SHA-1 or SHA-256: 32, 40 or 64 hex digits a line;
    /// repeatable): matched against image_sha256 and the digests a fetch measured (`fetch` as it
    /// downloads, and after `ingest --fetched`).
    #[arg(value_parser = ResolvedPath, long, value_name = "FILE")]
    pub exclude_image_hashes: Vec<PathBuf>,
    /// Rows whose page opted out (noai, noimageai, TDM reservation; recorded by collect).
    #[arg(long)]
    pub exclude_optouts: bool,
}

impl RemovalArgs {
    /// Every list file named, in flag order.
    pub fn files(&self) -> Vec<&std::path::Path> {
        [&self.exclude_domains, &self.exclude_urls, &self.exclude_image_hashes]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }

    pub fn load(&self) -> anyhow::Result<pairscope_lists::RemovalLists> {
        use pairscope_lists::ListKind;
        let mut lists = pairscope_lists::RemovalLists::default();
        for (kind, files) in [
            (ListKind::Domains, &self.exclude_domains),
            (ListKind::Urls, &self.exclude_urls),
            (ListKind::ImageHashes, &self.exclude_image_hashes),
        ] {
            for file in files {
                lists.load(kind, file)?;
            }
        }
        lists.exclude_optouts(self.exclude_optouts);
        Ok(lists)
    }
}
