//! Errors of a mention count. Usage errors (a bad list or EXPR) are told apart so the CLI
//! exits 2 for them and the server answers 400.

pub type Result<T, E = MentionsError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum MentionsError {
    #[error(transparent)]
    Names(#[from] pairscope_text::names::NameListError),
    #[error(transparent)]
    Expr(#[from] pairscope_expr::ExprError),
    #[error("more than 4 billion names")]
    TooManyNames,
    #[error("building the name matcher: {0}")]
    Automaton(String),
    /// A data file could not be read: the file, and what went wrong.
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("the count ran past its time limit of {:.1} s (--timeout)", limit.as_secs_f64())]
    Timeout { limit: std::time::Duration },
    #[error(transparent)]
    Store(#[from] pairscope_store::StoreError),
    #[error(transparent)]
    Query(#[from] pairscope_query::QueryError),
}

impl MentionsError {
    pub fn read(path: &std::path::Path, error: impl std::fmt::Display) -> MentionsError {
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
