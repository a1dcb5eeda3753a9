//! What every target of `pairscope_collect` checks of a read, besides not panicking: the
//! invariants of the readers that hold whatever the input.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use pairscope_collect::{ExtractOptions, Format, extract_archive, uid};

/// `bytes` as one gzip member, the way Common Crawl stores a record.
#[allow(dead_code, reason = "each target compiles this module; archive feeds its bytes as they come")]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// Reads `archive` and checks every pair and the counts.
pub fn check(archive: &[u8], format: Format) {
    let options = ExtractOptions { min_alt_chars: 1 };
    let mut pairs = 0u64;
    let summary = extract_archive(archive, format, &options, |pair| {
        pairs += 1;
        assert!(pair.url.starts_with("http://") || pair.url.starts_with("https://"), "{}", pair.url);
        assert_eq!(pair.uid, uid(&pair.alt_raw, &pair.url));
        assert!(!pair.caption.is_empty());
        assert!(!pair.caption.starts_with(' ') && !pair.caption.ends_with(' ') && !pair.caption.contains("  "));
        assert!((pair.source_offset as usize) < archive.len());
    })
    .expect("a slice never fails to read");
    assert_eq!(summary.extract.pairs, pairs);
    let e = &summary.extract;
    assert_eq!(e.image_links, e.no_alt + e.not_http + e.short_caption + e.pairs);
    assert!(summary.read.garbage_bytes <= archive.len() as u64);
    assert!(summary.read.examples.iter().all(|s| (s.offset as usize) < archive.len()));
}
