#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]
//! The fetcher against a real HTTP server (axum on 127.0.0.1, started per test) that counts
//! what it sees: requests per path, their start times and how many were in flight per host.
//! Host names (`a.test`, `b.test`, `bücher.test`) resolve to the loopback through
//! `StaticHosts`; `nxdomain.test` resolves to nothing. Timeouts are shortened so the suite
//! stays fast; every timing assertion leaves slack for a loaded two-core machine.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use pairscope_fetch::{FetchConfig, FetchStatus, Fetched, Fetcher, RobotsCheck, StaticHosts};
use tokio::time::Instant;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// (host without port, path and query, start time, User-Agent) of every request.
    requests: Mutex<Vec<(String, String, Instant, String)>>,
    in_flight: Mutex<HashMap<String, usize>>,
    max_in_flight: Mutex<HashMap<String, usize>>,
    max_in_flight_total: AtomicUsize,
    in_flight_total: AtomicUsize,
}

impl Seen {
    fn count(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r.1 == path).count()
    }

    fn starts(&self, host: &str) -> Vec<Instant> {
        let mut starts: Vec<Instant> =
            self.requests.lock().unwrap().iter().filter(|r| r.0 == host).map(|r| r.2).collect();
        starts.sort();
        starts
    }

    fn max_in_flight(&self, host: &str) -> usize {
        self.max_in_flight.lock().unwrap().get(host).copied().unwrap_or(0)
    }
}

async fn record(State(seen): State<Arc<Seen>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let host = host.rsplit_once(':').map_or(host.clone(), |(name, _)| name.to_string());
    let path = request.uri().path_and_query().map(ToString::to_string).unwrap_or_default();
    let agent = request.headers().get(header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    seen.requests.lock().unwrap().push((host.clone(), path, Instant::now(), agent));
    {
        let mut in_flight = seen.in_flight.lock().unwrap();
        let now = in_flight.entry(host.clone()).or_default();
        *now += 1;
        let mut max = seen.max_in_flight.lock().unwrap();
        let max = max.entry(host.clone()).or_default();
        *max = (*max).max(*now);
    }
    let total = seen.in_flight_total.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_in_flight_total.fetch_max(total, Ordering::SeqCst);
    let response = next.run(request).await;
    seen.in_flight_total.fetch_sub(1, Ordering::SeqCst);
    *seen.in_flight.lock().unwrap().get_mut(&host).unwrap() -= 1;
    response
}

struct Server {
    port: u16,
    seen: Arc<Seen>,
}

impl Server {
    async fn start(router: Router) -> Server {
        let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let app = router.layer(middleware::from_fn_with_state(seen.clone(), record));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { port, seen }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }
}

/// Shortened limits: 1 s connect and byte timeouts, a 4 s deadline, quick retries, generous
/// per-host limits (the politeness tests set their own), loopback allowed.
fn test_config() -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_secs(1),
        byte_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(4),
        retry_base: Duration::from_millis(20),
        connections_per_host: 8,
        requests_per_second_per_host: 1000.0,
        allow_private_addresses: true,
        ..FetchConfig::default()
    }
}

fn fetcher_with(config: FetchConfig) -> Fetcher {
    let hosts = StaticHosts::new().with("a.test", LOOPBACK).with("b.test", LOOPBACK).with("bücher.test", LOOPBACK);
    Fetcher::with_lookup(config, Arc::new(hosts)).unwrap()
}

fn fetcher() -> Fetcher {
    fetcher_with(test_config())
}

fn body_of(bytes: &'static [u8]) -> impl Fn() -> std::future::Ready<&'static [u8]> + Clone {
    move || std::future::ready(bytes)
}

/// A body that sends `chunks` pieces of `piece`, one every `every`, then ends (or never ends).
fn drip(piece: &'static [u8], every: Duration, chunks: Option<usize>) -> Body {
    let stream = futures::stream::unfold(0usize, move |sent| async move {
        if chunks.is_some_and(|n| sent >= n) {
            return None;
        }
        tokio::time::sleep(every).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(piece)), sent + 1))
    });
    Body::from_stream(stream)
}

/// A body that sends `first`, then never another byte.
fn stall_after(first: &'static [u8]) -> Body {
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from_static(first)) })
        .chain(futures::stream::pending());
    Body::from_stream(stream)
}

fn assert_status(fetched: &Fetched, status: FetchStatus) {
    assert_eq!(fetched.status, status, "{fetched:?}");
    assert_eq!(fetched.body.is_some(), status == FetchStatus::Ok, "{fetched:?}");
}

#[tokio::test]
async fn an_ok_response_gives_the_body_its_content_type_and_one_attempt() {
    let server =
        Server::start(Router::new().route(
            "/img.jpg",
            get(|| async { ([(header::CONTENT_TYPE, "image/jpeg")], &b"\xff\xd8\xff fake jpeg"[..]) }),
        ))
        .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/img.jpg")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(fetched.body.as_deref(), Some(&b"\xff\xd8\xff fake jpeg"[..]));
    assert_eq!(fetched.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(fetched.http_status, Some(200));
    assert_eq!(fetched.attempts, 1);
    assert_eq!(fetched.robots, RobotsCheck::Fetched);
    assert_eq!(fetched.final_url.unwrap().as_str(), server.url("a.test", "/img.jpg"));
    let requests = server.seen.requests.lock().unwrap().clone();
    assert_eq!(requests.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["/robots.txt", "/img.jpg"]);
    assert!(requests.iter().all(|r| r.3.starts_with("pairscope/") && r.3.contains("(+https://")), "{requests:?}");
}

#[tokio::test]
async fn a_slow_body_within_the_byte_timeout_and_deadline_is_fetched_whole() {
    let server = Server::start(
        Router::new().route("/slow", get(|| async { drip(b"0123456789", Duration::from_millis(200), Some(8)) })),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/slow")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(fetched.body.unwrap().len(), 80);
    assert!(fetched.elapsed >= Duration::from_millis(1600), "{:?}", fetched.elapsed);
}

#[tokio::test]
async fn a_stall_mid_body_is_a_timeout_within_the_byte_timeout() {
    let server = Server::start(Router::new().route("/stall", get(|| async { stall_after(b"first bytes") }))).await;
    let fetcher = fetcher_with(FetchConfig { retries: 0, ..test_config() });
    let fetched = fetcher.fetch(&server.url("a.test", "/stall")).await;
    assert_status(&fetched, FetchStatus::Timeout);
    assert_eq!(fetched.attempts, 1);
    assert!(fetched.elapsed >= Duration::from_secs(1), "{:?}", fetched.elapsed);
    assert!(fetched.elapsed < Duration::from_millis(1800), "{:?}", fetched.elapsed);
    assert!(fetched.message.contains("no byte for"), "{}", fetched.message);
}

#[tokio::test]
async fn the_hard_deadline_holds_against_a_server_that_drips_a_byte_now_and_then_forever() {
    // A byte every 500 ms never trips the 1 s byte timeout: only the 2 s deadline ends it.
    let server =
        Server::start(Router::new().route("/drip", get(|| async { drip(b".", Duration::from_millis(500), None) })))
            .await;
    let fetcher = fetcher_with(FetchConfig { deadline: Duration::from_secs(2), ..test_config() });
    let fetched = fetcher.fetch(&server.url("a.test", "/drip")).await;
    assert_status(&fetched, FetchStatus::Timeout);
    assert!(fetched.message.contains("deadline"), "{}", fetched.message);
    assert!(fetched.elapsed >= Duration::from_secs(2), "{:?}", fetched.elapsed);
    assert!(fetched.elapsed < Duration::from_millis(2700), "{:?}", fetched.elapsed);
}

#[tokio::test]
async fn a_connection_dropped_mid_body_is_retried_then_reported_as_connect() {
    let server = Server::start(Router::new().route(
        "/reset",
        get(|| async {
            // The pause lets the head and the first bytes leave before the connection drops.
            let stream = futures::stream::iter([
                Ok(Bytes::from_static(&[7u8; 100])),
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "dropped")),
            ])
            .then(|item| async move {
                if item.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                item
            });
            ([(header::CONTENT_LENGTH, "1000")], Body::from_stream(stream))
        }),
    ))
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/reset")).await;
    assert_status(&fetched, FetchStatus::Connect);
    assert_eq!(fetched.attempts, 3);
    assert_eq!(server.seen.count("/reset"), 3);
    assert!(fetched.message.contains("in the body"), "{}", fetched.message);
}

fn redirect(code: StatusCode, to: &'static str) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || std::future::ready((code, [(header::LOCATION, to)]).into_response())
}

#[tokio::test]
async fn a_chain_of_three_redirects_ends_ok_at_the_final_url() {
    let server = Server::start(
        Router::new()
            .route("/1", get(redirect(StatusCode::MOVED_PERMANENTLY, "/2")))
            .route("/2", get(redirect(StatusCode::FOUND, "/3?x=1")))
            .route("/3", get(redirect(StatusCode::SEE_OTHER, "final.png#frag")))
            .route("/final.png", get(body_of(b"png"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/1")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(fetched.redirects, 3);
    assert_eq!(fetched.attempts, 4);
    assert_eq!(fetched.final_url.unwrap().as_str(), server.url("a.test", "/final.png"));
    assert_eq!(fetched.body.unwrap(), &b"png"[..]);
}

#[tokio::test]
async fn a_redirect_to_another_host_passes_that_hosts_robots_txt() {
    let server = Server::start(
        Router::new()
            .route(
                "/robots.txt",
                get(|headers: HeaderMap| async move {
                    let host = headers.get(header::HOST).unwrap().to_str().unwrap().to_string();
                    if host.starts_with("b.test") { "User-agent: *\nDisallow: /\n" } else { "" }
                }),
            )
            .route(
                "/go",
                get(|headers: HeaderMap| async move {
                    let host = headers.get(header::HOST).unwrap().to_str().unwrap().replace("a.test", "b.test");
                    (StatusCode::FOUND, [(header::LOCATION, format!("http://{host}/img"))]).into_response()
                }),
            )
            .route("/img", get(body_of(b"img"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/go")).await;
    assert_status(&fetched, FetchStatus::RobotsDisallowed);
    assert_eq!(fetched.final_url.unwrap().host_str(), Some("b.test"));
    assert_eq!(server.seen.count("/robots.txt"), 2);
    assert_eq!(server.seen.count("/img"), 0);
}

#[tokio::test]
async fn a_redirect_loop_is_reported_as_redirect_loop() {
    let server = Server::start(
        Router::new()
            .route("/a", get(redirect(StatusCode::FOUND, "/b")))
            .route("/b", get(redirect(StatusCode::FOUND, "/a"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/a")).await;
    assert_status(&fetched, FetchStatus::RedirectLoop);
    assert_eq!(server.seen.count("/a"), 1);
    assert_eq!(server.seen.count("/b"), 1);
}

async fn redirect_chain(length: usize) -> Fetched {
    async fn hop(axum::extract::Path(n): axum::extract::Path<usize>) -> Response {
        if n == 0 {
            return "end".into_response();
        }
        (StatusCode::FOUND, [(header::LOCATION, format!("/r/{}", n - 1))]).into_response()
    }
    let server = Server::start(Router::new().route("/r/{n}", get(hop))).await;
    fetcher().fetch(&server.url("a.test", &format!("/r/{length}"))).await
}

#[tokio::test]
async fn five_redirects_are_followed_and_six_are_too_many() {
    let five = redirect_chain(5).await;
    assert_status(&five, FetchStatus::Ok);
    assert_eq!(five.redirects, 5);
    let six = redirect_chain(6).await;
    assert_status(&six, FetchStatus::TooManyRedirects);
    assert_eq!(six.redirects, 5);
}

#[tokio::test]
async fn a_redirect_without_location_or_to_ftp_is_a_bad_redirect() {
    let server = Server::start(
        Router::new()
            .route("/none", get(|| async { StatusCode::FOUND }))
            .route("/ftp", get(redirect(StatusCode::FOUND, "ftp://a.test/x"))),
    )
    .await;
    assert_status(&fetcher().fetch(&server.url("a.test", "/none")).await, FetchStatus::BadRedirect);
    assert_status(&fetcher().fetch(&server.url("a.test", "/ftp")).await, FetchStatus::BadRedirect);
}

#[tokio::test]
async fn not_found_and_gone_are_http_404_and_other_client_errors_http_4xx_not_retried() {
    let server = Server::start(
        Router::new()
            .route("/gone", get(|| async { StatusCode::GONE }))
            .route("/forbidden", get(|| async { (StatusCode::FORBIDDEN, "secret body text") })),
    )
    .await;
    let fetcher = fetcher();
    let missing = fetcher.fetch(&server.url("a.test", "/missing")).await;
    assert_status(&missing, FetchStatus::Http404);
    assert_eq!(missing.message, "HTTP 404 Not Found");
    assert_status(&fetcher.fetch(&server.url("a.test", "/gone")).await, FetchStatus::Http404);
    let forbidden = fetcher.fetch(&server.url("a.test", "/forbidden")).await;
    assert_status(&forbidden, FetchStatus::Http4xx);
    assert!(forbidden.message.contains("403"), "{}", forbidden.message);
    assert!(!forbidden.message.contains("secret"), "{}", forbidden.message);
    assert_eq!(forbidden.attempts, 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_pause_then_reported() {
    let server = Server::start(
        Router::new().route("/busy", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")]) })),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/busy")).await;
    assert_status(&fetched, FetchStatus::Http429);
    assert_eq!(fetched.attempts, 3);
    assert_eq!(server.seen.count("/busy"), 3);
    let starts = server.seen.starts("a.test");
    for pair in starts[1..].windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(950), "{:?}", pair[1] - pair[0]);
    }
}

#[tokio::test]
async fn a_429_that_clears_ends_ok() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Server::start(Router::new().route(
        "/once",
        get(move || {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")], "").into_response()
                } else {
                    "fine".into_response()
                }
            }
        }),
    ))
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/once")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(fetched.attempts, 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_gives_up_at_once() {
    let server = Server::start(
        Router::new()
            .route("/later", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "120")]) })),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/later")).await;
    assert_status(&fetched, FetchStatus::Http5xx);
    assert_eq!(fetched.attempts, 1);
    assert!(fetched.elapsed < Duration::from_secs(1), "{:?}", fetched.elapsed);
    assert!(fetched.message.contains("deadline"), "{}", fetched.message);
}

#[tokio::test]
async fn server_errors_500_and_503_are_retried_then_http_5xx() {
    let server = Server::start(
        Router::new()
            .route("/500", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/503", get(|| async { StatusCode::SERVICE_UNAVAILABLE })),
    )
    .await;
    let fetcher = fetcher();
    for path in ["/500", "/503"] {
        let fetched = fetcher.fetch(&server.url("a.test", path)).await;
        assert_status(&fetched, FetchStatus::Http5xx);
        assert_eq!(fetched.attempts, 3, "{path}");
        assert_eq!(server.seen.count(path), 3, "{path}");
        assert!(fetched.status.retryable());
    }
}

/// A body of `total` bytes in 64 KiB pieces; `sent` counts the bytes the server produced.
fn counted_body(total: usize, sent: Arc<AtomicUsize>) -> Body {
    let piece = Bytes::from(vec![b'x'; 64 << 10]);
    let stream = futures::stream::iter(0..total / piece.len()).then(move |_| {
        let piece = piece.clone();
        let sent = sent.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            sent.fetch_add(piece.len(), Ordering::SeqCst);
            Ok::<_, Infallible>(piece)
        }
    });
    Body::from_stream(stream)
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_too_large_without_reading_the_body() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let server = Server::start(Router::new().route(
        "/huge",
        get(move || {
            let counter = counter.clone();
            async move { ([(header::CONTENT_LENGTH, (64usize << 20).to_string())], counted_body(64 << 20, counter)) }
        }),
    ))
    .await;
    let fetcher = fetcher_with(FetchConfig { max_body_bytes: 1 << 20, ..test_config() });
    let fetched = fetcher.fetch(&server.url("a.test", "/huge")).await;
    assert_status(&fetched, FetchStatus::TooLarge);
    assert!(fetched.message.contains("Content-Length"), "{}", fetched.message);
    assert!(fetched.elapsed < Duration::from_millis(500), "{:?}", fetched.elapsed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sent.load(Ordering::SeqCst) < 8 << 20, "{} bytes sent", sent.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_too_large() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let server = Server::start(
        Router::new().route("/chunked", get(move || std::future::ready(counted_body(4 << 20, counter.clone())))),
    )
    .await;
    let fetcher = fetcher_with(FetchConfig { max_body_bytes: 1 << 20, ..test_config() });
    let fetched = fetcher.fetch(&server.url("a.test", "/chunked")).await;
    assert_status(&fetched, FetchStatus::TooLarge);
    assert!(fetched.message.contains("passed the cap"), "{}", fetched.message);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sent.load(Ordering::SeqCst) < 4 << 20, "{} bytes sent", sent.load(Ordering::SeqCst));
}

fn robots(txt: &'static str) -> Router {
    Router::new()
        .route("/robots.txt", get(move || std::future::ready(txt)))
        .route("/private/img.jpg", get(body_of(b"img")))
        .route("/public/img.jpg", get(body_of(b"img")))
}

#[tokio::test]
async fn a_robots_txt_disallowing_the_path_refuses_the_url_and_it_is_never_requested() {
    let server = Server::start(robots("User-agent: *\nDisallow: /private/\n")).await;
    let fetcher = fetcher();
    let refused = fetcher.fetch(&server.url("a.test", "/private/img.jpg")).await;
    assert_status(&refused, FetchStatus::RobotsDisallowed);
    assert!(refused.message.contains("Disallow: /private/"), "{}", refused.message);
    assert_eq!(refused.attempts, 0);
    assert_status(&fetcher.fetch(&server.url("a.test", "/public/img.jpg")).await, FetchStatus::Ok);
    assert_eq!(server.seen.count("/private/img.jpg"), 0);
    assert_eq!(server.seen.count("/robots.txt"), 1);
}

#[tokio::test]
async fn the_pairscope_group_is_preferred_over_the_star_group() {
    let server =
        Server::start(robots("User-agent: *\nDisallow: /public/\n\nUser-agent: pairscope\nDisallow: /private/\n"))
            .await;
    let fetcher = fetcher();
    assert_status(&fetcher.fetch(&server.url("a.test", "/public/img.jpg")).await, FetchStatus::Ok);
    assert_status(&fetcher.fetch(&server.url("a.test", "/private/img.jpg")).await, FetchStatus::RobotsDisallowed);
}

#[tokio::test]
async fn ignoring_robots_fetches_a_disallowed_url_without_requesting_robots_txt() {
    let server = Server::start(robots("User-agent: *\nDisallow: /\n")).await;
    let fetched = fetcher_with(FetchConfig { respect_robots: false, ..test_config() })
        .fetch(&server.url("a.test", "/private/img.jpg"))
        .await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(fetched.robots, RobotsCheck::NotChecked);
    assert_eq!(server.seen.count("/robots.txt"), 0);
}

#[tokio::test]
async fn a_missing_robots_txt_allows_everything() {
    let server = Server::start(Router::new().route("/img", get(body_of(b"img")))).await;
    let fetched = fetcher().fetch(&server.url("a.test", "/img")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(server.seen.count("/robots.txt"), 1);
}

#[tokio::test]
async fn a_robots_txt_server_error_disallows_everything() {
    let server = Server::start(
        Router::new()
            .route("/robots.txt", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/img", get(body_of(b"img"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/img")).await;
    assert_status(&fetched, FetchStatus::RobotsUnreachable);
    assert!(fetched.message.contains("500"), "{}", fetched.message);
    assert_eq!(server.seen.count("/robots.txt"), 3, "tried, then retried twice");
    assert_eq!(server.seen.count("/img"), 0);
}

#[tokio::test]
async fn a_robots_txt_that_times_out_disallows_everything() {
    let server = Server::start(
        Router::new()
            .route("/robots.txt", get(|| async { stall_after(b"User-agent: *\n") }))
            .route("/img", get(body_of(b"img"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/img")).await;
    assert_status(&fetched, FetchStatus::RobotsUnreachable);
    assert!(fetched.message.contains("no byte for"), "{}", fetched.message);
    // Three tries of the 1 s byte timeout, within the 4 s deadline of the robots.txt fetch.
    assert_eq!(server.seen.count("/robots.txt"), 3);
    assert!(fetched.elapsed < Duration::from_millis(4500), "{:?}", fetched.elapsed);
    assert_eq!(server.seen.count("/img"), 0);
}

#[tokio::test]
async fn a_host_refusing_connections_is_robots_unreachable_and_a_connect_error_without_robots() {
    let closed = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://a.test:{port}/img");
    let fetched = fetcher().fetch(&url).await;
    assert_status(&fetched, FetchStatus::RobotsUnreachable);
    let fetched = fetcher_with(FetchConfig { respect_robots: false, ..test_config() }).fetch(&url).await;
    assert_status(&fetched, FetchStatus::Connect);
    assert_eq!(fetched.attempts, 3);
}

#[tokio::test]
async fn a_huge_robots_txt_is_parsed_up_to_the_limit() {
    let mut txt = String::from("User-agent: *\nDisallow: /early\n");
    while txt.len() < 2 << 20 {
        txt.push_str("# filler filler filler filler filler filler filler filler filler filler\n");
    }
    txt.push_str("Disallow: /late\n");
    let txt: &'static str = txt.leak();
    let server = Server::start(
        Router::new().route("/robots.txt", get(move || std::future::ready(txt))).route("/late", get(body_of(b"late"))),
    )
    .await;
    let fetcher = fetcher();
    assert_status(&fetcher.fetch(&server.url("a.test", "/early")).await, FetchStatus::RobotsDisallowed);
    assert_status(&fetcher.fetch(&server.url("a.test", "/late")).await, FetchStatus::Ok);
}

#[tokio::test]
async fn a_malformed_robots_txt_does_not_crash_and_allows_what_it_does_not_forbid() {
    let server = Server::start(
        Router::new()
            .route(
                "/robots.txt",
                get(|| async {
                    &b"\xef\xbb\xbf\x00\xff\xfe<html>User-agent * Disallow\r\r\n:::\nDisallow: /x\n\xc3"[..]
                }),
            )
            .route("/img", get(body_of(b"img"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/img")).await;
    assert_status(&fetched, FetchStatus::Ok);
}

#[tokio::test]
async fn a_robots_txt_redirect_is_followed() {
    let server = Server::start(
        Router::new()
            .route("/robots.txt", get(redirect(StatusCode::MOVED_PERMANENTLY, "/elsewhere/robots.txt")))
            .route("/elsewhere/robots.txt", get(|| async { "User-agent: *\nDisallow: /img\n" }))
            .route("/img", get(body_of(b"img"))),
    )
    .await;
    let fetched = fetcher().fetch(&server.url("a.test", "/img")).await;
    assert_status(&fetched, FetchStatus::RobotsDisallowed);
    assert_eq!(server.seen.count("/elsewhere/robots.txt"), 1);
    assert_eq!(server.seen.count("/img"), 0);
}

#[tokio::test]
async fn robots_txt_is_fetched_once_for_twenty_concurrent_requests_to_a_host() {
    let server = Server::start(
        Router::new()
            .route(
                "/robots.txt",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "User-agent: *\nDisallow: /no\n"
                }),
            )
            .route("/img/{n}", get(body_of(b"img"))),
    )
    .await;
    let fetcher = fetcher();
    let fetches = (0..20).map(|n| {
        let fetcher = fetcher.clone();
        let url = server.url("a.test", &format!("/img/{n}"));
        tokio::spawn(async move { fetcher.fetch(&url).await })
    });
    let results: Vec<Fetched> = futures::future::join_all(fetches).await.into_iter().map(Result::unwrap).collect();
    assert!(results.iter().all(|f| f.status == FetchStatus::Ok), "{results:?}");
    assert_eq!(server.seen.count("/robots.txt"), 1);
    assert_eq!(results.iter().filter(|f| f.robots == RobotsCheck::Fetched).count(), 1);
    assert_eq!(results.iter().filter(|f| f.robots == RobotsCheck::Cached).count(), 19);
}

#[tokio::test]
async fn x_robots_tag_noai_and_noimageai_stop_before_the_body() {
    async fn tagged(axum::extract::Path(tag): axum::extract::Path<String>) -> Response {
        let value = tag.replace('_', " ").replace('-', ",");
        ([(axum::http::HeaderName::from_static("x-robots-tag"), value)], stall_after(b"image bytes")).into_response()
    }
    let server = Server::start(Router::new().route("/tag/{tag}", get(tagged))).await;
    let fetcher = fetcher();
    for tag in ["noai", "NOIMAGEAI", "noindex-_noai", "pairscope:_noimageai"] {
        let fetched = fetcher.fetch(&server.url("a.test", &format!("/tag/{tag}"))).await;
        assert_status(&fetched, FetchStatus::OptoutHeader);
        assert!(fetched.elapsed < Duration::from_millis(800), "{tag}: {:?}", fetched.elapsed);
        assert_eq!(fetched.attempts, 1);
    }
    // Scoped to another crawler, it is not ours; the stalled body then times out.
    let fetched = fetcher_with(FetchConfig { retries: 0, ..test_config() })
        .fetch(&server.url("a.test", "/tag/otherbot:_noai"))
        .await;
    assert_status(&fetched, FetchStatus::Timeout);
}

#[tokio::test]
async fn one_host_never_sees_more_than_two_concurrent_requests_nor_about_four_per_second() {
    let server = Server::start(Router::new().route(
        "/img/{n}",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "img"
        }),
    ))
    .await;
    let fetcher = fetcher_with(FetchConfig {
        connections_per_host: 2,
        requests_per_second_per_host: 4.0,
        deadline: Duration::from_secs(10),
        ..test_config()
    });
    let started = Instant::now();
    let fetches = (0..20).map(|n| {
        let fetcher = fetcher.clone();
        let url = server.url("a.test", &format!("/img/{n}"));
        tokio::spawn(async move { fetcher.fetch(&url).await })
    });
    let results: Vec<Fetched> = futures::future::join_all(fetches).await.into_iter().map(Result::unwrap).collect();
    assert!(results.iter().all(|f| f.status == FetchStatus::Ok), "{results:?}");
    assert!(server.seen.max_in_flight("a.test") <= 2, "{}", server.seen.max_in_flight("a.test"));
    let starts = server.seen.starts("a.test");
    assert_eq!(starts.len(), 21, "robots.txt and 20 images");
    for (i, start) in starts.iter().enumerate() {
        let in_a_second = starts[i..].iter().take_while(|s| **s - *start < Duration::from_secs(1)).count();
        assert!(in_a_second <= 5, "{in_a_second} requests in a second");
    }
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(200), "{:?}", pair[1] - pair[0]);
    }
    // 21 starts spaced by 250 ms take at least 5 s.
    assert!(started.elapsed() >= Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn two_hosts_are_fetched_in_parallel() {
    let server = Server::start(Router::new().route(
        "/img/{n}",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            "img"
        }),
    ))
    .await;
    let fetcher = fetcher_with(FetchConfig { connections_per_host: 1, respect_robots: false, ..test_config() });
    let started = Instant::now();
    let fetches = (0..16).map(|n| {
        let fetcher = fetcher.clone();
        let url = server.url(if n % 2 == 0 { "a.test" } else { "b.test" }, &format!("/img/{n}"));
        tokio::spawn(async move { fetcher.fetch(&url).await })
    });
    let results: Vec<Fetched> = futures::future::join_all(fetches).await.into_iter().map(Result::unwrap).collect();
    assert!(results.iter().all(|f| f.status == FetchStatus::Ok), "{results:?}");
    assert_eq!(server.seen.max_in_flight("a.test"), 1);
    assert_eq!(server.seen.max_in_flight("b.test"), 1);
    assert_eq!(server.seen.max_in_flight_total.load(Ordering::SeqCst), 2);
    // One host at a time would take 16 × 200 ms.
    assert!(started.elapsed() < Duration::from_millis(2800), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_unresolvable_host_is_a_dns_error() {
    let fetched = fetcher().fetch("http://nxdomain.test/img.jpg").await;
    assert_status(&fetched, FetchStatus::Dns);
    assert!(fetched.message.contains("nxdomain.test"), "{}", fetched.message);
    let fetched = fetcher_with(FetchConfig { respect_robots: false, ..test_config() })
        .fetch("http://nxdomain.test/img.jpg")
        .await;
    assert_status(&fetched, FetchStatus::Dns);
    assert_eq!(fetched.attempts, 3);
}

#[tokio::test]
async fn an_idn_host_reaches_the_server_in_punycode() {
    let server = Server::start(Router::new().route("/img", get(body_of(b"img")))).await;
    let fetched = fetcher().fetch(&server.url("bücher.test", "/img")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(fetched.final_url.unwrap().host_str(), Some("xn--bcher-kva.test"));
    assert_eq!(server.seen.starts("xn--bcher-kva.test").len(), 2);
}

#[tokio::test]
async fn a_url_with_a_space_and_a_fragment_reaches_the_encoded_path_without_the_fragment() {
    let server = Server::start(Router::new().route("/a%20b.jpg", get(body_of(b"img")))).await;
    let fetched = fetcher().fetch(&server.url("a.test", "/a b.jpg?q=x y#part")).await;
    assert_status(&fetched, FetchStatus::Ok);
    assert_eq!(server.seen.count("/a%20b.jpg?q=x%20y"), 1);
    assert_eq!(fetched.final_url.unwrap().fragment(), None);
}

#[tokio::test]
async fn bad_urls_are_refused_without_a_request() {
    let fetcher = fetcher();
    for url in [
        "ftp://a.test/img.jpg",
        "http://user:pw@a.test/img.jpg",
        "garbage",
        "",
        "http://",
        "mailto:x@a.test",
        "//a.test/img.jpg",
    ] {
        let fetched = fetcher.fetch(url).await;
        assert_status(&fetched, FetchStatus::BadUrl);
        assert_eq!(fetched.attempts, 0);
        assert!(fetched.final_url.is_none());
    }
}

#[tokio::test]
async fn loopback_addresses_are_blocked_unless_allowed() {
    let server = Server::start(Router::new().route("/img", get(body_of(b"img")))).await;
    let fetcher = fetcher_with(FetchConfig { allow_private_addresses: false, ..test_config() });
    assert_status(&fetcher.fetch(&server.url("a.test", "/img")).await, FetchStatus::BlockedAddress);
    assert_status(&fetcher.fetch(&server.url("127.0.0.1", "/img")).await, FetchStatus::BlockedAddress);
    assert!(server.seen.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_fetcher_refuses_a_configuration_that_cannot_work() {
    assert!(Fetcher::new(FetchConfig { connections_per_host: 0, ..FetchConfig::default() }).is_err());
    assert!(Fetcher::new(FetchConfig::default()).is_ok());
}

#[tokio::test]
async fn a_retry_after_a_failed_lookup_looks_the_name_up_again() {
    struct Counting(Arc<AtomicUsize>);
    impl pairscope_fetch::Lookup for Counting {
        fn lookup(&self, host: &str) -> pairscope_fetch::dns::LookupFuture {
            self.0.fetch_add(1, Ordering::SeqCst);
            let host = host.to_string();
            Box::pin(async move { Err(io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such host"))) })
        }
    }
    let lookups = Arc::new(AtomicUsize::new(0));
    let config = FetchConfig { respect_robots: false, ..test_config() };
    let fetcher = Fetcher::with_lookup(config, Arc::new(Counting(lookups.clone()))).unwrap();
    let fetched = fetcher.fetch("http://gone.test/img.jpg").await;
    assert_status(&fetched, FetchStatus::Dns);
    assert_eq!(fetched.attempts, 3);
    assert_eq!(lookups.load(Ordering::SeqCst), 3);
    // Another URL on the name meets the cached failure first, then looks up on each retry.
    fetcher.fetch("http://gone.test/other.jpg").await;
    assert_eq!(lookups.load(Ordering::SeqCst), 5);
}
