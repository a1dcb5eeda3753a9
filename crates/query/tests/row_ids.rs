//! The row ids the engine returns are the rows' own (the `row_id` column of their block files),
//! both where it computes them (a source that skipped no input row: document n is the row at
//! offset n) and where it must read them (a source whose skipped rows leave gaps).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::Int64Type;
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_query::{Engine, Limits, Selection};
use pairscope_store::Dataset;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// `n` rows; with `gaps`, every seventh row has no URL (ingest skips it).
fn source(path: &Path, n: usize, gaps: bool) {
    let urls: Vec<Option<String>> =
        (0..n).map(|i| (!gaps || i % 7 != 3).then(|| format!("https://example.com/{gaps}/{i}.jpg"))).collect();
    let captions: Vec<String> = (0..n).map(|i| format!("photo {} of a {}", i, ["cat", "dog"][i % 2])).collect();
    let columns: Vec<(&str, ArrayRef)> =
        vec![("url", Arc::new(StringArray::from(urls))), ("caption", Arc::new(StringArray::from(captions)))];
    pairscope_testkit::write_parquet(path, columns);
}

/// Every row id stored in the dataset's block files, and those whose caption has `word`.
fn stored(ds: &Path, dataset: &Dataset, word: &str) -> (BTreeSet<i64>, BTreeSet<i64>) {
    let (mut all, mut with_word) = (BTreeSet::new(), BTreeSet::new());
    for file in dataset.manifest().sources.iter().flat_map(|s| &s.files) {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(ds.join(&file.path)).unwrap()).unwrap();
        for batch in reader.build().unwrap() {
            let batch = batch.unwrap();
            let ids = batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>();
            let captions = batch.column_by_name("caption").unwrap().as_string::<i32>();
            for (id, caption) in ids.iter().zip(captions.iter()) {
                all.insert(id.unwrap());
                if caption.unwrap().split(' ').any(|w| w == word) {
                    with_word.insert(id.unwrap());
                }
            }
        }
    }
    (all, with_word)
}

#[test]
fn row_ids_are_the_stored_ones_with_and_without_skipped_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, gaps) = (dir.path().join("whole.parquet"), dir.path().join("gaps.parquet"));
    source(&whole, 3_000, false);
    source(&gaps, 3_000, true);
    let ds = dir.path().join("ds");
    let inputs = [whole.display().to_string(), gaps.display().to_string()];
    ingest(&ds, &inputs, &IngestOptions { threads: 1, ..Default::default() }, &NoProgress).unwrap();
    let dataset = Dataset::open(&ds).unwrap();
    let skipped: Vec<u64> = dataset.manifest().sources.iter().map(|s| s.input_rows - s.rows).collect();
    assert_eq!(skipped.iter().filter(|&&n| n > 0).count(), 1, "one source with gaps: {skipped:?}");

    let (all, with_dog) = stored(&ds, &dataset, "dog");
    let engine = Engine::open(dataset).unwrap();
    // The same set, or its size and one id only one side has (the sets are thousands long).
    let check = |selection: &Selection, expected: &BTreeSet<i64>| {
        let found: BTreeSet<i64> = engine.row_ids(selection, &Limits::default()).unwrap().into_iter().collect();
        let stray = found.symmetric_difference(expected).next();
        assert!(stray.is_none(), "{selection:?}: {} ids for {} stored, e.g. {stray:?}", found.len(), expected.len());
    };
    check(&Selection::default(), &all);
    check(&Selection { query: Some("dog".into()), ..Default::default() }, &with_dog);
    let filtered = Selection { query: Some("dog".into()), filter: Some("row_id >= 0".into()), ..Default::default() };
    check(&filtered, &with_dog);
}
