//! Opening a committed version of a dataset for reading.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use pairscope_model::columns::canonical_schema;

use crate::error::{Result, StoreError};
use crate::layout::Layout;
use crate::manifest::Manifest;
use crate::overlay::VersionOverlays;

/// A committed version of a dataset, opened for reading. Cheap to clone; re-open to see a
/// newer version.
#[derive(Debug, Clone)]
pub struct Dataset {
    layout: Layout,
    manifest: Arc<Manifest>,
    overlays: Arc<VersionOverlays>,
}

impl Dataset {
    /// Opens the version `CURRENT` names.
    pub fn open(root: impl AsRef<Path>) -> Result<Dataset> {
        let layout = Layout::new(root.as_ref());
        let version = read_current(&layout)?.ok_or_else(|| StoreError::NotADataset(root.as_ref().to_path_buf()))?;
        let path = layout.manifest(version);
        let manifest = Manifest::read(&path)?;
        if manifest.version != version {
            return Err(StoreError::BadManifest {
                path,
                field: "version".into(),
                reason: format!("{} is not the version {version} CURRENT names", manifest.version),
            });
        }
        let overlays = Arc::new(VersionOverlays::new(&layout, &manifest));
        Ok(Dataset { layout, manifest: Arc::new(manifest), overlays })
    }

    /// The dataset's directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Where the dataset's files are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The manifest of the version opened.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The number of the version opened.
    pub fn version(&self) -> u64 {
        self.manifest.version
    }

    /// Rows in the version opened, over all its sources.
    pub fn rows(&self) -> u64 {
        self.manifest.rows()
    }

    /// Every column a reader of this version sees: the canonical columns, then every extra
    /// column any source kept, in source order (an extra column's type is its first source's;
    /// rows of sources without it read it as null), then the added columns.
    pub fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = canonical_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        for extra in self.manifest.sources.iter().flat_map(|s| &s.extra_columns) {
            if !fields.iter().any(|f| f.name() == &extra.name) {
                let data_type = extra.data_type.parse().unwrap_or(DataType::Utf8);
                fields.push(Field::new(&extra.name, data_type, true));
            }
        }
        fields.extend(self.added_fields());
        Arc::new(Schema::new(fields))
    }

    /// The columns added to this version's rows after ingest (only overlays hold them).
    pub fn added_fields(&self) -> Vec<Field> {
        let type_of = |text: &str| text.parse().unwrap_or(DataType::Utf8);
        self.manifest.added_columns.iter().map(|c| Field::new(&c.name, type_of(&c.data_type), true)).collect()
    }

    /// The overlays of this version ([`crate::overlay`]).
    pub fn overlays(&self) -> &VersionOverlays {
        &self.overlays
    }

    /// Whether rows read with `columns` need their `row_id` to take this version's overlays
    /// (some overlay has values for one of them, or one is an added column).
    pub fn overlays_need_row_id<'a>(&self, mut columns: impl Iterator<Item = &'a str>) -> bool {
        !self.overlays.is_empty()
            && columns.any(|c| self.overlays.covers(c) || self.manifest.added_columns.iter().any(|a| a.name == c))
    }

    /// `batch` (rows read from this version's data files, with their `row_id` whenever
    /// [`Self::overlays_need_row_id`] says so) as this version's readers see them: the overlays' values laid over
    /// them, then each of `columns` it lacks added (an added column from the overlays, any other
    /// as nulls, as [`with_missing_columns`] does). Every reader of parquet rows calls it.
    pub fn complete_rows(&self, batch: RecordBatch, columns: &[String]) -> Result<RecordBatch> {
        let added: Vec<Field> = self
            .added_fields()
            .into_iter()
            .filter(|f| columns.contains(f.name()) && batch.column_by_name(f.name()).is_none())
            .collect();
        let batch = self.overlays.apply(batch, &added)?;
        let schema = self.schema();
        with_missing_columns(batch, columns, &schema)
            .map_err(|e| StoreError::Overlay { path: self.layout.overlays(), reason: e.to_string() })
    }

    /// Every data file of this version, in a deterministic order (by source id, then block).
    pub fn data_files(&self) -> Vec<PathBuf> {
        self.manifest.sources.iter().flat_map(|s| &s.files).map(|f| self.layout.root().join(&f.path)).collect()
    }

    /// Every data file in ascending row-id order: row ids ascend within a file, and the files
    /// of different blocks hold disjoint ranges (a row id's high bits are its block's key).
    pub fn data_files_by_row_id(&self) -> Vec<PathBuf> {
        let mut files: Vec<_> = self.manifest.sources.iter().flat_map(|s| &s.files).collect();
        files.sort_by_key(|f| f.block_key);
        files.into_iter().map(|f| self.layout.root().join(&f.path)).collect()
    }

    /// Bytes the dataset directory occupies on disk (all of it, including what older versions
    /// still reference).
    pub fn size_on_disk(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = fs::read_dir(dir) else { return 0 };
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        }
        walk(self.layout.root())
    }
}

/// The committed version number, or `None` for a directory that holds no dataset yet.
pub(crate) fn read_current(layout: &Layout) -> Result<Option<u64>> {
    let path = layout.current();
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map(Some).map_err(|_| StoreError::Corrupt {
            path,
            reason: format!("CURRENT holds {:?}, not a version number", text.trim()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io { path, source: e }),
    }
}

/// `batch` (read from one data file) with each of `columns` it lacks added as nulls of the
/// type `schema` (a [`Dataset::schema`]) gives: a source without an extra column reads it as
/// null, as SQL over the union of sources would.
pub fn with_missing_columns(
    batch: RecordBatch,
    columns: &[String],
    schema: &Schema,
) -> std::result::Result<RecordBatch, ArrowError> {
    if columns.iter().all(|c| batch.column_by_name(c).is_some()) {
        return Ok(batch);
    }
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays = batch.columns().to_vec();
    for name in columns {
        if batch.column_by_name(name).is_none() {
            let field = schema.field_with_name(name)?;
            arrays.push(new_null_array(field.data_type(), batch.num_rows()));
            fields.push(field.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}
