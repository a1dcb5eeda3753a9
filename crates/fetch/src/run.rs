//! A fetch run: every row of an [`Input`] gets a sample in img2dataset's layout ([`shard`]),
//! its image fetched when consent and safety allow, resumable per image.
//!
//! Per row, in order (the first that decides gives the status):
//! 1. no URL → `bad_url`;
//! 2. the page opted out (collect's `optout_*` flags) → `optout_pair`;
//! 3. `punsafe` above the threshold or an NSFW label other than `UNLIKELY`
//!    ([`pairscope_model::safety`]) → `unsafe_skipped`, unless [`RunOptions::include_unsafe`];
//! 4. the URL's host on a domain list, or the URL on a URL list → `removed_by_list`;
//! 5. the request ([`Fetcher::fetch`]: robots.txt, the opt-out header, limits, retries) → a
//!    network status, or the body;
//! 6. the body decoded and resized (`pairscope-images`) → an image status, or the image;
//! 7. any of its MD5, SHA-1, SHA-256 on an image-hash list → `removed_by_list`, bytes dropped
//!    before anything is written.
//!
//! Rows 1–4 make no request at all.
//!
//! Scheduling: shards are read in order; rows wait in one queue per host, and a request is
//! started for a host only while it has fewer than its connection limit in flight, so a host
//! with many rows never holds the global slots ([`RunOptions::concurrency`]) that other hosts
//! could use; hosts take turns. Bodies are decoded on blocking threads, at most
//! [`RunOptions::decode_threads`] at once; while the bodies waiting for them pass
//! [`WAITING_BYTES_PER_DECODER`] per decoder, no new request starts. A shard is assembled
//! ([`ShardWriter::finish`]) as soon as its last sample is in, in any order; output does not
//! depend on timing.
//!
//! Resuming: the output directory holds the run's record (`fetch.json`: the input files and
//! every setting that changes a sample). A run on a directory whose record differs is refused;
//! with the same record, finished shards are left alone and unfinished ones fetch only the
//! samples not yet put. `--retry-failed` reopens finished shards that have retryable statuses
//! ([`FetchStatus::retryable`]) and fetches those rows again.
//!
//! Memory bound: the open shards' rows (at most [`RunOptions::open_shards`] ×
//! [`RunOptions::shard_rows`] input rows, metadata only, about 300 bytes each), the fetcher's
//! per-host state (see [`crate`]), the bodies in flight (at most `concurrency` ×
//! [`FetchConfig::max_body_bytes`](crate::FetchConfig::max_body_bytes); typically about
//! `decode_threads` × [`WAITING_BYTES_PER_DECODER`] plus the requests under way) and the
//! decoders (at most `decode_threads` × the bound of one `pairscope_images::process` call).
//! Nothing grows with the input's length.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pairscope_images::{Limits, ResizeOptions};
use pairscope_io::durable::write_atomic;
use pairscope_lists::RemovalLists;
use pairscope_model::Progress;
use pairscope_model::web::host_of;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::input::{Input, InputError, InputFile, InputRow};
use crate::shard::{self, OutputFormat, Sample, ShardError, ShardStats, ShardWriter, sample_key};
use crate::{FetchStatus, Fetched, Fetcher};

/// Input rows per shard unless asked otherwise (img2dataset's `number_sample_per_shard`).
pub const SHARD_ROWS: u64 = 10_000;
pub use pairscope_model::fetched::RECORD;
/// Where `pairscope fetch -d` keeps the rows it selected from a dataset (a subset directory):
/// the run's input, inside its output so that a resumed run finds it. The run never writes it.
pub const SELECTION_DIR: &str = "selection";

/// Statuses a run gives that are not the fetcher's or the image decoder's.
pub mod statuses {
    /// The page the pair came from opted out (collect's flags).
    pub const OPTOUT_PAIR: &str = "optout_pair";
    /// punsafe or the NSFW label says the image may be unsafe.
    pub const UNSAFE_SKIPPED: &str = "unsafe_skipped";
    /// On a domain, URL or image-hash list.
    pub const REMOVED_BY_LIST: &str = "removed_by_list";
    pub use pairscope_model::fetched::OK;
}

/// What a run does with its input.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output directory (created; must be empty or hold a run of the same record).
    pub out: PathBuf,
    /// What each shard is written as.
    pub format: OutputFormat,
    /// Input rows per shard.
    pub shard_rows: u64,
    /// Requests in flight at once, over all hosts.
    pub concurrency: usize,
    /// Shards whose rows are held at once (the window hosts are interleaved over).
    pub open_shards: usize,
    /// Bodies decoded at once.
    pub decode_threads: usize,
    /// How images are resized and encoded.
    pub resize: ResizeOptions,
    /// The decoder's bounds (the pixel limit that refuses bombs).
    pub image_limits: Limits,
    /// Fetch rows that may be unsafe too.
    pub include_unsafe: bool,
    /// The punsafe above which a row is skipped as unsafe.
    pub unsafe_threshold: f64,
    /// Domain, URL and image-hash lists.
    pub lists: RemovalLists,
    /// Fetch again the rows of finished shards whose status is retryable.
    pub retry_failed: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: PathBuf::new(),
            format: OutputFormat::Webdataset,
            shard_rows: SHARD_ROWS,
            concurrency: 64,
            open_shards: 4,
            decode_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            resize: ResizeOptions::default(),
            image_limits: Limits::default(),
            include_unsafe: false,
            unsafe_threshold: pairscope_model::safety::DEFAULT_UNSAFE_THRESHOLD,
            lists: RemovalLists::default(),
            retry_failed: false,
        }
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A shard could not be written.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The output directory is not this run's.
    #[error("{}: {message}", path.display())]
    Output {
        /// The output directory or its record.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A worker thread died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Input rows.
    pub rows: u64,
    /// Shards of the output.
    pub shards: u64,
    /// Shards already finished by an earlier run and left alone.
    pub shards_already_done: u64,
    /// Samples this run put (fetched or decided without a request), by status.
    pub this_run: BTreeMap<String, u64>,
    /// Every sample of every shard, by status (from the stats files).
    pub total: BTreeMap<String, u64>,
    /// Requests this run made (URLs fetched, not robots.txt).
    pub requests: u64,
    /// Wall time of the run.
    pub elapsed_seconds: f64,
}

/// The run's record: what must not change between a run and its resumption.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct Record {
    input: Vec<InputFile>,
    shard_rows: u64,
    format: OutputFormat,
    settings: serde_json::Value,
}

impl Record {
    fn of(input: &Input, options: &RunOptions) -> Record {
        let resize = &options.resize;
        let lists: Vec<serde_json::Value> = options
            .lists
            .files()
            .iter()
            .map(|f| serde_json::json!({"kind": f.kind, "path": f.path, "blake3": f.blake3}))
            .collect();
        Record {
            input: input.files(),
            shard_rows: options.shard_rows,
            format: options.format,
            settings: serde_json::json!({
                "resize_mode": resize.resize_mode.name(),
                "image_size": resize.image_size,
                "resize_only_if_bigger": resize.resize_only_if_bigger,
                "min_image_size": resize.min_image_size,
                "max_aspect_ratio": resize.max_aspect_ratio.is_finite().then_some(resize.max_aspect_ratio),
                "quality": resize.quality,
                "max_pixels": options.image_limits.max_pixels,
                "include_unsafe": options.include_unsafe,
                "unsafe_threshold": options.unsafe_threshold,
                "lists": lists,
            }),
        }
    }
}

/// Runs `input` through `fetcher` into `options.out` (see the module doc), on a runtime of its
/// own.
pub fn run(
    input: &Input,
    fetcher: Fetcher,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    prepare_output(input, options)?;
    let shards = input.rows().div_ceil(options.shard_rows.max(1));
    let finished = finished_shards(options, shards)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the runtime: {e}")))?;
    let (this_run, requests) = runtime.block_on(schedule(input, Arc::new(fetcher), options, &finished, progress))?;
    let mut total = BTreeMap::new();
    for shard in 0..shards {
        for (status, n) in shard::read_stats(&options.out, shard)?.status_dict {
            *total.entry(status).or_insert(0) += n;
        }
    }
    Ok(RunReport {
        rows: input.rows(),
        shards,
        shards_already_done: finished.len() as u64,
        this_run,
        total,
        requests,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Creates the output directory with the run's record, or checks that it holds this run.
fn prepare_output(input: &Input, options: &RunOptions) -> Result<(), RunError> {
    let out = &options.out;
    let output_error = |message: String| RunError::Output { path: out.clone(), message };
    if options.shard_rows == 0 || options.concurrency == 0 || options.open_shards == 0 {
        return Err(output_error("shard rows, concurrency and open shards must be at least 1".into()));
    }
    fs::create_dir_all(out).map_err(|e| output_error(e.to_string()))?;
    let record = Record::of(input, options);
    let path = out.join(RECORD);
    match fs::read(&path) {
        Ok(bytes) => {
            let earlier: Record = serde_json::from_slice(&bytes).map_err(|e| RunError::Output {
                path: path.clone(),
                message: format!("not a fetch run's record: {e}"),
            })?;
            if earlier != record {
                return Err(RunError::Output { path, message: difference(&earlier, &record) });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            check_output_dir(out)?;
            #[expect(clippy::expect_used, reason = "the record is strings, numbers and JSON values")]
            let json = serde_json::to_vec_pretty(&record).expect("the record serialises");
            write_atomic(&path, &json).map_err(|e| RunError::Output { path, message: e.to_string() })
        }
        Err(e) => Err(RunError::Output { path, message: e.to_string() }),
    }
}

/// Refuses an output directory that exists, is not empty and holds no fetch run's record: a
/// run never writes into a directory that is not its own. Only a selection
/// ([`SELECTION_DIR`]) may be there before the record.
pub fn check_output_dir(out: &Path) -> Result<(), RunError> {
    let entries = match fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RunError::Output { path: out.to_path_buf(), message: e.to_string() }),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| RunError::Output { path: out.to_path_buf(), message: e.to_string() })?;
        names.push(entry.file_name());
    }
    if names.iter().any(|n| n == RECORD) || names.iter().all(|n| n == SELECTION_DIR) {
        return Ok(());
    }
    Err(RunError::Output {
        path: out.to_path_buf(),
        message: "is not empty and holds no fetch run (no fetch.json): choose a new or empty directory".into(),
    })
}

/// What differs between an earlier run's record and this one, for the refusal.
fn difference(earlier: &Record, now: &Record) -> String {
    let what = if earlier.input != now.input {
        "the input files (or their sizes) differ".to_string()
    } else if earlier.shard_rows != now.shard_rows {
        format!("--shard-rows was {}, now {}", earlier.shard_rows, now.shard_rows)
    } else if earlier.format != now.format {
        format!("--output-format was {:?}, now {:?}", earlier.format, now.format)
    } else {
        let (a, b) = (&earlier.settings, &now.settings);
        let keys: BTreeSet<&String> = a.as_object().into_iter().chain(b.as_object()).flat_map(|o| o.keys()).collect();
        let changed: Vec<String> = keys
            .into_iter()
            .filter(|k| a.get(k.as_str()) != b.get(k.as_str()))
            .map(|k| {
                format!(
                    "{k} was {}, now {}",
                    a.get(k.as_str()).unwrap_or(&serde_json::Value::Null),
                    b.get(k.as_str()).unwrap_or(&serde_json::Value::Null)
                )
            })
            .collect();
        changed.join("; ")
    };
    format!(
        "holds a fetch run with other arguments ({what}): resume it with the same arguments, or choose another --out"
    )
}

/// The shards already finished, after sweeping what an interrupted `finish` or retry left and
/// reopening, with `--retry-failed`, those with retryable statuses.
fn finished_shards(options: &RunOptions, shards: u64) -> Result<BTreeSet<u64>, RunError> {
    let mut finished = BTreeSet::new();
    for shard in 0..shards {
        if !shard::is_finished(&options.out, shard) {
            continue;
        }
        if options.retry_failed {
            let retryable = |s: &Sample| FetchStatus::from_name(&s.status).is_some_and(FetchStatus::retryable);
            if shard::reopen(&options.out, shard, options.format, &retryable)? > 0 {
                continue;
            }
        }
        shard::sweep(&options.out, shard)?;
        finished.insert(shard);
    }
    Ok(finished)
}

/// A row waiting for its request.
struct Job {
    shard: u64,
    key: String,
    row: InputRow,
    url: String,
}

/// A shard whose samples are being put.
struct OpenShard {
    writer: Arc<ShardWriter>,
    keys: Vec<String>,
    remaining: usize,
}

/// A sample put (or the error that stopped it).
struct Done {
    shard: u64,
    host: Option<String>,
    status: Result<String, RunError>,
}

/// The rows of one shard that still need a sample, with its writer.
struct ShardRows {
    shard: u64,
    rows: Vec<(u64, InputRow)>,
}

/// The scheduler: reads shards, queues rows per host, runs requests, assembles shards.
async fn schedule(
    input: &Input,
    fetcher: Arc<Fetcher>,
    options: &RunOptions,
    finished: &BTreeSet<u64>,
    progress: &dyn Progress,
) -> Result<(BTreeMap<String, u64>, u64), RunError> {
    let per_host = fetcher.config().connections_per_host.max(1);
    let shard_rows = options.shard_rows;
    let context = Arc::new(Context {
        options: options.clone(),
        decoders: Semaphore::new(options.decode_threads.max(1)),
        waiting_bytes: AtomicUsize::new(0),
    });
    let waiting_bound = options.decode_threads.max(1).saturating_mul(WAITING_BYTES_PER_DECODER);
    let (shards_tx, mut shards_rx) = mpsc::channel::<Result<ShardRows, RunError>>(1);
    let reader = {
        let input = input.clone();
        let finished = finished.clone();
        std::thread::spawn(move || read_shards(&input, shard_rows, &finished, &shards_tx))
    };

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut open: BTreeMap<u64, OpenShard> = BTreeMap::new();
    let mut hosts = HostQueues::new(per_host);
    let mut in_flight = 0usize;
    let mut reading = true;
    let mut finishing: JoinSet<Result<ShardStats, ShardError>> = JoinSet::new();
    let mut this_run: BTreeMap<String, u64> = BTreeMap::new();
    let mut requests = 0u64;

    loop {
        // Start requests: hosts take turns, each below its connection limit, while the decoders
        // keep up (each sample put wakes this loop again).
        while in_flight < options.concurrency && context.waiting_bytes.load(Ordering::Relaxed) < waiting_bound {
            let Some((host, job)) = hosts.next() else { break };
            in_flight += 1;
            requests += 1;
            let writer = open.get(&job.shard).map(|s| s.writer.clone());
            let (fetcher, context, done_tx) = (fetcher.clone(), context.clone(), done_tx.clone());
            tokio::spawn(async move {
                let shard = job.shard;
                let status = match writer {
                    Some(writer) => fetch_one(&fetcher, &context, &writer, job).await,
                    None => Err(RunError::Internal(format!("shard {shard} is not open"))),
                };
                let _ = done_tx.send(Done { shard, host: Some(host), status });
            });
        }

        let admit = reading && open.len() < options.open_shards && hosts.queued() < shard_rows as usize;
        if !reading && open.is_empty() && in_flight == 0 && finishing.is_empty() {
            break;
        }
        tokio::select! {
            next = shards_rx.recv(), if admit => match next {
                None => reading = false,
                Some(Err(e)) => return Err(e),
                Some(Ok(rows)) => {
                    let shard = rows.shard;
                    let writer = Arc::new(ShardWriter::open(&options.out, shard)?);
                    let done = writer.done()?;
                    let keys: Vec<String> = rows.rows.iter().map(|(i, _)| sample_key(shard, *i, shard_rows)).collect();
                    let mut decided = Vec::new();
                    let mut remaining = 0;
                    for ((_, row), key) in rows.rows.into_iter().zip(&keys) {
                        if done.contains(key) {
                            continue;
                        }
                        remaining += 1;
                        let host = row.url.as_deref().and_then(host_of);
                        match consent(&row, host.as_deref(), &context.options) {
                            Some((status, message)) => decided.push(skipped(key.clone(), row, status, message)),
                            None => {
                                let url = row.url.clone().unwrap_or_default();
                                hosts.push(host.unwrap_or_default(), Job { shard, key: key.clone(), row, url });
                            }
                        }
                    }
                    if !decided.is_empty() {
                        let (writer, done_tx) = (writer.clone(), done_tx.clone());
                        tokio::task::spawn_blocking(move || {
                            for sample in decided {
                                let status = writer.put(&sample).map(|()| sample.status.clone()).map_err(RunError::from);
                                let _ = done_tx.send(Done { shard, host: None, status });
                            }
                        });
                    }
                    open.insert(shard, OpenShard { writer, keys, remaining });
                    if remaining == 0 {
                        finish(&mut open, &mut finishing, shard, options.format);
                    }
                }
            },
            Some(done) = done_rx.recv() => {
                let status = done.status?;
                progress.advance(1, 0);
                *this_run.entry(status).or_insert(0) += 1;
                if let Some(host) = &done.host {
                    in_flight -= 1;
                    hosts.done(host);
                }
                if let Some(entry) = open.get_mut(&done.shard) {
                    entry.remaining -= 1;
                    if entry.remaining == 0 {
                        finish(&mut open, &mut finishing, done.shard, options.format);
                    }
                }
            },
            Some(joined) = finishing.join_next() => {
                joined.map_err(|e| RunError::Internal(e.to_string()))??;
            },
        }
    }
    reader.join().map_err(|_| RunError::Internal("the input reader panicked".into()))?;
    Ok((this_run, requests))
}

/// The rows waiting for a request, one queue per host, and whose turn it is.
///
/// Invariant: a host is in `turns` exactly when its queue is not empty and it has fewer than
/// `per_host` requests in flight, so every operation is O(1) whatever the number of hosts.
struct HostQueues {
    per_host: usize,
    queues: HashMap<String, VecDeque<Job>>,
    active: HashMap<String, usize>,
    turns: VecDeque<String>,
    queued: usize,
}

impl HostQueues {
    fn new(per_host: usize) -> HostQueues {
        HostQueues {
            per_host: per_host.max(1),
            queues: HashMap::new(),
            active: HashMap::new(),
            turns: VecDeque::new(),
            queued: 0,
        }
    }

    /// Rows queued, over all hosts.
    fn queued(&self) -> usize {
        self.queued
    }

    /// Queues `job` for `host`.
    fn push(&mut self, host: String, job: Job) {
        let below_limit = self.active.get(&host).copied().unwrap_or(0) < self.per_host;
        let queue = self.queues.entry(host.clone()).or_default();
        if queue.is_empty() && below_limit {
            self.turns.push_back(host);
        }
        queue.push_back(job);
        self.queued += 1;
    }

    /// The next row to request, from the host whose turn it is; counts it in flight.
    fn next(&mut self) -> Option<(String, Job)> {
        let host = self.turns.pop_front()?;
        let queue = self.queues.get_mut(&host)?;
        let job = queue.pop_front()?;
        let busy = self.active.entry(host.clone()).or_insert(0);
        *busy += 1;
        if queue.is_empty() {
            self.queues.remove(&host);
        } else if *busy < self.per_host {
            self.turns.push_back(host.clone());
        }
        self.queued -= 1;
        Some((host, job))
    }

    /// A request to `host` ended: the host may take another turn.
    fn done(&mut self, host: &str) {
        let Some(busy) = self.active.get_mut(host) else { return };
        let was_full = *busy == self.per_host;
        *busy -= 1;
        if *busy == 0 {
            self.active.remove(host);
        }
        if was_full && self.queues.contains_key(host) {
            self.turns.push_back(host.to_string());
        }
    }
}

/// Hands shard `shard`'s assembly to a blocking thread.
fn finish(
    open: &mut BTreeMap<u64, OpenShard>,
    finishing: &mut JoinSet<Result<ShardStats, ShardError>>,
    shard: u64,
    format: OutputFormat,
) {
    if let Some(entry) = open.remove(&shard) {
        finishing.spawn_blocking(move || entry.writer.finish(&entry.keys, format));
    }
}

/// Reads the input into shards for the scheduler, skipping finished shards.
fn read_shards(
    input: &Input,
    shard_rows: u64,
    finished: &BTreeSet<u64>,
    out: &mpsc::Sender<Result<ShardRows, RunError>>,
) {
    let mut current = ShardRows { shard: 0, rows: Vec::new() };
    let skip = |n: u64| finished.contains(&(n / shard_rows));
    let send = |rows: ShardRows| out.blocking_send(Ok(rows)).is_ok();
    let result = input.read(&skip, &mut |n, row| {
        let shard = n / shard_rows;
        if shard != current.shard && !current.rows.is_empty() {
            let full = std::mem::replace(&mut current, ShardRows { shard, rows: Vec::new() });
            if !send(full) {
                return false;
            }
        }
        current.shard = shard;
        current.rows.push((n % shard_rows, row));
        true
    });
    match result {
        Ok(()) if !current.rows.is_empty() => {
            send(current);
        }
        Ok(()) => {}
        Err(e) => {
            let _ = out.blocking_send(Err(e.into()));
        }
    }
}

/// What every request task shares.
struct Context {
    options: RunOptions,
    decoders: Semaphore,
    /// The bytes of downloaded bodies waiting for a decoder ([`WAITING_BYTES_PER_DECODER`]).
    waiting_bytes: AtomicUsize,
}

/// Downloaded bodies waiting for a decoder, in bytes per decoder, above which no new request
/// starts. Decoding is the slow stage when the network is fast: without this bound every slot
/// of `concurrency` ends up holding a whole body that waits (128 of them held 140 MiB in
/// `bench/run --only fetch`, a third of the run's memory) while starting a request sooner
/// gains nothing. 8 MiB is some 30 typical images per decoder, enough to keep it busy while
/// requests of 200 ms come back.
pub const WAITING_BYTES_PER_DECODER: usize = 8 << 20;

/// The status a row gets without a request, if it gets one (steps 1–4 of the module doc);
/// `host` is its URL's.
fn consent(row: &InputRow, host: Option<&str>, options: &RunOptions) -> Option<(&'static str, String)> {
    let Some(url) = row.url.as_deref() else {
        return Some((FetchStatus::BadUrl.as_str(), "the input row has no URL".into()));
    };
    if row.opted_out {
        return Some((statuses::OPTOUT_PAIR, "the page this pair came from opted out of AI use".into()));
    }
    if !options.include_unsafe
        && pairscope_model::safety::is_unsafe(row.punsafe, row.nsfw_label.as_deref(), options.unsafe_threshold)
    {
        let why = match (row.punsafe, row.nsfw_label.as_deref()) {
            (Some(p), _) if p > options.unsafe_threshold => {
                format!("punsafe {p} is above {}", options.unsafe_threshold)
            }
            (_, Some(label)) => format!("NSFW label {label}"),
            _ => "may be unsafe".into(),
        };
        return Some((statuses::UNSAFE_SKIPPED, format!("{why}; --include-unsafe fetches it")));
    }
    if host.is_some_and(|h| options.lists.domain_listed(h)) {
        return Some((statuses::REMOVED_BY_LIST, "its host is on a domain list".into()));
    }
    if options.lists.has_url_entries() && options.lists.url_listed(url) {
        return Some((statuses::REMOVED_BY_LIST, "its URL is on a URL list".into()));
    }
    None
}

/// A sample for a row decided without a request.
fn skipped(key: String, row: InputRow, status: &str, message: String) -> Sample {
    Sample {
        key,
        url: row.url.unwrap_or_default(),
        caption: row.caption,
        status: status.to_string(),
        error_message: message,
        width: None,
        height: None,
        original_width: None,
        original_height: None,
        md5: None,
        sha1: None,
        sha256: None,
        row_id: row.row_id,
        image: None,
    }
}

/// Fetches one row's image, decodes it, checks the image-hash lists and puts its sample.
async fn fetch_one(
    fetcher: &Fetcher,
    context: &Arc<Context>,
    writer: &Arc<ShardWriter>,
    job: Job,
) -> Result<String, RunError> {
    let fetched = fetcher.fetch(&job.url).await;
    let body_bytes = fetched.body.as_ref().map_or(0, |b| b.len());
    context.waiting_bytes.fetch_add(body_bytes, Ordering::Relaxed);
    let permit = context.decoders.acquire().await;
    context.waiting_bytes.fetch_sub(body_bytes, Ordering::Relaxed);
    let _permit = permit.map_err(|e| RunError::Internal(format!("decoder slots closed: {e}")))?;
    let (context, writer) = (context.clone(), writer.clone());
    tokio::task::spawn_blocking(move || {
        let sample = sample_of(job, fetched, &context.options);
        writer.put(&sample)?;
        Ok(sample.status)
    })
    .await
    .map_err(|e| RunError::Internal(format!("a decoder thread died: {e}")))?
}

/// A fetched row's sample (steps 5–7 of the module doc).
fn sample_of(job: Job, fetched: Fetched, options: &RunOptions) -> Sample {
    let mut sample = skipped(job.key, job.row, statuses::OK, String::new());
    let Some(body) = fetched.body.filter(|_| fetched.status == FetchStatus::Ok) else {
        sample.status = fetched.status.as_str().to_string();
        sample.error_message = fetched.message;
        return sample;
    };
    match pairscope_images::process(&body, &options.resize, &options.image_limits) {
        Err(failure) => {
            sample.status = failure.status().to_string();
            sample.error_message = failure.to_string();
        }
        Ok(processed) => {
            let digests = &processed.inspected.digests;
            if options.lists.has_image_entries()
                && [&digests.md5, &digests.sha1, &digests.sha256].iter().any(|d| options.lists.image_digest_listed(d))
            {
                sample.status = statuses::REMOVED_BY_LIST.to_string();
                sample.error_message = "the image's bytes are on an image-hash list; nothing kept".into();
                return sample;
            }
            sample.width = Some(processed.width);
            sample.height = Some(processed.height);
            sample.original_width = Some(processed.inspected.width);
            sample.original_height = Some(processed.inspected.height);
            sample.md5 = Some(digests.md5.clone());
            sample.sha1 = Some(digests.sha1.clone());
            sample.sha256 = Some(digests.sha256.clone());
            sample.image = (options.format != OutputFormat::Parquet).then_some(processed.jpeg);
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u64) -> Job {
        let row =
            InputRow { row_id: None, url: None, caption: None, punsafe: None, nsfw_label: None, opted_out: false };
        Job { shard: 0, key: n.to_string(), row, url: String::new() }
    }

    #[test]
    fn hosts_take_turns_and_never_pass_their_limit() {
        let mut hosts = HostQueues::new(2);
        for n in 0..5 {
            hosts.push("a".into(), job(n));
        }
        hosts.push("b".into(), job(5));
        let mut taken = Vec::new();
        while let Some((host, job)) = hosts.next() {
            taken.push(format!("{host}{}", job.key));
        }
        assert_eq!(taken, ["a0", "b5", "a1"], "a stops at 2 in flight; b's queue is empty");
        assert_eq!(hosts.queued(), 3);
        hosts.done("b");
        assert!(hosts.next().is_none(), "b has nothing queued; a is still full");
        hosts.done("a");
        assert_eq!(hosts.next().map(|(h, j)| format!("{h}{}", j.key)).as_deref(), Some("a2"));
        assert!(hosts.next().is_none());
        hosts.done("a");
        hosts.done("a");
        let rest: Vec<String> = std::iter::from_fn(|| hosts.next()).map(|(h, j)| format!("{h}{}", j.key)).collect();
        assert_eq!(rest, ["a3", "a4"]);
        assert_eq!(hosts.queued(), 0);
    }
}
