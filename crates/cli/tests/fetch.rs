#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
//! `pairscope fetch` as a user runs it, against an image server on 127.0.0.1 started by the
//! test (axum on a thread of its own) that counts requests per path: a run killed with
//! SIGKILL and started again never asks again for an image it had written, and ends with the
//! files of an uninterrupted run; `-d DS` fetches a dataset selection and keeps its row ids.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

type Requests = Arc<Mutex<BTreeMap<String, usize>>>;

async fn image(State(requests): State<Requests>, UrlPath(name): UrlPath<String>) -> Response {
    *requests.lock().unwrap().entry(name.clone()).or_default() += 1;
    let Some(n) = name.strip_suffix(".png").and_then(|n| n.parse::<u32>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Slow enough that a kill lands mid-run.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let pixels = image::RgbImage::from_fn(20 + n, 20, |x, y| image::Rgb([x as u8, y as u8, n as u8]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(pixels).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

/// Starts the image server; returns its port and its request counts.
fn image_server() -> (u16, Requests) {
    let requests = Requests::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let state = requests.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let app = Router::new().route("/img/{name}", get(image)).with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), requests)
}

fn write_urls(path: &Path, port: u16, rows: u32) {
    let urls: Vec<String> = (0..rows).map(|i| format!("http://127.0.0.1:{port}/img/{i}.png")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("sample_id", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(urls)),
        Arc::new(StringArray::from((0..rows).map(|i| format!("picture number {i}")).collect::<Vec<_>>())),
        Arc::new(Int64Array::from((0..rows).map(i64::from).collect::<Vec<_>>())),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn fetch_command(input: &[&str], out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pairscope"));
    cmd.env_remove("PAIRSCOPE_LOG")
        .arg("fetch")
        .args(input)
        .arg("--out")
        .arg(out)
        .args(["--allow-private-addresses", "--shard-rows", "8", "--concurrency", "4"])
        .args(["--connections-per-host", "3", "--requests-per-second-per-host", "1000", "--quiet"]);
    cmd
}

/// The URLs whose sample is written, in finished shards (their parquet) or partial ones.
/// The run moves files while this looks, so a scan that meets a vanished file starts again.
fn written_urls(out: &Path) -> Vec<String> {
    loop {
        if let Ok(urls) = try_written_urls(out) {
            return urls;
        }
    }
}

fn try_written_urls(out: &Path) -> std::io::Result<Vec<String>> {
    let mut urls = Vec::new();
    let entries = match std::fs::read_dir(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(urls),
        entries => entries?,
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".partial") {
            for sample in std::fs::read_dir(&path)? {
                let sample = sample?.path();
                if sample.extension().is_some_and(|e| e == "json") {
                    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&sample)?).unwrap();
                    urls.push(json["url"].as_str().unwrap().to_string());
                }
            }
        } else if name.ends_with("_stats.json") {
            let parquet = out.join(name.replace("_stats.json", ".parquet"));
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(parquet)?)
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let column = batch.column_by_name("url").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
                urls.extend(column.iter().map(|u| u.unwrap().to_string()));
            }
        }
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}

fn files(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        assert!(path.is_file(), "{} left behind", path.display());
        found.insert(path.strip_prefix(out).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
    }
    found
}

#[test]
fn a_killed_fetch_resumes_without_asking_again_for_what_it_wrote() {
    let (port, requests) = image_server();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.parquet");
    write_urls(&input, port, 48);
    let input_arg = input.display().to_string();

    let out = dir.path().join("killed");
    let mut child = fetch_command(&["--from", &input_arg], &out).stdout(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while written_urls(&out).len() < 12 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written_before_kill = written_urls(&out);
    assert!(written_before_kill.len() >= 12 && written_before_kill.len() < 48, "{}", written_before_kill.len());

    let status = fetch_command(&["--from", &input_arg], &out).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    let requests_after = requests.lock().unwrap().clone();
    for url in &written_before_kill {
        let name = url.rsplit('/').next().unwrap();
        assert_eq!(requests_after.get(name), Some(&1), "{name} was written before the kill and asked for again");
    }
    assert_eq!(requests_after.len(), 48, "every image was asked for");

    // An uninterrupted run of the same input ends with the same files, byte for byte.
    let clean = dir.path().join("clean");
    let output = fetch_command(&["--from", &input_arg, "--json"], &clean).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["total"]["ok"], 48, "{report}");
    assert_eq!(files(&out), files(&clean));
}

#[test]
fn fetch_refuses_what_it_must_not_do() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.parquet");
    write_urls(&input, 9, 2);
    let foreign = dir.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"keep me").unwrap();
    let output = fetch_command(&["--from", &input.display().to_string()], &foreign).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not empty") && stderr.contains("fetch.json"), "{stderr}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // Loopback addresses are refused unless asked for: each row says so, nothing is fetched.
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_pairscope"))
        .args(["fetch", "--from", &input.display().to_string(), "--out", &out.display().to_string(), "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["total"]["blocked_address"], 2, "{report}");

    // --ignore-robots warns.
    let output = fetch_command(&["--from", &input.display().to_string(), "--ignore-robots"], &dir.path().join("o2"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning: --ignore-robots"));
}

#[test]
fn fetch_from_a_dataset_selection_keeps_row_ids_and_refuses_another_selection_on_the_same_out() {
    let (port, requests) = image_server();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("urls.parquet");
    write_urls(&source, port, 12);
    let dataset = dir.path().join("ds");
    let status = Command::new(env!("CARGO_BIN_EXE_pairscope"))
        .args(["ingest", "-d", &dataset.display().to_string(), &source.display().to_string(), "--quiet"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ds = dataset.display().to_string();
    let out = dir.path().join("fetched");
    let output =
        fetch_command(&["-d", &ds, "--query", "number", "--url", "*/img/1*", "--json"], &out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // 1.png, 10.png, 11.png.
    assert_eq!(report["rows"], 3, "{report}");
    assert_eq!(report["total"]["ok"], 3, "{report}");
    assert_eq!(requests.lock().unwrap().len(), 3);
    assert!(out.join("selection/manifest.json").is_file());

    // The samples carry the dataset's row ids: the ones `search` gives for the same rows.
    let search = Command::new(env!("CARGO_BIN_EXE_pairscope"))
        .args(["search", "-d", &ds, "number", "--url", "*/img/1*", "--json", "--limit", "10"])
        .output()
        .unwrap();
    assert!(search.status.success(), "{}", String::from_utf8_lossy(&search.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    let mut expected: Vec<i64> =
        hits["hits"].as_array().unwrap().iter().map(|h| h["row_id"].as_i64().unwrap()).collect();
    expected.sort();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(out.join("00000.parquet")).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut got = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch.column_by_name("row_id").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
        got.extend(ids.iter().map(Option::unwrap));
    }
    got.sort();
    assert_eq!(got, expected);

    // Another selection on the same --out is refused before anything is replaced.
    let manifest = std::fs::read(out.join("selection/manifest.json")).unwrap();
    let output = fetch_command(&["-d", &ds, "--query", "picture"], &out).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("another selection"));
    assert_eq!(std::fs::read(out.join("selection/manifest.json")).unwrap(), manifest);
}
