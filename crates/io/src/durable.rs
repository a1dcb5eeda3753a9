//! The one durable write: a file written under a temporary name, fsynced, renamed onto its
//! target and the rename fsynced, so a reader (or a run after a crash) sees the old content or
//! the new, never a mixture; and the temporary names a cleaner may remove.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` durably and atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// A file written under a temporary name beside its target ([`temp_path`]) and renamed onto
/// it by [`AtomicFile::commit`] after an fsync, with an fsync of the directory after the rename.
/// A reader sees the old content or the new, never a mixture; dropped without a commit (an
/// error, a stopped export) only the temporary is removed. The temporary is locked while it is
/// written, so a crash leaves at most one unlocked stray, which [`remove_dead_temporaries`]
/// tells from a live writer's.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary beside `path` (`NAME.tmp-PID`) and locks it; `path` itself is
    /// untouched until [`AtomicFile::commit`].
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let tmp = temp_path(path);
        let file = File::create(&tmp)?;
        file.lock()?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, file: Some(BufWriter::new(file)) })
    }

    /// Flushes, fsyncs and renames the file onto its target.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(writer) = self.file.take() else { return Err(io::Error::other("already committed")) };
        let result = (|| {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            fs::rename(&self.tmp, &self.path)?;
            fsync_dir(self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }
}

/// Removes the temporaries of `path` (`NAME.tmp-PID`) that no live writer holds locked: for a
/// target outside a dataset (an export), where no other clean-up runs. It reads the whole
/// directory, so it is not for writers of many files in one directory.
pub fn remove_dead_temporaries(path: &Path) -> io::Result<()> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Ok(()) };
    let prefix = format!("{name}.tmp-");
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let stray = entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix) && is_temp_name(n));
        if stray && File::open(entry.path()).is_ok_and(|file| file.try_lock().is_ok()) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().ok_or_else(|| io::Error::other("already committed"))?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A temporary name beside `path`, unique to this process.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Whether a directory entry is a temporary left by [`temp_path`]: `NAME.tmp-PID`, nothing
/// looser, so a cleaner never takes a user's file for one of ours.
pub fn is_temp_name(name: &str) -> bool {
    name.rsplit_once(".tmp-")
        .is_some_and(|(stem, pid)| !stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Makes a rename or file creation in `dir` durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_ours_only() {
        assert!(is_temp_name("block-00000.parquet.tmp-123"));
        assert!(is_temp_name(&temp_path(Path::new("x/CURRENT")).file_name().unwrap().to_string_lossy()));
        for name in ["notes.tmp-", "notes.tmp-old", ".tmp-12", "my.tmp-1.txt", "file.tmp"] {
            assert!(!is_temp_name(name), "{name}");
        }
    }

    #[test]
    fn an_atomic_file_replaces_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out.csv");
        fs::write(&path, "old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old", "dropped uncommitted: the target is untouched");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "and its temporary is gone");
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new").unwrap();
        file.commit().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

        // A dead writer's temporary goes; a live one's (locked) and a user's look-alike stay.
        let dead = tmp.path().join("out.csv.tmp-1");
        let live = tmp.path().join("out.csv.tmp-2");
        let user = tmp.path().join("out.csv.tmp-notes");
        for stray in [&dead, &live, &user] {
            fs::write(stray, "x").unwrap();
        }
        let holder = File::open(&live).unwrap();
        holder.lock().unwrap();
        remove_dead_temporaries(&path).unwrap();
        assert!(!dead.exists() && live.exists() && user.exists());
    }
}
