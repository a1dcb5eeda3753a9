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
//! Resuming per image, not per shard: while a shard is fetched, each finished sample is
//! appended to the shard's journal `NNNNN.partial` ([`ShardWriter::put`]; one checksummed
//! record of metadata and image, `pairscope_io::journal`), so a killed run loses no finished
//! sample and a record is read back whole or not at all. A run started again with the same
//! arguments asks [`ShardWriter::done`] which keys it has and fetches only the others.
//! [`ShardWriter::finish`] assembles the shard from the journal in key order, then removes it.
//! One file per shard, not two per sample: creating, fsyncing and deleting two files per image
//! cost a tenth of a fetch's CPU time, and millions of them strain any file system.
//!
//! Deterministic: tar members in key order, each with mode 0644, mtime 0, uid and gid 0 and no
//! user or group names; JSON with a fixed field order; parquet with fixed settings; stats hold
//! counts only (times go to the run's report). The same samples give byte-identical files,
//! whatever order they were fetched in and however often the run was interrupted.
//!
//! Memory: a writer holds its shard's metadata (its rows without images; about half a KiB a
//! row), for `done`, the parquet file and the tar's order; `finish` holds one sample's image at
//! a time.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Field, Schema};
use pairscope_export::{BatchWriter, ExportError, ExportFormat, ExportOptions};
use pairscope_io::durable::{AtomicFile, fsync_dir, write_atomic};
use pairscope_io::journal::{BodyRef, Journal};
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
    /// A whole record of a shard's journal that is not a sample's (not ours, or written by
    /// another version).
    #[error("{}: record {record}: not a sample's metadata: {source}", path.display())]
    BadRecord {
        /// The journal.
        path: PathBuf,
        /// The record's place in the journal, from 0.
        record: usize,
        /// The JSON reader's error.
        source: serde_json::Error,
    },
    /// `finish` was asked for keys the journal does not have.
    #[error("shard {shard:05}: {missing} of its samples are not fetched yet (first: {first})")]
    Incomplete {
        /// The shard.
        shard: u64,
        /// How many keys have no sample.
        missing: usize,
        /// The first of them.
        first: String,
    },
    /// A thread writing the shard panicked while holding its samples: what it held is unknown,
    /// so nothing more is written (a re-run resumes from the journal).
    #[error("a thread writing the shard panicked")]
    Poisoned,
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

/// The journal of shard `shard` while it is fetched.
pub fn partial_path(out: &Path, shard: u64) -> PathBuf {
    out.join(format!("{}.partial", shard_name(shard)))
}

/// Removes shard `shard`'s journal: what a run killed between finishing the shard (its stats
/// file written) and removing the journal left behind. Only for a finished shard (or one being
/// reopened). A directory of that name, from a pairscope that kept a file per sample, goes too.
pub fn sweep(out: &Path, shard: u64) -> Result<(), ShardError> {
    let partial = partial_path(out, shard);
    let removed = match fs::symlink_metadata(&partial) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(&partial),
        Ok(_) => fs::remove_file(&partial),
        Err(e) => Err(e),
    };
    match removed {
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
    writer.sync()?;
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

/// How often, at most, a shard's journal is fsynced while samples are put: after a power cut a
/// resumed run fetches again at most the samples of the last second (a killed process loses
/// none). One fsync per sample cost more CPU than the JPEG decoder's colour conversion.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A sample in a shard's journal (without its image), and where its image is.
type Kept = (Sample, Option<BodyRef>);

/// The samples of one shard being fetched, kept in its journal until `finish`.
pub struct ShardWriter {
    out: PathBuf,
    shard: u64,
    journal: Journal,
    /// The samples in the journal, by key (a key put again: the last one), each with where its
    /// image is.
    samples: Mutex<BTreeMap<String, Kept>>,
    last_sync: Mutex<Instant>,
}

impl ShardWriter {
    /// The writer of shard `shard` under `out`, keeping what an earlier run of it put there.
    /// A shard being written by another process is refused.
    pub fn open(out: &Path, shard: u64) -> Result<ShardWriter, ShardError> {
        let path = partial_path(out, shard);
        let io_error = |source| ShardError::Io { path: path.clone(), source };
        fs::create_dir_all(out).map_err(|source| ShardError::Io { path: out.to_path_buf(), source })?;
        let (journal, entries) = Journal::open(&path).map_err(io_error)?;
        let mut samples = BTreeMap::new();
        for (record, entry) in entries.into_iter().enumerate() {
            let sample: Sample = serde_json::from_slice(&entry.meta).map_err(|source| ShardError::BadRecord {
                path: path.clone(),
                record,
                source,
            })?;
            let image = (entry.body.len > 0).then_some(entry.body);
            samples.insert(sample.key.clone(), (sample, image));
        }
        Ok(ShardWriter {
            out: out.to_path_buf(),
            shard,
            journal,
            samples: Mutex::new(samples),
            last_sync: Mutex::new(Instant::now()),
        })
    }

    /// The keys whose sample is kept.
    pub fn done(&self) -> Result<BTreeSet<String>, ShardError> {
        Ok(self.lock_samples()?.keys().cloned().collect())
    }

    /// Keeps `sample` (its metadata and image, one journal record), fsyncing the journal at
    /// most once a [`SYNC_INTERVAL`].
    pub fn put(&self, sample: &Sample) -> Result<(), ShardError> {
        let io_error = |source| ShardError::Io { path: self.journal.path().to_path_buf(), source };
        let image = sample.image.as_deref().unwrap_or_default();
        let entry = self.journal.append(&metadata_json(sample), image).map_err(io_error)?;
        let kept = Sample { image: None, ..sample.clone() };
        let body = (entry.body.len > 0).then_some(entry.body);
        self.lock_samples()?.insert(sample.key.clone(), (kept, body));
        let due = {
            let mut last = self.last_sync.lock().map_err(|_| poisoned())?;
            let due = last.elapsed() >= SYNC_INTERVAL;
            if due {
                *last = Instant::now();
            }
            due
        };
        if due {
            self.journal.sync().map_err(io_error)?;
        }
        Ok(())
    }

    /// Fsyncs the journal: every sample put so far survives a power cut.
    pub fn sync(&self) -> Result<(), ShardError> {
        self.journal.sync().map_err(|source| ShardError::Io { path: self.journal.path().to_path_buf(), source })
    }

    /// Assembles the shard from the samples of `keys` (every row of the shard, in any order)
    /// as `format`, writes its parquet and stats files, and removes the journal.
    pub fn finish(&self, keys: &[String], format: OutputFormat) -> Result<ShardStats, ShardError> {
        let mut keys = keys.to_vec();
        keys.sort();
        let kept = self.lock_samples()?.clone();
        let missing: Vec<&String> = keys.iter().filter(|k| !kept.contains_key(*k)).collect();
        if let Some(first) = missing.first() {
            return Err(ShardError::Incomplete { shard: self.shard, missing: missing.len(), first: (*first).clone() });
        }
        let samples: Vec<&Kept> = keys.iter().filter_map(|key| kept.get(key)).collect();
        let name = shard_name(self.shard);
        match format {
            OutputFormat::Webdataset => self.write_tar(&self.out.join(format!("{name}.tar")), &samples)?,
            OutputFormat::Files => self.write_files(&self.out.join(&name), &samples)?,
            OutputFormat::Parquet => {}
        }
        let samples: Vec<Sample> = samples.into_iter().map(|(sample, _)| sample.clone()).collect();
        write_parquet(&self.out.join(format!("{name}.parquet")), &samples)?;
        let stats = stats_of(&samples);
        let path = stats_path(&self.out, self.shard);
        let json = to_json(&stats);
        write_atomic(&path, &json).map_err(|source| ShardError::Io { path, source })?;
        sweep(&self.out, self.shard)?;
        fsync_dir(&self.out).map_err(|source| ShardError::Io { path: self.out.clone(), source })?;
        Ok(stats)
    }

    fn lock_samples(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Kept>>, ShardError> {
        self.samples.lock().map_err(|_| poisoned())
    }

    /// `samples` (in key order) as a webdataset tar.
    fn write_tar(&self, path: &Path, samples: &[&Kept]) -> Result<(), ShardError> {
        let io_error = |source| ShardError::Io { path: path.to_path_buf(), source };
        let file = AtomicFile::create(path).map_err(io_error)?;
        let mut tar = tar::Builder::new(io::BufWriter::new(file));
        for (sample, image) in samples {
            for (name, bytes) in self.members(sample, *image)? {
                tar.append(&member_header(&name, bytes.len() as u64).map_err(io_error)?, bytes.as_slice())
                    .map_err(io_error)?;
            }
        }
        let file = tar.into_inner().map_err(io_error)?.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.commit().map_err(io_error)
    }

    /// `samples` as files in the directory `dir`, staged beside it and renamed into place
    /// (`pairscope_io::staged`): a killed run leaves the old directory or the new one.
    fn write_files(&self, dir: &Path, samples: &[&Kept]) -> Result<(), ShardError> {
        // A shard directory is the run's own: an earlier attempt's may always be replaced.
        let staged = StagedDir::create(dir, ".pairscope-fetch-staging", |_| Ok(()))?;
        for (sample, image) in samples {
            for (name, bytes) in self.members(sample, *image)? {
                let path = staged.path().join(&name);
                write_atomic(&path, &bytes).map_err(|source| ShardError::Io { path, source })?;
            }
        }
        Ok(staged.commit()?)
    }

    /// A sample's files, in the order webdataset readers expect them: image, caption, metadata.
    fn members(&self, sample: &Sample, image: Option<BodyRef>) -> Result<Vec<(String, Vec<u8>)>, ShardError> {
        let mut members = Vec::with_capacity(3);
        if let Some(image) = image {
            let bytes = self
                .journal
                .body(image)
                .map_err(|source| ShardError::Io { path: self.journal.path().to_path_buf(), source })?;
            members.push((format!("{}.jpg", sample.key), bytes));
        }
        members.push((format!("{}.txt", sample.key), sample.caption.clone().unwrap_or_default().into_bytes()));
        members.push((format!("{}.json", sample.key), metadata_json(sample)));
        Ok(members)
    }
}

fn poisoned() -> ShardError {
    ShardError::Poisoned
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
