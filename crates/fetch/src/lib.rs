//! Polite, bounded downloads of single URLs: the network core of `pairscope fetch`.
//!
//! This crate owns fetching one URL the way a well-behaved crawler does, and saying exactly
//! what happened ([`Fetcher::fetch`] → [`Fetched`] with a [`FetchStatus`]):
//! - politeness: at most [`FetchConfig::connections_per_host`] requests in flight and
//!   [`FetchConfig::requests_per_second_per_host`] starts per second on one host, whatever the
//!   caller's concurrency, a `User-Agent` naming pairscope and where to read about it;
//! - consent: robots.txt per origin (RFC 9309, fetched once and shared by concurrent requests,
//!   4xx: allow all; 429, 5xx, unreachable:
//!   disallow all; too many redirects: allow all) and the `X-Robots-Tag: noai` /
//!   `noimageai` opt-out header, checked before the body is read;
//! - bounds: connect and byte timeouts, a hard per-URL deadline covering redirects, retries
//!   and their pauses, a body cap enforced from `Content-Length` and while streaming, at most
//!   [`FetchConfig::max_redirects`] redirects with loop detection;
//! - retries with exponential backoff and jitter, for timeouts, DNS errors, broken
//!   connections, 429 and 5xx only, honouring `Retry-After` when it fits the deadline;
//! - name resolution through a DNS cache of its own ([`dns`]), replaceable in tests, refusing
//!   non-public addresses unless told.
//!
//! It also owns the fetch run ([`run`](mod@run): consent, scheduling, decoding through
//! `pairscope-images`), its input ([`input`]), its output shards ([`shard`]: img2dataset's
//! layout, resumable per image, deterministic) and reading a finished output's images by row id
//! ([`local`], for `serve --images`). The fetcher never decodes images (it returns the body's
//! bytes as served; the run hands them to `pairscope-images`). Nothing here writes outside a
//! run's output directory or reads a dataset, and nothing ignores robots.txt or the opt-out
//! header unless the configuration says so ([`FetchConfig::respect_robots`],
//! [`FetchConfig::respect_optout_header`]).
//!
//! Memory bound: per-host state (politeness slots and the robots.txt verdict) lives in LRU maps
//! of [`FetchConfig::hosts_cached`] idle hosts plus the hosts in use, and the DNS cache holds
//! [`FetchConfig::dns_cache_entries`] names; so memory grows with the hosts active at once, not
//! with the URLs fetched. A verdict holds the parsed rules of one robots.txt group (from at
//! most [`FetchConfig::robots_max_bytes`] of text, typically a few hundred bytes); a body in
//! flight is at most [`FetchConfig::max_body_bytes`].
//!
//! robots.txt parsing is `robotxt`'s (0.7): it follows RFC 9309 to the letter (exact,
//! case-insensitive agent match, the 500 KiB limit with the cut line dropped, percent-encoding
//! normalization, `/robots.txt` always allowed), cannot fail (a malformed file yields the
//! rules that could be read), matches patterns in linear time without regexes, and is
//! maintained (2026 release, edition 2024). `texting_robots` is the better-travelled parser
//! (fuzzed, run over 34 million Common Crawl files, Google's test cases ported), but its last
//! release is from 2022, it pulls `nom` 7, `regex`, `anyhow`, `lazy_static`, `bstr` 0.2 and
//! `thiserror` 1 into a workspace that has none of them, and its parse can fail, which would
//! need an outcome of its own.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

mod config;
pub mod dns;
mod fetcher;
mod hosts;
pub mod input;
pub mod local;
mod optout;
mod retry;
mod robots;
pub mod run;
pub mod shard;
mod status;
mod target;

pub use config::{FetchConfig, ROBOTS_AGENT, USER_AGENT};
pub use dns::{Lookup, StaticHosts, SystemLookup};
pub use fetcher::{FetchError, Fetcher};
pub use input::{Input, InputError, InputRow};
pub use local::LocalImages;
pub use run::{RunError, RunOptions, RunReport, run};
pub use status::{FetchStatus, Fetched, RobotsCheck};
