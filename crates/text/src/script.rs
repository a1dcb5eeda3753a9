//! Substring scripts: scripts written without spaces between words, whose names are matched
//! as substrings of the canonical form rather than as runs of whole tokens.
//!
//! The scripts are Han, Hiragana, Katakana, Thai, Lao, Khmer and Myanmar.
//!
//! A character belongs to them when its Script property is one of them, or when it is a
//! Common or Inherited character whose Script_Extensions (scx) lists *only* them. The second
//! clause takes in the characters these writing systems use inside words although Unicode
//! does not assign them to one script:
//! - `ー` U+30FC (prolonged sound mark; scx Hiragana, Katakana), and the halfwidth `ｰ` that
//!   NFKC turns into it. Katakana names are full of it (`ラーメン`); without it a name
//!   spelt only with it and Common characters would fall back to token matching;
//! - `゙` `゚` U+3099/U+309A (combining voiced sound marks; Inherited, scx Hiragana,
//!   Katakana), and the halfwidth `ﾞ` `ﾟ`;
//! - `〆` U+3006 (scx Han), the kana repeat marks `〱`–`〵`, `〼`, and ideographic
//!   numerals such as `㊀` and the counting rods.
//!
//! (`々` U+3005 and `〻` U+303B are Script=Han already.) "Only" matters: a few Latin
//! characters list a substring script among several in their scx — `ʼ` U+02BC and the
//! combining tilde and dot below U+0303/U+0323 include Thai — and counting them would turn
//! Lithuanian `ą̃` or `dʼArtagnan` into substring matches. A character whose scx is Common
//! or Inherited as a whole (ASCII digits, Latin accents) never counts.
//!
//! Punctuation such as `・` U+30FB is a separator under the normalisation, so whether it
//! counts never matters for a canonical form.

use unicode_script::{Script, UnicodeScript};

/// The scripts whose text is matched by substring.
const SUBSTRING_SCRIPTS: [Script; 7] =
    [Script::Han, Script::Hiragana, Script::Katakana, Script::Thai, Script::Lao, Script::Khmer, Script::Myanmar];

/// Does `c` belong to a substring script (see the module doc for Common and Inherited
/// characters)?
pub fn is_substring_script_char(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    let script = c.script();
    if script != Script::Common && script != Script::Inherited {
        return SUBSTRING_SCRIPTS.contains(&script);
    }
    let scx = c.script_extension();
    // A Common or Inherited scx is represented as "every script", which must not count.
    !scx.is_common() && !scx.is_inherited() && scx.iter().all(|s| SUBSTRING_SCRIPTS.contains(&s))
}

/// Does `text` contain any character of a substring script?
pub fn has_substring_script(text: &str) -> bool {
    !text.is_ascii() && text.chars().any(is_substring_script_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_their_word_internal_common_characters() {
        for c in ['葛', '飾', 'ひ', 'カ', 'ก', 'ກ', 'ក', 'က', '々', '〻', '〆', 'ー', '\u{3099}', '\u{309A}']
        {
            assert!(is_substring_script_char(c), "{c:?} U+{:04X}", u32::from(c));
        }
        for c in
            ['a', 'é', '\u{0301}', '\u{0303}', '\u{0323}', '\u{02BC}', '1', '１', 'Ａ', 'ß', '한', 'α', 'ж', ' ', '-']
        {
            assert!(!is_substring_script_char(c), "{c:?} U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn has_substring_script_looks_at_every_char() {
        assert!(has_substring_script("Hokusai 葛飾北斎"));
        assert!(has_substring_script("ラーメン"));
        assert!(!has_substring_script("Thomas Kinkade"));
        assert!(!has_substring_script("Ame\u{0301}lie"));
        assert!(!has_substring_script(""));
    }

    /// The Common and Inherited token characters that count, pinned so that a Unicode data
    /// update that changes matching is noticed.
    #[test]
    fn common_and_inherited_members_are_pinned() {
        let counted: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| {
                matches!(c.script(), Script::Common | Script::Inherited)
                    && crate::is_token_char(c)
                    && is_substring_script_char(c)
            })
            .map(u32::from)
            .collect();
        let expected: Vec<u32> = [
            0x3006..=0x3006,
            0x3031..=0x3035,
            0x303C..=0x303C,
            0x3099..=0x309A,
            0x30FC..=0x30FC,
            0x3192..=0x3195,
            0x3220..=0x3229,
            0x3280..=0x3289,
            0xFF70..=0xFF70,
            0xFF9E..=0xFF9F,
            0x1D360..=0x1D371,
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(counted, expected);
    }
}
