//! Ingest against inputs built to hurt it (issue 15): symlink loops, files that are not regular
//! files, files with absurdly many columns, values no column can hold, and column names that
//! differ only in case. Each test names the defect it guards against.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Float64Type, Int32Type, Schema};
use pairscope_ingest::{IngestError, IngestOptions, IngestReport, ingest};
use pairscope_model::{CANONICAL_COLUMNS, NoProgress};
use pairscope_store::Dataset;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn write_parquet(path: &Path, columns: Vec<(String, ArrayRef)>) {
    let schema =
        Schema::new(columns.iter().map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect::<Vec<_>>());
    let batch = RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// `n` rows with a url and a caption, and `extra` columns besides.
fn pairs(path: &Path, n: usize, extra: Vec<(String, ArrayRef)>) {
    let urls: Vec<String> = (0..n).map(|i| format!("https://example.com/{i}.jpg")).collect();
    let captions: Vec<String> = (0..n).map(|i| format!("caption {i}")).collect();
    let mut columns: Vec<(String, ArrayRef)> = vec![
        ("url".into(), Arc::new(StringArray::from(urls))),
        ("caption".into(), Arc::new(StringArray::from(captions))),
    ];
    columns.extend(extra);
    write_parquet(path, columns);
}

fn options() -> IngestOptions {
    IngestOptions { threads: 2, ..Default::default() }
}

/// Ingests on another thread and gives up after a while, so that a hang fails the test instead
/// of stalling the suite.
fn ingest_within(ds: &Path, inputs: &[String], options: IngestOptions) -> Result<IngestReport, IngestError> {
    let (ds, inputs) = (ds.to_path_buf(), inputs.to_vec());
    let (sender, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(ingest(&ds, &inputs, &options, &NoProgress));
    });
    result.recv_timeout(Duration::from_secs(60)).expect("ingest did not finish within 60 s")
}

#[test]
fn a_directory_with_symlink_loops_is_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("loop");
    std::fs::create_dir(&root).unwrap();
    pairs(&root.join("data.parquet"), 3, vec![]);
    std::os::unix::fs::symlink("../loop", root.join("self")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("abs")).unwrap();
    // The directory itself, and a `**` pattern over it (the glob crate alone loops there too).
    for (n, input) in [root.display().to_string(), format!("{}/**/*.parquet", root.display())].into_iter().enumerate() {
        let report = ingest_within(&dir.path().join(format!("ds{n}")), &[input], options()).unwrap();
        assert_eq!(report.added.len(), 1);
        assert!(report.already_present.is_empty(), "{:?}", report.already_present);
        assert_eq!(report.rows_added(), 3);
    }
}

#[test]
fn a_fifo_named_parquet_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    pairs(&inputs.join("a.parquet"), 2, vec![]);
    let fifo = inputs.join("b.parquet");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let ds = dir.path().join("ds");
    for input in [inputs.display().to_string(), fifo.display().to_string()] {
        let err = ingest_within(&ds, &[input], options()).unwrap_err().to_string();
        assert!(err.contains("b.parquet") && err.contains("named pipe"), "{err}");
    }
}

#[test]
fn a_device_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let err = ingest_within(&dir.path().join("ds"), &["/dev/zero".into()], options()).unwrap_err().to_string();
    assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");
}

#[test]
fn a_file_with_too_many_columns_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.parquet");
    let columns = (0..pairscope_ingest::MAX_SOURCE_COLUMNS - 1)
        .map(|i| (format!("c{i}"), Arc::new(Int32Array::from(vec![i as i32])) as ArrayRef))
        .collect();
    pairs(&wide, 1, columns);
    let err = ingest_within(&dir.path().join("ds"), &[wide.display().to_string()], options()).unwrap_err();
    let IngestError::BadInput(bad) = err else { panic!("not a bad input: {err}") };
    assert!(bad.reason.contains("1025 columns") && bad.reason.contains("at most 1024"), "{bad}");
}

#[test]
fn sources_that_together_have_too_many_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let per_file = pairscope_ingest::MAX_SOURCE_COLUMNS - 2;
    // As many files as fit, and one more.
    let files = (pairscope_store::writer::MAX_DATASET_COLUMNS - CANONICAL_COLUMNS.len()) / per_file + 1;
    for f in 0..files {
        let columns =
            (0..per_file).map(|i| (format!("f{f}_c{i}"), Arc::new(Int32Array::from(vec![1])) as ArrayRef)).collect();
        pairs(&dir.path().join(format!("{f}.parquet")), 1, columns);
    }
    let inputs: Vec<String> =
        (0..files).map(|f| dir.path().join(format!("{f}.parquet")).display().to_string()).collect();
    let (first, rest) = inputs.split_at(files - 1);
    ingest_within(&ds, first, options()).unwrap();
    let err = ingest_within(&ds, rest, options()).unwrap_err().to_string();
    assert!(err.contains(&rest[0]) && err.contains("distinct columns"), "{err}");
    assert_eq!(Dataset::open(&ds).unwrap().manifest().sources.len(), files - 1);
}

/// Sizes and scores no canonical column can hold, with a valid row before each.
fn hostile_values(path: &Path) {
    pairs(
        path,
        4,
        vec![
            ("width".into(), Arc::new(Int64Array::from(vec![Some(640), Some(1 << 62), Some(-3), None]))),
            ("height".into(), Arc::new(Float64Array::from(vec![Some(480.0), Some(-5.5), Some(2.5), Some(f64::NAN)]))),
            (
                "aesthetic".into(),
                Arc::new(Float64Array::from(vec![
                    Some(5.0),
                    Some(f64::INFINITY),
                    Some(f64::NAN),
                    Some(f64::NEG_INFINITY),
                ])),
            ),
        ],
    );
}

#[test]
fn values_no_column_can_hold_are_nulled_and_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.parquet");
    hostile_values(&file);
    let ds = dir.path().join("ds");
    let report = ingest_within(&ds, &[file.display().to_string()], options()).unwrap();
    let expected: Vec<(String, u64)> = [
        ("aesthetic: not finite", 2),
        ("height: negative", 1),
        ("height: not an integer", 1),
        ("width: negative", 1),
        ("width: out of range", 1),
    ]
    .iter()
    .map(|(r, n)| (r.to_string(), *n))
    .collect();
    assert_eq!(report.nulled_values().into_iter().collect::<Vec<_>>(), expected);
    let dataset = Dataset::open(&ds).unwrap();
    assert_eq!(dataset.manifest().sources[0].nulled_values.clone().into_iter().collect::<Vec<_>>(), expected);

    let file = File::open(&dataset.data_files()[0]).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().next().unwrap().unwrap();
    let ints = |name: &str| {
        let column = batch.column_by_name(name).unwrap().as_primitive::<Int32Type>();
        (0..column.len()).map(|i| column.is_valid(i).then(|| column.value(i))).collect::<Vec<_>>()
    };
    assert_eq!(ints("width"), [Some(640), None, None, None]);
    assert_eq!(ints("height"), [Some(480), None, None, None]);
    let aesthetic = batch.column_by_name("aesthetic").unwrap().as_primitive::<Float64Type>();
    assert_eq!(aesthetic.iter().collect::<Vec<_>>(), [Some(5.0), None, None, None]);
}

#[test]
fn strict_refuses_the_first_value_ingest_would_null() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.parquet");
    hostile_values(&file);
    let ds = dir.path().join("ds");
    let err =
        ingest_within(&ds, &[file.display().to_string()], IngestOptions { strict: true, ..options() }).unwrap_err();
    let IngestError::BadInput(bad) = err else { panic!("not a bad input: {err}") };
    assert_eq!((bad.row, bad.column.as_deref()), (Some(1), Some("width")), "{bad}");
    assert!(bad.reason.contains("4611686018427387904 is out of range"), "{bad}");
    assert!(!ds.join("CURRENT").exists(), "nothing is committed");

    // A clean file passes --strict.
    let clean = dir.path().join("clean.parquet");
    pairs(&clean, 2, vec![("width".into(), Arc::new(Int64Array::from(vec![Some(1), None])))]);
    let report =
        ingest_within(&ds, &[clean.display().to_string()], IngestOptions { strict: true, ..options() }).unwrap();
    assert_eq!(report.rows_added(), 2);
}

#[test]
fn column_names_differing_only_in_case_are_reported_with_their_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.parquet");
    let one = || Arc::new(Int32Array::from(vec![1])) as ArrayRef;
    pairs(
        &file,
        1,
        vec![("Foo".into(), one()), ("foo".into(), one()), ("URL".into(), Arc::new(StringArray::from(vec!["x"])))],
    );
    let ds = dir.path().join("ds");
    ingest_within(&ds, &[file.display().to_string()], options()).unwrap();
    let dataset = Dataset::open(&ds).unwrap();
    let collisions = dataset.manifest().sources[0].case_collisions();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        collisions,
        [vec![pair("Foo", "foo"), pair("foo", "src_foo")], vec![pair("url", "url"), pair("URL", "src_url")]]
    );
}
