//! The application state (configuration, the current engine, the permits) and the routes.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex as StdMutex, OnceLock, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{Uri, header};
use pairscope_query::{Engine, Limits};
use pairscope_store::Dataset;
use pairscope_text::names::NameList;
use tokio::sync::Mutex;
use tower::ServiceExt;

use crate::error::Failure;
use crate::gate::{self, Gate, Permit};
use crate::guard::{self, AllowedHosts};
use crate::pages;
use crate::routes::{self, ROUTES};
use crate::{ServerConfig, ServerError};

/// The built-in name lists the server offers (a request never names a file).
pub(crate) const LISTS: [&str; 2] = ["builtin:artists", "builtin:characters"];

/// One server: its settings, the engine of the dataset's current version, and the queue
/// bounding the blocking work in flight.
pub struct App {
    pub(crate) config: ServerConfig,
    pub(crate) hosts: AllowedHosts,
    engine: RwLock<Arc<Engine>>,
    /// When `CURRENT` was last compared; held while a new version is opened.
    checked: Mutex<Instant>,
    gate: Gate,
    /// Exports running at once (each also takes a permit of `gate` for each page it
    /// searches): they last as long as their clients read, so they get at most half of
    /// `max_concurrent`, whatever else is asked for.
    exports: Gate,
    lists: [OnceLock<Option<Arc<NameList>>>; 2],
    /// The overview of the version last asked about (its facets scan every row).
    pub(crate) overview: StdMutex<Option<Arc<pages::overview::Overview>>>,
    /// The search page's facets of recent selections.
    pub(crate) facets: StdMutex<pages::search::FacetCache>,
}

/// The engine of `dataset`, with the rows `removal` lists hidden. Blocking (finding them is
/// a scan of the URL columns).
fn open_engine(dataset: Dataset, removal: &pairscope_lists::RemovalLists) -> Result<Engine, ServerError> {
    let hidden = pairscope_subset::listed_rows(&dataset, removal, 512 << 20)?;
    if !hidden.is_empty() {
        tracing::info!("hiding {} rows on the removal lists", hidden.len());
    }
    Ok(Engine::open(dataset)?.with_hidden_rows(Arc::new(hidden)))
}

impl App {
    /// Opens the dataset's current version. `bound` is the address the server listens on
    /// (the Host check accepts it). Blocking.
    pub fn open(config: ServerConfig, bound: SocketAddr) -> Result<Arc<App>, ServerError> {
        config.check()?;
        let engine = open_engine(Dataset::open(&config.dataset)?, &config.removal)?;
        let app = App {
            hosts: AllowedHosts::new(bound, &config.allowed_hosts),
            gate: Gate::new(config.max_concurrent, config.max_queued),
            exports: Gate::new(config.max_concurrent.div_ceil(2), config.max_queued),
            engine: RwLock::new(Arc::new(engine)),
            checked: Mutex::new(Instant::now()),
            lists: [OnceLock::new(), OnceLock::new()],
            overview: StdMutex::new(None),
            facets: StdMutex::new(pages::search::FacetCache::new(config.facet_cache)),
            config,
        };
        // Parsed here, off the async threads, rather than by the first request that needs them.
        for spec in LISTS {
            app.list(spec);
        }
        Ok(Arc::new(app))
    }

    /// The settings the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits { timeout: self.config.timeout }
    }

    /// The engine of the dataset's current version: when `reload_interval` has passed since
    /// the last look, `CURRENT` is read again and a new version is opened and swapped in.
    /// Requests already running keep the engine they started with.
    pub(crate) async fn engine(self: &Arc<Self>) -> Arc<Engine> {
        if let Ok(mut checked) = self.checked.try_lock()
            && checked.elapsed() >= self.config.reload_interval
        {
            let current = self.current();
            let path = self.config.dataset.clone();
            let removal = self.config.removal.clone();
            let reopened = tokio::task::spawn_blocking(move || -> Result<Option<Engine>, ServerError> {
                let dataset = Dataset::open(&path)?;
                if dataset.version() == current.version() {
                    return Ok(None);
                }
                Ok(Some(open_engine(dataset, &removal)?))
            })
            .await;
            match reopened {
                Ok(Ok(Some(engine))) => {
                    tracing::info!("serving dataset version {}", engine.version());
                    *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
                }
                Ok(Ok(None)) => {}
                // Keep serving the version that is open; the next look tries again.
                Ok(Err(e)) => tracing::warn!("could not open the dataset's new version: {e}"),
                Err(e) => tracing::warn!("could not open the dataset's new version: {e}"),
            }
            *checked = Instant::now();
        }
        self.current()
    }

    fn current(&self) -> Arc<Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// One of the `max_concurrent` permits for `client`, after waiting in the bounded queue
    /// if need be (see [`Gate`]), or [`Failure::Busy`].
    pub(crate) async fn permit(&self, client: Option<IpAddr>) -> Result<Permit, Failure> {
        self.gate.enter(client, self.config.timeout).await
    }

    /// A place for one more export of `client` (see [`App::exports`]), or [`Failure::Busy`].
    pub(crate) async fn export_slot(&self, client: Option<IpAddr>) -> Result<Permit, Failure> {
        self.exports.enter(client, self.config.timeout).await
    }

    /// Runs `work` on the blocking pool under a [`permit`](App::permit) of the request's
    /// client. The permit goes with the work, so a client that disconnects does not free it
    /// before the work ends; and it ends with the work, before the answer is sent, so a client
    /// that reads slowly holds none.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, Failure> {
        let permit = self.permit(gate::client()).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| {
            tracing::error!("a request's work failed: {e}");
            Failure::Internal
        })?
    }

    /// A built-in name list by its spec, loaded once.
    pub(crate) fn list(&self, spec: &str) -> Option<Arc<NameList>> {
        let i = LISTS.iter().position(|l| *l == spec)?;
        self.lists[i]
            .get_or_init(|| match NameList::load(LISTS[i]) {
                Ok(list) => Some(Arc::new(list)),
                Err(e) => {
                    tracing::error!("cannot load {}: {e}", LISTS[i]);
                    None
                }
            })
            .clone()
    }
}

/// Every route of `ROUTES` (`routes.rs`), behind the Host check and the security headers.
pub fn router(app: Arc<App>) -> Router {
    let mut routes = Router::new();
    for route in ROUTES.iter() {
        if let Some(handler) = route.handler {
            routes = routes.route(route.path, handler());
        }
    }
    let routes = routes
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard::guard))
        .with_state(app);
    // The rewrite to a JSON twin comes before routing: the twin's route, and the guard, then
    // answer it as if it had been asked for by name.
    Router::new().fallback_service(routes.map_request(json_twin))
}

/// A page asked for with an `Accept` that wants JSON and not HTML, sent to its JSON twin
/// ([`routes::twin_of`]: `/` and `/search` → `/search.json`, `/row/ID` → `/row/ID.json`, …),
/// query unchanged.
fn json_twin(mut request: Request) -> Request {
    let wants_json = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"));
    if !wants_json {
        return request;
    }
    let Some(twin) = routes::twin_of(request.uri().path()) else { return request };
    let twin = match request.uri().query() {
        Some(query) => format!("{twin}?{query}"),
        None => twin,
    };
    // The scheme and authority (of an absolute-form request) stay: the Host check compares them.
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = twin.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}
