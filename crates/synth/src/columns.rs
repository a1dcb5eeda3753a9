//! The four published column layouts and the per-row values behind them: image sizes,
//! CLIP similarities, safety, watermark and aesthetic scores, ids and hashes, drawn from
//! tables shaped like the published histograms.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, Float32Builder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::SynthSchema;
use crate::sample::{Alias, Quantiles, Rng, push_hex};
use crate::vocab::Lang;
use crate::web::{Site, UrlFacts};

/// The Arrow schema a layout's files carry: the published column names and types, every
/// column nullable as pyarrow writes them.
pub(crate) fn arrow_schema(schema: SynthSchema) -> SchemaRef {
    use DataType::*;
    let f = |name: &str, t: DataType| Field::new(name, t, true);
    let fields = match schema {
        SynthSchema::LaionAesthetics => vec![
            f("URL", Utf8),
            f("TEXT", Utf8),
            f("WIDTH", Float64),
            f("HEIGHT", Float64),
            f("similarity", Float64),
            f("hash", Int64),
            f("punsafe", Float32),
            f("pwatermark", Float32),
            f("aesthetic", Float32),
        ],
        SynthSchema::Laion5b => vec![
            f("SAMPLE_ID", Int64),
            f("URL", Utf8),
            f("TEXT", Utf8),
            f("HEIGHT", Int32),
            f("WIDTH", Int32),
            f("LICENSE", Utf8),
            f("LANGUAGE", Utf8),
            f("NSFW", Utf8),
            f("similarity", Float64),
        ],
        SynthSchema::Coyo => vec![
            f("id", Int64),
            f("url", Utf8),
            f("text", Utf8),
            f("width", Int64),
            f("height", Int64),
            f("image_phash", Utf8),
            f("text_length", Int32),
            f("word_count", Int32),
            f("num_tokens_bert", Int32),
            f("num_tokens_gpt", Int32),
            f("num_faces", Int32),
            f("clip_similarity_vitb32", Float32),
            f("clip_similarity_vitl14", Float32),
            f("nsfw_score_opennsfw2", Float32),
            f("nsfw_score_gantman", Float32),
            f("watermark_score", Float32),
            f("aesthetic_score_laion_v2", Float32),
        ],
        SynthSchema::Datacomp => vec![
            f("uid", Utf8),
            f("url", Utf8),
            f("text", Utf8),
            f("original_width", Int64),
            f("original_height", Int64),
            f("clip_b32_similarity_score", Float32),
            f("clip_l14_similarity_score", Float32),
            f("face_bboxes", List(Arc::new(Field::new("item", List(Arc::new(f("item", Float64))), true)))),
            f("sha256", Utf8),
        ],
    };
    Arc::new(Schema::new(fields))
}

/// Columns written with dictionary encoding: the few with a handful of distinct values.
pub(crate) fn dictionary_columns(schema: SynthSchema) -> &'static [&'static str] {
    match schema {
        SynthSchema::LaionAesthetics => &["WIDTH", "HEIGHT"],
        SynthSchema::Laion5b => &["HEIGHT", "WIDTH", "LICENSE", "LANGUAGE", "NSFW"],
        SynthSchema::Coyo => &["width", "height", "num_faces"],
        SynthSchema::Datacomp => &["original_width", "original_height"],
    }
}

/// Caption languages per layout, weighted like the source: LAION-2B-en and COYO are mostly
/// English, DataComp's pool is not language-filtered, and LAION-5B here stands for the
/// 2B-multi mix.
pub(crate) fn language_weights(schema: SynthSchema) -> [(Lang, f64); 11] {
    use Lang::*;
    let w = match schema {
        SynthSchema::LaionAesthetics => [94.0, 1.2, 1.0, 1.2, 0.6, 0.5, 0.4, 0.2, 0.3, 0.3, 0.3],
        SynthSchema::Coyo => [88.0, 1.5, 1.5, 1.5, 1.0, 1.0, 0.5, 0.5, 1.0, 1.5, 2.0],
        SynthSchema::Datacomp => [70.0, 4.0, 4.0, 5.0, 2.5, 3.0, 1.5, 1.5, 3.0, 2.5, 3.0],
        // The rest of LAION-5B's rows have "" or no language; see `LANGUAGE_UNKNOWN`.
        SynthSchema::Laion5b => [48.0, 6.0, 5.5, 6.0, 3.5, 3.0, 2.0, 2.5, 7.0, 4.0, 4.0],
    };
    let langs = [En, De, Fr, Es, It, Pt, Nl, Pl, Ru, Ja, Zh];
    std::array::from_fn(|i| (langs[i], w[i]))
}

/// LAION-5B rows whose `LANGUAGE` is "" (share) and null (share); their captions are
/// English or language-less (codes, file names).
pub(crate) const LANGUAGE_EMPTY: f64 = 0.05;
pub(crate) const LANGUAGE_NULL: f64 = 0.03;
/// LAION-5B rows without a caption.
pub(crate) const TEXT_NULL: f64 = 0.000_05;

/// Everything a row has before its layout's own columns are drawn.
pub(crate) struct RowData<'a> {
    /// Index of the row in the whole run (ids are derived from it).
    pub(crate) index: u64,
    pub(crate) url: &'a str,
    pub(crate) caption: Option<&'a str>,
    pub(crate) lang: Lang,
    /// LAION-5B's `LANGUAGE` value: the caption's language, `""` or null.
    pub(crate) language: Option<&'static str>,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

struct Tables {
    aesthetic: Quantiles,
    punsafe: Quantiles,
    pwatermark: Quantiles,
    similarity_en: Quantiles,
    similarity_multi: Quantiles,
    clip_coyo: Quantiles,
    clip_datacomp: Quantiles,
    nsfw_coyo: Quantiles,
    sizes: Alias,
    free_width: Quantiles,
    free_aspect: Quantiles,
    pin_aspect: Quantiles,
}

/// Common published sizes (width, height, weight): squares, 4:3, 16:9, 2:3 and their
/// transposes; about 7 % of all rows end up at least 1024 on both sides.
const SIZES: &[(u32, u32, f64)] = &[
    (500, 500, 6.0),
    (600, 600, 5.0),
    (800, 800, 4.0),
    (1000, 1000, 4.0),
    (1200, 1200, 1.5),
    (1500, 1500, 1.0),
    (2000, 2000, 0.5),
    (300, 300, 3.0),
    (400, 400, 3.0),
    (450, 450, 2.0),
    (640, 640, 1.5),
    (1024, 1024, 0.8),
    (1080, 1080, 1.0),
    (250, 250, 1.5),
    (640, 480, 4.0),
    (800, 600, 4.0),
    (1024, 768, 3.0),
    (1600, 1200, 0.6),
    (2048, 1536, 0.3),
    (480, 640, 1.0),
    (600, 800, 1.5),
    (768, 1024, 1.0),
    (300, 225, 1.5),
    (400, 300, 2.0),
    (500, 375, 2.0),
    (1200, 900, 1.0),
    (1280, 720, 3.0),
    (1920, 1080, 1.5),
    (640, 360, 2.0),
    (800, 450, 1.5),
    (1024, 576, 1.0),
    (1200, 675, 1.5),
    (480, 270, 1.0),
    (400, 600, 2.0),
    (600, 900, 2.0),
    (683, 1024, 1.0),
    (1000, 1500, 1.0),
    (1200, 800, 2.0),
    (1500, 1000, 1.0),
    (3000, 2000, 0.3),
    (600, 400, 2.5),
    (900, 600, 2.0),
    (300, 450, 1.0),
    (800, 1200, 1.0),
    (1024, 683, 1.0),
    (2048, 1365, 0.3),
    (1200, 628, 1.0),
    (750, 1000, 1.0),
    // Any other size: drawn from the free width and aspect tables.
    (0, 0, 22.0),
];

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    // LAION-2B-en: 52 % ≥ 4.5, 26 % ≥ 5, 0.5 % ≥ 6, 0.13 % ≥ 6.25, 0.03 % ≥ 6.5, a handful > 7.
    aesthetic: Quantiles::from_survival(&[
        (1.5, 1.0),
        (2.5, 0.997),
        (3.0, 0.985),
        (3.5, 0.93),
        (4.0, 0.78),
        (4.5, 0.52),
        (5.0, 0.26),
        (5.5, 0.07),
        (6.0, 0.005),
        (6.25, 0.0013),
        (6.5, 0.0003),
        (7.0, 0.000_005),
        (8.0, 0.0),
    ]),
    // Mostly near 0, about 4 % ≥ 0.5.
    punsafe: Quantiles::from_survival(&[
        (0.0, 1.0),
        (0.001, 0.9),
        (0.01, 0.6),
        (0.05, 0.3),
        (0.1, 0.18),
        (0.2, 0.1),
        (0.5, 0.04),
        (0.8, 0.02),
        (0.95, 0.008),
        (1.0, 0.0),
    ]),
    // Mostly low, about 12 % ≥ 0.5.
    pwatermark: Quantiles::from_survival(&[
        (0.0, 1.0),
        (0.01, 0.9),
        (0.05, 0.6),
        (0.1, 0.42),
        (0.2, 0.26),
        (0.5, 0.12),
        (0.8, 0.05),
        (0.95, 0.015),
        (1.0, 0.0),
    ]),
    // LAION kept English pairs at ViT-B/32 similarity ≥ 0.28 and the rest at ≥ 0.26.
    similarity_en: Quantiles::from_survival(&[
        (0.28, 1.0),
        (0.30, 0.75),
        (0.32, 0.47),
        (0.34, 0.25),
        (0.36, 0.12),
        (0.40, 0.02),
        (0.45, 0.002),
        (0.52, 0.0),
    ]),
    similarity_multi: Quantiles::from_survival(&[
        (0.26, 1.0),
        (0.28, 0.7),
        (0.30, 0.45),
        (0.32, 0.25),
        (0.35, 0.08),
        (0.40, 0.01),
        (0.48, 0.0),
    ]),
    clip_coyo: Quantiles::from_survival(&[
        (0.2, 1.0),
        (0.25, 0.8),
        (0.3, 0.45),
        (0.35, 0.15),
        (0.4, 0.03),
        (0.45, 0.003),
        (0.52, 0.0),
    ]),
    // DataComp's pool is unfiltered.
    clip_datacomp: Quantiles::from_survival(&[
        (0.0, 1.0),
        (0.1, 0.95),
        (0.2, 0.7),
        (0.25, 0.5),
        (0.3, 0.25),
        (0.35, 0.08),
        (0.4, 0.01),
        (0.5, 0.0),
    ]),
    nsfw_coyo: Quantiles::from_survival(&[
        (0.0, 1.0),
        (0.001, 0.7),
        (0.01, 0.3),
        (0.05, 0.1),
        (0.2, 0.04),
        (0.5, 0.012),
        (0.9, 0.004),
        (1.0, 0.0),
    ]),
    sizes: Alias::new(&SIZES.iter().map(|s| s.2).collect::<Vec<_>>()),
    free_width: Quantiles::from_survival(&[
        (60.0, 1.0),
        (200.0, 0.9),
        (300.0, 0.75),
        (500.0, 0.5),
        (800.0, 0.25),
        (1200.0, 0.08),
        (2000.0, 0.02),
        (5000.0, 0.0),
    ]),
    // Width / height.
    free_aspect: Quantiles::from_survival(&[
        (0.4, 1.0),
        (0.67, 0.85),
        (1.0, 0.5),
        (1.34, 0.25),
        (1.8, 0.05),
        (3.5, 0.0),
    ]),
    // Height / width on Pinterest: mostly portrait pins.
    pin_aspect: Quantiles::from_survival(&[
        (0.5, 1.0),
        (1.0, 0.8),
        (1.25, 0.6),
        (1.5, 0.3),
        (1.8, 0.1),
        (3.0, 0.02),
        (5.0, 0.0),
    ]),
});

/// Width and height of a row's image; the URL may fix the width (Pinterest size folders).
pub(crate) fn image_size(rng: &mut Rng, facts: &UrlFacts) -> (u32, u32) {
    let t = &*TABLES;
    if facts.site == Site::Pinterest {
        let width = facts.width.unwrap_or_else(|| rng.range(800, 2400) as u32);
        let aspect = if rng.chance(0.35) { 1.5 } else { t.pin_aspect.sample(rng) };
        return (width, ((width as f64 * aspect) as u32).max(1));
    }
    match SIZES[t.sizes.sample(rng)] {
        (0, 0, _) => {
            let width = t.free_width.sample(rng) as u32;
            let height = (width as f64 / t.free_aspect.sample(rng)) as u32;
            (width.max(1), height.max(1))
        }
        (w, h, _) => (w, h),
    }
}

/// The builders of one batch in one layout.
#[expect(clippy::large_enum_variant, reason = "one value a batch, never moved in a loop")]
pub(crate) enum Columns {
    Aesthetics {
        url: StringBuilder,
        text: StringBuilder,
        width: Float64Builder,
        height: Float64Builder,
        similarity: Float64Builder,
        hash: Int64Builder,
        punsafe: Float32Builder,
        pwatermark: Float32Builder,
        aesthetic: Float32Builder,
    },
    Laion5b {
        sample_id: Int64Builder,
        url: StringBuilder,
        text: StringBuilder,
        height: Int32Builder,
        width: Int32Builder,
        license: StringBuilder,
        language: StringBuilder,
        nsfw: StringBuilder,
        similarity: Float64Builder,
    },
    Coyo {
        id: Int64Builder,
        url: StringBuilder,
        text: StringBuilder,
        width: Int64Builder,
        height: Int64Builder,
        phash: StringBuilder,
        text_length: Int32Builder,
        word_count: Int32Builder,
        tokens_bert: Int32Builder,
        tokens_gpt: Int32Builder,
        faces: Int32Builder,
        clip_b32: Float32Builder,
        clip_l14: Float32Builder,
        nsfw_opennsfw2: Float32Builder,
        nsfw_gantman: Float32Builder,
        watermark: Float32Builder,
        aesthetic: Float32Builder,
    },
    Datacomp {
        uid: StringBuilder,
        url: StringBuilder,
        text: StringBuilder,
        width: Int64Builder,
        height: Int64Builder,
        clip_b32: Float32Builder,
        clip_l14: Float32Builder,
        faces: ListBuilder<ListBuilder<Float64Builder>>,
        sha256: StringBuilder,
    },
}

const LICENSES: [&str; 6] = [
    "https://creativecommons.org/licenses/by/4.0/",
    "https://creativecommons.org/licenses/by-sa/4.0/",
    "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "https://creativecommons.org/licenses/by/2.0/",
    "https://creativecommons.org/licenses/by-nc-nd/3.0/",
    "https://creativecommons.org/publicdomain/zero/1.0/",
];

fn strings(rows: usize, bytes_per_row: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * bytes_per_row)
}

/// A score as the published files store it: computed in float32, widened.
fn f32_score(x: f64) -> f64 {
    x as f32 as f64
}

impl Columns {
    pub(crate) fn new(schema: SynthSchema, rows: usize) -> Columns {
        match schema {
            SynthSchema::LaionAesthetics => Columns::Aesthetics {
                url: strings(rows, 100),
                text: strings(rows, 64),
                width: Float64Builder::with_capacity(rows),
                height: Float64Builder::with_capacity(rows),
                similarity: Float64Builder::with_capacity(rows),
                hash: Int64Builder::with_capacity(rows),
                punsafe: Float32Builder::with_capacity(rows),
                pwatermark: Float32Builder::with_capacity(rows),
                aesthetic: Float32Builder::with_capacity(rows),
            },
            SynthSchema::Laion5b => Columns::Laion5b {
                sample_id: Int64Builder::with_capacity(rows),
                url: strings(rows, 100),
                text: strings(rows, 64),
                height: Int32Builder::with_capacity(rows),
                width: Int32Builder::with_capacity(rows),
                license: strings(rows, 2),
                language: strings(rows, 2),
                nsfw: strings(rows, 8),
                similarity: Float64Builder::with_capacity(rows),
            },
            SynthSchema::Coyo => Columns::Coyo {
                id: Int64Builder::with_capacity(rows),
                url: strings(rows, 100),
                text: strings(rows, 64),
                width: Int64Builder::with_capacity(rows),
                height: Int64Builder::with_capacity(rows),
                phash: strings(rows, 16),
                text_length: Int32Builder::with_capacity(rows),
                word_count: Int32Builder::with_capacity(rows),
                tokens_bert: Int32Builder::with_capacity(rows),
                tokens_gpt: Int32Builder::with_capacity(rows),
                faces: Int32Builder::with_capacity(rows),
                clip_b32: Float32Builder::with_capacity(rows),
                clip_l14: Float32Builder::with_capacity(rows),
                nsfw_opennsfw2: Float32Builder::with_capacity(rows),
                nsfw_gantman: Float32Builder::with_capacity(rows),
                watermark: Float32Builder::with_capacity(rows),
                aesthetic: Float32Builder::with_capacity(rows),
            },
            SynthSchema::Datacomp => Columns::Datacomp {
                uid: strings(rows, 32),
                url: strings(rows, 100),
                text: strings(rows, 64),
                width: Int64Builder::with_capacity(rows),
                height: Int64Builder::with_capacity(rows),
                clip_b32: Float32Builder::with_capacity(rows),
                clip_l14: Float32Builder::with_capacity(rows),
                faces: ListBuilder::new(ListBuilder::new(Float64Builder::new())),
                sha256: strings(rows, 64),
            },
        }
    }

    /// Appends one row, drawing the layout's own values; `hex` is scratch space.
    pub(crate) fn append(&mut self, rng: &mut Rng, row: &RowData, hex: &mut String) {
        let t = &*TABLES;
        match self {
            Columns::Aesthetics { url, text, width, height, similarity, hash, punsafe, pwatermark, aesthetic } => {
                url.append_value(row.url);
                text.append_option(row.caption);
                let known = !rng.chance(0.002);
                width.append_option(known.then_some(row.width as f64));
                height.append_option(known.then_some(row.height as f64));
                similarity.append_value(f32_score(t.similarity_en.sample(rng)));
                // LAION's hash is a 64-bit hash of URL and caption: equal pairs hash alike.
                let seed = xxh3_64(row.url.as_bytes());
                hash.append_value(xxh3_64_with_seed(row.caption.unwrap_or("").as_bytes(), seed) as i64);
                let p = t.punsafe.sample(rng) as f32;
                punsafe.append_option((!rng.chance(0.001)).then_some(p));
                let w = t.pwatermark.sample(rng) as f32;
                pwatermark.append_option((!rng.chance(0.001)).then_some(w));
                aesthetic.append_value(t.aesthetic.sample(rng) as f32);
            }
            Columns::Laion5b { sample_id, url, text, height, width, license, language, nsfw, similarity } => {
                // Increasing with gaps, like ids handed out while crawling.
                sample_id.append_value((1_000_000_000 + row.index * 3 + rng.below(3) as u64) as i64);
                url.append_value(row.url);
                text.append_option(row.caption);
                let known = !rng.chance(0.001);
                height.append_option(known.then_some(row.height as i32));
                width.append_option(known.then_some(row.width as i32));
                license.append_value(if rng.chance(0.985) { "?" } else { rng.pick(&LICENSES) });
                language.append_option(row.language);
                let r = rng.below(1000);
                nsfw.append_value(match r {
                    0..930 => "UNLIKELY",
                    930..975 => "UNSURE",
                    _ => "NSFW",
                });
                let table = if row.lang == Lang::En { &t.similarity_en } else { &t.similarity_multi };
                similarity.append_value(f32_score(table.sample(rng)));
            }
            Columns::Coyo {
                id,
                url,
                text,
                width,
                height,
                phash,
                text_length,
                word_count,
                tokens_bert,
                tokens_gpt,
                faces,
                clip_b32,
                clip_l14,
                nsfw_opennsfw2,
                nsfw_gantman,
                watermark,
                aesthetic,
            } => {
                id.append_value((4_000_000_000_000 + row.index * 7 + rng.below(7) as u64) as i64);
                url.append_value(row.url);
                let caption = row.caption.unwrap_or("");
                text.append_value(caption);
                width.append_value(row.width as i64);
                height.append_value(row.height as i64);
                hex.clear();
                push_hex(hex, rng, 16);
                phash.append_value(hex.as_str());
                let counts = TextCounts::of(caption);
                text_length.append_value(counts.chars as i32);
                word_count.append_value(counts.words as i32);
                tokens_bert.append_value(counts.bert_tokens as i32);
                tokens_gpt.append_value(counts.gpt_tokens as i32);
                faces.append_value(match rng.below(100) {
                    0..82 => 0,
                    82..93 => 1,
                    93..97 => 2,
                    _ => rng.range(3, 12) as i32,
                });
                let b32 = t.clip_coyo.sample(rng);
                clip_b32.append_value(b32 as f32);
                clip_l14.append_value((b32 - 0.03 + (rng.unit() - 0.5) * 0.06).max(0.0) as f32);
                let n = t.nsfw_coyo.sample(rng);
                nsfw_opennsfw2.append_value(n as f32);
                nsfw_gantman.append_value((n * (0.5 + rng.unit())).min(1.0) as f32);
                watermark.append_value(t.pwatermark.sample(rng) as f32);
                aesthetic.append_value(t.aesthetic.sample(rng) as f32);
            }
            Columns::Datacomp { uid, url, text, width, height, clip_b32, clip_l14, faces, sha256 } => {
                hex.clear();
                push_hex(hex, rng, 32);
                uid.append_value(hex.as_str());
                url.append_value(row.url);
                text.append_value(row.caption.unwrap_or(""));
                width.append_value(row.width as i64);
                height.append_value(row.height as i64);
                let b32 = t.clip_datacomp.sample(rng);
                clip_b32.append_value(b32 as f32);
                clip_l14.append_value((b32 - 0.03 + (rng.unit() - 0.5) * 0.08).max(0.0) as f32);
                let n = match rng.below(100) {
                    0..80 => 0,
                    80..92 => 1,
                    92..97 => 2,
                    _ => rng.range(3, 6),
                };
                for _ in 0..n {
                    // Normalised [x1, y1, x2, y2], as DataComp stores face boxes.
                    let x1 = rng.unit() * 0.8;
                    let y1 = rng.unit() * 0.8;
                    let side = 0.03 + rng.unit() * 0.2;
                    let boxes = faces.values();
                    boxes.values().append_slice(&[x1, y1, (x1 + side).min(1.0), (y1 + side).min(1.0)]);
                    boxes.append(true);
                }
                faces.append(true);
                hex.clear();
                push_hex(hex, rng, 64);
                sha256.append_value(hex.as_str());
            }
        }
    }

    /// The batch of every row appended since the last call; the builders start empty again.
    pub(crate) fn finish(&mut self, schema: &SchemaRef) -> RecordBatch {
        let columns: Vec<ArrayRef> = match self {
            Columns::Aesthetics { url, text, width, height, similarity, hash, punsafe, pwatermark, aesthetic } => vec![
                Arc::new(url.finish()),
                Arc::new(text.finish()),
                Arc::new(width.finish()),
                Arc::new(height.finish()),
                Arc::new(similarity.finish()),
                Arc::new(hash.finish()),
                Arc::new(punsafe.finish()),
                Arc::new(pwatermark.finish()),
                Arc::new(aesthetic.finish()),
            ],
            Columns::Laion5b { sample_id, url, text, height, width, license, language, nsfw, similarity } => vec![
                Arc::new(sample_id.finish()),
                Arc::new(url.finish()),
                Arc::new(text.finish()),
                Arc::new(height.finish()),
                Arc::new(width.finish()),
                Arc::new(license.finish()),
                Arc::new(language.finish()),
                Arc::new(nsfw.finish()),
                Arc::new(similarity.finish()),
            ],
            Columns::Coyo {
                id,
                url,
                text,
                width,
                height,
                phash,
                text_length,
                word_count,
                tokens_bert,
                tokens_gpt,
                faces,
                clip_b32,
                clip_l14,
                nsfw_opennsfw2,
                nsfw_gantman,
                watermark,
                aesthetic,
            } => vec![
                Arc::new(id.finish()),
                Arc::new(url.finish()),
                Arc::new(text.finish()),
                Arc::new(width.finish()),
                Arc::new(height.finish()),
                Arc::new(phash.finish()),
                Arc::new(text_length.finish()),
                Arc::new(word_count.finish()),
                Arc::new(tokens_bert.finish()),
                Arc::new(tokens_gpt.finish()),
                Arc::new(faces.finish()),
                Arc::new(clip_b32.finish()),
                Arc::new(clip_l14.finish()),
                Arc::new(nsfw_opennsfw2.finish()),
                Arc::new(nsfw_gantman.finish()),
                Arc::new(watermark.finish()),
                Arc::new(aesthetic.finish()),
            ],
            Columns::Datacomp { uid, url, text, width, height, clip_b32, clip_l14, faces, sha256 } => vec![
                Arc::new(uid.finish()),
                Arc::new(url.finish()),
                Arc::new(text.finish()),
                Arc::new(width.finish()),
                Arc::new(height.finish()),
                Arc::new(clip_b32.finish()),
                Arc::new(clip_l14.finish()),
                Arc::new(faces.finish()),
                Arc::new(sha256.finish()),
            ],
        };
        RecordBatch::try_new(schema.clone(), columns)
            .unwrap_or_else(|e| unreachable!("builders and schema are defined together: {e}"))
    }
}

/// COYO's text statistics, approximated from the caption itself: characters, words, and
/// token counts as a WordPiece and a byte-level BPE tokenizer would roughly give them.
struct TextCounts {
    chars: usize,
    words: usize,
    bert_tokens: usize,
    gpt_tokens: usize,
}

impl TextCounts {
    fn of(text: &str) -> TextCounts {
        let mut chars = 0;
        let mut words = 0;
        let mut pieces = 0;
        let mut run: usize = 0;
        let mut in_word = false;
        for c in text.chars() {
            chars += 1;
            if c.is_whitespace() {
                in_word = false;
            } else if !in_word {
                in_word = true;
                words += 1;
            }
            if c.is_alphanumeric() {
                run += 1;
            } else {
                // A long word splits into several word pieces; punctuation is its own token.
                pieces += run.div_ceil(7);
                run = 0;
                if !c.is_whitespace() {
                    pieces += 1;
                }
            }
        }
        pieces += run.div_ceil(7);
        TextCounts { chars, words, bert_tokens: pieces + 2, gpt_tokens: text.len().div_ceil(4).max(words) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts() {
        let c = TextCounts::of("Red dress, size 8");
        assert_eq!((c.chars, c.words), (17, 4));
        assert_eq!(c.bert_tokens, 2 + 4 + 1);
        assert!(c.gpt_tokens >= 4);
    }

    #[test]
    fn big_images_are_rare() {
        let mut rng = Rng::fixed(11);
        let facts = UrlFacts { site: Site::Generic, width: None };
        let n = 100_000;
        let big = (0..n)
            .filter(|_| {
                let (w, h) = image_size(&mut rng, &facts);
                w >= 1024 && h >= 1024
            })
            .count();
        let share = big as f64 / n as f64;
        assert!((0.04..0.10).contains(&share), "{share}");
    }
}
