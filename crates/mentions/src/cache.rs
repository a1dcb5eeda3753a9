//! Counts kept in the dataset, `DS/cache/mentions/v{version}-{key}.json`, so asking again is
//! instant. The key hashes everything the result depends on (the lists' contents, the
//! filter, the breakdown, `top`, accent folding, this format); the version in the name means
//! a new ingest never serves an old count, and writing a count removes those of other
//! versions. The cache is a convenience: failing to read or write it is never an error.

use std::path::{Path, PathBuf};

use pairscope_io::durable::{remove_dead_temporaries, write_atomic};
use pairscope_store::Dataset;

use crate::count::{MentionsReport, MentionsRequest};

/// Bumped whenever counting or the report changes meaning.
const CACHE_FORMAT: u32 = 1;

fn dir(dataset: &Dataset) -> PathBuf {
    dataset.root().join("cache").join("mentions")
}

fn file_name(dataset: &Dataset, request: &MentionsRequest) -> String {
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
    format!("v{}-{}.json", dataset.version(), &hasher.finalize().to_hex()[..32])
}

/// The cached report of `request` on this version, if there is one.
pub fn load(dataset: &Dataset, request: &MentionsRequest) -> Option<MentionsReport> {
    let text = std::fs::read(dir(dataset).join(file_name(dataset, request))).ok()?;
    let report: MentionsReport = serde_json::from_slice(&text).ok()?;
    (report.dataset_version == dataset.version()).then_some(report)
}

/// Stores `report`; returns why it could not, if it could not.
pub fn store(dataset: &Dataset, request: &MentionsRequest, report: &MentionsReport) -> Result<(), String> {
    let dir = dir(dataset);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(file_name(dataset, request));
        // A killed run leaves at most a temporary the next store's clean-up removes.
        remove_dead_temporaries(&path)?;
        write_atomic(&path, &serde_json::to_vec(report).map_err(std::io::Error::other)?)?;
        remove_other_versions(&dir, dataset.version());
        Ok(())
    };
    write().map_err(|e| format!("{}: {e}", dir.display()))
}

fn remove_other_versions(dir: &Path, version: u64) {
    let current = format!("v{version}-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('v') && name.ends_with(".json") && !name.starts_with(&current) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
