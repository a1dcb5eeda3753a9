//! Removal lists: the domains, URLs (plain or hashed) and image hashes that `subset` drops, the
//! web UI never shows and `fetch` never requests or keeps, and the opt-out flags `collect`
//! records.
//!
//! This crate owns the lists' file format, loading ([`RemovalLists::load`], with the BLAKE3 of
//! each file for manifests) and matching rules. It never reads datasets or decides what a
//! caller does with a listed row: `pairscope-subset` removes it, `pairscope-server` hides it,
//! `pairscope-fetch` gives it a status.
//!
//! List files are text, one entry a line (gzip when the name ends in `.gz`); blank lines and
//! lines starting with `#` are skipped. What an entry means:
//! - **domains**: a host is listed when it equals an entry or ends with `.` + entry, so
//!   `blogspot.com` removes `x.blogspot.com` but not `myblogspot.com`. Entries are lower-cased;
//!   a leading `*.` or `.` and a trailing `.` are ignored; an entry written as a URL stands for
//!   its host.
//! - **URLs**: an entry of 32, 40 or 64 hex digits is the MD5, SHA-1 or SHA-256 of a URL's
//!   UTF-8 bytes (the way child-safety and opt-out lists are published); anything else is a URL,
//!   matched exactly (after trimming the line).
//! - **image hashes**: an entry of 64 hex digits is the SHA-256 of an image's bytes as served,
//!   of 40 its SHA-1, of 32 its MD5 (Re-LAION's lists come in all three), case-insensitive. A
//!   dataset row is matched by its `image_sha256` column, so only SHA-256 entries can match it;
//!   a downloaded image is matched by all three ([`RemovalLists::image_digest_listed`]).
//!
//! A row is removed for the first reason that holds, in the order of [`RemovalReason`].
//!
//! Memory: every entry is held once, in a hash set (a digest as its bytes, not its hex).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use md5::Digest;
use pairscope_model::web::host_of;
use rustc_hash::FxHashSet;

/// Why a row was removed, in the order the reasons are tested (`reason as usize` is its
/// position in [`RemovalReason::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Its image URL's host is on a domain list.
    Domain,
    /// Its image URL (or the URL's hash) is on a URL list.
    Url,
    /// Its image's SHA-256 is on an image-hash list.
    ImageHash,
    /// Its page opted out (noai, noimageai or a TDM reservation), with `--exclude-optouts`.
    OptOut,
}

impl RemovalReason {
    /// Every reason, in the order they are tested.
    pub const ALL: [RemovalReason; 4] =
        [RemovalReason::Domain, RemovalReason::Url, RemovalReason::ImageHash, RemovalReason::OptOut];

    /// Its name in a manifest's `removed` counts.
    pub fn name(self) -> &'static str {
        match self {
            RemovalReason::Domain => "domain_list",
            RemovalReason::Url => "url_list",
            RemovalReason::ImageHash => "image_hash_list",
            RemovalReason::OptOut => "opt_out",
        }
    }

    /// The reason named `name` (as [`RemovalReason::name`] spells it).
    pub fn from_name(name: &str) -> Option<RemovalReason> {
        RemovalReason::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Which kind of entries a list file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// Domains or hosts: a row goes when its host is one or is under one.
    Domains,
    /// Image URLs, as written or as their MD5, SHA-1 or SHA-256 in hex.
    Urls,
    /// MD5, SHA-1 or SHA-256 digests of image bytes, in hex.
    ImageHashes,
}

/// One list file as loaded: enough for a manifest to say exactly which list was applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListFile {
    /// What its entries are.
    pub kind: ListKind,
    /// The path it was loaded from, as given.
    pub path: String,
    /// BLAKE3 of the file's bytes, hex.
    pub blake3: String,
    /// Entries read (after skipping blank and comment lines), duplicates included.
    pub entries: u64,
}

/// Why a removal list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file could not be read (or decompressed).
    #[error("{}: {source}", path.display())]
    Io {
        /// The list file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not an entry of the list's kind.
    #[error("{}, line {line}: {message}", path.display())]
    Entry {
        /// The list file.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong with it (quoting the entry).
        message: String,
    },
}

/// The loaded lists, matched in memory (each entry once, in a hash set).
#[derive(Debug, Default, Clone)]
pub struct RemovalLists {
    domains: FxHashSet<String>,
    urls: FxHashSet<String>,
    md5: FxHashSet<[u8; 16]>,
    sha1: FxHashSet<[u8; 20]>,
    sha256: FxHashSet<[u8; 32]>,
    image_md5: FxHashSet<[u8; 16]>,
    image_sha1: FxHashSet<[u8; 20]>,
    image_sha256: FxHashSet<[u8; 32]>,
    exclude_optouts: bool,
    files: Vec<ListFile>,
}

impl RemovalLists {
    /// Removes rows whose page opted out.
    pub fn exclude_optouts(&mut self, on: bool) {
        self.exclude_optouts = on;
    }

    /// Whether rows whose page opted out are removed.
    pub fn excludes_optouts(&self) -> bool {
        self.exclude_optouts
    }

    /// The files loaded, in load order.
    pub fn files(&self) -> &[ListFile] {
        &self.files
    }

    /// Nothing would be removed.
    pub fn is_empty(&self) -> bool {
        !self.exclude_optouts && self.files.is_empty()
    }

    /// Whether any URL-list entries (URLs or URL hashes) were loaded.
    pub fn has_url_entries(&self) -> bool {
        !(self.urls.is_empty() && self.md5.is_empty() && self.sha1.is_empty() && self.sha256.is_empty())
    }

    /// Reads one list file of `kind`.
    pub fn load(&mut self, kind: ListKind, path: &Path) -> Result<(), ListError> {
        let io = |source| ListError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let hashing = HashingReader { inner: file, hasher: blake3::Hasher::new() };
        let mut hashing = BufReader::new(hashing);
        let mut entries = 0;
        {
            let reader: Box<dyn BufRead + '_> = if path.extension().is_some_and(|e| e == "gz") {
                Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(&mut hashing)))
            } else {
                Box::new(&mut hashing)
            };
            for (number, line) in reader.lines().enumerate() {
                let line = line.map_err(io)?;
                let entry = line.trim();
                if entry.is_empty() || entry.starts_with('#') {
                    continue;
                }
                let failed =
                    |message: String| ListError::Entry { path: path.to_path_buf(), line: number as u64 + 1, message };
                match kind {
                    ListKind::Domains => {
                        let domain =
                            domain_entry(entry).ok_or_else(|| failed(format!("not a domain or host: {entry:?}")))?;
                        self.domains.insert(domain);
                    }
                    ListKind::Urls => self.add_url(entry),
                    ListKind::ImageHashes => {
                        if !self.add_image_hash(entry) {
                            return Err(failed(format!(
                                "not an MD5, SHA-1 or SHA-256 hex digest (32, 40 or 64 hex digits): {entry:?}"
                            )));
                        }
                    }
                }
                entries += 1;
            }
        }
        // Hash whatever the decoder did not need to read, so the digest is the whole file's.
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io)?;
        let blake3 = hashing.into_inner().hasher.finalize().to_hex().to_string();
        self.files.push(ListFile { kind, path: path.display().to_string(), blake3, entries });
        Ok(())
    }

    /// Adds an image digest by its length; false when `entry` is not one.
    fn add_image_hash(&mut self, entry: &str) -> bool {
        let added = match entry.len() {
            32 => hex::<16>(entry).map(|h| self.image_md5.insert(h)),
            40 => hex::<20>(entry).map(|h| self.image_sha1.insert(h)),
            64 => hex::<32>(entry).map(|h| self.image_sha256.insert(h)),
            _ => None,
        };
        added.is_some()
    }

    fn add_url(&mut self, entry: &str) {
        let added = match entry.len() {
            32 => hex::<16>(entry).map(|h| self.md5.insert(h)),
            40 => hex::<20>(entry).map(|h| self.sha1.insert(h)),
            64 => hex::<32>(entry).map(|h| self.sha256.insert(h)),
            _ => None,
        };
        if added.is_none() {
            self.urls.insert(entry.to_owned());
        }
    }

    /// Whether `host` (lower-case) is on a domain list: equal to an entry, or a subdomain of one.
    pub fn domain_listed(&self, host: &str) -> bool {
        if self.domains.is_empty() {
            return false;
        }
        let host = host.trim_end_matches('.');
        let mut rest = host;
        loop {
            if self.domains.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return false,
            }
        }
    }

    /// Whether `url` is on a URL list, as itself or by its MD5, SHA-1 or SHA-256.
    pub fn url_listed(&self, url: &str) -> bool {
        self.urls.contains(url)
            || (!self.md5.is_empty() && self.md5.contains(&<[u8; 16]>::from(md5::Md5::digest(url.as_bytes()))))
            || (!self.sha1.is_empty() && self.sha1.contains(&<[u8; 20]>::from(sha1::Sha1::digest(url.as_bytes()))))
            || (!self.sha256.is_empty()
                && self.sha256.contains(&<[u8; 32]>::from(sha2::Sha256::digest(url.as_bytes()))))
    }

    /// Whether an image's SHA-256 (hex, any case) is on an image-hash list.
    pub fn image_listed(&self, sha256_hex: &str) -> bool {
        !self.image_sha256.is_empty() && hex::<32>(sha256_hex).is_some_and(|h| self.image_sha256.contains(&h))
    }

    /// Whether any image-hash entries were loaded.
    pub fn has_image_entries(&self) -> bool {
        !(self.image_md5.is_empty() && self.image_sha1.is_empty() && self.image_sha256.is_empty())
    }

    /// Whether an image digest (MD5, SHA-1 or SHA-256 by its length; hex, any case) is on an
    /// image-hash list. A downloaded image is listed when any of its three digests is.
    pub fn image_digest_listed(&self, hex_digest: &str) -> bool {
        match hex_digest.len() {
            32 => hex::<16>(hex_digest).is_some_and(|h| self.image_md5.contains(&h)),
            40 => hex::<20>(hex_digest).is_some_and(|h| self.image_sha1.contains(&h)),
            _ => self.image_listed(hex_digest),
        }
    }

    /// The first reason the row is removed for, if any. `host` is the stored host (derived from
    /// the URL when absent); `image_digests` the hex digests of its image the row has (its
    /// `image_sha256`, and the MD5, SHA-1 and SHA-256 a fetch measured); `opted_out` whether any
    /// opt-out flag of the row is true.
    pub fn reason<'a>(
        &self,
        url: &str,
        host: Option<&str>,
        image_digests: impl IntoIterator<Item = &'a str>,
        opted_out: bool,
    ) -> Option<RemovalReason> {
        if !self.domains.is_empty() {
            let listed = match host {
                Some(host) => self.domain_listed(host),
                None => host_of(url).is_some_and(|h| self.domain_listed(&h)),
            };
            if listed {
                return Some(RemovalReason::Domain);
            }
        }
        if self.has_url_entries() && self.url_listed(url) {
            return Some(RemovalReason::Url);
        }
        if self.has_image_entries() && image_digests.into_iter().any(|h| self.image_digest_listed(h)) {
            return Some(RemovalReason::ImageHash);
        }
        if self.exclude_optouts && opted_out {
            return Some(RemovalReason::OptOut);
        }
        None
    }
}

/// A domain-list entry as the host suffix it stands for.
fn domain_entry(entry: &str) -> Option<String> {
    let host = if entry.contains("://") { host_of(entry)? } else { entry.to_ascii_lowercase() };
    let host = host.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.');
    let valid = !host.is_empty() && !host.contains(['/', ' ', '\t', '?', '#', '@']);
    valid.then(|| host.to_owned())
}

/// `text` as N bytes of hex, if it is exactly that.
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Hashes every byte read through it.
struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn list(kind: ListKind, text: &str) -> RemovalLists {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let mut lists = RemovalLists::default();
        lists.load(kind, file.path()).unwrap();
        lists
    }

    #[test]
    fn domains_match_themselves_and_their_subdomains_only() {
        let lists = list(ListKind::Domains, "# blocked\nblogspot.com\n\n*.Example.ORG\nhttps://i.pinimg.com/x.jpg\n");
        assert!(lists.domain_listed("blogspot.com"));
        assert!(lists.domain_listed("x.blogspot.com"));
        assert!(lists.domain_listed("a.b.blogspot.com."));
        assert!(!lists.domain_listed("myblogspot.com"));
        assert!(!lists.domain_listed("blogspot.com.au"));
        assert!(lists.domain_listed("example.org") && lists.domain_listed("cdn.example.org"));
        assert!(lists.domain_listed("i.pinimg.com") && !lists.domain_listed("pinimg.com"));
        assert_eq!(lists.files()[0].entries, 3);
    }

    #[test]
    fn urls_match_exactly_or_by_hash() {
        let url = "https://example.com/a.jpg";
        let md5 = format!("{:x}", md5::Md5::digest(url.as_bytes()));
        let sha1 = format!("{:X}", sha1::Sha1::digest("https://example.com/b.jpg".as_bytes()));
        let sha256 = format!("{:x}", sha2::Sha256::digest("https://example.com/c.jpg".as_bytes()));
        let lists = list(ListKind::Urls, &format!("{md5}\n{sha1}\n{sha256}\nhttps://example.com/d.jpg\n"));
        for listed in ["a", "b", "c", "d"] {
            assert!(lists.url_listed(&format!("https://example.com/{listed}.jpg")), "{listed}");
        }
        assert!(!lists.url_listed("https://example.com/e.jpg"));
        assert!(!lists.url_listed("https://example.com/d.jpg?x"));
        assert!(!lists.url_listed("https://EXAMPLE.com/d.jpg"), "URLs match exactly");
    }

    #[test]
    fn reasons_come_in_order() {
        let mut lists = list(ListKind::Domains, "bad.com\n");
        lists.exclude_optouts(true);
        assert_eq!(lists.reason("http://x.bad.com/1", Some("x.bad.com"), [], true), Some(RemovalReason::Domain));
        assert_eq!(lists.reason("http://x.bad.com/1", None, [], false), Some(RemovalReason::Domain));
        assert_eq!(lists.reason("http://good.com/1", Some("good.com"), [], true), Some(RemovalReason::OptOut));
        assert_eq!(lists.reason("http://good.com/1", Some("good.com"), [], false), None);
    }

    #[test]
    fn bad_entries_name_their_line() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"ok.com\n\nnot a domain\n").unwrap();
        let error = RemovalLists::default().load(ListKind::Domains, file.path()).unwrap_err().to_string();
        assert!(error.contains("line 3") && error.contains("not a domain"), "{error}");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"abc\n").unwrap();
        let error = RemovalLists::default().load(ListKind::ImageHashes, file.path()).unwrap_err().to_string();
        assert!(error.contains("line 1") && error.contains("SHA-256"), "{error}");
    }

    #[test]
    fn gzip_lists_are_read_and_hashed_whole() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"bad.com\n").unwrap();
        let bytes = gz.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domains.txt.gz");
        std::fs::write(&path, &bytes).unwrap();
        let mut lists = RemovalLists::default();
        lists.load(ListKind::Domains, &path).unwrap();
        assert!(lists.domain_listed("a.bad.com"));
        assert_eq!(lists.files()[0].blake3, blake3::hash(&bytes).to_hex().to_string());
    }

    #[test]
    fn image_hashes_ignore_case() {
        let hash = "ab".repeat(32);
        let lists = list(ListKind::ImageHashes, &hash.to_uppercase());
        assert!(lists.image_listed(&hash));
        assert!(!lists.image_listed(&"cd".repeat(32)));
        assert_eq!(lists.reason("http://a/b", None, [hash.as_str()], false), Some(RemovalReason::ImageHash));
    }

    #[test]
    fn image_hashes_of_every_length_match_their_digest_only() {
        let (md5, sha1, sha256) = ("1".repeat(32), "2".repeat(40), "3".repeat(64));
        let lists = list(ListKind::ImageHashes, &format!("{md5}\n{}\n{sha256}\n", sha1.to_uppercase()));
        assert!(lists.has_image_entries());
        for digest in [&md5, &sha1, &sha256] {
            assert!(lists.image_digest_listed(digest), "{digest}");
        }
        assert!(!lists.image_digest_listed(&"1".repeat(40)) && !lists.image_digest_listed(&"2".repeat(64)));
        // A dataset row carries a SHA-256 only: the shorter digests cannot match it.
        assert!(!lists.image_listed(&md5));
        let bad = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(bad.path(), "abc\n").unwrap();
        let err = RemovalLists::default().load(ListKind::ImageHashes, bad.path()).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("32, 40 or 64 hex digits"), "{err}");
    }
}
