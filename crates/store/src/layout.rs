//! Paths inside a dataset directory and the one durable-write primitive everything uses.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The paths of a dataset directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn current(&self) -> PathBuf {
        self.root.join("CURRENT")
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    pub fn versions(&self) -> PathBuf {
        self.root.join("versions")
    }

    pub fn manifest(&self, version: u64) -> PathBuf {
        self.versions().join(format!("v{version:08}.json"))
    }

    pub fn sources(&self) -> PathBuf {
        self.root.join("sources")
    }

    /// The directory of a source, named by the first 16 hex digits of its content hash.
    pub fn source_dir(&self, source_id: &str) -> PathBuf {
        self.sources().join(&source_id[..16.min(source_id.len())])
    }
}

/// Writes `bytes` to `path` durably and atomically: a temporary file beside it, fsync,
/// rename over `path`, fsync of the directory. A reader sees the old content or the new,
/// never a mixture; a crash leaves at most a stray temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A temporary name beside `path`, unique to this process.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Whether a directory entry is a temporary left by [`temp_path`].
pub fn is_temp_name(name: &str) -> bool {
    name.contains(".tmp-")
}

/// Makes a rename or file creation in `dir` durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
