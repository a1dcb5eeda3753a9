//! `ingest --fetched` through the library, over fetch outputs the test writes (the layout of
//! `pairscope_model::fetched`): the merge rules across fetches, what is refused with nothing
//! committed, and the store's bookkeeping of overlays (carried by later commits, dropped with
//! their source, unreferenced files removed).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, UInt32Array};
use arrow::datatypes::{Int32Type, Int64Type};
use pairscope_ingest::{IngestError, IngestOptions, ingest, ingest_fetched};
use pairscope_model::NoProgress;
use pairscope_model::fetched::{RECORD, SHARD_COLUMNS, STATS_SUFFIX};
use pairscope_store::Dataset;
use pairscope_testkit::write_parquet;

/// A dataset of `n` rows from one source named `name`; rows with an even index publish a
/// width of 640. Returns the source's row ids in order.
fn dataset(dir: &Path, name: &str, n: usize) -> Vec<i64> {
    let source = dir.join(name);
    write_parquet(
        &source,
        vec![
            (
                "url",
                Arc::new(StringArray::from(
                    (0..n).map(|i| format!("https://{name}.example/{i}.jpg")).collect::<Vec<_>>(),
                )),
            ),
            ("caption", Arc::new(StringArray::from((0..n).map(|i| format!("{name} {i}")).collect::<Vec<_>>()))),
            ("width", Arc::new(Int64Array::from((0..n).map(|i| (i % 2 == 0).then_some(640)).collect::<Vec<_>>()))),
        ],
    );
    ingest(&dir.join("ds"), &[source.display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
    rows(&dir.join("ds"), &format!("caption LIKE '{name} %'")).into_iter().map(|(id, ..)| id).collect()
}

/// (row_id, width, fetched_width, fetched_status) of a row.
type Row = (i64, Option<i32>, Option<i32>, Option<String>);

/// The rows where `condition` (SQL) holds, by row id, as SQL over the version sees them.
fn rows(ds: &Path, condition: &str) -> Vec<Row> {
    let dataset = Dataset::open(ds).unwrap();
    let runtime = tokio_runtime();
    runtime.block_on(async {
        let context = datafusion::prelude::SessionContext::new();
        let table = pairscope_sql::table::pairs_table(&dataset).unwrap();
        context.register_table("pairs", table.provider).unwrap();
        let has_fetched = dataset.schema().field_with_name("fetched_width").is_ok();
        let fetched = if has_fetched {
            "fetched_width, fetched_status"
        } else {
            "CAST(NULL AS INT) AS fetched_width, CAST(NULL AS VARCHAR) AS fetched_status"
        };
        let query = format!("SELECT row_id, width, {fetched} FROM pairs WHERE {condition} ORDER BY row_id");
        let batches = context.sql(&query).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for batch in batches {
            let ids = batch.column(0).as_primitive::<Int64Type>();
            let widths = batch.column(1).as_primitive::<Int32Type>();
            let fetched = arrow::compute::cast(batch.column(2), &arrow::datatypes::DataType::Int32).unwrap();
            let fetched = fetched.as_primitive::<Int32Type>();
            let status = arrow::compute::cast(batch.column(3), &arrow::datatypes::DataType::Utf8).unwrap();
            let status = status.as_string::<i32>();
            for i in 0..batch.num_rows() {
                out.push((
                    ids.value(i),
                    widths.is_valid(i).then(|| widths.value(i)),
                    fetched.is_valid(i).then(|| fetched.value(i)),
                    status.is_valid(i).then(|| status.value(i).to_string()),
                ));
            }
        }
        out
    })
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// One fetched row: (row id, status, measured width).
type Fetched = (Option<i64>, &'static str, Option<u32>);

/// A fetch output at `out` with one finished shard holding `rows`.
fn fetch_output(out: &Path, rows: &[Fetched]) {
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join(RECORD), "{}").unwrap();
    let n = rows.len();
    let text = |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef { Arc::new((0..n).map(f).collect::<StringArray>()) };
    let ok = |i: usize| rows[i].1 == "ok";
    let columns: Vec<(&str, ArrayRef)> = SHARD_COLUMNS
        .iter()
        .map(|&name| {
            let column: ArrayRef = match name {
                "row_id" => Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
                "status" => text(&|i| Some(rows[i].1.to_string())),
                "original_width" => Arc::new(rows.iter().map(|r| r.2).collect::<UInt32Array>()),
                "original_height" => Arc::new((0..n).map(|i| ok(i).then_some(480)).collect::<UInt32Array>()),
                "width" | "height" => Arc::new((0..n).map(|i| ok(i).then_some(256)).collect::<UInt32Array>()),
                "md5" => text(&|i| ok(i).then(|| format!("{i:032x}"))),
                "sha1" => text(&|i| ok(i).then(|| format!("{i:040x}"))),
                "sha256" => text(&|i| ok(i).then(|| format!("{i:064x}"))),
                _ => text(&|i| Some(format!("{name} {i}"))),
            };
            (name, column)
        })
        .collect();
    write_parquet(&out.join("00000.parquet"), columns);
    std::fs::write(out.join(format!("00000{STATS_SUFFIX}")), "{}").unwrap();
}

fn version(ds: &Path) -> u64 {
    Dataset::open(ds).unwrap().version()
}

#[test]
fn a_later_fetch_replaces_an_earlier_one_but_never_erases_an_ok() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dataset(dir.path(), "a", 6);
    let ds = dir.path().join("ds");
    // Row 1 fetched ok (1200 wide), row 3 timed out, row 2 (published 640) ok at 2000.
    fetch_output(
        &dir.path().join("f1"),
        &[(Some(ids[1]), "ok", Some(1200)), (Some(ids[3]), "timeout", None), (Some(ids[2]), "ok", Some(2000))],
    );
    let report = ingest_fetched(&ds, &dir.path().join("f1"), &NoProgress).unwrap();
    assert_eq!((report.version_before, report.version, report.rows_matched, report.rows_ok), (1, 2, 3, 2));
    assert_eq!(report.filled.get("width"), Some(&1), "only row 1 had no width");
    let seen = rows(&ds, "true");
    assert_eq!(seen[1], (ids[1], Some(1200), Some(1200), Some("ok".into())));
    assert_eq!(seen[2], (ids[2], Some(640), Some(2000), Some("ok".into())), "the published width is kept");
    assert_eq!(seen[3], (ids[3], None, None, Some("timeout".into())));
    assert_eq!(seen[4], (ids[4], Some(640), None, None), "rows not fetched are untouched");

    // Row 1 now fails (kept as it was), row 3 now succeeds (taken), and a row of another
    // dataset is counted and left out; the same row twice keeps its ok.
    fetch_output(
        &dir.path().join("f2"),
        &[
            (Some(ids[1]), "http_404", None),
            (Some(ids[3]), "timeout", None),
            (Some(ids[3]), "ok", Some(900)),
            (Some(12345), "ok", Some(1)),
        ],
    );
    let report = ingest_fetched(&ds, &dir.path().join("f2"), &NoProgress).unwrap();
    assert_eq!((report.version, report.rows_not_in_version, report.duplicate_rows), (3, 1, 1), "{report:?}");
    let seen = rows(&ds, "true");
    assert_eq!(seen[1], (ids[1], Some(1200), Some(1200), Some("ok".into())), "a failure never erases an ok");
    assert_eq!(seen[3], (ids[3], Some(900), Some(900), Some("ok".into())));
    // The search engine's columns agree with SQL's.
    let engine = pairscope_query::Engine::open(Dataset::open(&ds).unwrap()).unwrap();
    let selection = pairscope_query::Selection { filter: Some("width >= 900".into()), ..Default::default() };
    assert_eq!(engine.count(&selection, &pairscope_query::Limits::default()).unwrap(), 2);

    // The same output again changes nothing.
    assert_eq!(ingest_fetched(&ds, &dir.path().join("f2"), &NoProgress).unwrap().version, 3);
}

#[test]
fn what_cannot_be_taken_back_is_refused_with_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dataset(dir.path(), "b", 4);
    let ds = dir.path().join("ds");
    // No fetch record: not a fetch output.
    std::fs::create_dir_all(dir.path().join("plain")).unwrap();
    let error = ingest_fetched(&ds, &dir.path().join("plain"), &NoProgress).unwrap_err();
    assert!(matches!(error, IngestError::Usage(_)) && error.to_string().contains(RECORD), "{error}");
    // A row without a row id (fetched --from a plain file): refused, naming file, row and column.
    fetch_output(&dir.path().join("f"), &[(Some(ids[0]), "ok", Some(10)), (None, "ok", Some(20))]);
    let error = ingest_fetched(&ds, &dir.path().join("f"), &NoProgress).unwrap_err().to_string();
    assert!(error.contains("00000.parquet") && error.contains("row 1") && error.contains("row_id"), "{error}");
    assert_eq!(version(&ds), 1);
    // An unfinished shard (no stats) is counted, not read.
    fetch_output(&dir.path().join("g"), &[(Some(ids[0]), "ok", Some(10))]);
    std::fs::rename(dir.path().join("g/00000.parquet"), dir.path().join("g/00001.parquet")).unwrap();
    std::fs::remove_file(dir.path().join(format!("g/00000{STATS_SUFFIX}"))).unwrap();
    let report = ingest_fetched(&ds, &dir.path().join("g"), &NoProgress).unwrap();
    assert_eq!((report.shards, report.unfinished_shards, report.version), (0, 1, 1));
}

#[test]
fn overlays_follow_their_source_and_unreferenced_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let a = dataset(dir.path(), "a", 3);
    fetch_output(&dir.path().join("f"), &[(Some(a[1]), "ok", Some(4000))]);
    ingest_fetched(&ds, &dir.path().join("f"), &NoProgress).unwrap();
    let overlays = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(ds.join("overlays"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(overlays().len(), 1);
    // A stray file (what a writer killed before its commit leaves) goes at the next commit.
    std::fs::write(ds.join("overlays/stray.columnar.tmp-1"), "x").unwrap();
    // Another source: a commit that adds sources keeps the overlay.
    dataset(dir.path(), "c", 2);
    assert_eq!(overlays().len(), 1, "{:?}", overlays());
    assert_eq!(rows(&ds, "width = 4000").len(), 1);
    let manifest = Dataset::open(&ds).unwrap().manifest().clone();
    assert_eq!(manifest.overlays.len(), 1);
    // Removing the overlaid source drops its overlay from the version; the file stays while
    // the previous version may still be read, and goes with the next commit.
    let writer = pairscope_store::DatasetWriter::open(&ds).unwrap();
    let a_source = manifest.overlays[0].file.source.clone();
    let (manifest, _) = writer.remove_sources(&[a_source]).unwrap();
    assert!(manifest.overlays.is_empty() && manifest.added_columns.is_empty(), "{manifest:?}");
    dataset(dir.path(), "d", 1);
    assert!(overlays().is_empty(), "{:?}", overlays());
    // A damaged overlay is an error naming it, not a panic.
    let b = dataset(dir.path(), "e", 2);
    fetch_output(&dir.path().join("f2"), &[(Some(b[0]), "ok", Some(10))]);
    ingest_fetched(&ds, &dir.path().join("f2"), &NoProgress).unwrap();
    let file = ds.join("overlays").join(&overlays()[0]);
    let length = std::fs::metadata(&file).unwrap().len() as usize;
    for damage in [vec![7u8; length], vec![0u8; length / 2]] {
        std::fs::write(&file, &damage).unwrap();
        let error = pairscope_query::Engine::open(Dataset::open(&ds).unwrap()).err().unwrap().to_string();
        assert!(error.contains(&overlays()[0]), "{error}");
    }
}
