//! `search`, `count` and `facets` through the binary: formats, exit codes, cursors, and
//! searching while an ingest commits.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn dataset(dir: &Path, rows: u64, seed: u64) -> (PathBuf, PathBuf) {
    let data = dir.join(format!("synth-{seed}"));
    let ds = dir.join("ds");
    let (code, _, err) = run(&[
        "synth",
        "-q",
        "--rows",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    (data, ds)
}

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn search_count_and_facets_agree_and_page_by_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ds) = dataset(dir.path(), 20_000, 3);
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", "-q", "-d", ds, data.to_str().unwrap()]).0, 0);

    let count = json(&["count", "-d", ds, "print", "--where", "aesthetic >= 5", "--json"])["count"].as_u64().unwrap();
    assert!(count > 20, "{count}");
    let mut seen = std::collections::HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec![
            "search",
            "-d",
            ds,
            "print",
            "--where",
            "aesthetic >= 5",
            "--sort",
            "aesthetic",
            "--limit",
            "9",
            "--json",
        ];
        if let Some(cursor) = &after {
            args.extend(["--after", cursor.as_str()]);
        }
        let page = json(&args);
        assert_eq!(page["total"].as_u64(), Some(count));
        for hit in page["hits"].as_array().unwrap() {
            assert!(hit["aesthetic"].as_f64().unwrap() >= 5.0);
            assert!(seen.insert(hit["row_id"].as_i64().unwrap()), "a row repeats across pages");
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, count);

    let facet =
        json(&["facets", "-d", ds, "print", "--where", "aesthetic >= 5", "--by", "host", "--top", "10000", "--json"]);
    let summed: u64 = facet["values"].as_array().unwrap().iter().map(|v| v["rows"].as_u64().unwrap()).sum::<u64>()
        + facet["null"].as_u64().unwrap();
    assert_eq!(summed, count);
    let (code, csv, _) = run(&["facets", "-d", ds, "--by", "aesthetic", "--buckets", "4", "--format", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().count(), 1 + 4 + 3, "header, 4 buckets, below, above, null:\n{csv}");
    let (code, table, _) = run(&["search", "-d", ds, "kitchen", "--limit", "3"]);
    assert_eq!(code, 0);
    assert!(table.contains("matching rows"), "{table}");

    // Without the count, the same page and cursor, and no total.
    let phrase = ["search", "-d", ds, "\"canvas print\"", "--sort", "aesthetic", "--limit", "4", "--json"];
    let counted = json(&phrase);
    let uncounted = json(&[&phrase[..], &["--no-total"]].concat());
    assert!(counted["total"].as_u64().is_some_and(|n| n > 4), "{counted}");
    assert!(uncounted["total"].is_null(), "{uncounted}");
    assert_eq!((&uncounted["hits"], &uncounted["next"]), (&counted["hits"], &counted["next"]));
}

#[test]
fn bad_queries_exit_2_with_the_spot_and_timeouts_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ds) = dataset(dir.path(), 2_000, 4);
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", "-q", "-d", ds, data.to_str().unwrap()]).0, 0);
    for args in [
        vec!["search", "-d", ds, "(kitchen"],
        vec!["count", "-d", ds, "--where", "aesthetic >>= 3"],
        vec!["search", "-d", ds, "kitchen", "--limit", "5000"],
        vec!["search", "-d", ds, "kitchen", "--after", "not-a-cursor"],
        vec!["facets", "-d", ds, "--by", "caption"],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
    }
    let (_, _, err) = run(&["search", "-d", ds, "(kitchen"]);
    assert!(err.contains('^') && err.contains("column 1"), "{err}");
    let (code, _, err) = run(&["count", "-d", ds, "--timeout", "0.000001"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("time limit"), "{err}");
}

#[test]
fn searches_keep_working_while_an_ingest_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (first, ds) = dataset(dir.path(), 1_000, 5);
    let (second, _) = dataset(dir.path(), 150_000, 6);
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", "-q", "-d", ds, first.to_str().unwrap()]).0, 0);
    let mut writer = Command::new(env!("CARGO_BIN_EXE_pairscope"))
        .args(["ingest", "-q", "-d", ds, second.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut counts = std::collections::BTreeSet::new();
    loop {
        let done = writer.try_wait().unwrap().is_some();
        let (code, out, err) = run(&["count", "-d", ds, "--json"]);
        assert_eq!(code, 0, "a search failed during the ingest: {err}");
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        counts.insert((value["version"].as_u64().unwrap(), value["count"].as_u64().unwrap()));
        if done {
            break;
        }
    }
    assert!(writer.wait().unwrap().success());
    assert!(counts.iter().all(|state| *state == (1, 1_000) || *state == (2, 151_000)), "{counts:?}");
    assert!(counts.contains(&(2, 151_000)));
}

/// A reader that stops early (`pairscope search … | head`) ends the command quietly: exit 0,
/// nothing on stderr (it was a panic for print-style output and an error for CSV), in every
/// format and for SQL too.
#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ds) = dataset(dir.path(), 20_000, 5);
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", "-q", "-d", ds, data.to_str().unwrap()]).0, 0);
    let sql = "SELECT url, caption FROM pairs";
    for format in ["table", "csv", "json", "jsonl"] {
        let commands: [&[&str]; 2] = [
            &["search", "-d", ds, "a", "--limit", "1000", "--format", format],
            &["sql", "-d", ds, sql, "--limit", "20000", "--format", format],
        ];
        for args in commands {
            let mut child = Command::new(env!("CARGO_BIN_EXE_pairscope"))
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut first = [0u8; 16];
            std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
            drop(child.stdout.take());
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
        }
    }
}
