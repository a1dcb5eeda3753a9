//! Errors of subset and diff, each naming what failed.

use std::path::{Path, PathBuf};

use pairscope_export::ExportError;

#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    /// The request cannot run as asked (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    List(#[from] crate::removal::ListError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Sql(#[from] pairscope_sql::SqlError),
    #[error(transparent)]
    Query(#[from] pairscope_query::QueryError),
    #[error(transparent)]
    Store(#[from] pairscope_store::error::StoreError),
    #[error("{0}")]
    Export(#[from] ExportError),
    #[error("planning or running the subset: {0}")]
    Plan(datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A staging failure of `--out`: the disk's errors stay I/O errors; the rest (another run
/// writing there, a leftover in the way) are the user's to resolve.
impl From<pairscope_io::staged::StageError> for SubsetError {
    fn from(error: pairscope_io::staged::StageError) -> SubsetError {
        match error {
            pairscope_io::staged::StageError::Io { path, source } => SubsetError::Io { path, source },
            usage => SubsetError::Usage(format!("--out: {usage}")),
        }
    }
}

impl SubsetError {
    pub fn io(path: &Path, source: std::io::Error) -> SubsetError {
        SubsetError::Io { path: path.to_path_buf(), source }
    }

    pub fn plan(error: datafusion::error::DataFusionError) -> SubsetError {
        SubsetError::Plan(error)
    }

    pub fn is_usage(&self) -> bool {
        matches!(self, SubsetError::Usage(_)) || matches!(self, SubsetError::Query(e) if e.is_usage())
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
