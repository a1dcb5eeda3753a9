//! The limits of a query hold whatever the query does: functions that could return more than
//! the memory limit allows fail with a clear error instead of aborting the process, and
//! operators that produce rows for a long time without polling their input stop at the
//! deadline. Each case is one found by a hostile test of the release binary (issue 15).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use pairscope_sql::{Limits, SqlError, SqlSession};

mod common;
use common::synth_dataset;

fn query(session: &SqlSession, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    session.query_blocking(sql)?.collect()
}

/// The one integer a query returns.
fn single_int(session: &SqlSession, sql: &str) -> i64 {
    let batches = query(session, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batch = batches.iter().find(|b| b.num_rows() > 0).unwrap_or_else(|| panic!("{sql}: no rows"));
    let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Int64).unwrap();
    column.as_primitive::<Int64Type>().value(0)
}

/// Runs `sql` and checks that it fails with a memory error naming `function` (or containing
/// `function`'s text when it is not a name), quickly.
fn assert_capped(session: &SqlSession, sql: &str, function: &str) {
    let function = if function.contains(|c: char| !c.is_alphanumeric() && c != '_') {
        function.to_string()
    } else {
        format!("{function}()")
    };
    let started = Instant::now();
    let result = query(session, sql);
    let elapsed = started.elapsed();
    match result {
        Err(error @ SqlError::Memory { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&function), "{sql}: {message}");
            assert!(message.contains("--memory-limit"), "{sql}: {message}");
        }
        other => panic!("{sql}: expected a memory error, got {:?}", other.map(|b| b.len())),
    }
    assert!(elapsed < Duration::from_secs(5), "{sql}: failed only after {elapsed:?}");
}

#[test]
fn functions_whose_output_outgrows_their_input_fail_past_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    // 100 MB of memory: no call may return more than 25 MB.
    let session = SqlSession::new(&dataset, Limits { memory_limit: 100_000_000, ..Limits::default() }).unwrap();
    for (sql, function) in [
        // The query: 52 GB for one batch, which aborted the process.
        ("SELECT length(repeat(caption, 100000)) FROM pairs LIMIT 100000", "repeat"),
        // A constant, folded while the query is planned.
        ("SELECT length(repeat('a', 1000000000))", "repeat"),
        ("SELECT length(lpad(caption, 100000000)) FROM pairs", "lpad"),
        ("SELECT length(rpad('x', 100000000, 'ab'))", "rpad"),
        // Constants of 3,000 bytes are within what a plan may hold at this limit (3,051), but
        // a function repeats them for every row of a batch (of up to 4,000 rows: a file).
        (
            "SELECT length(concat(repeat('a', 3000), caption, repeat('b', 3000), url, repeat('c', 3000))) FROM pairs",
            "concat",
        ),
        ("SELECT length(concat_ws(repeat('-', 3000), caption, url, host, domain)) FROM pairs", "concat_ws"),
        ("SELECT length(replace(caption, ' ', repeat('b', 3000))) FROM pairs", "replace"),
        ("SELECT length(regexp_replace(caption, 'a', repeat('b', 3000), 'g')) FROM pairs", "regexp_replace"),
        ("SELECT length(overlay(lpad(caption, 5000) PLACING repeat('x', 3000) FROM 2)) FROM pairs", "overlay"),
        ("SELECT length(to_char(to_timestamp(width), repeat('%+', 1500))) FROM pairs", "to_char"),
        ("SELECT length(repeat('a', 3000) || caption || repeat('b', 3000) || repeat('c', 3000)) FROM pairs", "||"),
        // Operators repeat a constant for every row of a batch.
        ("SELECT repeat('a', 10000000) AS x FROM pairs", "constant of"),
        (
            "SELECT max(length(CASE WHEN width > 0 THEN repeat('a', 10000000) ELSE caption END)) FROM pairs",
            "constant of",
        ),
        // In a subquery and in a filter, too.
        (
            "SELECT count(*) FROM pairs WHERE row_id IN (SELECT row_id FROM pairs WHERE repeat(caption, 100000) > 'a')",
            "repeat",
        ),
    ] {
        assert_capped(&session, sql, function);
    }
    // Within the cap the functions are DataFusion's own.
    assert_eq!(single_int(&session, "SELECT length(repeat('ab', 3)) + length(lpad('x', 4, 'yz'))"), 10);
    let captions = single_int(&session, "SELECT sum(length(caption)) FROM pairs");
    assert_eq!(single_int(&session, "SELECT sum(length(repeat(caption, 3))) FROM pairs"), 3 * captions);
    assert_eq!(
        single_int(&session, "SELECT sum(length(concat(caption, '!'))) FROM pairs"),
        captions + dataset.rows() as i64
    );
    assert_eq!(single_int(&session, "SELECT sum(length(caption || '!')) FROM pairs"), captions + dataset.rows() as i64);
    // `||` is null for a null operand, unlike concat.
    let no_language = single_int(&session, "SELECT count(*) FROM pairs WHERE language IS NULL");
    assert!(no_language > 0);
    assert_eq!(single_int(&session, "SELECT count(*) FROM pairs WHERE (language || 'x') IS NULL"), no_language);
    assert_eq!(single_int(&session, "SELECT length('ab' || 'c' || 1)"), 4);
}

#[test]
fn operators_that_never_poll_their_input_stop_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let timeout = Duration::from_secs(1);
    let session = SqlSession::new(&dataset, Limits { timeout: Some(timeout), ..Limits::default() }).unwrap();
    for sql in [
        // A cross join under an aggregation: 3.4e12 rows, produced within one poll of the
        // aggregation's stream.
        "SELECT max(a.width + b.width + c.width) FROM pairs a, pairs b, pairs c",
        // A hash join whose every row matches every row.
        "SELECT count(*) FROM pairs a JOIN pairs b ON a.width * 0 = b.width * 0 JOIN pairs c ON b.width * 0 = c.width * 0",
        // A nested loop join.
        "SELECT count(*) FROM pairs a, pairs b, pairs c WHERE a.width + b.width < c.width + 100000",
    ] {
        let started = Instant::now();
        // The query's runtime shuts down when the results are dropped, after its last task
        // has stopped: the time measured includes stopping everything.
        let result = query(&session, sql);
        let elapsed = started.elapsed();
        match result {
            Err(error @ SqlError::Timeout(_)) => assert!(error.to_string().contains("--timeout"), "{error}"),
            other => panic!("{sql}: expected a timeout, got {:?}", other.map(|b| b.len())),
        }
        // Generous slack for a loaded machine; before the fix these ran for minutes.
        assert!(elapsed < timeout + Duration::from_secs(5), "{sql}: stopped only after {elapsed:?}");
    }
}

#[test]
fn aggregates_of_text_are_held_within_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = synth_dataset(dir.path());
    let session = SqlSession::new(&dataset, Limits { memory_limit: 256 << 10, ..Limits::default() }).unwrap();
    for sql in [
        "SELECT length(string_agg(caption, ' ')) FROM pairs",
        "SELECT array_agg(caption) FROM pairs",
        "SELECT max(length(s)) FROM (SELECT string_agg(caption, ' ') AS s FROM pairs GROUP BY width % 2)",
    ] {
        match query(&session, sql) {
            Err(SqlError::Memory { .. }) => {}
            other => panic!("{sql}: expected a memory error, got {:?}", other.map(|b| b.len())),
        }
    }
}
