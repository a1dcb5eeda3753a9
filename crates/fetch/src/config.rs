//! [`FetchConfig`]: every limit of the fetcher, each a named setting with a default.

use std::time::Duration;

/// The `User-Agent` sent with every request: the product token `pairscope`, its version, and
/// where a site owner reads what it is and how to opt out.
pub const USER_AGENT: &str = concat!(
    "pairscope/",
    env!("CARGO_PKG_VERSION"),
    " (+",
    env!("CARGO_PKG_REPOSITORY"),
    "; image-text dataset audit)"
);

/// The product token matched against robots.txt `User-agent` lines and scoped
/// `X-Robots-Tag` values (`pairscope: noai`).
pub const ROBOTS_AGENT: &str = "pairscope";

/// The limits and manners of a [`Fetcher`](crate::Fetcher). `FetchConfig::default()` is the
/// polite setting for real runs; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Requests in flight to one host at once, whatever the caller's global concurrency (2).
    pub connections_per_host: usize,
    /// Requests started per second on one host, spaced evenly (4.0).
    pub requests_per_second_per_host: f64,
    /// Time allowed to resolve and connect (10 s).
    pub connect_timeout: Duration,
    /// Longest wait for the next byte of the response head or body (10 s).
    pub byte_timeout: Duration,
    /// Hard limit on one URL from its first request to its end, redirects, retries and their
    /// pauses included (30 s); robots.txt fetches get the same limit of their own.
    pub deadline: Duration,
    /// Largest body accepted, in bytes (32 MiB): refused by `Content-Length`, or when reading
    /// passes it.
    pub max_body_bytes: u64,
    /// Redirects followed in one chain (5); one more is `too_many_redirects`.
    pub max_redirects: u32,
    /// Retries after a timeout, DNS error, broken connection, 429 or 5xx (2).
    pub retries: u32,
    /// First pause before a retry, doubled each time, with random jitter up to the same again
    /// (500 ms); a `Retry-After` from the server replaces it.
    pub retry_base: Duration,
    /// Honour robots.txt (true). `false` is only for sites that agreed to be fetched.
    pub respect_robots: bool,
    /// Honour `X-Robots-Tag: noai` / `noimageai` on responses (true).
    pub respect_optout_header: bool,
    /// Bytes of robots.txt read (512 KiB); RFC 9309 asks to parse at least 500 KiB.
    pub robots_max_bytes: usize,
    /// The `User-Agent` header ([`USER_AGENT`]).
    pub user_agent: String,
    /// The name matched in robots.txt groups and scoped opt-out headers ([`ROBOTS_AGENT`]).
    pub robots_agent: String,
    /// Hosts whose state (politeness slots, robots.txt verdict) is kept once idle (1024); the
    /// least recently used idle host beyond it is forgotten. Active hosts are never evicted.
    pub hosts_cached: usize,
    /// Names kept in the DNS cache (4096).
    pub dns_cache_entries: usize,
    /// How long a resolved name is reused (5 min).
    pub dns_ttl: Duration,
    /// How long a name that failed to resolve stays failed (30 s).
    pub dns_negative_ttl: Duration,
    /// Fetch from loopback, private, link-local and other non-public addresses (false: such
    /// URLs are `blocked_address`, so a dataset cannot point the fetcher at the local network).
    pub allow_private_addresses: bool,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig {
            connections_per_host: 2,
            requests_per_second_per_host: 4.0,
            connect_timeout: Duration::from_secs(10),
            byte_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            max_body_bytes: 32 << 20,
            max_redirects: 5,
            retries: 2,
            retry_base: Duration::from_millis(500),
            respect_robots: true,
            respect_optout_header: true,
            robots_max_bytes: 512 << 10,
            user_agent: USER_AGENT.to_string(),
            robots_agent: ROBOTS_AGENT.to_string(),
            hosts_cached: 1024,
            dns_cache_entries: 4096,
            dns_ttl: Duration::from_secs(300),
            dns_negative_ttl: Duration::from_secs(30),
            allow_private_addresses: false,
        }
    }
}

impl FetchConfig {
    /// The settings that cannot work, named; `None` when the configuration is usable.
    pub(crate) fn invalid(&self) -> Option<String> {
        if self.connections_per_host == 0 {
            return Some("connections_per_host must be at least 1".into());
        }
        if !(self.requests_per_second_per_host.is_finite() && self.requests_per_second_per_host > 0.0) {
            return Some("requests_per_second_per_host must be a positive number".into());
        }
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("byte_timeout", self.byte_timeout),
            ("deadline", self.deadline),
        ] {
            if value.is_zero() {
                return Some(format!("{name} must be longer than zero"));
            }
        }
        if self.hosts_cached == 0 || self.dns_cache_entries == 0 {
            return Some("hosts_cached and dns_cache_entries must be at least 1".into());
        }
        None
    }

    /// The pause between two request starts on one host.
    pub(crate) fn request_interval(&self) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.requests_per_second_per_host).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_names_pairscope_and_a_url() {
        assert!(USER_AGENT.starts_with("pairscope/"));
        assert!(USER_AGENT.contains("(+https://"));
    }

    #[test]
    fn the_default_is_valid_and_zero_limits_are_not() {
        assert_eq!(FetchConfig::default().invalid(), None);
        let config = FetchConfig { connections_per_host: 0, ..FetchConfig::default() };
        assert!(config.invalid().is_some());
        let config = FetchConfig { requests_per_second_per_host: f64::NAN, ..FetchConfig::default() };
        assert!(config.invalid().is_some());
        let config = FetchConfig { deadline: Duration::ZERO, ..FetchConfig::default() };
        assert!(config.invalid().is_some());
    }
}
