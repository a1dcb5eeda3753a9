#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
//! Fetch runs end to end against a real HTTP server on 127.0.0.1 (axum, on a runtime of its
//! own thread, since a run starts its own) that serves generated images and counts requests
//! per path. Host names resolve to the loopback through `StaticHosts`.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pairscope_fetch::shard::{OutputFormat, read_stats};
use pairscope_fetch::{FetchConfig, Fetcher, Input, RunOptions, StaticHosts, run};
use pairscope_lists::{ListKind, RemovalLists};
use pairscope_model::NoProgress;
use sha2::Digest;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// What the server serves and what it saw.
struct Site {
    /// Requests per path.
    requests: Mutex<BTreeMap<String, usize>>,
    /// While true, `/flaky/*` answers 503.
    flaky_down: AtomicBool,
}

fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), (y as u8).wrapping_add(seed), seed])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

async fn serve_path(State(site): State<Arc<Site>>, UrlPath(path): UrlPath<String>) -> Response {
    *site.requests.lock().unwrap().entry(format!("/{path}")).or_default() += 1;
    let image = |bytes: Vec<u8>| ([(header::CONTENT_TYPE, "image/png")], bytes).into_response();
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["img", n] => {
            let n: u8 = n.trim_end_matches(".png").parse().unwrap_or(1);
            image(png(40 + u32::from(n), 30, n))
        }
        ["flaky", n] if site.flaky_down.load(Ordering::SeqCst) => {
            let _ = n;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        ["flaky", n] => image(png(50, 50, n.parse().unwrap_or(7))),
        ["page.html"] => ([(header::CONTENT_TYPE, "image/jpeg")], "<html>not an image</html>").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Server {
    port: u16,
    site: Arc<Site>,
}

impl Server {
    /// Starts the site on a thread of its own and returns once it listens.
    fn start() -> Server {
        let site = Arc::new(Site { requests: Mutex::default(), flaky_down: AtomicBool::new(false) });
        let (tx, rx) = std::sync::mpsc::channel();
        let state = site.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let app = Router::new().route("/{*path}", get(serve_path)).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        Server { port: rx.recv().unwrap(), site }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    fn requests(&self, path: &str) -> usize {
        self.site.requests.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn total_requests(&self) -> usize {
        self.site.requests.lock().unwrap().iter().filter(|(p, _)| *p != "/robots.txt").map(|(_, n)| n).sum()
    }
}

fn fetcher() -> Fetcher {
    let config = FetchConfig {
        connect_timeout: Duration::from_secs(2),
        byte_timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(5),
        retry_base: Duration::from_millis(10),
        retries: 1,
        requests_per_second_per_host: 1000.0,
        allow_private_addresses: true,
        ..FetchConfig::default()
    };
    let hosts = StaticHosts::new().with("a.test", LOOPBACK).with("b.test", LOOPBACK).with("listed.test", LOOPBACK);
    Fetcher::with_lookup(config, Arc::new(hosts)).unwrap()
}

/// One input row: url, caption, punsafe, NSFW label, opted out, row id.
type Row<'a> = (Option<String>, &'a str, Option<f64>, Option<&'a str>, bool, i64);

/// A LAION-like input file (upper-case `URL`, `TEXT`, `NSFW` as LAION publishes them).
fn write_input(path: &Path, rows: &[Row]) {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.0.clone()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| Some(r.1)).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| Some(r.4)).collect::<BooleanArray>()),
        Arc::new(rows.iter().map(|r| Some(r.5)).collect::<Int64Array>()),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("URL", DataType::Utf8, true),
        Field::new("TEXT", DataType::Utf8, true),
        Field::new("punsafe", DataType::Float64, true),
        Field::new("NSFW", DataType::Utf8, true),
        Field::new("optout_noai", DataType::Boolean, true),
        Field::new("row_id", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn options(out: &Path) -> RunOptions {
    RunOptions { out: out.to_path_buf(), shard_rows: 4, concurrency: 8, ..RunOptions::default() }
}

/// Every `(key, status)` of a run's shards, from their parquet files.
fn statuses(out: &Path) -> BTreeMap<String, (String, Option<i64>)> {
    let mut found = BTreeMap::new();
    for shard in 0.. {
        let path = out.join(format!("{shard:05}.parquet"));
        if !path.exists() {
            break;
        }
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
                .unwrap()
                .build()
                .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let text = |name: &str| {
                batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone()
            };
            let (key, status) = (text("key"), text("status"));
            let row_id = batch.column_by_name("row_id").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
            for i in 0..batch.num_rows() {
                let id = (!arrow::array::Array::is_null(&row_id, i)).then(|| row_id.value(i));
                found.insert(key.value(i).to_string(), (status.value(i).to_string(), id));
            }
        }
    }
    found
}

/// Every file of a run's output except its record, with its bytes.
fn files(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            found.insert(path.strip_prefix(out).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
        } else {
            found.insert(path.strip_prefix(out).unwrap().to_path_buf(), b"<dir>".to_vec());
        }
    }
    found
}

#[test]
fn every_row_gets_its_status_and_consent_comes_before_any_request() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let listed_image = png(40 + 3, 30, 3);
    let rows: Vec<Row> = vec![
        (Some(server.url("a.test", "/img/1.png")), "one", Some(0.1), Some("UNLIKELY"), false, 10),
        (Some(server.url("a.test", "/img/2.png")), "two", None, None, false, 11),
        (Some(server.url("a.test", "/missing.png")), "gone", None, None, false, 12),
        (Some(server.url("a.test", "/page.html")), "html", None, None, false, 13),
        (Some(server.url("a.test", "/unsafe.png")), "unsafe score", Some(0.93), None, false, 14),
        (Some(server.url("a.test", "/unsure.png")), "unsafe label", Some(0.01), Some("UNSURE"), false, 15),
        (Some(server.url("a.test", "/optout.png")), "opted out", None, None, true, 16),
        (Some(server.url("listed.test", "/img/4.png")), "listed domain", None, None, false, 17),
        (None, "no url", None, None, false, 18),
        (Some(server.url("b.test", "/img/3.png")), "listed image", None, None, false, 19),
    ];
    let input_path = dir.path().join("in.parquet");
    write_input(&input_path, &rows);
    let domains = dir.path().join("domains.txt");
    std::fs::write(&domains, "listed.test\n").unwrap();
    let hashes = dir.path().join("hashes.txt");
    std::fs::write(&hashes, format!("# one image\n{:x}\n", sha2::Sha256::digest(&listed_image))).unwrap();
    let mut lists = RemovalLists::default();
    lists.load(ListKind::Domains, &domains).unwrap();
    lists.load(ListKind::ImageHashes, &hashes).unwrap();

    let out = dir.path().join("out");
    let input = Input::open(std::slice::from_ref(&input_path)).unwrap();
    let report = run(&input, fetcher(), &RunOptions { lists: lists.clone(), ..options(&out) }, &NoProgress).unwrap();

    let found = statuses(&out);
    let expected = [
        "ok",
        "ok",
        "http_404",
        "not_an_image",
        "unsafe_skipped",
        "unsafe_skipped",
        "optout_pair",
        "removed_by_list",
        "bad_url",
        "removed_by_list",
    ];
    let got: Vec<&str> = found.values().map(|(s, _)| s.as_str()).collect();
    assert_eq!(got, expected, "{found:?}");
    let ids: Vec<i64> = found.values().map(|(_, id)| id.unwrap()).collect();
    assert_eq!(ids, (10..20).collect::<Vec<_>>(), "each sample keeps its row id");
    assert_eq!(report.rows, 10);
    assert_eq!(report.shards, 3);
    assert_eq!(report.total.values().sum::<u64>(), 10);
    assert_eq!(report.total["ok"], 2);
    // Consent and safety decide before any request: none of those URLs was asked for.
    for path in ["/unsafe.png", "/unsure.png", "/optout.png", "/img/4.png"] {
        assert_eq!(server.requests(path), 0, "{path} was requested");
    }
    assert_eq!(server.requests("/img/3.png"), 1, "a listed image is fetched, then dropped");
    // The listed image's bytes are nowhere in the output.
    let tar = std::fs::read(out.join("00002.tar")).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert_eq!(names, ["000020.txt", "000020.json", "000021.txt", "000021.json"], "no image for a listed one");
    // The webdataset tar of shard 0 has both images, in key order, as JPEGs of the resized size.
    let mut archive = tar::Archive::new(std::fs::File::open(out.join("00000.tar")).unwrap());
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert_eq!(names[..3], ["000000.jpg", "000000.txt", "000000.json"]);
    assert_eq!(read_stats(&out, 0).unwrap().successes, 2);

    // The same arguments again: nothing is requested, nothing changes.
    let before = files(&out);
    let requests = server.total_requests();
    let again = run(&input, fetcher(), &RunOptions { lists: lists.clone(), ..options(&out) }, &NoProgress).unwrap();
    assert_eq!(server.total_requests(), requests);
    assert_eq!(again.shards_already_done, 3);
    assert!(again.this_run.is_empty());
    assert_eq!(files(&out), before);

    // Other arguments on the same directory are refused, naming what changed.
    let err = run(&input, fetcher(), &RunOptions { include_unsafe: true, lists, ..options(&out) }, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("include_unsafe was false, now true"), "{err}");
    // A directory that is not a fetch run's is never written into.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.pdf"), b"mine").unwrap();
    let err = run(&input, fetcher(), &options(&foreign), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
}

#[test]
fn retry_failed_fetches_only_the_retryable_rows_and_ends_like_a_clean_run() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = (0..6)
        .map(|i| {
            let path = if i % 2 == 0 { format!("/flaky/{i}") } else { format!("/img/{i}.png") };
            (Some(server.url("a.test", &path)), "caption", None, None, false, i)
        })
        .chain([(Some(server.url("a.test", "/missing.png")), "gone", None, None, false, 6)])
        .collect();
    let input_path = dir.path().join("in.parquet");
    write_input(&input_path, &rows);
    let input = Input::open(std::slice::from_ref(&input_path)).unwrap();

    for format in [OutputFormat::Webdataset, OutputFormat::Files] {
        let out = dir.path().join(format!("{format:?}"));
        server.site.flaky_down.store(true, Ordering::SeqCst);
        let first = run(&input, fetcher(), &RunOptions { format, ..options(&out) }, &NoProgress).unwrap();
        assert_eq!(first.total["http_5xx"], 3, "{first:?}");

        server.site.flaky_down.store(false, Ordering::SeqCst);
        let before: BTreeMap<String, usize> = server.site.requests.lock().unwrap().clone();
        let retried =
            run(&input, fetcher(), &RunOptions { format, retry_failed: true, ..options(&out) }, &NoProgress).unwrap();
        assert_eq!(retried.this_run.get("ok"), Some(&3), "{retried:?}");
        assert_eq!(retried.total["ok"], 6);
        assert_eq!(retried.total["http_404"], 1, "a 404 is not retried");
        let after = server.site.requests.lock().unwrap().clone();
        for (path, n) in after.iter().filter(|(p, _)| *p != "/robots.txt") {
            let new = n - before.get(path).copied().unwrap_or(0);
            let expected = usize::from(path.starts_with("/flaky/"));
            assert_eq!(new, expected, "{path} requested {new} more times");
        }

        // A clean run of the same input gives the same files, byte for byte.
        let clean = dir.path().join(format!("clean-{format:?}"));
        run(&input, fetcher(), &RunOptions { format, ..options(&clean) }, &NoProgress).unwrap();
        assert_eq!(files(&out), files(&clean));
        if format == OutputFormat::Files {
            let shard: Vec<_> = std::fs::read_dir(out.join("00000")).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(shard.len(), 4 * 3, "4 samples × image, caption, metadata");
        }
    }
}

#[test]
fn an_input_without_a_url_column_or_with_a_wrong_type_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new("caption", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["a"])) as ArrayRef]).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = Input::open(std::slice::from_ref(&path)).unwrap_err().to_string();
    assert!(err.contains("bad.parquet") && err.contains("no URL column") && err.contains("caption"), "{err}");

    let path = dir.path().join("typed.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, true),
        Field::new("punsafe", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(vec!["http://a/"])), Arc::new(StringArray::from(vec!["x"]))];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = Input::open(std::slice::from_ref(&path)).unwrap_err().to_string();
    assert!(err.contains("typed.parquet") && err.contains("punsafe") && err.contains("not a number"), "{err}");

    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"PAR1 not really").unwrap();
    let err = Input::open(std::slice::from_ref(&garbage)).unwrap_err().to_string();
    assert!(err.contains("garbage.parquet") && err.contains("not a readable parquet file"), "{err}");
}
