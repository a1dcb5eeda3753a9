//! What a host's robots.txt says, as RFC 9309 §2.3.1 maps fetch results to rules:
//!
//! | robots.txt fetch                                   | verdict                  |
//! |----------------------------------------------------|--------------------------|
//! | 2xx                                                | its rules (first 512 KiB read, 500 KiB parsed) |
//! | 4xx but 429 ("unavailable")                        | allow everything         |
//! | more redirects than allowed, a loop, a bad Location | allow everything ("unavailable") |
//! | 429, 5xx, connection error, timeout                | disallow everything ("unreachable") |
//! | the name does not resolve (or only to private addresses) | the URL fails as `dns` (`blocked_address`) |
//!
//! 429 counts as unreachable although RFC 9309 lists only 5xx: a site asking us to slow down
//! has not said its files are free to take. Parsing is `robotxt`'s: it never fails, keeps the
//! group of our agent (`User-agent: pairscope`, matched exactly, case-insensitively) or else
//! `*`, ignores lines it does not understand and the line cut by the size limit. So a
//! malformed robots.txt yields whatever rules could be read, usually none: allow everything.

use robotxt::Robots;
use url::Url;

use crate::status::FetchStatus;

/// The rules a robots.txt fetch left for a host.
#[derive(Debug)]
pub(crate) enum RobotsVerdict {
    /// The file was read: its rules for our agent.
    Rules(Robots),
    /// There is no usable file (4xx, too many redirects): everything is allowed.
    Unavailable,
    /// The file could not be fetched (5xx, 429, network): everything is disallowed.
    Unreachable(String),
    /// The host itself cannot be reached (its name does not resolve, or only to non-public
    /// addresses): the URL gets that status (`dns`, `blocked_address`), not a robots one.
    NoHost(FetchStatus, String),
}

impl RobotsVerdict {
    /// `Ok` when `url` may be fetched, else the status and message of the refusal.
    pub(crate) fn check(&self, url: &Url) -> Result<(), (FetchStatus, String)> {
        match self {
            RobotsVerdict::Rules(robots) if robots.is_url_allowed(url) => Ok(()),
            RobotsVerdict::Rules(robots) => {
                let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
                let rule = match robots.matching_rule(path) {
                    Some(rule) => format!("Disallow: {}", rule.pattern()),
                    None => "Disallow: /".to_string(),
                };
                Err((
                    FetchStatus::RobotsDisallowed,
                    format!("robots.txt of {} ({} group): {rule}", crate::target::origin_key(url), robots.user_agent()),
                ))
            }
            RobotsVerdict::Unavailable => Ok(()),
            RobotsVerdict::NoHost(status, message) => Err((*status, message.clone())),
            RobotsVerdict::Unreachable(why) => Err((
                FetchStatus::RobotsUnreachable,
                format!(
                    "robots.txt of {} unreachable ({why}), which means disallow all",
                    crate::target::origin_key(url)
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(txt: &str) -> RobotsVerdict {
        RobotsVerdict::Rules(Robots::parse(txt.as_bytes(), crate::config::ROBOTS_AGENT))
    }

    fn allowed(verdict: &RobotsVerdict, url: &str) -> bool {
        verdict.check(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn our_group_is_preferred_over_the_star_group() {
        let v = verdict("User-agent: *\nDisallow: /\n\nUser-agent: pairscope\nDisallow: /private\n");
        assert!(allowed(&v, "http://a.test/img.jpg"));
        assert!(!allowed(&v, "http://a.test/private/img.jpg"));
        let v = verdict("User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /cgi\n");
        assert!(allowed(&v, "http://a.test/img.jpg"));
        assert!(!allowed(&v, "http://a.test/cgi/x"));
    }

    #[test]
    fn the_refusal_names_the_rule() {
        let v = verdict("User-agent: *\nDisallow: /img\n");
        let (status, message) = v.check(&Url::parse("http://a.test/img/1.jpg").unwrap()).unwrap_err();
        assert_eq!(status, FetchStatus::RobotsDisallowed);
        assert!(message.contains("Disallow: /img"), "{message}");
    }

    #[test]
    fn malformed_files_do_not_panic_and_allow_what_they_do_not_forbid() {
        for txt in
            ["\0\0\u{feff}garbage\r\r\n::::", "Disallow /x", "User-agent:\nDisallow:", "<html><body>hi</body></html>"]
        {
            let v = verdict(txt);
            assert!(allowed(&v, "http://a.test/ok.jpg"), "{txt:?}");
        }
    }

    #[test]
    fn unavailable_allows_and_unreachable_disallows() {
        let url = "http://a.test/x.jpg";
        assert!(allowed(&RobotsVerdict::Unavailable, url));
        let refusal = RobotsVerdict::Unreachable("HTTP 503".into()).check(&Url::parse(url).unwrap()).unwrap_err();
        assert_eq!(refusal.0, FetchStatus::RobotsUnreachable);
    }
}
