//! Mentions: how many captions of a dataset mention each name of a list (artists,
//! characters, brands), for thousands of names in one pass.
//!
//! This crate owns:
//! - [`matcher`]: every alias of every entity matched against one normalised caption at once
//!   (Aho-Corasick), with exactly `pairscope_text::reference::canonical_matches` semantics:
//!   whole tokens, substring for substring scripts, a caption counted once per entity;
//! - [`count`]: the pass over a dataset version (caption column, every core), with an EXPR
//!   filter, a breakdown by host / domain / language, shares and top-N;
//! - [`ambiguity`]: marking names that are also common words, or that match far more often
//!   than the rest;
//! - [`cache`]: results kept in the dataset per (lists, filter, breakdown, version).
//!
//! Two ways to count, both exact and tested against the same reference: without a breakdown
//! (and for lists of up to [`count::MAX_INDEX_ENTITIES`] names) each entity is a phrase count
//! on the full-text index (`pairscope search --mention`'s query, so a drill-down lists exactly
//! the counted captions); with `--by`, or for longer lists, one scan of every caption, whose
//! time is bound by reading captions and hardly grows with the number of names.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod ambiguity;
pub mod cache;
pub mod count;
pub mod error;
pub mod matcher;

pub use count::{
    ByColumn, ByCount, DEFAULT_BY_TOP, EntityCount, ListInfo, MentionsReport, MentionsRequest, Method, count_mentions,
    read_captions,
};
pub use error::{MentionsError, Result};
pub use matcher::{EntityRef, MentionMatcher};
