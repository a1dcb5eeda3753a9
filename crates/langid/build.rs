//! Builds the caption language model (`OUT_DIR/langid.bin`, embedded by `src/langid.rs`) from
//! lingua's character n-gram models (the `lingua-*-language-model` crates, Apache-2.0, © Peter M.
//! Stahl). lingua stores, per language, ln P(last char | the chars before) for every 1- to 5-gram
//! of its training text; we keep every 1- and 2-gram and, per language and length, the
//! `KEEP` most frequent 3-, 4- and 5-grams (frequency = the product of the chain of conditional
//! probabilities), which keeps most of the accuracy in a tenth of the size.
//!
//! Only languages that share a script need a model: the rest (Greek, Hebrew, Thai, Hangul, …)
//! are told by their script alone in `langid.rs`, and so are left out here.
//!
//! Format, little-endian: `PSLANGID`, u32 language count, 2-byte ISO 639-1 codes, u32 key count,
//! the keys (u32 n-gram hashes, ascending), one u8 entry count per key, then per key its entries
//! as (language index u8, −ln p × 10 rounded, u8).

#![expect(clippy::expect_used, reason = "a build script: a failure stops the build with its message")]

use std::io::Write;

/// 3-, 4- and 5-grams kept per language and length.
const KEEP: usize = 30_000;

macro_rules! models {
    ($($krate:ident :: $dir:ident => $code:literal),* $(,)?) => {
        [$(($code, (|| $krate::$dir.get_file("ngrams.fst").map(|f| f.contents())) as fn() -> Option<&'static [u8]>)),*]
    };
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let models = models![
        lingua_afrikaans_language_model::AFRIKAANS_MODELS_DIRECTORY => "af",
        lingua_albanian_language_model::ALBANIAN_MODELS_DIRECTORY => "sq",
        lingua_arabic_language_model::ARABIC_MODELS_DIRECTORY => "ar",
        lingua_azerbaijani_language_model::AZERBAIJANI_MODELS_DIRECTORY => "az",
        lingua_basque_language_model::BASQUE_MODELS_DIRECTORY => "eu",
        lingua_belarusian_language_model::BELARUSIAN_MODELS_DIRECTORY => "be",
        lingua_bokmal_language_model::BOKMAL_MODELS_DIRECTORY => "nb",
        lingua_bosnian_language_model::BOSNIAN_MODELS_DIRECTORY => "bs",
        lingua_bulgarian_language_model::BULGARIAN_MODELS_DIRECTORY => "bg",
        lingua_catalan_language_model::CATALAN_MODELS_DIRECTORY => "ca",
        lingua_croatian_language_model::CROATIAN_MODELS_DIRECTORY => "hr",
        lingua_czech_language_model::CZECH_MODELS_DIRECTORY => "cs",
        lingua_danish_language_model::DANISH_MODELS_DIRECTORY => "da",
        lingua_dutch_language_model::DUTCH_MODELS_DIRECTORY => "nl",
        lingua_english_language_model::ENGLISH_MODELS_DIRECTORY => "en",
        lingua_esperanto_language_model::ESPERANTO_MODELS_DIRECTORY => "eo",
        lingua_estonian_language_model::ESTONIAN_MODELS_DIRECTORY => "et",
        lingua_finnish_language_model::FINNISH_MODELS_DIRECTORY => "fi",
        lingua_french_language_model::FRENCH_MODELS_DIRECTORY => "fr",
        lingua_ganda_language_model::GANDA_MODELS_DIRECTORY => "lg",
        lingua_german_language_model::GERMAN_MODELS_DIRECTORY => "de",
        lingua_hindi_language_model::HINDI_MODELS_DIRECTORY => "hi",
        lingua_hungarian_language_model::HUNGARIAN_MODELS_DIRECTORY => "hu",
        lingua_icelandic_language_model::ICELANDIC_MODELS_DIRECTORY => "is",
        lingua_indonesian_language_model::INDONESIAN_MODELS_DIRECTORY => "id",
        lingua_irish_language_model::IRISH_MODELS_DIRECTORY => "ga",
        lingua_italian_language_model::ITALIAN_MODELS_DIRECTORY => "it",
        lingua_kazakh_language_model::KAZAKH_MODELS_DIRECTORY => "kk",
        lingua_latin_language_model::LATIN_MODELS_DIRECTORY => "la",
        lingua_latvian_language_model::LATVIAN_MODELS_DIRECTORY => "lv",
        lingua_lithuanian_language_model::LITHUANIAN_MODELS_DIRECTORY => "lt",
        lingua_macedonian_language_model::MACEDONIAN_MODELS_DIRECTORY => "mk",
        lingua_malay_language_model::MALAY_MODELS_DIRECTORY => "ms",
        lingua_maori_language_model::MAORI_MODELS_DIRECTORY => "mi",
        lingua_marathi_language_model::MARATHI_MODELS_DIRECTORY => "mr",
        lingua_mongolian_language_model::MONGOLIAN_MODELS_DIRECTORY => "mn",
        lingua_nynorsk_language_model::NYNORSK_MODELS_DIRECTORY => "nn",
        lingua_persian_language_model::PERSIAN_MODELS_DIRECTORY => "fa",
        lingua_polish_language_model::POLISH_MODELS_DIRECTORY => "pl",
        lingua_portuguese_language_model::PORTUGUESE_MODELS_DIRECTORY => "pt",
        lingua_romanian_language_model::ROMANIAN_MODELS_DIRECTORY => "ro",
        lingua_russian_language_model::RUSSIAN_MODELS_DIRECTORY => "ru",
        lingua_serbian_language_model::SERBIAN_MODELS_DIRECTORY => "sr",
        lingua_shona_language_model::SHONA_MODELS_DIRECTORY => "sn",
        lingua_slovak_language_model::SLOVAK_MODELS_DIRECTORY => "sk",
        lingua_slovene_language_model::SLOVENE_MODELS_DIRECTORY => "sl",
        lingua_somali_language_model::SOMALI_MODELS_DIRECTORY => "so",
        lingua_sotho_language_model::SOTHO_MODELS_DIRECTORY => "st",
        lingua_spanish_language_model::SPANISH_MODELS_DIRECTORY => "es",
        lingua_swahili_language_model::SWAHILI_MODELS_DIRECTORY => "sw",
        lingua_swedish_language_model::SWEDISH_MODELS_DIRECTORY => "sv",
        lingua_tagalog_language_model::TAGALOG_MODELS_DIRECTORY => "tl",
        lingua_tsonga_language_model::TSONGA_MODELS_DIRECTORY => "ts",
        lingua_tswana_language_model::TSWANA_MODELS_DIRECTORY => "tn",
        lingua_turkish_language_model::TURKISH_MODELS_DIRECTORY => "tr",
        lingua_ukrainian_language_model::UKRAINIAN_MODELS_DIRECTORY => "uk",
        lingua_urdu_language_model::URDU_MODELS_DIRECTORY => "ur",
        lingua_vietnamese_language_model::VIETNAMESE_MODELS_DIRECTORY => "vi",
        lingua_welsh_language_model::WELSH_MODELS_DIRECTORY => "cy",
        lingua_xhosa_language_model::XHOSA_MODELS_DIRECTORY => "xh",
        lingua_yoruba_language_model::YORUBA_MODELS_DIRECTORY => "yo",
        lingua_zulu_language_model::ZULU_MODELS_DIRECTORY => "zu",
    ];
    // (hash, language, quantised −ln p) for every kept n-gram of every language.
    let mut kept: Vec<(u32, u8, u8)> = Vec::new();
    for (index, (code, fst_bytes)) in models.iter().enumerate() {
        let Some(bytes) = fst_bytes() else { panic!("lingua's {code} crate has no ngrams.fst") };
        let map = fst::Map::new(bytes).unwrap_or_else(|e| panic!("lingua's {code} ngrams.fst: {e}"));
        let mut by_length: [Vec<(f32, u32, u8)>; 6] = Default::default();
        // The stream is in byte order, so the (n−1)-gram a n-gram extends is the last one of
        // length n−1 seen before it: its joint log-probability is all we need to remember.
        let mut last: [(Vec<u8>, f64); 6] = Default::default();
        let mut stream = map.stream();
        while let Some((key, value)) = fst::Streamer::next(&mut stream) {
            let length = key.iter().filter(|b| (**b & 0xC0) != 0x80).count();
            if !(1..=5).contains(&length) {
                continue;
            }
            let log_p = f64::from_bits(value);
            let prefix_len = key.iter().rposition(|b| (*b & 0xC0) != 0x80).unwrap_or(0);
            let joint = if length == 1 {
                log_p
            } else if last[length - 1].0 == key[..prefix_len] {
                last[length - 1].1 + log_p
            } else {
                f64::NEG_INFINITY
            };
            last[length] = (key.to_vec(), joint);
            let quantised = (-log_p * 10.0).round().clamp(0.0, 255.0) as u8;
            by_length[length].push((joint as f32, ngram_hash(key), quantised));
        }
        for (length, grams) in by_length.iter_mut().enumerate() {
            if length >= 3 && grams.len() > KEEP {
                grams.select_nth_unstable_by(KEEP, |a, b| b.0.total_cmp(&a.0));
                grams.truncate(KEEP);
            }
            kept.extend(grams.iter().map(|&(_, hash, q)| (hash, index as u8, q)));
        }
    }
    // Two n-grams of one language that share a hash keep the likelier value.
    kept.sort_unstable();
    kept.dedup_by(|later, earlier| later.0 == earlier.0 && later.1 == earlier.1);

    let mut out = Vec::with_capacity(kept.len() * 3);
    out.extend_from_slice(b"PSLANGID");
    out.extend_from_slice(&(models.len() as u32).to_le_bytes());
    for (code, _) in &models {
        out.extend_from_slice(code.as_bytes());
    }
    let mut keys: Vec<u32> = kept.iter().map(|k| k.0).collect();
    keys.dedup();
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for key in &keys {
        out.extend_from_slice(&key.to_le_bytes());
    }
    for group in kept.chunk_by(|a, b| a.0 == b.0) {
        out.push(group.len() as u8);
    }
    for &(_, language, q) in &kept {
        out.extend_from_slice(&[language, q]);
    }
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("langid.bin");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&out))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// FNV-1a over the n-gram's UTF-8 bytes, folded to 32 bits and multiplied by an odd constant;
/// `langid.rs` computes the same. The product is a bijection of the fold (no n-grams share a
/// key that did not before) whose top bits are even, which `langid.rs` places keys by: the
/// fold's are not (from 0.8× to 1.5× the mean count per top byte).
fn ngram_hash(bytes: &[u8]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ((hash ^ (hash >> 32)) as u32).wrapping_mul(0x9e37_79b1)
}
