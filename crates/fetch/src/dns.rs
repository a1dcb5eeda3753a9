//! Name resolution with a cache of its own: [`Lookup`] says how a name becomes addresses (the
//! system resolver, or [`StaticHosts`] in tests), and the fetcher's resolver keeps answers for
//! `dns_ttl` and failures for `dns_negative_ttl` in an LRU map of `dns_cache_entries` names.
//! It also drops addresses that are not public unless `allow_private_addresses` is set.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;

/// The future a [`Lookup`] returns: the addresses of a name, or why there are none.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// How a host name (ASCII, punycode for IDNs, lowercase) becomes IP addresses.
pub trait Lookup: Send + Sync + 'static {
    /// Resolves `host`; an error means the name does not resolve (it is cached as such).
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The operating system's resolver (`getaddrinfo` through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// A fixed table of names, for tests and closed setups: every other name fails to resolve, as
/// a name that does not exist does.
#[derive(Debug, Default, Clone)]
pub struct StaticHosts {
    hosts: HashMap<String, Vec<IpAddr>>,
}

impl StaticHosts {
    /// An empty table: nothing resolves.
    pub fn new() -> StaticHosts {
        StaticHosts::default()
    }

    /// Adds `name` → `ip`. The name is normalized as URLs normalize hosts (lowercase, IDNs to
    /// punycode), so `bücher.test` matches `http://BÜCHER.test/`.
    pub fn with(mut self, name: &str, ip: IpAddr) -> StaticHosts {
        let name = match url::Host::parse(name) {
            Ok(url::Host::Domain(domain)) => domain,
            _ => name.to_ascii_lowercase(),
        };
        self.hosts.entry(name).or_default().push(ip);
        self
    }
}

impl Lookup for StaticHosts {
    fn lookup(&self, host: &str) -> LookupFuture {
        let found = self.hosts.get(host).cloned();
        let host = host.to_string();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such host")))
        })
    }
}

/// Why a name gave no address to connect to; found in reqwest's error chain to classify the
/// failure as `dns` or `blocked_address`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    /// The name does not resolve (or the lookup failed).
    #[error("cannot resolve {host}: {reason}")]
    NotFound {
        /// The name looked up.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The name resolves only to addresses that are not public.
    #[error("{host} resolves only to non-public addresses ({addrs})")]
    NotPublic {
        /// The name looked up.
        host: String,
        /// The addresses it resolved to.
        addrs: String,
    },
}

type Answer = Result<Arc<[IpAddr]>, String>;

/// The resolver handed to reqwest: a [`Lookup`] behind a bounded positive and negative cache.
/// Clones share the cache.
#[derive(Clone)]
pub(crate) struct CachingResolver {
    inner: Arc<ResolverInner>,
}

struct ResolverInner {
    lookup: Arc<dyn Lookup>,
    cache: Mutex<LruCache<String, (Instant, Answer)>>,
    ttl: Duration,
    negative_ttl: Duration,
    allow_private: bool,
}

impl CachingResolver {
    pub(crate) fn new(
        lookup: Arc<dyn Lookup>,
        entries: NonZeroUsize,
        ttl: Duration,
        negative_ttl: Duration,
        allow_private: bool,
    ) -> CachingResolver {
        CachingResolver {
            inner: Arc::new(ResolverInner {
                lookup,
                cache: Mutex::new(LruCache::new(entries)),
                ttl,
                negative_ttl,
                allow_private,
            }),
        }
    }
}

impl CachingResolver {
    /// Drops what is cached for `host`, so the next request looks it up again (a retry after
    /// a failed lookup must not just meet the cached failure).
    pub(crate) fn forget(&self, host: &str) {
        self.inner.cache.lock().unwrap_or_else(PoisonError::into_inner).pop(host);
    }
}

impl ResolverInner {
    fn cached(&self, host: &str) -> Option<Answer> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match cache.get(host) {
            Some((expires, answer)) if *expires > Instant::now() => Some(answer.clone()),
            Some(_) => {
                cache.pop(host);
                None
            }
            None => None,
        }
    }

    fn store(&self, host: &str, answer: Answer) {
        let ttl = if answer.is_ok() { self.ttl } else { self.negative_ttl };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.put(host.to_string(), (Instant::now() + ttl, answer));
    }

    async fn resolve(&self, host: String) -> Result<Vec<IpAddr>, DnsError> {
        let answer = match self.cached(&host) {
            Some(answer) => answer,
            None => {
                let answer: Answer = match self.lookup.lookup(&host).await {
                    Ok(ips) if ips.is_empty() => Err("no addresses".to_string()),
                    Ok(ips) => Ok(ips.into()),
                    Err(e) => Err(e.to_string()),
                };
                self.store(&host, answer.clone());
                answer
            }
        };
        let ips = answer.map_err(|reason| DnsError::NotFound { host: host.clone(), reason })?;
        let public: Vec<IpAddr> = ips.iter().copied().filter(|ip| self.allow_private || is_public(*ip)).collect();
        if public.is_empty() {
            let addrs = ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return Err(DnsError::NotPublic { host, addrs });
        }
        Ok(public)
    }
}

impl Resolve for CachingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let inner = self.inner.clone();
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let ips = inner.resolve(host).await?;
            // Port 0: the connector puts the URL's port in.
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// True for addresses on the public internet: not loopback, private, link-local, shared
/// (carrier NAT), documentation, benchmarking, multicast, broadcast, reserved or unspecified.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && ip.octets()[2] == 0))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 reaches IPv4 of any kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in
            ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"]
        {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for private in ["::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::"] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn answers_and_failures_are_cached_for_their_ttl() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Counting(AtomicUsize);
        impl Lookup for Arc<Counting> {
            fn lookup(&self, host: &str) -> LookupFuture {
                self.0.fetch_add(1, Ordering::SeqCst);
                let ok = host == "a.test";
                Box::pin(async move {
                    if ok { Ok(vec![IpAddr::from([127, 0, 0, 1])]) } else { Err(io::Error::other("nxdomain")) }
                })
            }
        }
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let resolver = ResolverInner {
            lookup: Arc::new(counting.clone()),
            cache: Mutex::new(LruCache::new(NonZeroUsize::MIN.saturating_add(7))),
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
            allow_private: true,
        };
        for _ in 0..3 {
            assert_eq!(resolver.resolve("a.test".into()).await.unwrap(), [IpAddr::from([127, 0, 0, 1])]);
            assert!(matches!(resolver.resolve("b.test".into()).await, Err(DnsError::NotFound { .. })));
        }
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn private_answers_are_refused_unless_allowed() {
        let resolver = ResolverInner {
            lookup: Arc::new(StaticHosts::new().with("a.test", IpAddr::from([127, 0, 0, 1]))),
            cache: Mutex::new(LruCache::new(NonZeroUsize::MIN)),
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
            allow_private: false,
        };
        assert!(matches!(resolver.resolve("a.test".into()).await, Err(DnsError::NotPublic { .. })));
    }

    #[tokio::test]
    async fn static_hosts_normalize_idn_names() {
        let hosts = StaticHosts::new().with("Bücher.test", IpAddr::from([127, 0, 0, 1]));
        assert!(hosts.lookup("xn--bcher-kva.test").await.is_ok());
        assert!(hosts.lookup("nxdomain.test").await.is_err());
    }
}
