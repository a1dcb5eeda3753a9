//! `ingest --embeddings DIR`: published embeddings (LAION's CLIP vectors) attached to the rows
//! they belong to, as a new version, through the store's per-block vector files
//! ([`pairscope_store::VectorSet`], `pairscope_vectors::store`): no block or index is rewritten.
//!
//! Inputs ([`EmbeddingInput`]), either layout:
//! - clip-retrieval's: `DIR/img_emb/img_emb_N.npy` (`text_emb/text_emb_N.npy` for `--kind
//!   text`), row `i` belonging to row `i` of `DIR/metadata/metadata_N.parquet`; every matrix
//!   needs its metadata and the reverse, with as many rows, or nothing is read;
//! - parquet files holding the vectors in a list or fixed-size-list float column beside the
//!   key columns (`DIR` a file or a directory of them).
//!
//! Matching: by the key the metadata carries ([`JoinKey`]): `sample_id` when the metadata and
//! every source of the dataset have one, else url + caption (the caption cut as the dataset cut
//! it). A key is hashed to 128 bits (BLAKE3) on both sides, the join compares hashes (a false
//! match needs a 128-bit collision). A key matching several rows attaches the vector to each;
//! a row matched by several vectors keeps the first in input order and the others are counted.
//!
//! Algorithm, in bounded memory whatever the sizes:
//! 1. every input is opened and checked before anything else is done (a `.npy` header that
//!    lies, a wrong dtype or shape, a matrix whose metadata has another number of rows, a
//!    dimension that differs from the dataset's set of that kind: refused);
//! 2. the keys of the vectors (input, row, hash) and of the rows (row id, hash) are written to
//!    two scratch parquet files in the system's temporary directory (`TMPDIR`; 32 bytes per
//!    vector and per row before compression);
//! 3. DataFusion joins them with a sort-merge join ordered by (row id, input, row), its sorts
//!    spilling to disk past [`EmbeddingOptions::memory_limit`]; a second query counts (and
//!    gives the first of) the vectors no row has;
//! 4. the ordered matches are taken block by block: a block's matches (16 bytes each, at most
//!    2^20) are sorted by input and row, their vectors read in runs, normalised
//!    and written to the block's new vector file, over a copy of its committed one if it has
//!    one (a row gets this ingest's vector, and keeps the one it had when this ingest has none).
//!
//! 5. the set's approximate nearest-neighbour index (`pairscope-ann`, faiss IVF-PQ): trained
//!    once per dataset on a sample ([`sample_size`] vectors at an even stride, with
//!    [`INDEX_SEED`]; [`index_shape`] says how big), then inverted lists per block for every
//!    block whose vector file is new, blocks in parallel (each on its share of the threads), each
//!    block's vectors read in chunks.
//!    A set below [`MIN_INDEXED_VECTORS`] gets none (queries score every vector). A later
//!    ingest keeps the model and the lists of the blocks it does not touch, so the work of a
//!    new version is its new blocks' encoding.
//!
//! One commit lists the files; a run killed before it leaves the last version (the files it
//! wrote are removed by the next commit's garbage collection) and a re-run writes the same.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float32Type, Int32Type, Int64Type, Schema};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use pairscope_ann::{TrainParams, Trained, encode_block_from};
use pairscope_io::durable::write_atomic;
use pairscope_model::Progress;
use pairscope_model::row_id::RowId;
use pairscope_store::{BlockFile, DatasetWriter, Layout, Manifest, StoreError, VECTOR_KINDS, VectorIndex, VectorSet};
use pairscope_vectors::npy::NpyMatrix;
use pairscope_vectors::store::{PutError, VectorFile, VectorFileWriter};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use parquet::arrow::{ArrowWriter, ProjectionMask};

use crate::error::{BadInput, IngestError, Result};
use crate::mapping::{ColumnMapping, FieldSource};

/// Rows read from an input at a time: a run of consecutive rows is read with one call.
const READ_ROWS: usize = 1024;

/// Examples of unmatched rows and vectors a report lists.
pub const EXAMPLES: usize = 10;

/// What `ingest --embeddings` is asked to do.
#[derive(Debug, Clone)]
pub struct EmbeddingOptions {
    /// `image` or `text` ([`VECTOR_KINDS`]).
    pub kind: String,
    /// The model that made the vectors, for the manifest; the committed set's when `None`.
    pub model: Option<String>,
    /// Count and skip vectors with a NaN or infinite value (or of length 0) instead of refusing
    /// the input.
    pub skip_bad: bool,
    /// Bytes the join may hold before its sorts spill to disk.
    pub memory_limit: usize,
    /// Threads indexing uses: blocks at once, and a block's share of the rest (a single-block
    /// set is encoded on every thread).
    pub threads: usize,
}

impl Default for EmbeddingOptions {
    fn default() -> Self {
        EmbeddingOptions {
            kind: "image".into(),
            model: None,
            skip_bad: false,
            memory_limit: 1 << 30,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// What `ingest --embeddings` did.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingReport {
    /// The version before.
    pub version_before: u64,
    /// The version after (the same when no row got a vector).
    pub version: u64,
    /// The set's kind.
    pub kind: String,
    /// The set's model, as recorded.
    pub model: String,
    /// Dimensions.
    pub dim: usize,
    /// How vectors were matched to rows.
    pub join_key: String,
    /// Input files (matrices, or parquet files with a vector column).
    pub inputs: usize,
    /// Vectors in the inputs.
    pub vectors_read: u64,
    /// Rows that got a vector from this ingest.
    pub rows_matched: u64,
    /// Rows of the version with no vector of this kind after it.
    pub rows_without_vector: u64,
    /// The first of them, by row id.
    pub rows_without_vector_examples: Vec<i64>,
    /// Vectors whose key no row of the version has.
    pub vectors_without_row: u64,
    /// The first of them, as `file row N`.
    pub vectors_without_row_examples: Vec<String>,
    /// Vectors for a row that an earlier vector of the inputs already gave one.
    pub duplicate_vectors: u64,
    /// Vectors skipped (`--skip-bad`) by reason.
    pub bad_vectors: BTreeMap<String, u64>,
    /// Blocks whose vector file was written (a block whose vectors would not change keeps
    /// its file: attaching the same embeddings again changes nothing).
    pub blocks_written: usize,
    /// What this ingest did to the set's index; `None` for a set too small to need one
    /// ([`MIN_INDEXED_VECTORS`]).
    pub indexed: Option<IndexWork>,
}

/// The index work of one ingest: the hours a LAION-sized set takes are here.
#[derive(Debug, Clone)]
pub struct IndexWork {
    /// The index's faiss factory string, e.g. `IVF2048,PQ128np`.
    pub factory: String,
    /// Vectors the model was trained on by this ingest; `None` when it kept the committed model.
    pub trained_on: Option<u64>,
    /// Seconds spent training (0 when the model was kept).
    pub train_seconds: f64,
    /// Blocks whose inverted lists this ingest wrote.
    pub blocks_encoded: usize,
    /// Vectors encoded into them.
    pub vectors_encoded: u64,
    /// Seconds spent encoding them.
    pub encode_seconds: f64,
}

/// How vectors and rows are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKey {
    /// The row's `sample_id` (SAMPLE_ID, uid, id in the metadata).
    SampleId,
    /// The row's url and caption.
    UrlCaption,
}

impl JoinKey {
    /// Its name in manifests and reports.
    pub fn name(self) -> &'static str {
        match self {
            JoinKey::SampleId => "sample_id",
            JoinKey::UrlCaption => "url+caption",
        }
    }
}

/// One input file of vectors.
#[derive(Debug)]
pub struct EmbeddingInput {
    /// The parquet file with the keys (clip-retrieval's metadata, or the file itself).
    pub metadata: PathBuf,
    /// Where its vectors are.
    pub vectors: VectorColumn,
}

/// Where an input's vectors are.
#[derive(Debug)]
pub enum VectorColumn {
    /// A `.npy` matrix, row `i` for row `i` of the metadata.
    Npy(NpyMatrix),
    /// A list column of the metadata file (its top-level index and name).
    Column(usize, String),
}

impl EmbeddingInput {
    /// The file the vectors are read from.
    fn vector_path(&self) -> &Path {
        match &self.vectors {
            VectorColumn::Npy(matrix) => matrix.path(),
            VectorColumn::Column(..) => &self.metadata,
        }
    }
}

/// Attaches the embeddings of `dir` to the rows of the dataset at `dataset` and commits them
/// as a new version (unless no row gets one).
pub fn ingest_embeddings(
    dataset: &Path,
    dir: &Path,
    options: &EmbeddingOptions,
    progress: &dyn Progress,
) -> Result<EmbeddingReport> {
    if !VECTOR_KINDS.contains(&options.kind.as_str()) {
        return Err(IngestError::usage(format!("--kind {}: one of {}", options.kind, VECTOR_KINDS.join(", "))));
    }
    let inputs = find_inputs(dir, &options.kind)?;
    let dim = check_inputs(&inputs)?;
    let writer = DatasetWriter::open(dataset)?;
    let committed = writer.committed().clone();
    if committed.version == 0 {
        return Err(StoreError::NotADataset(dataset.to_path_buf()).into());
    }
    let old_set = committed.vector_sets.iter().find(|s| s.kind == options.kind).cloned();
    if let Some(old) = &old_set {
        if old.dim as usize != dim {
            return Err(IngestError::usage(format!(
                "{}: {dim}-dimensional vectors, but the dataset's {} vectors have {} dimensions ({}); \
                 vectors of another model go in another dataset",
                dir.display(),
                old.kind,
                old.dim,
                old.model
            )));
        }
        if let Some(model) = &options.model
            && *model != old.model
        {
            return Err(IngestError::usage(format!(
                "--model {model}: the dataset's {} vectors are {}'s; one set holds one model's vectors",
                old.kind, old.model
            )));
        }
    }
    let join = join_key(&inputs[0].metadata, &committed)?;
    let mut report = EmbeddingReport {
        version_before: committed.version,
        version: committed.version,
        kind: options.kind.clone(),
        model: options
            .model
            .clone()
            .or_else(|| old_set.as_ref().map(|s| s.model.clone()))
            .unwrap_or_else(|| "unspecified".into()),
        dim,
        join_key: join.name().into(),
        inputs: inputs.len(),
        ..EmbeddingReport::default()
    };

    let scratch = tempfile::Builder::new()
        .prefix("pairscope-embeddings-")
        .tempdir()
        .map_err(|e| IngestError::Io { path: std::env::temp_dir(), source: e })?;
    let cut = committed.sources.iter().map(|s| s.settings.max_caption_bytes).min().unwrap_or(usize::MAX);
    let vector_keys = scratch.path().join("vectors.parquet");
    report.vectors_read = write_vector_keys(&inputs, join, cut, &vector_keys, progress)?;
    let row_keys = scratch.path().join("rows.parquet");
    write_row_keys(dataset, &committed, join, cut, &row_keys)?;

    let blocks: HashMap<u64, (&str, u64, u64)> = committed
        .sources
        .iter()
        .flat_map(|s| s.files.iter().map(move |f| (f.block_key, (s.id.as_str(), f.block, f.rows))))
        .collect();
    let old_files: HashMap<(&str, u64), &BlockFile> =
        old_set.iter().flat_map(|s| &s.files).map(|f| ((f.source.as_str(), f.block), f)).collect();
    let mut written: Vec<BlockFile> = Vec::new();
    let mut block_writer = BlockVectors {
        dataset,
        writer: &writer,
        inputs: &inputs,
        kind: &options.kind,
        dim,
        skip_bad: options.skip_bad,
        old_files: &old_files,
    };
    join_matches(&vector_keys, &row_keys, options.memory_limit, &mut report, |key, matches, report| {
        let Some(&(source, block, rows)) = blocks.get(&key) else {
            return Err(IngestError::Store(StoreError::BadManifest {
                path: dataset.to_path_buf(),
                field: "row_id".into(),
                reason: format!("a row of block key {key} that no source of the version has"),
            }));
        };
        progress.advance(matches.len() as u64, 0);
        written.extend(block_writer.write(source, block, rows, matches, report)?);
        Ok(())
    })?;
    report.blocks_written = written.len();
    if written.is_empty() {
        count_rows_without(dataset, &committed, old_set.as_ref().map_or(&[][..], |s| &s.files), dim, &mut report)?;
        return Ok(report);
    }
    let mut files: Vec<BlockFile> = old_set
        .as_ref()
        .map(|s| s.files.iter().filter(|f| !written.iter().any(|w| w.same_block(f))).cloned().collect())
        .unwrap_or_default();
    files.extend(written);
    files.sort_by(|a, b| (&a.source, a.block).cmp(&(&b.source, b.block)));
    count_rows_without(dataset, &committed, &files, dim, &mut report)?;
    let old_index = old_set.as_ref().and_then(|s| s.index.as_ref());
    let (index, work) =
        build_index(dataset, &writer, &options.kind, dim, &files, old_index, options.threads, progress)?.unzip();
    report.indexed = work;
    let join_key = match &old_set {
        Some(old) if old.join_key != report.join_key && !old.join_key.split("; ").any(|k| k == report.join_key) => {
            format!("{}; {}", old.join_key, report.join_key)
        }
        Some(old) => old.join_key.clone(),
        None => report.join_key.clone(),
    };
    let set = VectorSet {
        kind: options.kind.clone(),
        model: report.model.clone(),
        dim: u32::try_from(dim).map_err(|_| IngestError::usage(format!("{dim} dimensions")))?,
        join_key,
        files,
        index,
    };
    let manifest = writer.commit_vectors(set)?;
    report.version = manifest.version;
    Ok(report)
}

/// The inputs in `dir` for vectors of `kind`, in input order (see the module doc).
pub fn find_inputs(dir: &Path, kind: &str) -> Result<Vec<EmbeddingInput>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IngestError::Io { path, source }
    };
    let prefix = if kind == "text" { "text_emb" } else { "img_emb" };
    let matrices = dir.join(prefix);
    if matrices.is_dir() {
        let numbered = |dir: &Path, stem: &str, ext: &str| -> Result<BTreeMap<u64, PathBuf>> {
            let mut files = BTreeMap::new();
            for entry in std::fs::read_dir(dir).map_err(io(dir))? {
                let path = entry.map_err(io(dir))?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let number = name.strip_prefix(stem).and_then(|n| n.strip_suffix(ext)).and_then(|n| n.parse().ok());
                if let Some(number) = number {
                    files.insert(number, path);
                }
            }
            Ok(files)
        };
        let npys = numbered(&matrices, &format!("{prefix}_"), ".npy")?;
        let metadata_dir = dir.join("metadata");
        let metadata = numbered(&metadata_dir, "metadata_", ".parquet")?;
        if npys.is_empty() {
            return Err(IngestError::NoInput(format!("{}/{prefix}_N.npy", matrices.display())));
        }
        let mut inputs = Vec::with_capacity(npys.len());
        for (number, npy) in &npys {
            let Some(meta) = metadata.get(number) else {
                return Err(
                    BadInput::new(npy, format!("no metadata_{number}.parquet in {}", metadata_dir.display())).into()
                );
            };
            let matrix = NpyMatrix::open(npy).map_err(|e| BadInput::new(npy, without_path(&e.to_string(), npy)))?;
            inputs.push(EmbeddingInput { metadata: meta.clone(), vectors: VectorColumn::Npy(matrix) });
        }
        if let Some((number, meta)) = metadata.iter().find(|(n, _)| !npys.contains_key(n)) {
            return Err(BadInput::new(meta, format!("no {prefix}_{number}.npy in {}", matrices.display())).into());
        }
        return Ok(inputs);
    }
    let files: Vec<PathBuf> = if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        files
    } else {
        vec![dir.to_path_buf()]
    };
    if files.is_empty() {
        return Err(IngestError::NoInput(format!(
            "{}: neither {prefix}/ with metadata/ (clip-retrieval's layout) nor parquet files",
            dir.display()
        )));
    }
    files
        .into_iter()
        .map(|path| {
            let schema = parquet_schema(&path)?;
            let lists: Vec<(usize, &Arc<Field>)> =
                schema.fields().iter().enumerate().filter(|(_, f)| float_list(f.data_type())).collect();
            match lists.as_slice() {
                [(index, field)] => {
                    let vectors = VectorColumn::Column(*index, field.name().clone());
                    Ok(EmbeddingInput { metadata: path, vectors })
                }
                [] => Err(BadInput::new(&path, "no list-of-floats column (the embeddings)").into()),
                _ => Err(BadInput::new(
                    &path,
                    format!(
                        "several list-of-floats columns ({}): which holds the embeddings?",
                        lists.iter().map(|(_, f)| f.name().as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .into()),
            }
        })
        .collect()
}

/// An error message without the leading `path: ` the caller puts back.
fn without_path(message: &str, path: &Path) -> String {
    message.strip_prefix(&format!("{}: ", path.display())).unwrap_or(message).to_string()
}

/// A list (of any kind) of float16, float32 or float64.
fn float_list(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            matches!(item.data_type(), DataType::Float16 | DataType::Float32 | DataType::Float64)
        }
        _ => false,
    }
}

fn parquet_schema(path: &Path) -> Result<Arc<Schema>> {
    let file = File::open(path).map_err(|e| IngestError::Io { path: path.to_path_buf(), source: e })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| BadInput::new(path, e.to_string()))?;
    Ok(builder.schema().clone())
}

fn parquet_rows(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(|e| IngestError::Io { path: path.to_path_buf(), source: e })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| BadInput::new(path, e.to_string()))?;
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

/// Checks every input before any is read (the module doc's step 1); returns the dimensions.
fn check_inputs(inputs: &[EmbeddingInput]) -> Result<usize> {
    let mut dim: Option<(usize, &Path)> = None;
    for input in inputs {
        let found = match &input.vectors {
            VectorColumn::Npy(matrix) => {
                let rows = parquet_rows(&input.metadata)?;
                if rows != matrix.rows() {
                    return Err(BadInput::new(
                        matrix.path(),
                        format!(
                            "{} vectors, but {} has {rows} rows: row i of one must be row i of the other",
                            matrix.rows(),
                            input.metadata.display()
                        ),
                    )
                    .into());
                }
                matrix.dim()
            }
            VectorColumn::Column(index, name) => match first_vector_len(&input.metadata, *index)? {
                Some(len) => len,
                None => {
                    return Err(BadInput::new(&input.metadata, "no row has a vector").column(name.as_str()).into());
                }
            },
        };
        match dim {
            Some((expected, first)) if expected != found => {
                return Err(BadInput::new(
                    input.vector_path(),
                    format!("{found}-dimensional vectors, but {} has {expected}", first.display()),
                )
                .into());
            }
            Some(_) => {}
            None => dim = Some((found, input.vector_path())),
        }
    }
    dim.map(|(d, _)| d).ok_or_else(|| IngestError::NoInput("embeddings".into()))
}

/// The length of the first non-null vector of column `index` of `path`.
fn first_vector_len(path: &Path, index: usize) -> Result<Option<usize>> {
    let mut found = None;
    for_each_batch(path, &[index], None, |batch, _| {
        let vectors = batch.column(0);
        if let Some(row) = (0..vectors.len()).find(|&i| vectors.is_valid(i)) {
            found = Some(list_value(vectors, row).len());
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(found)
}

/// The join key for inputs whose metadata is like `metadata`'s, over `manifest`'s rows.
fn join_key(metadata: &Path, manifest: &Manifest) -> Result<JoinKey> {
    let schema = parquet_schema(metadata)?;
    let mapping = ColumnMapping::resolve(&schema, &BTreeMap::new(), &BTreeMap::new())
        .map_err(|e| BadInput::new(metadata, e.reason))?;
    let has_sample_id =
        mapping.fields.iter().any(|(c, s)| c.name == "sample_id" && matches!(s, FieldSource::Column(_)));
    let rows_have_sample_id = manifest.sources.iter().all(|s| s.mapping.contains_key("sample_id"));
    Ok(if has_sample_id && rows_have_sample_id { JoinKey::SampleId } else { JoinKey::UrlCaption })
}

/// The 128-bit hash of a key, as two integers (the scratch files' `h1`, `h2`).
fn key_hash(join: JoinKey, cut: usize, url: &str, caption: &str, sample_id: &str) -> (i64, i64) {
    let mut hasher = blake3::Hasher::new();
    match join {
        JoinKey::SampleId => {
            hasher.update(sample_id.as_bytes());
        }
        JoinKey::UrlCaption => {
            let caption = &caption[..caption.floor_char_boundary(cut)];
            hasher.update(&(url.len() as u64).to_le_bytes());
            hasher.update(url.as_bytes());
            hasher.update(caption.as_bytes());
        }
    }
    let hash = hasher.finalize();
    let bytes = hash.as_bytes();
    let half = |at: usize| i64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7].map(|i| bytes[at + i]));
    (half(0), half(8))
}

/// The key columns of `join` as text arrays of `batch` (columns `url`, `caption`, `sample_id`
/// by `indexes`), or why not.
fn key_texts(batch: &RecordBatch, indexes: &[usize]) -> std::result::Result<Vec<ArrayRef>, String> {
    indexes.iter().map(|&i| cast(batch.column(i), &DataType::Utf8).map_err(|e| e.to_string())).collect()
}

/// Writes (file_no, row_no, h1, h2) for every vector of `inputs` that has a key to `out`;
/// returns the vectors read.
fn write_vector_keys(
    inputs: &[EmbeddingInput],
    join: JoinKey,
    cut: usize,
    out: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("file_no", DataType::Int32, false),
        Field::new("row_no", DataType::Int64, false),
        Field::new("h1", DataType::Int64, false),
        Field::new("h2", DataType::Int64, false),
    ]));
    let mut scratch = ScratchFile::create(out, schema.clone())?;
    let mut vectors = 0;
    for (file_no, input) in inputs.iter().enumerate() {
        let path = &input.metadata;
        let source_schema = parquet_schema(path)?;
        let mapping = ColumnMapping::resolve(&source_schema, &BTreeMap::new(), &BTreeMap::new())
            .map_err(|e| BadInput::new(path, e.reason))?;
        let column = |name: &str| {
            mapping.fields.iter().find(|(c, _)| c.name == name).and_then(|(_, s)| match s {
                FieldSource::Column(i) => Some(*i),
                _ => None,
            })
        };
        let wanted: Vec<usize> = match join {
            JoinKey::SampleId => vec![column("sample_id")],
            JoinKey::UrlCaption => vec![column("url"), column("caption")],
        }
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| BadInput::new(path, format!("no {} column", join.name())))?;
        let file_no = i32::try_from(file_no).map_err(|_| IngestError::usage("more than 2^31 inputs"))?;
        for_each_batch(path, &wanted, None, |batch, first_row| {
            let texts = key_texts(&batch, &(0..wanted.len()).collect::<Vec<_>>())
                .map_err(|e| BadInput::new(path, e).row(first_row))?;
            let texts: Vec<_> = texts.iter().map(|a| a.as_string::<i32>().clone()).collect();
            let (mut rows, mut h1, mut h2) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..batch.num_rows() {
                let (a, b) = if texts.iter().any(|t| t.is_null(i)) {
                    // No key, no row (ingest skips rows without url or caption): a hash no key
                    // has, so the vector is counted and listed with those no row has.
                    (0, 0)
                } else {
                    match join {
                        JoinKey::SampleId => key_hash(join, cut, "", "", texts[0].value(i)),
                        JoinKey::UrlCaption => key_hash(join, cut, texts[0].value(i), texts[1].value(i), ""),
                    }
                };
                rows.push(first_row as i64 + i as i64);
                h1.push(a);
                h2.push(b);
            }
            let n = rows.len();
            scratch.write(vec![
                Arc::new(Int32Array::from(vec![file_no; n])),
                Arc::new(Int64Array::from(rows)),
                Arc::new(Int64Array::from(h1)),
                Arc::new(Int64Array::from(h2)),
            ])?;
            vectors += batch.num_rows() as u64;
            Ok(true)
        })?;
        progress.advance(0, std::fs::metadata(path).map_or(0, |m| m.len()));
    }
    scratch.finish()?;
    Ok(vectors)
}

/// Writes (row_id, position, h1, h2) for every row of `manifest` to `out`: `position` is the
/// row's place in its block file (its row in the block's vector file).
fn write_row_keys(dataset: &Path, manifest: &Manifest, join: JoinKey, cut: usize, out: &Path) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("row_id", DataType::Int64, false),
        Field::new("position", DataType::Int32, false),
        Field::new("h1", DataType::Int64, false),
        Field::new("h2", DataType::Int64, false),
    ]));
    let mut scratch = ScratchFile::create(out, schema)?;
    let names: &[&str] = match join {
        JoinKey::SampleId => &["row_id", "sample_id"],
        JoinKey::UrlCaption => &["row_id", "url", "caption"],
    };
    for file in manifest.sources.iter().flat_map(|s| &s.files) {
        let path = dataset.join(&file.path);
        let schema = parquet_schema(&path)?;
        let indexes: Vec<usize> = names
            .iter()
            .map(|n| {
                schema.index_of(n).map_err(|_| BadInput::new(&path, "a block without its canonical column").column(*n))
            })
            .collect::<std::result::Result<_, _>>()?;
        for_each_batch(&path, &indexes, None, |batch, first_row| {
            let ids = batch.column(0).as_primitive::<Int64Type>().clone();
            let texts = key_texts(&batch, &(1..names.len()).collect::<Vec<_>>())
                .map_err(|e| BadInput::new(&path, e).row(first_row))?;
            let texts: Vec<_> = texts.iter().map(|a| a.as_string::<i32>().clone()).collect();
            let (mut rows, mut positions, mut h1, mut h2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in 0..batch.num_rows() {
                if texts.iter().any(|t| t.is_null(i)) {
                    continue;
                }
                let (a, b) = match join {
                    JoinKey::SampleId => key_hash(join, cut, "", "", texts[0].value(i)),
                    JoinKey::UrlCaption => key_hash(join, cut, texts[0].value(i), texts[1].value(i), ""),
                };
                rows.push(ids.value(i));
                // A block holds at most 2^20 rows.
                positions.push((first_row + i as u64) as i32);
                h1.push(a);
                h2.push(b);
            }
            scratch.write(vec![
                Arc::new(Int64Array::from(rows)),
                Arc::new(Int32Array::from(positions)),
                Arc::new(Int64Array::from(h1)),
                Arc::new(Int64Array::from(h2)),
            ])?;
            Ok(true)
        })?;
    }
    scratch.finish()
}

/// A scratch parquet file written batch by batch.
struct ScratchFile {
    path: PathBuf,
    schema: Arc<Schema>,
    writer: ArrowWriter<File>,
}

impl ScratchFile {
    fn create(path: &Path, schema: Arc<Schema>) -> Result<ScratchFile> {
        let file = File::create(path).map_err(|e| IngestError::Io { path: path.to_path_buf(), source: e })?;
        let writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| scratch_error(path, e))?;
        Ok(ScratchFile { path: path.to_path_buf(), schema, writer })
    }

    fn write(&mut self, columns: Vec<ArrayRef>) -> Result<()> {
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| scratch_error(&self.path, e))?;
        self.writer.write(&batch).map_err(|e| scratch_error(&self.path, e))
    }

    fn finish(self) -> Result<()> {
        self.writer.close().map(|_| ()).map_err(|e| scratch_error(&self.path, e))
    }
}

fn scratch_error(path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::Io { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

/// Calls `each(batch, first_row)` with the top-level columns `indexes` of the parquet file at
/// `path`, in that order, until it returns `false`. `first_row` is the file row of the batch's
/// first row or, with a `selection`, its place among the rows selected.
fn for_each_batch(
    path: &Path,
    indexes: &[usize],
    selection: Option<RowSelection>,
    mut each: impl FnMut(RecordBatch, u64) -> Result<bool>,
) -> Result<()> {
    let bad = |reason: String| IngestError::from(BadInput::new(path, reason));
    let file = File::open(path).map_err(|e| IngestError::Io { path: path.to_path_buf(), source: e })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indexes.iter().copied());
    let mut builder = builder.with_projection(mask).with_batch_size(READ_ROWS);
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    let reader = builder.build().map_err(|e| bad(e.to_string()))?;
    let mut first_row = 0;
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let rows = batch.num_rows() as u64;
        // The projection keeps the file's column order; callers name columns in theirs.
        let batch = reorder(&batch, indexes).map_err(|e| bad(e.to_string()))?;
        if !each(batch, first_row)? {
            break;
        }
        first_row += rows;
    }
    Ok(())
}

/// `batch` (projected from columns `indexes` of a file, in file order) with its columns in the
/// order of `indexes`.
fn reorder(batch: &RecordBatch, indexes: &[usize]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let mut sorted = indexes.to_vec();
    sorted.sort_unstable();
    let order: Vec<usize> = indexes.iter().map(|i| sorted.iter().position(|s| s == i).unwrap_or(0)).collect();
    batch.project(&order)
}

/// Row `row` of a list column, as float32.
fn list_value(vectors: &ArrayRef, row: usize) -> Vec<f32> {
    let value = match vectors.data_type() {
        DataType::List(_) => vectors.as_list::<i32>().value(row),
        DataType::LargeList(_) => vectors.as_list::<i64>().value(row),
        DataType::FixedSizeList(..) => vectors.as_fixed_size_list().value(row),
        _ => return Vec::new(),
    };
    match cast(&value, &DataType::Float32) {
        Ok(floats) => floats.as_primitive::<Float32Type>().iter().map(|v| v.unwrap_or(f32::NAN)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs the join (the module doc's step 3): calls `each(block_key, matches, report)` for every
/// block with matches, in block-key order, with its matches as (row position, input, input
/// row) in row order, the first vector of each row only; counts duplicates and unmatched
/// vectors.
fn join_matches(
    vector_keys: &Path,
    row_keys: &Path,
    memory_limit: usize,
    report: &mut EmbeddingReport,
    mut each: impl FnMut(u64, Vec<Match>, &mut EmbeddingReport) -> Result<()>,
) -> Result<()> {
    let failed = |e: datafusion::error::DataFusionError| IngestError::Io {
        path: vector_keys.to_path_buf(),
        source: std::io::Error::other(format!("joining vectors to rows: {e}")),
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| IngestError::Io { path: vector_keys.to_path_buf(), source: e })?;
    let pool = Arc::new(FairSpillPool::new(memory_limit));
    let env = RuntimeEnvBuilder::new().with_memory_pool(pool).build_arc().map_err(failed)?;
    // A sort-merge join: its sorts spill where a hash join would have to hold one side whole.
    let config = SessionConfig::new().set_bool("datafusion.optimizer.prefer_hash_join", false);
    let context = SessionContext::new_with_config_rt(config, env);
    runtime.block_on(async {
        let options = ParquetReadOptions::default();
        context.register_parquet("v", path_str(vector_keys)?, options.clone()).await.map_err(failed)?;
        context.register_parquet("r", path_str(row_keys)?, options).await.map_err(failed)?;
        let unmatched = "SELECT v.file_no, v.row_no FROM v LEFT ANTI JOIN r ON v.h1 = r.h1 AND v.h2 = r.h2";
        let count = context
            .sql(&format!("SELECT COUNT(*) FROM ({unmatched})"))
            .await
            .map_err(failed)?
            .collect()
            .await
            .map_err(failed)?;
        report.vectors_without_row =
            count.first().map(|b| b.column(0).as_primitive::<Int64Type>().value(0)).unwrap_or(0).max(0) as u64;
        if report.vectors_without_row > 0 {
            let first = context
                .sql(&format!("{unmatched} ORDER BY v.file_no, v.row_no LIMIT {EXAMPLES}"))
                .await
                .map_err(failed)?
                .collect()
                .await
                .map_err(failed)?;
            for batch in first {
                let files = batch.column(0).as_primitive::<Int32Type>();
                let rows = batch.column(1).as_primitive::<Int64Type>();
                for i in 0..batch.num_rows() {
                    report.vectors_without_row_examples.push(format!("input {} row {}", files.value(i), rows.value(i)));
                }
            }
        }
        let matches = "SELECT r.row_id, r.position, v.file_no, v.row_no FROM r JOIN v \
                       ON r.h1 = v.h1 AND r.h2 = v.h2 ORDER BY r.row_id, v.file_no, v.row_no";
        let mut stream = context.sql(matches).await.map_err(failed)?.execute_stream().await.map_err(failed)?;
        let mut block: Option<(u64, Vec<Match>)> = None;
        let mut last_row: Option<i64> = None;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(failed)?;
            let ids = batch.column(0).as_primitive::<Int64Type>();
            let positions = batch.column(1).as_primitive::<Int32Type>();
            let files = batch.column(2).as_primitive::<Int32Type>();
            let rows = batch.column(3).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let id = ids.value(i);
                if last_row == Some(id) {
                    report.duplicate_vectors += 1;
                    continue;
                }
                last_row = Some(id);
                let row = RowId(id);
                if block.as_ref().is_some_and(|(key, _)| *key != row.block_key())
                    && let Some((key, matches)) = block.take()
                {
                    each(key, matches, report)?;
                }
                let entry = block.get_or_insert_with(|| (row.block_key(), Vec::new()));
                entry.1.push(Match {
                    position: positions.value(i) as u32,
                    input: files.value(i) as u32,
                    row: rows.value(i) as u64,
                });
            }
        }
        if let Some((key, matches)) = block.take() {
            each(key, matches, report)?;
        }
        Ok(())
    })
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| IngestError::usage(format!("{}: not UTF-8", path.display())))
}

/// One row's vector: the row's position in its block file, and where the vector is.
#[derive(Debug, Clone, Copy)]
struct Match {
    position: u32,
    input: u32,
    row: u64,
}

/// Writes blocks' vector files (the module doc's step 4).
struct BlockVectors<'a> {
    dataset: &'a Path,
    writer: &'a DatasetWriter,
    inputs: &'a [EmbeddingInput],
    kind: &'a str,
    dim: usize,
    skip_bad: bool,
    old_files: &'a HashMap<(&'a str, u64), &'a BlockFile>,
}

impl BlockVectors<'_> {
    fn write(
        &mut self,
        source: &str,
        block: u64,
        rows: u64,
        mut matches: Vec<Match>,
        report: &mut EmbeddingReport,
    ) -> Result<Option<BlockFile>> {
        let (relative, path) = self.writer.vector_path(self.kind, source, block)?;
        let io = |e: std::io::Error| IngestError::Io { path: path.clone(), source: e };
        let mut out = VectorFileWriter::create(&path, rows, self.dim).map_err(io)?;
        if let Some(file) = self.old_files.get(&(source, block)) {
            let old_path = self.dataset.join(&file.path);
            let old = VectorFile::open(&old_path, rows, self.dim)
                .map_err(|e| IngestError::Io { path: old_path.clone(), source: e })?;
            out.copy_from(&old).map_err(io)?;
        }
        matches.sort_unstable_by_key(|m| (m.input, m.row));
        let mut start = 0;
        while start < matches.len() {
            let input = matches[start].input;
            let end = start + matches[start..].iter().take_while(|m| m.input == input).count();
            self.read_vectors(&matches[start..end], |m, vector| match out.put(u64::from(m.position), vector) {
                Ok(()) => {
                    report.rows_matched += 1;
                    Ok(())
                }
                Err(PutError::Bad(bad)) if self.skip_bad => {
                    *report.bad_vectors.entry(bad.to_string()).or_insert(0) += 1;
                    Ok(())
                }
                Err(PutError::Bad(bad)) => Err(BadInput::new(
                    self.inputs[m.input as usize].vector_path(),
                    format!("{bad} (--skip-bad counts and skips such vectors)"),
                )
                .row(m.row)
                .into()),
                Err(PutError::Io(e)) => Err(io(e)),
            })?;
            start = end;
        }
        let rows_with = out.written();
        let bytes = out.finish().map_err(io)?;
        if let Some(old) = self.old_files.get(&(source, block))
            && same_bytes(&self.dataset.join(&old.path), &path).map_err(io)?
        {
            // The block's vectors are what they were: no new file, no new version for it.
            std::fs::remove_file(&path).map_err(io)?;
            return Ok(None);
        }
        Ok(Some(BlockFile {
            source: source.to_string(),
            block,
            written_in: self.writer.committed().version + 1,
            path: relative,
            rows: rows_with,
            bytes,
        }))
    }

    /// Calls `each` with the vector of every match of `matches` (of one input, sorted by row).
    fn read_vectors(&self, matches: &[Match], mut each: impl FnMut(&Match, &[f32]) -> Result<()>) -> Result<()> {
        let Some(first) = matches.first() else { return Ok(()) };
        let input = &self.inputs[first.input as usize];
        match &input.vectors {
            VectorColumn::Npy(matrix) => {
                let mut buffer = Vec::new();
                let mut start = 0;
                while start < matches.len() {
                    // A run of consecutive rows, read with one call.
                    let mut end = start + 1;
                    while end < matches.len() && end - start < READ_ROWS && matches[end].row <= matches[end - 1].row + 1
                    {
                        end += 1;
                    }
                    let first_row = matches[start].row;
                    let count = (matches[end - 1].row - first_row + 1) as usize;
                    matrix
                        .read_rows(first_row, count, &mut buffer)
                        .map_err(|e| BadInput::new(matrix.path(), without_path(&e.to_string(), matrix.path())))?;
                    for m in &matches[start..end] {
                        let at = (m.row - first_row) as usize * self.dim;
                        each(m, &buffer[at..at + self.dim])?;
                    }
                    start = end;
                }
                Ok(())
            }
            VectorColumn::Column(index, name) => {
                let mut selectors = Vec::new();
                let mut next = 0u64;
                let mut rows: Vec<u64> = matches.iter().map(|m| m.row).collect();
                rows.dedup();
                for &row in &rows {
                    if row > next {
                        selectors.push(RowSelector::skip((row - next) as usize));
                    }
                    selectors.push(RowSelector::select(1));
                    next = row + 1;
                }
                let mut at = 0;
                let path = &input.metadata;
                for_each_batch(path, &[*index], Some(RowSelection::from(selectors)), |batch, first| {
                    let vectors = batch.column(0);
                    for i in 0..batch.num_rows() {
                        let row = rows[first as usize + i];
                        if vectors.is_null(i) {
                            return Err(BadInput::new(path, "a null vector for a row that has a key")
                                .column(name.as_str())
                                .row(row)
                                .into());
                        }
                        let vector = list_value(vectors, i);
                        if vector.len() != self.dim {
                            return Err(BadInput::new(
                                path,
                                format!("a vector of {} dimensions, not {}", vector.len(), self.dim),
                            )
                            .column(name.as_str())
                            .row(row)
                            .into());
                        }
                        while at < matches.len() && matches[at].row == row {
                            each(&matches[at], &vector)?;
                            at += 1;
                        }
                    }
                    Ok(true)
                })
            }
        }
    }
}

/// Whether the files at `a` and `b` hold the same bytes (read in 1 MiB pieces).
fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    if a.metadata()?.len() != b.metadata()?.len() {
        return Ok(false);
    }
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// Counts the rows of `manifest` without a vector in `files`, and lists the first.
fn count_rows_without(
    dataset: &Path,
    manifest: &Manifest,
    files: &[BlockFile],
    dim: usize,
    report: &mut EmbeddingReport,
) -> Result<()> {
    let with: u64 = files.iter().map(|f| f.rows).sum();
    report.rows_without_vector = manifest.sources.iter().map(|s| s.rows).sum::<u64>().saturating_sub(with);
    let mut blocks: Vec<_> = manifest.sources.iter().flat_map(|s| s.files.iter().map(move |f| (s, f))).collect();
    blocks.sort_by_key(|(_, f)| f.block_key);
    for (source, block) in blocks {
        if report.rows_without_vector_examples.len() >= EXAMPLES.min(report.rows_without_vector as usize) {
            break;
        }
        let file = match files.iter().find(|f| f.source == source.id && f.block == block.block) {
            Some(f) if f.rows == block.rows => continue,
            Some(f) => {
                let path = dataset.join(&f.path);
                Some(VectorFile::open(&path, block.rows, dim).map_err(|e| IngestError::Io { path, source: e })?)
            }
            None => None,
        };
        let path = dataset.join(&block.path);
        let schema = parquet_schema(&path)?;
        let row_id = schema.index_of("row_id").map_err(|_| BadInput::new(&path, "no row_id column"))?;
        for_each_batch(&path, &[row_id], None, |batch, first| {
            let ids = batch.column(0).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if report.rows_without_vector_examples.len() >= EXAMPLES {
                    return Ok(false);
                }
                if file.as_ref().is_none_or(|f| f.vector(first + i as u64).is_none()) {
                    report.rows_without_vector_examples.push(ids.value(i));
                }
            }
            Ok(true)
        })?;
    }
    Ok(())
}

/// The seed of every index training: the same vectors give the same index.
pub const INDEX_SEED: u32 = 20_221_206;

/// A set with fewer vectors has no index: scoring every vector is fast enough.
pub const MIN_INDEXED_VECTORS: u64 = 20_000;

/// Most vectors in a training sample (float32 while training: 1.5 GiB at 768 dimensions).
pub const MAX_SAMPLE: u64 = 1 << 19;

/// Vectors a training sample of a set of `vectors` with `nlist` lists holds: 40 per coarse
/// centroid (faiss asks at least 39), and at least 65,536 for the product quantizer's 256
/// centroids per sub-vector (faiss's 256 per centroid), within [`MAX_SAMPLE`]. The coarse
/// k-means costs sample × nlist × dim per iteration, so this keeps training time ∝ nlist²
/// up to the cap (measured figures: docs/vectors.md).
pub fn sample_size(vectors: u64, nlist: usize) -> u64 {
    (40 * nlist as u64).clamp(65_536, MAX_SAMPLE).min(vectors)
}

/// The index's shape for `n` vectors of `dim` dimensions: `nlist`, the power of two nearest
/// 4·√n (faiss's guideline, and autofaiss's rule below 10M vectors), with at least the 39
/// training vectors per list faiss asks for, in the set and in the largest sample
/// ([`MAX_SAMPLE`]: so at most 13,443 lists, reached from about 8.4M vectors); and `m`, the most
/// code bytes up to 128 with at least 4 dimensions each (LAION's 768: 128 bytes, with the 8-byte
/// id 136 per vector, clip-retrieval's size). Billions of vectors would want more lists (faiss
/// suggests 2^16 to 2^18), which needs a larger sample and a graph coarse quantizer: not done.
pub fn index_shape(n: u64, dim: usize) -> (usize, usize) {
    let root = 4.0 * (n as f64).sqrt().max(1.0);
    let trainable = (MAX_SAMPLE as usize / 39).min((n / 39).max(1) as usize);
    let nlist = (1usize << root.log2().round() as u32).max(16).min(trainable);
    let m = (1..=(dim / 4).clamp(1, 128)).rev().find(|m| dim.is_multiple_of(*m)).unwrap_or(1);
    (nlist, m)
}

/// The index of `files` (the set's vector files after this ingest): the committed model kept
/// if there is one (else trained now on a sample), and lists written for the blocks whose
/// vector file is newer than their lists, with what that cost. `None` below
/// [`MIN_INDEXED_VECTORS`] without a model.
#[allow(clippy::too_many_arguments)]
fn build_index(
    dataset: &Path,
    writer: &DatasetWriter,
    kind: &str,
    dim: usize,
    files: &[BlockFile],
    old: Option<&VectorIndex>,
    threads: usize,
    progress: &dyn Progress,
) -> Result<Option<(VectorIndex, IndexWork)>> {
    let vectors: u64 = files.iter().map(|f| f.rows).sum();
    let version = writer.committed().version + 1;
    let rows_of = |file: &BlockFile| -> u64 { if dim == 0 { 0 } else { file.bytes / (dim as u64 * 2) } };
    let open = |file: &BlockFile| -> Result<VectorFile> {
        let path = dataset.join(&file.path);
        VectorFile::open(&path, rows_of(file), dim).map_err(|e| IngestError::Io { path, source: e })
    };
    let failed = |path: &Path, e: pairscope_ann::Error| IngestError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("the vector index: {e}")),
    };
    let training = Instant::now();
    let (mut index, trained) = match old {
        Some(old) => {
            let path = dataset.join(Layout::vector_model(kind, old.trained_in));
            let bytes = std::fs::read(&path).map_err(|e| IngestError::Io { path: path.clone(), source: e })?;
            let trained = Trained::from_bytes(&bytes).map_err(|e| failed(&path, e))?;
            (old.clone(), trained)
        }
        None if vectors < MIN_INDEXED_VECTORS => return Ok(None),
        None => {
            let (nlist, m) = index_shape(vectors, dim);
            let sample = training_sample(files, vectors, dim, nlist, &open)?;
            tracing::info!(nlist, m, vectors = sample.len() / dim.max(1), "training the vector index");
            let params = TrainParams { dim, nlist, m, seed: INDEX_SEED, threads: 0 };
            let relative = Layout::vector_model(kind, version);
            let path = writer.added_file(&relative)?;
            let trained = Trained::train(&params, &sample).map_err(|e| failed(&path, e))?;
            let bytes = trained.to_bytes().map_err(|e| failed(&path, e))?;
            write_atomic(&path, &bytes).map_err(|e| IngestError::Io { path: path.clone(), source: e })?;
            let index = VectorIndex {
                factory: format!("IVF{nlist},PQ{m}np"),
                nlist: nlist as u32,
                m: m as u32,
                seed: u64::from(INDEX_SEED),
                trained_on: (sample.len() / dim) as u64,
                trained_in: version,
                trained_bytes: bytes.len() as u64,
                lists: Vec::new(),
            };
            (index, trained)
        }
    };
    let current = |lists: &BlockFile| {
        files.iter().any(|f| f.same_block(lists) && f.written_in <= lists.written_in && f.rows == lists.rows)
    };
    let mut work = IndexWork {
        factory: index.factory.clone(),
        trained_on: old.is_none().then_some(index.trained_on),
        train_seconds: if old.is_none() { training.elapsed().as_secs_f64() } else { 0.0 },
        blocks_encoded: 0,
        vectors_encoded: 0,
        encode_seconds: 0.0,
    };
    let encoding = Instant::now();
    index.lists.retain(|l| current(l));
    let todo: Vec<&BlockFile> = files.iter().filter(|f| !index.lists.iter().any(|l| l.same_block(f))).collect();
    // Blocks at once, each on its share of the threads (the codes do not depend on it).
    let per_block = (threads / todo.len().max(1)).max(1);
    let written = pairscope_io::parallel::try_map(todo.len(), threads, |i| {
        let file = todo[i];
        let vectors = open(file)?;
        let present: Vec<i64> =
            (0..vectors.rows()).filter(|o| vectors.vector(*o).is_some()).map(|o| o as i64).collect();
        let relative = Layout::vector_lists(kind, &file.source, file.block, version);
        let path = writer.added_file(&relative)?;
        let bytes = encode_block_from(&trained, &present, per_block, |start, out| {
            for (row, out) in present[start..].iter().zip(out.chunks_exact_mut(dim)) {
                if let Some(vector) = vectors.vector(*row as u64) {
                    out.copy_from_slice(&vector);
                }
            }
        })
        .map_err(|e| failed(&path, e))?;
        write_atomic(&path, &bytes).map_err(|e| IngestError::Io { path: path.clone(), source: e })?;
        progress.advance(0, 0);
        Ok::<_, IngestError>(BlockFile {
            source: file.source.clone(),
            block: file.block,
            written_in: version,
            path: relative,
            rows: present.len() as u64,
            bytes: bytes.len() as u64,
        })
    })?;
    work.blocks_encoded = written.len();
    work.vectors_encoded = written.iter().map(|l| l.rows).sum();
    work.encode_seconds = encoding.elapsed().as_secs_f64();
    index.lists.extend(written);
    index.lists.sort_by(|a, b| (&a.source, a.block).cmp(&(&b.source, b.block)));
    Ok(Some((index, work)))
}

/// At most [`MAX_SAMPLE`] of the `vectors` vectors of `files`, as float32: the positions
/// ⌊j·vectors/wanted⌋ of the files taken end to end (an even stride that does not round), those
/// that have a vector (the same rows for the same files).
fn training_sample(
    files: &[BlockFile],
    vectors: u64,
    dim: usize,
    nlist: usize,
    open: &impl Fn(&BlockFile) -> Result<VectorFile>,
) -> Result<Vec<f32>> {
    let wanted = sample_size(vectors, nlist).max(1);
    let position = |j: u64| (u128::from(j) * u128::from(vectors) / u128::from(wanted)) as u64;
    let mut sample = Vec::with_capacity(wanted as usize * dim);
    let (mut j, mut first) = (0, 0);
    for file in files {
        let block = open(file)?;
        while j < wanted && position(j) < first + block.rows() {
            if let Some(vector) = block.vector(position(j) - first) {
                sample.extend_from_slice(&vector);
            }
            j += 1;
        }
        first += block.rows();
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_shape_has_39_training_vectors_per_list_and_whole_sub_vectors() {
        for n in [MIN_INDEXED_VECTORS, 100_000, 300_000, 1_000_000, 10_000_000, 2_300_000_000, 5_850_000_000] {
            for dim in [512, 768, 1024] {
                let (nlist, m) = index_shape(n, dim);
                let sample = sample_size(n, nlist);
                assert!(sample >= 39 * nlist as u64, "{n} × {dim}: {nlist} lists trained on {sample}");
                assert!(n >= 39 * nlist as u64, "{n}: {nlist} lists");
                assert!(dim.is_multiple_of(m) && dim / m >= 4 && m <= 128, "{dim}: m = {m}");
            }
        }
        // faiss's 4·√n where it fits: the shapes bench/REPORT.md measured.
        assert_eq!(index_shape(100_000, 768), (1024, 128));
        assert_eq!(index_shape(300_000, 768), (2048, 128));
        assert_eq!(index_shape(1_000_000, 768).0, 4096);
        assert_eq!(index_shape(2_300_000_000, 768).0, (MAX_SAMPLE / 39) as usize);
    }
}
