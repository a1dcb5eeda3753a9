//! Randomized crash trials of every durable command: `ingest`, `ingest --fetched`, `collect`,
//! `subset`, `sql --out` and the cache `mentions` writes, each started, killed with SIGKILL at a random moment of its run, and run again
//! to the end. The end state must be the state of an uninterrupted run, byte for byte: no row
//! lost or duplicated, no stray file left in the output or beside it.
//!
//! `PAIRSCOPE_CRASH_TRIALS` trials per command (default 3, what the test command runs;
//! `dev/crash-trials N` runs more), at moments drawn from `PAIRSCOPE_CRASH_SEED` (default: the
//! clock; the seed is printed so a failure can be replayed).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pairscope"));
    cmd.env_remove("PAIRSCOPE_LOG").stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

fn run_to_end(args: &[String]) {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn trials() -> usize {
    std::env::var("PAIRSCOPE_CRASH_TRIALS").ok().and_then(|n| n.parse().ok()).unwrap_or(3)
}

/// splitmix64: the kill moments, reproducible from the printed seed.
struct Moments(u64);

impl Moments {
    fn new(command: &str) -> Moments {
        let seed = std::env::var("PAIRSCOPE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("crash trials of {command}: PAIRSCOPE_CRASH_SEED={seed}");
        Moments(seed)
    }

    /// A moment in `[0, 1.1 × full)`: a few kills land after the end, where nothing may change.
    fn next(&mut self, full: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        full.mul_f64(1.1 * (z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Every file at or under `path` (relative path, bytes), the writer's `LOCK` aside (an empty
/// file a writer creates and keeps), with tantivy's random segment ids made [`neutral`].
fn tree(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    if path.is_file() {
        return vec![(PathBuf::new(), fs::read(path).unwrap())];
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(at) = pending.pop() {
        let Ok(entries) = fs::read_dir(&at) else { continue };
        for entry in entries.flatten() {
            let file = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(file);
            } else if file != path.join("LOCK") {
                files.push(neutral(file.strip_prefix(path).unwrap(), fs::read(&file).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A file with what two identical runs do not share made neutral: the time of a source's ingest
/// and of a commit (`ingested_at`, `committed_at`: `source.json`, manifests), a mention count's
/// duration (its cache entry). Index bundles are byte for byte the same (segments are named
/// after their block, files packed in name order).
fn neutral(relative: &Path, bytes: Vec<u8>) -> (PathBuf, Vec<u8>) {
    let manifest = relative.starts_with("versions") && relative.extension().is_some_and(|e| e == "json");
    if manifest || relative.file_name().is_some_and(|n| n == "source.json") {
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if let Some(at) = value.get_mut("committed_at") {
            *at = "TIME".into();
        }
        let sources = match value.get_mut("sources").and_then(|s| s.as_array_mut()) {
            Some(sources) => sources.iter_mut().collect(),
            None => vec![&mut value],
        };
        for source in sources {
            if let Some(at) = source.get_mut("ingested_at") {
                *at = "TIME".into();
            }
        }
        return (relative.to_path_buf(), serde_json::to_vec(&value).unwrap());
    }
    if relative.starts_with("cache/mentions") && relative.extension().is_some_and(|e| e == "json") {
        let mut report: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        report["elapsed_ms"] = 0.into();
        return (relative.to_path_buf(), serde_json::to_vec(&report).unwrap());
    }
    (relative.to_path_buf(), bytes)
}

/// Names of what sits in `dir` itself, to catch temporaries and staging left beside an output.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Runs `trials()` kill-and-rerun trials of the command `args_for(target)` writes to `target`
/// (a path in a fresh directory per trial), comparing the tree at `target` and the names
/// beside it with those of an uninterrupted run.
fn crash_trials(name: &str, work: &Path, args_for: impl Fn(&Path) -> Vec<String>) {
    let reference_dir = work.join(format!("{name}-reference"));
    fs::create_dir(&reference_dir).unwrap();
    let target = reference_dir.join("out");
    let started = Instant::now();
    run_to_end(&args_for(&target));
    let full = started.elapsed();
    let expected = (tree(&target), names(&reference_dir));
    assert!(!expected.0.is_empty(), "{name}: the uninterrupted run wrote something");
    // A second uninterrupted run over the first changes nothing: the comparison is meaningful.
    run_to_end(&args_for(&target));
    assert!((tree(&target), names(&reference_dir)) == expected, "{name}: a re-run changed the output");

    let mut moments = Moments::new(name);
    for trial in 0..trials() {
        let dir = work.join(format!("{name}-{trial}"));
        fs::create_dir(&dir).unwrap();
        let target = dir.join("out");
        let args = args_for(&target);
        let at = moments.next(full);
        let mut child = bin().args(&args).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL; it may have ended already
        child.wait().unwrap();
        run_to_end(&args);
        let state = (tree(&target), names(&dir));
        assert!(
            state.1 == expected.1,
            "{name} trial {trial}, killed at {at:?} of {full:?}: beside the output {:?}, expected {:?}",
            state.1,
            expected.1
        );
        let paths = |t: &[(PathBuf, Vec<u8>)]| t.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert!(
            paths(&state.0) == paths(&expected.0),
            "{name} trial {trial}, killed at {at:?} of {full:?}: files {:?}, expected {:?}",
            paths(&state.0),
            paths(&expected.0)
        );
        let differing: Vec<_> =
            state.0.iter().zip(&expected.0).filter(|(a, b)| a.1 != b.1).map(|(a, _)| &a.0).collect();
        assert!(differing.is_empty(), "{name} trial {trial}, killed at {at:?} of {full:?}: {differing:?} differ");
        fs::remove_dir_all(&dir).unwrap();
    }
}

fn synth(dir: &Path, rows: u64) -> PathBuf {
    let out = dir.join("synth");
    let (rows, per) = (rows.to_string(), (rows / 3).max(1).to_string());
    run_to_end(&["synth", "-q", "--rows", &rows, "--rows-per-shard", &per, "--out", &text(&out)].map(String::from));
    out
}

#[test]
fn killed_ingests_end_as_uninterrupted_ones() {
    let work = tempfile::tempdir().unwrap();
    let src = synth(work.path(), 60_000);
    crash_trials("ingest", work.path(), |ds| ["ingest", "-q", "-d", &text(ds), &text(&src)].map(String::from).to_vec());
}

#[test]
fn killed_subsets_and_sql_exports_end_as_uninterrupted_ones() {
    let work = tempfile::tempdir().unwrap();
    let src = synth(work.path(), 60_000);
    let ds = work.path().join("ds");
    run_to_end(&["ingest", "-q", "-d", &text(&ds), &text(&src)].map(String::from));
    let subset = |out: &Path| {
        [
            "subset",
            "-d",
            &text(&ds),
            "--where",
            "aesthetic > 5",
            "--dedup",
            "url",
            "--shard-rows",
            "5000",
            "--out",
            &text(out),
        ]
        .map(String::from)
        .to_vec()
    };
    crash_trials("subset", work.path(), subset);
    // Every later export replaces the file the first one wrote (--force), as a user re-running
    // a script does: a kill must leave the earlier file or the new one, whole.
    let sql = |out: &Path| {
        let query = "SELECT row_id, url, caption FROM pairs ORDER BY row_id";
        ["sql", "-d", &text(&ds), query, "--format", "csv", "--force", "--out", &text(out)].map(String::from).to_vec()
    };
    crash_trials("sql-out", work.path(), sql);
}

/// A count killed while it writes its cache entry leaves the entry whole or absent, and no
/// temporary: each trial counts over its own copy of the dataset (`out`).
#[test]
fn killed_mention_counts_leave_their_cache_whole() {
    let work = tempfile::tempdir().unwrap();
    let src = synth(work.path(), 60_000);
    let ds = work.path().join("ds");
    run_to_end(&["ingest", "-q", "-d", &text(&ds), &text(&src)].map(String::from));
    let names = work.path().join("names.txt");
    fs::write(&names, "Claude Monet\nThomas Kinkade | Kinkade\nBatman\n").unwrap();
    let mentions = |out: &Path| {
        if !out.exists() {
            copy_tree(&ds, out);
        }
        ["mentions", "-q", "-d", &text(out), "--names", &text(&names), "--by", "domain", "--json"]
            .map(String::from)
            .to_vec()
    };
    crash_trials("mentions-cache", work.path(), mentions);
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn killed_collects_end_as_uninterrupted_ones() {
    let shared = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cc");
    let inputs = ["cc-sample-16pages.warc.wat.gz", "whirlwind.warc.wat.gz"].map(|f| shared.join(f));
    if !inputs.iter().all(|p| p.exists()) {
        eprintln!("skipped: ../shared/data/cc is absent (see ../shared/README.md)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    crash_trials("collect", work.path(), |out| {
        let mut args = ["collect", "-q", "--threads", "2", "--out", &text(out)].map(String::from).to_vec();
        args.extend(inputs.iter().map(|p| text(p)));
        args
    });
}

/// `ingest --fetched` killed while it writes overlays or commits: each trial takes the same
/// fetch output (every row of the dataset, as a fetch would have measured it) into its own copy
/// of the dataset (`out`).
#[test]
fn killed_fetched_ingests_end_as_uninterrupted_ones() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray, UInt32Array};
    use arrow::datatypes::Int64Type;

    let work = tempfile::tempdir().unwrap();
    let src = synth(work.path(), 60_000);
    let ds = work.path().join("ds");
    run_to_end(&["ingest", "-q", "-d", &text(&ds), &text(&src)].map(String::from));
    // Every row id, from the dataset's block files.
    let mut ids: Vec<i64> = Vec::new();
    for entry in fs::read_dir(ds.join("sources")).unwrap() {
        for file in fs::read_dir(entry.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    fs::File::open(&path).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    ids.extend(batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>().values().iter());
                }
            }
        }
    }
    let fetched = work.path().join("fetched");
    fs::create_dir(&fetched).unwrap();
    fs::write(fetched.join("fetch.json"), "{}").unwrap();
    let n = ids.len();
    let text_column =
        |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef { Arc::new((0..n).map(f).collect::<StringArray>()) };
    let size = |f: &dyn Fn(usize) -> Option<u32>| -> ArrayRef { Arc::new((0..n).map(f).collect::<UInt32Array>()) };
    let ok = |i: usize| !i.is_multiple_of(10);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("url", text_column(&|i| Some(format!("https://x.example/{i}.jpg")))),
        ("caption", text_column(&|_| None)),
        ("key", text_column(&|i| Some(format!("{i:09}")))),
        ("status", text_column(&|i| Some(if ok(i) { "ok" } else { "http_404" }.into()))),
        ("error_message", text_column(&|_| Some(String::new()))),
        ("width", size(&|i| ok(i).then_some(256))),
        ("height", size(&|i| ok(i).then_some(256))),
        ("original_width", size(&|i| ok(i).then_some(200 + (i % 3000) as u32))),
        ("original_height", size(&|i| ok(i).then_some(300 + (i % 2000) as u32))),
        ("md5", text_column(&|i| ok(i).then(|| format!("{i:032x}")))),
        ("sha1", text_column(&|i| ok(i).then(|| format!("{i:040x}")))),
        ("sha256", text_column(&|i| ok(i).then(|| format!("{i:064x}")))),
        ("row_id", Arc::new(Int64Array::from(ids.clone()))),
    ];
    pairscope_testkit::write_parquet(&fetched.join("00000.parquet"), columns);
    fs::write(fetched.join("00000_stats.json"), "{}").unwrap();
    let take_back = |out: &Path| {
        if !out.exists() {
            copy_tree(&ds, out);
        }
        ["ingest", "-q", "-d", &text(out), "--fetched", &text(&fetched)].map(String::from).to_vec()
    };
    crash_trials("ingest-fetched", work.path(), take_back);
}

#[test]
fn killed_embedding_ingests_end_as_uninterrupted_ones() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, FixedSizeListArray, Float32Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use pairscope_synth::embeddings::ClusteredVectors;

    // Enough rows for the vector index to be trained and built: kills land in the join, the
    // vector files, the training and the lists.
    let work = tempfile::tempdir().unwrap();
    let src = synth(work.path(), 30_000);
    let ds = work.path().join("ds");
    run_to_end(&["ingest", "-q", "-d", &text(&ds), &text(&src)].map(String::from));
    let (mut urls, mut captions) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(ds.join("sources")).unwrap() {
        for file in fs::read_dir(entry.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    fs::File::open(&path).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    let column = |name| batch.column_by_name(name).unwrap().as_string::<i32>().clone();
                    urls.extend(column("url").iter().map(|u| u.unwrap().to_string()));
                    captions.extend(column("caption").iter().map(|c| c.unwrap().to_string()));
                }
            }
        }
    }
    let dist = ClusteredVectors { dim: 16, clusters: 50, seed: 3, near_copies: 0.0 };
    let values: Vec<f32> = (0..urls.len() as u64).flat_map(|i| dist.vector(i)).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let vectors = FixedSizeListArray::new(item, 16, Arc::new(Float32Array::from(values)), None);
    let embeddings = work.path().join("embeddings.parquet");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("url", Arc::new(StringArray::from(urls))),
        ("caption", Arc::new(StringArray::from(captions))),
        ("embedding", Arc::new(vectors)),
    ];
    pairscope_testkit::write_parquet(&embeddings, columns);
    let attach = |out: &Path| {
        if !out.exists() {
            copy_tree(&ds, out);
        }
        ["ingest", "-q", "-d", &text(out), "--embeddings", &text(&embeddings)].map(String::from).to_vec()
    };
    crash_trials("ingest-embeddings", work.path(), attach);
}
