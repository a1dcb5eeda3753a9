//! Errors of the store, each carrying enough context to act on: the file, and for damaged
//! metadata the field.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{} is not a pairscope dataset (no CURRENT file); create one with `pairscope ingest --dataset {} FILES`", .0.display(), .0.display())]
    NotADataset(PathBuf),

    #[error("{path}: damaged dataset metadata: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    /// A manifest (`versions/v*.json`, `sources/*/source.json`) holding a value no writer
    /// writes: named by its field (`sources[2].files[0].block_key`).
    #[error("{}: damaged dataset metadata: {field}: {reason}", .path.display())]
    BadManifest { path: PathBuf, field: String, reason: String },

    /// A manifest that is not JSON of the manifest's shape (`field`: where reading stopped).
    #[error("{}: damaged dataset metadata at {}", .path.display(), if .field == "." { "its start" } else { .field.as_str() })]
    ManifestSyntax { path: PathBuf, field: String, source: serde_json::Error },

    #[error("another process is writing to this dataset (lock held on {})", .0.display())]
    Locked(PathBuf),

    /// The request cannot work on this directory (exit code 2).
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),

    #[error(
        "row-id block collision: {new} and {existing} hash to the same 43-bit block key; \
         ingest them into separate datasets (this is expected about once per 10^13 blocks)"
    )]
    RowIdCollision { new: String, existing: String },

    /// A list of sources with more distinct columns than a dataset may have.
    #[error(
        "{}: its columns would give the dataset more than {} distinct columns, which every query over it \
         pays for; ingest it into a dataset of its own",
        .path.display(), crate::writer::MAX_DATASET_COLUMNS
    )]
    TooManyColumns { path: PathBuf },

    #[error("no source matches {0:?}; `pairscope sources --dataset DS` lists them")]
    UnknownSource(String),

    #[error(transparent)]
    Index(#[from] pairscope_index::IndexError),
}

impl StoreError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io { path: path.to_path_buf(), source }
    }

    /// A usage error saying `message`.
    pub fn usage(message: impl Into<String>) -> StoreError {
        StoreError::Usage(pairscope_model::UsageError::new(message))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
