//! Captions shaped like web alt text: product titles, stock-photo descriptions, scene
//! sentences, blog titles, tag lists, camera file names and boilerplate, in English and ten
//! other languages, with the casing, punctuation, codes, prices and occasional emoji or
//! stray HTML real alt text has.
//!
//! Everything is written into a caller-owned `String`, so a row costs no allocation.

use std::fmt::Write;

use crate::sample::{Alias, Rng, push_code, push_digits};
use crate::vocab::{Lang, VOCAB, Word};

/// How a caption's letters are cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// As the word lists spell them, first letter of the caption capitalised.
    Sentence,
    /// Every word capitalised (shop titles).
    Title,
    Lower,
    Upper,
}

/// Appends words to a caption with one casing and counts them.
struct Sink<'a> {
    out: &'a mut String,
    case: Case,
    words: usize,
    /// Between words: `" "`, or nothing for languages written without spaces.
    space: &'static str,
}

impl Sink<'_> {
    fn sep(&mut self) {
        if !self.out.is_empty() {
            self.out.push_str(self.space);
        }
    }

    /// A word (or a multi-word entry) in the caption's casing.
    fn word<'w>(&mut self, w: impl Into<Word<'w>>) {
        let w = w.into();
        self.sep();
        let first = self.out.is_empty();
        push_cased(self.out, w, self.case, first);
        self.words += 1 + w.spaces as usize;
    }

    /// Text kept as written (codes, prices, sizes), preceded by a space.
    fn raw<'w>(&mut self, w: impl Into<Word<'w>>) {
        let w = w.into();
        self.sep();
        self.out.push_str(w.text);
        self.words += 1 + w.spaces as usize;
    }

    /// Punctuation glued to the previous word (`","`, `":"`).
    fn glued(&mut self, p: &str) {
        self.out.push_str(p);
    }

    /// Starts a fresh token in `self.out` for the caller to write into, preceded by a space.
    fn open(&mut self) -> &mut String {
        self.sep();
        self.words += 1;
        self.out
    }
}

fn push_cased(out: &mut String, w: Word, case: Case, first_of_caption: bool) {
    let start = out.len();
    let Word { text: w, ascii, spaces } = w;
    if ascii {
        // Copy whole, then fix the case in place: most words need no change at all.
        out.push_str(w);
        let added = &mut out[start..];
        match case {
            Case::Lower => added.make_ascii_lowercase(),
            Case::Upper => added.make_ascii_uppercase(),
            Case::Sentence => {
                if first_of_caption && !added.is_empty() {
                    added[..1].make_ascii_uppercase();
                }
            }
            Case::Title if spaces == 0 => added[..1].make_ascii_uppercase(),
            Case::Title => {
                let mut word_start = 0;
                while word_start < added.len() {
                    added[word_start..word_start + 1].make_ascii_uppercase();
                    match added[word_start..].find(' ') {
                        Some(space) => word_start += space + 1,
                        None => break,
                    }
                }
            }
        }
        return;
    }
    match case {
        Case::Lower => out.extend(w.chars().flat_map(char::to_lowercase)),
        Case::Upper => out.extend(w.chars().flat_map(char::to_uppercase)),
        Case::Title | Case::Sentence => {
            let mut start_of_word = case == Case::Title || first_of_caption;
            for c in w.chars() {
                if start_of_word {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start_of_word = c == ' ' && case == Case::Title;
            }
        }
    }
}

/// Target caption lengths in words, 1 to 60: median near 9, a long thin tail (weights per
/// length, from the shape of LAION-2B-en's caption-length histogram).
const LENGTH_WEIGHTS: [f64; 60] = [
    40.0, 50.0, 55.0, 65.0, 75.0, 82.0, 85.0, 83.0, 78.0, 70.0, // 1-10
    62.0, 54.0, 47.0, 41.0, 35.0, 30.0, 26.0, 22.0, 19.0, 16.0, // 11-20
    11.0, 9.5, 8.5, 7.5, 6.8, 6.0, 5.5, 5.0, 4.6, 4.2, // 21-30
    3.8, 3.5, 3.2, 3.0, 2.8, 2.6, 2.4, 2.2, 2.0, 1.9, // 31-40
    1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.95, // 41-50
    0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45, // 51-60
];

/// Stateless apart from its tables; shared by every shard.
pub(crate) struct CaptionMaker {
    length: Alias,
    /// Sentence, Title, Lower, Upper.
    case: Alias,
}

const CASES: [Case; 4] = [Case::Sentence, Case::Title, Case::Lower, Case::Upper];

impl CaptionMaker {
    pub(crate) fn new() -> CaptionMaker {
        CaptionMaker { length: Alias::new(&LENGTH_WEIGHTS), case: Alias::new(&[45.0, 38.0, 13.0, 4.0]) }
    }

    /// Writes one caption in `lang` to `out` (cleared first).
    pub(crate) fn write(&self, rng: &mut Rng, lang: Lang, out: &mut String) {
        out.clear();
        let target = 1 + self.length.sample(rng);
        let case = CASES[self.case.sample(rng)];
        match lang {
            Lang::En => {
                let mut sink = Sink { out, case, words: 0, space: " " };
                english(rng, &mut sink, target);
            }
            Lang::Ja | Lang::Zh => {
                let mut sink = Sink { out, case: Case::Sentence, words: 0, space: "" };
                unspaced(rng, lang, &mut sink, target.div_ceil(2).clamp(2, 14));
            }
            _ => {
                let case = if case == Case::Upper { Case::Sentence } else { case };
                let mut sink = Sink { out, case, words: 0, space: " " };
                spaced_foreign(rng, lang, &mut sink, target);
            }
        }
        decorate(rng, out);
    }
}

fn english(rng: &mut Rng, s: &mut Sink, target: usize) {
    if target <= 2 {
        return short(rng, s, target);
    }
    if target <= 4 {
        short_phrase(rng, s);
    } else {
        match rng.below(100) {
            0..30 => product(rng, s),
            30..48 => stock(rng, s),
            48..72 => scene_clause(rng, s),
            72..86 => title(rng, s),
            86..93 => tags(rng, s, target),
            93..97 => place_art(rng, s),
            _ => listing(rng, s),
        }
    }
    while s.words < target {
        extend(rng, s);
    }
    if s.words > target + 1 {
        cut(s.out, target);
    }
}

/// Words that do not end a caption.
const DANGLING: [&str; 14] = ["a", "the", "and", "with", "for", "of", "in", "on", "at", "by", "from", "-", "|", "to"];

/// Cuts `caption` after its `words`th word, then drops what would dangle at the end (a
/// comma, "with the"), the way a long title is cut to fit.
fn cut(caption: &mut String, words: usize) {
    let mut seen = 0;
    let at = caption.bytes().position(|b| {
        seen += usize::from(b == b' ');
        seen == words
    });
    if let Some(at) = at {
        caption.truncate(at);
    }
    loop {
        let trimmed = caption.trim_end_matches([',', ';', ':', ' ']).len();
        caption.truncate(trimmed);
        match caption.rfind(' ') {
            Some(space) if DANGLING.iter().any(|d| caption[space + 1..].eq_ignore_ascii_case(d)) => {
                caption.truncate(space)
            }
            _ => break,
        }
    }
}

/// Three- and four-word captions: a noun phrase, a short product or place title.
fn short_phrase(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    match rng.below(100) {
        0..40 => noun_phrase(rng, s),
        40..70 => {
            if rng.chance(0.5) {
                let b = en.brands.pick(rng);
                s.word(b);
            }
            if rng.chance(0.5) {
                let c = en.colours.pick(rng);
                s.word(c);
            }
            let p = en.products.pick(rng);
            s.word(p);
        }
        70..85 => {
            let p = en.places.pick(rng);
            s.word(p);
            let n = en.nouns.pick(rng);
            s.word(n);
        }
        _ => {
            let n = en.nouns.pick(rng);
            s.word(n);
            s.word(*rng.pick(&["Recipe", "Ideas", "Design", "Clipart", "Logo", "Icon"]));
        }
    }
}

/// One- and two-word captions: boilerplate, camera file names, bare nouns.
fn short(rng: &mut Rng, s: &mut Sink, target: usize) {
    let en = &VOCAB.en;
    match rng.below(100) {
        0..30 => {
            let w = en.boilerplate.pick(rng);
            s.raw(w);
        }
        30..50 => file_name(rng, s),
        50..80 => {
            if target == 2 {
                let a = en.adjectives.pick(rng);
                s.word(a);
            }
            let n = en.nouns.pick(rng);
            s.word(n);
        }
        _ => {
            if target == 2 {
                let b = en.brands.pick(rng);
                s.word(b);
                let p = en.products.pick(rng);
                s.word(p);
            } else {
                let p = en.places.pick(rng);
                s.word(p);
            }
        }
    }
}

fn file_name(rng: &mut Rng, s: &mut Sink) {
    let out = s.open();
    match rng.below(6) {
        0 => {
            out.push_str("IMG_");
            push_digits(out, rng, 4);
        }
        1 => {
            out.push_str("DSC");
            push_digits(out, rng, 5);
        }
        2 => {
            out.push_str("DSC_");
            push_digits(out, rng, 4);
        }
        3 => {
            let _ = write!(out, "{}{:02}{:02}_", rng.range(2008, 2022), rng.range(1, 12), rng.range(1, 28));
            push_digits(out, rng, 6);
        }
        4 => {
            out.push_str(if rng.chance(0.5) { "image" } else { "photo-" });
            let _ = write!(out, "{}", rng.range(1, 40));
        }
        _ => {
            let _ = write!(out, "Untitled-{}", rng.range(1, 9));
        }
    }
    if rng.chance(0.3) {
        out.push_str(if rng.chance(0.5) { ".jpg" } else { ".JPG" });
    }
}

fn article(rng: &mut Rng, s: &mut Sink) {
    match rng.below(10) {
        0..4 => s.word("a"),
        4..7 => s.word("the"),
        _ => {}
    }
}

fn noun_phrase(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    if rng.chance(0.45) {
        let a = en.adjectives.pick(rng);
        s.word(a);
    }
    if rng.chance(0.15) {
        let c = en.colours.pick(rng);
        s.word(c);
    }
    let n = en.nouns.pick(rng);
    s.word(n);
}

const PREPOSITIONS: [&str; 12] = ["in", "on", "with", "at", "for", "of", "and", "from", "by", "near", "under", "over"];
/// Weights of [`PREPOSITIONS`]: "in", "on", "with" lead real alt text by far.
fn preposition(rng: &mut Rng) -> &'static str {
    let r = rng.below(100);
    let i = match r {
        0..22 => 0,
        22..34 => 1,
        34..50 => 2,
        50..57 => 3,
        57..66 => 4,
        66..80 => 5,
        80..90 => 6,
        90..94 => 7,
        94..96 => 8,
        96..98 => 9,
        98 => 10,
        _ => 11,
    };
    PREPOSITIONS[i]
}

fn scene_clause(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    article(rng, s);
    noun_phrase(rng, s);
    if rng.chance(0.4) {
        let v = en.verbs.pick(rng);
        s.word(v);
        let p = preposition(rng);
        s.word(p);
        article(rng, s);
        noun_phrase(rng, s);
    } else if rng.chance(0.5) {
        let p = preposition(rng);
        s.word(p);
        article(rng, s);
        noun_phrase(rng, s);
    }
    if rng.chance(0.2) {
        s.word(if rng.chance(0.6) { "in" } else { "at" });
        let p = en.places.pick(rng);
        s.word(p);
    }
}

fn stock(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    scene_clause(rng, s);
    match rng.below(4) {
        0 => s.word("-"),
        1 if !s.out.ends_with(',') => s.glued(","),
        _ => {}
    }
    let p = en.phrases.pick(rng);
    s.word(p);
}

fn product(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    if rng.chance(0.35) {
        let b = en.brands.pick(rng);
        s.word(b);
    }
    if rng.chance(0.4) {
        let a = en.adjectives.pick(rng);
        s.word(a);
    }
    if rng.chance(0.4) {
        let c = en.colours.pick(rng);
        s.word(c);
    }
    if rng.chance(0.2) {
        let m = en.materials.pick(rng);
        s.word(m);
    }
    let p = en.products.pick(rng);
    s.word(p);
    if rng.chance(0.2) {
        s.word("for");
        let who = *rng.pick(&["Women", "Men", "Kids", "Girls", "Boys", "Baby", "Dogs", "Women's", "Her", "Him"]);
        s.word(who);
    }
    if rng.chance(0.15) {
        size(rng, s);
    }
    if rng.chance(0.1) {
        code(rng, s);
    }
    if rng.chance(0.08) {
        price(rng, s);
    }
    if rng.chance(0.03) {
        year(rng, s);
    }
}

fn place_art(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    let p = en.places.pick(rng);
    s.word(p);
    noun_phrase(rng, s);
    let art = *rng.pick(&[
        "Canvas Wall Art Print",
        "Wall Art",
        "Art Print",
        "Poster",
        "Framed Print",
        "Photo Print",
        "Canvas Print",
        "Painting",
    ]);
    s.word(art);
    if rng.chance(0.5) {
        let dims = *rng.pick(&["8x10", "11x14", "16x20", "18x24", "24x36", "30x40", "A4", "A3", "50x70 cm"]);
        s.raw(dims);
    }
}

/// Listings: real estate, events, recipes.
fn listing(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    match rng.below(3) {
        0 => {
            let out = s.open();
            let _ = write!(out, "{}", rng.range(1, 6));
            s.word(*rng.pick(&["Bedroom", "Bed", "Bedroom, 2 Bath"]));
            s.word(*rng.pick(&["House", "Apartment", "Home", "Condo", "Villa", "Cottage"]));
            s.word(*rng.pick(&["for Sale in", "for Rent in", "in"]));
            let p = en.places.pick(rng);
            s.word(p);
        }
        1 => {
            let n = en.nouns.pick(rng);
            s.word(n);
            s.word(*rng.pick(&["Recipe", "Ideas", "Tutorial", "Pattern", "Tips"]));
        }
        _ => {
            let p = en.places.pick(rng);
            s.word(p);
            s.word(*rng.pick(&["Festival", "Marathon", "Conference", "Fair", "Parade", "Show"]));
            year(rng, s);
        }
    }
}

fn title(rng: &mut Rng, s: &mut Sink) {
    let en = &VOCAB.en;
    match rng.below(6) {
        0 => {
            let out = s.open();
            let _ = write!(out, "{}", rng.pick(&[5, 7, 10, 12, 15, 20, 25, 30, 50, 100]));
            let a = en.adjectives.pick(rng);
            s.word(a);
            let n = en.nouns.pick(rng);
            s.word(n);
            s.word(*rng.pick(&["Ideas", "Ways", "Tips", "Designs", "Photos", "Things"]));
            s.word("for");
            s.word(*rng.pick(&["Your", "a", "the", "Every"]));
            let n = en.nouns.pick(rng);
            s.word(n);
        }
        1 => {
            s.word("How to");
            let v = en.verbs.pick(rng);
            s.word(v);
            article(rng, s);
            noun_phrase(rng, s);
        }
        2 => {
            s.word("The");
            s.word(*rng.pick(&["Best", "Ultimate", "Complete", "Perfect"]));
            let n = en.nouns.pick(rng);
            s.word(n);
            s.word(*rng.pick(&["in", "for", "Guide to"]));
            let p = en.places.pick(rng);
            s.word(p);
        }
        3 => {
            noun_phrase(rng, s);
            s.glued(":");
            noun_phrase(rng, s);
            s.word(preposition(rng));
            let n = en.nouns.pick(rng);
            s.word(n);
        }
        4 => {
            noun_phrase(rng, s);
            s.word("|");
            let b = en.brands.pick(rng);
            s.word(b);
        }
        _ => {
            let n = en.nouns.pick(rng);
            s.word(n);
            s.word(*rng.pick(&["of the", "in", "at"]));
            let n = en.nouns.pick(rng);
            s.word(n);
            let out = s.open();
            let _ = write!(out, "({})", rng.range(1990, 2022));
        }
    }
}

fn tags(rng: &mut Rng, s: &mut Sink, target: usize) {
    let en = &VOCAB.en;
    let sep = if rng.chance(0.8) { "," } else { ";" };
    let mut first = true;
    while s.words < target.max(3) {
        if !first {
            s.glued(sep);
        }
        first = false;
        let w = match rng.below(10) {
            0..6 => en.nouns.pick(rng),
            6..8 => en.adjectives.pick(rng),
            8 => en.colours.pick(rng),
            _ => en.places.pick(rng),
        };
        s.word(w);
    }
}

/// Grows a caption towards its target length with one more clause.
fn extend(rng: &mut Rng, s: &mut Sink) {
    match rng.below(20) {
        0..8 => s.glued(","),
        8..10 => s.word("-"),
        10..13 => s.word("and"),
        13..16 => s.glued("."),
        16..18 => s.word("with"),
        18 => s.word("|"),
        _ => s.word("for"),
    }
    if rng.chance(0.8) {
        scene_clause(rng, s);
    } else {
        let en = &VOCAB.en;
        let p = en.phrases.pick(rng);
        s.word(p);
    }
}

fn size(rng: &mut Rng, s: &mut Sink) {
    match rng.below(4) {
        0 => {
            s.word("Size");
            let v = *rng.pick(&["S", "M", "L", "XL", "XXL", "6", "7", "8", "9", "10", "12", "One Size"]);
            s.raw(v);
        }
        1 => {
            let v = *rng.pick(&["1920x1080", "1280x720", "1024x768", "800x600", "2560x1440", "3840x2160", "1080x1920"]);
            s.raw(v);
        }
        2 => {
            let out = s.open();
            let _ = write!(out, "{}x{}", rng.range(2, 60), rng.range(2, 90));
        }
        _ => {
            let v = *rng.pick(&["Small", "Medium", "Large", "X-Large", "Queen", "King", "Twin", "Full"]);
            s.word(v);
        }
    }
}

fn code(rng: &mut Rng, s: &mut Sink) {
    const UPPER_DIGITS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    match rng.below(5) {
        0 => {
            let out = s.open();
            out.push_str("SKU-");
            push_digits(out, rng, 5);
        }
        1 => {
            let out = s.open();
            out.push_str("B0");
            push_code(out, rng, UPPER_DIGITS, 8);
        }
        2 => {
            s.word("Model");
            let out = s.open();
            push_digits(out, rng, 4);
        }
        3 => {
            let out = s.open();
            out.push('#');
            push_digits(out, rng, 4);
        }
        _ => {
            let out = s.open();
            push_code(out, rng, b"ABCDEFGHJKLMNPRSTWXYZ", 3);
            out.push('-');
            push_digits(out, rng, 4);
            if rng.chance(0.3) {
                let suffix = *rng.pick(&CODE_SUFFIXES);
                out.push_str(suffix);
            }
        }
    }
}

const CODE_SUFFIXES: [&str; 4] = ["-XL", "-BK", "-S", "-2PK"];

fn price(rng: &mut Rng, s: &mut Sink) {
    let out = s.open();
    let whole = if rng.chance(0.8) { rng.range(1, 99) } else { rng.range(100, 1999) };
    let cents = *rng.pick(&[99, 99, 95, 0, 50, 49]);
    match rng.below(4) {
        0 | 1 => {
            let _ = write!(out, "${whole}.{cents:02}");
        }
        2 => {
            let _ = write!(out, "£{whole}.{cents:02}");
        }
        _ => {
            let _ = write!(out, "€{whole},{cents:02}");
        }
    }
}

fn year(rng: &mut Rng, s: &mut Sink) {
    // Recent years dominate: a crawl from 2021 sees mostly the last decade.
    let back = if rng.chance(0.8) { rng.range(0, 10) } else { rng.range(10, 70) };
    let out = s.open();
    let _ = write!(out, "{}", 2021 - back);
}

fn spaced_foreign(rng: &mut Rng, lang: Lang, s: &mut Sink, target: usize) {
    let words = VOCAB.foreign(lang);
    let en = &VOCAB.en;
    let mut last_glue = true;
    while s.words < target {
        if !last_glue && s.words + 1 < target && rng.chance(0.3) {
            let g = words.glue.pick(rng);
            s.word(g);
            last_glue = true;
        } else {
            let c = words.content.pick(rng);
            s.word(c);
            last_glue = false;
            if rng.chance(0.04) {
                s.glued(",");
            }
        }
    }
    // Shop titles in every language carry English brands and European prices.
    if rng.chance(0.06) {
        let b = en.brands.pick(rng);
        s.word(b);
    }
    if rng.chance(0.04) {
        let out = s.open();
        let _ = write!(out, "{},{:02} €", rng.range(3, 199), rng.pick(&[99, 95, 0, 50]));
    }
}

fn unspaced(rng: &mut Rng, lang: Lang, s: &mut Sink, terms: usize) {
    let words = VOCAB.foreign(lang);
    let en = &VOCAB.en;
    let bracket = lang == Lang::Ja && rng.chance(0.15);
    if bracket {
        s.glued("【");
    }
    let mut last_glue = true;
    for i in 0..terms {
        if bracket && i == 1 {
            s.glued("】");
        }
        if !last_glue && rng.chance(0.3) {
            let g = words.glue.pick(rng);
            s.word(g);
            last_glue = true;
        } else {
            let c = words.content.pick(rng);
            s.word(c);
            last_glue = false;
        }
        if rng.chance(0.05) {
            s.glued(if lang == Lang::Ja { "、" } else { "，" });
        }
    }
    if bracket && terms <= 1 {
        s.glued("】");
    }
    if rng.chance(0.08) {
        // Brands and sizes stay Latin, set off by a space.
        s.glued(" ");
        let b = en.brands.pick(rng);
        s.word(b);
    }
    if rng.chance(0.05) {
        let out = s.open();
        let _ = write!(out, "{}", rng.pick(&[2019, 2020, 2021, 1920, 1080, 500]));
    }
}

/// Endings with HTML entities a CMS left escaped.
const ENTITY_TAILS: [&str; 4] = [" &amp; More", " &#8211; Sale", " &quot;New&quot;", " &#39;22"];

/// The rare oddities: a closing exclamation mark or ellipsis, emoji, HTML entities left
/// unescaped, raw tags.
fn decorate(rng: &mut Rng, out: &mut String) {
    let r = rng.below(1000);
    match r {
        0..20 => out.push('!'),
        20..28 => out.push_str("..."),
        28..34 => {
            out.push(' ');
            out.push_str(VOCAB.en.emoji.pick(rng).text);
        }
        34..36 => {
            let e = VOCAB.en.emoji.pick(rng).text;
            out.insert(0, ' ');
            out.insert_str(0, e);
        }
        36..39 => {
            let tail = *rng.pick(&ENTITY_TAILS);
            out.push_str(tail);
        }
        39 => {
            out.insert_str(0, "<b>");
            out.push_str("</b>");
        }
        40 => out.push_str("<br>"),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captions(lang: Lang, n: usize) -> Vec<String> {
        let maker = CaptionMaker::new();
        let mut rng = Rng::fixed(9);
        let mut out = String::new();
        (0..n)
            .map(|_| {
                maker.write(&mut rng, lang, &mut out);
                out.clone()
            })
            .collect()
    }

    #[test]
    fn english_lengths_look_like_alt_text() {
        let caps = captions(Lang::En, 50_000);
        let mut lens: Vec<usize> = caps.iter().map(|c| c.split_whitespace().count()).collect();
        lens.sort_unstable();
        let median = lens[lens.len() / 2];
        assert!((7..=11).contains(&median), "median {median} words");
        assert!(lens[0] >= 1 && caps.iter().all(|c| !c.is_empty()));
        let one_word = lens.iter().filter(|&&l| l == 1).count() as f64 / lens.len() as f64;
        assert!(one_word > 0.02, "{one_word}");
        let max = *lens.last().unwrap_or(&0);
        assert!((45..=80).contains(&max), "longest {max}");
    }

    #[test]
    fn cuts_leave_nothing_dangling() {
        let mut c = String::from("Red dress with the, lace collar for women");
        cut(&mut c, 4);
        assert_eq!(c, "Red dress");
        let mut c = String::from("one two three");
        cut(&mut c, 5);
        assert_eq!(c, "one two three");
    }

    #[test]
    fn cases_mix() {
        let caps = captions(Lang::En, 5_000);
        let upper = caps.iter().filter(|c| c.len() > 10 && !c.chars().any(|ch| ch.is_lowercase())).count();
        let lower = caps.iter().filter(|c| c.len() > 10 && !c.chars().any(|ch| ch.is_uppercase())).count();
        assert!(upper > 50 && lower > 200, "upper {upper} lower {lower}");
    }

    #[test]
    fn unspaced_languages_stay_in_their_script() {
        for lang in [Lang::Ja, Lang::Zh] {
            for c in captions(lang, 500) {
                let cjk = c.chars().filter(|ch| *ch as u32 >= 0x3000).count();
                assert!(cjk >= 2, "{lang:?}: {c}");
                assert!(!c.contains("  "), "{c}");
            }
        }
        let ru = captions(Lang::Ru, 200);
        assert!(ru.iter().all(|c| c.chars().any(|ch| ('а'..='я').contains(&ch.to_lowercase().next().unwrap_or(ch)))));
    }
}
