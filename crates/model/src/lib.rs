//! The canonical model of an image–text pair that every pairscope crate shares.
//!
//! This crate owns:
//! - [`columns`]: the canonical column set (names, Arrow types, meaning), each column's roles
//!   (indexed how, sortable, facet, search form field, overview) and the [`Registry`] every
//!   list of columns elsewhere (index schema, sort orders, facets, form, CLI values, OpenAPI
//!   enums) is derived from;
//! - [`row_id`]: the stable 63-bit row identity derived from (source content hash, row index);
//! - [`web`]: host and registrable-domain derivation (Public Suffix List from the `psl` crate);
//! - [`exit`]: the process exit codes every command uses;
//! - [`fetched`]: what `fetch` writes and `ingest --fetched` reads back (the shard layout, the
//!   columns a fetch adds and fills);
//! - [`progress`]: the trait long operations report progress through;
//! - [`panic`](mod@panic): the message of a caught panic;
//! - [`safety`]: when a row's image may be unsafe (blurred by `serve`, skipped by `fetch`);
//! - [`usage`]: the one usage-error type (exit code 2, HTTP 400) and how to find it in a chain.
//!
//! It must never do I/O: readers, writers and indexes live in other crates and depend on this one.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod columns;
pub mod exit;
pub mod fetched;
pub mod panic;
pub mod progress;
pub mod row_id;
pub mod safety;
pub mod usage;
pub mod web;

pub use columns::{CANONICAL_COLUMNS, CanonicalColumn, ColumnKind, FacetRole, FormField, Registry, Roles};
pub use exit::ExitStatus;
pub use panic::panic_message;
pub use progress::{NoProgress, Progress};
pub use row_id::RowId;
pub use usage::{UsageError, is_usage};
