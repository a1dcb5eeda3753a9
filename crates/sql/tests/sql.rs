//! `pairscope-sql` end to end through the library, on datasets ingested from synthetic and
//! real captions: results against DuckDB on the same parquet files, the UDFs against the Rust
//! functions they expose, every refusal of the read-only guard, and the limits.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_model::web::{domain_of, host_of};
use pairscope_sql::{Limits, SqlError, SqlSession};
use pairscope_store::Dataset;
use serde_json::Value;

mod common;
use common::synth_dataset;

fn session(dataset: &Dataset) -> SqlSession {
    SqlSession::new(dataset, Limits::default()).unwrap()
}

fn query(session: &SqlSession, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    session.query_blocking(sql)?.collect()
}

/// The rows of a result as JSON values, column by column (nulls as `null`).
fn json_rows(batches: &[RecordBatch]) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for batch in batches {
        let mut buf = Vec::new();
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::JsonArray>(&mut buf);
        writer.write(batch).unwrap();
        writer.finish().unwrap();
        let objects: Vec<serde_json::Map<String, Value>> =
            if batch.num_rows() == 0 { Vec::new() } else { serde_json::from_slice(&buf).unwrap() };
        for object in objects {
            rows.push(batch.schema().fields().iter().map(|f| object[f.name()].clone()).collect());
        }
    }
    rows
}

/// Runs every query in DuckDB over `files` as the view `pairs` (columns missing from a file
/// read as null, as in `pairscope sql`), one JSON list of rows per query.
const DUCKDB_SCRIPT: &str = r#"
import json, math, sys, duckdb
spec = json.load(open(sys.argv[1]))
con = duckdb.connect()
files = ", ".join("'%s'" % f.replace("'", "''") for f in spec["files"])
con.execute("CREATE VIEW pairs AS SELECT * FROM read_parquet([%s], union_by_name = true)" % files)
def plain(v):
    return None if isinstance(v, float) and math.isnan(v) else v
out = []
for sql in spec["queries"]:
    out.append([[plain(v) for v in row] for row in con.execute(sql).fetchall()])
json.dump(out, sys.stdout)
"#;

fn duckdb(python: &Path, dir: &Path, dataset: &Dataset, queries: &[&str]) -> Vec<Vec<Vec<Value>>> {
    let files: Vec<String> = dataset.data_files().iter().map(|f| f.to_str().unwrap().to_string()).collect();
    let spec = dir.join("duckdb-queries.json");
    std::fs::write(&spec, serde_json::json!({ "files": files, "queries": queries }).to_string()).unwrap();
    let output = Command::new(python).args(["-c", DUCKDB_SCRIPT]).arg(&spec).output().unwrap();
    assert!(output.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Equal, with floats equal to 1e-9 relative (sums over a different order of rows).
fn same(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        }
        _ => ours == theirs,
    }
}

fn compare_with_duckdb(dir: &Path, dataset: &Dataset, queries: &[&str]) {
    let Some(python) = pairscope_testkit::duckdb_python() else { return };
    let theirs = duckdb(&python, dir, dataset, queries);
    let session = session(dataset);
    for (sql, theirs) in queries.iter().zip(theirs) {
        let ours = json_rows(&query(&session, sql).unwrap_or_else(|e| panic!("{sql}: {e}")));
        let agree = ours.len() == theirs.len()
            && ours.iter().zip(&theirs).all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)));
        assert!(agree, "{sql}\n ours:   {ours:?}\n DuckDB: {theirs:?}");
        assert!(!ours.is_empty(), "{sql}: no rows, so nothing was compared");
    }
}

/// Queries both engines must answer identically. Every ORDER BY is total, so the row order
/// is part of the answer.
const QUERIES: &[&str] = &[
    "SELECT count(*) AS n FROM pairs",
    "SELECT host, count(*) AS n FROM pairs GROUP BY host ORDER BY n DESC, host LIMIT 20",
    "SELECT domain, count(*) AS n FROM pairs WHERE aesthetic >= 6 GROUP BY domain ORDER BY n DESC, domain LIMIT 10",
    "SELECT count(*) AS n, count(language) AS with_language, count(page_url) AS with_page FROM pairs",
    "SELECT count(*) AS n FROM pairs WHERE NOT (punsafe >= 0.5)",
    "SELECT count(*) AS n FROM pairs WHERE punsafe < 0.1 OR pwatermark IS NULL",
    "SELECT count(*) AS n FROM pairs WHERE width >= 1024 AND height >= 1024 AND similarity > 0.3",
    "SELECT language, count(*) AS n FROM pairs GROUP BY language ORDER BY n DESC, language NULLS FIRST LIMIT 10",
    "SELECT sum(aesthetic) AS s, avg(aesthetic) AS a, min(aesthetic) AS lo, max(aesthetic) AS hi, \
     avg(similarity) AS sim, sum(punsafe) AS unsafe, stddev_samp(pwatermark) AS sd FROM pairs",
    "SELECT floor(aesthetic) AS bucket, count(*) AS n, avg(punsafe) AS p FROM pairs \
     GROUP BY bucket ORDER BY bucket NULLS FIRST",
    "SELECT row_id, url, caption, width, aesthetic FROM pairs WHERE width > 2000 ORDER BY row_id LIMIT 25",
    "SELECT count(*) AS n, sum(width::BIGINT * height) AS pixels FROM pairs WHERE caption LIKE '%art%'",
    "SELECT count(*) AS n FROM pairs a JOIN pairs b ON a.url = b.url AND a.row_id < b.row_id",
];

#[test]
fn results_match_duckdb_on_synthetic_data() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let extras: HashSet<String> =
        dataset.manifest().sources.iter().flat_map(|s| &s.extra_columns).map(|e| e.name.clone()).collect();
    // An extra column only some sources have is null in the others' rows.
    let partial = dataset
        .manifest()
        .sources
        .iter()
        .flat_map(|s| &s.extra_columns)
        .find(|e| !dataset.manifest().sources.iter().all(|s| s.extra_columns.iter().any(|x| x.name == e.name)))
        .map(|e| e.name.clone())
        .expect("the two synthetic layouts keep different extra columns");
    assert!(extras.contains(&partial));
    let extra_query = format!("SELECT count(*) AS n, count(\"{partial}\") AS present FROM pairs");
    let mut queries = QUERIES.to_vec();
    queries.push(&extra_query);
    compare_with_duckdb(dir.path(), &dataset, &queries);

    let session = session(&dataset);
    let counts = json_rows(&query(&session, &extra_query).unwrap());
    let (all, present) = (counts[0][0].as_u64().unwrap(), counts[0][1].as_u64().unwrap());
    assert!(present > 0 && present < all, "{partial}: {present} of {all} rows");
    assert_eq!(all, dataset.rows());
}

#[test]
fn functions_are_the_rust_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let session = session(&dataset);
    let batches = query(
        &session,
        "SELECT url, host(url) AS h, domain(url) AS d, caption, normalize(caption) AS n, \
         normalize(caption, true) AS f, host, domain FROM pairs ORDER BY row_id",
    )
    .unwrap();
    let mut checked = 0;
    for batch in &batches {
        let text = |i: usize| batch.column(i).as_string::<i32>().clone();
        let (url, h, d, caption, n, f, host, domain) =
            (text(0), text(1), text(2), text(3), text(4), text(5), text(6), text(7));
        for row in 0..batch.num_rows() {
            let expected_host = host_of(url.value(row));
            assert_eq!(h.is_valid(row).then(|| h.value(row).to_string()), expected_host);
            let expected_domain = expected_host.as_deref().and_then(domain_of);
            assert_eq!(d.is_valid(row).then(|| d.value(row).to_string()), expected_domain);
            // What ingest stored, the function recomputes.
            assert_eq!(host.is_valid(row).then(|| host.value(row)), h.is_valid(row).then(|| h.value(row)));
            assert_eq!(domain.is_valid(row).then(|| domain.value(row)), d.is_valid(row).then(|| d.value(row)));
            assert_eq!(n.value(row), pairscope_text::normalize(caption.value(row), false));
            assert_eq!(f.value(row), pairscope_text::normalize(caption.value(row), true));
            checked += 1;
        }
    }
    assert_eq!(checked, dataset.rows());

    let constants = json_rows(
        &query(
            &session,
            "SELECT host('not a url') AS a, host(NULL) AS b, domain('https://x.blogspot.com/p') AS c, \
             normalize('Dr. Seuss™') AS d, normalize('Café', true) AS e, normalize('Café', NULL) AS f, \
             host(arrow_cast('https://A.example.org/', 'Utf8View')) AS g",
        )
        .unwrap(),
    );
    let expect = |v: Option<String>| v.map_or(Value::Null, Value::String);
    assert_eq!(
        constants[0],
        vec![
            expect(host_of("not a url")),
            Value::Null,
            expect(domain_of("x.blogspot.com")),
            expect(Some(pairscope_text::normalize("Dr. Seuss™", false))),
            expect(Some(pairscope_text::normalize("Café", true))),
            Value::Null,
            expect(Some("a.example.org".to_string())),
        ]
    );
    assert!(matches!(query(&session, "SELECT host(width) FROM pairs"), Err(e) if pairscope_model::is_usage(&e)));
}

#[test]
fn refuses_everything_but_queries() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let session = session(&dataset);
    let data_file = dataset.data_files()[0].to_str().unwrap().to_string();
    let target = dir.path().join("copied.parquet");
    let refused = [
        "CREATE TABLE t AS SELECT 1",
        "CREATE TABLE t (x INT)",
        &format!("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{data_file}'"),
        "CREATE VIEW v AS SELECT * FROM pairs",
        "DROP TABLE pairs",
        &format!("COPY (SELECT * FROM pairs) TO '{}'", target.display()),
        &format!("COPY pairs TO '{}' STORED AS PARQUET", target.display()),
        "INSERT INTO pairs SELECT * FROM pairs",
        "DELETE FROM pairs",
        "SET datafusion.execution.batch_size = 1",
        "EXPLAIN CREATE TABLE t AS SELECT 1",
        "PREPARE q AS SELECT * FROM pairs",
    ];
    for sql in refused {
        match query(&session, sql) {
            Err(SqlError::Refused(message)) => assert!(message.message().contains("read-only"), "{sql}: {message}"),
            other => panic!("{sql}: expected a refusal, got {:?}", other.map(|b| b.len())),
        }
    }
    assert!(!target.exists(), "a refused COPY wrote {}", target.display());

    let invalid = [
        format!("SELECT * FROM '{data_file}'"),
        format!("SELECT count(*) FROM read_parquet('{data_file}')"),
        "SELEC 1".to_string(),
        "SELECT nope FROM pairs".to_string(),
        "SELECT * FROM other".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        "BEGIN TRANSACTION".to_string(),
    ];
    for sql in &invalid {
        match query(&session, sql) {
            Err(error @ SqlError::Invalid(_)) => assert!(pairscope_model::is_usage(&error)),
            other => panic!("{sql}: expected an invalid-query error, got {:?}", other.map(|b| b.len())),
        }
    }
    let url_table = query(&session, &invalid[0]).unwrap_err().to_string();
    assert!(url_table.contains("the one table is `pairs`"), "{url_table}");

    // Refusals change nothing: the table is still there, whole.
    let n = json_rows(&query(&session, "SELECT count(*) FROM pairs").unwrap());
    assert_eq!(n[0][0].as_u64(), Some(dataset.rows()));
    // Metadata queries are queries.
    assert!(!query(&session, "SHOW COLUMNS FROM pairs").unwrap().is_empty());
    assert!(!query(&session, "DESCRIBE pairs").unwrap().is_empty());
}

#[test]
fn the_plan_may_read_only_the_versions_files() {
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let allowed: HashSet<_> = dataset
        .data_files()
        .iter()
        .map(|f| datafusion::object_store::path::Path::from_absolute_path(std::path::absolute(f).unwrap()).unwrap())
        .collect();
    // A context that can read any file, as a future DataFusion feature might let a query do.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outside = dir.path().join("laion-aesthetics/part-00000.parquet");
    let plan_of = |path: &Path| {
        runtime.block_on(async {
            let context = SessionContext::new();
            context.register_parquet("t", path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
            context.sql("SELECT * FROM t LIMIT 1").await.unwrap().create_physical_plan().await.unwrap()
        })
    };
    let refused = pairscope_sql::guard::check_physical_plan(&plan_of(&outside), &allowed);
    assert!(matches!(&refused, Err(SqlError::Refused(m)) if m.message().contains("not a data file")), "{refused:?}");
    pairscope_sql::guard::check_physical_plan(&plan_of(&dataset.data_files()[0]), &allowed).unwrap();
}

#[test]
fn a_query_past_its_time_limit_stops() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let limits = Limits { timeout: Some(Duration::from_millis(300)), ..Limits::default() };
    let session = SqlSession::new(&dataset, limits).unwrap();
    // 225 million caption comparisons: far longer than the limit.
    let slow = "SELECT count(*) FROM pairs a, pairs b WHERE a.caption < b.caption";
    let started = Instant::now();
    let result = query(&session, slow);
    let elapsed = started.elapsed();
    match result {
        Err(error @ SqlError::Timeout(_)) => {
            assert!(!pairscope_model::is_usage(&error));
            assert!(error.to_string().contains("--timeout"), "{error}");
        }
        other => panic!("expected a timeout, got {:?}", other.map(|b| b.len())),
    }
    assert!(elapsed < Duration::from_secs(5), "stopped only after {elapsed:?}");
    // The same session answers the next query.
    assert_eq!(json_rows(&query(&session, "SELECT count(*) FROM pairs").unwrap())[0][0].as_u64(), Some(dataset.rows()));
}

#[test]
fn memory_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let sorted = "SELECT row_id FROM pairs ORDER BY caption, row_id";
    let unlimited = json_rows(&query(&session(&dataset), sorted).unwrap());
    assert_eq!(unlimited.len() as u64, dataset.rows());
    let small = SqlSession::new(&dataset, Limits { memory_limit: 64 << 20, ..Limits::default() }).unwrap();
    assert_eq!(json_rows(&query(&small, sorted).unwrap()), unlimited);
    // A hash join's build side cannot spill: past the pool it stops with a clear error.
    let tiny = SqlSession::new(&dataset, Limits { memory_limit: 64 << 10, ..Limits::default() }).unwrap();
    match query(&tiny, "SELECT count(*) FROM pairs a JOIN pairs b ON a.caption = b.caption") {
        Err(error @ SqlError::Memory { .. }) => assert!(error.to_string().contains("--memory-limit"), "{error}"),
        other => panic!("expected a memory error, got {:?}", other.map(|b| b.len())),
    }
}

#[test]
fn real_captions_match_duckdb() {
    let Some(sample) = pairscope_testkit::shared_data("captions/cc-captions-1000.parquet") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ds");
    ingest(&root, &[sample.to_str().unwrap().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
    let dataset = Dataset::open(&root).unwrap();
    compare_with_duckdb(
        dir.path(),
        &dataset,
        &[
            "SELECT count(*) AS n FROM pairs",
            "SELECT host, count(*) AS n FROM pairs GROUP BY host ORDER BY n DESC, host LIMIT 10",
            "SELECT count(*) AS n FROM pairs WHERE caption ILIKE '%the%'",
            "SELECT row_id, caption FROM pairs ORDER BY length(caption) DESC, row_id LIMIT 5",
        ],
    );
    let session = session(&dataset);
    let mismatches = json_rows(
        &query(
            &session,
            "SELECT count(*) FROM pairs WHERE (host(url) IS DISTINCT FROM host) OR (domain(url) IS DISTINCT FROM domain)",
        )
        .unwrap(),
    );
    assert_eq!(mismatches[0][0].as_u64(), Some(0));
    for batch in query(&session, "SELECT caption, normalize(caption) FROM pairs").unwrap() {
        let (caption, normalized) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for row in 0..batch.num_rows() {
            assert_eq!(normalized.value(row), pairscope_text::normalize(caption.value(row), false));
        }
    }
}
