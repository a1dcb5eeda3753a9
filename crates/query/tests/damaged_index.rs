//! A block index damaged on disk (bytes overwritten behind valid footers, issue 15) is an
//! error naming the block's index, never a panic out of the engine; a damaged block file is an
//! error naming the file for the calls that read its rows, never fewer rows.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use pairscope_index::IndexError;
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_query::{Engine, Limits, QueryError, SearchRequest, Selection, SortBy};
use pairscope_store::Dataset;

const WORDS: &[&str] = &["red", "green", "blue", "cat", "dog", "house", "tree", "river", "stone", "cloud"];

fn captions(path: &Path, n: usize) {
    let urls: Vec<String> = (0..n).map(|i| format!("https://example.com/{i}.jpg")).collect();
    let captions: Vec<String> = (0..n)
        .map(|i| format!("{} {} {} photo", WORDS[i % 10], WORDS[(i / 10) % 10], WORDS[(i * 7 / 3) % 10]))
        .collect();
    let columns: Vec<(&str, ArrayRef)> =
        vec![("url", Arc::new(StringArray::from(urls))), ("caption", Arc::new(StringArray::from(captions)))];
    pairscope_testkit::write_parquet(path, columns);
}

/// A dataset of one 20,000-row block under `dir`: its directory, opened.
fn one_block_dataset(dir: &Path) -> (PathBuf, Dataset) {
    let file = dir.join("pairs.parquet");
    captions(&file, 20_000);
    let ds = dir.join("ds");
    ingest(&ds, &[file.display().to_string()], &IngestOptions { threads: 1, ..Default::default() }, &NoProgress)
        .unwrap();
    let dataset = Dataset::open(&ds).unwrap();
    (ds, dataset)
}

#[test]
fn a_damaged_block_index_is_an_error_naming_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, dataset) = one_block_dataset(dir.path());
    let index = ds.join(dataset.manifest().sources[0].files[0].index.as_deref().unwrap());
    assert_eq!(pairscope_testkit::damage_index_files(&index, &["idx", "pos"]), 2);

    let engine = Engine::open(dataset).unwrap();
    let selection = Selection { query: Some("\"red green\" blue".into()), ..Default::default() };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.count(&selection, &Limits::default())));
    let Ok(result) = outcome else { panic!("count panicked on a damaged index") };
    match result {
        Err(QueryError::Index(IndexError::Damaged { path, .. })) => assert_eq!(path, index),
        other => panic!("expected a damaged-index error, got {other:?}"),
    }
    let message = engine.count(&selection, &Limits::default()).unwrap_err().to_string();
    assert!(message.contains(&index.display().to_string()) && message.contains("damaged"), "{message}");
}

#[test]
fn a_block_file_is_read_only_for_rows_and_a_damaged_one_is_an_error_never_fewer_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, dataset) = one_block_dataset(dir.path());
    let block = ds.join(&dataset.manifest().sources[0].files[0].path);
    let words = Selection { query: Some("\"red green\" blue".into()), ..Default::default() };
    let expected = Engine::open(dataset.clone()).unwrap().count(&words, &Limits::default()).unwrap();
    assert!(expected > 0);
    std::fs::write(&block, b"not parquet").unwrap();

    // Opening and counting stay on the index: a one-shot count never reads the block file.
    let engine = Engine::open(dataset).unwrap();
    assert_eq!(engine.count(&words, &Limits::default()).unwrap(), expected);

    // What needs the rows fails naming the file: the hits of a page, and a URL glob whose
    // candidates are checked against the URLs (not silently no rows).
    let page = SearchRequest {
        selection: words,
        sort: SortBy::Relevance,
        descending: true,
        limit: 10,
        after: None,
        count_total: true,
    };
    let glob = Selection { url: Some("*example.com/1*".into()), ..Default::default() };
    for error in
        [engine.search(&page, &Limits::default()).unwrap_err(), engine.count(&glob, &Limits::default()).unwrap_err()]
    {
        assert!(error.to_string().contains(&block.display().to_string()), "{error}");
    }
}
