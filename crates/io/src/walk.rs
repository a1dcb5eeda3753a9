//! Finding input files on disk, for every command that takes files or directories (`ingest`,
//! `collect`).
//!
//! Directories are searched recursively in name order and symlinks are followed (shards are
//! often linked in from elsewhere), but each directory is read once, by canonical path: a link
//! back to an ancestor (`self -> ..`, `abs -> /data/loop`) ends the walk instead of looping.
//! Only regular files are inputs: a FIFO or a device (`/dev/zero`) named like an input would
//! block the reader or never end, so it is an error, not an input.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A walk that failed, and the path it failed on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WalkError {
    /// The file or directory the walk failed on.
    pub path: PathBuf,
    /// The I/O error, or what the path is instead of a regular file.
    pub source: io::Error,
}

impl WalkError {
    fn at(path: &Path) -> impl FnOnce(io::Error) -> WalkError + '_ {
        move |source| WalkError { path: path.to_path_buf(), source }
    }
}

/// The files under `dir` that `wanted` accepts (given their path: `dir` joined with the names
/// that lead to them), each directory's entries in name order.
pub fn files_under(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>, WalkError> {
    let mut out = Vec::new();
    walk(dir, wanted, &mut HashSet::new(), &mut out)?;
    Ok(out)
}

/// Ok when `path` is (a symlink to) a regular file; otherwise an error saying what it is.
pub fn regular_file(path: &Path) -> Result<(), WalkError> {
    let kind = fs::metadata(path).map_err(WalkError::at(path))?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(WalkError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, format!("not a regular file but {}", describe(kind))),
    })
}

fn walk(
    dir: &Path,
    wanted: &dyn Fn(&Path) -> bool,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), WalkError> {
    if !seen.insert(fs::canonicalize(dir).map_err(WalkError::at(dir))?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(WalkError::at(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(WalkError::at(dir))?;
    entries.sort();
    for path in entries {
        let is_wanted = wanted(&path);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, wanted, seen, out)?,
            Ok(_) if is_wanted => {
                regular_file(&path)?;
                out.push(path);
            }
            // A dangling link named like an input is reported, like a missing file would be.
            Err(source) if is_wanted => return Err(WalkError { path, source }),
            _ => {}
        }
    }
    Ok(())
}

fn describe(kind: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() { "a directory" } else { "a special file" }
}
