//! The durable write of a whole directory: built under a hidden name beside its target and
//! renamed onto it only when complete, so a reader (or a run after a crash) finds the old
//! directory or the new one, never a half-written one.
//!
//! Layout beside a target `DIR/NAME`:
//! - `.NAME.partial-PID`: where run PID builds the new directory. It holds a marker file
//!   (named by the caller, so each command's staging is recognisably its own) that the run
//!   keeps `flock`ed until the rename. The lock, not the PID, tells a live run from a dead one:
//!   PIDs are reused and a PID file cannot be read atomically with the liveness it claims.
//! - `.NAME.old`: the directory being replaced, between the two renames of a commit.
//!
//! A new stage first removes what killed runs left: `.NAME.partial-*` siblings whose marker it
//! can lock (a locked one means another run is writing the same target now: refused), and a
//! `.NAME.old` the caller's `replaceable` check accepts. A sibling without the marker is never
//! removed: the names are ours, but a user may have made a look-alike.
//!
//! The marker is removed just before the rename, so the target holds only what the caller
//! wrote. Memory: nothing beyond the paths; a stage reads its parent directory once.
//!
//! For targets outside a dataset (`subset --out`). A dataset's own directories are staged
//! under its single-writer lock and swept by its garbage collector (`pairscope-store`), which
//! needs neither the marker nor the `.old` swap.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::durable::fsync_dir;

/// Why a directory could not be staged or committed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A file system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path it failed on.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The target's path has no final component to stage beside (`/`, `..`).
    #[error("{}: name a directory", .0.display())]
    NoName(PathBuf),
    /// A live run holds the marker of a staging directory of the same target.
    #[error("another run is writing {} now ({})", target.display(), staging.display())]
    Busy {
        /// The directory being replaced.
        target: PathBuf,
        /// The other run's staging directory.
        staging: PathBuf,
    },
    /// A killed commit left `.NAME.old`, and the caller's check says it is not ours to remove.
    #[error("{} is in the way of replacing {} ({why}): move it", old.display(), target.display())]
    InTheWay {
        /// The leftover `.NAME.old`.
        old: PathBuf,
        /// The directory being replaced.
        target: PathBuf,
        /// Why the caller's check refused it.
        why: String,
    },
}

impl StageError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> StageError + '_ {
        move |source| StageError::Io { path: path.to_path_buf(), source }
    }
}

/// A directory being built for `target`; see the module doc. Dropped without [`commit`]
/// (an error, a panic), it is removed.
///
/// [`commit`]: StagedDir::commit
pub struct StagedDir {
    target: PathBuf,
    dir: PathBuf,
    old: PathBuf,
    marker_name: &'static str,
    /// The locked marker in `dir`; `None` once committed or abandoned.
    marker: Option<File>,
}

impl StagedDir {
    /// Stages a new directory for `target` under a marker file named `marker_name`, after
    /// removing what dead runs left (see the module doc). `replaceable` decides whether a
    /// leftover `.NAME.old` may be removed (`Err(why)` if not); the caller applies the same
    /// check to `target` itself before staging.
    pub fn create(
        target: &Path,
        marker_name: &'static str,
        replaceable: impl Fn(&Path) -> Result<(), String>,
    ) -> Result<StagedDir, StageError> {
        let name = target.file_name().and_then(|n| n.to_str()).ok_or_else(|| StageError::NoName(target.into()))?;
        let parent = parent_of(target);
        fs::create_dir_all(parent).map_err(StageError::io(parent))?;
        let partial_prefix = format!(".{name}.partial-");
        for entry in fs::read_dir(parent).map_err(StageError::io(parent))? {
            let entry = entry.map_err(StageError::io(parent))?;
            if entry.file_name().to_str().is_some_and(|n| n.starts_with(&partial_prefix)) {
                remove_if_dead(&entry.path(), target, marker_name)?;
            }
        }
        let old = parent.join(format!(".{name}.old"));
        if fs::symlink_metadata(&old).is_ok() {
            replaceable(&old).map_err(|why| StageError::InTheWay { old: old.clone(), target: target.into(), why })?;
            fs::remove_dir_all(&old).map_err(StageError::io(&old))?;
        }
        let dir = parent.join(format!("{partial_prefix}{}", std::process::id()));
        fs::create_dir(&dir).map_err(StageError::io(&dir))?;
        let mut staged = StagedDir { target: target.into(), dir, old, marker_name, marker: None };
        let marker_path = staged.dir.join(marker_name);
        let marker = File::create(&marker_path).map_err(StageError::io(&marker_path))?;
        marker.lock().map_err(StageError::io(&marker_path))?;
        staged.marker = Some(marker);
        Ok(staged)
    }

    /// Where to write the new directory's files.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Renames the staged directory onto the target, replacing what is there (the caller
    /// checked it may be replaced). If a rename fails, the earlier directory is put back: the
    /// target holds the old directory or the new one, never neither. The caller syncs the
    /// files it wrote; this makes the renames durable.
    pub fn commit(mut self) -> Result<(), StageError> {
        let marker = self.dir.join(self.marker_name);
        fs::remove_file(&marker).map_err(StageError::io(&marker))?;
        self.marker = None;
        let had_old = fs::symlink_metadata(&self.target).is_ok();
        if had_old {
            fs::rename(&self.target, &self.old).map_err(StageError::io(&self.target))?;
        }
        if let Err(e) = fs::rename(&self.dir, &self.target) {
            if had_old {
                let _ = fs::rename(&self.old, &self.target);
            }
            return Err(StageError::Io { path: self.target.clone(), source: e });
        }
        if had_old {
            fs::remove_dir_all(&self.old).map_err(StageError::io(&self.old))?;
        }
        let parent = parent_of(&self.target);
        fsync_dir(parent).map_err(StageError::io(parent))
    }
}

impl Drop for StagedDir {
    /// Removes the staging directory unless it was renamed onto the target.
    fn drop(&mut self) {
        if fs::symlink_metadata(&self.dir).is_ok() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The directory holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Removes a staging directory a killed run left: only one holding the marker, and only when
/// no live run holds the marker's lock.
fn remove_if_dead(dir: &Path, target: &Path, marker_name: &str) -> Result<(), StageError> {
    let Ok(marker) = File::open(dir.join(marker_name)) else {
        tracing::warn!("{} is not a pairscope staging directory: left alone", dir.display());
        return Ok(());
    };
    match marker.try_lock() {
        Ok(()) => fs::remove_dir_all(dir).map_err(StageError::io(dir)),
        Err(TryLockError::WouldBlock) => Err(StageError::Busy { target: target.into(), staging: dir.into() }),
        Err(TryLockError::Error(e)) => Err(StageError::Io { path: dir.into(), source: e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = ".test-staging";

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_commit_replaces_the_target_whole_and_a_drop_leaves_it_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();

        let staged = StagedDir::create(&target, MARKER, |_| Ok(())).unwrap();
        fs::write(staged.path().join("new.txt"), "new").unwrap();
        drop(staged);
        assert_eq!(names(tmp.path()), ["out"], "dropped: the staging directory is gone");
        assert_eq!(names(&target), ["old.txt"], "and the target untouched");

        let staged = StagedDir::create(&target, MARKER, |_| Ok(())).unwrap();
        fs::write(staged.path().join("new.txt"), "new").unwrap();
        staged.commit().unwrap();
        assert_eq!(names(tmp.path()), ["out"], "committed: no staging or .old sibling is left");
        assert_eq!(names(&target), ["new.txt"], "the target holds what was written, not the marker");
    }

    #[test]
    fn dead_runs_leftovers_go_and_live_runs_and_lookalikes_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let dead = tmp.path().join(".out.partial-1");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(MARKER), "").unwrap();
        let lookalike = tmp.path().join(".out.partial-2");
        fs::create_dir(&lookalike).unwrap();
        fs::write(lookalike.join("mine.txt"), "a user's").unwrap();

        let staged = StagedDir::create(&target, MARKER, |_| Ok(())).unwrap();
        assert!(!dead.exists(), "a dead run's staging directory is removed");
        assert!(lookalike.join("mine.txt").exists(), "a directory without the marker is left alone");

        // The first stage's marker is locked: a second run for the same target is refused.
        match StagedDir::create(&target, MARKER, |_| Ok(())) {
            Err(StageError::Busy { staging, .. }) => assert_eq!(staging, staged.path()),
            other => panic!("expected Busy, got {:?}", other.map(|s| s.path().to_path_buf())),
        }
        assert!(staged.path().join(MARKER).exists(), "the refused run removed nothing of the live one");
    }

    #[test]
    fn a_leftover_old_directory_goes_only_when_the_caller_says_it_may() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let old = tmp.path().join(".out.old");
        fs::create_dir(&old).unwrap();
        fs::write(old.join("notes.txt"), "").unwrap();

        match StagedDir::create(&target, MARKER, |_| Err("it is not ours".into())) {
            Err(StageError::InTheWay { why, .. }) => assert_eq!(why, "it is not ours"),
            other => panic!("expected InTheWay, got {:?}", other.map(|s| s.path().to_path_buf())),
        }
        assert!(old.join("notes.txt").exists());
        assert_eq!(names(tmp.path()), [".out.old"], "a refused stage leaves no staging directory");

        let staged = StagedDir::create(&target, MARKER, |_| Ok(())).unwrap();
        assert!(!old.exists());
        staged.commit().unwrap();
        assert_eq!(names(tmp.path()), ["out"]);
    }
}
