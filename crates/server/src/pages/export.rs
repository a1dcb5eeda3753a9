//! `/export.csv`, `/export.jsonl`, `/export.parquet`: the rows of a search, in its order, as a
//! file. The parameters are the search page's (`limit` and `after` aside: an export starts at
//! the first row), plus `cap`, which may lower the server's `export_cap`, never raise it.
//!
//! The rows are counted before the first byte goes out, so the headers can say what the file
//! holds while the data stays pure data (no comment line to trip a reader): `X-Pairscope-Total`
//! (rows the search matches), `X-Pairscope-Export-Rows` (rows in this file),
//! `X-Pairscope-Export-Cap` and `X-Pairscope-Truncated` (`true` when the cap cut it short).
//! Rows are read a page at a time and written as they come through the store's writer (CSV
//! with formula cells neutralised): CSV and JSON lines go out page by page, while parquet is
//! held until a row group of the store's writer is complete (so its memory grows with the cap).
//! A failure midway aborts the response, so a cut file never passes for a whole one.

use std::io::{self, Write};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pairscope_query::{Engine, Hit, Limits, MAX_LIMIT, SearchRequest};
use pairscope_store::export::{BatchWriter, ExportError, ExportFormat, ExportOptions};
use tokio::sync::{mpsc, oneshot};
use url::form_urlencoded;

use crate::App;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::pages::search::mention;

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the writer and the connection.
const CHUNKS_QUEUED: usize = 4;

pub(crate) async fn csv(state: State<Arc<App>>, query: RawQuery) -> Response {
    export(state, query, ExportFormat::Csv).await
}

pub(crate) async fn jsonl(state: State<Arc<App>>, query: RawQuery) -> Response {
    export(state, query, ExportFormat::Jsonl).await
}

pub(crate) async fn parquet(state: State<Arc<App>>, query: RawQuery) -> Response {
    export(state, query, ExportFormat::Parquet).await
}

/// What an export holds, known before it is written.
struct Head {
    version: u64,
    total: u64,
    cap: u64,
}

impl Head {
    fn rows(&self) -> u64 {
        self.total.min(self.cap)
    }
}

async fn export(State(app): State<Arc<App>>, RawQuery(query): RawQuery, format: ExportFormat) -> Response {
    // Errors before the first byte are answered as JSON documents: an export is for programs.
    match start(&app, query.as_deref(), format).await {
        Ok(response) => response,
        Err(failure) => failure.respond(true),
    }
}

async fn start(app: &Arc<App>, query: Option<&str>, format: ExportFormat) -> Result<Response, Failure> {
    let cap = cap(query, app.config.export_cap)?;
    let form = SearchForm { after: None, ..SearchForm::parse(query, &app.config)? };
    let aliases = mention(app, &form)?.map(|m| m.aliases).unwrap_or_default();
    let request = SearchRequest { limit: MAX_LIMIT, ..form.request(aliases) };
    let engine = app.engine().await;
    let limits = app.limits();
    // One permit for the whole export: it is a search that runs as long as the file is sent.
    let permit = app.permit().await?;
    let (head_tx, head_rx) = oneshot::channel::<Result<Head, Failure>>();
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let head = match engine.count(&request.selection, &limits) {
            Ok(total) => Head { version: engine.version(), total, cap },
            Err(e) => {
                let _ = head_tx.send(Err(e.into()));
                return;
            }
        };
        let rows = head.rows();
        if head_tx.send(Ok(head)).is_err() {
            return;
        }
        let mut out = ChannelWriter { tx, buffer: Vec::with_capacity(CHUNK) };
        if let Err(e) = write(&engine, request, &limits, rows, format, &mut out) {
            tracing::warn!("an export stopped: {e}");
            // The error ends the body without its last chunk: the client sees a cut response.
            let _ = out.tx.blocking_send(Err(io::Error::other("the export failed")));
        }
    });
    let head = head_rx.await.map_err(|_| Failure::Internal)??;
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let number = |n: u64| HeaderValue::from(n);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    let file = format!("attachment; filename=\"pairscope-v{}.{}\"", head.version, format.extension());
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&file).map_err(|_| Failure::Internal)?);
    headers.insert("x-pairscope-total", number(head.total));
    headers.insert("x-pairscope-export-rows", number(head.rows()));
    headers.insert("x-pairscope-export-cap", number(head.cap));
    headers.insert(
        "x-pairscope-truncated",
        HeaderValue::from_static(if head.rows() < head.total { "true" } else { "false" }),
    );
    Ok(response)
}

/// The request's `cap`, at most the server's.
fn cap(query: Option<&str>, server_cap: u64) -> Result<u64, Failure> {
    let mut cap = server_cap;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "cap" && !value.trim().is_empty() {
            let asked: u64 = value
                .trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Failure::bad("cap must be a whole number of rows, at least 1."))?;
            cap = asked.min(server_cap);
        }
    }
    Ok(cap)
}

/// The first `rows` rows of the search, a page of [`MAX_LIMIT`] at a time.
fn write(
    engine: &Engine,
    mut request: SearchRequest,
    limits: &Limits,
    rows: u64,
    format: ExportFormat,
    out: &mut ChannelWriter,
) -> Result<(), ExportError> {
    // `..Default::default()`: the store may add options; their defaults are the writer's.
    // Small row groups: the parquet writer holds a row group until it is complete, so they
    // bound what an export keeps in memory before it reaches the client.
    let options = ExportOptions { neutralise_formulas: format == ExportFormat::Csv, row_group_rows: Some(10_000) };
    let mut writer = BatchWriter::new(format, schema(), &mut *out, options)?;
    let mut left = rows;
    while left > 0 {
        request.limit = MAX_LIMIT.min(left as usize);
        let page = engine.search(&request, limits).map_err(|e| io::Error::other(e.to_string()))?;
        let taken = page.hits.len().min(left as usize);
        writer.write(&batch(&page.hits[..taken])?)?;
        left -= taken as u64;
        match page.next {
            Some(next) if taken > 0 => request.after = Some(next),
            _ => break,
        }
    }
    writer.finish()?;
    out.flush()?;
    Ok(())
}

fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("row_id", DataType::Int64, false),
        text("url", false),
        text("caption", false),
        text("host", true),
        text("domain", true),
        text("language", true),
        text("nsfw_label", true),
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        float("aesthetic"),
        float("punsafe"),
        float("pwatermark"),
        float("similarity"),
        Field::new("score", DataType::Float32, true),
    ]))
}

fn batch(hits: &[Hit]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let text = |f: fn(&Hit) -> Option<&str>| Arc::new(hits.iter().map(f).collect::<StringArray>()) as ArrayRef;
    let float = |f: fn(&Hit) -> Option<f64>| Arc::new(hits.iter().map(f).collect::<Float64Array>()) as ArrayRef;
    let int = |f: fn(&Hit) -> Option<i32>| Arc::new(hits.iter().map(f).collect::<Int32Array>()) as ArrayRef;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(hits.iter().map(|h| h.row_id).collect::<Int64Array>()),
            text(|h| Some(&h.url)),
            text(|h| Some(&h.caption)),
            text(|h| h.host.as_deref()),
            text(|h| h.domain.as_deref()),
            text(|h| h.language.as_deref()),
            text(|h| h.nsfw_label.as_deref()),
            int(|h| h.width),
            int(|h| h.height),
            float(|h| h.aesthetic),
            float(|h| h.punsafe),
            float(|h| h.pwatermark),
            float(|h| h.similarity),
            Arc::new(hits.iter().map(|h| h.score).collect::<Float32Array>()),
        ],
    )
}

/// Bytes written from the blocking thread, sent to the response body a chunk at a time. A
/// client that goes away closes the channel: the next send fails and the export stops.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() { Ok(()) } else { self.send() }
    }
}
