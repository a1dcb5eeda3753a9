//! A published block index as one file: [`BUNDLE_FILE`] in the index directory holds the
//! segment's files and `meta.json` end to end, with a table of where each lies.
//!
//! Why: opening an index of loose files costs a `statx`, an `open`, a read or a mapping and a
//! `close` per file (~8 files per block), and a query opens every block: at 100 blocks that
//! was most of a one-shot command beyond starting the process, and each mapped file one of
//! the kernel's `vm.max_map_count` mappings. A bundle is one open and at most one mapping per
//! block, whatever tantivy's file count. It is written once, when the writer publishes the
//! index (the files are finished; packing them is one in-kernel copy of each), and read
//! through the index's read-only tantivy directory (`PublishedDirectory`), which also still
//! reads the loose files of indexes published before bundles.
//!
//! Layout (all integers little-endian):
//! - [`MAGIC`] (8 bytes), then the table's length in bytes (u64);
//! - the table: per file, its offset from the start of the bundle (u64), its length (u64), its
//!   name's length (u16) and its name (UTF-8); names sorted, offsets ascending, not
//!   overlapping (binary: parsing it is a few compares per file, where a JSON table was a
//!   tenth of opening a small block);
//! - the files' bytes, in the table's order.
//!
//! The same files give the same bytes (names sorted, no time, no hash order): identical runs
//! write identical datasets. Memory: a bundle of at most [`READ_WHOLE_BYTES`] is read whole,
//! a larger one mapped; the table is a few hundred bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use tantivy::directory::OwnedBytes;

use crate::directory::READ_WHOLE_BYTES;

/// The file, in a block's index directory, that holds the whole published index.
pub const BUNDLE_FILE: &str = "index.bundle";
/// The first bytes of a bundle (the digit is its layout's version).
pub const MAGIC: &[u8; 8] = b"PSINDEX1";
/// Bytes before the table: the magic and the table's length.
const HEADER_BYTES: u64 = 16;
/// Bytes of a table row besides the name: offset, length, name length.
const TABLE_ROW_BYTES: u64 = 8 + 8 + 2;
/// More than any table of a block's few files can be: a larger length is damage.
const MAX_TABLE_BYTES: u64 = 1 << 20;

/// Packs `files` (name → bytes, already read or to be copied from `dir`) into `dir`'s
/// [`BUNDLE_FILE`] and makes it durable; then removes the packed files that were in `dir`.
/// `dir` is unpublished staging: nothing reads it until the caller's rename.
pub(crate) fn pack(dir: &Path, files: &BTreeMap<String, Packed>) -> io::Result<()> {
    let table_bytes: u64 = files.keys().map(|name| TABLE_ROW_BYTES + name.len() as u64).sum();
    let mut table = Vec::with_capacity(table_bytes as usize);
    let mut offset = HEADER_BYTES + table_bytes;
    for (name, packed) in files {
        let size = match packed {
            Packed::Bytes(bytes) => bytes.len() as u64,
            Packed::File => std::fs::metadata(dir.join(name))?.len(),
        };
        let name_bytes = u16::try_from(name.len()).map_err(io::Error::other)?;
        table.extend(offset.to_le_bytes());
        table.extend(size.to_le_bytes());
        table.extend(name_bytes.to_le_bytes());
        table.extend(name.as_bytes());
        offset += size;
    }
    let path = dir.join(BUNDLE_FILE);
    let mut out = File::create_new(&path)?;
    out.write_all(MAGIC)?;
    out.write_all(&table_bytes.to_le_bytes())?;
    out.write_all(&table)?;
    for (name, packed) in files {
        match packed {
            Packed::Bytes(bytes) => out.write_all(bytes)?,
            Packed::File => {
                io::copy(&mut File::open(dir.join(name))?, &mut out)?;
            }
        }
    }
    out.sync_all()?;
    for (name, packed) in files {
        if matches!(packed, Packed::File) {
            std::fs::remove_file(dir.join(name))?;
        }
    }
    Ok(())
}

/// Where a packed file's bytes come from.
pub(crate) enum Packed {
    /// Written by the caller now (the index's metadata).
    Bytes(Vec<u8>),
    /// The file of this name in the index directory, moved into the bundle.
    File,
}

/// A bundle opened for reading: its bytes and where each file lies in them.
pub(crate) struct Bundle {
    bytes: OwnedBytes,
    /// Each file's name and bytes, in the bundle's order (a handful: a linear search).
    files: Vec<(PathBuf, Range<usize>)>,
    mapped: bool,
}

impl Bundle {
    /// Opens the bundle at `path`: `Ok(None)` if there is none (an index of loose files), an
    /// [`io::ErrorKind::InvalidData`] error saying what is wrong if it is not a whole bundle.
    pub(crate) fn open(path: &Path) -> io::Result<Option<Bundle>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let (bytes, mapped) = if len <= READ_WHOLE_BYTES {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)?;
            (OwnedBytes::new(bytes), false)
        } else {
            // SAFETY: a published index is never written in place (it is replaced only by
            // publishing another directory), so the mapped bytes do not change under us.
            let map = unsafe { memmap2::Mmap::map(&file) }?;
            (OwnedBytes::new(map), true)
        };
        let files = table(&bytes, len).map_err(|reason| io::Error::new(io::ErrorKind::InvalidData, reason))?;
        Ok(Some(Bundle { bytes, files, mapped }))
    }

    /// The bytes of the packed file `name`, if the bundle has it.
    pub(crate) fn file(&self, name: &Path) -> Option<OwnedBytes> {
        self.files.iter().find(|(packed, _)| packed == name).map(|(_, range)| self.bytes.slice(range.clone()))
    }

    /// Whether the bundle is mapped (one of the process's mappings) rather than read whole.
    pub(crate) fn mapped(&self) -> bool {
        self.mapped
    }
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle").field("bytes", &self.bytes.len()).field("files", &self.files).finish()
    }
}

/// Where each file of a bundle of `len` bytes lies, read from its first bytes `bytes` (at least
/// its header and table) and checked against `len`.
fn table(bytes: &[u8], len: u64) -> Result<Vec<(PathBuf, Range<usize>)>, String> {
    let header = bytes.get(..HEADER_BYTES as usize).ok_or("shorter than a bundle's header")?;
    if &header[..8] != MAGIC {
        return Err("not a pairscope index bundle (its first bytes are not the bundle's)".into());
    }
    let table_bytes = u64::from_le_bytes(header[8..16].try_into().map_err(|_| "no table length")?);
    if table_bytes > MAX_TABLE_BYTES || HEADER_BYTES + table_bytes > bytes.len() as u64 {
        return Err(format!("a table of {table_bytes} bytes in a bundle of {len}"));
    }
    let mut rows = &bytes[HEADER_BYTES as usize..(HEADER_BYTES + table_bytes) as usize];
    let mut files = Vec::new();
    let mut next = HEADER_BYTES + table_bytes;
    while !rows.is_empty() {
        let (head, rest) = rows.split_at_checked(TABLE_ROW_BYTES as usize).ok_or("its table ends inside a row")?;
        let number = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or_default());
        let (offset, size) = (number(0), number(8));
        let name_bytes = usize::from(u16::from_le_bytes([head[16], head[17]]));
        let (name, rest) = rest.split_at_checked(name_bytes).ok_or("its table ends inside a name")?;
        let name = std::str::from_utf8(name).map_err(|_| "a name in its table is not UTF-8")?;
        let end = offset.checked_add(size).filter(|&end| offset >= next && end <= len);
        let Some(end) = end else {
            return Err(format!("{name} at bytes {offset}+{size} overlaps another file or ends past the bundle's end"));
        };
        files.push((PathBuf::from(name), offset as usize..end as usize));
        next = end;
        rows = rest;
    }
    Ok(files)
}

/// Where each file of the bundle at `path` lies in it (name and byte range, in the bundle's
/// order): for tools and tests that check or damage one component of an index.
pub fn packed_files(path: &Path) -> io::Result<Vec<(String, Range<u64>)>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::new();
    file.take(HEADER_BYTES + MAX_TABLE_BYTES).read_to_end(&mut bytes)?;
    let files = table(&bytes, len).map_err(|reason| io::Error::new(io::ErrorKind::InvalidData, reason))?;
    Ok(files
        .into_iter()
        .map(|(name, range)| (name.to_string_lossy().into_owned(), range.start as u64..range.end as u64))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(dir: &Path, files: &[(&str, Vec<u8>, bool)]) -> BTreeMap<String, Packed> {
        std::fs::create_dir_all(dir).unwrap();
        let mut packed = BTreeMap::new();
        for (name, bytes, on_disk) in files {
            if *on_disk {
                std::fs::write(dir.join(name), bytes).unwrap();
                packed.insert(name.to_string(), Packed::File);
            } else {
                packed.insert(name.to_string(), Packed::Bytes(bytes.clone()));
            }
        }
        packed
    }

    /// Every packed file reads back whole, by name, from a bundle read whole and from a mapped
    /// one; the packed files leave the directory; the same files make the same bytes.
    #[test]
    fn packed_files_read_back_by_name() {
        let base = tempfile::tempdir().unwrap();
        for (n, size) in [(0, 100usize), (1, 50_000)] {
            let files: Vec<(&str, Vec<u8>, bool)> = vec![
                ("meta.json", b"{\"m\":1}".to_vec(), false),
                ("a.idx", (0..size).map(|i| (i * 7) as u8).collect(), true),
                ("a.pos", Vec::new(), true),
                ("a.term", (0..size / 3).map(|i| (i * 13) as u8).collect(), true),
            ];
            let bytes_of = |dir: &Path| {
                pack(dir, &packed(dir, &files)).unwrap();
                std::fs::read(dir.join(BUNDLE_FILE)).unwrap()
            };
            let (dir, again) = (base.path().join(format!("d{n}")), base.path().join(format!("again{n}")));
            assert!(bytes_of(&dir) == bytes_of(&again), "the same files, the same bundle");
            let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names, [BUNDLE_FILE]);
            let bundle = Bundle::open(&dir.join(BUNDLE_FILE)).unwrap().unwrap();
            assert_eq!(bundle.mapped(), size > READ_WHOLE_BYTES as usize);
            for (name, bytes, _) in &files {
                assert_eq!(bundle.file(Path::new(name)).unwrap().as_slice(), &bytes[..], "{name}");
            }
            assert!(bundle.file(Path::new("a.fast")).is_none());
            let listed = packed_files(&dir.join(BUNDLE_FILE)).unwrap();
            let whole = std::fs::read(dir.join(BUNDLE_FILE)).unwrap();
            assert_eq!(listed.len(), files.len());
            for (name, range) in listed {
                let (_, bytes, _) = files.iter().find(|(n, _, _)| *n == name).unwrap();
                assert_eq!(&whole[range.start as usize..range.end as usize], &bytes[..]);
            }
        }
        assert!(Bundle::open(&base.path().join("none").join(BUNDLE_FILE)).unwrap().is_none());
    }

    /// A bundle cut short, overwritten, or with a table that overlaps or overruns is an
    /// invalid-data error saying so, never a panic or a wrong slice.
    #[test]
    fn a_damaged_bundle_is_invalid_data() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("d");
        let files = vec![("a.idx", vec![1u8; 40_000], true), ("meta.json", vec![2u8; 10], false)];
        pack(&dir, &packed(&dir, &files)).unwrap();
        let path = dir.join(BUNDLE_FILE);
        let whole = std::fs::read(&path).unwrap();
        // a.idx is the first row: its length, one more, runs into meta.json.
        let mut overlapped = whole.clone();
        overlapped[24..32].copy_from_slice(&40_001u64.to_le_bytes());
        let mut long_table = whole.clone();
        long_table[8..16].copy_from_slice(&(whole.len() as u64).to_le_bytes());
        let damaged: [(&str, Vec<u8>); 5] = [
            ("cut short", whole[..whole.len() - 1].to_vec()),
            ("cut in its table", whole[..20].to_vec()),
            ("another magic", [b"XX".as_slice(), &whole[2..]].concat()),
            ("an overlapping table", overlapped),
            ("a table past the end", long_table),
        ];
        for (what, bytes) in damaged {
            std::fs::write(&path, &bytes).unwrap();
            let error = Bundle::open(&path).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{what}: {error}");
        }
    }
}
