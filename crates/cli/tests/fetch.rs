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

/// `/big/N.png`: an image of (1000 + N) × (1024 if N is even, else 1000) pixels.
async fn big_image(UrlPath(name): UrlPath<String>) -> Response {
    let Some(n) = name.strip_suffix(".png").and_then(|n| n.parse::<u32>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let height = if n % 2 == 0 { 1024 } else { 1000 };
    let pixels = image::GrayImage::from_fn(1000 + n, height, |x, _| image::Luma([(x / 64) as u8]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(pixels).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

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
            let app =
                Router::new().route("/img/{name}", get(image)).route("/big/{name}", get(big_image)).with_state(state);
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
            for record in pairscope_io::journal::read_whole(&path)? {
                let json: serde_json::Value = serde_json::from_slice(&record.meta).unwrap();
                urls.push(json["url"].as_str().unwrap().to_string());
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

/// Runs pairscope with `args`; its stdout as JSON, after asserting it succeeded.
fn json_of(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The values of column `name` of every parquet file directly in `dir`, in file order.
fn parquet_column(dir: &Path, name: &str) -> Vec<Option<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut values = Vec::new();
    for file in files {
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
                .unwrap()
                .build()
                .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            let column = column.as_any().downcast_ref::<StringArray>().unwrap();
            values.extend(column.iter().map(|v| v.map(str::to_string)));
        }
    }
    values
}

#[test]
fn fetched_sizes_and_hashes_taken_back_are_seen_by_every_consumer() {
    let (port, _) = image_server();
    let dir = tempfile::tempdir().unwrap();
    let text = |p: &Path| p.display().to_string();
    // 40 pairs: N.png is (1000 + N) wide, 1024 high when N is even; N = 7 is not there (404);
    // every fifth row publishes a width of 300, which must be kept.
    let rows = 40u32;
    let urls: Vec<String> = (0..rows)
        .map(|n| {
            if n == 7 {
                format!("http://127.0.0.1:{port}/big/gone.png")
            } else {
                format!("http://127.0.0.1:{port}/big/{n}.png")
            }
        })
        .collect();
    let published: Vec<Option<i64>> = (0..rows).map(|n| (n % 5 == 0).then_some(300)).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("width", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(urls.clone())),
        Arc::new(StringArray::from((0..rows).map(|n| format!("picture number {n}")).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(published.clone())),
    ];
    let source = dir.path().join("pairs.parquet");
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&source).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let ds = dir.path().join("ds");
    json_of(&["ingest", "-q", "-d", &text(&ds), &text(&source), "--json"]);
    let fetched = dir.path().join("fetched");
    let output = fetch_command(&["-d", &text(&ds), "--query", "picture", "--json"], &fetched).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The ids of the rows `subset --preset laion-high-resolution` keeps.
    let ds_text = text(&ds);
    let high = |extra: &[&str]| -> Vec<i64> {
        let out = dir.path().join(format!("subset-{}", extra.len()));
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec!["subset", "-q", "--json", "-d", &ds_text, "--preset", "laion-high-resolution", "--out"];
        let out_text = text(&out);
        args.push(&out_text);
        args.extend_from_slice(extra);
        json_of(&args);
        let mut ids: Vec<i64> =
            parquet_column(&out, "row_id").into_iter().map(|v| v.unwrap().parse().unwrap()).collect();
        ids.sort();
        ids
    };

    let report = json_of(&["ingest", "-q", "-d", &ds_text, "--fetched", &text(&fetched), "--json"]);
    assert_eq!(report["version_before"], 1, "{report}");
    assert_eq!(report["version"], 2, "{report}");
    assert_eq!(report["rows_matched"], 40, "{report}");
    assert_eq!(report["rows_ok"], 39, "{report}");
    // Rows without a published width, fetched ok: 40 − 8 published − the 404.
    assert_eq!(report["filled"]["width"], 31, "{report}");
    assert_eq!(report["filled"]["height"], 39, "{report}");
    // Taking the same output back again changes nothing.
    let again = json_of(&["ingest", "-q", "-d", &ds_text, "--fetched", &text(&fetched), "--json"]);
    assert_eq!(again["version"], 2, "{again}");

    // What every consumer must see, from the rules: the published width where there is one,
    // else the measured one; the measured height.
    let row_ids: Vec<i64> = {
        let sql =
            json_of(&["sql", "-q", "-d", &ds_text, "SELECT row_id, caption FROM pairs ORDER BY row_id", "--json"]);
        let mut by_n = vec![0i64; rows as usize];
        for row in sql.as_array().unwrap_or_else(|| panic!("{sql}")) {
            let n: usize = row["caption"].as_str().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
            by_n[n] = row["row_id"].as_i64().unwrap();
        }
        by_n
    };
    let width = |n: u32| if n == 7 { None } else { published[n as usize].or(Some(1000 + i64::from(n))) };
    let height = |n: u32| (n != 7).then_some(if n.is_multiple_of(2) { 1024 } else { 1000 });
    let mut expected: Vec<(i64, i64)> = (0..rows)
        .filter(|&n| width(n).is_some_and(|w| w >= 1024) && height(n).is_some_and(|h| h >= 1024))
        .map(|n| (width(n).unwrap(), row_ids[n as usize]))
        .collect();
    expected.sort();
    assert!(!expected.is_empty());

    // search: filter and sort on the index's columns.
    let search = json_of(&[
        "search",
        "-q",
        "-d",
        &ds_text,
        "--where",
        "width >= 1024 AND height >= 1024",
        "--sort",
        "width",
        "--json",
        "--limit",
        "100",
    ]);
    let hits: Vec<(i64, i64)> = search["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["width"].as_i64().unwrap(), h["row_id"].as_i64().unwrap()))
        .collect();
    let mut by_width_desc = expected.clone();
    by_width_desc.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(
        hits.iter().map(|h| h.0).collect::<Vec<_>>(),
        by_width_desc.iter().map(|h| h.0).collect::<Vec<_>>(),
        "{search}"
    );
    let mut hit_ids: Vec<i64> = hits.iter().map(|h| h.1).collect();
    hit_ids.sort();
    let mut expected_ids: Vec<i64> = expected.iter().map(|e| e.1).collect();
    expected_ids.sort();
    assert_eq!(hit_ids, expected_ids);

    // subset's preset, over the SQL table.
    assert_eq!(high(&[]), expected_ids);

    // sql, in the same order.
    let sql = json_of(&[
        "sql",
        "-q",
        "-d",
        &ds_text,
        "SELECT row_id, width FROM pairs WHERE width >= 1024 AND height >= 1024 ORDER BY width, row_id",
        "--json",
    ]);
    let sql_rows: Vec<(i64, i64)> =
        sql.as_array().unwrap().iter().map(|r| (r["width"].as_i64().unwrap(), r["row_id"].as_i64().unwrap())).collect();
    assert_eq!(sql_rows, expected);

    // The published width is kept, the measured one is beside it; the 404 has its status only.
    let row0 = json_of(&[
        "sql",
        "-q",
        "-d",
        &ds_text,
        &format!(
            "SELECT width, fetched_width, height, fetched_status, fetched_sha256 = image_sha256 AS same FROM pairs WHERE row_id = {}",
            row_ids[0]
        ),
        "--json",
    ]);
    assert_eq!(row0[0]["width"], 300, "{row0}");
    assert_eq!(row0[0]["fetched_width"], 1000, "{row0}");
    assert_eq!(row0[0]["height"], 1024, "{row0}");
    assert_eq!(row0[0]["fetched_status"], "ok", "{row0}");
    assert_eq!(row0[0]["same"], true, "{row0}");
    let gone = json_of(&[
        "sql",
        "-q",
        "-d",
        &ds_text,
        &format!("SELECT width, fetched_width, fetched_status FROM pairs WHERE row_id = {}", row_ids[7]),
        "--json",
    ]);
    assert_eq!(gone[0]["fetched_status"], "http_404", "{gone}");
    assert!(gone[0]["width"].is_null() && gone[0]["fetched_width"].is_null(), "{gone}");

    // Histograms (the overview's facets) count the overlaid widths.
    let facets = json_of(&["facets", "-q", "-d", &ds_text, "--by", "width", "--json"]);
    assert_eq!(facets["null"], 1, "{facets}");
    for bucket in facets["buckets"].as_array().unwrap_or_else(|| panic!("{facets}")) {
        let (lo, hi) = (bucket["lo"].as_f64().unwrap(), bucket["hi"].as_f64().unwrap());
        let inside = (0..rows).filter(|&n| width(n).is_some_and(|w| lo <= w as f64 && (w as f64) < hi)).count();
        assert_eq!(bucket["count"], inside as u64, "[{lo}, {hi}): {facets}");
    }

    // mentions --where reads the parquet rows with their overlays.
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "picture\n").unwrap();
    let mentions = json_of(&[
        "mentions",
        "-q",
        "-d",
        &ds_text,
        "--names",
        &text(&names),
        "--no-cache",
        "--where",
        "width >= 1024 AND height >= 1024",
        "--by",
        "domain",
        "--json",
    ]);
    assert_eq!(mentions["entities"][0]["count"], expected.len() as u64, "{mentions}");

    // An image-hash list naming one image's MD5 (measured by the fetch) removes its row.
    let md5s = parquet_column(&fetched, "md5");
    let fetched_ids = parquet_column(&fetched, "row_id");
    let victim = expected[0].1;
    let md5 = fetched_ids
        .iter()
        .zip(&md5s)
        .find(|(id, _)| id.as_deref() == Some(&victim.to_string()))
        .unwrap()
        .1
        .clone()
        .unwrap();
    let list = dir.path().join("hashes.txt");
    std::fs::write(&list, format!("{md5}\n")).unwrap();
    let without = high(&["--exclude-image-hashes", &text(&list)]);
    assert_eq!(without, expected_ids.iter().copied().filter(|&id| id != victim).collect::<Vec<_>>());
}
