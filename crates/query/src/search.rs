//! `search` (a sorted page of hits with a cursor), `count`, and `get` (one row by id).

use std::cmp::Ordering;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use pairscope_index::tantivy::query::{EnableScoring, Query, Scorer, TermQuery, Weight};
use pairscope_index::tantivy::{DocId, DocSet, Score};
use pairscope_io::parallel;
use pairscope_model::{ColumnKind, Registry, RowId};
use schemars::JsonSchema;
use serde::Serialize;

use crate::columns::SegmentColumns;
use crate::engine::{Deadline, Engine, Limits, Prepared, SegmentAt, Selection, Sink};
use crate::error::{QueryError, Result};

/// The largest page a search returns.
pub const MAX_LIMIT: usize = 1000;

/// What results are ordered by: relevance, or a sortable column of the registry (resolved
/// once, when the request is made: a scan compares the kind it carries, never a name). Ties
/// are broken by row id, ascending; rows without the sort value come last whatever the
/// direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// The query's relevance (BM25) score.
    Relevance,
    /// A sortable column's values.
    Column {
        /// The column's name.
        name: &'static str,
        /// Its kind, which says which fast field to read.
        kind: ColumnKind,
    },
}

impl SortBy {
    const RELEVANCE: &'static str = "relevance";

    /// The name [`SortBy::parse`] reads: `relevance` or the column's.
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Relevance => SortBy::RELEVANCE,
            SortBy::Column { name, .. } => name,
        }
    }

    /// The order `name` names among the canonical columns.
    pub fn parse(name: &str) -> Option<SortBy> {
        SortBy::parse_in(Registry::CANONICAL, name)
    }

    /// The order `name` names: `relevance` or a sortable column of `registry`.
    pub fn parse_in(registry: Registry, name: &str) -> Option<SortBy> {
        if name == SortBy::RELEVANCE {
            return Some(SortBy::Relevance);
        }
        registry.sortable().find(|c| c.name == name).map(|c| SortBy::Column { name: c.name, kind: c.kind })
    }

    /// Every order's name, relevance first.
    pub fn names(registry: Registry) -> Vec<&'static str> {
        std::iter::once(SortBy::RELEVANCE).chain(registry.sortable().map(|c| c.name)).collect()
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The rows searched.
    pub selection: Selection,
    /// What they are ordered by.
    pub sort: SortBy,
    /// Highest first (rows without the sort value still come last).
    pub descending: bool,
    /// Page size, at most [`MAX_LIMIT`].
    pub limit: usize,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Count every matching row into [`SearchPage::total`]. Without the count, a page sorted
    /// by a column needs to check phrases (positions) and substring-script captions only for
    /// its best candidates, not for every row containing the words.
    pub count_total: bool,
}

/// One matching row, with what a result list shows: the same fields in the JSON API, the
/// CLI's tables and the server's exports ([`Hit::batch`]).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Hit {
    /// The row's stable id (`pairscope get ID`, `/row/ID`).
    pub row_id: i64,
    /// The image URL.
    pub url: String,
    /// The alt text / caption.
    pub caption: String,
    /// The image URL's host, lower-case.
    pub host: Option<String>,
    /// The host's registrable domain (Public Suffix List).
    pub domain: Option<String>,
    /// The caption's language, as the source gives it.
    pub language: Option<String>,
    /// LAION-5B's NSFW label: UNLIKELY, UNSURE or NSFW.
    pub nsfw_label: Option<String>,
    /// The original image's width in pixels.
    pub width: Option<i32>,
    /// The original image's height in pixels.
    pub height: Option<i32>,
    /// LAION aesthetic predictor v2 score (0-10).
    pub aesthetic: Option<f64>,
    /// LAION's CLIP-based probability that the image is unsafe.
    pub punsafe: Option<f64>,
    /// LAION's predicted probability of a watermark.
    pub pwatermark: Option<f64>,
    /// CLIP ViT-B/32 image-text cosine similarity.
    pub similarity: Option<f64>,
    /// The relevance score, when sorting by relevance.
    pub score: Option<f32>,
}

impl Hit {
    /// The Arrow schema of [`Hit::batch`]: the fields in declaration order, with their
    /// canonical types.
    pub fn schema() -> SchemaRef {
        static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
            let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
            let float = |name: &str| Field::new(name, DataType::Float64, true);
            Arc::new(Schema::new(vec![
                Field::new("row_id", DataType::Int64, false),
                text("url", false),
                text("caption", false),
                text("host", true),
                text("domain", true),
                text("language", true),
                text("nsfw_label", true),
                Field::new("width", DataType::Int32, true),
                Field::new("height", DataType::Int32, true),
                float("aesthetic"),
                float("punsafe"),
                float("pwatermark"),
                float("similarity"),
                Field::new("score", DataType::Float32, true),
            ]))
        });
        SCHEMA.clone()
    }

    /// `hits` as one batch of [`Hit::schema`].
    pub fn batch(hits: &[Hit]) -> std::result::Result<RecordBatch, ArrowError> {
        let text = |f: fn(&Hit) -> Option<&str>| Arc::new(hits.iter().map(f).collect::<StringArray>()) as ArrayRef;
        let float = |f: fn(&Hit) -> Option<f64>| Arc::new(hits.iter().map(f).collect::<Float64Array>()) as ArrayRef;
        let int = |f: fn(&Hit) -> Option<i32>| Arc::new(hits.iter().map(f).collect::<Int32Array>()) as ArrayRef;
        RecordBatch::try_new(
            Hit::schema(),
            vec![
                Arc::new(hits.iter().map(|h| h.row_id).collect::<Int64Array>()),
                text(|h| Some(&h.url)),
                text(|h| Some(&h.caption)),
                text(|h| h.host.as_deref()),
                text(|h| h.domain.as_deref()),
                text(|h| h.language.as_deref()),
                text(|h| h.nsfw_label.as_deref()),
                int(|h| h.width),
                int(|h| h.height),
                float(|h| h.aesthetic),
                float(|h| h.punsafe),
                float(|h| h.pwatermark),
                float(|h| h.similarity),
                Arc::new(hits.iter().map(|h| h.score).collect::<Float32Array>()),
            ],
        )
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    /// At most the request's `limit` rows, in order.
    pub hits: Vec<Hit>,
    /// Every row the selection matches (not just this page), exact; `None` unless the
    /// request asked for it ([`SearchRequest::count_total`]).
    pub total: Option<u64>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
    /// The dataset version searched.
    pub version: u64,
}

/// A position in a result order: (sort value, row id) of a dataset version, and the hash of
/// the selection it was found in, so that it is refused for another search (whose rows before
/// that position are other rows) instead of silently skipping rows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    version: u64,
    sort: SortBy,
    descending: bool,
    key: Option<f64>,
    row_id: i64,
    selection: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        let key = self.key.map_or("n".to_string(), |k| format!("{:016x}", k.to_bits()));
        format!(
            "v{}.{}.{}.{key}.{}.{:016x}",
            self.version,
            self.sort.name(),
            if self.descending { "d" } else { "a" },
            self.row_id,
            self.selection
        )
    }

    /// The cursor `text` stands for. The messages never quote `text`: the server shows them.
    fn decode(text: &str) -> Result<Cursor> {
        let bad = || QueryError::usage("the cursor is not one a pairscope search gave (it is cut short or altered)");
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [version, sort, direction, key, row_id, selection] = parts.as_slice() else { return Err(bad()) };
        let cursor = Cursor {
            version: version.strip_prefix('v').and_then(|v| v.parse().ok()).ok_or_else(bad)?,
            sort: SortBy::parse(sort).ok_or_else(bad)?,
            descending: match *direction {
                "d" => true,
                "a" => false,
                _ => return Err(bad()),
            },
            key: match *key {
                "n" => None,
                hex => Some(f64::from_bits(u64::from_str_radix(hex, 16).map_err(|_| bad())?)),
            },
            row_id: row_id.parse().map_err(|_| bad())?,
            selection: u64::from_str_radix(selection, 16).map_err(|_| bad())?,
        };
        // Sort keys are finite (scores and column values) and row ids are not negative: a
        // cursor with anything else was not made by a search, and a NaN would compare
        // with every row by its bits.
        if cursor.key.is_some_and(|k| !k.is_finite()) || cursor.row_id < 0 {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// A hash of everything that decides which rows `selection` matches, stable across runs and
/// builds (xxh3 of the fields, each length-prefixed so no two selections run together).
fn selection_hash(selection: &Selection) -> u64 {
    let Selection { query, filter, url, aliases, fold_accents } = selection;
    let mut bytes = Vec::new();
    let mut put = |text: Option<&str>| match text {
        None => bytes.push(0),
        Some(text) => {
            bytes.push(1);
            bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
    };
    put(query.as_deref());
    put(filter.as_deref());
    put(url.as_deref());
    for alias in aliases {
        put(Some(alias));
    }
    bytes.push(u8::from(*fold_accents) + 2);
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// A candidate hit: where it is and how it sorts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    key: Option<f64>,
    row_id: i64,
    score: Option<Score>,
    block: usize,
    segment: usize,
    doc: DocId,
}

impl Entry {
    /// Document `doc` of the one segment of engine block `block`, whose row id is `row_id`.
    pub(crate) fn at(block: usize, doc: DocId, row_id: i64, key: Option<f64>) -> Entry {
        Entry { key, row_id, score: None, block, segment: 0, doc }
    }
}

/// `Less` when `a` comes before `b` in the result order.
fn order(a: (Option<f64>, i64), b: (Option<f64>, i64), descending: bool) -> Ordering {
    let by_key = match (a.0, b.0) {
        (Some(x), Some(y)) => {
            let ascending = x.total_cmp(&y);
            if descending { ascending.reverse() } else { ascending }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_key.then(a.1.cmp(&b.1))
}

/// The best `keep` documents after the cursor, and the total.
pub(crate) struct TopSink {
    sort: SortBy,
    descending: bool,
    keep: usize,
    after: Option<(Option<f64>, i64)>,
    entries: Vec<Entry>,
    /// The last of the `keep` best entries at the last compaction: a document that does not
    /// come before it cannot make the page (most of a large selection is rejected here, by
    /// its sort key alone, without its row id being read).
    bound: Option<(Option<f64>, i64)>,
    pub total: u64,
    /// The batch's sort keys (reused from batch to batch).
    keys: Vec<Option<f64>>,
    ints: Vec<Option<i64>>,
    /// Documents come in row-id order with equal keys ([`TopSink::in_row_order`]).
    row_order: bool,
}

impl TopSink {
    /// The page's sink: the `limit` best and one more, to know whether a next page exists.
    pub fn new(request: &SearchRequest, after: Option<(Option<f64>, i64)>) -> TopSink {
        TopSink::keeping(request, after, request.limit + 1)
    }

    /// A sink of the `keep` best documents in the request's order.
    fn keeping(request: &SearchRequest, after: Option<(Option<f64>, i64)>, keep: usize) -> TopSink {
        TopSink {
            sort: request.sort,
            descending: request.descending,
            keep,
            after,
            entries: Vec::new(),
            bound: None,
            total: 0,
            keys: Vec::new(),
            ints: Vec::new(),
            row_order: false,
        }
    }

    /// The score a document must pass to enter the page (a relevance page's lowest score so
    /// far, or lower): just below the `keep`th best score once there are `keep`, so that a
    /// document scoring the same, which may still enter by its row id, is not skipped.
    pub(crate) fn score_floor(&mut self) -> Score {
        if self.entries.len() >= self.keep {
            self.compact();
        }
        match self.bound {
            Some((Some(key), _)) if self.sort == SortBy::Relevance && self.descending => (key as Score).next_down(),
            _ => Score::NEG_INFINITY,
        }
    }

    /// This sink fed by a scan in row-id order of documents whose keys are all equal: the
    /// first `keep` it takes are its best, so it is full once it has them (and its total
    /// counts only what it took).
    fn in_row_order(self) -> TopSink {
        TopSink { row_order: true, ..self }
    }

    /// Keeps the `keep` best entries (in no order) and sets the bound.
    fn compact(&mut self) {
        let descending = self.descending;
        if self.entries.len() >= self.keep {
            let nth = self.keep - 1;
            self.entries.select_nth_unstable_by(nth, |a, b| order((a.key, a.row_id), (b.key, b.row_id), descending));
            self.entries.truncate(self.keep);
            self.bound = Some((self.entries[nth].key, self.entries[nth].row_id));
        }
    }

    /// The best entries, in order.
    pub(crate) fn finish(mut self) -> Vec<Entry> {
        self.compact();
        let descending = self.descending;
        self.entries.sort_unstable_by(|a, b| order((a.key, a.row_id), (b.key, b.row_id), descending));
        self.entries
    }
}

/// How `a` and `b` compare in the result order by their sort keys alone (ties not broken).
fn key_order(a: Option<f64>, b: Option<f64>, descending: bool) -> Ordering {
    order((a, 0), (b, 0), descending)
}

impl Sink for TopSink {
    fn take(
        &mut self,
        at: SegmentAt<'_>,
        columns: &mut SegmentColumns<'_>,
        docs: &[DocId],
        scores: &[Score],
    ) -> Result<()> {
        self.total += docs.len() as u64;
        self.keys.clear();
        match self.sort {
            SortBy::Relevance => self.keys.extend(scores.iter().map(|s| Some(f64::from(*s)))),
            SortBy::Column { name, kind: ColumnKind::Float } => {
                self.keys.resize(docs.len(), None);
                columns.f64(name)?.first_vals(docs, &mut self.keys);
            }
            SortBy::Column { name, .. } => {
                self.ints.clear();
                self.ints.resize(docs.len(), None);
                columns.i64(name)?.first_vals(docs, &mut self.ints);
                // As the filter language sees them: int32 (wider values are not sort keys).
                let wide = |v: Option<i64>| v.and_then(|v| i32::try_from(v).ok()).map(f64::from);
                self.keys.extend(self.ints.iter().map(|&v| wide(v)));
            }
        }
        let descending = self.descending;
        let row_ids = columns.i64("row_id")?;
        for (i, &doc) in docs.iter().enumerate() {
            let key = self.keys[i];
            if self.bound.is_some_and(|bound| key_order(key, bound.0, descending) == Ordering::Greater)
                || self.after.is_some_and(|after| key_order(key, after.0, descending) == Ordering::Less)
            {
                continue;
            }
            let row_id = row_ids.first(doc).unwrap_or_default();
            if self.bound.is_some_and(|bound| order((key, row_id), bound, descending) != Ordering::Less)
                || self.after.is_some_and(|after| order((key, row_id), after, descending) != Ordering::Greater)
            {
                continue;
            }
            self.entries.push(Entry {
                key,
                row_id,
                score: scores.get(i).copied(),
                block: at.block,
                segment: at.ord,
                doc,
            });
            if self.entries.len() >= 2 * self.keep + 256 {
                self.compact();
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        self.total += other.total;
        self.entries.extend(other.entries);
        self.compact();
    }

    fn is_full(&self) -> bool {
        self.row_order && self.entries.len() >= self.keep
    }
}

struct CountSink(u64);

impl Sink for CountSink {
    fn take(&mut self, _: SegmentAt<'_>, _: &mut SegmentColumns<'_>, docs: &[DocId], _: &[Score]) -> Result<()> {
        self.0 += docs.len() as u64;
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        self.0 += other.0;
    }
}

/// Every matching row id.
struct RowIdSink(Vec<i64>);

impl Sink for RowIdSink {
    fn take(&mut self, _: SegmentAt<'_>, columns: &mut SegmentColumns<'_>, docs: &[DocId], _: &[Score]) -> Result<()> {
        let row_ids = columns.i64("row_id")?;
        self.0.extend(docs.iter().filter_map(|&doc| row_ids.first(doc)));
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        self.0.extend(other.0);
    }
}

impl Engine {
    /// A page of the rows `request` selects, in its order, with the exact total if asked for.
    pub fn search(&self, request: &SearchRequest, limits: &Limits) -> Result<SearchPage> {
        let deadline = Deadline::new(limits);
        let after = self.after(request)?;
        let prepared = self.prepare(&request.selection, &deadline)?;
        let scoring = request.sort == SortBy::Relevance;
        if !scoring
            && !request.count_total
            && let Some(relaxed) = self.relaxed_query(&request.selection, &prepared)?
        {
            let entries = self.best_checked(request, after, &prepared, &*relaxed, &deadline)?;
            return self.page_of(request, entries, None);
        }
        // The scans below stop early and count no total: a page has one there only where the
        // index knows it (`known_count`), asked only of the relevance pages that use it.
        let known_total = match scoring && request.count_total {
            true => self.known_count(&request.selection, &prepared, &deadline)?,
            false => None,
        };
        let total_or_none = request.count_total == known_total.is_some();
        if scoring && total_or_none && request.selection.scores_alike()? {
            // Equal scores: the page is the first rows after the cursor in row-id order.
            let top = self.scan_in_row_order(&prepared, scoring, &deadline, after.map(|a| a.1), || {
                TopSink::new(request, after).in_row_order()
            })?;
            return self.page_of(request, top.finish(), known_total);
        }
        // The best scores first, one term: pruned (`scan_pruned`).
        let single_term = prepared.query.downcast_ref::<TermQuery>().is_some();
        if scoring && request.descending && single_term && total_or_none {
            let top = self.scan_pruned(&prepared, &deadline, || TopSink::new(request, after))?;
            return self.page_of(request, top.finish(), known_total);
        }
        let top = self.scan(&prepared, scoring, &deadline, || TopSink::new(request, after))?;
        self.page(request, top)
    }

    /// The page's entries found in two steps: the best candidates of the `relaxed` query
    /// (cheap: no positions, no captions read), then the exact query checked on those
    /// candidates alone, in doc order, with seeks. The candidates come in the page's order and
    /// every row the exact query matches is one, so once `limit + 1` of the best candidates
    /// pass (or every candidate has been checked) those are exactly the page; otherwise the
    /// next round takes more candidates, as many as the pass rate so far says are needed.
    fn best_checked(
        &self,
        request: &SearchRequest,
        after: Option<(Option<f64>, i64)>,
        prepared: &Prepared,
        relaxed: &dyn Query,
        deadline: &Deadline,
    ) -> Result<Vec<Entry>> {
        let wanted = request.limit + 1;
        let searchers = self.searchers();
        let Some(first) = searchers.first() else { return Ok(Vec::new()) };
        let exact = prepared.query.weight(EnableScoring::disabled_from_searcher(first)).map_err(QueryError::Weight)?;
        let mut keep = (4 * wanted).max(256);
        loop {
            let top = self.scan_query(
                relaxed,
                prepared,
                false,
                deadline,
                || TopSink::keeping(request, after, keep),
                self.threads(),
            )?;
            let every_candidate = top.total <= keep as u64;
            let candidates = top.finish();
            let checked = candidates.len();
            let mut passed = self.passing(&*exact, prepared, candidates, deadline)?;
            if passed.len() >= wanted || every_candidate {
                passed.truncate(wanted);
                return Ok(passed);
            }
            // Enough candidates for `wanted` passes at the rate seen, twice over.
            let rate = (passed.len().max(1) as f64) / (checked.max(1) as f64);
            keep = ((2.0 * wanted as f64 / rate) as usize).max(4 * keep);
        }
    }

    /// The `entries` (in order) that `exact` matches, in the same order.
    fn passing(
        &self,
        exact: &dyn Weight,
        prepared: &Prepared,
        entries: Vec<Entry>,
        deadline: &Deadline,
    ) -> Result<Vec<Entry>> {
        let mut by_doc: Vec<usize> = (0..entries.len()).collect();
        by_doc.sort_unstable_by_key(|&i| (entries[i].block, entries[i].segment, entries[i].doc));
        let mut pass = vec![false; entries.len()];
        let mut current: Option<((usize, usize), Box<dyn Scorer>)> = None;
        for i in by_doc {
            let Entry { block, segment, doc, .. } = entries[i];
            let scorer = match &mut current {
                Some((at, scorer)) if *at == (block, segment) => scorer,
                _ => {
                    deadline.check()?;
                    let searcher = self.blocks[block].index.searcher();
                    let scorer = exact.scorer(searcher.segment_reader(segment as u32), 1.0).map_err(|e| {
                        prepared.rows.failure.check().err().unwrap_or_else(|| {
                            QueryError::Index(pairscope_index::IndexError::tantivy(self.blocks[block].index.dir(), e))
                        })
                    })?;
                    &mut current.insert(((block, segment), scorer)).1
                }
            };
            let at = if scorer.doc() < doc { scorer.seek(doc) } else { scorer.doc() };
            pass[i] = at == doc;
        }
        // A scorer that could not read a block's rows stopped early.
        prepared.rows.failure.check()?;
        Ok(entries.into_iter().zip(pass).filter_map(|(entry, pass)| pass.then_some(entry)).collect())
    }

    /// The page of a finished [`TopSink`]. Its total counts every matching row, those before
    /// the cursor too.
    pub(crate) fn page(&self, request: &SearchRequest, top: TopSink) -> Result<SearchPage> {
        let total = request.count_total.then_some(top.total);
        self.page_of(request, top.finish(), total)
    }

    /// The page of the best `limit + 1` entries, in order.
    pub(crate) fn page_of(
        &self,
        request: &SearchRequest,
        mut entries: Vec<Entry>,
        total: Option<u64>,
    ) -> Result<SearchPage> {
        let more = entries.len() > request.limit;
        entries.truncate(request.limit);
        let hits = self.hits(&entries)?;
        let next = entries.last().filter(|_| more).map(|last| {
            Cursor {
                version: self.version(),
                sort: request.sort,
                descending: request.descending,
                key: last.key,
                row_id: last.row_id,
                selection: selection_hash(&request.selection),
            }
            .encode()
        });
        Ok(SearchPage { hits, total, next, version: self.version() })
    }

    /// The cursor of `request`, checked against this version and order.
    pub(crate) fn after(&self, request: &SearchRequest) -> Result<Option<(Option<f64>, i64)>> {
        if request.limit == 0 || request.limit > MAX_LIMIT {
            return Err(QueryError::usage(format!("the page size must be between 1 and {MAX_LIMIT}")));
        }
        let Some(text) = &request.after else { return Ok(None) };
        let cursor = Cursor::decode(text)?;
        if cursor.version != self.version() {
            return Err(QueryError::usage(format!(
                "this cursor belongs to version {} of the dataset, which is now at version {}: \
                 start the search again from its first page",
                cursor.version,
                self.version()
            )));
        }
        if cursor.sort != request.sort || cursor.descending != request.descending {
            return Err(QueryError::usage(format!(
                "this cursor is for results sorted by {} ({}); ask for the same order",
                cursor.sort.name(),
                if cursor.descending { "descending" } else { "ascending" }
            )));
        }
        if cursor.selection != selection_hash(&request.selection) {
            return Err(QueryError::usage(
                "this cursor is for another search (another query, filter, URL pattern or mention): \
                 start this search from its first page",
            ));
        }
        Ok(Some((cursor.key, cursor.row_id)))
    }

    /// The exact number of rows `selection` matches.
    pub fn count(&self, selection: &Selection, limits: &Limits) -> Result<u64> {
        let deadline = Deadline::new(limits);
        let prepared = self.prepare(selection, &deadline)?;
        if let Some(count) = self.known_count(selection, &prepared, &deadline)? {
            return Ok(count);
        }
        Ok(self.scan(&prepared, false, &deadline, || CountSink(0))?.0)
    }

    /// The exact number of rows each selection matches, in order: many small counts (one per
    /// name of a list) spread over the cores, each on one thread, so no count pays for
    /// starting threads. The deadline covers them all.
    pub fn count_each(&self, selections: &[Selection], limits: &Limits) -> Result<Vec<u64>> {
        let deadline = Deadline::new(limits);
        parallel::try_map(selections.len(), self.threads(), |i| {
            let prepared = self.prepare(&selections[i], &deadline)?;
            if let Some(count) = self.known_count(&selections[i], &prepared, &deadline)? {
                return Ok(count);
            }
            Ok(self.scan_on(&prepared, false, &deadline, || CountSink(0), 1)?.0)
        })
    }

    /// The ids of every row `selection` matches, ascending: 8 bytes a row, for callers that
    /// join a selection with other work (`pairscope subset --query`).
    pub fn row_ids(&self, selection: &Selection, limits: &Limits) -> Result<Vec<i64>> {
        let deadline = Deadline::new(limits);
        let prepared = self.prepare(selection, &deadline)?;
        let mut ids = self.scan(&prepared, false, &deadline, || RowIdSink(Vec::new()))?.0;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The hits of a page, in its order: url and caption read from each block's parquet file
    /// in one pass over the hit rows, the rest from the fast fields.
    pub(crate) fn hits(&self, entries: &[Entry]) -> Result<Vec<Hit>> {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| (entries[i].block, entries[i].segment, entries[i].doc));
        let groups: Vec<&[usize]> = order
            .chunk_by(|&a, &b| (entries[a].block, entries[a].segment) == (entries[b].block, entries[b].segment))
            .collect();
        // The blocks' files are read side by side (most of a page's time is spent opening
        // their row groups).
        let read = parallel::try_fold(groups.len(), self.threads(), Vec::new, |mine, g| {
            self.group_hits(entries, groups[g], mine)
        })?;
        // Each entry's hit once, with its index: in page order once sorted.
        let mut hits: Vec<(usize, Hit)> = read.into_iter().flatten().collect();
        hits.sort_unstable_by_key(|&(i, _)| i);
        Ok(hits.into_iter().map(|(_, hit)| hit).collect())
    }

    /// The hits of the entries `group` (indexes into `entries`, all of one segment, by
    /// document), pushed with their index.
    fn group_hits(&self, entries: &[Entry], group: &[usize], out: &mut Vec<(usize, Hit)>) -> Result<()> {
        let first = &entries[group[0]];
        let block = &self.blocks[first.block];
        let segment = block.index.searcher().segment_reader(first.segment as u32);
        let rows = &block.rows;
        // One segment per block, so a document's number is its row's position.
        let positions: Vec<usize> = group.iter().map(|&i| entries[i].doc as usize).collect();
        let batch = rows.read(&positions, Some(&["url", "caption"]))?;
        let (urls, captions) = (rows.strings(&batch, "url")?, rows.strings(&batch, "caption")?);
        let mut columns = SegmentColumns::new(segment, &block.columns[first.segment], block.index.dir());
        for (k, &i) in group.iter().enumerate() {
            let entry = &entries[i];
            let doc = entry.doc;
            let float =
                |columns: &mut SegmentColumns<'_>, name| -> Result<Option<f64>> { Ok(columns.f64(name)?.first(doc)) };
            let int = |columns: &mut SegmentColumns<'_>, name| -> Result<Option<i32>> {
                Ok(columns.i64(name)?.first(doc).and_then(|v| i32::try_from(v).ok()))
            };
            let hit = Hit {
                row_id: entry.row_id,
                url: urls.value(k).to_string(),
                caption: captions.value(k).to_string(),
                host: columns.keyword("host", doc)?,
                domain: columns.keyword("domain", doc)?,
                language: columns.keyword("language", doc)?,
                nsfw_label: columns.keyword("nsfw_label", doc)?,
                width: int(&mut columns, "width")?,
                height: int(&mut columns, "height")?,
                aesthetic: float(&mut columns, "aesthetic")?,
                punsafe: float(&mut columns, "punsafe")?,
                pwatermark: float(&mut columns, "pwatermark")?,
                similarity: float(&mut columns, "similarity")?,
                score: entry.score,
            };
            out.push((i, hit));
        }
        Ok(())
    }

    /// Every stored column of one row (canonical and extra), or `None` when no row has this id.
    pub fn get(&self, row_id: RowId) -> Result<Option<RecordBatch>> {
        match self.locate(row_id)? {
            Some((block, doc)) => self.blocks[block].rows.read(&[doc as usize], None).map(Some),
            None => Ok(None),
        }
    }

    /// Where the row `row_id` is: its block (engine number) and document (its position in the
    /// block file); `None` when no row has this id, or it is hidden.
    pub(crate) fn locate(&self, row_id: RowId) -> Result<Option<(usize, DocId)>> {
        if self.is_hidden(row_id.0) {
            return Ok(None);
        }
        let key = row_id.block_key();
        for (b, (file, block)) in
            self.dataset().manifest().sources.iter().flat_map(|s| &s.files).zip(&self.blocks).enumerate()
        {
            if file.block_key != key {
                continue;
            }
            // Row ids ascend through a block file, and document n of the index is its row n.
            let searcher = block.index.searcher();
            for (segment, open) in searcher.segment_readers().iter().zip(&block.columns) {
                let mut columns = SegmentColumns::new(segment, open, block.index.dir());
                let ids = columns.i64("row_id")?;
                let (mut lo, mut hi) = (0u32, segment.max_doc());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if ids.first(mid).unwrap_or(i64::MAX) < row_id.0 { lo = mid + 1 } else { hi = mid }
                }
                if lo < segment.max_doc() && ids.first(lo) == Some(row_id.0) {
                    return Ok(Some((b, lo)));
                }
            }
        }
        Ok(None)
    }

    /// The row ids of documents `docs` of engine block `block` (its one segment).
    pub(crate) fn row_ids_of(&self, block: usize, docs: &[DocId]) -> Result<Vec<i64>> {
        let block = &self.blocks[block];
        let searcher = block.index.searcher();
        let (Some(segment), Some(open)) = (searcher.segment_readers().first(), block.columns.first()) else {
            return Ok(Vec::new());
        };
        let mut columns = SegmentColumns::new(segment, open, block.index.dir());
        let ids = columns.i64("row_id")?;
        docs.iter()
            .map(|&doc| {
                ids.first(doc).ok_or_else(|| QueryError::Vectors {
                    path: block.index.dir().to_path_buf(),
                    reason: format!("document {doc} has no row_id"),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for key in [Some(6.25), Some(-0.0), None, Some(f64::MAX)] {
            let cursor = Cursor {
                version: 7,
                sort: SortBy::parse("aesthetic").unwrap(),
                descending: true,
                key,
                row_id: 42,
                selection: 9,
            };
            assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        }
        let nan = format!("v1.width.a.{:016x}.1.0", f64::NAN.to_bits());
        let infinite = format!("v1.width.a.{:016x}.1.0", f64::INFINITY.to_bits());
        for bad in [
            "",
            "v1.aesthetic.d.n.1",
            "v1.nope.d.n.1.0",
            "v1.width.x.n.1.0",
            "vx.width.a.n.1.0",
            "v1.width.a.zz.1.0",
            "v1.width.a.n.-1.0",
            "v1.width.a.n.1.zz",
            &nan,
            &infinite,
        ] {
            let error = Cursor::decode(bad).unwrap_err();
            assert!(pairscope_model::is_usage(&error), "{bad}");
            assert!(bad.is_empty() || !error.to_string().contains(bad), "the message quotes the cursor: {error}");
        }
    }

    #[test]
    fn selections_that_differ_in_any_part_hash_apart() {
        let base = Selection {
            query: Some("cat".into()),
            filter: Some("aesthetic > 5".into()),
            url: Some("*x*".into()),
            aliases: vec!["a".into(), "b".into()],
            fold_accents: false,
        };
        let others = [
            Selection { query: Some("dog".into()), ..base.clone() },
            Selection { query: None, ..base.clone() },
            Selection { filter: None, ..base.clone() },
            Selection { url: Some("*y*".into()), ..base.clone() },
            Selection { aliases: vec!["ab".into()], ..base.clone() },
            Selection { fold_accents: true, ..base.clone() },
            // The same text in another field.
            Selection { query: Some("*x*".into()), url: Some("cat".into()), ..base.clone() },
        ];
        for other in &others {
            assert_ne!(selection_hash(other), selection_hash(&base), "{other:?}");
        }
        assert_eq!(selection_hash(&base.clone()), selection_hash(&base));
    }

    #[test]
    fn nulls_sort_last_both_ways_and_ties_go_by_row_id() {
        for descending in [true, false] {
            assert_eq!(order((Some(1.0), 5), (None, 1), descending), Ordering::Less);
            assert_eq!(order((None, 1), (None, 2), descending), Ordering::Less);
            assert_eq!(order((Some(2.0), 9), (Some(2.0), 3), descending), Ordering::Greater);
        }
        assert_eq!(order((Some(2.0), 1), (Some(1.0), 1), true), Ordering::Less);
        assert_eq!(order((Some(2.0), 1), (Some(1.0), 1), false), Ordering::Greater);
    }
}

#[cfg(test)]
mod hit_tests {
    use super::*;

    #[test]
    fn a_hit_batch_has_a_column_per_serialized_field_in_order() {
        let hit = Hit {
            row_id: 3,
            url: "u".into(),
            caption: "c".into(),
            host: Some("h".into()),
            domain: None,
            language: None,
            nsfw_label: None,
            width: Some(5),
            height: None,
            aesthetic: Some(6.5),
            punsafe: None,
            pwatermark: None,
            similarity: None,
            score: Some(1.5),
        };
        let batch = Hit::batch(&[hit.clone(), hit.clone()]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let json = serde_json::to_value(&hit).unwrap();
        let mut fields: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        let columns: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        let mut sorted = columns.clone();
        sorted.sort_unstable();
        assert_eq!(fields, sorted);
        assert_eq!(columns[..3], ["row_id", "url", "caption"]);
    }
}
