//! The store's bookkeeping of vector files (`DatasetWriter::commit_vectors`): a set's files are
//! carried by later commits, dropped with their source, replaced block by block by a later set
//! of the same kind, and unreferenced files are removed; a manifest that lies about them is
//! refused when the version is opened.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;
use std::sync::Arc;

use arrow::array::StringArray;
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_store::{BlockFile, Dataset, DatasetWriter, VectorSet};
use pairscope_testkit::write_parquet;
use pairscope_vectors::store::{VectorFile, VectorFileWriter};

const DIM: usize = 4;

/// Ingests a source of `n` rows named `name` into `dir/ds`.
fn add_source(dir: &Path, name: &str, n: usize) {
    let source = dir.join(name);
    let urls: Vec<String> = (0..n).map(|i| format!("https://{name}.example/{i}.jpg")).collect();
    let captions: Vec<String> = (0..n).map(|i| format!("{name} {i}")).collect();
    write_parquet(
        &source,
        vec![("url", Arc::new(StringArray::from(urls))), ("caption", Arc::new(StringArray::from(captions)))],
    );
    ingest(&dir.join("ds"), &[source.display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
}

/// Commits a `kind` set with a vector for every `step`-th row of every block of the version;
/// row offset `o` gets the vector (o + 1, seed, 0, 0) normalised.
fn commit_vectors(ds: &Path, kind: &str, step: u64, seed: f32) {
    let dataset = Dataset::open(ds).unwrap();
    let writer = DatasetWriter::open(ds).unwrap();
    let mut files = Vec::new();
    for source in &dataset.manifest().sources {
        for block in &source.files {
            let (relative, path) = writer.vector_path(kind, &source.id, block.block).unwrap();
            let mut file = VectorFileWriter::create(&path, block.rows, DIM).unwrap();
            for offset in (0..block.rows).step_by(step as usize) {
                file.put(offset, &[offset as f32 + 1.0, seed, 0.0, 0.0]).unwrap();
            }
            let rows = file.written();
            let bytes = file.finish().unwrap();
            files.push(BlockFile {
                source: source.id.clone(),
                block: block.block,
                written_in: dataset.manifest().version + 1,
                path: relative,
                rows,
                bytes,
            });
        }
    }
    let set = VectorSet {
        kind: kind.into(),
        model: "test".into(),
        dim: DIM as u32,
        join_key: "url+caption".into(),
        files,
        index: None,
    };
    writer.commit_vectors(set).unwrap();
}

fn vector_files(ds: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(&ds.join("vectors"));
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path().display().to_string()] })
        .collect()
}

#[test]
fn vector_files_follow_their_blocks_through_commits_and_garbage_collection() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    add_source(dir.path(), "a.parquet", 10);
    commit_vectors(&ds, "image", 2, 0.0);
    let dataset = Dataset::open(&ds).unwrap();
    let set = &dataset.manifest().vector_sets[0];
    assert_eq!((set.kind.as_str(), set.dim, set.files.len(), set.files[0].rows), ("image", DIM as u32, 1, 5));
    let file = VectorFile::open(&ds.join(&set.files[0].path), 10, DIM).unwrap();
    assert!(file.vector(0).is_some() && file.vector(1).is_none() && file.vector(8).is_some());

    // Another source: the set is carried; the new source's block has no file.
    add_source(dir.path(), "b.parquet", 6);
    let dataset = Dataset::open(&ds).unwrap();
    assert_eq!(dataset.manifest().vector_sets[0].files.len(), 1);

    // A text set and a new image set covering both sources: the image file of a.parquet is
    // replaced (the old one goes when no kept version lists it).
    commit_vectors(&ds, "text", 3, 1.0);
    commit_vectors(&ds, "image", 1, 2.0);
    let dataset = Dataset::open(&ds).unwrap();
    let kinds: Vec<(&str, usize)> =
        dataset.manifest().vector_sets.iter().map(|s| (s.kind.as_str(), s.files.len())).collect();
    assert_eq!(kinds, vec![("image", 2), ("text", 2)]);
    let image = &dataset.manifest().vector_sets[0];
    assert!(image.files.iter().all(|f| f.written_in == dataset.manifest().version));
    // On disk: the files of this version and the previous one (whose readers may still be
    // reading), nothing else.
    let listed = |manifests: &[&pairscope_store::Manifest]| -> Vec<String> {
        manifests
            .iter()
            .flat_map(|m| &m.vector_sets)
            .flat_map(|s| &s.files)
            .map(|f| ds.join(&f.path).display().to_string())
            .collect()
    };
    let previous_path = ds.join("versions").join(format!("v{:08}.json", dataset.manifest().version - 1));
    let previous = pairscope_store::Manifest::read(&previous_path).unwrap();
    let kept = listed(&[dataset.manifest(), &previous]);
    assert_eq!(vector_files(&ds).len(), 5, "a's first image file, then both sources' image and text files");
    for file in vector_files(&ds) {
        assert!(kept.contains(&file), "{file} is not referenced by the last two versions");
    }

    // Removing source a drops its files from both sets; one commit later they are deleted.
    let a = dataset.manifest().sources.iter().find(|s| s.path.ends_with("a.parquet")).unwrap().id.clone();
    let (manifest, _) = DatasetWriter::open(&ds).unwrap().remove_sources(std::slice::from_ref(&a)).unwrap();
    assert!(manifest.vector_sets.iter().all(|s| s.files.len() == 1 && s.files[0].source != a));
    add_source(dir.path(), "c.parquet", 3);
    let dataset = Dataset::open(&ds).unwrap();
    let mut current = listed(&[dataset.manifest()]);
    current.sort();
    assert_eq!(vector_files(&ds), current, "only b's image and text files are left");
    assert_eq!(vector_files(&ds).len(), 2);
}

#[test]
fn a_manifest_that_lies_about_vector_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    add_source(dir.path(), "a.parquet", 10);
    commit_vectors(&ds, "image", 1, 0.0);
    let version = Dataset::open(&ds).unwrap().manifest().version;
    let manifest_path = ds.join("versions").join(format!("v{version:08}.json"));
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    for (lie, expected) in [
        (text.replace("\"bytes\": 80", "\"bytes\": 81"), "vector_sets[0].files[0].bytes"),
        (text.replace("\"kind\": \"image\"", "\"kind\": \"audio\""), "vector_sets[0].kind"),
        (text.replace("\"dim\": 4", "\"dim\": 0"), "vector_sets[0].dim"),
    ] {
        assert_ne!(lie, text, "the lie for {expected} changed nothing");
        std::fs::write(&manifest_path, &lie).unwrap();
        let Err(error) = Dataset::open(&ds) else { panic!("a lying manifest ({expected}) was accepted") };
        let error = error.to_string();
        assert!(error.contains(expected), "{expected}: {error}");
    }
    std::fs::write(&manifest_path, &text).unwrap();
    assert!(Dataset::open(&ds).is_ok());
}
