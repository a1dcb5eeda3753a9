//! Regression tests for what a hostile test of the release binary found (issue 15): outputs
//! that destroyed a user's files or the dataset, and inputs without limits. Each test drives
//! the real binary in its own temporary directory and fails on the code before its fix.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A 3,000-row dataset made by the binary itself, and its synth directory.
fn dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let synth = dir.join("synth");
    let ds = dir.join("ds");
    let (code, _, err) = run(&["synth", "-q", "--rows", "3000", "--rows-per-shard", "1500", "--out", text(&synth)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["ingest", "-q", "-d", text(&ds), text(&synth)]);
    assert_eq!(code, 0, "{err}");
    (ds, synth)
}

/// Every file under `dir` with its bytes, to show that a refused command changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n != "LOCK") {
                files.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn count_rows(ds: &Path) -> String {
    let (code, out, err) = run(&["sql", "-d", text(ds), "SELECT count(*) AS n FROM pairs", "--format", "csv"]);
    assert_eq!(code, 0, "the dataset still reads: {err}");
    out
}

#[test]
fn subset_out_replaces_only_an_earlier_subset_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, _) = dataset(tmp.path());
    let subset = |out: &Path| run(&["subset", "-d", text(&ds), "--where", "aesthetic > 6", "--out", text(out)]);

    // The case: a manifest.json that is not a subset's, beside a precious file.
    let x = tmp.path().join("x");
    fs::create_dir(&x).unwrap();
    fs::write(x.join("manifest.json"), "{\"name\":\"x\"}").unwrap();
    fs::write(x.join("important.txt"), "precious").unwrap();
    let (code, _, err) = subset(&x);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(text(&x)) && err.contains("not a subset manifest"), "{err}");
    assert_eq!(fs::read_to_string(x.join("important.txt")).unwrap(), "precious");

    // A real subset is replaced, but not once it holds a file its manifest does not list.
    let out = tmp.path().join("out");
    let (code, _, err) = subset(&out);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = subset(&out);
    assert_eq!(code, 0, "an earlier subset is replaced: {err}");
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let (code, _, err) = subset(&out);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("notes.txt"), "the refusal says why: {err}");
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    fs::remove_file(out.join("notes.txt")).unwrap();

    // A file where the directory should be, and a non-empty directory without a manifest.
    let file = tmp.path().join("file");
    fs::write(&file, "data").unwrap();
    assert_eq!(subset(&file).0, 2);
    assert_eq!(fs::read_to_string(&file).unwrap(), "data");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).unwrap();
    fs::write(plain.join("a.parquet"), "not ours").unwrap();
    assert_eq!(subset(&plain).0, 2);
    assert!(plain.join("a.parquet").exists());

    // Hidden siblings: a user's directory that merely looks like a staging one is left alone,
    // one a killed run left (our marker, unlocked) is removed.
    let lookalike = tmp.path().join(".out.partial-1");
    fs::create_dir(&lookalike).unwrap();
    fs::write(lookalike.join("keep.txt"), "mine").unwrap();
    let stale = tmp.path().join(".out.partial-2");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join(".pairscope-subset-staging"), "").unwrap();
    let (code, _, err) = subset(&out);
    assert_eq!(code, 0, "{err}");
    assert!(lookalike.join("keep.txt").exists(), "a directory without our marker is not ours to remove");
    assert!(!stale.exists(), "a killed run's staging directory is cleaned up");
}

#[test]
fn no_out_writes_into_a_dataset_or_over_an_input_or_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, synth) = dataset(tmp.path());
    let before = snapshot(&ds);
    let block = before.iter().map(|(p, _)| p).find(|p| p.extension().is_some_and(|e| e == "parquet")).unwrap();
    let manifest = before.iter().map(|(p, _)| p).find(|p| p.starts_with(ds.join("versions"))).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&ds, &link).unwrap();
    let sub = tmp.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let dotdot = sub.join("..").join("ds").join("CURRENT");
    let inside: Vec<PathBuf> = vec![
        ds.join("CURRENT"),
        manifest.clone(),
        block.clone(),
        ds.join("new.csv"),
        ds.join("sources").join("new-dir").join("x.csv"),
        link.join("CURRENT"),
        dotdot,
    ];
    for out in &inside {
        for force in [false, true] {
            let mut args = vec!["sql", "-d", text(&ds), "SELECT 1 AS x", "--format", "csv", "--out", text(out)];
            if force {
                args.push("--force");
            }
            let (code, _, err) = run(&args);
            assert_eq!(code, 2, "--out {}: {err}", out.display());
            assert!(err.contains("inside the dataset"), "{err}");
        }
        let (code, _, err) =
            run(&["subset", "-d", text(&ds), "--where", "aesthetic > 6", "--out", text(&out.with_extension("d"))]);
        assert_eq!(code, 2, "subset --out {}: {err}", out.display());
    }
    let (code, _, err) = run(&["synth", "-q", "--rows", "10", "--out", text(&ds.join("more"))]);
    assert_eq!(code, 2, "synth into a dataset: {err}");
    let (code, _, err) = run(&["collect", "-q", "--out", text(&ds.join("pairs")), text(block)]);
    assert_eq!(code, 2, "collect into a dataset: {err}");
    assert_eq!(snapshot(&ds), before, "no refused command changed the dataset");
    count_rows(&ds);

    // An input of the command itself: a removal list, a collect input.
    let list = tmp.path().join("domains.txt");
    fs::write(&list, "example.com\n").unwrap();
    let (code, _, err) = run(&["subset", "-d", text(&ds), "--exclude-domains", text(&list), "--out", text(&list)]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(fs::read_to_string(&list).unwrap(), "example.com\n");
    let (code, _, err) = run(&["collect", "-q", "--out", text(&synth), text(&synth.join("part-00000.parquet"))]);
    assert_eq!(code, 2, "{err}");

    // An existing file needs --force; the replacement is whole or nothing.
    let out = tmp.path().join("out.csv");
    fs::write(&out, "precious\n").unwrap();
    let (code, _, err) = run(&["sql", "-d", text(&ds), "SELECT 1 AS x", "--out", text(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "precious\n");
    let failing = "SELECT CAST(caption AS INT) AS n FROM pairs";
    let (code, _, err) = run(&["sql", "-d", text(&ds), failing, "--out", text(&out), "--force"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "precious\n", "a failed query keeps the earlier file");
    let (code, _, err) = run(&["sql", "-d", text(&ds), "SELECT 1 AS x", "--out", text(&out), "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "x\n1\n");
    let names: Vec<String> =
        fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "no temporary left: {names:?}");
}

#[test]
fn name_lists_are_bounded_and_counts_obey_their_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, _) = dataset(tmp.path());
    let mentions = |names: &Path, extra: &[&str]| {
        let mut args = vec!["mentions", "-q", "-d", text(&ds), "--names", text(names), "--no-cache"];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let outcome = run(&args);
        (outcome, started.elapsed())
    };

    let words = tmp.path().join("words.txt");
    fs::write(&words, "monet ".repeat(250_000)).unwrap();
    let ((code, _, err), took) = mentions(&words, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("words.txt:1") && err.contains("at most 256"), "{err}");
    assert!(took < Duration::from_secs(20), "refused at once, not after a count ({took:?})");

    let aliases = tmp.path().join("aliases.txt");
    fs::write(&aliases, vec!["monet"; 180_000].join(" | ")).unwrap();
    let ((code, _, err), _) = mentions(&aliases, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("180000 aliases on one line"), "{err}");

    let ((code, _, err), _) = mentions(Path::new("/dev/zero"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    // A list just inside the limits counts; a scan (--by) with a tiny time limit stops with
    // exit 1 and says why.
    let fine = tmp.path().join("fine.txt");
    let long_alias = "claude ".repeat(36);
    fs::write(&fine, format!("Claude Monet | {}\nHokusai\n", long_alias.trim())).unwrap();
    let ((code, _, err), _) = mentions(&fine, &[]);
    assert_eq!(code, 0, "{err}");
    let ((code, _, err), _) = mentions(&fine, &["--by", "host", "--timeout", "0.000001"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("time limit"), "{err}");
    let ((code, _, err), _) = mentions(&fine, &["--timeout", "-1"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn ingest_makes_a_dataset_only_in_a_new_or_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, synth) = dataset(tmp.path());
    // A project folder whose own `sources/` a commit's clean-up would have emptied.
    let project = tmp.path().join("project");
    fs::create_dir_all(project.join("sources").join("notes")).unwrap();
    fs::write(project.join("sources").join("notes").join("draft.txt"), "mine").unwrap();
    let (code, _, err) = run(&["ingest", "-q", "-d", text(&project), text(&synth)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("neither a dataset nor a new one") && err.contains("notes"), "{err}");
    assert_eq!(fs::read_to_string(project.join("sources").join("notes").join("draft.txt")).unwrap(), "mine");
    assert!(!project.join("CURRENT").exists());

    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("readme.md"), "mine").unwrap();
    assert_eq!(run(&["ingest", "-q", "-d", text(&other), text(&synth)]).0, 2);
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (code, _, err) = run(&["ingest", "-q", "-d", text(&empty), text(&synth)]);
    assert_eq!(code, 0, "an empty directory becomes a dataset: {err}");
    // What a first ingest killed inside its commit leaves (its `LOCK`, a manifest and
    // `CURRENT`'s temporary, not yet renamed) is finished by a re-run, temporaries gone.
    let killed = tmp.path().join("killed");
    fs::create_dir_all(killed.join("versions")).unwrap();
    fs::write(killed.join("LOCK"), "").unwrap();
    fs::write(killed.join("versions").join("v00000001.json.tmp-4000000"), "{").unwrap();
    fs::write(killed.join("CURRENT.tmp-4000000"), "1").unwrap();
    let (code, _, err) = run(&["ingest", "-q", "-d", text(&killed), text(&synth)]);
    assert_eq!(code, 0, "{err}");
    let mut left: Vec<String> = fs::read_dir(&killed)
        .unwrap()
        .chain(fs::read_dir(killed.join("versions")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    left.sort();
    assert_eq!(left, Vec::<String>::new());
}
