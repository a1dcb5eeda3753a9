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
//! It never reads the full-text index: the count is a scan, bound by reading captions, so its
//! time does not grow with the number of names. Listing the captions of one entity is
//! Search's job (`pairscope search --mention`), under the same semantics.

pub mod ambiguity;
pub mod cache;
pub mod count;
pub mod error;
pub mod matcher;

pub use count::{
    ByColumn, ByCount, DEFAULT_BY_TOP, EntityCount, ListInfo, MentionsReport, MentionsRequest, count_mentions,
    read_captions,
};
pub use error::{MentionsError, Result};
pub use matcher::{EntityRef, MentionMatcher};
