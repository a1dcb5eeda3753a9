//! `Engine::similar` against exact search, on data large enough that the index is built and
//! used (three blocks, 45,000 clustered 32-dimensional vectors attached by `ingest
//! --embeddings`): recall floors on fixed seeds, fewer than a tenth of the vectors scored per
//! query, every filtered result satisfying its filter, hidden rows never returned.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field};
use pairscope_ingest::embeddings::EmbeddingOptions;
use pairscope_ingest::{IngestOptions, ingest, ingest_embeddings};
use pairscope_model::NoProgress;
use pairscope_query::{Engine, Limits, Selection, SimilarPage, SimilarRequest, SimilarTo};
use pairscope_store::Dataset;
use pairscope_synth::embeddings::ClusteredVectors;
use pairscope_testkit::write_parquet;

const DIM: usize = 32;
const SOURCES: u64 = 3;
const PER_SOURCE: u64 = 15_000;
const DIST: ClusteredVectors = ClusteredVectors { dim: DIM, clusters: 300, seed: 5 };

/// Row `i`'s aesthetic score: spread evenly over 0..10, independent of its cluster.
fn aesthetic(i: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 1000.0
}

/// A dataset of three sources with a vector for every row (by sample_id).
fn dataset(dir: &Path) -> std::path::PathBuf {
    let ds = dir.join("ds");
    let emb = dir.join("emb");
    std::fs::create_dir_all(&emb).unwrap();
    for s in 0..SOURCES {
        let rows: Vec<u64> = (s * PER_SOURCE..(s + 1) * PER_SOURCE).collect();
        let text = |f: &dyn Fn(u64) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(|i| f(*i))))
        };
        let source = dir.join(format!("source-{s}.parquet"));
        write_parquet(
            &source,
            vec![
                ("url", text(&|i| format!("https://h{}.example/{i}.jpg", i % 50))),
                ("caption", text(&|i| format!("picture {i} word{}", i % 7))),
                ("sample_id", text(&|i| format!("s{i}"))),
                ("aesthetic", Arc::new(Float64Array::from_iter_values(rows.iter().map(|i| aesthetic(*i))))),
            ],
        );
        ingest(&ds, &[source.display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
        let values: Vec<f32> = rows.iter().flat_map(|i| DIST.vector(*i)).collect();
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let vectors = FixedSizeListArray::new(item, DIM as i32, Arc::new(Float32Array::from(values)), None);
        write_parquet(
            &emb.join(format!("part-{s}.parquet")),
            vec![
                ("sample_id", text(&|i| format!("s{i}"))),
                ("url", text(&|i| format!("https://h{}.example/{i}.jpg", i % 50))),
                ("caption", text(&|i| format!("picture {i} word{}", i % 7))),
                ("embedding", Arc::new(vectors)),
            ],
        );
    }
    let report = ingest_embeddings(&ds, &emb, &EmbeddingOptions::default(), &NoProgress).unwrap();
    assert_eq!(report.rows_matched, SOURCES * PER_SOURCE, "{report:?}");
    assert_eq!(report.join_key, "sample_id");
    assert!(report.indexed.is_some(), "{report:?}");
    ds
}

fn similar(engine: &Engine, to: SimilarTo, filter: Option<&str>, exact: bool) -> SimilarPage {
    let request = SimilarRequest {
        kind: "image".into(),
        to,
        selection: Selection { filter: filter.map(str::to_string), ..Selection::default() },
        k: 10,
        exact,
    };
    engine.similar(&request, &Limits::default()).unwrap()
}

fn ids(page: &SimilarPage) -> Vec<i64> {
    page.hits.iter().map(|h| h.hit.row_id).collect()
}

#[test]
fn the_index_finds_what_exact_search_finds_scoring_a_small_part_of_the_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let dataset = Dataset::open(&ds).unwrap();
    let set = &dataset.manifest().vector_sets[0];
    let index = set.index.as_ref().unwrap();
    assert_eq!((index.lists.len(), set.files.len()), (3, 3), "lists for every block");
    assert_eq!(index.lists.iter().map(|l| l.rows).sum::<u64>(), SOURCES * PER_SOURCE);
    let engine = Engine::open(dataset).unwrap();
    let total = SOURCES * PER_SOURCE;

    for (filter, floor) in [(None, 0.9), (Some("aesthetic >= 9"), 0.9), (Some("aesthetic >= 9.9"), 0.9)] {
        let (mut found, mut wanted) = (0, 0);
        for q in 0..40u64 {
            let query = DIST.query_near(q * 997 % total, 0.2);
            let exact = similar(&engine, SimilarTo::Vector(query.clone()), filter, true);
            let approximate = similar(&engine, SimilarTo::Vector(query), filter, false);
            assert!(exact.exact && !approximate.exact);
            let truth: HashSet<i64> = ids(&exact).into_iter().collect();
            wanted += truth.len();
            found += ids(&approximate).iter().filter(|id| truth.contains(id)).count();
            if filter.is_none() {
                let scored = approximate.scored_approximately + approximate.scored_exactly;
                assert!(scored * 10 < total, "{scored} of {total} vectors scored");
                assert_eq!(exact.scored_exactly, total);
            }
            for hit in approximate.hits.iter().chain(&exact.hits) {
                let bound = match filter {
                    Some("aesthetic >= 9") => 9.0,
                    Some(_) => 9.9,
                    None => 0.0,
                };
                assert!(hit.hit.aesthetic.unwrap() >= bound, "{filter:?}: {:?}", hit.hit);
            }
            let cosines: Vec<f32> = approximate.hits.iter().map(|h| h.cosine).collect();
            assert!(cosines.windows(2).all(|w| w[0] >= w[1]), "best first: {cosines:?}");
        }
        let recall = found as f64 / wanted as f64;
        eprintln!("{filter:?}: recall@10 {recall:.3}");
        assert!(recall >= floor, "{filter:?}: recall@10 {recall}");
    }
}

#[test]
fn a_row_is_most_similar_to_itself_and_hidden_rows_never_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let engine = Engine::open(Dataset::open(&ds).unwrap()).unwrap();
    let first = similar(&engine, SimilarTo::Vector(DIST.vector(123)), None, true).hits[0].hit.row_id;
    let page = similar(&engine, SimilarTo::Row(first), None, false);
    assert_eq!(page.hits[0].hit.row_id, first);
    assert!((page.hits[0].cosine - 1.0).abs() < 1e-3, "{}", page.hits[0].cosine);

    let hidden: roaring::RoaringTreemap = ids(&page).iter().take(5).map(|id| *id as u64).collect();
    let hiding = Engine::open(Dataset::open(&ds).unwrap()).unwrap().with_hidden_rows(Arc::new(hidden.clone()));
    for exact in [true, false] {
        let page = similar(&hiding, SimilarTo::Vector(DIST.vector(123)), None, exact);
        assert_eq!(page.hits.len(), 10);
        assert!(ids(&page).iter().all(|id| !hidden.contains(*id as u64)), "{:?}", ids(&page));
    }
    let Err(error) = hiding.similar(
        &SimilarRequest {
            kind: "image".into(),
            to: SimilarTo::Row(first),
            selection: Selection::default(),
            k: 10,
            exact: false,
        },
        &Limits::default(),
    ) else {
        panic!("a hidden row's vector is not a query")
    };
    assert!(error.to_string().contains("has no image vector"), "{error}");
    let Err(error) = engine.similar(
        &SimilarRequest {
            kind: "text".into(),
            to: SimilarTo::Row(first),
            selection: Selection::default(),
            k: 10,
            exact: false,
        },
        &Limits::default(),
    ) else {
        panic!("no text vectors")
    };
    assert!(error.to_string().contains("no text vectors"), "{error}");
}
