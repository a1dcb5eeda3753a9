//! How a canonical form (the output of [`pairscope_text::normalize`]) becomes index terms.
//!
//! The indexer and the query compiler both go through [`index_units`], so a query term is
//! always spelt the way the indexer spelt it. Positions are consecutive over *units*:
//!
//! - a canonical token without substring-script characters is one unit, its own text: the
//!   whole-token semantics of names and words is then exactly a tantivy term or phrase;
//! - a token containing substring-script characters (Han, Kana, Thai, …; see
//!   [`pairscope_text::script`]) is cut into runs of substring-script characters and runs of
//!   other characters. Each substring-script character is a unit whose terms are the character
//!   itself (unigram) and, when the next character of the same run follows, the pair
//!   (bigram) at the same position; each other run is one unit spelt [`PARTIAL`] + its text,
//!   so that it never matches a whole-token query (`kinkade` alone is not a token of
//!   `kinkade北斎`).
//!
//! Consequences the query side relies on: a run `c1 … cn` (n ≥ 2) of substring-script
//! characters occurs contiguously in a canonical form exactly when the bigrams
//! `c1c2, c2c3, …` occur at consecutive positions (bigrams never span two runs or two tokens);
//! a single character occurs exactly when its unigram does.

use pairscope_text::is_substring_script_char;

/// Prefix of the term of a non-substring-script run inside a mixed token. U+0001 is a control
/// character, a separator under the normalisation, so no canonical token contains it.
pub const PARTIAL: char = '\u{1}';

/// One term at one position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit<'a> {
    /// The position in the index: consecutive units of a phrase have consecutive positions.
    pub position: u32,
    /// The term there.
    pub term: UnitTerm<'a>,
}

/// What an index term stands for, borrowed from the canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitTerm<'a> {
    /// A whole canonical token.
    Token(&'a str),
    /// A non-substring-script run of a mixed token (spelt with [`PARTIAL`] in the index).
    Partial(&'a str),
    /// One substring-script character.
    Unigram(&'a str),
    /// Two adjacent substring-script characters of one run.
    Bigram(&'a str),
}

impl UnitTerm<'_> {
    /// The term text as stored in the index.
    pub fn write_term(&self, out: &mut String) {
        out.clear();
        match self {
            UnitTerm::Partial(text) => {
                out.push(PARTIAL);
                out.push_str(text);
            }
            UnitTerm::Token(text) | UnitTerm::Unigram(text) | UnitTerm::Bigram(text) => out.push_str(text),
        }
    }
}

/// Calls `emit` for every unit of `canonical` (tokens joined by single spaces), in position
/// order; returns the number of positions used.
pub fn index_units<'a>(canonical: &'a str, mut emit: impl FnMut(Unit<'a>)) -> u32 {
    let mut position = 0u32;
    for token in canonical.split(' ').filter(|t| !t.is_empty()) {
        if token.is_ascii() || !token.chars().any(is_substring_script_char) {
            emit(Unit { position, term: UnitTerm::Token(token) });
            position += 1;
            continue;
        }
        let mut rest = token;
        while let Some(first) = rest.chars().next() {
            if is_substring_script_char(first) {
                let run_end =
                    rest.char_indices().find(|&(_, c)| !is_substring_script_char(c)).map_or(rest.len(), |(i, _)| i);
                let run = &rest[..run_end];
                let mut chars = run.char_indices().peekable();
                while let Some((i, c)) = chars.next() {
                    let end = i + c.len_utf8();
                    emit(Unit { position, term: UnitTerm::Unigram(&run[i..end]) });
                    if let Some(&(next, d)) = chars.peek() {
                        emit(Unit { position, term: UnitTerm::Bigram(&run[i..next + d.len_utf8()]) });
                    }
                    position += 1;
                }
                rest = &rest[run_end..];
            } else {
                let run_end =
                    rest.char_indices().find(|&(_, c)| is_substring_script_char(c)).map_or(rest.len(), |(i, _)| i);
                emit(Unit { position, term: UnitTerm::Partial(&rest[..run_end]) });
                position += 1;
                rest = &rest[run_end..];
            }
        }
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(canonical: &str) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        let mut term = String::new();
        index_units(canonical, |u| {
            u.term.write_term(&mut term);
            out.push((u.position, term.clone()));
        });
        out
    }

    #[test]
    fn plain_tokens_are_one_unit_each() {
        assert_eq!(units("thomas kinkade s"), vec![(0, "thomas".into()), (1, "kinkade".into()), (2, "s".into())]);
    }

    #[test]
    fn substring_runs_give_unigrams_and_bigrams_and_partials_are_marked() {
        assert_eq!(
            units("葛飾北 x ab北斎"),
            vec![
                (0, "葛".into()),
                (0, "葛飾".into()),
                (1, "飾".into()),
                (1, "飾北".into()),
                (2, "北".into()),
                (3, "x".into()),
                (4, "\u{1}ab".into()),
                (5, "北".into()),
                (5, "北斎".into()),
                (6, "斎".into()),
            ]
        );
    }

    #[test]
    fn bigrams_never_span_tokens() {
        let terms: Vec<String> = units("北 斎").into_iter().map(|(_, t)| t).collect();
        assert_eq!(terms, vec!["北", "斎"]);
    }
}
