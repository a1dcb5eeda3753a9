//! Runs a Rust language detector over `lang<TAB>kind<TAB>text` lines (gzipped) and prints one
//! line per text; the texts/s on stderr. DETECTOR: `whatlang` (its raw top answer, ISO 639-3,
//! `und` when it gives none) or `pairscope` (`top<TAB>margin<TAB>stored`: our top answer, its
//! lead over the runner-up, and what `pairscope collect` stores, `und` below
//! `langid::MIN_MARGIN`). Used by `bench/langid.py`, which runs the copy that
//! `cargo test --release --workspace --no-run` builds; not part of the binary.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark driver: fails loudly")]

use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

use pairscope_langid as langid;

fn main() {
    let usage = "usage: langid_eval FILE.tsv.gz whatlang|pairscope";
    let path = std::env::args().nth(1).expect(usage);
    let detector = std::env::args().nth(2).expect(usage);
    let file = std::fs::File::open(&path).expect("open the TSV");
    let texts: Vec<String> = BufReader::new(flate2::read::MultiGzDecoder::new(file))
        .lines()
        .skip(1)
        .map(|l| l.expect("UTF-8 lines"))
        .map(|l| l.splitn(3, '\t').nth(2).unwrap_or_default().to_owned())
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let started = Instant::now();
    match detector.as_str() {
        "whatlang" => {
            let predictions: Vec<&str> =
                texts.iter().map(|t| whatlang::detect_lang(t).map_or("und", |lang| lang.code())).collect();
            let seconds = started.elapsed().as_secs_f64();
            for p in predictions {
                writeln!(out, "{p}").expect("stdout");
            }
            report(texts.len(), seconds);
        }
        "pairscope" => {
            let guesses: Vec<Option<langid::Guess>> = texts.iter().map(|t| langid::guess(t)).collect();
            let seconds = started.elapsed().as_secs_f64();
            for g in guesses {
                let (top, margin) = g.map_or(("und", 0.0), |g| (g.language, g.margin));
                let stored = if margin >= langid::MIN_MARGIN { top } else { "und" };
                writeln!(out, "{top}\t{margin}\t{stored}").expect("stdout");
            }
            report(texts.len(), seconds);
        }
        _ => panic!("{usage}"),
    }
}

fn report(texts: usize, seconds: f64) {
    eprintln!("{texts} texts in {seconds:.3} s: {:.0} texts/s", texts as f64 / seconds);
}
