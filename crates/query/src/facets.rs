//! Exact facets over the rows a selection matches: top values of a keyword or flag column,
//! and fixed-edge histograms of a numeric one.
//!
//! Term counts are kept per segment by term ordinal and turned into values only at the end,
//! then summed by value across segments: the result equals a `GROUP BY` (nothing is
//! approximated across segments). Histogram buckets are `[lo + i·w, lo + (i+1)·w)` with
//! `w = (hi − lo) / K`, plus a bucket below `lo`, one at or above `hi`, and one for nulls.

use std::collections::HashMap;

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, Int32Type};
use pairscope_index::schema::{BOOL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, KEYWORD_COLUMNS};
use pairscope_index::tantivy::{DocId, Score};
use serde::Serialize;

use crate::columns::{SegmentColumns, static_name};
use crate::engine::{Deadline, Engine, Limits, SegmentAt, Selection, Sink};
use crate::error::{QueryError, Result};

/// Most values a term facet lists.
pub const MAX_TOP: usize = 10_000;
/// Most buckets a histogram has.
pub const MAX_BUCKETS: usize = 1_000;

/// What to count by.
#[derive(Debug, Clone, PartialEq)]
pub enum FacetBy {
    /// The `top` most frequent values of a keyword or flag column.
    Terms { column: String, top: usize },
    /// A histogram of a numeric column; `range` defaults to [`default_range`].
    Histogram { column: String, buckets: usize, range: Option<(f64, f64)> },
}

impl FacetBy {
    /// Terms for keyword and flag columns, a histogram for numeric ones.
    pub fn for_column(column: &str, top: usize, buckets: usize, range: Option<(f64, f64)>) -> Result<FacetBy> {
        if KEYWORD_COLUMNS.contains(&column) || BOOL_COLUMNS.contains(&column) {
            Ok(FacetBy::Terms { column: column.to_string(), top })
        } else if INT_COLUMNS.contains(&column) || FLOAT_COLUMNS.contains(&column) {
            Ok(FacetBy::Histogram { column: column.to_string(), buckets, range })
        } else {
            let all: Vec<&str> =
                KEYWORD_COLUMNS.iter().chain(BOOL_COLUMNS).chain(INT_COLUMNS).chain(FLOAT_COLUMNS).copied().collect();
            Err(QueryError::usage(format!("cannot facet by {column:?}; choose one of {}", all.join(", "))))
        }
    }
}

/// The fixed range of a column's histogram unless one is given.
pub fn default_range(column: &str) -> (f64, f64) {
    match column {
        "aesthetic" => (0.0, 10.0),
        "width" | "height" => (0.0, 4096.0),
        "similarity" => (0.0, 0.5),
        _ => (0.0, 1.0),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Facet {
    Terms {
        column: String,
        /// (value, rows), most rows first, ties by value.
        values: Vec<(String, u64)>,
        /// Rows whose value is null.
        null: u64,
        /// Distinct non-null values among the matching rows.
        distinct: u64,
        /// Matching rows.
        total: u64,
    },
    Histogram {
        column: String,
        buckets: Vec<Bucket>,
        below: u64,
        above: u64,
        null: u64,
        total: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Inclusive.
    pub lo: f64,
    /// Exclusive.
    pub hi: f64,
    pub count: u64,
}

struct TermSink {
    column: &'static str,
    /// Counts by (block, segment) and term ordinal; the last slot counts nulls.
    counts: HashMap<(usize, usize), Vec<u64>>,
    total: u64,
}

impl Sink for TermSink {
    fn take(&mut self, at: SegmentAt<'_>, columns: &mut SegmentColumns<'_>, docs: &[DocId], _: &[Score]) -> Result<()> {
        self.total += docs.len() as u64;
        if BOOL_COLUMNS.contains(&self.column) {
            let array = columns.array(self.column, docs)?;
            let counts = self.counts.entry((at.block, at.ord)).or_insert_with(|| vec![0; 3]);
            for value in array.as_boolean().iter() {
                counts[match value {
                    Some(false) => 0,
                    Some(true) => 1,
                    None => 2,
                }] += 1;
            }
            return Ok(());
        }
        let column = columns.str_column(self.column)?;
        let terms = column.num_terms();
        let counts = self.counts.entry((at.block, at.ord)).or_insert_with(|| vec![0; terms + 1]);
        let mut ords = vec![None; docs.len()];
        column.ords().first_vals(docs, &mut ords);
        for ord in ords {
            counts[ord.map_or(terms, |o| o as usize)] += 1;
        }
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        self.total += other.total;
        self.counts.extend(other.counts);
    }
}

struct HistogramSink {
    column: &'static str,
    edges: Vec<f64>,
    /// below, buckets…, above, null.
    counts: Vec<u64>,
}

impl Sink for HistogramSink {
    fn take(&mut self, _: SegmentAt<'_>, columns: &mut SegmentColumns<'_>, docs: &[DocId], _: &[Score]) -> Result<()> {
        let array = columns.array(self.column, docs)?;
        let values: Vec<Option<f64>> = match array.as_primitive_opt::<Float64Type>() {
            Some(floats) => floats.iter().collect(),
            None => array.as_primitive::<Int32Type>().iter().map(|v| v.map(f64::from)).collect(),
        };
        let null = self.counts.len() - 1;
        for value in values {
            // partition_point: how many edges are ≤ value, i.e. 0 below lo, K+1 at or above hi.
            let slot = value.map_or(null, |v| self.edges.partition_point(|&edge| edge <= v));
            self.counts[slot] += 1;
        }
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }
}

impl Engine {
    /// A facet of the rows `selection` matches (the whole dataset when it is empty).
    pub fn facets(&self, selection: &Selection, by: &FacetBy, limits: &Limits) -> Result<Facet> {
        let deadline = Deadline::new(limits);
        let prepared = self.prepare(selection, &deadline)?;
        match by {
            FacetBy::Terms { column, top } => {
                let name =
                    static_name(column).ok_or_else(|| QueryError::usage(format!("cannot facet by {column:?}")))?;
                if *top == 0 || *top > MAX_TOP {
                    return Err(QueryError::usage(format!("--top must be between 1 and {MAX_TOP}")));
                }
                let sink = self.scan(&prepared, false, &deadline, || TermSink {
                    column: name,
                    counts: HashMap::new(),
                    total: 0,
                })?;
                self.term_facet(sink, *top, &deadline)
            }
            FacetBy::Histogram { column, buckets, range } => {
                let name =
                    static_name(column).ok_or_else(|| QueryError::usage(format!("cannot facet by {column:?}")))?;
                if *buckets == 0 || *buckets > MAX_BUCKETS {
                    return Err(QueryError::usage(format!("--buckets must be between 1 and {MAX_BUCKETS}")));
                }
                let (lo, hi) = range.unwrap_or_else(|| default_range(name));
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(QueryError::usage(format!("the histogram range [{lo}, {hi}) is empty")));
                }
                let edges: Vec<f64> = (0..=*buckets).map(|i| lo + (hi - lo) * i as f64 / *buckets as f64).collect();
                let slots = edges.len() + 2;
                let sink = self.scan(&prepared, false, &deadline, || HistogramSink {
                    column: name,
                    edges: edges.clone(),
                    counts: vec![0; slots],
                })?;
                let counts = sink.counts;
                Ok(Facet::Histogram {
                    column: column.clone(),
                    buckets: edges
                        .windows(2)
                        .zip(&counts[1..])
                        .map(|(w, &count)| Bucket { lo: w[0], hi: w[1], count })
                        .collect(),
                    below: counts[0],
                    above: counts[slots - 2],
                    null: counts[slots - 1],
                    total: counts.iter().sum(),
                })
            }
        }
    }

    fn term_facet(&self, sink: TermSink, top: usize, deadline: &Deadline) -> Result<Facet> {
        let mut by_value: HashMap<String, u64> = HashMap::new();
        let mut null = 0;
        for ((block, ord), counts) in &sink.counts {
            deadline.check()?;
            let (last, values) = counts.split_last().expect("a null slot");
            null += last;
            if BOOL_COLUMNS.contains(&sink.column) {
                for (value, &n) in ["false", "true"].iter().zip(values) {
                    if n > 0 {
                        *by_value.entry(value.to_string()).or_insert(0) += n;
                    }
                }
                continue;
            }
            let segment = self.blocks[*block].index.searcher().segment_reader(*ord as u32);
            let mut columns = SegmentColumns::new(segment);
            let seen = values.iter().filter(|&&n| n > 0).count();
            // Few values seen (a narrow query): look each up; many: read the dictionary once.
            if seen < values.len() / 16 {
                let column = columns.str_column(sink.column)?;
                let mut value = String::new();
                for (i, &n) in values.iter().enumerate().filter(|(_, n)| **n > 0) {
                    column.ord_to_str(i as u64, &mut value).map_err(QueryError::io)?;
                    *by_value.entry(value.clone()).or_insert(0) += n;
                }
            } else {
                let (_, terms) = columns.str(sink.column)?;
                for (i, &n) in values.iter().enumerate().filter(|(_, n)| **n > 0) {
                    *by_value.entry(terms.value(i).to_string()).or_insert(0) += n;
                }
            }
        }
        let distinct = by_value.len() as u64;
        let mut values: Vec<(String, u64)> = by_value.into_iter().collect();
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        values.truncate(top);
        Ok(Facet::Terms { column: sink.column.to_string(), values, null, distinct, total: sink.total })
    }
}
