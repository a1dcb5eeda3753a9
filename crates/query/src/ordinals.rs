//! Global ordinals of a keyword column: each segment's term ordinals mapped to the rank of
//! their value among the distinct values of every segment. Term facets count by global
//! ordinal into one array, so segments' counts add up by value without a string being made,
//! hashed or compared per request; only the values a facet lists are read.
//!
//! Built once per dataset version and column, by a k-way merge of the segments' sorted term
//! dictionaries (O(T log S) for T segment terms over S segments: seconds at billions of rows),
//! and kept with the version (`pairscope_store::cache`: `DS/cache/ordinals/v{N}-{column}.ords`),
//! which every later engine of that version maps: the first facet after a restart costs one
//! check of the file, not the merge. Global ordinals are in byte order of the values, which is
//! the order of their strings.
//!
//! Memory: the build holds 4 bytes per segment term and 8 per distinct value on the heap until
//! the file is kept; ordinals read from (or once written to) the file hold none (the page cache
//! has them). Where the file cannot be written (a read-only dataset) the built ones stay on the
//! heap for the engine's life.
//!
//! The file, little-endian: the magic `PSGORD01`; the BLAKE3 of what the ordinals depend on
//! (the column, each segment's id and term count, in engine order); the segment count S and the
//! distinct value count T (u64 each); then u32 words: the S segments' term counts, each
//! segment's map (term ordinal → global ordinal), and T origins, (segment, term ordinal) pairs.
//! Every word is checked when the file is opened (global ordinals below T, origins within their
//! segment), so a damaged or foreign file is rebuilt, never trusted.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use pairscope_index::tantivy::columnar::StrColumn;
use pairscope_store::cache::VersionCache;

use crate::columns::missing_column;
use crate::engine::Engine;
use crate::error::{QueryError, Result};

const MAGIC: &[u8; 8] = b"PSGORD01";
/// Magic, digest, S, T.
const HEADER_BYTES: usize = 8 + 32 + 8 + 8;
/// The file's words are read in place as u32: only a little-endian machine keeps ordinals.
const KEEPABLE: bool = cfg!(target_endian = "little");

pub(crate) struct GlobalOrds {
    /// (block, segment ordinal) → the segment's place in engine order.
    units: HashMap<(usize, usize), usize>,
    /// Each segment's column, in engine order.
    columns: Vec<StrColumn>,
    /// (block, segment ordinal) of each segment, in engine order.
    unit_at: Vec<(usize, usize)>,
    /// Segment i's map is `words[starts[i]..starts[i + 1]]`; the origins follow the last map.
    starts: Vec<usize>,
    words: Words,
    /// Distinct values over every segment.
    terms: usize,
    column: String,
    /// Each block's index directory, for errors that name it.
    indexes: Vec<PathBuf>,
}

/// The maps, then the origins.
enum Words {
    Built(Vec<u32>),
    /// A kept file (checked), its words from `first` on.
    Kept {
        map: Mmap,
        first: usize,
    },
}

impl Words {
    fn all(&self) -> &[u32] {
        match self {
            Words::Built(words) => words,
            // The cast was checked when the file was opened (`kept_words`).
            Words::Kept { map, first } => {
                bytemuck::try_cast_slice(&map[HEADER_BYTES..]).map_or(&[][..], |words: &[u32]| &words[*first..])
            }
        }
    }
}

/// The segments of an engine with the column open in each.
struct Segments {
    units: HashMap<(usize, usize), usize>,
    columns: Vec<StrColumn>,
    unit_at: Vec<(usize, usize)>,
    /// Each segment's term count.
    counts: Vec<usize>,
    /// BLAKE3 of the column and each segment's id and term count.
    digest: [u8; 32],
}

impl GlobalOrds {
    /// The global ordinals of `column` over `engine`'s segments: the version's kept ones, or
    /// built (and kept, if the dataset can be written).
    pub fn open(engine: &Engine, column: &str) -> Result<GlobalOrds> {
        let segments = Segments::open(engine, column)?;
        let indexes: Vec<PathBuf> = engine.blocks.iter().map(|b| b.index.dir().to_path_buf()).collect();
        let cache = VersionCache::new(engine.dataset(), "ordinals");
        let key = format!("{column}.ords");
        let kept = || kept_words(&cache.path(&key), &segments);
        let (words, terms) = match KEEPABLE.then(kept).flatten() {
            Some((words, terms)) => (words, terms),
            None => {
                let (words, terms) = merge(&segments, column, &indexes)?;
                let written = KEEPABLE && cache.write_with(&key, |file| write(file, &segments, terms, &words)).is_ok();
                // Once kept, the file's pages stand in for the heap's copy.
                match written.then(kept).flatten() {
                    Some((mapped, _)) => (mapped, terms),
                    None => (Words::Built(words), terms),
                }
            }
        };
        let mut starts = Vec::with_capacity(segments.counts.len() + 1);
        starts.push(0);
        for count in &segments.counts {
            starts.push(starts.last().copied().unwrap_or(0) + count);
        }
        let Segments { units, columns, unit_at, .. } = segments;
        Ok(GlobalOrds { units, columns, unit_at, starts, words, terms, column: column.to_string(), indexes })
    }

    /// Distinct values over every segment.
    pub fn terms(&self) -> usize {
        self.terms
    }

    /// A segment's column and its term ordinal → global ordinal map (there is one for every
    /// segment of the engine).
    pub fn segment(&self, block: usize, ord: usize) -> (&StrColumn, &[u32]) {
        let unit = self.units[&(block, ord)];
        (&self.columns[unit], &self.words.all()[self.starts[unit]..self.starts[unit + 1]])
    }

    /// Where global ordinal `global`'s value can be read: (segment in engine order, term ordinal).
    fn origin(&self, global: u32) -> (usize, u64) {
        let origins = &self.words.all()[self.starts[self.columns.len()]..];
        let at = 2 * global as usize;
        (origins[at] as usize, u64::from(origins[at + 1]))
    }

    /// The values of `globals` (distinct), in their order: read per segment in ordinal order.
    pub fn values(&self, globals: &[u32]) -> Result<Vec<String>> {
        let mut by_segment: HashMap<usize, Vec<(u64, usize)>> = HashMap::new();
        for (i, &global) in globals.iter().enumerate() {
            let (unit, local) = self.origin(global);
            by_segment.entry(unit).or_default().push((local, i));
        }
        let mut values = vec![String::new(); globals.len()];
        for (unit, mut wanted) in by_segment {
            wanted.sort_unstable();
            let ords: Vec<u64> = wanted.iter().map(|w| w.0).collect();
            let mut next = wanted.iter();
            self.columns[unit]
                .dictionary()
                .sorted_ords_to_term_cb(&ords, |bytes| {
                    if let Some(&(_, i)) = next.next() {
                        values[i] = String::from_utf8_lossy(bytes).into_owned();
                    }
                })
                .map_err(|e| QueryError::IndexColumn {
                    index: self.indexes[self.unit_at[unit].0].clone(),
                    column: self.column.clone(),
                    source: e.into(),
                })?;
        }
        Ok(values)
    }
}

impl Segments {
    fn open(engine: &Engine, column: &str) -> Result<Segments> {
        let mut columns = Vec::new();
        let mut unit_at = Vec::new();
        for (b, block) in engine.blocks.iter().enumerate() {
            for (o, segment) in block.index.searcher().segment_readers().iter().enumerate() {
                let error = |source| QueryError::IndexColumn {
                    index: block.index.dir().to_path_buf(),
                    column: column.to_string(),
                    source,
                };
                let str_column =
                    segment.fast_fields().str(column).map_err(error)?.ok_or_else(|| error(missing_column(column)))?;
                columns.push(str_column);
                unit_at.push((b, o));
            }
        }
        let counts: Vec<usize> = columns.iter().map(|c| c.num_terms()).collect();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&(column.len() as u64).to_le_bytes());
        hasher.update(column.as_bytes());
        for (&(b, o), count) in unit_at.iter().zip(&counts) {
            let id = engine.blocks[b].index.searcher().segment_readers()[o].segment_id().uuid_string();
            hasher.update(id.as_bytes());
            hasher.update(&(*count as u64).to_le_bytes());
        }
        let units = unit_at.iter().enumerate().map(|(unit, at)| (*at, unit)).collect();
        Ok(Segments { units, columns, unit_at, counts, digest: *hasher.finalize().as_bytes() })
    }
}

/// The maps and origins of a k-way merge of the segments' sorted dictionaries, and the
/// number of distinct values.
fn merge(segments: &Segments, column: &str, indexes: &[PathBuf]) -> Result<(Vec<u32>, usize)> {
    let error = |unit: usize| {
        let index = indexes[segments.unit_at[unit].0].clone();
        move |source: std::io::Error| QueryError::IndexColumn {
            index,
            column: column.to_string(),
            source: source.into(),
        }
    };
    let total: usize = segments.counts.iter().sum();
    let mut starts = Vec::with_capacity(segments.counts.len());
    let mut words = vec![0u32; total];
    let mut origins: Vec<u32> = Vec::new();
    let mut streams = Vec::with_capacity(segments.columns.len());
    let mut at = 0;
    for (unit, str_column) in segments.columns.iter().enumerate() {
        starts.push(at);
        at += segments.counts[unit];
        let mut stream = str_column.dictionary().stream().map_err(error(unit))?;
        let live = stream.advance();
        streams.push((stream, live));
    }
    // A k-way merge of the sorted dictionaries: a dataset of billions of rows has thousands
    // of segments, so the least current key comes from a heap, not a look at every stream.
    let mut heap: BinaryHeap<Reverse<(Vec<u8>, usize)>> = streams
        .iter()
        .enumerate()
        .filter(|(_, (_, live))| *live)
        .map(|(i, (stream, _))| Reverse((stream.key().to_vec(), i)))
        .collect();
    let mut terms: u32 = 0;
    let too_many = || QueryError::TooManyValues { column: column.to_string() };
    while let Some(Reverse((least, first))) = heap.pop() {
        let global = terms;
        // The null slot of a count is `terms`: it must fit too.
        terms = terms.checked_add(1).filter(|t| *t < u32::MAX).ok_or_else(too_many)?;
        let local = u32::try_from(streams[first].0.term_ord()).map_err(|_| too_many())?;
        origins.extend([first as u32, local]);
        let mut same = vec![first];
        while heap.peek().is_some_and(|Reverse((key, _))| *key == least) {
            same.extend(heap.pop().map(|Reverse((_, i))| i));
        }
        for i in same {
            let (stream, live) = &mut streams[i];
            words[starts[i] + stream.term_ord() as usize] = global;
            *live = stream.advance();
            if *live {
                heap.push(Reverse((stream.key().to_vec(), i)));
            }
        }
    }
    words.extend(origins);
    Ok((words, terms as usize))
}

/// Writes the file of the module doc.
fn write(file: &mut impl Write, segments: &Segments, terms: usize, words: &[u32]) -> std::io::Result<()> {
    file.write_all(MAGIC)?;
    file.write_all(&segments.digest)?;
    file.write_all(&(segments.counts.len() as u64).to_le_bytes())?;
    file.write_all(&(terms as u64).to_le_bytes())?;
    for &count in &segments.counts {
        let count = u32::try_from(count).map_err(std::io::Error::other)?;
        file.write_all(&count.to_le_bytes())?;
    }
    file.write_all(bytemuck::cast_slice(words))
}

/// The kept file at `path`, mapped, if it is whole and made for exactly these segments, and
/// its distinct value count.
fn kept_words(path: &Path, segments: &Segments) -> Option<(Words, usize)> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: a cache file is only ever replaced by a rename, never written in place, so the
    // mapped bytes do not change under us.
    let map = unsafe { Mmap::map(&file) }.ok()?;
    let header = map.get(..HEADER_BYTES)?;
    let number = |at: usize| header[at..at + 8].try_into().ok().map(u64::from_le_bytes);
    if &header[..8] != MAGIC || header[8..40] != segments.digest {
        return None;
    }
    let (units, terms) = (usize::try_from(number(40)?).ok()?, usize::try_from(number(48)?).ok()?);
    let words: &[u32] = bytemuck::try_cast_slice(&map[HEADER_BYTES..]).ok()?;
    let total: usize = segments.counts.iter().sum();
    let counts_match = units == segments.counts.len()
        && words.len() == units + total + 2 * terms
        && words[..units].iter().zip(&segments.counts).all(|(&kept, &count)| kept as usize == count);
    if !counts_match || terms >= u32::MAX as usize {
        return None;
    }
    let maps = &words[units..units + total];
    let origins = &words[units + total..];
    let maps_fit = maps.iter().fold(0u32, |most, &g| most.max(g)) < terms as u32 || maps.is_empty();
    let origins_fit = origins
        .chunks_exact(2)
        .all(|pair| segments.counts.get(pair[0] as usize).is_some_and(|&count| (pair[1] as usize) < count));
    (maps_fit && origins_fit).then_some((Words::Kept { map, first: units }, terms))
}
