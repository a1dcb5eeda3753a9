//! What can go wrong with a query, split the way the exit codes need: the query's fault
//! (usage, exit 2) or the run's (exit 1).

use std::time::Duration;

use datafusion::error::DataFusionError;

/// Why a query could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not SQL, or names a column, table or function that does not exist.
    #[error("invalid query: {0}")]
    Invalid(#[source] pairscope_model::UsageError),
    /// A statement or plan the read-only guard refuses.
    #[error("refused: {0}")]
    Refused(#[source] pairscope_model::UsageError),
    /// The query ran past its time limit and was stopped.
    #[error("the query was stopped after {} (the time limit; raise it with --timeout, 0 for none)", seconds(*.0))]
    Timeout(Duration),
    /// The query needed more memory than the pool allows, even after spilling.
    #[error("the query needs more memory than the limit of {} (raise it with --memory-limit): {message}", mib(*limit))]
    Memory {
        /// The memory limit, in bytes.
        limit: usize,
        /// DataFusion's message: which operator or function ran out.
        message: String,
    },
    /// The dataset, or one of its data files, could not be opened or read.
    #[error("opening the dataset")]
    Dataset(#[from] pairscope_store::StoreError),
    /// The dataset's manifest describes a column this crate cannot turn into a schema.
    #[error("column {column} of the dataset: {message}")]
    Schema {
        /// The column's name.
        column: String,
        /// What is wrong with its type.
        message: String,
    },
    /// DataFusion failed while running the query (reading a data file, an internal error).
    #[error("running the query")]
    Execution(#[source] DataFusionError),
}

impl SqlError {
    /// The query is not valid SQL over `pairs` (exit code 2).
    pub(crate) fn invalid(message: impl Into<String>) -> SqlError {
        SqlError::Invalid(pairscope_model::UsageError::new(message))
    }

    /// The query would write or read what `sql` never does (exit code 2).
    pub(crate) fn refused(message: impl Into<String>) -> SqlError {
        SqlError::Refused(pairscope_model::UsageError::new(message))
    }

    /// Classifies an error DataFusion raised while planning (`planning`) or running a query.
    pub(crate) fn from_datafusion(error: DataFusionError, planning: bool, memory_limit: usize) -> SqlError {
        let root = error.find_root();
        match root {
            DataFusionError::SQL(..) | DataFusionError::SchemaError(..) => SqlError::invalid(root.to_string()),
            DataFusionError::Plan(message) if is_guard_refusal(message) => {
                SqlError::refused(format!("pairscope sql is read-only and runs queries only ({message})"))
            }
            DataFusionError::Plan(message) if message.contains("not found") && message.contains("table") => {
                SqlError::invalid(format!("{message} (the one table is `pairs`; files cannot be queried by name)"))
            }
            DataFusionError::Plan(_) | DataFusionError::NotImplemented(_) if planning => {
                SqlError::invalid(root.to_string())
            }
            DataFusionError::ResourcesExhausted(message) => {
                SqlError::Memory { limit: memory_limit, message: message.clone() }
            }
            _ => SqlError::Execution(error),
        }
    }
}

/// The messages of DataFusion's `SQLOptions::verify_plan` (`DDL not supported: CreateMemoryTable`,
/// `DML not supported: COPY`, `Statement not supported: SetVariable`).
fn is_guard_refusal(message: &str) -> bool {
    ["DDL not supported", "DML not supported", "Statement not supported"].iter().any(|p| message.starts_with(p))
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64()).replace(".000 s", " s")
}

fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes / (1 << 20))
}
