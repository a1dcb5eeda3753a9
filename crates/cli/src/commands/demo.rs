//! `pairscope demo`: the README's first command. Synthesises a LAION-like set once, ingests
//! it, and shows the dataset.

use anyhow::Result;
use pairscope_model::ExitStatus;
use pairscope_store::{Dataset, IngestOptions, ingest};
use pairscope_synth::{SynthOptions, SynthSchema, generate};

use crate::args::{DemoArgs, Format, FormatArgs, GlobalArgs, InfoArgs};
use crate::commands::synth::default_threads;
use crate::progress::Bar;

pub fn run(args: &DemoArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let dataset = args.dir.join("dataset");
    if Dataset::open(&dataset).is_err() {
        let synth_dir = args.dir.join("synth");
        let options = SynthOptions {
            rows: args.rows,
            seed: 42,
            schema: SynthSchema::LaionAesthetics,
            rows_per_shard: 100_000,
            threads: default_threads(),
        };
        eprintln!(
            "making the demo dataset: {} synthetic LAION-Aesthetics-like rows in {}",
            args.rows,
            args.dir.display()
        );
        let bar = Bar::new(global, "synth");
        generate(&options, &synth_dir, &|rows| pairscope_model::Progress::advance(&bar, rows, 0))?;
        bar.finish();
        let bar = Bar::new(global, "ingest");
        // LAION-Aesthetics files carry no language column; their captions are English.
        let ingest_options = IngestOptions {
            constants: [("language".to_string(), "en".to_string())].into(),
            ..IngestOptions::default()
        };
        let report = ingest(&dataset, &[synth_dir.display().to_string()], &ingest_options, &bar)?;
        bar.finish();
        eprintln!("ingested {} rows", report.rows_added());
    }
    crate::commands::info::run(&InfoArgs { dataset, output: FormatArgs { format: Format::Table, json: false } }, global)
}
