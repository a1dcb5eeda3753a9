//! How long-running library work reports progress without knowing how it is shown.
//!
//! The binary draws a progress bar (or nothing, off a terminal); tests pass [`NoProgress`].

/// Receives progress of a long operation. Implementations must be cheap: callers report
/// per batch, from several threads.
pub trait Progress: Send + Sync {
    /// The amount of input the operation expects to read, when known.
    fn set_total_bytes(&self, _bytes: u64) {}
    /// `rows` more rows and `bytes` more input bytes were processed.
    fn advance(&self, rows: u64, bytes: u64);
}

/// Reports nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _rows: u64, _bytes: u64) {}
}
