//! The opt-out header: `X-Robots-Tag` values that forbid AI use of a response.
//!
//! A value is a comma-separated list of directives, optionally scoped to one crawler by a
//! leading `agent:` (`X-Robots-Tag: otherbot: noindex, nofollow`); the scope lasts to the end
//! of that header value. `noai` and `noimageai` (case-insensitive) opt out when unscoped,
//! scoped to `*`, or scoped to our agent. Directives that carry a value of their own after a
//! colon (`unavailable_after: <date>`, `max-image-preview: large`) are not scopes.

/// Directives whose value follows a colon; a name of one of these before a colon is no scope.
const VALUED_DIRECTIVES: [&str; 4] = ["unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"];

/// The opt-out directive in the header values, if one applies to `agent`.
pub(crate) fn opt_out<'a>(values: impl IntoIterator<Item = &'a str>, agent: &str) -> Option<String> {
    for value in values {
        let mut scope: Option<String> = None;
        for part in value.split(',') {
            let mut directive = part.trim();
            if let Some((name, rest)) = directive.split_once(':') {
                let name = name.trim();
                if !VALUED_DIRECTIVES.iter().any(|valued| name.eq_ignore_ascii_case(valued)) {
                    scope = Some(name.to_ascii_lowercase());
                    directive = rest.trim();
                }
            }
            let applies = scope.as_deref().is_none_or(|scope| scope == "*" || scope.eq_ignore_ascii_case(agent));
            if applies && (directive.eq_ignore_ascii_case("noai") || directive.eq_ignore_ascii_case("noimageai")) {
                let directive = directive.to_ascii_lowercase();
                return Some(match scope {
                    Some(scope) => format!("X-Robots-Tag: {scope}: {directive}"),
                    None => format!("X-Robots-Tag: {directive}"),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[&str]) -> bool {
        opt_out(values.iter().copied(), "pairscope").is_some()
    }

    #[test]
    fn noai_and_noimageai_opt_out_in_any_case_and_list_position() {
        assert!(check(&["noai"]));
        assert!(check(&["NoImageAI"]));
        assert!(check(&["noindex, nofollow, noai"]));
        assert!(check(&["noindex", "noimageai"]));
        assert!(check(&[" noarchive ,NOAI "]));
    }

    #[test]
    fn other_directives_do_not_opt_out() {
        assert!(!check(&[]));
        assert!(!check(&["noindex, nofollow"]));
        assert!(!check(&["none"]));
        assert!(!check(&["noaix", "ai"]));
        assert!(!check(&["unavailable_after: 25 Jun 2010 15:00:00 PST"]));
        assert!(!check(&["max-image-preview: none"]));
    }

    #[test]
    fn a_scope_applies_to_its_agent_only_and_to_the_end_of_its_value() {
        assert!(check(&["pairscope: noai"]));
        assert!(check(&["PairScope: noindex, noimageai"]));
        assert!(check(&["*: noai"]));
        assert!(!check(&["otherbot: noai"]));
        assert!(!check(&["otherbot: noindex, noai"]));
        assert!(check(&["otherbot: noindex", "noai"]));
        assert!(check(&["otherbot: noindex, pairscope: noai"]));
        assert!(check(&["unavailable_after: 25 Jun 2010, noai"]));
    }
}
