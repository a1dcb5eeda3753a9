//! The public API end to end: files on disk, their schemas, determinism, the manifest.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::DataType;
use pairscope_synth::{SynthError, SynthOptions, SynthSchema, generate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn opts(rows: u64, seed: u64, schema: SynthSchema, rows_per_shard: u64, threads: usize) -> SynthOptions {
    SynthOptions { rows, seed, schema, rows_per_shard, threads }
}

fn run(o: &SynthOptions, dir: &Path) -> pairscope_synth::SynthSummary {
    generate(o, dir, &|_| {}).unwrap_or_else(|e| panic!("generate: {e}"))
}

/// Every file of the run, name → bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            let bytes = std::fs::read(e.path()).unwrap_or_else(|e| panic!("{e}"));
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn same_options_give_the_same_bytes_whatever_the_threads() {
    let dirs = [tempdir(), tempdir(), tempdir()];
    // 3 parts; threads 1 (serial), 2 (two workers), 7 (three workers each with a generator).
    for (dir, threads) in dirs.iter().zip([1, 2, 7]) {
        let progress = AtomicU64::new(0);
        let summary = generate(&opts(230_000, 9, SynthSchema::Laion5b, 100_000, threads), dir.path(), &|n| {
            progress.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.rows, 230_000);
        assert_eq!(progress.load(Ordering::Relaxed), 230_000, "progress adds up to the rows");
        assert_eq!(summary.files.len(), 3);
    }
    let reference = files(dirs[0].path());
    assert_eq!(
        reference.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet", "synth.json"],
        "no temporary file is left behind"
    );
    for dir in &dirs[1..] {
        assert!(files(dir.path()) == reference, "bytes differ with another thread count");
    }

    // One part: serial against a worker with its own generator thread.
    let (a, b) = (tempdir(), tempdir());
    run(&opts(120_000, 9, SynthSchema::Coyo, 1_000_000, 1), a.path());
    run(&opts(120_000, 9, SynthSchema::Coyo, 1_000_000, 2), b.path());
    assert!(files(a.path()) == files(b.path()));

    // Another seed is other data.
    let c = tempdir();
    run(&opts(120_000, 10, SynthSchema::Coyo, 1_000_000, 2), c.path());
    assert!(files(a.path())[0].1 != files(c.path())[0].1);
}

fn read_schema_and_rows(path: &Path) -> (arrow::datatypes::SchemaRef, u64) {
    let file = File::open(path).unwrap_or_else(|e| panic!("{e}"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
    let rows = builder.metadata().file_metadata().num_rows() as u64;
    (builder.schema().clone(), rows)
}

#[test]
fn every_schema_writes_the_published_columns() {
    use DataType::*;
    let list_of_boxes = List(std::sync::Arc::new(arrow::datatypes::Field::new(
        "item",
        List(std::sync::Arc::new(arrow::datatypes::Field::new("item", Float64, true))),
        true,
    )));
    let expected: [(SynthSchema, Vec<(&str, DataType)>); 4] = [
        (
            SynthSchema::LaionAesthetics,
            vec![
                ("URL", Utf8),
                ("TEXT", Utf8),
                ("WIDTH", Float64),
                ("HEIGHT", Float64),
                ("similarity", Float64),
                ("hash", Int64),
                ("punsafe", Float32),
                ("pwatermark", Float32),
                ("aesthetic", Float32),
            ],
        ),
        (
            SynthSchema::Laion5b,
            vec![
                ("SAMPLE_ID", Int64),
                ("URL", Utf8),
                ("TEXT", Utf8),
                ("HEIGHT", Int32),
                ("WIDTH", Int32),
                ("LICENSE", Utf8),
                ("LANGUAGE", Utf8),
                ("NSFW", Utf8),
                ("similarity", Float64),
            ],
        ),
        (
            SynthSchema::Coyo,
            vec![
                ("id", Int64),
                ("url", Utf8),
                ("text", Utf8),
                ("width", Int64),
                ("height", Int64),
                ("image_phash", Utf8),
                ("text_length", Int32),
                ("word_count", Int32),
                ("num_tokens_bert", Int32),
                ("num_tokens_gpt", Int32),
                ("num_faces", Int32),
                ("clip_similarity_vitb32", Float32),
                ("clip_similarity_vitl14", Float32),
                ("nsfw_score_opennsfw2", Float32),
                ("nsfw_score_gantman", Float32),
                ("watermark_score", Float32),
                ("aesthetic_score_laion_v2", Float32),
            ],
        ),
        (
            SynthSchema::Datacomp,
            vec![
                ("uid", Utf8),
                ("url", Utf8),
                ("text", Utf8),
                ("original_width", Int64),
                ("original_height", Int64),
                ("clip_b32_similarity_score", Float32),
                ("clip_l14_similarity_score", Float32),
                ("face_bboxes", list_of_boxes),
                ("sha256", Utf8),
            ],
        ),
    ];
    for (schema, columns) in expected {
        assert_eq!(schema.to_string().parse::<SynthSchema>(), Ok(schema));
        let dir = tempdir();
        let summary = run(&opts(3_000, 1, schema, 1_000, 1), dir.path());
        assert_eq!(summary.files.len(), 3);
        for file in &summary.files {
            let (arrow_schema, rows) = read_schema_and_rows(file);
            assert_eq!(rows, 1_000);
            let got: Vec<(&str, &DataType)> =
                arrow_schema.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
            let want: Vec<(&str, &DataType)> = columns.iter().map(|(n, t)| (*n, t)).collect();
            assert_eq!(got, want, "{schema}");
        }
    }
    assert!("laion".parse::<SynthSchema>().is_err());
}

#[test]
fn manifest_records_rows_files_and_injections() {
    let dir = tempdir();
    let summary = run(&opts(150_000, 3, SynthSchema::LaionAesthetics, 60_000, 2), dir.path());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("synth.json")).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("synth.json: {e}"));
    let mut total = 0;
    for (f, path) in json["files"].as_array().unwrap_or(&Vec::new()).iter().zip(&summary.files) {
        let (_, rows) = read_schema_and_rows(&dir.path().join(f["name"].as_str().unwrap_or("")));
        assert_eq!(f["rows"].as_u64(), Some(rows));
        assert_eq!(path.file_name().and_then(|n| n.to_str()), f["name"].as_str());
        total += rows;
    }
    assert_eq!(total, 150_000);
    assert_eq!(json["rows"].as_u64(), Some(total));
    assert_eq!(json["options"]["seed"].as_u64(), Some(3));
    assert_eq!(json["options"]["schema"].as_str(), Some("laion-aesthetics"));
    assert_eq!(json["generator"].as_str(), Some("pairscope-synth"));
    assert!(json["options"].get("threads").is_none(), "threads do not change the bytes");
    for list in ["builtin:artists", "builtin:characters"] {
        let entities = json["injections"][list]["entities"].as_object().unwrap_or_else(|| panic!("{list}"));
        assert!(entities.len() > 50, "{list}: {} entities", entities.len());
        let sum: u64 = entities.values().filter_map(|v| v.as_u64()).sum();
        assert_eq!(json["injections"][list]["captions"].as_u64(), Some(sum));
    }
    let decoys = json["decoys"].as_object().unwrap_or_else(|| panic!("decoys"));
    assert!(decoys.values().all(|v| v.as_u64().unwrap_or(0) > 0), "{decoys:?}");
    assert_eq!(pairscope_synth::SynthManifest::load(dir.path()).ok().as_ref(), Some(&summary.manifest));
}

#[test]
fn a_directory_is_never_mixed_with_another_run() {
    let dir = tempdir();
    run(&opts(3_000, 1, SynthSchema::Coyo, 1_000, 1), dir.path());
    // A smaller run into the same directory would leave part-00002 behind.
    let err = generate(&opts(2_000, 1, SynthSchema::Coyo, 1_000, 1), dir.path(), &|_| {});
    assert!(matches!(err, Err(SynthError::StalePart { .. })), "{err:?}");
    assert!(dir.path().join("synth.json").exists(), "a refused run changes nothing");
    // The same or a bigger one replaces every part.
    run(&opts(4_000, 2, SynthSchema::Coyo, 1_000, 1), dir.path());
    assert_eq!(files(dir.path()).len(), 5);
    assert!(matches!(
        generate(&opts(10, 1, SynthSchema::Coyo, 0, 1), dir.path(), &|_| {}),
        Err(SynthError::ZeroRowsPerShard)
    ));
}

#[test]
fn zero_rows_still_write_the_schema() {
    let dir = tempdir();
    let summary = run(&opts(0, 1, SynthSchema::Datacomp, 1_000, 1), dir.path());
    assert_eq!(summary.files.len(), 1);
    let (schema, rows) = read_schema_and_rows(&summary.files[0]);
    assert_eq!((schema.fields().len(), rows), (9, 0));
}
