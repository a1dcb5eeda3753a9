//! Which URLs may be requested at all.

use url::{Host, Url};

use crate::dns::is_public;
use crate::status::FetchStatus;

/// Parses a URL to fetch (the parser percent-encodes spaces and normalizes IDN hosts) and
/// checks it with [`check`]; the refusal says which status and why.
pub(crate) fn parse(raw: &str, allow_private: bool) -> Result<Url, (FetchStatus, String)> {
    let url = Url::parse(raw.trim()).map_err(|e| (FetchStatus::BadUrl, format!("not a URL: {e}")))?;
    check(url, allow_private)
}

/// Accepts http(s) URLs with a host and without credentials; drops the fragment (never sent).
/// An IP-literal host that is not public is refused unless `allow_private`.
pub(crate) fn check(mut url: Url, allow_private: bool) -> Result<Url, (FetchStatus, String)> {
    let bad = |why: String| Err((FetchStatus::BadUrl, why));
    if !matches!(url.scheme(), "http" | "https") {
        return bad(format!("{}:// is not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("URLs with credentials are not fetched".into());
    }
    let ip = match url.host() {
        None => return bad("no host".into()),
        Some(Host::Domain("")) => return bad("no host".into()),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(ip)) => Some(ip.into()),
        Some(Host::Ipv6(ip)) => Some(ip.into()),
    };
    if let Some(ip) = ip
        && !allow_private
        && !is_public(ip)
    {
        return Err((FetchStatus::BlockedAddress, format!("{ip} is not a public address")));
    }
    url.set_fragment(None);
    Ok(url)
}

/// The key of a host's politeness limits: its name (or address).
pub(crate) fn host_key(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_string()
}

/// The key of a robots.txt: scheme, host and port (RFC 9309 §2.3).
pub(crate) fn origin_key(url: &Url) -> String {
    url[..url::Position::BeforePath].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials_pass() {
        for (raw, status) in [
            ("ftp://a.test/x", FetchStatus::BadUrl),
            ("http://user:pw@a.test/", FetchStatus::BadUrl),
            ("http://user@a.test/", FetchStatus::BadUrl),
            ("not a url", FetchStatus::BadUrl),
            ("", FetchStatus::BadUrl),
            ("http://", FetchStatus::BadUrl),
            ("file:///etc/passwd", FetchStatus::BadUrl),
            ("data:image/png;base64,AAAA", FetchStatus::BadUrl),
            ("http://127.0.0.1/x", FetchStatus::BlockedAddress),
            ("http://[::1]/x", FetchStatus::BlockedAddress),
            ("http://169.254.169.254/latest/meta-data", FetchStatus::BlockedAddress),
        ] {
            assert_eq!(parse(raw, false).map_err(|(status, _)| status).err(), Some(status), "{raw}");
        }
        assert!(parse("http://127.0.0.1/x", true).is_ok());
    }

    #[test]
    fn spaces_are_encoded_and_fragments_dropped() {
        let url = parse("https://Bücher.test/a b.jpg?q=1 2#frag", false).unwrap();
        assert_eq!(url.as_str(), "https://xn--bcher-kva.test/a%20b.jpg?q=1%202");
        assert_eq!(origin_key(&url), "https://xn--bcher-kva.test");
        assert_eq!(host_key(&url), "xn--bcher-kva.test");
    }
}
