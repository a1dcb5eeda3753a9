//! `pairscope sql` through the binary: output formats, the display limit, exports, and the
//! exit codes of refusals, invalid queries and timeouts. Each test works in its own
//! temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A 5,000-row dataset made by the binary itself.
fn dataset(dir: &Path) -> PathBuf {
    let synth = dir.join("synth");
    let ds = dir.join("ds");
    let (code, _, err) =
        run(&["synth", "-q", "--rows", "5000", "--rows-per-shard", "2000", "--out", synth.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["ingest", "-q", "-d", ds.to_str().unwrap(), synth.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    ds
}

fn sql(ds: &Path, query: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["sql", "-d", ds.to_str().unwrap(), query];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn formats_limits_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());

    let (code, out, err) = sql(&ds, "SELECT count(*) AS n FROM pairs", &["--format", "csv"]);
    assert_eq!((code, out.as_str()), (0, "n\n5000\n"), "{err}");
    let (code, out, _) = sql(&ds, "SELECT count(*) AS n FROM pairs WHERE width < 0", &["--json"]);
    assert_eq!((code, out.trim()), (0, r#"[{"n":0}]"#));
    let (code, out, _) = sql(&ds, "SELECT row_id FROM pairs WHERE false", &["--format", "csv"]);
    assert_eq!((code, out.as_str()), (0, "row_id\n"), "an empty result still has its header");

    // A table shows 1000 rows by default and says there are more.
    let (code, out, err) = sql(&ds, "SELECT row_id FROM pairs ORDER BY row_id", &[]);
    assert_eq!(code, 0, "{err}");
    let data_lines = out.lines().filter(|l| l.starts_with("| ") && !l.contains("row_id")).count();
    assert_eq!(data_lines, 1000);
    assert!(err.contains("more rows than the 1000 shown"), "{err}");
    let (_, out, err) = sql(&ds, "SELECT row_id FROM pairs ORDER BY row_id", &["--limit", "3", "-q"]);
    assert_eq!(out.lines().filter(|l| l.starts_with("| ") && !l.contains("row_id")).count(), 3);
    assert!(err.is_empty(), "-q silences the notice: {err}");
    let (_, _, err) = sql(&ds, "SELECT row_id FROM pairs ORDER BY row_id LIMIT 10", &[]);
    assert!(!err.contains("more rows"), "all 10 rows were shown: {err}");

    // Streamed formats write every row; --limit cuts them.
    let (_, out, _) = sql(&ds, "SELECT row_id, host(url) AS h FROM pairs", &["--format", "jsonl"]);
    assert_eq!(out.lines().count(), 5000);
    let (_, out, _) = sql(&ds, "SELECT row_id FROM pairs", &["--format", "csv", "--limit", "2500"]);
    assert_eq!(out.lines().count(), 2501);

    // --out takes its format from the extension and streams every row.
    let export = dir.path().join("all.parquet");
    let (code, _, err) =
        sql(&ds, "SELECT row_id, caption FROM pairs ORDER BY row_id", &["--out", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&export).unwrap()).unwrap().build().unwrap();
    let ids: Vec<i64> =
        reader.flat_map(|b| b.unwrap().column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(ids.len(), 5000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let (code, _, err) = sql(&ds, "SELECT 1", &["--out", dir.path().join("x.txt").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--format"), "{err}");
}

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let copy_target = dir.path().join("copy.csv");
    for (query, needle) in [
        ("CREATE TABLE t AS SELECT 1", "read-only"),
        ("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "read-only"),
        (&format!("COPY pairs TO '{}'", copy_target.display()), "read-only"),
        ("INSERT INTO pairs SELECT * FROM pairs", "read-only"),
        ("SET datafusion.execution.batch_size = 1", "read-only"),
        ("SELECT * FROM '/etc/passwd'", "the one table is `pairs`"),
        ("SELEC 1", "invalid query"),
        ("SELECT nope FROM pairs", "invalid query"),
    ] {
        let (code, out, err) = sql(&ds, query, &[]);
        assert_eq!(code, 2, "{query}: {err}");
        assert!(out.is_empty() && err.contains(needle), "{query}: {err}");
    }
    assert!(!copy_target.exists());

    let (code, _, err) =
        sql(&ds, "SELECT count(*) FROM pairs a, pairs b, pairs c WHERE a.caption < b.caption", &["--timeout", "0.2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stopped after 0.200 s"), "{err}");

    let export = dir.path().join("slow.csv");
    let (code, _, _) = sql(
        &ds,
        "SELECT a.row_id FROM pairs a, pairs b WHERE a.caption < b.caption",
        &["--timeout", "0.5", "--out", export.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(!export.exists(), "a stopped export leaves no partial file");

    let (code, _, err) = sql(&ds, "SELECT 1", &["--memory-limit", "lots"]);
    assert_eq!(code, 2, "{err}");
}

/// Issue 15: queries that aborted the process or ran past `--timeout` end with exit code 1, a
/// message naming the limit, and within the time limit (with slack for a loaded machine).
#[test]
fn hostile_queries_stay_within_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    for (query, extra, needle) in [
        (
            "SELECT length(repeat(caption, 100000)) FROM pairs LIMIT 100000",
            &["--memory-limit", "100000000"][..],
            "repeat() could return",
        ),
        ("SELECT length(repeat('a', 2000000000))", &["--timeout", "30"][..], "repeat() could return"),
        // A constant repeated for every row of a batch panicked with an offset overflow.
        ("SELECT repeat('a', 100000000) AS x FROM pairs", &["--format", "csv"][..], "constant of"),
        (
            "SELECT max(a.width + b.width + c.width) FROM pairs a, pairs b, pairs c",
            &["--timeout", "1"][..],
            "stopped after 1 s",
        ),
    ] {
        let started = Instant::now();
        let (code, _, err) = sql(&ds, query, extra);
        let elapsed = started.elapsed();
        assert_eq!(code, 1, "{query}: {err}");
        assert!(err.contains(needle), "{query}: {err}");
        assert!(elapsed < Duration::from_secs(6), "{query}: ended only after {elapsed:?}");
    }
}

#[test]
fn help_names_every_limit_and_its_default() {
    let (code, help, _) = run(&["sql", "--help"]);
    assert_eq!(code, 0);
    for text in [
        "--timeout",
        "[default: 30]",
        "--memory-limit",
        "[default: 2GiB]",
        "--limit",
        "default: 1000",
        "--out",
        "--format",
        "host(url)",
    ] {
        assert!(help.contains(text), "sql --help mentions {text}:\n{help}");
    }
    let (_, top, _) = run(&["--help"]);
    assert!(top.contains("sql"), "{top}");
}
