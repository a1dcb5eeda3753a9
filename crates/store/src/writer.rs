//! Changing a dataset: one writer at a time, sources staged beside the committed ones, and the
//! commit that makes them a version. Every writer (ingest, source removal, and any later one
//! that adds sources) goes through [`DatasetWriter`], so the protocol has one home:
//!
//! 1. [`DatasetWriter::open`] takes `LOCK` (an OS file lock, released by the kernel if the
//!    process dies) and reads the committed manifest; a directory with no dataset yet must hold
//!    nothing but what a killed first writer leaves (a commit removes everything under
//!    `sources/` it does not reference, so a user's own folder named `sources` would be lost).
//! 2. A source is written into `sources/<id16>.tmp-PID` ([`DatasetWriter::stage_source`]);
//!    [`StagedSource::publish`] writes its `source.json` last and renames the directory to
//!    `sources/<id16>`. A directory under its final name with a valid `source.json` is
//!    complete, so the next writer may reuse it ([`DatasetWriter::staged`]) instead of
//!    writing it again. A stage dropped unpublished is removed.
//! 3. [`DatasetWriter::commit`] checks the dataset's invariants over the new list of sources
//!    (row-id blocks distinct, at most [`MAX_DATASET_COLUMNS`] columns), writes the next
//!    manifest, then replaces `CURRENT` (the commit point), then removes what neither the new
//!    nor the previous version references. The previous version is kept whole, so a reader
//!    that opened it just before the commit can finish.
//!
//! A writer killed at any step leaves the last committed version; what it staged is reused or
//! removed by the next writer.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use pairscope_io::durable::{fsync_dir, is_temp_name, remove_dead_temporaries, temp_path, write_atomic};
use pairscope_io::path::resolve;
use pairscope_model::columns::CANONICAL_COLUMNS;
use pairscope_model::row_id::{BLOCK_ROWS, block_key};

use crate::dataset::read_current;
use crate::error::{Result, StoreError};
use crate::layout::Layout;
use crate::manifest::{AddedColumn, BlockFile, Manifest, OverlayEntry, SourceEntry, VectorSet, source_hash};

/// Distinct column names a dataset may have (canonical and extra, over all its sources): SQL
/// plans over the union of every source's columns, and that union is what every query pays for.
pub const MAX_DATASET_COLUMNS: usize = 4096;

/// The one writer of a dataset, holding its lock for the life of the value.
pub struct DatasetWriter {
    _lock: File,
    layout: Layout,
    committed: Manifest,
}

impl DatasetWriter {
    /// Takes the dataset's writer lock (creating the directory if needed) and reads the
    /// committed manifest, or starts an empty one for a new dataset. Fails with
    /// [`StoreError::Locked`] while another process writes.
    pub fn open(root: &Path) -> Result<DatasetWriter> {
        let layout = Layout::new(root);
        fs::create_dir_all(layout.root()).map_err(StoreError::io(layout.root()))?;
        let path = layout.lock();
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(StoreError::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(path)),
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::Io { path, source: e }),
        }
        let committed = match read_current(&layout)? {
            Some(version) => Manifest::read(&layout.manifest(version))?,
            None => {
                check_new_dataset_dir(&layout)?;
                Manifest::empty()
            }
        };
        Ok(DatasetWriter { _lock: file, layout, committed })
    }

    /// Where the dataset's files are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The version this writer started from (version 0, with no sources, for a new dataset).
    pub fn committed(&self) -> &Manifest {
        &self.committed
    }

    /// The complete staged copy of source `id` that an earlier writer left uncommitted (killed
    /// after staging it), if any. The caller decides whether it was staged with the settings
    /// wanted now.
    pub fn staged(&self, id: &str) -> Option<SourceEntry> {
        SourceEntry::read(&self.layout.source_dir(id).join("source.json")).ok().filter(|entry| entry.id == id)
    }

    /// An empty directory to write source `id` into, replacing any earlier staged copy.
    pub fn stage_source(&self, id: &str) -> Result<StagedSource> {
        let sources = self.layout.sources();
        fs::create_dir_all(&sources).map_err(StoreError::io(&sources))?;
        let dir = self.layout.source_dir(id);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(StoreError::io(&dir))?;
        }
        let tmp = temp_path(&dir);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
        Ok(StagedSource { tmp, dir, sources, published: false })
    }

    /// Removes staged sources (published but not committed) by id: what a writer that fails
    /// after staging some of its sources leaves behind.
    pub fn discard(&self, ids: &[String]) {
        for dir in ids.iter().map(|id| self.layout.source_dir(id)) {
            if let Err(e) = fs::remove_dir_all(&dir) {
                tracing::warn!("could not remove staged {}: {e}", dir.display());
            }
        }
    }

    /// Whether `sources` (the whole list of a version) keeps the invariants of datasets: no two
    /// row-id blocks share a key, at most [`MAX_DATASET_COLUMNS`] distinct columns.
    pub fn check(&self, sources: &[SourceEntry]) -> Result<()> {
        check_block_keys(sources)?;
        check_columns(sources)
    }

    /// Commits `sources` (the whole list: kept and added) as the next version, with the
    /// committed overlays of the blocks it keeps. Refuses, with nothing changed, a list that
    /// breaks an invariant of datasets ([`Self::check`]).
    pub fn commit(self, sources: Vec<SourceEntry>) -> Result<Manifest> {
        let overlays = self.committed.overlays.clone();
        let added = self.committed.added_columns.clone();
        let vector_sets = self.committed.vector_sets.clone();
        self.commit_version(sources, overlays, added, vector_sets)
    }

    /// Where the overlay of block `block` of source `source_id` that this writer's commit
    /// writes goes (the directory exists). Write it with
    /// [`OverlayRows::write`](crate::overlay::OverlayRows::write), then list it in
    /// [`Self::commit_overlays`].
    pub fn overlay_path(&self, source_id: &str, block: u64) -> Result<(String, PathBuf)> {
        let relative = Layout::overlay_file(source_id, block, self.committed.version + 1);
        let path = self.added_file(&relative)?;
        Ok((relative, path))
    }

    /// The path of `relative`, a file this writer's commit will list (a [`Layout`] name of
    /// an overlay, a vector file or its index, for the next version), with its directory made.
    /// Until the commit no version references it, and garbage collection removes it if the
    /// commit never comes.
    pub fn added_file(&self, relative: &str) -> Result<PathBuf> {
        let path = self.layout.root().join(relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        }
        Ok(path)
    }

    /// Commits the committed sources with `overlays` (written through [`Self::overlay_path`])
    /// in place of the committed overlays of the same blocks, and `added` columns the version
    /// did not have yet.
    pub fn commit_overlays(self, overlays: Vec<OverlayEntry>, added: Vec<AddedColumn>) -> Result<Manifest> {
        let mut all: Vec<OverlayEntry> = self
            .committed
            .overlays
            .iter()
            .filter(|old| !overlays.iter().any(|new| new.file.same_block(&old.file)))
            .cloned()
            .collect();
        all.extend(overlays);
        let mut columns = self.committed.added_columns.clone();
        columns.extend(added.into_iter().filter(|a| !self.committed.added_columns.iter().any(|c| c.name == a.name)));
        let sources = self.committed.sources.clone();
        let vector_sets = self.committed.vector_sets.clone();
        self.commit_version(sources, all, columns, vector_sets)
    }

    /// Where the vector file of kind `kind` of block `block` of source `source_id` that this
    /// writer's commit writes goes (the directory exists). Write it with
    /// `pairscope_vectors::store::VectorFileWriter`, then list it in [`Self::commit_vectors`].
    pub fn vector_path(&self, kind: &str, source_id: &str, block: u64) -> Result<(String, PathBuf)> {
        let relative = Layout::vector_file(kind, source_id, block, self.committed.version + 1);
        let path = self.added_file(&relative)?;
        Ok((relative, path))
    }

    /// Commits the committed version with `set` in place of the committed set of its kind
    /// (the caller carries over what it keeps of that set: files of blocks it did not write).
    pub fn commit_vectors(self, set: VectorSet) -> Result<Manifest> {
        let mut sets = self.committed.vector_sets.clone();
        sets.retain(|s| s.kind != set.kind);
        sets.push(set);
        let (sources, overlays, added) =
            (self.committed.sources.clone(), self.committed.overlays.clone(), self.committed.added_columns.clone());
        self.commit_version(sources, overlays, added, sets)
    }

    /// Commits the next version: `sources`, the `overlays` and vector files of the blocks they
    /// keep, and the `added` columns some kept overlay still has values for.
    fn commit_version(
        self,
        mut sources: Vec<SourceEntry>,
        mut overlays: Vec<OverlayEntry>,
        mut added: Vec<AddedColumn>,
        mut vector_sets: Vec<VectorSet>,
    ) -> Result<Manifest> {
        self.check(&sources)?;
        sources.sort_by(|a, b| a.id.cmp(&b.id));
        let kept =
            |f: &BlockFile| sources.iter().any(|s| s.id == f.source && s.files.iter().any(|b| b.block == f.block));
        let order = |a: &BlockFile, b: &BlockFile| (&a.source, a.block).cmp(&(&b.source, b.block));
        overlays.retain(|o| kept(&o.file));
        overlays.sort_by(|a, b| order(&a.file, &b.file));
        added.retain(|a| overlays.iter().any(|o| o.columns.contains(&a.name)));
        for set in &mut vector_sets {
            set.files.retain(kept);
            set.files.sort_by(order);
            if let Some(index) = &mut set.index {
                index.lists.retain(kept);
                index.lists.sort_by(order);
            }
        }
        vector_sets.retain(|set| !set.files.is_empty());
        vector_sets.sort_by(|a, b| a.kind.cmp(&b.kind));
        let manifest = Manifest {
            version: self.committed.version + 1,
            committed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            sources,
            added_columns: added,
            overlays,
            vector_sets,
            ..Manifest::empty()
        };
        manifest.check().map_err(|(field, reason)| StoreError::BadManifest {
            path: self.layout.manifest(manifest.version),
            field,
            reason,
        })?;
        let versions = self.layout.versions();
        fs::create_dir_all(&versions).map_err(StoreError::io(&versions))?;
        let path = self.layout.manifest(manifest.version);
        let current = self.layout.current();
        // A writer killed inside this commit left its temporaries of these two very names (the
        // version number it was committing is ours again): they go before ours are written.
        for target in [&path, &current] {
            remove_dead_temporaries(target).map_err(StoreError::io(target))?;
        }
        write_atomic(&path, &to_json(&manifest)).map_err(StoreError::io(&path))?;
        write_atomic(&current, format!("{}\n", manifest.version).as_bytes()).map_err(StoreError::io(&current))?;
        collect_garbage(&self.layout, &[&self.committed, &manifest]);
        Ok(manifest)
    }

    /// Commits the version without the sources `selectors` name: a source id (or a unique
    /// prefix of at least 8 hex digits) or the path a source was ingested from, as recorded or
    /// in any spelling that resolves to it. Returns the new manifest and the removed entries.
    pub fn remove_sources(self, selectors: &[String]) -> Result<(Manifest, Vec<SourceEntry>)> {
        if self.committed.version == 0 {
            return Err(StoreError::NotADataset(self.layout.root().to_path_buf()));
        }
        let mut removed = Vec::new();
        for selector in selectors {
            let resolved = resolve(Path::new(selector)).ok();
            let matches: Vec<&SourceEntry> = self
                .committed
                .sources
                .iter()
                .filter(|s| {
                    (selector.len() >= 8 && s.id.starts_with(selector.as_str()))
                        || s.path == *selector
                        || resolved.as_ref().is_some_and(|path| path.as_os_str() == s.path.as_str())
                })
                .collect();
            match matches.as_slice() {
                [one] => removed.push((*one).clone()),
                [] => return Err(StoreError::UnknownSource(selector.clone())),
                _ => {
                    return Err(StoreError::usage(format!(
                        "{selector:?} matches {} sources; give more of the id",
                        matches.len()
                    )));
                }
            }
        }
        let kept = self.committed.sources.iter().filter(|s| !removed.iter().any(|r| r.id == s.id)).cloned().collect();
        let manifest = self.commit(kept)?;
        Ok((manifest, removed))
    }
}

/// A source being written (`sources/<id16>.tmp-PID`): removed when dropped unpublished.
pub struct StagedSource {
    tmp: PathBuf,
    dir: PathBuf,
    sources: PathBuf,
    published: bool,
}

impl StagedSource {
    /// The directory to write the source's files into.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Writes `entry` as the source's `source.json` and moves the directory to its final name:
    /// from here on it is a complete staged source, which a commit can list.
    pub fn publish(mut self, entry: &SourceEntry) -> Result<()> {
        let entry_path = self.tmp.join("source.json");
        write_atomic(&entry_path, &to_json(entry)).map_err(StoreError::io(&entry_path))?;
        fs::rename(&self.tmp, &self.dir).map_err(StoreError::io(&self.dir))?;
        self.published = true;
        fsync_dir(&self.sources).map_err(StoreError::io(&self.sources))
    }
}

impl Drop for StagedSource {
    fn drop(&mut self) {
        if !self.published
            && let Err(e) = fs::remove_dir_all(&self.tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("could not remove staged {}: {e}", self.tmp.display());
        }
    }
}

/// Pretty JSON of a manifest or source entry.
#[expect(clippy::expect_used, reason = "manifests are structs of strings, numbers and string-keyed maps")]
fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("manifests serialise to JSON")
}

/// Refuses to make a dataset in a directory holding anything but `LOCK`, `CURRENT`'s
/// temporary, `versions/` of manifests and `sources/` of source directories (what a first
/// writer killed before or inside its commit leaves, and reuses).
fn check_new_dataset_dir(layout: &Layout) -> Result<()> {
    let refuse = |what: &Path| {
        Err(StoreError::usage(format!(
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
            Some(name) if !is_dir && name.starts_with("CURRENT.tmp-") && is_temp_name(name) => {}
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

/// Removes source directories and block files (overlays, vector files) no kept version
/// references, and temporaries of dead writers. Failures only leave files behind; they are
/// logged, never fatal.
pub(crate) fn collect_garbage(layout: &Layout, keep: &[&Manifest]) {
    let block_files: HashSet<PathBuf> =
        keep.iter().flat_map(|m| m.added_files()).map(|path| layout.root().join(path)).collect();
    let dirs = std::iter::once(layout.overlays())
        .chain(crate::manifest::VECTOR_KINDS.iter().map(|kind| layout.vectors().join(kind)));
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for path in entries.flatten().map(|e| e.path()).filter(|p| !block_files.contains(p)) {
            tracing::debug!(path = %path.display(), "removing unreferenced block file");
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!("could not remove {}: {e}", path.display());
            }
        }
        let _ = fsync_dir(&dir);
    }
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

/// Refuses a list of sources two of whose row-id blocks share a key (row ids would collide).
fn check_block_keys(sources: &[SourceEntry]) -> Result<()> {
    let mut owners: HashMap<u64, &str> = HashMap::new();
    for source in sources {
        let hash = source_hash(&source.id).ok_or_else(|| StoreError::Corrupt {
            path: PathBuf::from(&source.path),
            reason: format!("source id {:?} is not a BLAKE3 hash", source.id),
        })?;
        for block in 0..source.input_rows.div_ceil(BLOCK_ROWS).max(1) {
            if let Some(existing) = owners.insert(block_key(&hash, block), &source.path)
                && existing != source.path
            {
                return Err(StoreError::RowIdCollision { new: source.path.clone(), existing: existing.to_string() });
            }
        }
    }
    Ok(())
}

/// Refuses a list of sources that would give the dataset more than [`MAX_DATASET_COLUMNS`]
/// columns, naming the first source past the limit.
fn check_columns(sources: &[SourceEntry]) -> Result<()> {
    let mut names: HashSet<&str> = CANONICAL_COLUMNS.iter().map(|c| c.name).collect();
    for source in sources {
        names.extend(source.extra_columns.iter().map(|e| e.name.as_str()));
        if names.len() > MAX_DATASET_COLUMNS {
            return Err(StoreError::TooManyColumns { path: PathBuf::from(&source.path) });
        }
    }
    Ok(())
}
