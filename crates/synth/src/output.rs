//! Files: parquet shards and `synth.json`, each written under a temporary name in the output
//! directory, synced, then renamed into place, so a killed run never leaves a half file
//! under a final name. `synth.json` is written last: a directory with parts and no
//! `synth.json` is an unfinished run.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use crate::columns::dictionary_columns;
use crate::{SynthError, SynthSchema};

/// The name of shard `index`.
pub(crate) fn part_name(index: u64) -> String {
    format!("part-{index:05}.parquet")
}

/// The shard index a file name stands for, if it is a part name.
fn part_index(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    if digits.len() < 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) const MANIFEST: &str = "synth.json";

/// Rows per row group: about 10 MB of text, what LAION's own files hold.
const ROW_GROUP_ROWS: usize = 100_000;

/// Makes `dir` ready for a run of `shards` parts: creates it, removes an old `synth.json`
/// (the parts it described are about to be replaced) and the temporary files of a killed
/// run, and refuses a directory holding a part this run would not replace, so one directory
/// never mixes two runs.
pub(crate) fn prepare_dir(dir: &Path, shards: u64) -> Result<(), SynthError> {
    let io = |source| SynthError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(index) = part_index(name)
            && index >= shards
        {
            return Err(SynthError::StalePart { dir: dir.to_path_buf(), file: name.to_owned() });
        }
        if is_temp_name(name) {
            leftovers.push(entry.path());
        }
    }
    for path in leftovers {
        std::fs::remove_file(&path).map_err(|source| SynthError::Io { path: path.clone(), source })?;
    }
    let manifest = dir.join(MANIFEST);
    match std::fs::remove_file(&manifest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SynthError::Io { path: manifest, source }),
    }
}

/// Names [`temp_in`] gives: `.part-00000.parquet.XXXXXX.tmp`, `.synth.json.XXXXXX.tmp`.
fn is_temp_name(name: &str) -> bool {
    name.ends_with(".tmp") && (name.starts_with(".part-") || name.starts_with(&format!(".{MANIFEST}.")))
}

fn temp_in(dir: &Path, name: &str) -> Result<NamedTempFile, SynthError> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|source| SynthError::Io { path: dir.join(name), source })
}

/// Syncs `tmp` and renames it to `dir/name`.
fn commit(tmp: NamedTempFile, dir: &Path, name: &str) -> Result<PathBuf, SynthError> {
    let path = dir.join(name);
    tmp.as_file().sync_all().map_err(|source| SynthError::Io { path: path.clone(), source })?;
    tmp.persist(&path).map_err(|e| SynthError::Io { path: path.clone(), source: e.error })?;
    Ok(path)
}

/// A parquet part being written.
pub(crate) struct PartWriter {
    tmp: NamedTempFile,
    name: String,
    dir: PathBuf,
    writer: ArrowWriter<File>,
}

impl PartWriter {
    pub(crate) fn create(
        dir: &Path,
        index: u64,
        schema: SynthSchema,
        arrow: &arrow::datatypes::SchemaRef,
        seed: u64,
    ) -> Result<PartWriter, SynthError> {
        let name = part_name(index);
        let tmp = temp_in(dir, &name)?;
        let parquet_err = |source| SynthError::Parquet { path: dir.join(part_name(index)), source };
        let file = tmp.as_file().try_clone().map_err(|source| SynthError::Io { path: dir.join(&name), source })?;
        let mut props = WriterProperties::builder()
            // Snappy, as LAION's own files: the fastest codec here (zstd level 1 writes files a
            // quarter smaller but costs a tenth of the throughput).
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            // URLs, captions, ids and scores are nearly all distinct: a dictionary would be
            // built only to be thrown away.
            .set_dictionary_enabled(false)
            // Column-chunk statistics, as pyarrow writes them; page-level ones cost time and
            // nothing reads them here.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "pairscope.synth".to_owned(),
                format!(
                    "{{\"generator_version\":\"{}\",\"schema\":\"{schema}\",\"seed\":{seed},\"part\":{index}}}",
                    env!("CARGO_PKG_VERSION")
                ),
            )]));
        for column in dictionary_columns(schema) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*column), true);
        }
        let writer = ArrowWriter::try_new(file, arrow.clone(), Some(props.build())).map_err(parquet_err)?;
        Ok(PartWriter { tmp, name, dir: dir.to_path_buf(), writer })
    }

    pub(crate) fn write(&mut self, batch: &arrow::array::RecordBatch) -> Result<(), SynthError> {
        self.writer.write(batch).map_err(|source| SynthError::Parquet { path: self.dir.join(&self.name), source })
    }

    /// Finishes the file and moves it to its final name.
    pub(crate) fn finish(self) -> Result<PathBuf, SynthError> {
        let path = self.dir.join(&self.name);
        self.writer.close().map_err(|source| SynthError::Parquet { path: path.clone(), source })?;
        commit(self.tmp, &self.dir, &self.name)
    }
}

/// The record of a run, written to `synth.json` beside the parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthManifest {
    /// Always `pairscope-synth`.
    pub generator: String,
    /// The crate version that wrote the files: the same options give the same bytes only
    /// from the same version.
    pub generator_version: String,
    /// What determines the bytes. (The thread count does not, so it is not recorded.)
    pub options: ManifestOptions,
    /// Rows written, in all files together.
    pub rows: u64,
    /// In order: row `i` of the run is in the first file whose cumulative count exceeds `i`.
    pub files: Vec<ManifestFile>,
    /// Per built-in list spec (`builtin:artists`, `builtin:characters`).
    pub injections: BTreeMap<String, ListInjections>,
    /// Captions carrying a decoy, by kind (`suffixed`, `prefixed`, `letter_changed`,
    /// `letter_added`, `joined`).
    pub decoys: BTreeMap<String, u64>,
}

/// The options of a run that determine its bytes ([`crate::SynthOptions`] less the threads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOptions {
    /// Rows asked for.
    pub rows: u64,
    /// The seed.
    pub seed: u64,
    /// The layout's name ([`crate::SynthSchema::name`]).
    pub schema: String,
    /// Rows per file.
    pub rows_per_shard: u64,
}

/// One parquet file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name inside the output directory.
    pub name: String,
    /// Rows in it.
    pub rows: u64,
}

/// What was injected from one list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListInjections {
    /// [`pairscope_text::names::NameList::content_hash`] of the list used.
    pub content_hash: String,
    /// Share of captions a mention was injected into (before repeats).
    pub target_share: f64,
    /// Captions carrying an injected mention of one of the list's entities.
    pub captions: u64,
    /// Entity display name → captions into which it was injected. Entities never injected
    /// are absent. A lower bound of the true mention count: ordinary words can be names.
    pub entities: BTreeMap<String, u64>,
}

impl SynthManifest {
    /// Reads `dir/synth.json`.
    pub fn load(dir: &Path) -> Result<SynthManifest, SynthError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|source| SynthError::Io { path: path.clone(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| SynthError::Manifest { path, source })
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<PathBuf, SynthError> {
        let path = dir.join(MANIFEST);
        let mut json =
            serde_json::to_vec_pretty(self).map_err(|source| SynthError::Manifest { path: path.clone(), source })?;
        json.push(b'\n');
        let mut tmp = temp_in(dir, MANIFEST)?;
        tmp.write_all(&json).map_err(|source| SynthError::Io { path: path.clone(), source })?;
        commit(tmp, dir, MANIFEST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        assert_eq!(part_name(3), "part-00003.parquet");
        assert_eq!(part_index("part-00003.parquet"), Some(3));
        assert_eq!(part_index(&part_name(123_456)), Some(123_456));
        assert_eq!(part_index("part-3.parquet"), None);
        assert_eq!(part_index(".part-00003.parquet.abc.tmp"), None);
    }

    #[test]
    fn stale_parts_are_refused_and_old_manifest_and_temporaries_removed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str| std::fs::write(dir.path().join(name), b"x").unwrap_or_else(|e| panic!("{e}"));
        write("part-00002.parquet");
        write(MANIFEST);
        let temp = temp_in(dir.path(), &part_name(0)).unwrap_or_else(|e| panic!("{e}"));
        let (_, temp_path) = temp.keep().unwrap_or_else(|e| panic!("{e}"));
        write("notes.tmp");
        assert!(matches!(prepare_dir(dir.path(), 2), Err(SynthError::StalePart { .. })));
        prepare_dir(dir.path(), 3).unwrap_or_else(|e| panic!("{e}"));
        assert!(!dir.path().join(MANIFEST).exists());
        assert!(!temp_path.exists(), "a killed run's temporary file is removed");
        assert!(dir.path().join("notes.tmp").exists(), "other files are left alone");
    }
}
