//! The language of a caption, as an ISO 639-1 code, or `und` when the detector is unsure.
//!
//! Interim detector: whatlang (trigrams, 69 languages), trusted only when it calls its answer
//! reliable. `bench/LANGID.md` measures it beside CLD3 (LAION's detector): faster, but worse on
//! two-word texts, so it is a placeholder for a detector that beats CLD3 on short text.

/// ISO 639-3 (whatlang's codes) to ISO 639-1; languages without a 639-1 code stay 639-3.
const ISO_639_1: &[(&str, &str)] = &[
    ("afr", "af"),
    ("aka", "ak"),
    ("amh", "am"),
    ("ara", "ar"),
    ("aze", "az"),
    ("bel", "be"),
    ("ben", "bn"),
    ("bul", "bg"),
    ("cat", "ca"),
    ("ces", "cs"),
    ("cmn", "zh"),
    ("dan", "da"),
    ("deu", "de"),
    ("ell", "el"),
    ("eng", "en"),
    ("epo", "eo"),
    ("est", "et"),
    ("fin", "fi"),
    ("fra", "fr"),
    ("guj", "gu"),
    ("heb", "he"),
    ("hin", "hi"),
    ("hrv", "hr"),
    ("hun", "hu"),
    ("hye", "hy"),
    ("ind", "id"),
    ("ita", "it"),
    ("jav", "jv"),
    ("jpn", "ja"),
    ("kan", "kn"),
    ("kat", "ka"),
    ("khm", "km"),
    ("kor", "ko"),
    ("lat", "la"),
    ("lav", "lv"),
    ("lit", "lt"),
    ("mal", "ml"),
    ("mar", "mr"),
    ("mkd", "mk"),
    ("mya", "my"),
    ("nep", "ne"),
    ("nld", "nl"),
    ("nob", "nb"),
    ("ori", "or"),
    ("pan", "pa"),
    ("pes", "fa"),
    ("pol", "pl"),
    ("por", "pt"),
    ("ron", "ro"),
    ("rus", "ru"),
    ("sin", "si"),
    ("slk", "sk"),
    ("slv", "sl"),
    ("sna", "sn"),
    ("spa", "es"),
    ("srp", "sr"),
    ("swe", "sv"),
    ("tam", "ta"),
    ("tel", "te"),
    ("tgl", "tl"),
    ("tha", "th"),
    ("tuk", "tk"),
    ("tur", "tr"),
    ("ukr", "uk"),
    ("urd", "ur"),
    ("uzb", "uz"),
    ("vie", "vi"),
    ("yid", "yi"),
    ("zul", "zu"),
];

/// The caption's language, `und` when unsure.
pub fn detect(caption: &str) -> &'static str {
    let Some(info) = whatlang::detect(caption).filter(|i| i.is_reliable()) else { return "und" };
    let code = info.lang().code();
    ISO_639_1.iter().find(|(three, _)| *three == code).map_or(code, |(_, one)| one)
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
    }

    #[test]
    fn every_code_maps_once() {
        let mut threes: Vec<_> = ISO_639_1.iter().map(|(t, _)| t).collect();
        threes.sort();
        threes.dedup();
        assert_eq!(threes.len(), ISO_639_1.len());
    }
}
