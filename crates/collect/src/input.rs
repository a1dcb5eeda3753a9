//! Turning the command line's INPUT arguments into the ordered list of archives a run reads.
//!
//! An argument is an archive, a directory (searched recursively for `*.warc.gz` / `*.wat.gz`,
//! in name order) or a list file: one path a line, optionally gzipped like Common Crawl's
//! `wat.paths.gz`, relative paths taken from the list file's directory. A file is told apart by
//! its content (a gzipped `WARC/` record or not), never by its name. The order of the arguments,
//! then of the lines and directory entries, is the input order that decides which duplicate
//! survives.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::error::CollectError;

/// List files are nested at most this deep (a list naming itself is an error, not a hang).
const MAX_LIST_DEPTH: usize = 4;

/// Resolves INPUT arguments to archive paths, in input order.
pub fn resolve_inputs(args: &[String]) -> Result<Vec<PathBuf>, CollectError> {
    let mut out = Vec::new();
    for arg in args {
        resolve(arg, Path::new("."), 0, &mut out)?;
    }
    Ok(out)
}

fn resolve(arg: &str, relative_to: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), CollectError> {
    if let Some((scheme, _)) = arg.split_once("://") {
        return Err(CollectError::Usage(format!(
            "{arg}: {scheme}:// inputs are not supported yet; download the file or pass a local path"
        )));
    }
    let path = relative_to.join(arg);
    if path.is_dir() {
        let before = out.len();
        archives_under(&path, out)?;
        if out.len() == before {
            return Err(CollectError::Usage(format!("{}: no *.warc.gz or *.wat.gz files in it", path.display())));
        }
        return Ok(());
    }
    match sniff(&path)? {
        Kind::Archive => out.push(path),
        Kind::List => {
            if depth >= MAX_LIST_DEPTH {
                return Err(CollectError::Usage(format!("{}: list files nested too deep", path.display())));
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            for line in read_lines(&path)? {
                resolve(&line, dir, depth + 1, out)?;
            }
        }
    }
    Ok(())
}

fn archives_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CollectError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CollectError::file(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| CollectError::file(dir, e))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            archives_under(&path, out)?;
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(is_archive_name) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_archive_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with(".warc.gz") || name.ends_with(".wat.gz")
}

enum Kind {
    Archive,
    List,
}

/// An archive when the (first gzip member of the) file starts with a `WARC/` record.
fn sniff(path: &Path) -> Result<Kind, CollectError> {
    let file = File::open(path).map_err(|e| CollectError::file(path, e))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| CollectError::file(path, e))?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        if head.starts_with(b"WARC/") {
            return Err(CollectError::Usage(format!(
                "{}: an uncompressed WARC; pairscope reads gzipped ones (gzip it per record, or whole)",
                path.display()
            )));
        }
        return Ok(Kind::List);
    }
    let mut first = [0u8; 5];
    let mut decoder = MultiGzDecoder::new(reader);
    let mut filled = 0;
    while filled < first.len() {
        match decoder.read(&mut first[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    Ok(if &first[..filled] == b"WARC/" { Kind::Archive } else { Kind::List })
}

fn read_lines(path: &Path) -> Result<Vec<String>, CollectError> {
    let file = File::open(path).map_err(|e| CollectError::file(path, e))?;
    let mut reader = BufReader::new(file);
    let gzipped = reader.fill_buf().map_err(|e| CollectError::file(path, e))?.starts_with(&[0x1f, 0x8b]);
    let text: Box<dyn Read> = if gzipped { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
    let mut lines = Vec::new();
    for line in BufReader::new(text).lines() {
        let line = line.map_err(|e| CollectError::file(path, e))?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            lines.push(line.to_owned());
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn directories_and_list_files_expand_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let archive = gz(b"WARC/1.0\r\nContent-Length: 0\r\n\r\n");
        std::fs::create_dir_all(dir.path().join("d/sub")).unwrap();
        for name in ["d/b.warc.wat.gz", "d/a.warc.gz", "d/sub/c.wat.gz", "x.warc.wat.gz"] {
            std::fs::write(dir.path().join(name), &archive).unwrap();
        }
        std::fs::write(dir.path().join("d/notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join("wat.paths.gz"), gz(b"# a comment\nx.warc.wat.gz\n\nd/a.warc.gz\n")).unwrap();
        let root = dir.path().to_str().unwrap();
        let got = resolve_inputs(&[format!("{root}/wat.paths.gz"), format!("{root}/d")]).unwrap();
        let names: Vec<_> = got.iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["x.warc.wat.gz", "d/a.warc.gz", "d/a.warc.gz", "d/b.warc.wat.gz", "d/sub/c.wat.gz"]);
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("self.txt");
        std::fs::write(&list, "self.txt\n").unwrap();
        let err = resolve_inputs(&[list.display().to_string()]).unwrap_err().to_string();
        assert!(err.contains("nested too deep"), "{err}");
        let err = resolve_inputs(&[dir.path().join("missing.wat.gz").display().to_string()]).unwrap_err().to_string();
        assert!(err.contains("missing.wat.gz"), "{err}");
        let err = resolve_inputs(&["https://example.org/a.wat.gz".into()]).unwrap_err().to_string();
        assert!(err.contains("not supported"), "{err}");
    }
}
