//! The literal, slow statement of the normalisation and of alias matching.
//!
//! Everything fast (the [`Normalizer`](crate::Normalizer), the mention matcher, the
//! full-text index) is defined as "gives the same answer as this module" and is tested
//! against it. Nothing here is tuned; it allocates freely and should not be used on bulk
//! data.

use caseless::default_case_fold_str;
use unicode_normalization::UnicodeNormalization;

use crate::normalize::is_accent_mark;
use crate::{has_substring_script, is_token_char};

/// The canonical form of `text`, computed step by step as the crate doc states it.
///
/// The one liberty: the separators of step (a) become U+0020 and the whole text goes through
/// step (b) at once, instead of each run separately. The two readings agree because U+0020
/// is a starter that is no part of any canonical composition, so no normalisation form acts
/// across it, and case folding works character by character.
pub fn normalize(text: &str, fold_accents: bool) -> String {
    let split: String = text.chars().map(|c| if is_token_char(c) { c } else { ' ' }).collect();
    let nfkc: String = split.nfkc().collect();
    let mut folded: String = default_case_fold_str(&nfkc).nfkc().collect();
    if fold_accents {
        folded = folded.nfd().filter(|&c| !is_accent_mark(c)).nfc().collect();
    }
    folded.split(|c: char| !is_token_char(c)).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Does `alias` occur in `caption`? Both are raw texts; they are normalised here with the
/// same `fold_accents`.
///
/// - Whole-token: the alias's tokens occur as consecutive whole tokens of the caption.
/// - If the normalised alias contains a [substring-script](crate::script) character: it
///   occurs as a substring of the caption's canonical form (wherever it starts and ends,
///   even inside a Latin token next to it).
/// - An empty alias or an empty caption (after normalisation) never matches.
pub fn alias_matches(alias: &str, caption: &str, fold_accents: bool) -> bool {
    canonical_matches(&normalize(alias, fold_accents), &normalize(caption, fold_accents))
}

/// [`alias_matches`] on texts already normalised (with the same `fold_accents`): for checking
/// many aliases against many captions without normalising each caption again.
pub fn canonical_matches(alias: &str, caption: &str) -> bool {
    if alias.is_empty() || caption.is_empty() {
        return false;
    }
    if has_substring_script(alias) {
        caption.contains(alias)
    } else {
        // Tokens never contain a space, so padding both sides makes a substring test a test
        // for consecutive whole tokens.
        format!(" {caption} ").contains(&format!(" {alias} "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(alias: &str, caption: &str) -> bool {
        alias_matches(alias, caption, false)
    }

    #[test]
    fn whole_tokens_through_case_width_and_punctuation() {
        for caption in
            ["thomas_kinkade's cottage", "THOMAS KINKADE", "Ｔｈｏｍａｓ Kinkade", "a painting by Thomas Kinkade."]
        {
            assert!(matches("Thomas Kinkade", caption), "{caption}");
        }
        assert!(!matches("Thomas Kinkade", "Thomas Kinkadez"));
        assert!(!matches("Thomas Kinkade", "Thomas Kinkadesque"));
        assert!(!matches("Thomas Kinkade", "Kinkade Thomas"));
    }

    #[test]
    fn initials_and_apostrophes() {
        assert!(matches("A.B. Frost", "A. B. Frost"));
        assert!(!matches("A.B. Frost", "ab frost"));
        assert!(matches("Georgia O'Keeffe", "Georgia O’Keeffe"));
    }

    #[test]
    fn a_single_token_matches_only_whole_tokens() {
        assert!(matches("Ernst", "Max Ernst"));
        assert!(!matches("Ernst", "Ernstein"));
    }

    #[test]
    fn symbols_split_before_nfkc() {
        assert!(matches("Dr. Seuss", "Dr. Seuss™ book"));
        assert_eq!(normalize("Dr. Seuss™", false), "dr seuss");
    }

    #[test]
    fn canonical_equivalence_and_accent_folding() {
        assert!(matches("Amélie", "Ame\u{0301}lie"));
        assert!(!alias_matches("Albrecht Dürer", "Albrecht Durer", false));
        assert!(alias_matches("Albrecht Dürer", "Albrecht Durer", true));
        assert!(alias_matches("Albrecht Durer", "Albrecht Dürer", true));
    }

    #[test]
    fn overlapping_aliases_both_match() {
        assert!(matches("John Martin", "by John Martin Tucker"));
        assert!(matches("John Martin Tucker", "by John Martin Tucker"));
    }

    #[test]
    fn substring_scripts_match_inside_runs() {
        assert!(matches("葛飾北斎", "葛飾北斎の神奈川沖浪裏"));
        assert!(matches("北斎", "葛飾北斎の神奈川沖浪裏"));
        assert!(matches("ラーメン", "ﾗｰﾒﾝ屋"));
        assert!(!matches("葛飾北斎", "葛飾の神奈川沖浪裏"));
    }

    #[test]
    fn empty_never_matches() {
        for caption in ["", "   ", "—", "Thomas Kinkade"] {
            assert!(!matches("", caption));
            assert!(!matches("!!!", caption));
        }
        for alias in ["Thomas Kinkade", "葛飾北斎", "a"] {
            assert!(!matches(alias, ""));
            assert!(!matches(alias, " \t\n "));
        }
    }
}
