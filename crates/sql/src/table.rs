//! The table `pairs`: one committed version's data files, scanned by DataFusion's parquet
//! reader under one schema.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::prelude::col;
use pairscope_model::columns::canonical_schema;
use pairscope_store::{Dataset, StoreError};

use crate::error::SqlError;

/// The name queries use for the dataset's rows.
pub const TABLE: &str = "pairs";

/// The table over `dataset`, and the files it may read (as object-store paths, for the guard).
pub struct PairsTable {
    /// The table `pairs`, for a DataFusion context to register.
    pub provider: Arc<dyn TableProvider>,
    /// The version's data files: the only files a plan over the table may read.
    pub files: Vec<ObjectPath>,
}

/// The canonical columns, then every extra column any source keeps, by name. Sources that
/// disagree on an extra column's type are read as text, which every type casts to.
pub fn schema(dataset: &Dataset) -> Result<SchemaRef, SqlError> {
    let mut extras: BTreeMap<&str, DataType> = BTreeMap::new();
    for column in dataset.manifest().sources.iter().flat_map(|s| &s.extra_columns) {
        let data_type = DataType::from_str(&column.data_type)
            .map_err(|e| SqlError::Schema { column: column.name.clone(), message: e.to_string() })?;
        extras
            .entry(&column.name)
            .and_modify(|known| {
                if *known != data_type {
                    *known = DataType::Utf8;
                }
            })
            .or_insert(data_type);
    }
    let mut fields: Vec<Field> = canonical_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(extras.into_iter().map(|(name, data_type)| Field::new(name, data_type, true)));
    Ok(Arc::new(Schema::new(fields)))
}

/// The table over one dataset version. Its files are listed in row-id order and declared
/// sorted by `row_id` (true by construction: see [`Dataset::data_files_by_row_id`]), so
/// `ORDER BY row_id` merges instead of sorting.
pub fn pairs_table(dataset: &Dataset) -> Result<PairsTable, SqlError> {
    let schema = schema(dataset)?;
    let urls =
        dataset.data_files_by_row_id().iter().map(|file| file_url(file)).collect::<Result<Vec<_>, SqlError>>()?;
    let files = urls.iter().map(|url| url.prefix().clone()).collect();
    if urls.is_empty() {
        // A dataset whose sources were all removed: the table exists, with no rows.
        return Ok(PairsTable { provider: Arc::new(EmptyTable::new(schema)), files });
    }
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_file_sort_order(vec![vec![col("row_id").sort(true, false)]]);
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    let table = ListingTable::try_new(config).map_err(SqlError::Execution)?;
    Ok(PairsTable { provider: Arc::new(table), files })
}

/// A data file as a `file://` URL. Built from the URL type, not parsed from text, so a dataset
/// path with glob characters (`[`, `*`) names exactly that file; resolved as the kernel resolves
/// it, since the object store refuses a path holding `..`.
fn file_url(file: &Path) -> Result<ListingTableUrl, SqlError> {
    let io_error = |source| SqlError::Dataset(StoreError::Io { path: file.to_path_buf(), source });
    let absolute = pairscope_io::path::resolve(file).map_err(io_error)?;
    let url = url::Url::from_file_path(&absolute)
        .map_err(|()| io_error(std::io::Error::other("cannot be named as a file URL")))?;
    ListingTableUrl::try_new(url, None).map_err(SqlError::Execution)
}

/// A table over every `*.parquet` file directly in `dir` (a subset's output, or any directory
/// of parquet files), in file-name order, its schema read from the files.
pub async fn parquet_dir_table(
    context: &datafusion::prelude::SessionContext,
    dir: &Path,
) -> Result<Arc<dyn TableProvider>, SqlError> {
    let io_error = |source| SqlError::Dataset(StoreError::Io { path: dir.to_path_buf(), source });
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "parquet") && path.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(io_error(std::io::Error::other("holds neither a pairscope dataset nor parquet files")));
    }
    let urls = files.iter().map(|file| file_url(file)).collect::<Result<Vec<_>, SqlError>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&context.state())
        .await
        .map_err(SqlError::Execution)?;
    Ok(Arc::new(ListingTable::try_new(config).map_err(SqlError::Execution)?))
}
