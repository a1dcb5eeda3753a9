//! Which counts may mislead: names that are also ordinary words (Storm, Link, Robin) count
//! every caption about the weather, a URL or a bird.
//!
//! An entity is marked ambiguous when
//! - one of its aliases is a single token that is one of the 5,000 most frequent English
//!   words (`lists/common-words.txt`, from wordfreq; see `lists/make-common-words.py`), or
//! - it has a single-token alias, and its count is at least [`FREQUENT_FACTOR`] times the
//!   median count of the entities that matched at all and at least [`FREQUENT_MIN_SHARE`] of
//!   the rows: a one-word name that common is likely a word in some language, whatever the
//!   English list says ("Ernst" is German for "serious"). Names of several tokens are not
//!   judged by frequency: a popular artist is not an ambiguous one.
//!
//! Nothing is removed: the mark tells a reader to look at the captions (`search --mention`).

use std::collections::HashSet;
use std::sync::OnceLock;

use pairscope_text::has_substring_script;

use crate::count::EntityCount;
use crate::matcher::EntityRef;

/// How many times the median count a single-token name must reach to be marked ambiguous.
pub const FREQUENT_FACTOR: u64 = 20;
/// The share of the rows (0.001 = 0.1 %) a single-token name must reach, too, to be marked
/// ambiguous by frequency.
pub const FREQUENT_MIN_SHARE: f64 = 0.001;
/// Fewer matched entities than this and a median says nothing.
const MIN_ENTITIES_FOR_MEDIAN: usize = 10;

fn common_words() -> &'static HashSet<&'static str> {
    static WORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        include_str!("../lists/common-words.txt").lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()
    })
}

/// Sets `ambiguous` on the counts (in matcher order, one per entity) that may mislead.
pub(crate) fn flag_ambiguous(counts: &mut [EntityCount], entities: &[EntityRef], rows: u64) {
    let mut matched: Vec<u64> = counts.iter().map(|c| c.count).filter(|&c| c > 0).collect();
    matched.sort_unstable();
    let median = (matched.len() >= MIN_ENTITIES_FOR_MEDIAN).then(|| matched[matched.len() / 2]);
    for (count, entity) in counts.iter_mut().zip(entities) {
        let word = entity.canonical.iter().find(|alias| {
            !alias.contains(' ') && !has_substring_script(alias) && common_words().contains(alias.as_str())
        });
        count.ambiguous = if let Some(word) = word {
            Some(format!("\"{word}\" is a common English word"))
        } else if let Some(median) = median
            && entity.canonical.iter().any(|alias| !alias.contains(' ') && !has_substring_script(alias))
            && count.count >= FREQUENT_FACTOR * median.max(1)
            && count.count as f64 >= FREQUENT_MIN_SHARE * rows as f64
        {
            Some(format!("mentioned {}× as often as the median name", count.count / median.max(1)))
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_list_is_lower_case_single_tokens() {
        let words = common_words();
        assert!(words.len() >= 4_500, "{}", words.len());
        for word in ["storm", "link", "robin", "the"] {
            assert!(words.contains(word), "{word}");
        }
        for word in words {
            assert_eq!(pairscope_text::normalize(word, false), *word, "{word} is canonical");
        }
        assert!(!words.contains("kinkade") && !words.contains("hokusai"));
    }
}
