//! What one committed version of a dataset consists of.
//!
//! Manifests are checked when they are read: every field a reader relies on (the source ids
//! that name directories and derive row ids, the data and index paths, which must be exactly
//! the ones ingest writes and so can never leave the dataset directory, the block keys, the row
//! counts, the extra columns' types) is validated here, and a damaged one is refused with an
//! error naming the file and the field. Code that reads a [`Manifest`] may then rely on them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use pairscope_model::row_id::{BLOCK_ROWS, block_key};

use crate::error::{Result, StoreError};
use crate::layout::Layout;

/// Bumped when the manifest or the data-file layout changes incompatibly.
pub const FORMAT: u32 = 1;

/// One committed version of a dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The manifest format ([`FORMAT`]).
    pub format: u32,
    /// Increases by one with every commit that changes the dataset.
    pub version: u64,
    /// When the version was committed (RFC 3339, UTC, seconds).
    pub committed_at: String,
    /// The pairscope release that committed it.
    pub pairscope_version: String,
    /// The `psl` crate release that derived every `domain` value.
    pub psl_version: String,
    /// Sorted by id, so the order of rows read from a version does not depend on ingest order.
    pub sources: Vec<SourceEntry>,
    /// Columns added to the rows after ingest (`ingest --fetched`), after every source's columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_columns: Vec<AddedColumn>,
    /// Values laid over blocks' rows ([`crate::overlay`]): at most one per block, sorted by
    /// source id then block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<OverlayEntry>,
    /// Embeddings attached to the rows after ingest (`ingest --embeddings`): at most one set
    /// per kind, sorted by kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vector_sets: Vec<VectorSet>,
}

/// The kinds of embedding a row may have: of its image, of its caption.
pub const VECTOR_KINDS: [&str; 2] = ["image", "text"];

/// One kind of embedding of a version's rows: a float16 vector file per block that has any
/// (`pairscope_vectors::store`), and the approximate nearest-neighbour index over them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorSet {
    /// One of [`VECTOR_KINDS`].
    pub kind: String,
    /// The model that made them, as the ingest was told (`ViT-L/14`); for people.
    pub model: String,
    /// Dimensions of every vector.
    pub dim: u32,
    /// How vectors were matched to rows: `url+caption`, or the key column named.
    pub join_key: String,
    /// The blocks' vector files ([`Layout::vector_file`]; `bytes` = the block's rows × `dim` × 2),
    /// sorted by source id then block; at most one per block.
    pub files: Vec<BlockFile>,
    /// The approximate nearest-neighbour index over them, when one was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<VectorIndex>,
}

/// The approximate nearest-neighbour index of a vector set (`pairscope-ann`: faiss IVF-PQ):
/// the coarse quantizer and codebooks trained once, then a file of inverted lists per block,
/// so that vectors of new blocks are added without touching the others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorIndex {
    /// What the trained model is, in faiss's index-factory words (`IVF1024,PQ128np`).
    pub factory: String,
    /// Coarse clusters (inverted lists).
    pub nlist: u32,
    /// Bytes of a vector's code (product-quantizer sub-vectors, 8 bits each).
    pub m: u32,
    /// The training's seed.
    pub seed: u64,
    /// Vectors the training sample held.
    pub trained_on: u64,
    /// The version that trained it (it names the file: [`Layout::vector_model`]).
    pub trained_in: u64,
    /// The trained model's size in bytes.
    pub trained_bytes: u64,
    /// The blocks' inverted lists ([`Layout::vector_lists`]; `rows`: vectors listed), one per
    /// block of the set's files, written by the version of that file or a later one.
    pub lists: Vec<BlockFile>,
}

/// A file written for one block after ingest (an overlay, a vector file): named by the
/// version that wrote it, never rewritten, carried by every later version that keeps the block.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlockFile {
    /// The id of the source whose block it belongs to.
    pub source: String,
    /// The block.
    pub block: u64,
    /// The version that wrote it (it names the file).
    pub written_in: u64,
    /// Relative to the dataset directory.
    pub path: String,
    /// Rows it has values for.
    pub rows: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl BlockFile {
    /// Whether it belongs to the same block as `other`.
    pub fn same_block(&self, other: &BlockFile) -> bool {
        self.source == other.source && self.block == other.block
    }

    /// Checks `files` (named `field`) against `manifest`: ascending distinct blocks, each a
    /// block of the version, written by it or an earlier one, at the path `path_of` gives;
    /// returns each file's block.
    fn check_all<'m>(
        files: &[BlockFile],
        manifest: &'m Manifest,
        field: &str,
        path_of: impl Fn(&BlockFile) -> String,
    ) -> std::result::Result<Vec<&'m DataFile>, (String, String)> {
        let mut blocks = Vec::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            let fail = |name: &str, reason: String| Err((format!("{field}[{i}].{name}"), reason));
            if i > 0 && (&files[i - 1].source, files[i - 1].block) >= (&file.source, file.block) {
                return fail("block", "files are not in ascending order of distinct blocks".into());
            }
            let Some(block) =
                manifest.source(&file.source).and_then(|s| s.files.iter().find(|f| f.block == file.block))
            else {
                return fail("block", format!("block {} of source {} is not in this version", file.block, file.source));
            };
            if file.written_in > manifest.version {
                return fail("written_in", format!("{} is after this version", file.written_in));
            }
            let expected = path_of(file);
            if file.path != expected {
                return fail("path", format!("{:?} is not {expected:?}", file.path));
            }
            if file.rows > block.rows {
                return fail("rows", format!("{} rows in a block of {}", file.rows, block.rows));
            }
            blocks.push(block);
        }
        Ok(blocks)
    }
}

/// A column added to a version's rows after ingest, whose values only overlays hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AddedColumn {
    /// The name it is queried under.
    pub name: String,
    /// Its Arrow type, as text.
    pub data_type: String,
    /// What it holds.
    pub doc: String,
}

/// The overlay of one block: values laid over some of its rows ([`crate::overlay`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OverlayEntry {
    /// The file ([`Layout::overlay_file`]).
    #[serde(flatten)]
    pub file: BlockFile,
    /// The columns it has values for: canonical columns it fills and added columns.
    pub columns: Vec<String>,
}

/// One ingested source file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    /// BLAKE3 of the file's bytes, hex: the source's identity (not its name).
    pub id: String,
    /// The path it was ingested from (first seen).
    pub path: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Rows in the source file.
    pub input_rows: u64,
    /// Rows stored (input rows less skipped ones).
    pub rows: u64,
    /// Skipped rows by reason (`null url`, `empty caption`, …).
    pub skipped_rows: BTreeMap<String, u64>,
    /// Values stored as null because their column cannot hold them, by `column: reason`
    /// (`width: negative`, `aesthetic: not finite`, …). Empty in manifests written before it.
    #[serde(default)]
    pub nulled_values: BTreeMap<String, u64>,
    /// Captions cut to `settings.max_caption_bytes`.
    pub truncated_captions: u64,
    /// When the source was staged (RFC 3339, UTC, seconds).
    pub ingested_at: String,
    /// The [`pairscope_index::INDEX_FORMAT`] its block indexes were built with (0: none).
    #[serde(default)]
    pub index_format: u32,
    /// Options that shaped the stored rows; a staged source is reused only when they match.
    pub settings: SourceSettings,
    /// Canonical column ← source column, as resolved (after `--map`).
    pub mapping: BTreeMap<String, String>,
    /// Source columns kept beside the canonical ones, under these names.
    pub extra_columns: Vec<ExtraColumn>,
    /// Its block files, in block order.
    pub files: Vec<DataFile>,
}

/// The ingest options a source's stored rows depend on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct SourceSettings {
    /// `--map canonical=source` overrides.
    pub overrides: BTreeMap<String, String>,
    /// `--set column=value` constants recorded for every row.
    pub constants: BTreeMap<String, String>,
    /// Captions longer than this many bytes were cut (at a character boundary).
    pub max_caption_bytes: usize,
}

/// A source column kept beside the canonical ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtraColumn {
    /// The name it is stored and queried under.
    pub name: String,
    /// Its name in the source file.
    pub source_name: String,
    /// Its Arrow type, as text.
    pub data_type: String,
}

/// One data file: the stored rows of one row-id block of a source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataFile {
    /// Relative to the dataset directory.
    pub path: String,
    /// Rows it holds.
    pub rows: u64,
    /// Block number within the source (source row index / 2^20).
    pub block: u64,
    /// The 43-bit key every row id of this block carries.
    pub block_key: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// The block's full-text index directory, relative to the dataset directory: document `n`
    /// of the index is row `n` of this file.
    #[serde(default)]
    pub index: Option<String>,
}

impl Manifest {
    /// Every file written after ingest the version references, relative to the dataset:
    /// overlays, vector files and their index.
    pub fn added_files(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.overlays.iter().map(|o| o.file.path.clone()).collect();
        for set in &self.vector_sets {
            paths.extend(set.files.iter().map(|f| f.path.clone()));
            if let Some(index) = &set.index {
                paths.push(Layout::vector_model(&set.kind, index.trained_in));
                paths.extend(index.lists.iter().map(|f| f.path.clone()));
            }
        }
        paths
    }

    /// Version 0: the manifest of a dataset with no sources yet.
    pub fn empty() -> Self {
        Manifest {
            format: FORMAT,
            version: 0,
            committed_at: String::new(),
            pairscope_version: env!("CARGO_PKG_VERSION").to_string(),
            psl_version: pairscope_model::web::PSL_CRATE_VERSION.to_string(),
            sources: Vec::new(),
            added_columns: Vec::new(),
            overlays: Vec::new(),
            vector_sets: Vec::new(),
        }
    }

    /// Rows stored, over all sources.
    pub fn rows(&self) -> u64 {
        self.sources.iter().map(|s| s.rows).sum()
    }

    /// Bytes of block files, over all sources (indexes not counted).
    pub fn data_bytes(&self) -> u64 {
        self.sources.iter().flat_map(|s| &s.files).fold(0, |sum, f| sum.saturating_add(f.bytes))
    }

    /// The source with id `id`.
    pub fn source(&self, id: &str) -> Option<&SourceEntry> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// Reads and validates (every field a writer writes, checked) the manifest at `path`.
    pub fn read(path: &Path) -> Result<Manifest> {
        let manifest: Manifest = read_json(path)?;
        manifest.check().map_err(|(field, reason)| StoreError::BadManifest {
            path: path.to_path_buf(),
            field,
            reason,
        })?;
        Ok(manifest)
    }

    /// Every field a reader relies on, checked: `Err((field, reason))` for the first that is
    /// not what a writer writes.
    pub(crate) fn check(&self) -> std::result::Result<(), (String, String)> {
        if self.format != FORMAT {
            return Err(("format".into(), format!("{} is not the supported format {FORMAT}", self.format)));
        }
        let mut total: u64 = 0;
        for (i, source) in self.sources.iter().enumerate() {
            let at = |(field, reason): (String, String)| (format!("sources[{i}].{field}"), reason);
            source.check().map_err(at)?;
            if i > 0 && self.sources[i - 1].id >= source.id {
                return Err(at(("id".into(), "sources are not in ascending order of distinct ids".into())));
            }
            total = total.checked_add(source.rows).ok_or_else(|| at(("rows".into(), "the total overflows".into())))?;
        }
        for (i, column) in self.added_columns.iter().enumerate() {
            let at = |reason: String| (format!("added_columns[{i}]"), reason);
            if column.data_type.parse::<arrow::datatypes::DataType>().is_err() {
                return Err(at(format!("{:?} is not an Arrow type", column.data_type)));
            }
            let clash = pairscope_model::columns::canonical(&column.name).is_some()
                || self.added_columns[..i].iter().any(|c| c.name == column.name)
                || self.sources.iter().flat_map(|s| &s.extra_columns).any(|e| e.name == column.name);
            if clash {
                return Err(at(format!("{:?} is already a column of the version", column.name)));
            }
        }
        let files: Vec<BlockFile> = self.overlays.iter().map(|o| o.file.clone()).collect();
        BlockFile::check_all(&files, self, "overlays", |f| Layout::overlay_file(&f.source, f.block, f.written_in))?;
        for (i, overlay) in self.overlays.iter().enumerate() {
            overlay.check(self).map_err(|(field, reason)| (format!("overlays[{i}].{field}"), reason))?;
        }
        for (i, set) in self.vector_sets.iter().enumerate() {
            let at = |(field, reason): (String, String)| (format!("vector_sets[{i}].{field}"), reason);
            if i > 0 && self.vector_sets[i - 1].kind >= set.kind {
                return Err(at(("kind".into(), "vector sets are not in ascending order of distinct kinds".into())));
            }
            set.check(self).map_err(at)?;
        }
        Ok(())
    }
}

impl VectorSet {
    fn check(&self, manifest: &Manifest) -> std::result::Result<(), (String, String)> {
        if !VECTOR_KINDS.contains(&self.kind.as_str()) {
            return Err(("kind".into(), format!("{:?} is not one of {VECTOR_KINDS:?}", self.kind)));
        }
        if self.dim == 0 {
            return Err(("dim".into(), "0 dimensions".into()));
        }
        let blocks = BlockFile::check_all(&self.files, manifest, "files", |f| {
            Layout::vector_file(&self.kind, &f.source, f.block, f.written_in)
        })?;
        if let Some(index) = &self.index {
            let at = |(field, reason): (String, String)| (format!("index.{field}"), reason);
            if index.trained_in > manifest.version || index.nlist == 0 || index.m == 0 {
                return Err(at(("trained_in".into(), "a model trained after this version, or of no size".into())));
            }
            BlockFile::check_all(&index.lists, manifest, "lists", |f| {
                Layout::vector_lists(&self.kind, &f.source, f.block, f.written_in)
            })
            .map_err(at)?;
            for (i, lists) in index.lists.iter().enumerate() {
                let vectors = self.files.iter().find(|f| f.same_block(lists));
                if vectors.is_none_or(|v| v.written_in > lists.written_in || v.rows != lists.rows) {
                    return Err(at((
                        format!("lists[{i}]"),
                        "lists of a block whose vector file is newer, another size, or absent".into(),
                    )));
                }
            }
        }
        for (i, (file, block)) in self.files.iter().zip(blocks).enumerate() {
            if file.bytes != block.rows * u64::from(self.dim) * 2 {
                return Err((
                    format!("files[{i}].bytes"),
                    format!("{} bytes for a block of {} rows of {} dimensions", file.bytes, block.rows, self.dim),
                ));
            }
        }
        Ok(())
    }
}

impl OverlayEntry {
    /// Checks what [`BlockFile::check_all`] does not: the columns.
    fn check(&self, manifest: &Manifest) -> std::result::Result<(), (String, String)> {
        for column in &self.columns {
            let known =
                manifest.added_columns.iter().any(|c| c.name == *column) || crate::overlay::can_fill(column).is_some();
            if !known {
                return Err((
                    "columns".into(),
                    format!("{column:?} is neither an added column nor one an overlay can fill"),
                ));
            }
        }
        Ok(())
    }
}

/// Reads JSON of type `T` from `path`; a value of the wrong shape is named by its field.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(StoreError::io(path))?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes)).map_err(|e| {
        let field = e.path().to_string();
        StoreError::ManifestSyntax { path: path.to_path_buf(), field, source: e.into_inner() }
    })
}

/// The 32 bytes of a source id (64 lower-case hex digits), or `None` if it is not one.
pub fn source_hash(id: &str) -> Option<[u8; 32]> {
    let digits = id.as_bytes();
    if digits.len() != 64 || !digits.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(hash)
}

impl SourceEntry {
    /// Reads and validates a staged source's entry (`sources/<id16>/source.json`).
    pub fn read(path: &Path) -> Result<SourceEntry> {
        let entry: SourceEntry = read_json(path)?;
        entry.check().map_err(|(field, reason)| StoreError::BadManifest { path: path.to_path_buf(), field, reason })?;
        Ok(entry)
    }

    /// The first 16 hex digits of the id: how messages and directory names show a source.
    pub fn short_id(&self) -> &str {
        crate::layout::short_source_id(&self.id)
    }

    /// The content hash the id spells (valid in every entry read through [`SourceEntry::read`]
    /// or [`Manifest::read`]).
    pub fn hash(&self) -> Option<[u8; 32]> {
        source_hash(&self.id)
    }

    fn check(&self) -> std::result::Result<(), (String, String)> {
        let fail = |field: &str, reason: String| Err((field.to_string(), reason));
        let Some(hash) = self.hash() else {
            return fail("id", "not a BLAKE3 hash (64 lower-case hex digits)".into());
        };
        let blocks = self.input_rows.div_ceil(BLOCK_ROWS).max(1);
        let mut rows: u64 = 0;
        for (i, file) in self.files.iter().enumerate() {
            let fail = |field: &str, reason: String| fail(&format!("files[{i}].{field}"), reason);
            if file.block >= blocks {
                return fail(
                    "block",
                    format!("{} is past the last block of {} input rows", file.block, self.input_rows),
                );
            }
            if i > 0 && self.files[i - 1].block >= file.block {
                return fail("block", "blocks are not in ascending order".into());
            }
            if file.path != Layout::block_file(&self.id, file.block) {
                return fail("path", format!("{:?} is not {:?}", file.path, Layout::block_file(&self.id, file.block)));
            }
            if let Some(index) = &file.index
                && *index != Layout::block_index(&self.id, file.block)
            {
                return fail("index", format!("{index:?} is not {:?}", Layout::block_index(&self.id, file.block)));
            }
            if file.block_key != block_key(&hash, file.block) {
                return fail(
                    "block_key",
                    format!("{} is not the key of block {} of this source", file.block_key, file.block),
                );
            }
            if file.rows > BLOCK_ROWS {
                return fail("rows", format!("{} is more than a block's {BLOCK_ROWS}", file.rows));
            }
            rows =
                rows.checked_add(file.rows).ok_or_else(|| ("rows".to_string(), "the total overflows".to_string()))?;
        }
        if rows != self.rows {
            return fail("rows", format!("{} is not the {rows} rows its files hold", self.rows));
        }
        if self.rows.checked_add(self.skipped()) != Some(self.input_rows) {
            return fail("input_rows", format!("{} is not the rows stored plus the rows skipped", self.input_rows));
        }
        Ok(())
    }

    /// Rows skipped, over all reasons.
    pub fn skipped(&self) -> u64 {
        self.skipped_rows.values().fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// Source columns whose names differ only in case, with the column each is stored as
    /// (a canonical column, or an extra column renamed to stay distinct): `[(source, stored)]`
    /// per group. Columns are matched case-insensitively, so these are the ones to check.
    pub fn case_collisions(&self) -> Vec<Vec<(String, String)>> {
        let stored = self
            .mapping
            .iter()
            .filter(|(canonical, _)| !self.settings.constants.contains_key(*canonical))
            .map(|(canonical, from)| (from.clone(), canonical.clone()))
            .chain(self.extra_columns.iter().map(|e| (e.source_name.clone(), e.name.clone())));
        let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (source, name) in stored {
            groups.entry(source.to_lowercase()).or_default().push((source, name));
        }
        groups.into_values().filter(|g| g.len() > 1).collect()
    }
}
