//! `manifest.json` of a subset: enough to reproduce and audit it: the dataset version and its
//! sources' content hashes, the exact filter, the lists' hashes, the PSL version, the rows in
//! and out and removed by each step, and every output file with its hash. It holds no time or
//! path of the run, so the same inputs give the same manifest.

use std::path::Path;

use pairscope_store::Dataset;
use pairscope_export::ExportFormat;

use crate::error::SubsetError;
use crate::removal::ListFile;
use crate::run::DedupKey;

/// The manifest's file name in a subset directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's own format number.
pub const FORMAT: u32 = 1;

/// The steps, in the order they apply.
pub const ORDER_OF_OPERATIONS: [&str; 5] = [
    "filter (preset AND --where)",
    "query",
    "removal lists (domain, url, image hash, opt-out; first reason counts)",
    "dedup (lowest row_id survives)",
    "sample (smallest xxh3_64(row_id little-endian, seed), ties by row_id)",
];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubsetManifest {
    pub format: u32,
    pub pairscope_version: String,
    pub dataset: DatasetInput,
    pub psl_version: String,
    pub filter: Filter,
    pub lists: Vec<ListFile>,
    pub exclude_optouts: bool,
    pub dedup: Option<DedupKey>,
    pub sample: Option<SampleSpec>,
    pub order_of_operations: Vec<String>,
    pub rows: RowCounts,
    pub removed: Removed,
    pub output_format: ExportFormat,
    pub shard_rows: u64,
    pub row_group_rows: u64,
    pub files: Vec<OutputFile>,
}

impl SubsetManifest {
    /// Writes the manifest into `dir` (last, after every data file).
    pub fn write(&self, dir: &Path) -> Result<(), SubsetError> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).map_err(|e| SubsetError::Internal(e.to_string()))?;
        pairscope_io::durable::write_atomic(&path, (text + "\n").as_bytes()).map_err(|e| SubsetError::io(&path, e))
    }

    pub fn read(dir: &Path) -> Result<SubsetManifest, SubsetError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| SubsetError::io(&path, e))?;
        // Named by the field where reading stopped, as a dataset's manifests are.
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes)).map_err(|e| {
            SubsetError::Usage(format!("{}: not a subset manifest: at {}: {}", path.display(), e.path(), e.inner()))
        })
    }
}

/// The dataset version cut, by content.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetInput {
    pub version: u64,
    pub rows: u64,
    pub sources: Vec<SourceInput>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceInput {
    /// BLAKE3 of the source file's bytes.
    pub blake3: String,
    pub path: String,
    pub rows: u64,
    /// `ingest --set` constants and `--map` overrides, which change what the rows hold.
    pub constants: std::collections::BTreeMap<String, String>,
    pub overrides: std::collections::BTreeMap<String, String>,
}

impl DatasetInput {
    pub fn of(dataset: &Dataset) -> DatasetInput {
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
    pub preset: Option<String>,
    pub preset_definition: Option<String>,
    pub preset_needs: Vec<String>,
    /// `--where` as given.
    pub r#where: Option<String>,
    /// The combined EXPR in canonical form (parses back to the same expression).
    pub expr: Option<String>,
    /// The same, as the SQL the plan ran (DuckDB runs it unchanged).
    pub sql: Option<String>,
    pub query: Option<String>,
    pub fold_accents: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleSpec {
    pub rows: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowCounts {
    pub r#in: u64,
    pub out: u64,
}

/// Rows each step removed, in the order of the steps; `rows.in` minus all of them is
/// `rows.out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removed {
    pub filter: u64,
    pub query: u64,
    pub domain_list: u64,
    pub url_list: u64,
    pub image_hash_list: u64,
    pub opt_out: u64,
    pub dedup: u64,
    pub sample: u64,
}

impl Removed {
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputFile {
    /// Relative to the subset directory.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// BLAKE3 of the file's bytes, hex.
    pub blake3: String,
}

impl OutputFile {
    pub fn describe(path: &Path, rows: u64) -> Result<OutputFile, SubsetError> {
        let mut hasher = blake3::Hasher::new();
        let mut file = std::fs::File::open(path).map_err(|e| SubsetError::io(path, e))?;
        std::io::copy(&mut file, &mut hasher).map_err(|e| SubsetError::io(path, e))?;
        let bytes = std::fs::metadata(path).map_err(|e| SubsetError::io(path, e))?.len();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        Ok(OutputFile { path: name, rows, bytes, blake3: hasher.finalize().to_hex().to_string() })
    }
}
