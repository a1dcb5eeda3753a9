//! What every request passes through: the Host check (DNS rebinding: a page on another site
//! whose name is made to resolve to this address must not be able to read this server), the
//! client's address for its share of the permits, and the security headers every response
//! carries.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::connection::Client;
use crate::error::Failure;
use crate::view::ImageSource;
use crate::{gate, view};

/// The `Host` header values the server answers.
#[derive(Debug, Clone)]
pub(crate) struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn new(bound: SocketAddr, extra: &[String]) -> AllowedHosts {
        let ip = bound.ip();
        let mut names: Vec<String> = Vec::new();
        if ip.is_loopback() || ip.is_unspecified() {
            names.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        if !ip.is_unspecified() {
            names.push(match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            });
        }
        names.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        let port = bound.port();
        let mut hosts: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
        if port == 80 {
            hosts.extend(names);
        }
        hosts.sort();
        hosts.dedup();
        AllowedHosts(hosts)
    }

    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.0.contains(&host)
    }

    pub fn list(&self) -> &[String] {
        &self.0
    }
}

pub(crate) async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let mut response = match host_of(&request).map(|host| host.is_some_and(|host| app.hosts.allows(host))) {
        Ok(true) => {
            let client = request.extensions().get::<ConnectInfo<Client>>().map(|ConnectInfo(client)| client.0.ip());
            gate::as_client(client, next.run(request)).await
        }
        Ok(false) => {
            let status = StatusCode::MISDIRECTED_REQUEST;
            (status, view::error_page(status, "This server does not answer for this host name.")).into_response()
        }
        Err(failure) => failure.respond(false),
    };
    secure(response.headers_mut(), ImageSource::of(&app.config));
    response
}

/// The host the request names, `None` when it names none or two that differ: the `Host`
/// header, which must agree with the URI's authority (of a request in absolute form), or in
/// HTTP/2 that authority (`:authority`) alone. More than one `Host` header is refused: which
/// one a proxy in front heeded is anyone's guess.
fn host_of(request: &Request) -> Result<Option<&str>, Failure> {
    let mut headers = request.headers().get_all(header::HOST).iter();
    let header = headers.next();
    if headers.next().is_some() {
        return Err(Failure::bad("The request has more than one Host header."));
    }
    let authority = request.uri().authority().map(|authority| authority.as_str());
    Ok(match (header.map(|value| value.to_str()), authority) {
        (Some(Err(_)), _) => None,
        (Some(Ok(header)), Some(authority)) if !authority.eq_ignore_ascii_case(header) => None,
        (Some(Ok(header)), _) => Some(header),
        (None, authority) if request.version() == Version::HTTP_2 => authority,
        (None, _) => None,
    })
}

#[expect(clippy::expect_used, reason = "the policy is printable ASCII, which a header value always accepts")]
fn secure(headers: &mut HeaderMap, source: ImageSource) {
    let images = match source {
        ImageSource::Remote => "http: https: data:",
        ImageSource::Local => "'self'",
        ImageSource::Off => "'none'",
    };
    let policy = format!(
        "default-src 'none'; img-src {images}; style-src 'self'; script-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&policy).expect("ASCII"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A page's path answers HTML or JSON by the Accept header.
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_accepts_its_names_on_its_port_only() {
        let hosts = AllowedHosts::new("127.0.0.1:8080".parse().unwrap(), &[]);
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in ["evil.example:8080", "localhost:8081", "localhost", "127.0.0.1", "localhost.evil.example:8080", ""]
        {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }

    #[test]
    fn remote_addresses_accept_the_address_and_named_hosts() {
        let hosts = AllowedHosts::new("10.1.2.3:80".parse().unwrap(), &["Data.Example.org".into()]);
        for ok in ["10.1.2.3", "10.1.2.3:80", "data.example.org", "data.example.org:80"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in ["localhost:80", "evil.example", "10.1.2.3:8080"] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        let any = AllowedHosts::new("0.0.0.0:9000".parse().unwrap(), &[]);
        assert!(any.allows("localhost:9000") && !any.allows("0.0.0.0:9000") && !any.allows("evil.example:9000"));
    }
}
