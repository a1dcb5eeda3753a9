//! Reading objects behind URLs (`http://`, `https://`, `s3://`) through `object_store`, as a
//! blocking [`Read`] stream: a background task keeps a bounded read-ahead of chunks while the
//! caller works on earlier ones, so nothing is downloaded whole first and memory stays at
//! [`READ_AHEAD_CHUNKS`] chunks per open object. `pairscope collect` reads remote Common Crawl
//! archives and path lists with it.
//!
//! `object_store` retries failed requests, and resumes a body that breaks when the server gave
//! an ETag. On top of that, a transfer that still fails, or stalls for `STALL`, is resumed here
//! with a range request from the first byte not yet received, pinned to the ETag when there is
//! one (a changed object is an error, not a splice), up to [`MAX_RESUMES`] times with a growing
//! pause.
//!
//! `s3://bucket/key` uses the AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, ...); without
//! credentials the requests go unsigned, which public buckets accept.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore};
use tokio::sync::mpsc;
use url::Url;

/// Why an object cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL is not one pairscope reads (scheme, no host, a query string, a bad path).
    #[error("{0}")]
    Unsupported(String),
    /// The network runtime cannot start, or a store cannot be built from the environment.
    #[error("{url}: {source}")]
    Setup {
        /// The URL being opened.
        url: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

/// Chunks buffered ahead of the reader (object_store yields them at up to a few hundred kB).
pub const READ_AHEAD_CHUNKS: usize = 32;
/// Times a broken transfer is resumed before the input fails.
pub const MAX_RESUMES: u32 = 5;
/// A transfer that delivers nothing for this long counts as broken.
const STALL: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Parses a remote input argument; other schemes are a usage error.
pub fn parse_url(arg: &str) -> Result<Url, RemoteError> {
    let unsupported = |why: String| RemoteError::Unsupported(format!("{arg}: {why}"));
    let url = Url::parse(arg).map_err(|e| unsupported(format!("not a valid URL: {e}")))?;
    match url.scheme() {
        "http" | "https" | "s3" => {}
        other => return Err(unsupported(format!("{other}:// is not supported (http, https or s3)"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(unsupported("no host or bucket".into()));
    }
    if url.query().is_some() {
        return Err(unsupported("URLs with a query string are not supported".into()));
    }
    Ok(url)
}

/// Object stores, one per origin or bucket, on a runtime of their own that starts with the first
/// object opened (a process that opens none starts no thread).
#[derive(Default)]
pub struct Remote {
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Remote {
    /// No stores and no runtime yet: both are made by the first object opened.
    pub fn new() -> Remote {
        Remote::default()
    }

    fn runtime(&self) -> Result<tokio::runtime::Handle, RemoteError> {
        let runtime = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("pairscope-fetch")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        match runtime {
            Ok(runtime) => Ok(runtime.handle().clone()),
            Err(e) => Err(RemoteError::Setup {
                url: "(every remote object)".into(),
                source: io::Error::other(format!("cannot start the network runtime: {e}")),
            }),
        }
    }

    /// A streaming reader of the object at `url`; nothing is requested before the first read.
    pub fn open(&self, url: &Url) -> Result<ObjectReader, RemoteError> {
        let (store, path) = self.store(url)?;
        Ok(ObjectReader {
            runtime: self.runtime()?,
            store,
            path,
            url: url.to_string(),
            received: 0,
            e_tag: None,
            resumes: 0,
            chunks: None,
            chunk: Bytes::new(),
            finished: false,
        })
    }

    fn store(&self, url: &Url) -> Result<(Arc<dyn ObjectStore>, ObjectPath), RemoteError> {
        let bad = |e: &dyn std::fmt::Display| RemoteError::Unsupported(format!("{url}: {e}"));
        let setup = |e: &dyn std::fmt::Display| RemoteError::Setup {
            url: url.to_string(),
            source: io::Error::other(e.to_string()),
        };
        let path = ObjectPath::from_url_path(url.path()).map_err(|e| bad(&e))?;
        let key = url[..url::Position::BeforePath].to_string();
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok((store.clone(), path));
        }
        // The whole transfer of a 1 GB archive takes minutes: no total timeout, a stall check
        // of our own instead ([`STALL`]).
        let client = ClientOptions::new()
            .with_allow_http(true)
            .with_timeout_disabled()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_user_agent(http::HeaderValue::from_static(concat!("pairscope/", env!("CARGO_PKG_VERSION"))));
        let store: Arc<dyn ObjectStore> = if url.scheme() == "s3" {
            let bucket = url.host_str().unwrap_or_default();
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_client_options(client);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
                builder = builder.with_skip_signature(true);
            }
            Arc::new(builder.build().map_err(|e| setup(&e))?)
        } else {
            Arc::new(HttpBuilder::new().with_url(&key).with_client_options(client).build().map_err(|e| setup(&e))?)
        };
        stores.insert(key, store.clone());
        Ok((store, path))
    }
}

/// `Read` over a remote object (see the module doc).
pub struct ObjectReader {
    runtime: tokio::runtime::Handle,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    url: String,
    /// Bytes handed to the reader so far: where a resumed transfer starts.
    received: u64,
    e_tag: Option<String>,
    resumes: u32,
    chunks: Option<mpsc::Receiver<Result<Bytes, String>>>,
    chunk: Bytes,
    finished: bool,
}

impl ObjectReader {
    /// Starts a transfer from `received`; its chunks arrive on `self.chunks`.
    fn start(&mut self) -> io::Result<()> {
        let options = GetOptions {
            range: (self.received > 0).then_some(GetRange::Offset(self.received)),
            if_match: self.e_tag.clone(),
            ..GetOptions::default()
        };
        let (store, path) = (self.store.clone(), self.path.clone());
        let result = self.runtime.block_on(async move { store.get_opts(&path, options).await });
        let result = result.map_err(|e| self.error(&e))?;
        if self.e_tag.is_none() {
            self.e_tag = result.meta.e_tag.clone();
        }
        let (sender, receiver) = mpsc::channel(READ_AHEAD_CHUNKS);
        self.runtime.spawn(async move {
            let mut stream = result.into_stream();
            loop {
                let next = match tokio::time::timeout(STALL, stream.next()).await {
                    Ok(Some(Ok(bytes))) => Ok(bytes),
                    Ok(Some(Err(e))) => Err(e.to_string()),
                    Ok(None) => break,
                    Err(_) => Err(format!("no data for {} s", STALL.as_secs())),
                };
                let failed = next.is_err();
                // A closed channel means the reader is gone: stop fetching.
                if sender.send(next).await.is_err() || failed {
                    break;
                }
            }
        });
        self.chunks = Some(receiver);
        Ok(())
    }

    fn error(&self, e: &dyn std::fmt::Display) -> io::Error {
        io::Error::other(format!("{}: {e}", self.url))
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.finished || out.is_empty() {
                return Ok(0);
            }
            if self.chunks.is_none() {
                self.start()?;
            }
            let next = self.chunks.as_mut().and_then(|c| c.blocking_recv());
            match next {
                Some(Ok(bytes)) => self.chunk = bytes,
                None => self.finished = true,
                Some(Err(e)) => {
                    self.chunks = None;
                    if self.resumes >= MAX_RESUMES {
                        return Err(self.error(&format!("{e} (after {} resumed transfers)", self.resumes)));
                    }
                    self.resumes += 1;
                    tracing::warn!("{}: {e}; resuming at byte {}", self.url, self.received);
                    std::thread::sleep(Duration::from_millis(250 << self.resumes));
                }
            }
        }
        let n = self.chunk.len().min(out.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        self.received += n as u64;
        Ok(n)
    }
}
