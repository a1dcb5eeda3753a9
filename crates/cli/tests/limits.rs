//! A dataset of thousands of blocks within a process's default limits (issue 20): 1,024 open
//! files (`ulimit -n`) and `vm.max_map_count` mappings. Each command runs as the real binary
//! under `prlimit --nofile=1024:1024`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Sources of one row each: one block and one index per source.
const SOURCES: usize = 3_000;

/// `pairscope args…` under the default soft and hard limit of open files.
fn limited(args: &[&str]) -> Command {
    let mut command = Command::new("prlimit");
    command.args(["--nofile=1024:1024", "--", env!("CARGO_BIN_EXE_pairscope")]).args(args).env_remove("PAIRSCOPE_LOG");
    command
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = limited(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file under `dir` but its caches (`cache/`, what readers may keep) with its size:
/// reading a dataset must not add, change or remove one.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten().filter(|e| e.path() != dir.join("cache")) {
            let metadata = entry.metadata().unwrap();
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                files.push((entry.path(), metadata.len()));
            }
        }
    }
    files.sort();
    files
}

/// `GET target` from the server at `authority`: the status line and the body.
fn get(authority: &str, target: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

#[test]
fn thousands_of_one_row_sources_are_ingested_searched_counted_and_served_within_default_limits() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: no prlimit (util-linux) on this system");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    let ds = dir.path().join("ds");
    let (code, _, err) =
        run(&["synth", "-q", "--rows", &SOURCES.to_string(), "--rows-per-shard", "1", "--out", text(&synth)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["ingest", "-q", "-d", text(&ds), text(&synth)]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["info", "--json", "-d", text(&ds)]);
    assert_eq!(code, 0, "{err}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["sources"].as_array().map(Vec::len), Some(SOURCES), "one source per file: {out}");
    let written = listing(&ds);

    let (code, out, err) = run(&["count", "-d", text(&ds)]);
    assert_eq!((code, out.trim()), (0, SOURCES.to_string().as_str()), "{err}");
    let (code, out, err) = run(&["count", "-d", text(&ds), "the"]);
    assert_eq!(code, 0, "{err}");
    let matching: usize = out.trim().parse().unwrap();
    assert!(matching > 100 && matching < SOURCES, "{matching}");
    let (code, out, err) = run(&["search", "-d", text(&ds), "the", "--limit", "1000", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), matching.min(1000), "a page of the rows counted");

    let mut server = limited(&["serve", "-q", "-d", text(&ds), "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(server.stdout.take().unwrap());
    let url = stdout.lines().map(|l| l.unwrap()).find(|l| l.starts_with("http://"));
    let authority = url.as_deref().map(|u| u.trim_start_matches("http://").trim_end_matches('/').to_string());
    let answers = authority.map(|authority| {
        let pages = [get(&authority, "/search.json?q=the"), get(&authority, "/overview.json")];
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.id())).map(|m| m.lines().count());
        (pages, maps)
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let ([(search_status, search), (overview_status, overview)], maps) = answers.expect("the server prints its URL");
    assert!(search_status.contains(" 200 "), "{search_status}");
    let search: serde_json::Value = serde_json::from_str(&search).unwrap();
    assert_eq!(search["total"].as_u64(), Some(matching as u64));
    assert!(overview_status.contains(" 200 "), "{overview_status}");
    let overview: serde_json::Value = serde_json::from_str(&overview).unwrap();
    assert_eq!(overview["rows"].as_u64(), Some(SOURCES as u64));
    // A one-row block's index files are read whole, not mapped (~6 mappings per block would
    // put 16,000 blocks past the kernel's default of 65,530).
    if let Ok(maps) = maps {
        assert!(maps < SOURCES, "the server holds {maps} mappings for {SOURCES} blocks");
    }
    assert_eq!(listing(&ds), written, "reading the dataset wrote nothing into it (no lock files)");
}
