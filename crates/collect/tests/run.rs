//! Whole collect runs: output shards, dedup, determinism, resuming, WARC mode, bad archives.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use flate2::Compression;
use flate2::write::GzEncoder;
use pairscope_collect::{CollectOptions, CollectReport, ExtractOptions, Format, Input, SkipReason, collect};
use pairscope_model::NoProgress;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn shared(rel: &str) -> Option<PathBuf> {
    pairscope_testkit::shared_data(rel)
}

fn options(min_alt_chars: usize, threads: usize) -> CollectOptions {
    CollectOptions { extract: ExtractOptions { min_alt_chars }, threads, ..CollectOptions::default() }
}

fn run(inputs: &[PathBuf], out: &Path, options: &CollectOptions) -> CollectReport {
    collect(&local(inputs), out, options, &NoProgress).unwrap()
}

fn local(paths: &[PathBuf]) -> Vec<Input> {
    paths.iter().cloned().map(Input::from).collect()
}

/// Every output row's (url, caption), in file order then row order.
fn rows(out: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for batch in files.iter().flat_map(|f| read(f)) {
        let url = batch.column_by_name("url").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        let caption = batch.column_by_name("caption").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        out.extend((0..batch.num_rows()).map(|i| (url.value(i).to_owned(), caption.value(i).to_owned())));
    }
    out
}

fn read(file: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// The output files' names and bytes.
fn snapshot(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A synthetic WARC: `pages` responses, each with `per_page` images; image k of page p has
/// url `https://img.example/{k % distinct}.jpg`, so pages repeat each other's pairs.
fn synthetic_warc(pages: usize, per_page: usize, distinct: usize, salt: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for p in 0..pages {
        let mut html = String::from("<html><body>");
        for k in 0..per_page {
            let n = (p * per_page + k) % distinct;
            html.push_str(&format!(
                "<p>text</p><img src=\"https://img.example/{n}.jpg\" alt=\"picture number {n} {salt}\" width=\"{n}\">"
            ));
        }
        html.push_str("</body></html>");
        let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}");
        let record = format!(
            "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://site.example/{salt}/{p}\r\nWARC-Date: 2024-05-01T00:00:00Z\r\nContent-Length: {}\r\n\r\n{http}\r\n\r\n",
            http.len()
        );
        out.extend(gz(record.as_bytes()));
    }
    out
}

#[test]
fn wat_sample_to_shards_that_ingest_reads() {
    let Some(wat) = shared("cc/cc-sample-16pages.warc.wat.gz") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = run(std::slice::from_ref(&wat), &out, &options(1, 1));
    // 32 pairs, 5 of which repeat an earlier (url, caption) of the same page.
    assert_eq!((report.kept, report.duplicates, report.skipped()), (27, 5, 0));
    let totals = report.totals();
    assert_eq!((totals.read.records, totals.extract.html_pages, totals.extract.image_links), (34, 16, 151));
    let batches = read(&out.join("part-00000.parquet"));
    let batch = &batches[0];
    let text = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
    assert_eq!(text("url").value(0), "http://www.chinanews.com/images/banner11.gif");
    assert_eq!(text("uid").value(0), "d73ad2009b0c2dfe76fdc9a8a725fab0");
    assert_eq!(text("page_url").value(0), "http://003338.cn/l41/481397.html");
    assert_eq!(text("warc_date").value(0), "2020-08-08T17:27:41Z");
    assert_eq!(text("source_file").value(0), wat.display().to_string());
    let offsets = batch.column_by_name("source_offset").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(offsets.value(0), 720);
    let noai = batch.column_by_name("optout_noai").unwrap().as_any().downcast_ref::<BooleanArray>().unwrap();
    assert_eq!(noai.true_count(), 0);
    assert!(batch.column_by_name("html_width").unwrap().is_null(0));
    assert_eq!(batch.column_by_name("language").unwrap().null_count(), 0, "every caption has a language or und");

    let mut only = options(1, 1);
    only.langs = Some(vec!["xx".into()]);
    let filtered = run(std::slice::from_ref(&wat), &dir.path().join("xx"), &only);
    assert_eq!((filtered.kept, filtered.totals().other_language), (0, 32));

    let dataset = dir.path().join("ds");
    let ingest = pairscope_ingest::ingest(
        &dataset,
        &[out.display().to_string()],
        &pairscope_ingest::IngestOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(ingest.rows_added(), 27);
    let ds = pairscope_store::Dataset::open(&dataset).unwrap();
    let mapping = &ds.manifest().sources[0].mapping;
    for (canonical, column) in [
        ("url", "url"),
        ("caption", "caption"),
        ("page_url", "page_url"),
        ("sample_id", "uid"),
        ("optout_noai", "optout_noai"),
    ] {
        assert_eq!(mapping.get(canonical).map(String::as_str), Some(column), "{canonical}: {mapping:?}");
    }
}

#[test]
fn dedup_is_first_by_input_order_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..4)
        .map(|i| {
            let path = dir.path().join(format!("in-{i}.warc.gz"));
            // 40 pages × 30 images over 500 distinct pairs: every input repeats itself and the others.
            std::fs::write(&path, synthetic_warc(40, 30, 500, if i == 3 { "other" } else { "same" })).unwrap();
            path
        })
        .collect();
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    let report = run(&inputs, &one, &options(5, 1));
    run(&inputs, &two, &options(5, 3));
    assert_eq!(snapshot(&one), snapshot(&two), "the output does not depend on --threads");
    // Inputs 0–2 share 500 pairs, input 3 has its own 500.
    assert_eq!(report.kept, 1000);
    assert_eq!(report.duplicates, 4 * 1200 - 1000);
    let kept: Vec<u64> = report.inputs.iter().map(|i| i.kept).collect();
    assert_eq!(kept, [500, 0, 0, 500]);
    let got = rows(&one);
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len(), "no duplicate survives");
    assert_eq!(got[0], ("https://img.example/0.jpg".into(), "picture number 0 same".into()));

    // --seen: a later run over the same inputs keeps nothing new.
    let mut later = options(5, 2);
    later.seen = vec![one.clone()];
    let again = run(&inputs[..2], &dir.path().join("later"), &later);
    assert_eq!((again.kept, again.seen_duplicates, again.duplicates), (0, 2400, 0));
}

#[test]
fn a_restarted_run_ends_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("in-{i}.warc.gz"));
            std::fs::write(&path, synthetic_warc(20, 10, 150 + i, "x")).unwrap();
            path
        })
        .collect();
    let whole = dir.path().join("whole");
    run(&inputs, &whole, &options(5, 2));
    let expected = snapshot(&whole);

    // Killed after staging input 0 only: no part files, inputs 1 and 2 never staged.
    let killed = dir.path().join("killed");
    run(&inputs, &killed, &options(5, 2));
    let state = killed.join(".collect");
    for f in ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"] {
        let _ = std::fs::remove_file(killed.join(f));
    }
    std::fs::copy(whole.join("part-00000.parquet"), state.join("00000.rows")).unwrap();
    for ext in ["json", "keys"] {
        std::fs::remove_file(state.join(format!("00001.{ext}"))).unwrap();
        std::fs::remove_file(state.join(format!("00002.{ext}"))).unwrap();
    }
    std::fs::write(killed.join("part-00001.parquet.tmp-999"), b"half a file").unwrap();
    let report = run(&inputs, &killed, &options(5, 1));
    assert_eq!(report.inputs.iter().map(|i| i.resumed).collect::<Vec<_>>(), [true, false, false]);
    assert_eq!(snapshot(&killed), expected);

    // Other arguments into the same directory are refused.
    let err = collect(&local(&inputs[..1]), &killed, &options(5, 1), &NoProgress).unwrap_err();
    assert!(pairscope_model::is_usage(&err), "{err}");
}

#[test]
fn warc_sample_finds_at_least_the_wat_pairs() {
    let (Some(warc), Some(wat)) = (shared("cc/cc-sample-16pages.warc.gz"), shared("cc/cc-sample-16pages.warc.wat.gz"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // GB2312 0xA1A4 is U+00B7 by the WHATWG Encoding Standard (browsers, encoding_rs) and U+30FB
    // by the Java decoder Common Crawl's WAT extractor used: the WAT's caption is mapped here.
    let from_wat: BTreeSet<_> = {
        run(&[wat], &dir.path().join("wat"), &options(1, 1));
        rows(&dir.path().join("wat")).into_iter().map(|(u, c)| (u, c.replace('\u{30fb}', "\u{b7}"))).collect()
    };
    let mut warc_options = options(1, 1);
    warc_options.format = Format::Warc;
    let report = run(&[warc], &dir.path().join("warc"), &warc_options);
    let from_warc: BTreeSet<_> = rows(&dir.path().join("warc")).into_iter().collect();
    let missing: Vec<_> = from_wat.difference(&from_warc).collect();
    assert!(missing.is_empty(), "WARC mode misses {missing:?}");
    assert_eq!(report.totals().extract.html_pages, 16);
    assert_eq!(report.skipped(), 0);
}

#[test]
fn damaged_warcs_yield_their_good_records() {
    let (Some(truncated), Some(quirk)) = (shared("cc/truncated.warc.gz"), shared("cc/clueweb-quirk.warc.gz")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = run(&[truncated, quirk], &dir.path().join("out"), &options(5, 2));
    let truncated = report.inputs[0].stats.as_ref().unwrap();
    assert_eq!(truncated.read.skipped.get(&SkipReason::Truncated), Some(&1));
    assert_eq!(truncated.read.records, 0);
    let quirk = report.inputs[1].stats.as_ref().unwrap();
    assert_eq!((quirk.read.records, quirk.read.skipped_total()), (30, 0));
    assert_eq!(quirk.extract.html_pages, 29);
    assert!(quirk.extract.pairs > 0, "EUC-JP pages with Content-Encoding: gzip over plain bodies still parse");
    let captions = rows(&dir.path().join("out"));
    assert!(captions.iter().any(|(_, c)| {
        c.chars().any(|ch| ('\u{3040}'..='\u{30ff}').contains(&ch) || ('\u{4e00}'..='\u{9fff}').contains(&ch))
    }));
    assert!(report.skipped() > 0);
}
