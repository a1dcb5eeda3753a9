//! Exit codes, identical for every subcommand.

/// How a pairscope process ends. The numeric values are part of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for was done; nothing was skipped.
    Clean = 0,
    /// An error stopped the command; nothing was committed.
    Error = 1,
    /// The command line was wrong (unknown flag, unparsable EXPR or QUERY).
    Usage = 2,
    /// The command completed, but some inputs (files, rows, records) were skipped; they were
    /// counted and reported.
    CompletedWithSkips = 3,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The status of a completed run that skipped `skipped` inputs.
    pub fn completed(skipped: u64) -> Self {
        if skipped == 0 { Self::Clean } else { Self::CompletedWithSkips }
    }
}
