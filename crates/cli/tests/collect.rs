//! `pairscope collect` through the binary: summary, exit codes, resuming, ingest of its output.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::PathBuf;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shared(rel: &str) -> Option<PathBuf> {
    pairscope_testkit::shared_data(rel)
}

#[test]
fn collect_then_ingest_and_exit_codes() {
    let (Some(wat), Some(truncated)) = (shared("cc/cc-sample-16pages.warc.wat.gz"), shared("cc/truncated.warc.gz"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pairs");
    let (wat, out_s) = (wat.to_str().unwrap(), out.to_str().unwrap());
    let (code, json, err) = run(&["collect", wat, "--out", out_s, "--min-alt-chars", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (doc["records"].as_u64(), doc["pages"].as_u64(), doc["images"].as_u64()),
        (Some(34), Some(16), Some(151))
    );
    assert_eq!(doc["kept"].as_u64(), Some(27));
    assert_eq!(doc["dropped"]["duplicate"].as_u64(), Some(5));
    assert_eq!(doc["dropped"]["no_alt"].as_u64(), Some(119));

    // The same arguments again: everything was finished, nothing changes.
    let before = std::fs::read(out.join("part-00000.parquet")).unwrap();
    let (code, json, _) = run(&["collect", wat, "--out", out_s, "--min-alt-chars", "1", "--json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["inputs"][0]["resumed"].as_bool(), Some(true));
    assert_eq!(std::fs::read(out.join("part-00000.parquet")).unwrap(), before);

    // Other options into the same directory: a usage error.
    let (code, _, err) = run(&["collect", wat, "--out", out_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("other inputs or options"), "{err}");

    // A truncated archive: completed with skips, warned about with its offset.
    let damaged = dir.path().join("damaged");
    let (code, _, err) = run(&["collect", truncated.to_str().unwrap(), "--out", damaged.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("skipped record at offset 0: truncated"), "{err}");
    assert!(err.contains("skipped records, truncated: 1"), "{err}");

    // A missing input: usage error naming it.
    let (code, _, err) = run(&["collect", "/nonexistent/x.wat.gz", "--out", dir.path().join("none").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/x.wat.gz"), "{err}");

    let ds = dir.path().join("ds");
    let (code, _, err) = run(&["ingest", "-q", "--dataset", ds.to_str().unwrap(), out_s]);
    assert_eq!(code, 0, "{err}");
    let (code, info, err) = run(&["info", "--dataset", ds.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(info.contains("\"rows\": 27"), "{info}");
}
