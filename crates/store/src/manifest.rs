//! What one committed version of a dataset consists of.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// Bumped when the manifest or the data-file layout changes incompatibly.
pub const FORMAT: u32 = 1;

/// One committed version of a dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// Increases by one with every commit that changes the dataset.
    pub version: u64,
    pub committed_at: String,
    pub pairscope_version: String,
    /// The `psl` crate release that derived every `domain` value.
    pub psl_version: String,
    /// Sorted by id, so the order of rows read from a version does not depend on ingest order.
    pub sources: Vec<SourceEntry>,
}

/// One ingested source file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    /// BLAKE3 of the file's bytes, hex: the source's identity (not its name).
    pub id: String,
    /// The path it was ingested from (first seen).
    pub path: String,
    pub bytes: u64,
    /// Rows in the source file.
    pub input_rows: u64,
    /// Rows stored (input rows less skipped ones).
    pub rows: u64,
    /// Skipped rows by reason (`null url`, `empty caption`, …).
    pub skipped_rows: BTreeMap<String, u64>,
    /// Values stored as null because their column cannot hold them, by `column: reason`
    /// (`width: negative`, `aesthetic: not finite`, …). Empty in manifests written before it.
    #[serde(default)]
    pub nulled_values: BTreeMap<String, u64>,
    pub truncated_captions: u64,
    pub ingested_at: String,
    /// The [`pairscope_index::INDEX_FORMAT`] its block indexes were built with (0: none).
    #[serde(default)]
    pub index_format: u32,
    /// Options that shaped the stored rows; a staged source is reused only when they match.
    pub settings: SourceSettings,
    /// Canonical column ← source column, as resolved (after `--map`).
    pub mapping: BTreeMap<String, String>,
    /// Source columns kept beside the canonical ones, under these names.
    pub extra_columns: Vec<ExtraColumn>,
    pub files: Vec<DataFile>,
}

/// The ingest options a source's stored rows depend on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct SourceSettings {
    /// `--map canonical=source` overrides.
    pub overrides: BTreeMap<String, String>,
    /// `--set column=value` constants recorded for every row.
    pub constants: BTreeMap<String, String>,
    pub max_caption_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtraColumn {
    /// The name it is stored and queried under.
    pub name: String,
    /// Its name in the source file.
    pub source_name: String,
    /// Its Arrow type, as text.
    pub data_type: String,
}

/// One data file: the stored rows of one row-id block of a source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataFile {
    /// Relative to the dataset directory.
    pub path: String,
    pub rows: u64,
    /// Block number within the source (source row index / 2^20).
    pub block: u64,
    /// The 43-bit key every row id of this block carries.
    pub block_key: u64,
    pub bytes: u64,
    /// The block's full-text index directory, relative to the dataset directory: document `n`
    /// of the index is row `n` of this file.
    #[serde(default)]
    pub index: Option<String>,
}

impl Manifest {
    pub fn empty() -> Self {
        Manifest {
            format: FORMAT,
            version: 0,
            committed_at: String::new(),
            pairscope_version: env!("CARGO_PKG_VERSION").to_string(),
            psl_version: pairscope_model::web::PSL_CRATE_VERSION.to_string(),
            sources: Vec::new(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.sources.iter().map(|s| s.rows).sum()
    }

    pub fn data_bytes(&self) -> u64 {
        self.sources.iter().flat_map(|s| &s.files).map(|f| f.bytes).sum()
    }

    pub fn source(&self, id: &str) -> Option<&SourceEntry> {
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(StoreError::io(path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })?;
        if manifest.format != FORMAT {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("format {} is not the supported format {FORMAT}", manifest.format),
            });
        }
        Ok(manifest)
    }
}

impl SourceEntry {
    pub fn read(path: &Path) -> Result<SourceEntry> {
        let bytes = std::fs::read(path).map_err(StoreError::io(path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })
    }

    pub fn skipped(&self) -> u64 {
        self.skipped_rows.values().sum()
    }

    /// Source columns whose names differ only in case, with the column each is stored as
    /// (a canonical column, or an extra column renamed to stay distinct): `[(source, stored)]`
    /// per group. Columns are matched case-insensitively, so these are the ones to check.
    pub fn case_collisions(&self) -> Vec<Vec<(String, String)>> {
        let stored = self
            .mapping
            .iter()
            .filter(|(canonical, _)| !self.settings.constants.contains_key(*canonical))
            .map(|(canonical, from)| (from.clone(), canonical.clone()))
            .chain(self.extra_columns.iter().map(|e| (e.source_name.clone(), e.name.clone())));
        let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (source, name) in stored {
            groups.entry(source.to_lowercase()).or_default().push((source, name));
        }
        groups.into_values().filter(|g| g.len() > 1).collect()
    }
}
