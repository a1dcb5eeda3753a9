//! One shard's rows, batch by batch, from its own random stream.
//!
//! A row is: a language, a caption (maybe rewritten to carry a mention or a decoy), a URL,
//! an image size, then the layout's own columns. A few rows repeat an earlier row's URL and
//! caption (the same pair crawled twice) or only its caption (one caption on many images),
//! as real dumps do.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::SynthSchema;
use crate::caption::CaptionMaker;
use crate::columns::{self, Columns, LANGUAGE_EMPTY, LANGUAGE_NULL, RowData, TEXT_NULL};
use crate::mentions::{Marks, Names, Scratch};
use crate::sample::{Alias, Rng};
use crate::vocab::Lang;
use crate::web::write_url;

/// Share of rows that repeat an earlier (URL, caption) pair.
const REPEAT_PAIR: f64 = 0.018;
/// Share of rows that repeat an earlier caption under a new URL.
const REPEAT_CAPTION: f64 = 0.02;
/// Share of captions that mention a built-in artist, and a built-in character.
pub(crate) const MENTION_SHARE: [f64; 2] = [0.02, 0.01];
/// Share of captions that carry a decoy of an artist, and of a character.
const DECOY_SHARE: [f64; 2] = [0.003, 0.0015];
/// Earlier rows that repeats are drawn from: every `HISTORY_STRIDE`th row of the last
/// `HISTORY * HISTORY_STRIDE` (keeping every row would copy every URL and caption twice).
const HISTORY: usize = 1024;
const HISTORY_STRIDE: u64 = 8;

/// What the run shares between shards: read-only tables.
pub(crate) struct Shared {
    pub(crate) schema: SynthSchema,
    pub(crate) arrow: SchemaRef,
    pub(crate) names: Names,
    captions: CaptionMaker,
    langs: Alias,
    lang_codes: Vec<Lang>,
}

impl Shared {
    pub(crate) fn new(schema: SynthSchema, names: Names) -> Shared {
        let weights = columns::language_weights(schema);
        Shared {
            schema,
            arrow: columns::arrow_schema(schema),
            names,
            captions: CaptionMaker::new(),
            langs: Alias::new(&weights.iter().map(|w| w.1).collect::<Vec<_>>()),
            lang_codes: weights.iter().map(|w| w.0).collect(),
        }
    }
}

#[derive(Default)]
struct Past {
    url: String,
    caption: String,
    caption_null: bool,
    lang: Lang,
    language: Option<&'static str>,
    width: u32,
    height: u32,
    marks: Marks,
}

/// Tally of what a shard's captions carry, per list entity and per decoy kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// `mentions[list][entity]`: captions into which the entity was injected.
    pub(crate) mentions: [Vec<u64>; 2],
    /// Decoys by [`DecoyKind`](crate::mentions::DecoyKind) index.
    pub(crate) decoys: [u64; 5],
}

impl Tally {
    fn add(&mut self, marks: &Marks) {
        for (list, m) in marks.mention.iter().enumerate() {
            if let Some(e) = m {
                self.mentions[list][*e as usize] += 1;
            }
        }
        if let Some(d) = marks.decoy {
            self.decoys[d.kind as usize] += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        for list in 0..2 {
            if self.mentions[list].len() < other.mentions[list].len() {
                self.mentions[list].resize(other.mentions[list].len(), 0);
            }
            for (a, b) in self.mentions[list].iter_mut().zip(&other.mentions[list]) {
                *a += b;
            }
        }
        for (a, b) in self.decoys.iter_mut().zip(&other.decoys) {
            *a += b;
        }
    }
}

pub(crate) struct ShardGen<'a> {
    shared: &'a Shared,
    rng: Rng,
    /// Run-wide index of the next row.
    next_index: u64,
    history: Vec<Past>,
    history_len: usize,
    history_next: usize,
    caption: String,
    url: String,
    hex: String,
    scratch: Scratch,
    pub(crate) tally: Tally,
}

impl<'a> ShardGen<'a> {
    pub(crate) fn new(shared: &'a Shared, seed: u64, shard: u64, first_row: u64) -> ShardGen<'a> {
        let mut tally = Tally::default();
        for (list, source) in shared.names.sources.iter().enumerate() {
            tally.mentions[list] = vec![0; source.list.entities.len()];
        }
        ShardGen {
            shared,
            rng: Rng::for_shard(seed, shard),
            next_index: first_row,
            history: (0..HISTORY).map(|_| Past::default()).collect(),
            history_len: 0,
            history_next: 0,
            caption: String::with_capacity(512),
            url: String::with_capacity(512),
            hex: String::with_capacity(64),
            scratch: Scratch::default(),
            tally,
        }
    }

    /// The next `rows` rows; `marks` (cleared first) gets what each row's caption carries.
    pub(crate) fn batch(&mut self, rows: usize, marks: &mut Vec<Marks>) -> RecordBatch {
        marks.clear();
        let mut columns = Columns::new(self.shared.schema, rows);
        for _ in 0..rows {
            let m = self.row(&mut columns);
            self.tally.add(&m);
            marks.push(m);
        }
        columns.finish(&self.shared.arrow)
    }

    fn row(&mut self, columns: &mut Columns) -> Marks {
        let shared = self.shared;
        let rng = &mut self.rng;
        let r = rng.unit();
        let past = (self.history_len > 0 && r < REPEAT_PAIR + REPEAT_CAPTION).then(|| rng.below(self.history_len));
        let (lang, language, caption_null, marks, width, height);
        match past {
            Some(i) if r < REPEAT_PAIR => {
                let p = &self.history[i];
                self.url.clone_from(&p.url);
                self.caption.clone_from(&p.caption);
                (lang, language, caption_null, marks) = (p.lang, p.language, p.caption_null, p.marks);
                (width, height) = (p.width, p.height);
            }
            _ => {
                if let Some(i) = past {
                    let p = &self.history[i];
                    self.caption.clone_from(&p.caption);
                    (lang, language, caption_null, marks) = (p.lang, p.language, p.caption_null, p.marks);
                } else {
                    let mut l = shared.lang_codes[shared.langs.sample(rng)];
                    let mut code = Some(l.code());
                    if shared.schema == SynthSchema::Laion5b {
                        let u = rng.unit();
                        if u < LANGUAGE_EMPTY + LANGUAGE_NULL {
                            l = Lang::En;
                            code = if u < LANGUAGE_EMPTY { Some("") } else { None };
                        }
                    }
                    lang = l;
                    language = code;
                    caption_null = shared.schema == SynthSchema::Laion5b && rng.chance(TEXT_NULL);
                    marks = if caption_null { Marks::default() } else { self.fresh_caption(lang) };
                }
                let rng = &mut self.rng;
                let facts = write_url(rng, lang, &self.caption, &mut self.url);
                (width, height) = columns::image_size(rng, &facts);
            }
        }
        let row = RowData {
            index: self.next_index,
            url: &self.url,
            caption: (!caption_null).then_some(self.caption.as_str()),
            lang,
            language,
            width,
            height,
        };
        columns.append(&mut self.rng, &row, &mut self.hex);
        self.next_index += 1;
        if self.next_index.is_multiple_of(HISTORY_STRIDE) {
            self.remember(caption_null, lang, language, width, height, marks);
        }
        marks
    }

    fn remember(
        &mut self,
        caption_null: bool,
        lang: Lang,
        language: Option<&'static str>,
        width: u32,
        height: u32,
        marks: Marks,
    ) {
        let slot = &mut self.history[self.history_next];
        slot.url.clone_from(&self.url);
        slot.caption.clone_from(&self.caption);
        slot.caption_null = caption_null;
        slot.lang = lang;
        slot.language = language;
        (slot.width, slot.height) = (width, height);
        slot.marks = marks;
        self.history_next = (self.history_next + 1) % HISTORY;
        self.history_len = (self.history_len + 1).min(HISTORY);
    }

    fn fresh_caption(&mut self, lang: Lang) -> Marks {
        let shared = self.shared;
        let rng = &mut self.rng;
        shared.captions.write(rng, lang, &mut self.caption);
        let mut marks = Marks::default();
        // A caption in another language keeps its words, so its language label stays true.
        let foreign = lang != Lang::En;
        for (list, share) in MENTION_SHARE.into_iter().enumerate() {
            if rng.chance(share) {
                let keep = foreign || marks != Marks::default();
                marks.mention[list] = shared.names.inject(rng, list, keep, &mut self.caption, &mut self.scratch);
            }
        }
        let u = rng.unit();
        if u < DECOY_SHARE[0] + DECOY_SHARE[1] {
            let list = usize::from(u >= DECOY_SHARE[0]);
            let keep = foreign || marks != Marks::default();
            marks.decoy = shared.names.inject_decoy(rng, list, keep, &mut self.caption, &mut self.scratch);
        }
        marks
    }
}
