//! The documentation agrees with the code. README.md, ARCHITECTURE.md and docs/*.md quote the
//! code in places; every quote is marked, and this test fails when a quote and its source differ:
//!
//! - `<!-- copied from PATH: ANCHOR -->` right before a fenced block: the block's lines equal
//!   those of the first fenced block that follows the doc-comment line containing ANCHOR in
//!   PATH (the file's `//!` / `///` lines, prefixes removed; nothing else is normalised);
//! - `<!-- copied from PATH: # HEADING -->` … `<!-- end of copy -->`: the text between equals
//!   the doc-comment section under that heading in PATH, up to its next heading;
//! - `<!-- value: NAME -->TEXT`: TEXT begins with NAME's value as [`values`] renders it from
//!   the constant (and every value there is quoted somewhere, so the list cannot rot);
//! - `<!-- default: COMMAND --flag -->TEXT`: TEXT begins with the `[default: …]` that
//!   `pairscope COMMAND --help` prints for `--flag`.
//!
//! And, for the documents as a whole: every subcommand `pairscope --help` lists has a README
//! tour line and example and a docs heading; every relative link resolves (file, and heading
//! anchor in a Markdown file); ARCHITECTURE.md's crate map lists exactly the crates under
//! `crates/`, with their package names and `pairscope-*` dependencies; docs/ingest.md's
//! column table is the canonical column set (names, types, meanings), and ingest takes each
//! column from the source names it lists, in their order; the README's exit-code table lists
//! exactly `ExitStatus`'s codes; the README stays within 200 lines.
//!
//! It lives with the binary's tests because it needs the binary (`--help`) and the constants
//! of every library crate.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use pairscope_model::exit::ExitStatus;

/// The README is the user's page: what it is, the two commands, the tour, exit codes, safety,
/// links. Anything longer belongs in docs/.
const README_MAX_LINES: usize = 200;

/// The workspace, from `CARGO_MANIFEST_DIR` at run time, not `env!()`: cargo reuses a test binary
/// that another clone of the workspace built into the same target directory, with its paths.
fn root() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// README.md, ARCHITECTURE.md and docs/*.md, as (path relative to the root, text).
fn documents() -> Vec<(String, String)> {
    let root = root();
    let mut names = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    let mut pages: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    pages.sort();
    names.extend(pages);
    names.into_iter().map(|n| (n.clone(), read(&root.join(&n)))).collect()
}

/// Every marker `<!-- KIND ARG -->` in `text` (KIND: `value:`, `default:`, `copied from`), as
/// (line number from 1, ARG, the text after it); not those in inline code, which show the syntax.
fn markers<'a>(text: &'a str, kind: &str) -> Vec<(usize, &'a str, &'a str)> {
    let open = format!("<!-- {kind} ");
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut searched = 0;
        while let Some(at) = line[searched..].find(&open).map(|at| searched + at) {
            let after = &line[at + open.len()..];
            let end = after.find(" -->").unwrap_or_else(|| panic!("line {}: unclosed {kind} marker", n + 1));
            if line[..at].matches('`').count() % 2 == 0 {
                found.push((n + 1, &after[..end], &after[end + 4..]));
            }
            searched = at + open.len() + end + 4;
        }
    }
    found
}

// ---- copies of code ------------------------------------------------------------------------

/// The doc-comment lines of a Rust file, prefixes (`//! `, `/// `) removed; `None` for every
/// other line, so a section ends where its comment does.
fn doc_lines(source: &str) -> Vec<Option<&str>> {
    source
        .lines()
        .map(|line| {
            let line = line.trim_start();
            ["//!", "///"]
                .iter()
                .find_map(|prefix| line.strip_prefix(prefix))
                .filter(|rest| !rest.starts_with('/'))
                .map(|rest| rest.strip_prefix(' ').unwrap_or(rest))
        })
        .collect()
}

/// The lines of the fenced block that starts at `lines[start]` (its opening fence).
fn fenced<'a>(lines: &[Option<&'a str>], start: usize) -> Option<Vec<&'a str>> {
    let mut block = Vec::new();
    for line in &lines[start + 1..] {
        let line = (*line)?;
        if line.trim_start().starts_with("```") {
            return Some(block);
        }
        block.push(line);
    }
    None
}

fn trim_blank<'a>(mut lines: &'a [&'a str]) -> &'a [&'a str] {
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines = &lines[1..];
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines = &lines[..lines.len() - 1];
    }
    lines
}

/// What a copy marker quotes in the code: the fenced block after the ANCHOR line, or the
/// section under the ANCHOR heading.
fn code_quote(path: &str, anchor: &str, section: bool) -> Result<Vec<String>, String> {
    let source = read(&root().join(path));
    let lines = doc_lines(&source);
    let at = lines
        .iter()
        .position(|l| l.is_some_and(|l| if section { l.trim() == anchor } else { l.contains(anchor) }))
        .ok_or_else(|| {
            format!("{path} has no doc-comment line {}{anchor:?}", if section { "" } else { "containing " })
        })?;
    if section {
        let body: Vec<&str> = lines[at + 1..].iter().map_while(|l| *l).take_while(|l| !l.starts_with('#')).collect();
        return Ok(trim_blank(&body).iter().map(|l| l.to_string()).collect());
    }
    let fence = (at..lines.len())
        .find(|&i| lines[i].is_some_and(|l| l.trim_start().starts_with("```")))
        .ok_or_else(|| format!("{path}: no fenced block after {anchor:?}"))?;
    let block = fenced(&lines, fence).ok_or_else(|| format!("{path}: the block after {anchor:?} is not closed"))?;
    Ok(block.iter().map(|l| l.to_string()).collect())
}

/// What a document quotes after its copy marker on line `line` (from 1).
fn doc_quote(text: &str, line: usize) -> Result<(bool, Vec<String>), String> {
    let lines: Vec<Option<&str>> = text.lines().map(Some).collect();
    let next = lines.get(line).copied().flatten().unwrap_or("");
    if next.trim_start().starts_with("```") {
        let block = fenced(&lines, line).ok_or("the fenced block is not closed")?;
        return Ok((false, block.iter().map(|l| l.to_string()).collect()));
    }
    let body: Vec<&str> =
        lines[line..].iter().map(|l| l.unwrap()).take_while(|l| !l.contains("<!-- end of copy -->")).collect();
    if line + body.len() >= lines.len() {
        return Err("neither a fenced block follows nor an `<!-- end of copy -->` closes it".into());
    }
    Ok((true, trim_blank(&body).iter().map(|l| l.to_string()).collect()))
}

/// The first line where two quotes differ, for the failure message.
fn first_difference(doc: &[String], code: &[String]) -> String {
    let n = doc.iter().zip(code).take_while(|(a, b)| a == b).count();
    format!(
        "first difference at line {} of the quote:\n  doc:  {:?}\n  code: {:?}",
        n + 1,
        doc.get(n).map_or("(end)", |s| s.as_str()),
        code.get(n).map_or("(end)", |s| s.as_str())
    )
}

#[test]
fn every_block_copied_from_the_code_equals_the_code() {
    let mut failures = Vec::new();
    let mut copies = 0;
    for (name, text) in documents() {
        for (line, arg, _) in markers(&text, "copied from") {
            copies += 1;
            let (path, anchor) = arg.split_once(": ").unwrap_or_else(|| panic!("{name}:{line}: want PATH: ANCHOR"));
            let result = doc_quote(&text, line).and_then(|(section, doc)| {
                let code = code_quote(path, anchor, section)?;
                if doc == code { Ok(()) } else { Err(first_difference(&doc, &code)) }
            });
            if let Err(why) = result {
                failures.push(format!("{name}:{line} (copied from {path}: {anchor}): {why}"));
            }
        }
    }
    assert!(copies >= 3, "only {copies} copy markers found: the grammar, layout and EXPR meaning are quoted");
    assert!(failures.is_empty(), "copies that differ from the code:\n{}", failures.join("\n"));
}

// ---- values and defaults --------------------------------------------------------------------

/// `n` with thousands separators, as the docs write counts: 20,000.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte size the way the docs write it: `64 KiB`, `64 MiB` (exact units only).
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

fn builtin_entities(spec: &str) -> u64 {
    pairscope_text::names::NameList::load(spec).unwrap().entities.len() as u64
}

/// Every limit and default the documents quote that is not a CLI flag's default, by the name a
/// `<!-- value: NAME -->` marker uses, rendered as the documents write it.
fn values() -> BTreeMap<&'static str, String> {
    use pairscope_query::{facets, parse};
    let server = pairscope_server::ServerConfig::new(PathBuf::new());
    BTreeMap::from([
        ("query.max_bytes", bytes(parse::MAX_QUERY_BYTES as u64)),
        ("query.max_clauses", grouped(parse::MAX_CLAUSES as u64)),
        ("query.max_depth", grouped(parse::MAX_DEPTH as u64)),
        ("query.max_prefix_terms", grouped(pairscope_query::compile::MAX_PREFIX_TERMS as u64)),
        ("query.max_limit", pairscope_query::MAX_LIMIT.to_string()),
        ("query.max_top", grouped(facets::MAX_TOP as u64)),
        ("query.max_buckets", grouped(facets::MAX_BUCKETS as u64)),
        ("query.max_parquet_filter_rows", format!("{}M", pairscope_query::MAX_PARQUET_FILTER_ROWS / 1_000_000)),
        ("expr.max_bytes", bytes(pairscope_expr::MAX_EXPR_BYTES as u64)),
        ("expr.max_depth", grouped(pairscope_expr::MAX_DEPTH as u64)),
        ("expr.max_in_list", grouped(pairscope_expr::MAX_IN_LIST as u64)),
        ("ingest.max_source_columns", grouped(pairscope_ingest::MAX_SOURCE_COLUMNS as u64)),
        ("ingest.max_dataset_columns", grouped(pairscope_store::writer::MAX_DATASET_COLUMNS as u64)),
        ("ingest.row_group_rows", format!("{}k", pairscope_store::blocks::ROW_GROUP_ROWS / 1024)),
        ("row_id.index_bits", pairscope_model::row_id::ROW_INDEX_BITS.to_string()),
        ("names.max_aliases", grouped(pairscope_text::names::MAX_ALIASES_PER_ENTITY as u64)),
        ("names.max_alias_bytes", grouped(pairscope_text::names::MAX_ALIAS_BYTES as u64)),
        ("names.max_list_bytes", bytes(pairscope_text::names::MAX_LIST_BYTES)),
        ("names.builtin_artists", grouped(builtin_entities("builtin:artists"))),
        ("names.builtin_characters", grouped(builtin_entities("builtin:characters"))),
        ("mentions.max_index_entities", grouped(pairscope_mentions::count::MAX_INDEX_ENTITIES as u64)),
        ("mentions.frequent_factor", pairscope_mentions::ambiguity::FREQUENT_FACTOR.to_string()),
        ("mentions.frequent_min_share", format!("{}%", pairscope_mentions::ambiguity::FREQUENT_MIN_SHARE * 100.0)),
        ("subset.row_group_rows", grouped(pairscope_subset::run::ROW_GROUP_ROWS as u64)),
        ("remote.read_ahead_chunks", pairscope_remote::READ_AHEAD_CHUNKS.to_string()),
        ("remote.max_resumes", pairscope_remote::MAX_RESUMES.to_string()),
        ("serve.page_size", server.page_size.to_string()),
        ("serve.max_page_size", server.max_page_size.to_string()),
        ("serve.facet_hosts", server.facet_hosts.to_string()),
        ("serve.facet_languages", server.facet_languages.to_string()),
        ("serve.reload_seconds", server.reload_interval.as_secs().to_string()),
    ])
}

/// Whether `text` begins with `value` as a whole (`100` does not begin `1000` or `100.5`).
fn begins_with_value(text: &str, value: &str) -> bool {
    let Some(rest) = text.strip_prefix(value) else { return false };
    let mut next = rest.chars();
    match next.next() {
        Some(c) if c.is_ascii_alphanumeric() => false,
        Some('.' | ',') => !next.next().is_some_and(|c| c.is_ascii_digit()),
        _ => true,
    }
}

#[test]
fn every_quoted_limit_equals_its_constant() {
    let values = values();
    let mut used = BTreeSet::<String>::new();
    let mut failures = Vec::new();
    for (name, text) in documents() {
        for (line, key, after) in markers(&text, "value:") {
            match values.get(key) {
                None => {
                    failures.push(format!("{name}:{line}: unknown value {key:?} (add it to `values` in this test)"))
                }
                Some(value) if !begins_with_value(after, value) => {
                    failures.push(format!("{name}:{line}: {key} is {value:?} in the code, the text says {after:?}"))
                }
                Some(_) => {}
            }
            used.insert(key.to_string());
        }
    }
    for key in values.keys().filter(|k| !used.contains(**k)) {
        failures.push(format!("{key} is quoted nowhere: mark its mention with <!-- value: {key} -->"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pairscope")).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "pairscope {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The `[default: …]` that `help` shows for `flag`, whitespace collapsed (help text wraps).
fn help_default(help: &str, flag: &str) -> Option<String> {
    let is_option = |l: &str| {
        let indent = l.len() - l.trim_start().len();
        (2..=6).contains(&indent) && l.trim_start().starts_with('-')
    };
    let names_flag = |l: &str| l.split([' ', ',']).any(|word| word == flag);
    let lines: Vec<&str> = help.lines().collect();
    let at = lines.iter().position(|l| is_option(l) && names_flag(l))?;
    let end = (at + 1..lines.len()).find(|&i| is_option(lines[i]) || !lines[i].starts_with(' ')).unwrap_or(lines.len());
    let paragraph = lines[at..end].join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    let start = paragraph.find("[default: ")? + "[default: ".len();
    let len = paragraph[start..].find(']')?;
    Some(paragraph[start..start + len].to_string())
}

#[test]
fn every_quoted_default_equals_the_help() {
    let mut helps = BTreeMap::<String, String>::new();
    let mut failures = Vec::new();
    let mut quoted = 0;
    for (name, text) in documents() {
        for (line, arg, after) in markers(&text, "default:") {
            quoted += 1;
            let (command, flag) = arg.split_once(' ').unwrap_or_else(|| panic!("{name}:{line}: want COMMAND --flag"));
            let help = helps.entry(command.to_string()).or_insert_with(|| help(&[command]));
            match help_default(help, flag) {
                None => {
                    failures.push(format!("{name}:{line}: `pairscope {command} --help` shows no default for {flag}"))
                }
                Some(value) if !begins_with_value(after, &value) => failures
                    .push(format!("{name}:{line}: {command} {flag} defaults to {value:?}, the text says {after:?}")),
                Some(_) => {}
            }
        }
    }
    assert!(quoted >= 10, "only {quoted} default markers found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- commands ------------------------------------------------------------------------------

/// The subcommands `pairscope --help` lists (not `help`).
fn subcommands() -> Vec<String> {
    let help = help(&[]);
    let section = help.split("Commands:\n").nth(1).expect("the help lists commands");
    section
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && l.as_bytes().get(2).is_some_and(|b| b.is_ascii_lowercase()))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn every_command_has_a_readme_tour_line_an_example_and_a_docs_heading() {
    let root = root();
    let readme = read(&root.join("README.md"));
    let docs: Vec<(String, String)> = documents().into_iter().filter(|(n, _)| n.starts_with("docs/")).collect();
    let commands = subcommands();
    assert!(commands.len() >= 10, "the help lists only {commands:?}");
    let mut failures = Vec::new();
    for command in &commands {
        let named = format!("`pairscope {command}`");
        if !readme.lines().any(|l| !l.starts_with('#') && l.contains(&named)) {
            failures.push(format!("README.md: no tour line names {named}"));
        }
        if !readme.lines().any(|l| l.starts_with(&format!("pairscope {command} "))) {
            failures.push(format!("README.md: no example line `pairscope {command} …`"));
        }
        if !docs.iter().any(|(_, text)| text.lines().any(|l| l.starts_with('#') && l.contains(&named))) {
            failures.push(format!("docs/: no page has a heading naming {named}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- links ---------------------------------------------------------------------------------

/// `text` without fenced blocks and inline code, where `](` is not a link.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            out.extend(line.split('`').step_by(2));
            out.push('\n');
        }
    }
    out
}

/// The anchors GitHub gives a Markdown file's headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    let mut in_fence = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !in_fence) else { continue };
        let slug: String = heading
            .trim_start_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let n = seen.entry(slug.clone()).or_default();
        found.insert(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        *n += 1;
    }
    found
}

/// Every inline link target `[text](target)` of `text`'s prose.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut found = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        found.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    found
}

#[test]
fn every_relative_link_resolves() {
    let root = root();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, text) in documents() {
        let dir = Path::new(&name).parent().unwrap().to_path_buf();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = target.split_once('#').map_or((target.as_str(), None), |(f, a)| (f, Some(a)));
            let relative = if file.is_empty() { PathBuf::from(&name) } else { dir.join(file) };
            let path = root.join(&relative);
            if !path.exists() {
                failures.push(format!("{name}: link to {target}: {} does not exist", relative.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|_| path.extension().is_some_and(|e| e == "md"))
                && !anchors(&read(&path)).contains(anchor)
            {
                failures.push(format!("{name}: link to {target}: no heading with that anchor"));
            }
        }
    }
    assert!(checked >= 20, "only {checked} relative links found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- the crate map -------------------------------------------------------------------------

/// A crate's package name, its `pairscope-*` (normal) dependencies, and whether it takes the
/// workspace's lints (`[lints] workspace = true`), from its Cargo.toml.
fn package(dir: &Path) -> (String, BTreeSet<String>, bool) {
    let toml = read(&dir.join("Cargo.toml"));
    let mut name = None;
    let mut deps = BTreeSet::new();
    let mut workspace_lints = false;
    let mut section = "";
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[package]" && line.starts_with("name") {
            name = line.split('"').nth(1).map(str::to_string);
        } else if section == "[dependencies]" && line.starts_with("pairscope") {
            deps.insert(line.split(['.', ' ', '=']).next().unwrap().to_string());
        } else if section == "[lints]" && line.replace(' ', "") == "workspace=true" {
            workspace_lints = true;
        }
    }
    (name.expect("a package name"), deps, workspace_lints)
}

/// The backticked words of a Markdown table cell.
fn code_spans(cell: &str) -> BTreeSet<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_crate_map_lists_every_crate_with_its_dependencies_and_each_takes_the_workspace_lints() {
    let root = root();
    let architecture = read(&root.join("ARCHITECTURE.md"));
    let table: Vec<&str> = architecture
        .lines()
        .skip_while(|l| !l.starts_with("## Crate map"))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect();
    let mut mapped = BTreeMap::new();
    let mut failures = Vec::new();
    for row in &table {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let [name_cell, owns, never, depends] = cells[..] else {
            panic!("ARCHITECTURE.md crate map: want | crate | owns | never does | depends on |, got {row}");
        };
        let name = code_spans(name_cell).into_iter().next().unwrap_or_default();
        let dir = name_cell.split("](").nth(1).and_then(|r| r.split(')').next()).unwrap_or_default();
        if owns.is_empty() || never.is_empty() {
            failures.push(format!("{name}: say what it owns and what it never does"));
        }
        mapped.insert(dir.trim_end_matches('/').to_string(), (name, code_spans(depends)));
    }
    let mut crates = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let key = format!("crates/{}", dir.file_name().unwrap().to_str().unwrap());
        let (name, deps, workspace_lints) = package(&dir);
        if !workspace_lints {
            failures.push(format!("{key}: its Cargo.toml lacks `[lints] workspace = true` (CI's lints would skip it)"));
        }
        match mapped.get(&key) {
            None => failures.push(format!("{key} ({name}) is not in ARCHITECTURE.md's crate map")),
            Some((mapped_name, _)) if *mapped_name != name => {
                failures.push(format!("{key}: the map names it {mapped_name:?}, Cargo.toml {name:?}"))
            }
            Some((_, mapped_deps)) if *mapped_deps != deps => {
                failures.push(format!("{key}: the map says it depends on {mapped_deps:?}, Cargo.toml on {deps:?}"))
            }
            Some(_) => {}
        }
        crates.insert(key);
    }
    for key in mapped.keys().filter(|k| !crates.contains(*k)) {
        failures.push(format!("ARCHITECTURE.md's crate map lists {key}, which is not a crate under crates/"));
    }
    assert!(crates.len() >= 10, "found only {crates:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- the column table, exit codes, README length ---------------------------------------------

#[test]
fn the_column_table_is_the_canonical_column_set() {
    use pairscope_model::columns::CANONICAL_COLUMNS;
    let page = read(&root().join("docs/ingest.md"));
    let rows: BTreeMap<String, Vec<String>> = page
        .lines()
        .skip_while(|l| !l.starts_with("| column | type | meaning |"))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<String> = row.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect();
            (cells[0].trim_matches('`').to_string(), cells)
        })
        .collect();
    let mut failures = Vec::new();
    for column in CANONICAL_COLUMNS {
        let Some(cells) = rows.get(column.name) else {
            failures.push(format!("docs/ingest.md: the column table has no row for {}", column.name));
            continue;
        };
        let kind = format!("{:?}", column.kind.data_type());
        if cells.get(1).map(|c| c.trim_matches('`')) != Some(kind.as_str()) {
            failures.push(format!("{}: type {kind} in the code, {:?} in the table", column.name, cells.get(1)));
        }
        if cells.get(2) != Some(&column.doc.to_string()) {
            failures.push(format!(
                "{}: meaning {:?} in the code, {:?} in the table",
                column.name,
                column.doc,
                cells.get(2)
            ));
        }
    }
    for name in rows.keys().filter(|n| !CANONICAL_COLUMNS.iter().any(|c| c.name == *n)) {
        failures.push(format!("docs/ingest.md: the column table lists {name}, which is not canonical"));
    }
    for column in CANONICAL_COLUMNS.iter().filter(|c| !c.derived) {
        if let Some(recognised) = rows.get(column.name).and_then(|cells| cells.get(3)) {
            failures.extend(recognition_differs(column, recognised));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether ingest recognises `column` from the source names the table's cell lists, in its
/// order of preference: each name alone is taken, and of two, the one listed first.
fn recognition_differs(column: &pairscope_model::columns::CanonicalColumn, cell: &str) -> Vec<String> {
    use arrow::datatypes::{Field, Schema};
    use pairscope_ingest::mapping::{ColumnMapping, FieldSource};
    let mut names: Vec<String> = Vec::new();
    // In the cell's order (code_spans sorts), once each case-insensitively.
    for name in cell.split('`').skip(1).step_by(2) {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    let taken = |present: &[&String]| -> Option<String> {
        let mut fields: Vec<Field> = ["url", "caption"]
            .iter()
            .filter(|n| **n != column.name)
            .map(|n| Field::new(*n, arrow::datatypes::DataType::Utf8, true))
            .collect();
        fields.extend(present.iter().map(|n| Field::new(n.as_str(), column.kind.data_type(), true)));
        let schema = Schema::new(fields);
        let mapping = ColumnMapping::resolve(&schema, &BTreeMap::new(), &BTreeMap::new()).ok()?;
        mapping.fields.iter().find(|(c, _)| c.name == column.name).and_then(|(_, source)| match source {
            FieldSource::Column(i) => Some(schema.field(*i).name().clone()),
            _ => None,
        })
    };
    let mut failures = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if taken(&[name]).as_ref() != Some(name) {
            failures.push(format!("docs/ingest.md: ingest does not take {} from a source column {name}", column.name));
        }
        if let Some(next) = names.get(i + 1)
            && taken(&[next, name]).as_ref() != Some(name)
        {
            failures.push(format!("docs/ingest.md: for {}, ingest prefers {next} to {name}", column.name));
        }
    }
    if names.is_empty() {
        failures.push(format!("docs/ingest.md: no source column is listed for {}", column.name));
    }
    failures
}

#[test]
fn the_readme_exit_codes_are_the_code_s() {
    // A new variant fails to compile here until it is listed, and then in the README.
    let code = |status: ExitStatus| match status {
        ExitStatus::Clean | ExitStatus::Error | ExitStatus::Usage | ExitStatus::CompletedWithSkips => status.code(),
    };
    let expected: BTreeSet<i32> =
        [ExitStatus::Clean, ExitStatus::Error, ExitStatus::Usage, ExitStatus::CompletedWithSkips].map(code).into();
    let readme = read(&root().join("README.md"));
    let listed: BTreeSet<i32> = readme
        .lines()
        .skip_while(|l| !(l.starts_with('#') && l.contains("Exit codes")))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| row.trim_matches('|').split('|').next().unwrap().trim().parse().expect("a code"))
        .collect();
    assert_eq!(listed, expected, "README.md's exit-code table and pairscope_model::exit::ExitStatus differ");
}

#[test]
fn the_readme_stays_short() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; move the detail to docs/ (at most {README_MAX_LINES})"
    );
}
