//! Searching blocks: the coarse probes of a query, once for all blocks, then each block's
//! probed lists scored by faiss's IVF-PQ scanner.
//!
//! [`Trained::coarse`] scores the query against every coarse centroid (`nlist × dim` multiply-
//! adds, in Rust over faiss's centroid table with `pairscope-vectors`' vectorised inner product,
//! since Debian's faiss scores them with a scalar loop: dups at 200k vectors took 30% less CPU)
//! and keeps the `nprobe` best lists: [`Probes`], plain data any thread can use.
//! [`Trained::coarse_many`] does the same for a batch of queries as one matrix product, which
//! reads the centroid table once per [`COARSE_BATCH`] queries rather than once per query (the
//! table does not fit a core's cache: streaming it was a quarter of a query's time at 1M
//! vectors). A [`Query`] then holds faiss's scanner for the
//! query, whose table of the query's inner products with every PQ centroid (`256 × dim`
//! multiply-adds) is also computed once, and
//! [`Query::search_block`] scans the block's probed lists with it: per list, the query's inner
//! product with the list's centroid (`dim` multiply-adds) plus one table look-up per code byte
//! and entry. This is what faiss's `IndexIVF::search_preassigned` does for one query, without
//! recomputing the query's table for every block and without swapping lists into a shared
//! index, so the model needs no copy per thread.
//!
//! Scores are the approximate inner products (higher is better), and may differ from the exact
//! ones by the quantization error: callers re-rank the best candidates with the exact vectors.
//!
//! A filter is a bitmap over the stored ids: id `i` is kept if bit `i % 8` of byte `i / 8` is
//! set (ids past the bitmap's end are not). Filtered-out entries are skipped before they are
//! scored (they still count as scanned: their ids are read). The nearest kept rows of a
//! selective filter lie in more lists than the query's nearest rows. In the tests (256 lists,
//! re-ranked recall@10): all rows, 0.98 at nprobe 16; 10% of the rows, 0.91 at 16 and 0.98 at
//! 64; 1%, 0.79 at 64 and 0.94 at 128. So a selective filter's search reads mostly entries it
//! skips: [`BlockLists::kept_entries`] resolves a filter, once, into the entries it keeps
//! grouped by list, and [`Query::search_kept_probing`] gathers and scores only those of the
//! probed lists (the same candidates; 1% of 1M rows at 1,600 lists: 3,900 entries read rather
//! than 390,000). For very selective filters, scoring the kept rows' exact vectors may cost
//! less still.
//!
//! Memory: [`Probes`], 16 bytes per probe; a [`Query`], the query, its probes and faiss's table
//! (`m × 256` floats; twice if it searches both with and without a filter); a search, `k`
//! results (and, from kept entries, the gathered codes and ids of its probed lists).

use cxx::UniquePtr;
use pairscope_vectors::dot::inner_product;

use crate::block::{BlockLists, KeptEntries};
use crate::ffi::bridge;
use crate::model::Trained;
use crate::{Error, Result, check_finite};

/// One probed list: its number and the inner product of the query with its centroid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// The list (coarse centroid) number, `< nlist`.
    pub list: usize,
    /// The query's inner product with the list's centroid.
    pub score: f32,
}

/// The lists a query probes, best first (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Probes {
    probes: Vec<Probe>,
}

impl Probes {
    /// The probes, best first.
    pub fn as_slice(&self) -> &[Probe] {
        &self.probes
    }
}

/// One result: a stored id and its approximate score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The id stored with the vector.
    pub id: i64,
    /// The approximate inner product with the query (higher is better).
    pub score: f32,
}

/// A block's results.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockHits {
    /// The best `k` (or fewer) entries of the probed lists, best first.
    pub hits: Vec<Hit>,
    /// Entries of the probed lists: those the search read (scored, or skipped by the filter).
    pub scanned: usize,
}

impl Trained {
    /// The `nprobe` lists (at most `nlist`) whose centroids have the largest inner products with
    /// `vector`, best first; ties go to the lower list.
    pub fn coarse(&self, vector: &[f32], nprobe: usize) -> Result<Probes> {
        check_query(self, vector)?;
        let nprobe = check_nprobe(self, nprobe)?;
        // One pass over the centroids on the calling thread (faiss's own search of its flat
        // quantizer starts a thread team even for one query, and Debian's build scores with a
        // scalar loop).
        let scores = bridge::centroids(self.model()).chunks_exact(self.dim()).map(|c| inner_product(vector, c));
        Ok(best_probes(scores, nprobe))
    }

    /// [`Trained::coarse`] of many queries (`queries.len() / dim` of them, row-major): their
    /// inner products with every centroid as one matrix product (`matrixmultiply`'s sgemm, on
    /// the calling thread) of [`COARSE_BATCH`] queries at a time, so that one pass over the
    /// centroid table (`nlist × dim` floats, 12 MiB at 4,096 lists of 768) serves a batch, not
    /// one query. The product sums in another order than `coarse`: a list whose score equals
    /// the last probe's within rounding may be probed by one and not by the other. Memory:
    /// `COARSE_BATCH × nlist` scores.
    pub fn coarse_many(&self, queries: &[f32], nprobe: usize) -> Result<Vec<Probes>> {
        let (dim, nlist) = (self.dim(), self.nlist());
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::Invalid(format!("{} floats are not queries of {dim} dimensions", queries.len())));
        }
        check_finite(queries, "queries")?;
        let nprobe = check_nprobe(self, nprobe)?;
        let centroids = bridge::centroids(self.model());
        let mut scores = vec![0f32; COARSE_BATCH.min(queries.len() / dim) * nlist];
        let mut probes = Vec::with_capacity(queries.len() / dim);
        for batch in queries.chunks(COARSE_BATCH * dim) {
            let rows = batch.len() / dim;
            // SAFETY: `batch` is `rows × dim` (row stride dim), the centroid table `nlist × dim`
            // read as its transpose (`dim × nlist`: row stride 1, column stride dim), `scores`
            // at least `rows × nlist` (row stride nlist); all strides fit in isize (they index
            // slices that exist).
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    dim,
                    nlist,
                    1.0,
                    batch.as_ptr(),
                    dim as isize,
                    1,
                    centroids.as_ptr(),
                    1,
                    dim as isize,
                    0.0,
                    scores.as_mut_ptr(),
                    nlist as isize,
                    1,
                );
            }
            probes.extend(scores.chunks_exact(nlist).take(rows).map(|row| best_probes(row.iter().copied(), nprobe)));
        }
        Ok(probes)
    }
}

/// Queries scored against the centroid table at once by [`Trained::coarse_many`].
pub const COARSE_BATCH: usize = 256;

/// `nprobe` capped at the model's lists; `Err` if it is 0.
fn check_nprobe(trained: &Trained, nprobe: usize) -> Result<usize> {
    if nprobe == 0 {
        return Err(Error::Invalid("nprobe must be at least 1".into()));
    }
    Ok(nprobe.min(trained.nlist()))
}

/// The `nprobe` lists of the best `scores` (one per list, in list order), best first; ties go
/// to the lower list.
fn best_probes(scores: impl Iterator<Item = f32>, nprobe: usize) -> Probes {
    let mut probes: Vec<Probe> = scores.enumerate().map(|(list, score)| Probe { list, score }).collect();
    let order = |a: &Probe, b: &Probe| b.score.total_cmp(&a.score).then(a.list.cmp(&b.list));
    if probes.len() > nprobe {
        probes.select_nth_unstable_by(nprobe - 1, order);
        probes.truncate(nprobe);
    }
    probes.sort_unstable_by(order);
    Probes { probes }
}

fn check_query(trained: &Trained, vector: &[f32]) -> Result<()> {
    if vector.len() != trained.dim() {
        return Err(Error::Invalid(format!("a query of {} dimensions, the model has {}", vector.len(), trained.dim())));
    }
    check_finite(vector, "query")
}

/// One query's search state (see the module doc): `Send`, not `Sync`; make one per thread (from
/// the same [`Probes`]) to search a query's blocks in parallel.
pub struct Query<'t> {
    trained: &'t Trained,
    probes: Probes,
    inner: UniquePtr<bridge::Query>,
}

impl std::fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query").field("trained", self.trained).field("probes", &self.probes.probes.len()).finish()
    }
}

impl<'t> Query<'t> {
    /// A query of `vector` probing `probes` (from [`Trained::coarse`] of the same vector: others
    /// give worse results, not wrong ones).
    pub fn new(trained: &'t Trained, vector: &[f32], probes: Probes) -> Result<Query<'t>> {
        check_query(trained, vector)?;
        if let Some(p) = probes.probes.iter().find(|p| p.list >= trained.nlist()) {
            return Err(Error::Invalid(format!("probe of list {} of {}", p.list, trained.nlist())));
        }
        // SAFETY: the query points to the model, which `'t` keeps alive longer than `self`.
        let inner = unsafe { bridge::new_query(trained.model(), vector)? };
        if inner.is_null() {
            return Err(Error::Faiss("no query".into()));
        }
        Ok(Query { trained, probes, inner })
    }

    /// The probes.
    pub fn probes(&self) -> &Probes {
        &self.probes
    }

    /// The `k` best entries of `block`'s probed lists, among the ids `filter` keeps if given (see
    /// the module doc), best first.
    pub fn search_block(&mut self, block: &BlockLists, k: usize, filter: Option<&[u8]>) -> Result<BlockHits> {
        self.search_block_probing(block, k, filter, self.probes.probes.len())
    }

    /// [`Query::search_block`] probing only the query's `nprobe` best lists: blocks of one query
    /// may need different numbers (a filter that keeps fewer of a block's rows needs more lists
    /// to find as many candidates), while the query's table is computed once.
    pub fn search_block_probing(
        &mut self,
        block: &BlockLists,
        k: usize,
        filter: Option<&[u8]>,
        nprobe: usize,
    ) -> Result<BlockHits> {
        self.check_block(block, k)?;
        // Every list is bounds-checked before faiss reads any.
        let mut lists = Vec::with_capacity(nprobe.min(self.probes.probes.len()));
        for probe in self.probes.probes.iter().take(nprobe) {
            let (codes, ids) = block.list(probe.list)?;
            lists.push((*probe, codes, ids));
        }
        self.scan(k, filter, &lists)
    }

    /// [`Query::search_block_probing`] with a filter already resolved into the entries it keeps
    /// ([`BlockLists::kept_entries`] of the same block): only those entries of the probed lists
    /// are read, gathered, and scored, where the bitmap filter reads every entry of every probed
    /// list to skip those it does not keep. A selective filter probes many lists (see the
    /// module doc), almost all of whose entries it would skip.
    pub fn search_kept_probing(
        &mut self,
        block: &BlockLists,
        kept: &KeptEntries,
        k: usize,
        nprobe: usize,
    ) -> Result<BlockHits> {
        self.check_block(block, k)?;
        if !kept.fits(block.nlist(), block.len()) {
            return Err(Error::Invalid("kept entries of another block".into()));
        }
        let code_size = block.code_size();
        let (mut codes, mut ids) = (Vec::new(), Vec::new());
        let mut ranges = Vec::with_capacity(nprobe.min(self.probes.probes.len()));
        for probe in self.probes.probes.iter().take(nprobe) {
            let offsets = kept.of_list(probe.list).unwrap_or_default();
            if offsets.is_empty() {
                continue;
            }
            let (list_codes, list_ids) = block.list(probe.list)?;
            let first = ids.len();
            for &offset in offsets {
                let offset = offset as usize;
                let (Some(code), Some(id)) =
                    (list_codes.get(offset * code_size..(offset + 1) * code_size), list_ids.get(offset))
                else {
                    return Err(Error::Invalid(format!("kept entry {offset} past list {} of the block", probe.list)));
                };
                codes.extend_from_slice(code);
                ids.push(*id);
            }
            ranges.push((*probe, first..ids.len()));
        }
        let lists: Vec<(Probe, &[u8], &[i64])> = ranges
            .into_iter()
            .map(|(probe, r)| (probe, &codes[r.start * code_size..r.end * code_size], &ids[r]))
            .collect();
        self.scan(k, None, &lists)
    }

    /// `Err` unless `block` was encoded with this query's model and `k` is at least 1.
    fn check_block(&self, block: &BlockLists, k: usize) -> Result<()> {
        if k == 0 {
            return Err(Error::Invalid("k must be at least 1".into()));
        }
        let (nlist, code_size) = (self.trained.nlist(), self.trained.code_size());
        if block.nlist() != nlist || block.code_size() != code_size {
            return Err(Error::Mismatch {
                block_lists: block.nlist(),
                block_code_size: block.code_size(),
                model_lists: nlist,
                model_code_size: code_size,
            });
        }
        Ok(())
    }

    /// The `k` best of `lists` (each a probe with its entries' codes and ids), among the ids
    /// `filter` keeps if given; the heap holds no more than the entries there are.
    fn scan(&mut self, k: usize, filter: Option<&[u8]>, lists: &[(Probe, &[u8], &[i64])]) -> Result<BlockHits> {
        let scanned = lists.iter().map(|(_, _, ids)| ids.len()).sum();
        let k = k.min(scanned);
        if k == 0 {
            return Ok(BlockHits { hits: Vec::new(), scanned });
        }
        let Some(mut inner) = self.inner.as_mut() else {
            return Err(Error::Faiss("no query".into()));
        };
        // SAFETY: `filter` outlives this call, and `finish_block` below, which ends the
        // query's use of it, runs before the call returns on every path.
        let scanning = unsafe {
            inner.as_mut().begin_block(k, filter.unwrap_or(&[]), filter.is_some()).map_err(Error::from).and_then(|()| {
                lists.iter().filter(|(_, _, ids)| !ids.is_empty()).try_for_each(|(probe, codes, ids)| {
                    // Lists are < nlist ≤ i32::MAX.
                    inner.as_mut().scan_list(probe.list as i64, probe.score, codes, ids).map_err(Error::from)
                })
            })
        };
        let mut ids = vec![0i64; k];
        let mut scores = vec![0f32; k];
        let found = inner.as_mut().finish_block(&mut ids, &mut scores);
        scanning?;
        let hits = ids.iter().zip(&scores).take(found).map(|(id, score)| Hit { id: *id, score: *score }).collect();
        Ok(BlockHits { hits, scanned })
    }
}

/// faiss's own search of `queries` in an index of `vectors` and `ids` (see the bridge).
#[cfg(test)]
pub(crate) fn reference_search(
    trained: &Trained,
    vectors: &[f32],
    ids: &[i64],
    queries: &[f32],
    nprobe: usize,
    k: usize,
) -> Vec<Vec<Hit>> {
    let nq = queries.len() / trained.dim();
    let mut out_ids = vec![0i64; nq * k];
    let mut out_scores = vec![0f32; nq * k];
    bridge::reference_search(trained.model(), vectors, ids, queries, nprobe, k, &mut out_ids, &mut out_scores).unwrap();
    out_ids
        .chunks(k)
        .zip(out_scores.chunks(k))
        .map(|(ids, scores)| {
            ids.iter()
                .zip(scores)
                .filter(|(id, _)| **id >= 0)
                .map(|(id, score)| Hit { id: *id, score: *score })
                .collect()
        })
        .collect()
}
