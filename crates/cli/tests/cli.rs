//! The binary end to end: help, exit codes, output formats, crash safety and readers during
//! a write. Each test works in its own temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pairscope"));
    cmd.env_remove("PAIRSCOPE_LOG");
    cmd
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().expect("pairscope runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn synth(dir: &Path, rows: u64, per_shard: u64, seed: u64) -> PathBuf {
    let out = dir.join(format!("synth-{rows}-{seed}"));
    let (code, _, err) = run(&[
        "synth",
        "--quiet",
        "--rows",
        &rows.to_string(),
        "--rows-per-shard",
        &per_shard.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    out
}

/// Every stored row of the dataset's current version, keyed by row id, as JSON text.
fn rows_by_id(ds: &Path) -> BTreeMap<i64, String> {
    let (code, out, err) = run(&["info", "--json", "-d", ds.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    let version = info["version"].as_u64().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ds.join(format!("versions/v{version:08}.json"))).unwrap()).unwrap();
    let mut rows = BTreeMap::new();
    for source in manifest["sources"].as_array().unwrap() {
        for file in source["files"].as_array().unwrap() {
            let path = ds.join(file["path"].as_str().unwrap());
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
            for batch in reader {
                let batch: RecordBatch = batch.unwrap();
                let ids = batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>().clone();
                let mut buf = Vec::new();
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
                writer.write(&batch).unwrap();
                writer.finish().unwrap();
                for (i, line) in String::from_utf8(buf).unwrap().lines().enumerate() {
                    assert!(rows.insert(ids.value(i), line.to_string()).is_none(), "duplicate row id {}", ids.value(i));
                }
                assert_eq!(ids.null_count(), 0);
            }
        }
    }
    rows
}

#[test]
fn every_command_documents_its_flags() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["demo", "synth", "ingest", "info", "sources", "search", "count", "facets", "subset", "diff"] {
        assert!(out.contains(cmd), "--help lists {cmd}");
        let (code, help, _) = run(&[cmd, "--help"]);
        assert_eq!(code, 0);
        // Every long flag in the usage block has a description line.
        for line in help.lines().filter(|l| l.trim_start().starts_with("--")) {
            let flag = line.split_whitespace().next().unwrap();
            assert!(help.matches(flag).count() >= 1, "{cmd} {flag}");
        }
    }
    let (_, help, _) = run(&["ingest", "--help"]);
    for flag in [
        "--map",
        "--set",
        "--max-caption-bytes",
        "--skip-bad",
        "--strict",
        "--format",
        "--json",
        "--quiet",
        "--verbose",
    ] {
        assert!(help.contains(flag), "ingest --help mentions {flag}");
    }
}

#[test]
fn usage_errors_exit_2_and_data_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", "--no-such-flag"]).0, 2);
    assert_eq!(run(&["info", "--format", "yaml", "-d", ds]).0, 2);
    let src = synth(dir.path(), 1000, 1000, 1);
    let src = src.to_str().unwrap();
    let (code, _, err) = run(&["ingest", "-d", ds, "--map", "caption", src]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["ingest", "-d", ds, "--set", "host=x", src]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("derived"), "{err}");
    let (code, _, err) = run(&["info", "-d", ds]);
    assert_eq!(code, 1);
    assert!(err.contains("not a pairscope dataset"), "{err}");
    let (code, _, err) = run(&["ingest", "-d", ds, "/no/such/file.parquet"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/no/such/file.parquet"), "{err}");
}

#[test]
fn skipped_inputs_exit_3_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let src = synth(dir.path(), 2000, 2000, 2);
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, b"PAR1 not really").unwrap();
    let (code, _, err) = run(&["ingest", "-d", ds.to_str().unwrap(), src.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code, 1, "a bad file without --skip-bad fails the ingest: {err}");
    assert!(err.contains("bad.parquet"), "{err}");
    assert_eq!(run(&["info", "-d", ds.to_str().unwrap()]).0, 1, "nothing was committed");
    let (code, out, err) = run(&[
        "ingest",
        "--json",
        "--skip-bad",
        "-d",
        ds.to_str().unwrap(),
        src.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["rows_added"], 2000);
    assert_eq!(report["bad_files"].as_array().unwrap().len(), 1);
    assert!(report["bad_files"][0].as_str().unwrap().contains("bad.parquet"));
}

#[test]
fn output_formats_are_uniform() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let src = synth(dir.path(), 1500, 500, 3);
    assert_eq!(run(&["ingest", "-q", "-d", ds.to_str().unwrap(), src.to_str().unwrap()]).0, 0);
    let ds = ds.to_str().unwrap();
    let (_, csv, _) = run(&["sources", "-d", ds, "--format", "csv"]);
    assert!(csv.starts_with("id,path,rows,"), "{csv}");
    assert_eq!(csv.lines().count(), 4);
    let (_, jsonl, _) = run(&["sources", "-d", ds, "--format", "jsonl"]);
    assert_eq!(jsonl.lines().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).count(), 3);
    let (_, json, _) = run(&["sources", "-d", ds, "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap().as_array().unwrap().len(), 3);
    let (_, info, _) = run(&["info", "-d", ds, "--json"]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["rows"], 1500);
    assert_eq!(info["sources"].as_array().unwrap().len(), 3);
    let out = dir.path().join("sources.parquet");
    let status =
        bin().args(["sources", "-d", ds, "--format", "parquet"]).stdout(File::create(&out).unwrap()).status().unwrap();
    assert!(status.success());
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 3);
}

#[test]
fn killed_ingests_rerun_to_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let src = synth(dir.path(), 240_000, 40_000, 4);
    let clean = dir.path().join("clean");
    assert_eq!(run(&["ingest", "-q", "--threads", "1", "-d", clean.to_str().unwrap(), src.to_str().unwrap()]).0, 0);
    let expected = rows_by_id(&clean);
    assert_eq!(expected.len(), 240_000);

    // Measure a full run to spread the kills over it.
    let probe = dir.path().join("probe");
    let started = Instant::now();
    assert_eq!(run(&["ingest", "-q", "--threads", "1", "-d", probe.to_str().unwrap(), src.to_str().unwrap()]).0, 0);
    let full = started.elapsed();

    for (i, fraction) in [0.05, 0.3, 0.6, 0.9].iter().enumerate() {
        let ds = dir.path().join(format!("killed-{i}"));
        let mut child = bin()
            .args(["ingest", "-q", "--threads", "1", "-d", ds.to_str().unwrap(), src.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(*fraction));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever state the kill left is a committed state: nothing, or the whole ingest.
        if let (0, out, _) = run(&["info", "--json", "-d", ds.to_str().unwrap()]) {
            let info: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(info["rows"] == 240_000, "a partial version was visible: {}", info["rows"]);
        }
        let (code, _, err) =
            run(&["ingest", "-q", "--threads", "1", "-d", ds.to_str().unwrap(), src.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(rows_by_id(&ds) == expected, "kill at {fraction} of the run changed the rows");
        // Nothing staged is left behind.
        let (_, out, _) = run(&["info", "--json", "-d", ds.to_str().unwrap()]);
        let info: serde_json::Value = serde_json::from_str(&out).unwrap();
        let referenced = info["sources"].as_array().unwrap().len();
        assert_eq!(std::fs::read_dir(ds.join("sources")).unwrap().count(), referenced);
    }
}

#[test]
fn readers_see_whole_versions_during_an_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let first = synth(dir.path(), 1000, 1000, 5);
    let second = synth(dir.path(), 200_000, 50_000, 6);
    let ds = dir.path().join("ds");
    let ds_arg = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", "-q", "-d", ds_arg, first.to_str().unwrap()]).0, 0);
    let mut writer =
        bin().args(["ingest", "-q", "-d", ds_arg, second.to_str().unwrap()]).stdout(Stdio::null()).spawn().unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, out, err) = run(&["info", "--json", "-d", ds_arg]);
        assert_eq!(code, 0, "a reader failed during the ingest: {err}");
        let info: serde_json::Value = serde_json::from_str(&out).unwrap();
        let state = (info["version"].as_u64().unwrap(), info["rows"].as_u64().unwrap());
        assert!(state == (1, 1000) || state == (2, 201_000), "inconsistent state {state:?}");
        seen.push(state);
        if writer.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
    }
    assert!(writer.wait().unwrap().success());
    assert!(seen.contains(&(1, 1000)), "the reader ran during the write");
    let (_, out, _) = run(&["info", "--json", "-d", ds_arg]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["version"], 2);
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = synth(dir.path(), 200_000, 50_000, 7);
    let ds = dir.path().join("ds");
    let mut first = bin().args(["ingest", "-q", "-d", ds.to_str().unwrap(), src.to_str().unwrap()]).spawn().unwrap();
    // Wait until the first writer holds the lock (it creates LOCK first).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ds.join("LOCK").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (code, _, err) = run(&["ingest", "-q", "-d", ds.to_str().unwrap(), src.to_str().unwrap()]);
    let first_ok = first.wait().unwrap().success();
    assert!(first_ok);
    // Either it was refused while the first ran, or the first had already finished (no-op).
    if code != 0 {
        assert_eq!(code, 1);
        assert!(err.contains("another process is writing"), "{err}");
    }
}

#[test]
fn demo_makes_and_shows_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (code, out, err) = run(&["demo", "--no-serve", "--rows", "3000", "--dir", demo.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rows        3000"), "{out}");
    assert!(
        out.contains("$ pairscope mentions") && out.contains("captions"),
        "the demo counts the built-in lists: {out}"
    );
    let (code, out, _) = run(&["demo", "--no-serve", "--rows", "3000", "--dir", demo.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("version     1"), "the second demo reuses the dataset: {out}");

    // Without --no-serve it serves the web UI on loopback and prints the URL.
    use std::io::{BufRead, Read, Write};
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_pairscope"))
        .args(["demo", "-q", "--rows", "3000", "--dir", demo.to_str().unwrap(), "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let url = stdout.lines().map(|l| l.unwrap()).find(|l| l.starts_with("http://")).expect("the demo prints its URL");
    let authority = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream = std::net::TcpStream::connect(&authority).unwrap();
    write!(stream, "GET /?q=kinkade HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{}", &response[..response.len().min(300)]);
    assert!(response.to_ascii_lowercase().contains("content-security-policy"), "{response}");
}

#[test]
fn every_synth_schema_ingests_with_the_right_mapping() {
    let dir = tempfile::tempdir().unwrap();
    // (schema, canonical ← source column, extra columns kept)
    type Expectation<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let expectations: &[Expectation] = &[
        (
            "laion-aesthetics",
            &[("caption", "TEXT"), ("width", "WIDTH"), ("aesthetic", "aesthetic"), ("hash", "hash")],
            &[],
        ),
        (
            "laion5b",
            &[("sample_id", "SAMPLE_ID"), ("nsfw_label", "NSFW"), ("language", "LANGUAGE"), ("license", "LICENSE")],
            &[],
        ),
        (
            "coyo",
            &[("sample_id", "id"), ("similarity", "clip_similarity_vitb32"), ("aesthetic", "aesthetic_score_laion_v2")],
            &["watermark_score", "clip_similarity_vitl14", "nsfw_score_opennsfw2"],
        ),
        (
            "datacomp",
            &[
                ("width", "original_width"),
                ("height", "original_height"),
                ("image_sha256", "sha256"),
                ("sample_id", "uid"),
            ],
            &["clip_l14_similarity_score", "face_bboxes"],
        ),
    ];
    for (schema, mapped, extras) in expectations {
        let out = dir.path().join(schema);
        let (code, _, err) =
            run(&["synth", "-q", "--rows", "3000", "--schema", schema, "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{schema}: {err}");
        let ds = dir.path().join(format!("ds-{schema}"));
        let (code, _, err) = run(&["ingest", "-q", "-d", ds.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(code == 0 || code == 3, "{schema}: {err}");
        let (_, info, _) = run(&["info", "--json", "-d", ds.to_str().unwrap()]);
        let info: serde_json::Value = serde_json::from_str(&info).unwrap();
        let source = &info["sources"][0];
        for (canonical, from) in *mapped {
            assert_eq!(source["mapping"][canonical], *from, "{schema}: {canonical}");
        }
        let kept: Vec<&str> = source["extra_columns"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for extra in *extras {
            assert!(kept.contains(extra), "{schema}: {extra} kept as an extra column ({kept:?})");
        }
        let stored = rows_by_id(&ds);
        assert_eq!(stored.len() as u64, info["rows"].as_u64().unwrap());
        assert!(stored.len() >= 2900, "{schema}: most synthetic rows have url and caption");
        let sample: serde_json::Value = serde_json::from_str(stored.values().next().unwrap()).unwrap();
        assert!(sample["host"].is_string() && sample["domain"].is_string(), "{schema}: {sample}");
    }
}

#[test]
fn subset_and_diff_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = synth(dir.path(), 3000, 3000, 5);
    let ds = dir.path().join("ds");
    let ds_arg = ds.to_str().unwrap();
    let (code, _, err) = run(&["ingest", "--quiet", "-d", ds_arg, src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let (code, out, _) = run(&["subset", "--list-presets"]);
    assert_eq!(code, 0);
    assert!(out.contains("laion-aesthetics-v2-6") && out.contains("aesthetic >= 6"), "{out}");

    let domains = dir.path().join("domains.txt");
    std::fs::write(&domains, "pinimg.com\n").unwrap();
    let out_dir = dir.path().join("sub");
    let (code, out, err) = run(&[
        "subset",
        "-d",
        ds_arg,
        "--preset",
        "laion-art",
        "--where",
        "punsafe < 0.5",
        "--exclude-domains",
        domains.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        manifest,
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(out_dir.join("manifest.json")).unwrap())
            .unwrap()
    );
    assert_eq!(manifest["filter"]["expr"], "aesthetic > 8 and punsafe < 0.5");

    // A whole copy less one domain, then diff: exactly that domain's rows are only in A.
    let cleaned = dir.path().join("cleaned");
    let (code, out, err) = run(&[
        "subset",
        "-d",
        ds_arg,
        "--exclude-domains",
        domains.to_str().unwrap(),
        "--out",
        cleaned.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let removed = serde_json::from_str::<serde_json::Value>(&out).unwrap()["removed"]["domain_list"].as_u64().unwrap();
    assert!(removed > 0);
    let (code, out, err) = run(&["diff", "-d", ds_arg, "-d", cleaned.to_str().unwrap(), "--by", "domain", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["only_a"].as_u64(), Some(removed));
    assert_eq!(report["only_b"].as_u64(), Some(0));
    assert_eq!(report["by_domain"][0]["domain"], "pinimg.com");

    // Usage errors exit 2; a missing list file is named.
    let (code, _, err) =
        run(&["subset", "-d", ds_arg, "--preset", "no-such", "--out", dir.path().join("x").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--list-presets"), "{err}");
    let (code, _, err) =
        run(&["subset", "-d", ds_arg, "--where", "aesthetic >", "--out", dir.path().join("x").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&[
        "subset",
        "-d",
        ds_arg,
        "--exclude-urls",
        "/no/such/list.txt",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/no/such/list.txt"), "{err}");
    assert_eq!(run(&["diff", "-d", ds_arg]).0, 2);
    assert!(!dir.path().join("x").exists());
}

/// A `.npy` file of float32 rows, as numpy writes one (version 1.0, header padded to 64 bytes).
fn write_npy(path: &Path, rows: &[Vec<f32>]) {
    let dim = rows.first().map_or(0, Vec::len);
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}", rows.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(rows.iter().flatten().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn similar_answers_a_vector_or_a_batch_of_vectors_from_the_command_line() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use pairscope_synth::embeddings::ClusteredVectors;

    let dir = tempfile::tempdir().unwrap();
    let rows = 3_000u64;
    let text = |f: &dyn Fn(u64) -> String| -> ArrayRef { Arc::new(StringArray::from_iter_values((0..rows).map(f))) };
    let source = dir.path().join("source.parquet");
    pairscope_testkit::write_parquet(
        &source,
        vec![
            ("url", text(&|i| format!("https://h{}.example/{i}.jpg", i % 9))),
            ("caption", text(&|i| format!("picture {i}"))),
            ("sample_id", text(&|i| format!("s{i}"))),
            ("aesthetic", Arc::new(Float64Array::from_iter_values((0..rows).map(|i| (i % 10) as f64)))),
        ],
    );
    let dist = ClusteredVectors { dim: 16, clusters: 40, seed: 9, near_copies: 0.0 };
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let values: Vec<f32> = (0..rows).flat_map(|i| dist.vector(i)).collect();
    let embeddings = dir.path().join("embeddings.parquet");
    pairscope_testkit::write_parquet(
        &embeddings,
        vec![
            ("sample_id", text(&|i| format!("s{i}"))),
            ("url", text(&|i| format!("https://h{}.example/{i}.jpg", i % 9))),
            ("caption", text(&|i| format!("picture {i}"))),
            ("embedding", Arc::new(FixedSizeListArray::new(item, 16, Arc::new(Float32Array::from(values)), None))),
        ],
    );
    let ds = dir.path().join("ds");
    let ds = ds.to_str().unwrap();
    for args in [
        vec!["ingest", "-q", "-d", ds, source.to_str().unwrap()],
        vec!["ingest", "-q", "-d", ds, "--embeddings", embeddings.to_str().unwrap()],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let by_sample: std::collections::HashMap<String, i64> = rows_by_id(Path::new(ds))
        .into_iter()
        .map(|(id, row)| {
            let row: serde_json::Value = serde_json::from_str(&row).unwrap();
            (row["sample_id"].as_str().unwrap().to_string(), id)
        })
        .collect();
    let row_id = |i: u64| by_sample[&format!("s{i}")];

    // One vector: a row's own vector finds that row first, at cosine 1.
    let one = dir.path().join("one.npy");
    write_npy(&one, &[dist.vector(17)]);
    let (code, out, err) =
        run(&["similar", "-d", ds, "--vector", one.to_str().unwrap(), "--k", "3", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["hits"][0]["row_id"].as_i64(), Some(row_id(17)), "{out}");
    assert!((page["hits"][0]["cosine"].as_f64().unwrap() - 1.0).abs() < 1e-3);

    // A batch: each vector's own row first; with a filter, only rows it keeps.
    let queries = [5u64, 1234, 2999];
    let many = dir.path().join("many.npy");
    write_npy(&many, &queries.iter().map(|&i| dist.vector(i)).collect::<Vec<_>>());
    let (code, out, err) =
        run(&["similar", "-d", ds, "--vectors", many.to_str().unwrap(), "--k", "4", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["queries"].as_u64(), Some(3));
    let neighbours = answer["neighbours"].as_array().unwrap();
    assert_eq!(neighbours.len(), 12, "{out}");
    for (q, &i) in queries.iter().enumerate() {
        let first = neighbours.iter().find(|n| n["query"] == q && n["rank"] == 1).unwrap();
        assert_eq!(first["row_id"].as_i64(), Some(row_id(i)), "query {q}: {out}");
    }
    let (code, out, err) = run(&[
        "similar",
        "-d",
        ds,
        "--vectors",
        many.to_str().unwrap(),
        "--where",
        "aesthetic >= 9",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("query,rank,row_id,cosine"));
    let nines: Vec<i64> = (0..rows).filter(|i| i % 10 == 9).map(row_id).collect();
    let found: Vec<i64> = lines.map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert_eq!(found.len(), 3 * 50, "k defaults to 50 per query");
    assert!(found.iter().all(|id| nines.contains(id)), "only rows the filter keeps");

    // A batch of vectors of another length is refused, naming the query.
    let short = dir.path().join("short.npy");
    write_npy(&short, &[vec![0.5; 8], vec![0.25; 8]]);
    let (code, _, err) = run(&["similar", "-d", ds, "--vectors", short.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("query 0") && err.contains("16"), "{err}");
    let (code, _, err) = run(&["similar", "-d", ds, "--vectors", many.to_str().unwrap(), "--row", "1"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["similar", "-d", ds, "--vector", many.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("3 vectors; --vectors answers each"), "{err}");
}
