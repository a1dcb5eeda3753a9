//! Errors of the index crate: every one names the index directory (or file) it concerns.

use std::path::{Path, PathBuf};

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("index {path}: {source}")]
    Tantivy { path: PathBuf, source: tantivy::TantivyError },
    #[error("index {path} has format {found}, this pairscope reads format {expected}; rebuild it")]
    Format { path: PathBuf, found: u32, expected: u32 },
    /// Tantivy panicked reading the index: its files pass the footer checks made at open, but
    /// their content is not what tantivy wrote (bytes overwritten on disk).
    #[error(
        "index {path} is damaged ({reason}); remove its source with `pairscope sources --remove` and ingest it again"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot index this batch: {0}")]
    Schema(String),
}

impl IndexError {
    pub fn io(path: &Path, source: std::io::Error) -> IndexError {
        IndexError::Io { path: path.to_path_buf(), source }
    }

    pub fn tantivy(path: &Path, source: impl Into<tantivy::TantivyError>) -> IndexError {
        IndexError::Tantivy { path: path.to_path_buf(), source: source.into() }
    }
}
