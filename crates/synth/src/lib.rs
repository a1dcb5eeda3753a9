//! Deterministic, realistic LAION-like parquet shards for demos, tests and benchmarks.
//!
//! This crate owns:
//! - [`generate`]: `rows` rows in one of four published layouts ([`SynthSchema`]: LAION
//!   Aesthetics, LAION-5B, COYO, DataComp), written as `part-00000.parquet`, … and a
//!   `synth.json` record ([`SynthManifest`]) in an output directory;
//! - what the rows look like: Zipf-distributed alt-text vocabulary in eleven languages
//!   (modules `vocab`, `caption`), a host universe with LAION's skew (`web`), size and score
//!   columns shaped like the published histograms (`columns`), a known share of built-in
//!   artist and character mentions plus decoys that must not count (`mentions`), and
//!   repeated pairs and captions (`shard`); the word lists are `vocab/*.txt`, written for
//!   this crate;
//! - [`embeddings`]: CLIP-like clustered unit vectors and queries near them, for vector search.
//!
//! Guarantees: the same (rows, seed, schema, rows_per_shard) give byte-identical files with
//! any thread count (shard `i` draws only from a stream seeded by (seed, i)); each file
//! appears under its final name only once complete.
//!
//! It must never read a real dataset or the network, nor write outside the output directory
//! it is given; it reads nothing but the built-in name lists of `pairscope-text`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

mod caption;
mod columns;
pub mod embeddings;
mod mentions;
mod output;
mod sample;
mod shard;
mod vocab;
mod web;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use pairscope_io::parallel;

pub use mentions::DecoyKind;
pub use output::{ListInjections, ManifestFile, ManifestOptions, SynthManifest};

use mentions::{LISTS, Marks, Names};
use output::PartWriter;
use shard::{MENTION_SHARE, ShardGen, Shared, Tally};

/// Rows generated and handed to the parquet writer at a time: small enough that the
/// builders' buffers are reused from the allocator warm, instead of faulted in fresh for
/// every row group.
const BATCH_ROWS: u64 = 8_192;

/// Rows per file unless told otherwise.
pub const DEFAULT_ROWS_PER_SHARD: u64 = 1_000_000;

/// The column layout of the files, named as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SynthSchema {
    /// `laion-aesthetics`: LAION-Aesthetics v2 parquet (URL, TEXT, WIDTH, HEIGHT, similarity,
    /// hash, punsafe, pwatermark, aesthetic), with LAION-2B-en's score distribution.
    LaionAesthetics,
    /// `laion5b`: LAION-5B metadata (SAMPLE_ID, URL, TEXT, HEIGHT, WIDTH, LICENSE, LANGUAGE,
    /// NSFW, similarity), with LAION-2B-multi's language mix.
    Laion5b,
    /// `coyo`: COYO-700M metadata.
    Coyo,
    /// `datacomp`: DataComp CommonPool metadata.
    Datacomp,
}

impl SynthSchema {
    /// Every layout.
    pub const ALL: [SynthSchema; 4] =
        [SynthSchema::LaionAesthetics, SynthSchema::Laion5b, SynthSchema::Coyo, SynthSchema::Datacomp];

    /// Its name on the command line and in `synth.json`.
    pub fn name(self) -> &'static str {
        match self {
            SynthSchema::LaionAesthetics => "laion-aesthetics",
            SynthSchema::Laion5b => "laion5b",
            SynthSchema::Coyo => "coyo",
            SynthSchema::Datacomp => "datacomp",
        }
    }

    /// The Arrow schema of this layout's files.
    pub fn arrow_schema(self) -> arrow::datatypes::SchemaRef {
        columns::arrow_schema(self)
    }
}

impl fmt::Display for SynthSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A schema name that is none of [`SynthSchema::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown synth schema {0:?} (known: laion-aesthetics, laion5b, coyo, datacomp)")]
pub struct UnknownSchema(pub String);

impl FromStr for SynthSchema {
    type Err = UnknownSchema;

    fn from_str(s: &str) -> Result<SynthSchema, UnknownSchema> {
        SynthSchema::ALL.into_iter().find(|schema| schema.name() == s).ok_or_else(|| UnknownSchema(s.to_owned()))
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    /// Rows to generate, in all files together.
    pub rows: u64,
    /// The seed every random draw derives from.
    pub seed: u64,
    /// The files' column layout.
    pub schema: SynthSchema,
    /// Rows per file (the last file holds the rest). Part of what determines the bytes.
    pub rows_per_shard: u64,
    /// Worker threads; does not change the output.
    pub threads: usize,
}

impl SynthOptions {
    /// `rows` rows from `seed` in `schema`, [`DEFAULT_ROWS_PER_SHARD`] rows a file, one
    /// thread per available core.
    pub fn new(rows: u64, seed: u64, schema: SynthSchema) -> SynthOptions {
        SynthOptions {
            rows,
            seed,
            schema,
            rows_per_shard: DEFAULT_ROWS_PER_SHARD,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// What a run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSummary {
    /// Rows written, in all files together.
    pub rows: u64,
    /// The parquet files, in row order.
    pub files: Vec<PathBuf>,
    /// The `synth.json` written beside them.
    pub manifest_path: PathBuf,
    /// Its content, injection and decoy record included.
    pub manifest: SynthManifest,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// [`SynthOptions::rows_per_shard`] is 0.
    #[error("rows_per_shard must be at least 1")]
    ZeroRowsPerShard,
    /// [`SynthOptions::threads`] is 0.
    #[error("threads must be at least 1")]
    ZeroThreads,
    /// The output directory holds a part this run would not overwrite.
    #[error("{}: {file} is from another run and this one would not replace it; use an empty directory", dir.display())]
    StalePart {
        /// The output directory.
        dir: PathBuf,
        /// The part's file name.
        file: String,
    },
    /// A file or directory could not be created, written or renamed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The parquet writer failed.
    #[error("{}: writing parquet", path.display())]
    Parquet {
        /// The part being written.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// `synth.json` could not be written or read.
    #[error("{}: synth manifest", path.display())]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A built-in name list does not load (a broken build).
    #[error("loading name list {spec}")]
    NameList {
        /// The list's spec (`builtin:artists`, ...).
        spec: &'static str,
        /// Why it does not load.
        #[source]
        source: pairscope_text::names::NameListError,
    },
    /// A built-in name list has no entity whose mentions can be injected.
    #[error("name list {spec} has no entity to inject")]
    EmptyNameList {
        /// The list's spec.
        spec: &'static str,
    },
}

/// One finished part.
struct PartDone {
    path: PathBuf,
    rows: u64,
    tally: Tally,
}

/// Generates `opts.rows` rows into `out_dir` (created if missing). `on_rows` is called with
/// the number of rows just written, every few thousand rows, from worker threads.
///
/// An old `synth.json` in `out_dir` and a killed run's temporary files are removed first;
/// parts this run writes are replaced; a part this run would not replace is an error before
/// anything is written. `synth.json` is written last, so a directory without it holds an
/// unfinished run.
pub fn generate(
    opts: &SynthOptions,
    out_dir: &Path,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<SynthSummary, SynthError> {
    if opts.rows_per_shard == 0 {
        return Err(SynthError::ZeroRowsPerShard);
    }
    if opts.threads == 0 {
        return Err(SynthError::ZeroThreads);
    }
    // An empty run still writes one (empty) part, so readers find the schema.
    let shards = opts.rows.div_ceil(opts.rows_per_shard).max(1);
    output::prepare_dir(out_dir, shards)?;
    let shared = Shared::new(opts.schema, Names::load()?);

    let workers = opts.threads.min(shards as usize);
    // A spare thread per worker generates the next batch while the worker encodes this one.
    let pipelined = opts.threads >= 2 * workers;
    let failed = AtomicBool::new(false);
    let parts = parallel::try_map(shards as usize, workers, |index| {
        match write_part(&shared, opts, index as u64, out_dir, pipelined, &failed, on_rows) {
            Ok(done) => Ok(Some(done)),
            // Another part failed, and its error is the answer.
            Err(Cancelled) => Ok(None),
            Err(Stop::Failed(e)) => {
                // The parts being written stop at their next batch.
                failed.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    })?;
    let parts: Vec<PartDone> = parts.into_iter().flatten().collect();

    let mut tally = Tally::default();
    for part in &parts {
        tally.merge(&part.tally);
    }
    let manifest = SynthManifest {
        generator: "pairscope-synth".to_owned(),
        generator_version: env!("CARGO_PKG_VERSION").to_owned(),
        options: ManifestOptions {
            rows: opts.rows,
            seed: opts.seed,
            schema: opts.schema.name().to_owned(),
            rows_per_shard: opts.rows_per_shard,
        },
        rows: parts.iter().map(|p| p.rows).sum(),
        files: parts
            .iter()
            .map(|p| ManifestFile {
                name: p.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                rows: p.rows,
            })
            .collect(),
        injections: injections(&shared.names, &tally),
        decoys: DecoyKind::ALL.iter().map(|k| (k.name().to_owned(), tally.decoys[*k as usize])).collect(),
    };
    let manifest_path = manifest.write(out_dir)?;
    Ok(SynthSummary {
        rows: manifest.rows,
        files: parts.into_iter().map(|p| p.path).collect(),
        manifest_path,
        manifest,
    })
}

fn injections(names: &Names, tally: &Tally) -> BTreeMap<String, ListInjections> {
    let mut out = BTreeMap::new();
    for (list, source) in names.sources.iter().enumerate() {
        let entities: BTreeMap<String, u64> = tally.mentions[list]
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(e, n)| (source.name(e as u32).to_owned(), *n))
            .collect();
        out.insert(
            LISTS[list].to_owned(),
            ListInjections {
                content_hash: source.list.content_hash(),
                target_share: MENTION_SHARE[list],
                captions: entities.values().sum(),
                entities,
            },
        );
    }
    out
}

/// Why a part was not finished.
enum Stop {
    Failed(SynthError),
    /// Another part failed; this one stopped early and its temporary file is gone.
    Cancelled,
}
use Stop::Cancelled;

impl From<SynthError> for Stop {
    fn from(e: SynthError) -> Stop {
        Stop::Failed(e)
    }
}

fn write_part(
    shared: &Shared,
    opts: &SynthOptions,
    index: u64,
    out_dir: &Path,
    pipelined: bool,
    failed: &AtomicBool,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<PartDone, Stop> {
    let first_row = index * opts.rows_per_shard;
    let rows = opts.rows_per_shard.min(opts.rows - first_row.min(opts.rows));
    let mut writer = PartWriter::create(out_dir, index, opts.schema, &shared.arrow, opts.seed)?;
    let mut generator = ShardGen::new(shared, opts.seed, index, first_row);
    let batches = rows.div_ceil(BATCH_ROWS);
    let batch_rows = |b: u64| (rows - b * BATCH_ROWS).min(BATCH_ROWS) as usize;
    let mut write = |batch: &arrow::array::RecordBatch| -> Result<(), Stop> {
        if failed.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        writer.write(batch)?;
        on_rows(batch.num_rows() as u64);
        Ok(())
    };
    let tally = if pipelined {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel(1);
            let producer = scope.spawn(move || {
                let mut marks = Vec::new();
                for b in 0..batches {
                    let batch = generator.batch(batch_rows(b), &mut marks);
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
                generator.tally
            });
            let mut outcome = Ok(());
            for batch in rx {
                outcome = write(&batch);
                if outcome.is_err() {
                    break;
                }
            }
            // Dropping the receiver (end of the loop) stops the producer at its next send.
            let tally = producer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            outcome.map(|()| tally)
        })?
    } else {
        let mut marks: Vec<Marks> = Vec::new();
        for b in 0..batches {
            let batch = generator.batch(batch_rows(b), &mut marks);
            write(&batch)?;
        }
        generator.tally
    };
    let path = writer.finish()?;
    Ok(PartDone { path, rows, tally })
}

#[cfg(test)]
mod tests;
