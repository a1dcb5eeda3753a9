//! The table `pairs`: one committed version's data files, scanned by DataFusion's parquet
//! reader under one schema.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::prelude::{col, lit};
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

/// The canonical columns, then every extra column any source keeps, by name, then the
/// version's added columns. Sources that disagree on an extra column's type are read as text,
/// which every type casts to.
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
    fields.extend(dataset.added_fields());
    Ok(Arc::new(Schema::new(fields)))
}

/// The table over one dataset version. Its files are listed in row-id order and declared
/// sorted by `row_id` (true by construction: see [`Dataset::data_files_by_row_id`]), so
/// `ORDER BY row_id` merges instead of sorting.
///
/// A version with overlays ([`pairscope_store::overlay`]) is a view over the files: each
/// column an overlay has values for is [`OverlayFunction`] of the row's id and its stored
/// value, so every query sees the overlaid value, and no filter on such a column is used to
/// skip row groups by the files' statistics (they describe the stored values).
pub fn pairs_table(dataset: &Dataset) -> Result<PairsTable, SqlError> {
    let schema = schema(dataset)?;
    let urls =
        dataset.data_files_by_row_id().iter().map(|file| file_url(file)).collect::<Result<Vec<_>, SqlError>>()?;
    let files = urls.iter().map(|url| url.prefix().clone()).collect();
    if urls.is_empty() {
        // A dataset whose sources were all removed: the table exists, with no rows.
        return Ok(PairsTable { provider: Arc::new(EmptyTable::new(schema)), files });
    }
    let added: Vec<String> = dataset.added_fields().iter().map(|f| f.name().clone()).collect();
    let stored = Arc::new(Schema::new(
        schema.fields().iter().filter(|f| !added.contains(f.name())).map(|f| f.as_ref().clone()).collect::<Vec<_>>(),
    ));
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_file_sort_order(vec![vec![col("row_id").sort(true, false)]]);
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(stored);
    let table = Arc::new(ListingTable::try_new(config).map_err(SqlError::Execution)?);
    if dataset.overlays().is_empty() {
        return Ok(PairsTable { provider: table, files });
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            if !dataset.overlays().covers(name) && !added.contains(name) {
                return Ok(col(name));
            }
            let stored = if added.contains(name) {
                lit(ScalarValue::try_from(field.data_type()).map_err(SqlError::Execution)?)
            } else {
                col(name)
            };
            let function = ScalarUDF::from(OverlayFunction::new(dataset.clone(), name, field.data_type().clone()));
            Ok(function.call(vec![col("row_id"), stored]).alias(name))
        })
        .collect::<Result<Vec<Expr>, SqlError>>()?;
    let plan = LogicalPlanBuilder::scan("stored", provider_as_source(table), None)
        .and_then(|scan| scan.project(columns))
        .and_then(|projected| projected.build())
        .map_err(SqlError::Execution)?;
    Ok(PairsTable { provider: Arc::new(ViewTable::new(plan, None)), files })
}

/// `overlay(row_id, stored)`: column `column`'s value of the row as this version's readers see
/// it, the overlay's where the row's block has one ([`pairscope_store::Dataset::complete_rows`],
/// the one merge every reader goes through), else `stored`.
#[derive(Debug)]
pub struct OverlayFunction {
    dataset: Dataset,
    column: String,
    data_type: DataType,
    name: String,
    signature: Signature,
}

impl OverlayFunction {
    fn new(dataset: Dataset, column: &str, data_type: DataType) -> OverlayFunction {
        OverlayFunction {
            name: format!("overlay_{column}"),
            column: column.to_string(),
            signature: Signature::exact(vec![DataType::Int64, data_type.clone()], Volatility::Immutable),
            data_type,
            dataset,
        }
    }

    /// What tells two functions apart: the column, its type and the version they read.
    fn identity(&self) -> (&str, &DataType, &Path, u64) {
        (&self.column, &self.data_type, self.dataset.root(), self.dataset.version())
    }
}

impl PartialEq for OverlayFunction {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for OverlayFunction {}

impl std::hash::Hash for OverlayFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl ScalarUDFImpl for OverlayFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.data_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [row_ids, stored] = arrays.as_slice() else {
            return datafusion::common::exec_err!("{} takes a row id and a value", self.name);
        };
        let fields =
            vec![Field::new("row_id", DataType::Int64, true), Field::new(&self.column, self.data_type.clone(), true)];
        let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), vec![row_ids.clone(), stored.clone()])?;
        let rows = self
            .dataset
            .complete_rows(rows, &[])
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Ok(ColumnarValue::Array(rows.column(1).clone()))
    }
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
