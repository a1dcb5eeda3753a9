//! The server driven in-process (`tower::ServiceExt::oneshot`, no sockets) over a synthetic
//! dataset plus a few hostile rows: script in captions, quotes in URLs, `javascript:` URLs,
//! unsafe scores and labels.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_server::{App, ServerConfig, router};
use serde_json::Value;
use tower::ServiceExt;

mod common;
use common::synth;

const HOST: &str = "127.0.0.1:8080";
/// What must never reach a page as markup.
const RAW_PAYLOADS: [&str; 4] = ["<script", "<svg onload", "<img src=x", "\" onfocus="];
/// The token every hostile row's caption has.
const TOKEN: &str = "hostiletestrow";
const HOSTILE_ROWS: u64 = 6;
/// The one script tag every page has (in its head); any other is an injection.
const SCRIPT_TAG: &str = r#"<script src="/-/app.js"></script>"#;

/// A parquet file of hostile rows.
fn write_hostile(dir: &Path) -> PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("page_url", DataType::Utf8, true),
        Field::new("punsafe", DataType::Float64, true),
        Field::new("NSFW", DataType::Utf8, true),
        Field::new("aesthetic", DataType::Float64, true),
        Field::new("width", DataType::Int64, true),
        Field::new("height", DataType::Int64, true),
        Field::new("language", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![
            "https://evil.example/a.jpg",
            "https://evil.example/b.jpg?x=\"><svg onload=alert(5)>",
            "javascript:alert(4)",
            "https://safe.example/c.jpg",
            "https://safe.example/d.jpg",
            "https://safe.example/e.jpg",
        ])),
        Arc::new(StringArray::from(vec![
            format!("<script>alert(1)</script> {TOKEN}"),
            format!("<img src=x onerror=alert(2)> {TOKEN} highpunsafe"),
            format!("\"><svg onload=alert(3)> {TOKEN} jsurl"),
            format!("calm kitten {TOKEN} nsfwlabelled"),
            // "Link" is a character whose name is a common word: marked ambiguous.
            format!("calm lake, Link {TOKEN} safeone"),
            format!("=HYPERLINK(\"http://evil.example/x\",\"click\") {TOKEN} formula"),
        ])),
        Arc::new(StringArray::from(vec![
            Some("javascript:alert(7)"),
            None,
            Some("JaVaScRiPt:alert(8)"),
            None,
            None,
            Some("@SUM(1+1)"),
        ])),
        Arc::new(Float64Array::from(vec![Some(0.01), Some(0.99), Some(0.2), None, Some(0.01), Some(0.01)])),
        Arc::new(StringArray::from(vec![None, None, None, Some("NSFW"), Some("UNLIKELY"), Some("UNLIKELY")])),
        Arc::new(Float64Array::from(vec![Some(5.0), Some(6.0), Some(7.0), Some(8.0), Some(9.0), Some(4.0)])),
        Arc::new(Int64Array::from(vec![Some(640), Some(800), None, Some(1024), Some(2048), Some(300)])),
        Arc::new(Int64Array::from(vec![Some(480), Some(600), None, Some(768), Some(1536), Some(200)])),
        Arc::new(StringArray::from(vec![Some("en"), Some("en"), Some("fr"), None, Some("de"), Some("en")])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let path = dir.join("hostile.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

/// 4,000 synthetic rows and the hostile ones, with image vectors, in one dataset shared by the
/// tests (read-only).
fn dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let mut inputs = synth(&dir, 4000);
        inputs.push(write_hostile(&dir).display().to_string());
        let ds = dir.join("ds");
        ingest(&ds, &inputs, &IngestOptions::default(), &NoProgress).unwrap();
        attach_vectors(&ds);
        ds
    })
}

/// Gives every row of `ds` an 8-dimensional image vector of its own (attached by url + caption;
/// rows repeating a pair share the first's), all in one orthant, so every row has neighbours.
fn attach_vectors(ds: &Path) {
    let (mut urls, mut captions) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(ds.join("sources")).unwrap() {
        for file in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(&path).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    let column = |name| {
                        let column = batch.column_by_name(name).unwrap();
                        arrow_array::cast::AsArray::as_string::<i32>(column).clone()
                    };
                    urls.extend(column("url").iter().map(|u| u.unwrap().to_string()));
                    captions.extend(column("caption").iter().map(|c| c.unwrap().to_string()));
                }
            }
        }
    }
    let values: Vec<f32> =
        (0..urls.len()).flat_map(|k| (0..8).map(move |d| 1.5 + (k as f32 * (d + 1) as f32 * 0.37).cos())).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let vectors =
        arrow_array::FixedSizeListArray::new(item, 8, Arc::new(arrow_array::Float32Array::from(values)), None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("embedding", arrow_array::Array::data_type(&vectors).clone(), false),
    ]));
    let columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(urls)), Arc::new(StringArray::from(captions)), Arc::new(vectors)];
    let emb = ds.with_extension("embeddings.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&emb).unwrap(), schema.clone(), None).unwrap();
    writer.write(&RecordBatch::try_new(schema, columns).unwrap()).unwrap();
    writer.close().unwrap();
    // The ingest runs DataFusion on a runtime of its own: off the test's runtime thread.
    let ds = ds.to_path_buf();
    std::thread::spawn(move || {
        let options = pairscope_ingest::EmbeddingOptions::default();
        pairscope_ingest::ingest_embeddings(&ds, &emb, &options, &NoProgress).unwrap()
    })
    .join()
    .unwrap();
}

fn config(ds: &Path) -> ServerConfig {
    let mut config = ServerConfig::new(ds.to_path_buf());
    config.max_concurrent = 4;
    config.timeout = Duration::from_secs(60);
    config
}

fn app_with(config: ServerConfig) -> Router {
    router(App::open(config, HOST.parse().unwrap()).unwrap())
}

fn app() -> Router {
    app_with(config(dataset()))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
    /// The bytes as text (lossy: parquet is not).
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn get_with_host(app: &Router, path: &str, host: Option<&str>) -> Answer {
    let mut request = Request::builder().uri(path);
    if let Some(host) = host {
        request = request.header(header::HOST, host);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, headers, bytes, body }
}

async fn get(app: &Router, path: &str) -> Answer {
    get_with_host(app, path, Some(HOST)).await
}

async fn get_ok(app: &Router, path: &str) -> Answer {
    let answer = get(app, path).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    answer
}

/// The values of every `href` and `src` attribute of a page (as maud writes them: in double quotes).
fn urls_in(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in [" href=\"", " src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let end = rest.find('"').expect("attribute values are closed");
            urls.push(rest[..end].replace("&amp;", "&"));
            rest = &rest[end..];
        }
    }
    urls
}

/// No hostile text as markup, and every link and image to this server or an http(s) URL.
fn assert_safe_html(path: &str, html: &str) {
    assert_eq!(html.matches(SCRIPT_TAG).count(), 1, "{path}: the script tag, once");
    let html = &html.replacen(SCRIPT_TAG, "", 1);
    for payload in RAW_PAYLOADS {
        assert!(!html.contains(payload), "{path}: {payload} unescaped in\n{html}");
    }
    for url in urls_in(html) {
        let lower = url.trim().to_ascii_lowercase();
        assert!(
            lower.starts_with('/') || lower.starts_with("http://") || lower.starts_with("https://"),
            "{path}: a link or image to {url:?}"
        );
        assert!(!lower.contains("javascript:"), "{path}: {url:?}");
    }
}

/// The hostile rows' (row_id, caption), by their caption's marker word.
async fn hostile_row(app: &Router, marker: &str) -> i64 {
    let page = get_ok(app, &format!("/search.json?q={TOKEN}+{marker}")).await.json();
    assert_eq!(page["total"], 1, "{marker}: {page}");
    page["hits"][0]["row_id"].as_i64().unwrap()
}

#[tokio::test]
async fn hostile_rows_are_escaped_on_every_page() {
    let app = app();
    let search = get_ok(&app, &format!("/?q={TOKEN}")).await;
    // The rows are on the page, as text.
    assert!(search.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", search.body);
    assert!(search.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(search.body.contains("&quot;&gt;&lt;svg onload=alert(3)&gt;"));
    let mut paths: Vec<String> = vec![
        format!("/?q={TOKEN}"),
        format!("/search?q={TOKEN}&limit=2"),
        // The form repeats the query and the filter fields: escaped too.
        "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        "/?host=%3Csvg+onload%3Dalert(9)%3E&language=%22%3E%3Cscript%3E".into(),
        "/?url=%22%3E%3Cscript%3E".into(),
        // A phrase query that would close the input's value attribute if it were not escaped.
        "/?q=%22+onfocus%3Dalert(1)+x%3D%22".into(),
        "/?mention=%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        "/mentions".into(),
        "/mentions?list=builtin:characters".into(),
        "/-/settings".into(),
        "/no/such/page%3Cscript%3E".into(),
        "/?q=%22%3E%3Cscript%3E".into(),
    ];
    for marker in ["highpunsafe", "jsurl", "nsfwlabelled", "safeone"] {
        paths.push(format!("/row/{}", hostile_row(&app, marker).await));
    }
    let script_row = get_ok(&app, &format!("/search.json?q=%22script+alert+1%22+{TOKEN}")).await.json();
    paths.push(format!("/row/{}", script_row["hits"][0]["row_id"]));
    for path in &paths {
        let answer = get(&app, path).await;
        assert!(
            answer.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"),
            "{path}: {:?}",
            answer.headers
        );
        assert_safe_html(path, &answer.body);
    }
}

#[tokio::test]
async fn javascript_urls_are_shown_as_text_never_linked() {
    let app = app();
    let id = hostile_row(&app, "jsurl").await;
    let row = get_ok(&app, &format!("/row/{id}")).await;
    assert!(row.body.contains("javascript:alert(4)") && row.body.contains("JaVaScRiPt:alert(8)"), "{}", row.body);
    assert!(row.body.contains("not an http(s) URL"));
    assert_safe_html("row", &row.body);
    // The http(s) URL with quotes in it is linked in its normalised (percent-encoded) form.
    let id = hostile_row(&app, "highpunsafe").await;
    let row = get_ok(&app, &format!("/row/{id}")).await;
    let links: Vec<String> = urls_in(&row.body).into_iter().filter(|u| u.starts_with("https://evil.example")).collect();
    assert!(!links.is_empty() && links.iter().all(|u| u.contains("%22%3E%3Csvg")), "{links:?}");
    assert!(row.body.contains(r#"rel="noopener noreferrer nofollow""#));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = app();
    let cases = [
        ("/", Some(HOST)),
        ("/search.json?q=kitchen", Some(HOST)),
        ("/-/settings.json", Some(HOST)),
        ("/-/style.css", Some(HOST)),
        ("/row/1", Some(HOST)),
        ("/?q=%22", Some(HOST)),
        ("/nope", Some(HOST)),
        ("/", Some("evil.example:8080")),
        ("/", None),
    ];
    for (path, host) in cases {
        let answer = get_with_host(&app, path, host).await;
        let header = |name| answer.headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let csp = header(header::CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'none'",
            "img-src http: https: data:",
            "style-src 'self'",
            "script-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp:?} lacks {directive}");
        }
        assert_eq!(header(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
        assert_eq!(header(header::REFERRER_POLICY), "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn only_the_bound_host_is_answered() {
    let app = app();
    for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"] {
        assert_eq!(get_with_host(&app, "/-/settings.json", Some(host)).await.status, StatusCode::OK, "{host}");
    }
    for host in
        [Some("evil.example:8080"), Some("127.0.0.1:9999"), Some("localhost"), Some("rebind.evil.example"), None]
    {
        let answer = get_with_host(&app, "/-/settings.json", host).await;
        assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST, "{host:?}");
        assert!(!answer.body.contains("evil") && !answer.body.contains("9999"), "{}", answer.body);
    }
    // An absolute-form request must name the same host as its Host header.
    let request = Request::builder()
        .uri("http://evil.example:8080/-/settings.json")
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(request).await.unwrap().status(), StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn json_twins_have_their_shapes_and_pages_do_not_overlap() {
    let app = app();
    let first = get_ok(&app, "/search.json?sort=aesthetic&limit=3").await.json();
    assert_eq!(first["total"], 4000 + HOSTILE_ROWS);
    assert_eq!(first["hits"].as_array().unwrap().len(), 3);
    assert!(first["next"].is_string(), "{first}");
    for key in ["row_id", "url", "caption", "host", "aesthetic", "punsafe", "width"] {
        assert!(first["hits"][0].get(key).is_some(), "{key}: {first}");
    }
    assert!(first["hosts"]["values"].as_array().is_some_and(|v| !v.is_empty()), "{first}");
    let second = get_ok(&app, first["next_url"].as_str().unwrap()).await.json();
    assert_eq!(second["total"], first["total"]);
    let ids = |page: &Value| {
        page["hits"].as_array().unwrap().iter().map(|h| h["row_id"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    assert!(ids(&first).iter().all(|id| !ids(&second).contains(id)), "{first} {second}");
    let a = |page: &Value, i: usize| page["hits"][i]["aesthetic"].as_f64().unwrap();
    assert!(a(&first, 2) >= a(&second, 0));

    // The HTML page's next link is the same cursor.
    let html = get_ok(&app, "/?sort=aesthetic&limit=3").await.body;
    let next = first["next"].as_str().unwrap();
    assert!(urls_in(&html).iter().any(|u| u.starts_with("/?") && u.contains(&format!("after={next}"))));

    let id = first["hits"][0]["row_id"].as_i64().unwrap();
    let row = get_ok(&app, &format!("/row/{id}.json")).await.json();
    assert_eq!(row["row_id"], id);
    assert_eq!(row["row"]["url"], first["hits"][0]["url"]);
    assert!(row["row"].get("page_url").is_some(), "nulls are kept: {row}");

    let settings = get_ok(&app, "/-/settings.json").await.json();
    assert_eq!(settings["limits"]["max_page_size"], 200);
    assert_eq!(settings["limits"]["query_timeout_ms"], 60_000);
    assert_eq!(settings["limits"]["max_concurrent"], 4);
    assert_eq!(settings["limits"]["max_queued"], 64);
    assert_eq!(settings["limits"]["export_cap"], 100_000);
    assert_eq!(settings["safe_mode"]["unsafe_threshold"], 0.5);
    assert_eq!(settings["remote_images"], true);
    assert_eq!(settings["dataset"]["rows"], 4000 + HOSTILE_ROWS);
}

#[tokio::test]
async fn filter_fields_and_host_facet_links_select_what_they_say() {
    let app = app();
    let page = get_ok(&app, "/search.json?aesthetic_min=6&punsafe_max=0.3&min_width=512&limit=200").await.json();
    let hits = page["hits"].as_array().unwrap();
    assert!(!hits.is_empty() && page["total"].as_u64().unwrap() < 4000, "{page}");
    for hit in hits {
        assert!(hit["aesthetic"].as_f64().unwrap() >= 6.0 && hit["punsafe"].as_f64().unwrap() <= 0.3, "{hit}");
        assert!(hit["width"].as_i64().unwrap() >= 512, "{hit}");
    }
    // A host's facet count is the total of the search its link leads to.
    let all = get_ok(&app, "/search.json?limit=1").await.json();
    let top = &all["hosts"]["values"][0];
    let html = get_ok(&app, "/?limit=1").await.body;
    let link = urls_in(&html).into_iter().find(|u| u.starts_with("/?") && u.contains("host=")).expect("a host link");
    let linked = get_ok(&app, &link.replacen("/?", "/search.json?", 1)).await.json();
    assert_eq!(linked["total"], top["rows"], "{link}");
    // A host value with quotes is a string literal, not EXPR syntax: it matches no row.
    let injected = get_ok(&app, "/search.json?host=x%27+OR+width+%3E%3D+0+OR+host+%3D+%27y").await.json();
    assert_eq!(injected["total"], 0, "{injected}");
}

#[tokio::test]
async fn safe_mode_blurs_unsafe_images_and_no_remote_images_shows_none() {
    let app = app();
    let blurred = r#"<details class="unsafe">"#;
    for (marker, hidden) in [("highpunsafe", true), ("nsfwlabelled", true), ("safeone", false)] {
        let id = hostile_row(&app, marker).await;
        let row = get_ok(&app, &format!("/row/{id}")).await.body;
        assert!(row.contains("<img"), "{marker}");
        assert_eq!(row.contains(blurred), hidden, "{marker}: {row}");
        let search = get_ok(&app, &format!("/?q={TOKEN}+{marker}")).await.body;
        assert_eq!(search.contains(blurred), hidden, "{marker}: {search}");
    }
    // A lower threshold blurs more.
    let mut strict = config(dataset());
    strict.unsafe_threshold = 0.0;
    let id = hostile_row(&app, "safeone").await;
    assert!(get_ok(&app_with(strict), &format!("/row/{id}")).await.body.contains(blurred));

    let mut off = config(dataset());
    off.remote_images = false;
    let off = app_with(off);
    for path in [format!("/?q={TOKEN}"), "/?limit=50".into(), format!("/row/{id}")] {
        let answer = get_ok(&off, &path).await;
        assert!(!answer.body.contains("<img"), "{path}");
        let csp = answer.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("img-src 'none'"), "{csp}");
    }
    assert_eq!(get_ok(&off, "/-/settings.json").await.json()["remote_images"], false);
}

/// The bytes `fetch_output` keeps as row `id`'s image.
fn fake_jpeg(id: i64) -> Vec<u8> {
    format!("\u{ff}\u{d8} image of row {id}").into_bytes()
}

/// A fetch output (one webdataset shard) holding an image for each row of `ids`.
fn fetch_output(ids: &[i64]) -> tempfile::TempDir {
    use pairscope_fetch::shard::{OutputFormat, Sample, ShardWriter};
    let dir = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(dir.path(), 0).unwrap();
    let mut keys = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let key = format!("0000{i}");
        writer
            .put(&Sample {
                key: key.clone(),
                url: format!("https://x.example/{id}.jpg"),
                caption: None,
                status: "ok".into(),
                error_message: String::new(),
                width: Some(1),
                height: Some(1),
                original_width: None,
                original_height: None,
                md5: None,
                sha1: None,
                sha256: None,
                row_id: Some(*id),
                image: Some(fake_jpeg(*id)),
            })
            .unwrap();
        keys.push(key);
    }
    writer.finish(&keys, OutputFormat::Webdataset).unwrap();
    dir
}

#[tokio::test]
async fn fetched_images_are_served_by_row_id_and_nothing_is_hotlinked() {
    let app = app();
    let fetched = [hostile_row(&app, "highpunsafe").await, hostile_row(&app, "safeone").await];
    let not_fetched = hostile_row(&app, "nsfwlabelled").await;
    let dir = fetch_output(&fetched);
    let mut local = config(dataset());
    local.images = Some(Arc::new(pairscope_fetch::LocalImages::open(dir.path()).unwrap()));
    let local = app_with(local);

    let page = get_ok(&local, &format!("/?q={TOKEN}")).await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("img-src 'self';"), "{csp}");
    let sources: Vec<String> = urls_in(&page.body).into_iter().filter(|u| u.starts_with("/-/image/")).collect();
    let mut expected: Vec<String> = fetched.iter().map(|id| format!("/-/image/{id}")).collect();
    expected.sort();
    let mut sorted = sources.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "only fetched rows show an image, from this server");
    assert!(!page.body.contains(" src=\"http"), "a hotlink: {}", page.body);
    assert!(page.body.contains("not fetched"));
    // The unsafe one stays blurred.
    let row = get_ok(&local, &format!("/row/{}", fetched[0])).await.body;
    assert!(row.contains(r#"<details class="unsafe">"#) && row.contains(&format!("/-/image/{}", fetched[0])));

    for id in fetched {
        let image = get_ok(&local, &format!("/-/image/{id}")).await;
        assert_eq!(header(&image, "content-type"), "image/jpeg");
        assert_eq!(image.bytes.as_ref(), fake_jpeg(id).as_slice());
    }
    for path in [format!("/-/image/{not_fetched}"), "/-/image/x".into(), "/-/image/-1".into()] {
        assert_eq!(get(&local, &path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Without --images there is no image route to speak of.
    assert_eq!(get(&app, &format!("/-/image/{}", fetched[1])).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn searches_beyond_the_limit_get_503_with_retry_after() {
    let mut busy = config(dataset());
    busy.max_concurrent = 0;
    busy.max_queued = 0;
    let busy = app_with(busy);
    for path in ["/?q=kitchen", "/search.json", "/row/1", "/mentions.json"] {
        let answer = get(&busy, path).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(answer.headers[header::RETRY_AFTER], "1", "{path}");
    }
    assert_eq!(get(&busy, "/search.json").await.json()["error"]["status"], 503);
    // Pages that run no query are still served.
    assert_eq!(get(&busy, "/-/settings.json").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_rows_and_paths_are_404() {
    let app = app();
    for path in ["/row/123", "/row/123.json", "/row/abc", "/row/-5", "/row/%FF", "/nothing-here", "/row/"] {
        let answer = get(&app, path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!answer.body.contains("abc") && !answer.body.contains("nothing-here"), "{path}");
    }
    assert_eq!(get(&app, "/row/123.json").await.json()["error"]["status"], 404);
}

#[tokio::test]
async fn bad_requests_are_400_and_never_echo_the_request() {
    let app = app();
    let marker = "zqxmarker";
    let cases = [
        format!("/?q=%22{marker}"),
        format!("/?q=({marker}"),
        format!("/search.json?q={marker}+AND"),
        format!("/?aesthetic_min={marker}"),
        format!("/?min_width={marker}"),
        format!("/?sort={marker}"),
        format!("/?after=v1.{marker}"),
        format!("/?after=v999999.relevance.d.n.1&q={marker}"),
        format!("/?names=/etc/{marker}&mention=x"),
        format!("/mentions?list=/etc/{marker}"),
        format!("/mentions.json?list=builtin:{marker}"),
        format!("/?mention=%21%21%21&q={marker}"),
    ];
    for path in &cases {
        let answer = get(&app, path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}: {}", answer.body);
        assert!(!answer.body.contains(marker) && !answer.body.contains("/etc"), "{path}: {}", answer.body);
    }
    let error = get(&app, &format!("/search.json?q=%22{marker}")).await.json();
    assert_eq!(error["error"]["status"], 400);
    assert!(error["error"]["message"].as_str().unwrap().contains("character 1"), "{error}");
}

#[tokio::test]
async fn mention_links_search_exactly_the_captions_counted() {
    let app = app();
    let report = get_ok(&app, "/mentions.json?list=builtin:artists").await.json();
    assert_eq!(report["rows"], 4000 + HOSTILE_ROWS);
    let entities = report["entities"].as_array().unwrap();
    assert!(!entities.is_empty(), "the synthetic data mentions artists: {report}");
    for entity in entities.iter().take(5) {
        let link = entity["search"].as_str().unwrap();
        assert!(link.starts_with("/?") && link.contains("names=builtin%3Aartists"), "{link}");
        let page = get_ok(&app, &link.replacen("/?", "/search.json?", 1)).await.json();
        assert_eq!(page["total"], entity["captions"], "{entity}");
        assert_eq!(page["mention"]["name"], entity["name"]);
    }
    let html = get_ok(&app, "/mentions").await.body;
    let first = entities[0]["name"].as_str().unwrap();
    assert!(html.contains(&maud::html! { (first) }.into_string()), "{first}");
    assert!(urls_in(&html).iter().any(|u| u == entities[0]["search"].as_str().unwrap()));
    // Asked again (from the cache now), the counts are the same.
    let again = get_ok(&app, "/mentions.json?list=builtin:artists").await.json();
    let counts = |r: &Value| {
        r["entities"].as_array().unwrap().iter().map(|e| (e["name"].clone(), e["captions"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(counts(&again), counts(&report));
}

#[tokio::test]
async fn a_new_dataset_version_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let inputs = synth(dir.path(), 300);
    ingest(&ds, &inputs, &IngestOptions::default(), &NoProgress).unwrap();
    let mut config = config(&ds);
    config.reload_interval = Duration::ZERO;
    let app = app_with(config);
    let before = get_ok(&app, "/search.json?limit=1").await.json();
    assert_eq!(before["total"], 300);
    assert_eq!(get_ok(&app, &format!("/search.json?q={TOKEN}")).await.json()["total"], 0);
    ingest(&ds, &[write_hostile(dir.path()).display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
    let after = get_ok(&app, "/search.json?limit=1").await.json();
    assert_eq!(after["total"], 300 + HOSTILE_ROWS);
    // The facets kept for this selection were the old version's: counted again.
    let distinct = |page: &Value| page["hosts"]["distinct"].as_u64().unwrap();
    assert_eq!(distinct(&after), distinct(&before) + 2, "evil.example and safe.example");
    assert_eq!(after["version"].as_u64().unwrap(), before["version"].as_u64().unwrap() + 1);
    assert_eq!(get_ok(&app, &format!("/search.json?q={TOKEN}")).await.json()["total"], HOSTILE_ROWS);
    // A cursor of the old version is refused, not misread.
    let stale = before["next"].as_str().unwrap();
    assert_eq!(get(&app, &format!("/search.json?limit=1&after={stale}")).await.status, StatusCode::BAD_REQUEST);
}

#[test]
fn non_loopback_addresses_need_allow_remote() {
    let mut config = config(dataset());
    config.bind = "0.0.0.0:8080".parse().unwrap();
    let refused = config.check().unwrap_err();
    assert!(pairscope_model::is_usage(&refused) && refused.to_string().contains("--allow-remote"), "{refused}");
    config.allow_remote = true;
    assert!(config.check().is_ok());
    config.unsafe_threshold = 1.5;
    assert!(config.check().is_err());
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).map_or("", |v| v.to_str().unwrap())
}

/// The row ids of an export's JSON lines.
fn jsonl_ids(answer: &Answer) -> Vec<i64> {
    answer.body.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["row_id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn exports_stream_the_search_in_its_order_up_to_the_cap() {
    let mut capped = config(dataset());
    capped.export_cap = 50;
    let app = app_with(capped);
    // The search's first rows, in its order, are the export's.
    let page = get_ok(&app, "/search.json?sort=aesthetic&limit=50").await.json();
    let ids: Vec<i64> = page["hits"].as_array().unwrap().iter().map(|h| h["row_id"].as_i64().unwrap()).collect();
    let all = get_ok(&app, "/export.jsonl?sort=aesthetic&limit=3&after=ignored").await;
    assert_eq!(header(&all, "content-type"), "application/x-ndjson");
    assert_eq!(jsonl_ids(&all), ids);
    assert_eq!(header(&all, "x-pairscope-total"), (4000 + HOSTILE_ROWS).to_string());
    assert_eq!(header(&all, "x-pairscope-export-rows"), "50");
    assert_eq!(header(&all, "x-pairscope-export-cap"), "50");
    assert_eq!(header(&all, "x-pairscope-truncated"), "true");
    assert!(header(&all, "content-disposition").starts_with("attachment; filename=\"pairscope-v"), "{:?}", all.headers);
    // A request may lower the cap, never raise it.
    let lowered = get_ok(&app, "/export.jsonl?sort=aesthetic&cap=7").await;
    assert_eq!(jsonl_ids(&lowered), ids[..7]);
    assert_eq!(header(&lowered, "x-pairscope-export-cap"), "7");
    let raised = get_ok(&app, "/export.jsonl?cap=1000000").await;
    assert_eq!(jsonl_ids(&raised).len(), 50);
    assert_eq!(header(&raised, "x-pairscope-export-cap"), "50");
    // Under the cap, the whole result and no truncation.
    let few = get_ok(&app, &format!("/export.jsonl?q={TOKEN}")).await;
    assert_eq!(jsonl_ids(&few).len() as u64, HOSTILE_ROWS);
    assert_eq!(header(&few, "x-pairscope-truncated"), "false");
    // More rows than one page of the engine (1,000): pages are joined without gap or repeat.
    let mut big = config(dataset());
    big.export_cap = 2500;
    let big = get_ok(&app_with(big), "/export.jsonl?sort=width&order=asc").await;
    let ids = jsonl_ids(&big);
    assert_eq!(ids.len(), 2500);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 2500, "no row twice");
    for (bad, status) in [("/export.csv?cap=0", 400), ("/export.csv?cap=x", 400), ("/export.parquet?q=%22", 400)] {
        let answer = get(&app, bad).await;
        assert_eq!(answer.status.as_u16(), status, "{bad}");
        assert_eq!(answer.json()["error"]["status"], status, "{bad}");
    }
}

#[tokio::test]
async fn csv_exports_neutralise_formulas_and_parquet_exports_parse() {
    let app = app();
    let csv = get_ok(&app, &format!("/export.csv?q={TOKEN}")).await;
    assert_eq!(header(&csv, "content-type"), "text/csv; charset=utf-8");
    assert!(csv.body.starts_with("row_id,url,caption,"), "{}", csv.body);
    assert_eq!(csv.body.lines().count() as u64, 1 + HOSTILE_ROWS, "{}", csv.body);
    assert!(csv.body.contains(r#""'=HYPERLINK(""http://evil.example/x"""#), "{}", csv.body);
    assert!(!csv.body.contains(r#","=HYPERLINK"#) && !csv.body.contains(",=HYPERLINK"), "{}", csv.body);
    // JSON lines keep the exact text: a program reads them, not a spreadsheet.
    let jsonl = get_ok(&app, &format!("/export.jsonl?q={TOKEN}+formula")).await;
    assert!(jsonl.body.contains(r#""caption":"=HYPERLINK("#), "{}", jsonl.body);

    let parquet = get_ok(&app, "/export.parquet?aesthetic_min=6").await;
    assert_eq!(header(&parquet, "content-type"), "application/vnd.apache.parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(parquet.bytes.clone())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let aesthetic = batch.column_by_name("aesthetic").unwrap();
        let aesthetic = aesthetic.as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(aesthetic.iter().all(|a| a.is_some_and(|a| a >= 6.0)));
        rows += batch.num_rows();
    }
    let total = get_ok(&app, "/search.json?aesthetic_min=6&limit=1").await.json()["total"].as_u64().unwrap();
    assert!(total > 0);
    assert_eq!(rows as u64, total);
    assert_eq!(header(&parquet, "x-pairscope-export-rows"), total.to_string());

    // The search page links to the exports of the same search.
    let html = get_ok(&app, "/?q=kitchen&aesthetic_min=5&limit=3").await.body;
    for path in ["/export.csv?", "/export.jsonl?", "/export.parquet?"] {
        let link = urls_in(&html).into_iter().find(|u| u.starts_with(path)).unwrap_or_else(|| panic!("{path}"));
        assert!(link.contains("q=kitchen") && link.contains("aesthetic_min=5") && !link.contains("limit"), "{link}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_path_that_answers() {
    let row = get_ok(&app(), "/search.json?limit=1").await.json()["hits"][0]["row_id"].as_i64().unwrap();
    // With a fetched image of that row, so that `/-/image/{id}` answers too.
    let images = fetch_output(&[row]);
    let mut config = config(dataset());
    config.images = Some(Arc::new(pairscope_fetch::LocalImages::open(images.path()).unwrap()));
    let app = app_with(config);
    let document = get_ok(&app, "/api/openapi.json").await.json();
    assert_eq!(document["openapi"], "3.1.0");
    for (path, item) in document["paths"].as_object().unwrap() {
        let url = path.replace("{id}", &row.to_string());
        let answer = get(&app, &url).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        let content = item["get"]["responses"]["200"]["content"].as_object().unwrap();
        let documented = content.keys().next().unwrap();
        assert!(header(&answer, "content-type").starts_with(documented.as_str()), "{path}: {:?}", answer.headers);
        // Each JSON answer has the properties its schema requires.
        if let Some(reference) = content[documented]["schema"]["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap();
            let schema = &document["components"]["schemas"][name];
            let value = answer.json();
            for key in schema["required"].as_array().into_iter().flatten() {
                assert!(value.get(key.as_str().unwrap()).is_some(), "{path}: {key} missing from {value}");
            }
        }
    }
    // The document is valid OpenAPI 3.1, by the reference validator when the bench venv has it.
    let python = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../bench/.venv/bin/python");
    let has_validator = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import openapi_spec_validator"])
            .status()
            .is_ok_and(|s| s.success());
    if !has_validator {
        eprintln!("SKIPPED: OpenAPI validation (no openapi-spec-validator in bench/.venv: dev/test installs it)");
        return;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document.to_string()).unwrap();
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
        ])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A validator of `schema` (a part of `document`, whose references point into it).
fn validator(document: &Value, schema: &Value) -> jsonschema::Validator {
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "allOf": [schema],
    });
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{e}: {schema}"))
}

/// Queries that reach each part of a JSON route's answer over the hostile rows: facets, the
/// mention, the cursor, empty results, filters.
const JSON_QUERIES: [(&str, &[&str]); 6] = [
    (
        "/search.json",
        &[
            "",
            "?q=hostiletestrow&sort=aesthetic&order=asc&limit=2",
            "?q=hostiletestrow&language=en&aesthetic_min=5&min_width=100&fold_accents=1",
            "?mention=Link&names=builtin:characters",
            "?mention=nosuchentityanywhere",
            "?q=nosuchwordanywhere",
        ],
    ),
    ("/row/{id}.json", &[""]),
    ("/similar/{id}.json", &["", "?aesthetic_min=5&q=hostiletestrow"]),
    ("/mentions.json", &["", "?list=builtin:characters&sort=name&order=asc", "?filter=zzzznothing"]),
    ("/overview.json", &[""]),
    ("/-/settings.json", &[""]),
];

#[tokio::test]
async fn every_json_answer_is_valid_against_the_schema_the_document_derives_for_it() {
    let app = app();
    let document = get_ok(&app, "/api/openapi.json").await.json();
    let hostile = get_ok(&app, &format!("/search.json?q={TOKEN}&limit=1")).await.json();
    let row = hostile["hits"][0]["row_id"].as_i64().unwrap();
    let mut routes = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let responses = &item["get"]["responses"];
        let Some(schema) = responses["200"]["content"]["application/json"]["schema"].as_object() else { continue };
        if !schema.contains_key("$ref") {
            continue; // the document itself
        }
        let (_, queries) = JSON_QUERIES
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} answers JSON: give it queries in JSON_QUERIES"));
        let answers = validator(&document, &responses["200"]["content"]["application/json"]["schema"]);
        for query in *queries {
            let url = format!("{}{query}", path.replace("{id}", &row.to_string()));
            let answer = get_ok(&app, &url).await.json();
            if let Err(error) = answers.validate(&answer) {
                panic!("{url}: {error}\n{answer}");
            }
        }
        // Its errors have the error document's shape.
        let errors = validator(&document, &responses["default"]["content"]["application/json"]["schema"]);
        let bad = format!("{}?sort=nope&list=nope&limit=x", path.replace("{id}", "99999999999999"));
        let failed = get(&app, &bad).await;
        if failed.status != StatusCode::OK {
            let error = failed.json();
            assert!(errors.is_valid(&error), "{bad}: {error}");
        }
        routes += 1;
    }
    assert_eq!(routes, JSON_QUERIES.len(), "every route of JSON_QUERIES is in the document");

    // The schemas are closed: a field an answer had and its type did not declare fails.
    let search = &document["paths"]["/search.json"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    let answers = validator(&document, search);
    assert!(answers.is_valid(&hostile));
    for pointer in ["", "/hits/0", "/hosts", "/hosts/values/0"] {
        let mut grown = hostile.clone();
        grown.pointer_mut(pointer).unwrap().as_object_mut().unwrap().insert("undeclared".into(), Value::from(1));
        assert!(!answers.is_valid(&grown), "a field added at {pointer:?} passes");
    }
    // And the facet shape is one: {value, rows}, not a pair.
    let mut paired = hostile.clone();
    paired["hosts"]["values"][0] = serde_json::json!(["a.example", 1]);
    assert!(!answers.is_valid(&paired));
}

#[tokio::test]
async fn the_overview_counts_every_row_and_draws_its_charts() {
    let app = app();
    let overview = get_ok(&app, "/overview.json").await.json();
    let rows = 4000 + HOSTILE_ROWS;
    assert_eq!(overview["rows"], rows);
    let sources = overview["sources"].as_array().unwrap();
    assert!(sources.iter().any(|s| s["file"] == "hostile.parquet" && s["rows"] == HOSTILE_ROWS), "{overview}");
    assert!(sources.iter().all(|s| !s["file"].as_str().unwrap().contains('/')), "file names only");
    let histograms = overview["histograms"].as_array().unwrap();
    let columns: Vec<&str> = histograms.iter().map(|h| h["column"].as_str().unwrap()).collect();
    let drawn: Vec<&str> = pairscope_model::Registry::CANONICAL.overview_histograms().map(|c| c.name).collect();
    assert_eq!(columns, drawn);
    assert!(drawn.contains(&"aesthetic") && drawn.contains(&"width"), "{drawn:?}");
    for histogram in histograms {
        let counted: u64 = histogram["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
        let rest = ["below", "above", "null"].map(|k| histogram[k].as_u64().unwrap()).iter().sum::<u64>();
        assert_eq!(counted + rest, rows, "{histogram}");
        assert!(counted > 0, "{histogram}");
    }
    // A domain's count is the total of the search its link leads to.
    let html = get_ok(&app, "/overview").await.body;
    assert_eq!(html.matches(r#"<svg class="histogram""#).count(), drawn.len(), "{html}");
    let top = &overview["domains"]["values"][0];
    let link = urls_in(&html).into_iter().find(|u| u.starts_with("/?domain=")).expect("a domain link");
    let linked = get_ok(&app, &link.replacen("/?", "/search.json?", 1)).await.json();
    assert_eq!(linked["total"], top["rows"], "{link}");
    assert_safe_html("/overview", &html);
    // Kept beside the version: a new server reads it (the same answer), and one whose kept
    // file is damaged counts again and keeps it whole again.
    let kept = dataset().join("cache/overview").join(format!("v{}-f2-none.json", overview["version"]));
    let kept_bytes = std::fs::read(&kept).expect("the overview is kept");
    assert_eq!(get_ok(&app_with(config(dataset())), "/overview.json").await.json(), overview);
    let damaged = kept.with_extension("damaged");
    std::fs::write(&damaged, &kept_bytes[..kept_bytes.len() / 2]).unwrap();
    std::fs::rename(&damaged, &kept).unwrap();
    assert_eq!(get_ok(&app_with(config(dataset())), "/overview.json").await.json(), overview);
    assert_eq!(std::fs::read(&kept).unwrap(), kept_bytes);
}

#[tokio::test]
async fn language_facet_similarity_and_domain_filters_select_what_they_say() {
    let app = app();
    let all = get_ok(&app, "/search.json?limit=1").await.json();
    // Only the hostile rows have a language (the synthetic schema has none).
    let top = &all["languages"]["values"][0];
    assert_eq!((&top["value"], &top["rows"]), (&Value::from("en"), &Value::from(3)), "{all}");
    assert_eq!(all["languages"]["null"], 4000 + HOSTILE_ROWS - 5);
    let html = get_ok(&app, "/?limit=1").await.body;
    let link = urls_in(&html).into_iter().find(|u| u.starts_with("/?language=")).expect("a language link");
    let linked = get_ok(&app, &link.replacen("/?", "/search.json?", 1)).await.json();
    assert_eq!(linked["total"], top["rows"], "{link}");
    assert!(linked["hits"].as_array().unwrap().iter().all(|h| h["language"] == top["value"]));

    let similar = get_ok(&app, "/search.json?similarity_min=0.3&similarity_max=0.32&limit=200").await.json();
    let hits = similar["hits"].as_array().unwrap();
    assert!(!hits.is_empty() && similar["total"].as_u64().unwrap() < 4000, "{similar}");
    assert!(hits.iter().all(|h| (0.3..=0.32).contains(&h["similarity"].as_f64().unwrap())), "{similar}");

    let host = all["hits"][0]["host"].as_str().unwrap().to_string();
    let domain = all["hits"][0]["domain"].as_str().unwrap().to_string();
    let by_domain = get_ok(&app, &format!("/search.json?domain={domain}&limit=200")).await.json();
    let by_host = get_ok(&app, &format!("/search.json?host={host}&limit=1")).await.json();
    assert!(by_domain["total"].as_u64().unwrap() >= by_host["total"].as_u64().unwrap());
    assert!(by_domain["hits"].as_array().unwrap().iter().all(|h| h["domain"] == domain.as_str()));
    // The row page links to more from its host.
    let id = all["hits"][0]["row_id"].as_i64().unwrap();
    let row = get_ok(&app, &format!("/row/{id}")).await.body;
    assert!(urls_in(&row).iter().any(|u| u.starts_with("/?host=")), "{row}");
}

#[tokio::test]
async fn the_mentions_table_sorts_filters_and_draws_bars() {
    let app = app();
    let names = |report: &Value| -> Vec<String> {
        report["entities"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect()
    };
    let by_count = get_ok(&app, "/mentions.json").await.json();
    let counts: Vec<u64> =
        by_count["entities"].as_array().unwrap().iter().map(|e| e["captions"].as_u64().unwrap()).collect();
    assert!(counts.len() > 2 && counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let by_name = names(&get_ok(&app, "/mentions.json?sort=name&order=asc").await.json());
    let mut sorted = names(&by_count);
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(by_name, sorted);
    let ascending = get_ok(&app, "/mentions.json?order=asc").await.json();
    assert_eq!(ascending["entities"][0]["captions"].as_u64(), counts.last().copied());
    // A filter keeps the names that contain it (any case).
    let first = names(&by_count)[0].clone();
    let part: String = first.chars().take(4).collect::<String>().to_uppercase();
    let filtered = get_ok(&app, &format!("/mentions.json?filter={}", url_encode(&part))).await.json();
    let kept = names(&filtered);
    assert!(kept.contains(&first) && kept.len() < counts.len(), "{part}: {kept:?}");
    // The page: heading links sort, one bar per row, ambiguous names marked.
    let html = get_ok(&app, "/mentions").await.body;
    assert!(urls_in(&html).iter().any(|u| u == "/mentions?list=builtin%3Aartists&sort=name&order=asc"), "{html}");
    assert_eq!(html.matches(r#"<svg class="bar""#).count(), counts.len());
    let characters = get_ok(&app, "/mentions.json?list=builtin:characters").await.json();
    let ambiguous = characters["entities"].as_array().unwrap().iter().filter(|e| e["ambiguous"].is_string()).count();
    assert!(ambiguous > 0, "{characters}");
    let html = get_ok(&app, "/mentions?list=builtin:characters").await.body;
    assert_eq!(html.matches(r#"<span class="ambiguous""#).count(), ambiguous);
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn images_that_fail_get_a_placeholder_by_a_script_the_csp_allows() {
    let app = app();
    let script = get_ok(&app, "/-/app.js").await;
    assert_eq!(header(&script, "content-type"), "text/javascript; charset=utf-8");
    assert!(script.body.contains("noimage") && script.body.contains("\"error\""), "{}", script.body);
    let page = get_ok(&app, "/?limit=5").await;
    assert!(page.body.contains(SCRIPT_TAG) && page.body.contains("<img"));
    // No inline handler or script in any tag: the CSP would block them. (Text is escaped, so
    // every `<` of the page starts a tag.)
    let page = get_ok(&app, &format!("/?q={TOKEN}")).await;
    let tags: Vec<&str> = page.body.split('<').skip(1).map(|t| &t[..t.find('>').unwrap()]).collect();
    assert!(tags.len() > 50, "{}", page.body);
    for tag in tags {
        assert!(!tag.contains(" onerror") && !tag.contains(" onload") && !tag.contains(" onclick"), "{tag}");
    }
}

#[tokio::test]
async fn an_accept_header_that_wants_json_gets_the_json_twin() {
    let app = app();
    let ask = |path: &str, accept: &str, host: &str| {
        Request::builder()
            .uri(path)
            .header(header::HOST, host)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap()
    };
    let json = "application/json";
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let id = hostile_row(&app, "safeone").await;
    for (path, key) in [
        ("/?q=kitchen&limit=2".to_string(), "total"),
        ("/search?q=kitchen".into(), "hits"),
        (format!("/row/{id}"), "row"),
        ("/mentions?list=builtin:characters".into(), "entities"),
        ("/overview".into(), "histograms"),
        ("/-/settings".into(), "limits"),
    ] {
        let response = app.clone().oneshot(ask(&path, json, HOST)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::VARY], "accept");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(value.get(key).is_some(), "{path}: {value}");
        let response = app.clone().oneshot(ask(&path, browser, HOST)).await.unwrap();
        assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
    }
    // The query is kept, and the Host check still applies (absolute form included).
    let response = app.clone().oneshot(ask("/?q=nosuchwordanywhere", json, HOST)).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["total"], 0);
    for (path, host) in [("/", "evil.example:8080"), ("http://evil.example:8080/", HOST)] {
        let response = app.clone().oneshot(ask(path, json, host)).await.unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST, "{path} {host}");
    }
}

#[tokio::test]
async fn search_pages_are_the_same_with_the_facet_cache_and_without() {
    let cached = app();
    let mut off = config(dataset());
    off.facet_cache = 0;
    let uncached = app_with(off);
    assert_eq!(get_ok(&uncached, "/-/settings.json").await.json()["limits"]["facet_cache"], 0);
    for first in [
        "/search.json?q=kitchen&limit=7",
        "/search.json?sort=aesthetic&order=asc&limit=150",
        "/search.json?q=print&url=https%3A%2F%2F&limit=9",
        // Later pages take the total from the cached facets and check the phrase on their
        // best candidates only.
        "/search.json?q=%22canvas+print%22&sort=aesthetic&limit=6",
    ] {
        let mut path = first.to_string();
        let mut total = None;
        // The first pages fill the cache; later ones, and the first again, are answered from it.
        for _ in 0..4 {
            let (a, b) = (get_ok(&cached, &path).await.json(), get_ok(&uncached, &path).await.json());
            assert_eq!(a, b, "{path}");
            assert!(a["hosts"]["values"].is_array(), "{a}");
            assert_eq!(*total.get_or_insert(a["total"].clone()), a["total"], "every page has the search's total");
            let Some(next) = a["next_url"].as_str() else { break };
            path = next.to_string();
        }
        assert_eq!(get_ok(&cached, first).await.json(), get_ok(&uncached, first).await.json(), "{first}");
    }
}

#[tokio::test]
async fn facets_that_exceed_their_time_limit_are_left_off_the_page() {
    let mut hurried = config(dataset());
    hurried.facet_timeout = Duration::ZERO;
    let app = app_with(hurried);
    let page = get_ok(&app, "/search.json?q=kitchen").await.json();
    assert!(page["hits"].as_array().is_some_and(|h| !h.is_empty()), "{page}");
    assert!(page["hosts"].is_null() && page["languages"].is_null(), "{page}");
    let html = get_ok(&app, "/?q=kitchen").await.body;
    assert_eq!(html.matches("These counts did not fit in the time limit.").count(), 2, "{html}");
    assert_eq!(get_ok(&app, "/-/settings.json").await.json()["limits"]["facet_timeout_ms"], 0);
}

#[tokio::test]
async fn rows_on_removal_lists_are_never_shown_counted_or_exported() {
    let plain = app();
    let all = get_ok(&plain, "/search.json?limit=1").await.json();
    let top_host = all["hosts"]["values"][0]["value"].as_str().unwrap().to_string();
    let top_rows = all["hosts"]["values"][0]["rows"].as_u64().unwrap();
    let total = all["total"].as_u64().unwrap();
    let listed = get_ok(&plain, &format!("/search.json?host={top_host}&limit=1")).await.json();
    let listed_row = listed["hits"][0]["row_id"].as_i64().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("domains.txt");
    std::fs::write(&list, format!("# hidden\n{top_host}\n")).unwrap();
    let mut config = config(dataset());
    config.removal = app_removal(&list);
    let app = app_with(config);

    let page = get_ok(&app, "/search.json?limit=200").await.json();
    assert_eq!(page["total"].as_u64().unwrap(), total - top_rows, "{}", page["total"]);
    assert!(page["hits"].as_array().unwrap().iter().all(|h| h["host"] != top_host.as_str()));
    assert!(page["hosts"]["values"].as_array().unwrap().iter().all(|v| v["value"] != top_host.as_str()));
    let searched = get_ok(&app, &format!("/search.json?host={top_host}")).await.json();
    assert_eq!(searched["total"], 0);
    assert_eq!(get(&app, &format!("/row/{listed_row}.json")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&plain, &format!("/row/{listed_row}.json")).await.status, StatusCode::OK);
    let export = get_ok(&app, "/export.jsonl").await;
    assert_eq!(jsonl_ids(&export).len() as u64, total - top_rows);
    assert!(!jsonl_ids(&export).contains(&listed_row));
    let settings = get_ok(&app, "/-/settings.json").await.json();
    assert_eq!(settings["removal"]["hidden_rows"].as_u64(), Some(top_rows));
    assert_eq!(settings["removal"]["lists"][0]["file"], "domains.txt", "no directories shown");
    assert_eq!(settings["removal"]["lists"][0]["entries"], 1);
    // Each set of hidden rows has its own overview, kept or not: one never answers for another.
    for _ in 0..2 {
        let mut hiding = self::config(dataset());
        hiding.removal = app_removal(&list);
        let hidden = app_with(hiding);
        let counted = |overview: Value| {
            let rows = overview["rows"].as_u64();
            assert_eq!(rows, overview["domains"]["total"].as_u64(), "rows shown are rows counted: {overview}");
            (rows, overview["hidden_rows"].as_u64())
        };
        assert_eq!(counted(get_ok(&hidden, "/overview.json").await.json()), (Some(total - top_rows), Some(top_rows)));
        let plain = self::app();
        assert_eq!(counted(get_ok(&plain, "/overview.json").await.json()), (Some(total), Some(0)));
    }
}

fn app_removal(list: &Path) -> std::sync::Arc<pairscope_lists::RemovalLists> {
    let mut lists = pairscope_lists::RemovalLists::default();
    lists.load(pairscope_lists::ListKind::Domains, list).unwrap();
    std::sync::Arc::new(lists)
}

#[tokio::test]
async fn similar_images_pages_answer_rows_with_vectors_and_404_without() {
    let app = app();
    let id = hostile_row(&app, "highpunsafe").await;
    let row = get_ok(&app, &format!("/row/{id}")).await.body;
    assert!(row.contains(&format!(r#"href="/similar/{id}""#)), "{row}");
    let page = get_ok(&app, &format!("/similar/{id}")).await.body;
    assert_safe_html(&format!("/similar/{id}"), &page);
    assert!(page.contains(r#"<details class="unsafe">"#), "the unsafe row is blurred: {page}");
    let document = get_ok(&app, &format!("/similar/{id}.json")).await.json();
    let hits = document["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 48, "{document}");
    assert_eq!(hits[0]["row_id"], id, "a row is most like itself");
    assert!((hits[0]["cosine"].as_f64().unwrap() - 1.0).abs() < 1e-3);
    assert_eq!(document["row_id"], id);
    for path in ["/similar/abc", "/similar/-1", "/similar/123.json"] {
        assert_eq!(get(&app, path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Ordered by similarity among a search's rows: the search page links each hit so, and
    // only rows of the search come back.
    let search = get_ok(&app, "/?aesthetic_min=5").await.body;
    assert!(search.contains("/similar/") && search.contains("?aesthetic_min=5"), "{search}");
    let among = get_ok(&app, &format!("/similar/{id}.json?aesthetic_min=5")).await.json();
    let hits = among["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{among}");
    assert!(hits.iter().all(|h| h["aesthetic"].as_f64().unwrap() >= 5.0), "{among}");
    assert!(among["kept_rows"].as_u64().unwrap() < document["kept_rows"].as_u64().unwrap());
    let page = get_ok(&app, &format!("/similar/{id}?aesthetic_min=5")).await.body;
    assert!(page.contains("among the rows of"), "{page}");
    assert_eq!(get(&app, &format!("/similar/{id}.json?aesthetic_min=abc")).await.status, StatusCode::BAD_REQUEST);

    // A dataset without vectors: no link, and 404.
    let dir = tempfile::tempdir().unwrap();
    let source = write_hostile(dir.path());
    let ds = dir.path().join("ds");
    ingest(&ds, &[source.display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
    let plain = app_with(config(&ds));
    let id = hostile_row(&plain, "highpunsafe").await;
    assert!(!get_ok(&plain, &format!("/row/{id}")).await.body.contains("/similar/"));
    assert_eq!(get(&plain, &format!("/similar/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&plain, &format!("/similar/{id}.json")).await.json()["error"]["status"], 404);
}
