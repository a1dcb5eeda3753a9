//! Errors of the store, each carrying enough context to act on: the file, and for damaged
//! metadata the field.

use std::path::{Path, PathBuf};

/// Why the store could not read or change a dataset.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory of the dataset could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },

    /// The directory holds no committed version (no `CURRENT`).
    #[error("{} is not a pairscope dataset (no CURRENT file); create one with `pairscope ingest --dataset {} FILES`", .0.display(), .0.display())]
    NotADataset(PathBuf),

    /// A file of the dataset's metadata (`CURRENT`, a source id) that no writer writes.
    #[error("{path}: damaged dataset metadata: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A manifest (`versions/v*.json`, `sources/*/source.json`) holding a value no writer
    /// writes: named by its field (`sources[2].files[0].block_key`).
    #[error("{}: damaged dataset metadata: {field}: {reason}", .path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// The field, as a JSON path.
        field: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// A manifest that is not JSON of the manifest's shape (`field`: where reading stopped).
    #[error("{}: damaged dataset metadata at {}", .path.display(), if .field == "." { "its start" } else { .field.as_str() })]
    ManifestSyntax {
        /// The manifest.
        path: PathBuf,
        /// Where reading stopped, as a JSON path (`.` for the start).
        field: String,
        /// The JSON reader's error.
        source: serde_json::Error,
    },

    /// An overlay file that cannot be read as one, or rows it cannot be laid over.
    #[error("{}: overlay: {reason}", .path.display())]
    Overlay {
        /// The overlay file, or the dataset's `overlays/` directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Another process holds the dataset's writer lock (the path of `LOCK`).
    #[error("another process is writing to this dataset (lock held on {})", .0.display())]
    Locked(PathBuf),

    /// The request cannot work on this directory (exit code 2).
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),

    /// Two sources whose row-id blocks share a key: their row ids would collide.
    #[error(
        "row-id block collision: {new} and {existing} hash to the same 43-bit block key; \
         ingest them into separate datasets (this is expected about once per 10^13 blocks)"
    )]
    RowIdCollision {
        /// The path of the source being added.
        new: String,
        /// The path of the source it collides with.
        existing: String,
    },

    /// A list of sources with more distinct columns than a dataset may have.
    #[error(
        "{}: its columns would give the dataset more than {} distinct columns, which every query over it \
         pays for; ingest it into a dataset of its own",
        .path.display(), crate::writer::MAX_DATASET_COLUMNS
    )]
    TooManyColumns {
        /// The first source past the limit.
        path: PathBuf,
    },

    /// A selector of `sources --remove` that names no source of the dataset.
    #[error("no source matches {0:?}; `pairscope sources --dataset DS` lists them")]
    UnknownSource(String),

    /// A block's index could not be written or read.
    #[error(transparent)]
    Index(#[from] pairscope_index::IndexError),
}

impl StoreError {
    /// The conversion of an I/O error on `path` (for `map_err`).
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io { path: path.to_path_buf(), source }
    }

    /// A usage error saying `message`.
    pub fn usage(message: impl Into<String>) -> StoreError {
        StoreError::Usage(pairscope_model::UsageError::new(message))
    }
}

/// The store's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
