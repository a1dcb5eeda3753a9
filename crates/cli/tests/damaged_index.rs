//! Damaged files and refused values through the binary (issue 15): exit 1 with a message that
//! names what is wrong, never a panic's exit 101; values ingest nulls are shown by `info`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs::File;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::ArrowWriter;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn count_on_a_damaged_index_exits_1_naming_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("synth");
    let (code, _, err) = run(&["synth", "--quiet", "--rows", "20000", "--seed", "3", "--out", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let ds = dir.path().join("ds");
    let (code, _, err) = run(&["ingest", "--quiet", "-d", ds.to_str().unwrap(), src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let dataset = pairscope_store::Dataset::open(&ds).unwrap();
    let index = ds.join(dataset.manifest().sources[0].files[0].index.as_deref().unwrap());
    assert_eq!(pairscope_testkit::damage_index_files(&index, &["idx", "pos"]), 2);
    let (code, _, err) = run(&["count", "-d", ds.to_str().unwrap(), "\"the\" a OR of"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is damaged") && err.contains("index-00000"), "{err}");
}

#[test]
fn strict_refuses_a_negative_size_and_info_shows_what_ingest_nulled() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.parquet");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("url", Arc::new(StringArray::from(vec!["https://example.com/a.jpg"]))),
        ("caption", Arc::new(StringArray::from(vec!["a red house"]))),
        ("width", Arc::new(Int64Array::from(vec![-3]))),
        ("Foo", Arc::new(Int32Array::from(vec![1]))),
        ("foo", Arc::new(Int32Array::from(vec![2]))),
    ];
    let schema =
        Schema::new(columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>());
    let batch = RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(&file).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let ds = dir.path().join("ds");
    let (ds, file) = (ds.to_str().unwrap(), file.to_str().unwrap());
    let (code, _, err) = run(&["ingest", "--quiet", "--strict", "-d", ds, file]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("row 0, column width") && err.contains("-3 is negative"), "{err}");

    let (code, out, err) = run(&["ingest", "--quiet", "-d", ds, file]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("values stored as null, width: negative: 1"), "{out}");
    let (code, out, err) = run(&["info", "-d", ds]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stored as null, width: negative: 1"), "{out}");
    assert!(out.contains("columns differing only in case: Foo→foo, foo→src_foo"), "{out}");
}
