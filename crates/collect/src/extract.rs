//! From a page's image links to image–alt-text [`Pair`]s, the way cc2dataset does it. Both modes
//! feed it: WAT metadata ([`crate::wat`]) and the HTML of WARC responses ([`crate::html`]).
//!
//! Which links count, how they are made absolute and how `uid` is computed mirror
//! `cc2dataset/main.py` (`extract_documents_from_wat`, `valid_image_link`, `make_link_absolute`):
//! - only `metadata` records of an HTTP response with `HTML-Metadata` → `Links`;
//! - a link counts when `path == "IMG@/src"` and its raw `alt` is non-empty;
//! - a URL that starts with `http://` or `https://` is kept verbatim; any other is joined against
//!   the base, which is the page URL joined with `Head.Base` when the page has one;
//! - only results starting with `http://` / `https://` are kept (so `data:` URIs go);
//! - `uid = md5(alt + url)` in lowercase hex, over the *raw* alt and the absolute URL.
//!
//! Deliberate differences (each checked against cc2dataset itself by `tests/cc2dataset.rs`):
//! - Relative URLs are joined by the WHATWG rules (`url` crate), as a browser resolves them,
//!   where cc2dataset uses Python's `urljoin`. They differ only on links with backslashes (a
//!   slash to a browser), spaces, controls or non-ASCII characters (stripped at the ends,
//!   percent-encoded inside) and a bare `#` (kept): the url, and so the uid, of such a link is
//!   the one a browser would fetch. Absolute http(s) links, the vast majority, are identical.
//! - A scheme in upper case (`HTTP://…`) is a URL like any other; cc2dataset drops it unless
//!   `urljoin` lower-cases it (only when the page has the same scheme).
//! - The page URL is parsed too, so a relative link on a page whose host has capitals
//!   (`www.BMJV.de`) resolves to the lower-cased host, where `urljoin` keeps the capitals.
//! - The page URL comes from the envelope's `WARC-Target-URI`, as in cc2dataset, falling back to
//!   the WAT record header; a page URL the WHATWG parser rejects leaves only absolute links.
//! - Pairs whose cleaned caption has fewer than [`ExtractOptions::min_alt_chars`] characters are
//!   dropped (LAION's rule); cc2dataset keeps any non-empty raw alt, even whitespace only (so a
//!   whitespace-only alt is dropped even with `--min-alt-chars 1`).
//! - A malformed record costs that record only; in cc2dataset an unexpected field type fails the
//!   whole WAT file.

use md5::{Digest, Md5};
use url::Url;

use crate::archive::Record;
use crate::wat::{HttpResponseMetadata, WatMetadata};

/// What makes a link a pair, besides cc2dataset's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Shortest cleaned caption kept, in characters (Unicode scalar values).
    pub min_alt_chars: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { min_alt_chars: 5 }
    }
}

/// An image URL with its alt text, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Absolute http(s) URL of the image.
    pub url: String,
    /// The alt text exactly as the WAT gives it (input to `uid`).
    pub alt_raw: String,
    /// `alt_raw` with HTML entities decoded and whitespace collapsed ([`clean_caption`]).
    pub caption: String,
    /// URL of the page the image is on (the envelope's `WARC-Target-URI`, else the record's).
    pub page_url: String,
    /// `width` / `height` attributes of the `<img>` (WARC mode only): what the page asked for,
    /// not the image's pixels.
    pub html_width: Option<i32>,
    /// The `<img>`'s `height` attribute, like [`Pair::html_width`]. Either is `None` in WAT mode,
    /// or when the attribute is missing or not a whole number of pixels (`480`, `480px`).
    pub html_height: Option<i32>,
    /// Crawl date of the page (the envelope's `WARC-Date`, else the WAT record's).
    pub warc_date: Option<String>,
    /// Compressed offset of the record's gzip member.
    pub source_offset: u64,
    /// cc2dataset's id: lowercase hex `md5(alt_raw + url)`.
    pub uid: String,
    /// The page opts out with a `noai` robots directive ([`OptOut::noai`]).
    pub optout_noai: bool,
    /// The page opts out with a `noimageai` robots directive ([`OptOut::noimageai`]).
    pub optout_noimageai: bool,
    /// The page reserves text and data mining rights by TDMRep ([`OptOut::tdm_reservation`]).
    pub optout_tdm_reservation: bool,
}

/// What extraction saw across records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtractStats {
    /// HTML pages seen (WAT metadata records with `HTML-Metadata`, WARC HTML responses).
    pub html_pages: u64,
    /// `IMG@/src` links seen on those pages.
    pub image_links: u64,
    /// Image links without alt (or an empty one): cc2dataset drops them too.
    pub no_alt: u64,
    /// Image links whose URL is not, or does not resolve to, http(s).
    pub not_http: u64,
    /// Pairs dropped because the cleaned caption is shorter than `min_alt_chars`.
    pub short_caption: u64,
    /// Pairs yielded: the image links that none of the counts above dropped.
    pub pairs: u64,
}

/// Opt-out signals of one page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptOut {
    /// `noai` in an `X-Robots-Tag` header or a `<meta name="robots">`: no AI use of the page.
    pub noai: bool,
    /// `noimageai` in an `X-Robots-Tag` header or a `<meta name="robots">`: no AI use of its
    /// images.
    pub noimageai: bool,
    /// A `tdm-reservation` header or `<meta>` of `1`: text and data mining rights reserved.
    pub tdm_reservation: bool,
}

impl OptOut {
    /// Reads `X-Robots-Tag` and `tdm-reservation` response headers and `<meta name="robots">` /
    /// `<meta name="tdm-reservation">` (TDMRep's HTML form) of a WAT record.
    pub fn of_response(response: &HttpResponseMetadata) -> OptOut {
        let mut out = OptOut::default();
        for (name, value) in &response.headers {
            out.add_header(name, value);
        }
        if let Some(html) = &response.html {
            for meta in &html.head.metas {
                if let (Some(name), Some(content)) = (&meta.name, &meta.content) {
                    out.add_meta(name, content);
                }
            }
        }
        out
    }

    /// Adds what an HTTP response header says.
    pub fn add_header(&mut self, name: &str, value: &str) {
        if name.eq_ignore_ascii_case("X-Robots-Tag") {
            self.add_robots(value);
        } else if name.eq_ignore_ascii_case("tdm-reservation") {
            self.tdm_reservation |= is_tdm_reserved(value);
        }
    }

    /// Adds what a `<meta name=... content=...>` says.
    pub fn add_meta(&mut self, name: &str, content: &str) {
        let name = name.trim();
        if name.eq_ignore_ascii_case("robots") {
            self.add_robots(content);
        } else if name.eq_ignore_ascii_case("tdm-reservation") {
            self.tdm_reservation |= is_tdm_reserved(content);
        }
    }

    /// Adds the `noai` / `noimageai` directives of a robots value. Tokens are separated by commas,
    /// whitespace, `:` or `;` and compared case-insensitively. A user-agent scope
    /// (`otherbot: noai`) is ignored on purpose: an opt-out aimed at any crawler is honoured.
    pub fn add_robots(&mut self, value: &str) {
        for token in value.split(|c: char| c == ',' || c == ':' || c == ';' || c.is_whitespace()) {
            self.noai |= token.eq_ignore_ascii_case("noai");
            self.noimageai |= token.eq_ignore_ascii_case("noimageai");
        }
    }
}

fn is_tdm_reserved(value: &str) -> bool {
    value.trim() == "1"
}

/// Decodes HTML character references (WHATWG rules, as Python's `html.unescape`), then
/// collapses every run of Unicode whitespace to one space and trims.
pub fn clean_caption(raw: &str) -> String {
    let decoded = htmlize::unescape(raw);
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// cc2dataset's uid: lowercase hex md5 of the raw alt followed by the absolute URL.
pub fn uid(alt_raw: &str, url: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(alt_raw.as_bytes());
    hasher.update(url.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(32);
    for b in hasher.finalize() {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 15)] as char);
    }
    hex
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// The base relative links resolve against: the page URL joined with `<base href>` if any.
pub fn base_url(page_url: &str, base_href: Option<&str>) -> Option<Url> {
    let page = Url::parse(page_url).ok();
    let Some(href) = base_href else { return page };
    let joined = match &page {
        Some(page) => page.join(href),
        None => Url::parse(href),
    };
    joined.ok().or(page)
}

/// The absolute http(s) URL of an image link, or `None` (not http(s), or unresolvable).
pub fn resolve_image_url(raw: &str, base: Option<&Url>) -> Option<String> {
    if is_http(raw) {
        return Some(raw.to_owned());
    }
    let joined = String::from(base?.join(raw).ok()?);
    is_http(&joined).then_some(joined)
}

/// The page an image link was found on: everything a [`Pair`] takes from it.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub url: String,
    pub date: Option<String>,
    /// What relative links resolve against ([`base_url`]).
    pub base: Option<Url>,
    pub opt_out: OptOut,
    pub offset: u64,
}

/// An `<img>` as the extraction sees it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ImageLink<'a> {
    pub src: Option<&'a str>,
    pub alt: Option<&'a str>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

impl Page {
    /// Counts the link and hands on its pair, unless the link is dropped (counted by reason).
    pub fn emit(
        &self,
        link: ImageLink<'_>,
        options: &ExtractOptions,
        stats: &mut ExtractStats,
        on_pair: &mut impl FnMut(Pair),
    ) {
        stats.image_links += 1;
        let Some(alt) = link.alt.filter(|a| !a.is_empty()) else {
            stats.no_alt += 1;
            return;
        };
        let Some(url) = link.src.and_then(|u| resolve_image_url(u, self.base.as_ref())) else {
            stats.not_http += 1;
            return;
        };
        let caption = clean_caption(alt);
        if caption.chars().count() < options.min_alt_chars {
            stats.short_caption += 1;
            return;
        }
        stats.pairs += 1;
        on_pair(Pair {
            uid: uid(alt, &url),
            url,
            alt_raw: alt.to_owned(),
            caption,
            page_url: self.url.clone(),
            html_width: link.width,
            html_height: link.height,
            warc_date: self.date.clone(),
            source_offset: self.offset,
            optout_noai: self.opt_out.noai,
            optout_noimageai: self.opt_out.noimageai,
            optout_tdm_reservation: self.opt_out.tdm_reservation,
        });
    }
}

/// The pairs of one WAT metadata record (none unless it describes an HTML response).
pub fn wat_pairs(
    record: &Record,
    metadata: &WatMetadata,
    options: &ExtractOptions,
    stats: &mut ExtractStats,
    on_pair: &mut impl FnMut(Pair),
) {
    let envelope = &metadata.envelope;
    let Some(response) = &envelope.payload.http_response else { return };
    let Some(html) = &response.html else { return };
    stats.html_pages += 1;
    let Some(page_url) = envelope.warc_header.target_uri.as_deref().or(record.target_uri.as_deref()) else {
        return;
    };
    let page = Page {
        url: page_url.to_owned(),
        date: envelope.warc_header.date.as_deref().or(record.date.as_deref()).map(str::to_owned),
        base: base_url(page_url, html.head.base.as_deref()),
        opt_out: OptOut::of_response(response),
        offset: record.offset,
    };
    for link in &html.image_links {
        let link = ImageLink { src: link.url.as_deref(), alt: link.alt.as_deref(), ..ImageLink::default() };
        page.emit(link, options, stats, on_pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wat::{Head, HtmlMetadata, Meta};

    #[test]
    fn uid_matches_cc2dataset() {
        // python3: hashlib.md5(('alt' + 'https://x/y.jpg').encode()).hexdigest()
        assert_eq!(uid("alt", "https://x/y.jpg"), "fcaf936739a301a31a72ba904691caa5");
        // Non-ASCII: Python's str.encode() is UTF-8.
        assert_eq!(
            uid("中国新闻网", "http://www.chinanews.com/images/banner11.gif"),
            "d73ad2009b0c2dfe76fdc9a8a725fab0"
        );
    }

    #[test]
    fn urls_resolve_like_cc2dataset() {
        let base = base_url("http://example.org/dir/page.html", None);
        let resolve = |raw: &str| resolve_image_url(raw, base.as_ref());
        assert_eq!(resolve("/logo.png").as_deref(), Some("http://example.org/logo.png"));
        assert_eq!(resolve("img/a.jpg").as_deref(), Some("http://example.org/dir/img/a.jpg"));
        assert_eq!(resolve("../a.jpg").as_deref(), Some("http://example.org/a.jpg"));
        assert_eq!(resolve("//cdn.example.net/a.jpg").as_deref(), Some("http://cdn.example.net/a.jpg"));
        // Absolute http(s) links are kept verbatim, not normalised, as cc2dataset does.
        assert_eq!(resolve("http://EXAMPLE.org/a b.jpg?t=[x]").as_deref(), Some("http://EXAMPLE.org/a b.jpg?t=[x]"));
        assert_eq!(resolve("data:image/png;base64,iVBORw0KGgo="), None);
        assert_eq!(resolve("javascript:void(0)"), None);
        assert_eq!(resolve("ftp://example.org/a.jpg"), None);
        assert_eq!(resolve_image_url("/a.jpg", None), None);
    }

    #[test]
    fn base_href_applies_relative_to_the_page() {
        let base = base_url("https://example.org/a/b.html", Some("/static/"));
        assert_eq!(resolve_image_url("x.jpg", base.as_ref()).as_deref(), Some("https://example.org/static/x.jpg"));
        let base = base_url("https://example.org/a/b.html", Some("https://cdn.example.net/img/"));
        assert_eq!(resolve_image_url("x.jpg", base.as_ref()).as_deref(), Some("https://cdn.example.net/img/x.jpg"));
        let base = base_url("not a url", Some("https://cdn.example.net/"));
        assert_eq!(resolve_image_url("x.jpg", base.as_ref()).as_deref(), Some("https://cdn.example.net/x.jpg"));
    }

    #[test]
    fn captions_are_cleaned() {
        assert_eq!(clean_caption("  Tom &amp; Jerry\n\t on&nbsp;TV  "), "Tom & Jerry on TV");
        assert_eq!(clean_caption("&lt;b&gt;bold&#x21;&#33;"), "<b>bold!!");
        assert_eq!(clean_caption(" \r\n "), "");
        assert_eq!(clean_caption("a\u{3000}b"), "a b");
    }

    #[test]
    fn robots_tokens() {
        let parse = |v: &str| {
            let mut o = OptOut::default();
            o.add_robots(v);
            (o.noai, o.noimageai)
        };
        assert_eq!(parse("noai"), (true, false));
        assert_eq!(parse("NoIndex, NOIMAGEAI"), (false, true));
        assert_eq!(parse("noindex,noai,noimageai"), (true, true));
        assert_eq!(parse("otherbot: noai"), (true, false));
        assert_eq!(parse("noaiX, xnoimageai, index follow"), (false, false));
    }

    #[test]
    fn opt_out_from_headers_and_metas() {
        let response =
            |headers: &[(&'static str, &'static str)], metas: &[(&'static str, &'static str)]| HttpResponseMetadata {
                headers: headers.iter().map(|&(n, v)| (n.into(), v.into())).collect(),
                html: Some(HtmlMetadata {
                    head: Head {
                        base: None,
                        metas: metas
                            .iter()
                            .map(|&(n, c)| Meta { name: Some(n.into()), content: Some(c.into()) })
                            .collect(),
                    },
                    image_links: Vec::new(),
                }),
            };
        let o = OptOut::of_response(&response(&[("x-robots-tag", "noai"), ("TDM-Reservation", " 1 ")], &[]));
        assert_eq!(o, OptOut { noai: true, noimageai: false, tdm_reservation: true });
        let o = OptOut::of_response(&response(&[("tdm-reservation", "0")], &[(" Robots", "noimageai")]));
        assert_eq!(o, OptOut { noai: false, noimageai: true, tdm_reservation: false });
        let o = OptOut::of_response(&response(&[], &[("description", "noai"), ("tdm-reservation", "1")]));
        assert_eq!(o, OptOut { noai: false, noimageai: false, tdm_reservation: true });
    }
}
