//! Nearest neighbours by embedding: the rows whose vector is most like a row's, or like a
//! given vector, among the rows a selection keeps ([`Engine::similar`]; many vectors at once,
//! [`Engine::similar_batch`]).
//!
//! Filtering is exact: the rows a selection keeps (QUERY, `--where`, `--url`, a mention, and
//! never a hidden row) are found first, as a bitmap per block, by the same scan a count runs;
//! the k best come from those rows only (not the k best rows less those that fail). Then each
//! block is searched by its `Route`, the cheapest by a cost model (`route`):
//! - **exact** (asked for, or where the block's kept rows are few enough that scoring them
//!   all costs less than the index would; or the set has no index): every kept row's float16
//!   vector is scored, and the block's k best kept;
//! - **lists**: the block's inverted lists ([`pairscope_ann`]) are scanned for the `nprobe`
//!   lists nearest the query (found once per query, for every block; [`NPROBE`] divided by the
//!   share of the block's rows kept), with the bitmap as faiss's selector, and the block's
//!   [`RERANK`] best candidates by their compressed codes kept;
//! - **kept entries**: the same lists, but only their kept entries read: a selective filter
//!   probes many lists, almost all of whose entries it would skip. The bitmap is resolved into
//!   those entries, list by list, once per selection (`Kept::resolve`).
//!
//! An engine keeps the resolved selections it was asked for most recently, up to
//! [`KEPT_CACHE_BYTES`], so the next page or the next query of a batch with the same filter
//! skips the scan and the resolution, as faiss's callers build an ID selector once.
//!
//! The candidates of every block then compete by their approximate scores (one trained model
//! scores them all, so the scores compare); the [`RERANK`] best are scored exactly from their
//! float16 vectors and merged with the exactly scored rows; the k best of those are the answer
//! (ties by row id). A batch finds its queries' probed lists a batch at a time, as one matrix
//! product (`Plan::nearest_many`). Memory: one bit per row of each block with a kept row and
//! 4 bytes per kept row of a block read by its kept entries (and the cache's
//! [`KEPT_CACHE_BYTES`] per engine), k + [`RERANK`] candidates per block searched; vectors and
//! lists are memory-mapped and only the pages a query touches are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lru::LruCache;

use pairscope_ann::{BlockLists, KeptEntries, Probes, Query, Trained};
use pairscope_index::tantivy::{DocId, Score};
use pairscope_io::parallel;
use pairscope_model::row_id::RowId;
use pairscope_store::{VectorIndex, VectorSet};
use pairscope_vectors::store::{VectorFile, normalize};
use schemars::JsonSchema;
use serde::Serialize;

use crate::columns::SegmentColumns;
use crate::engine::{Deadline, Engine, Limits, SegmentAt, Selection, Sink};
use crate::error::{QueryError, Result};
use crate::search::{Entry, Hit};

/// The most rows a similarity query returns.
pub const MAX_K: usize = 1000;

/// The most queries one [`Engine::similar_batch`] answers (their vectors and answers are held
/// at once: 300 MiB of 768-d queries).
pub const MAX_BATCH: usize = 100_000;

/// Candidates taken from the index (per block, then of all blocks) and scored exactly (at
/// least k).
pub const RERANK: usize = 200;

/// Lists probed per query when every row is kept.
pub const NPROBE: usize = 16;

/// The most bytes of kept-row bitmaps an engine keeps for selections asked again (a 1M-row
/// block's bitmap is at most 125 KiB: every selection of a 500M-row version fits).
pub const KEPT_CACHE_BYTES: usize = 64 << 20;

/// What to compare with.
#[derive(Debug, Clone)]
pub enum SimilarTo {
    /// The vector of this row.
    Row(i64),
    /// This vector (any length but zero; normalised here).
    Vector(Vec<f32>),
}

/// A similarity query.
#[derive(Debug, Clone)]
pub struct SimilarRequest {
    /// The vector set: `image` or `text`.
    pub kind: String,
    /// What to compare with.
    pub to: SimilarTo,
    /// Which rows may be returned.
    pub selection: Selection,
    /// How many (at most [`MAX_K`]).
    pub k: usize,
    /// Score every kept row's vector instead of searching the index.
    pub exact: bool,
}

/// One similar row.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SimilarHit {
    /// Cosine similarity of its vector and the query's (float16 vectors: ±1e-3).
    pub cosine: f32,
    /// The row.
    #[serde(flatten)]
    pub hit: Hit,
}

/// The answer to a [`SimilarRequest`].
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SimilarPage {
    /// The dataset version.
    pub version: u64,
    /// The vector set searched and its model.
    pub kind: String,
    /// The model that made the vectors.
    pub model: String,
    /// Whether every kept row was scored (no index used).
    pub exact: bool,
    /// Rows the selection keeps (every row when it has no condition).
    pub kept_rows: u64,
    /// Vectors scored: by their codes in the index, and exactly.
    pub scored_approximately: u64,
    /// Vectors scored from their float16 values.
    pub scored_exactly: u64,
    /// The rows, most similar first (ties by row id).
    pub hits: Vec<SimilarHit>,
}

/// Many similarity queries of one selection, answered by row id and cosine (what the caller of
/// a batch, a script or a pipeline, wants; [`Engine::similar`] reads each hit's row for a page).
#[derive(Debug, Clone)]
pub struct SimilarBatchRequest {
    /// The vector set: `image` or `text`.
    pub kind: String,
    /// The query vectors (any length but zero; each normalised here).
    pub vectors: Vec<Vec<f32>>,
    /// Which rows may be returned.
    pub selection: Selection,
    /// How many per query (at most [`MAX_K`]).
    pub k: usize,
    /// Score every kept row's vector instead of searching the index.
    pub exact: bool,
}

/// One row of a batch's answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Neighbour {
    /// The row.
    pub row_id: i64,
    /// Cosine similarity of its vector and the query's (float16 vectors: ±1e-3).
    pub cosine: f32,
}

/// A vector set opened for queries: its blocks' vector files and index lists, by the engine's
/// block number.
pub(crate) struct OpenVectors {
    pub(crate) set: VectorSet,
    pub(crate) files: Vec<Option<VectorFile>>,
    pub(crate) index: Option<OpenIndex>,
}

pub(crate) struct OpenIndex {
    trained: Trained,
    /// Where `trained` was read from, for errors.
    trained_path: PathBuf,
    lists: Vec<Option<ListsFile>>,
}

/// A block's index lists and the file they are mapped from.
struct ListsFile {
    lists: BlockLists,
    path: PathBuf,
}

/// The open vector sets of an engine, by kind, opened on first use.
#[derive(Default)]
pub(crate) struct VectorSets(Mutex<HashMap<String, Arc<OpenVectors>>>);

/// The kept rows of the selections an engine was asked for most recently, least recently
/// used dropped first so that the bitmaps stay within [`KEPT_CACHE_BYTES`]. An engine is one
/// version with one set of hidden rows, so an entry never answers for another.
pub(crate) struct KeptCache(Mutex<KeptCacheEntries>);

struct KeptCacheEntries {
    entries: LruCache<KeptKey, Arc<Kept>>,
    bytes: usize,
}

/// A vector set's kind and a selection: what a [`Kept`] answers for.
type KeptKey = (String, Selection);

impl Default for KeptCache {
    fn default() -> KeptCache {
        KeptCache(Mutex::new(KeptCacheEntries { entries: LruCache::unbounded(), bytes: 0 }))
    }
}

impl KeptCache {
    fn get(&self, key: &KeptKey) -> Option<Arc<Kept>> {
        // A panic while the cache was held leaves it whole (each step keeps `bytes` true).
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entries.get(key).cloned()
    }

    fn put(&self, key: KeptKey, kept: Arc<Kept>) {
        let bytes = kept.heap_bytes();
        if bytes > KEPT_CACHE_BYTES {
            return;
        }
        let mut cache = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = cache.entries.put(key, kept) {
            cache.bytes -= old.heap_bytes();
        }
        cache.bytes += bytes;
        while cache.bytes > KEPT_CACHE_BYTES {
            let Some((_, dropped)) = cache.entries.pop_lru() else { break };
            cache.bytes -= dropped.heap_bytes();
        }
    }

    /// Selections kept, and their bytes.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let cache = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (cache.entries.len(), cache.bytes)
    }
}

impl Engine {
    /// The rows most similar to `request.to` among those its selection keeps.
    pub fn similar(&self, request: &SimilarRequest, limits: &Limits) -> Result<SimilarPage> {
        if request.k == 0 || request.k > MAX_K {
            return Err(QueryError::usage(format!("k must be between 1 and {MAX_K}")));
        }
        let deadline = Deadline::new(limits);
        let open = self.open_vectors(&request.kind)?;
        let query = self.query_vector(&open, &request.to)?;
        let kept = self.kept_rows(&request.selection, &open, &deadline)?;
        let plan = Plan::new(&open, &kept, request.exact, RERANK.max(request.k));
        let nearest = plan.nearest(&query, request.k, self.threads(), &deadline)?;
        let best = self.with_row_ids(&nearest)?;
        let entries: Vec<Entry> = best
            .iter()
            .map(|&(score, row_id, block, position)| {
                Entry::at(block, position as DocId, row_id, Some(f64::from(score)))
            })
            .collect();
        let hits = self.hits(&entries)?;
        Ok(SimilarPage {
            version: self.version(),
            kind: open.set.kind.clone(),
            model: open.set.model.clone(),
            exact: plan.index.is_none(),
            kept_rows: kept.count(self.rows()),
            scored_approximately: nearest.scored_approximately,
            scored_exactly: nearest.scored_exactly,
            hits: best.iter().zip(hits).map(|(&(cosine, ..), hit)| SimilarHit { cosine, hit }).collect(),
        })
    }

    /// The rows most similar to each of `request.vectors` among those its selection keeps, in
    /// the order of the vectors: as [`Engine::similar`] finds them, the queries' probed lists
    /// found a batch at a time, as one matrix product (`pairscope_ann::Trained::coarse_many`).
    pub fn similar_batch(&self, request: &SimilarBatchRequest, limits: &Limits) -> Result<Vec<Vec<Neighbour>>> {
        if request.k == 0 || request.k > MAX_K {
            return Err(QueryError::usage(format!("k must be between 1 and {MAX_K}")));
        }
        if request.vectors.len() > MAX_BATCH {
            return Err(QueryError::usage(format!(
                "{} queries: a batch holds at most {MAX_BATCH} (split the file)",
                request.vectors.len()
            )));
        }
        let deadline = Deadline::new(limits);
        let open = self.open_vectors(&request.kind)?;
        let queries = request
            .vectors
            .iter()
            .enumerate()
            .map(|(i, vector)| {
                unit_query(&open, vector.clone()).map_err(|e| QueryError::usage(format!("query {i}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let kept = self.kept_rows(&request.selection, &open, &deadline)?;
        let plan = Plan::new(&open, &kept, request.exact, RERANK.max(request.k));
        let answers = plan.nearest_many(&queries, request.k, self.threads(), &deadline)?;
        answers
            .iter()
            .map(|nearest| {
                let best = self.with_row_ids(nearest)?;
                Ok(best.into_iter().map(|(cosine, row_id, ..)| Neighbour { row_id, cosine }).collect())
            })
            .collect()
    }

    /// `nearest`'s rows as (cosine, row id, block, position), most similar first (ties by row
    /// id); the row ids read a block at a time.
    fn with_row_ids(&self, nearest: &Nearest) -> Result<Vec<(f32, i64, usize, u64)>> {
        let mut by_block = nearest.best.clone();
        by_block.sort_unstable_by_key(|&(_, block, position)| (block, position));
        let mut best: Vec<(f32, i64, usize, u64)> = Vec::with_capacity(by_block.len());
        for found in by_block.chunk_by(|a, b| a.1 == b.1) {
            let docs: Vec<DocId> = found.iter().map(|&(_, _, position)| position as DocId).collect();
            for (&(score, b, position), row_id) in found.iter().zip(self.row_ids_of(found[0].1, &docs)?) {
                best.push((score, row_id, b, position));
            }
        }
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(best)
    }

    /// The vector set `kind`, opened once per engine.
    pub(crate) fn open_vectors(&self, kind: &str) -> Result<Arc<OpenVectors>> {
        // A panic while the map was held leaves it whole (an insert is one step).
        let mut sets = self.vector_sets.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = sets.get(kind) {
            return Ok(open.clone());
        }
        let manifest = self.dataset().manifest();
        let Some(set) = manifest.vector_sets.iter().find(|s| s.kind == kind) else {
            let kinds: Vec<&str> = manifest.vector_sets.iter().map(|s| s.kind.as_str()).collect();
            return Err(QueryError::usage(if kinds.is_empty() {
                "the dataset has no vectors: attach them with `pairscope ingest -d DS --embeddings DIR`".into()
            } else {
                format!("the dataset has no {kind} vectors (it has: {})", kinds.join(", "))
            }));
        };
        let root = self.dataset().root();
        let dim = set.dim as usize;
        let blocks: Vec<(&str, u64, u64)> = manifest
            .sources
            .iter()
            .flat_map(|s| s.files.iter().map(move |f| (s.id.as_str(), f.block, f.rows)))
            .collect();
        let find = |files: &[pairscope_store::BlockFile], source: &str, block: u64| {
            files.iter().find(|f| f.source == source && f.block == block).cloned()
        };
        let mut files = Vec::with_capacity(blocks.len());
        for &(source, block, rows) in &blocks {
            files.push(match find(&set.files, source, block) {
                Some(file) => {
                    let path = root.join(&file.path);
                    Some(
                        VectorFile::open(&path, rows, dim)
                            .map_err(|e| QueryError::Vectors { path, reason: e.to_string() })?,
                    )
                }
                None => None,
            });
        }
        let index = match &set.index {
            Some(index) => Some(open_index(root, &set.kind, index, &blocks, find)?),
            None => None,
        };
        let open = Arc::new(OpenVectors { set: set.clone(), files, index });
        sets.insert(kind.to_string(), open.clone());
        Ok(open)
    }

    /// The unit query vector.
    fn query_vector(&self, open: &OpenVectors, to: &SimilarTo) -> Result<Vec<f32>> {
        let vector = match to {
            SimilarTo::Row(row_id) => self
                .locate(RowId(*row_id))?
                .and_then(|(block, doc)| open.files[block].as_ref().and_then(|file| file.vector(u64::from(doc))))
                .ok_or_else(|| QueryError::usage(format!("row {row_id} has no {} vector", open.set.kind)))?,
            SimilarTo::Vector(vector) => vector.clone(),
        };
        unit_query(open, vector)
    }

    /// The rows `selection` keeps, hidden rows never among them, ready to search `open`'s
    /// index (see [`Kept::resolve`]); from the engine's cache when asked for recently.
    pub(crate) fn kept_rows(
        &self,
        selection: &Selection,
        open: &OpenVectors,
        deadline: &Deadline,
    ) -> Result<Arc<Kept>> {
        let unconditional = selection.query.as_deref().is_none_or(|q| q.trim().is_empty())
            && selection.filter.as_deref().is_none_or(|f| f.trim().is_empty())
            && selection.url.as_deref().is_none_or(|u| u.trim().is_empty())
            && selection.aliases.is_empty();
        if unconditional && self.hidden_rows() == 0 {
            return Ok(Arc::new(Kept::All));
        }
        let key = (open.set.kind.clone(), selection.clone());
        if let Some(kept) = self.kept_cache.get(&key) {
            return Ok(kept);
        }
        let prepared = self.prepare(selection, deadline)?;
        let sink = self.scan(&prepared, false, deadline, KeptSink::default)?;
        let kept = Arc::new(Kept::resolve(sink.0, open)?);
        self.kept_cache.put(key, kept.clone());
        Ok(kept)
    }
}

/// How the queries of one request search, decided once: per block, exactly or through the
/// index and how ([`Route`]); how many candidates to score exactly.
pub(crate) struct Plan<'a> {
    open: &'a OpenVectors,
    kept: &'a Kept,
    /// `None`: every kept row is scored exactly.
    index: Option<&'a OpenIndex>,
    /// By engine block number (blocks without vectors or kept rows: [`Route::Exact`], unused).
    routes: Vec<Route>,
    /// The most lists any block probes (the block whose share of kept rows is least).
    nprobe: usize,
    /// Candidates of the index scored exactly (per block, then of all blocks).
    rerank: usize,
}

/// The nearest kept rows to one query, and the work done.
pub(crate) struct Nearest {
    /// `(cosine, block, position)`, best first (ties by block and position).
    pub best: Vec<(f32, usize, u64)>,
    pub scored_approximately: u64,
    pub scored_exactly: u64,
}

impl<'a> Plan<'a> {
    /// A plan probing [`NPROBE`] lists where every row is kept (more where fewer are, as
    /// [`Kept::resolve`] routed each block) and scoring `rerank` candidates exactly.
    pub(crate) fn new(open: &'a OpenVectors, kept: &'a Kept, exact: bool, rerank: usize) -> Plan<'a> {
        let index = open.index.as_ref().filter(|_| !exact);
        let routes: Vec<Route> = (0..open.files.len())
            .map(|b| {
                let (Some(index), Some(file)) = (index, &open.files[b]) else { return Route::Exact };
                if index.lists[b].is_none() {
                    return Route::Exact;
                }
                match kept.of_block(b) {
                    Ok(Some(block)) => block.route,
                    Ok(None) => route(None, file.rows(), Shape::of(&index.trained), NPROBE),
                    Err(NoneKept) => Route::Exact,
                }
            })
            .collect();
        let most = routes.iter().map(Route::nprobe).max().unwrap_or(0);
        Plan { open, kept, index, routes, nprobe: most, rerank }
    }

    /// The `k` kept rows nearest `query` (a unit vector), blocks searched on `threads`
    /// threads (see the module doc).
    pub(crate) fn nearest(&self, query: &[f32], k: usize, threads: usize, deadline: &Deadline) -> Result<Nearest> {
        let probes = match self.index.filter(|_| self.nprobe > 0) {
            Some(index) => Some(index.trained.coarse(query, self.nprobe).map_err(ann_error(&index.trained_path))?),
            None => None,
        };
        self.nearest_probed(query, probes.as_ref(), k, threads, deadline)
    }

    /// [`Plan::nearest`] of each of `queries` (unit vectors), on `threads` threads: the
    /// queries' probes found a batch at a time ([`Trained::coarse_many`]: one pass over the
    /// coarse centroids per batch, not per query), then each query's blocks searched on one
    /// thread. Memory: the probes of one batch per thread.
    pub(crate) fn nearest_many(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        threads: usize,
        deadline: &Deadline,
    ) -> Result<Vec<Nearest>> {
        let batch = pairscope_ann::search::COARSE_BATCH.min(queries.len().div_ceil(threads.max(1))).max(1);
        let batches = queries.len().div_ceil(batch);
        let answers = parallel::try_map(batches, threads, |i| -> Result<Vec<Nearest>> {
            let queries = &queries[i * batch..((i + 1) * batch).min(queries.len())];
            deadline.check()?;
            let probes = match self.index.filter(|_| self.nprobe > 0) {
                Some(index) => {
                    let flat: Vec<f32> = queries.iter().flatten().copied().collect();
                    index
                        .trained
                        .coarse_many(&flat, self.nprobe)
                        .map_err(ann_error(&index.trained_path))?
                        .into_iter()
                        .map(Some)
                        .collect()
                }
                None => vec![None; queries.len()],
            };
            queries
                .iter()
                .zip(&probes)
                .map(|(query, probes)| self.nearest_probed(query, probes.as_ref(), k, 1, deadline))
                .collect()
        })?;
        Ok(answers.into_iter().flatten().collect())
    }

    /// [`Plan::nearest`] with the query's probes found (`None` where no block uses the index).
    fn nearest_probed(
        &self,
        query: &[f32],
        probes: Option<&Probes>,
        k: usize,
        threads: usize,
        deadline: &Deadline,
    ) -> Result<Nearest> {
        let per_thread = parallel::try_fold(
            self.open.files.len(),
            threads,
            || (None, Vec::new()),
            |state, b| -> Result<()> {
                deadline.check()?;
                let Some(file) = &self.open.files[b] else { return Ok(()) };
                let Ok(kept) = self.kept.of_block(b) else { return Ok(()) };
                let lists = self.index.zip(probes).and_then(|(index, probes)| {
                    index.lists[b].as_ref().map(|file| BlockIndex {
                        trained: &index.trained,
                        lists: &file.lists,
                        path: &file.path,
                        probes,
                    })
                });
                let (query_state, results): &mut (Option<Query<'_>>, Vec<(usize, BlockResult)>) = state;
                results.push((b, search_block(self.routes[b], self.rerank, file, lists, query_state, query, kept, k)?));
                Ok(())
            },
        )?;
        // The index's candidates of every block compete by their approximate scores (one model
        // scores them all); the best `rerank` are scored exactly and join the exactly scored
        // rows.
        let (mut approximate, mut exactly) = (0, 0);
        let mut scored: Vec<(f32, usize, u64)> = Vec::new();
        let mut candidates: Vec<(f32, usize, u64)> = Vec::new();
        for (b, result) in per_thread.into_iter().flat_map(|(_, results)| results) {
            approximate += result.scored_approximately;
            exactly += result.scored_exactly;
            scored.extend(result.exact.into_iter().map(|(score, position)| (score, b, position)));
            candidates.extend(result.candidates.into_iter().map(|(score, position)| (score, b, position)));
        }
        let order =
            |a: &(f32, usize, u64), b: &(f32, usize, u64)| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)));
        if candidates.len() > self.rerank {
            candidates.select_nth_unstable_by(self.rerank - 1, order);
            candidates.truncate(self.rerank);
        }
        for (_, b, position) in candidates {
            if let Some(score) = self.open.files[b].as_ref().and_then(|file| file.dot(position, query)) {
                exactly += 1;
                scored.push((score, b, position));
            }
        }
        scored.sort_unstable_by(order);
        scored.truncate(k);
        Ok(Nearest { best: scored, scored_approximately: approximate, scored_exactly: exactly })
    }
}

/// `vector` as a query of `open`: checked for its dimension, made a unit vector.
fn unit_query(open: &OpenVectors, mut vector: Vec<f32>) -> Result<Vec<f32>> {
    let dim = open.set.dim as usize;
    if vector.len() != dim {
        return Err(QueryError::usage(format!(
            "a vector of {} dimensions; the dataset's {} vectors have {dim}",
            vector.len(),
            open.set.kind
        )));
    }
    normalize(&mut vector).map_err(|e| QueryError::usage(format!("the query vector: {e}")))?;
    Ok(vector)
}

fn open_index(
    root: &std::path::Path,
    kind: &str,
    index: &VectorIndex,
    blocks: &[(&str, u64, u64)],
    find: impl Fn(&[pairscope_store::BlockFile], &str, u64) -> Option<pairscope_store::BlockFile>,
) -> Result<OpenIndex> {
    let trained_path = root.join(pairscope_store::Layout::vector_model(kind, index.trained_in));
    let failed = |reason: String| QueryError::Vectors { path: trained_path.clone(), reason };
    let bytes = std::fs::read(&trained_path).map_err(|e| failed(e.to_string()))?;
    let trained = Trained::from_bytes(&bytes).map_err(|e| failed(e.to_string()))?;
    let mut lists = Vec::with_capacity(blocks.len());
    for &(source, block, _) in blocks {
        lists.push(match find(&index.lists, source, block) {
            Some(file) => {
                let path = root.join(&file.path);
                let invalid = |reason: String| QueryError::Vectors { path: path.clone(), reason };
                let handle = std::fs::File::open(&path)
                    .map_err(|e| QueryError::Vectors { path: path.clone(), reason: e.to_string() })?;
                // SAFETY: written once before the version naming it was committed, never
                // changed after (as every mapped file of a dataset).
                let map = unsafe { memmap2::Mmap::map(&handle) }
                    .map_err(|e| QueryError::Vectors { path: path.clone(), reason: e.to_string() })?;
                if map.len() as u64 != file.bytes {
                    return Err(invalid(format!("{} bytes, the manifest says {}", map.len(), file.bytes)));
                }
                let lists = BlockLists::open(map).map_err(|e| invalid(e.to_string()))?;
                if lists.nlist() != trained.nlist() || lists.len() as u64 != file.rows {
                    return Err(invalid(format!(
                        "{} lists of {} vectors; the model has {} lists and the manifest says {} vectors",
                        lists.nlist(),
                        lists.len(),
                        trained.nlist(),
                        file.rows
                    )));
                }
                Some(ListsFile { lists, path })
            }
            None => None,
        });
    }
    Ok(OpenIndex { trained, trained_path, lists })
}

/// An error of the index file at `path`, as a query error naming it.
fn ann_error(path: &Path) -> impl Fn(pairscope_ann::Error) -> QueryError + '_ {
    move |e| QueryError::Vectors { path: path.to_path_buf(), reason: e.to_string() }
}

/// The rows a selection keeps.
pub(crate) enum Kept {
    /// Every row (no condition, nothing hidden).
    All,
    /// By engine block number; blocks without a kept row are absent.
    Some(HashMap<usize, KeptBlock>),
}

/// A block of which a selection keeps no row.
#[derive(Debug)]
pub(crate) struct NoneKept;

/// One block's kept rows.
pub(crate) struct KeptBlock {
    pub(crate) bits: Bits,
    /// How the block is searched with this share of its rows kept ([`Route::Exact`] where it
    /// has no index lists).
    route: Route,
    /// The same rows as entries of the block's index lists, where its route reads them so.
    entries: Option<KeptEntries>,
}

impl Kept {
    /// The kept rows of each block ready to search `open`'s index: where a block's [`route`]
    /// gathers the kept entries of the lists it probes, those entries resolved now, once per
    /// selection (a read of the block's list ids, 8 bytes per row), rather than skipped entry
    /// by entry in every query.
    pub(crate) fn resolve(blocks: HashMap<usize, Bits>, open: &OpenVectors) -> Result<Kept> {
        let mut kept = HashMap::with_capacity(blocks.len());
        for (b, bits) in blocks {
            let (mut block_route, mut entries) = (Route::Exact, None);
            if let (Some(index), Some(file)) = (&open.index, &open.files[b])
                && let Some(lists) = &index.lists[b]
            {
                block_route = route(Some(bits.count), file.rows(), Shape::of(&index.trained), NPROBE);
                if let Route::KeptEntries { .. } = block_route {
                    entries = Some(lists.lists.kept_entries(bits.as_selector()).map_err(ann_error(&lists.path))?);
                }
            }
            kept.insert(b, KeptBlock { bits, route: block_route, entries });
        }
        Ok(Kept::Some(kept))
    }

    /// Rows kept, of `rows` in all.
    pub(crate) fn count(&self, rows: u64) -> u64 {
        match self {
            Kept::All => rows,
            Kept::Some(blocks) => blocks.values().map(|b| b.bits.count).sum(),
        }
    }

    /// The kept rows of block `b` (`Ok(None)`: all of them), or `Err(NoneKept)`.
    pub(crate) fn of_block(&self, b: usize) -> std::result::Result<Option<&KeptBlock>, NoneKept> {
        match self {
            Kept::All => Ok(None),
            Kept::Some(blocks) => blocks.get(&b).map(Some).ok_or(NoneKept),
        }
    }

    /// Bytes held, about.
    fn heap_bytes(&self) -> usize {
        match self {
            Kept::All => 0,
            Kept::Some(blocks) => blocks
                .values()
                .map(|b| b.bits.heap_bytes() + b.entries.as_ref().map_or(0, KeptEntries::heap_bytes) + 64)
                .sum(),
        }
    }
}

/// One bit per row position of a block, in the layout faiss's selector reads: bit `i & 7` of
/// byte `i >> 3`.
#[derive(Default)]
pub(crate) struct Bits {
    bytes: Vec<u8>,
    pub(crate) count: u64,
}

impl Bits {
    pub(crate) fn set(&mut self, position: u32) {
        let (byte, bit) = ((position / 8) as usize, position % 8);
        if self.bytes.len() <= byte {
            self.bytes.resize(byte + 1, 0);
        }
        if self.bytes[byte] & (1 << bit) == 0 {
            self.bytes[byte] |= 1 << bit;
            self.count += 1;
        }
    }

    /// Whether `position` is set.
    pub(crate) fn contains(&self, position: u64) -> bool {
        usize::try_from(position / 8)
            .ok()
            .and_then(|byte| self.bytes.get(byte))
            .is_some_and(|byte| byte & (1 << (position % 8)) != 0)
    }

    /// Set positions, ascending (eight bytes at a time, a set bit at a time).
    pub(crate) fn positions(&self) -> impl Iterator<Item = u64> + '_ {
        self.bytes.chunks(8).enumerate().flat_map(|(i, chunk)| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let mut word = u64::from_le_bytes(word);
            std::iter::from_fn(move || {
                (word != 0).then(|| {
                    let bit = u64::from(word.trailing_zeros());
                    word &= word - 1;
                    i as u64 * 64 + bit
                })
            })
        })
    }

    /// The bitmap as faiss's selector reads it.
    fn as_selector(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes held.
    fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

/// Collects the matching rows of every block.
#[derive(Default)]
struct KeptSink(HashMap<usize, Bits>);

impl Sink for KeptSink {
    fn take(&mut self, at: SegmentAt<'_>, _: &mut SegmentColumns<'_>, docs: &[DocId], _: &[Score]) -> Result<()> {
        // One segment per block: a document's number is its row's position in the block, as
        // in the block's vector file.
        let bits = self.0.entry(at.block).or_default();
        for &doc in docs {
            bits.set(doc);
        }
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        for (block, bits) in other.0 {
            match self.0.get_mut(&block) {
                None => {
                    self.0.insert(block, bits);
                }
                Some(mine) => {
                    for position in bits.positions() {
                        mine.set(position as u32);
                    }
                }
            }
        }
    }
}

/// One block's answer and the work done.
#[derive(Default)]
struct BlockResult {
    /// Exactly scored: (cosine, row position), the block's `k` best.
    exact: Vec<(f32, u64)>,
    /// The index's candidates: (approximate score, row position), to be scored exactly.
    candidates: Vec<(f32, u64)>,
    scored_approximately: u64,
    scored_exactly: u64,
}

/// A block's index lists, with what searching them needs.
struct BlockIndex<'a> {
    trained: &'a Trained,
    lists: &'a BlockLists,
    path: &'a Path,
    probes: &'a Probes,
}

/// One block's answer (see the module doc): its `rerank` best candidates by the index, or
/// its `k` best rows scored exactly, as `route` says. `state` is the thread's query of the
/// index, made on its first block.
#[expect(clippy::too_many_arguments, reason = "one block of one query: the plan's parts it uses, and the query's")]
fn search_block<'a>(
    route: Route,
    rerank: usize,
    file: &VectorFile,
    index: Option<BlockIndex<'a>>,
    state: &mut Option<Query<'a>>,
    query: &[f32],
    kept: Option<&KeptBlock>,
    k: usize,
) -> Result<BlockResult> {
    let mut result = BlockResult::default();
    if let Some(index) = index
        && route != Route::Exact
    {
        let searcher = match state {
            Some(searcher) => searcher,
            None => {
                state.insert(Query::new(index.trained, query, index.probes.clone()).map_err(ann_error(index.path))?)
            }
        };
        let found = match (route, kept) {
            (Route::KeptEntries { nprobe }, Some(KeptBlock { entries: Some(entries), .. })) => {
                searcher.search_kept_probing(index.lists, entries, rerank, nprobe)
            }
            (route, kept) => searcher.search_block_probing(
                index.lists,
                rerank,
                kept.map(|kept| kept.bits.as_selector()),
                route.nprobe(),
            ),
        }
        .map_err(ann_error(index.path))?;
        result.scored_approximately = found.scanned as u64;
        result.candidates = found.hits.iter().map(|hit| (hit.score, hit.id as u64)).collect();
        return Ok(result);
    }
    let positions: Box<dyn Iterator<Item = u64>> = match kept {
        Some(kept) => Box::new(kept.bits.positions()),
        None => Box::new(0..file.rows()),
    };
    let mut scored: Vec<(f32, u64)> = Vec::new();
    for position in positions {
        if let Some(score) = file.dot(position, query) {
            result.scored_exactly += 1;
            scored.push((score, position));
        }
        if scored.len() >= 4 * k.max(64) {
            keep_best(&mut scored, k);
        }
    }
    keep_best(&mut scored, k);
    result.exact = scored;
    Ok(result)
}

/// Keeps the `k` best of `scored`, best first (ties by position).
fn keep_best(scored: &mut Vec<(f32, u64)>, k: usize) {
    let order = |a: &(f32, u64), b: &(f32, u64)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, order);
        scored.truncate(k);
    }
    scored.sort_unstable_by(order);
}

/// Lists to probe when `share` of a block's rows are kept, of `nlist`, `base` when all are:
/// `base / share`, so that a filtered query sees about as many kept candidates as an
/// unfiltered one. The nearest kept rows of a selective filter lie in many more lists than the
/// query's nearest rows: at 1M vectors with 1% kept, `base / √share` (160 of 4,096 lists) found
/// 0.76 of them at recall@10, `base / share` (1,600) 0.97, at three times the time.
fn probes_for(base: usize, share: f64, nlist: usize) -> usize {
    let wanted = (base as f64 / share.max(1e-9)).ceil().min(nlist as f64);
    (wanted as usize).clamp(1, nlist.max(1))
}

/// How a block is searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Route {
    /// Every kept row's float16 vector scored.
    Exact,
    /// The `nprobe` probed lists read whole, entries the bitmap does not keep skipped.
    Lists { nprobe: usize },
    /// Only the kept entries of the `nprobe` probed lists gathered and scored (the same
    /// candidates as `Lists`; [`Kept::resolve`] finds the entries once per selection).
    KeptEntries { nprobe: usize },
}

impl Route {
    /// Lists probed (0 when exact).
    fn nprobe(&self) -> usize {
        match *self {
            Route::Exact => 0,
            Route::Lists { nprobe } | Route::KeptEntries { nprobe } => nprobe,
        }
    }
}

/// What a query's work costs, in nanoseconds of one core, measured on this 2-core machine at
/// 1M 768-d vectors with 128-byte codes (`bench_driver similar`, with and without `--exact`;
/// only their ratios matter): scoring a kept row's float16 vector, per dimension (rows of a
/// selective filter lie scattered, so each costs memory latency: 10,000 of them 9.3 ms, where
/// every row in order costs a third as much); scoring an entry of a probed list by its code,
/// per code byte; skipping an entry the filter does not keep (390,000 skipped cost 4 ms);
/// gathering a kept entry's code, per byte; starting a probed list (faiss's scanner reads the
/// list's centroid and takes its inner product with the query, scalar in Debian's build).
const EXACT_NS_PER_DIMENSION: f64 = 1.2;
const CODE_NS_PER_BYTE: f64 = 1.1;
const SKIPPED_ENTRY_NS: f64 = 10.0;
const GATHERED_NS_PER_BYTE: f64 = 0.3;
const LIST_NS: f64 = 1000.0;

/// What [`route`] weighs of an index: its lists, the vectors' dimensions, bytes per code.
#[derive(Debug, Clone, Copy)]
struct Shape {
    nlist: usize,
    dim: usize,
    code_size: usize,
}

impl Shape {
    fn of(trained: &Trained) -> Shape {
        Shape { nlist: trained.nlist(), dim: trained.dim(), code_size: trained.code_size() }
    }
}

/// The cheapest way to search a block of `rows` rows of which `kept` are kept (`None`: all,
/// unfiltered), given its index's shape and the lists an unfiltered query probes.
/// Through the index, a filter keeping a share `s` of the rows probes `base / s` lists
/// ([`probes_for`]), which hold about `rows × nprobe / nlist` entries, `s` of them kept: read
/// whole, every entry costs a skip and the kept ones a code's score; gathered, only the kept
/// ones cost, a gather and a score; either way each probed list with a kept entry costs its
/// start. Exactly, every kept row costs a float16 vector's score.
fn route(kept: Option<u64>, rows: u64, shape: Shape, base_nprobe: usize) -> Route {
    let Some(kept) = kept else {
        return if rows < 4 * RERANK as u64 { Route::Exact } else { Route::Lists { nprobe: base_nprobe } };
    };
    let (nlist, dim, code_size) = (shape.nlist, shape.dim as f64, shape.code_size as f64);
    let share = kept as f64 / rows.max(1) as f64;
    let nprobe = probes_for(base_nprobe, share, nlist);
    let probed = rows as f64 * nprobe as f64 / nlist.max(1) as f64;
    let kept_probed = share * probed;
    let lists = LIST_NS * (nprobe as f64).min(kept_probed);
    let exact = kept as f64 * EXACT_NS_PER_DIMENSION * dim;
    let whole = lists + probed * SKIPPED_ENTRY_NS + kept_probed * code_size * CODE_NS_PER_BYTE;
    let gathered = lists + kept_probed * code_size * (CODE_NS_PER_BYTE + GATHERED_NS_PER_BYTE);
    if exact <= whole.min(gathered) {
        Route::Exact
    } else if gathered < whole {
        Route::KeptEntries { nprobe }
    } else {
        Route::Lists { nprobe }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(positions: &[u32]) -> Bits {
        let mut bits = Bits::default();
        for &p in positions {
            bits.set(p);
        }
        bits
    }

    #[test]
    fn a_bitmap_gives_back_its_positions_in_order_and_in_faiss_layout() {
        let set = [0, 7, 8, 63, 64, 65, 1000, 1001, 70_000, 70_003];
        let mut shuffled = set;
        shuffled.reverse();
        let b = bits(&[&shuffled[..], &[7, 64]].concat());
        assert_eq!(b.count, set.len() as u64, "a position set twice counts once");
        assert_eq!(b.positions().collect::<Vec<_>>(), set.iter().map(|&p| u64::from(p)).collect::<Vec<_>>());
        for p in 0..70_010u64 {
            let byte = b.as_selector().get((p / 8) as usize).copied().unwrap_or(0);
            assert_eq!(b.contains(p), set.contains(&(p as u32)), "position {p}");
            assert_eq!(byte & (1 << (p % 8)) != 0, b.contains(p), "selector bit {p}");
        }
        assert_eq!(b.as_selector().len(), 70_003 / 8 + 1, "the bitmap ends at its last byte with a set bit");
    }

    #[test]
    fn a_block_is_searched_the_cheapest_way_its_kept_share_allows() {
        // LAION-5B's shape at a 1M-row block: 4,096 lists, 768 dimensions, 128-byte codes.
        let shape = Shape { nlist: 4096, dim: 768, code_size: 128 };
        let rows = 1_000_000;
        assert_eq!(route(None, rows, shape, NPROBE), Route::Lists { nprobe: NPROBE });
        assert_eq!(route(None, 500, shape, NPROBE), Route::Exact, "a tiny block is scored whole");
        // Nearly every row kept (only hidden rows gone): the lists read whole, as many probed.
        let nearly_all = route(Some(rows - 10), rows, shape, NPROBE);
        assert!(matches!(nearly_all, Route::Lists { nprobe } if nprobe <= NPROBE + 1), "{nearly_all:?}");
        // 10% and 1%: ten and a hundred times the lists, their kept entries gathered.
        assert_eq!(route(Some(rows / 10), rows, shape, NPROBE), Route::KeptEntries { nprobe: 10 * NPROBE });
        assert_eq!(route(Some(rows / 100), rows, shape, NPROBE), Route::KeptEntries { nprobe: 100 * NPROBE });
        // A few hundred rows: scoring them costs less than starting the lists they lie in.
        assert_eq!(route(Some(300), rows, shape, NPROBE), Route::Exact);
        // Whichever route, a kept share probes no more lists than there are.
        assert!(route(Some(2_000), rows, shape, NPROBE).nprobe() <= 4096);
    }

    #[test]
    fn the_kept_cache_drops_the_least_recently_used_beyond_its_bytes() {
        let selection = |i: usize| {
            ("image".to_string(), Selection { filter: Some(format!("aesthetic >= {i}")), ..Selection::default() })
        };
        let block = |bits| KeptBlock { bits, route: Route::Exact, entries: None };
        // Each entry: one block of about an eighth of the bound.
        let entry =
            || Arc::new(Kept::Some(HashMap::from([(0, block(bits(&[(KEPT_CACHE_BYTES as u32 / 8) * 8 - 1])))])));
        let each = entry().heap_bytes();
        assert!(each > KEPT_CACHE_BYTES / 8 && each < KEPT_CACHE_BYTES / 4, "{each}");
        let cache = KeptCache::default();
        let fits = KEPT_CACHE_BYTES / each;
        for i in 0..fits {
            cache.put(selection(i), entry());
        }
        assert_eq!(cache.held(), (fits, fits * each));
        assert!(cache.get(&selection(0)).is_some(), "now the most recently used");
        cache.put(selection(fits), entry());
        assert!(cache.get(&selection(1)).is_none(), "the least recently used went");
        assert!(cache.get(&selection(0)).is_some() && cache.get(&selection(fits)).is_some());
        assert_eq!(cache.held(), (fits, fits * each));
        cache.put(selection(0), entry());
        assert_eq!(cache.held(), (fits, fits * each), "a selection put again replaces its entry");

        let huge = Arc::new(Kept::Some(HashMap::from([(0, block(bits(&[KEPT_CACHE_BYTES as u32 * 8 + 7])))])));
        cache.put(selection(1000), huge);
        assert!(cache.get(&selection(1000)).is_none(), "a bitmap over the bound is not kept");
        assert_eq!(cache.held().0, fits, "and drops nothing");
    }
}
