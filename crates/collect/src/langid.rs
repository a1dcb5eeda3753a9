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
//! The model is parsed once, on first use, into about 18 MB of lookup arrays beside its 18 MB of
//! embedded bytes; detection allocates only the lowercased text and is safe from any number of
//! threads.

use std::sync::OnceLock;

use unicode_script::{Script, UnicodeScript};

/// The answer is `und` when the best language leads the second by less than this (in nats,
/// summed over the text's n-grams). Tuned on the half of `labelled-short-texts.tsv.gz` whose
/// texts hash even (`bench/langid.py`): below it, the top answer was right less than half the
/// time.
pub const MIN_MARGIN: f32 = 3.3;

/// What a language scores for an n-gram it does not know (ln p; the models' rarest known
/// n-grams are near −20, most above −10).
const UNSEEN: f32 = -12.0;

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
const BUCKET_BITS: u32 = 20;

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
            let slot = match c.script() {
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
    /// N-gram hashes, ascending.
    keys: Vec<u32>,
    /// Key i's entries are `entries[2 * starts[i]..2 * starts[i + 1]]`.
    starts: Vec<u32>,
    /// (language index, −ln p × 10) byte pairs.
    entries: &'static [u8],
    /// The first key whose top `BUCKET_BITS` bits are ≥ the bucket's number.
    buckets: Vec<u32>,
}

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
        let keys: Vec<u32> = take(4 * key_count)?.chunks(4).map(u32_at).collect();
        let mut starts = Vec::with_capacity(key_count + 1);
        let mut total = 0u32;
        starts.push(0);
        for &n in take(key_count)? {
            total += u32::from(n);
            starts.push(total);
        }
        let entries = take(2 * total as usize)?;
        if entries.chunks(2).any(|e| usize::from(e[0]) >= languages) {
            return None;
        }
        let mut buckets = Vec::with_capacity((1 << BUCKET_BITS) + 1);
        for (i, key) in keys.iter().enumerate() {
            while buckets.len() <= (key >> (32 - BUCKET_BITS)) as usize {
                buckets.push(i as u32);
            }
        }
        buckets.resize((1 << BUCKET_BITS) + 1, key_count as u32);
        Some(Model { codes, keys, starts, entries, buckets })
    }

    fn entries(&self, hash: u32) -> &[u8] {
        let bucket = (hash >> (32 - BUCKET_BITS)) as usize;
        let (from, to) = (self.buckets[bucket] as usize, self.buckets[bucket + 1] as usize);
        match self.keys[from..to].iter().position(|k| *k == hash) {
            Some(i) => &self.entries[2 * self.starts[from + i] as usize..2 * self.starts[from + i + 1] as usize],
            None => &[],
        }
    }

    fn score(&self, lower: &str) -> Guess {
        let n = self.codes.len();
        let mut score = [0f32; MAX_LANGUAGES];
        let mut bounds: Vec<usize> = Vec::with_capacity(64);
        let words =
            lower.split_whitespace().filter(|t| !is_code_like(t)).flat_map(|t| t.split(|c: char| !c.is_alphabetic()));
        for word in words.filter(|w| !w.is_empty()) {
            bounds.clear();
            bounds.extend(word.char_indices().map(|(i, _)| i));
            bounds.push(word.len());
            let chars = bounds.len() - 1;
            for start in 0..chars {
                let mut known = [UNSEEN; MAX_LANGUAGES];
                let mut hash = FNV_OFFSET;
                for end in start + 1..=chars.min(start + 5) {
                    hash = fnv(hash, &word.as_bytes()[bounds[end - 1]..bounds[end]]);
                    for e in self.entries(fold(hash)).chunks_exact(2) {
                        known[usize::from(e[0])] = -0.1 * f32::from(e[1]);
                    }
                    for (s, k) in score[..n].iter_mut().zip(&known[..n]) {
                        *s += k;
                    }
                }
            }
        }
        let (mut best, mut second) = (0, None::<usize>);
        for l in 1..n {
            if score[l] > score[best] {
                second = Some(best);
                best = l;
            } else if second.is_none_or(|s| score[l] > score[s]) {
                second = Some(l);
            }
        }
        let margin = second.map_or(f32::INFINITY, |s| score[best] - score[s]);
        Guess { language: self.codes[best], margin }
    }
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
    (hash ^ (hash >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(model.keys.windows(2).all(|w| w[0] < w[1]));
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
