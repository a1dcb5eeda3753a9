//! Differential test against cc2dataset 1.5.0's own WAT extractor (`extract_documents_from_wat`,
//! run by `bench/peers/cc2dataset_wat.py` in the bench venv): on the same WAT file the (url, alt)
//! pairs and their uids must be the same, in the same order, except where pairscope differs on
//! purpose (listed in `pairscope_collect::extract`'s module docs, checked one by one here).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;
use std::process::Command;

use pairscope_collect::{ExtractOptions, Format, Pair, RecordReader, extract_archive, wat};

mod common;
use common::{Link, bench_dir, cc2dataset_pairs};

const SAMPLE: &str = "cc/cc-sample-16pages.warc.wat.gz";

fn ours(wat: &Path) -> Vec<Pair> {
    let bytes = std::fs::read(wat).unwrap();
    let mut pairs = Vec::new();
    let summary =
        extract_archive(bytes.as_slice(), Format::Wat, &ExtractOptions { min_alt_chars: 1 }, |p| pairs.push(p))
            .unwrap();
    assert_eq!(summary.read.skipped_total(), 0);
    pairs
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn sample_pairs_and_uids_equal_cc2dataset() {
    let Some(wat) = pairscope_testkit::shared_data(SAMPLE) else { return };
    let Some(python) = pairscope_testkit::cc2dataset_python() else { return };
    let theirs = cc2dataset_pairs(&python, &wat);
    let mine = ours(&wat);
    assert_eq!(theirs.len(), 32);
    let normalised = |links: Vec<Link>| -> Vec<(String, String, String)> {
        links.into_iter().map(|l| (l.url, collapse(&l.alt), l.uid)).collect()
    };
    assert_eq!(normalised(mine.iter().map(Link::of).collect()), normalised(theirs.clone()));
    // Stronger than asked: the raw alt and the page url are the same too.
    assert_eq!(mine.iter().map(Link::of).collect::<Vec<_>>(), theirs);
}

/// The raw `url` and `alt` of every `IMG@/src` link with a non-empty alt that is not of another scheme
/// (data:, javascript:, mailto:, which both extractors drop), in file order: one per pair of
/// cc2dataset's.
fn raw_image_links(wat: &Path) -> Vec<(String, String)> {
    let bytes = std::fs::read(wat).unwrap();
    let mut raw = Vec::new();
    for record in RecordReader::new(bytes.as_slice()) {
        let record = record.unwrap();
        let Some(metadata) = wat::parse(&record).unwrap() else { continue };
        let Some(html) = metadata.envelope.payload.http_response.and_then(|r| r.html) else { continue };
        for link in html.image_links {
            let url = link.url.unwrap_or_default();
            let other_scheme = ["data:", "javascript:", "mailto:"].iter().any(|s| url.starts_with(s));
            let alt = link.alt.unwrap_or_default();
            if !alt.is_empty() && !other_scheme {
                raw.push((url.into_owned(), alt.into_owned()));
            }
        }
    }
    raw
}

/// Where WHATWG URL joining (pairscope, browsers) and Python's `urljoin` (cc2dataset) may give
/// different absolute URLs for a relative link: backslashes (a slash to a browser), spaces,
/// controls and non-ASCII characters (stripped at the ends, percent-encoded inside), and a
/// bare fragment (`#` stays on).
fn joins_differ(raw: &str) -> bool {
    raw.contains('\\')
        || raw.starts_with('#')
        || raw.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
}

#[test]
fn varied_records_differ_only_where_documented() {
    let Some(sample) = pairscope_testkit::shared_data(SAMPLE) else { return };
    let Some(python) = pairscope_testkit::cc2dataset_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("edge.wat.gz");
    let status = Command::new(&python)
        .arg(bench_dir().join("make_wat.py"))
        .args(["--copies", "40", "--edge-cases", "--source"])
        .arg(&sample)
        .arg("--out")
        .arg(&wat)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut theirs = cc2dataset_pairs(&python, &wat).into_iter().peekable();
    let mut mine = ours(&wat).into_iter().map(|p| Link::of(&p));
    let (mut whitespace_alt, mut upper_scheme, mut joined_otherwise, mut relative) = (0, 0, 0, 0);
    for (raw, alt) in raw_image_links(&wat) {
        let has_caption = alt.split_whitespace().next().is_some();
        let scheme = raw.split_once("://").map(|(s, _)| s);
        if scheme.is_some_and(|s| {
            s != "http" && s != "https" && (s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
        }) {
            // `HTTP://…` fails cc2dataset's case-sensitive scheme test, and then `urljoin` lower-cases
            // it only when the page has the same scheme; pairscope always reads it as the URL it is.
            let url = String::from(url::Url::parse(&raw).unwrap());
            let ours = has_caption.then(|| mine.next().unwrap());
            if let Some(ours) = &ours {
                assert_eq!((&ours.url, &ours.alt), (&url, &alt));
            }
            match theirs.next_if(|t| (&t.alt, &t.url) == (&alt, &url)) {
                Some(t) => assert!(ours.is_none_or(|o| o.page_url == t.page_url)),
                None => upper_scheme += 1,
            }
            continue;
        }
        let theirs = theirs.next().expect("cc2dataset keeps every lower-case http(s) link with alt");
        assert_eq!(theirs.alt, alt);
        if !has_caption {
            // pairscope drops a caption that is empty once whitespace is collapsed, at any
            // --min-alt-chars; cc2dataset keeps any non-empty alt.
            whitespace_alt += 1;
            continue;
        }
        let ours = mine.next().expect("pairscope has a pair for each of cc2dataset's with a caption");
        assert_eq!((&ours.alt, &ours.page_url), (&theirs.alt, &theirs.page_url));
        let absolute = raw.starts_with("http://") || raw.starts_with("https://");
        relative += usize::from(!absolute);
        if ours.url != theirs.url {
            assert!(!absolute && joins_differ(&raw), "{raw:?}: ours {} theirs {}", ours.url, theirs.url);
            assert_eq!(ours.uid, pairscope_collect::uid(&ours.alt, &ours.url));
            joined_otherwise += 1;
        } else {
            assert_eq!(ours.uid, theirs.uid);
        }
    }
    assert!(theirs.next().is_none(), "cc2dataset has no pair the raw links do not explain");
    assert!(mine.next().is_none(), "pairscope has no pair cc2dataset lacks");
    // The input exercises every case, and most relative links still resolve alike.
    assert!(
        whitespace_alt > 100 && joined_otherwise > 50 && upper_scheme >= 5,
        "{whitespace_alt} {joined_otherwise} {upper_scheme}"
    );
    assert!(relative > 2 * joined_otherwise, "{relative} relative links, {joined_otherwise} joined otherwise");
}
