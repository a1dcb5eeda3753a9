//! The I/O toolkit every pairscope crate builds on: one home for each way of touching the disk
//! and of spreading work over the cores.
//!
//! This crate owns:
//! - [`durable`]: the durable write (a temporary beside the target, fsync, rename, fsync of the
//!   directory), the temporary names and the removal of dead writers' temporaries;
//! - [`staged`]: the same for a whole directory (built beside its target, renamed onto it);
//! - [`journal`]: the append-only file of checksummed records, for work kept piece by piece
//!   (a fetch's finished samples) that a killed run reads back whole or not at all;
//! - [`limits`]: the kernel's per-process limits a dataset of thousands of blocks can reach;
//! - [`path`]: resolving a path as the kernel does (symlinks, then `..`), once, where it is taken;
//! - [`walk`]: finding input files under directories, loop-safe, regular files only;
//! - [`parallel`]: the work queue (ordered map, try-map, try-fold with first-error stop).
//!
//! It is a leaf: it knows nothing of datasets, parquet, indexes or captions, and depends on the
//! standard library, `thiserror`, `tracing` and `crc32fast` (the journal's checksums) only.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod durable;
pub mod journal;
pub mod limits;
pub mod parallel;
pub mod path;
pub mod staged;
pub mod walk;
