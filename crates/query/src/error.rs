//! Errors of queries. Usage errors (a bad QUERY, EXPR, pattern or cursor) are told apart so the
//! CLI exits 2 for them and the server answers 400.
//!
//! The messages of [`QueryError::Usage`] and of [`ParseFailure::message`](crate::parse::ParseFailure)
//! about a search's text (its query, URL pattern or cursor) say where the fault is, never quote
//! the text: the server shows them to whoever sent the request, and a link must not make its
//! pages say anything.

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request cannot be run as given (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Parse(#[from] crate::parse::ParseFailure),
    #[error(transparent)]
    Expr(#[from] pairscope_expr::ExprError),
    /// The call ran past its deadline and was stopped.
    #[error("the query took longer than its time limit of {limit_ms} ms and was stopped; narrow it or raise --timeout")]
    Deadline { limit_ms: u128 },
    #[error(transparent)]
    Store(#[from] pairscope_store::StoreError),
    #[error(transparent)]
    Index(#[from] pairscope_index::IndexError),
    #[error("search engine: {0}")]
    Engine(String),
}

impl QueryError {
    pub fn usage(message: impl Into<String>) -> QueryError {
        QueryError::Usage(message.into())
    }

    pub fn engine(error: impl std::fmt::Display) -> QueryError {
        QueryError::Engine(error.to_string())
    }

    pub fn io(error: std::io::Error) -> QueryError {
        QueryError::Engine(error.to_string())
    }

    /// Whether the caller's request was at fault (exit code 2, HTTP 400).
    pub fn is_usage(&self) -> bool {
        match self {
            QueryError::Usage(_) | QueryError::Parse(_) | QueryError::Expr(_) => true,
            QueryError::Store(e) => e.is_usage(),
            _ => false,
        }
    }
}
