//! `pairscope subset`: one dataset version → filtered, list-cleaned, deduplicated, sampled
//! shards and a manifest that says exactly how.
//!
//! Order of operations (each step sees only what the previous kept):
//! 1. **filter**: the preset's definition and `--where`, both EXPR, combined with AND;
//! 2. **query**: the QUERY language and the URL pattern, evaluated by the full-text index;
//! 3. **removal lists**: domains, URLs, image hashes, opt-outs (first reason counts);
//! 4. **dedup** by url or url+caption, or by near-duplicate image embeddings (`near:T`: the
//!    groups of `pairscope dups` among the rows left): of rows with the same key or in the same
//!    group, the lowest row_id survives;
//! 5. **sample**: the N rows with the smallest XXH3-64 of (row_id, seed), ties by row_id.
//!
//! DataFusion plans every pass over the rows: the dedup grouping spills to disk past the memory
//! limit; the final pass reads the dataset's files in row-id order (they are declared sorted)
//! and streams. Output is deterministic: rows in row-id order, re-chunked into fixed-size
//! batches before the writer, fixed shard and row-group sizes, fixed writer settings. So the
//! same inputs give byte-identical files whatever the thread count.

use std::collections::BinaryHeap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::BatchCoalescer;
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use pairscope_export::{BatchWriter, ExportFormat, ExportOptions};
use pairscope_expr::Expr;
use pairscope_io::staged::StagedDir;
use pairscope_model::web::PSL_CRATE_VERSION;
use pairscope_query::{DupsRequest, Engine, Limits, Selection};
use pairscope_sql::table::{TABLE, pairs_table};
use pairscope_store::Dataset;
use roaring::RoaringTreemap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{SubsetError, on_own_runtime};
use crate::manifest::{DatasetInput, Filter, OutputFile, Removed, RowCounts, SampleSpec, SubsetManifest};
use crate::presets::preset;
use crate::udf::{InRowsUdf, PairKeyUdf, RemovalReasonUdf};
use pairscope_lists::{RemovalLists, RemovalReason};

/// Rows per output shard unless asked otherwise.
pub const SHARD_ROWS: usize = 1 << 20;
/// Rows per parquet row group: 128Ki rows (LAION's own files use row groups of this order),
/// small enough for a reader to skip by statistics, large enough to compress well.
pub const ROW_GROUP_ROWS: usize = 1 << 17;
/// Rows per batch handed to the writer; shard and row-group sizes are multiples of it.
const CHUNK_ROWS: usize = 8192;
/// The column the final pass adds for the removal reason; never written.
const REASON_COLUMN: &str = "__pairscope_removed";

/// What makes rows duplicates of each other.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupKey {
    /// Rows with the same image URL.
    Url,
    /// Rows with the same image URL and caption.
    UrlCaption,
    /// Rows in one near-duplicate group of image embeddings at this cosine threshold
    /// (`pairscope dups`), among the rows the earlier steps keep.
    Near(f32),
}

impl DedupKey {
    /// Its name as `--dedup` spells it.
    pub fn name(self) -> String {
        match self {
            DedupKey::Url => "url".into(),
            DedupKey::UrlCaption => "url+caption".into(),
            DedupKey::Near(threshold) => format!("near:{threshold}"),
        }
    }

    /// The key as SQL over `pairs`, when it is a column key.
    fn sql(self) -> Option<&'static str> {
        match self {
            DedupKey::Url => Some("pair_key(url)"),
            DedupKey::UrlCaption => Some("pair_key(url, caption)"),
            DedupKey::Near(_) => None,
        }
    }
}

impl std::str::FromStr for DedupKey {
    type Err = String;

    /// `url`, `url+caption`, `near` (0.94, clip-retrieval's threshold) or `near:T`.
    fn from_str(s: &str) -> Result<DedupKey, String> {
        match s {
            "url" => Ok(DedupKey::Url),
            "url+caption" => Ok(DedupKey::UrlCaption),
            "near" => Ok(DedupKey::Near(pairscope_query::dups::DEFAULT_THRESHOLD)),
            _ => match s.strip_prefix("near:").map(str::parse::<f32>) {
                Some(Ok(threshold)) if threshold > 0.0 && threshold <= 1.0 => Ok(DedupKey::Near(threshold)),
                Some(_) => Err(format!("{s}: the threshold of near:T is a cosine in (0, 1]")),
                None => Err(format!("{s}: not url, url+caption, near or near:T")),
            },
        }
    }
}

/// Everything `pairscope subset` was asked.
#[derive(Debug, Clone)]
pub struct SubsetRequest {
    /// A preset's name ([`crate::PRESETS`]).
    pub preset: Option<String>,
    /// An EXPR (`pairscope-expr`).
    pub filter: Option<String>,
    /// QUERY text (`pairscope-query`).
    pub query: Option<String>,
    /// A URL pattern over image and page URLs (as `search --url`).
    pub url: Option<String>,
    /// Match the QUERY with accent folding.
    pub fold_accents: bool,
    /// The removal lists, and whether opted-out pages' rows go too.
    pub lists: RemovalLists,
    /// Remove duplicates by this key.
    pub dedup: Option<DedupKey>,
    /// Keep a deterministic sample of what is left.
    pub sample: Option<SampleSpec>,
    /// The output files' format.
    pub format: ExportFormat,
    /// The subset's directory, replaced as a whole when the subset is complete.
    pub out: PathBuf,
    /// Bytes DataFusion's operators may hold before spilling.
    pub memory_limit: usize,
    /// Threads DataFusion plans for; the output does not depend on it.
    pub threads: usize,
    /// Rows per output file (the last holds the rest).
    pub shard_rows: usize,
}

/// Runs `request` over `dataset` and commits `request.out` with its manifest. On error nothing
/// is left at `out` that was not there before (a previous subset there is kept).
pub fn run_subset(dataset: &Dataset, request: &SubsetRequest) -> Result<SubsetManifest, SubsetError> {
    let filter = combined_filter(dataset, request)?;
    let staging = stage(&request.out)?;
    let manifest = on_own_runtime(Some(request.threads), execute(dataset, request, filter, staging.path()))?;
    staging.commit()?;
    Ok(manifest)
}

/// The preset's and `--where`'s EXPRs, parsed, checked against the dataset's columns, and
/// combined; `None` selects every row.
fn combined_filter(dataset: &Dataset, request: &SubsetRequest) -> Result<Filter, SubsetError> {
    let preset = match &request.preset {
        Some(name) => Some(preset(name).ok_or_else(|| {
            SubsetError::usage(format!("no preset named {name:?}: `pairscope subset --list-presets` shows them"))
        })?),
        None => None,
    };
    // Each part is parsed and checked on its own, so a limit (length, depth) or a mistake is
    // reported against the text the user wrote, and the two are joined as trees: their joined
    // text may pass a limit neither reaches.
    let schema = dataset.schema();
    let mut parts = Vec::new();
    for (label, text) in preset
        .map(|p| ("the preset's filter", p.filter))
        .into_iter()
        .chain(request.filter.as_deref().map(|text| ("--where", text)))
    {
        pairscope_expr::compile(text, &schema).map_err(|e| SubsetError::usage(format!("{label}: {e}")))?;
        parts.push(pairscope_expr::parse(text).map_err(|e| SubsetError::usage(format!("{label}: {e}")))?);
    }
    let expr = match <[Expr; 1]>::try_from(parts) {
        Ok([one]) => Some(one),
        Err(parts) if parts.is_empty() => None,
        Err(parts) => Some(Expr::And(parts)),
    };
    let (canonical, sql) = match &expr {
        Some(expr) => (Some(expr.to_string()), Some(expr.to_sql())),
        None => (None, None),
    };
    Ok(Filter {
        preset: preset.map(|p| p.name.to_string()),
        preset_definition: preset.map(|p| p.filter.to_string()),
        r#where: request.filter.clone(),
        expr: canonical,
        sql,
        query: request.query.clone(),
        url: request.url.clone(),
        fold_accents: request.fold_accents,
        preset_needs: preset.map(|p| p.needs.iter().map(|c| c.to_string()).collect()).unwrap_or_default(),
    })
}

/// The subset's phases, each a named step (the module doc gives their order and meaning):
/// [`Pass::open`] the session, [`Pass::check_preset_columns`], [`Pass::selection`] (filter and
/// query), [`Pass::survivors`] (removal lists, dedup, sample), [`Pass::write`] (the final pass
/// into shards), then [`manifest`].
async fn execute(
    dataset: &Dataset,
    request: &SubsetRequest,
    filter: Filter,
    dir: &Path,
) -> Result<SubsetManifest, SubsetError> {
    let pass = Pass::open(dataset, request).await?;
    pass.check_preset_columns(dataset, &filter).await?;
    let selection = pass.selection(dataset, request, &filter).await?;
    let survivors = pass.survivors(dataset, request, &selection).await?;
    let written = pass.write(request, &selection, survivors.keep, dir).await?;
    let counts = Counts::of(&selection, &survivors.counts, &written, request)?;
    let manifest = manifest(dataset, request, filter, &pass.lists, &counts, written.files);
    manifest.write(dir)?;
    Ok(manifest)
}

/// A DataFusion session over the dataset's rows, with the subset's functions registered.
struct Pass {
    context: SessionContext,
    /// The table's own column types, which the output is written with.
    table_schema: SchemaRef,
    lists: Arc<RemovalLists>,
    /// `removal_reason(...)` over the lists, or a null when there are none.
    reason: String,
}

/// Which rows the filter and the query select: a SQL condition over `pairs`.
struct Selected {
    /// The filter and, with a query, `in_query(row_id)`.
    condition: String,
    /// Rows the filter keeps, counted apart only when a query follows it (else it is what the
    /// final pass streams).
    after_filter: Option<u64>,
}

/// What removal lists, dedup and sampling keep, decided before the final pass writes.
struct Survivors {
    /// The row ids to write; `None`: every selected row the lists do not remove.
    keep: Option<RoaringTreemap>,
    counts: SurvivorCounts,
}

/// Rows left after the lists and after dedup, when a dedup or a sample made them countable
/// before the final pass.
#[derive(Default)]
struct SurvivorCounts {
    after_lists: Option<u64>,
    after_dedup: Option<u64>,
}

/// What the final pass wrote and removed.
struct Written {
    files: Vec<OutputFile>,
    /// Rows removed, per [`RemovalReason`].
    removed_by: [u64; RemovalReason::ALL.len()],
    /// Rows the final pass read (written or removed by a list).
    streamed: u64,
}

impl Pass {
    /// A session planning for `request.threads` partitions within `request.memory_limit`, the
    /// dataset registered as `pairs`, the removal and key functions registered.
    async fn open(dataset: &Dataset, request: &SubsetRequest) -> Result<Pass, SubsetError> {
        let context = pairscope_sql::session::context(request.memory_limit)?;
        let threads = request.threads.max(1);
        for setting in [
            format!("SET datafusion.execution.target_partitions = {threads}"),
            // Files of one partition stay in row-id order, so ORDER BY row_id merges, not sorts.
            "SET datafusion.execution.split_file_groups_by_statistics = true".to_string(),
        ] {
            context.sql(&setting).await.map_err(SubsetError::plan)?;
        }
        let table = pairs_table(dataset)?;
        let table_schema = table.provider.schema();
        context.register_table(TABLE, table.provider).map_err(SubsetError::plan)?;
        let lists = Arc::new(request.lists.clone());
        context.register_udf(RemovalReasonUdf::udf(lists.clone()));
        context.register_udf(PairKeyUdf::udf());
        let reason =
            if lists.is_empty() { "CAST(NULL AS VARCHAR)".to_string() } else { RemovalReasonUdf::call(&table_schema) };
        Ok(Pass { context, table_schema, lists, reason })
    }

    /// Refuses a preset whose columns are null in every row: it would select nothing, and say
    /// nothing about why.
    async fn check_preset_columns(&self, dataset: &Dataset, filter: &Filter) -> Result<(), SubsetError> {
        for column in &filter.preset_needs {
            let non_null = count(&self.context, &format!("SELECT count(\"{column}\") FROM pairs")).await?;
            if non_null == 0 && dataset.rows() > 0 {
                return Err(SubsetError::usage(format!(
                    "preset {} needs the column {column}, which is null in every row of this dataset{}",
                    filter.preset.as_deref().unwrap_or_default(),
                    if column == "language" {
                        " (LAION-2B-en and the LAION-Aesthetics files carry no language column: ingest them with --set language=en)"
                    } else {
                        ""
                    }
                )));
            }
        }
        Ok(())
    }

    /// Steps 1 and 2: the filter as SQL, and the query's rows (from the full-text index) as a
    /// registered set `in_query`.
    async fn selection(
        &self,
        dataset: &Dataset,
        request: &SubsetRequest,
        filter: &Filter,
    ) -> Result<Selected, SubsetError> {
        let where_sql = filter.sql.clone().unwrap_or_else(|| "TRUE".to_string());
        let mut condition = format!("({where_sql})");
        if request.query.is_none() && request.url.is_none() {
            return Ok(Selected { condition, after_filter: None });
        }
        let engine = Engine::open(dataset.clone())?;
        let selection = Selection {
            query: request.query.clone(),
            url: request.url.clone(),
            fold_accents: request.fold_accents,
            ..Default::default()
        };
        let limits = Limits { timeout: std::time::Duration::MAX };
        let ids = engine.row_ids(&selection, &limits)?;
        let ids = RoaringTreemap::from_sorted_iter(ids.into_iter().map(|id| id as u64))
            .map_err(|_| SubsetError::Internal("the query's row ids are not sorted".into()))?;
        self.context.register_udf(InRowsUdf::udf("in_query", Arc::new(ids)));
        condition.push_str(" AND in_query(row_id)");
        let after_filter = Some(count(&self.context, &format!("SELECT count(*) FROM pairs WHERE {where_sql}")).await?);
        Ok(Selected { condition, after_filter })
    }

    /// Steps 3 to 5 when a dedup or a sample needs them decided before the final pass: the
    /// selected rows no list removes, grouped by the dedup key (lowest row id kept), sampled.
    async fn survivors(
        &self,
        dataset: &Dataset,
        request: &SubsetRequest,
        selected: &Selected,
    ) -> Result<Survivors, SubsetError> {
        if request.dedup.is_none() && request.sample.is_none() {
            return Ok(Survivors { keep: None, counts: SurvivorCounts::default() });
        }
        let (condition, reason) = (&selected.condition, &self.reason);
        let mut counts = SurvivorCounts::default();
        let (candidates, survivors) = match request.dedup {
            Some(DedupKey::Near(threshold)) => {
                let query = format!("SELECT row_id FROM pairs WHERE {condition} AND {reason} IS NULL");
                let (ids, total) = row_ids_and_counts(&self.context, &query).await?;
                let groups = Engine::open(dataset.clone())?.near_duplicates(
                    &DupsRequest {
                        kind: "image".into(),
                        threshold,
                        selection: Selection::default(),
                        among: Some(Arc::new(ids.clone())),
                        exact: false,
                    },
                    &Limits { timeout: std::time::Duration::MAX },
                    &|_| {},
                )?;
                let survivors = ids - groups.redundant();
                counts.after_dedup = Some(survivors.len());
                (total, survivors)
            }
            Some(key) => {
                let query = format!(
                    "SELECT min(row_id) AS row_id, count(*) AS n FROM pairs WHERE {condition} AND {reason} IS NULL GROUP BY {}",
                    key.sql().unwrap_or("row_id")
                );
                let (ids, total) = row_ids_and_counts(&self.context, &query).await?;
                counts.after_dedup = Some(ids.len());
                (total, ids)
            }
            None => {
                let query = format!("SELECT row_id FROM pairs WHERE {condition} AND {reason} IS NULL");
                let (ids, total) = row_ids_and_counts(&self.context, &query).await?;
                (total, ids)
            }
        };
        counts.after_lists = Some(candidates);
        let keep = match request.sample {
            Some(sample) => sample_rows(&survivors, sample),
            None => survivors,
        };
        Ok(Survivors { keep: Some(keep), counts })
    }

    /// The final pass: the selected rows in row-id order, with their removal reason; rows a
    /// list removes are counted by reason, the rest (those `keep` holds, when decided) are
    /// re-chunked and written into shards by a writer thread, a few chunks behind.
    async fn write(
        &self,
        request: &SubsetRequest,
        selected: &Selected,
        keep: Option<RoaringTreemap>,
        dir: &Path,
    ) -> Result<Written, SubsetError> {
        let reason = &self.reason;
        let mut main = format!("SELECT pairs.*, {reason} AS {REASON_COLUMN} FROM pairs WHERE {}", selected.condition);
        if let Some(kept) = keep {
            self.context.register_udf(InRowsUdf::udf("in_keep", Arc::new(kept)));
            main.push_str(&format!(" AND ({reason} IS NOT NULL OR in_keep(row_id))"));
        }
        main.push_str(" ORDER BY row_id");
        let frame = self.context.sql(&main).await.map_err(SubsetError::plan)?;
        let mut stream = frame.execute_stream().await.map_err(SubsetError::plan)?;
        let full_schema = stream.schema();
        let reason_index = full_schema.index_of(REASON_COLUMN)?;
        let data_columns: Vec<usize> = (0..full_schema.fields().len()).filter(|&i| i != reason_index).collect();
        // Written with the table's own types (DataFusion may hand text over as Utf8View).
        let out_schema: SchemaRef = self.table_schema.clone();
        if data_columns.len() != out_schema.fields().len() {
            return Err(SubsetError::Internal("the plan's columns are not the table's".into()));
        }

        let (sender, receiver) = sync_channel::<RecordBatch>(4);
        let writer_dir = dir.to_path_buf();
        let (format, writer_schema, shard_rows) = (request.format, out_schema.clone(), request.shard_rows);
        let writer = std::thread::spawn(move || write_shards(receiver, &writer_dir, format, writer_schema, shard_rows));
        let mut removed_by: [u64; RemovalReason::ALL.len()] = [0; RemovalReason::ALL.len()];
        let mut streamed = 0u64;
        let mut coalescer = BatchCoalescer::new(out_schema.clone(), CHUNK_ROWS);
        let feed = async {
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(SubsetError::plan)?;
                streamed += batch.num_rows() as u64;
                let reasons = arrow::compute::cast(batch.column(reason_index), &DataType::Utf8)?;
                let reasons = reasons.as_string::<i32>();
                let mut keep = Vec::with_capacity(batch.num_rows());
                for i in 0..batch.num_rows() {
                    if reasons.is_null(i) {
                        keep.push(true);
                    } else {
                        let reason = RemovalReason::from_name(reasons.value(i)).ok_or_else(|| {
                            SubsetError::Internal(format!("unknown removal reason {:?}", reasons.value(i)))
                        })?;
                        removed_by[reason as usize] += 1;
                        keep.push(false);
                    }
                }
                let columns = data_columns
                    .iter()
                    .zip(out_schema.fields())
                    .map(|(&i, field)| {
                        let column = batch.column(i);
                        if column.data_type() == field.data_type() {
                            Ok(column.clone())
                        } else {
                            arrow::compute::cast(column, field.data_type())
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let projected = RecordBatch::try_new(out_schema.clone(), columns)?;
                coalescer.push_batch_with_filter(projected, &BooleanArray::from(keep))?;
                while let Some(chunk) = coalescer.next_completed_batch() {
                    if sender.send(chunk).is_err() {
                        return Ok(());
                    }
                }
            }
            coalescer.finish_buffered_batch()?;
            while let Some(chunk) = coalescer.next_completed_batch() {
                if sender.send(chunk).is_err() {
                    break;
                }
            }
            Ok::<(), SubsetError>(())
        };
        let fed = feed.await;
        drop(sender);
        let files = writer.join().map_err(|_| SubsetError::Internal("the shard writer panicked".into()))?;
        fed?;
        Ok(Written { files: files?, removed_by, streamed })
    }
}

/// The rows left after each step, from what the phases counted.
struct Counts {
    after_filter: u64,
    after_query: u64,
    after_lists: u64,
    after_dedup: u64,
    out: u64,
    removed_by: [u64; RemovalReason::ALL.len()],
}

impl Counts {
    /// Derives the steps' counts the phases did not count directly (the final pass streams the
    /// rows after the query, less those dedup and sampling dropped), and checks that the rows
    /// written are what they say.
    fn of(
        selected: &Selected,
        survivors: &SurvivorCounts,
        written: &Written,
        request: &SubsetRequest,
    ) -> Result<Counts, SubsetError> {
        let list_removed: u64 = written.removed_by.iter().sum();
        let after_query = survivors.after_lists.map_or(written.streamed, |kept| kept + list_removed);
        let after_filter = selected.after_filter.unwrap_or(after_query);
        let after_lists = survivors.after_lists.unwrap_or(written.streamed - list_removed);
        let after_dedup = survivors.after_dedup.unwrap_or(after_lists);
        let out: u64 = written.files.iter().map(|f| f.rows).sum();
        let expected_out = match request.sample {
            Some(sample) => after_dedup.min(sample.rows),
            None => after_dedup,
        };
        if out != expected_out {
            return Err(SubsetError::Internal(format!("wrote {out} rows where the counts say {expected_out}")));
        }
        Ok(Counts { after_filter, after_query, after_lists, after_dedup, out, removed_by: written.removed_by })
    }
}

/// The subset's manifest: what was asked, what each step removed, the files.
fn manifest(
    dataset: &Dataset,
    request: &SubsetRequest,
    filter: Filter,
    lists: &RemovalLists,
    counts: &Counts,
    files: Vec<OutputFile>,
) -> SubsetManifest {
    let removed = |reason: RemovalReason| counts.removed_by[reason as usize];
    SubsetManifest {
        format: crate::manifest::FORMAT,
        pairscope_version: env!("CARGO_PKG_VERSION").to_string(),
        dataset: DatasetInput::of(dataset),
        psl_version: PSL_CRATE_VERSION.to_string(),
        filter,
        lists: lists.files().to_vec(),
        exclude_optouts: lists.excludes_optouts(),
        dedup: request.dedup,
        sample: request.sample,
        order_of_operations: crate::manifest::ORDER_OF_OPERATIONS.iter().map(|s| s.to_string()).collect(),
        rows: RowCounts { r#in: dataset.rows(), out: counts.out },
        removed: Removed {
            filter: dataset.rows() - counts.after_filter,
            query: counts.after_filter - counts.after_query,
            domain_list: removed(RemovalReason::Domain),
            url_list: removed(RemovalReason::Url),
            image_hash_list: removed(RemovalReason::ImageHash),
            opt_out: removed(RemovalReason::OptOut),
            dedup: counts.after_lists - counts.after_dedup,
            sample: counts.after_dedup - counts.out,
        },
        output_format: request.format,
        shard_rows: request.shard_rows as u64,
        row_group_rows: ROW_GROUP_ROWS as u64,
        files,
    }
}

/// The ids of every row of `dataset` that `lists` remove: what the web UI hides. One scan of
/// url, host, image_sha256 and the opt-out flags.
pub fn listed_rows(
    dataset: &Dataset,
    lists: &RemovalLists,
    memory_limit: usize,
) -> Result<RoaringTreemap, SubsetError> {
    if lists.is_empty() {
        return Ok(RoaringTreemap::new());
    }
    on_own_runtime(None, async {
        let context = pairscope_sql::session::context(memory_limit)?;
        let table = pairs_table(dataset)?;
        let call = RemovalReasonUdf::call(&table.provider.schema());
        context.register_table(TABLE, table.provider).map_err(SubsetError::plan)?;
        context.register_udf(RemovalReasonUdf::udf(Arc::new(lists.clone())));
        let query = format!("SELECT row_id FROM pairs WHERE {call} IS NOT NULL");
        Ok(row_ids_and_counts(&context, &query).await?.0)
    })
}

/// The `sample.rows` ids of `ids` with the smallest XXH3-64 of (row_id, seed), ties broken by
/// row_id.
fn sample_rows(ids: &RoaringTreemap, sample: SampleSpec) -> RoaringTreemap {
    let n = sample.rows as usize;
    let mut heap: BinaryHeap<(u64, u64)> = BinaryHeap::with_capacity(n.min(ids.len() as usize) + 1);
    for id in ids {
        let rank = (xxh3_64_with_seed(&(id as i64).to_le_bytes(), sample.seed), id);
        if heap.len() < n {
            heap.push(rank);
        } else if heap.peek().is_some_and(|top| rank < *top) {
            heap.pop();
            heap.push(rank);
        }
    }
    heap.into_iter().map(|(_, id)| id).collect()
}

/// The number a query answers (its first value; 0 for none).
async fn count(context: &SessionContext, query: &str) -> Result<u64, SubsetError> {
    let batches = context.sql(query).await.map_err(SubsetError::plan)?.collect().await.map_err(SubsetError::plan)?;
    let value = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| b.column(0).as_primitive_opt::<Int64Type>().map(|c| c.value(0)))
        .unwrap_or(0);
    Ok(value as u64)
}

/// Column 0 as a set of row ids; the sum of column 1 when there is one, else the number
/// of rows.
async fn row_ids_and_counts(context: &SessionContext, query: &str) -> Result<(RoaringTreemap, u64), SubsetError> {
    let mut stream =
        context.sql(query).await.map_err(SubsetError::plan)?.execute_stream().await.map_err(SubsetError::plan)?;
    let (mut ids, mut total) = (RoaringTreemap::new(), 0u64);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(SubsetError::plan)?;
        let column = batch.column(0).as_primitive::<Int64Type>();
        for id in column.iter().flatten() {
            ids.insert(id as u64);
        }
        total += match batch.columns().get(1) {
            Some(counts) => counts.as_primitive::<Int64Type>().iter().flatten().sum::<i64>() as u64,
            None => batch.num_rows() as u64,
        };
    }
    Ok((ids, total))
}

/// Writes the chunks it receives into shards of `shard_rows` rows named `part-NNNNN.EXT`;
/// a subset without rows gets one empty shard, so its schema is still there.
fn write_shards(
    chunks: Receiver<RecordBatch>,
    dir: &Path,
    format: ExportFormat,
    schema: SchemaRef,
    shard_rows: usize,
) -> Result<Vec<OutputFile>, SubsetError> {
    let shard_rows = shard_rows.max(1);
    let options = ExportOptions { neutralise_formulas: false, row_group_rows: Some(ROW_GROUP_ROWS) };
    let mut files = Vec::new();
    let mut current: Option<(PathBuf, BatchWriter<BufWriter<fs::File>>, u64)> = None;
    let open = |index: usize| -> Result<(PathBuf, BatchWriter<BufWriter<fs::File>>, u64), SubsetError> {
        let path = dir.join(format!("part-{index:05}.{}", format.extension()));
        let file = fs::File::create(&path).map_err(|e| SubsetError::io(&path, e))?;
        let writer = BatchWriter::new(format, schema.clone(), BufWriter::new(file), options)?;
        Ok((path, writer, 0))
    };
    let close = |(path, writer, rows): (PathBuf, BatchWriter<BufWriter<fs::File>>, u64),
                 files: &mut Vec<OutputFile>|
     -> Result<(), SubsetError> {
        let mut out = writer.finish()?;
        out.flush().map_err(|e| SubsetError::io(&path, e))?;
        let file = out.into_inner().map_err(|e| SubsetError::io(&path, e.into_error()))?;
        file.sync_all().map_err(|e| SubsetError::io(&path, e))?;
        files.push(OutputFile::describe(&path, rows)?);
        Ok(())
    };
    for chunk in chunks {
        let mut at = 0;
        while at < chunk.num_rows() {
            let (path, mut writer, rows) = match current.take() {
                Some(shard) => shard,
                None => open(files.len())?,
            };
            let take = (shard_rows - rows as usize).min(chunk.num_rows() - at);
            writer.write(&chunk.slice(at, take))?;
            at += take;
            let shard = (path, writer, rows + take as u64);
            if shard.2 as usize == shard_rows {
                close(shard, &mut files)?;
            } else {
                current = Some(shard);
            }
        }
    }
    let last = match current {
        Some(shard) => shard,
        None if files.is_empty() => open(0)?,
        None => return Ok(files),
    };
    close(last, &mut files)?;
    Ok(files)
}

/// The file that marks a staging directory beside `--out` as this command's own.
const STAGING_MARKER: &str = ".pairscope-subset-staging";

/// Stages the output directory beside `out` (see [`StagedDir`]) once `out` is known to be
/// replaceable.
fn stage(out: &Path) -> Result<StagedDir, SubsetError> {
    replaceable(out).map_err(|why| {
        SubsetError::usage(format!(
            "--out {}: {why}; pairscope replaces only an empty directory or an earlier subset: choose another directory",
            out.display()
        ))
    })?;
    Ok(StagedDir::create(out, STAGING_MARKER, replaceable)?)
}

/// `Ok` for what a subset may replace: nothing, an empty directory, or a provable earlier
/// subset (its manifest parses as one and it holds nothing but the files that manifest lists).
/// Otherwise why not.
fn replaceable(out: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(out) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    if !meta.is_dir() {
        return Err("exists and is not a directory".into());
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(out).map_err(|e| format!("cannot be read ({e})"))? {
        entries.push(entry.map_err(|e| format!("cannot be read ({e})"))?);
    }
    if entries.is_empty() {
        return Ok(());
    }
    let manifest = match SubsetManifest::read(out) {
        Ok(manifest) if manifest.format == crate::manifest::FORMAT => manifest,
        Ok(manifest) => return Err(format!("its manifest.json has format {}, not this version's", manifest.format)),
        Err(_) if !out.join(crate::manifest::MANIFEST).exists() => {
            return Err("is not empty and holds no subset manifest.json".into());
        }
        Err(e) => return Err(format!("its manifest.json is not a subset manifest ({e})")),
    };
    for entry in entries {
        let name = entry.file_name();
        let listed = name == crate::manifest::MANIFEST || manifest.files.iter().any(|f| name == f.path.as_str());
        if !listed || !entry.file_type().is_ok_and(|t| t.is_file()) {
            return Err(format!("holds {:?}, which its manifest.json does not list", name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_the_smallest_ranks() {
        let ids: RoaringTreemap = (0..10_000u64).map(|i| i * 7 + 3).collect();
        let sample = SampleSpec { rows: 100, seed: 42 };
        let a = sample_rows(&ids, sample);
        assert_eq!(a.len(), 100);
        let mut ranked: Vec<(u64, u64)> =
            ids.iter().map(|id| (xxh3_64_with_seed(&(id as i64).to_le_bytes(), 42), id)).collect();
        ranked.sort_unstable();
        let expected: RoaringTreemap = ranked[..100].iter().map(|r| r.1).collect();
        assert_eq!(a, expected);
        assert_ne!(a, sample_rows(&ids, SampleSpec { rows: 100, seed: 43 }), "the seed matters");
        let few: RoaringTreemap = ids.iter().take(50).collect();
        assert_eq!(sample_rows(&few, sample), few);
    }
}
