//! A whole collect run: inputs → pairs → deduplicated parquet shards in an output directory,
//! resumable after a kill.
//!
//! Layout of `OUT`:
//!
//! ```text
//! OUT/part-NNNNN.parquet        the kept pairs of input NNNNN (input order), none if it kept none
//! OUT/.collect/run.json         the inputs and options; a restart must give the same ones
//! OUT/.collect/NNNNN.rows       stage 1 output: every pair of input NNNNN (parquet), removed
//!                               once its part file is written
//! OUT/.collect/NNNNN.keys       the sorted (url, caption) keys of those pairs, kept: `--seen OUT`
//!                               of a later run reads them
//! OUT/.collect/NNNNN.json       written last for an input: it is staged, with its counts
//! ```
//!
//! Three stages, each deterministic whatever the number of threads:
//! 1. per input, in parallel: extract, detect languages, write `.rows` and `.keys` (every file
//!    through temp → fsync → rename), then the `.json` marker. A restart skips marked inputs.
//! 2. a k-way merge of all `.keys` files (those of `--seen` first, then this run's in input
//!    order): of each key only the first occurrence by (input, row) survives, so the pair kept
//!    is the first by input order, then record offset. Memory: one key per input plus the
//!    dropped row numbers (4 bytes per duplicate), never the pairs.
//! 3. per input, in parallel: `.rows` minus the dropped rows → `part-NNNNN.parquet`.
//!    A restart redoes the merge (it reads only the keys) and skips written parts.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use pairscope_io::durable::{fsync_dir, is_temp_name, write_atomic};
use pairscope_io::parallel;
use pairscope_model::Progress;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::archive::ReadStats;
use crate::error::CollectError;
use crate::extract::{ExtractOptions, ExtractStats};
use crate::input::Input;
use crate::output::{AtomicParquet, BATCH_ROWS, Row, RowBuilder};
use crate::{Format, extract_archive};
use pairscope_remote::Remote;

const STATE_DIR: &str = ".collect";
/// Bytes of one `.keys` entry: the 128-bit key, then the row number, little-endian.
const KEY_ENTRY: usize = 20;
/// Bumped when the layout of `OUT/.collect` changes, so an old run is not resumed wrongly.
const STATE_VERSION: u32 = 1;

/// How a run extracts and filters.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// Which records pairs are extracted from: WAT, WARC responses, or each by its kind.
    pub format: Format,
    /// What makes a link a pair (the shortest caption kept).
    pub extract: ExtractOptions,
    /// Keep only captions detected as one of these languages (ISO 639-1 codes, or `und`).
    pub langs: Option<Vec<String>>,
    /// Inputs (and output files) processed at once. The output does not depend on it.
    pub threads: usize,
    /// Output directories of earlier runs: pairs already there are dropped as duplicates.
    pub seen: Vec<PathBuf>,
}

/// The counts of one input, as stored in its marker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStats {
    /// The input as a path or URL, as written in the `source_file` column of its pairs.
    pub path: String,
    /// Size of the (compressed) input file.
    pub bytes: u64,
    /// Its records read and skipped.
    pub read: ReadStats,
    /// Its pages, image links and pairs, and the links dropped before the language filter.
    pub extract: ExtractStats,
    /// Pairs whose caption's language is not in `--langs`.
    pub other_language: u64,
    /// Pairs staged (extracted and not filtered out), before dedup.
    pub staged: u64,
}

/// One input of a run.
#[derive(Debug, Clone)]
pub struct InputOutcome {
    /// The input, in the run's input order.
    pub input: Input,
    /// Its counts; `None` when it failed.
    pub stats: Option<InputStats>,
    /// Staged by an earlier, interrupted run with the same arguments.
    pub resumed: bool,
    /// Why it failed (it has no output; a restart tries it again).
    pub error: Option<String>,
    /// Pairs it kept after dedup.
    pub kept: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct CollectReport {
    /// Every input, failed or not, in input order.
    pub inputs: Vec<InputOutcome>,
    /// Pairs dropped because an earlier input of this run had the same (url, caption).
    pub duplicates: u64,
    /// Pairs dropped because a `--seen` directory had the same (url, caption).
    pub seen_duplicates: u64,
    /// Pairs in the output's part files: the sum of the inputs' [`InputOutcome::kept`].
    pub kept: u64,
    /// Compressed bytes read by this process (resumed inputs not counted).
    pub bytes_read: u64,
    /// The same reads' decompressed bytes (the WARC text).
    pub inflated_read: u64,
    /// Wall-clock time of the whole run, in seconds.
    pub seconds: f64,
}

impl CollectReport {
    /// Records skipped as damaged, plus inputs that failed: non-zero means exit code 3.
    pub fn skipped(&self) -> u64 {
        let records: u64 = self.inputs.iter().filter_map(|i| i.stats.as_ref()).map(|s| s.read.skipped_total()).sum();
        records + self.failed().count() as u64
    }

    /// The inputs that failed (those with an [`InputOutcome::error`]), in input order.
    pub fn failed(&self) -> impl Iterator<Item = &InputOutcome> {
        self.inputs.iter().filter(|i| i.error.is_some())
    }

    /// Sum of the counts of every input that has them.
    pub fn totals(&self) -> InputStats {
        let mut total = InputStats::default();
        for s in self.inputs.iter().filter_map(|i| i.stats.as_ref()) {
            total.bytes += s.bytes;
            total.read.absorb(s.read.clone());
            let (t, e) = (&mut total.extract, &s.extract);
            t.html_pages += e.html_pages;
            t.image_links += e.image_links;
            t.no_alt += e.no_alt;
            t.not_http += e.not_http;
            t.short_caption += e.short_caption;
            t.pairs += e.pairs;
            total.other_language += s.other_language;
            total.staged += s.staged;
        }
        total
    }
}

/// What identifies a run: restarting into the same `OUT` needs the same.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct RunSpec {
    state_version: u32,
    inputs: Vec<String>,
    format: Format,
    min_alt_chars: usize,
    langs: Option<Vec<String>>,
    seen: Vec<String>,
}

struct State {
    dir: PathBuf,
}

impl State {
    fn file(&self, input: usize, ext: &str) -> PathBuf {
        self.dir.join(format!("{input:05}.{ext}"))
    }
}

fn part_path(out: &Path, input: usize) -> PathBuf {
    out.join(format!("part-{input:05}.parquet"))
}

/// Runs a collect over `inputs` (already resolved, in input order) into `out`.
pub fn collect(
    inputs: &[Input],
    out: &Path,
    options: &CollectOptions,
    progress: &dyn Progress,
) -> Result<CollectReport, CollectError> {
    let started = Instant::now();
    let state = prepare(inputs, out, options)?;
    let seen_keys = seen_key_files(&options.seen)?;

    let pending: Vec<usize> = (0..inputs.len()).filter(|&i| !state.file(i, "json").exists()).collect();
    progress.set_total_bytes(pending.iter().filter_map(|&i| inputs[i].local_size()).sum());
    let remote = Remote::new();
    let staged = parallel::map(pending.len(), options.threads, |k| {
        stage(pending[k], &inputs[pending[k]], &remote, &state, options, progress)
    });
    let mut staged: BTreeMap<usize, Result<InputStats, CollectError>> = pending.iter().copied().zip(staged).collect();

    let mut report = CollectReport::default();
    for (i, input) in inputs.iter().enumerate() {
        let outcome = match staged.remove(&i) {
            Some(Ok(stats)) => {
                report.bytes_read += stats.bytes;
                report.inflated_read += stats.read.inflated_bytes;
                InputOutcome { input: input.clone(), stats: Some(stats), resumed: false, error: None, kept: 0 }
            }
            Some(Err(e)) => {
                InputOutcome { input: input.clone(), stats: None, resumed: false, error: Some(e.to_string()), kept: 0 }
            }
            None => InputOutcome {
                input: input.clone(),
                stats: Some(read_marker(&state.file(i, "json"))?),
                resumed: true,
                error: None,
                kept: 0,
            },
        };
        report.inputs.push(outcome);
    }

    let run_keys: Vec<(usize, PathBuf)> =
        (0..inputs.len()).filter(|&i| report.inputs[i].stats.is_some()).map(|i| (i, state.file(i, "keys"))).collect();
    let dedup = merge_keys(&seen_keys, &run_keys, inputs.len())?;
    report.duplicates = dedup.duplicates;
    report.seen_duplicates = dedup.seen_duplicates;

    let to_write: Vec<usize> = run_keys.iter().map(|(i, _)| *i).collect();
    let written = parallel::map(to_write.len(), options.threads, |k| {
        let i = to_write[k];
        write_part(&state, out, i, &dedup.dropped[i])
    });
    for (&i, kept) in to_write.iter().zip(written) {
        let staged = report.inputs[i].stats.as_ref().map_or(0, |s| s.staged);
        // A part written by an earlier run is not read again: its count follows from the merge.
        let kept = kept?.unwrap_or(staged - dedup.dropped[i].len() as u64);
        report.inputs[i].kept = kept;
        report.kept += kept;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Creates or checks `OUT` and its state directory; removes temporaries a killed run left.
fn prepare(inputs: &[Input], out: &Path, options: &CollectOptions) -> Result<State, CollectError> {
    let state = State { dir: out.join(STATE_DIR) };
    let spec = RunSpec {
        state_version: STATE_VERSION,
        inputs: inputs.iter().map(Input::to_string).collect(),
        format: options.format,
        min_alt_chars: options.extract.min_alt_chars,
        langs: options.langs.clone(),
        seen: options.seen.iter().map(|p| p.display().to_string()).collect(),
    };
    let spec_path = state.dir.join("run.json");
    if spec_path.exists() {
        let bytes = std::fs::read(&spec_path).map_err(|e| CollectError::file(&spec_path, e))?;
        let earlier: Result<RunSpec, _> = serde_json::from_slice(&bytes);
        if earlier.ok().as_ref() != Some(&spec) {
            return Err(CollectError::usage(format!(
                "{} holds a collect run with other inputs or options; use another --out (or remove it to start over)",
                out.display()
            )));
        }
        for dir in [out, state.dir.as_path()] {
            remove_temporaries(dir)?;
        }
        return Ok(state);
    }
    // A run killed before its run.json was in place leaves `.collect/` holding at most a
    // temporary: that is still an empty output directory.
    let holds_only_a_started_state = |entry: &std::fs::DirEntry| {
        entry.path() == state.dir
            && state
                .dir
                .read_dir()
                .is_ok_and(|mut d| d.all(|e| e.is_ok_and(|e| e.file_name().to_str().is_some_and(is_temp_name))))
    };
    if out.read_dir().is_ok_and(|mut d| d.any(|e| !e.is_ok_and(|e| holds_only_a_started_state(&e)))) {
        return Err(CollectError::usage(format!("{} is not empty and holds no collect run", out.display())));
    }
    if state.dir.exists() {
        remove_temporaries(&state.dir)?;
    }
    std::fs::create_dir_all(&state.dir).map_err(|e| CollectError::file(&state.dir, e))?;
    let json =
        serde_json::to_vec_pretty(&spec).map_err(|e| CollectError::file(&spec_path, std::io::Error::other(e)))?;
    write_atomic(&spec_path, &json).map_err(|e| CollectError::file(&spec_path, e))?;
    fsync_dir(out).map_err(|e| CollectError::file(out, e))?;
    Ok(state)
}

fn remove_temporaries(dir: &Path) -> Result<(), CollectError> {
    for entry in dir.read_dir().map_err(|e| CollectError::file(dir, e))?.flatten() {
        if entry.file_name().to_str().is_some_and(is_temp_name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The `.keys` files of the staged inputs of earlier runs' output directories.
fn seen_key_files(seen: &[PathBuf]) -> Result<Vec<PathBuf>, CollectError> {
    let mut files = Vec::new();
    for dir in seen {
        let state = dir.join(STATE_DIR);
        let entries = state.read_dir().map_err(|_| {
            CollectError::usage(format!("--seen {}: not the output directory of a collect run", dir.display()))
        })?;
        let mut markers: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json") && p.file_stem().is_some_and(|s| s != "run"))
            .collect();
        markers.sort();
        files.extend(markers.into_iter().map(|m| m.with_extension("keys")));
    }
    Ok(files)
}

/// Counts compressed bytes as they are read and reports them as progress.
struct Counting<'a, R> {
    inner: R,
    bytes: u64,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        self.progress.advance(0, n as u64);
        Ok(n)
    }
}

/// The dedup key of a pair: 128 bits, so that a collision (≈ n² / 2¹²⁹) never happens in
/// practice; the url's length is hashed first so that no (url, caption) split is ambiguous.
fn pair_key(url: &str, caption: &str) -> u128 {
    let mut hasher = Xxh3::new();
    hasher.update(&(url.len() as u64).to_le_bytes());
    hasher.update(url.as_bytes());
    hasher.update(caption.as_bytes());
    hasher.digest128()
}

/// Stage 1 for one input.
fn stage(
    index: usize,
    input: &Input,
    remote: &Remote,
    state: &State,
    options: &CollectOptions,
    progress: &dyn Progress,
) -> Result<InputStats, CollectError> {
    let file = input.open(remote)?;
    let source_file = input.to_string();
    let mut rows = AtomicParquet::staging(&state.file(index, "rows"))?;
    let mut builder = RowBuilder::default();
    let mut keys: Vec<(u128, u32)> = Vec::new();
    let mut other_language = 0u64;
    let mut failure = None;
    let mut reader = Counting { inner: file, bytes: 0, progress };
    let summary = extract_archive(&mut reader, options.format, &options.extract, |pair| {
        if failure.is_some() {
            return;
        }
        let language = pairscope_langid::detect(&pair.caption);
        if let Some(langs) = &options.langs
            && !langs.iter().any(|l| l == language)
        {
            other_language += 1;
            return;
        }
        let Ok(row) = u32::try_from(keys.len()) else {
            failure = Some(CollectError::usage(format!("{source_file}: more than 2^32 pairs in one input")));
            return;
        };
        keys.push((pair_key(&pair.url, &pair.caption), row));
        builder.push(Row { pair: &pair, language: Some(language), source_file: &source_file });
        if builder.len() >= BATCH_ROWS {
            progress.advance(builder.len() as u64, 0);
            if let Err(e) = rows.write(&builder.finish()) {
                failure = Some(e);
            }
        }
    })
    .map_err(|e| match e {
        CollectError::Io { offset, source } => {
            let source = std::io::Error::new(source.kind(), format!("at compressed offset {offset}: {source}"));
            match input {
                Input::Local(path) => CollectError::file(path, source),
                Input::Remote(_) => CollectError::Remote { url: source_file.clone(), source },
            }
        }
        other => other,
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if !builder.is_empty() {
        progress.advance(builder.len() as u64, 0);
        rows.write(&builder.finish())?;
    }
    rows.finish()?;

    keys.sort_unstable();
    let mut bytes = Vec::with_capacity(keys.len() * KEY_ENTRY);
    for (key, row) in &keys {
        bytes.extend_from_slice(&key.to_le_bytes());
        bytes.extend_from_slice(&row.to_le_bytes());
    }
    let keys_path = state.file(index, "keys");
    write_atomic(&keys_path, &bytes).map_err(|e| CollectError::file(&keys_path, e))?;

    let stats = InputStats {
        path: source_file,
        bytes: reader.bytes,
        read: summary.read,
        extract: summary.extract,
        other_language,
        staged: keys.len() as u64,
    };
    let marker = state.file(index, "json");
    let json = serde_json::to_vec_pretty(&stats).map_err(|e| CollectError::file(&marker, std::io::Error::other(e)))?;
    write_atomic(&marker, &json).map_err(|e| CollectError::file(&marker, e))?;
    Ok(stats)
}

fn read_marker(path: &Path) -> Result<InputStats, CollectError> {
    let bytes = std::fs::read(path).map_err(|e| CollectError::file(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| CollectError::file(path, std::io::Error::other(e)))
}

/// Stage 2's result: per input, its dropped row numbers in ascending order.
struct Dedup {
    dropped: Vec<Vec<u32>>,
    duplicates: u64,
    seen_duplicates: u64,
}

/// Reads `.keys` entries in order.
struct KeyStream {
    reader: BufReader<File>,
    path: PathBuf,
}

impl KeyStream {
    fn open(path: &Path) -> Result<Self, CollectError> {
        let file = File::open(path).map_err(|e| CollectError::file(path, e))?;
        Ok(KeyStream { reader: BufReader::with_capacity(64 * 1024, file), path: path.to_path_buf() })
    }

    fn next(&mut self) -> Result<Option<(u128, u32)>, CollectError> {
        let mut entry = [0u8; KEY_ENTRY];
        match self.reader.read_exact(&mut entry) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(CollectError::file(&self.path, e)),
        }
        let key = u128::from_le_bytes(std::array::from_fn(|i| entry[i]));
        let row = u32::from_le_bytes(std::array::from_fn(|i| entry[16 + i]));
        Ok(Some((key, row)))
    }
}

/// Stage 2: merges every key stream; `seen` streams rank before all of this run's inputs.
fn merge_keys(seen: &[PathBuf], run: &[(usize, PathBuf)], inputs: usize) -> Result<Dedup, CollectError> {
    // Rank 0 is "seen"; input i ranks i + 1, so the heap's order is (key, input order, row).
    let mut streams: Vec<(u64, KeyStream)> = Vec::new();
    for path in seen {
        streams.push((0, KeyStream::open(path)?));
    }
    for (i, path) in run {
        streams.push((*i as u64 + 1, KeyStream::open(path)?));
    }
    let mut heap = BinaryHeap::new();
    for (s, (rank, stream)) in streams.iter_mut().enumerate() {
        if let Some((key, row)) = stream.next()? {
            heap.push(Reverse((key, *rank, row, s)));
        }
    }
    let mut dedup = Dedup { dropped: vec![Vec::new(); inputs], duplicates: 0, seen_duplicates: 0 };
    let mut current: Option<(u128, bool)> = None;
    while let Some(Reverse((key, rank, row, s))) = heap.pop() {
        match current {
            Some((k, first_seen)) if k == key => {
                if rank > 0 {
                    dedup.dropped[rank as usize - 1].push(row);
                    if first_seen { dedup.seen_duplicates += 1 } else { dedup.duplicates += 1 }
                }
            }
            _ => current = Some((key, rank == 0)),
        }
        if let Some((key, row)) = streams[s].1.next()? {
            heap.push(Reverse((key, rank, row, s)));
        }
    }
    for rows in &mut dedup.dropped {
        rows.sort_unstable();
    }
    Ok(dedup)
}

/// Stage 3 for one input: its part file, unless an earlier run wrote it. Returns the rows
/// written, or `None` when there was nothing left to do.
fn write_part(state: &State, out: &Path, input: usize, dropped: &[u32]) -> Result<Option<u64>, CollectError> {
    let rows_path = state.file(input, "rows");
    if !rows_path.exists() {
        return Ok(None);
    }
    let file = File::open(&rows_path).map_err(|e| CollectError::file(&rows_path, e))?;
    let parquet_error = |e: parquet::errors::ParquetError| CollectError::file(&rows_path, std::io::Error::other(e));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet_error)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    let part = part_path(out, input);
    let mut writer: Option<AtomicParquet> = None;
    let mut row = 0u32;
    let mut next_drop = dropped.iter().peekable();
    let mut kept = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| CollectError::file(&rows_path, std::io::Error::other(e)))?;
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|_| {
                let dropped_here = next_drop.next_if_eq(&&row).is_some();
                row += 1;
                Some(!dropped_here)
            })
            .collect();
        let batch =
            filter_record_batch(&batch, &keep).map_err(|e| CollectError::file(&part, std::io::Error::other(e)))?;
        if batch.num_rows() == 0 {
            continue;
        }
        kept += batch.num_rows() as u64;
        let writer = match &mut writer {
            Some(writer) => writer,
            None => writer.insert(AtomicParquet::output(&part)?),
        };
        writer.write(&batch)?;
    }
    if let Some(writer) = writer {
        writer.finish()?;
    }
    std::fs::remove_file(&rows_path).map_err(|e| CollectError::file(&rows_path, e))?;
    fsync_dir(&state.dir).map_err(|e| CollectError::file(&state.dir, e))?;
    Ok(Some(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_keys_separate_url_and_caption() {
        assert_ne!(pair_key("ab", "c"), pair_key("a", "bc"));
        assert_eq!(pair_key("a", "b"), pair_key("a", "b"));
    }
}
