//! The append-only journal: one file of checksummed records, for work that finishes piece by
//! piece and must survive being killed between pieces without a file per piece.
//!
//! A record is a header (`PSJ1`, the lengths of its metadata and its body as little-endian
//! `u32`s, the CRC-32 of lengths, metadata and body) then the metadata then the body.
//! [`Journal::append`] writes one at the end of the file under a lock; [`Journal::open`] reads
//! the file from the start and keeps every whole record up to the first that is not (cut short
//! by a kill, or garbage after a power cut), cutting the file there, so appends go on after the
//! last whole record and a record is either read back whole or not at all.
//!
//! Durability: a record is in the file once `append` returns, so a killed process loses none.
//! Against a power cut, [`Journal::sync`] fsyncs; the caller chooses how often (a record
//! appended after the last sync may be lost, never read back damaged).
//!
//! Memory: `open` holds the metadata of every record (the bodies stay in the file: an
//! [`Entry`] says where) and a 64 KiB buffer; `append` copies nothing. The file is locked
//! for as long as the [`Journal`] lives: a second writer is refused, not interleaved.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The first bytes of every record.
const MAGIC: &[u8; 4] = b"PSJ1";
/// Magic, metadata length, body length, CRC-32.
const HEADER_BYTES: u64 = 16;

/// One whole record read back by [`Journal::open`] or written by [`Journal::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record's metadata.
    pub meta: Vec<u8>,
    /// Where its body is, for [`Journal::body`].
    pub body: BodyRef,
}

/// Where a record's body is in its journal's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRef {
    /// The body's first byte.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// An open journal file (see the module doc).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// The file and the length of its whole records, where the next record goes.
    file: Mutex<(File, u64)>,
    /// The same file, for reading bodies: positioned reads need no lock, and never wait for
    /// an append.
    reader: File,
}

impl Journal {
    /// Opens the journal at `path` (creating it), locks it, and returns it with its whole
    /// records in file order. A damaged or cut-short tail is cut off, and a warning says how many
    /// bytes went. Another process holding it is an error of kind `WouldBlock`.
    pub fn open(path: &Path) -> io::Result<(Journal, Vec<Entry>)> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if let Err(e) = file.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => {
                    io::Error::new(io::ErrorKind::WouldBlock, format!("{}: in use by another process", path.display()))
                }
                std::fs::TryLockError::Error(e) => e,
            });
        }
        let file_len = file.metadata()?.len();
        let (entries, whole) = read_entries(&file, file_len)?;
        if whole < file_len {
            tracing::warn!(
                path = %path.display(),
                cut_bytes = file_len - whole,
                "the journal's last record was not whole (an interrupted write): cut off",
            );
            file.set_len(whole)?;
            file.sync_all()?;
        }
        let reader = file.try_clone()?;
        let journal = Journal { path: path.to_path_buf(), file: Mutex::new((file, whole)), reader };
        Ok((journal, entries))
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and returns it as [`Journal::open`] would read it back. On an error
    /// the file is cut back to the records before it.
    pub fn append(&self, meta: &[u8], body: &[u8]) -> io::Result<Entry> {
        let too_long = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("a journal {what} over 4 GiB"));
        let meta_len = u32::try_from(meta.len()).map_err(|_| too_long("record's metadata"))?;
        let body_len = u32::try_from(body.len()).map_err(|_| too_long("record's body"))?;
        let mut header = Vec::with_capacity(HEADER_BYTES as usize + meta.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&meta_len.to_le_bytes());
        header.extend_from_slice(&body_len.to_le_bytes());
        let mut hasher = record_hasher(meta_len, body_len, meta);
        hasher.update(body);
        header.extend_from_slice(&hasher.finalize().to_le_bytes());
        header.extend_from_slice(meta);
        let mut guard = self.file.lock().map_err(|_| io::Error::other("a journal writer panicked"))?;
        let (file, end) = &mut *guard;
        let start = *end;
        let written =
            file.write_all_at(&header, start).and_then(|()| file.write_all_at(body, start + header.len() as u64));
        if let Err(e) = written {
            let _ = file.set_len(start);
            return Err(e);
        }
        *end = start + header.len() as u64 + body.len() as u64;
        Ok(Entry { meta: meta.to_vec(), body: BodyRef { offset: start + header.len() as u64, len: body.len() as u64 } })
    }

    /// Fsyncs the journal: the records appended so far survive a power cut.
    pub fn sync(&self) -> io::Result<()> {
        let guard = self.file.lock().map_err(|_| io::Error::other("a journal writer panicked"))?;
        guard.0.sync_data()
    }

    /// The body `body` points at.
    pub fn body(&self, body: BodyRef) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; usize::try_from(body.len).map_err(io::Error::other)?];
        self.reader.read_exact_at(&mut bytes, body.offset)?;
        Ok(bytes)
    }
}

/// The whole records of the journal at `path`, read without locking it or cutting anything:
/// for looking at a journal another process may be writing (a record it is appending is not
/// whole yet, and is left out).
pub fn read_whole(path: &Path) -> io::Result<Vec<Entry>> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    Ok(read_entries(&file, file_len)?.0)
}

/// A record's CRC-32 so far: its lengths and metadata (its body follows).
fn record_hasher(meta_len: u32, body_len: u32, meta: &[u8]) -> crc32fast::Hasher {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&meta_len.to_le_bytes());
    hasher.update(&body_len.to_le_bytes());
    hasher.update(meta);
    hasher
}

/// The whole records of `file` from its start, and the length they span.
fn read_entries(file: &File, file_len: u64) -> io::Result<(Vec<Entry>, u64)> {
    let mut reader = BufReader::with_capacity(64 << 10, file);
    reader.seek(SeekFrom::Start(0))?;
    let mut entries = Vec::new();
    let mut whole = 0u64;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let mut header = [0u8; HEADER_BYTES as usize];
        if file_len - whole < HEADER_BYTES || reader.read_exact(&mut header).is_err() || &header[..4] != MAGIC {
            return Ok((entries, whole));
        }
        let field = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (meta_len, body_len, expected) = (field(4), field(8), field(12));
        let record_len = HEADER_BYTES + u64::from(meta_len) + u64::from(body_len);
        if record_len > file_len - whole {
            return Ok((entries, whole));
        }
        let mut meta = vec![0u8; meta_len as usize];
        reader.read_exact(&mut meta)?;
        let mut hasher = record_hasher(meta_len, body_len, &meta);
        let mut left = u64::from(body_len);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            reader.read_exact(&mut chunk[..n])?;
            hasher.update(&chunk[..n]);
            left -= n as u64;
        }
        if hasher.finalize() != expected {
            return Ok((entries, whole));
        }
        let body = BodyRef { offset: whole + HEADER_BYTES + u64::from(meta_len), len: u64::from(body_len) };
        entries.push(Entry { meta, body });
        whole += record_len;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn records(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (journal, entries) = Journal::open(path).unwrap();
        entries.iter().map(|e| (e.meta.clone(), journal.body(e.body).unwrap())).collect()
    }

    #[test]
    fn records_come_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        {
            let (journal, entries) = Journal::open(&path).unwrap();
            assert!(entries.is_empty());
            let first = journal.append(b"one", b"body one").unwrap();
            journal.append(b"two", b"").unwrap();
            journal.sync().unwrap();
            assert_eq!(journal.body(first.body).unwrap(), b"body one");
        }
        assert_eq!(records(&path), vec![(b"one".to_vec(), b"body one".to_vec()), (b"two".to_vec(), Vec::new())]);
    }

    #[test]
    fn a_cut_or_damaged_tail_is_cut_off_and_appends_go_on_after_the_last_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        {
            let (journal, _) = Journal::open(&path).unwrap();
            journal.append(b"kept", b"kept body").unwrap();
            journal.append(b"cut", b"this body is cut short").unwrap();
        }
        let whole = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(whole - 5).unwrap();
        assert_eq!(records(&path), vec![(b"kept".to_vec(), b"kept body".to_vec())]);
        {
            let (journal, _) = Journal::open(&path).unwrap();
            journal.append(b"after", b"x").unwrap();
        }
        assert_eq!(records(&path).len(), 2, "the new record follows the last whole one");

        // A flipped byte inside the second record's body: it and everything after it go.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(records(&path), vec![(b"kept".to_vec(), b"kept body".to_vec())]);

        // Zeros where a power cut left the file longer than its data.
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0u8; 100]).unwrap();
        assert_eq!(records(&path).len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 + 4 + 9);
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (_journal, _) = Journal::open(&path).unwrap();
        let second = Journal::open(&path).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
        assert!(second.to_string().contains("in use by another process"), "{second}");
    }
}
