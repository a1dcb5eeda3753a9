//! `pairscope diff`: which rows two datasets share and which only one has, by a key, broken
//! down by domain: what a re-release removed, or what a subset kept.
//!
//! Either side is a pairscope dataset or a directory of parquet files (a subset's output).
//! Counts are rows: `only_a` and `both` count rows of A, `only_b` rows of B, so with duplicate
//! keys `both` can differ from B's side of the match. A row whose key is null (a missing
//! sample_id) matches nothing. URL keys are compared by their 128-bit hash (see
//! [`crate::udf::PairKeyUdf`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use pairscope_sql::table::{pairs_table, parquet_dir_table};
use pairscope_store::Dataset;

use crate::error::SubsetError;
use crate::udf::PairKeyUdf;

/// What identifies a row on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKey {
    /// row_id: a dataset against its own subset.
    Row,
    /// The image URL.
    Url,
    /// The image URL and the caption.
    UrlCaption,
    /// The source's own id of the pair (`sample_id`).
    SampleId,
}

impl DiffKey {
    /// Its name as `--key` spells it.
    pub fn name(self) -> &'static str {
        match self {
            DiffKey::Row => "row",
            DiffKey::Url => "url",
            DiffKey::UrlCaption => "url+caption",
            DiffKey::SampleId => "sample_id",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            DiffKey::Row => "row_id",
            DiffKey::Url => "pair_key(url)",
            DiffKey::UrlCaption => "pair_key(url, caption)",
            DiffKey::SampleId => "sample_id",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            DiffKey::Row => &["row_id"],
            DiffKey::Url => &["url"],
            DiffKey::UrlCaption => &["url", "caption"],
            DiffKey::SampleId => &["sample_id"],
        }
    }
}

/// What `pairscope diff` was asked.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// The first side: a dataset or a directory of parquet files (a subset).
    pub a: PathBuf,
    /// The second side, the same way.
    pub b: PathBuf,
    /// What identifies a row on both sides.
    pub key: DiffKey,
    /// Also count by the rows' domain.
    pub by_domain: bool,
    /// Domains listed (most differing first); `None` for all.
    pub top: Option<usize>,
    /// Bytes DataFusion's operators may hold before spilling.
    pub memory_limit: usize,
}

/// How two sides differ: rows, matched by key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiffReport {
    /// The first side's path, as given.
    pub a: String,
    /// The second side's path, as given.
    pub b: String,
    /// The key rows were matched by.
    pub key: DiffKey,
    /// Rows of `a` whose key `b` lacks.
    pub only_a: u64,
    /// Rows of `b` whose key `a` lacks.
    pub only_b: u64,
    /// Rows of `a` whose key `b` has too.
    pub both: u64,
    /// Empty unless asked `--by domain`.
    pub by_domain: Vec<DomainDiff>,
    /// Domains with a difference or a shared row, before `top` cut the list.
    pub domains: u64,
}

/// The counts of one domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DomainDiff {
    /// Null for rows without a domain.
    pub domain: Option<String>,
    /// Rows of `a` whose key `b` lacks.
    pub only_a: u64,
    /// Rows of `b` whose key `a` lacks.
    pub only_b: u64,
    /// Rows of `a` whose key `b` has too.
    pub both: u64,
}

/// Compares the two sides of `request`.
pub fn diff(request: &DiffRequest) -> Result<DiffReport, SubsetError> {
    crate::error::on_own_runtime(None, run(request))
}

async fn run(request: &DiffRequest) -> Result<DiffReport, SubsetError> {
    let context = pairscope_sql::session::context(request.memory_limit)?;
    context.register_udf(PairKeyUdf::udf());
    let mut domains = Vec::new();
    for (name, path) in [("a_rows", &request.a), ("b_rows", &request.b)] {
        let table = open_rows(&context, path).await?;
        let schema = table.schema();
        for column in request.key.columns() {
            if schema.field_with_name(column).is_err() {
                return Err(SubsetError::usage(format!(
                    "{}: has no column {column}, which --key {} needs",
                    path.display(),
                    request.key.name()
                )));
            }
        }
        domains.push(match (request.by_domain, schema.field_with_name("domain").is_ok()) {
            (false, _) => "CAST(NULL AS VARCHAR)",
            (true, true) => "CAST(domain AS VARCHAR)",
            (true, false) => "domain(url)",
        });
        context.register_table(name, table).map_err(SubsetError::plan)?;
    }
    let key = request.key.sql();
    let sql = format!(
        "WITH a AS (SELECT {key} AS k, {da} AS d FROM a_rows), b AS (SELECT {key} AS k, {db} AS d FROM b_rows) \
         SELECT 0 AS side, d, count(*) AS n FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.k = a.k) GROUP BY d \
         UNION ALL SELECT 1 AS side, d, count(*) AS n FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k) GROUP BY d \
         UNION ALL SELECT 2 AS side, d, count(*) AS n FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.k = b.k) GROUP BY d",
        da = domains[0],
        db = domains[1]
    );
    let batches = context.sql(&sql).await.map_err(SubsetError::plan)?.collect().await.map_err(SubsetError::plan)?;
    let mut by: std::collections::BTreeMap<Option<String>, [u64; 3]> = Default::default();
    for batch in &batches {
        let sides = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Int64)?;
        let sides = sides.as_primitive::<Int64Type>();
        let names = arrow::compute::cast(batch.column(1), &arrow::datatypes::DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let counts = batch.column(2).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let domain = names.is_valid(i).then(|| names.value(i).to_string());
            by.entry(domain).or_default()[sides.value(i) as usize] += counts.value(i) as u64;
        }
    }
    let total = |side: usize| by.values().map(|c| c[side]).sum::<u64>();
    let (only_a, both, only_b) = (total(0), total(1), total(2));
    let mut by_domain: Vec<DomainDiff> = if request.by_domain {
        by.into_iter().map(|(domain, c)| DomainDiff { domain, only_a: c[0], both: c[1], only_b: c[2] }).collect()
    } else {
        Vec::new()
    };
    let domains = by_domain.len() as u64;
    by_domain.sort_by(|x, y| (y.only_a + y.only_b).cmp(&(x.only_a + x.only_b)).then_with(|| x.domain.cmp(&y.domain)));
    if let Some(top) = request.top {
        by_domain.truncate(top);
    }
    Ok(DiffReport {
        a: request.a.display().to_string(),
        b: request.b.display().to_string(),
        key: request.key,
        only_a,
        only_b,
        both,
        by_domain,
        domains,
    })
}

/// A dataset's `pairs` table, or a table over a directory of parquet files.
async fn open_rows(context: &SessionContext, path: &Path) -> Result<Arc<dyn TableProvider>, SubsetError> {
    if pairscope_store::layout::Layout::new(path).current().is_file() {
        let dataset = Dataset::open(path)?;
        Ok(pairs_table(&dataset)?.provider)
    } else {
        Ok(parquet_dir_table(context, path).await?)
    }
}
