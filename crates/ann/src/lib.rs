//! Approximate nearest-neighbour search over the embeddings: faiss's IVF-PQ, through a small
//! [`cxx`] bridge to Debian's static `libfaiss.a` (1.7.3).
//!
//! The index is the one faiss builds from `IVF{nlist},PQ{m}np` with the inner product (vectors
//! are unit-normalised, so the inner product is the cosine): `nlist` coarse centroids split the
//! space into inverted lists; a vector is stored in its nearest centroid's list as `m` bytes,
//! the product-quantized residual to that centroid (8 bits per sub-quantizer), plus its id. The
//! `np` leaves out polysemous training, which the search never uses.
//!
//! This crate owns:
//! - [`model`]: the trained model, once per dataset (coarse centroids and PQ codebooks trained
//!   on a sample), its bytes and their checks;
//! - [`block`]: one block's inverted lists, in a file format of this crate that readers
//!   memory-map and never load; encoding a block's vectors into it;
//! - [`search`]: the coarse probes of a query (once per query, or of a batch of queries as one
//!   matrix product) and the search of one block's lists, optionally only rows a bitmap keeps
//!   (or the entries it keeps, resolved once per filter);
//! - [`runtime`]: the environment (OpenMP, OpenBLAS) training and encoding run best in, and
//!   stopping the idle thread pool OpenBLAS starts in every process that links it.
//!
//! It never reads or writes files (callers hand it bytes and map files), never re-ranks with the
//! exact vectors (the caller has them, in `pairscope-vectors`' files) and never starts threads
//! of its own: training and encoding use faiss's OpenMP threads, as many as the caller says;
//! search runs on the calling thread only.
//!
//! OpenMP and BLAS read their settings from the environment when the process is loaded, before
//! any code of this crate runs: [`runtime`] says which settings a process that trains or
//! encodes lacks (its caller restarts the process with them). Searches start no OpenMP threads
//! and call no BLAS.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

#[cfg(not(target_endian = "little"))]
compile_error!("pairscope-ann's block files are little-endian and are read in place");

pub mod block;
#[cfg_attr(not(test), expect(dead_code, reason = "the bridge's reference_search serves the tests only"))]
#[expect(clippy::too_many_arguments, reason = "the bridge's reference_search mirrors faiss's search")]
mod ffi;
pub mod model;
pub mod runtime;
pub mod search;
#[cfg(test)]
mod tests;

pub use block::{BlockLists, KeptEntries, encode_block, encode_block_from};
pub use model::{TrainParams, Trained};
pub use search::{BlockHits, Hit, Probe, Probes, Query};

/// Why a call of this crate did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument the call cannot work with (a vector of the wrong length, `k = 0`, ...).
    #[error("{0}")]
    Invalid(String),
    /// Bytes that are not what they should be: a damaged, truncated or foreign model or block.
    #[error("damaged {what}: {why}")]
    Damaged {
        /// What the bytes should have been (`"block lists"`, `"trained model"`).
        what: &'static str,
        /// What is wrong with them.
        why: String,
    },
    /// A block encoded with another model: its lists or codes do not fit this one.
    #[error(
        "block of {block_lists} lists of {block_code_size}-byte codes, model of {model_lists} lists of {model_code_size}-byte codes"
    )]
    Mismatch {
        /// The block's list count.
        block_lists: usize,
        /// The block's bytes per code.
        block_code_size: usize,
        /// The model's list count.
        model_lists: usize,
        /// The model's bytes per code.
        model_code_size: usize,
    },
    /// faiss refused (the message of the C++ exception).
    #[error("faiss: {0}")]
    Faiss(String),
}

impl From<cxx::Exception> for Error {
    fn from(e: cxx::Exception) -> Error {
        Error::Faiss(e.what().to_string())
    }
}

/// This crate's results.
pub type Result<T> = std::result::Result<T, Error>;

/// `Err(Invalid)` unless every value is finite.
fn check_finite(values: &[f32], what: &str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Invalid(format!("{what}: value {i} is {}", values[i]))),
    }
}
