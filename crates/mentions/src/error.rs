//! Errors of a mention count. Usage errors (a bad list or EXPR) are told apart so the CLI
//! exits 2 for them and the server answers 400.

/// A result whose error is a [`MentionsError`].
pub type Result<T, E = MentionsError> = std::result::Result<T, E>;

/// Why a mention count failed.
#[derive(Debug, thiserror::Error)]
pub enum MentionsError {
    /// A name list could not be loaded (a usage error).
    #[error(transparent)]
    Names(#[from] pairscope_text::names::NameListError),
    /// The filter does not parse or does not fit the dataset's columns (a usage error).
    #[error(transparent)]
    Expr(#[from] pairscope_expr::ExprError),
    /// The lists hold more entities than a `u32` numbers (a usage error).
    #[error("more than 4 billion names")]
    TooManyNames,
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

    /// Whether the caller's request was at fault (exit code 2, HTTP 400).
    pub fn is_usage(&self) -> bool {
        match self {
            MentionsError::Names(_) | MentionsError::Expr(_) | MentionsError::TooManyNames => true,
            MentionsError::Store(e) => e.is_usage(),
            MentionsError::Query(e) => e.is_usage(),
            _ => false,
        }
    }
}
