//! Extraction on the real Common Crawl samples in `../shared/data/cc`, and on damaged copies of
//! them made here in memory.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use pairscope_collect::{ExtractOptions, ExtractStats, Format, Pair, ReadStats, SkipReason, extract_archive, uid};

const SAMPLE: &str = "cc/cc-sample-16pages.warc.wat.gz";
/// Compressed offsets of the first members of the sample (warcinfo, then metadata records).
const THIRD_MEMBER: usize = 720;
const FOURTH_MEMBER: usize = 3136;

fn shared(rel: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(pairscope_testkit::shared_data(rel)?).unwrap())
}

/// A whole file's pairs and counts (fine for the small samples tests use).
struct WatExtraction {
    pairs: Vec<Pair>,
    read: ReadStats,
    extract: ExtractStats,
}

fn extract_with(bytes: &[u8], options: &ExtractOptions) -> WatExtraction {
    let mut pairs = Vec::new();
    let summary = extract_archive(bytes, Format::Wat, options, |p| pairs.push(p)).unwrap();
    WatExtraction { pairs, read: summary.read, extract: summary.extract }
}

fn extract(bytes: &[u8]) -> WatExtraction {
    extract_with(bytes, &ExtractOptions { min_alt_chars: 1 })
}

#[test]
fn sample_yields_cc2dataset_pairs() {
    let Some(bytes) = shared(SAMPLE) else { return };
    let out = extract(&bytes);
    assert_eq!(out.read.records, 34);
    assert_eq!(out.read.skipped_total(), 0);
    assert_eq!(out.extract.html_pages, 16);
    // 32 = every IMG@/src link with a non-empty alt; all are http(s) once resolved.
    assert_eq!(out.pairs.len(), 32);
    assert_eq!(out.extract.image_links, 151);
    assert_eq!(out.extract.no_alt, 119);
    assert_eq!((out.extract.not_http, out.extract.short_caption), (0, 0));

    let first = &out.pairs[0];
    assert_eq!(first.url, "http://www.chinanews.com/images/banner11.gif");
    assert_eq!(first.caption, "中国新闻网");
    assert_eq!(first.page_url, "http://003338.cn/l41/481397.html");
    assert_eq!(first.warc_date.as_deref(), Some("2020-08-08T17:27:41Z"));
    assert_eq!(first.source_offset, THIRD_MEMBER as u64);
    assert_eq!(first.uid, "d73ad2009b0c2dfe76fdc9a8a725fab0");
    let relative = out.pairs.iter().find(|p| p.alt_raw == "Стратегия пожарной безопасности").unwrap();
    assert_eq!(relative.url, "http://01spb.ru/logo.png", "a relative src joins the page URL");
    assert!(out.pairs.iter().all(|p| p.uid == uid(&p.alt_raw, &p.url)));
    assert!(out.pairs.iter().all(|p| !p.optout_noai && !p.optout_noimageai && !p.optout_tdm_reservation));

    // LAION's default keeps captions of 5 characters or more: short CJK labels go.
    let laion = extract_with(bytes.as_slice(), &ExtractOptions::default());
    assert_eq!(laion.pairs.len() as u64 + laion.extract.short_caption, 32);
    assert!(laion.pairs.iter().all(|p| p.caption.chars().count() >= 5));
}

#[test]
fn whirlwind_request_only_yields_nothing() {
    let Some(bytes) = shared("cc/whirlwind.warc.wat.gz") else { return };
    let out = extract(&bytes);
    assert!(out.read.records > 0);
    assert_eq!(out.read.skipped_total(), 0);
    assert!(out.pairs.is_empty());
}

#[test]
fn truncated_file_keeps_complete_records() {
    let Some(bytes) = shared(SAMPLE) else { return };
    let out = extract(&bytes[..bytes.len() / 2]);
    assert_eq!(out.read.skipped, BTreeMap::from([(SkipReason::Truncated, 1)]));
    // The complete pages before the cut hold 5 + 2 + 4 pairs.
    assert_eq!(out.pairs.len(), 11);
    assert!(out.pairs.iter().all(|p| p.source_offset < (bytes.len() / 2) as u64));
}

#[test]
fn flipped_byte_costs_one_record() {
    let Some(mut bytes) = shared(SAMPLE) else { return };
    let whole = extract(&bytes);
    let middle = (THIRD_MEMBER + FOURTH_MEMBER) / 2;
    bytes[middle] ^= 0x55;
    let out = extract(&bytes);
    assert_eq!(out.read.skipped.get(&SkipReason::CorruptGzip), Some(&1));
    assert_eq!(out.read.records, whole.read.records - 1);
    let lost: Vec<_> = whole.pairs.iter().filter(|p| p.source_offset == THIRD_MEMBER as u64).collect();
    assert_eq!(lost.len(), 5);
    assert_eq!(out.pairs.len(), whole.pairs.len() - lost.len());
    assert!(out.pairs.iter().all(|p| p.source_offset != THIRD_MEMBER as u64));
}

#[test]
fn garbage_json_member_is_skipped() {
    let Some(bytes) = shared(SAMPLE) else { return };
    let payload = b"{\"Envelope\": {\"Payload-Metadata\": \x00 garbage";
    let mut record = format!(
        "WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Target-URI: http://example.org/\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    )
    .into_bytes();
    record.extend_from_slice(payload);
    record.extend_from_slice(b"\r\n\r\n");
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&record).unwrap();
    let fake = encoder.finish().unwrap();

    let damaged = [&bytes[..FOURTH_MEMBER], &fake, &bytes[FOURTH_MEMBER..]].concat();
    let out = extract(&damaged);
    assert_eq!(out.read.skipped, BTreeMap::from([(SkipReason::BadJson, 1)]));
    assert_eq!(out.read.examples[0].offset, FOURTH_MEMBER as u64);
    assert_eq!(out.pairs.len(), 32);
    // Offsets after the insert move by its length: they are still the members' true offsets.
    let shifted = out.pairs.iter().filter(|p| p.source_offset > FOURTH_MEMBER as u64).count();
    assert!(shifted > 0);
    assert!(
        out.pairs
            .iter()
            .all(|p| p.source_offset <= THIRD_MEMBER as u64 || p.source_offset >= (FOURTH_MEMBER + fake.len()) as u64)
    );
}

fn member(warc_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut record = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: http://damaged.example/\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    )
    .into_bytes();
    record.extend_from_slice(payload);
    record.extend_from_slice(b"\r\n\r\n");
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&record).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn every_kind_of_damage_in_one_file_costs_only_the_damaged_records() {
    let Some(bytes) = shared(SAMPLE) else { return };
    let json = "application/json";
    let mut flipped = bytes[THIRD_MEMBER..FOURTH_MEMBER].to_vec();
    flipped[(FOURTH_MEMBER - THIRD_MEMBER) / 2] ^= 0x55;
    // 65 MiB of padding inflate past the 64 MiB + 64 KiB cap from 65 KiB of gzip.
    let mut bomb = br#"{"Envelope":{},"pad":""#.to_vec();
    bomb.resize(65 << 20, b' ');
    let huge_header = {
        let record = b"WARC/1.0\r\nWARC-Type: metadata\r\nContent-Length: 1000000000000\r\n\r\n{}";
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(record).unwrap();
        encoder.finish().unwrap()
    };
    // A page with no charset whose alt is not UTF-8: decoded with replacement characters.
    let latin1 = member(
        "response",
        "application/http; msgtype=response",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<img src=\"/a.jpg\" alt=\"Caf\xe9 cr\xe8me\">",
    );
    let damaged = [
        &bytes[..FOURTH_MEMBER],
        &member(
            "metadata",
            json,
            b"{\"Envelope\":{\"WARC-Header-Metadata\":{\"WARC-Target-URI\":\"http://x/\xff\xfe\"}}}",
        ),
        &member(
            "metadata",
            json,
            br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":{"Links":5}}}}}"#,
        ),
        &member("metadata", json, br#"{"Envelope":{"Payload-Metadata":{"#),
        b"not a gzip member",
        &flipped,
        &member("metadata", json, &bomb),
        &huge_header,
        &latin1,
        &bytes[FOURTH_MEMBER..],
        &bytes[FOURTH_MEMBER..FOURTH_MEMBER + 100],
    ]
    .concat();
    let whole = extract(&bytes);
    let mut pairs = Vec::new();
    let summary =
        extract_archive(damaged.as_slice(), Format::Auto, &ExtractOptions { min_alt_chars: 1 }, |p| pairs.push(p))
            .unwrap();
    let skipped = &summary.read.skipped;
    assert_eq!(skipped.get(&SkipReason::BadJson), Some(&2), "{skipped:?}");
    assert_eq!(skipped.get(&SkipReason::UnexpectedJsonShape), Some(&1), "{skipped:?}");
    assert_eq!(skipped.get(&SkipReason::CorruptGzip), Some(&1), "{skipped:?}");
    assert_eq!(skipped.get(&SkipReason::PayloadTooLarge), Some(&2), "{skipped:?}");
    assert_eq!(skipped.get(&SkipReason::Truncated), Some(&1), "{skipped:?}");
    assert_eq!(skipped.get(&SkipReason::Garbage), Some(&1), "{skipped:?}");
    // Read as WARC records: the good ones, the three with bad JSON, the Latin-1 page.
    assert_eq!(summary.read.records, whole.read.records + 4);
    // Every pair of the sample, in order, plus the Latin-1 page's.
    let urls: Vec<&str> = pairs.iter().map(|p| p.url.as_str()).collect();
    let mut expected: Vec<&str> = whole.pairs.iter().map(|p| p.url.as_str()).collect();
    let at = whole.pairs.iter().take_while(|p| p.source_offset < FOURTH_MEMBER as u64).count();
    expected.insert(at, "http://damaged.example/a.jpg");
    assert_eq!(urls, expected);
    assert_eq!(pairs[at].caption, "Caf\u{fffd} cr\u{fffd}me");
}
