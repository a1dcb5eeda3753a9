//! The web UI and JSON API of `pairscope serve`: server-rendered HTML pages that work without
//! JavaScript, each with a JSON twin (`/search.json`, `/row/{id}.json`, `/mentions.json`,
//! `/overview.json`, `/-/settings.json`), exports of a search (`/export.csv`, `.jsonl`,
//! `.parquet`) and the OpenAPI document of all of them (`/api/openapi.json`), over the current
//! version of one dataset.
//!
//! This crate owns:
//! - [`ServerConfig`]: every option and limit of the server, in one struct, and [`serve`];
//! - the route table (`routes`): every path with its parameters, the type of its JSON answer
//!   and its JSON twin, from which [`router`] and the OpenAPI document (`openapi`, schemas
//!   derived from the answers' types by schemars) are both built;
//! - [`App`] and [`router`]: the routes, the engine of the current dataset version (swapped
//!   for a new one when a new version is committed), the bounded queue of searches (at most
//!   half of its permits to one client, at most half as many exports at once, a permit held
//!   only while an answer is computed, never while it is sent);
//! - the connections: each knows its client's address, and a client that reads nothing of its
//!   answer for the query time limit is dropped;
//! - the web's safety rules: everything escaped (maud), a Content-Security-Policy and the
//!   other headers on every response, the Host check against DNS rebinding, links and images
//!   only for http(s) URLs, safe mode (possibly unsafe images blurred), error pages that never
//!   echo the request;
//! - how the search form's typed fields become an EXPR (numbers it formats itself, text only
//!   as quoted string literals).
//!
//! It must never write to a dataset (its per-version caches, `pairscope_store::cache`: the
//! overview, mention counts and global ordinals, are the only files it writes), never run a query on the async threads (every call goes through
//! `spawn_blocking` under a permit), and never match text or evaluate filters itself: that is
//! `pairscope-query`'s and `pairscope-mentions`' work.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

mod app;
mod chart;
mod connection;
mod error;
mod form;
mod gate;
mod guard;
mod openapi;
mod pages;
mod routes;
mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use app::{App, router};

/// The default of [`ServerConfig::max_queued`].
pub const DEFAULT_MAX_QUEUED: usize = 64;

/// The default of [`ServerConfig::facet_cache`].
pub const DEFAULT_FACET_CACHE: usize = 256;

/// The default of [`ServerConfig::export_cap`].
pub const DEFAULT_EXPORT_CAP: u64 = 100_000;

/// Every option of the server, with its default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The dataset directory.
    pub dataset: PathBuf,
    /// Where to listen. Loopback unless `allow_remote`.
    pub bind: SocketAddr,
    /// Allow a non-loopback `bind`.
    pub allow_remote: bool,
    /// Host names (without port) accepted in the `Host` header besides the bound address and,
    /// for loopback or unspecified addresses, localhost, 127.0.0.1 and `[::1]`.
    pub allowed_hosts: Vec<String>,
    /// Show images from their URLs (the browser fetches them from their sites). Ignored when
    /// `images` is given: then nothing is ever loaded from another site.
    pub remote_images: bool,
    /// Images fetched by `pairscope fetch`, shown by row id instead of hotlinking.
    pub images: Option<std::sync::Arc<pairscope_fetch::LocalImages>>,
    /// Images whose punsafe is above this are blurred until clicked.
    pub unsafe_threshold: f64,
    /// Searches (and row, mention, overview lookups and the pages of exports) computing at
    /// once. One client (IP address) holds at most half of them (rounded up), and at most half
    /// of them is the number of exports under way at once.
    pub max_concurrent: usize,
    /// Requests that may wait (at most `timeout`) for one of those to end; more get 503 and
    /// `Retry-After` at once.
    pub max_queued: usize,
    /// Time limit of every query, of every wait in the queue, and of a client that reads
    /// nothing of its answer (its connection is then dropped).
    pub timeout: Duration,
    /// Time limit of each facet of the search page (within what the query left of `timeout`);
    /// a facet that takes longer is left off the page, which still shows the results.
    pub facet_timeout: Duration,
    /// Rows per page unless the request asks for fewer or more.
    pub page_size: usize,
    /// The most rows per page a request may ask for.
    pub max_page_size: usize,
    /// Selections whose search-page facets are kept for their other pages and orders (0: none).
    pub facet_cache: usize,
    /// Host values listed in the search page's facet.
    pub facet_hosts: usize,
    /// Language values listed in the search page's facet.
    pub facet_languages: usize,
    /// The most rows one export writes (a request may ask for fewer).
    pub export_cap: u64,
    /// How often `CURRENT` is checked for a new dataset version (at most once per interval,
    /// on a request).
    pub reload_interval: Duration,
    /// Rows these lists remove are hidden from every page, count, facet and export (the lists
    /// `pairscope subset` reads).
    pub removal: std::sync::Arc<pairscope_lists::RemovalLists>,
}

impl ServerConfig {
    /// The defaults for serving the dataset at `dataset`: loopback port 8080, no removal lists.
    pub fn new(dataset: PathBuf) -> ServerConfig {
        ServerConfig {
            dataset,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_remote: false,
            allowed_hosts: Vec::new(),
            remote_images: true,
            images: None,
            unsafe_threshold: pairscope_model::safety::DEFAULT_UNSAFE_THRESHOLD,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_queued: DEFAULT_MAX_QUEUED,
            timeout: Duration::from_secs(10),
            facet_timeout: Duration::from_millis(500),
            page_size: 40,
            max_page_size: 200,
            facet_cache: DEFAULT_FACET_CACHE,
            facet_hosts: 15,
            facet_languages: 10,
            export_cap: DEFAULT_EXPORT_CAP,
            reload_interval: Duration::from_secs(2),
            removal: Default::default(),
        }
    }

    /// Refuses settings that make no sense or are unsafe.
    pub fn check(&self) -> Result<(), ServerError> {
        let usage = |m: &str| Err(ServerError::Usage(pairscope_model::UsageError::new(m)));
        if !self.bind.ip().is_loopback() && !self.allow_remote {
            return usage(
                "--bind names a non-loopback address: anyone who can reach it could use the server; \
                 add --allow-remote if that is what you want",
            );
        }
        if !(0.0..=1.0).contains(&self.unsafe_threshold) {
            return usage("--unsafe-threshold must be between 0 and 1");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(3600) {
            return usage("--timeout must be more than 0 and at most 3600 seconds");
        }
        if self.max_page_size == 0 || self.max_page_size > pairscope_query::MAX_LIMIT {
            return usage("the page size limit must be between 1 and 1000");
        }
        if self.page_size == 0 || self.page_size > self.max_page_size {
            return usage("the page size must be between 1 and the page size limit");
        }
        if self.facet_cache > 100_000 {
            return usage("--facet-cache must be at most 100000 selections");
        }
        if self.export_cap == 0 {
            return usage("--export-cap must be at least 1");
        }
        for host in &self.allowed_hosts {
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b)) {
                return usage("--allowed-host takes a host name without port or scheme, e.g. pairscope.example.org");
            }
        }
        Ok(())
    }
}

/// Why the server could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is refused (exit code 2).
    #[error("{0}")]
    Usage(#[from] pairscope_model::UsageError),
    /// The address cannot be listened on (taken, or not this machine's).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dataset cannot be opened.
    #[error(transparent)]
    Store(#[from] pairscope_store::StoreError),
    /// The dataset's current version cannot be opened for queries.
    #[error(transparent)]
    Query(#[from] pairscope_query::QueryError),
    /// The rows the removal lists remove could not be found.
    #[error("finding the rows the removal lists hide: {0}")]
    Removal(#[from] pairscope_subset::SubsetError),
    /// The runtime could not start, or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Opens the dataset, listens on `config.bind`, calls `ready` with the server's URL, and
/// serves until Ctrl-C (or SIGTERM).
pub fn serve(config: ServerConfig, ready: impl FnOnce(&str)) -> Result<(), ServerError> {
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServerError::Bind { addr: config.bind, source })?;
        let bound = listener.local_addr()?;
        let listener = connection::Listener::new(listener, config.timeout);
        let app = tokio::task::spawn_blocking(move || App::open(config, bound))
            .await
            .map_err(|e| ServerError::Io(std::io::Error::other(e)))??;
        ready(&format!("http://{bound}/"));
        let service = router(app).into_make_service_with_connect_info::<connection::Client>();
        axum::serve(listener, service).with_graceful_shutdown(shutdown()).await?;
        Ok(())
    })
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
