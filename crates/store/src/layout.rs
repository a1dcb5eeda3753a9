//! Paths inside a dataset directory.

use std::path::{Path, PathBuf};

use pairscope_io::path::resolve;

/// The paths of a dataset directory.
/// The paths of a dataset's files, from its root directory (see the crate doc).
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the dataset at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The dataset's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `CURRENT`: the committed version's number, replaced atomically at each commit.
    pub fn current(&self) -> PathBuf {
        self.root.join("CURRENT")
    }

    /// `LOCK`: held (flock) by the one writer.
    pub fn lock(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    /// `versions/`: one manifest per version.
    pub fn versions(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// `versions/vNNNNNNNN.json`: the manifest of `version`.
    pub fn manifest(&self, version: u64) -> PathBuf {
        self.versions().join(format!("v{version:08}.json"))
    }

    /// `sources/`: one directory per source (and writers' temporaries).
    pub fn sources(&self) -> PathBuf {
        self.root.join("sources")
    }

    /// The directory of a source, named by the first 16 hex digits of its content hash.
    pub fn source_dir(&self, source_id: &str) -> PathBuf {
        self.root.join(source_dir_name(source_id))
    }

    /// The parquet file of block `block` of a source, relative to the dataset directory.
    pub fn block_file(source_id: &str, block: u64) -> String {
        format!("{}/{}", source_dir_name(source_id), block_file_name(block))
    }

    /// The full-text index directory of block `block` of a source, beside its parquet file,
    /// relative to the dataset directory.
    pub fn block_index(source_id: &str, block: u64) -> String {
        format!("{}/{}", source_dir_name(source_id), block_index_name(block))
    }

    /// `overlays/`: the blocks' overlays.
    pub fn overlays(&self) -> PathBuf {
        self.root.join("overlays")
    }

    /// The overlay of block `block` of a source that version `written_in` wrote, relative to the
    /// dataset directory. The version in the name keeps every overlay file written once.
    pub fn overlay_file(source_id: &str, block: u64, written_in: u64) -> String {
        format!("overlays/{}-{:05}-v{written_in:08}.columnar", short_source_id(source_id), block)
    }

    /// `vectors/`: the blocks' embeddings, a directory per kind.
    pub fn vectors(&self) -> PathBuf {
        self.root.join("vectors")
    }

    /// The vector file of kind `kind` of block `block` of a source that version `written_in`
    /// wrote, relative to the dataset directory. The version in the name keeps every vector
    /// file written once.
    pub fn vector_file(kind: &str, source_id: &str, block: u64, written_in: u64) -> String {
        format!("vectors/{kind}/{}-{:05}-v{written_in:08}.f16", short_source_id(source_id), block)
    }

    /// The trained model (coarse quantizer and codebooks) of the kind `kind` vector index that
    /// version `trained_in` trained, relative to the dataset directory.
    pub fn vector_model(kind: &str, trained_in: u64) -> String {
        format!("vectors/{kind}/ivfpq-v{trained_in:08}.trained")
    }

    /// The inverted lists of the kind `kind` vectors of block `block` of a source that version
    /// `written_in` wrote, relative to the dataset directory.
    pub fn vector_lists(kind: &str, source_id: &str, block: u64, written_in: u64) -> String {
        format!("vectors/{kind}/{}-{:05}-v{written_in:08}.ivfpq", short_source_id(source_id), block)
    }

    /// Whether `dir` holds a dataset: a committed one (a `CURRENT`), or one its first ingest is
    /// creating (`LOCK` beside `sources/`). Nothing but pairscope's writer may write there.
    pub fn holds_dataset(dir: &Path) -> bool {
        let layout = Layout::new(dir);
        layout.current().is_file() || (layout.lock().is_file() && layout.sources().is_dir())
    }
}

/// `block-NNNNN.parquet`, the name of block `block`'s parquet file in its source's directory.
pub(crate) fn block_file_name(block: u64) -> String {
    format!("block-{block:05}.parquet")
}

/// `index-NNNNN`, the name of block `block`'s index directory in its source's directory.
pub(crate) fn block_index_name(block: u64) -> String {
    format!("index-{block:05}")
}

/// `sources/<short id>`.
fn source_dir_name(source_id: &str) -> String {
    format!("sources/{}", short_source_id(source_id))
}

/// The first 16 hex digits of a source id: how directory names and messages show a source.
pub fn short_source_id(source_id: &str) -> &str {
    source_id.get(..16).unwrap_or(source_id)
}

/// The dataset directory `path` is or lies in (after [`resolve`]), if any.
pub fn dataset_containing(path: &Path) -> Option<PathBuf> {
    let resolved = resolve(path).ok()?;
    resolved.ancestors().find(|dir| Layout::holds_dataset(dir)).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn the_dataset_a_path_lies_in_is_found_through_symlinks_and_dotdot() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("ds")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("link")).unwrap();
        fs::write(root.join("ds/CURRENT"), "1\n").unwrap();
        assert_eq!(dataset_containing(&root.join("link/../../ds/sources/x")), Some(root.join("ds")));
        assert_eq!(dataset_containing(&root.join("a/b")), None);
    }
}
