//! What readers compute once per version and keep beside it: `DS/cache/<kind>/v{version}-{key}`
//! (mention counts, the overview, keyword columns' global ordinals). A cache is never needed:
//! a reader that finds nothing (or something it cannot use) computes the answer and tries to
//! keep it; failing to read or write a cache is never an error (a read-only dataset is read
//! without one). The version in the name means a new commit never reads an older version's
//! answer; keeping an answer removes the files of older versions of the same kind (a reader
//! still holding one mapped keeps its pages), never of newer ones.
//!
//! Writes go through the durable write (`pairscope_io::durable`), so a file is whole or absent;
//! a killed writer leaves at most a temporary, removed by the next write of that name.

use std::io;
use std::path::{Path, PathBuf};

use pairscope_io::durable::{AtomicFile, remove_dead_temporaries};

use crate::Dataset;

/// The cache of one kind of answer for one dataset version.
#[derive(Debug, Clone)]
pub struct VersionCache {
    dir: PathBuf,
    version: u64,
}

impl VersionCache {
    /// The cache of `kind` (a directory name under `DS/cache/`) for `dataset`'s version.
    pub fn new(dataset: &Dataset, kind: &str) -> VersionCache {
        VersionCache { dir: dataset.root().join("cache").join(kind), version: dataset.version() }
    }

    /// Where the answer called `key` (a file name: no `/`) of this version is kept.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("v{}-{key}", self.version))
    }

    /// The kept bytes of `key`, if there are any.
    pub fn read(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(key)).ok()
    }

    /// Keeps `bytes` as `key`; returns why it could not, if it could not.
    pub fn write(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        self.write_with(key, |file| io::Write::write_all(file, bytes))
    }

    /// Keeps what `fill` writes as `key` (streamed, for answers too big to hold twice);
    /// returns why it could not, if it could not. Nothing is kept if `fill` fails.
    pub fn write_with(&self, key: &str, fill: impl FnOnce(&mut AtomicFile) -> io::Result<()>) -> Result<(), String> {
        let path = self.path(key);
        let write = || -> io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            // A killed writer left at most a temporary of this name.
            remove_dead_temporaries(&path)?;
            let mut file = AtomicFile::create(&path)?;
            fill(&mut file)?;
            file.commit()?;
            remove_older_versions(&self.dir, self.version);
            Ok(())
        };
        write().map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Removes the files of versions before `version` from `dir` (names `v{N}-…`; nothing else).
fn remove_older_versions(dir: &Path, version: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let older = name
            .to_str()
            .and_then(|n| n.strip_prefix('v'))
            .and_then(|n| n.split_once('-'))
            .and_then(|(number, _)| number.parse::<u64>().ok())
            .is_some_and(|written| written < version);
        if older {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_older_versions_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["v3-a.json", "v4-a.json", "v5-b.ords", "notes.txt", "v-x", "vx-1"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_older_versions(dir.path(), 4);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["notes.txt", "v-x", "v4-a.json", "v5-b.ords", "vx-1"]);
    }
}
