//! Opening a block's index for search.

use std::path::{Path, PathBuf};

use tantivy::{Index, IndexReader, ReloadPolicy, Searcher};

use crate::directory::PublishedDirectory;
use crate::error::{IndexError, Result};
use crate::schema::{IndexFields, tokenizers};

/// The index of one block, opened for reading. Block indexes never change once written, so
/// one searcher serves for the life of the value.
pub struct BlockIndex {
    dir: PathBuf,
    index: Index,
    searcher: Searcher,
    _reader: IndexReader,
    mapped_files: u64,
}

impl BlockIndex {
    /// Opens the published index in `dir` and its searcher, read-only; an error if it is not
    /// an index with pairscope's schema.
    pub fn open(dir: &Path) -> Result<BlockIndex> {
        let directory = PublishedDirectory::open(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => IndexError::Damaged { path: dir.to_path_buf(), reason: e.to_string() },
            _ => IndexError::io(dir, e),
        })?;
        let mut index = Index::open(directory.clone()).map_err(|e| IndexError::tantivy(dir, e))?;
        index.set_tokenizers(tokenizers());
        if index.schema() != IndexFields::new().schema {
            return Err(IndexError::Schema(format!("{} does not have pairscope's index schema", dir.display())));
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| IndexError::tantivy(dir, e))?;
        let searcher = reader.searcher();
        let mapped_files = directory.mapped_files();
        Ok(BlockIndex { dir: dir.to_path_buf(), index, searcher, _reader: reader, mapped_files })
    }

    /// Mappings the index made when opened, of the process's `vm.max_map_count`: at most one
    /// (its bundle; a small one is read whole), or one per large file of an index of loose
    /// files.
    pub fn mapped_files(&self) -> u64 {
        self.mapped_files
    }

    /// The index directory, for errors that name it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The tantivy index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The searcher every query on this block runs on.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// Documents in the block (= rows of its parquet file).
    pub fn docs(&self) -> u64 {
        self.searcher.num_docs()
    }
}
