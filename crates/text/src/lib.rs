//! The one text normalisation every pairscope matcher uses, and the name-list format.
//!
//! This crate owns:
//! - [`normalize()`] / [`Normalizer`]: *the* normalisation. Captions, aliases, search
//!   queries and index terms all go through it, so two texts match exactly when their
//!   normalised forms do; nothing else in pairscope may lowercase, fold or tokenise text on
//!   its own;
//! - [`script`]: which scripts are matched by substring instead of by whole token;
//! - [`reference`](mod@reference): the slow, literal statement of the normalisation and of alias matching —
//!   the semantic spec the fast paths here and the mention matcher elsewhere are tested
//!   against;
//! - [`names`]: the name-list format (built-in artist and character lists, user lists), its
//!   parser and its content hash.
//!
//! It must never do I/O other than [`names::NameList::load`] reading the one file it is
//! given, and must never grow a matching engine beyond the reference: fast multi-alias
//! matching over millions of captions belongs to the mentions crate, which depends on this
//! one.
//!
//! # Normalisation grammar
//!
//! A character is a *token character* when its Unicode general category is a letter (`L*`),
//! a mark (`M*`) or a number (`N*`); every other character (punctuation, symbols,
//! separators, controls, format characters, private use, unassigned, surrogates) is a
//! *separator*. For a text `T`:
//!
//! 1. **(a) split**: every separator of `T` ends the current run; the runs of token
//!    characters are processed independently.
//! 2. **(b) fold**: each run is mapped through NFKC, then full Unicode default case folding
//!    (`ß → ss`, `İ → i̇`, `ﬁ → fi`), then NFKC again.
//!    *With accent folding*, the result is then put in NFD, every code point in
//!    U+0300–U+036F (Combining Diacritical Marks) is removed, and the rest is put in NFC.
//! 3. **(c) split again**: (b) can create separators (`½ → 1⁄2`, `⅐ → 1⁄7`), so each result
//!    is split at its separators once more.
//!
//! The *tokens* are the non-empty runs left after (c), in order. The *canonical form* is the
//! tokens joined by one U+0020 SPACE, with no leading or trailing space; a text with no
//! tokens normalises to the empty string. The canonical form therefore contains only token
//! characters and single spaces, is NFKC, is case-folded in the NFKC sense (case folding
//! followed by NFKC leaves it unchanged; plain folding alone may not, since `ǰ` folds to
//! `j` + U+030C, which NFKC composes back), and is a fixed point of the normalisation.
//!
//! Splitting before NFKC is the point of step (a): NFKC alone turns `Dr. Seuss™` into
//! `dr. seusstm`, while with (a) first it gives the tokens `dr`, `seuss`.
//!
//! Texts in the [substring scripts](script) (Han, Hiragana, Katakana, Thai, Lao, Khmer,
//! Myanmar) are written without spaces between words, so a name in them is matched as a
//! substring of the canonical form rather than as a run of whole tokens; see
//! [`reference::alias_matches`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod names;
mod normalize;
pub mod reference;
pub mod script;

pub use normalize::{Normalizer, is_token_char, normalize, tokens};
pub use script::{has_substring_script, is_substring_script_char};
