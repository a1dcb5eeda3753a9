//! Errors of the store, each carrying enough context to act on: the file, and for bad input
//! the row group, row and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// An input file that cannot be ingested, and where exactly it went wrong.
#[derive(Debug, Clone)]
pub struct BadInput {
    pub path: PathBuf,
    pub row_group: Option<usize>,
    /// 0-based row index within the file.
    pub row: Option<u64>,
    pub column: Option<String>,
    pub reason: String,
}

impl BadInput {
    pub fn new(path: &Path, reason: impl Into<String>) -> Self {
        BadInput { path: path.to_path_buf(), row_group: None, row: None, column: None, reason: reason.into() }
    }

    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    pub fn row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    pub fn row_group(mut self, row_group: usize) -> Self {
        self.row_group = Some(row_group);
        self
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(g) = self.row_group {
            write!(f, ": row group {g}")?;
        }
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{0}")]
    BadInput(BadInput),

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

    #[error("{0}")]
    Usage(String),

    #[error("no input matches {0}")]
    NoInput(String),

    #[error(
        "row-id block collision: {new} and {existing} hash to the same 43-bit block key; \
         ingest them into separate datasets (this is expected about once per 10^13 blocks)"
    )]
    RowIdCollision { new: String, existing: String },

    #[error("no source matches {0:?}; `pairscope sources --dataset DS` lists them")]
    UnknownSource(String),

    #[error(transparent)]
    Index(#[from] pairscope_index::IndexError),
}

impl StoreError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io { path: path.to_path_buf(), source }
    }

    /// Whether the error is the caller's usage, not the data (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, StoreError::Usage(_))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
