//! Global ordinals of a keyword column: each segment's term ordinals mapped to the rank of
//! their value among the distinct values of every segment. Term facets count by global
//! ordinal into one array, so segments' counts add up by value without a string being made,
//! hashed or compared per request; only the values a facet lists are read.
//!
//! Built once per engine and column, on first use, by merging the segments' sorted term
//! dictionaries. Global ordinals are in byte order of the values, which is the order of
//! their strings.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;

use pairscope_index::tantivy::columnar::StrColumn;

use crate::columns::missing_column;
use crate::engine::Engine;
use crate::error::{QueryError, Result};

pub(crate) struct GlobalOrds {
    /// By (block, segment ordinal): the segment's column and the global ordinal of each of
    /// its term ordinals.
    segments: HashMap<(usize, usize), (StrColumn, Vec<u32>)>,
    /// Where each global ordinal's value can be read: (block, segment ordinal, term ordinal).
    origins: Vec<(usize, usize, u64)>,
    column: String,
    /// Each block's index directory, for errors that name it.
    indexes: Vec<PathBuf>,
}

impl GlobalOrds {
    pub fn build(engine: &Engine, column: &str) -> Result<GlobalOrds> {
        let error = |block: usize| {
            let index = engine.blocks[block].index.dir();
            move |source| QueryError::IndexColumn { index: index.to_path_buf(), column: column.to_string(), source }
        };
        let mut columns: Vec<((usize, usize), StrColumn)> = Vec::new();
        for (b, block) in engine.blocks.iter().enumerate() {
            for (o, segment) in block.index.searcher().segment_readers().iter().enumerate() {
                let str_column = segment
                    .fast_fields()
                    .str(column)
                    .map_err(error(b))?
                    .ok_or_else(|| error(b)(missing_column(column)))?;
                columns.push(((b, o), str_column));
            }
        }
        let mut maps: Vec<Vec<u32>> = columns.iter().map(|(_, c)| vec![0; c.num_terms()]).collect();
        let mut streams = Vec::with_capacity(columns.len());
        for ((b, _), str_column) in &columns {
            let mut stream = str_column.dictionary().stream().map_err(|e| error(*b)(e.into()))?;
            let live = stream.advance();
            streams.push((stream, live));
        }
        let mut origins: Vec<(usize, usize, u64)> = Vec::new();
        // A k-way merge of the sorted dictionaries: a dataset of billions of rows has thousands
        // of segments, so the least current key comes from a heap, not a look at every stream.
        let mut heap: BinaryHeap<Reverse<(Vec<u8>, usize)>> = streams
            .iter()
            .enumerate()
            .filter(|(_, (_, live))| *live)
            .map(|(i, (stream, _))| Reverse((stream.key().to_vec(), i)))
            .collect();
        while let Some(Reverse((least, first))) = heap.pop() {
            let global =
                u32::try_from(origins.len()).map_err(|_| QueryError::TooManyValues { column: column.to_string() })?;
            let (block, ord) = columns[first].0;
            origins.push((block, ord, streams[first].0.term_ord()));
            let mut same = vec![first];
            while heap.peek().is_some_and(|Reverse((key, _))| *key == least) {
                same.extend(heap.pop().map(|Reverse((_, i))| i));
            }
            for i in same {
                let (stream, live) = &mut streams[i];
                maps[i][stream.term_ord() as usize] = global;
                *live = stream.advance();
                if *live {
                    heap.push(Reverse((stream.key().to_vec(), i)));
                }
            }
        }
        drop(streams);
        let segments = columns.into_iter().zip(maps).map(|((unit, column), map)| (unit, (column, map))).collect();
        let indexes = engine.blocks.iter().map(|b| b.index.dir().to_path_buf()).collect();
        Ok(GlobalOrds { segments, origins, column: column.to_string(), indexes })
    }

    /// Distinct values over every segment.
    pub fn terms(&self) -> usize {
        self.origins.len()
    }

    /// A segment's column and its term ordinal → global ordinal map (built for every segment
    /// of the engine).
    pub fn segment(&self, block: usize, ord: usize) -> &(StrColumn, Vec<u32>) {
        &self.segments[&(block, ord)]
    }

    /// The values of `globals` (distinct), in their order: read per segment in ordinal order.
    pub fn values(&self, globals: &[u32]) -> Result<Vec<String>> {
        let mut by_segment: HashMap<(usize, usize), Vec<(u64, usize)>> = HashMap::new();
        for (i, &global) in globals.iter().enumerate() {
            let (block, ord, local) = self.origins[global as usize];
            by_segment.entry((block, ord)).or_default().push((local, i));
        }
        let mut values = vec![String::new(); globals.len()];
        for (unit, mut wanted) in by_segment {
            wanted.sort_unstable();
            let ords: Vec<u64> = wanted.iter().map(|w| w.0).collect();
            let (column, _) = self.segment(unit.0, unit.1);
            let mut next = wanted.iter();
            column
                .dictionary()
                .sorted_ords_to_term_cb(&ords, |bytes| {
                    if let Some(&(_, i)) = next.next() {
                        values[i] = String::from_utf8_lossy(bytes).into_owned();
                    }
                })
                .map_err(|e| QueryError::IndexColumn {
                    index: self.indexes[unit.0].clone(),
                    column: self.column.clone(),
                    source: e.into(),
                })?;
        }
        Ok(values)
    }
}
