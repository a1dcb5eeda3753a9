use anyhow::Result;
use pairscope_model::ExitStatus;
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
    Ok(ExitStatus::Clean)
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
