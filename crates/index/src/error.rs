//! Errors of the index crate: every one names the index directory (or file) it concerns.

use std::path::{Path, PathBuf};

/// A result whose error is an [`IndexError`].
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Why a block index could not be written, opened or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file system call failed (or a writer thread could not be started).
    #[error("{path}: {source}")]
    Io {
        /// The index directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Tantivy failed to open, write or search the index.
    #[error("index {path}: {source}")]
    Tantivy {
        /// The index directory.
        path: PathBuf,
        /// Tantivy's error.
        source: tantivy::TantivyError,
    },
    /// The index was written by a pairscope with another [`crate::INDEX_FORMAT`].
    #[error("index {path} has format {found}, this pairscope reads format {expected}; rebuild it")]
    Format {
        /// The index directory.
        path: PathBuf,
        /// The format the index records.
        found: u32,
        /// The format this build reads and writes.
        expected: u32,
    },
    /// Tantivy panicked reading the index: its files pass the footer checks made at open, but
    /// their content is not what tantivy wrote (bytes overwritten on disk).
    #[error(
        "index {path} is damaged ({reason}); remove its source with `pairscope sources --remove` and ingest it again"
    )]
    Damaged {
        /// The index directory.
        path: PathBuf,
        /// Tantivy's panic message.
        reason: String,
    },
    /// The index cannot be built or read as pairscope's: a batch without the columns it needs,
    /// an index with another schema, a writer thread that failed. The message says which.
    #[error("cannot index this batch: {0}")]
    Schema(String),
}

impl IndexError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> IndexError {
        IndexError::Io { path: path.to_path_buf(), source }
    }

    /// A [`IndexError::Tantivy`] about the index at `path`.
    pub fn tantivy(path: &Path, source: impl Into<tantivy::TantivyError>) -> IndexError {
        IndexError::Tantivy { path: path.to_path_buf(), source: source.into() }
    }
}
