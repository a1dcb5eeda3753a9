//! Runs a Rust language detector over `lang<TAB>kind<TAB>text` lines (gzipped) and prints one
//! prediction a line, `und` when it gives none; the texts/s on stderr. DETECTOR: `whatlang`
//! (its raw top answer, ISO 639-3) or `collect` (what `pairscope collect` stores, ISO 639-1).
//! Used by `bench/langid.py`; not part of the binary.

use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: langid_eval FILE.tsv.gz [whatlang|collect]");
    let collect = std::env::args().nth(2).as_deref() == Some("collect");
    let file = std::fs::File::open(&path).expect("open the TSV");
    let texts: Vec<String> = BufReader::new(flate2::read::MultiGzDecoder::new(file))
        .lines()
        .skip(1)
        .map(|l| l.expect("UTF-8 lines"))
        .map(|l| l.splitn(3, '\t').nth(2).unwrap_or_default().to_owned())
        .collect();
    let started = Instant::now();
    let predictions: Vec<&str> = if collect {
        texts.iter().map(|t| pairscope_collect::langid::detect(t)).collect()
    } else {
        texts.iter().map(|t| whatlang::detect_lang(t).map_or("und", |lang| lang.code())).collect()
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for p in predictions {
        writeln!(out, "{p}").expect("stdout");
    }
    eprintln!("{} texts in {seconds:.3} s: {:.0} texts/s", texts.len(), texts.len() as f64 / seconds);
}
