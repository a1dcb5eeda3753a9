//! Paths as users type them (issue 16): `..`, a symlink before `..`, names with spaces, `%`,
//! `#`, `?`, `[`, `*` and non-ASCII letters work in every command that takes a path; a name
//! that is not UTF-8 is refused with the path shown; and an error is printed once, each cause
//! once, never the same text twice.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run<S: AsRef<OsStr>>(args: &[S]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).env_remove("PAIRSCOPE_LOG").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[String]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

const NAMES: [&str; 8] = ["with space", "per%25cent", "hash#tag", "what?", "br[ack]et", "st*r", "ümlaut-日本", "plain"];

#[test]
fn every_command_takes_dotdot_symlinks_and_odd_names() {
    let tmp = tempfile::tempdir().unwrap();
    let shared_wat = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cc/whirlwind.warc.wat.gz");
    if !shared_wat.exists() {
        eprintln!("notice: ../shared/data is absent (see ../shared/README.md): collect is not tried here");
    }
    for name in NAMES {
        let home = tmp.path().join(name);
        fs::create_dir_all(home.join("x")).unwrap();
        fs::create_dir_all(home.join("deep").join("er")).unwrap();
        // `link/../..` is `home` when the kernel follows the link first (link → deep/er).
        std::os::unix::fs::symlink(home.join("deep").join("er"), home.join("link")).unwrap();
        let via_dotdot = |leaf: &str| text(&home.join("x").join("..").join(leaf));
        let via_link = |leaf: &str| text(&home.join("link").join("..").join("..").join(leaf));

        ok(&strings(&["synth", "-q", "--rows", "600", "--rows-per-shard", "300", "--out", &via_dotdot("src")]));
        ok(&strings(&["ingest", "-q", "-d", &via_link("ds"), &via_link("src")]));
        assert!(home.join("ds").join("CURRENT").exists(), "{name}: the dataset is where the kernel resolves the path");
        for ds in [via_dotdot("ds"), via_link("ds")] {
            let info: serde_json::Value = serde_json::from_str(&ok(&strings(&["info", "--json", "-d", &ds]))).unwrap();
            assert_eq!(info["rows"], 600, "{name}");
            assert!(ok(&strings(&["count", "-d", &ds, "a"])).trim().parse::<u64>().is_ok(), "{name}");
            ok(&strings(&["search", "-d", &ds, "a", "--json"]));
            ok(&strings(&["facets", "-d", &ds, "--by", "host", "--json"]));
            let counted = ok(&strings(&["sql", "-d", &ds, "SELECT count(*) AS n FROM pairs", "--format", "csv"]));
            assert_eq!(counted, "n\n600\n", "{name}");
        }
        fs::write(home.join("names.txt"), "Claude Monet\n").unwrap();
        ok(&strings(&["mentions", "-q", "-d", &via_dotdot("ds"), "--names", &via_link("names.txt")]));
        fs::write(home.join("domains.txt"), "example.com\n").unwrap();
        ok(&strings(&[
            "subset",
            "-d",
            &via_link("ds"),
            "--where",
            "aesthetic > 5",
            "--exclude-domains",
            &via_dotdot("domains.txt"),
            "--out",
            &via_dotdot("sub"),
        ]));
        assert!(home.join("sub").join("manifest.json").exists(), "{name}");
        ok(&strings(&["diff", "-d", &via_dotdot("ds"), "-d", &via_link("sub"), "--json"]));
        ok(&strings(&["sql", "-d", &via_link("ds"), "SELECT 1 AS x", "--out", &via_dotdot("one.csv")]));
        assert_eq!(fs::read_to_string(home.join("one.csv")).unwrap(), "x\n1\n");
        if shared_wat.exists() {
            ok(&strings(&["collect", "-q", "--out", &via_dotdot("pairs"), &text(&shared_wat)]));
            assert!(home.join("pairs").join(".collect").join("run.json").exists(), "{name}");
        }
        // Sources are recorded under their resolved path, and removed by any spelling of it.
        let sources: serde_json::Value =
            serde_json::from_str(&ok(&strings(&["sources", "-d", &via_dotdot("ds"), "--format", "json"]))).unwrap();
        let recorded: Vec<&str> = sources.as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
        let canonical = fs::canonicalize(home.join("src")).unwrap();
        assert_eq!(recorded, [0, 1].map(|n| text(&canonical.join(format!("part-0000{n}.parquet")))), "{name}");
        ok(&strings(&["sources", "-q", "-d", &via_link("ds"), "--remove", &via_dotdot("src/part-00001.parquet")]));
        let info: serde_json::Value =
            serde_json::from_str(&ok(&strings(&["info", "--json", "-d", &via_link("ds")]))).unwrap();
        assert_eq!(info["rows"], 300, "{name}");
    }
}

#[test]
fn a_path_that_is_not_utf8_is_refused_with_the_path_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = tmp.path().as_os_str().as_bytes().to_vec();
    bad.extend_from_slice(b"/caf\xe9");
    let bad = PathBuf::from(OsStr::from_bytes(&bad));
    for args in [
        vec![OsStr::new("info"), OsStr::new("-d"), bad.as_os_str()],
        vec![OsStr::new("sql"), OsStr::new("-d"), bad.as_os_str(), OsStr::new("SELECT 1")],
        vec![OsStr::new("synth"), OsStr::new("--out"), bad.as_os_str()],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("not valid UTF-8") && err.contains("caf"), "{err}");
    }
}

/// The longest stretch of 30 characters that occurs twice in `text`, if any.
fn repeated_stretch(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut seen = std::collections::HashSet::new();
    (0..chars.len().saturating_sub(29))
        .map(|i| chars[i..i + 30].iter().collect::<String>())
        .find(|s| !seen.insert(s.clone()))
}

#[test]
fn errors_are_printed_once_without_repeating_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| text(&tmp.path().join(p));
    ok(&strings(&["synth", "-q", "--rows", "300", "--out", &t("src")]));
    ok(&strings(&["ingest", "-q", "-d", &t("ds"), &t("src")]));
    fs::write(tmp.path().join("bad.parquet"), b"PAR1 this is not parquet PAR1").unwrap();
    fs::write(tmp.path().join("names.txt"), "???\n").unwrap();
    let cases: Vec<Vec<String>> = vec![
        strings(&["ingest", "-q", "-d", &t("ds2"), &t("missing.parquet")]),
        strings(&["ingest", "-q", "-d", &t("ds3"), &t("bad.parquet")]),
        strings(&["info", "-d", &t("missing-ds")]),
        strings(&["sql", "-d", &t("ds"), "SELECT nope FROM pairs"]),
        strings(&["sql", "-d", &t("ds"), "SELECT CAST(caption AS INT) FROM pairs"]),
        strings(&["sql", "-d", &t("ds"), "DROP TABLE pairs"]),
        strings(&["search", "-d", &t("ds"), "\"unclosed"]),
        strings(&["search", "-d", &t("ds"), "a", "--where", "aesthetic >"]),
        strings(&["subset", "-d", &t("missing-ds"), "--out", &t("sub")]),
        strings(&["subset", "-d", &t("ds"), "--where", "nope > 1", "--out", &t("sub")]),
        strings(&["mentions", "-d", &t("ds"), "--names", &t("names.txt")]),
        strings(&["mentions", "-d", &t("ds"), "--names", &t("missing.txt")]),
        strings(&["collect", "-q", "--out", &t("pairs"), &t("missing.wat.gz")]),
        strings(&["collect", "-q", "--out", &t("pairs2"), &t("bad.parquet")]),
        strings(&["diff", "-d", &t("ds"), "-d", &t("missing-ds")]),
    ];
    for args in cases {
        let (code, _, err) = run(&args);
        assert_ne!(code, 0, "{args:?} fails");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        let errors = err.lines().filter(|line| line.starts_with("error: ")).count();
        assert_eq!(errors, 1, "{args:?}: one error, printed once: {err}");
        if let Some(stretch) = repeated_stretch(&err) {
            panic!("{args:?}: {stretch:?} is printed twice in:\n{err}");
        }
    }
}
