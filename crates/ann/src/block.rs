//! One block's inverted lists: every vector of the block as its list's number, its `m`-byte PQ
//! code and its id (the caller's choice; pairscope stores the row's offset in the block, so that
//! a bitmap of the block's rows is a search filter).
//!
//! The format is this crate's, not faiss's `write_index`: faiss 1.7.3 cannot memory-map its
//! array lists, and readers here map the file and touch only the lists a query probes. All
//! integers little-endian; `nlist` and the code size must be the model's:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `PSIVFPQ1` |
//! | 8 | 4 | version, 1 |
//! | 12 | 4 | CRC-32 of bytes 0..12 and 16..`C` (the header and the list table) |
//! | 16 | 8 | `nlist` |
//! | 24 | 8 | code size `s` (bytes per code) |
//! | 32 | 8 | entries `n` |
//! | 40 | 4 | CRC-32 of bytes `C`..end (codes, padding, ids) |
//! | 44 | 4 | zero |
//! | 48 | 8 × (`nlist` + 1) | list table: list `l` holds entries `t[l] .. t[l+1]`; `t[0] = 0`, `t[nlist] = n` |
//! | `C` = 56 + 8 × `nlist` | `n` × `s` | codes, list after list |
//! | | 0..7 | zeros, so that the ids start at a multiple of 8 |
//! | `I` | 8 × `n` | ids (i64), list after list, in the codes' order |
//!
//! Cumulative offsets rather than list sizes: a reader finds a list in O(1) without a table of
//! its own (a boundary moved between its neighbours' is still a valid table: the header
//! checksum catches that). Within a list, entries keep the order they were given in (faiss's `add_with_ids`
//! order), so the same vectors, ids and model give the same bytes.
//!
//! [`BlockLists::open`] checks the header, the exact length, the header checksum and that the
//! table is a non-decreasing run from 0 to `n`, reading only the header and the table
//! (`8 × nlist` bytes); the codes and ids are checked by [`BlockLists::verify`], which reads
//! them all. A search re-checks the bounds of each list it reads, so even bytes changed under
//! the map cannot make it read outside them.
//!
//! Memory: a [`BlockLists`] holds the caller's bytes (a map) and a few numbers. Encoding holds
//! the output (`n × (s + 8)` bytes and the header), a list number per vector, one chunk of
//! 16384 vectors and faiss's residuals of it (`16384 × dim` floats each, 48 MiB at 768
//! dimensions): with [`encode_block_from`] the block's vectors are never in memory at once.

use std::fmt;

use crate::ffi::bridge;
use crate::model::Trained;
use crate::{Error, Result, check_finite};

const MAGIC: &[u8; 8] = b"PSIVFPQ1";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 48;
/// Vectors handed to faiss at once when encoding: bounds its residual buffer.
const CHUNK: usize = 16384;

/// The byte positions of a block's parts, from its header.
#[derive(Debug, Clone, Copy)]
struct Layout {
    nlist: usize,
    code_size: usize,
    len: usize,
    codes_at: usize,
    ids_at: usize,
    total: usize,
}

impl Layout {
    /// `None` if a position does not fit in `usize`.
    fn new(nlist: usize, code_size: usize, len: usize) -> Option<Layout> {
        let codes_at = nlist.checked_add(1)?.checked_mul(8)?.checked_add(HEADER_LEN)?;
        let codes_end = len.checked_mul(code_size)?.checked_add(codes_at)?;
        let ids_at = codes_end.checked_next_multiple_of(8)?;
        let total = len.checked_mul(8)?.checked_add(ids_at)?;
        Some(Layout { nlist, code_size, len, codes_at, ids_at, total })
    }
}

/// Encodes a block: `vectors` (`ids.len() × dim` floats, row-major, unit vectors) with their
/// `ids` (each `≥ 0`) into the bytes of the module doc, on `threads` OpenMP threads (0: the
/// calling thread's OpenMP setting; pass 1 when blocks are encoded in parallel).
pub fn encode_block(trained: &Trained, vectors: &[f32], ids: &[i64], threads: usize) -> Result<Vec<u8>> {
    let dim = trained.dim();
    if ids.len().checked_mul(dim) != Some(vectors.len()) {
        return Err(Error::Invalid(format!("{} floats are not {} vectors of {dim}", vectors.len(), ids.len())));
    }
    encode_block_from(trained, ids, threads, |start, out| out.copy_from_slice(&vectors[start * dim..][..out.len()]))
}

/// [`encode_block`] of vectors the caller hands over a chunk at a time, so that a block's
/// vectors never need to be in memory at once: `read(start, out)` fills `out` with vectors
/// `start ..` (`out.len() / dim` of them, row-major). Each chunk is asked for twice (once to
/// assign the vectors to lists, once to encode them), and must be the same both times.
pub fn encode_block_from(
    trained: &Trained,
    ids: &[i64],
    threads: usize,
    mut read: impl FnMut(usize, &mut [f32]),
) -> Result<Vec<u8>> {
    let dim = trained.dim();
    let n = ids.len();
    if let Some(i) = ids.iter().position(|id| *id < 0) {
        return Err(Error::Invalid(format!("id {} (of vector {i}) is negative", ids[i])));
    }
    let mut chunk: Vec<f32> = Vec::with_capacity(CHUNK.min(n) * dim);
    let mut read_chunk = |c: usize, count: usize, chunk: &mut Vec<f32>| -> Result<()> {
        chunk.clear();
        chunk.resize(count * dim, 0.0);
        read(c * CHUNK, chunk);
        check_finite(chunk, "vectors")
    };
    let (nlist, code_size) = (trained.nlist(), trained.code_size());
    let layout = Layout::new(nlist, code_size, n).ok_or_else(|| Error::Invalid(format!("{n} vectors")))?;
    let model = trained.model();

    let mut lists = vec![0i64; n];
    for (c, lists) in lists.chunks_mut(CHUNK).enumerate() {
        read_chunk(c, lists.len(), &mut chunk)?;
        bridge::assign(model, &chunk, threads, lists)?;
    }
    let mut table = vec![0u64; nlist + 1];
    for (i, list) in lists.iter().enumerate() {
        let Some(count) = usize::try_from(*list).ok().and_then(|l| table.get_mut(l + 1)) else {
            return Err(Error::Faiss(format!("vector {i} was assigned to list {list}")));
        };
        *count += 1;
    }
    for l in 0..nlist {
        table[l + 1] += table[l];
    }

    let mut out = vec![0u8; layout.total];
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    for (at, v) in [(16, nlist), (24, code_size), (32, n)] {
        out[at..at + 8].copy_from_slice(&(v as u64).to_le_bytes());
    }
    for (l, offset) in table.iter().enumerate() {
        let at = HEADER_LEN + 8 * l;
        out[at..at + 8].copy_from_slice(&offset.to_le_bytes());
    }
    // Entry slots, list by list; filled in input order.
    let mut next: Vec<usize> = table[..nlist].iter().map(|t| *t as usize).collect();
    let mut codes = vec![0u8; CHUNK.min(n) * code_size];
    for (c, chunk_lists) in lists.chunks(CHUNK).enumerate() {
        let codes = &mut codes[..chunk_lists.len() * code_size];
        read_chunk(c, chunk_lists.len(), &mut chunk)?;
        bridge::encode(model, &chunk, chunk_lists, threads, codes)?;
        for (i, (list, code)) in chunk_lists.iter().zip(codes.chunks_exact(code_size)).enumerate() {
            // In range: counted above.
            let slot = &mut next[*list as usize];
            let at = layout.codes_at + *slot * code_size;
            out[at..at + code_size].copy_from_slice(code);
            let at = layout.ids_at + *slot * 8;
            out[at..at + 8].copy_from_slice(&ids[c * CHUNK + i].to_le_bytes());
            *slot += 1;
        }
    }
    let data_crc = crc32fast::hash(&out[layout.codes_at..]);
    out[40..44].copy_from_slice(&data_crc.to_le_bytes());
    let table_crc = table_crc(&out[..layout.codes_at]);
    out[12..16].copy_from_slice(&table_crc.to_le_bytes());
    Ok(out)
}

/// The CRC-32 of a header and list table, its own field (bytes 12..16) left out.
fn table_crc(head: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&head[..12]);
    hasher.update(&head[16..]);
    hasher.finalize()
}

/// The header checksum, for tests that rewrite headers.
#[cfg(test)]
pub(crate) fn tests_table_crc(head: &[u8]) -> u32 {
    table_crc(head)
}

/// A block's inverted lists, read in place from bytes the caller owns (usually a memory map of
/// the block's file). `Send + Sync`: any number of queries search it at once.
pub struct BlockLists {
    bytes: Box<dyn AsRef<[u8]> + Send + Sync>,
    layout: Layout,
}

impl fmt::Debug for BlockLists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockLists").field("layout", &self.layout).finish_non_exhaustive()
    }
}

fn damaged(why: String) -> Error {
    Error::Damaged { what: "block lists", why }
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

impl BlockLists {
    /// Checks `bytes` (see the module doc for what is checked) and keeps them. The bytes must
    /// start at an address that is a multiple of 8 (a map's does; so does a `Vec<u8>`'s from
    /// the system allocator) and must not change while kept.
    pub fn open<B: AsRef<[u8]> + Send + Sync + 'static>(bytes: B) -> Result<BlockLists> {
        let layout = BlockLists::check(bytes.as_ref())?;
        Ok(BlockLists { bytes: Box::new(bytes), layout })
    }

    fn check(bytes: &[u8]) -> Result<Layout> {
        if bytes.len() < HEADER_LEN {
            return Err(damaged(format!("{} bytes, fewer than a header ({HEADER_LEN})", bytes.len())));
        }
        if &bytes[..8] != MAGIC {
            return Err(damaged("not a pairscope IVF-PQ block (wrong magic)".into()));
        }
        let field = |at| u64_at(bytes, at).unwrap_or(u64::MAX);
        let version = u32_at(bytes, 8).unwrap_or(0);
        if version != VERSION || u32_at(bytes, 44) != Some(0) {
            return Err(damaged(format!("version {version}, this build reads {VERSION}")));
        }
        let (nlist, code_size, n) = (field(16), field(24), field(32));
        let layout = match (usize::try_from(nlist), usize::try_from(code_size), usize::try_from(n)) {
            (Ok(nlist), Ok(code_size), Ok(n)) if nlist > 0 && code_size > 0 => Layout::new(nlist, code_size, n),
            _ => None,
        };
        let Some(layout) = layout else {
            return Err(damaged(format!("{nlist} lists of {code_size}-byte codes, {n} entries")));
        };
        if bytes.len() != layout.total {
            return Err(damaged(format!(
                "{} bytes, but {nlist} lists of {n} entries of {code_size}-byte codes take {}",
                bytes.len(),
                layout.total
            )));
        }
        if u32_at(bytes, 12) != Some(table_crc(&bytes[..layout.codes_at])) {
            return Err(damaged("checksum mismatch in the header or the list table".into()));
        }
        let mut previous = 0;
        for l in 0..=layout.nlist {
            let offset = field(HEADER_LEN + 8 * l);
            if (l == 0 && offset != 0) || offset < previous || offset > n {
                return Err(damaged(format!("list table entry {l} is {offset} after {previous}, of {n} entries")));
            }
            previous = offset;
        }
        if previous != n {
            return Err(damaged(format!("the lists hold {previous} entries, the header says {n}")));
        }
        if bytes[layout.codes_at + layout.len * layout.code_size..layout.ids_at].iter().any(|b| *b != 0) {
            return Err(damaged("padding before the ids is not zeros".into()));
        }
        if !(bytes.as_ptr() as usize + layout.ids_at).is_multiple_of(8) {
            return Err(Error::Invalid("block bytes do not start at a multiple of 8 in memory".into()));
        }
        Ok(layout)
    }

    /// Reads all the codes and ids and checks their checksum.
    pub fn verify(&self) -> Result<()> {
        let bytes = (*self.bytes).as_ref();
        let stored = u32_at(bytes, 40);
        match bytes.get(self.layout.codes_at..) {
            Some(data) if bytes.len() == self.layout.total && stored == Some(crc32fast::hash(data)) => Ok(()),
            _ => Err(damaged("checksum mismatch in the codes or ids".into())),
        }
    }

    /// Entries (vectors) in the block.
    pub fn len(&self) -> usize {
        self.layout.len
    }

    /// Whether the block holds no entry.
    pub fn is_empty(&self) -> bool {
        self.layout.len == 0
    }

    /// Inverted lists (the model's `nlist`).
    pub fn nlist(&self) -> usize {
        self.layout.nlist
    }

    /// Bytes per code (the model's).
    pub fn code_size(&self) -> usize {
        self.layout.code_size
    }

    /// List `list`'s codes and ids, bounds checked again (see the module doc).
    pub(crate) fn list(&self, list: usize) -> Result<(&[u8], &[i64])> {
        let bytes = (*self.bytes).as_ref();
        let Layout { nlist, code_size, len, codes_at, ids_at, .. } = self.layout;
        if list >= nlist {
            return Err(Error::Invalid(format!("list {list} of {nlist}")));
        }
        let at = HEADER_LEN + 8 * list;
        let (start, end) = match (u64_at(bytes, at), u64_at(bytes, at + 8)) {
            (Some(start), Some(end)) if start <= end && end <= len as u64 => (start as usize, end as usize),
            (start, end) => return Err(damaged(format!("list {list} spans {start:?}..{end:?} of {len} entries"))),
        };
        // No overflow: end ≤ len, and the layout of len entries fits in usize.
        let codes = bytes.get(codes_at + start * code_size..codes_at + end * code_size);
        let ids = bytes.get(ids_at + start * 8..ids_at + end * 8);
        let (Some(codes), Some(ids)) = (codes, ids) else {
            return Err(damaged(format!("list {list} lies outside the {} bytes", bytes.len())));
        };
        if !(ids.as_ptr() as usize).is_multiple_of(8) {
            return Err(Error::Invalid("block bytes do not start at a multiple of 8 in memory".into()));
        }
        // SAFETY: `ids` is `8 × (end - start)` initialised bytes at an address that is a
        // multiple of 8 (checked above), borrowed from `self.bytes` for the returned lifetime;
        // every bit pattern is an i64, and the target is little-endian (lib.rs refuses others).
        let ids = unsafe { std::slice::from_raw_parts(ids.as_ptr().cast::<i64>(), end - start) };
        Ok((codes, ids))
    }

    /// The entries of every list whose id `filter` keeps (bit `id % 8` of byte `id / 8`, as a
    /// search's filter), grouped by list: what a filtered search scans instead of every entry
    /// of its probed lists (see [`crate::search`]). Reads every id of the block once.
    pub fn kept_entries(&self, filter: &[u8]) -> Result<KeptEntries> {
        let Layout { nlist, len, .. } = self.layout;
        if u32::try_from(len).is_err() {
            return Err(Error::Invalid(format!("a block of {len} entries: kept entries are numbered in 32 bits")));
        }
        let mut starts = Vec::with_capacity(nlist + 1);
        let mut entries = Vec::new();
        for list in 0..nlist {
            starts.push(entries.len() as u32);
            let (_, ids) = self.list(list)?;
            entries.extend(ids.iter().enumerate().filter(|(_, id)| kept_by(filter, **id)).map(|(e, _)| e as u32));
        }
        starts.push(entries.len() as u32);
        entries.shrink_to_fit();
        Ok(KeptEntries { len, starts, entries })
    }
}

/// Whether `filter` keeps `id` (see [`BlockLists::kept_entries`]); the C++ side's selector
/// reads the same bits.
fn kept_by(filter: &[u8], id: i64) -> bool {
    usize::try_from(id).ok().and_then(|id| filter.get(id / 8)).is_some_and(|byte| byte & (1 << (id % 8)) != 0)
}

/// The entries of one block's lists that a filter keeps, by list: list `l`'s are the offsets
/// within that list `entries[starts[l] .. starts[l + 1]]`, ascending. Memory: 4 bytes per kept
/// entry and 4 per list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptEntries {
    /// Entries of the block it was made from (a search checks it is given that block).
    len: usize,
    starts: Vec<u32>,
    entries: Vec<u32>,
}

impl KeptEntries {
    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        4 * (self.starts.capacity() + self.entries.capacity())
    }

    /// The kept offsets within `list`, if it is one of the lists these were made from.
    pub(crate) fn of_list(&self, list: usize) -> Option<&[u32]> {
        let (start, end) = (*self.starts.get(list)?, *self.starts.get(list + 1)?);
        self.entries.get(start as usize..end as usize)
    }

    /// Whether these were made from a block of `nlist` lists and `len` entries.
    pub(crate) fn fits(&self, nlist: usize, len: usize) -> bool {
        self.starts.len() == nlist + 1 && self.len == len
    }
}
