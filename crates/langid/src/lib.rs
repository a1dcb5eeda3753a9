//! The language of a caption, as an ISO 639-1 code, or `und` when the detector is unsure.
//!
//! Script first, then character n-grams. A script that only one supported language writes
//! (Greek, Hebrew, Armenian, Georgian, Thai, Hangul, Bengali, Gujarati, Gurmukhi, Tamil, Telugu,
//! Sinhala, Ethiopic) is the answer; Han is Japanese when kana occur and Chinese when not. Latin,
//! Cyrillic, Arabic and Devanagari text is scored by naive Bayes over its 1- to 5-grams against
//! 62 languages, with lingua's n-gram probabilities (pruned and quantised by `build.rs`,
//! embedded in the binary): per n-gram, a language scores the log-probability of the longest
//! n-gram from the same position it knows, or `UNSEEN`. An answer whose lead over the runner-up
//! is under `MIN_MARGIN` is `und`. `bench/LANGID.md` measures it beside CLD3 (LAION's detector),
//! whatlang and lingua and says why this design.
//!
//! This crate never reads files or the network: the model is in the binary, and a caption is
//! all it is given.
//!
//! The model is parsed once, on first use, into a 17 MB hash table beside its 18 MB of embedded
//! bytes; detection allocates only the lowercased text and an 8 KB scratch buffer, and is safe
//! from any number of threads.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

use std::sync::OnceLock;

use unicode_script::{Script, UnicodeScript};

/// The answer is `und` when the best language leads the second by less than this (in nats,
/// summed over the text's n-grams). Tuned on the half of `labelled-short-texts.tsv.gz` whose
/// texts hash even (`bench/langid.py`): below it, the top answer was right less than half the
/// time.
pub const MIN_MARGIN: f32 = 3.3;

/// What a language scores for an n-gram it does not know, in the table's unit (−ln p × 10: ln p
/// = −12; the models' rarest known n-grams are near −20, most above −10).
const UNSEEN: u8 = 120;

/// The longest n-gram scored, in characters.
const MAX_NGRAM: usize = 5;

/// N-grams looked up at once (`Model::score`): 32 was measured slower, 128 no faster.
const BATCH: usize = 64;

/// Scripts one supported language owns, and that language.
const SCRIPT_LANGUAGES: [(Script, &str); 13] = [
    (Script::Greek, "el"),
    (Script::Hebrew, "he"),
    (Script::Armenian, "hy"),
    (Script::Georgian, "ka"),
    (Script::Thai, "th"),
    (Script::Hangul, "ko"),
    (Script::Bengali, "bn"),
    (Script::Gujarati, "gu"),
    (Script::Gurmukhi, "pa"),
    (Script::Tamil, "ta"),
    (Script::Telugu, "te"),
    (Script::Sinhala, "si"),
    (Script::Ethiopic, "am"),
];

const MAX_LANGUAGES: usize = 64;
/// 2²¹ slots for the model's 1.7 M n-grams: a lookup scans 3.2 slots on average, 38 at most.
const TABLE_BITS: u32 = 21;

static MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/langid.bin"));

/// The top answer for a text, whether or not it is sure enough to keep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guess {
    /// ISO 639-1.
    pub language: &'static str,
    /// Lead over the runner-up in nats; infinite when the script decided.
    pub margin: f32,
}

/// The caption's language, `und` when unsure.
pub fn detect(caption: &str) -> &'static str {
    match guess(caption) {
        Some(g) if g.margin >= MIN_MARGIN => g.language,
        _ => "und",
    }
}

/// The most likely language and its lead, `None` when the text has no letters of a script the
/// detector knows.
pub fn guess(caption: &str) -> Option<Guess> {
    let lower = caption.to_lowercase();
    // Letters per script: SCRIPT_LANGUAGES, then the n-gram scripts, then Han, then kana.
    let mut census = [0u32; SCRIPT_LANGUAGES.len() + 3];
    let (modelled, han, kana) = (SCRIPT_LANGUAGES.len(), SCRIPT_LANGUAGES.len() + 1, SCRIPT_LANGUAGES.len() + 2);
    for token in lower.split_whitespace() {
        let code_like = is_code_like(token);
        for c in token.chars().filter(|c| c.is_alphabetic()) {
            // `script()` searches a table; most captions are ASCII, whose letters are Latin.
            let script = if c.is_ascii() { Script::Latin } else { c.script() };
            let slot = match script {
                Script::Latin | Script::Cyrillic | Script::Arabic | Script::Devanagari if code_like => continue,
                Script::Latin | Script::Cyrillic | Script::Arabic | Script::Devanagari => modelled,
                Script::Han => han,
                Script::Hiragana | Script::Katakana => kana,
                script => match SCRIPT_LANGUAGES.iter().position(|(s, _)| *s == script) {
                    Some(slot) => slot,
                    None => continue,
                },
            };
            census[slot] += 1;
        }
    }
    let cjk = census[han] + census[kana];
    let (top, &count) = census[..=modelled].iter().enumerate().max_by_key(|(slot, n)| (**n, usize::MAX - slot))?;
    if count == 0 && cjk == 0 {
        return None;
    }
    let by_script = |language| Some(Guess { language, margin: f32::INFINITY });
    if cjk > count {
        return by_script(if census[kana] > 0 { "ja" } else { "zh" });
    }
    if top != modelled {
        return by_script(SCRIPT_LANGUAGES[top].1);
    }
    Some(model().score(&lower))
}

/// A token with digits in it (`IMG_2041`, `98a8e0.jpg`, `781x451`, `A7III`) is a name, a size
/// or a hash, not words: its letters are left out of the n-gram scores.
fn is_code_like(token: &str) -> bool {
    token.chars().any(|c| c.is_numeric())
}

struct Model {
    codes: Vec<&'static str>,
    /// Open addressing in hash order: (n-gram hash, first entry << 8 | entry count) at its home
    /// slot (the hash's top `TABLE_BITS` bits) or, when that is taken, the first free slot
    /// after it. A free slot holds a copy of the next record and the table ends with
    /// `u32::MAX`, so a lookup scans from the home slot to the first hash ≥ its own: one or two
    /// cache lines, the first read the only one that waits for memory.
    table: Vec<(u32, u32)>,
    /// (language index, −ln p × 10) byte pairs.
    entries: &'static [u8],
}

#[expect(clippy::expect_used, reason = "the model is build.rs's output, embedded at compile time: no input reaches it")]
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(MODEL_BYTES).expect("build.rs wrote a well-formed langid.bin"))
}

impl Model {
    fn parse(bytes: &'static [u8]) -> Option<Model> {
        let mut at = bytes.strip_prefix(b"PSLANGID")?;
        let mut take = |n: usize| -> Option<&'static [u8]> {
            let (head, rest) = at.split_at_checked(n)?;
            at = rest;
            Some(head)
        };
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let languages = u32_at(take(4)?) as usize;
        if languages > MAX_LANGUAGES {
            return None;
        }
        let codes = take(2 * languages)?.chunks(2).map(std::str::from_utf8).collect::<Result<Vec<_>, _>>().ok()?;
        let key_count = u32_at(take(4)?) as usize;
        let keys = take(4 * key_count)?.chunks(4).map(u32_at);
        let mut table = Vec::with_capacity((1 << TABLE_BITS) + 1);
        let mut total = 0u32;
        for (key, &n) in keys.zip(take(key_count)?) {
            // The scan needs the hashes in order, the record a first entry below 2²⁴.
            if table.last().is_some_and(|(last, _)| *last >= key) || total >= 1 << 24 {
                return None;
            }
            let record = (key, total << 8 | u32::from(n));
            table.resize(table.len().max(home(key)), record);
            table.push(record);
            total += u32::from(n);
        }
        table.resize(table.len().max(1 << TABLE_BITS), (u32::MAX, 0));
        table.push((u32::MAX, 0));
        let entries = take(2 * total as usize)?;
        if entries.chunks(2).any(|e| usize::from(e[0]) >= languages) {
            return None;
        }
        Some(Model { codes, table, entries })
    }

    /// The entries of `hash`, given what its home slot holds (read ahead by the caller).
    fn entries(&self, hash: u32, first: (u32, u32)) -> &[u8] {
        let (mut slot, (mut key, mut at)) = (home(hash), first);
        while key < hash {
            slot += 1;
            (key, at) = self.table[slot];
        }
        if key != hash {
            return &[];
        }
        let (start, count) = ((at >> 8) as usize, (at & 0xff) as usize);
        &self.entries[2 * start..2 * (start + count)]
    }

    /// Naive Bayes in the table's unit (−ln p × 10, so the sums are exact integers, the same in
    /// any order). Every language scores `UNSEEN` for every n-gram, counted once for all; a
    /// known n-gram corrects only the languages it names, by the difference to what each
    /// scored at the shorter length from the same position, for this length and every longer
    /// one. So an n-gram costs its few entries, not a pass over all 62 languages. Ties, exact
    /// now, go to the language first in the table.
    ///
    /// The lookups wait on memory (the table and entries are 26 MB), so they go in batches:
    /// first every n-gram's home slot, then the scans and a copy of the entries, loops whose
    /// loads do not wait for each other, so their cache misses overlap; then the sums.
    fn score(&self, lower: &str) -> Guess {
        let n = self.codes.len();
        let mut ngrams = 0i64;
        let mut correction = [0i64; MAX_LANGUAGES];
        // Per n-gram: hash, length − 1, and how many lengths from its position it scores for.
        let mut batch = [(0u32, 0u8, 0u8); BATCH];
        let mut first = [(0u32, 0u32); BATCH];
        let mut ends = [0usize; BATCH];
        let mut gathered = Vec::with_capacity(2 * MAX_LANGUAGES * BATCH);
        let mut positions = words(lower).flat_map(|w| w.char_indices().map(move |(i, _)| &w[i..])).peekable();
        while positions.peek().is_some() {
            let mut len = 0;
            while len + MAX_NGRAM <= BATCH
                && let Some(rest) = positions.next()
            {
                let opened = len;
                let mut hash = FNV_OFFSET;
                for (at, c) in rest.char_indices().take(MAX_NGRAM) {
                    hash = fnv(hash, &rest.as_bytes()[at..at + c.len_utf8()]);
                    batch[len] = (fold(hash), (len - opened) as u8, 0);
                    len += 1;
                }
                for gram in &mut batch[opened..len] {
                    gram.2 = (len - opened) as u8 - gram.1;
                }
            }
            ngrams += len as i64;
            for (f, (hash, _, _)) in first.iter_mut().zip(&batch[..len]) {
                *f = self.table[home(*hash)];
            }
            gathered.clear();
            for (((hash, _, _), f), end) in batch[..len].iter().zip(&first).zip(&mut ends) {
                gathered.extend_from_slice(self.entries(*hash, *f));
                *end = gathered.len();
            }
            let (mut known, mut from) = ([UNSEEN; MAX_LANGUAGES], 0);
            for (&(_, length, weight), &end) in batch[..len].iter().zip(&ends) {
                if length == 0 {
                    known = [UNSEEN; MAX_LANGUAGES];
                }
                for e in gathered[from..end].chunks_exact(2) {
                    let (language, cost) = (usize::from(e[0]), e[1]);
                    correction[language] += i64::from(weight) * (i64::from(cost) - i64::from(known[language]));
                    known[language] = cost;
                }
                from = end;
            }
        }
        let mut score = [0i64; MAX_LANGUAGES];
        for (s, c) in score[..n].iter_mut().zip(&correction) {
            *s = -(i64::from(UNSEEN) * ngrams + c);
        }
        let (best, second) = best_two(&score[..n]);
        let margin = second.map_or(f32::INFINITY, |s| 0.1 * (score[best] - score[s]) as f32);
        Guess { language: self.codes[best], margin }
    }
}

/// The highest score's index and the runner-up's (`None` for one language); ties go to the
/// language first in the table.
fn best_two<T: PartialOrd>(score: &[T]) -> (usize, Option<usize>) {
    let (mut best, mut second) = (0, None::<usize>);
    for l in 1..score.len() {
        if score[l] > score[best] {
            second = Some(best);
            best = l;
        } else if second.is_none_or(|s| score[l] > score[s]) {
            second = Some(l);
        }
    }
    (best, second)
}

/// The letter runs the n-gram model scores: the text's tokens without digits, split at
/// whatever is not a letter.
fn words(lower: &str) -> impl Iterator<Item = &str> {
    lower
        .split_whitespace()
        .filter(|t| !is_code_like(t))
        .flat_map(|t| t.split(|c: char| !c.is_alphabetic()))
        .filter(|w| !w.is_empty())
}

/// Where a hash's record goes in `Model::table`, if free.
fn home(hash: u32) -> usize {
    (hash >> (32 - TABLE_BITS)) as usize
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, fed a character at a time so each n-gram from one position extends the last;
/// `fold` gives the 32-bit key `build.rs` stored.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn fold(hash: u64) -> u32 {
    ((hash ^ (hash >> 32)) as u32).wrapping_mul(0x9e37_79b1)
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;

    use super::*;

    /// The scorer as first written, kept as the reference for `Model::score`: per n-gram it
    /// adds every language's current ln p (or `UNSEEN`) to its f32 sum. Beside its answer, a
    /// bound on the rounding error of its margin: each f32 addition is off by at most half an
    /// ulp of its result, each term (0.1 × an integer) by at most one ulp of itself.
    fn dense_score_reference(model: &Model, lower: &str) -> (Guess, f32) {
        let n = model.codes.len();
        let mut score = [0f32; MAX_LANGUAGES];
        let mut rounding = [0f32; MAX_LANGUAGES];
        for word in words(lower) {
            let bounds: Vec<usize> = word.char_indices().map(|(i, _)| i).chain([word.len()]).collect();
            let chars = bounds.len() - 1;
            for start in 0..chars {
                let mut known = [-0.1 * f32::from(UNSEEN); MAX_LANGUAGES];
                let mut hash = FNV_OFFSET;
                for end in start + 1..=chars.min(start + MAX_NGRAM) {
                    hash = fnv(hash, &word.as_bytes()[bounds[end - 1]..bounds[end]]);
                    let key = fold(hash);
                    for e in model.entries(key, model.table[home(key)]).chunks_exact(2) {
                        known[usize::from(e[0])] = -0.1 * f32::from(e[1]);
                    }
                    for ((s, k), r) in score[..n].iter_mut().zip(&known[..n]).zip(&mut rounding) {
                        *s += k;
                        *r += (s.abs() / 2.0 + k.abs()) * f32::EPSILON;
                    }
                }
            }
        }
        let (best, second) = best_two(&score[..n]);
        let margin = second.map_or(f32::INFINITY, |s| score[best] - score[s]);
        let rounding = second.map_or(0.0, |s| rounding[best] + rounding[s] + margin * f32::EPSILON);
        (Guess { language: model.codes[best], margin }, rounding)
    }

    /// Whether `Model::score` gives another top language and another `und` verdict than the
    /// reference, and how far apart the margins are, asserting that rounding explains it all;
    /// `None` when the script decides.
    fn compare_with_reference(text: &str) -> Option<(bool, bool, f32)> {
        let new = guess(text).filter(|g| g.margin.is_finite())?;
        let (old, rounding) = dense_score_reference(model(), &text.to_lowercase());
        let (apart, tie, at_threshold) =
            ((new.margin - old.margin).abs(), old.margin <= rounding, (old.margin - MIN_MARGIN).abs() <= rounding);
        let other_language = new.language != old.language;
        let other_verdict = (new.margin >= MIN_MARGIN) != (old.margin >= MIN_MARGIN);
        let context = format!("{text:?}: {new:?} vs the reference's {old:?} ± {rounding}");
        assert!(apart <= rounding && (tie || !other_language) && (at_threshold || !other_verdict), "{context}");
        Some((other_language, other_verdict, apart))
    }

    #[test]
    fn sparse_scores_equal_the_dense_reference_on_captions() {
        let captions = [
            "A beautiful sunset over the mountains with a lake in the foreground",
            "Hochzeitskleid Spitze",
            "robe de mariée",
            "Это очень красивая фотография старого города",
            "فستان أحمر",
            "मेरा नाम",
            "IMG_2041 red dress",
        ];
        for caption in captions {
            let differs = compare_with_reference(caption).map(|(language, verdict, _)| (language, verdict));
            assert_eq!(differs, Some((false, false)), "{caption:?}");
        }
    }

    /// On every labelled text the detector scores, the sparse integer scorer gives the dense
    /// f32 reference's answer, up to the reference's own rounding: the margins agree within
    /// it, and the top language or the `und` verdict differs only where the reference's lead
    /// is within it of a tie or of `MIN_MARGIN`. The table's 0.1-nat steps make exact ties and
    /// leads of exactly 3.3 common (192 of the 56,707 texts scored, when this was written),
    /// and the reference decided those by rounding noise. Its rounding exceeds 1e-3 in
    /// sentences of 80+ characters (sums in the thousands; up to 0.11 nats in the longest).
    #[test]
    fn sparse_scores_equal_the_dense_reference() {
        let Some(path) = pairscope_testkit::shared_data("langid/labelled-short-texts.tsv.gz") else { return };
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (mut scored, mut tie_broken, mut verdict_flipped, mut over_1e3, mut widest) = (0, 0, 0, 0, 0f32);
        for line in std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file)).lines().skip(1) {
            let line = line.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let text = line.splitn(3, '\t').nth(2).unwrap_or_else(|| panic!("{}: no text in {line:?}", path.display()));
            let Some((other_language, other_verdict, apart)) = compare_with_reference(text) else { continue };
            scored += 1;
            tie_broken += usize::from(other_language);
            verdict_flipped += usize::from(other_verdict);
            over_1e3 += usize::from(apart > 1e-3);
            widest = widest.max(apart);
        }
        eprintln!(
            "{scored} texts scored: {tie_broken} ties and {verdict_flipped} leads of exactly MIN_MARGIN decided otherwise \
             than by the reference's rounding; margins apart by up to {widest}, over 1e-3 in {over_1e3}"
        );
        assert!(scored > 50_000, "{scored} texts scored");
    }

    #[test]
    fn clear_captions_and_unsure_ones() {
        assert_eq!(detect("A beautiful sunset over the mountains with a lake in the foreground"), "en");
        assert_eq!(detect("Ein wunderschöner Sonnenuntergang über den Bergen mit einem See"), "de");
        assert_eq!(detect("Это очень красивая фотография старого города, которую мы сделали прошлым летом"), "ru");
        assert_eq!(detect("IMG_2041"), "und");
        assert_eq!(detect(""), "und");
        assert_eq!(detect("1920 × 1080"), "und");
        assert_eq!(detect("98a8e084f2bc4be1.jpg (781x451)"), "und");
        assert_eq!(detect("2024年春季新款"), "zh");
    }

    #[test]
    fn short_captions() {
        assert_eq!(detect("Hochzeitskleid Spitze"), "de");
        assert_eq!(detect("robe de mariée"), "fr");
        assert_eq!(detect("zapatos de mujer"), "es");
        assert_eq!(detect("красное платье"), "ru");
    }

    #[test]
    fn scripts_decide_alone() {
        assert_eq!(detect("Καλημέρα"), "el");
        assert_eq!(detect("東京タワーの夜景"), "ja");
        assert_eq!(detect("北京的夜景"), "zh");
        assert_eq!(detect("서울 야경"), "ko");
        assert_eq!(detect("שלום"), "he");
        assert_eq!(guess("ภาพถ่าย").map(|g| g.margin), Some(f32::INFINITY));
    }

    #[test]
    fn the_model_parses_and_rejects_damage() {
        let model = model();
        assert_eq!(model.codes.len(), 62);
        assert!(model.table.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(Model::parse(&MODEL_BYTES[..MODEL_BYTES.len() - 1]).is_none());
        assert!(Model::parse(b"PSLANGID\xff\xff\xff\xff").is_none());
        assert!(Model::parse(b"not a model").is_none());
    }

    #[test]
    fn detection_is_the_same_from_many_threads() {
        let texts = ["red dress", "rotes Kleid", "robe rouge", "vestido rojo", "красное платье", "فستان أحمر"];
        let alone: Vec<_> = texts.iter().map(|t| detect(t)).collect();
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(move || texts.map(detect))).collect();
        for t in threads {
            assert_eq!(t.join().expect("no panic").to_vec(), alone);
        }
    }
}
