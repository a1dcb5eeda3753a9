//! What the differential tests share: the bench directory and cc2dataset's extractor as a peer.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn bench_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../bench")
}

/// A pair as cc2dataset gives it (and as pairscope's `Pair` is compared with it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub url: String,
    /// The alt text as found, before cleanup (what the uid hashes).
    pub alt: String,
    pub uid: String,
    pub page_url: String,
}

impl Link {
    // Used by cc2dataset.rs; real_html.rs compares `Pair` fields directly.
    #[allow(dead_code)]
    pub fn of(pair: &pairscope_collect::Pair) -> Link {
        Link {
            url: pair.url.clone(),
            alt: pair.alt_raw.clone(),
            uid: pair.uid.clone(),
            page_url: pair.page_url.clone(),
        }
    }
}

/// cc2dataset 1.5.0's `extract_documents_from_wat` on `wat` (`bench/peers/cc2dataset_wat.py`
/// with `python`), its pairs in file order. Fails the test if the peer fails or skips a record.
pub fn cc2dataset_pairs(python: &Path, wat: &Path) -> Vec<Link> {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("cc2dataset.jsonl");
    let output = Command::new(python)
        .arg(bench_dir().join("peers/cc2dataset_wat.py"))
        .arg("--pairs")
        .arg(&jsonl)
        .arg(wat)
        .output()
        .unwrap();
    assert!(output.status.success(), "cc2dataset_wat.py: {}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((summary["failed_records"].as_u64(), summary["failed_shards"].as_u64()), (Some(0), Some(0)));
    std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| v[name].as_str().unwrap().to_owned();
            Link { url: field("url"), alt: field("alt"), uid: field("uid"), page_url: field("page_url") }
        })
        .collect()
}
