//! A fetch output's images by dataset row id: what `serve --images DIR` shows instead of
//! hotlinking.
//!
//! [`LocalImages::open`] reads the output's finished shards once: each shard's parquet file
//! (which samples are `ok`, and their row ids) and where each image is (a member of
//! `NNNNN.tar`, found by walking the tar's headers with seeks, or `NNNNN/KEY.jpg`). Samples
//! without a row id (fetched `--from` a plain file) cannot be matched to a dataset row and are
//! counted apart. Unfinished shards are not read.
//!
//! Memory: one entry per image with a row id (about 50 bytes); [`LocalImages::get`] reads one
//! image, of at most [`MAX_IMAGE_BYTES`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::shard::{self, ShardError, shard_name};

/// The largest image [`LocalImages::get`] reads (a kept image is a re-encoded JPEG of the
/// resize target's size: far smaller).
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Where one image is.
#[derive(Debug, Clone)]
enum Location {
    /// Bytes `offset..offset + len` of shard `shard`'s tar.
    Tar { shard: u32, offset: u64, len: u64 },
    /// `NNNNN/KEY.jpg`.
    File { shard: u32, key: Box<str> },
}

/// The images of one fetch output, by row id.
#[derive(Debug)]
pub struct LocalImages {
    out: PathBuf,
    images: HashMap<i64, Location>,
    without_row_id: u64,
}

impl LocalImages {
    /// Indexes the finished shards of the fetch output `out`.
    pub fn open(out: &Path) -> Result<LocalImages, ShardError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ShardError::Io { path, source }
        };
        let mut shards = Vec::new();
        for entry in std::fs::read_dir(out).map_err(io_error(out))? {
            let name = entry.map_err(io_error(out))?.file_name();
            if let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_suffix(pairscope_model::fetched::STATS_SUFFIX))
                .and_then(|n| n.parse().ok())
            {
                shards.push(number);
            }
        }
        if shards.is_empty() {
            return Err(ShardError::Io {
                path: out.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    "not a fetch output: it has no finished shard (NNNNN_stats.json)",
                ),
            });
        }
        shards.sort_unstable();
        let mut local = LocalImages { out: out.to_path_buf(), images: HashMap::new(), without_row_id: 0 };
        for shard in shards {
            local.add_shard(shard)?;
        }
        Ok(local)
    }

    fn add_shard(&mut self, shard: u32) -> Result<(), ShardError> {
        let name = shard_name(u64::from(shard));
        let samples = shard::read_parquet(&self.out.join(format!("{name}.parquet")))?;
        let mut row_of_key: HashMap<String, i64> = HashMap::new();
        for sample in samples.into_iter().filter(|s| s.status == crate::run::statuses::OK) {
            match sample.row_id {
                Some(row_id) => {
                    row_of_key.insert(sample.key, row_id);
                }
                None => self.without_row_id += 1,
            }
        }
        let tar = self.out.join(format!("{name}.tar"));
        // A webdataset shard has its tar; a files shard its directory; a parquet one neither.
        match tar.is_file() {
            true => {
                let io_error = |source| ShardError::Io { path: tar.clone(), source };
                let mut archive = tar::Archive::new(File::open(&tar).map_err(io_error)?);
                for member in archive.entries_with_seek().map_err(io_error)? {
                    let member = member.map_err(io_error)?;
                    let path = member.path().map_err(io_error)?.to_string_lossy().into_owned();
                    let Some(row_id) = path.strip_suffix(".jpg").and_then(|key| row_of_key.get(key)) else { continue };
                    let location = Location::Tar { shard, offset: member.raw_file_position(), len: member.size() };
                    self.images.insert(*row_id, location);
                }
            }
            false => {
                for (key, row_id) in row_of_key {
                    if self.out.join(&name).join(format!("{key}.jpg")).is_file() {
                        self.images.insert(row_id, Location::File { shard, key: key.into() });
                    }
                }
            }
        }
        Ok(())
    }

    /// Images that can be shown (fetched, kept, with a row id).
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Images kept whose sample has no row id (fetched `--from` a plain file): never shown.
    pub fn without_row_id(&self) -> u64 {
        self.without_row_id
    }

    /// Whether row `row_id` has an image.
    pub fn contains(&self, row_id: i64) -> bool {
        self.images.contains_key(&row_id)
    }

    /// The JPEG of row `row_id`, if it has one.
    pub fn get(&self, row_id: i64) -> Result<Option<Vec<u8>>, ShardError> {
        let Some(location) = self.images.get(&row_id) else { return Ok(None) };
        let (path, offset, len) = match location {
            Location::Tar { shard, offset, len } => {
                (self.out.join(format!("{}.tar", shard_name(u64::from(*shard)))), *offset, Some(*len))
            }
            Location::File { shard, key } => {
                (self.out.join(shard_name(u64::from(*shard))).join(format!("{key}.jpg")), 0, None)
            }
        };
        let io_error = |source| ShardError::Io { path: path.clone(), source };
        let mut file = File::open(&path).map_err(io_error)?;
        let len = match len {
            Some(len) => len,
            None => file.metadata().map_err(io_error)?.len(),
        };
        if len > MAX_IMAGE_BYTES {
            return Err(io_error(io::Error::other(format!(
                "an image of {len} bytes is over the {MAX_IMAGE_BYTES} limit"
            ))));
        }
        file.seek(SeekFrom::Start(offset)).map_err(io_error)?;
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut bytes).map_err(io_error)?;
        if bytes.len() as u64 != len {
            return Err(io_error(io::Error::new(io::ErrorKind::UnexpectedEof, "the image is cut short")));
        }
        Ok(Some(bytes))
    }
}
