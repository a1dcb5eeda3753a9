//! Errors of queries. Usage errors (a bad QUERY, EXPR, pattern or cursor) are told apart so the
//! CLI exits 2 for them and the server answers 400.
//!
//! The messages of [`QueryError::Usage`] (and so of [`ParseFailure::message`](crate::parse::ParseFailure))
//! about a search's text (its query, URL pattern or cursor) say where the fault is, never quote
//! the text: the server shows them to whoever sent the request, and a link must not make its
//! pages say anything.

use std::path::PathBuf;
use std::sync::Mutex;

use pairscope_index::tantivy::TantivyError;
use pairscope_model::UsageError;

/// A result whose error is a [`QueryError`].
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// Why a search, count, facet or lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request cannot be run as given (exit code 2, HTTP 400): a bad parameter, or a
    /// QUERY, URL pattern or `--where` EXPR that does not parse or fit the dataset, whose
    /// typed error ([`ParseFailure`](crate::parse::ParseFailure) with its offset,
    /// [`pairscope_expr::ExprError`]) is the usage error's [`cause`](UsageError::cause).
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// The call ran past its deadline and was stopped.
    #[error("the query took longer than its time limit of {limit_ms} ms and was stopped; narrow it or raise --timeout")]
    Deadline {
        /// The time limit, in milliseconds.
        limit_ms: u128,
    },
    /// Opening the dataset's block indexes would pass the kernel's limit on a process's memory
    /// mappings (each index maps its larger files).
    #[error(
        "the dataset's {blocks} block indexes need about {needed} memory mappings and this system allows a \
         process {limit} (vm.max_map_count): raise it first, e.g. `sudo sysctl -w vm.max_map_count={needed}`"
    )]
    TooManyMappings {
        /// Blocks in the dataset's version.
        blocks: u64,
        /// Mappings opening them all needs (at the rate of those opened), with headroom.
        needed: u64,
        /// `vm.max_map_count`.
        limit: u64,
    },
    /// The dataset could not be opened or its current version read.
    #[error(transparent)]
    Store(#[from] pairscope_store::StoreError),
    /// A block's index cannot be opened or searched (its path is in the error).
    #[error(transparent)]
    Index(#[from] pairscope_index::IndexError),
    /// A block's parquet file cannot be read, or does not hold what its index says.
    #[error("block file {}", .path.display())]
    BlockFile {
        /// The block's parquet file.
        path: PathBuf,
        /// What went wrong.
        source: BlockFileError,
    },
    /// A fast-field column of a block's index cannot be read.
    #[error("column {column} of index {}", .index.display())]
    IndexColumn {
        /// The block index's directory.
        index: PathBuf,
        /// The column's name.
        column: String,
        /// Tantivy's error.
        source: TantivyError,
    },
    /// The query's weight over every block (its BM25 statistics) cannot be built.
    #[error("preparing the search over every block")]
    Weight(#[source] TantivyError),
    /// The filter could not be evaluated on a batch of rows.
    #[error("evaluating the filter")]
    Filter(#[source] pairscope_expr::EvalError),
    /// A batch of index columns could not be assembled.
    #[error("assembling the index columns {columns}")]
    Columns {
        /// The column's name, or several, comma-separated.
        columns: String,
        /// Arrow's error.
        source: arrow::error::ArrowError,
    },
    /// A vector file or the vector index of the dataset cannot be read or searched.
    #[error("{}: {reason}", .path.display())]
    Vectors {
        /// The file (or, for a search, the index's model).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A keyword column with more distinct values than global ordinals can number.
    #[error("{column} has more than 2^32 distinct values")]
    TooManyValues {
        /// The column's name.
        column: String,
    },
}

/// Why a block's parquet file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlockFileError {
    /// It cannot be opened or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// It is not valid parquet (or not parquet at all).
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Its rows cannot be decoded or assembled into the columns asked for.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// It reads, but not as the block file its index was built with.
    #[error("{0}")]
    Content(String),
}

impl QueryError {
    pub(crate) fn usage(message: impl Into<String>) -> QueryError {
        QueryError::Usage(UsageError::new(message))
    }

    /// An error reading the block file at `path`.
    pub(crate) fn block_file(path: &std::path::Path) -> impl Fn(BlockFileError) -> QueryError + '_ {
        move |source| QueryError::BlockFile { path: path.to_path_buf(), source }
    }
}

impl From<crate::parse::ParseFailure> for QueryError {
    fn from(failure: crate::parse::ParseFailure) -> QueryError {
        QueryError::Usage(UsageError::because(failure))
    }
}

impl From<pairscope_expr::ExprError> for QueryError {
    fn from(error: pairscope_expr::ExprError) -> QueryError {
        QueryError::Usage(UsageError::because(error))
    }
}

/// The first error of reading a block's rows met inside a tantivy scorer, which cannot return
/// one (`DocSet::advance` cannot fail): the scorer records it here and stops, and the scan
/// that drove it returns it. Shared by the queries of one call.
#[derive(Debug, Default)]
pub(crate) struct ReadFailure(Mutex<Option<QueryError>>);

impl ReadFailure {
    /// Keeps `error` unless an earlier one is kept.
    pub fn record(&self, error: QueryError) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(error);
    }

    /// `Err` with the recorded error, if there is one.
    pub fn check(&self) -> Result<()> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
