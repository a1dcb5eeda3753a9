//! Host and registrable domain of a URL, the two derived columns facets and removal lists use.

/// The version of the `psl` crate, whose release number tracks the Public Suffix List snapshot
/// it embeds. Recorded in dataset manifests so a domain column can be reproduced.
pub const PSL_CRATE_VERSION: &str = "2.1.247";

/// The lower-case host of an http(s) (or any hierarchical) URL, without port or credentials.
///
/// Plain ASCII hosts take a fast path that gives the same answer as the `url` crate; anything
/// else (IDN, percent-escapes, IPv6, odd schemes) goes through `url`, which applies IDNA.
pub fn host_of(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let rest = raw.split_once("://").map(|(_, rest)| rest)?;
    let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    };
    // WHATWG parses a host whose last label looks numeric ("1", "0x7f") as IPv4: slow path.
    let last_label = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let numeric_label = last_label.bytes().all(|b| b.is_ascii_digit())
        || (last_label.len() >= 2
            && last_label[..2].eq_ignore_ascii_case("0x")
            && last_label[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    let simple = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.')
        && !numeric_label;
    if simple {
        return Some(host.to_ascii_lowercase());
    }
    let parsed = url::Url::parse(raw).ok()?;
    parsed.host().map(|h| match h {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    })
}

/// The registrable domain ("eTLD+1") of a lower-case host: `i.pinimg.com` → `pinimg.com`,
/// `x.blogspot.com` → `x.blogspot.com` (blogspot.com is a public suffix). IP addresses are
/// their own domain; a host that is itself a public suffix has none.
pub fn domain_of(host: &str) -> Option<String> {
    let bare = host.trim_end_matches('.');
    if bare.starts_with('[') || bare.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some(bare.to_string());
    }
    psl::domain_str(bare).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://i.PINIMG.com/736x/a.jpg").as_deref(), Some("i.pinimg.com"));
        assert_eq!(host_of("http://user:pw@Example.org:8080/x").as_deref(), Some("example.org"));
        assert_eq!(host_of("https://bücher.example/x").as_deref(), Some("xn--bcher-kva.example"));
        assert_eq!(host_of("http://[::1]:80/").as_deref(), Some("[::1]"));
        assert_eq!(host_of("http://127.0.0.1/a").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("http://0x7f.1/a").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("not a url"), None);
        assert_eq!(host_of("data:image/png;base64,xx"), None);
    }

    #[test]
    fn domains() {
        assert_eq!(domain_of("i.pinimg.com").as_deref(), Some("pinimg.com"));
        assert_eq!(domain_of("a.b.example.co.uk").as_deref(), Some("example.co.uk"));
        assert_eq!(domain_of("x.blogspot.com").as_deref(), Some("x.blogspot.com"));
        assert_eq!(domain_of("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(domain_of("co.uk"), None);
    }

    #[test]
    fn psl_version_matches_the_lock_file() {
        // The manifest directory at run time, not compile time: cargo may reuse this test
        // binary from another clone of the workspace, whose path is baked into env!().
        let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests");
        let lock = std::fs::read_to_string(std::path::Path::new(&manifest_dir).join("../../Cargo.lock"))
            .expect("Cargo.lock at the workspace root");
        let needle = format!("name = \"psl\"\nversion = \"{PSL_CRATE_VERSION}\"");
        assert!(lock.contains(&needle), "update PSL_CRATE_VERSION to the locked psl version");
    }
}
