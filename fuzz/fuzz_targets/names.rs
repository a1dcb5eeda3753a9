//! The name-list parser (`NameList::parse`), which reads the lists users pass to `--names`.
//! Besides not panicking: every accepted list keeps the documented caps (aliases per entity,
//! bytes per alias) and the format's rules (trimmed, non-empty aliases, unique display names,
//! lines in order), each display name is found again by `find`, and the list written back out
//! one entity a line reads as the same list with the same content hash; a refusal names the
//! list and a line of it, the lines before which form a valid list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pairscope_text::Normalizer;
use pairscope_text::names::{MAX_ALIAS_BYTES, MAX_ALIASES_PER_ENTITY, NameList, NameListError};

const ORIGIN: &str = "fuzz.txt";
const BYTE_ORDER_MARK: char = '\u{FEFF}';

fuzz_target!(|data: &[u8]| {
    // Files that are not UTF-8 are refused before parsing (`NameList::load`).
    let Ok(text) = std::str::from_utf8(data) else { return };
    match NameList::parse(text, ORIGIN) {
        Ok(list) => {
            check_list(text, &list);
            check_written_back(&list);
        }
        Err(error) => check_error(text, &error),
    }
});

fn check_list(text: &str, list: &NameList) {
    assert_eq!(list.origin, ORIGIN);
    let lines = text.lines().count();
    let mut normalizer = Normalizer::new(false);
    let mut previous_line = 0;
    for entity in &list.entities {
        assert!(entity.line > previous_line && entity.line <= lines, "line {} after {previous_line}", entity.line);
        previous_line = entity.line;
        assert!((1..=MAX_ALIASES_PER_ENTITY).contains(&entity.aliases.len()), "{} aliases", entity.aliases.len());
        assert_eq!(entity.aliases[0], entity.name);
        assert!(!entity.name.starts_with('#'), "comment {:?} read as an entity", entity.name);
        for alias in &entity.aliases {
            assert!(alias.len() <= MAX_ALIAS_BYTES, "alias of {} bytes", alias.len());
            assert_eq!(alias.trim(), alias);
            assert!(!alias.contains(['|', '\n']), "{alias:?}");
            assert!(!normalizer.normalize(alias).is_empty(), "{alias:?} normalises to nothing");
        }
        let first = list.entities.iter().find(|e| e.name == entity.name).expect("itself");
        assert_eq!(first.line, entity.line, "display name {:?} twice", entity.name);
        let found = list.find(&entity.name).unwrap_or_else(|| panic!("{:?} not found", entity.name));
        let wanted = normalizer.normalize(&entity.name).to_owned();
        assert!(found.aliases.iter().any(|alias| normalizer.normalize(alias) == wanted), "{found:?}");
    }
}

/// The list written in the format (after a byte-order mark, so that an entity's own leading
/// U+FEFF is not taken for one) reads back as the same entities, now on lines 1, 2, ….
fn check_written_back(list: &NameList) {
    let lines: Vec<String> = list.entities.iter().map(|entity| entity.aliases.join(" | ")).collect();
    let written = format!("{BYTE_ORDER_MARK}{}", lines.join("\n"));
    let reread = NameList::parse(&written, ORIGIN).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert_eq!(reread.entities.len(), list.entities.len());
    for (index, (again, entity)) in reread.entities.iter().zip(&list.entities).enumerate() {
        assert_eq!(again.aliases, entity.aliases);
        assert_eq!(again.line, index + 1);
    }
    assert_eq!(reread.content_hash(), list.content_hash());
}

fn check_error(text: &str, error: &NameListError) {
    let line = match error {
        NameListError::EmptyAlias { line, alias, .. } => {
            assert_eq!(alias.trim(), alias);
            assert!(Normalizer::new(false).normalize(alias).is_empty(), "{alias:?} refused as empty");
            *line
        }
        NameListError::DuplicateEntity { first_line, line, .. } => {
            assert!(first_line < line);
            *line
        }
        NameListError::TooManyAliases { line, count, .. } => {
            assert!(*count > MAX_ALIASES_PER_ENTITY);
            *line
        }
        NameListError::AliasTooLong { line, bytes, .. } => {
            assert!(*bytes > MAX_ALIAS_BYTES);
            *line
        }
        other => panic!("parsing text gave a loading error: {other}"),
    };
    let shown = error.to_string();
    assert!(shown.starts_with(&format!("{ORIGIN}:{line}: ")), "{shown}");
    let body = text.strip_prefix(BYTE_ORDER_MARK).unwrap_or(text);
    assert!(line >= 1 && line <= body.lines().count(), "line {line} in {text:?}");
    // The first bad line is the one reported. (The mark keeps a U+FEFF that starts the body
    // part of its first line, as it was.)
    let before: Vec<&str> = body.lines().take(line - 1).collect();
    if let Err(e) = NameList::parse(&format!("{BYTE_ORDER_MARK}{}", before.join("\n")), ORIGIN) {
        panic!("{shown}, but the lines before it fail too: {e}");
    }
}
