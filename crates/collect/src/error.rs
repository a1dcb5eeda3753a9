//! Errors that stop a read or a run. Bad *data* never becomes an error: it is a counted skip
//! ([`crate::archive::SkipReason`]).

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The underlying reader failed (disk, network): nothing after `offset` can be trusted.
    #[error("reading input at compressed offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    /// A file of the run (an input, the output directory) cannot be read or written.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A remote input cannot be fetched (after `object_store`'s retries and our resumes).
    #[error("{url}: {source}")]
    Remote {
        url: String,
        #[source]
        source: io::Error,
    },
    /// The arguments cannot work: an input that is not there or not supported, an output
    /// directory that holds a different run.
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),
}

impl From<pairscope_remote::RemoteError> for CollectError {
    fn from(error: pairscope_remote::RemoteError) -> Self {
        match error {
            pairscope_remote::RemoteError::Unsupported(why) => CollectError::usage(why),
            pairscope_remote::RemoteError::Setup { url, source } => CollectError::Remote { url, source },
        }
    }
}

impl CollectError {
    pub fn file(path: &Path, source: impl Into<io::Error>) -> Self {
        CollectError::File { path: path.to_path_buf(), source: source.into() }
    }

    /// A usage error saying `message`.
    pub fn usage(message: impl Into<String>) -> CollectError {
        CollectError::Usage(pairscope_model::UsageError::new(message))
    }
}
