//! `pairscope-subset` end to end on synthetic datasets: every preset's and filter's rows, the
//! removal lists and dedup against DuckDB over the same parquet files; determinism across
//! thread counts; sampling; diff against a subset of itself; atomic replacement.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use md5::Digest;
use pairscope_export::ExportFormat;
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_lists::{ListKind, RemovalLists};
use pairscope_model::NoProgress;
use pairscope_store::Dataset;
use pairscope_subset::{
    DedupKey, DiffKey, DiffRequest, PRESETS, SampleSpec, SubsetError, SubsetManifest, SubsetRequest, diff, run_subset,
};
use pairscope_synth::{SynthOptions, SynthSchema, generate};

/// A dataset of three sources (so several blocks, whose row-id ranges interleave with the
/// sources' order): LAION-5B-like rows with a language, and LAION-Aesthetics-like rows
/// ingested with `--set language=en`.
fn synth_dataset(dir: &Path) -> Dataset {
    let mut paths = Vec::new();
    for (schema, rows, seed) in
        [(SynthSchema::Laion5b, 8_000, 3), (SynthSchema::Laion5b, 6_000, 4), (SynthSchema::LaionAesthetics, 9_000, 5)]
    {
        let out = dir.join(format!("{}-{seed}", schema.name()));
        let options = SynthOptions { rows_per_shard: 9_000, threads: 2, ..SynthOptions::new(rows, seed, schema) };
        generate(&options, &out, &|_| {}).unwrap();
        paths.push((schema, out));
    }
    let root = dir.join("ds");
    for (schema, path) in &paths {
        let mut options = IngestOptions { threads: 2, ..Default::default() };
        if *schema == SynthSchema::LaionAesthetics {
            options.constants.insert("language".into(), "en".into());
        }
        ingest(&root, &[path.to_str().unwrap().to_string()], &options, &NoProgress).unwrap();
    }
    Dataset::open(&root).unwrap()
}

fn request(out: PathBuf) -> SubsetRequest {
    SubsetRequest {
        preset: None,
        filter: None,
        query: None,
        url: None,
        fold_accents: false,
        lists: RemovalLists::default(),
        dedup: None,
        sample: None,
        format: ExportFormat::Parquet,
        out,
        memory_limit: 256 << 20,
        threads: 2,
        shard_rows: 5_000,
    }
}

/// The row ids of a parquet subset, in file order, checking the manifest's per-file counts.
fn output_row_ids(dir: &Path) -> Vec<i64> {
    let manifest = SubsetManifest::read(dir).unwrap();
    let mut ids = Vec::new();
    for file in &manifest.files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(dir.join(&file.path)).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let before = ids.len();
        for batch in reader {
            let batch: RecordBatch = batch.unwrap();
            ids.extend(batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>().values().iter());
        }
        assert_eq!((ids.len() - before) as u64, file.rows, "{}", file.path);
    }
    ids
}

const DUCKDB_SCRIPT: &str = r#"
import json, sys, duckdb
spec = json.load(open(sys.argv[1]))
con = duckdb.connect()
files = ", ".join("'" + f.replace("'", "''") + "'" for f in spec["files"])
con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet([{files}], union_by_name=true)")
for name, values in spec.get("tables", {}).items():
    con.execute(f"CREATE TABLE {name} (e VARCHAR)")
    con.executemany(f"INSERT INTO {name} VALUES (?)", [[v] for v in values])
out = []
for q in spec["queries"]:
    out.append([r[0] for r in con.execute(q).fetchall()])
json.dump(out, sys.stdout)
"#;

/// Each query's first column, as run by DuckDB over the dataset's data files as `t`, with
/// `tables` as one-column tables `(e)`.
fn duckdb(python: &Path, dataset: &Dataset, tables: &[(&str, Vec<String>)], queries: &[String]) -> Vec<Vec<i64>> {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    let files: Vec<String> = dataset.data_files().iter().map(|f| f.to_str().unwrap().to_string()).collect();
    let tables: serde_json::Map<String, serde_json::Value> =
        tables.iter().map(|(name, values)| (name.to_string(), serde_json::json!(values))).collect();
    std::fs::write(&spec, serde_json::json!({ "files": files, "tables": tables, "queries": queries }).to_string())
        .unwrap();
    let output = Command::new(python).args(["-c", DUCKDB_SCRIPT]).arg(&spec).output().unwrap();
    assert!(output.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn presets_and_filters_keep_exactly_duckdbs_rows_in_row_id_order() {
    let Some(python) = pairscope_testkit::duckdb_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let mut cases: Vec<(Option<&str>, Option<&str>)> = PRESETS.iter().map(|p| (Some(p.name), None)).collect();
    cases.extend([
        (None, Some("aesthetic BETWEEN 5 AND 6.5 AND NOT (punsafe >= 0.2)")),
        (None, Some("width >= 800 OR height IS NULL")),
        (Some("laion-aesthetics-v2-5"), Some("domain IN ('pinimg.com', 'wordpress.com')")),
        (None, Some("language IN ('de', 'fr') AND similarity > 0.3")),
    ]);
    let mut ours = Vec::new();
    let mut sqls = Vec::new();
    for (i, (preset, filter)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        let mut req = request(out.clone());
        req.preset = preset.map(str::to_string);
        req.filter = filter.map(str::to_string);
        let manifest = run_subset(&dataset, &req).unwrap_or_else(|e| panic!("{preset:?} {filter:?}: {e}"));
        let ids = output_row_ids(&out);
        assert!(ids.is_sorted(), "{preset:?} {filter:?}: rows not in row_id order");
        assert_eq!(manifest.rows.out, ids.len() as u64);
        assert_eq!(manifest.rows.r#in - manifest.removed.total(), manifest.rows.out);
        sqls.push(format!("SELECT row_id FROM t WHERE {} ORDER BY row_id", manifest.filter.sql.clone().unwrap()));
        ours.push(ids);
    }
    let theirs = duckdb(&python, &dataset, &[], &sqls);
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(ours[i], theirs[i], "{case:?}: {}", sqls[i]);
    }
    // The comparison means something only if the subsets are neither empty nor everything.
    let splitting = ours.iter().filter(|ids| !ids.is_empty() && (ids.len() as u64) < dataset.rows()).count();
    assert!(splitting * 3 > cases.len() * 2, "only {splitting} of {} cases split the rows", cases.len());
    assert!(ours.iter().any(|ids| ids.len() > 5_000), "some case spans several shards");
}

#[test]
fn removal_lists_remove_exactly_the_listed_rows_and_dedup_keeps_the_lowest_row_id() {
    let Some(python) = pairscope_testkit::duckdb_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    // Lists from the data: a registrable domain (which has subdomains), two hosts, plain and
    // hashed URLs.
    let hosts: Vec<String> =
        sql_strings(&dataset, "SELECT host FROM pairs GROUP BY host ORDER BY count(*) DESC, host LIMIT 3");
    let urls: Vec<String> = sql_strings(
        &dataset,
        &format!(
            "SELECT url FROM pairs WHERE aesthetic >= 4.5 AND domain <> 'pinimg.com' AND host NOT IN ('{}', '{}') ORDER BY row_id LIMIT 30",
            hosts[1], hosts[2]
        ),
    );
    let domains = vec!["pinimg.com".to_string(), hosts[1].clone(), hosts[2].clone(), "no-such-domain.example".into()];
    let (plain, hashed) = urls.split_at(10);
    let mut url_entries: Vec<String> = plain.to_vec();
    url_entries.extend(hashed[..10].iter().map(|u| format!("{:x}", md5::Md5::digest(u.as_bytes()))));
    url_entries.extend(hashed[10..].iter().map(|u| format!("{:X}", sha2::Sha256::digest(u.as_bytes()))));
    let domain_file = dir.path().join("domains.txt");
    std::fs::write(&domain_file, format!("# test list\n{}\n", domains.join("\n"))).unwrap();
    let url_file = dir.path().join("urls.txt");
    std::fs::write(&url_file, url_entries.join("\n")).unwrap();

    let filter = "aesthetic >= 4.5";
    let out = dir.path().join("cleaned");
    let mut req = request(out.clone());
    req.filter = Some(filter.into());
    req.lists.load(ListKind::Domains, &domain_file).unwrap();
    req.lists.load(ListKind::Urls, &url_file).unwrap();
    req.dedup = Some(DedupKey::Url);
    let manifest = run_subset(&dataset, &req).unwrap();
    let ours = output_row_ids(&out);

    let listed_domain = "(t.host = d.e OR t.host LIKE '%.' || d.e)";
    let listed_url =
        "(url IN (SELECT e FROM u) OR md5(url) IN (SELECT lower(e) FROM u) OR upper(sha256(url)) IN (SELECT e FROM u))";
    let kept = format!(
        "SELECT min(row_id) FROM t WHERE aesthetic >= 4.5 AND NOT EXISTS (SELECT 1 FROM d WHERE {listed_domain}) AND NOT {listed_url} GROUP BY url ORDER BY 1"
    );
    let by_domain =
        format!("SELECT count(*) FROM t WHERE aesthetic >= 4.5 AND EXISTS (SELECT 1 FROM d WHERE {listed_domain})");
    let by_url = format!(
        "SELECT count(*) FROM t WHERE aesthetic >= 4.5 AND NOT EXISTS (SELECT 1 FROM d WHERE {listed_domain}) AND {listed_url}"
    );
    let theirs =
        duckdb(&python, &dataset, &[("d", domains.clone()), ("u", url_entries.clone())], &[kept, by_domain, by_url]);
    assert_eq!(ours, theirs[0], "rows kept after lists and dedup");
    assert_eq!(manifest.removed.domain_list, theirs[1][0] as u64);
    assert_eq!(manifest.removed.url_list, theirs[2][0] as u64);
    assert!(manifest.removed.domain_list > 100 && manifest.removed.url_list >= 30, "{:?}", manifest.removed);
    assert!(manifest.removed.dedup > 0, "the synthetic data repeats URLs: {:?}", manifest.removed);
    assert_eq!(manifest.rows.r#in - manifest.removed.total(), manifest.rows.out);
    assert_eq!(manifest.lists.len(), 2);
    assert_eq!(manifest.lists[0].entries, domains.len() as u64);
    assert_eq!(manifest.lists[1].blake3, blake3::hash(&std::fs::read(&url_file).unwrap()).to_hex().to_string());

    // url+caption keeps more rows than url alone (same URL, other caption).
    let out2 = dir.path().join("by-pair");
    let mut req2 = request(out2.clone());
    req2.filter = Some(filter.into());
    req2.dedup = Some(DedupKey::UrlCaption);
    run_subset(&dataset, &req2).unwrap();
    let theirs = duckdb(
        &python,
        &dataset,
        &[],
        &["SELECT min(row_id) FROM t WHERE aesthetic >= 4.5 GROUP BY url, caption ORDER BY 1".to_string()],
    );
    assert_eq!(output_row_ids(&out2), theirs[0]);
}

fn sql_strings(dataset: &Dataset, sql: &str) -> Vec<String> {
    let session = pairscope_sql::SqlSession::new(dataset, pairscope_sql::Limits::default()).unwrap();
    let mut values = Vec::new();
    for batch in session.query_blocking(sql).unwrap() {
        let batch = batch.unwrap();
        let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        values.extend(column.as_string::<i32>().iter().map(|v| v.unwrap().to_string()));
    }
    values
}

#[test]
fn the_same_inputs_give_byte_identical_files_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let mut manifests = Vec::new();
    for threads in [1, 2, 3] {
        let out = dir.path().join(format!("t{threads}"));
        let mut req = request(out.clone());
        req.filter = Some("aesthetic >= 4".into());
        req.dedup = Some(DedupKey::UrlCaption);
        req.sample = Some(SampleSpec { rows: 3_000, seed: 11 });
        req.threads = threads;
        req.shard_rows = 1_000;
        manifests.push((run_subset(&dataset, &req).unwrap(), out));
    }
    let (first, first_dir) = &manifests[0];
    assert_eq!(first.rows.out, 3_000);
    assert!(first.removed.sample > 1_000, "{:?}", first.removed);
    assert_eq!(first.files.len(), 3);
    for (manifest, out) in &manifests[1..] {
        assert_eq!(manifest, first, "the manifest holds no run-specific detail");
        for file in &manifest.files {
            assert_eq!(
                std::fs::read(out.join(&file.path)).unwrap(),
                std::fs::read(first_dir.join(&file.path)).unwrap()
            );
        }
    }
    // Another seed, another sample of the same size, from the same rows.
    let out = dir.path().join("seed12");
    let mut req = request(out.clone());
    req.filter = Some("aesthetic >= 4".into());
    req.dedup = Some(DedupKey::UrlCaption);
    req.sample = Some(SampleSpec { rows: 3_000, seed: 12 });
    run_subset(&dataset, &req).unwrap();
    let (a, b): (BTreeSet<i64>, BTreeSet<i64>) =
        (output_row_ids(first_dir).into_iter().collect(), output_row_ids(&out).into_iter().collect());
    assert_eq!(b.len(), 3_000);
    assert_ne!(a, b);
    let all = dir.path().join("all");
    let mut req = request(all.clone());
    req.filter = Some("aesthetic >= 4".into());
    req.dedup = Some(DedupKey::UrlCaption);
    run_subset(&dataset, &req).unwrap();
    let everything: BTreeSet<i64> = output_row_ids(&all).into_iter().collect();
    assert!(a.is_subset(&everything) && b.is_subset(&everything));
}

#[test]
fn diff_against_a_subset_of_itself_reports_exactly_the_removed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let domain_file = dir.path().join("domains.txt");
    std::fs::write(&domain_file, "pinimg.com\nwordpress.com\n").unwrap();
    let out = dir.path().join("cleaned");
    let mut req = request(out.clone());
    req.lists.load(ListKind::Domains, &domain_file).unwrap();
    let manifest = run_subset(&dataset, &req).unwrap();
    assert!(manifest.removed.domain_list > 0);
    for key in [DiffKey::Row, DiffKey::UrlCaption] {
        let report = diff(&DiffRequest {
            a: dataset.root().to_path_buf(),
            b: out.clone(),
            key,
            by_domain: true,
            top: None,
            memory_limit: 256 << 20,
        })
        .unwrap();
        assert_eq!(report.only_b, 0, "{key:?}");
        if key == DiffKey::Row {
            assert_eq!(report.only_a, manifest.removed.domain_list);
            assert_eq!(report.both, manifest.rows.out);
            let removed_domains: BTreeSet<_> =
                report.by_domain.iter().filter(|d| d.only_a > 0).filter_map(|d| d.domain.clone()).collect();
            assert_eq!(removed_domains, BTreeSet::from(["pinimg.com".to_string(), "wordpress.com".to_string()]));
        } else {
            // A (url, caption) that also occurs under a kept domain is not "only in A".
            assert!(report.only_a <= manifest.removed.domain_list && report.only_a > 0);
        }
        let sum: u64 = report.by_domain.iter().map(|d| d.only_a + d.both).sum();
        assert_eq!(sum, dataset.rows());
    }
}

#[test]
fn a_failed_run_leaves_the_previous_subset_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let out = dir.path().join("sub");
    let mut req = request(out.clone());
    req.filter = Some("aesthetic >= 6".into());
    let first = run_subset(&dataset, &req).unwrap();
    // A second run that fails after its staging directory exists.
    req.filter = Some("aesthetic >= 5".into());
    req.preset = Some("laion-art".into());
    req.query = Some("\"unbalanced".into());
    assert!(run_subset(&dataset, &req).is_err());
    assert_eq!(SubsetManifest::read(&out).unwrap(), first);
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with(".sub.")), "left behind: {names:?}");
    // A directory that is not a subset is never replaced.
    let other = dir.path().join("precious");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let error = run_subset(&dataset, &request(other.clone())).unwrap_err();
    assert!(matches!(error, SubsetError::Usage(_)), "{error}");
    assert_eq!(std::fs::read_to_string(other.join("notes.txt")).unwrap(), "mine");
}

/// 2,000 LAION-Aesthetics-like rows (no language column), ingested as they are.
fn aesthetics_dataset(dir: &Path) -> Dataset {
    let synth = dir.join("synth");
    generate(
        &SynthOptions { threads: 2, ..SynthOptions::new(2_000, 9, SynthSchema::LaionAesthetics) },
        &synth,
        &|_| {},
    )
    .unwrap();
    let root = dir.join("ds");
    let options = IngestOptions { threads: 2, ..Default::default() };
    ingest(&root, &[synth.to_str().unwrap().to_string()], &options, &NoProgress).unwrap();
    Dataset::open(&root).unwrap()
}

#[test]
fn a_preset_needing_a_column_that_is_all_null_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = aesthetics_dataset(dir.path());
    let mut req = request(dir.path().join("out"));
    req.preset = Some("laion-aesthetics-v2-6".into());
    let error = run_subset(&dataset, &req).unwrap_err();
    assert!(pairscope_model::is_usage(&error) && error.to_string().contains("--set language=en"), "{error}");
    assert!(!dir.path().join("out").exists());
    // Presets without language run.
    req.preset = Some("laion-art".into());
    run_subset(&dataset, &req).unwrap();
}

#[test]
fn a_where_just_under_the_length_limit_combines_with_a_preset_and_one_over_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = aesthetics_dataset(dir.path());
    let filler = |bytes: usize| format!("url <> '{}'", "x".repeat(bytes - "url <> ''".len()));
    let mut req = request(dir.path().join("out"));
    req.preset = Some("laion-art".into());
    // Within the limit alone; the preset's definition and the AND make the joined text longer.
    req.filter = Some(filler(pairscope_expr::MAX_EXPR_BYTES));
    let manifest = run_subset(&dataset, &req).unwrap();
    let expr = manifest.filter.expr.unwrap();
    assert!(expr.len() > pairscope_expr::MAX_EXPR_BYTES && expr.contains(" and url != 'xxx"), "{}", &expr[..80]);
    // One byte over: refused, naming --where, not the joined text.
    req.filter = Some(filler(pairscope_expr::MAX_EXPR_BYTES + 1));
    let error = run_subset(&dataset, &req).unwrap_err();
    assert!(
        pairscope_model::is_usage(&error) && error.to_string().starts_with("--where: expression is 65537 bytes long"),
        "{error}"
    );
}

#[test]
fn text_formats_hold_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let parquet = dir.path().join("p");
    let mut req = request(parquet.clone());
    req.filter = Some("aesthetic >= 6".into());
    let expected = run_subset(&dataset, &req).unwrap().rows.out;
    for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
        let out = dir.path().join(format.extension());
        let mut req = request(out.clone());
        req.filter = Some("aesthetic >= 6".into());
        req.format = format;
        let manifest = run_subset(&dataset, &req).unwrap();
        let text: String = manifest.files.iter().map(|f| std::fs::read_to_string(out.join(&f.path)).unwrap()).collect();
        let header_lines = if format == ExportFormat::Csv { manifest.files.len() as u64 } else { 0 };
        // Captions may hold newlines inside CSV quotes; JSON lines never do.
        if format == ExportFormat::Jsonl {
            assert_eq!(text.lines().count() as u64, expected);
            let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert!(first["row_id"].is_i64() && first["url"].is_string());
        } else {
            assert!(text.lines().count() as u64 >= expected + header_lines);
            assert!(text.starts_with("row_id,url,caption"));
        }
        assert_eq!(manifest.rows.out, expected);
    }
}

#[test]
fn a_query_keeps_exactly_the_rows_search_finds() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let engine = pairscope_query::Engine::open(dataset.clone()).unwrap();
    let limits = pairscope_query::Limits::default();
    for (query, filter) in
        [("photo", Some("aesthetic >= 5")), ("\"oil painting\" OR poster", None), ("art*", Some("width > 500"))]
    {
        let out = dir.path().join("q");
        let mut req = request(out.clone());
        req.query = Some(query.into());
        req.filter = filter.map(str::to_string);
        let manifest = run_subset(&dataset, &req).unwrap();
        let selection = pairscope_query::Selection {
            query: Some(query.into()),
            filter: filter.map(str::to_string),
            ..Default::default()
        };
        let expected = engine.row_ids(&selection, &limits).unwrap();
        assert!(!expected.is_empty(), "{query}");
        assert_eq!(output_row_ids(&out), expected, "{query} {filter:?}");
        assert!(manifest.removed.query > 0, "{query}: {:?}", manifest.removed);
        assert_eq!(manifest.rows.r#in - manifest.removed.total(), manifest.rows.out);
    }
}

#[test]
fn near_dedup_keeps_the_lowest_row_of_each_near_duplicate_group_among_the_rows_left() {
    use pairscope_ingest::embeddings::EmbeddingOptions;
    use pairscope_query::{DupsRequest, Engine, Limits, Selection};
    use pairscope_synth::embeddings::{ClusteredVectors, write_clip_retrieval};

    // Enough rows that the vector index is built and searched; 96 dimensions, so that only
    // near-copies (a third of the rows) are above the threshold.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let options = SynthOptions {
        rows_per_shard: 11_000,
        threads: 2,
        ..SynthOptions::new(22_000, 8, SynthSchema::LaionAesthetics)
    };
    let summary = generate(&options, &source, &|_| {}).unwrap();
    let dist = ClusteredVectors { dim: 96, clusters: 300, seed: 8, near_copies: 0.3 };
    write_clip_retrieval(&summary.files, &dist, &dir.path().join("emb"), 2, &|_| {}).unwrap();
    let root = dir.path().join("ds");
    ingest(
        &root,
        &[source.to_str().unwrap().to_string()],
        &IngestOptions { threads: 2, ..Default::default() },
        &NoProgress,
    )
    .unwrap();
    let report =
        pairscope_ingest::ingest_embeddings(&root, &dir.path().join("emb"), &EmbeddingOptions::default(), &NoProgress)
            .unwrap();
    assert!(report.indexed.is_some(), "{report:?}");
    let dataset = Dataset::open(&root).unwrap();

    let filter = "aesthetic >= 5";
    let plain = dir.path().join("plain");
    run_subset(&dataset, &SubsetRequest { filter: Some(filter.into()), ..request(plain.clone()) }).unwrap();
    let near = dir.path().join("near");
    let manifest = run_subset(
        &dataset,
        &SubsetRequest { filter: Some(filter.into()), dedup: Some(DedupKey::Near(0.94)), ..request(near.clone()) },
    )
    .unwrap();
    assert_eq!(manifest.dedup, Some(DedupKey::Near(0.94)));

    // The groups `dups` finds among the same rows: all but the first row of each go.
    let groups = Engine::open(dataset.clone())
        .unwrap()
        .near_duplicates(
            &DupsRequest {
                kind: "image".into(),
                threshold: 0.94,
                selection: Selection { filter: Some(filter.into()), ..Selection::default() },
                among: None,
                exact: false,
            },
            &Limits { timeout: std::time::Duration::MAX },
            &|_| {},
        )
        .unwrap();
    let redundant = groups.redundant();
    assert!(redundant.len() > 100, "near-copies among the kept rows: {}", redundant.len());
    let expected: Vec<i64> = output_row_ids(&plain).into_iter().filter(|id| !redundant.contains(*id as u64)).collect();
    let kept = output_row_ids(&near);
    assert_eq!(kept, expected);
    assert_eq!(manifest.removed.dedup, redundant.len());
    for group in &groups.groups {
        assert!(kept.binary_search(&group[0]).is_ok(), "the lowest row of {group:?} is kept");
    }
    assert!("near:2".parse::<DedupKey>().is_err() && "near".parse::<DedupKey>() == Ok(DedupKey::Near(0.94)));
}
