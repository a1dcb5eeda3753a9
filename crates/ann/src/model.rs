//! The trained model, made once per dataset: `nlist` coarse centroids (spherical k-means on the
//! sample, faiss's choice for the inner product) and `m` codebooks of 256 centroids for the
//! residuals (k-means on the sample's residuals to their nearest coarse centroids).
//!
//! Training uses the whole sample the caller gives (faiss would otherwise subsample to 256
//! points per centroid) and every seed faiss draws from is [`TrainParams::seed`]: the same
//! sample and seed give the same model, byte for byte, whatever the thread count (tested on 1
//! and 2 threads: faiss's k-means sums each centroid on one thread, in row order, and Debian's
//! default BLAS, the reference one, is single-threaded; a multi-threaded BLAS such as OpenBLAS
//! might round the k-means assignments differently with another thread count). Good
//! models want at least 39 sample vectors per centroid: `39 × max(nlist, 256)`; fewer work.
//! Training costs `O(n × (nlist + 256) × dim × 25)` operations (25 k-means iterations each)
//! and holds the residuals, `n × dim` floats, besides the caller's sample.
//!
//! Bytes ([`Trained::to_bytes`]), all integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `PSIVFPQM` |
//! | 8 | 4 | version, 1 |
//! | 12 | 4 | zero |
//! | 16 | 8 | dimensions |
//! | 24 | 8 | lists (`nlist`) |
//! | 32 | 8 | sub-quantizers (`m`, bytes per code) |
//! | 40 | 8 | length `p` of the payload |
//! | 48 | `p` | the payload: faiss's `write_index` of the `IndexIVFPQ`, with no list entries |
//! | 48 + `p` | 4 | CRC-32 of all the bytes before it |
//!
//! faiss reads only payloads whose checksum holds (its reader trusts lengths it reads, so
//! damaged bytes could make it allocate without bound), and what it reads is then checked to
//! be exactly the index `train` makes, with the header's dimensions.
//!
//! Memory: a [`Trained`] holds `nlist × dim` floats of centroids, `256 × dim` floats of
//! codebooks and faiss's empty lists (48 bytes per list). It is `Send + Sync`: every thread
//! searches with the same one.

use cxx::UniquePtr;

use crate::ffi::bridge;
use crate::{Error, Result, check_finite};

const MAGIC: &[u8; 8] = b"PSIVFPQM";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 48;

/// What [`Trained::train`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainParams {
    /// Dimensions of the vectors (768 for CLIP ViT-L/14).
    pub dim: usize,
    /// Coarse centroids, one inverted list each.
    pub nlist: usize,
    /// Sub-quantizers: bytes per stored vector's code. Must divide `dim`.
    pub m: usize,
    /// Seed of every random choice of the training.
    pub seed: u32,
    /// OpenMP threads of the training; 0 leaves the calling thread's OpenMP setting (by default
    /// one per core, or `OMP_NUM_THREADS`). On busy cores 1 is fastest: faiss's OpenMP loops
    /// wait for every thread at every step (measured: 2 threads on a loaded 2-core machine
    /// trained 4 times slower than 1).
    pub threads: usize,
}

/// A trained IVF-PQ model (see the module doc).
pub struct Trained {
    model: UniquePtr<bridge::Model>,
    dim: usize,
    nlist: usize,
    m: usize,
}

impl std::fmt::Debug for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trained").field("dim", &self.dim).field("nlist", &self.nlist).field("m", &self.m).finish()
    }
}

impl Trained {
    /// Trains on `sample`, `n × dim` floats row-major (unit vectors), `n ≥ max(nlist, 256)`.
    pub fn train(params: &TrainParams, sample: &[f32]) -> Result<Trained> {
        let TrainParams { dim, nlist, m, seed, threads } = *params;
        if dim == 0 || m == 0 || !dim.is_multiple_of(m) || dim > i32::MAX as usize {
            return Err(Error::Invalid(format!("{m} sub-quantizers cannot split {dim} dimensions")));
        }
        if nlist == 0 || nlist > i32::MAX as usize {
            return Err(Error::Invalid(format!("{nlist} lists")));
        }
        if !sample.len().is_multiple_of(dim) {
            return Err(Error::Invalid(format!("a sample of {} floats is not rows of {dim}", sample.len())));
        }
        let n = sample.len() / dim;
        let needed = nlist.max(256);
        if n < needed {
            return Err(Error::Invalid(format!(
                "a sample of {n} vectors cannot train {nlist} lists and 256 centroids per sub-quantizer: at least {needed}"
            )));
        }
        check_finite(sample, "sample")?;
        let model = bridge::train(dim, nlist, m, seed, threads, sample)?;
        Trained::wrap(model, dim, nlist, m)
    }

    /// The model as bytes (see the module doc).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = bridge::write_model(self.model())?;
        let payload = payload.as_slice();
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for v in [self.dim, self.nlist, self.m, payload.len()] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        out.extend_from_slice(payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Reads what [`Trained::to_bytes`] wrote; any other bytes are `Err(Damaged)`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Trained> {
        let damaged = |why: String| Error::Damaged { what: "trained model", why };
        if bytes.len() < HEADER_LEN + 4 {
            return Err(damaged(format!("{} bytes, fewer than a header", bytes.len())));
        }
        if &bytes[..8] != MAGIC {
            return Err(damaged("not a pairscope IVF-PQ model (wrong magic)".into()));
        }
        let version = u32_at(bytes, 8);
        if version != VERSION || u32_at(bytes, 12) != 0 {
            return Err(damaged(format!("version {version}, this build reads {VERSION}")));
        }
        let [dim, nlist, m, payload_len] = [16, 24, 32, 40].map(|at| u64_at(bytes, at));
        let expected = payload_len.checked_add((HEADER_LEN + 4) as u64);
        if expected != Some(bytes.len() as u64) {
            return Err(damaged(format!("{} bytes, the header says a payload of {payload_len}", bytes.len())));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32_at(crc, 0) {
            return Err(damaged("checksum mismatch".into()));
        }
        let size = |v: u64| usize::try_from(v).ok().filter(|v| *v > 0 && *v <= i32::MAX as usize);
        let (Some(dim), Some(nlist), Some(m)) = (size(dim), size(nlist), size(m)) else {
            return Err(damaged(format!("dimensions {dim}, lists {nlist}, sub-quantizers {m}")));
        };
        if !dim.is_multiple_of(m) {
            return Err(damaged(format!("{m} sub-quantizers cannot split {dim} dimensions")));
        }
        let model = bridge::read_model(&body[HEADER_LEN..], dim, nlist, m)
            .map_err(|e| damaged(format!("faiss: {}", e.what())))?;
        Trained::wrap(model, dim, nlist, m)
    }

    fn wrap(model: UniquePtr<bridge::Model>, dim: usize, nlist: usize, m: usize) -> Result<Trained> {
        if model.is_null() {
            return Err(Error::Faiss("no model".into()));
        }
        Ok(Trained { model, dim, nlist, m })
    }

    /// Dimensions of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Inverted lists (coarse centroids).
    pub fn nlist(&self) -> usize {
        self.nlist
    }

    /// Bytes per stored vector's code (the number of sub-quantizers).
    pub fn code_size(&self) -> usize {
        self.m
    }

    #[expect(clippy::expect_used, reason = "wrap refuses a null model, and nothing takes it out")]
    pub(crate) fn model(&self) -> &bridge::Model {
        self.model.as_ref().expect("a trained model is never null")
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}
