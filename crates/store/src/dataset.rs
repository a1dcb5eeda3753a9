//! Opening a dataset for reading, and the commit protocol writers share.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use pairscope_model::columns::canonical_schema;

use crate::error::{Result, StoreError};
use pairscope_io::durable::{fsync_dir, is_temp_name, write_atomic};

use crate::layout::Layout;
use crate::manifest::{Manifest, SourceEntry};

/// A committed version of a dataset, opened for reading. Cheap to clone; re-open to see a
/// newer version.
#[derive(Debug, Clone)]
pub struct Dataset {
    layout: Layout,
    manifest: Arc<Manifest>,
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
        Ok(Dataset { layout, manifest: Arc::new(manifest) })
    }

    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn version(&self) -> u64 {
        self.manifest.version
    }

    pub fn rows(&self) -> u64 {
        self.manifest.rows()
    }

    /// Every column a reader of this version sees: the canonical columns, then every extra
    /// column any source kept, in source order (an extra column's type is its first source's;
    /// rows of sources without it read it as null).
    pub fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = canonical_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        for extra in self.manifest.sources.iter().flat_map(|s| &s.extra_columns) {
            if !fields.iter().any(|f| f.name() == &extra.name) {
                let data_type = extra.data_type.parse().unwrap_or(DataType::Utf8);
                fields.push(Field::new(&extra.name, data_type, true));
            }
        }
        Arc::new(Schema::new(fields))
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

/// The exclusive right to change a dataset, held for the life of the value (an OS file lock:
/// released by the kernel if the process dies).
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(layout: &Layout) -> Result<WriterLock> {
        fs::create_dir_all(layout.root()).map_err(StoreError::io(layout.root()))?;
        let path = layout.lock();
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(StoreError::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked(path)),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::Io { path, source: e }),
        }
    }
}

/// The manifest a writer starts from: the committed one, or an empty one for a new dataset,
/// whose directory must hold nothing but what a killed first ingest leaves (see
/// [`check_new_dataset_dir`]).
pub(crate) fn committed_manifest(layout: &Layout) -> Result<Manifest> {
    match read_current(layout)? {
        Some(version) => Manifest::read(&layout.manifest(version)),
        None => {
            check_new_dataset_dir(layout)?;
            Ok(Manifest::empty())
        }
    }
}

/// Refuses to make a dataset in a directory holding anything but `LOCK`, `versions/` of
/// manifests and `sources/` of source directories (what a first ingest killed before its
/// commit leaves, and reuses): a commit removes everything under `sources/` it does not
/// reference, so a user's own folder named `sources` would be lost.
fn check_new_dataset_dir(layout: &Layout) -> Result<()> {
    let refuse = |what: &Path| {
        Err(StoreError::Usage(format!(
            "{}: holds {}, so it is neither a dataset nor a new one: give ingest an empty or new directory",
            layout.root().display(),
            what.strip_prefix(layout.root()).unwrap_or(what).display()
        )))
    };
    let ours = |name: &str, expected: fn(&str) -> bool| {
        expected(name) || name.rsplit_once(".tmp-").is_some_and(|(stem, _)| expected(stem) && is_temp_name(name))
    };
    let entries = |dir: &Path| -> Result<Vec<fs::DirEntry>> {
        match fs::read_dir(dir) {
            Ok(entries) => entries.collect::<std::io::Result<Vec<_>>>().map_err(StoreError::io(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::Io { path: dir.to_path_buf(), source: e }),
        }
    };
    for entry in entries(layout.root())? {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        match entry.file_name().to_str() {
            Some("LOCK") if !is_dir => {}
            Some("versions") if is_dir => {
                for version in entries(&path)? {
                    if !version.file_name().to_str().is_some_and(|n| ours(n, is_manifest_name)) {
                        return refuse(&version.path());
                    }
                }
            }
            Some("sources") if is_dir => {
                for source in entries(&path)? {
                    if !source.file_name().to_str().is_some_and(|n| ours(n, is_source_dir_name)) {
                        return refuse(&source.path());
                    }
                }
            }
            _ => return refuse(&path),
        }
    }
    Ok(())
}

/// `v00000007.json`, as [`Layout::manifest`] names them.
fn is_manifest_name(name: &str) -> bool {
    name.strip_prefix('v')
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// 16 lower-case hex digits, as [`Layout::source_dir`] names them.
fn is_source_dir_name(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Commits `sources` as the next version after `previous`: writes its manifest, then replaces
/// `CURRENT` (the commit point), then removes what neither version references. Needs the
/// writer lock.
pub(crate) fn commit(
    _lock: &WriterLock,
    layout: &Layout,
    previous: &Manifest,
    mut sources: Vec<SourceEntry>,
) -> Result<Manifest> {
    sources.sort_by(|a, b| a.id.cmp(&b.id));
    let manifest = Manifest {
        version: previous.version + 1,
        committed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        sources,
        ..Manifest::empty()
    };
    let versions = layout.versions();
    fs::create_dir_all(&versions).map_err(StoreError::io(&versions))?;
    let json = serde_json::to_vec_pretty(&manifest).expect("manifests serialise");
    let path = layout.manifest(manifest.version);
    write_atomic(&path, &json).map_err(StoreError::io(&path))?;
    let current = layout.current();
    write_atomic(&current, format!("{}\n", manifest.version).as_bytes()).map_err(StoreError::io(&current))?;
    collect_garbage(layout, &[previous, &manifest]);
    Ok(manifest)
}

/// Removes source directories no kept version references, and temporaries of dead writers.
/// The previous version is kept whole so a reader that opened it just before the commit can
/// finish. Failures only leave files behind; they are logged, never fatal.
pub(crate) fn collect_garbage(layout: &Layout, keep: &[&Manifest]) {
    let referenced: HashSet<PathBuf> = keep.iter().flat_map(|m| &m.sources).map(|s| layout.source_dir(&s.id)).collect();
    let Ok(entries) = fs::read_dir(layout.sources()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if referenced.contains(&path) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        tracing::debug!(path = %path.display(), temp = is_temp_name(&name), "removing unreferenced source directory");
        if let Err(e) = fs::remove_dir_all(&path) {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
    }
    let _ = fsync_dir(&layout.sources());
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
