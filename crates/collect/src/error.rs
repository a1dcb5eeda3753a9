//! The one error that stops a read. Bad *data* never becomes an error: it is a counted skip
//! ([`crate::wat::SkipReason`]).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The underlying reader failed (disk, network): nothing after `offset` can be trusted.
    #[error("reading input at compressed offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}
