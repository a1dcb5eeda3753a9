//! Near-duplicates ([`Engine::near_duplicates`]): groups of rows whose embeddings are alike. A
//! group is a connected component of the graph whose edges join two kept rows with cosine ≥ a
//! threshold (clip-retrieval's dedup uses [`DEFAULT_THRESHOLD`], 0.94).
//!
//! Algorithm: every kept row with a vector is a query for its [`NEIGHBOURS`] nearest kept rows,
//! searched as `similar` searches (`Plan::nearest_many`, a chunk's rows at once: the index's
//! probed lists, the best
//! [`RERANK`] candidates scored exactly from the float16 vectors, [`NPROBE`] lists probed; or
//! every kept row, `exact`).
//! Those at or above the threshold are edges. Rows are searched in parallel, in chunks of a
//! block's rows. A group larger than `NEIGHBOURS + 1` is still found whole: each row links to
//! its nearest, and identical copies (ties broken by position) all link to the same rows, so
//! the component holds together through chains of edges. The edges then join rows in a
//! union-find (petgraph's) over the rows that have one; its components are the groups, each
//! listed by row id ascending, the first being the row a dedup keeps.
//!
//! Memory: the selection's bitmaps (one bit per row of a block with a kept row), the vectors of
//! one chunk per thread (4,096 rows: 12 MiB at 768 dimensions), 16 bytes per
//! edge (each pair kept once), and about 30 bytes per row that has an edge (union-find, row
//! ids, the answer); never the vectors (memory-mapped). Time: one search per kept row — at
//! billions of rows, a job for many machines or for a selection (`--where`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pairscope_index::tantivy::DocId;
use pairscope_io::parallel;
use petgraph::unionfind::UnionFind;
use roaring::RoaringTreemap;
use schemars::JsonSchema;
use serde::Serialize;

use crate::engine::{Deadline, Engine, Limits, Selection};
use crate::error::{QueryError, Result};
use crate::similar::{Bits, Kept, OpenVectors, Plan};

/// clip-retrieval's dedup threshold: the cosine at and above which two images are one.
pub const DEFAULT_THRESHOLD: f32 = 0.94;

/// Nearest rows each row is compared with.
pub const NEIGHBOURS: usize = 16;

/// Lists probed per row where every row is kept: a near-duplicate is so near that it is
/// almost always in one of its row's few nearest lists (`similar` probes 16).
pub const NPROBE: usize = 4;

/// Candidates of the index scored exactly per row.
pub const RERANK: usize = 64;

/// Rows of a block searched as one task.
const CHUNK_ROWS: u64 = 4096;

/// A near-duplicate search.
#[derive(Debug, Clone)]
pub struct DupsRequest {
    /// The vector set: `image` or `text`.
    pub kind: String,
    /// Rows with cosine at or above this are one (in (0, 1]).
    pub threshold: f32,
    /// Which rows take part (hidden rows never do).
    pub selection: Selection,
    /// Only these row ids take part, if given (the rows a subset keeps so far).
    pub among: Option<Arc<RoaringTreemap>>,
    /// Compare every kept row with every other instead of searching the index (slow: for
    /// checking, on small selections).
    pub exact: bool,
}

/// Groups of near-duplicate rows.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NearDuplicates {
    /// The dataset version.
    pub version: u64,
    /// The vector set searched.
    pub kind: String,
    /// The model that made the vectors.
    pub model: String,
    /// The cosine at and above which rows were joined.
    pub threshold: f32,
    /// Whether every pair was compared (no index used).
    pub exact: bool,
    /// Rows searched: kept rows with a vector.
    pub rows_searched: u64,
    /// Pairs of rows found at or above the threshold.
    pub edges: u64,
    /// Vectors scored by their codes in the index, over all searches.
    pub scored_approximately: u64,
    /// Vectors scored from their float16 values, over all searches.
    pub scored_exactly: u64,
    /// The groups of two rows or more: each its row ids ascending (the first is the one a
    /// dedup keeps); the largest first, then by first row id.
    pub groups: Vec<Vec<i64>>,
}

/// Groups of one size range in [`NearDuplicates::histogram`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GroupSizes {
    /// Smallest size of the range.
    pub min: u64,
    /// Largest size of the range.
    pub max: u64,
    /// Groups of a size in the range.
    pub groups: u64,
    /// Rows in them.
    pub rows: u64,
}

impl NearDuplicates {
    /// Rows in a group.
    pub fn rows_in_groups(&self) -> u64 {
        self.groups.iter().map(|g| g.len() as u64).sum()
    }

    /// The rows a dedup removes: every row of a group but its first.
    pub fn redundant(&self) -> RoaringTreemap {
        let mut rows = RoaringTreemap::new();
        for group in &self.groups {
            for &row in &group[1..] {
                rows.insert(row as u64);
            }
        }
        rows
    }

    /// Each grouped row's group, named by its first row: `(row, first)` by row.
    pub fn first_of_group(&self) -> Vec<(i64, i64)> {
        let mut rows: Vec<(i64, i64)> =
            self.groups.iter().flat_map(|g| g.iter().map(move |&row| (row, g[0]))).collect();
        rows.sort_unstable();
        rows
    }

    /// Group sizes in powers of two: 2, 3–4, 5–8, …
    pub fn histogram(&self) -> Vec<GroupSizes> {
        let mut ranges: BTreeMap<u32, GroupSizes> = BTreeMap::new();
        for group in &self.groups {
            let size = group.len() as u64;
            let bits = 64 - (size - 1).leading_zeros();
            let range = ranges.entry(bits).or_insert(GroupSizes {
                min: (1u64 << (bits - 1)) + 1,
                max: 1u64 << bits,
                groups: 0,
                rows: 0,
            });
            range.groups += 1;
            range.rows += size;
        }
        ranges.into_values().collect()
    }
}

impl Engine {
    /// The groups of near-duplicate rows among those `request` keeps (see the module doc).
    /// `on_rows` is called with the rows searched, as chunks finish.
    pub fn near_duplicates(
        &self,
        request: &DupsRequest,
        limits: &Limits,
        on_rows: &(dyn Fn(u64) + Sync),
    ) -> Result<NearDuplicates> {
        if !(request.threshold > 0.0 && request.threshold <= 1.0) {
            return Err(QueryError::usage("the threshold must be a cosine in (0, 1]"));
        }
        let deadline = Deadline::new(limits);
        let open = self.open_vectors(&request.kind)?;
        let mut kept = self.kept_rows(&request.selection, &open, &deadline)?;
        if let Some(among) = &request.among {
            kept = Arc::new(self.kept_among(&kept, among, &open)?);
        }
        let plan = Plan::new(&open, &kept, request.exact, RERANK);
        // Chunks of kept rows: (block, first position, end position).
        let mut chunks = Vec::new();
        for (b, file) in open.files.iter().enumerate() {
            let Some(file) = file else { continue };
            if kept.of_block(b).is_err() {
                continue;
            }
            let mut start = 0;
            while start < file.rows() {
                chunks.push((b, start, (start + CHUNK_ROWS).min(file.rows())));
                start += CHUNK_ROWS;
            }
        }
        let searched = AtomicU64::new(0);
        let (scored_approximately, scored_exactly) = (AtomicU64::new(0), AtomicU64::new(0));
        let per_thread = parallel::try_fold(chunks.len(), self.threads(), Vec::new, |edges, c| -> Result<()> {
            let (b, start, end) = chunks[c];
            let Some(file) = &open.files[b] else { return Ok(()) };
            let bits = kept.of_block(b).ok().flatten().map(|block| &block.bits);
            let (mut positions, mut queries) = (Vec::new(), Vec::new());
            for position in start..end {
                if bits.is_some_and(|bits| !bits.contains(position)) {
                    continue;
                }
                let Some(query) = file.vector(position) else { continue };
                positions.push(position);
                queries.push(query);
            }
            let rows = positions.len() as u64;
            for (position, nearest) in
                positions.into_iter().zip(plan.nearest_many(&queries, NEIGHBOURS + 1, 1, &deadline)?)
            {
                scored_approximately.fetch_add(nearest.scored_approximately, Ordering::Relaxed);
                scored_exactly.fetch_add(nearest.scored_exactly, Ordering::Relaxed);
                for (cosine, other_block, other) in nearest.best {
                    let (me, them) = ((b, position), (other_block, other));
                    if cosine >= request.threshold && me != them {
                        edges.push(if me < them { (me, them) } else { (them, me) });
                    }
                }
            }
            searched.fetch_add(rows, Ordering::Relaxed);
            on_rows(rows);
            Ok(())
        })?;
        let mut edges: Vec<((usize, u64), (usize, u64))> = per_thread.into_iter().flatten().collect();
        edges.sort_unstable();
        edges.dedup();
        // The rows with an edge, numbered densely for the union-find.
        let mut nodes: Vec<(usize, u64)> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let number = |node: &(usize, u64)| nodes.binary_search(node).unwrap_or_default();
        let mut union = UnionFind::<usize>::new(nodes.len());
        for (a, b) in &edges {
            union.union(number(a), number(b));
        }
        // Row ids read a block at a time (the nodes are in block order).
        let mut row_ids = Vec::with_capacity(nodes.len());
        for found in nodes.chunk_by(|a, b| a.0 == b.0) {
            let docs: Vec<DocId> = found.iter().map(|&(_, position)| position as DocId).collect();
            row_ids.extend(self.row_ids_of(found[0].0, &docs)?);
        }
        let mut groups: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for (node, label) in union.into_labeling().into_iter().enumerate() {
            groups.entry(label).or_default().push(row_ids[node]);
        }
        let mut groups: Vec<Vec<i64>> = groups.into_values().collect();
        for group in &mut groups {
            group.sort_unstable();
        }
        groups.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
        Ok(NearDuplicates {
            version: self.version(),
            kind: open.set.kind.clone(),
            model: open.set.model.clone(),
            threshold: request.threshold,
            exact: request.exact || open.index.is_none(),
            rows_searched: searched.into_inner(),
            edges: edges.len() as u64,
            scored_approximately: scored_approximately.into_inner(),
            scored_exactly: scored_exactly.into_inner(),
            groups,
        })
    }

    /// The rows of `kept` whose row id `among` holds.
    fn kept_among(&self, kept: &Kept, among: &RoaringTreemap, open: &OpenVectors) -> Result<Kept> {
        let mut out = std::collections::HashMap::new();
        for (b, file) in open.files.iter().enumerate() {
            let Some(file) = file else { continue };
            let positions: Vec<u64> = match kept.of_block(b) {
                Ok(None) => (0..file.rows()).collect(),
                Ok(Some(block)) => block.bits.positions().collect(),
                Err(_) => continue,
            };
            let docs: Vec<DocId> = positions.iter().map(|&p| p as DocId).collect();
            let mut bits = Bits::default();
            for (position, row_id) in positions.into_iter().zip(self.row_ids_of(b, &docs)?) {
                if among.contains(row_id as u64) {
                    bits.set(position as u32);
                }
            }
            if bits.count > 0 {
                out.insert(b, bits);
            }
        }
        Kept::resolve(out, open)
    }
}
