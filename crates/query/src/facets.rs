//! Exact facets over the rows a selection matches: top values of a keyword or flag column,
//! and fixed-edge histograms of a numeric one.
//!
//! Term counts are kept by global ordinal (`crate::ordinals`: every segment's term ordinals
//! mapped to one numbering of the distinct values of all segments), so they add up by value
//! across segments; only the values listed are read: the result equals a `GROUP BY` (nothing
//! is approximated across segments). Histogram buckets are `[lo + i·w, lo + (i+1)·w)` with
//! `w = (hi − lo) / K`, plus a bucket below `lo`, one at or above `hi`, and one for nulls.

use std::sync::Arc;

use pairscope_index::schema::{FLOAT_COLUMNS, KEYWORD_COLUMNS};
use pairscope_index::tantivy::{DocId, Score};
use pairscope_io::parallel;
use pairscope_model::{ColumnKind, FacetRole, Registry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::columns::{SegmentColumns, static_name};
use crate::engine::{Deadline, Engine, Limits, SegmentAt, Selection, Sink};
use crate::error::{QueryError, Result};
use crate::ordinals::GlobalOrds;

/// Most values a term facet lists.
pub const MAX_TOP: usize = 10_000;
/// Most buckets a histogram has.
pub const MAX_BUCKETS: usize = 1_000;

/// What to count by.
#[derive(Debug, Clone, PartialEq)]
pub enum FacetBy {
    /// The `top` most frequent values of a keyword or flag column.
    Terms {
        /// The column's name.
        column: String,
        /// How many values to list, at most [`MAX_TOP`].
        top: usize,
    },
    /// A histogram of a numeric column; `range` defaults to the column's
    /// ([`Registry::histogram_range`]).
    Histogram {
        /// The column's name.
        column: String,
        /// How many buckets between the edges, at most [`MAX_BUCKETS`].
        buckets: usize,
        /// The lower edge (included) and upper edge (excluded) of the buckets; `None`: the
        /// column's default.
        range: Option<(f64, f64)>,
    },
}

impl FacetBy {
    /// Terms or a histogram of a canonical column, as its facet role says.
    pub fn for_column(column: &str, top: usize, buckets: usize, range: Option<(f64, f64)>) -> Result<FacetBy> {
        FacetBy::for_column_in(Registry::CANONICAL, column, top, buckets, range)
    }

    /// Terms or a histogram of a column of `registry`, as its facet role says.
    pub fn for_column_in(
        registry: Registry,
        column: &str,
        top: usize,
        buckets: usize,
        range: Option<(f64, f64)>,
    ) -> Result<FacetBy> {
        match registry.get(column).and_then(|c| c.roles.facet) {
            Some(FacetRole::Terms) => Ok(FacetBy::Terms { column: column.to_string(), top }),
            Some(FacetRole::Histogram { .. }) => Ok(FacetBy::Histogram { column: column.to_string(), buckets, range }),
            None => {
                let all: Vec<&str> = registry.facets().map(|(c, _)| c.name).collect();
                Err(QueryError::usage(format!("cannot facet by {column:?}; choose one of {}", all.join(", "))))
            }
        }
    }
}

/// One value of a term facet and the matching rows that have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TermCount {
    /// The value (`true` or `false` for a flag).
    pub value: String,
    /// Matching rows with this value.
    pub rows: u64,
}

/// The counts of one facet over the rows a selection matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Facet {
    /// The most frequent values of a keyword or flag column.
    Terms {
        /// The column counted.
        column: String,
        /// Most rows first, ties by value.
        values: Vec<TermCount>,
        /// Rows whose value is null.
        null: u64,
        /// Distinct non-null values among the matching rows.
        distinct: u64,
        /// Matching rows.
        total: u64,
    },
    /// A histogram of a numeric column.
    Histogram {
        /// The column counted.
        column: String,
        /// The buckets, lowest first, all of one width.
        buckets: Vec<Bucket>,
        /// Rows whose value is below the first bucket.
        below: u64,
        /// Rows whose value is at or above the end of the last bucket.
        above: u64,
        /// Rows whose value is null.
        null: u64,
        /// Matching rows.
        total: u64,
    },
}

impl Facet {
    /// The matching rows the facet counted.
    pub fn total(&self) -> u64 {
        match self {
            Facet::Terms { total, .. } | Facet::Histogram { total, .. } => *total,
        }
    }
}

/// One bucket of a histogram: `[lo, hi)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bucket {
    /// Inclusive.
    pub lo: f64,
    /// Exclusive.
    pub hi: f64,
    /// Matching rows whose value is in the bucket.
    pub count: u64,
}

/// Term counts by global ordinal, the null slot last (at `terms`).
pub(crate) enum TermCounts {
    /// The global ordinal of each document counted so far: while they are few next to the
    /// distinct values, a list is smaller than an array of every value's count.
    Sparse(Vec<u32>),
    Dense(Vec<u64>),
}

impl TermCounts {
    fn add(&mut self, terms: usize, globals: impl Iterator<Item = u32>) {
        match self {
            TermCounts::Sparse(list) => {
                list.extend(globals);
                if list.len() > (terms + 1) / 4 {
                    let mut dense = vec![0; terms + 1];
                    for &g in list.iter() {
                        dense[g as usize] += 1;
                    }
                    *self = TermCounts::Dense(dense);
                }
            }
            TermCounts::Dense(counts) => {
                for g in globals {
                    counts[g as usize] += 1;
                }
            }
        }
    }

    fn merge(&mut self, terms: usize, other: TermCounts) {
        match (&mut *self, other) {
            (TermCounts::Dense(a), TermCounts::Dense(b)) => {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            }
            (_, TermCounts::Sparse(list)) => self.add(terms, list.into_iter()),
            (TermCounts::Sparse(list), dense @ TermCounts::Dense(_)) => {
                let list = std::mem::take(list);
                *self = dense;
                self.add(terms, list.into_iter());
            }
        }
    }

    /// (count, global ordinal) of every value counted, and the null count.
    fn seen(self, terms: usize) -> (Vec<(u64, u32)>, u64) {
        match self {
            TermCounts::Dense(counts) => {
                let (values, null) = counts.split_at(terms);
                let seen = values.iter().enumerate().filter(|(_, n)| **n > 0).map(|(g, &n)| (n, g as u32)).collect();
                (seen, null[0])
            }
            TermCounts::Sparse(mut list) => {
                list.sort_unstable();
                let mut seen: Vec<(u64, u32)> = Vec::new();
                let mut null = 0;
                for run in list.chunk_by(|a, b| a == b) {
                    if run[0] as usize == terms {
                        null = run.len() as u64;
                    } else {
                        seen.push((run.len() as u64, run[0]));
                    }
                }
                (seen, null)
            }
        }
    }
}

/// One facet's counts over the documents of a scan; several can share one scan.
pub(crate) enum Counter {
    Terms {
        column: &'static str,
        top: usize,
        ords: Arc<GlobalOrds>,
        counts: TermCounts,
        /// The batch's term ordinals (reused from batch to batch).
        local: Vec<Option<u64>>,
    },
    /// A flag column: false, true, null.
    Flags { column: &'static str, top: usize, counts: [u64; 3], values: Vec<Option<bool>> },
    Histogram {
        column: &'static str,
        edges: Arc<[f64]>,
        /// below, buckets…, above, null.
        counts: Vec<u64>,
        values: Vec<Option<f64>>,
        ints: Vec<Option<i64>>,
    },
}

impl Counter {
    /// An empty counter for `by`, its parameters checked.
    pub fn new(engine: &Engine, by: &FacetBy) -> Result<Counter> {
        match by {
            FacetBy::Terms { column, top } => {
                let name =
                    static_name(column).ok_or_else(|| QueryError::usage(format!("cannot facet by {column:?}")))?;
                if *top == 0 || *top > MAX_TOP {
                    return Err(QueryError::usage(format!("--top must be between 1 and {MAX_TOP}")));
                }
                let canonical = Registry::CANONICAL.get(name).filter(|c| c.roles.facet == Some(FacetRole::Terms));
                match canonical.map(|c| c.kind) {
                    Some(ColumnKind::Bool) => {
                        return Ok(Counter::Flags { column: name, top: *top, counts: [0; 3], values: Vec::new() });
                    }
                    Some(ColumnKind::Text) if KEYWORD_COLUMNS.contains(&name) => {}
                    _ => return Err(QueryError::usage(format!("cannot facet by {column:?} as terms"))),
                }
                Ok(Counter::Terms {
                    column: name,
                    top: *top,
                    ords: engine.global_ords(name)?,
                    counts: TermCounts::Sparse(Vec::new()),
                    local: Vec::new(),
                })
            }
            FacetBy::Histogram { column, buckets, range } => {
                let name =
                    static_name(column).ok_or_else(|| QueryError::usage(format!("cannot facet by {column:?}")))?;
                let Some(default) = Registry::CANONICAL.histogram_range(name) else {
                    return Err(QueryError::usage(format!("cannot make a histogram of {column:?}")));
                };
                if *buckets == 0 || *buckets > MAX_BUCKETS {
                    return Err(QueryError::usage(format!("--buckets must be between 1 and {MAX_BUCKETS}")));
                }
                let (lo, hi) = range.unwrap_or(default);
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(QueryError::usage(format!("the histogram range [{lo}, {hi}) is empty")));
                }
                let edges: Arc<[f64]> = (0..=*buckets).map(|i| lo + (hi - lo) * i as f64 / *buckets as f64).collect();
                let slots = edges.len() + 2;
                Ok(Counter::Histogram {
                    column: name,
                    edges,
                    counts: vec![0; slots],
                    values: Vec::new(),
                    ints: Vec::new(),
                })
            }
        }
    }

    /// A counter like this one with nothing counted (one per scanning thread).
    pub fn fresh(&self) -> Counter {
        match self {
            Counter::Terms { column, top, ords, .. } => Counter::Terms {
                column,
                top: *top,
                ords: ords.clone(),
                counts: TermCounts::Sparse(Vec::new()),
                local: Vec::new(),
            },
            Counter::Flags { column, top, .. } => {
                Counter::Flags { column, top: *top, counts: [0; 3], values: Vec::new() }
            }
            Counter::Histogram { column, edges, counts, .. } => Counter::Histogram {
                column,
                edges: edges.clone(),
                counts: vec![0; counts.len()],
                values: Vec::new(),
                ints: Vec::new(),
            },
        }
    }

    pub fn take(&mut self, at: SegmentAt<'_>, columns: &mut SegmentColumns<'_>, docs: &[DocId]) -> Result<()> {
        match self {
            Counter::Terms { ords, counts, local, .. } => {
                let (column, map) = ords.segment(at.block, at.ord);
                local.clear();
                local.resize(docs.len(), None);
                column.ords().first_vals(docs, local);
                let terms = ords.terms();
                counts.add(terms, local.iter().map(|o| o.map_or(terms as u32, |o| map[o as usize])));
            }
            Counter::Flags { column, counts, values, .. } => {
                values.clear();
                values.resize(docs.len(), None);
                columns.bool(column)?.first_vals(docs, values);
                for value in values.iter() {
                    counts[match value {
                        Some(false) => 0,
                        Some(true) => 1,
                        None => 2,
                    }] += 1;
                }
            }
            Counter::Histogram { column, edges, counts, values, ints } => {
                let column: &'static str = column;
                values.clear();
                if FLOAT_COLUMNS.contains(&column) {
                    values.resize(docs.len(), None);
                    columns.f64(column)?.first_vals(docs, values);
                } else {
                    ints.clear();
                    ints.resize(docs.len(), None);
                    columns.i64(column)?.first_vals(docs, ints);
                    // As the filter language sees them: int32.
                    values.extend(ints.iter().map(|v| v.and_then(|v| i32::try_from(v).ok()).map(f64::from)));
                }
                let null = counts.len() - 1;
                for value in values.iter() {
                    counts[value.map_or(null, |v| slot(edges, v))] += 1;
                }
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: Counter) {
        match (self, other) {
            (Counter::Terms { ords, counts, .. }, Counter::Terms { counts: theirs, .. }) => {
                counts.merge(ords.terms(), theirs);
            }
            (Counter::Flags { counts, .. }, Counter::Flags { counts: theirs, .. }) => {
                for (a, b) in counts.iter_mut().zip(theirs) {
                    *a += b;
                }
            }
            (Counter::Histogram { counts, .. }, Counter::Histogram { counts: theirs, .. }) => {
                for (a, b) in counts.iter_mut().zip(theirs) {
                    *a += b;
                }
            }
            _ => unreachable!("counters of one facet are alike"),
        }
    }

    /// The facet of `total` matching rows.
    pub fn finish(self, total: u64, deadline: &Deadline) -> Result<Facet> {
        deadline.check()?;
        Ok(match self {
            Counter::Terms { column, top, ords, counts, .. } => {
                let (mut seen, null) = counts.seen(ords.terms());
                let distinct = seen.len() as u64;
                // Most rows first, ties by value (global ordinals are in value order).
                let first = |a: &(u64, u32), b: &(u64, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
                if seen.len() > top {
                    seen.select_nth_unstable_by(top - 1, first);
                    seen.truncate(top);
                }
                seen.sort_unstable_by(first);
                let globals: Vec<u32> = seen.iter().map(|s| s.1).collect();
                deadline.check()?;
                let values = ords
                    .values(&globals)?
                    .into_iter()
                    .zip(seen)
                    .map(|(value, (rows, _))| TermCount { value, rows })
                    .collect();
                Facet::Terms { column: column.to_string(), values, null, distinct, total }
            }
            Counter::Flags { column, top, counts, .. } => {
                let mut values: Vec<TermCount> = ["false", "true"]
                    .iter()
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .map(|(v, rows)| TermCount { value: v.to_string(), rows })
                    .collect();
                values.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.value.cmp(&b.value)));
                let distinct = values.len() as u64;
                values.truncate(top);
                Facet::Terms { column: column.to_string(), values, null: counts[2], distinct, total }
            }
            Counter::Histogram { column, edges, counts, .. } => {
                let slots = counts.len();
                Facet::Histogram {
                    column: column.to_string(),
                    buckets: edges
                        .windows(2)
                        .zip(&counts[1..])
                        .map(|(w, &count)| Bucket { lo: w[0], hi: w[1], count })
                        .collect(),
                    below: counts[0],
                    above: counts[slots - 2],
                    null: counts[slots - 1],
                    total: counts.iter().sum(),
                }
            }
        })
    }
}

/// How many of `edges` (ascending) are ≤ `v`: 0 below the first, `edges.len()` at or above
/// the last. Computed from the bucket width, then settled against the edges themselves, so
/// it is exactly the binary search's answer.
fn slot(edges: &[f64], v: f64) -> usize {
    let (lo, hi) = (edges[0], edges[edges.len() - 1]);
    let scaled = (v - lo) / (hi - lo) * (edges.len() - 1) as f64;
    // `as` truncates (the floor, for these) and saturates; NaN and values below stay at 0.
    let mut slot = if scaled > 0.0 { (scaled as usize).saturating_add(1).min(edges.len()) } else { 0 };
    while slot > 0 && edges[slot - 1] > v {
        slot -= 1;
    }
    while slot < edges.len() && edges[slot] <= v {
        slot += 1;
    }
    slot
}

/// One facet over a scan.
struct FacetSink {
    counter: Counter,
    total: u64,
}

impl Sink for FacetSink {
    fn take(&mut self, at: SegmentAt<'_>, columns: &mut SegmentColumns<'_>, docs: &[DocId], _: &[Score]) -> Result<()> {
        self.total += docs.len() as u64;
        self.counter.take(at, columns, docs)
    }

    fn merge(&mut self, other: Self) {
        self.total += other.total;
        self.counter.merge(other.counter);
    }
}

impl Engine {
    /// A facet of the rows `selection` matches (the whole dataset when it is empty).
    pub fn facets(&self, selection: &Selection, by: &FacetBy, limits: &Limits) -> Result<Facet> {
        let deadline = Deadline::new(limits);
        let prepared = self.prepare(selection, &deadline)?;
        let counter = Counter::new(self, by)?;
        let sink = self.scan(&prepared, false, &deadline, || FacetSink { counter: counter.fresh(), total: 0 })?;
        sink.counter.finish(sink.total, &deadline)
    }

    /// The facet `by` of each selection, in order: many small facets (one per name of a list,
    /// `pairscope mentions --by`) spread over the cores like [`Engine::count_each`]'s counts,
    /// each on one thread. The deadline covers them all.
    pub fn facets_each(&self, selections: &[Selection], by: &FacetBy, limits: &Limits) -> Result<Vec<Facet>> {
        let deadline = Deadline::new(limits);
        let counter = Counter::new(self, by)?;
        parallel::try_map(selections.len(), self.threads(), |i| {
            let prepared = self.prepare(&selections[i], &deadline)?;
            let new_sink = || FacetSink { counter: counter.fresh(), total: 0 };
            let sink = self.scan_on(&prepared, false, &deadline, new_sink, 1)?;
            sink.counter.finish(sink.total, &deadline)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_equal_the_binary_search() {
        for (lo, hi, k) in [(0.0, 10.0, 20), (0.0, 0.5, 7), (0.0, 4096.0, 1000), (-3.0, 0.1, 3)] {
            let edges: Vec<f64> = (0..=k).map(|i| lo + (hi - lo) * i as f64 / k as f64).collect();
            let mut values: Vec<f64> = edges.clone();
            values.extend(edges.iter().flat_map(|&e| [e.next_down(), e.next_up()]));
            values.extend([f64::NEG_INFINITY, f64::INFINITY, f64::NAN, -1e300, 1e300, lo - 1.0, hi + 1.0]);
            values.extend((0..1000).map(|i| lo + (hi - lo) * (i as f64 / 997.0) * 1.2 - (hi - lo) * 0.1));
            for v in values {
                assert_eq!(slot(&edges, v), edges.partition_point(|&e| e <= v), "{v} in [{lo}, {hi}) / {k}");
            }
        }
    }

    #[test]
    fn sparse_and_dense_term_counts_agree() {
        let terms = 40;
        let globals: Vec<u32> = (0..500u32).map(|i| (i * 7919) % (terms as u32 + 1)).collect();
        let mut dense = TermCounts::Dense(vec![0; terms + 1]);
        dense.add(terms, globals.iter().copied());
        let mut parts = TermCounts::Sparse(Vec::new());
        parts.add(terms, globals[..3].iter().copied());
        let mut rest = TermCounts::Sparse(Vec::new());
        rest.add(terms, globals[3..].iter().copied());
        parts.merge(terms, rest);
        let mut few = TermCounts::Sparse(Vec::new());
        few.add(terms, globals[..5].iter().copied());
        let mut many = TermCounts::Sparse(Vec::new());
        many.add(terms, globals[5..].iter().copied());
        few.merge(terms, many);
        let expected = dense.seen(terms);
        assert_eq!(parts.seen(terms), expected);
        assert_eq!(few.seen(terms), expected);
    }
}
