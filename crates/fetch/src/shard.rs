//! A fetch run's output shards, in img2dataset's layout, resumable per image and byte for byte
//! deterministic.
//!
//! Layout of the output directory, per shard `NNNNN` (img2dataset's names, so webdataset,
//! clip-retrieval and training code read it unchanged):
//! - `NNNNN.tar` (`--output-format webdataset`): per sample, in key order, `KEY.jpg` (when the
//!   image was fetched), `KEY.txt` (the caption) and `KEY.json` (the sample's metadata);
//! - `NNNNN.parquet`: one row per input row of the shard, fetched or not ([`PARQUET_COLUMNS`]);
//! - `NNNNN_stats.json`: the shard's counts by status. Written last: a shard with its stats
//!   file is complete, and a run started again leaves it alone.
//!
//! Resuming per image, not per shard: while a shard is fetched, each finished sample is put
//! into `NNNNN.partial/` ([`ShardWriter::put`]): its image (`KEY.jpg`), then its metadata
//! (`KEY.json`), each a durable write, so a sample whose metadata is there is whole. A run
//! started again with the same arguments asks [`ShardWriter::done`] which keys it has and
//! fetches only the others. [`ShardWriter::finish`] assembles the shard from the partial
//! directory in key order, then removes it.
//!
//! Deterministic: tar members in key order, each with mode 0644, mtime 0, uid and gid 0 and no
//! user or group names; JSON with a fixed field order; parquet with fixed settings; stats hold
//! counts only (times go to the run's report). The same samples give byte-identical files,
//! whatever order they were fetched in and however often the run was interrupted.
//!
//! Memory: `finish` holds one sample's image at a time, and the shard's metadata (its rows
//! without images) for the parquet file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Field, Schema};
use pairscope_export::{BatchWriter, ExportError, ExportFormat, ExportOptions};
use pairscope_io::durable::{AtomicFile, fsync_dir, write_atomic};
use pairscope_io::staged::{StageError, StagedDir};
use serde::{Deserialize, Serialize};

/// The columns of a shard's parquet file, in order.
pub use pairscope_model::fetched::SHARD_COLUMNS as PARQUET_COLUMNS;

/// What a shard is written as, beside its parquet and stats files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// `NNNNN.tar` of `KEY.jpg`, `KEY.txt`, `KEY.json`.
    Webdataset,
    /// `NNNNN/KEY.jpg`, `KEY.txt`, `KEY.json`.
    Files,
    /// The parquet file only (no images kept).
    Parquet,
}

/// One input row's outcome: its metadata (`KEY.json`, a parquet row) and, when fetched, the
/// image as it is kept (re-encoded by `pairscope-images`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The sample's key: shard number and index in the shard, zero-padded (img2dataset's).
    pub key: String,
    /// The image URL.
    pub url: String,
    /// The caption, if the input had one.
    pub caption: Option<String>,
    /// `ok`, or why not (a network status of [`crate::FetchStatus`], an image failure, a
    /// consent status such as `optout_pair`).
    pub status: String,
    /// Why not `ok`, for a person; empty when ok.
    pub error_message: String,
    /// Width of the image kept, in pixels.
    pub width: Option<u32>,
    /// Height of the image kept, in pixels.
    pub height: Option<u32>,
    /// Width of the image as served, in pixels.
    pub original_width: Option<u32>,
    /// Height of the image as served, in pixels.
    pub original_height: Option<u32>,
    /// MD5 of the bytes as served, lower-case hex.
    pub md5: Option<String>,
    /// SHA-1 of the bytes as served, lower-case hex.
    pub sha1: Option<String>,
    /// SHA-256 of the bytes as served, lower-case hex.
    pub sha256: Option<String>,
    /// The dataset row it came from (`None` for rows read `--from` a plain parquet file).
    pub row_id: Option<i64>,
    /// The image as kept (JPEG), when the status is `ok` and the format keeps images.
    #[serde(skip)]
    pub image: Option<Vec<u8>>,
}

/// Why a shard could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A file of the shard could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A partial sample's metadata that is not a sample's (damaged, or not ours).
    #[error("{}: not a sample's metadata: {source}", path.display())]
    BadSample {
        /// The metadata file.
        path: PathBuf,
        /// The JSON reader's error.
        source: serde_json::Error,
    },
    /// `finish` was asked for keys the partial directory does not have.
    #[error("shard {shard:05}: {missing} of its samples are not fetched yet (first: {first})")]
    Incomplete {
        /// The shard.
        shard: u64,
        /// How many keys have no sample.
        missing: usize,
        /// The first of them.
        first: String,
    },
    /// The parquet file could not be encoded or written.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The parquet file.
        path: PathBuf,
        /// The writer's error.
        source: ExportError,
    },
    /// The files format's shard directory could not be staged or put in place.
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// A shard's counts, as its stats file holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Input rows in the shard.
    pub count: u64,
    /// Rows whose image was fetched and kept.
    pub successes: u64,
    /// Rows by status (`ok` included).
    pub status_dict: BTreeMap<String, u64>,
}

/// `NNNNN`, the name of shard `shard`.
pub fn shard_name(shard: u64) -> String {
    format!("{shard:05}")
}

/// The key of sample `index` of shard `shard`: the shard's five digits, then the index padded
/// to the digits of the largest index of a shard of `shard_rows` rows (img2dataset's scheme).
pub fn sample_key(shard: u64, index: u64, shard_rows: u64) -> String {
    let digits = shard_rows.saturating_sub(1).max(1).ilog10() as usize + 1;
    format!("{shard:05}{index:0digits$}")
}

/// Whether shard `shard` of `out` is complete (its stats file, written last, is there).
pub fn is_finished(out: &Path, shard: u64) -> bool {
    stats_path(out, shard).is_file()
}

/// The counts of finished shard `shard` of `out`, from its stats file.
pub fn read_stats(out: &Path, shard: u64) -> Result<ShardStats, ShardError> {
    let path = stats_path(out, shard);
    let bytes = fs::read(&path).map_err(|source| ShardError::Io { path: path.clone(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| ShardError::BadSample { path, source })
}

fn stats_path(out: &Path, shard: u64) -> PathBuf {
    out.join(format!("{}{}", shard_name(shard), pairscope_model::fetched::STATS_SUFFIX))
}

fn partial_path(out: &Path, shard: u64) -> PathBuf {
    out.join(format!("{}.partial", shard_name(shard)))
}

/// Removes what a run killed between finishing shard `shard` (its stats file written) and
/// removing its partial directory left behind. Only for a finished shard.
pub fn sweep(out: &Path, shard: u64) -> Result<(), ShardError> {
    let partial = partial_path(out, shard);
    match fs::remove_dir_all(&partial) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ShardError::Io { path: partial, source: e }),
        _ => Ok(()),
    }
}

/// Turns finished shard `shard` back into an unfinished one whose samples `retry` accepts are
/// missing, so that a run fetches them again; returns how many. Nothing changes when there are
/// none. The finished files stay until the shard is finished again and replaces them; a run
/// killed half-way through leaves either the finished shard (its stats file is removed last)
/// or the unfinished one.
pub fn reopen(
    out: &Path,
    shard: u64,
    format: OutputFormat,
    retry: &dyn Fn(&Sample) -> bool,
) -> Result<usize, ShardError> {
    let name = shard_name(shard);
    let samples = read_parquet(&out.join(format!("{name}.parquet")))?;
    let again = samples.iter().filter(|s| retry(s)).count();
    if again == 0 {
        return Ok(0);
    }
    sweep(out, shard)?;
    let writer = ShardWriter::open(out, shard)?;
    let mut images = finished_images(out, shard, format)?;
    for mut sample in samples.into_iter().filter(|s| !retry(s)) {
        sample.image = images.remove(&sample.key);
        writer.put(&sample)?;
    }
    let stats = stats_path(out, shard);
    fs::remove_file(&stats).map_err(|source| ShardError::Io { path: stats, source })?;
    fsync_dir(out).map_err(|source| ShardError::Io { path: out.to_path_buf(), source })?;
    Ok(again)
}

/// The images of finished shard `shard`, by key (none for the parquet format).
fn finished_images(out: &Path, shard: u64, format: OutputFormat) -> Result<BTreeMap<String, Vec<u8>>, ShardError> {
    let name = shard_name(shard);
    let mut images = BTreeMap::new();
    match format {
        OutputFormat::Parquet => {}
        OutputFormat::Files => {
            let dir = out.join(&name);
            let io_error = |source| ShardError::Io { path: dir.clone(), source };
            for entry in fs::read_dir(&dir).map_err(io_error)? {
                let path = entry.map_err(io_error)?.path();
                if let Some(key) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".jpg")) {
                    let bytes = fs::read(&path).map_err(|source| ShardError::Io { path: path.clone(), source })?;
                    images.insert(key.to_string(), bytes);
                }
            }
        }
        OutputFormat::Webdataset => {
            let path = out.join(format!("{name}.tar"));
            let io_error = |source| ShardError::Io { path: path.clone(), source };
            let mut archive = tar::Archive::new(fs::File::open(&path).map_err(io_error)?);
            for member in archive.entries().map_err(io_error)? {
                let mut member = member.map_err(io_error)?;
                let member_path = member.path().map_err(io_error)?.to_string_lossy().into_owned();
                if let Some(key) = member_path.strip_suffix(".jpg") {
                    let mut bytes = Vec::new();
                    io::Read::read_to_end(&mut member, &mut bytes).map_err(io_error)?;
                    images.insert(key.to_string(), bytes);
                }
            }
        }
    }
    Ok(images)
}

/// The samples of a shard's parquet file (without images).
pub(crate) fn read_parquet(path: &Path) -> Result<Vec<Sample>, ShardError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, UInt32Type};
    let io_error = |source| ShardError::Io { path: path.to_path_buf(), source };
    let damaged = |what: String| io_error(io::Error::new(io::ErrorKind::InvalidData, what));
    let file = fs::File::open(path).map_err(io_error)?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| damaged(e.to_string()))?;
    let mut samples = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| damaged(e.to_string()))?;
        let column = |name: &str| batch.column_by_name(name).ok_or_else(|| damaged(format!("no column {name}")));
        let text = |name: &str| column(name).map(|c| c.as_string_opt::<i32>().cloned());
        let size = |name: &str| column(name).map(|c| c.as_primitive_opt::<UInt32Type>().cloned());
        let (url, caption, key, status, message) =
            (text("url")?, text("caption")?, text("key")?, text("status")?, text("error_message")?);
        let (width, height, original_width, original_height) =
            (size("width")?, size("height")?, size("original_width")?, size("original_height")?);
        let (md5, sha1, sha256) = (text("md5")?, text("sha1")?, text("sha256")?);
        let row_id = column("row_id")?.as_primitive_opt::<Int64Type>().cloned();
        let get_text = |a: &Option<arrow::array::StringArray>, i: usize| {
            a.as_ref().and_then(|a| a.is_valid(i).then(|| a.value(i).to_string()))
        };
        let get_size = |a: &Option<arrow::array::UInt32Array>, i: usize| {
            a.as_ref().and_then(|a| a.is_valid(i).then(|| a.value(i)))
        };
        for i in 0..batch.num_rows() {
            let required = |a: &Option<arrow::array::StringArray>, name: &str| {
                get_text(a, i).ok_or_else(|| damaged(format!("row {i}: no {name}")))
            };
            samples.push(Sample {
                key: required(&key, "key")?,
                url: required(&url, "url")?,
                caption: get_text(&caption, i),
                status: required(&status, "status")?,
                error_message: get_text(&message, i).unwrap_or_default(),
                width: get_size(&width, i),
                height: get_size(&height, i),
                original_width: get_size(&original_width, i),
                original_height: get_size(&original_height, i),
                md5: get_text(&md5, i),
                sha1: get_text(&sha1, i),
                sha256: get_text(&sha256, i),
                row_id: row_id.as_ref().and_then(|a| a.is_valid(i).then(|| a.value(i))),
                image: None,
            });
        }
    }
    Ok(samples)
}

/// The samples of one shard being fetched, kept in its partial directory until `finish`.
pub struct ShardWriter {
    out: PathBuf,
    shard: u64,
    partial: PathBuf,
}

impl ShardWriter {
    /// The writer of shard `shard` under `out`, keeping what an earlier run of it put there.
    pub fn open(out: &Path, shard: u64) -> Result<ShardWriter, ShardError> {
        let partial = partial_path(out, shard);
        fs::create_dir_all(&partial).map_err(|source| ShardError::Io { path: partial.clone(), source })?;
        Ok(ShardWriter { out: out.to_path_buf(), shard, partial })
    }

    /// The keys whose sample is whole in the partial directory (its metadata is there).
    pub fn done(&self) -> Result<BTreeSet<String>, ShardError> {
        let io_error = |source| ShardError::Io { path: self.partial.clone(), source };
        let mut keys = BTreeSet::new();
        for entry in fs::read_dir(&self.partial).map_err(io_error)? {
            let name = entry.map_err(io_error)?.file_name();
            if let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) {
                keys.insert(key.to_string());
            }
        }
        Ok(keys)
    }

    /// Keeps `sample` durably: its image first, then its metadata, which marks it whole. An
    /// image an interrupted earlier attempt left for a sample that now has none is removed.
    pub fn put(&self, sample: &Sample) -> Result<(), ShardError> {
        let path = self.partial.join(format!("{}.jpg", sample.key));
        match &sample.image {
            Some(image) => write_atomic(&path, image).map_err(|source| ShardError::Io { path, source })?,
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(ShardError::Io { path, source: e }),
                _ => {}
            },
        }
        let path = self.partial.join(format!("{}.json", sample.key));
        write_atomic(&path, &metadata_json(sample)).map_err(|source| ShardError::Io { path, source })
    }

    /// Assembles the shard from the samples of `keys` (every row of the shard, in any order)
    /// as `format`, writes its parquet and stats files, and removes the partial directory.
    pub fn finish(&self, keys: &[String], format: OutputFormat) -> Result<ShardStats, ShardError> {
        let mut keys = keys.to_vec();
        keys.sort();
        let done = self.done()?;
        let missing: Vec<&String> = keys.iter().filter(|k| !done.contains(*k)).collect();
        if let Some(first) = missing.first() {
            return Err(ShardError::Incomplete { shard: self.shard, missing: missing.len(), first: (*first).clone() });
        }
        let samples = keys.iter().map(|key| self.read(key)).collect::<Result<Vec<_>, _>>()?;
        let name = shard_name(self.shard);
        match format {
            OutputFormat::Webdataset => self.write_tar(&self.out.join(format!("{name}.tar")), &samples)?,
            OutputFormat::Files => self.write_files(&self.out.join(&name), &samples)?,
            OutputFormat::Parquet => {}
        }
        write_parquet(&self.out.join(format!("{name}.parquet")), &samples)?;
        let stats = stats_of(&samples);
        let path = stats_path(&self.out, self.shard);
        let json = to_json(&stats);
        write_atomic(&path, &json).map_err(|source| ShardError::Io { path, source })?;
        fs::remove_dir_all(&self.partial).map_err(|source| ShardError::Io { path: self.partial.clone(), source })?;
        fsync_dir(&self.out).map_err(|source| ShardError::Io { path: self.out.clone(), source })?;
        Ok(stats)
    }

    /// The sample of `key` as the partial directory holds it, without its image.
    fn read(&self, key: &str) -> Result<Sample, ShardError> {
        let path = self.partial.join(format!("{key}.json"));
        let bytes = fs::read(&path).map_err(|source| ShardError::Io { path: path.clone(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| ShardError::BadSample { path, source })
    }

    /// The image of `key`, if it has one.
    fn image(&self, key: &str) -> Result<Option<Vec<u8>>, ShardError> {
        let path = self.partial.join(format!("{key}.jpg"));
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ShardError::Io { path, source }),
        }
    }

    /// `samples` (in key order) as a webdataset tar.
    fn write_tar(&self, path: &Path, samples: &[Sample]) -> Result<(), ShardError> {
        let io_error = |source| ShardError::Io { path: path.to_path_buf(), source };
        let file = AtomicFile::create(path).map_err(io_error)?;
        let mut tar = tar::Builder::new(io::BufWriter::new(file));
        for sample in samples {
            for (name, bytes) in self.members(sample)? {
                tar.append(&member_header(&name, bytes.len() as u64).map_err(io_error)?, bytes.as_slice())
                    .map_err(io_error)?;
            }
        }
        let file = tar.into_inner().map_err(io_error)?.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.commit().map_err(io_error)
    }

    /// `samples` as files in the directory `dir`, staged beside it and renamed into place
    /// (`pairscope_io::staged`): a killed run leaves the old directory or the new one.
    fn write_files(&self, dir: &Path, samples: &[Sample]) -> Result<(), ShardError> {
        // A shard directory is the run's own: an earlier attempt's may always be replaced.
        let staged = StagedDir::create(dir, ".pairscope-fetch-staging", |_| Ok(()))?;
        for sample in samples {
            for (name, bytes) in self.members(sample)? {
                let path = staged.path().join(&name);
                write_atomic(&path, &bytes).map_err(|source| ShardError::Io { path, source })?;
            }
        }
        Ok(staged.commit()?)
    }

    /// A sample's files, in the order webdataset readers expect them: image, caption, metadata.
    fn members(&self, sample: &Sample) -> Result<Vec<(String, Vec<u8>)>, ShardError> {
        let mut members = Vec::with_capacity(3);
        if let Some(image) = self.image(&sample.key)? {
            members.push((format!("{}.jpg", sample.key), image));
        }
        members.push((format!("{}.txt", sample.key), sample.caption.clone().unwrap_or_default().into_bytes()));
        members.push((format!("{}.json", sample.key), metadata_json(sample)));
        Ok(members)
    }
}

/// A tar header that depends on the member's name and size only.
fn member_header(name: &str, size: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_path(name)?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(header)
}

/// A sample's metadata as JSON, fields in their declared order.
fn metadata_json(sample: &Sample) -> Vec<u8> {
    to_json(sample)
}

/// `value` as JSON.
#[expect(clippy::expect_used, reason = "samples and stats are structs of strings, numbers and string-keyed maps")]
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("samples serialise to JSON")
}

/// The counts of `samples` by status.
fn stats_of(samples: &[Sample]) -> ShardStats {
    let mut stats = ShardStats { count: samples.len() as u64, ..ShardStats::default() };
    for sample in samples {
        *stats.status_dict.entry(sample.status.clone()).or_insert(0) += 1;
        stats.successes += u64::from(sample.status == "ok");
    }
    stats
}

/// The shard's rows (every sample, in key order) as parquet.
fn write_parquet(path: &Path, samples: &[Sample]) -> Result<(), ShardError> {
    let text =
        |f: &dyn Fn(&Sample) -> Option<&str>| -> ArrayRef { Arc::new(samples.iter().map(f).collect::<StringArray>()) };
    let size =
        |f: &dyn Fn(&Sample) -> Option<u32>| -> ArrayRef { Arc::new(samples.iter().map(f).collect::<UInt32Array>()) };
    let columns: Vec<ArrayRef> = vec![
        text(&|s| Some(&s.url)),
        text(&|s| s.caption.as_deref()),
        text(&|s| Some(&s.key)),
        text(&|s| Some(&s.status)),
        text(&|s| Some(&s.error_message)),
        size(&|s| s.width),
        size(&|s| s.height),
        size(&|s| s.original_width),
        size(&|s| s.original_height),
        text(&|s| s.md5.as_deref()),
        text(&|s| s.sha1.as_deref()),
        text(&|s| s.sha256.as_deref()),
        Arc::new(samples.iter().map(|s| s.row_id).collect::<Int64Array>()),
    ];
    let fields: Vec<Field> = PARQUET_COLUMNS
        .iter()
        .zip(&columns)
        .map(|(name, column)| Field::new(*name, column.data_type().clone(), !matches!(*name, "url" | "key" | "status")))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let parquet_error = |source| ShardError::Parquet { path: path.to_path_buf(), source };
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| parquet_error(e.into()))?;
    let io_error = |source| ShardError::Io { path: path.to_path_buf(), source };
    let file = AtomicFile::create(path).map_err(io_error)?;
    let mut writer =
        BatchWriter::new(ExportFormat::Parquet, schema, file, ExportOptions::default()).map_err(parquet_error)?;
    writer.write(&batch).map_err(parquet_error)?;
    let mut file = writer.finish().map_err(parquet_error)?;
    file.flush().map_err(io_error)?;
    file.commit().map_err(io_error)
}
