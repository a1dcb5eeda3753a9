//! Times a synth run: `cargo run --release -p pairscope-synth --example throughput -- [ROWS]
//! [THREADS] [SCHEMA] [OUT]` (defaults: 2000000 rows, 2 threads, laion-aesthetics, a
//! temporary directory removed afterwards), and prints rows per second.

use std::time::Instant;

use pairscope_synth::{SynthOptions, SynthSchema, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: u64 = args.first().map_or(Ok(2_000_000), |a| a.parse())?;
    let threads: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    let schema: SynthSchema = args.get(2).map_or(Ok(SynthSchema::LaionAesthetics), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let out = args.get(3).map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let opts = SynthOptions { threads, ..SynthOptions::new(rows, 1, schema) };
    let start = Instant::now();
    let summary = generate(&opts, &out, &|_| {})?;
    let secs = start.elapsed().as_secs_f64();
    let bytes: u64 = summary.files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    println!(
        "{schema}: {rows} rows, {threads} threads, {} files, {:.1} MB: {secs:.2} s, {:.0} rows/s",
        summary.files.len(),
        bytes as f64 / 1e6,
        rows as f64 / secs
    );
    Ok(())
}
