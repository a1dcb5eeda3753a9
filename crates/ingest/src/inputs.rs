//! The inputs of an ingest: the files its arguments name, and each file's identity.

use std::fs::File;
use std::path::{Path, PathBuf};

use pairscope_io::walk;

use crate::error::{BadInput, IngestError, Result};

/// Files named by `inputs`, sorted and without repeats.
pub(crate) fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(IngestError::usage("no input files given"));
    }
    let mut files = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        let before = files.len();
        if path.exists() || !input.contains(['*', '?', '[']) {
            add_input(path, &mut files)?;
        } else {
            glob_inputs(input, &mut files)?;
        }
        if files.len() == before {
            return Err(IngestError::NoInput(input.clone()));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// A directory's `*.parquet` files, or the regular file `path` names.
fn add_input(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let walked = if path.is_dir() {
        walk::files_under(path, &is_parquet).map(|found| files.extend(found))
    } else {
        walk::regular_file(path).map(|()| files.push(path.to_path_buf()))
    };
    walked.map_err(walk_error)
}

/// The inputs a glob pattern names: matching files, and the `*.parquet` files of matching
/// directories. A pattern with `**` is matched against a walk of the directory before its first
/// wildcard, because the glob crate follows `**` through symlink loops without end;
/// [`walk::files_under`] reads each directory once.
fn glob_inputs(input: &str, files: &mut Vec<PathBuf>) -> Result<()> {
    let bad_pattern = |e: glob::PatternError| IngestError::usage(format!("bad pattern {input:?}: {e}"));
    if !input.contains("**") {
        for entry in glob::glob(input).map_err(bad_pattern)? {
            let entry = entry.map_err(|e| IngestError::Io { path: e.path().to_path_buf(), source: e.into() })?;
            add_input(&entry, files)?;
        }
        return Ok(());
    }
    let pattern = glob::Pattern::new(input).map_err(bad_pattern)?;
    // As glob::glob matches: a wildcard never crosses a `/`.
    let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
    let base: PathBuf = Path::new(input)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    let root = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
    // Paths as the pattern spells them: without the `./` a walk of the working directory adds.
    let spelled = |path: &Path| -> PathBuf {
        if base.as_os_str().is_empty() {
            path.strip_prefix(".").unwrap_or(path).to_path_buf()
        } else {
            path.to_path_buf()
        }
    };
    let wanted = |path: &Path| {
        let path = spelled(path);
        pattern.matches_path_with(&path, options)
            || is_parquet(&path)
                && path
                    .ancestors()
                    .skip(1)
                    .take_while(|dir| *dir != base && !dir.as_os_str().is_empty())
                    .any(|dir| pattern.matches_path_with(dir, options))
    };
    let found = walk::files_under(root, &wanted).map_err(walk_error)?;
    files.extend(found.iter().map(|path| spelled(path)));
    Ok(())
}

fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn walk_error(e: walk::WalkError) -> IngestError {
    IngestError::Io { path: e.path, source: e.source }
}

/// The source id of a file: the BLAKE3 of its bytes, in lower-case hex.
pub(crate) fn hash_file(path: &Path) -> Result<String, BadInput> {
    let mut hasher = blake3::Hasher::new();
    let file = File::open(path).map_err(|e| BadInput::new(path, format!("cannot open: {e}")))?;
    hasher.update_reader(file).map_err(|e| BadInput::new(path, format!("cannot read: {e}")))?;
    Ok(hasher.finalize().to_hex().to_string())
}
