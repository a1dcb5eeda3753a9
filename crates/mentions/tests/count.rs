//! Mention counts against an independent reference (`pairscope_text::reference`: normalise,
//! then whole-token or substring search, alias by alias), on synthetic data and on the real
//! captions and artist list in `../shared/data` (skipped with a notice when absent); and the
//! drill-down (`Selection::aliases`, what `search --mention` runs) returning exactly the
//! counted rows.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_mentions::{ByColumn, MentionsRequest, count_mentions};
use pairscope_model::NoProgress;
use pairscope_query::{Engine, Limits, Selection};
use pairscope_store::Dataset;
use pairscope_synth::{SynthOptions, SynthSchema, generate};
use pairscope_text::names::NameList;
use pairscope_text::reference::{canonical_matches, normalize};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

struct Row {
    caption: Option<String>,
    host: Option<String>,
    aesthetic: Option<f64>,
}

fn dataset_from(dir: &Path, files: &[PathBuf]) -> Dataset {
    let ds = dir.join("ds");
    let inputs: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    ingest(&ds, &inputs, &IngestOptions::default(), &NoProgress).unwrap();
    Dataset::open(&ds).unwrap()
}

fn synth_dataset(dir: &Path, rows: u64) -> Dataset {
    let mut options = SynthOptions::new(rows, 11, SynthSchema::LaionAesthetics);
    options.rows_per_shard = rows / 2;
    let summary = generate(&options, &dir.join("synth"), &|_| {}).unwrap();
    dataset_from(dir, &summary.files)
}

fn read_rows(dataset: &Dataset) -> Vec<Row> {
    let mut rows = Vec::new();
    for path in dataset.data_files() {
        for batch in ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap() {
            let batch: RecordBatch = batch.unwrap();
            let captions = batch.column_by_name("caption").unwrap().as_string::<i32>().clone();
            let hosts = batch.column_by_name("host").unwrap().as_string::<i32>().clone();
            let aesthetic = batch.column_by_name("aesthetic").unwrap().as_primitive::<Float64Type>().clone();
            for i in 0..batch.num_rows() {
                rows.push(Row {
                    caption: captions.is_valid(i).then(|| captions.value(i).to_string()),
                    host: hosts.is_valid(i).then(|| hosts.value(i).to_string()),
                    aesthetic: aesthetic.is_valid(i).then(|| aesthetic.value(i)),
                });
            }
        }
    }
    rows
}

/// For each entity of `lists` (in order), the rows (indices into `rows`) that mention it,
/// by the reference.
fn reference(lists: &[NameList], rows: &[Row], fold: bool) -> Vec<Vec<usize>> {
    let captions: Vec<String> =
        rows.iter().map(|r| r.caption.as_deref().map(|c| normalize(c, fold)).unwrap_or_default()).collect();
    lists
        .iter()
        .flat_map(|l| &l.entities)
        .map(|entity| {
            let aliases: Vec<String> = entity.aliases.iter().map(|a| normalize(a, fold)).collect();
            (0..rows.len()).filter(|&i| aliases.iter().any(|a| canonical_matches(a, &captions[i]))).collect()
        })
        .collect()
}

fn request(lists: Vec<NameList>) -> MentionsRequest {
    MentionsRequest {
        lists,
        filter: None,
        by: None,
        top: None,
        fold_accents: false,
        timeout: Duration::MAX,
        dedup_near: None,
        scan: false,
    }
}

/// The report's counts in list order, keyed by (list, name).
fn counts_by_entity(report: &pairscope_mentions::MentionsReport) -> HashMap<(String, String), u64> {
    report.entities.iter().map(|e| ((e.list.clone(), e.name.clone()), e.count)).collect()
}

fn check_against_reference(dataset: &Dataset, lists: Vec<NameList>, fold: bool) -> usize {
    let rows = read_rows(dataset);
    let expected = reference(&lists, &rows, fold);
    let mut req = request(lists.clone());
    req.fold_accents = fold;
    let report = count_mentions(dataset, &req, &NoProgress).unwrap();
    assert_eq!(report.rows, rows.len() as u64);
    assert_eq!(report.method, pairscope_mentions::Method::Index);
    let got = counts_by_entity(&report);
    // The scan: the same counts, from reading every caption; and a breakdown both ways.
    req.scan = true;
    let scanned = count_mentions(dataset, &req, &NoProgress).unwrap();
    assert!(matches!(scanned.method, pairscope_mentions::Method::Scan(s) if s.rows_scanned == rows.len() as u64));
    assert_eq!(counts_by_entity(&scanned), got, "index and scan counts differ");
    for by in ["language", "domain"] {
        req.by = ByColumn::parse(by);
        req.top = Some(4);
        let scanned = count_mentions(dataset, &req, &NoProgress).unwrap();
        req.scan = false;
        let indexed = count_mentions(dataset, &req, &NoProgress).unwrap();
        req.scan = true;
        assert_eq!(indexed.method, pairscope_mentions::Method::Index);
        assert!(matches!(scanned.method, pairscope_mentions::Method::Scan(_)));
        assert_eq!(indexed.entities, scanned.entities, "index and scan breakdowns by {by} differ");
        assert!(by == "language" || indexed.entities.iter().any(|e| e.by.len() > 1), "several domains");
    }
    let mut nonzero = 0;
    for (entity, rows) in lists.iter().flat_map(|l| l.entities.iter().map(move |e| (l, e))).zip(&expected) {
        let (list, entity) = entity;
        assert_eq!(
            got[&(list.origin.clone(), entity.name.clone())],
            rows.len() as u64,
            "{} (fold {fold})",
            entity.name
        );
        nonzero += usize::from(!rows.is_empty());
    }
    // Most-mentioned first.
    assert!(report.entities.windows(2).all(|w| w[0].count >= w[1].count));
    nonzero
}

#[test]
fn builtin_lists_equal_the_reference_on_synthetic_data() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path(), 6_000);
    let lists = vec![NameList::load("builtin:artists").unwrap(), NameList::load("builtin:characters").unwrap()];
    let nonzero = check_against_reference(&dataset, lists.clone(), false);
    assert!(nonzero > 50, "synth injects names: {nonzero} entities matched");
    check_against_reference(&dataset, lists, true);
}

#[test]
fn the_5265_artists_equal_the_reference_on_real_captions() {
    let shared = pairscope_testkit::shared_data;
    let (Some(captions), Some(names)) =
        (shared("captions/cc-captions-10000.parquet"), shared("names/artists-5265.txt"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dataset = dataset_from(dir.path(), &[captions]);
    let list = NameList::load(names.to_str().unwrap()).unwrap();
    assert_eq!(list.entities.len(), 5265);
    let nonzero = check_against_reference(&dataset, vec![list], false);
    assert!(nonzero > 0);
}

#[test]
fn filters_breakdowns_and_top_follow_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path(), 6_000);
    let rows = read_rows(&dataset);
    let lists = vec![NameList::load("builtin:characters").unwrap()];
    let expected = reference(&lists, &rows, false);

    let mut req = request(lists.clone());
    req.filter = Some("aesthetic >= 5".into());
    req.by = ByColumn::parse("host");
    req.top = Some(3);
    let report = count_mentions(&dataset, &req, &NoProgress).unwrap();
    let scanned = count_mentions(&dataset, &MentionsRequest { scan: true, ..req.clone() }, &NoProgress).unwrap();
    assert_eq!(report.entities, scanned.entities, "the index's and the scan's breakdowns");
    let kept = |i: usize| rows[i].aesthetic.is_some_and(|a| a >= 5.0);
    assert_eq!(report.rows, (0..rows.len()).filter(|&i| kept(i)).count() as u64);
    let by_name: HashMap<&str, &pairscope_mentions::EntityCount> =
        report.entities.iter().map(|e| (e.name.as_str(), e)).collect();
    assert_eq!(by_name.len(), lists[0].entities.len(), "--top with --by keeps every entity");
    let mut checked = 0;
    for (entity, matched) in lists[0].entities.iter().zip(&expected) {
        let matched: Vec<usize> = matched.iter().copied().filter(|&i| kept(i)).collect();
        let got = by_name[entity.name.as_str()];
        assert_eq!(got.count, matched.len() as u64, "{}", entity.name);
        assert!((got.share - matched.len() as f64 / report.rows as f64).abs() < 1e-12);
        let mut hosts: HashMap<Option<&str>, u64> = HashMap::new();
        for &i in &matched {
            *hosts.entry(rows[i].host.as_deref()).or_default() += 1;
        }
        assert!(got.by.len() <= 3 && got.by.len() == hosts.len().min(3), "{}", entity.name);
        for value in &got.by {
            assert_eq!(hosts[&value.value.as_deref()], value.count, "{} on {:?}", entity.name, value.value);
        }
        assert!(got.by.windows(2).all(|w| w[0].count >= w[1].count));
        checked += usize::from(!matched.is_empty());
    }
    assert!(checked > 10);

    // --top without --by keeps the most-mentioned entities.
    let mut req = request(lists);
    req.top = Some(5);
    let top = count_mentions(&dataset, &req, &NoProgress).unwrap();
    assert_eq!(top.entities.len(), 5);
    let mut all: Vec<u64> = expected.iter().map(|r| r.len() as u64).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(top.entities.iter().map(|e| e.count).collect::<Vec<_>>(), all[..5]);
}

#[test]
fn the_drill_down_returns_exactly_the_counted_captions() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path(), 6_000);
    let lists = vec![NameList::load("builtin:characters").unwrap()];
    let report = count_mentions(&dataset, &request(lists.clone()), &NoProgress).unwrap();
    let engine = Engine::open(dataset).unwrap();
    let limits = Limits::default();
    let mut sampled = 0;
    for (i, counted) in report.entities.iter().enumerate().filter(|(i, e)| e.count > 0 || i % 25 == 0) {
        let selection = Selection { aliases: counted.aliases.clone(), ..Selection::default() };
        assert_eq!(engine.count(&selection, &limits).unwrap(), counted.count, "{} (#{i})", counted.name);
        sampled += 1;
    }
    assert!(sampled > 20, "{sampled}");
}

#[test]
fn ambiguous_names_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path(), 2_000);
    let list = NameList::parse("Link\nStorm | Ororo Munroe\nThomas Kinkade\nHokusai | 葛飾北斎", "t").unwrap();
    let report = count_mentions(&dataset, &request(vec![list]), &NoProgress).unwrap();
    let note = |name: &str| report.entities.iter().find(|e| e.name == name).unwrap().ambiguous.clone();
    assert!(note("Link").is_some_and(|n| n.contains("\"link\"")));
    assert!(note("Storm").is_some_and(|n| n.contains("\"storm\"")));
    assert_eq!(note("Thomas Kinkade"), None);
    assert_eq!(note("Hokusai"), None);
}

#[test]
fn bad_filters_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path(), 200);
    let mut req = request(vec![NameList::load("builtin:characters").unwrap()]);
    req.filter = Some("no_such_column > 1".into());
    let error = count_mentions(&dataset, &req, &NoProgress).unwrap_err();
    assert!(pairscope_model::is_usage(&error), "{error}");
    assert!(error.to_string().contains("no_such_column"), "{error}");
}

#[test]
fn dedup_near_counts_a_name_once_per_group_of_near_duplicate_images() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use pairscope_ingest::embeddings::EmbeddingOptions;
    use pairscope_synth::embeddings::ClusteredVectors;

    // 3,000 rows; rows 0..400 come in pairs with one vector (near-duplicate images), the rest
    // have their own (128 dimensions: no two of them near). Monet is mentioned by rows 0..200
    // (100 pairs) and 1000..1100 (no pairs): 300 captions, 200 images.
    let dir = tempfile::tempdir().unwrap();
    let dist = ClusteredVectors { dim: 128, clusters: 50, seed: 4, near_copies: 0.0 };
    let rows: Vec<u64> = (0..3000).collect();
    let text =
        |f: &dyn Fn(u64) -> String| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(|i| f(*i)))) };
    let caption = |i: u64| {
        if i < 200 || (1000..1100).contains(&i) {
            format!("painting {i} by Claude Monet")
        } else {
            format!("photo {i}")
        }
    };
    let source = dir.path().join("source.parquet");
    pairscope_testkit::write_parquet(
        &source,
        vec![
            ("url", text(&|i| format!("https://example.com/{i}.jpg"))),
            ("caption", text(&caption)),
            ("aesthetic", Arc::new(Float64Array::from_iter_values(rows.iter().map(|i| (i % 2) as f64)))),
        ],
    );
    let root = dir.path().join("ds");
    ingest(&root, &[source.display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
    let values: Vec<f32> = rows.iter().flat_map(|&i| dist.vector(if i < 400 { 10_000 + i / 2 } else { i })).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let vectors = FixedSizeListArray::new(item, 128, Arc::new(Float32Array::from(values)), None);
    std::fs::create_dir_all(dir.path().join("emb")).unwrap();
    pairscope_testkit::write_parquet(
        &dir.path().join("emb/part-0.parquet"),
        vec![
            ("url", text(&|i| format!("https://example.com/{i}.jpg"))),
            ("caption", text(&caption)),
            ("embedding", Arc::new(vectors)),
        ],
    );
    pairscope_ingest::ingest_embeddings(&root, &dir.path().join("emb"), &EmbeddingOptions::default(), &NoProgress)
        .unwrap();
    let list_path = dir.path().join("names.txt");
    std::fs::write(&list_path, "Claude Monet\nVincent van Gogh\n").unwrap();
    let lists = vec![NameList::load(list_path.to_str().unwrap()).unwrap()];
    let dataset = Dataset::open(&root).unwrap();

    let report =
        count_mentions(&dataset, &MentionsRequest { dedup_near: Some(0.94), ..request(lists.clone()) }, &NoProgress)
            .unwrap();
    let monet = report.entities.iter().find(|e| e.name == "Claude Monet").unwrap();
    assert_eq!((monet.count, monet.distinct), (300, Some(200)));
    let gogh = report.entities.iter().find(|e| e.name == "Vincent van Gogh").unwrap();
    assert_eq!((gogh.count, gogh.distinct), (0, Some(0)));
    // Among the rows a filter keeps (odd rows): one row of each pair is left, a group of one.
    let filtered =
        MentionsRequest { filter: Some("aesthetic >= 1".into()), dedup_near: Some(0.94), ..request(lists.clone()) };
    let report = count_mentions(&dataset, &filtered, &NoProgress).unwrap();
    let monet = report.entities.iter().find(|e| e.name == "Claude Monet").unwrap();
    assert_eq!((monet.count, monet.distinct), (150, Some(150)));
    // Without it, no distinct count; with --by, refused.
    let plain = count_mentions(&dataset, &request(lists.clone()), &NoProgress).unwrap();
    assert!(plain.entities.iter().all(|e| e.distinct.is_none()));
    let by = MentionsRequest { by: ByColumn::parse("domain"), dedup_near: Some(0.94), ..request(lists) };
    assert!(matches!(count_mentions(&dataset, &by, &NoProgress), Err(pairscope_mentions::MentionsError::Usage(_))));
}
