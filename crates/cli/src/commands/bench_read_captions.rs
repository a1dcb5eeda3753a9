//! `bench-read-captions` (hidden): reads every caption of a dataset the way `mentions` does,
//! matching nothing, and prints rows, bytes and seconds as JSON: the floor the mentions
//! benchmark compares a count's speed with.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use pairscope_model::{ExitStatus, NoProgress};
use pairscope_store::Dataset;

use crate::args::{GlobalArgs, ResolvedPath};

#[derive(Debug, Args)]
pub struct BenchReadCaptionsArgs {
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
}

pub fn run(args: &BenchReadCaptionsArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    let dataset = Dataset::open(&args.dataset)?;
    let started = Instant::now();
    let (rows, bytes) = pairscope_mentions::read_captions(&dataset, &NoProgress)?;
    let seconds = started.elapsed().as_secs_f64();
    crate::output::print_text(&format!(
        "{}\n",
        serde_json::json!({ "rows": rows, "caption_bytes": bytes, "seconds": seconds })
    ))?;
    Ok(ExitStatus::Clean)
}
