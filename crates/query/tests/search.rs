//! Search, count, facets and get against independent references computed straight from the
//! dataset's parquet rows: `pairscope_text::reference::alias_matches` for text, plain Rust
//! for filters, URL patterns and GROUP BYs. On synthetic data and on the real captions in
//! `../shared/data/captions` (skipped with a notice when absent).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::{NoProgress, RowId};
use pairscope_query::{Engine, Facet, FacetBy, FacetedPage, Limits, QueryError, SearchRequest, Selection, SortBy};
use pairscope_store::Dataset;
use pairscope_synth::{SynthOptions, SynthSchema, generate};
use pairscope_text::reference::{alias_matches, canonical_matches, normalize};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One row as the references see it.
#[derive(Debug, Clone)]
struct Row {
    row_id: i64,
    url: String,
    caption: String,
    host: Option<String>,
    domain: Option<String>,
    aesthetic: Option<f64>,
    punsafe: Option<f64>,
}

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    rows: Vec<Row>,
}

fn read_rows(dataset: &Dataset) -> Vec<Row> {
    let mut rows = Vec::new();
    for path in dataset.data_files() {
        for batch in ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap() {
            let batch: RecordBatch = batch.unwrap();
            let text = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().clone();
            let float = |name: &str| batch.column_by_name(name).unwrap().as_primitive::<Float64Type>().clone();
            let (ids, urls, captions, hosts) = (
                batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>().clone(),
                text("url"),
                text("caption"),
                text("host"),
            );
            let domains = text("domain");
            let (aesthetic, punsafe) = (float("aesthetic"), float("punsafe"));
            for i in 0..batch.num_rows() {
                rows.push(Row {
                    row_id: ids.value(i),
                    url: urls.value(i).to_string(),
                    caption: captions.value(i).to_string(),
                    host: hosts.is_valid(i).then(|| hosts.value(i).to_string()),
                    domain: domains.is_valid(i).then(|| domains.value(i).to_string()),
                    aesthetic: aesthetic.is_valid(i).then(|| aesthetic.value(i)),
                    punsafe: punsafe.is_valid(i).then(|| punsafe.value(i)),
                });
            }
        }
    }
    rows
}

fn fixture_from(files: &[PathBuf]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let inputs: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    ingest(&ds, &inputs, &IngestOptions::default(), &NoProgress).unwrap();
    let dataset = Dataset::open(&ds).unwrap();
    let rows = read_rows(&dataset);
    Fixture { engine: Engine::open(dataset).unwrap(), rows, _dir: dir }
}

/// 30k synthetic rows in two sources of several row groups: several block indexes.
fn synth() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SynthOptions::new(30_000, 7, SynthSchema::LaionAesthetics);
        options.rows_per_shard = 15_000;
        let summary = generate(&options, dir.path(), &|_| {}).unwrap();
        let fixture = fixture_from(&summary.files);
        std::mem::forget(dir);
        fixture
    })
}

fn real() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let path = pairscope_testkit::shared_data("captions/cc-captions-10000.parquet")?;
            Some(fixture_from(&[path]))
        })
        .as_ref()
}

fn limits() -> Limits {
    Limits { timeout: Duration::from_secs(60) }
}

fn count(engine: &Engine, query: &str, fold: bool) -> u64 {
    let selection = Selection { query: Some(query.into()), fold_accents: fold, ..Selection::default() };
    engine.count(&selection, &limits()).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', " "))
}

/// Phrase counts equal the reference's whole-token / substring matching, name by name.
fn check_phrases(fixture: &Fixture, phrases: &[String], fold: bool) {
    let captions: Vec<String> = fixture.rows.iter().map(|r| normalize(&r.caption, fold)).collect();
    for phrase in phrases {
        let alias = normalize(phrase, fold);
        if alias.is_empty() {
            continue;
        }
        let expected = captions.iter().filter(|c| canonical_matches(&alias, c)).count() as u64;
        assert_eq!(count(&fixture.engine, &quoted(phrase), fold), expected, "phrase {phrase:?} (fold {fold})");
    }
}

/// Words and word pairs taken from the captions themselves, plus names and decoys.
fn sample_phrases(rows: &[Row], every: usize) -> Vec<String> {
    let mut phrases: Vec<String> = Vec::new();
    for row in rows.iter().step_by(every) {
        let tokens: Vec<&str> = row.caption.split_whitespace().collect();
        if let Some(first) = tokens.first() {
            phrases.push((*first).to_string());
        }
        if tokens.len() >= 3 {
            phrases.push(format!("{} {}", tokens[1], tokens[2]));
        }
        // A stretch of a substring-script caption, cut anywhere.
        let chars: Vec<char> = row.caption.chars().collect();
        if pairscope_text::has_substring_script(&row.caption) && chars.len() > 4 {
            phrases.push(chars[1..4].iter().collect());
        }
    }
    phrases.sort();
    phrases.dedup();
    phrases
}

#[test]
fn phrase_counts_equal_the_reference_on_synthetic_captions() {
    let fixture = synth();
    let mut phrases = sample_phrases(&fixture.rows, 150);
    phrases.extend(
        [
            "Thomas Kinkade",
            "Kinkadesque",
            "Spider-Man",
            "Mickey Mouse",
            "Dr. Seuss",
            "Albrecht Dürer",
            "葛飾北斎",
            "北斎",
            "北斎 print",
            "Hokusai北斎",
        ]
        .map(String::from),
    );
    assert!(phrases.len() > 100, "{} phrases", phrases.len());
    check_phrases(fixture, &phrases, false);
    check_phrases(fixture, &phrases[..60], true);
}

#[test]
fn phrase_counts_equal_the_reference_on_real_captions() {
    let Some(fixture) = real() else { return };
    let phrases = sample_phrases(&fixture.rows, 40);
    assert!(phrases.len() > 200);
    check_phrases(fixture, &phrases, false);
    check_phrases(fixture, &phrases[..80], true);
}

#[test]
fn boolean_queries_and_prefixes_follow_set_logic() {
    let fixture = synth();
    let has = |row: &Row, word: &str| alias_matches(word, &row.caption, false);
    let rows = &fixture.rows;
    let (a, b) = ("print", "canvas");
    let expect = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    assert_eq!(count(&fixture.engine, &format!("{a} {b}"), false), expect(&|r| has(r, a) && has(r, b)));
    assert_eq!(count(&fixture.engine, &format!("{a} OR {b}"), false), expect(&|r| has(r, a) || has(r, b)));
    assert_eq!(count(&fixture.engine, &format!("{a} -{b}"), false), expect(&|r| has(r, a) && !has(r, b)));
    assert_eq!(count(&fixture.engine, &format!("NOT {a}"), false), expect(&|r| !has(r, a)));
    let starts = |r: &Row, prefix: &str| {
        pairscope_text::tokens(&pairscope_text::normalize(&r.caption, false)).any(|t| t.starts_with(prefix))
    };
    assert_eq!(count(&fixture.engine, "kitch*", false), expect(&|r| starts(r, "kitch")));
    assert!(count(&fixture.engine, "kitch*", false) > 0);
}

fn all_hits(engine: &Engine, request: &SearchRequest) -> Vec<i64> {
    let mut request = request.clone();
    let mut ids = Vec::new();
    let mut total = None;
    loop {
        let page = engine.search(&request, &limits()).unwrap();
        // Every page's total counts every matching row, those before the cursor too.
        assert_eq!(*total.get_or_insert(page.total), page.total, "the total of every page is the same");
        ids.extend(page.hits.iter().map(|h| h.row_id));
        match page.next {
            Some(next) => request.after = Some(next),
            None => return ids,
        }
    }
}

#[test]
fn cursor_pages_cover_every_row_once_in_order() {
    let fixture = synth();
    let selection =
        Selection { query: Some("logo".into()), filter: Some("punsafe < 0.9".into()), ..Selection::default() };
    for (sort, descending) in
        [(by_column("aesthetic"), true), (by_column("aesthetic"), false), (SortBy::Relevance, true)]
    {
        let request =
            SearchRequest { selection: selection.clone(), sort, descending, limit: 37, after: None, count_total: true };
        let paged = all_hits(&fixture.engine, &request);
        let mut expected: Vec<&Row> = fixture
            .rows
            .iter()
            .filter(|r| alias_matches("logo", &r.caption, false) && r.punsafe.is_some_and(|p| p < 0.9))
            .collect();
        assert_eq!(paged.len(), expected.len(), "{sort:?}");
        assert_eq!(paged.iter().collect::<HashSet<_>>().len(), paged.len(), "no row repeats");
        if sort == by_column("aesthetic") {
            expected.sort_by(|x, y| {
                let key = |r: &Row| r.aesthetic.map(|a| if descending { -a } else { a });
                match (key(x), key(y)) {
                    (Some(p), Some(q)) => p.total_cmp(&q),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(x.row_id.cmp(&y.row_id))
            });
            assert_eq!(paged, expected.iter().map(|r| r.row_id).collect::<Vec<_>>(), "{sort:?} desc={descending}");
        }
        let first = fixture.engine.search(&request, &limits()).unwrap();
        assert_eq!(first.total, Some(expected.len() as u64));
        // A hit's text is its row's (read from the block file by position).
        let by_id: std::collections::HashMap<i64, &Row> = fixture.rows.iter().map(|r| (r.row_id, r)).collect();
        assert!(!first.hits.is_empty());
        for hit in &first.hits {
            let row = by_id[&hit.row_id];
            assert_eq!((hit.url.as_str(), hit.caption.as_str()), (row.url.as_str(), row.caption.as_str()));
        }
    }
}

/// Without a total, a page sorted by a column checks phrases only on its best candidates
/// (`Engine::search`'s relaxed first step): every page must be the counted search's page,
/// through every cursor, and the rows those pages cover exactly the reference's.
#[test]
fn pages_without_a_total_are_the_pages_with_one() {
    let fixture = synth();
    let engine = &fixture.engine;
    let queries = [
        "\"canvas print\"",
        // Few rows with both words have them in this order: the first step runs out of
        // candidates and takes more.
        "\"print canvas\"",
        "\"canvas print\" -\"wall art\"",
        "NOT \"canvas print\"",
        "\"canvas print\" OR kitchen",
        "\"zzzz notaword\"",
    ];
    for query in queries {
        let reference: HashSet<i64> = fixture
            .rows
            .iter()
            .filter(|r| {
                let has = |phrase: &str| alias_matches(phrase, &r.caption, false);
                match query {
                    "\"canvas print\"" => has("canvas print"),
                    "\"print canvas\"" => has("print canvas"),
                    "\"canvas print\" -\"wall art\"" => has("canvas print") && !has("wall art"),
                    "NOT \"canvas print\"" => !has("canvas print"),
                    "\"canvas print\" OR kitchen" => has("canvas print") || has("kitchen"),
                    _ => false,
                }
            })
            .map(|r| r.row_id)
            .collect();
        for (sort, descending) in
            [(by_column("aesthetic"), true), (by_column("width"), false), (by_column("punsafe"), true)]
        {
            let selection = Selection { query: Some(query.into()), ..Selection::default() };
            let counted = SearchRequest { selection, sort, descending, limit: 40, after: None, count_total: true };
            let mut uncounted = SearchRequest { count_total: false, ..counted.clone() };
            let mut counted = counted;
            let mut covered = Vec::new();
            loop {
                let with = engine.search(&counted, &limits()).unwrap();
                let without = engine.search(&uncounted, &limits()).unwrap();
                assert_eq!(with.total, Some(reference.len() as u64), "{query} {sort:?}");
                assert_eq!(without.total, None);
                assert_eq!(without.hits, with.hits, "{query} {sort:?} after {:?}", counted.after);
                assert_eq!(without.next, with.next, "{query} {sort:?}");
                covered.extend(with.hits.iter().map(|h| h.row_id));
                match with.next {
                    Some(next) => {
                        counted.after = Some(next.clone());
                        uncounted.after = Some(next);
                    }
                    None => break,
                }
                if covered.len() > 2_000 {
                    break;
                }
            }
            if covered.len() <= 2_000 {
                assert_eq!(covered.iter().copied().collect::<HashSet<_>>(), reference, "{query} {sort:?}");
            }
            assert!(covered.iter().all(|id| reference.contains(id)), "{query} {sort:?}");
        }
    }
}

/// The first pages of phrases sampled from the captions (substring-script stretches too, which
/// the relaxed step takes without reading captions), sorted by a column, are the same with
/// and without a total.
fn check_sorted_pages_without_total(fixture: &Fixture, phrases: &[String]) {
    let mut relaxed = 0;
    for phrase in phrases.iter().filter(|p| p.contains(' ') || pairscope_text::has_substring_script(p)) {
        relaxed += 1;
        let selection = Selection { query: Some(quoted(phrase)), ..Selection::default() };
        let mut counted = SearchRequest {
            selection,
            sort: by_column("aesthetic"),
            descending: true,
            limit: 7,
            after: None,
            count_total: true,
        };
        for _page in 0..2 {
            let with = fixture.engine.search(&counted, &limits()).unwrap();
            let without =
                fixture.engine.search(&SearchRequest { count_total: false, ..counted.clone() }, &limits()).unwrap();
            assert_eq!((&without.hits, &without.next), (&with.hits, &with.next), "{phrase:?}");
            let Some(next) = with.next else { break };
            counted.after = Some(next);
        }
    }
    assert!(relaxed > 20, "{relaxed} phrases to relax");
}

#[test]
fn sorted_pages_of_sampled_phrases_are_the_same_without_a_total() {
    let fixture = synth();
    let mut phrases = sample_phrases(&fixture.rows, 150);
    phrases.extend(["葛飾北斎", "北斎 print", "Hokusai北斎"].map(String::from));
    check_sorted_pages_without_total(fixture, &phrases);
    if let Some(real) = real() {
        check_sorted_pages_without_total(real, &sample_phrases(&real.rows, 40));
    }
}

#[test]
fn filters_url_patterns_and_facets_equal_plain_references() {
    let fixture = synth();
    let engine = &fixture.engine;
    let rows = &fixture.rows;
    let filtered = Selection { filter: Some("aesthetic >= 6 AND NOT (punsafe >= 0.5)".into()), ..Selection::default() };
    let expected =
        rows.iter().filter(|r| r.aesthetic.is_some_and(|a| a >= 6.0) && r.punsafe.is_some_and(|p| p < 0.5)).count();
    assert_eq!(engine.count(&filtered, &limits()).unwrap(), expected as u64);

    // A column the index does not keep goes through the parquet rows.
    let by_page = Selection { filter: Some("page_url IS NULL AND aesthetic >= 6".into()), ..Selection::default() };
    let expected = rows.iter().filter(|r| r.aesthetic.is_some_and(|a| a >= 6.0)).count();
    assert_eq!(engine.count(&by_page, &limits()).unwrap(), expected as u64);

    let host = rows.iter().filter_map(|r| r.host.clone()).max_by_key(|h| h.len()).unwrap();
    let mut patterns =
        vec![format!("https://{host}/"), host.clone(), format!("*{}*", &host[1..host.len() - 1]), "*.JPG".to_string()];
    // Prefixes longer than a URL key (which ends at the second directory), cut anywhere: whole
    // URLs, mid-name, at deeper directories, upper-cased, without the scheme; and globs
    // whose literal part is longer than a key.
    for row in rows.iter().step_by(997).take(30) {
        let url = &row.url;
        let cut = |end: usize| (0..=end).rev().find(|&i| url.is_char_boundary(i)).unwrap_or(0);
        let deep = url.match_indices('/').nth(4).map_or(url.len(), |(i, _)| i + 1);
        patterns.push(url.clone());
        patterns.push(url[..cut(url.len() * 2 / 3)].to_ascii_uppercase());
        patterns.push(url[..deep].to_string());
        if let Some((_, rest)) = url.split_once("://") {
            patterns
                .push(rest[..(0..=rest.len() * 3 / 4).rev().find(|&i| rest.is_char_boundary(i)).unwrap()].to_string());
        }
        patterns.push(format!("{}*{}", &url[..deep], &url[cut(url.len() - 4)..]));
    }
    for pattern in patterns {
        let lowered = pattern.to_ascii_lowercase();
        let matches = |url: &str| {
            let url = url.to_ascii_lowercase();
            if let Some(inner) = lowered.strip_prefix('*').and_then(|p| p.strip_suffix('*')) {
                url.contains(inner)
            } else if let Some(suffix) = lowered.strip_prefix('*') {
                url.ends_with(suffix)
            } else if let Some((head, tail)) = lowered.split_once('*') {
                url.len() >= head.len() + tail.len() && url.starts_with(head) && url.ends_with(tail)
            } else if lowered.contains("://") {
                url.starts_with(&lowered)
            } else {
                url.starts_with(&format!("http://{lowered}"))
                    || url.starts_with(&format!("https://{lowered}"))
                    || url.starts_with(&lowered)
            }
        };
        let expected = rows.iter().filter(|r| matches(&r.url)).count() as u64;
        let selection = Selection { url: Some(pattern.clone()), ..Selection::default() };
        assert_eq!(engine.count(&selection, &limits()).unwrap(), expected, "{pattern}");
    }

    let selection = Selection { query: Some("print".into()), ..Selection::default() };
    let Facet::Terms { values, null, total, distinct, .. } =
        engine.facets(&selection, &FacetBy::Terms { column: "host".into(), top: 10_000 }, &limits()).unwrap()
    else {
        panic!("a term facet")
    };
    let mut group_by: HashMap<Option<String>, u64> = HashMap::new();
    for row in rows.iter().filter(|r| alias_matches("print", &r.caption, false)) {
        *group_by.entry(row.host.clone()).or_insert(0) += 1;
    }
    assert_eq!(null, group_by.get(&None).copied().unwrap_or(0));
    assert_eq!(total, group_by.values().sum::<u64>());
    assert_eq!(distinct as usize, group_by.keys().filter(|k| k.is_some()).count());
    let got: BTreeMap<String, u64> = values.into_iter().map(|t| (t.value, t.rows)).collect();
    let want: BTreeMap<String, u64> = group_by.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
    assert_eq!(got, want);

    let Facet::Histogram { buckets, below, above, null, total, .. } = engine
        .facets(&Selection::default(), &FacetBy::for_column("aesthetic", 0, 20, None).unwrap(), &limits())
        .unwrap()
    else {
        panic!("a histogram")
    };
    assert_eq!(total, rows.len() as u64);
    assert_eq!(null, rows.iter().filter(|r| r.aesthetic.is_none()).count() as u64);
    assert_eq!(
        below + above,
        rows.iter().filter(|r| r.aesthetic.is_some_and(|a| !(0.0..10.0).contains(&a))).count() as u64
    );
    for bucket in buckets {
        let want = rows.iter().filter(|r| r.aesthetic.is_some_and(|a| a >= bucket.lo && a < bucket.hi)).count() as u64;
        assert_eq!(bucket.count, want, "[{}, {})", bucket.lo, bucket.hi);
    }
}

/// `host:` and `domain:` (answered from the fast columns, which have no postings) select the
/// rows whose column equals the value, ASCII-case-insensitively, alone and combined with
/// words and NOT.
#[test]
fn keyword_fields_equal_plain_references() {
    let fixture = synth();
    let rows = &fixture.rows;
    let mut by_host: HashMap<&str, usize> = HashMap::new();
    for host in rows.iter().filter_map(|r| r.host.as_deref()) {
        *by_host.entry(host).or_insert(0) += 1;
    }
    let mut hosts: Vec<(&str, usize)> = by_host.into_iter().collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let (rare, _) = *hosts.last().unwrap();
    let printed = |r: &Row| alias_matches("print", &r.caption, false);
    for &(host, _) in hosts.iter().take(3).chain(std::iter::once(&(rare, 1))) {
        let on_host = |r: &Row| r.host.as_deref() == Some(host);
        let cases: [(String, usize); 3] = [
            (format!("host:{}", host.to_ascii_uppercase()), rows.iter().filter(|r| on_host(r)).count()),
            (format!("print host:{host}"), rows.iter().filter(|r| on_host(r) && printed(r)).count()),
            (format!("print -host:{host}"), rows.iter().filter(|r| !on_host(r) && printed(r)).count()),
        ];
        for (query, want) in cases {
            assert_eq!(count(&fixture.engine, &query, false), want as u64, "{query}");
        }
        let domain = rows.iter().find(|r| on_host(r)).and_then(|r| r.domain.clone()).unwrap();
        let want = rows.iter().filter(|r| r.domain.as_deref() == Some(domain.as_str())).count();
        assert_eq!(count(&fixture.engine, &format!("domain:{domain}"), false), want as u64, "{domain}");
    }
    assert_eq!(count(&fixture.engine, "host:no-such-host.example", false), 0);
}

#[test]
fn rows_are_found_by_id() {
    let fixture = synth();
    for row in fixture.rows.iter().step_by(4_999) {
        let batch = fixture.engine.get(RowId(row.row_id)).unwrap().expect("the row exists");
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>().value(0), row.row_id);
        assert_eq!(batch.column_by_name("caption").unwrap().as_string::<i32>().value(0), row.caption);
    }
    assert!(fixture.engine.get(RowId(12345)).unwrap().is_none());
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let engine = &synth().engine;
    let refuse = |selection: Selection| {
        let error = engine.count(&selection, &limits()).unwrap_err();
        assert!(pairscope_model::is_usage(&error), "{error}");
        error.to_string()
    };
    let query = |q: &str| Selection { query: Some(q.into()), ..Selection::default() };
    assert!(refuse(query("(cat")).contains("never closed"));
    assert!(refuse(query("*")).contains("prefix"));
    assert!(refuse(query("™")).contains("no letters"));
    assert!(refuse(query(&"x".repeat(100_000))).contains("longer than"));
    assert!(refuse(Selection { filter: Some("aesthetic >=".into()), ..Selection::default() }).contains("column"));
    assert!(
        refuse(Selection { filter: Some("no_such_column > 1".into()), ..Selection::default() })
            .contains("no_such_column")
    );

    let request = SearchRequest {
        selection: query("logo"),
        sort: by_column("width"),
        descending: true,
        limit: 5,
        after: None,
        count_total: true,
    };
    let page = engine.search(&request, &limits()).unwrap();
    let next = page.next.expect("more than five logos");
    let stale = next.replacen(&format!("v{}.", engine.version()), &format!("v{}.", engine.version() + 1), 1);
    let error = engine.search(&SearchRequest { after: Some(stale), ..request.clone() }, &limits()).unwrap_err();
    assert!(error.to_string().contains("version"), "{error}");
    let error = engine
        .search(&SearchRequest { after: Some(next), sort: by_column("height"), ..request.clone() }, &limits())
        .unwrap_err();
    assert!(pairscope_model::is_usage(&error));
    assert!(pairscope_model::is_usage(
        &engine.search(&SearchRequest { limit: 100_000, ..request }, &limits()).unwrap_err()
    ));

    let error = engine.count(&Selection::default(), &Limits { timeout: Duration::ZERO }).unwrap_err();
    assert!(matches!(error, QueryError::Deadline { .. }), "{error}");
}

/// Every kind of facet the one-pass page can count.
fn page_facets() -> Vec<FacetBy> {
    vec![
        FacetBy::Terms { column: "host".into(), top: 15 },
        FacetBy::Terms { column: "language".into(), top: 10 },
        FacetBy::Terms { column: "domain".into(), top: 10_000 },
        FacetBy::Terms { column: "optout_noai".into(), top: 1 },
        FacetBy::for_column("aesthetic", 0, 20, None).unwrap(),
        FacetBy::for_column("width", 0, 16, Some((0.0, 1024.0))).unwrap(),
    ]
}

#[test]
fn one_pass_page_and_facets_equal_the_search_and_each_facet_alone() {
    let engine = &synth().engine;
    let selections = [
        Selection::default(),
        Selection { query: Some("print".into()), ..Selection::default() },
        Selection {
            query: Some("\"canvas print\"".into()),
            filter: Some("punsafe < 0.5".into()),
            ..Selection::default()
        },
        Selection { query: Some("zzzznotaword".into()), ..Selection::default() },
        Selection { url: Some("https://".into()), filter: Some("aesthetic >= 6".into()), ..Selection::default() },
    ];
    let facets = page_facets();
    for selection in selections {
        for (sort, descending) in
            [(SortBy::Relevance, true), (by_column("aesthetic"), false), (by_column("width"), true)]
        {
            let mut request = SearchRequest {
                selection: selection.clone(),
                sort,
                descending,
                limit: 25,
                after: None,
                count_total: true,
            };
            for _page in 0..3 {
                let one_pass =
                    engine.search_with_facets(&request, &facets, Duration::from_secs(60), &limits()).unwrap();
                let alone = FacetedPage {
                    page: engine.search(&request, &limits()).unwrap(),
                    facets: facets.iter().map(|by| Some(engine.facets(&selection, by, &limits()).unwrap())).collect(),
                };
                assert_eq!(one_pass, alone, "{selection:?} {sort:?}");
                let Some(next) = one_pass.page.next else { break };
                request.after = Some(next);
            }
        }
    }
}

#[test]
fn term_facets_equal_a_group_by_of_every_keyword_value() {
    let fixture = synth();
    let by = FacetBy::Terms { column: "host".into(), top: 10_000 };
    for query in [None, Some("logo"), Some("cord")] {
        let selection = Selection { query: query.map(String::from), ..Selection::default() };
        let Facet::Terms { values, null, distinct, total, .. } =
            fixture.engine.facets(&selection, &by, &limits()).unwrap()
        else {
            panic!("a term facet")
        };
        let mut group_by: BTreeMap<Option<String>, u64> = BTreeMap::new();
        for row in fixture.rows.iter().filter(|r| query.is_none_or(|q| alias_matches(q, &r.caption, false))) {
            *group_by.entry(row.host.clone()).or_insert(0) += 1;
        }
        assert_eq!(total, group_by.values().sum::<u64>(), "{query:?}");
        assert_eq!(null, group_by.get(&None).copied().unwrap_or(0));
        let mut want: Vec<(String, u64)> = group_by.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
        assert_eq!(distinct, want.len() as u64);
        // Most rows first, ties by value: the order of the list itself.
        want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        want.truncate(10_000);
        let values: Vec<(String, u64)> = values.into_iter().map(|t| (t.value, t.rows)).collect();
        assert_eq!(values, want, "{query:?}");
    }
}

#[test]
fn a_facet_without_time_is_left_out_and_the_page_is_not() {
    let engine = &synth().engine;
    let request = SearchRequest {
        selection: Selection { query: Some("logo".into()), ..Selection::default() },
        sort: by_column("aesthetic"),
        descending: true,
        limit: 10,
        after: None,
        count_total: true,
    };
    let hurried = engine.search_with_facets(&request, &page_facets(), Duration::ZERO, &limits()).unwrap();
    assert!(hurried.facets.iter().all(Option::is_none));
    assert_eq!(hurried.page, engine.search(&request, &limits()).unwrap());
    let bad = [FacetBy::Terms { column: "caption".into(), top: 5 }];
    assert!(pairscope_model::is_usage(
        &engine.search_with_facets(&request, &bad, Duration::from_secs(1), &limits()).unwrap_err()
    ));
}

#[test]
fn hidden_rows_make_another_engine_whose_totals_and_facets_leave_them_out() {
    let fixture = synth();
    let plain = Engine::open(Dataset::open(fixture.engine.dataset().root()).unwrap()).unwrap();
    let again = Engine::open(Dataset::open(fixture.engine.dataset().root()).unwrap()).unwrap();
    assert_ne!(plain.identity(), again.identity(), "every engine has its own identity");
    let selection = Selection { query: Some("print".into()), ..Selection::default() };
    let matching: Vec<&Row> = fixture.rows.iter().filter(|r| alias_matches("print", &r.caption, false)).collect();
    let hidden: roaring::RoaringTreemap = matching.iter().step_by(3).map(|r| r.row_id as u64).collect();
    let identity = plain.identity();
    let hiding = plain.with_hidden_rows(std::sync::Arc::new(hidden.clone()));
    assert_ne!(hiding.identity(), identity, "hiding rows makes another engine");

    let request = SearchRequest {
        selection: selection.clone(),
        sort: SortBy::Relevance,
        descending: true,
        limit: 20,
        after: None,
        count_total: true,
    };
    let by = [FacetBy::Terms { column: "host".into(), top: 10_000 }];
    let page = hiding.search_with_facets(&request, &by, Duration::from_secs(60), &limits()).unwrap();
    let kept: Vec<&&Row> = matching.iter().filter(|r| !hidden.contains(r.row_id as u64)).collect();
    assert_eq!(page.page.total, Some(kept.len() as u64));
    assert!(page.page.hits.iter().all(|h| !hidden.contains(h.row_id as u64)));
    let Some(Facet::Terms { values, null, total, .. }) = &page.facets[0] else { panic!("a term facet") };
    let mut group_by: HashMap<Option<String>, u64> = HashMap::new();
    for row in &kept {
        *group_by.entry(row.host.clone()).or_insert(0) += 1;
    }
    assert_eq!(*total, kept.len() as u64);
    assert_eq!(*null, group_by.get(&None).copied().unwrap_or(0));
    let got: BTreeMap<String, u64> = values.iter().map(|t| (t.value.clone(), t.rows)).collect();
    let want: BTreeMap<String, u64> = group_by.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
    assert_eq!(got, want);
    assert_eq!(again.count(&selection, &limits()).unwrap(), matching.len() as u64, "the other engine hides nothing");
}

/// The order by column `name`.
fn by_column(name: &str) -> SortBy {
    SortBy::parse(name).unwrap_or_else(|| panic!("{name} is not sortable"))
}

#[test]
fn kept_global_ordinals_answer_like_built_ones_and_a_damaged_file_is_rebuilt() {
    let fixture = synth();
    let by = FacetBy::Terms { column: "host".into(), top: 50 };
    let selection = Selection { query: Some("logo".into()), ..Selection::default() };
    let facet = |engine: &Engine| serde_json::to_value(engine.facets(&selection, &by, &limits()).unwrap()).unwrap();
    let root = fixture.engine.dataset().root().to_path_buf();
    let fresh = || Engine::open(Dataset::open(&root).unwrap()).unwrap();
    let want = facet(&fresh());
    let kept = root.join("cache/ordinals").join(format!("v{}-host.ords", fixture.engine.dataset().version()));
    let bytes = std::fs::read(&kept).expect("the first engine keeps its ordinals");
    // Read back by a new engine (the file is whole), then from damaged copies: each is
    // refused, rebuilt, and kept again whole. Replaced by rename, as the cache writes, so an
    // engine of another test that mapped the file keeps its pages.
    assert_eq!(facet(&fresh()), want);
    let damaged_map = {
        let mut b = bytes.clone();
        // A word in the middle (the words start after 56 header bytes).
        let at = 56 + (((b.len() - 56) / 2) & !3);
        b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        b
    };
    let truncated = bytes[..bytes.len() - 4].to_vec();
    let other_segments = {
        let mut b = bytes.clone();
        b[8] ^= 1;
        b
    };
    for damaged in [damaged_map, truncated, other_segments] {
        let temporary = kept.with_extension("damaged");
        std::fs::write(&temporary, &damaged).unwrap();
        std::fs::rename(&temporary, &kept).unwrap();
        assert_eq!(facet(&fresh()), want);
        assert_eq!(std::fs::read(&kept).unwrap(), bytes, "rebuilt and kept again");
    }
}

/// A selection without caption text (a URL pattern, a filter, nothing) ranks its rows alike:
/// a page is found by scanning the blocks in row-id order and stopping once it is full
/// (`Engine::scan_in_row_order`), its total, when asked, known from the index where it can be
/// (`Engine::known_count`: everything, a URL prefix). Through every cursor, its pages and
/// totals must be the full scan's, in row-id order, covering every matching row once.
#[test]
fn pages_of_selections_without_caption_text_are_the_first_rows_in_row_id_order() {
    let fixture = synth();
    let engine = &fixture.engine;
    let mut hosts: HashMap<&str, usize> = HashMap::new();
    for row in &fixture.rows {
        *hosts.entry(row.host.as_deref().unwrap_or("")).or_default() += 1;
    }
    let (top_host, _) = hosts.iter().filter(|(h, _)| !h.is_empty()).max_by_key(|(h, n)| (**n, **h)).unwrap();
    let selections = [
        Selection { url: Some(format!("https://{top_host}/")), ..Selection::default() },
        Selection { url: Some((*top_host).to_string()), filter: Some("aesthetic >= 5".into()), ..Selection::default() },
        Selection { filter: Some("punsafe >= 0.9".into()), ..Selection::default() },
        Selection { url: Some("https://nowhere.invalid/".into()), ..Selection::default() },
        Selection { url: Some((*top_host).to_string()), ..Selection::default() },
        Selection { url: Some(format!("https://{top_host}/*.jpg")), ..Selection::default() },
        Selection::default(),
    ];
    for selection in selections {
        let total = engine.count(&selection, &limits()).unwrap();
        let mut counted = SearchRequest {
            selection: selection.clone(),
            sort: SortBy::Relevance,
            descending: true,
            limit: 37,
            after: None,
            count_total: true,
        };
        let mut uncounted = SearchRequest { count_total: false, ..counted.clone() };
        let mut covered: Vec<i64> = Vec::new();
        loop {
            // The full scan's page: one pass over every match.
            let full = engine.search_with_facets(&counted, &[], Duration::ZERO, &limits()).unwrap().page;
            let with = engine.search(&counted, &limits()).unwrap();
            let without = engine.search(&uncounted, &limits()).unwrap();
            assert_eq!((with.total, full.total), (Some(total), Some(total)), "{selection:?}");
            assert_eq!(with.hits, full.hits, "{selection:?} after {:?}", counted.after);
            assert_eq!(without.hits, full.hits, "{selection:?} after {:?}", counted.after);
            assert_eq!((&without.next, &with.next), (&full.next, &full.next), "{selection:?}");
            covered.extend(without.hits.iter().map(|h| h.row_id));
            let Some(next) = with.next else { break };
            counted.after = Some(next.clone());
            uncounted.after = Some(next);
            if covered.len() > 3_000 {
                break;
            }
        }
        assert!(covered.windows(2).all(|w| w[0] < w[1]), "row-id order, no repeats: {selection:?}");
        if covered.len() <= 3_000 {
            assert_eq!(covered.len() as u64, total, "{selection:?}");
        }
    }
}

/// A page of one word by relevance is found with block-max pruning (`Engine::scan_pruned`),
/// with its total, when asked, from the term's document frequencies (`Engine::known_count`):
/// through every cursor, with and without a total, filters and hidden rows, its pages must be
/// the full scan's pages (same rows, same order, same cursors) and its counts the reference's.
#[test]
fn pruned_relevance_pages_are_the_pages_of_the_full_scan() {
    let fixture = synth();
    let plain = &fixture.engine;
    // Every third row of "print" hidden, as a removal list would.
    let hidden: roaring::RoaringTreemap = fixture
        .rows
        .iter()
        .filter(|r| alias_matches("print", &r.caption, false))
        .step_by(3)
        .map(|r| r.row_id as u64)
        .collect();
    let hiding = Engine::open(Dataset::open(plain.dataset().root()).unwrap())
        .unwrap()
        .with_hidden_rows(std::sync::Arc::new(hidden.clone()));
    // Words from common to rare, a word in no caption, and a two-word query (not pruned) beside;
    // without a filter, with filters on scores (a rare pass and a common one), with hidden rows.
    let cases = [
        (plain, None),
        (plain, Some("aesthetic >= 6 AND punsafe < 0.5")),
        (plain, Some("punsafe < 0.9")),
        (&hiding, None),
        (&hiding, Some("aesthetic >= 5")),
    ];
    for (engine, filter) in cases {
        for (query, limit) in ["logo", "kitchen", "print", "canvas", "cord", "zzzznotaword", "canvas print"]
            .into_iter()
            .flat_map(|q| [1, 7, 50].map(|limit| (q, limit)))
        {
            let selection = Selection {
                query: Some(query.to_string()),
                filter: filter.map(str::to_string),
                ..Selection::default()
            };
            let mut counted = SearchRequest {
                selection,
                sort: SortBy::Relevance,
                descending: true,
                limit,
                after: None,
                count_total: true,
            };
            let mut uncounted = SearchRequest { count_total: false, ..counted.clone() };
            let mut covered = 0u64;
            let total = engine.count(&counted.selection, &limits()).unwrap();
            let expected = fixture
                .rows
                .iter()
                .filter(|r| {
                    query.split(' ').all(|word| alias_matches(word, &r.caption, false))
                        && filter.is_none_or(|f| {
                            let (aesthetic, punsafe) = (r.aesthetic.unwrap_or(f64::NAN), r.punsafe.unwrap_or(f64::NAN));
                            match f {
                                "aesthetic >= 6 AND punsafe < 0.5" => aesthetic >= 6.0 && punsafe < 0.5,
                                "punsafe < 0.9" => punsafe < 0.9,
                                _ => aesthetic >= 5.0,
                            }
                        })
                        && !(std::ptr::eq(engine, &hiding) && hidden.contains(r.row_id as u64))
                })
                .count() as u64;
            assert_eq!(total, expected, "{query} {filter:?}: the count (the term's frequency, or counted)");
            for _ in 0..40 {
                // The full scan's page: one pass over every match, whatever the query.
                let full = engine.search_with_facets(&counted, &[], Duration::ZERO, &limits()).unwrap().page;
                let with = engine.search(&counted, &limits()).unwrap();
                let without = engine.search(&uncounted, &limits()).unwrap();
                assert_eq!(with.total, Some(total), "{query} {filter:?}: the page's total");
                assert_eq!(with.hits, full.hits, "{query} {filter:?} limit {limit} after {:?}", counted.after);
                assert_eq!(without.hits, full.hits, "{query} {filter:?} limit {limit} after {:?}", counted.after);
                assert_eq!((&without.next, &with.next), (&full.next, &full.next), "{query} {filter:?} limit {limit}");
                covered += with.hits.len() as u64;
                let Some(next) = with.next else {
                    assert_eq!(covered, total, "{query} {filter:?} limit {limit}: every row once");
                    break;
                };
                counted.after = Some(next.clone());
                uncounted.after = Some(next);
            }
        }
    }
}

/// A block of several row groups (`pairscope_store::blocks::ROW_GROUP_ROWS` each): rows are
/// read through each group's own offset index, so hits and gets in every group, on both sides
/// of each boundary, and a page whose rows span groups (one read) must be the file's rows.
#[test]
fn rows_of_every_row_group_are_read_by_position() {
    let group = pairscope_store::blocks::ROW_GROUP_ROWS;
    let dir = tempfile::tempdir().unwrap();
    let mut options = SynthOptions::new(2 * group as u64 + 5_000, 13, SynthSchema::LaionAesthetics);
    options.rows_per_shard = options.rows;
    let summary = generate(&options, dir.path(), &|_| {}).unwrap();
    let fixture = fixture_from(&summary.files);
    assert_eq!(fixture.engine.dataset().manifest().sources[0].files.len(), 1, "one block of three groups");
    let position_of: HashMap<i64, usize> = fixture.rows.iter().enumerate().map(|(p, r)| (r.row_id, p)).collect();
    for position in [0, group - 1, group, 2 * group - 1, 2 * group, fixture.rows.len() - 1] {
        let row = &fixture.rows[position];
        let batch = fixture.engine.get(RowId(row.row_id)).unwrap().expect("the row exists");
        assert_eq!(batch.column_by_name("caption").unwrap().as_string::<i32>().value(0), row.caption, "{position}");
        assert_eq!(batch.column_by_name("url").unwrap().as_string::<i32>().value(0), row.url, "{position}");
    }
    let request = SearchRequest {
        selection: Selection { query: Some("kitchen OR logo".into()), ..Selection::default() },
        sort: by_column("aesthetic"),
        descending: true,
        limit: 500,
        after: None,
        count_total: false,
    };
    let page = fixture.engine.search(&request, &limits()).unwrap();
    assert_eq!(page.hits.len(), 500);
    let groups: HashSet<usize> = page.hits.iter().map(|h| position_of[&h.row_id] / group).collect();
    assert_eq!(groups.len(), 3, "the page has rows of every group");
    for hit in &page.hits {
        let row = &fixture.rows[position_of[&hit.row_id]];
        assert_eq!((hit.url.as_str(), hit.caption.as_str()), (row.url.as_str(), row.caption.as_str()));
    }
}
