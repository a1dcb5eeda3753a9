//! What happened to one URL: [`FetchStatus`] (a stable name per outcome) and [`Fetched`].

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use url::Url;

/// The outcome of fetching one URL. Each has a stable snake_case name ([`FetchStatus::as_str`]),
/// which is what datasets and reports store; the names never change meaning once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FetchStatus {
    /// `ok`: a 2xx response whose whole body was read (within the size cap).
    Ok,
    /// `robots_disallowed`: the site's robots.txt disallows the URL for pairscope.
    RobotsDisallowed,
    /// `robots_unreachable`: robots.txt could not be fetched (connection error, timeout, 429 or
    /// 5xx), which RFC 9309 says means "disallow everything"; the site may answer later.
    RobotsUnreachable,
    /// `optout_header`: the response carried `X-Robots-Tag: noai` or `noimageai` (for every
    /// agent or for pairscope); the body was not read.
    OptoutHeader,
    /// `blocked_address`: the host is, or resolves only to, an address that is not public
    /// (loopback, private, link-local, ...), which the fetcher refuses unless configured to.
    BlockedAddress,
    /// `http_404`: 404 Not Found or 410 Gone.
    Http404,
    /// `http_4xx`: another 4xx answer (the message names the code); 429 is [`FetchStatus::Http429`].
    Http4xx,
    /// `http_429`: 429 Too Many Requests, still after the retries.
    Http429,
    /// `http_5xx`: a server error (5xx or a nonstandard code above), still after the retries.
    Http5xx,
    /// `bad_redirect`: a 3xx answer without a usable `Location` (missing, unparsable, not http(s)).
    BadRedirect,
    /// `timeout`: no byte for the byte timeout, no connection within the connect timeout, or
    /// the URL's hard deadline passed.
    Timeout,
    /// `dns`: the host name could not be resolved.
    Dns,
    /// `connect`: the connection could not be made or broke (refused, reset, TLS, cut body).
    Connect,
    /// `too_large`: the body is larger than the cap (by `Content-Length`, or counted as it came).
    TooLarge,
    /// `redirect_loop`: a redirect led to a URL already seen in the same chain.
    RedirectLoop,
    /// `too_many_redirects`: more redirects than the configured maximum.
    TooManyRedirects,
    /// `bad_url`: the URL is unparsable, not http(s), has no host, or carries credentials.
    BadUrl,
}

impl FetchStatus {
    /// Every status, in declaration order (for documentation and exhaustive tests).
    pub const ALL: [FetchStatus; 17] = [
        FetchStatus::Ok,
        FetchStatus::RobotsDisallowed,
        FetchStatus::RobotsUnreachable,
        FetchStatus::OptoutHeader,
        FetchStatus::BlockedAddress,
        FetchStatus::Http404,
        FetchStatus::Http4xx,
        FetchStatus::Http429,
        FetchStatus::Http5xx,
        FetchStatus::BadRedirect,
        FetchStatus::Timeout,
        FetchStatus::Dns,
        FetchStatus::Connect,
        FetchStatus::TooLarge,
        FetchStatus::RedirectLoop,
        FetchStatus::TooManyRedirects,
        FetchStatus::BadUrl,
    ];

    /// The stable snake_case name stored in datasets and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchStatus::Ok => "ok",
            FetchStatus::RobotsDisallowed => "robots_disallowed",
            FetchStatus::RobotsUnreachable => "robots_unreachable",
            FetchStatus::OptoutHeader => "optout_header",
            FetchStatus::BlockedAddress => "blocked_address",
            FetchStatus::Http404 => "http_404",
            FetchStatus::Http4xx => "http_4xx",
            FetchStatus::Http429 => "http_429",
            FetchStatus::Http5xx => "http_5xx",
            FetchStatus::BadRedirect => "bad_redirect",
            FetchStatus::Timeout => "timeout",
            FetchStatus::Dns => "dns",
            FetchStatus::Connect => "connect",
            FetchStatus::TooLarge => "too_large",
            FetchStatus::RedirectLoop => "redirect_loop",
            FetchStatus::TooManyRedirects => "too_many_redirects",
            FetchStatus::BadUrl => "bad_url",
        }
    }

    /// The status of a stable name, the inverse of [`FetchStatus::as_str`].
    pub fn from_name(name: &str) -> Option<FetchStatus> {
        FetchStatus::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// True for failures that may go away on their own, which a later run may try again:
    /// `timeout`, `dns`, `connect`, `http_429`, `http_5xx` and `robots_unreachable`.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FetchStatus::Timeout
                | FetchStatus::Dns
                | FetchStatus::Connect
                | FetchStatus::Http429
                | FetchStatus::Http5xx
                | FetchStatus::RobotsUnreachable
        )
    }
}

impl fmt::Display for FetchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How robots.txt was consulted for a URL (and for the hops of its redirects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RobotsCheck {
    /// `not_checked`: robots.txt is not respected by this fetcher, or the URL was refused first.
    NotChecked,
    /// `cached`: the verdict was already known (or fetched by a concurrent request to the host).
    Cached,
    /// `fetched`: this call requested robots.txt (it was the first to need the host's rules).
    Fetched,
}

impl RobotsCheck {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RobotsCheck::NotChecked => "not_checked",
            RobotsCheck::Cached => "cached",
            RobotsCheck::Fetched => "fetched",
        }
    }
}

/// The result of fetching one URL: the outcome, a short human message (never the body), and
/// the body itself only when the status is [`FetchStatus::Ok`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// What happened.
    pub status: FetchStatus,
    /// A short explanation for people ("HTTP 403 Forbidden", "no byte for 10 s", ...).
    pub message: String,
    /// The whole body; `Some` exactly when `status` is [`FetchStatus::Ok`].
    pub body: Option<Bytes>,
    /// The last URL requested (after redirects); `None` when the URL was refused as `bad_url`.
    pub final_url: Option<Url>,
    /// The HTTP status code of the last response received, if any.
    pub http_status: Option<u16>,
    /// The `Content-Type` of the last response as served; a decoder should judge by the bytes.
    pub content_type: Option<String>,
    /// Requests sent for this URL, counting retries and redirect hops, not robots.txt.
    pub attempts: u32,
    /// Redirects followed.
    pub redirects: u32,
    /// How robots.txt was consulted.
    pub robots: RobotsCheck,
    /// Wall time of the whole call, including waiting for the host's turn.
    pub elapsed: Duration,
}

impl Fetched {
    /// True when the body was fetched.
    pub fn is_ok(&self) -> bool {
        self.status == FetchStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_distinct_name_that_parses_back() {
        let mut names: Vec<&str> = FetchStatus::ALL.iter().map(|s| s.as_str()).collect();
        for status in FetchStatus::ALL {
            assert_eq!(FetchStatus::from_name(status.as_str()), Some(status));
            assert!(status.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FetchStatus::ALL.len());
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable: Vec<&str> = FetchStatus::ALL.iter().filter(|s| s.retryable()).map(|s| s.as_str()).collect();
        assert_eq!(retryable, ["robots_unreachable", "http_429", "http_5xx", "timeout", "dns", "connect"]);
    }
}
