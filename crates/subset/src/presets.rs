//! LAION's published subsets, each as an EXPR (the filter language every command shares), with
//! where its definition comes from.
//!
//! The sizes are the publishers' own, for orientation: a preset run over a different dataset
//! (a sample, a re-crawl) gives a different count. Thresholds are as published: "6+" means
//! `aesthetic >= 6`; "aesthetics score > 5.0" means `> 5`.

/// One published subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Preset {
    /// The name `--preset` takes (case-insensitive).
    pub name: &'static str,
    /// The definition, in the filter language.
    pub filter: &'static str,
    /// Columns the definition needs; a dataset where one is null in every row cannot be cut.
    pub needs: &'static [&'static str],
    /// The size the publisher gives.
    pub published_rows: &'static str,
    /// Where the definition is published.
    pub source: &'static str,
    /// What the definition does not say, or what else the publisher did.
    pub note: &'static str,
}

/// Every preset, in `--list-presets` order.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "laion2B-en",
        filter: "language = 'en'",
        needs: &["language"],
        published_rows: "2,322,161,808",
        source: "LAION-5B blog post, https://laion.ai/blog/laion-5b/ (laion2B-en: the pairs whose caption CLD3 detected as English)",
        note: "LAION's own laion2B-en parquet carries no language column: ingest it with --set language=en",
    },
    Preset {
        name: "laion-high-resolution",
        filter: "width >= 1024 AND height >= 1024",
        needs: &["width", "height"],
        published_rows: "170M",
        source: "https://huggingface.co/datasets/laion/laion-high-resolution (LAION-5B images of at least 1024x1024)",
        note: "over all of LAION-5B, every language",
    },
    Preset {
        name: "laion-aesthetics-v2-4.5",
        filter: "language = 'en' AND aesthetic >= 4.5",
        needs: &["language", "aesthetic"],
        published_rows: "1.2B",
        source: "LAION-Aesthetics blog post, https://laion.ai/blog/laion-aesthetics/ (subsets of laion2B-en by predicted aesthetic score v2)",
        note: "",
    },
    Preset {
        name: "laion-aesthetics-v2-4.75",
        filter: "language = 'en' AND aesthetic >= 4.75",
        needs: &["language", "aesthetic"],
        published_rows: "939M",
        source: "https://laion.ai/blog/laion-aesthetics/",
        note: "",
    },
    Preset {
        name: "laion-aesthetics-v2-5",
        filter: "language = 'en' AND aesthetic >= 5",
        needs: &["language", "aesthetic"],
        published_rows: "600M",
        source: "https://laion.ai/blog/laion-aesthetics/",
        note: "",
    },
    Preset {
        name: "laion-aesthetics-v2-6",
        filter: "language = 'en' AND aesthetic >= 6",
        needs: &["language", "aesthetic"],
        published_rows: "12M",
        source: "https://laion.ai/blog/laion-aesthetics/",
        note: "the subset the 2022 Datasette artist analysis loaded",
    },
    Preset {
        name: "laion-aesthetics-v2-6.25",
        filter: "language = 'en' AND aesthetic >= 6.25",
        needs: &["language", "aesthetic"],
        published_rows: "3M",
        source: "https://laion.ai/blog/laion-aesthetics/",
        note: "",
    },
    Preset {
        name: "laion-aesthetics-v2-6.5",
        filter: "language = 'en' AND aesthetic >= 6.5",
        needs: &["language", "aesthetic"],
        published_rows: "625K",
        source: "https://laion.ai/blog/laion-aesthetics/",
        note: "",
    },
    Preset {
        name: "sd-improved-aesthetics",
        filter: "language = 'en' AND width >= 512 AND height >= 512 AND aesthetic > 5 AND pwatermark < 0.5",
        needs: &["language", "width", "height", "aesthetic", "pwatermark"],
        published_rows: "about 600M",
        source: "Stable Diffusion v1 model card, https://huggingface.co/CompVis/stable-diffusion-v1-4 (\"laion-improved-aesthetics is a subset of laion2B-en, filtered to images with an original size >= 512x512, estimated aesthetics score > 5.0, and an estimated watermark probability < 0.5\")",
        note: "width and height are the original image's pixels, as the model card requires",
    },
    Preset {
        name: "laion-aesthetics-v1",
        filter: "aesthetic > 7 AND pwatermark < 0.8 AND punsafe < 0.5",
        needs: &["aesthetic", "pwatermark", "punsafe"],
        published_rows: "about 120M",
        source: "LAION-Aesthetics V1, https://laion.ai/blog/laion-aesthetics/ (predicted aesthetic score above 7, watermark probability below 0.8, unsafe probability below 0.5)",
        note: "V1 scored with the first aesthetic predictor; a dataset's `aesthetic` column is v2 unless its source says otherwise",
    },
    Preset {
        name: "laion-art",
        filter: "aesthetic > 8",
        needs: &["aesthetic"],
        published_rows: "8M",
        source: "https://huggingface.co/datasets/laion/laion-art (LAION-5B pairs with predicted aesthetic score above 8)",
        note: "",
    },
    Preset {
        name: "re-laion-research-safe",
        filter: "punsafe <= 0.45",
        needs: &["punsafe"],
        published_rows: "about 5.5B (Re-LAION-5B research-safe)",
        source: "Re-LAION-5B announcement, https://laion.ai/blog/relaion-5b/ (research-safe: link removal by hash lists, plus punsafe filtering)",
        note: "the rule covers only the punsafe part: pass the removal lists (--exclude-urls with the published hashes) to remove the links too",
    },
];

/// The preset named `name` (case-insensitive).
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_names_its_columns() {
        for preset in PRESETS {
            let expr = pairscope_expr::parse(preset.filter).unwrap_or_else(|e| panic!("{}: {e}", preset.name));
            let columns = expr.columns();
            for column in &columns {
                assert!(preset.needs.contains(&column.as_str()), "{}: uses {column} without declaring it", preset.name);
            }
            assert_eq!(columns.len(), preset.needs.len(), "{}: declares a column it does not use", preset.name);
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(preset("LAION2B-EN").map(|p| p.filter), Some("language = 'en'"));
        assert!(preset("laion-aesthetics-v2-7").is_none());
    }
}
