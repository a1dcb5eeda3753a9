//! The bridge to the C++ side (`include/ann.h`, `src/ann.cpp`), which calls faiss.
//!
//! Every fallible function returns `Result`: cxx catches the C++ exception (faiss throws
//! `faiss::FaissException`, a `std::exception`) and hands its message over as `cxx::Exception`.
//! The functions marked `unsafe` keep pointers the types cannot express; their callers in this
//! crate keep what they point to alive.

#[cxx::bridge(namespace = "pairscope_ann")]
pub(crate) mod bridge {
    unsafe extern "C++" {
        include!("pairscope-ann/include/ann.h");

        /// A trained `faiss::IndexIVFPQ` with no list entries.
        type Model;
        /// One query's faiss scanners and the heap of the block being searched.
        type Query;

        /// Trains `IVF{nlist},PQ{m}np` (inner product) on `sample` (`n × dim`, row-major), every
        /// seed set from `seed`, the whole sample used, on `threads` OpenMP threads (0: as set).
        fn train(
            dim: usize,
            nlist: usize,
            m: usize,
            seed: u32,
            threads: usize,
            sample: &[f32],
        ) -> Result<UniquePtr<Model>>;

        /// Reads faiss's serialisation of a model; fails unless it is exactly what `train`
        /// makes, with these dimensions, and `bytes` hold nothing after it.
        fn read_model(bytes: &[u8], dim: usize, nlist: usize, m: usize) -> Result<UniquePtr<Model>>;

        /// faiss's serialisation of the model (`faiss::write_index`).
        fn write_model(model: &Model) -> Result<UniquePtr<CxxVector<u8>>>;

        /// The list (nearest coarse centroid) of each vector of `vectors` (`lists.len() × dim`).
        fn assign(model: &Model, vectors: &[f32], threads: usize, lists: &mut [i64]) -> Result<()>;

        /// The PQ codes (`m` bytes each) of the vectors' residuals to their lists' centroids.
        fn encode(model: &Model, vectors: &[f32], lists: &[i64], threads: usize, codes: &mut [u8]) -> Result<()>;

        /// The coarse centroids, `nlist × dim` (checked when the model was made or read).
        fn centroids(model: &Model) -> &[f32];

        /// The CPU kernel OpenBLAS chose when it was loaded (`openblas_get_corename`), or ""
        /// when the BLAS is not OpenBLAS.
        fn blas_core_name() -> String;

        /// Stops OpenBLAS's thread pool (`blas_thread_shutdown_`) if the BLAS is OpenBLAS
        /// built with pthreads; nothing otherwise.
        fn stop_blas_threads();

        /// A query of `vector` (copied).
        ///
        /// # Safety
        /// The query keeps a pointer to `model`: it must be dropped before `model` is.
        unsafe fn new_query(model: &Model, vector: &[f32]) -> Result<UniquePtr<Query>>;

        /// Starts a block: an empty heap of `k` results; with `use_filter`, only ids whose bit
        /// is set in `filter` are scored.
        ///
        /// # Safety
        /// The query keeps a pointer to `filter` until `finish_block`.
        unsafe fn begin_block(self: Pin<&mut Query>, k: usize, filter: &[u8], use_filter: bool) -> Result<()>;

        /// Scores one list of the block (`ids.len()` entries, their `m`-byte codes in `codes`)
        /// into the heap.
        ///
        /// # Safety
        /// The `filter` given to `begin_block` is still alive.
        unsafe fn scan_list(
            self: Pin<&mut Query>,
            list_no: i64,
            coarse_score: f32,
            codes: &[u8],
            ids: &[i64],
        ) -> Result<()>;

        /// Ends the block: writes its results best first and returns how many there are.
        fn finish_block(self: Pin<&mut Query>, ids: &mut [i64], scores: &mut [f32]) -> usize;

        /// faiss's own search (`add_with_ids` into a copy of the model, then `search` with
        /// `nprobe`) of the `k` best for each of `queries`, -1 ids where there are fewer: the
        /// reference the tests compare with.
        fn reference_search(
            model: &Model,
            vectors: &[f32],
            ids: &[i64],
            queries: &[f32],
            nprobe: usize,
            k: usize,
            out_ids: &mut [i64],
            out_scores: &mut [f32],
        ) -> Result<()>;
    }
}

// SAFETY: after `train` or `read_model` returns, a model is only read, through faiss's const
// methods (`assign`, `encode_vectors`, the quantizer's `reconstruct`, making scanners), which
// keep their state in their own buffers (read in faiss 1.7.3's sources); faiss documents its CPU
// indexes as safe for concurrent use by operations that do not change them.
unsafe impl Send for bridge::Model {}
// SAFETY: as for `Send`: shared use only calls const methods.
unsafe impl Sync for bridge::Model {}
// SAFETY: a query's state is its own (its scanners and heap); it points to a `Model`, which is
// `Sync`, and to a filter only within one `&mut` call of the Rust side.
unsafe impl Send for bridge::Query {}
