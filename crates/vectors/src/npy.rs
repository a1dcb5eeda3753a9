//! clip-retrieval's embedding files: `.npy` matrices of `N × D` float16 or float32, little-endian,
//! C order (LAION-5B: D = 768, CLIP ViT-L/14; LAION-400M: 512, ViT-B/32).
//!
//! [`NpyMatrix::open`] reads the header with `npyz` and then checks every claim it makes
//! against the file before anything is read: the magic and version, a header length inside the
//! file (and at most [`MAX_HEADER_BYTES`], so a lying header allocates nothing), a 2-D shape,
//! C order, a float16 or float32 little-endian dtype, and a file exactly as long as header plus
//! `N × D` values (a truncated download or a header that lies is refused, naming the file and
//! both lengths). Rows are then read in chunks ([`NpyMatrix::read_rows`]): memory is the chunk
//! the caller asks for, whatever the file's size.

use std::fs::File;
use std::io::{self, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The longest header accepted. numpy writes headers of 128 bytes or a few multiples of 64;
/// anything longer is not an embedding file.
pub const MAX_HEADER_BYTES: u64 = 1 << 16;

/// The element type of an embedding matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE half precision, `<f2` (clip-retrieval's default).
    F16,
    /// IEEE single precision, `<f4`.
    F32,
}

impl Dtype {
    /// Bytes per value.
    pub fn bytes(self) -> u64 {
        match self {
            Dtype::F16 => 2,
            Dtype::F32 => 4,
        }
    }
}

/// Why a `.npy` file is not an embedding matrix we read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file is not an embedding matrix as described (the reason says which claim failed).
    #[error("{}: not an embedding matrix: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the values found.
        reason: String,
    },
}

/// An open embedding matrix (see the module doc).
#[derive(Debug)]
pub struct NpyMatrix {
    path: PathBuf,
    file: File,
    dtype: Dtype,
    rows: u64,
    dim: usize,
    data_offset: u64,
}

impl NpyMatrix {
    /// Opens `path` and checks its header against the file (see the module doc).
    pub fn open(path: &Path) -> Result<NpyMatrix, NpyError> {
        Self::open_shaped(path, false)
    }

    /// The one vector of the file at `path`: an array of shape `(D,)` (what `numpy.save` of
    /// one embedding writes) or `(1, D)`, checked as [`NpyMatrix::open`] checks a matrix.
    pub fn read_vector(path: &Path) -> Result<Vec<f32>, NpyError> {
        let matrix = Self::open_shaped(path, true)?;
        if matrix.rows != 1 {
            return Err(NpyError::Invalid {
                path: path.to_path_buf(),
                reason: format!("{} vectors, not one", matrix.rows),
            });
        }
        let mut vector = Vec::new();
        matrix.read_rows(0, 1, &mut vector)?;
        Ok(vector)
    }

    /// [`NpyMatrix::open`], taking a 1-D array as one row when `one_row` is set.
    fn open_shaped(path: &Path, one_row: bool) -> Result<NpyMatrix, NpyError> {
        let io_error = |source| NpyError::Io { path: path.to_path_buf(), source };
        let invalid = |reason: String| NpyError::Invalid { path: path.to_path_buf(), reason };
        let mut file = File::open(path).map_err(io_error)?;
        let file_len = file.metadata().map_err(io_error)?.len();
        check_preamble(&file, file_len).map_err(invalid)?;
        let header = npyz::NpyHeader::from_reader(&mut file).map_err(|e| invalid(format!("its header: {e}")))?;
        let data_offset = file.stream_position().map_err(io_error)?;
        let dtype = match header.dtype().descr().as_str() {
            "'<f2'" => Dtype::F16,
            "'<f4'" => Dtype::F32,
            other => {
                return Err(invalid(format!("dtype {other}, not float16 or float32 little-endian ('<f2', '<f4')")));
            }
        };
        let (rows, dim) = match header.shape() {
            [rows, dim] => (*rows, *dim),
            [dim] if one_row => (1, *dim),
            shape => return Err(invalid(format!("shape {shape:?}, not 2-D (rows × dimensions)"))),
        };
        if header.order() != npyz::Order::C {
            return Err(invalid("Fortran (column-major) order; embeddings are written in C order".into()));
        }
        if dim == 0 {
            return Err(invalid("0 dimensions".into()));
        }
        let dim = usize::try_from(dim).map_err(|_| invalid(format!("{dim} dimensions")))?;
        let expected = rows
            .checked_mul(dim as u64)
            .and_then(|n| n.checked_mul(dtype.bytes()))
            .and_then(|n| n.checked_add(data_offset))
            .ok_or_else(|| invalid(format!("shape ({rows}, {dim}) is larger than any file")))?;
        if expected != file_len {
            return Err(invalid(format!(
                "the header says ({rows}, {dim}) {dtype:?} values, {expected} bytes with the header, but the file \
                 has {file_len} bytes ({})",
                if file_len < expected { "truncated?" } else { "trailing bytes" }
            )));
        }
        Ok(NpyMatrix { path: path.to_path_buf(), file, dtype, rows, dim, data_offset })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows (vectors).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Dimensions of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The stored element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Rows `start .. start + count` as float32, row after row, into `out` (replacing its
    /// content; `count × dim` values). Asking past the last row is an error.
    pub fn read_rows(&self, start: u64, count: usize, out: &mut Vec<f32>) -> Result<(), NpyError> {
        if start.checked_add(count as u64).is_none_or(|end| end > self.rows) {
            return Err(NpyError::Invalid {
                path: self.path.clone(),
                reason: format!("rows {start}..{} asked of {} rows", start.saturating_add(count as u64), self.rows),
            });
        }
        let values = count * self.dim;
        let mut bytes = vec![0u8; values * self.dtype.bytes() as usize];
        let offset = self.data_offset + start * self.dim as u64 * self.dtype.bytes();
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(|source| NpyError::Io { path: self.path.clone(), source })?;
        out.clear();
        out.reserve(values);
        match self.dtype {
            Dtype::F16 => out.extend(bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())),
            Dtype::F32 => out.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        }
        Ok(())
    }
}

/// Checks the magic, the version and that the header's length fits the file, before `npyz`
/// reads (and allocates) the header.
fn check_preamble(file: &File, file_len: u64) -> Result<(), String> {
    let mut preamble = [0u8; 12];
    // Read in place: the cursor stays at the start, where npyz reads the header from.
    let read = file.read_at(&mut preamble, 0).map_err(|e| e.to_string())?;
    if read < 10 || &preamble[..6] != b"\x93NUMPY" {
        return Err("no .npy magic (\\x93NUMPY) at its start".into());
    }
    let (header_len, preamble_len) = match preamble[6] {
        1 => (u64::from(u16::from_le_bytes([preamble[8], preamble[9]])), 10),
        2 | 3 if read == 12 => {
            (u64::from(u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]])), 12)
        }
        major => return Err(format!(".npy format version {major}.{}, not 1, 2 or 3", preamble[7])),
    };
    if header_len > MAX_HEADER_BYTES || preamble_len + header_len > file_len {
        return Err(format!("a header of {header_len} bytes in a file of {file_len}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .npy file as numpy writes it (format 1.0, header padded to a multiple of 64).
    pub(crate) fn npy_bytes(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn float16_and_float32_matrices_read_back_row_by_row() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
        let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16_bytes: Vec<u8> = values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        for (descr, data, dtype) in [("<f4", &f32_bytes, Dtype::F32), ("<f2", &f16_bytes, Dtype::F16)] {
            let path = write(dir.path(), "m.npy", &npy_bytes(descr, "(4, 3)", false, data));
            let matrix = NpyMatrix::open(&path).unwrap();
            assert_eq!((matrix.rows(), matrix.dim(), matrix.dtype()), (4, 3, dtype));
            let mut out = Vec::new();
            matrix.read_rows(1, 2, &mut out).unwrap();
            assert_eq!(out, values[3..9].to_vec(), "{descr}");
            assert!(matrix.read_rows(3, 2, &mut out).is_err(), "past the last row");
        }
        // One vector: (D,) as numpy.save writes one embedding, or (1, D); not a matrix.
        for shape in ["(3,)", "(1, 3)"] {
            let path = write(dir.path(), "v.npy", &npy_bytes("<f4", shape, false, &f32_bytes[..12]));
            assert_eq!(NpyMatrix::read_vector(&path).unwrap(), values[..3].to_vec(), "{shape}");
        }
        let path = write(dir.path(), "v.npy", &npy_bytes("<f4", "(4, 3)", false, &f32_bytes));
        assert!(NpyMatrix::read_vector(&path).unwrap_err().to_string().contains("4 vectors, not one"));
    }

    #[test]
    fn every_lie_of_a_header_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![0u8; 4 * 3 * 4];
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("truncated", npy_bytes("<f4", "(4, 3)", false, &data[..40]), "truncated?"),
            ("trailing", npy_bytes("<f4", "(4, 3)", false, &[data.clone(), vec![0; 4]].concat()), "trailing bytes"),
            ("lying shape", npy_bytes("<f4", "(5, 3)", false, &data), "truncated?"),
            ("float64", npy_bytes("<f8", "(2, 3)", false, &data), "dtype '<f8'"),
            ("big-endian", npy_bytes(">f4", "(4, 3)", false, &data), "dtype '>f4'"),
            ("1-D", npy_bytes("<f4", "(12,)", false, &data), "not 2-D"),
            ("fortran", npy_bytes("<f4", "(4, 3)", true, &data), "Fortran"),
            ("no dims", npy_bytes("<f4", "(4, 0)", false, &[]), "0 dimensions"),
            ("huge", npy_bytes("<f4", "(18446744073709551615, 2)", false, &data), "larger than any file"),
            ("not npy", b"PK\x03\x04 a zip file".to_vec(), "no .npy magic"),
            ("header past the end", b"\x93NUMPY\x01\x00\xff\xff{'descr'".to_vec(), "a header of 65535 bytes"),
            ("version 9", b"\x93NUMPY\x09\x00\x10\x00{}".to_vec(), "version 9.0"),
        ];
        for (name, bytes, expected) in cases {
            let path = write(dir.path(), &format!("{name}.npy"), &bytes);
            let error = NpyMatrix::open(&path).expect_err(name).to_string();
            assert!(error.contains(&format!("{name}.npy")) && error.contains(expected), "{name}: {error}");
        }
    }
}
