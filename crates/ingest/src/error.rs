//! Errors of ingest: a bad input file located to its row group, row and column; the store's
//! errors (the dataset, its lock, its commit) kept whole.

use std::fmt;
use std::path::{Path, PathBuf};

use pairscope_store::StoreError;

/// An input file that cannot be ingested, and where exactly it went wrong.
#[derive(Debug, Clone)]
pub struct BadInput {
    /// The input file.
    pub path: PathBuf,
    /// 0-based row group of the file, where known.
    pub row_group: Option<usize>,
    /// 0-based row index within the file.
    pub row: Option<u64>,
    /// The column of the file at fault, where known.
    pub column: Option<String>,
    /// What is wrong, for a person.
    pub reason: String,
}

impl BadInput {
    /// `path` is bad for `reason`; add where with the other builders.
    pub fn new(path: &Path, reason: impl Into<String>) -> Self {
        BadInput { path: path.to_path_buf(), row_group: None, row: None, column: None, reason: reason.into() }
    }

    /// Names the column at fault.
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// Names the 0-based row of the file at fault.
    pub fn row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    /// Names the 0-based row group at fault.
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

/// Why an ingest stopped (nothing committed).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// An input file that cannot be ingested (the first, without `--skip-bad`).
    #[error("{0}")]
    BadInput(BadInput),

    /// A file or directory named by the inputs that cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },

    /// The request itself is wrong (a bad `--map`, no inputs, a bad pattern): exit code 2.
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),

    /// An input (file, directory or pattern) that names no file.
    #[error("no input matches {0}")]
    NoInput(String),

    /// The dataset: its lock, its metadata, its block files, its commit.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// A usage error saying `message`.
    pub(crate) fn usage(message: impl Into<String>) -> IngestError {
        IngestError::Usage(pairscope_model::UsageError::new(message))
    }
}

impl From<BadInput> for IngestError {
    fn from(bad: BadInput) -> Self {
        IngestError::BadInput(bad)
    }
}

impl From<pairscope_index::IndexError> for IngestError {
    fn from(e: pairscope_index::IndexError) -> Self {
        IngestError::Store(StoreError::Index(e))
    }
}

/// Ingest's results.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
