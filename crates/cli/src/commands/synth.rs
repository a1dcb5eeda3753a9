use anyhow::Result;
use pairscope_model::ExitStatus;
use pairscope_synth::embeddings::{ClusteredVectors, write_clip_retrieval};
use pairscope_synth::{SynthOptions, generate};

use crate::args::{GlobalArgs, SynthArgs, UsageError};
use crate::output::{OutKind, check_out};
use crate::progress::Bar;

pub fn run(args: &SynthArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let options = SynthOptions {
        rows: args.rows,
        seed: args.seed,
        schema: args.schema.parse().map_err(|e| UsageError::new(format!("--schema: {e}")))?,
        rows_per_shard: args.rows_per_shard.max(1),
        threads: args.threads.unwrap_or_else(default_threads),
    };
    check_out(&args.out, OutKind::Directory, &[], false)?;
    let bar = Bar::new(global, "synth");
    let started = std::time::Instant::now();
    let summary = generate(&options, &args.out, &|rows| pairscope_model::Progress::advance(&bar, rows, 0))?;
    bar.finish();
    let secs = started.elapsed().as_secs_f64();
    if !global.quiet {
        eprintln!(
            "wrote {} rows in {} files to {} ({:.1}s, {:.0} rows/s)",
            summary.rows,
            summary.files.len(),
            args.out.display(),
            secs,
            summary.rows as f64 / secs.max(1e-9)
        );
    }
    if let Some(dir) = &args.embeddings {
        if !(0.0..=1.0).contains(&args.near_copies) {
            return Err(UsageError::new("--near-copies must be between 0 and 1").into());
        }
        let dist = ClusteredVectors {
            dim: args.dim as usize,
            clusters: args.clusters,
            seed: args.seed,
            near_copies: args.near_copies,
        };
        let bar = Bar::new(global, "embeddings");
        let started = std::time::Instant::now();
        let files = write_clip_retrieval(&summary.files, &dist, dir, options.threads, &|rows| {
            pairscope_model::Progress::advance(&bar, rows, 0)
        })?;
        bar.finish();
        if !global.quiet {
            eprintln!(
                "wrote {} {}-d vectors in {} files to {} ({:.1}s)",
                summary.rows,
                args.dim,
                files.len(),
                dir.display(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitStatus::Clean)
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
