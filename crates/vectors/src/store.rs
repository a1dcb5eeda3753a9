//! The vector file of one block: the vector of the row at position `o` of the block file (its
//! document number in the block's index; not the low bits of its row id, which count skipped
//! source rows too) is values `o × D .. (o + 1) × D`, float16 little-endian, unit-normalised; a
//! row without a vector is all zeros (no unit vector is).
//!
//! No header: the dataset's manifest records the dimension, the block's rows and the file's
//! length, and [`VectorFile::open`] checks the length against them. Readers memory-map the file
//! and never load it: a query touches the pages of the rows it scores. Float16 halves the bytes
//! of float32 for a cosine error below 1e-3 (LAION publishes float16 too).
//!
//! [`VectorFileWriter`] makes the file at its full length at once (sparse: rows never written
//! take no disk) and writes each row in place, so rows may come in any order; `finish` fsyncs.
//! The writer's caller gives the file a name no version references until it commits.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use half::f16;
use half::slice::HalfFloatSliceExt;

/// Why a vector is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadVector {
    /// A NaN or infinite value.
    #[error("a NaN or infinite value")]
    NotFinite,
    /// All zeros (or so small that float16 cannot hold it normalised).
    #[error("a vector of length 0")]
    Zero,
    /// Not the dataset's number of dimensions.
    #[error("{found} dimensions, not {expected}")]
    Dimensions {
        /// What the set has.
        expected: usize,
        /// What the vector has.
        found: usize,
    },
}

/// `vector` scaled to length 1, or why it cannot be.
pub fn normalize(vector: &mut [f32]) -> Result<(), BadVector> {
    if vector.iter().any(|v| !v.is_finite()) {
        return Err(BadVector::NotFinite);
    }
    let norm = vector.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(BadVector::Zero);
    }
    for v in vector.iter_mut() {
        *v = (f64::from(*v) / norm) as f32;
    }
    Ok(())
}

/// Writes the vector file of one block (see the module doc).
#[derive(Debug)]
pub struct VectorFileWriter {
    path: PathBuf,
    file: File,
    dim: usize,
    rows: u64,
    /// One bit per row: whether it has a vector (2^17 bytes for a full block).
    present: Vec<u64>,
}

impl VectorFileWriter {
    /// Creates `path` (replacing a stray of a killed run) for `rows` rows of `dim` dimensions.
    pub fn create(path: &Path, rows: u64, dim: usize) -> io::Result<VectorFileWriter> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        file.set_len(rows * dim as u64 * 2)?;
        let words = usize::try_from(rows.div_ceil(64)).map_err(io::Error::other)?;
        Ok(VectorFileWriter { path: path.to_path_buf(), file, dim, rows, present: vec![0; words] })
    }

    /// Starts from the vectors of `old` (a file of the same rows and dimensions): a row keeps
    /// its vector unless one is put for it.
    pub fn copy_from(&mut self, old: &VectorFile) -> io::Result<()> {
        if old.rows != self.rows || old.dim != self.dim {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: a file of {} × {} copied into one of {} × {}",
                    self.path.display(),
                    old.rows,
                    old.dim,
                    self.rows,
                    self.dim
                ),
            ));
        }
        self.file.write_all_at(&old.map, 0)?;
        for offset in 0..self.rows {
            if old.row_bytes(offset).is_some() {
                self.mark(offset);
            }
        }
        Ok(())
    }

    fn mark(&mut self, offset: u64) {
        if let Some(word) = self.present.get_mut((offset / 64) as usize) {
            *word |= 1 << (offset % 64);
        }
    }

    /// Stores `vector` (any length but 0; it is normalised here) as row `offset`'s.
    pub fn put(&mut self, offset: u64, vector: &[f32]) -> Result<(), PutError> {
        if vector.len() != self.dim {
            return Err(PutError::Bad(BadVector::Dimensions { expected: self.dim, found: vector.len() }));
        }
        if offset >= self.rows {
            return Err(PutError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: row offset {offset} of a block of {} rows", self.path.display(), self.rows),
            )));
        }
        let mut unit = vector.to_vec();
        normalize(&mut unit).map_err(PutError::Bad)?;
        let bytes: Vec<u8> = unit.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
        if bytes.iter().all(|b| *b == 0) {
            return Err(PutError::Bad(BadVector::Zero));
        }
        self.file.write_all_at(&bytes, offset * self.dim as u64 * 2).map_err(PutError::Io)?;
        self.mark(offset);
        Ok(())
    }

    /// Rows that have a vector so far (each counted once, however often it was put).
    pub fn written(&self) -> u64 {
        self.present.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Fsyncs the file; returns its length in bytes.
    pub fn finish(self) -> io::Result<u64> {
        self.file.sync_all()?;
        Ok(self.rows * self.dim as u64 * 2)
    }
}

/// Why [`VectorFileWriter::put`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The vector cannot be stored.
    #[error(transparent)]
    Bad(BadVector),
    /// The file could not be written.
    #[error(transparent)]
    Io(io::Error),
}

/// A block's vector file, memory-mapped (see the module doc).
#[derive(Debug)]
pub struct VectorFile {
    map: memmap2::Mmap,
    dim: usize,
    rows: u64,
}

impl VectorFile {
    /// Maps `path`, which must hold `rows` rows of `dim` dimensions.
    pub fn open(path: &Path, rows: u64, dim: usize) -> io::Result<VectorFile> {
        let file = File::open(path)?;
        let expected = rows * dim as u64 * 2;
        let found = file.metadata()?.len();
        if found != expected || dim == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {found} bytes, not {expected} ({rows} rows of {dim} float16)", path.display()),
            ));
        }
        // SAFETY: the file is written once, before the version naming it is committed, and
        // never changed after; the length was checked above. A file truncated behind our back
        // would fault the process, as for every mapped file (tantivy's included).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(VectorFile { map, dim, rows })
    }

    /// Rows of the block.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `offset`'s vector as float32, if it has one.
    pub fn vector(&self, offset: u64) -> Option<Vec<f32>> {
        let bytes = self.row_bytes(offset)?;
        Some(bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect())
    }

    /// The inner product (the cosine: both are unit vectors) of row `offset`'s vector with
    /// `query`, if the row has a vector.
    pub fn dot(&self, offset: u64, query: &[f32]) -> Option<f32> {
        let bytes = self.row_bytes(offset)?;
        // SAFETY: every bit pattern is an f16 (a u16; the file is little-endian, as the target
        // unless the fallback below runs); a row starts at an even offset of a
        // page-aligned map, so the middle part is all of it (checked below all the same).
        let (before, halves, after) = unsafe { bytes.align_to::<f16>() };
        let in_place = before.is_empty() && after.is_empty() && cfg!(target_endian = "little");
        // Converted a chunk at a time (F16C where the CPU has it; byte by byte where the row
        // cannot be read in place), each chunk's inner product vectorised for the CPU: the
        // same sums in the same order either way.
        const CHUNK: usize = 256;
        let mut values = [0f32; CHUNK];
        let mut sum = 0.0;
        for (i, query) in query.chunks(CHUNK).enumerate() {
            let start = i * CHUNK;
            let len = query.len().min(self.dim.saturating_sub(start));
            if len == 0 {
                break;
            }
            let values = &mut values[..len];
            if in_place {
                halves[start..start + len].convert_to_f32_slice(values);
            } else {
                for (value, b) in values.iter_mut().zip(bytes[2 * start..].chunks_exact(2)) {
                    *value = f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            sum += crate::dot::inner_product(values, &query[..len]);
        }
        Some(sum)
    }

    fn row_bytes(&self, offset: u64) -> Option<&[u8]> {
        if offset >= self.rows {
            return None;
        }
        let width = self.dim * 2;
        let start = usize::try_from(offset).ok()? * width;
        let bytes = self.map.get(start..start + width)?;
        bytes.iter().any(|b| *b != 0).then_some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_stored_normalised_in_any_order_and_rows_without_one_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("block.f16");
        let mut writer = VectorFileWriter::create(&path, 5, 3).unwrap();
        writer.put(3, &[3.0, 0.0, 4.0]).unwrap();
        writer.put(0, &[0.0, -2.0, 0.0]).unwrap();
        assert!(matches!(writer.put(1, &[f32::NAN, 1.0, 1.0]), Err(PutError::Bad(BadVector::NotFinite))));
        assert!(matches!(writer.put(1, &[0.0, 0.0, 0.0]), Err(PutError::Bad(BadVector::Zero))));
        assert!(matches!(
            writer.put(1, &[1.0, 1.0]),
            Err(PutError::Bad(BadVector::Dimensions { expected: 3, found: 2 }))
        ));
        assert!(matches!(writer.put(5, &[1.0, 1.0, 1.0]), Err(PutError::Io(_))));
        assert_eq!(writer.written(), 2);
        assert_eq!(writer.finish().unwrap(), 5 * 3 * 2);

        let file = VectorFile::open(&path, 5, 3).unwrap();
        let v = file.vector(3).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-3 && v[1] == 0.0 && (v[2] - 0.8).abs() < 1e-3, "{v:?}");
        assert_eq!(file.vector(0).unwrap(), vec![0.0, -1.0, 0.0]);
        for missing in [1, 2, 4, 5, 99] {
            assert!(file.vector(missing).is_none() && file.dot(missing, &[1.0, 0.0, 0.0]).is_none());
        }
        assert!((file.dot(3, &[0.6, 0.0, 0.8]).unwrap() - 1.0).abs() < 1e-3);
        assert!(VectorFile::open(&path, 6, 3).unwrap_err().to_string().contains("not 36"));

        // A new file over the old one: rows keep their vectors unless given new ones.
        let next = dir.path().join("next.f16");
        let mut writer = VectorFileWriter::create(&next, 5, 3).unwrap();
        writer.copy_from(&file).unwrap();
        assert_eq!(writer.written(), 2);
        writer.put(3, &[0.0, 0.0, 1.0]).unwrap();
        writer.put(4, &[1.0, 0.0, 0.0]).unwrap();
        assert_eq!(writer.written(), 3, "row 3 is counted once");
        writer.finish().unwrap();
        let next = VectorFile::open(&next, 5, 3).unwrap();
        assert_eq!(next.vector(0).unwrap(), vec![0.0, -1.0, 0.0]);
        assert_eq!(next.vector(3).unwrap(), vec![0.0, 0.0, 1.0]);
        assert!(next.vector(1).is_none() && next.vector(4).is_some());
        let mut other = VectorFileWriter::create(&dir.path().join("other.f16"), 4, 3).unwrap();
        assert!(other.copy_from(&next).is_err(), "another block's file");
    }
}
