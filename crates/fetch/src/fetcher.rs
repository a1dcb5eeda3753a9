//! [`Fetcher`]: one URL at a time, politely. The flow of [`Fetcher::fetch`]:
//!
//! 1. Check the URL ([`crate::target`]): http(s), a host, no credentials, no private address.
//! 2. Consult the origin's robots.txt (fetched once, shared by concurrent requests).
//! 3. Wait for the host's turn (a connection slot, then the next start time); the hard deadline
//!    starts now, so time spent queueing behind the caller's other URLs on the same host is not
//!    counted against this one.
//! 4. Send; a timeout, DNS error, broken connection, 429 or 5xx is retried after a backoff (or
//!    the server's `Retry-After`) if that fits before the deadline; a redirect is checked for
//!    loops and count, then goes back to step 2 for its target.
//! 5. On 2xx: the opt-out header, the size by `Content-Length`, then the body, read under the
//!    byte timeout and the cap.
//!
//! A robots.txt fetch follows the same host limits and has a deadline of its own.

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use robotxt::Robots;
use tokio::sync::OnceCell;
use tokio::time::{Instant, sleep_until, timeout_at};
use url::Url;

use crate::config::FetchConfig;
use crate::dns::{CachingResolver, DnsError, Lookup, SystemLookup};
use crate::hosts::{BoundedMap, HostSlots, Slot};
use crate::robots::RobotsVerdict;
use crate::status::{FetchStatus, Fetched, RobotsCheck};
use crate::{optout, retry, target};

/// Why a [`Fetcher`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A setting that cannot work (zero connections, a zero timeout, ...).
    #[error("invalid fetch configuration: {0}")]
    Config(String),
    /// The HTTP client (TLS roots, resolver) cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Downloads single URLs under the limits of its [`FetchConfig`]. Cheap to clone: clones share
/// the connection pool, the DNS cache, the per-host limits and the robots.txt verdicts, so one
/// `Fetcher` serves a whole run and its limits hold across all its tasks.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    config: FetchConfig,
    client: reqwest::Client,
    resolver: CachingResolver,
    hosts: BoundedMap<String, HostSlots>,
    robots: BoundedMap<String, OnceCell<Arc<RobotsVerdict>>>,
}

/// What a fetch ends with, before the bookkeeping of [`Progress`] is added.
struct Outcome {
    status: FetchStatus,
    message: String,
    body: Option<Bytes>,
}

impl Outcome {
    fn fail(status: FetchStatus, message: impl Into<String>) -> Outcome {
        Outcome { status, message: message.into(), body: None }
    }
}

/// What is known of a fetch so far, whatever stops it.
struct Progress {
    final_url: Option<Url>,
    http_status: Option<u16>,
    content_type: Option<String>,
    attempts: u32,
    redirects: u32,
    robots: RobotsCheck,
}

/// The end of one hop: an outcome, or a redirect to follow.
enum Hop {
    Done(Outcome),
    Redirect(Url),
}

/// The end of one request: a hop's end, or a failure worth retrying.
enum Step {
    Done(Hop),
    Retry { status: FetchStatus, message: String, after: Option<Duration> },
}

/// A body read under a cap.
enum BodyRead {
    Complete(Bytes),
    OverCap,
}

/// Longest message part taken from outside (a `Location`, an error text).
const CLIP: usize = 200;

/// How long a kept-alive connection may wait for its host's next request. Each idle connection
/// keeps its read buffer (up to 400 KiB in hyper): with 30 s, a run over 256 hosts held 100 MiB
/// of them, a third of its heap (`bench/run --only fetch`). A host asked more often than this
/// (a big one, whose requests follow each other at the per-host rate) keeps its connections;
/// one asked once in a while pays a new connection, as every img2dataset request does.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

impl Fetcher {
    /// A fetcher that resolves names with the operating system's resolver.
    pub fn new(config: FetchConfig) -> Result<Fetcher, FetchError> {
        Fetcher::with_lookup(config, Arc::new(SystemLookup))
    }

    /// A fetcher that resolves names with `lookup` (behind the fetcher's DNS cache): tests map
    /// their host names to the loopback address with [`StaticHosts`](crate::StaticHosts).
    pub fn with_lookup(config: FetchConfig, lookup: Arc<dyn Lookup>) -> Result<Fetcher, FetchError> {
        if let Some(why) = config.invalid() {
            return Err(FetchError::Config(why));
        }
        let dns_entries = std::num::NonZeroUsize::new(config.dns_cache_entries).unwrap_or(std::num::NonZeroUsize::MIN);
        let resolver = CachingResolver::new(
            lookup,
            dns_entries,
            config.dns_ttl,
            config.dns_negative_ttl,
            config.allow_private_addresses,
        );
        // Redirects are followed here, hop by hop, so each hop passes robots.txt and the host
        // limits; proxies from the environment are not used, as a proxy would hide the hosts
        // (and our resolver) the limits are about.
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(config.user_agent.as_str())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.byte_timeout)
            .pool_max_idle_per_host(config.connections_per_host)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .dns_resolver(Arc::new(resolver.clone()))
            .build()
            .map_err(FetchError::Client)?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                hosts: BoundedMap::new(config.hosts_cached),
                robots: BoundedMap::new(config.hosts_cached),
                config,
                client,
                resolver,
            }),
        })
    }

    /// The settings this fetcher runs with.
    pub fn config(&self) -> &FetchConfig {
        &self.inner.config
    }

    /// Fetches `url` and says what happened; never panics and never fails otherwise: every
    /// problem is a [`FetchStatus`] with a message.
    ///
    /// Time bound: first the URL waits for its origin's robots.txt verdict (a fetch bounded by
    /// a deadline of its own, shared with concurrent requests) and for its host's turn (behind
    /// the caller's other requests to that host); from its first request on, everything else,
    /// redirects and their robots.txt, retries and pauses, ends within
    /// [`FetchConfig::deadline`].
    pub async fn fetch(&self, url: &str) -> Fetched {
        let started = Instant::now();
        let mut progress = Progress {
            final_url: None,
            http_status: None,
            content_type: None,
            attempts: 0,
            redirects: 0,
            robots: RobotsCheck::NotChecked,
        };
        let outcome = self.inner.fetch(url, &mut progress).await;
        Fetched {
            status: outcome.status,
            message: outcome.message,
            body: outcome.body,
            final_url: progress.final_url,
            http_status: progress.http_status,
            content_type: progress.content_type,
            attempts: progress.attempts,
            redirects: progress.redirects,
            robots: progress.robots,
            elapsed: started.elapsed(),
        }
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Inner {
    async fn fetch(&self, raw: &str, progress: &mut Progress) -> Outcome {
        let url = match target::parse(raw, self.config.allow_private_addresses) {
            Ok(url) => url,
            Err((status, message)) => return Outcome::fail(status, message),
        };
        progress.final_url = Some(url.clone());
        if let Err((status, message)) = self.robots_allow(&url, progress).await {
            return Outcome::fail(status, message);
        }
        let slot = self.host(&url).acquire().await;
        let deadline = Instant::now() + self.config.deadline;
        match timeout_at(deadline, self.follow(url, slot, deadline, progress)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::fail(
                FetchStatus::Timeout,
                format!("no complete answer within the {:?} deadline", self.config.deadline),
            ),
        }
    }

    fn host(&self, url: &Url) -> Arc<HostSlots> {
        self.hosts.get_or_insert_with(&target::host_key(url), || {
            HostSlots::new(self.config.connections_per_host, self.config.request_interval())
        })
    }

    /// Follows redirects from `url`, each hop with its retries.
    async fn follow(&self, mut url: Url, slot: Slot, deadline: Instant, progress: &mut Progress) -> Outcome {
        let mut seen = vec![url.clone()];
        let mut slot = Some(slot);
        loop {
            let next = match self.hop(&url, slot.take(), deadline, progress).await {
                Hop::Done(outcome) => return outcome,
                Hop::Redirect(next) => next,
            };
            if seen.contains(&next) {
                return Outcome::fail(FetchStatus::RedirectLoop, format!("redirected back to {}", clip(next.as_str())));
            }
            if progress.redirects >= self.config.max_redirects {
                return Outcome::fail(
                    FetchStatus::TooManyRedirects,
                    format!("more than {} redirects", self.config.max_redirects),
                );
            }
            progress.redirects += 1;
            progress.final_url = Some(next.clone());
            seen.push(next.clone());
            url = next;
            if let Err((status, message)) = self.robots_allow(&url, progress).await {
                return Outcome::fail(status, message);
            }
        }
    }

    /// Requests `url` until it answers something final, retrying what is worth retrying.
    async fn hop(&self, url: &Url, mut slot: Option<Slot>, deadline: Instant, progress: &mut Progress) -> Hop {
        let mut retries = 0;
        loop {
            let held = match slot.take() {
                Some(slot) => slot,
                None => self.host(url).acquire().await,
            };
            progress.attempts += 1;
            let (status, message, after) = match self.attempt(url, progress).await {
                Step::Done(hop) => return hop,
                Step::Retry { status, message, after } => (status, message, after),
            };
            match self.next_try(retries, after, deadline) {
                Ok(resume) => self.pause(url, status, after, resume, held).await,
                Err(why) => return Hop::Done(Outcome::fail(status, format!("{message}{why}"))),
            }
            retries += 1;
        }
    }

    /// When to try again after retry number `retries` failed, asked to wait `after` (or the
    /// backoff); `Err` says why not: the retries are used up, or the wait passes the deadline.
    fn next_try(&self, retries: u32, after: Option<Duration>, deadline: Instant) -> Result<Instant, String> {
        if retries >= self.config.retries {
            return Err(format!(" (after {} tries)", retries + 1));
        }
        let pause = after.unwrap_or_else(|| retry::backoff(self.config.retry_base, retries));
        let resume = Instant::now() + pause;
        if resume >= deadline {
            return Err(format!("; a retry in {pause:?} would pass the {:?} deadline", self.config.deadline));
        }
        Ok(resume)
    }

    /// Waits until `resume` without holding the host's slot. A 429 or a `Retry-After` holds
    /// back every request to the host, not just this one; a failed name is looked up afresh.
    async fn pause(&self, url: &Url, status: FetchStatus, after: Option<Duration>, resume: Instant, slot: Slot) {
        if status == FetchStatus::Http429 || after.is_some() {
            slot.defer_host(resume);
        }
        if status == FetchStatus::Dns {
            self.resolver.forget(&target::host_key(url));
        }
        drop(slot);
        sleep_until(resume).await;
    }

    /// One request, its response judged, its body read.
    async fn attempt(&self, url: &Url, progress: &mut Progress) -> Step {
        let response = match self.send(url).await {
            Ok(response) => response,
            Err(e) => return self.failed(&e, ""),
        };
        let code = response.status();
        progress.http_status = Some(code.as_u16());
        progress.content_type =
            response.headers().get(CONTENT_TYPE).map(|value| clip(&String::from_utf8_lossy(value.as_bytes())));
        let done = |status, message: String| Step::Done(Hop::Done(Outcome::fail(status, message)));
        if code.is_redirection() {
            return match self.redirect_target(url, &response) {
                Ok(next) => Step::Done(Hop::Redirect(next)),
                Err((status, why)) => done(status, format!("{}: {why}", describe(code))),
            };
        }
        if code == StatusCode::TOO_MANY_REQUESTS || code.as_u16() >= 500 {
            let status =
                if code == StatusCode::TOO_MANY_REQUESTS { FetchStatus::Http429 } else { FetchStatus::Http5xx };
            return Step::Retry { status, message: describe(code), after: retry_after_of(&response) };
        }
        if code == StatusCode::NOT_FOUND || code == StatusCode::GONE {
            return done(FetchStatus::Http404, describe(code));
        }
        if !code.is_success() {
            return done(FetchStatus::Http4xx, describe(code));
        }
        if self.config.respect_optout_header {
            let values = response.headers().get_all("x-robots-tag").iter().filter_map(|value| value.to_str().ok());
            if let Some(directive) = optout::opt_out(values, &self.config.robots_agent) {
                return done(FetchStatus::OptoutHeader, clip(&directive));
            }
        }
        let cap = self.config.max_body_bytes;
        if let Some(length) = response.content_length()
            && length > cap
        {
            return done(FetchStatus::TooLarge, format!("Content-Length {length} is over the cap of {cap} bytes"));
        }
        match read_body(response, cap, false).await {
            Ok(BodyRead::Complete(body)) => Step::Done(Hop::Done(Outcome {
                status: FetchStatus::Ok,
                message: format!("{}, {} bytes", describe(code), body.len()),
                body: Some(body),
            })),
            Ok(BodyRead::OverCap) => done(FetchStatus::TooLarge, format!("the body passed the cap of {cap} bytes")),
            Err(e) => self.failed(&e, "in the body: "),
        }
    }

    async fn send(&self, url: &Url) -> Result<Response, reqwest::Error> {
        self.client.get(url.clone()).send().await
    }

    /// A request error as a step: retried when the status is retryable.
    fn failed(&self, error: &reqwest::Error, context: &str) -> Step {
        let (status, message) = self.classify(error);
        let message = format!("{context}{message}");
        if status.retryable() {
            Step::Retry { status, message, after: None }
        } else {
            Step::Done(Hop::Done(Outcome::fail(status, message)))
        }
    }

    /// The status of a request error: our resolver's errors are found in the source chain.
    fn classify(&self, error: &reqwest::Error) -> (FetchStatus, String) {
        let mut source = error.source();
        let mut innermost = None;
        while let Some(cause) = source {
            if let Some(dns) = cause.downcast_ref::<DnsError>() {
                let status = match dns {
                    DnsError::NotFound { .. } => FetchStatus::Dns,
                    DnsError::NotPublic { .. } => FetchStatus::BlockedAddress,
                };
                return (status, clip(&dns.to_string()));
            }
            innermost = Some(cause);
            source = cause.source();
        }
        let detail = clip(&innermost.map_or_else(|| error.to_string(), ToString::to_string));
        if error.is_timeout() {
            if error.is_connect() {
                (FetchStatus::Timeout, format!("no connection within {:?}", self.config.connect_timeout))
            } else {
                (FetchStatus::Timeout, format!("no byte for {:?}", self.config.byte_timeout))
            }
        } else if error.is_connect() {
            (FetchStatus::Connect, format!("cannot connect: {detail}"))
        } else {
            (FetchStatus::Connect, format!("connection broken: {detail}"))
        }
    }

    /// The URL a 3xx response points to, checked like any URL to fetch.
    fn redirect_target(&self, url: &Url, response: &Response) -> Result<Url, (FetchStatus, String)> {
        let location =
            response.headers().get(LOCATION).ok_or((FetchStatus::BadRedirect, "no Location".to_string()))?.as_bytes();
        let location = String::from_utf8_lossy(location);
        let next = url
            .join(location.trim())
            .map_err(|e| (FetchStatus::BadRedirect, format!("Location {:?} is not a URL: {e}", clip(&location))))?;
        target::check(next, self.config.allow_private_addresses).map_err(|(status, why)| {
            let status = if status == FetchStatus::BadUrl { FetchStatus::BadRedirect } else { status };
            (status, format!("Location {:?}: {why}", clip(&location)))
        })
    }

    /// Whether robots.txt lets us fetch `url` (fetching it first if this origin is new).
    async fn robots_allow(&self, url: &Url, progress: &mut Progress) -> Result<(), (FetchStatus, String)> {
        if !self.config.respect_robots {
            return Ok(());
        }
        let cell = self.robots.get_or_insert_with(&target::origin_key(url), OnceCell::new);
        let fetched_here = AtomicBool::new(false);
        let verdict = cell
            .get_or_init(|| async {
                fetched_here.store(true, Ordering::Relaxed);
                Arc::new(self.fetch_robots(url).await)
            })
            .await
            .clone();
        if fetched_here.load(Ordering::Relaxed) {
            progress.robots = RobotsCheck::Fetched;
        } else if progress.robots == RobotsCheck::NotChecked {
            progress.robots = RobotsCheck::Cached;
        }
        verdict.check(url)
    }

    /// Fetches and judges the robots.txt of `url`'s origin, within a deadline of its own.
    async fn fetch_robots(&self, url: &Url) -> RobotsVerdict {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        let deadline = Instant::now() + self.config.deadline;
        match timeout_at(deadline, self.robots_chain(robots_url, deadline)).await {
            Ok(verdict) => verdict,
            Err(_) => RobotsVerdict::Unreachable(format!("no complete answer within {:?}", self.config.deadline)),
        }
    }

    async fn robots_chain(&self, mut url: Url, deadline: Instant) -> RobotsVerdict {
        let mut seen = vec![url.clone()];
        loop {
            let response = match self.robots_request(&url, deadline).await {
                Ok(RobotsAnswer::Text(txt)) => {
                    return RobotsVerdict::Rules(Robots::parse(&txt, self.config.robots_agent.as_str()));
                }
                Ok(RobotsAnswer::Other(response)) => response,
                Err(verdict) => return verdict,
            };
            let code = response.status();
            if !code.is_redirection() {
                // 429 and 5xx were retried, then judged, by `robots_request`: a 4xx remains,
                // or an odd code, taken as unreachable.
                return if code.is_client_error() {
                    RobotsVerdict::Unavailable
                } else {
                    RobotsVerdict::Unreachable(describe(code))
                };
            }
            let next = match self.redirect_target(&url, &response) {
                Ok(next) => next,
                Err(_) => return RobotsVerdict::Unavailable,
            };
            if seen.contains(&next) || seen.len() > self.config.max_redirects as usize {
                return RobotsVerdict::Unavailable;
            }
            seen.push(next.clone());
            url = next;
        }
    }

    /// One robots.txt request with the retries of any other (a blip must not disallow a host
    /// for the whole run), its body read on success; or the verdict of a failure that persisted.
    async fn robots_request(&self, url: &Url, deadline: Instant) -> Result<RobotsAnswer, RobotsVerdict> {
        let mut retries = 0;
        loop {
            let slot = self.host(url).acquire().await;
            let (status, message, after) = match self.send(url).await {
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    (FetchStatus::Http429, describe(response.status()), retry_after_of(&response))
                }
                Ok(response) if response.status().as_u16() >= 500 => {
                    (FetchStatus::Http5xx, describe(response.status()), retry_after_of(&response))
                }
                Ok(response) if response.status().is_success() => {
                    let cap = u64::try_from(self.config.robots_max_bytes).unwrap_or(u64::MAX);
                    match read_body(response, cap, true).await {
                        Ok(BodyRead::Complete(txt)) => return Ok(RobotsAnswer::Text(txt)),
                        Ok(BodyRead::OverCap) => return Ok(RobotsAnswer::Text(Bytes::new())),
                        Err(e) => {
                            let (status, message) = self.classify(&e);
                            (status, format!("in the body: {message}"), None)
                        }
                    }
                }
                Ok(response) => return Ok(RobotsAnswer::Other(response)),
                Err(e) => {
                    let (status, message) = self.classify(&e);
                    (status, message, None)
                }
            };
            let next = if status.retryable() { self.next_try(retries, after, deadline) } else { Err(String::new()) };
            match next {
                Ok(resume) => self.pause(url, status, after, resume, slot).await,
                Err(why) => {
                    let message = format!("{message}{why}");
                    return Err(match status {
                        FetchStatus::Dns | FetchStatus::BlockedAddress => RobotsVerdict::NoHost(status, message),
                        _ => RobotsVerdict::Unreachable(message),
                    });
                }
            }
            retries += 1;
        }
    }
}

/// What a robots.txt request gave: the text (2xx), or a response to judge (3xx, 4xx).
enum RobotsAnswer {
    Text(Bytes),
    Other(Response),
}

/// Reads a body up to `cap` bytes: past it, `truncate` keeps the first `cap` bytes, otherwise
/// the read stops with [`BodyRead::OverCap`]. Nothing past the cap is kept.
async fn read_body(mut response: Response, cap: u64, truncate: bool) -> Result<BodyRead, reqwest::Error> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let expected = response.content_length().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    // Sized by the Content-Length: a body read into a buffer that doubles as it grows holds
    // up to twice its size. A Content-Length that lies costs address space, not memory: pages
    // never written are never resident.
    let mut body = BytesMut::with_capacity(expected.min(cap));
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            if !truncate {
                return Ok(BodyRead::OverCap);
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(BodyRead::Complete(body.freeze()))
}

/// The pause a response's `Retry-After` asks for, if it has a valid one.
fn retry_after_of(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    retry::retry_after(value, SystemTime::now())
}

/// "HTTP 404 Not Found".
fn describe(code: StatusCode) -> String {
    match code.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", code.as_u16()),
        None => format!("HTTP {}", code.as_u16()),
    }
}

/// `text` cut to [`CLIP`] characters, so messages stay short whatever a server sends.
fn clip(text: &str) -> String {
    match text.char_indices().nth(CLIP) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
