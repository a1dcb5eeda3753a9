//! A dataset damaged on disk through the binary (issue 17): every field of the version manifest
//! replaced by a wrong-typed, empty, cut, huge or escaping value, every file of a source's
//! directory cut short or overwritten. `info`, `count` and `search` then either give the same
//! answer as on the intact dataset or fail with exit 1 and a message naming the file (and the
//! field, for the manifest fields readers rely on); never a panic (exit 101, `panicked`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The commands run on each damaged copy: one that reads the manifest only, one that stays on
/// the index, and ones that read block rows (the hits, and a URL glob checked row by row).
fn commands(ds: &Path) -> Vec<Vec<String>> {
    let ds = ds.to_str().unwrap().to_string();
    let query = "a OR the OR of".to_string();
    [
        vec!["info", "-d", &ds],
        vec!["count", "-d", &ds, &query],
        vec!["search", "-d", &ds, "--limit", "5", &query],
        vec!["count", "-d", &ds, "--url", "*a*"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .collect()
}

/// A synthetic dataset of one source under `dir`, and each command's output on it.
fn intact(dir: &Path) -> (PathBuf, Vec<String>) {
    let src = dir.join("synth.parquet");
    let (code, _, err) = run(&["synth", "--quiet", "--rows", "3000", "--seed", "5", "--out", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let ds = dir.join("intact");
    let (code, _, err) = run(&["ingest", "--quiet", "-d", ds.to_str().unwrap(), src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let outputs = commands(&ds)
        .iter()
        .map(|c| {
            let (code, out, err) = run(&c.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(code, 0, "{c:?}: {err}");
            out
        })
        .collect();
    (ds, outputs)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs every command on `ds`: each gives the intact output (`info` shows the damaged values
/// themselves, so only its exit is checked), or exits 1 naming `names` (all of them), or exits
/// 2 asking for the source to be ingested again (an index of another format, or none: what an
/// older pairscope left). Returns whether any command failed.
fn check(ds: &Path, intact: &[String], names: &[&str], damage: &str) -> bool {
    let mut failed = false;
    for (command, expected) in commands(ds).iter().zip(intact) {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let (code, out, err) = run(&args);
        assert!(code != 101 && !err.contains("panicked"), "{damage}: {} panicked: {err}", args[0]);
        if code == 0 {
            if args[0] != "info" {
                assert_eq!(&out, expected, "{damage}: {} answered differently without an error", args[0]);
            }
            continue;
        }
        failed = true;
        if code == 2 {
            assert!(err.contains("ingest it again"), "{damage}: {}: {err}", args[0]);
            continue;
        }
        assert_eq!(code, 1, "{damage}: {}: {err}", args[0]);
        for name in names {
            assert!(err.contains(name), "{damage}: {}: the error does not name {name}: {err}", args[0]);
        }
    }
    failed
}

/// Every leaf of `value` with its path: `["sources", "0", "files", "0", "rows"]`.
fn leaves(value: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                leaves(v, [at.clone(), vec![key.clone()]].concat(), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, [at.clone(), vec![i.to_string()]].concat(), out);
            }
        }
        _ => out.push(at),
    }
}

fn get_mut<'v>(value: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(value, |v, key| match v {
        Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        _ => &mut v[key.as_str()],
    })
}

/// The replacements tried for a leaf: wrong-typed, empty, cut short, huge, escaping, missing.
fn replacements(original: &Value) -> Vec<(&'static str, Option<Value>)> {
    let text = original.as_str().map(str::to_string).unwrap_or_else(|| original.to_string());
    vec![
        ("wrong-typed", Some(if original.is_string() { Value::from(12345) } else { Value::from("x") })),
        ("empty", Some(if original.is_string() { Value::from("") } else { Value::from(0) })),
        ("cut short", Some(Value::from(text[..text.len() / 2].to_string()))),
        ("huge", Some(if original.is_string() { Value::from("f".repeat(100_000)) } else { Value::from(u64::MAX) })),
        ("escaping", Some(Value::from("../../../../etc/passwd"))),
        ("absolute", Some(Value::from("/etc/passwd"))),
        ("missing", None),
    ]
}

/// The fields every reader relies on: damaging them must be an error naming the field.
fn relied_on(path: &[String]) -> bool {
    let last = path.last().map(String::as_str).unwrap_or("");
    let in_file = path.iter().any(|p| p == "files");
    matches!(last, "format" | "version") && path.len() == 1
        || (!in_file && matches!(last, "id" | "rows" | "input_rows"))
        || (in_file && matches!(last, "path" | "index" | "block" | "block_key" | "rows"))
}

#[test]
fn every_damaged_manifest_field_is_the_same_answer_or_an_error_naming_it_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, outputs) = intact(dir.path());
    let manifest_name = "v00000001.json";
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(ds.join("versions").join(manifest_name)).unwrap()).unwrap();
    let mut fields = Vec::new();
    leaves(&manifest, Vec::new(), &mut fields);
    assert!(fields.len() > 20, "{fields:?}");
    let copy = dir.path().join("copy");
    copy_dir(&ds, &copy);
    for field in &fields {
        let original = get_mut(&mut manifest.clone(), field).clone();
        let dotted = field.join(".");
        for (kind, replacement) in replacements(&original) {
            let in_array = field.last().is_some_and(|k| k.parse::<usize>().is_ok());
            // Leaving out an element of a list makes another valid manifest (fewer sources).
            if replacement.as_ref() == Some(&original) || (replacement.is_none() && in_array) {
                continue;
            }
            let mut damaged = manifest.clone();
            match replacement {
                Some(value) => *get_mut(&mut damaged, field) = value,
                None => {
                    let (last, parent) = field.split_last().unwrap();
                    match get_mut(&mut damaged, parent) {
                        Value::Object(map) => drop(map.remove(last)),
                        Value::Array(items) => drop(items.remove(last.parse::<usize>().unwrap())),
                        _ => unreachable!(),
                    }
                }
            }
            std::fs::write(copy.join("versions").join(manifest_name), serde_json::to_vec(&damaged).unwrap()).unwrap();
            let damage = format!("{dotted} {kind}");
            let name = field.last().unwrap().as_str();
            let names: &[&str] = if relied_on(field) { &[manifest_name, name] } else { &[manifest_name] };
            let failed = check(&copy, &outputs, names, &damage);
            // A value no writer writes in a field readers rely on is refused, even where these
            // commands would not trip over it.
            if relied_on(field) && !(kind == "missing" && name == "index") {
                assert!(failed, "{damage}: accepted");
            }
        }
    }
}

#[test]
fn every_damaged_block_file_is_the_same_answer_or_an_error_naming_it_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, outputs) = intact(dir.path());
    let mut files = Vec::new();
    let mut stack = vec![ds.join("sources")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { stack.push(path) } else { files.push(path.strip_prefix(&ds).unwrap().to_path_buf()) }
        }
    }
    let kinds = |ext: &str| files.iter().any(|f| f.extension().is_some_and(|e| e == ext));
    assert!(["parquet", "bundle", "json"].iter().all(|e| kinds(e)), "{files:?}");
    for (n, file) in files.iter().enumerate() {
        for kind in ["cut short", "garbage"] {
            let copy = dir.path().join(format!("copy-{n}-{}", kind.len()));
            copy_dir(&ds, &copy);
            let path = copy.join(file);
            let bytes = std::fs::read(&path).unwrap();
            let damaged = match kind {
                "cut short" => bytes[..bytes.len() / 2].to_vec(),
                _ => (0..bytes.len()).map(|i| (i as u8).wrapping_mul(167) ^ 0x5a).collect(),
            };
            std::fs::write(&path, damaged).unwrap();
            // The block's index directory, or its parquet file, or the manifest-like file itself.
            let parent = file.parent().unwrap().file_name().unwrap().to_str().unwrap();
            let own = file.file_name().unwrap().to_str().unwrap();
            let names: &[&str] = &[if parent.starts_with("index-") { parent } else { own }];
            check(&copy, &outputs, names, &format!("{} {kind}", file.display()));
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
}
