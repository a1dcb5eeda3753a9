//! Name lists: the entities (artists, characters, …) whose mentions pairscope counts.
//!
//! # Format
//!
//! UTF-8 text, one entity a line:
//!
//! ```text
//! # Comments start with '#' after optional whitespace; blank lines are ignored.
//! Katsushika Hokusai | Hokusai | 葛飾北斎
//! A.B. Frost
//! ```
//!
//! - The first name on a line is the entity's display name and also its first alias; more
//!   aliases follow, separated by ` | ` (a bare `|` splits too: it is a separator under the
//!   normalisation, so it could never be part of a name that matches anything).
//! - Whitespace around every name and line is trimmed; a leading byte-order mark is ignored.
//! - An alias that [normalises](crate::normalize()) to nothing is an error naming the file and
//!   line: it could never match, so it is a typo.
//! - Two entities with the same display name (byte for byte, after trimming) are an error
//!   naming both lines. Display names that merely *normalise* alike (`David A Hardy`,
//!   `David A. Hardy`) are allowed: real lists carry such spelling variants as separate
//!   entries, and keeping them apart is the list's business, not the parser's.
//!
//! Matching is not done here: the list only carries raw aliases, and whoever matches them
//! normalises them with the same [`Normalizer`] as the captions.

use std::collections::HashMap;
use std::path::Path;

use crate::Normalizer;

const BUILTIN_PREFIX: &str = "builtin:";

/// The built-in lists by spec, with their embedded text.
const BUILTINS: [(&str, &str); 2] = [
    ("builtin:artists", include_str!("../lists/artists.txt")),
    ("builtin:characters", include_str!("../lists/characters.txt")),
];

const BUILTIN_NAMES: [&str; 2] = [BUILTINS[0].0, BUILTINS[1].0];

/// One entity of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// The display name (also `aliases[0]`).
    pub name: String,
    /// Every alias as written, display name first.
    pub aliases: Vec<String>,
    /// 1-based line of the list the entity was defined on.
    pub line: usize,
}

/// A parsed name list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList {
    /// Where the list came from: `builtin:artists`, `builtin:characters`, or the file path.
    pub origin: String,
    /// The entities in file order.
    pub entities: Vec<Entity>,
}

/// Aliases one entity may have. Real lists give a name a handful (the most-aliased people on
/// Wikidata have a few dozen); thousands on one line are a mistake (a file without line
/// breaks, a word list pasted as one entity) and would make every count slow.
pub const MAX_ALIASES_PER_ENTITY: usize = 256;
/// Bytes of one alias as written. Names and titles are short; a "name" of thousands of words
/// is a mistake, and a phrase that long costs a count one term lookup per word.
pub const MAX_ALIAS_BYTES: usize = 256;
/// Bytes of a list file: ten times the largest list of names anyone publishes, read whole.
pub const MAX_LIST_BYTES: u64 = 64 << 20;

/// Why a name list could not be loaded. Every variant names the list (and the line where
/// there is one).
#[derive(Debug, thiserror::Error)]
pub enum NameListError {
    /// The list file could not be read (missing, unreadable, or a read failed).
    #[error("{origin}: cannot read name list")]
    Read {
        /// The path given.
        origin: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{origin}:{line}: name list is not valid UTF-8")]
    NotUtf8 {
        /// The path given.
        origin: String,
        /// The 1-based line holding the first invalid byte.
        line: usize,
    },
    /// An alias with no token character, which could never match anything.
    #[error("{origin}:{line}: alias {alias:?} normalises to nothing (it has no letter, mark or number)")]
    EmptyAlias {
        /// Where the list came from.
        origin: String,
        /// The 1-based line of the alias.
        line: usize,
        /// The alias as written (trimmed).
        alias: String,
    },
    /// Two entities with the same display name.
    #[error("{origin}:{line}: entity {name:?} duplicates the one on line {first_line}")]
    DuplicateEntity {
        /// Where the list came from.
        origin: String,
        /// The display name both lines give.
        name: String,
        /// The 1-based line of the first entity with that name.
        first_line: usize,
        /// The 1-based line of the duplicate.
        line: usize,
    },
    /// The path is a directory, a FIFO or a device, not a regular file.
    #[error("{origin}: not a regular file (a name list is read whole)")]
    NotAFile {
        /// The path given.
        origin: String,
    },
    /// The file is larger than [`MAX_LIST_BYTES`].
    #[error("{origin}: {bytes} bytes; a name list may have at most {MAX_LIST_BYTES}")]
    TooLarge {
        /// The path given.
        origin: String,
        /// The file's size (or the bytes read before giving up), in bytes.
        bytes: u64,
    },
    /// A line with more than [`MAX_ALIASES_PER_ENTITY`] aliases.
    #[error(
        "{origin}:{line}: {count} aliases on one line; an entity may have at most {MAX_ALIASES_PER_ENTITY} (one entity a line, aliases separated by \" | \")"
    )]
    TooManyAliases {
        /// Where the list came from.
        origin: String,
        /// The 1-based line.
        line: usize,
        /// How many aliases it has.
        count: usize,
    },
    /// An alias longer than [`MAX_ALIAS_BYTES`].
    #[error("{origin}:{line}: an alias of {bytes} bytes; an alias may have at most {MAX_ALIAS_BYTES}")]
    AliasTooLong {
        /// Where the list came from.
        origin: String,
        /// The 1-based line.
        line: usize,
        /// The alias's length in bytes.
        bytes: usize,
    },
    /// A `builtin:` spec that names no built-in list.
    #[error("unknown built-in name list {spec:?} (known: builtin:artists, builtin:characters)")]
    UnknownBuiltin {
        /// The spec given.
        spec: String,
    },
}

impl NameList {
    /// Parses list `text`; `origin` names it in errors and in [`NameList::origin`].
    pub fn parse(text: &str, origin: &str) -> Result<NameList, NameListError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut normalizer = Normalizer::new(false);
        // Display name → line, to report duplicates with both lines.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut entities = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let count = content.split('|').count();
            if count > MAX_ALIASES_PER_ENTITY {
                return Err(NameListError::TooManyAliases { origin: origin.to_owned(), line, count });
            }
            let aliases: Vec<String> = content.split('|').map(|a| a.trim().to_owned()).collect();
            if let Some(long) = aliases.iter().find(|a| a.len() > MAX_ALIAS_BYTES) {
                return Err(NameListError::AliasTooLong { origin: origin.to_owned(), line, bytes: long.len() });
            }
            for alias in &aliases {
                if normalizer.normalize(alias).is_empty() {
                    return Err(NameListError::EmptyAlias { origin: origin.to_owned(), line, alias: alias.clone() });
                }
            }
            // `split` yields at least one piece, and it was just checked to be non-empty.
            let name = aliases[0].clone();
            if let Some(&first_line) = seen.get(&name) {
                return Err(NameListError::DuplicateEntity { origin: origin.to_owned(), name, first_line, line });
            }
            seen.insert(name.clone(), line);
            entities.push(Entity { name, aliases, line });
        }
        Ok(NameList { origin: origin.to_owned(), entities })
    }

    /// Loads `builtin:artists`, `builtin:characters`, or the list file at path `spec`.
    pub fn load(spec: &str) -> Result<NameList, NameListError> {
        if spec.starts_with(BUILTIN_PREFIX) {
            let (origin, text) = BUILTINS
                .iter()
                .find(|(name, _)| *name == spec)
                .ok_or_else(|| NameListError::UnknownBuiltin { spec: spec.to_owned() })?;
            return NameList::parse(text, origin);
        }
        let read_error = |source| NameListError::Read { origin: spec.to_owned(), source };
        // A FIFO or a device (`/dev/zero`) would be read forever: only regular files, of a size
        // checked before reading.
        let meta = std::fs::metadata(Path::new(spec)).map_err(read_error)?;
        if !meta.is_file() {
            return Err(NameListError::NotAFile { origin: spec.to_owned() });
        }
        if meta.len() > MAX_LIST_BYTES {
            return Err(NameListError::TooLarge { origin: spec.to_owned(), bytes: meta.len() });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(Path::new(spec))
            .and_then(|file| std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_LIST_BYTES + 1), &mut bytes))
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_LIST_BYTES {
            return Err(NameListError::TooLarge { origin: spec.to_owned(), bytes: bytes.len() as u64 });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            NameListError::NotUtf8 { origin: spec.to_owned(), line: 1 + valid.iter().filter(|&&b| b == b'\n').count() }
        })?;
        NameList::parse(&text, spec)
    }

    /// The specs [`NameList::load`] accepts for the built-in lists.
    pub fn builtin_names() -> &'static [&'static str] {
        &BUILTIN_NAMES
    }

    /// BLAKE3 (hex) of the list's canonical content: the entities in order with their
    /// aliases as trimmed, not normalised (accent folding is a matching option, so `Dürer`
    /// and `Durer` must hash differently). Comments, blank lines, whitespace and the origin
    /// do not count, so a reformatted list keeps its hash. For cache keys and manifests.
    pub fn content_hash(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"pairscope name list v1\0");
        // Length prefixes make the encoding unambiguous whatever the aliases contain.
        for entity in &self.entities {
            hasher.update(&(entity.aliases.len() as u64).to_le_bytes());
            for alias in &entity.aliases {
                hasher.update(&(alias.len() as u64).to_le_bytes());
                hasher.update(alias.as_bytes());
            }
        }
        hasher.finalize().to_hex().to_string()
    }

    /// The first entity whose display name or any alias normalises (without accent folding)
    /// like `name`.
    pub fn find(&self, name: &str) -> Option<&Entity> {
        let mut normalizer = Normalizer::new(false);
        let wanted = normalizer.normalize(name).to_owned();
        if wanted.is_empty() {
            return None;
        }
        self.entities.iter().find(|entity| entity.aliases.iter().any(|alias| normalizer.normalize(alias) == wanted))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn parses_aliases_comments_and_blank_lines() {
        let text =
            "\u{FEFF}# artists\n\n  Katsushika Hokusai | Hokusai|葛飾北斎  \n\t# indented comment\n   \nA.B. Frost\n";
        let list = NameList::parse(text, "test.txt").expect("valid list");
        assert_eq!(list.origin, "test.txt");
        assert_eq!(
            list.entities,
            vec![
                Entity {
                    name: "Katsushika Hokusai".into(),
                    aliases: vec!["Katsushika Hokusai".into(), "Hokusai".into(), "葛飾北斎".into()],
                    line: 3,
                },
                Entity { name: "A.B. Frost".into(), aliases: vec!["A.B. Frost".into()], line: 6 },
            ]
        );
    }

    #[test]
    fn empty_alias_is_an_error_with_file_and_line() {
        for (text, line) in [("ok\nBad | ---\n", 2), ("ok\n\n |x\n", 3), ("ok\nname |\n", 2)] {
            let err = NameList::parse(text, "lists/mine.txt").expect_err(text);
            assert!(
                matches!(&err, NameListError::EmptyAlias { origin, line: l, .. } if origin == "lists/mine.txt" && *l == line),
                "{err:?}"
            );
            assert!(err.to_string().starts_with(&format!("lists/mine.txt:{line}: ")), "{err}");
        }
    }

    #[test]
    fn duplicate_entity_names_both_lines() {
        let err = NameList::parse("Max Ernst\n# c\nOther\n  Max Ernst | Ernst\n", "l.txt").expect_err("duplicate");
        assert!(matches!(&err, NameListError::DuplicateEntity { first_line: 1, line: 4, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("l.txt:4") && message.contains("line 1"), "{message}");
    }

    #[test]
    fn display_names_that_only_normalise_alike_are_distinct_entities() {
        let list = NameList::parse("David A Hardy\nDavid A. Hardy\n", "l.txt").expect("valid");
        assert_eq!(list.entities.len(), 2);
        assert_eq!(list.find("david a hardy").map(|e| e.line), Some(1));
    }

    #[test]
    fn content_hash_ignores_layout_but_not_content() {
        let a = NameList::parse("A | B\nC\n", "a").expect("valid");
        let b = NameList::parse("# comment\n  A|B  \n\nC", "b").expect("valid");
        assert_eq!(a.content_hash(), b.content_hash());
        for other in ["A | B\nD\n", "A\nB\nC\n", "C\nA | B\n", "A | B | C\n", "A | Bé\nC\n"] {
            let other = NameList::parse(other, "a").expect("valid");
            assert_ne!(a.content_hash(), other.content_hash(), "{other:?}");
        }
        assert_eq!(a.content_hash().len(), 64);
    }

    #[test]
    fn find_by_name_or_alias_normalised() {
        let list = NameList::parse("Katsushika Hokusai | Hokusai\nA.B. Frost\n", "t").expect("valid");
        assert_eq!(list.find("HOKUSAI").map(|e| e.line), Some(1));
        assert_eq!(list.find("katsushika-hokusai").map(|e| e.line), Some(1));
        assert_eq!(list.find("A. B. Frost").map(|e| e.line), Some(2));
        assert_eq!(list.find("Frost"), None);
        assert_eq!(list.find("..."), None);
    }

    #[test]
    fn load_reports_unknown_builtins_and_unreadable_files() {
        assert!(matches!(NameList::load("builtin:painters"), Err(NameListError::UnknownBuiltin { .. })));
        let err = NameList::load("/nonexistent/pairscope/list.txt").expect_err("missing file");
        assert!(err.to_string().starts_with("/nonexistent/pairscope/list.txt: "), "{err}");
    }

    #[test]
    fn load_reads_a_file_and_locates_bad_utf8() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("good.txt");
        std::fs::write(&good, "Max Ernst | Ernst\n").expect("write");
        let spec = good.to_str().expect("utf-8 temp path");
        let list = NameList::load(spec).expect("valid list");
        assert_eq!(list.origin, spec);
        assert_eq!(list.entities.len(), 1);

        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"ok\nalso ok\nbad \xff here\n").expect("write");
        let err = NameList::load(bad.to_str().expect("utf-8 temp path")).expect_err("bad utf-8");
        assert!(matches!(err, NameListError::NotUtf8 { line: 3, .. }), "{err:?}");
    }

    /// Every normalised alias belongs to one entity only, else a mention could not be
    /// attributed.
    fn assert_no_shared_alias(list: &NameList) {
        let mut normalizer = Normalizer::new(false);
        let mut owner: HashMap<String, usize> = HashMap::new();
        for entity in &list.entities {
            for alias in &entity.aliases {
                let key = normalizer.normalize(alias).to_owned();
                if let Some(&line) = owner.get(&key) {
                    assert_eq!(
                        line, entity.line,
                        "{}: alias {alias:?} (line {}) also belongs to line {line}",
                        list.origin, entity.line
                    );
                }
                owner.insert(key, entity.line);
            }
        }
    }

    #[test]
    fn builtin_lists_parse_and_are_unambiguous() {
        assert_eq!(NameList::builtin_names(), ["builtin:artists", "builtin:characters"]);
        for (spec, min) in [("builtin:artists", 1_500), ("builtin:characters", 300)] {
            let list = NameList::load(spec).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(list.origin, spec);
            assert!(list.entities.len() >= min, "{spec}: {} entities", list.entities.len());
            assert_no_shared_alias(&list);
        }
    }

    #[test]
    fn shared_artist_list_has_5265_entities() {
        let path = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/names/artists-5265.txt");
        if !path.exists() {
            println!("skipped: no shared artist list at {}", path.display());
            return;
        }
        let spec = path.to_str().expect("utf-8 path");
        let list = NameList::load(spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.entities.len(), 5_265);
    }
}
