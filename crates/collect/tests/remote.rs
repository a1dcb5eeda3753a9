//! Remote inputs: archives and list files over HTTP (a loopback server in the test), streamed,
//! with transfers that break part-way resumed by range requests.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::StreamExt;
use pairscope_collect::{CollectOptions, CollectReport, ExtractOptions, Input, Remote, collect, resolve_inputs};
use pairscope_model::NoProgress;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Served bytes are sent in frames this big, so a broken transfer has delivered some of them.
const FRAME: usize = 4096;

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Whole,
    /// The first response ends (connection dropped) after this many bytes of the body.
    BreakOnceAt(usize),
}

struct File {
    bytes: Vec<u8>,
    etag: bool,
    behaviour: Behaviour,
}

#[derive(Default)]
struct Server {
    files: HashMap<String, File>,
    /// (path, first byte asked for) of every request.
    requests: Mutex<Vec<(String, u64)>>,
}

async fn serve(State(server): State<Arc<Server>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let Some(file) = server.files.get(&path) else {
        return Response::builder().status(StatusCode::NOT_FOUND).body(Body::from("no such file")).unwrap();
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bytes="));
    let (start, end) = match range.and_then(|r| r.split_once('-')) {
        Some((a, b)) => (a.parse::<usize>().unwrap(), b.parse::<usize>().map_or(file.bytes.len(), |b| b + 1)),
        None => (0, file.bytes.len()),
    };
    let broken = {
        let mut requests = server.requests.lock().unwrap();
        requests.push((path.clone(), start as u64));
        match file.behaviour {
            Behaviour::BreakOnceAt(at) if requests.iter().filter(|(p, _)| *p == path).count() == 1 => Some(at),
            _ => None,
        }
    };
    let body = file.bytes[start..end].to_vec();
    let mut response = Response::builder()
        .status(if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK })
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::ACCEPT_RANGES, "bytes");
    if range.is_some() {
        response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{}", end - 1, file.bytes.len()));
    }
    if file.etag {
        response = response.header(header::ETAG, "\"v1\"");
    }
    let cut = broken.unwrap_or(body.len());
    let frames: Vec<Result<Bytes, std::io::Error>> =
        body[..cut].chunks(FRAME).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let frames = futures::stream::iter(frames);
    let Some(_) = broken else { return response.body(Body::from_stream(frames)).unwrap() };
    // The break comes once the frames before it have reached the client.
    let error = futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Err(std::io::Error::other("connection dropped by the test"))
    });
    response.body(Body::from_stream(frames.chain(error))).unwrap()
}

/// Serves `files` on a loopback port until the test ends; returns the base URL and the server.
fn start(files: HashMap<String, File>) -> (String, Arc<Server>, tokio::runtime::Runtime) {
    let server = Arc::new(Server { files, ..Server::default() });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(serve).with_state(server.clone());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, server, runtime)
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    std::io::Write::write_all(&mut e, bytes).unwrap();
    e.finish().unwrap()
}

fn sample() -> Option<PathBuf> {
    pairscope_testkit::shared_data("cc/cc-sample-16pages.warc.wat.gz")
}

fn options() -> CollectOptions {
    CollectOptions { extract: ExtractOptions { min_alt_chars: 1 }, threads: 2, ..CollectOptions::default() }
}

fn run(inputs: &[Input], out: &Path) -> CollectReport {
    collect(inputs, out, &options(), &NoProgress).unwrap()
}

/// (url, caption, uid, source_offset) of every output row, in order.
fn rows(out: &Path) -> Vec<(String, String, String, i64)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for file in files {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap().build().unwrap();
        for batch in reader {
            let batch: RecordBatch = batch.unwrap();
            let text = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().clone();
            let (url, caption, uid) = (text("url"), text("caption"), text("uid"));
            let offset = batch.column_by_name("source_offset").unwrap().as_primitive::<Int64Type>().clone();
            for i in 0..batch.num_rows() {
                rows.push((url.value(i).into(), caption.value(i).into(), uid.value(i).into(), offset.value(i)));
            }
        }
    }
    rows
}

#[test]
fn remote_archives_and_lists_give_what_the_local_file_gives() {
    // `shared_data` prints the skip notice.
    let Some(sample) = sample() else { return };
    let bytes = std::fs::read(&sample).unwrap();
    let list = gz(b"# Common Crawl names paths from the root\ncrawl/a.warc.wat.gz\n");
    let files = HashMap::from([
        ("/crawl/a.warc.wat.gz".to_string(), File { bytes: bytes.clone(), etag: true, behaviour: Behaviour::Whole }),
        ("/crawl/wat.paths.gz".to_string(), File { bytes: list.clone(), etag: true, behaviour: Behaviour::Whole }),
        // No archive suffix: told apart by content, like a local file.
        ("/crawl/download".to_string(), File { bytes: bytes.clone(), etag: false, behaviour: Behaviour::Whole }),
    ]);
    let (base, _server, _runtime) = start(files);
    let dir = tempfile::tempdir().unwrap();

    let local = run(&[Input::from(sample.clone())], &dir.path().join("local"));
    let expected = rows(&dir.path().join("local"));
    assert!(local.kept > 20, "the sample has pairs: {}", local.kept);

    let remote = Remote::new();
    let args =
        [format!("{base}/crawl/wat.paths.gz"), format!("{base}/crawl/a.warc.wat.gz"), format!("{base}/crawl/download")];
    let inputs = resolve_inputs(&args, None, &remote).unwrap();
    let names: Vec<String> = inputs.iter().map(Input::to_string).collect();
    assert_eq!(
        names,
        [
            format!("{base}/crawl/a.warc.wat.gz"),
            format!("{base}/crawl/a.warc.wat.gz"),
            format!("{base}/crawl/download")
        ]
    );

    for (k, input) in inputs.iter().enumerate() {
        let out = dir.path().join(format!("remote-{k}"));
        let report = run(std::slice::from_ref(input), &out);
        assert_eq!(report.skipped(), 0, "{:?}", report.inputs[0].error);
        assert_eq!(rows(&out), expected, "{input}");
        assert_eq!(report.inputs[0].stats.as_ref().unwrap().bytes, bytes.len() as u64);
    }

    // A downloaded list names the same objects once --base-url says where they live.
    let local_list = dir.path().join("wat.paths.gz");
    std::fs::write(&local_list, &list).unwrap();
    let base_url = url::Url::parse(&format!("{base}/")).unwrap();
    let inputs = resolve_inputs(&[local_list.display().to_string()], Some(&base_url), &remote).unwrap();
    assert_eq!(inputs, [Input::Remote(url::Url::parse(&format!("{base}/crawl/a.warc.wat.gz")).unwrap())]);
}

#[test]
fn a_transfer_that_breaks_is_resumed_where_it_stopped() {
    // `shared_data` prints the skip notice.
    let Some(sample) = sample() else { return };
    let bytes = std::fs::read(&sample).unwrap();
    let cut = bytes.len() / 2 / FRAME * FRAME;
    // With an ETag object_store resumes the body itself; without one our reader does.
    let files = HashMap::from([
        (
            "/etag.warc.wat.gz".to_string(),
            File { bytes: bytes.clone(), etag: true, behaviour: Behaviour::BreakOnceAt(cut) },
        ),
        (
            "/plain.warc.wat.gz".to_string(),
            File { bytes: bytes.clone(), etag: false, behaviour: Behaviour::BreakOnceAt(cut) },
        ),
    ]);
    let (base, server, _runtime) = start(files);
    let dir = tempfile::tempdir().unwrap();
    run(&[Input::from(sample)], &dir.path().join("local"));
    let expected = rows(&dir.path().join("local"));

    for name in ["etag", "plain"] {
        let url = url::Url::parse(&format!("{base}/{name}.warc.wat.gz")).unwrap();
        let out = dir.path().join(name);
        let report = run(&[Input::Remote(url)], &out);
        assert_eq!(report.skipped(), 0, "{name}: {:?}", report.inputs[0].error);
        assert_eq!(rows(&out), expected, "{name}");
        let starts: Vec<u64> = server
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == format!("/{name}.warc.wat.gz"))
            .map(|(_, start)| *start)
            .collect();
        assert_eq!(starts.len(), 2, "{name}: one request, one resumed: {starts:?}");
        assert_eq!(starts[0], 0);
        assert!(starts[1] > 0 && starts[1] <= cut as u64, "{name}: resumed at {}, cut at {cut}", starts[1]);
    }
}

#[test]
fn a_missing_object_fails_that_input_only_and_names_it() {
    // `shared_data` prints the skip notice.
    let Some(sample) = sample() else { return };
    let (base, _server, _runtime) = start(HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    let missing = url::Url::parse(&format!("{base}/gone.warc.wat.gz")).unwrap();
    let report = run(&[Input::Remote(missing.clone()), Input::from(sample)], &dir.path().join("out"));
    let error = report.inputs[0].error.as_deref().expect("the missing input failed");
    assert!(error.contains(missing.as_str()), "{error}");
    assert!(report.inputs[1].error.is_none() && report.inputs[1].kept > 0);
    assert_eq!(report.skipped(), 1);
    // An unknown list is a clear error before anything runs.
    let err = resolve_inputs(&[format!("{base}/wat.paths.gz")], None, &Remote::new()).unwrap_err().to_string();
    assert!(err.contains("wat.paths.gz"), "{err}");
}
