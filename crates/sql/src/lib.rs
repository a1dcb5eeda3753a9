//! Read-only SQL over a pairscope dataset: Apache DataFusion with the dataset's rows as the
//! table `pairs`, and the UDFs `host(url)`, `domain(url)` and `normalize(text [, fold_accents])`.
//!
//! This crate owns:
//! - the table `pairs` of one committed version: exactly the parquet files its manifest lists,
//!   with the canonical columns followed by the union of every source's extra columns (a file
//!   without an extra column reads it as null) ([`table`]);
//! - the SQL functions that expose pairscope's own definitions: they call
//!   `pairscope_model::web` and `pairscope_text::normalize`, so SQL and ingest can never
//!   disagree on what a host, a domain or a normalised caption is ([`udf`]);
//! - the read-only guard ([`guard`]) and the limits of a query ([`Limits`]): a deadline that
//!   stops every operator within a batch ([`stop`]), a memory pool (operators that can spill do
//!   so past it), checked versions of the functions whose output can outgrow their input
//!   ([`capped`]), and results as a stream of batches, so an export of any size holds only a
//!   few batches in memory.
//!
//! It must never write or change anything: no DDL, DML, COPY or `SET`; no URL tables (a query
//! names no file); no plan that reads a file outside the version's own data files. It has no
//! query engine of its own: everything is planned and executed by DataFusion.

pub mod capped;
pub mod error;
pub mod guard;
pub mod session;
pub mod stop;
pub mod table;
pub mod udf;

pub use error::SqlError;
pub use session::{BlockingRows, Limits, Rows, SqlSession};
