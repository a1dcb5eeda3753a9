//! Ingest end to end through the library: real captions, every bad-input case, idempotence,
//! removal, and the invariants of the stored rows.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{Int32Type, Int64Type};
use pairscope_ingest::{IngestError, IngestOptions, ingest};
use pairscope_model::{NoProgress, RowId};
use pairscope_store::{Dataset, StoreError};
use pairscope_testkit::write_parquet;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn small_laion(path: &Path, n: usize) {
    let urls: Vec<String> = (0..n).map(|i| format!("https://img{}.example.com/{i}.jpg", i % 3)).collect();
    let texts: Vec<String> = (0..n).map(|i| format!("caption number {i}")).collect();
    write_parquet(
        path,
        vec![
            ("URL", Arc::new(StringArray::from(urls)) as ArrayRef),
            ("TEXT", Arc::new(StringArray::from(texts))),
            ("WIDTH", Arc::new(Float64Array::from((0..n).map(|i| Some(500.0 + i as f64)).collect::<Vec<_>>()))),
            (
                "HEIGHT",
                Arc::new(Int64Array::from(
                    (0..n).map(|i| if i % 4 == 0 { None } else { Some(400) }).collect::<Vec<_>>(),
                )),
            ),
            ("punsafe", Arc::new(Float32Array::from((0..n).map(|i| Some(i as f32 / n as f32)).collect::<Vec<_>>()))),
            (
                "aesthetic",
                Arc::new(Float64Array::from(
                    (0..n).map(|i| if i % 5 == 0 { Some(f64::NAN) } else { Some(5.5) }).collect::<Vec<_>>(),
                )),
            ),
            ("hash", Arc::new(Int64Array::from((0..n).map(|i| -(i as i64) * 1_000_003).collect::<Vec<_>>()))),
            ("my_extra", Arc::new(Int32Array::from((0..n).map(|i| i as i32).collect::<Vec<_>>()))),
        ],
    );
}

fn read_rows(ds: &Dataset) -> Vec<RecordBatch> {
    ds.data_files()
        .iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
        })
        .collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"))
}

fn shared(rel: &str) -> Option<PathBuf> {
    pairscope_testkit::shared_data(rel)
}

fn opts() -> IngestOptions {
    IngestOptions { threads: 2, ..Default::default() }
}

#[test]
fn real_captions_ingest_once() {
    let Some(src) = shared("captions/cc-captions-10000.parquet") else { return };
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let report = ingest(&ds, &[src.display().to_string()], &opts(), &NoProgress).unwrap();
    assert_eq!(report.version, 1);
    let dataset = Dataset::open(&ds).unwrap();
    assert_eq!(dataset.rows() + report.rows_skipped().values().sum::<u64>(), 10_000);
    assert_eq!(dataset.rows(), 10_000, "the real file has a url and caption on every row: {:?}", report.rows_skipped());
    let stored: usize = read_rows(&dataset).iter().map(|b| b.num_rows()).sum();
    assert_eq!(stored, 10_000);
    let source = &dataset.manifest().sources[0];
    assert_eq!(source.mapping.get("url").map(String::as_str), Some("URL"));
    assert_eq!(source.mapping.get("caption").map(String::as_str), Some("TEXT"));
    assert!(source.extra_columns.iter().any(|e| e.name == "__index_level_0__"));

    // The same file again, also under another name, changes nothing.
    let copy = dir.path().join("renamed.parquet");
    std::fs::copy(&src, &copy).unwrap();
    let again = ingest(&ds, &[src.display().to_string(), copy.display().to_string()], &opts(), &NoProgress).unwrap();
    assert!(again.added.is_empty());
    assert_eq!(again.already_present.len(), 2);
    assert_eq!(Dataset::open(&ds).unwrap().version(), 1);
}

#[test]
fn stored_rows_follow_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.parquet");
    small_laion(&src, 100);
    let ds = dir.path().join("ds");
    let options = IngestOptions { constants: BTreeMap::from([("language".into(), "en".into())]), ..opts() };
    ingest(&ds, &[src.display().to_string()], &options, &NoProgress).unwrap();
    let dataset = Dataset::open(&ds).unwrap();
    let batches = read_rows(&dataset);
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(batch.num_rows(), 100);
    // Float widths become integers; a missing height is null, never 0; NaN is null.
    let width = column(&batch, "width").as_primitive::<Int32Type>();
    assert_eq!(width.value(3), 503);
    let height = column(&batch, "height").as_primitive::<Int32Type>();
    assert!(height.is_null(0) && height.value(1) == 400);
    assert_eq!(column(&batch, "aesthetic").null_count(), 20);
    assert_eq!(column(&batch, "pwatermark").null_count(), 100);
    assert_eq!(column(&batch, "language").as_string::<i32>().value(7), "en");
    assert_eq!(column(&batch, "hash").as_string::<i32>().value(2), "-2000006");
    assert_eq!(column(&batch, "host").as_string::<i32>().value(1), "img1.example.com");
    assert_eq!(column(&batch, "domain").as_string::<i32>().value(1), "example.com");
    assert_eq!(column(&batch, "my_extra").as_primitive::<Int32Type>().value(9), 9);
    // Row ids: derived from (content hash, row index), ascending within a file.
    let ids = column(&batch, "row_id").as_primitive::<Int64Type>();
    let source = &dataset.manifest().sources[0];
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(&source.id[2 * i..2 * i + 2], 16).unwrap();
    }
    for i in 0..100 {
        assert_eq!(ids.value(i), RowId::derive(&hash, i as u64).0);
    }
    assert_eq!(source.settings.constants.get("language").map(String::as_str), Some("en"));
}

#[test]
fn same_ids_whatever_the_ingest_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    small_laion(&a, 50);
    small_laion(&b, 70);
    let ids = |ds: &Path, order: [&Path; 2]| {
        for f in order {
            ingest(ds, &[f.display().to_string()], &opts(), &NoProgress).unwrap();
        }
        let mut ids: Vec<i64> = read_rows(&Dataset::open(ds).unwrap())
            .iter()
            .flat_map(|b| column(b, "row_id").as_primitive::<Int64Type>().values().to_vec())
            .collect();
        ids.sort();
        ids
    };
    let one = ids(&dir.path().join("ds1"), [&a, &b]);
    let two = ids(&dir.path().join("ds2"), [&b, &a]);
    assert_eq!(one.len(), 120);
    assert_eq!(one, two);
}

#[test]
fn rows_without_url_or_caption_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("holes.parquet");
    write_parquet(
        &src,
        vec![
            (
                "url",
                Arc::new(StringArray::from(vec![
                    Some("http://a.com/1.jpg"),
                    None,
                    Some(" "),
                    Some("http://a.com/2.jpg"),
                    Some("http://a.com/3.jpg"),
                ])) as ArrayRef,
            ),
            ("caption", Arc::new(StringArray::from(vec![Some("ok"), Some("x"), Some("y"), None, Some("")]))),
        ],
    );
    let ds = dir.path().join("ds");
    let report = ingest(&ds, &[src.display().to_string()], &opts(), &NoProgress).unwrap();
    assert_eq!(report.rows_added(), 1);
    let skipped = report.rows_skipped();
    assert_eq!(skipped.get("null url"), Some(&1));
    assert_eq!(skipped.get("empty url"), Some(&1));
    assert_eq!(skipped.get("null caption"), Some(&1));
    assert_eq!(skipped.get("empty caption"), Some(&1));
    assert_eq!(report.skipped_inputs(), 4);
}

#[test]
fn long_captions_are_cut_at_a_character_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("long.parquet");
    let long = "é".repeat(100); // 200 bytes
    write_parquet(
        &src,
        vec![
            ("url", Arc::new(StringArray::from(vec!["http://a.com/1.jpg", "http://a.com/2.jpg"])) as ArrayRef),
            ("text", Arc::new(StringArray::from(vec![long.as_str(), "short"]))),
        ],
    );
    let ds = dir.path().join("ds");
    let options = IngestOptions { max_caption_bytes: 51, ..opts() };
    let report = ingest(&ds, &[src.display().to_string()], &options, &NoProgress).unwrap();
    assert_eq!(report.truncated_captions(), 1);
    let batches = read_rows(&Dataset::open(&ds).unwrap());
    let captions = column(&batches[0], "caption").as_string::<i32>();
    assert_eq!(captions.value(0), "é".repeat(25));
    assert_eq!(captions.value(1), "short");
    let from = column(&batches[0], "caption_truncated_from").as_primitive::<Int32Type>();
    assert_eq!(from.value(0), 200);
    assert!(from.is_null(1));
}

fn expect_bad(ds: &Path, src: &Path) -> String {
    let err = ingest(ds, &[src.display().to_string()], &opts(), &NoProgress).unwrap_err();
    let IngestError::BadInput(bad) = &err else { panic!("expected bad input, got {err}") };
    assert_eq!(bad.path, src);
    assert!(Dataset::open(ds).is_err() || Dataset::open(ds).unwrap().rows() == 120, "dataset changed");
    err.to_string()
}

#[test]
fn bad_files_name_file_place_and_column_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let good = dir.path().join("good.parquet");
    small_laion(&good, 120);
    ingest(&ds, &[good.display().to_string()], &opts(), &NoProgress).unwrap();
    let files_before: Vec<_> = walk(&ds);

    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"this is not parquet at all, just some bytes").unwrap();
    let msg = expect_bad(&ds, &garbage);
    assert!(msg.contains("garbage.parquet") && msg.contains("not a readable parquet file"), "{msg}");

    let truncated = dir.path().join("truncated.parquet");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let msg = expect_bad(&ds, &truncated);
    assert!(msg.contains("truncated.parquet"), "{msg}");

    let no_url = dir.path().join("no_url.parquet");
    write_parquet(
        &no_url,
        vec![
            ("link", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ("text", Arc::new(StringArray::from(vec!["y"]))),
        ],
    );
    let msg = expect_bad(&ds, &no_url);
    assert!(msg.contains("column url") && msg.contains("--map url="), "{msg}");

    let wrong_type = dir.path().join("wrong_type.parquet");
    write_parquet(
        &wrong_type,
        vec![
            ("url", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("text", Arc::new(StringArray::from(vec!["y"]))),
        ],
    );
    let msg = expect_bad(&ds, &wrong_type);
    assert!(msg.contains("column url") && msg.contains("Int64"), "{msg}");

    let bad_utf8 = dir.path().join("bad_utf8.parquet");
    write_parquet(
        &bad_utf8,
        vec![
            ("url", Arc::new(StringArray::from(vec!["http://a/1", "http://a/2", "http://a/3"])) as ArrayRef),
            ("text", Arc::new(BinaryArray::from(vec![&b"fine"[..], &b"ok"[..], &b"bad \xff\xfe"[..]]))),
        ],
    );
    let msg = expect_bad(&ds, &bad_utf8);
    assert!(msg.contains("row 2") && msg.contains("column text") && msg.contains("UTF-8"), "{msg}");

    // A corrupted data page (flip bytes in the middle of the file, keep the footer).
    let flipped = dir.path().join("flipped.parquet");
    let mut bytes = std::fs::read(&good).unwrap();
    let half = bytes.len() / 2;
    for b in &mut bytes[8..half] {
        *b ^= 0x5a;
    }
    std::fs::write(&flipped, &bytes).unwrap();
    let msg = expect_bad(&ds, &flipped);
    assert!(msg.contains("flipped.parquet"), "{msg}");

    assert_eq!(walk(&ds), files_before, "a failed ingest left files behind");

    // With --skip-bad, the bad files are listed and the good one lands.
    let other = dir.path().join("other.parquet");
    small_laion(&other, 10);
    let inputs: Vec<String> = [&garbage, &truncated, &no_url, &other].iter().map(|p| p.display().to_string()).collect();
    let options = IngestOptions { skip_bad: true, ..opts() };
    let report = ingest(&ds, &inputs, &options, &NoProgress).unwrap();
    assert_eq!(report.bad_files.len(), 3);
    assert_eq!(report.rows_added(), 10);
    assert_eq!(report.skipped_inputs(), 3);
    assert_eq!(Dataset::open(&ds).unwrap().rows(), 130);
}

#[test]
fn sources_can_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    small_laion(&a, 5);
    small_laion(&b, 7);
    let ds = dir.path().join("ds");
    ingest(&ds, &[a.display().to_string(), b.display().to_string()], &opts(), &NoProgress).unwrap();
    let (manifest, removed) =
        pairscope_store::DatasetWriter::open(&ds).unwrap().remove_sources(&[a.display().to_string()]).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(manifest.rows(), 7);
    assert_eq!(manifest.version, 2);
    assert!(pairscope_store::DatasetWriter::open(&ds).unwrap().remove_sources(&["nonexistent".into()]).is_err());
    // Re-adding it works and gives the same row ids as before.
    ingest(&ds, &[a.display().to_string()], &opts(), &NoProgress).unwrap();
    assert_eq!(Dataset::open(&ds).unwrap().rows(), 12);
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    std::fs::create_dir_all(&ds).unwrap();
    let lock = File::options().create(true).truncate(false).write(true).open(ds.join("LOCK")).unwrap();
    lock.lock().unwrap();
    let src = dir.path().join("a.parquet");
    small_laion(&src, 3);
    let err = ingest(&ds, &[src.display().to_string()], &opts(), &NoProgress).unwrap_err();
    assert!(matches!(err, IngestError::Store(StoreError::Locked(_))), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// The same inputs make the same bytes whatever the number of threads: block files, and block
/// index bundles (each index built by two writers at once). Only the time of ingest in
/// `source.json` may differ.
#[test]
fn same_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = [("a", 3000), ("b", 50), ("c", 1200)]
        .iter()
        .map(|(name, n)| {
            let path = dir.path().join(format!("{name}.parquet"));
            small_laion(&path, *n);
            path.display().to_string()
        })
        .collect();
    let files_of = |threads: usize| -> BTreeMap<PathBuf, Vec<u8>> {
        let ds = dir.path().join(format!("ds-{threads}"));
        ingest(&ds, &inputs, &IngestOptions { threads, ..Default::default() }, &NoProgress).unwrap();
        let sources = ds.join("sources");
        walk(&sources)
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let comparable = match name.as_str() {
                    "source.json" => {
                        let mut entry: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                        entry.as_object_mut().unwrap().remove("ingested_at");
                        entry.to_string().into_bytes()
                    }
                    _ => bytes,
                };
                (path.strip_prefix(&sources).unwrap().to_path_buf(), comparable)
            })
            .collect()
    };
    let one = files_of(1);
    let three = files_of(3);
    assert_eq!(one.keys().collect::<Vec<_>>(), three.keys().collect::<Vec<_>>());
    assert!(one.keys().filter(|p| p.extension().is_some_and(|e| e == "bundle")).count() == 3, "{:?}", one.keys());
    for (path, bytes) in &one {
        assert!(bytes == &three[path], "{} differs between 1 and 3 threads", path.display());
    }
}
