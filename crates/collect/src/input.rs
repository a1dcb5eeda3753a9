//! Turning the command line's INPUT arguments into the ordered list of archives a run reads.
//!
//! An argument is an archive, a directory (searched recursively for `*.warc.gz` / `*.wat.gz`,
//! in name order, each directory once however many symlinks lead to it: [`files_under`]), a
//! list file (one path or URL a line, optionally gzipped like Common Crawl's `wat.paths.gz`), or
//! an `http(s)://` / `s3://` URL of an archive or a list ([`pairscope_remote`]). A local input
//! must be a regular file (a FIFO or a device would block or never end). A local file is told
//! apart by its content (a gzipped `WARC/` record or not), never by its name; a URL whose name
//! ends in `.warc.gz` / `.wat.gz` is taken as an archive without fetching it (a crawl lists tens
//! of thousands), any other URL is fetched and told apart by content.
//!
//! Relative lines of a list resolve against `--base-url` when it is given; otherwise against the
//! list file's directory (local lists) or the root of its host or bucket (remote lists: Common
//! Crawl's lists name `crawl-data/...` from the root, for `https://data.commoncrawl.org/` and
//! `s3://commoncrawl/` alike). The order of the arguments, then of the lines and directory
//! entries, is the input order that decides which duplicate survives.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use url::Url;

use crate::error::CollectError;
use pairscope_io::walk::{files_under, regular_file};
use pairscope_remote::{Remote, parse_url};

/// List files are nested at most this deep (a list naming itself is an error, not a hang).
const MAX_LIST_DEPTH: usize = 4;
/// Bytes of a remote object read to tell an archive from a list.
const SNIFF_BYTES: usize = 64 << 10;

/// One archive of a run: a local file or a remote object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A regular file on this machine, by the path it was named by (a list's line resolved
    /// against the list's directory).
    Local(PathBuf),
    /// An http(s) or s3 object, streamed through [`pairscope_remote`].
    Remote(Url),
}

impl Input {
    /// The archive's bytes, streamed.
    pub fn open(&self, remote: &Remote) -> Result<Box<dyn Read + Send>, CollectError> {
        match self {
            Input::Local(path) => Ok(Box::new(File::open(path).map_err(|e| CollectError::file(path, e))?)),
            Input::Remote(url) => Ok(Box::new(remote.open(url)?)),
        }
    }

    /// Its size in bytes when known without a request.
    pub fn local_size(&self) -> Option<u64> {
        match self {
            Input::Local(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Input::Remote(_) => None,
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Local(path) => write!(f, "{}", path.display()),
            Input::Remote(url) => write!(f, "{url}"),
        }
    }
}

impl From<PathBuf> for Input {
    fn from(path: PathBuf) -> Input {
        Input::Local(path)
    }
}

/// What the relative lines of a list resolve against.
enum Base<'a> {
    Dir(&'a Path),
    Url(Url),
}

/// Resolves INPUT arguments to archives, in input order. `base_url`, when given, is what
/// relative lines of list files resolve against.
pub fn resolve_inputs(args: &[String], base_url: Option<&Url>, remote: &Remote) -> Result<Vec<Input>, CollectError> {
    let resolver = Resolver { base_url, remote };
    let mut out = Vec::new();
    for arg in args {
        resolver.resolve(arg, &Base::Dir(Path::new(".")), 0, &mut out)?;
    }
    Ok(out)
}

struct Resolver<'a> {
    base_url: Option<&'a Url>,
    remote: &'a Remote,
}

impl Resolver<'_> {
    fn resolve(&self, arg: &str, base: &Base, depth: usize, out: &mut Vec<Input>) -> Result<(), CollectError> {
        let url = match base {
            // Any scheme: parse_url names the ones it does not read.
            _ if arg.contains("://") => Some(parse_url(arg)?),
            Base::Url(base) => Some(
                base.join(arg)
                    .map_err(|e| CollectError::usage(format!("{arg}: cannot resolve against {base}: {e}")))?,
            ),
            Base::Dir(_) => None,
        };
        if let Some(url) = url {
            return self.resolve_url(url, depth, out);
        }
        let Base::Dir(dir) = base else { unreachable!("URL bases are handled above") };
        let path = dir.join(arg);
        if path.is_dir() {
            let archives = files_under(&path, &|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_archive_name))
                .map_err(|e| CollectError::file(&e.path, e.source))?;
            if archives.is_empty() {
                return Err(CollectError::usage(format!("{}: no *.warc.gz or *.wat.gz files in it", path.display())));
            }
            out.extend(archives.into_iter().map(Input::Local));
            return Ok(());
        }
        regular_file(&path).map_err(|e| CollectError::file(&e.path, e.source))?;
        let file = File::open(&path).map_err(|e| CollectError::file(&path, e))?;
        match sniff(BufReader::new(file)).map_err(|e| CollectError::file(&path, e))? {
            Kind::Archive => out.push(Input::Local(path)),
            Kind::UncompressedWarc => return Err(uncompressed(&path.display())),
            Kind::List => {
                let lines = read_lines(File::open(&path).map_err(|e| CollectError::file(&path, e))?)
                    .map_err(|e| CollectError::file(&path, e))?;
                let list_dir = path.parent().unwrap_or(Path::new("."));
                let base = match self.base_url {
                    Some(url) => Base::Url(url.clone()),
                    None => Base::Dir(list_dir),
                };
                self.resolve_list(&path.display(), &lines, &base, depth, out)?;
            }
        }
        Ok(())
    }

    fn resolve_url(&self, url: Url, depth: usize, out: &mut Vec<Input>) -> Result<(), CollectError> {
        if url.path_segments().and_then(|mut s| s.next_back()).is_some_and(is_archive_name) {
            out.push(Input::Remote(url));
            return Ok(());
        }
        let fetch_error = |source: std::io::Error| CollectError::Remote { url: url.to_string(), source };
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        self.remote.open(&url)?.take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(fetch_error)?;
        match sniff(head.as_slice()).map_err(fetch_error)? {
            Kind::Archive => out.push(Input::Remote(url)),
            Kind::UncompressedWarc => return Err(uncompressed(&url)),
            Kind::List => {
                let lines = read_lines(self.remote.open(&url)?).map_err(fetch_error)?;
                let base = match self.base_url {
                    Some(base) => base.clone(),
                    None => {
                        let mut root = url.clone();
                        root.set_path("/");
                        root
                    }
                };
                self.resolve_list(&url, &lines, &Base::Url(base), depth, out)?;
            }
        }
        Ok(())
    }

    fn resolve_list(
        &self,
        list: &dyn fmt::Display,
        lines: &[String],
        base: &Base,
        depth: usize,
        out: &mut Vec<Input>,
    ) -> Result<(), CollectError> {
        if depth >= MAX_LIST_DEPTH {
            return Err(CollectError::usage(format!("{list}: list files nested too deep")));
        }
        for line in lines {
            self.resolve(line, base, depth + 1, out)?;
        }
        Ok(())
    }
}

fn uncompressed(name: &dyn fmt::Display) -> CollectError {
    CollectError::usage(format!(
        "{name}: an uncompressed WARC; pairscope reads gzipped ones (gzip it per record, or whole)"
    ))
}

fn is_archive_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with(".warc.gz") || name.ends_with(".wat.gz")
}

enum Kind {
    Archive,
    UncompressedWarc,
    List,
}

/// An archive when the (first gzip member of the) file starts with a `WARC/` record.
fn sniff(mut reader: impl BufRead) -> std::io::Result<Kind> {
    let head = reader.fill_buf()?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Ok(if head.starts_with(b"WARC/") { Kind::UncompressedWarc } else { Kind::List });
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

/// The non-empty, non-comment lines of a list, gunzipped if it is gzipped.
fn read_lines(reader: impl Read + Send) -> std::io::Result<Vec<String>> {
    let mut reader = BufReader::new(reader);
    let gzipped = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let text: Box<dyn Read + Send> = if gzipped { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
    let mut lines = Vec::new();
    for line in BufReader::new(text).lines() {
        let line = line?;
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
        let got = resolve_inputs(&[format!("{root}/wat.paths.gz"), format!("{root}/d")], None, &Remote::new()).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|input| match input {
                Input::Local(p) => p.strip_prefix(dir.path()).unwrap().to_str().unwrap(),
                Input::Remote(url) => panic!("{url} is not local"),
            })
            .collect();
        assert_eq!(names, ["x.warc.wat.gz", "d/a.warc.gz", "d/a.warc.gz", "d/b.warc.wat.gz", "d/sub/c.wat.gz"]);
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("self.txt");
        std::fs::write(&list, "self.txt\n").unwrap();
        let resolve = |arg: String| resolve_inputs(&[arg], None, &Remote::new()).unwrap_err().to_string();
        let err = resolve(list.display().to_string());
        assert!(err.contains("nested too deep"), "{err}");
        let err = resolve(dir.path().join("missing.wat.gz").display().to_string());
        assert!(err.contains("missing.wat.gz"), "{err}");
        let err = resolve("ftp://example.org/a.wat.gz".into());
        assert!(err.contains("not supported"), "{err}");
        let err = resolve("https://example.org/a.wat.gz?sig=1".into());
        assert!(err.contains("query string"), "{err}");
    }

    #[test]
    fn list_lines_resolve_against_the_base_url() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("wat.paths.gz");
        std::fs::write(&list, gz(b"crawl-data/X/a.warc.wat.gz\nhttps://elsewhere.org/b.wat.gz\n")).unwrap();
        let base = Url::parse("https://data.commoncrawl.org/").unwrap();
        let got = resolve_inputs(&[list.display().to_string()], Some(&base), &Remote::new()).unwrap();
        let urls: Vec<String> = got.iter().map(|i| i.to_string()).collect();
        assert_eq!(urls, ["https://data.commoncrawl.org/crawl-data/X/a.warc.wat.gz", "https://elsewhere.org/b.wat.gz"]);
    }
}
