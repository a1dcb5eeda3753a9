//! Errors of a mention count. Usage errors (a bad list or EXPR) are told apart so the CLI
//! exits 2 for them and the server answers 400.

/// A result whose error is a [`MentionsError`].
pub type Result<T, E = MentionsError> = std::result::Result<T, E>;

/// Why a mention count failed.
#[derive(Debug, thiserror::Error)]
pub enum MentionsError {
    /// The request cannot run as given (exit code 2, HTTP 400): a name list that does not load
    /// or holds more entities than a `u32` numbers, or a filter that does not parse or fit the
    /// dataset's columns (its typed error is the usage error's cause).
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),
    /// The Aho-Corasick automaton of the aliases could not be built (too large): its message.
    #[error("building the name matcher: {0}")]
    Automaton(String),
    /// A data file could not be read: the file, and what went wrong.
    #[error("{path}: {message}")]
    Read {
        /// The data file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The count ran longer than [`crate::MentionsRequest::timeout`].
    #[error("the count ran past its time limit of {:.1} s (--timeout)", limit.as_secs_f64())]
    Timeout {
        /// The time limit.
        limit: std::time::Duration,
    },
    /// The dataset could not be opened or read.
    #[error(transparent)]
    Store(#[from] pairscope_store::StoreError),
    /// A count through the full-text index failed.
    #[error(transparent)]
    Query(#[from] pairscope_query::QueryError),
}

impl MentionsError {
    pub(crate) fn read(path: &std::path::Path, error: impl std::fmt::Display) -> MentionsError {
        MentionsError::Read { path: path.display().to_string(), message: error.to_string() }
    }
}

impl From<pairscope_text::names::NameListError> for MentionsError {
    fn from(error: pairscope_text::names::NameListError) -> MentionsError {
        MentionsError::Usage(pairscope_model::UsageError::because(error))
    }
}

impl From<pairscope_expr::ExprError> for MentionsError {
    fn from(error: pairscope_expr::ExprError) -> MentionsError {
        MentionsError::Usage(pairscope_model::UsageError::because(error))
    }
}
