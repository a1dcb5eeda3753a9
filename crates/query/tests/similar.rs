//! `Engine::similar` against exact search, on data large enough that the index is built and
//! used (three blocks, 45,000 clustered 32-dimensional vectors attached by `ingest
//! --embeddings`): recall floors on fixed seeds, fewer than a tenth of the vectors scored per
//! query, every filtered result satisfying its filter, hidden rows never returned; and
//! `Engine::near_duplicates` against a brute-force union-find and against its own exact mode.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field};
use pairscope_ingest::embeddings::EmbeddingOptions;
use pairscope_ingest::{IngestOptions, ingest, ingest_embeddings};
use pairscope_model::NoProgress;
use pairscope_model::row_id::RowId;
use pairscope_query::{
    DupsRequest, Engine, Limits, NearDuplicates, Selection, SimilarBatchRequest, SimilarPage, SimilarRequest, SimilarTo,
};
use pairscope_store::Dataset;
use pairscope_synth::embeddings::ClusteredVectors;
use pairscope_testkit::write_parquet;

const DIM: usize = 32;
const SOURCES: u64 = 3;
const PER_SOURCE: u64 = 15_000;
const DIST: ClusteredVectors = ClusteredVectors { dim: DIM, clusters: 300, seed: 5, near_copies: 0.0 };

/// Row `i`'s aesthetic score: spread evenly over 0..10, independent of its cluster.
fn aesthetic(i: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 1000.0
}

/// A dataset of three sources of `per_source` rows with a vector of `dist` for every row (by
/// sample_id).
fn dataset(dir: &Path, dist: &ClusteredVectors, per_source: u64) -> std::path::PathBuf {
    let ds = dir.join("ds");
    let emb = dir.join("emb");
    std::fs::create_dir_all(&emb).unwrap();
    for s in 0..SOURCES {
        let rows: Vec<u64> = (s * per_source..(s + 1) * per_source).collect();
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
        let values: Vec<f32> = rows.iter().flat_map(|i| dist.vector(*i)).collect();
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let vectors = FixedSizeListArray::new(item, dist.dim as i32, Arc::new(Float32Array::from(values)), None);
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
    assert_eq!(report.rows_matched, SOURCES * per_source, "{report:?}");
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
    let ds = dataset(dir.path(), &DIST, PER_SOURCE);
    let dataset = Dataset::open(&ds).unwrap();
    let set = &dataset.manifest().vector_sets[0];
    let index = set.index.as_ref().unwrap();
    assert_eq!((index.lists.len(), set.files.len()), (3, 3), "lists for every block");
    assert_eq!(index.lists.iter().map(|l| l.rows).sum::<u64>(), SOURCES * PER_SOURCE);
    let engine = Engine::open(dataset).unwrap();
    let total = SOURCES * PER_SOURCE;

    // Half the rows kept gathers the kept entries of the probed lists; a tenth and fewer, at
    // this size, score the kept rows (`route`).
    let filters =
        [(None, 0.9), (Some("aesthetic >= 5"), 0.9), (Some("aesthetic >= 9"), 0.9), (Some("aesthetic >= 9.9"), 0.9)];
    for (filter, floor) in filters {
        let (mut found, mut wanted) = (0, 0);
        let queries: Vec<Vec<f32>> = (0..40u64).map(|q| DIST.query_near(q * 997 % total, 0.2)).collect();
        let batch = SimilarBatchRequest {
            kind: "image".into(),
            vectors: queries.clone(),
            selection: Selection { filter: filter.map(str::to_string), ..Selection::default() },
            k: 10,
            exact: false,
        };
        let batch = engine.similar_batch(&batch, &Limits::default()).unwrap();
        assert_eq!(batch.len(), queries.len());
        let mut batch_agrees = 0;
        for (query, in_batch) in queries.into_iter().zip(batch) {
            let exact = similar(&engine, SimilarTo::Vector(query.clone()), filter, true);
            let approximate = similar(&engine, SimilarTo::Vector(query), filter, false);
            // A batch's coarse scores are rounded otherwise than one query's: a list on the edge
            // of the probed ones may differ, seldom.
            batch_agrees += usize::from(in_batch.iter().map(|n| n.row_id).collect::<Vec<_>>() == ids(&approximate));
            for (n, hit) in in_batch.iter().zip(&approximate.hits) {
                assert!(n.row_id != hit.hit.row_id || (n.cosine - hit.cosine).abs() < 1e-6);
            }
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
                let bound = filter.map_or(0.0, |f| f.trim_start_matches("aesthetic >= ").parse().unwrap());
                assert!(hit.hit.aesthetic.unwrap() >= bound, "{filter:?}: {:?}", hit.hit);
            }
            let cosines: Vec<f32> = approximate.hits.iter().map(|h| h.cosine).collect();
            assert!(cosines.windows(2).all(|w| w[0] >= w[1]), "best first: {cosines:?}");
        }
        let recall = found as f64 / wanted as f64;
        eprintln!("{filter:?}: recall@10 {recall:.3}, batch agrees on {batch_agrees} of 40");
        assert!(batch_agrees >= 38, "{filter:?}: the batch agreed on {batch_agrees} of 40 queries");
        assert!(recall >= floor, "{filter:?}: recall@10 {recall}");
    }
}

#[test]
fn a_row_is_most_similar_to_itself_and_hidden_rows_never_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), &DIST, PER_SOURCE);
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

/// Groups of the rows `rows` (indexes of `dist`'s vectors) joined by pairs whose cosine is at
/// least `threshold`: a brute-force union-find, as row-index lists ascending.
fn brute_force_groups(dist: &ClusteredVectors, rows: &[u64], threshold: f32) -> Vec<Vec<u64>> {
    let vectors: Vec<Vec<f32>> = rows.iter().map(|&i| dist.vector(i)).collect();
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for a in 0..rows.len() {
        for b in a + 1..rows.len() {
            let cosine: f32 = vectors[a].iter().zip(&vectors[b]).map(|(x, y)| x * y).sum();
            if cosine >= threshold {
                let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                parent[ra] = rb;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<u64>> = std::collections::BTreeMap::new();
    for (a, &row) in rows.iter().enumerate() {
        let r = root(&mut parent, a);
        groups.entry(r).or_default().push(row);
    }
    groups.into_values().filter(|g| g.len() > 1).collect()
}

/// Each row in a group → its group's number.
fn group_of<T: Copy + Eq + std::hash::Hash>(groups: &[Vec<T>]) -> std::collections::HashMap<T, usize> {
    groups.iter().enumerate().flat_map(|(n, g)| g.iter().map(move |&row| (row, n))).collect()
}

fn dups(engine: &Engine, filter: Option<&str>, exact: bool) -> NearDuplicates {
    let request = DupsRequest {
        kind: "image".into(),
        threshold: 0.94,
        selection: Selection { filter: filter.map(str::to_string), ..Selection::default() },
        among: None,
        exact,
    };
    engine.near_duplicates(&request, &Limits { timeout: std::time::Duration::MAX }, &|_| {}).unwrap()
}

#[test]
fn near_duplicate_groups_are_the_components_of_the_pairs_above_the_threshold() {
    // 96 dimensions: a cluster's rows are far below the threshold (in 32 they are not), its
    // near-copies above.
    let dist = ClusteredVectors { dim: 96, near_copies: 0.3, ..DIST };
    let per_source = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), &dist, per_source);
    let engine = Engine::open(Dataset::open(&ds).unwrap()).unwrap();
    // Row index (the sample's number) of each row id, from the rows themselves.
    let all = engine.row_ids(&Selection::default(), &Limits::default()).unwrap();
    assert_eq!(all.len() as u64, SOURCES * per_source);
    // Each source is one block; a row's offset in it is its index in the source. The first
    // index of a block's source is read from one of its rows.
    let mut first_of_block: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let index_of: std::collections::HashMap<i64, u64> = all
        .iter()
        .map(|&id| {
            let row = RowId(id);
            let first = *first_of_block.entry(row.block_key()).or_insert_with(|| {
                let batch = engine.get(row).unwrap().unwrap();
                let column = arrow::compute::cast(batch.column_by_name("sample_id").unwrap(), &DataType::Utf8).unwrap();
                let sample: u64 = column.as_any().downcast_ref::<StringArray>().unwrap().value(0)[1..].parse().unwrap();
                sample - row.offset_in_block()
            });
            (id, first + row.offset_in_block())
        })
        .collect();

    // Exact, on a selection: the same groups as brute force, up to pairs within float16's
    // error of the threshold (a strict pair always joins; a group never spans loose ones).
    let filter = "aesthetic >= 9";
    let found = dups(&engine, Some(filter), true);
    let kept: Vec<u64> = (0..SOURCES * per_source).filter(|&i| aesthetic(i) >= 9.0).collect();
    assert_eq!(found.rows_searched, kept.len() as u64);
    let as_rows: Vec<Vec<u64>> = found.groups.iter().map(|g| g.iter().map(|id| index_of[id]).collect()).collect();
    assert!(!as_rows.is_empty(), "near-copies make groups");
    let engine_group = group_of(&as_rows);
    for strict in brute_force_groups(&dist, &kept, 0.943) {
        let first = engine_group.get(&strict[0]);
        assert!(first.is_some() && strict.iter().all(|r| engine_group.get(r) == first), "{strict:?} split");
    }
    let loose = group_of(&brute_force_groups(&dist, &kept, 0.937));
    for group in &as_rows {
        assert!(group.iter().all(|r| loose.get(r) == loose.get(&group[0])), "{group:?} joins rows no pair joins");
        assert!(group.iter().all(|&r| aesthetic(r) >= 9.0), "only kept rows");
    }
    let sizes: u64 = found.histogram().iter().map(|h| h.rows).sum();
    assert_eq!(sizes, found.rows_in_groups());
    assert_eq!(found.redundant().len(), found.rows_in_groups() - found.groups.len() as u64);

    // Through the index: every pair it reports was scored exactly, so its groups split the
    // exact ones and never join rows exact search keeps apart; and it finds most of the
    // grouped pairs, scanning a small part of the vectors per row. (Half the rows: exact
    // search compares every pair.)
    let approximate = dups(&engine, Some("aesthetic >= 5"), false);
    let exact = dups(&engine, Some("aesthetic >= 5"), true);
    assert!(!approximate.exact && exact.exact);
    let exact_group = group_of(&exact.groups);
    let approximate_group = group_of(&approximate.groups);
    for group in &approximate.groups {
        assert!(group.iter().all(|r| exact_group.get(r) == exact_group.get(&group[0])), "{group:?}");
    }
    let pairs = |groups: &[Vec<i64>]| groups.iter().map(|g| (g.len() * (g.len() - 1) / 2) as u64).sum::<u64>();
    let found_pairs: u64 = exact
        .groups
        .iter()
        .map(|g| {
            let mut by: std::collections::HashMap<Option<&usize>, u64> = std::collections::HashMap::new();
            for row in g {
                *by.entry(approximate_group.get(row)).or_default() += 1;
            }
            by.iter().filter(|(k, _)| k.is_some()).map(|(_, n)| n * (n - 1) / 2).sum::<u64>()
        })
        .sum();
    let recall = found_pairs as f64 / pairs(&exact.groups) as f64;
    eprintln!(
        "dups: {} groups exact, {} through the index; pair recall {recall:.3}; {} codes scanned per row",
        exact.groups.len(),
        approximate.groups.len(),
        approximate.scored_approximately / approximate.rows_searched
    );
    assert!(recall >= 0.95, "pair recall {recall}");
    assert!(approximate.scored_approximately / approximate.rows_searched * 10 < SOURCES * per_source);
}
