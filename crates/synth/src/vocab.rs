//! The word lists captions are made of (`vocab/*.txt`, embedded at build time) and their
//! Zipf tables.
//!
//! Each list is in rank order, most frequent first, and is sampled with a Zipf–Mandelbrot
//! law over that rank: real alt text has a few words in every other caption and a long tail
//! seen once in a million, and search and count benchmarks pick their query words by that
//! document frequency.

use std::sync::LazyLock;

use crate::sample::{Alias, Rng};

/// A ranked list with its sampling table. The words sit back to back in one string, so the
/// few thousand a caption draws from stay in cache.
pub(crate) struct WordList {
    text: String,
    spans: Vec<Span>,
    table: Alias,
}

#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u16,
    spaces: u8,
    ascii: bool,
}

/// A word (or a multi-word entry) with what writing it needs to know.
#[derive(Clone, Copy)]
pub(crate) struct Word<'a> {
    pub(crate) text: &'a str,
    /// Spaces inside: a multi-word entry counts as that many more words.
    pub(crate) spaces: u8,
    pub(crate) ascii: bool,
}

impl<'a> From<&'a str> for Word<'a> {
    fn from(text: &'a str) -> Word<'a> {
        Word { text, spaces: text.bytes().filter(|&b| b == b' ').count() as u8, ascii: text.is_ascii() }
    }
}

impl WordList {
    /// Whitespace-separated entries (`_` stands for a space inside one); `#` starts a
    /// comment line.
    fn from_words(text: &str, offset: f64) -> WordList {
        let words: Vec<String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .map(|w| w.replace('_', " "))
            .collect();
        WordList::ranked(&words, offset)
    }

    /// One entry a line; `#` starts a comment line.
    fn from_lines(text: &str, offset: f64) -> WordList {
        let words: Vec<String> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
        WordList::ranked(&words, offset)
    }

    fn ranked(words: &[String], offset: f64) -> WordList {
        let mut text = String::new();
        let spans = words
            .iter()
            .map(|w| {
                let word = Word::from(w.as_str());
                let span =
                    Span { start: text.len() as u32, len: w.len() as u16, spaces: word.spaces, ascii: word.ascii };
                text.push_str(w);
                span
            })
            .collect();
        WordList { text, spans, table: Alias::zipf(words.len(), offset) }
    }

    #[inline]
    pub(crate) fn pick(&self, rng: &mut Rng) -> Word<'_> {
        self.get(self.table.sample(rng))
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Word<'_> {
        let s = self.spans[i];
        let start = s.start as usize;
        Word { text: &self.text[start..start + s.len as usize], spaces: s.spaces, ascii: s.ascii }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }
}

/// The English lists, by the role a word plays in a caption.
pub(crate) struct English {
    pub(crate) nouns: WordList,
    pub(crate) adjectives: WordList,
    pub(crate) colours: WordList,
    pub(crate) materials: WordList,
    pub(crate) products: WordList,
    pub(crate) places: WordList,
    pub(crate) verbs: WordList,
    pub(crate) brands: WordList,
    /// Stock/shop phrases ("stock photo", "vector illustration", "wall art").
    pub(crate) phrases: WordList,
    /// Whole captions that recur on unrelated images ("image", "Untitled").
    pub(crate) boilerplate: WordList,
    pub(crate) emoji: WordList,
}

/// A language other than English: glue words (articles, prepositions, particles) and
/// content words.
pub(crate) struct Foreign {
    pub(crate) glue: WordList,
    pub(crate) content: WordList,
}

/// Every caption language. The codes are what LAION-5B's `LANGUAGE` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    #[default]
    En,
    De,
    Fr,
    Es,
    It,
    Pt,
    Nl,
    Pl,
    Ru,
    Ja,
    Zh,
}

impl Lang {
    pub(crate) const FOREIGN: [Lang; 10] =
        [Lang::De, Lang::Fr, Lang::Es, Lang::It, Lang::Pt, Lang::Nl, Lang::Pl, Lang::Ru, Lang::Ja, Lang::Zh];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::It => "it",
            Lang::Pt => "pt",
            Lang::Nl => "nl",
            Lang::Pl => "pl",
            Lang::Ru => "ru",
            Lang::Ja => "ja",
            Lang::Zh => "zh",
        }
    }
}

pub(crate) struct Vocab {
    pub(crate) en: English,
    /// Indexed like [`Lang::FOREIGN`].
    foreign: Vec<Foreign>,
}

impl Vocab {
    pub(crate) fn foreign(&self, lang: Lang) -> &Foreign {
        let i = Lang::FOREIGN
            .iter()
            .position(|&l| l == lang)
            .unwrap_or_else(|| unreachable!("{lang:?} has no foreign word list"));
        &self.foreign[i]
    }
}

fn foreign(text: &str) -> Foreign {
    let (glue, content): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with("glue:"));
    let glue = glue.concat();
    Foreign {
        glue: WordList::from_words(glue.trim_start_matches("glue:"), 0.5),
        content: WordList::from_words(&content.join("\n"), 3.0),
    }
}

/// Built on first use; about a millisecond.
pub(crate) static VOCAB: LazyLock<Vocab> = LazyLock::new(|| Vocab {
    en: English {
        nouns: WordList::from_words(include_str!("../vocab/en-nouns.txt"), 4.0),
        adjectives: WordList::from_words(include_str!("../vocab/en-adjectives.txt"), 2.0),
        colours: WordList::from_words(include_str!("../vocab/en-colours.txt"), 1.0),
        materials: WordList::from_words(include_str!("../vocab/en-materials.txt"), 1.0),
        products: WordList::from_words(include_str!("../vocab/en-products.txt"), 3.0),
        places: WordList::from_words(include_str!("../vocab/en-places.txt"), 3.0),
        verbs: WordList::from_words(include_str!("../vocab/en-verbs.txt"), 2.0),
        brands: WordList::from_words(include_str!("../vocab/en-brands.txt"), 3.0),
        phrases: WordList::from_lines(include_str!("../vocab/en-phrases.txt"), 0.5),
        boilerplate: WordList::from_lines(include_str!("../vocab/en-boilerplate.txt"), 0.5),
        emoji: WordList::from_words(include_str!("../vocab/en-emoji.txt"), 1.0),
    },
    foreign: vec![
        foreign(include_str!("../vocab/de.txt")),
        foreign(include_str!("../vocab/fr.txt")),
        foreign(include_str!("../vocab/es.txt")),
        foreign(include_str!("../vocab/it.txt")),
        foreign(include_str!("../vocab/pt.txt")),
        foreign(include_str!("../vocab/nl.txt")),
        foreign(include_str!("../vocab/pl.txt")),
        foreign(include_str!("../vocab/ru.txt")),
        foreign(include_str!("../vocab/ja.txt")),
        foreign(include_str!("../vocab/zh.txt")),
    ],
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_loaded_and_large() {
        let en = &VOCAB.en;
        let total: usize =
            [&en.nouns, &en.adjectives, &en.colours, &en.materials, &en.products, &en.places, &en.verbs, &en.brands]
                .iter()
                .map(|l| l.len())
                .sum();
        assert!(total > 2500, "{total} English words");
        let nouns: Vec<&str> = (0..en.nouns.len()).map(|i| en.nouns.get(i).text).collect();
        assert!(nouns.contains(&"ice cream"), "'_' joins words");
        assert_eq!(en.nouns.get(nouns.iter().position(|w| *w == "ice cream").unwrap_or(0)).spaces, 1);
        assert!(!nouns.iter().any(|w| w.starts_with('#')), "comments skipped");
        for lang in Lang::FOREIGN {
            let f = VOCAB.foreign(lang);
            assert!(f.glue.len() >= 5 && f.content.len() >= 100, "{lang:?}");
        }
        assert_eq!(VOCAB.en.phrases.get(0).text, "stock photo");
    }
}
