//! `ingest --embeddings`: clip-retrieval's layout written by numpy and pyarrow (float16 and
//! float32 matrices), and parquet files with a vector column, attached to the rows they belong
//! to; every refusal leaves the dataset at its version.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::StringArray;
use pairscope_ingest::embeddings::EmbeddingOptions;
use pairscope_ingest::{IngestOptions, ingest, ingest_embeddings};
use pairscope_model::NoProgress;
use pairscope_store::Dataset;
use pairscope_testkit::{numpy_python, write_parquet};
use pairscope_vectors::store::VectorFile;

const DIM: usize = 8;

/// Row `i`'s url and caption (row 7's caption is null: ingest skips it; rows 20 and 21 are the
/// same pair).
fn pair(i: usize) -> (String, Option<String>) {
    let i = if i == 21 { 20 } else { i };
    (format!("https://img.example/{i}.jpg"), (i != 7).then(|| format!("caption {i}")))
}

/// Row `i`'s vector, before normalisation, as the python below computes it.
fn vector(i: usize) -> Vec<f32> {
    (0..DIM).map(|d| ((i * 7 + d * 3) % 11) as f32 - 4.5 + if d == 0 { i as f32 } else { 0.0 }).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

/// A dataset of `n` rows ingested from one source.
fn dataset(dir: &Path, n: usize) -> PathBuf {
    let source = dir.join("source.parquet");
    let (urls, captions): (Vec<String>, Vec<Option<String>>) = (0..n).map(pair).unzip();
    let ids: Vec<String> = (0..n).map(|i| format!("id-{i}")).collect();
    write_parquet(
        &source,
        vec![
            ("url", Arc::new(StringArray::from(urls))),
            ("caption", Arc::new(StringArray::from(captions))),
            ("SAMPLE_ID", Arc::new(StringArray::from(ids))),
        ],
    );
    let ds = dir.join("ds");
    ingest(&ds, &[source.display().to_string()], &IngestOptions::default(), &NoProgress).unwrap();
    ds
}

/// Runs `script` with numpy and pyarrow, or `None` (skip) without them.
fn python(script: &str) -> Option<()> {
    let python = numpy_python()?;
    let status = Command::new(python).args(["-c", script]).status().unwrap();
    assert!(status.success(), "the python writing the inputs failed");
    Some(())
}

/// The python that writes clip-retrieval's layout in `dir`: `files` metadata/matrix pairs,
/// each `(number, dtype, rows)` with `rows` the row numbers whose pair and vector it holds
/// (`-1`: a key no row has).
fn clip_retrieval_script(dir: &Path, files: &[(usize, &str, Vec<i64>)]) -> String {
    let mut script = format!(
        "import numpy as np, pyarrow as pa, pyarrow.parquet as pq, os\n\
         d = {dir:?}\nos.makedirs(d + '/img_emb', exist_ok=True)\nos.makedirs(d + '/metadata', exist_ok=True)\n\
         def vec(i):\n    v = [((i * 7 + k * 3) % 11) - 4.5 for k in range({DIM})]\n    v[0] += i\n    return v\n\
         def pair(i):\n    j = 20 if i == 21 else i\n    return ('https://img.example/%d.jpg' % j, None if j == 7 else 'caption %d' % j)\n",
        dir = dir.display().to_string()
    );
    for (number, dtype, rows) in files {
        let rows: Vec<String> = rows.iter().map(i64::to_string).collect();
        script.push_str(&format!(
            "rows = [{rows}]\n\
             urls = [pair(i)[0] if i >= 0 else 'https://nowhere.example/%d' % k for k, i in enumerate(rows)]\n\
             caps = [pair(i)[1] if i >= 0 else 'nothing' for i in rows]\n\
             pq.write_table(pa.table({{'url': urls, 'caption': caps, 'key': ['%09d' % k for k in range(len(rows))]}}), \
                 d + '/metadata/metadata_{number}.parquet')\n\
             np.save(d + '/img_emb/img_emb_{number}.npy', np.array([vec(max(i, 0)) for i in rows], dtype=np.{dtype}).reshape(len(rows), {DIM}))\n",
            rows = rows.join(", ")
        ));
    }
    script
}

#[test]
fn clip_retrieval_matrices_attach_to_their_rows_by_url_and_caption() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), 40);
    let emb = dir.path().join("emb");
    // File 0 (float16): rows 0..20 shuffled, row 7 (not in the dataset) and a stranger.
    // File 1 (float32): rows 20..40, row 3 again (a duplicate: file 0's vector stays).
    let first: Vec<i64> = (0..20).rev().chain([-1]).collect();
    let second: Vec<i64> = (20..40).chain([3]).filter(|i| *i != 21).collect();
    let script = clip_retrieval_script(&emb, &[(0, "float16", first), (1, "float32", second)]);
    if python(&script).is_none() {
        return;
    }
    let report = ingest_embeddings(&ds, &emb, &EmbeddingOptions::default(), &NoProgress).unwrap();
    assert_eq!((report.version_before, report.version), (1, 2));
    assert_eq!((report.dim, report.join_key.as_str(), report.inputs), (DIM, "url+caption", 2));
    assert_eq!(report.vectors_read, 21 + 20);
    // Rows 0..40 but 7 (skipped by ingest): 39 rows; rows 20 and 21 share a pair and both
    // get its vector.
    assert_eq!(report.rows_matched, 39, "{report:?}");
    assert_eq!(report.duplicate_vectors, 1, "row 3 twice");
    assert_eq!(report.vectors_without_row, 2, "row 7's and the stranger's: {report:?}");
    assert_eq!(report.vectors_without_row_examples, vec!["input 0 row 12", "input 0 row 20"]);
    assert_eq!(report.rows_without_vector, 0);

    let dataset = Dataset::open(&ds).unwrap();
    let set = &dataset.manifest().vector_sets[0];
    assert_eq!((set.kind.as_str(), set.dim as usize, set.model.as_str()), ("image", DIM, "unspecified"));
    let block = &dataset.manifest().sources[0].files[0];
    let file = VectorFile::open(&ds.join(&set.files[0].path), block.rows, DIM).unwrap();
    // Stored row offsets: source rows 0..7 are offsets 0..7, source row i > 7 is offset i - 1.
    for i in (0..40).filter(|i| *i != 7) {
        let offset = if i < 7 { i } else { i - 1 } as u64;
        let expected = vector(if i == 21 { 20 } else { i });
        let stored = file.vector(offset).unwrap();
        assert!(cosine(&stored, &expected) > 0.999, "row {i}: {stored:?} vs {expected:?}");
        let length: f32 = stored.iter().map(|x| x * x).sum();
        assert!((length - 1.0).abs() < 2e-3, "unit length, {length}");
    }
    // The same embeddings again: nothing changes, no version is committed.
    let again = ingest_embeddings(&ds, &emb, &EmbeddingOptions::default(), &NoProgress).unwrap();
    assert_eq!((again.version_before, again.version, again.blocks_written), (2, 2, 0), "{again:?}");
}

#[test]
fn a_second_ingest_keeps_what_it_does_not_replace_and_refuses_another_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), 30);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let script = clip_retrieval_script(&a, &[(0, "float32", (0..10).collect())])
        + &clip_retrieval_script(&b, &[(0, "float16", (5..30).collect())]);
    if python(&script).is_none() {
        return;
    }
    let options = EmbeddingOptions { model: Some("ViT-test".into()), ..EmbeddingOptions::default() };
    let first = ingest_embeddings(&ds, &a, &options, &NoProgress).unwrap();
    assert_eq!((first.rows_matched, first.rows_without_vector), (9, 20), "{first:?}");
    assert_eq!(first.rows_without_vector_examples.len(), 10);
    let second = ingest_embeddings(&ds, &b, &EmbeddingOptions::default(), &NoProgress).unwrap();
    assert_eq!((second.rows_matched, second.rows_without_vector, second.model.as_str()), (24, 0, "ViT-test"));
    let dataset = Dataset::open(&ds).unwrap();
    assert_eq!(dataset.manifest().vector_sets[0].files[0].rows, 29);

    // Another model's dimension: refused, nothing committed.
    let c = dir.path().join("c");
    let script = clip_retrieval_script(&c, &[(0, "float32", vec![1, 2])])
        + "np.save(d + '/img_emb/img_emb_0.npy', np.ones((2, 4), dtype=np.float32))\n";
    python(&script).unwrap();
    let error = ingest_embeddings(&ds, &c, &EmbeddingOptions::default(), &NoProgress).unwrap_err().to_string();
    assert!(error.contains("4-dimensional") && error.contains(&format!("{DIM} dimensions")), "{error}");
    let other = EmbeddingOptions { model: Some("other".into()), ..EmbeddingOptions::default() };
    let error = ingest_embeddings(&ds, &b, &other, &NoProgress).unwrap_err().to_string();
    assert!(error.contains("ViT-test"), "{error}");
    assert_eq!(Dataset::open(&ds).unwrap().version(), 3);
}

#[test]
fn bad_inputs_are_refused_with_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), 12);
    let refused = |name: &str, script: &str, options: &EmbeddingOptions| -> Option<String> {
        let emb = dir.path().join(name);
        python(&(clip_retrieval_script(&emb, &[(0, "float16", (0..12).collect())]) + script))?;
        let error = ingest_embeddings(&ds, &emb, options, &NoProgress).unwrap_err().to_string();
        assert_eq!(Dataset::open(&ds).unwrap().version(), 1, "{name}: nothing committed");
        Some(error)
    };
    let defaults = EmbeddingOptions::default();
    // A matrix one row shorter than its metadata.
    let Some(error) = refused(
        "short",
        &format!("np.save(d + '/img_emb/img_emb_0.npy', np.zeros((11, {DIM}), dtype=np.float16))\n"),
        &defaults,
    ) else {
        return;
    };
    assert!(error.contains("img_emb_0.npy") && error.contains("11 vectors") && error.contains("12 rows"), "{error}");
    // A truncated download.
    let error = refused(
        "truncated",
        "f = d + '/img_emb/img_emb_0.npy'\nb = open(f, 'rb').read()\nopen(f, 'wb').write(b[:-5])\n",
        &defaults,
    )
    .unwrap();
    assert!(error.contains("img_emb_0.npy") && error.contains("truncated"), "{error}");
    // Integers, and a 3-D array.
    let error = refused(
        "ints",
        &format!("np.save(d + '/img_emb/img_emb_0.npy', np.zeros((12, {DIM}), dtype=np.int32))\n"),
        &defaults,
    )
    .unwrap();
    assert!(error.contains("dtype"), "{error}");
    let error = refused(
        "cube",
        &format!("np.save(d + '/img_emb/img_emb_0.npy', np.zeros((12, {DIM}, 1), dtype=np.float32))\n"),
        &defaults,
    )
    .unwrap();
    assert!(error.contains("not 2-D"), "{error}");
    // A matrix without its metadata.
    let error = refused(
        "alone",
        &format!("np.save(d + '/img_emb/img_emb_1.npy', np.ones((2, {DIM}), dtype=np.float16))\n"),
        &defaults,
    )
    .unwrap();
    assert!(error.contains("img_emb_1.npy") && error.contains("metadata_1.parquet"), "{error}");
    // A NaN: refused, or counted and skipped with --skip-bad.
    let nan = "a = np.load(d + '/img_emb/img_emb_0.npy')\na[4, 2] = np.nan\nnp.save(d + '/img_emb/img_emb_0.npy', a)\n";
    let error = refused("nan", nan, &defaults).unwrap();
    assert!(error.contains("img_emb_0.npy") && error.contains("row 4") && error.contains("NaN"), "{error}");
    let skip = EmbeddingOptions { skip_bad: true, ..EmbeddingOptions::default() };
    let report = ingest_embeddings(&ds, &dir.path().join("nan"), &skip, &NoProgress).unwrap();
    assert_eq!(report.bad_vectors.values().sum::<u64>(), 1, "{report:?}");
    assert_eq!((report.rows_matched, report.rows_without_vector), (10, 1), "12 rows but 7 (skipped), one NaN");
}

#[test]
fn parquet_files_with_a_vector_column_attach_by_sample_id() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), 16);
    let file = dir.path().join("vectors.parquet");
    let script = format!(
        "import pyarrow as pa, pyarrow.parquet as pq\n\
         def vec(i):\n    v = [((i * 7 + k * 3) % 11) - 4.5 for k in range({DIM})]\n    v[0] += i\n    return v\n\
         ids = ['id-%d' % i for i in range(15, -1, -1)] + ['id-99']\n\
         vecs = [vec(int(s[3:])) for s in ids]\n\
         t = pa.table({{'SAMPLE_ID': ids, 'url': ['u'] * 17, 'caption': ['c'] * 17, \
             'emb': pa.array(vecs, type=pa.list_(pa.float32(), {DIM}))}})\n\
         pq.write_table(t, {path:?}, row_group_size=5)\n",
        path = file.display().to_string()
    );
    if python(&script).is_none() {
        return;
    }
    let report = ingest_embeddings(&ds, &file, &EmbeddingOptions::default(), &NoProgress).unwrap();
    assert_eq!(report.join_key, "sample_id");
    // Sample ids 0..16, of which id-7's row was skipped by ingest (null caption): 15 rows.
    assert_eq!((report.rows_matched, report.vectors_without_row, report.rows_without_vector), (15, 2, 0), "{report:?}");
    let dataset = Dataset::open(&ds).unwrap();
    let set = &dataset.manifest().vector_sets[0];
    let block = &dataset.manifest().sources[0].files[0];
    let stored = VectorFile::open(&ds.join(&set.files[0].path), block.rows, DIM).unwrap();
    for i in (0..16).filter(|i| *i != 7) {
        let offset = if i < 7 { i } else { i - 1 } as u64;
        // Rows 20/21 do not exist here; row i's sample id is id-i.
        assert!(cosine(&stored.vector(offset).unwrap(), &vector(i)) > 0.999, "row {i}");
    }
}
