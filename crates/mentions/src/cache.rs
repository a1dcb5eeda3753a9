//! Counts kept in the dataset (`pairscope_store::cache`: `DS/cache/mentions/v{version}-{key}.json`),
//! so asking again is instant. The key hashes everything the result depends on (the lists'
//! contents, the filter, the breakdown, `top`, accent folding, `--scan`, this format); the version in
//! the name means a new ingest never serves an old count. The cache is a convenience: failing
//! to read or write it is never an error.

use pairscope_store::Dataset;
use pairscope_store::cache::VersionCache;

use crate::count::{MentionsReport, MentionsRequest};

/// Bumped whenever counting or the report changes meaning.
const CACHE_FORMAT: u32 = 1;

fn cache(dataset: &Dataset) -> VersionCache {
    VersionCache::new(dataset, "mentions")
}

fn key(request: &MentionsRequest) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(&CACHE_FORMAT.to_le_bytes());
    for list in &request.lists {
        field(list.origin.as_bytes());
        field(list.content_hash().as_bytes());
    }
    field(request.filter.as_deref().map(str::trim).unwrap_or("").as_bytes());
    field(request.by.map(|b| b.column()).unwrap_or("").as_bytes());
    field(&request.top.map_or(u64::MAX, |t| t as u64).to_le_bytes());
    field(&[u8::from(request.fold_accents)]);
    if let Some(threshold) = request.dedup_near {
        field(&threshold.to_le_bytes());
    }
    // Only when asked, so the keys of counts made before `scan` existed stay the same.
    if request.scan {
        field(b"scan");
    }
    format!("{}.json", &hasher.finalize().to_hex()[..32])
}

/// The cached report of `request` on this version, if there is one.
pub fn load(dataset: &Dataset, request: &MentionsRequest) -> Option<MentionsReport> {
    let report: MentionsReport = serde_json::from_slice(&cache(dataset).read(&key(request))?).ok()?;
    (report.dataset_version == dataset.version()).then_some(report)
}

/// Stores `report`; returns why it could not, if it could not.
pub fn store(dataset: &Dataset, request: &MentionsRequest, report: &MentionsReport) -> Result<(), String> {
    let bytes = serde_json::to_vec(report).map_err(|e| e.to_string())?;
    cache(dataset).write(&key(request), &bytes)
}
