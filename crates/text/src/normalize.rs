//! The fast implementation of the normalisation (grammar in the crate doc).
//!
//! It gives the same result as the literal statement in [`crate::reference::normalize`]
//! (property tests and an exhaustive per-code-point test check this) by three shortcuts, each
//! exact:
//! - **ASCII runs** are copied and lowercased in bulk: NFKC and NFD leave ASCII unchanged and
//!   case folding maps exactly `A–Z` to `a–z`, so step (b) is lowercasing and (c) finds no
//!   separator.
//! - **Simple runs**: a run whose characters are all *simple* (see [`SimpleTable`]) is
//!   mapped character by character through a table built once per process. This covers
//!   precomposed Latin, Greek and Cyrillic, kana and CJK ideographs, i.e. nearly every
//!   non-ASCII caption.
//! - **Other runs** are streamed through chained normalisation iterators straight into the
//!   output buffer.
//!
//! Runs can be treated separately because nothing in step (b) acts across a separator (see
//! [`crate::reference::normalize`]); none of the paths allocates once the output buffer has
//! grown.

use std::sync::OnceLock;

use caseless::Caseless;
use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick, is_nfkc_quick};

/// Is `c` a token character (general category `L*`, `M*` or `N*`)? Every other character is
/// a separator.
pub fn is_token_char(c: char) -> bool {
    use GeneralCategory::*;
    if c.is_ascii() {
        // Same answer as the table (pinned by a test over all of ASCII), without the lookup.
        return c.is_ascii_alphanumeric();
    }
    matches!(
        get_general_category(c),
        UppercaseLetter
            | LowercaseLetter
            | TitlecaseLetter
            | ModifierLetter
            | OtherLetter
            | NonspacingMark
            | SpacingMark
            | EnclosingMark
            | DecimalNumber
            | LetterNumber
            | OtherNumber
    )
}

/// Is `c` one of the marks accent folding removes (U+0300–U+036F, Combining Diacritical
/// Marks)?
pub(crate) fn is_accent_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// For each byte: its lowercase form if it is an ASCII token character, [`SEPARATOR`] if an
/// ASCII separator, [`NON_ASCII`] if it is part of a multi-byte character.
const BYTE_CLASS: [u8; 256] = {
    let mut table = [NON_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { SEPARATOR };
        b += 1;
    }
    table
};
const SEPARATOR: u8 = 0;
const NON_ASCII: u8 = 0x80;

/// A reusable normaliser: holds the output buffer so that normalising millions of captions
/// does not allocate per caption.
#[derive(Debug, Clone)]
pub struct Normalizer {
    fold_accents: bool,
    out: String,
}

impl Normalizer {
    /// A normaliser, with or without accent folding. Cheap: the lookup table of simple
    /// characters is built by the first non-ASCII text a normaliser of its kind meets in the
    /// process (5 to 15 ms), so a command that only ever sees ASCII text, such as a search
    /// for an ASCII phrase, never builds it.
    pub fn new(fold_accents: bool) -> Self {
        Normalizer { fold_accents, out: String::new() }
    }

    /// Whether this normaliser folds accents.
    pub fn fold_accents(&self) -> bool {
        self.fold_accents
    }

    /// Normalises into an internal buffer and returns the canonical form (tokens joined by
    /// `' '`).
    #[expect(
        clippy::expect_used,
        reason = "normalize_ascii writes only spaces and BYTE_CLASS's lower-cased ASCII letters and digits"
    )]
    pub fn normalize<'a>(&'a mut self, text: &str) -> &'a str {
        if text.is_ascii() {
            let mut bytes = std::mem::take(&mut self.out).into_bytes();
            normalize_ascii(text.as_bytes(), &mut bytes);
            self.out = String::from_utf8(bytes).expect("ASCII in, ASCII out");
            return &self.out;
        }
        let table = SimpleTable::get(self.fold_accents);
        let out = &mut self.out;
        out.clear();
        // Enough for any ASCII text, so its loop never grows the buffer.
        out.reserve(text.len());
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let class = BYTE_CLASS[usize::from(bytes[i])];
            if class == SEPARATOR {
                i += 1;
                continue;
            }
            let start = i;
            let mark = out.len();
            if class != NON_ASCII {
                // Lowercased as it is copied, betting that the run stays ASCII (it nearly
                // always does); taken back below if it does not.
                push_separator(out);
                while i < bytes.len() {
                    let lower = BYTE_CLASS[usize::from(bytes[i])];
                    if lower == SEPARATOR || lower == NON_ASCII {
                        break;
                    }
                    out.push(char::from(lower));
                    i += 1;
                }
                if bytes.get(i).is_none_or(|&b| b.is_ascii()) {
                    continue;
                }
            }
            // `i` is on a char boundary: it only ever advances past ASCII bytes, whole chars
            // or whole runs.
            let Some(c) = text[i..].chars().next() else {
                break;
            };
            if !is_token_char(c) {
                i += c.len_utf8();
                continue;
            }
            // The run goes on with non-ASCII: it is mapped as a whole, since step (b) may
            // join its ASCII and non-ASCII parts (`e` + U+0301 → `é`).
            out.truncate(mark);
            let end =
                text[i..].char_indices().find(|&(_, c)| !is_token_char(c)).map_or(text.len(), |(offset, _)| i + offset);
            push_run(out, &text[start..end], table, self.fold_accents);
            i = end;
        }
        out
    }
}

/// The normalisation of an all-ASCII text: its alphanumeric runs, lowercased, joined by single
/// spaces (NFKC, case folding and accent folding leave ASCII as it is, but for `A–Z` → `a–z`).
/// The common case, so it works a run at a time instead of a byte at a time.
fn normalize_ascii(mut text: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(text.len());
    let is_separator = |b: &u8| BYTE_CLASS[usize::from(*b)] == SEPARATOR;
    while let Some(start) = text.iter().position(|b| !is_separator(b)) {
        text = &text[start..];
        let end = text.iter().position(is_separator).unwrap_or(text.len());
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend(text[..end].iter().map(|&b| BYTE_CLASS[usize::from(b)]));
        text = &text[end..];
    }
}

/// Starts a new token: a space unless it is the first.
fn push_separator(out: &mut String) {
    if !out.is_empty() {
        out.push(' ');
    }
}

/// Steps (b) and (c) for one run of token characters that is not all ASCII.
fn push_run(out: &mut String, run: &str, table: &SimpleTable, fold_accents: bool) {
    let before = out.len();
    // The run is one token unless it maps to nothing (accent folding removes U+034F), so the
    // separator waits for the first mapped character.
    let mut started = false;
    for c in run.chars() {
        match table.lookup(c) {
            Some(Mapping::Char(m)) => {
                start_token_once(out, &mut started);
                out.push(m);
            }
            Some(Mapping::Str(s)) => {
                if !s.is_empty() {
                    start_token_once(out, &mut started);
                    out.push_str(s);
                }
            }
            None => {
                out.truncate(before);
                push_folded_run(out, run, fold_accents);
                return;
            }
        }
    }
}

fn start_token_once(out: &mut String, started: &mut bool) {
    if !*started {
        push_separator(out);
        *started = true;
    }
}

/// Steps (b) and (c) for any run of token characters, appending its tokens to `out`.
fn push_folded_run(out: &mut String, run: &str, fold_accents: bool) {
    let folded = run.chars().nfkc().default_case_fold().nfkc();
    if fold_accents {
        push_tokens(out, folded.nfd().filter(|&c| !is_accent_mark(c)).nfc());
    } else {
        push_tokens(out, folded);
    }
}

/// Step (c): appends the token characters of `chars`, starting a new token at the first
/// token character after a separator.
fn push_tokens(out: &mut String, chars: impl Iterator<Item = char>) {
    let mut in_token = false;
    for c in chars {
        if is_token_char(c) {
            if !in_token {
                push_separator(out);
                in_token = true;
            }
            out.push(c);
        } else {
            in_token = false;
        }
    }
}

/// What a simple character maps to.
enum Mapping<'a> {
    Char(char),
    /// Several characters, or none (accent folding removes U+034F).
    Str(&'a str),
}

/// The mapping of every *simple* character of the Basic Multilingual Plane, for one setting
/// of accent folding.
///
/// A character `c` is simple when `c` and every character of its full case folding `f` is a
/// token character, a starter (canonical combining class 0) and NFKC_Quick_Check=Yes; with
/// accent folding, also when the first character left in NFD(`f`) once the accents are
/// removed is a starter with NFC_Quick_Check=Yes, and every character of the result
/// NFC(that) is again a token starter with NFKC_Quick_Check=Yes. Why a run of simple
/// characters maps character by character:
/// - Without accent folding: quick check Yes is definitive, so NFKC leaves the run unchanged;
///   folding works per character; the concatenation of the `f`s passes the quick check
///   again, so the second NFKC leaves it unchanged; and it holds only token characters, so
///   (c) does not split it.
/// - With accent folding: each NFD(`f`) starts with a starter (a primary composite
///   decomposes to a starter first), so canonical reordering never crosses from one
///   character's piece into the next and NFD works per piece; so does removing accents. NFC
///   could only join two pieces by composing the first character of the later piece with a
///   starter before it, and characters that can be the second of a composition are exactly
///   the NFC_Quick_Check=Maybe ones, excluded above.
///
/// Characters outside the BMP are never simple; they are rare enough for the general path.
struct SimpleTable {
    /// Per BMP code point: the mapped char, or [`Self::EXPANSION`] | index into
    /// `expansions`, or [`Self::COMPLEX`].
    entries: Vec<u32>,
    expansions: Vec<String>,
}

impl SimpleTable {
    const COMPLEX: u32 = u32::MAX;
    const EXPANSION: u32 = 1 << 31;

    fn get(fold_accents: bool) -> &'static SimpleTable {
        static PLAIN: OnceLock<SimpleTable> = OnceLock::new();
        static FOLDING: OnceLock<SimpleTable> = OnceLock::new();
        let cell = if fold_accents { &FOLDING } else { &PLAIN };
        cell.get_or_init(|| SimpleTable::build(fold_accents))
    }

    fn build(fold_accents: bool) -> SimpleTable {
        let mut table = SimpleTable { entries: vec![Self::COMPLEX; 0x1_0000], expansions: Vec::new() };
        for c in ('\0'..='\u{FFFF}').filter(|&c| is_simple_char(c)) {
            let Some(mapped) = simple_mapping(c, fold_accents) else {
                continue;
            };
            let mut chars = mapped.chars();
            table.entries[c as usize] = match (chars.next(), chars.next()) {
                (Some(single), None) => u32::from(single),
                _ => {
                    let index = u32::try_from(table.expansions.len()).map_or(Self::COMPLEX, |i| Self::EXPANSION | i);
                    table.expansions.push(mapped);
                    index
                }
            };
        }
        table
    }

    /// The mapping of `c`, or `None` if it is not simple.
    fn lookup(&self, c: char) -> Option<Mapping<'_>> {
        let entry = self.entries.get(c as usize).copied().unwrap_or(Self::COMPLEX);
        if entry == Self::COMPLEX {
            None
        } else if let Some(m) = char::from_u32(entry) {
            Some(Mapping::Char(m))
        } else {
            let s = self.expansions.get((entry ^ Self::EXPANSION) as usize)?;
            Some(Mapping::Str(s))
        }
    }
}

/// A token character that is a starter with NFKC_Quick_Check=Yes.
fn is_simple_char(c: char) -> bool {
    is_token_char(c) && canonical_combining_class(c) == 0 && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes
}

/// What a simple character maps to, if it is simple (see [`SimpleTable`]).
fn simple_mapping(c: char, fold_accents: bool) -> Option<String> {
    let folded: String = std::iter::once(c).default_case_fold().collect();
    if !folded.chars().all(is_simple_char) {
        return None;
    }
    if !fold_accents {
        return Some(folded);
    }
    let stripped: String = folded.nfd().filter(|&x| !is_accent_mark(x)).collect();
    if let Some(first) = stripped.chars().next() {
        let joins_backwards =
            canonical_combining_class(first) != 0 || is_nfc_quick(std::iter::once(first)) != IsNormalized::Yes;
        if joins_backwards {
            return None;
        }
    }
    let mapped: String = stripped.nfc().collect();
    mapped.chars().all(is_simple_char).then_some(mapped)
}

/// The canonical form of `text` (see the crate doc). Allocates; use a [`Normalizer`] in
/// loops.
pub fn normalize(text: &str, fold_accents: bool) -> String {
    Normalizer::new(fold_accents).normalize(text).to_owned()
}

/// The tokens of a canonical form (the output of [`normalize`]); never yields an empty
/// token.
pub fn tokens(normalized: &str) -> impl Iterator<Item = &str> {
    normalized.split(' ').filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use unicode_normalization::is_nfkc;

    use super::*;
    use crate::reference;

    #[test]
    fn ascii_table_agrees_with_general_category() {
        for c in (0u8..128).map(char::from) {
            let by_category = matches!(
                get_general_category(c),
                GeneralCategory::UppercaseLetter | GeneralCategory::LowercaseLetter | GeneralCategory::DecimalNumber
            );
            assert_eq!(is_token_char(c), by_category, "{c:?}");
        }
    }

    #[test]
    fn examples() {
        let cases = [
            ("Dr. Seuss™", "dr seuss"),
            ("thomas_kinkade's cottage", "thomas kinkade s cottage"),
            ("Ｔｈｏｍａｓ  KINKADE", "thomas kinkade"),
            ("Straße", "strasse"),
            ("ﬁne", "fine"),
            ("½ price", "1 2 price"),
            ("Ame\u{0301}lie", "amélie"),
            ("ＩＮ 2024…", "in 2024"),
            ("  ", ""),
            ("", ""),
            ("ｶﾞｰﾙ", "ガール"),
            ("葛飾北斎の神奈川沖浪裏", "葛飾北斎の神奈川沖浪裏"),
            ("Ǆemal", "džemal"),
            ("café-au-lait", "café au lait"),
        ];
        let mut normalizer = Normalizer::new(false);
        for (text, want) in cases {
            assert_eq!(normalizer.normalize(text), want, "{text:?}");
            assert_eq!(reference::normalize(text, false), want, "{text:?}");
        }
        assert_eq!(normalize("Albrecht Dürer", true), "albrecht durer");
        assert_eq!(normalize("Ǆemal", true), "dzemal");
    }

    /// Every assigned code point on its own, with and without a following accent: the cheap
    /// way to reach the rare characters random strings never hit. Planes 4–13 (unassigned)
    /// and 15–16 (private use) are skipped to keep the test quick: their characters are
    /// separators, like the unassigned and private-use characters of the planes tested.
    #[test]
    fn every_code_point_is_a_fixed_point_after_one_pass() {
        let mut plain = Normalizer::new(false);
        let mut folding = Normalizer::new(true);
        let mut again = Normalizer::new(false);
        let mut text = String::new();
        let planes = (0..0x4_0000u32).chain(0xE_0000..0xF_0000);
        for c in planes.filter_map(char::from_u32) {
            for suffix in ["", "\u{0301}"] {
                text.clear();
                text.push(c);
                text.push_str(suffix);
                for normalizer in [&mut plain, &mut folding] {
                    let fold_accents = normalizer.fold_accents();
                    let once = normalizer.normalize(&text);
                    assert_eq!(again.normalize(once), once, "U+{:04X}{suffix:?}", u32::from(c));
                    check_canonical(once, fold_accents);
                }
            }
        }
    }

    /// The invariants of a canonical form.
    fn check_canonical(out: &str, fold_accents: bool) {
        assert!(!out.starts_with(' ') && !out.ends_with(' ') && !out.contains("  "), "{out:?}");
        assert!(out.chars().all(|c| c == ' ' || is_token_char(c)), "{out:?}");
        assert!(is_nfkc(out), "not NFKC: {out:?}");
        // "Case-folded" in the NFKC sense: folding ǰ gives j + U+030C, which NFKC composes
        // back, so literal fold-stability is impossible for an NFKC text containing it.
        let refolded: String = caseless::default_case_fold_str(out).nfkc().collect();
        assert_eq!(refolded, out, "not folded: {out:?}");
        if fold_accents {
            assert!(!out.chars().any(is_accent_mark), "accent left: {out:?}");
        }
        assert!(tokens(out).all(|t| !t.is_empty()), "{out:?}");
    }

    /// Strings built to reach the interactions that matter: ASCII next to non-ASCII in one
    /// run, combining marks after every kind of base, case-folding and compatibility
    /// specials, Hangul jamo, substring scripts, and anything at all.
    fn text() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            'ß', 'İ', 'ı', 'ﬁ', 'ﬀ', '™', '½', '⅐', '①', '㈱', 'ǅ', 'Ǆ', 'ŉ', 'ẞ', 'ſ', 'ẛ', 'Ω', 'Å', 'K', 'ᾳ', 'ᾼ',
            'ͅ', '\u{0345}', '\u{034F}', '\u{0338}', '\u{1100}', '\u{1161}', '\u{11A8}', '가', 'ｶ', 'ﾞ', 'ｰ', 'ー', '々',
            '\u{3099}', 'ê', 'Ǖ', 'ǖ', '\u{0F73}', '\u{0F75}', 'ᴬ', 'ª', '²', '\u{00A0}', '\u{200D}', '\u{FEFF}', '’',
            '_', '-', ' ', '\u{1E9E}', '\u{1F88}', 'ǰ', 'ΐ', '\u{FB2C}', 'ﷺ', '\u{0CCB}', '\u{0B48}',
        ]);
        let ch = prop_oneof![
            4 => prop::char::range(' ', '~'),
            2 => prop::char::range('\u{0300}', '\u{036F}'),
            2 => special,
            1 => prop::char::range('\u{00C0}', '\u{024F}'),
            1 => prop::char::range('\u{3040}', '\u{30FF}'),
            1 => prop::char::range('\u{0E00}', '\u{0EFF}'),
            1 => prop::char::range('\u{1F00}', '\u{1FFF}'),
            1 => prop::char::range('\u{FF00}', '\u{FFEF}'),
            1 => prop::char::range('\u{0370}', '\u{04FF}'),
            1 => prop::char::range('\u{1100}', '\u{11FF}'),
            1 => prop::char::range('\u{AC00}', '\u{AC1F}'),
            1 => prop::char::range('\u{4E00}', '\u{4E3F}'),
            2 => any::<char>(),
        ];
        prop::collection::vec(ch, 0..24).prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn fast_path_equals_reference(text in text(), fold_accents: bool) {
            let fast = Normalizer::new(fold_accents).normalize(&text).to_owned();
            prop_assert_eq!(fast, reference::normalize(&text, fold_accents));
        }

        #[test]
        fn ascii_is_lowercased_alphanumeric_runs(text in "[\\x00-\\x7f]{0,64}", fold_accents: bool) {
            let want = text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|t| !t.is_empty())
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(" ");
            prop_assert_eq!(normalize(&text, fold_accents), want.clone());
            prop_assert_eq!(reference::normalize(&text, fold_accents), want);
        }

        #[test]
        fn output_is_canonical_and_idempotent(text in text(), fold_accents: bool) {
            let once = normalize(&text, fold_accents);
            check_canonical(&once, fold_accents);
            prop_assert_eq!(normalize(&once, fold_accents), once.clone());
            // The unfolded form of a folded text folds to the same thing.
            prop_assert_eq!(normalize(&normalize(&text, false), true), normalize(&text, true));
        }

        #[test]
        fn tokens_rejoin_to_the_canonical_form(text in text()) {
            let once = normalize(&text, false);
            prop_assert_eq!(tokens(&once).collect::<Vec<_>>().join(" "), once.clone());
        }

        #[test]
        fn a_reused_normalizer_forgets_the_previous_text(a in text(), b in text()) {
            let mut normalizer = Normalizer::new(false);
            normalizer.normalize(&a);
            prop_assert_eq!(normalizer.normalize(&b), normalize(&b, false));
        }

        /// The all-ASCII path and the general one share the buffer: either may follow the
        /// other.
        #[test]
        fn ascii_and_other_texts_alternate(a in "[\\x00-\\x7f]{0,32}", b in text(), fold_accents: bool) {
            let mut normalizer = Normalizer::new(fold_accents);
            for text in [&a, &b, &a, &a, &b, &b] {
                prop_assert_eq!(normalizer.normalize(text), reference::normalize(text, fold_accents));
            }
        }
    }

    /// Throughput on a synthetic caption mix; run with
    /// `cargo test -p pairscope-text --release -- --ignored --nocapture throughput`.
    #[test]
    #[ignore = "measurement, not a check"]
    fn throughput() {
        let ascii = [
            "A photo of a red barn in the countryside, oil painting by Thomas Kinkade",
            "Vintage poster: \"Visit Paris!\" (1920s) - art deco style, 4k HD wallpaper",
            "Men's running shoes | Size 10 | FREE shipping & returns!!",
            "close-up of a cat sleeping on the sofa #cute #cats",
            "IMG_2034.JPG",
        ];
        let latin = [
            "Café de Flore, Saint-Germain-des-Prés — aquarelle d'Albrecht Dürer",
            "Straße in München im Winter; Foto © 2019",
            "Niño jugando en la playa – fotografía de archivo",
        ];
        let other = [
            "葛飾北斎の神奈川沖浪裏 木版画",
            "ラーメン屋の看板 ｶﾞｰﾙ",
            "Москва, Красная площадь ночью ✨🌙",
            "ภาพวาดสีน้ำมัน ทะเล",
        ];
        // Weights like an English-heavy LAION crawl: 80% ASCII, 12% Latin accents, 8% other.
        let mut captions = Vec::new();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut bytes = 0;
        while bytes < 64 << 20 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let pick = (state >> 33) as usize;
            let caption = match pick % 100 {
                0..80 => ascii[pick % ascii.len()],
                80..92 => latin[pick % latin.len()],
                _ => other[pick % other.len()],
            };
            bytes += caption.len();
            captions.push(caption);
        }
        let mut normalizer = Normalizer::new(false);
        let only = |set: &[&str]| -> Vec<&str> { captions.iter().copied().filter(|c| set.contains(c)).collect() };
        for (label, subset) in
            [("mix", captions.clone()), ("ascii", only(&ascii)), ("latin", only(&latin)), ("other", only(&other))]
        {
            let size: usize = subset.iter().map(|c| c.len()).sum();
            let start = std::time::Instant::now();
            let mut out_bytes = 0;
            for caption in &subset {
                out_bytes += normalizer.normalize(caption).len();
            }
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "{label}: {:.0} MB/s, {:.1} M captions/s ({} captions, {out_bytes} bytes out)",
                size as f64 / seconds / 1e6,
                subset.len() as f64 / seconds / 1e6,
                subset.len(),
            );
        }
    }
}
