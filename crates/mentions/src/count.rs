//! The count: one pass over the caption column of every data file of a dataset version,
//! row group by row group on every core, each caption normalised once and matched against
//! every alias at once ([`MentionMatcher`]).

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use pairscope_expr::BoundExpr;
use pairscope_io::parallel;
use pairscope_model::{FormField, Progress, Registry};
use pairscope_query::{DupsRequest, Engine, Facet, FacetBy, Limits, MAX_TOP, Selection};
use pairscope_store::Dataset;
use pairscope_text::names::NameList;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use serde::{Deserialize, Serialize};

use crate::ambiguity::flag_ambiguous;
use crate::error::{MentionsError, Result};
use crate::matcher::MentionMatcher;

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;
/// Values of `--by` kept per entity when `--top` does not say.
pub const DEFAULT_BY_TOP: usize = 10;

/// A column a count can be broken down by: a keyword the search form takes one exact value
/// of ([`FormField::Equals`]), so each value listed can link to the search of its rows.
/// Serialized as the column's name (the mentions cache stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByColumn(&'static str);

impl ByColumn {
    /// The canonical column `name`, if counts can be broken down by it.
    pub fn parse(name: &str) -> Option<ByColumn> {
        ByColumn::parse_in(Registry::CANONICAL, name)
    }

    /// The column `name` of `registry`, if counts can be broken down by it.
    pub fn parse_in(registry: Registry, name: &str) -> Option<ByColumn> {
        ByColumn::names(registry).into_iter().find(|n| *n == name).map(ByColumn)
    }

    /// The names of the columns counts can be broken down by, in registry order.
    pub fn names(registry: Registry) -> Vec<&'static str> {
        registry.form_fields().filter(|(_, f)| *f == FormField::Equals).map(|(c, _)| c.name).collect()
    }

    /// The column's name.
    pub fn column(self) -> &'static str {
        self.0
    }
}

impl Serialize for ByColumn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for ByColumn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<ByColumn, D::Error> {
        let name = String::deserialize(deserializer)?;
        ByColumn::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("a count cannot be broken down by {name:?}")))
    }
}

/// What to count.
#[derive(Debug, Clone)]
pub struct MentionsRequest {
    /// The names to count, every entity of every list (an entity in two lists counts twice).
    pub lists: Vec<NameList>,
    /// An EXPR: only rows where it is true are counted (and are the denominator of shares).
    pub filter: Option<String>,
    /// A column to break each entity's count down by (its most frequent values).
    pub by: Option<ByColumn>,
    /// With `by`: the values kept per entity; without: the most-mentioned entities kept.
    pub top: Option<usize>,
    /// Match with accent folding (`Dürer` matches `Durer`).
    pub fold_accents: bool,
    /// How long the count may run (`Duration::MAX`: no limit); past it the count stops with
    /// [`MentionsError::Timeout`].
    pub timeout: Duration,
    /// Also count each entity's captions once per near-duplicate group of image embeddings at
    /// this cosine threshold (`pairscope dups`' groups among the rows the filter keeps):
    /// [`EntityCount::distinct`].
    pub dedup_near: Option<f32>,
    /// Count by reading every caption even where the full-text index could count: the same
    /// answer by the other of the [two exact ways](Method), to check one against the other.
    pub scan: bool,
}

/// The result of a count, as cached and as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MentionsReport {
    /// The dataset version counted.
    pub dataset_version: u64,
    /// Rows the filter kept (every row without one): the denominator of every share.
    pub rows: u64,
    /// Index or scan.
    pub method: Method,
    /// Rows read (the whole dataset) by a scan; 0 for the index.
    pub rows_scanned: u64,
    /// Bytes of caption text a scan read; 0 for the index.
    pub caption_bytes: u64,
    /// Wall time of the count, in milliseconds (of the run that filled the cache, for a
    /// cached report).
    pub elapsed_ms: u64,
    /// The request's filter; `None` when it had none (or a blank one).
    pub filter: Option<String>,
    /// The request's breakdown column.
    pub by: Option<ByColumn>,
    /// Whether aliases matched with accent folding.
    pub fold_accents: bool,
    /// The lists counted, in request order.
    pub lists: Vec<ListInfo>,
    /// Most-mentioned first (ties in list order).
    pub entities: Vec<EntityCount>,
}

/// One name list of a count, identified well enough to tell whether a cached count used it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListInfo {
    /// `builtin:artists`, `builtin:characters`, or the list file's path.
    pub origin: String,
    /// [`NameList::content_hash`]: the entities and aliases, not the file's formatting.
    pub content_hash: String,
    /// How many entities it has.
    pub entities: usize,
}

/// How many captions mention one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityCount {
    /// The origin of the list it is in.
    pub list: String,
    /// Its display name.
    pub name: String,
    /// Every alias as written in the list, display name first.
    pub aliases: Vec<String>,
    /// Captions that mention the entity (each at most once).
    pub count: u64,
    /// `count / rows`.
    pub share: f64,
    /// Why the count may include captions that are not about the entity, if it might.
    pub ambiguous: Option<String>,
    /// With `by`: the most frequent values among its captions (null = rows without one).
    pub by: Vec<ByCount>,
    /// With [`MentionsRequest::dedup_near`]: its captions counted once per near-duplicate
    /// group (a row in no group counts once): how many distinct images mention it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
}

/// One value of the breakdown column among an entity's captions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ByCount {
    /// The value; `None` for rows without one.
    pub value: Option<String>,
    /// Captions with this value that mention the entity.
    pub count: u64,
}

/// Counts `request` over the current version of `dataset`, reporting each row group read to
/// `progress`.
pub fn count_mentions(dataset: &Dataset, request: &MentionsRequest, progress: &dyn Progress) -> Result<MentionsReport> {
    let started = Instant::now();
    let matcher = MentionMatcher::new(&request.lists, request.fold_accents)?;
    let by_index = request.by.map(|by| index_breakdown(by, request.top));
    if !request.scan
        && matcher.entities().len() <= MAX_INDEX_ENTITIES
        && by_index.as_ref().is_none_or(Option::is_some)
        && (request.by.is_none() || request.dedup_near.is_none())
    {
        return count_by_index(dataset, request, &matcher, by_index.flatten(), started);
    }
    if request.dedup_near.is_some() {
        return Err(MentionsError::Usage(pairscope_model::UsageError::new(format!(
            "--dedup near counts through the full-text index: not with --by or --scan, nor for more than {MAX_INDEX_ENTITIES} names"
        ))));
    }
    let schema = dataset.schema();
    let filter = match request.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(text) => Some(pairscope_expr::compile(text, &schema)?),
        None => None,
    };
    let mut columns: Vec<String> = vec!["caption".into()];
    if let Some(by) = request.by {
        columns.push(by.column().into());
    }
    if let Some(filter) = &filter {
        for column in filter.expr().columns() {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
    let tallies = scan(
        dataset,
        &columns,
        progress,
        request.timeout,
        || Tally::new(matcher.entities().len()),
        |tally, unit| tally.add(&matcher, unit, filter.as_ref(), request.by),
    )?;
    let mut total = Tally::new(matcher.entities().len());
    for tally in tallies {
        total.merge(tally);
    }

    let by_top = request.top.unwrap_or(DEFAULT_BY_TOP);
    let entities: Vec<EntityCount> = matcher
        .entities()
        .iter()
        .zip(total.counts.iter().zip(total.by.iter_mut()))
        .map(|(entity, (&count, by))| EntityCount {
            list: entity.list.clone(),
            name: entity.name.clone(),
            aliases: entity.aliases.clone(),
            count,
            share: if total.rows == 0 { 0.0 } else { count as f64 / total.rows as f64 },
            ambiguous: None,
            by: request.by.map(|_| top_values(std::mem::take(by), by_top)).unwrap_or_default(),
            distinct: None,
        })
        .collect();
    let scanned = Scanned { rows_scanned: total.rows_scanned, caption_bytes: total.caption_bytes };
    Ok(report(dataset, request, &matcher, entities, total.rows, Method::Scan(scanned), started))
}

/// Entities counted through the full-text index when no breakdown is asked; more are counted
/// by the scan, whose time does not grow with the number of names.
pub const MAX_INDEX_ENTITIES: usize = 20_000;

/// The facet of the index that breaks counts down by `by` with `top` values, if the index
/// has a term facet of the column (every canonical `--by` column) and `top` is one a facet
/// lists.
fn index_breakdown(by: ByColumn, top: Option<usize>) -> Option<FacetBy> {
    let top = top.unwrap_or(DEFAULT_BY_TOP);
    let facet = FacetBy::for_column(by.column(), top, 1, None).ok()?;
    (matches!(facet, FacetBy::Terms { .. }) && (1..=MAX_TOP).contains(&top)).then_some(facet)
}

/// Each entity's count as the index's phrase counts of its aliases (`pairscope search
/// --mention`'s query, the same semantics as the matcher, verified against the captions where
/// a substring script needs it), spread over the cores; with a breakdown `by`, each entity's
/// facet of the same rows (the values of its matching rows, counted by global ordinal from
/// the index's keyword columns). Rare names cost a few postings each: for a list of thousands
/// this is many times faster than reading every caption, and it grows with the rows that
/// mention a name, not with the captions' bytes.
fn count_by_index(
    dataset: &Dataset,
    request: &MentionsRequest,
    matcher: &MentionMatcher,
    by: Option<FacetBy>,
    started: Instant,
) -> Result<MentionsReport> {
    let engine = Engine::open(dataset.clone())?;
    let limits = Limits { timeout: request.timeout };
    let filter = request.filter.clone().filter(|f| !f.trim().is_empty());
    let rows = match &filter {
        Some(_) => engine.count(&Selection { filter: filter.clone(), ..Default::default() }, &limits)?,
        None => engine.rows(),
    };
    // An alias without letters or digits matches nothing (the matcher drops it too).
    let searchable = |alias: &&String| !pairscope_text::normalize(alias, request.fold_accents).is_empty();
    let selections: Vec<Selection> = matcher
        .entities()
        .iter()
        .map(|entity| Selection {
            aliases: entity.aliases.iter().filter(searchable).cloned().collect(),
            filter: filter.clone(),
            fold_accents: request.fold_accents,
            ..Default::default()
        })
        .collect();
    let searched: Vec<usize> = (0..selections.len()).filter(|&i| !selections[i].aliases.is_empty()).collect();
    let searched_selections: Vec<Selection> = searched.iter().map(|&i| selections[i].clone()).collect();
    let mut counts = vec![0u64; selections.len()];
    let mut breakdowns = vec![Vec::new(); selections.len()];
    match &by {
        Some(by) => {
            for (&i, facet) in searched.iter().zip(engine.facets_each(&searched_selections, by, &limits)?) {
                counts[i] = facet.total();
                breakdowns[i] = by_counts(facet, request.top.unwrap_or(DEFAULT_BY_TOP));
            }
        }
        None => {
            for (&i, count) in searched.iter().zip(engine.count_each(&searched_selections, &limits)?) {
                counts[i] = count;
            }
        }
    }
    let distinct = match request.dedup_near {
        Some(threshold) => Some(distinct_counts(&engine, &selections, &counts, threshold, filter, &limits)?),
        None => None,
    };
    let entities = matcher
        .entities()
        .iter()
        .zip(counts.iter().zip(breakdowns))
        .enumerate()
        .map(|(i, (entity, (&count, by)))| EntityCount {
            list: entity.list.clone(),
            name: entity.name.clone(),
            aliases: entity.aliases.clone(),
            count,
            share: if rows == 0 { 0.0 } else { count as f64 / rows as f64 },
            ambiguous: None,
            by,
            distinct: distinct.as_ref().map(|d| d[i]),
        })
        .collect();
    Ok(report(dataset, request, matcher, entities, rows, Method::Index, started))
}

/// Each entity's captions counted once per near-duplicate group: the groups `dups` finds among
/// the rows the filter keeps, then per entity with captions, its rows (from the index) mapped
/// to their group's first row and counted distinct. Memory: the groups, and one entity's row
/// ids at a time.
fn distinct_counts(
    engine: &Engine,
    selections: &[Selection],
    counts: &[u64],
    threshold: f32,
    filter: Option<String>,
    limits: &Limits,
) -> Result<Vec<u64>> {
    let request = DupsRequest {
        kind: "image".into(),
        threshold,
        selection: Selection { filter, ..Selection::default() },
        among: None,
        exact: false,
    };
    let groups = engine.near_duplicates(&request, limits, &|_| {})?;
    let first_of: HashMap<i64, i64> = groups.first_of_group().into_iter().collect();
    selections
        .iter()
        .zip(counts)
        .map(|(selection, &count)| {
            if count == 0 || first_of.is_empty() {
                return Ok(count);
            }
            let rows = engine.row_ids(selection, limits)?;
            let distinct: std::collections::HashSet<i64> =
                rows.iter().map(|row| first_of.get(row).copied().unwrap_or(*row)).collect();
            Ok(distinct.len() as u64)
        })
        .collect()
}

/// How a count was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Method {
    /// Phrase counts on the full-text index, one per entity.
    Index,
    /// One pass over every caption.
    Scan(Scanned),
}

/// What a scan read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scanned {
    /// Rows read: every row of the version, whatever the filter kept.
    pub rows_scanned: u64,
    /// Bytes of caption text read.
    pub caption_bytes: u64,
}

/// The report of counted `entities`: ambiguity marks, most-mentioned first, `top`.
fn report(
    dataset: &Dataset,
    request: &MentionsRequest,
    matcher: &MentionMatcher,
    mut entities: Vec<EntityCount>,
    rows: u64,
    method: Method,
    started: Instant,
) -> MentionsReport {
    flag_ambiguous(&mut entities, matcher.entities(), rows);
    // Stable: ties keep list order.
    entities.sort_by_key(|e| std::cmp::Reverse(e.count));
    if request.by.is_none()
        && let Some(top) = request.top
    {
        entities.truncate(top);
    }
    let (rows_scanned, caption_bytes) = match method {
        Method::Scan(s) => (s.rows_scanned, s.caption_bytes),
        Method::Index => (0, 0),
    };
    MentionsReport {
        dataset_version: dataset.version(),
        rows,
        method,
        rows_scanned,
        caption_bytes,
        elapsed_ms: started.elapsed().as_millis() as u64,
        filter: request.filter.clone().filter(|f| !f.trim().is_empty()),
        by: request.by,
        fold_accents: request.fold_accents,
        lists: request
            .lists
            .iter()
            .map(|l| ListInfo { origin: l.origin.clone(), content_hash: l.content_hash(), entities: l.entities.len() })
            .collect(),
        entities,
    }
}

/// Rows and bytes of caption text in the current version, read the way a count reads them
/// but matched against nothing: the floor a count's time is measured against.
pub fn read_captions(dataset: &Dataset, progress: &dyn Progress) -> Result<(u64, u64)> {
    let columns = ["caption".to_string()];
    let totals = scan(
        dataset,
        &columns,
        progress,
        Duration::MAX,
        || (0u64, 0u64, 0u64),
        |(rows, bytes, last), unit| {
            *last = 0;
            for batch in unit.batches()? {
                let batch = batch?;
                let captions = batch
                    .column_by_name("caption")
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| MentionsError::read(unit.path, "caption is not text"))?;
                *rows += batch.num_rows() as u64;
                *last += batch.num_rows() as u64;
                *bytes += (captions.value_offsets()[captions.len()] - captions.value_offsets()[0]) as u64;
            }
            Ok(*last)
        },
    )?;
    Ok(totals.iter().fold((0, 0), |(r, b), t| (r + t.0, b + t.1)))
}

/// Runs `work` over every row group of the version's data files (reading `columns`), on
/// every core; each thread folds into its own state made by `new`. `work` returns the rows
/// it read, for `progress`. The first error stops every thread; so does `timeout`, checked
/// before each row group (a few hundred milliseconds of work at most).
fn scan<T: Send>(
    dataset: &Dataset,
    columns: &[String],
    progress: &dyn Progress,
    timeout: Duration,
    new: impl Fn() -> T + Sync,
    work: impl Fn(&mut T, &Unit<'_>) -> Result<u64> + Sync,
) -> Result<Vec<T>> {
    let units = row_groups(dataset)?;
    progress.set_total_bytes(units.iter().map(|u| u.2).sum());
    let deadline = Instant::now().checked_add(timeout);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    parallel::try_fold(units.len(), threads, new, |state, i| {
        if deadline.is_some_and(|at| Instant::now() > at) {
            return Err(MentionsError::Timeout { limit: timeout });
        }
        let (file, row_group, bytes) = &units[i];
        let unit = Unit { path: &file.0, metadata: &file.1, row_group: *row_group, columns, dataset };
        let rows = work(state, &unit)?;
        progress.advance(rows, *bytes);
        Ok(())
    })
}

/// Every (data file, row group, its bytes) of the version: the units of work.
/// Each file's footer is read once here and shared by its row groups.
fn row_groups(dataset: &Dataset) -> Result<Vec<(FileMeta, usize, u64)>> {
    let mut units = Vec::new();
    for path in dataset.data_files() {
        let file = File::open(&path).map_err(|e| MentionsError::read(&path, e))?;
        let metadata =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| MentionsError::read(&path, e))?;
        let file_meta = Arc::new((path, metadata));
        let groups = file_meta.1.metadata().row_groups();
        units.extend(
            groups.iter().enumerate().map(|(g, meta)| (file_meta.clone(), g, meta.compressed_size().max(0) as u64)),
        );
    }
    Ok(units)
}

/// A data file and its parquet metadata.
type FileMeta = Arc<(PathBuf, ArrowReaderMetadata)>;

struct Unit<'a> {
    path: &'a PathBuf,
    metadata: &'a ArrowReaderMetadata,
    row_group: usize,
    columns: &'a [String],
    /// The version read, whose overlays every batch takes.
    dataset: &'a Dataset,
}

impl Unit<'_> {
    fn batches(&self) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
        let error = |e: &dyn std::fmt::Display| MentionsError::read(self.path, e);
        let file = File::open(self.path).map_err(|e| error(&e))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone());
        let indices: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            // Overlays are found by row id.
            .filter(|(_, f)| {
                self.columns.contains(f.name())
                    || (f.name() == "row_id"
                        && self.dataset.overlays_need_row_id(self.columns.iter().map(String::as_str)))
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![self.row_group])
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| error(&e))?;
        Ok(reader.map(move |batch| {
            let batch = batch.map_err(|e| error(&e))?;
            Ok(self.dataset.complete_rows(batch, self.columns)?)
        }))
    }
}

/// One thread's counts.
struct Tally {
    counts: Vec<u64>,
    by: Vec<HashMap<Option<String>, u64>>,
    rows: u64,
    rows_scanned: u64,
    caption_bytes: u64,
    matched: Vec<u32>,
}

impl Tally {
    fn new(entities: usize) -> Tally {
        Tally {
            counts: vec![0; entities],
            by: vec![HashMap::new(); entities],
            rows: 0,
            rows_scanned: 0,
            caption_bytes: 0,
            matched: Vec::new(),
        }
    }

    /// Counts one unit; returns the rows it read.
    fn add(
        &mut self,
        matcher: &MentionMatcher,
        unit: &Unit<'_>,
        filter: Option<&BoundExpr>,
        by: Option<ByColumn>,
    ) -> Result<u64> {
        let mut state = matcher.state()?;
        let mut read = 0;
        for batch in unit.batches()? {
            let batch = batch?;
            let n = batch.num_rows() as u64;
            self.rows_scanned += n;
            read += n;
            let keep = match filter {
                Some(filter) => Some(filter.evaluate(&batch).map_err(|e| MentionsError::read(unit.path, e))?),
                None => None,
            };
            let captions = batch
                .column_by_name("caption")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| MentionsError::read(unit.path, "the caption column is missing or not text"))?;
            let by_values = match by {
                Some(by) => {
                    Some(batch.column_by_name(by.column()).and_then(|c| c.as_string_opt::<i32>()).ok_or_else(|| {
                        MentionsError::read(unit.path, format!("the {} column is missing or not text", by.column()))
                    })?)
                }
                None => None,
            };
            for row in 0..batch.num_rows() {
                if keep.as_ref().is_some_and(|k| !(k.is_valid(row) && k.value(row))) {
                    continue;
                }
                self.rows += 1;
                if captions.is_null(row) {
                    continue;
                }
                let caption = captions.value(row);
                self.caption_bytes += caption.len() as u64;
                self.matched.clear();
                let matched = &mut self.matched;
                matcher.each_match(&mut state, caption, |e| matched.push(e));
                for &entity in &self.matched {
                    self.counts[entity as usize] += 1;
                    if let Some(values) = by_values {
                        let value = values.is_valid(row).then(|| values.value(row).to_string());
                        *self.by[entity as usize].entry(value).or_default() += 1;
                    }
                }
            }
        }
        Ok(read)
    }

    fn merge(&mut self, other: Tally) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for (a, b) in self.by.iter_mut().zip(other.by) {
            for (value, count) in b {
                *a.entry(value).or_default() += count;
            }
        }
        self.rows += other.rows;
        self.rows_scanned += other.rows_scanned;
        self.caption_bytes += other.caption_bytes;
    }
}

/// A term facet as the values of a breakdown: [`top_values`]' order and length (the null
/// count placed after the values of its count), so the index and the scan give one answer.
fn by_counts(facet: Facet, top: usize) -> Vec<ByCount> {
    let Facet::Terms { values, null, .. } = facet else { unreachable!("a breakdown is a term facet") };
    let mut by: Vec<ByCount> = values.into_iter().map(|v| ByCount { value: Some(v.value), count: v.rows }).collect();
    if null > 0 {
        let at = by.partition_point(|b| b.count >= null);
        by.insert(at, ByCount { value: None, count: null });
    }
    by.truncate(top);
    by
}

/// The `top` most frequent values, most frequent first (ties by value, nulls last).
fn top_values(values: HashMap<Option<String>, u64>, top: usize) -> Vec<ByCount> {
    let mut values: Vec<ByCount> = values.into_iter().map(|(value, count)| ByCount { value, count }).collect();
    values.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| match (&a.value, &b.value) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
    });
    values.truncate(top);
    values
}
