use anyhow::Result;
use pairscope_model::ExitStatus;
use pairscope_store::{Dataset, DatasetWriter};

use crate::args::{GlobalArgs, SourcesArgs};
use crate::commands::info::sources_table;
use crate::output::print_batch;

pub fn run(args: &SourcesArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    if !args.remove.is_empty() {
        let (manifest, removed) = DatasetWriter::open(&args.dataset)?.remove_sources(&args.remove)?;
        if !global.quiet {
            for source in &removed {
                eprintln!("removed {} ({}, {} rows)", source.short_id(), source.path, source.rows);
            }
            eprintln!("dataset version {} has {} rows", manifest.version, manifest.rows());
        }
    }
    let dataset = Dataset::open(&args.dataset)?;
    print_batch(args.output.format(), &sources_table(&dataset))?;
    Ok(ExitStatus::Clean)
}
