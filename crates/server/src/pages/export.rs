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
//!
//! An export lasts as long as its client reads, so it is bounded apart from searches: it
//! holds one of the few export slots (`App::export_slot`) from start to end, but a permit only
//! while it searches a page (the count, then each page), never while it waits for the client.
//! The bytes go to the connection through a queue of a few chunks; a client that takes none
//! for the query time limit stops the export (and the connection drops it).

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pairscope_export::{BatchWriter, ExportError, ExportFormat, ExportOptions};
use pairscope_query::{Engine, Hit, Limits, MAX_LIMIT, SearchRequest};
use tokio::runtime::Handle;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};
use url::form_urlencoded;

use crate::App;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::gate::{self, Permit};
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
    let client = gate::client();
    let slot = app.export_slot(client).await?;
    let pages = Pages { app: app.clone(), client, runtime: Handle::current() };
    let (head_tx, head_rx) = oneshot::channel::<Result<Head, Failure>>();
    let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_QUEUED);
    let finished = Arc::new(AtomicBool::new(false));
    let finishing = finished.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let counted = pages.permit().and_then(|_permit| Ok(engine.count(&request.selection, &limits)?));
        let head = match counted {
            Ok(total) => Head { version: engine.version(), total, cap },
            Err(failure) => {
                let _ = head_tx.send(Err(failure));
                return;
            }
        };
        let rows = head.rows();
        if head_tx.send(Ok(head)).is_err() {
            return;
        }
        let patience = pages.app.config.timeout;
        let mut out = ChannelWriter { tx, buffer: Vec::with_capacity(CHUNK), runtime: pages.runtime.clone(), patience };
        match write(&engine, request, &limits, rows, format, &mut out, &pages) {
            Ok(()) => finishing.store(true, Ordering::Release),
            // The body ends without its last chunk: the client sees a cut response.
            Err(e) => tracing::warn!("an export stopped: {e}"),
        }
    });
    let head = head_rx.await.map_err(|_| Failure::Internal)??;
    // The writer's end closes when it is done: a whole file if it says so, else a cut one
    // (an error, which aborts the response rather than ending it as if complete).
    let stream = futures::stream::unfold(Some(rx), move |rx| {
        let finished = finished.clone();
        async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(chunk) => Some((Ok(chunk), Some(rx))),
                None if finished.load(Ordering::Acquire) => None,
                None => Some((Err(io::Error::other("the export stopped before its end")), None)),
            }
        }
    });
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

/// What an export's blocking thread needs to take a permit for each page it searches.
struct Pages {
    app: Arc<App>,
    client: Option<IpAddr>,
    runtime: Handle,
}

impl Pages {
    /// A permit of the export's client (waiting in the queue as any request does).
    fn permit(&self) -> Result<Permit, Failure> {
        self.runtime.block_on(self.app.permit(self.client))
    }
}

/// The first `rows` rows of the search, a page of [`MAX_LIMIT`] at a time, each searched
/// under a permit and written (and sent) after it.
fn write(
    engine: &Engine,
    mut request: SearchRequest,
    limits: &Limits,
    rows: u64,
    format: ExportFormat,
    out: &mut ChannelWriter,
    pages: &Pages,
) -> Result<(), ExportError> {
    // `..Default::default()`: the store may add options; their defaults are the writer's.
    // Small row groups: the parquet writer holds a row group until it is complete, so they
    // bound what an export keeps in memory before it reaches the client.
    let options = ExportOptions { neutralise_formulas: format == ExportFormat::Csv, row_group_rows: Some(10_000) };
    let mut writer = BatchWriter::new(format, Hit::schema(), &mut *out, options)?;
    let mut left = rows;
    while left > 0 {
        request.limit = MAX_LIMIT.min(left as usize);
        let page = {
            let _permit = pages.permit().map_err(|_| io::Error::other("no permit for the next page in time"))?;
            engine.search(&request, limits).map_err(|e| io::Error::other(e.to_string()))?
        };
        let taken = page.hits.len().min(left as usize);
        writer.write(&Hit::batch(&page.hits[..taken])?)?;
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

/// Bytes written from the blocking thread, sent to the response body a chunk at a time. A
/// client that goes away closes the channel, and one that reads nothing for `patience` leaves
/// it full: either way the next send fails and the export stops.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
    runtime: Handle,
    patience: Duration,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.runtime.block_on(self.tx.send_timeout(chunk, self.patience)).map_err(|e| match e {
            SendTimeoutError::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"),
            SendTimeoutError::Closed(_) => io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"),
        })
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
