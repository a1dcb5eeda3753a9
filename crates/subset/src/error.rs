//! Errors of subset and diff, each naming what failed.

use std::path::{Path, PathBuf};

use pairscope_export::ExportError;

/// Why a subset or a diff failed.
#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    /// The request cannot run as asked (exit code 2).
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),
    /// A removal list could not be read or has an entry that is not one.
    #[error(transparent)]
    List(#[from] pairscope_lists::ListError),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dataset's table could not be opened or read.
    #[error(transparent)]
    Sql(#[from] pairscope_sql::SqlError),
    /// The QUERY could not be run on the full-text index.
    #[error(transparent)]
    Query(#[from] pairscope_query::QueryError),
    /// The dataset could not be opened.
    #[error(transparent)]
    Store(#[from] pairscope_store::error::StoreError),
    /// An output shard could not be written.
    #[error("{0}")]
    Export(#[from] ExportError),
    /// DataFusion failed to plan or run a pass over the rows.
    #[error("planning or running the subset: {0}")]
    Plan(datafusion::error::DataFusionError),
    /// A batch of rows could not be assembled or sliced.
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Something that should not happen did (a runtime that does not start, a thread that
    /// panicked): a bug or the machine, not the request.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A staging failure of `--out`: the disk's errors stay I/O errors; the rest (another run
/// writing there, a leftover in the way) are the user's to resolve.
impl From<pairscope_io::staged::StageError> for SubsetError {
    fn from(error: pairscope_io::staged::StageError) -> SubsetError {
        match error {
            pairscope_io::staged::StageError::Io { path, source } => SubsetError::Io { path, source },
            usage => SubsetError::usage(format!("--out: {usage}")),
        }
    }
}

impl SubsetError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> SubsetError {
        SubsetError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn plan(error: datafusion::error::DataFusionError) -> SubsetError {
        SubsetError::Plan(error)
    }

    /// A usage error saying `message`.
    pub(crate) fn usage(message: impl Into<String>) -> SubsetError {
        SubsetError::Usage(pairscope_model::UsageError::new(message))
    }
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own, so a caller
/// inside another runtime (the server, async tests) can block on it. `threads`: the runtime's
/// worker threads (`None`: one per core).
pub(crate) fn on_own_runtime<T: Send>(
    threads: Option<usize>,
    work: impl std::future::Future<Output = Result<T, SubsetError>> + Send,
) -> Result<T, SubsetError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                if let Some(threads) = threads {
                    builder.worker_threads(threads.max(1));
                }
                let runtime = builder
                    .enable_all()
                    .build()
                    .map_err(|e| SubsetError::Internal(format!("starting a runtime: {e}")))?;
                runtime.block_on(work)
            })
            .join()
            .map_err(|_| SubsetError::Internal("the subset's thread panicked".into()))?
    })
}
