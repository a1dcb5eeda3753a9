//! WARC mode: image links from the HTML of `response` records.
//!
//! The HTML goes through `lol_html`, Cloudflare's streaming rewriter: it tokenises without
//! building a tree, dispatches only the elements selected (`img`, `base`, `meta`, `noscript`) and
//! decodes attributes in the page's encoding with `encoding_rs`, switching when a `<meta charset>`
//! says so. A tree builder (html5ever) would do work no alt-text pair needs; a regex would
//! misread comments, scripts and attribute quoting.
//!
//! What it reads, beyond the WAT's `IMG@/src`:
//! - `width` / `height` attributes, as `html_width` / `html_height` (what the page asked for);
//! - a lazy-loading image's real URL: `data-src` (and kin), else the largest `srcset`
//!   candidate, where `src` is missing, empty, a `data:` URI or `about:blank`;
//! - `<img>` inside `<noscript>`, nested ones too (the tokenizer sees raw text there, as a
//!   browser with scripts on does; Common Crawl's WAT extractor reads them, so this does too);
//! - the first `<base href>` of the document, wherever it is;
//! - opt-outs: `X-Robots-Tag` / `tdm-reservation` headers, `<meta name=robots|tdm-reservation>`.
//!
//! Attribute values are taken as a DOM (and the WAT) gives them, so `uid` agrees with WAT mode:
//! line ends normalised (CR LF and lone CR become LF, as the spec does before tokenising) and
//! character references decoded by the attribute rules (`htmlize`).
//!
//! The encoding is the spec's order: a BOM, else the `Content-Type` charset, else a
//! `<meta charset>` (lol_html switches when it meets one), else UTF-8 (the spec's fallback is
//! the locale's legacy encoding, usually windows-1252; undeclared pages today are mostly UTF-8).

use std::cell::RefCell;
use std::io::Read;

use encoding_rs::{Encoding, UTF_8};
use flate2::read::GzDecoder;
use lol_html::html_content::TextChunk;
use lol_html::{AsciiCompatibleEncoding, HtmlRewriter, MemorySettings, Settings, element, text};

use crate::archive::{Record, SkipReason};
use crate::extract::{ExtractOptions, ExtractStats, ImageLink, OptOut, Page, Pair, base_url};

/// The parser's own working memory for one page; HTML that needs more is skipped.
const MAX_PARSER_MEMORY: usize = 16 << 20;
/// `<noscript>` inside `<noscript>` is looked into this deep.
const MAX_NOSCRIPT_DEPTH: usize = 4;
/// Largest body after undoing a stray `Content-Encoding: gzip`.
const MAX_BODY_BYTES: u64 = 64 << 20;
/// Attributes that lazy-loading scripts put the real image URL in, in order of preference.
const LAZY_SRC: &[&str] = &["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url"];

/// An `<img>` as found, before resolution.
#[derive(Debug, Default)]
struct Img {
    src: Option<String>,
    alt: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
}

#[derive(Debug, Default)]
struct Found {
    imgs: Vec<Img>,
    base: Option<String>,
    opt_out: OptOut,
    noscript: String,
}

/// The pairs of one WARC `response` record holding an HTML page. Not a response, or not HTML:
/// nothing. A payload that is not HTTP is a skip.
pub fn warc_pairs(
    record: &Record,
    options: &ExtractOptions,
    stats: &mut ExtractStats,
    on_pair: &mut impl FnMut(Pair),
) -> Result<(), (SkipReason, String)> {
    if !record.is_type("response") {
        return Ok(());
    }
    let Some(response) = split_http(&record.payload) else {
        return Err((SkipReason::BadHttp, "payload is not an HTTP response".into()));
    };
    let content_type = response.header("content-type").unwrap_or_default().to_ascii_lowercase();
    let is_html = if content_type.is_empty() {
        response.body.trim_ascii_start().starts_with(b"<")
    } else {
        content_type.contains("html")
    };
    if !is_html {
        return Ok(());
    }
    let Some(page_url) = record.target_uri.as_deref().map(|u| u.trim_start_matches('<').trim_end_matches('>')) else {
        return Ok(());
    };
    stats.html_pages += 1;
    let body = gunzipped(&response);
    let mut found = Found::default();
    for (name, value) in &response.headers {
        found.opt_out.add_header(name, value);
    }
    let (encoding, declared) = match page_encoding(&content_type, &body) {
        Some(encoding) => (encoding, true),
        None => (UTF_8, false),
    };
    let found = scan(&body, encoding, !declared, found, 0)?;
    let page = Page {
        url: page_url.to_owned(),
        date: record.date.clone(),
        base: base_url(page_url, found.base.as_deref()),
        opt_out: found.opt_out,
        offset: record.offset,
    };
    for img in &found.imgs {
        let link = ImageLink { src: img.src.as_deref(), alt: img.alt.as_deref(), width: img.width, height: img.height };
        page.emit(link, options, stats, on_pair);
    }
    Ok(())
}

struct HttpResponse<'a> {
    headers: Vec<(String, String)>,
    body: &'a [u8],
}

impl HttpResponse<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Status line, headers, body; bare LF line ends accepted, header lines without a colon ignored.
fn split_http(payload: &[u8]) -> Option<HttpResponse<'_>> {
    if !payload.starts_with(b"HTTP/") {
        return None;
    }
    let (head, body) = match find_blank_line(payload) {
        Some((end, body_start)) => (&payload[..end], &payload[body_start..]),
        None => (payload, &payload[payload.len()..]),
    };
    let head = String::from_utf8_lossy(head);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(HttpResponse { headers, body })
}

/// End of the header block and start of the body: the first `\r\n\r\n` or `\n\n`.
fn find_blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes[i + 1] == b'\n' {
                return Some((i, i + 2));
            }
            if bytes[i + 1] == b'\r' && bytes.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// The body, inflated when it says `Content-Encoding: gzip` *and* is gzip: crawlers often store
/// the decoded body under the original header (ClueWeb does).
fn gunzipped<'a>(response: &HttpResponse<'a>) -> std::borrow::Cow<'a, [u8]> {
    let gzip = response.header("content-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
    if gzip && response.body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        if GzDecoder::new(response.body).take(MAX_BODY_BYTES).read_to_end(&mut out).is_ok() {
            return out.into();
        }
    }
    response.body.into()
}

/// The encoding a BOM or the header's charset sets; `None` leaves it to `<meta charset>`.
fn page_encoding(content_type: &str, body: &[u8]) -> Option<&'static Encoding> {
    if let Some((encoding, _)) = Encoding::for_bom(body) {
        return Some(encoding);
    }
    content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("charset="))
        .find_map(|label| Encoding::for_label(label.trim_matches(|c| c == '"' || c == '\'').as_bytes()))
}

/// Runs the parser over `html`; `meta_charset`: whether a `<meta charset>` may switch the
/// encoding. The text of each `<noscript>` is parsed again as HTML, `depth` levels down.
fn scan(
    html: &[u8],
    encoding: &'static Encoding,
    meta_charset: bool,
    found: Found,
    depth: usize,
) -> Result<Found, (SkipReason, String)> {
    // lol_html needs an ASCII-compatible encoding (UTF-16 pages are decoded to UTF-8 first).
    let (html, ascii) = match AsciiCompatibleEncoding::new(encoding) {
        Some(ascii) => (std::borrow::Cow::Borrowed(html), ascii),
        None => {
            let (text, _) = encoding.decode_with_bom_removal(html);
            (std::borrow::Cow::Owned(text.into_owned().into_bytes()), AsciiCompatibleEncoding::utf_8())
        }
    };
    let found = RefCell::new(found);
    let fragments = RefCell::new(Vec::<String>::new());
    {
        let mut settings = Settings::new()
            .with_encoding(ascii)
            .with_adjust_charset_on_meta_tag(meta_charset)
            .with_strict(false)
            .with_memory_settings(MemorySettings::new().with_max_allowed_memory_usage(MAX_PARSER_MEMORY));
        settings = settings
            .append_element_content_handler(element!("img", |el| {
                found.borrow_mut().imgs.push(image(|name| el.get_attribute(name)));
                Ok(())
            }))
            .append_element_content_handler(element!("base[href]", |el| {
                let mut found = found.borrow_mut();
                if found.base.is_none() {
                    found.base = el.get_attribute("href").map(|h| decode(&h));
                }
                Ok(())
            }))
            .append_element_content_handler(element!("meta[name][content]", |el| {
                if let (Some(name), Some(content)) = (el.get_attribute("name"), el.get_attribute("content")) {
                    found.borrow_mut().opt_out.add_meta(&name, &decode(&content));
                }
                Ok(())
            }));
        if depth < MAX_NOSCRIPT_DEPTH {
            settings = settings.append_element_content_handler(text!("noscript", |chunk: &mut TextChunk<'_>| {
                let mut found = found.borrow_mut();
                found.noscript.push_str(chunk.as_str());
                if chunk.last_in_text_node() {
                    fragments.borrow_mut().push(std::mem::take(&mut found.noscript));
                }
                Ok(())
            }));
        }
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        let parsed = rewriter.write(&html).and_then(|()| rewriter.end());
        if let Err(e) = parsed {
            return Err((SkipReason::BadHtml, e.to_string()));
        }
    }
    let mut found = found.into_inner();
    for fragment in fragments.into_inner() {
        if fragment.contains("<img") || fragment.contains("<IMG") {
            found = scan(fragment.as_bytes(), UTF_8, false, found, depth + 1)?;
        }
    }
    Ok(found)
}

/// An attribute value as the DOM has it: line ends normalised, character references decoded.
fn decode(value: &str) -> String {
    let value = if value.contains('\r') { value.replace("\r\n", "\n").replace('\r', "\n") } else { value.to_owned() };
    htmlize::unescape_attribute(value).into_owned()
}

/// An `<img>` from its attributes: the real URL of a lazy-loaded image, sizes when numeric.
fn image(attribute: impl Fn(&str) -> Option<String>) -> Img {
    let src = attribute("src").map(|s| decode(s.trim())).filter(|s| !is_placeholder(s));
    let src = src
        .or_else(|| {
            LAZY_SRC.iter().find_map(|name| attribute(name)).map(|s| decode(s.trim())).filter(|s| !is_placeholder(s))
        })
        .or_else(|| {
            attribute("srcset").or_else(|| attribute("data-srcset")).and_then(|s| largest_candidate(&decode(&s)))
        });
    let size = |name: &str| {
        attribute(name).and_then(|v| v.trim().trim_end_matches("px").parse::<i32>().ok()).filter(|v| *v >= 0)
    };
    Img { src, alt: attribute("alt").map(|a| decode(&a)), width: size("width"), height: size("height") }
}

fn is_placeholder(src: &str) -> bool {
    let lower = src.get(..5).unwrap_or(src).to_ascii_lowercase();
    src.is_empty() || lower.starts_with("data:") || src.eq_ignore_ascii_case("about:blank") || src == "#"
}

/// The URL of the `srcset` candidate with the largest width (`w`) or density (`x`) descriptor;
/// the first one on ties or without descriptors.
fn largest_candidate(srcset: &str) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in srcset.split(',') {
        let mut parts = candidate.split_whitespace();
        let Some(url) = parts.next() else { continue };
        if is_placeholder(url) {
            continue;
        }
        let size =
            parts.next().and_then(|d| d.strip_suffix(['w', 'x']).and_then(|n| n.parse::<f64>().ok())).unwrap_or(1.0);
        if best.is_none_or(|(b, _)| size > b) {
            best = Some((size, url));
        }
    }
    best.map(|(_, url)| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &str, body: &[u8]) -> Record {
        let mut payload = format!("HTTP/1.1 200 OK\r\n{headers}\r\n").into_bytes();
        payload.extend_from_slice(body);
        Record {
            offset: 42,
            warc_type: "response".into(),
            target_uri: Some("https://example.org/dir/page.html".into()),
            date: Some("2024-01-01T00:00:00Z".into()),
            content_type: Some("application/http; msgtype=response".into()),
            payload: payload.into(),
        }
    }

    fn pairs_of(record: &Record) -> (Vec<Pair>, ExtractStats) {
        let mut stats = ExtractStats::default();
        let mut pairs = Vec::new();
        warc_pairs(record, &ExtractOptions { min_alt_chars: 1 }, &mut stats, &mut |p| pairs.push(p)).unwrap();
        (pairs, stats)
    }

    #[test]
    fn images_sizes_lazy_sources_and_noscript() {
        let html = br#"<html><head><meta name="robots" content="noindex, noai"></head><body>
            <img src="/a.jpg" alt="Tom &amp; Jerry" width="640" height="480px">
            <img src="data:image/gif;base64,R0lGOD" data-src="lazy.jpg" alt="lazy one">
            <img src="" srcset="s.jpg 320w, l.jpg 1280w, m.jpg 640w" alt="from srcset">
            <!-- <img src="/commented.jpg" alt="in a comment"> -->
            <script>document.write('<img src="/script.jpg" alt="in a script">')</script>
            <noscript><img src="/noscript.jpg" alt="without scripts"></noscript>
            <img src="/no-alt.jpg">
            <base href="https://cdn.example.net/img/">
        </body></html>"#;
        let (pairs, stats) = pairs_of(&response("Content-Type: text/html\r\nX-Robots-Tag: noimageai\r\n", html));
        let got: Vec<_> =
            pairs.iter().map(|p| (p.url.as_str(), p.caption.as_str(), p.html_width, p.html_height)).collect();
        assert_eq!(
            got,
            [
                ("https://cdn.example.net/a.jpg", "Tom & Jerry", Some(640), Some(480)),
                ("https://cdn.example.net/img/lazy.jpg", "lazy one", None, None),
                ("https://cdn.example.net/img/l.jpg", "from srcset", None, None),
                ("https://cdn.example.net/noscript.jpg", "without scripts", None, None),
            ]
        );
        assert_eq!((stats.html_pages, stats.image_links, stats.no_alt), (1, 5, 1));
        assert!(pairs.iter().all(|p| p.optout_noai && p.optout_noimageai && !p.optout_tdm_reservation));
        assert_eq!(pairs[0].uid, crate::extract::uid("Tom & Jerry", "https://cdn.example.net/a.jpg"));
        assert_eq!(pairs[0].source_offset, 42);
    }

    #[test]
    fn charsets_from_header_and_meta() {
        // "Café" in windows-1252 and in Shift_JIS "日本" (0x93fa 0x967b).
        let latin = b"<img src=a.jpg alt=\"Caf\xe9\">";
        let (pairs, _) = pairs_of(&response("Content-Type: text/html; charset=windows-1252\r\n", latin));
        assert_eq!(pairs[0].caption, "Café");
        let sjis = b"<meta charset=\"shift_jis\"><img src=a.jpg alt=\"\x93\xfa\x96\x7b\">";
        let (pairs, _) = pairs_of(&response("Content-Type: text/html\r\n", sjis));
        assert_eq!(pairs[0].caption, "日本");
    }

    #[test]
    fn not_html_or_not_http() {
        let (pairs, stats) = pairs_of(&response("Content-Type: image/jpeg\r\n", b"<img src=a.jpg alt=x>"));
        assert!(pairs.is_empty());
        assert_eq!(stats.html_pages, 0);
        let mut record = response("", b"");
        record.payload = b"garbage".to_vec().into();
        let err = warc_pairs(&record, &ExtractOptions::default(), &mut ExtractStats::default(), &mut |_| {});
        assert_eq!(err.unwrap_err().0, SkipReason::BadHttp);
    }

    #[test]
    fn srcset_candidates() {
        assert_eq!(largest_candidate("a.jpg 1x, b.jpg 2x").as_deref(), Some("b.jpg"));
        assert_eq!(largest_candidate("a.jpg, b.jpg").as_deref(), Some("a.jpg"));
        assert_eq!(largest_candidate(" , data:x 9w").as_deref(), None);
    }
}
