//! `manifest.json` of a subset: enough to reproduce and audit it: the dataset version and its
//! sources' content hashes, the exact filter, the lists' hashes, the PSL version, the rows in
//! and out and removed by each step, and every output file with its hash. It holds no time or
//! path of the run, so the same inputs give the same manifest.

use std::path::Path;

use pairscope_export::ExportFormat;
use pairscope_store::Dataset;

use crate::error::SubsetError;
use crate::run::DedupKey;
use pairscope_lists::ListFile;

/// The manifest's file name in a subset directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's own format number.
pub const FORMAT: u32 = 1;

/// The steps, in the order they apply.
pub const ORDER_OF_OPERATIONS: [&str; 5] = [
    "filter (preset AND --where)",
    "query and --url",
    "removal lists (domain, url, image hash, opt-out; first reason counts)",
    "dedup (lowest row_id survives)",
    "sample (smallest xxh3_64(row_id little-endian, seed), ties by row_id)",
];

/// What `manifest.json` records of a subset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubsetManifest {
    /// The manifest's format number ([`FORMAT`]).
    pub format: u32,
    /// The version of pairscope that cut the subset.
    pub pairscope_version: String,
    /// The dataset version it was cut from.
    pub dataset: DatasetInput,
    /// The version of the `psl` crate (its Public Suffix List) that derived hosts' domains.
    pub psl_version: String,
    /// The row filter.
    pub filter: Filter,
    /// The removal lists applied, in load order.
    pub lists: Vec<ListFile>,
    /// Whether rows whose page opted out were removed.
    pub exclude_optouts: bool,
    /// The key duplicates were removed by; `None`: no dedup.
    pub dedup: Option<DedupKey>,
    /// The sample taken; `None`: every row that survived the other steps.
    pub sample: Option<SampleSpec>,
    /// [`ORDER_OF_OPERATIONS`], so the manifest says how to read `removed`.
    pub order_of_operations: Vec<String>,
    /// Rows in and out.
    pub rows: RowCounts,
    /// Rows each step removed.
    pub removed: Removed,
    /// The output files' format.
    pub output_format: ExportFormat,
    /// Rows per output file (the last holds the rest).
    pub shard_rows: u64,
    /// Rows per parquet row group.
    pub row_group_rows: u64,
    /// The output files, in row-id order.
    pub files: Vec<OutputFile>,
}

impl SubsetManifest {
    /// Writes the manifest into `dir` (last, after every data file).
    pub fn write(&self, dir: &Path) -> Result<(), SubsetError> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).map_err(|e| SubsetError::Internal(e.to_string()))?;
        pairscope_io::durable::write_atomic(&path, (text + "\n").as_bytes()).map_err(|e| SubsetError::io(&path, e))
    }

    /// Reads the manifest of the subset in `dir`; a usage error, naming the field, if it is
    /// not one.
    pub fn read(dir: &Path) -> Result<SubsetManifest, SubsetError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| SubsetError::io(&path, e))?;
        // Named by the field where reading stopped, as a dataset's manifests are.
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes)).map_err(|e| {
            SubsetError::usage(format!("{}: not a subset manifest: at {}: {}", path.display(), e.path(), e.inner()))
        })
    }
}

/// The dataset version cut, by content.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetInput {
    /// The dataset version.
    pub version: u64,
    /// Its rows.
    pub rows: u64,
    /// Its sources, in the dataset's order.
    pub sources: Vec<SourceInput>,
}

/// One source of the dataset version, by content.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceInput {
    /// BLAKE3 of the source file's bytes.
    pub blake3: String,
    /// The path it was ingested from, as given then.
    pub path: String,
    /// Its rows.
    pub rows: u64,
    /// `ingest --set` constants and `--map` overrides, which change what the rows hold.
    pub constants: std::collections::BTreeMap<String, String>,
    /// `ingest --map canonical=source` overrides: the source column each was read from.
    pub overrides: std::collections::BTreeMap<String, String>,
}

impl DatasetInput {
    pub(crate) fn of(dataset: &Dataset) -> DatasetInput {
        let manifest = dataset.manifest();
        DatasetInput {
            version: manifest.version,
            rows: manifest.rows(),
            sources: manifest
                .sources
                .iter()
                .map(|s| SourceInput {
                    blake3: s.id.clone(),
                    path: s.path.clone(),
                    rows: s.rows,
                    constants: s.settings.constants.clone(),
                    overrides: s.settings.overrides.clone(),
                })
                .collect(),
        }
    }
}

/// The row filter, as asked and as run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// `--preset`'s name.
    pub preset: Option<String>,
    /// The preset's EXPR.
    pub preset_definition: Option<String>,
    /// The columns the preset needs (a dataset where one is null in every row is refused).
    pub preset_needs: Vec<String>,
    /// `--where` as given.
    pub r#where: Option<String>,
    /// The combined EXPR in canonical form (parses back to the same expression).
    pub expr: Option<String>,
    /// The same, as the SQL the plan ran (DuckDB runs it unchanged).
    pub sql: Option<String>,
    /// The QUERY text.
    pub query: Option<String>,
    /// The URL pattern (`--url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether the QUERY matched with accent folding.
    pub fold_accents: bool,
}

/// A deterministic sample: the `rows` rows with the smallest XXH3-64 of (row id, `seed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleSpec {
    /// Rows to keep (all of them when fewer are left).
    pub rows: u64,
    /// The hash's seed: another seed, another sample.
    pub seed: u64,
}

/// Rows before the first step and after the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowCounts {
    /// Rows of the dataset version.
    pub r#in: u64,
    /// Rows written.
    pub out: u64,
}

/// Rows each step removed, in the order of the steps; `rows.in` minus all of them is
/// `rows.out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removed {
    /// By the preset and `--where`.
    pub filter: u64,
    /// By the QUERY.
    pub query: u64,
    /// By a domain list.
    pub domain_list: u64,
    /// By a URL list.
    pub url_list: u64,
    /// By an image-hash list.
    pub image_hash_list: u64,
    /// Because their page opted out.
    pub opt_out: u64,
    /// As duplicates of a row with a lower row id.
    pub dedup: u64,
    /// Left out of the sample.
    pub sample: u64,
}

impl Removed {
    /// Rows removed by every step together.
    pub fn total(&self) -> u64 {
        self.filter
            + self.query
            + self.domain_list
            + self.url_list
            + self.image_hash_list
            + self.opt_out
            + self.dedup
            + self.sample
    }
}

/// One file the subset wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputFile {
    /// Relative to the subset directory.
    pub path: String,
    /// Rows in it.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// BLAKE3 of the file's bytes, hex.
    pub blake3: String,
}

impl OutputFile {
    pub(crate) fn describe(path: &Path, rows: u64) -> Result<OutputFile, SubsetError> {
        let mut hasher = blake3::Hasher::new();
        let mut file = std::fs::File::open(path).map_err(|e| SubsetError::io(path, e))?;
        std::io::copy(&mut file, &mut hasher).map_err(|e| SubsetError::io(path, e))?;
        let bytes = std::fs::metadata(path).map_err(|e| SubsetError::io(path, e))?.len();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        Ok(OutputFile { path: name, rows, bytes, blake3: hasher.finalize().to_hex().to_string() })
    }
}
