//! The engine: one committed dataset version with its block indexes open, and the scan every
//! call (search, count, facets) is built on.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, SchemaRef};
use pairscope_expr::BoundExpr;
use pairscope_index::schema::KEYWORD_COLUMNS;
use pairscope_index::tantivy::index::SegmentId;
use pairscope_index::tantivy::query::{
    AllQuery, Bm25StatisticsProvider, BooleanQuery, ConstScoreQuery, EnableScoring, Occur, Query, TermQuery, Weight,
};
use pairscope_index::tantivy::schema::Field;
use pairscope_index::tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term,
};
use pairscope_index::{BlockIndex, IndexError, IndexFields};
use pairscope_io::parallel;
use pairscope_model::panic_message;
use pairscope_model::row_id::{BLOCK_ROWS, RowId};
use pairscope_store::Dataset;
use pairscope_store::manifest::{DataFile, SourceEntry};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use roaring::RoaringTreemap;

use crate::columns::{OpenColumns, SegmentColumns, filter_schema, filter_type};
use crate::compile::{Compiler, RowAccess, UrlPatternQuery, url_pattern};
use crate::error::{BlockFileError, QueryError, Result};
use crate::ordinals::GlobalOrds;
use crate::parse::parse_query;
use crate::rows::{BlockRows, PageIndexCache};
use crate::search::TopSink;

/// Documents handed to the filter and the sinks at a time; the deadline is checked between
/// batches.
const BATCH_DOCS: usize = 4096;
/// Candidates of a pruned scan a row filter is applied to at once: the page's floor rises
/// only after a batch, so a small one keeps the pruning close to the unfiltered scan's, and
/// one filter evaluation over 64 rows costs little more than over one.
const PRUNED_BATCH_DOCS: usize = 64;
/// Blocks opened at once, on every core, between two counts of the mappings made (see
/// [`Engine::open`]).
const OPEN_CHUNK_BLOCKS: usize = 64;
/// Most rows a filter on columns outside the index may match (it is evaluated over the
/// parquet rows into a set of row ids).
pub const MAX_PARQUET_FILTER_ROWS: usize = 50_000_000;

/// Which rows a call is about: all of them when every part is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    /// The QUERY text (see [`crate::parse`]).
    pub query: Option<String>,
    /// An EXPR (`pairscope-expr`).
    pub filter: Option<String>,
    /// A URL pattern over image and page URLs (see `compile::url_pattern`).
    pub url: Option<String>,
    /// The aliases of one name-list entity: rows whose caption mentions any of them, exactly
    /// as `pairscope mentions` counts (empty: no condition).
    pub aliases: Vec<String>,
    /// Words, phrases and aliases match with accent folding (`Dürer` finds `Durer`).
    pub fold_accents: bool,
}

impl Selection {
    /// Whether every row this selection matches scores the same (no caption text to rank by:
    /// only a URL pattern, a filter or nothing), so that its order by relevance is row-id order.
    pub(crate) fn scores_alike(&self) -> Result<bool> {
        Ok(self.aliases.is_empty() && parse_query(self.query.as_deref().unwrap_or(""))?.is_none())
    }
}

/// Limits every call carries.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a call may run; `Duration::MAX` for no limit (batch work such as a subset).
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// `None`: a limit too far away to be reached (`Duration::MAX` means none).
    at: Option<Instant>,
    limit: Duration,
}

impl Deadline {
    pub fn new(limits: &Limits) -> Deadline {
        Deadline { at: Instant::now().checked_add(limits.timeout), limit: limits.timeout }
    }

    pub fn check(&self) -> Result<()> {
        if self.at.is_some_and(|at| Instant::now() > at) {
            return Err(QueryError::Deadline { limit_ms: self.limit.as_millis() });
        }
        Ok(())
    }
}

pub(crate) struct Block {
    /// The block's parquet file.
    pub rows: Arc<BlockRows>,
    pub index: BlockIndex,
    /// The fast-field columns of each segment of the index (by ordinal), as calls open them.
    pub columns: Vec<OpenColumns>,
}

/// A dataset version opened for queries. Cheap to share between threads; open a new one to
/// see a newer version.
pub struct Engine {
    dataset: Dataset,
    pub(crate) fields: IndexFields,
    pub(crate) blocks: Vec<Block>,
    /// Each segment's parquet rows, for queries that read text (see `compile::VerifiedQuery`).
    pub(crate) rows_by_segment: Arc<HashMap<SegmentId, Arc<BlockRows>>>,
    /// Every column of the dataset (canonical and extra), for binding filters.
    dataset_schema: SchemaRef,
    threads: usize,
    /// Rows no call returns, counts or shows (the server's removal lists).
    hidden: Option<Arc<RoaringTreemap>>,
    /// Each keyword column's global ordinals (in `KEYWORD_COLUMNS` order), opened on first use.
    global_ords: Vec<Mutex<Option<Arc<GlobalOrds>>>>,
    /// Each block's first row id and the block, in row-id order: a block's rows are its key's
    /// `BLOCK_ROWS` consecutive ids, ascending with the document, so this is the order of
    /// every row.
    row_order: Vec<(i64, usize)>,
    /// Distinct for every engine of the process (see [`Engine::identity`]).
    identity: u64,
    /// The vector sets, opened on first use.
    pub(crate) vector_sets: crate::similar::VectorSets,
    /// The rows of the selections asked for most recently.
    pub(crate) kept_cache: crate::similar::KeptCache,
}

/// The identity of the next engine opened.
static NEXT_IDENTITY: AtomicU64 = AtomicU64::new(1);

/// What a selection compiled to.
pub(crate) struct Prepared {
    pub query: Box<dyn Query>,
    pub filter: Option<RowFilter>,
    pub hidden: Option<Arc<RoaringTreemap>>,
    /// The rows the queries of this call check candidates against, and their read failure.
    pub rows: RowAccess,
}

pub(crate) enum RowFilter {
    /// Evaluated on the index's fast fields, batch by batch.
    Columns { expr: BoundExpr, columns: Vec<String> },
    /// Evaluated beforehand over the parquet rows (the filter uses columns the index lacks).
    RowIds(HashSet<i64>),
}

/// Whether `file` holds every row of its block's range of `source`'s input rows (the source
/// skipped none), so that its document `n` is the row at offset `n` of the block (row ids are
/// given by input position, before skipped rows are dropped).
fn holds_its_whole_range(source: &SourceEntry, file: &DataFile) -> bool {
    let range = source.input_rows.saturating_sub(file.block.saturating_mul(BLOCK_ROWS)).min(BLOCK_ROWS);
    source.rows == source.input_rows && file.rows == range
}

impl Engine {
    /// Opens the committed version of `dataset` and every block index it has.
    pub fn open(dataset: Dataset) -> Result<Engine> {
        let mut files = Vec::new();
        for source in &dataset.manifest().sources {
            for file in &source.files {
                let Some(index) = &file.index else {
                    return Err(QueryError::usage(format!(
                        "source {} ({}) has no full-text index (it was ingested by an older pairscope); \
                         remove it with `pairscope sources --remove` and ingest it again",
                        source.short_id(),
                        source.path
                    )));
                };
                if source.index_format != pairscope_index::INDEX_FORMAT {
                    return Err(QueryError::usage(format!(
                        "source {} ({}) has an index of format {} and this pairscope reads format {}; \
                         remove it with `pairscope sources --remove` and ingest it again",
                        source.short_id(),
                        source.path,
                        source.index_format,
                        pairscope_index::INDEX_FORMAT
                    )));
                }
                files.push((source, file, dataset.root().join(index)));
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mappings = pairscope_io::limits::mappings();
        let mut mapped = 0u64;
        let page_indexes = PageIndexCache::new();
        let mut blocks = Vec::with_capacity(files.len());
        // Opening a block is mostly parsing its metadata (CPU): the blocks of a chunk are
        // opened on every core; the mappings are counted after each chunk, so a dataset past
        // the kernel's limit stops with its error early, not by running out of mappings.
        for chunk in files.chunks(OPEN_CHUNK_BLOCKS) {
            let indexes = parallel::try_map(chunk.len(), threads, |i| BlockIndex::open(&chunk[i].2))?;
            for ((source, file, _), index) in chunk.iter().zip(indexes) {
                mapped += index.mapped_files();
                if let Some(mappings) = mappings
                    && mappings.raise_for(mapped).is_some()
                {
                    // What every block would map, at the rate of those opened so far.
                    let projected = mapped.saturating_mul(files.len() as u64).div_ceil(blocks.len() as u64 + 1);
                    return Err(QueryError::TooManyMappings {
                        blocks: files.len() as u64,
                        needed: mappings.raise_for(projected).unwrap_or(mappings.limit),
                        limit: mappings.limit,
                    });
                }
                if index.searcher().segment_readers().len() > 1 {
                    // Document numbers are row positions only within one segment.
                    return Err(QueryError::Index(IndexError::Damaged {
                        path: index.dir().to_path_buf(),
                        reason: "it has more than one segment".into(),
                    }));
                }
                let rows = Arc::new(BlockRows::new(
                    &dataset.root().join(&file.path),
                    blocks.len(),
                    dataset.clone(),
                    page_indexes.clone(),
                ));
                let overlay = dataset.overlays().of_block(file.block_key)?;
                let consecutive_from =
                    holds_its_whole_range(source, file).then(|| RowId::from_block_key(file.block_key, 0));
                let columns = index
                    .searcher()
                    .segment_readers()
                    .iter()
                    .map(|_| OpenColumns::new(overlay.clone(), consecutive_from))
                    .collect();
                blocks.push(Block { rows, index, columns });
            }
        }
        let mut row_order: Vec<(i64, usize)> = dataset
            .manifest()
            .sources
            .iter()
            .flat_map(|s| &s.files)
            .enumerate()
            .map(|(b, file)| (RowId::from_block_key(file.block_key, 0).0, b))
            .collect();
        row_order.sort_unstable();
        let dataset_schema = dataset.schema();
        let rows_by_segment = blocks
            .iter()
            .flat_map(|b| b.index.searcher().segment_readers().iter().map(|s| (s.segment_id(), b.rows.clone())))
            .collect();
        Ok(Engine {
            dataset,
            fields: IndexFields::new(),
            blocks,
            rows_by_segment: Arc::new(rows_by_segment),
            dataset_schema,
            threads,
            hidden: None,
            global_ords: KEYWORD_COLUMNS.iter().map(|_| Mutex::new(None)).collect(),
            row_order,
            identity: NEXT_IDENTITY.fetch_add(1, Ordering::Relaxed),
            vector_sets: Default::default(),
            kept_cache: Default::default(),
        })
    }

    /// This engine with `rows` hidden from every call: searches, counts, facets, row ids and
    /// `get` behave as if the rows did not exist. It is another engine: it has its own
    /// [`identity`](Engine::identity).
    pub fn with_hidden_rows(mut self, rows: Arc<RoaringTreemap>) -> Engine {
        self.hidden = (!rows.is_empty()).then_some(rows);
        self.identity = NEXT_IDENTITY.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// This engine running each call on at most `threads` threads (default: every core); the
    /// answers do not depend on it.
    pub fn with_threads(mut self, threads: usize) -> Engine {
        self.threads = threads.max(1);
        self
    }

    /// A number no other engine opened by this process has: it stands for the dataset version
    /// and the hidden rows together, so a cache of results keyed by it can never answer for
    /// another version or another set of hidden rows.
    pub fn identity(&self) -> u64 {
        self.identity
    }

    /// The global ordinals of keyword column `column`, opened (kept by the version, or built) on
    /// first use.
    pub(crate) fn global_ords(&self, column: &str) -> Result<Arc<GlobalOrds>> {
        let i = KEYWORD_COLUMNS
            .iter()
            .position(|c| *c == column)
            .ok_or_else(|| QueryError::usage(format!("{column} is not a keyword column")))?;
        let mut slot = self.global_ords[i].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ords) = &*slot {
            return Ok(ords.clone());
        }
        let ords = Arc::new(GlobalOrds::open(self, column)?);
        *slot = Some(ords.clone());
        Ok(ords)
    }

    /// Rows hidden from every call.
    pub fn hidden_rows(&self) -> u64 {
        self.hidden.as_ref().map_or(0, |h| h.len())
    }

    /// A digest of the hidden rows (the same for the same set, "none" without any): with the
    /// version, what a kept answer computed by this engine depends on.
    pub fn hidden_digest(&self) -> String {
        let Some(hidden) = &self.hidden else { return "none".into() };
        let mut hasher = blake3::Hasher::new();
        for row in hidden.iter() {
            hasher.update(&row.to_le_bytes());
        }
        hasher.finalize().to_hex()[..32].to_string()
    }

    pub(crate) fn is_hidden(&self, row_id: i64) -> bool {
        self.hidden.as_ref().is_some_and(|h| row_id >= 0 && h.contains(row_id as u64))
    }

    /// The dataset the engine was opened on.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The dataset version it serves.
    pub fn version(&self) -> u64 {
        self.dataset.version()
    }

    /// Rows in the version, hidden ones included.
    pub fn rows(&self) -> u64 {
        self.blocks.iter().map(|b| b.index.docs()).sum()
    }

    /// The schema filters are bound to: every column of the dataset.
    pub fn dataset_schema(&self) -> &SchemaRef {
        &self.dataset_schema
    }

    /// Threads a call may use.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    pub(crate) fn searchers(&self) -> Vec<&Searcher> {
        self.blocks.iter().map(|b| b.index.searcher()).collect()
    }

    /// Compiles a selection: QUERY, URL pattern and EXPR.
    pub(crate) fn prepare(&self, selection: &Selection, deadline: &Deadline) -> Result<Prepared> {
        let rows = RowAccess { rows: self.rows_by_segment.clone(), failure: Arc::default() };
        let query = self.selection_query(selection, &rows, false)?.0;
        let filter = match selection.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            None => None,
            Some(text) => Some(self.row_filter(text, deadline)?),
        };
        Ok(Prepared { query, filter, hidden: self.hidden.clone(), rows })
    }

    /// The relaxed query of a selection (see [`Compiler::relax`]): it matches every row the
    /// selection's query matches, and maybe more. `None` when relaxing changes nothing. It
    /// reports read failures where `prepared` (the same selection's) does.
    pub(crate) fn relaxed_query(&self, selection: &Selection, prepared: &Prepared) -> Result<Option<Box<dyn Query>>> {
        // Only caption text has phrases to relax; do not compile the rest twice.
        if selection.query.as_deref().is_none_or(|q| q.trim().is_empty()) && selection.aliases.is_empty() {
            return Ok(None);
        }
        let (query, relaxed) = self.selection_query(selection, &prepared.rows, true)?;
        Ok(relaxed.then_some(query))
    }

    /// The query of QUERY, aliases and URL pattern, and whether anything was relaxed.
    fn selection_query(&self, selection: &Selection, rows: &RowAccess, relax: bool) -> Result<(Box<dyn Query>, bool)> {
        let relaxed = Cell::new(false);
        let compiler = Compiler {
            fields: &self.fields,
            blocks: &self.blocks,
            rows,
            fold_accents: selection.fold_accents,
            relax,
            relaxed: &relaxed,
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(ast) = parse_query(selection.query.as_deref().unwrap_or(""))? {
            clauses.push((Occur::Must, compiler.compile(&ast)?));
        }
        if !selection.aliases.is_empty() {
            clauses.push((Occur::Must, compiler.any_alias(&selection.aliases)?));
        }
        if let Some(pattern) = selection.url.as_deref().filter(|p| !p.trim().is_empty()) {
            let either = BooleanQuery::new(vec![
                (Occur::Should, url_pattern("url", pattern, rows)?),
                (Occur::Should, url_pattern("page_url", pattern, rows)?),
            ]);
            // A URL matches or not: one score whichever URL of the row matched (or both), so a
            // selection without caption text ranks its rows alike (`Selection::scores_alike`).
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(either), 1.0))));
        }
        let query: Box<dyn Query> = match <[_; 1]>::try_from(clauses) {
            Ok([(_, only)]) => only,
            Err(clauses) if clauses.is_empty() => Box::new(AllQuery),
            Err(clauses) => Box::new(BooleanQuery::new(clauses)),
        };
        Ok((query, relaxed.get()))
    }

    fn row_filter(&self, text: &str, deadline: &Deadline) -> Result<RowFilter> {
        // Binding to the whole dataset schema first gives the user's errors (unknown column,
        // wrong type) against every column they can see.
        let on_dataset = pairscope_expr::compile(text, &self.dataset_schema)?;
        let columns = on_dataset.expr().columns();
        if columns.iter().all(|c| filter_type(c).is_some()) {
            let expr = pairscope_expr::compile(text, &filter_schema())?;
            return Ok(RowFilter::Columns { expr, columns });
        }
        let mut ids = HashSet::new();
        let mut projection: Vec<String> = columns.clone();
        projection.push("row_id".into());
        for block in &self.blocks {
            let path = block.rows.path();
            let error = |e: BlockFileError| QueryError::block_file(path)(e);
            let file = std::fs::File::open(path).map_err(|e| error(e.into()))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| error(e.into()))?;
            let indices: Vec<usize> = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| projection.contains(f.name()))
                .map(|(i, _)| i)
                .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            let reader =
                builder.with_projection(mask).with_batch_size(BATCH_DOCS * 2).build().map_err(|e| error(e.into()))?;
            for batch in reader {
                deadline.check()?;
                let batch = self.dataset.complete_rows(batch.map_err(|e| error(e.into()))?, &columns)?;
                let matches = on_dataset.evaluate(&batch).map_err(QueryError::Filter)?;
                let row_ids = batch
                    .column_by_name("row_id")
                    .and_then(|ids| ids.as_primitive_opt::<Int64Type>())
                    .ok_or_else(|| error(BlockFileError::Content("has no row_id column of 64-bit integers".into())))?;
                for (i, matched) in matches.values().iter().enumerate() {
                    if matched {
                        ids.insert(row_ids.value(i));
                    }
                }
                if ids.len() > MAX_PARQUET_FILTER_ROWS {
                    return Err(QueryError::usage(format!(
                        "the filter uses columns the index does not keep and matches more than {MAX_PARQUET_FILTER_ROWS} rows; \
                         narrow it, or use `pairscope sql`"
                    )));
                }
            }
        }
        Ok(RowFilter::RowIds(ids))
    }

    /// Runs `prepared` over every segment of every block, `threads` at a time, handing batches of
    /// matching documents to sinks made by `new_sink`, and merges them.
    pub(crate) fn scan<S: Sink>(
        &self,
        prepared: &Prepared,
        scoring: bool,
        deadline: &Deadline,
        new_sink: impl Fn() -> S + Sync,
    ) -> Result<S> {
        self.scan_on(prepared, scoring, deadline, new_sink, self.threads)
    }

    /// [`Engine::scan`] on at most `threads` threads; with one, on the caller's thread (no
    /// thread is started: what many small scans in a row need).
    pub(crate) fn scan_on<S: Sink>(
        &self,
        prepared: &Prepared,
        scoring: bool,
        deadline: &Deadline,
        new_sink: impl Fn() -> S + Sync,
        threads: usize,
    ) -> Result<S> {
        self.scan_query(&*prepared.query, prepared, scoring, deadline, new_sink, threads)
    }

    /// [`Engine::scan_on`] with `query` in place of the prepared one (the prepared filter and
    /// hidden rows still apply).
    pub(crate) fn scan_query<S: Sink>(
        &self,
        query: &dyn Query,
        prepared: &Prepared,
        scoring: bool,
        deadline: &Deadline,
        new_sink: impl Fn() -> S + Sync,
        threads: usize,
    ) -> Result<S> {
        let Some(weight) = self.weight(query, scoring)? else { return Ok(new_sink()) };
        let units: Vec<SegmentAt<'_>> = (0..self.blocks.len()).flat_map(|b| self.segments_of(b)).collect();
        scan_units(&units, threads, &new_sink, |sink, at| {
            self.scan_guarded(&*weight, prepared, scoring, deadline, at, sink)
        })
    }

    /// [`Engine::scan`] of the blocks in row-id order, as many at once as there are threads,
    /// until the merged sink [is full](Sink::is_full): for sinks that want the first matches
    /// in row-id order (a sink that fills stops its own block early too). Blocks whose every
    /// row id is at most `after_row` are skipped. A page of a selection whose matches all
    /// score alike costs its rows and one block per thread, not the scan of every match.
    pub(crate) fn scan_in_row_order<S: Sink>(
        &self,
        prepared: &Prepared,
        scoring: bool,
        deadline: &Deadline,
        after_row: Option<i64>,
        new_sink: impl Fn() -> S + Sync,
    ) -> Result<S> {
        let Some(weight) = self.weight(&*prepared.query, scoring)? else { return Ok(new_sink()) };
        let last_row = |first: i64| first.saturating_add(BLOCK_ROWS as i64 - 1);
        let units: Vec<SegmentAt<'_>> = self
            .row_order
            .iter()
            .filter(|(first, _)| after_row.is_none_or(|after| last_row(*first) > after))
            .flat_map(|&(_, b)| self.segments_of(b))
            .collect();
        let mut merged = new_sink();
        for round in units.chunks(self.threads) {
            merged.merge(scan_units(round, self.threads, &new_sink, |sink, at| {
                self.scan_guarded(&*weight, prepared, scoring, deadline, at, sink)
            })?);
            if merged.is_full() {
                break;
            }
        }
        Ok(merged)
    }

    /// The best documents of a single-term query by relevance, each segment scanned with
    /// tantivy's block-max pruning (`Weight::for_each_pruning`: blocks of postings whose best
    /// possible score cannot enter the page are skipped, not scored), each thread's sink
    /// carrying its page's lowest score from segment to segment. Only for a query whose pruned
    /// scores are its plain scores: one term (the scorer is the same `TermScorer`). The row
    /// filter and the hidden rows are applied to the candidates that can still enter the page,
    /// [`PRUNED_BATCH_DOCS`] at a time: until a batch is applied the page's floor stays where
    /// it was, which prunes less, never wrongly.
    pub(crate) fn scan_pruned(
        &self,
        prepared: &Prepared,
        deadline: &Deadline,
        new_sink: impl Fn() -> TopSink + Sync,
    ) -> Result<TopSink> {
        let Some(weight) = self.weight(&*prepared.query, true)? else { return Ok(new_sink()) };
        let units: Vec<SegmentAt<'_>> = (0..self.blocks.len()).flat_map(|b| self.segments_of(b)).collect();
        scan_units(&units, self.threads, &new_sink, |sink, at| {
            self.guarded(at, || {
                deadline.check()?;
                let mut columns = SegmentColumns::new(at.reader, at.columns, at.index);
                let mut failure = None;
                let (mut docs, mut scores) =
                    (Vec::with_capacity(PRUNED_BATCH_DOCS), Vec::with_capacity(PRUNED_BATCH_DOCS));
                let mut take = |sink: &mut TopSink, docs: &mut Vec<DocId>, scores: &mut Vec<Score>| {
                    apply_filter(prepared, &mut columns, docs, scores)?;
                    let taken = if docs.is_empty() { Ok(()) } else { sink.take(at, &mut columns, docs, scores) };
                    docs.clear();
                    scores.clear();
                    taken
                };
                let plain = prepared.filter.is_none() && prepared.hidden.is_none();
                let floor = sink.score_floor();
                weight
                    .for_each_pruning(floor, at.reader, &mut |doc, score| {
                        docs.push(doc);
                        scores.push(score);
                        if failure.is_none()
                            && (plain || docs.len() == PRUNED_BATCH_DOCS)
                            && let Err(e) = take(sink, &mut docs, &mut scores)
                        {
                            failure = Some(e);
                        }
                        // After a failure nothing can pass: the scan of the segment ends.
                        if failure.is_some() { Score::INFINITY } else { sink.score_floor() }
                    })
                    .map_err(|e| IndexError::tantivy(at.index, e))?;
                if failure.is_none() && !docs.is_empty() {
                    take(sink, &mut docs, &mut scores)?;
                }
                failure.map_or(Ok(()), Err)
            })
        })
    }

    /// How many rows `selection` (compiled to `prepared`) matches, if the index knows it without
    /// visiting them, one dictionary lookup a block (or a key, for a URL prefix) however many
    /// rows match: with no filter and no hidden rows, in blocks without deleted documents
    /// (ingest never deletes), the rows of everything, of one term (its document frequency),
    /// or of a URL prefix whose keys say it alone ([`UrlPatternQuery::known_count`]) and that
    /// matches in a block by one of the two URL columns only (a row matching by both would
    /// count twice).
    pub(crate) fn known_count(
        &self,
        selection: &Selection,
        prepared: &Prepared,
        deadline: &Deadline,
    ) -> Result<Option<u64>> {
        if prepared.filter.is_some() || prepared.hidden.is_some() {
            return Ok(None);
        }
        let everything = prepared.query.downcast_ref::<AllQuery>().is_some();
        let term = prepared.query.downcast_ref::<TermQuery>().map(TermQuery::term);
        let url = match selection.url.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(pattern) if term.is_none() && selection.scores_alike()? => Some([
                UrlPatternQuery::new("url", pattern, &prepared.rows)?,
                UrlPatternQuery::new("page_url", pattern, &prepared.rows)?,
            ]),
            _ => None,
        };
        let mut rows = 0u64;
        for block in &self.blocks {
            deadline.check()?;
            for reader in block.index.searcher().segment_readers() {
                if reader.num_deleted_docs() > 0 {
                    return Ok(None);
                }
                let damaged = |e| IndexError::tantivy(block.index.dir(), e);
                rows += match (everything, term, &url) {
                    (true, _, _) => u64::from(reader.num_docs()),
                    (_, Some(term), _) => {
                        let postings = reader.inverted_index(term.field()).map_err(damaged)?;
                        u64::from(postings.doc_freq(term).map_err(|e| damaged(e.into()))?)
                    }
                    (_, _, Some([by_url, by_page])) => {
                        match (
                            by_url.known_count(reader).map_err(damaged)?,
                            by_page.known_count(reader).map_err(damaged)?,
                        ) {
                            (Some(rows), Some(0)) | (Some(0), Some(rows)) => rows,
                            _ => return Ok(None),
                        }
                    }
                    _ => return Ok(None),
                };
            }
        }
        Ok(Some(rows))
    }

    /// The weight of `query` over every block (BM25 statistics summed over them when
    /// `scoring`); `None` for an engine without blocks.
    fn weight(&self, query: &dyn Query, scoring: bool) -> Result<Option<Box<dyn Weight>>> {
        let searchers = self.searchers();
        let Some(first) = searchers.first() else { return Ok(None) };
        let stats = Stats { searchers: &searchers };
        let enable = if scoring {
            EnableScoring::enabled_from_statistics_provider(&stats, first)
        } else {
            EnableScoring::disabled_from_searcher(first)
        };
        query.weight(enable).map(Some).map_err(QueryError::Weight)
    }

    /// The segments of engine block `b`.
    fn segments_of(&self, b: usize) -> impl Iterator<Item = SegmentAt<'_>> {
        let block = &self.blocks[b];
        block.index.searcher().segment_readers().iter().zip(&block.columns).enumerate().map(
            move |(o, (reader, columns))| SegmentAt { block: b, ord: o, reader, columns, index: block.index.dir() },
        )
    }

    /// [`scan_segment`], with a panic turned into an error naming the block's index. Tantivy
    /// trusts the bytes behind a valid footer and panics on damaged postings or positions;
    /// checking every checksum at open would read the whole index for each command, so the
    /// damage is caught here, where it shows, and the caller gets an error instead of a crash.
    fn scan_guarded<S: Sink>(
        &self,
        weight: &dyn Weight,
        prepared: &Prepared,
        scoring: bool,
        deadline: &Deadline,
        at: SegmentAt<'_>,
        sink: &mut S,
    ) -> Result<()> {
        self.guarded(at, || scan_segment(weight, prepared, scoring, deadline, at, sink))
    }

    /// `read` (of segment `at`), with a panic turned into an error naming the block's index
    /// (see [`Engine::scan_guarded`]).
    fn guarded(&self, at: SegmentAt<'_>, read: impl FnOnce() -> Result<()>) -> Result<()> {
        catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|panic| {
            Err(QueryError::Index(IndexError::Damaged {
                path: self.blocks[at.block].index.dir().to_path_buf(),
                reason: format!("reading it panicked: {}", panic_message(&panic)),
            }))
        })
    }
}

/// `scan` of each of `units`, `threads` at a time, each thread's documents into a sink of its
/// own made by `new_sink`; the sinks merged.
fn scan_units<'a, S: Sink>(
    units: &[SegmentAt<'a>],
    threads: usize,
    new_sink: &(impl Fn() -> S + Sync),
    scan: impl Fn(&mut S, SegmentAt<'a>) -> Result<()> + Sync,
) -> Result<S> {
    let sinks = parallel::try_fold(units.len(), threads, new_sink, |sink, i| scan(sink, units[i]))?;
    let mut sinks = sinks.into_iter();
    let mut merged = sinks.next().unwrap_or_else(new_sink);
    for sink in sinks {
        merged.merge(sink);
    }
    Ok(merged)
}

/// Which segment a batch of documents comes from.
#[derive(Clone, Copy)]
pub(crate) struct SegmentAt<'a> {
    pub block: usize,
    /// The segment's ordinal in its block's searcher.
    pub ord: usize,
    pub reader: &'a SegmentReader,
    pub columns: &'a OpenColumns,
    /// The block's index directory.
    pub index: &'a Path,
}

/// Where matching documents go: counts, top-k, facets. One per scanning thread, merged at the end.
pub(crate) trait Sink: Send {
    /// `docs` (ascending) of segment `at` all match; `scores` is empty unless the scan scores.
    fn take(
        &mut self,
        at: SegmentAt<'_>,
        columns: &mut SegmentColumns<'_>,
        docs: &[DocId],
        scores: &[Score],
    ) -> Result<()>;
    fn merge(&mut self, other: Self);
    /// Whether this sink needs no more documents: a scan in row-id order stops when it is
    /// ([`Engine::scan_in_row_order`]); other scans never ask.
    fn is_full(&self) -> bool {
        false
    }
}

fn scan_segment<S: Sink>(
    weight: &dyn Weight,
    prepared: &Prepared,
    scoring: bool,
    deadline: &Deadline,
    at: SegmentAt<'_>,
    sink: &mut S,
) -> Result<()> {
    deadline.check()?;
    let segment = at.reader;
    let mut scorer = weight.scorer(segment, 1.0).map_err(|e| {
        // A block file that cannot be read is the cause of the scorer's failure, if it failed.
        prepared.rows.failure.check().err().unwrap_or_else(|| IndexError::tantivy(at.index, e).into())
    })?;
    let mut columns = SegmentColumns::new(segment, at.columns, at.index);
    // A batch may pass BATCH_DOCS by less than one buffer of the scorer's.
    let mut docs: Vec<DocId> = Vec::with_capacity(BATCH_DOCS + COLLECT_BLOCK_BUFFER_LEN);
    let mut scores: Vec<Score> = Vec::with_capacity(if scoring { BATCH_DOCS } else { 0 });
    let alive = segment.alive_bitset();
    let is_alive = |doc: DocId| alive.is_none_or(|a| a.is_alive(doc));
    // Without scores the scorer hands over a buffer of documents per call: one dynamic call
    // per 64 documents, not per document (a whole-dataset facet spends a quarter of its time
    // advancing the scorer). A score is read at its document, so a scoring scan steps.
    let mut buffer = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
    let mut doc = scorer.doc();
    loop {
        let done = if scoring {
            let done = doc == TERMINATED;
            if !done && is_alive(doc) {
                docs.push(doc);
                scores.push(scorer.score());
            }
            done
        } else {
            let filled = scorer.fill_buffer(&mut buffer);
            docs.extend(buffer[..filled].iter().copied().filter(|&doc| is_alive(doc)));
            filled < COLLECT_BLOCK_BUFFER_LEN
        };
        if docs.len() >= BATCH_DOCS || (done && !docs.is_empty()) {
            apply_filter(prepared, &mut columns, &mut docs, &mut scores)?;
            if !docs.is_empty() {
                sink.take(at, &mut columns, &docs, &scores)?;
                if sink.is_full() {
                    return prepared.rows.failure.check();
                }
            }
            docs.clear();
            scores.clear();
            deadline.check()?;
        }
        if done {
            // A scorer that could not read a block's rows stopped early: the scan fails.
            return prepared.rows.failure.check();
        }
        if scoring {
            doc = scorer.advance();
        }
    }
}

/// Keeps the documents the row filter matches and that are not hidden.
fn apply_filter(
    prepared: &Prepared,
    columns: &mut SegmentColumns<'_>,
    docs: &mut Vec<DocId>,
    scores: &mut Vec<Score>,
) -> Result<()> {
    if let Some(hidden) = &prepared.hidden {
        let row_ids = columns.i64("row_id")?;
        let keep: Vec<bool> =
            docs.iter().map(|&d| !row_ids.first(d).is_some_and(|id| id >= 0 && hidden.contains(id as u64))).collect();
        retain(docs, scores, &keep);
    }
    let keep: Vec<bool> = match &prepared.filter {
        None => return Ok(()),
        Some(RowFilter::Columns { expr, columns: names }) => {
            let batch = columns.batch(names, docs)?;
            expr.evaluate(&batch).map_err(QueryError::Filter)?.values().iter().collect()
        }
        Some(RowFilter::RowIds(ids)) => {
            let row_ids = columns.array("row_id", docs)?;
            let row_ids = row_ids.as_primitive::<Int64Type>();
            (0..row_ids.len()).map(|i| row_ids.is_valid(i) && ids.contains(&row_ids.value(i))).collect()
        }
    };
    retain(docs, scores, &keep);
    Ok(())
}

/// Keeps the documents (and their scores, when scoring) whose `keep` is true.
fn retain(docs: &mut Vec<DocId>, scores: &mut Vec<Score>, keep: &[bool]) {
    let mut i = 0;
    docs.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    if !scores.is_empty() {
        let mut i = 0;
        scores.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
}

/// BM25 statistics over every block, so scores compare across blocks as if the dataset were
/// one index.
struct Stats<'a> {
    searchers: &'a [&'a Searcher],
}

impl Bm25StatisticsProvider for Stats<'_> {
    fn total_num_tokens(&self, field: Field) -> pairscope_index::tantivy::Result<u64> {
        self.searchers.iter().map(|s| s.total_num_tokens(field)).sum()
    }

    fn total_num_docs(&self) -> pairscope_index::tantivy::Result<u64> {
        self.searchers.iter().map(|s| s.total_num_docs()).sum()
    }

    fn doc_freq(&self, term: &Term) -> pairscope_index::tantivy::Result<u64> {
        self.searchers.iter().map(|s| s.doc_freq(term)).sum()
    }
}
