//! Name mentions: a known share of captions name a built-in artist or character, in the
//! phrasings and spellings real captions use ("by X", "in the style of X", "X's", "art by
//! x", `X_Y` tags, UPPER CASE, fullwidth letters, aliases), and a smaller share carry decoys
//! that must *not* count under whole-token matching ("Kinkadesque", "Thomas Kinkadez",
//! "GregRutkowski").
//!
//! Every injected caption is checked to match the alias used before it is recorded, and
//! every decoy is checked not to match any alias of its entity with or without accent
//! folding, so the record in `synth.json` is true by construction. Ordinary words can be
//! names too, so it is a lower bound per entity, not the expected count.
//!
//! The checks use `pairscope-text`'s fast [`Normalizer`] with the matching rule of
//! [`pairscope_text::reference::alias_matches`]; the tests hold the rows to the reference
//! itself.

use pairscope_text::names::NameList;
use pairscope_text::{Normalizer, has_substring_script};

use crate::SynthError;
use crate::sample::{Alias, Rng};

/// The two built-in lists, in the order of [`Marks::mention`].
pub(crate) const LISTS: [&str; 2] = ["builtin:artists", "builtin:characters"];

/// Entities real captions name most, first in popularity when the list has them; the rest of
/// a list follows in an order fixed by a hash of the name, so popularity does not follow the
/// alphabet.
const FAMOUS: [&[&str]; 2] = [
    &[
        "Greg Rutkowski",
        "Thomas Kinkade",
        "Alphonse Mucha",
        "Vincent van Gogh",
        "Artgerm",
        "Claude Monet",
        "Banksy",
        "Hayao Miyazaki",
        "Pablo Picasso",
        "Bob Ross",
        "Gustav Klimt",
        "Salvador Dali",
        "Frida Kahlo",
        "Katsushika Hokusai",
        "Leonardo da Vinci",
        "Andy Warhol",
        "Norman Rockwell",
        "Ilya Kuvshinov",
        "Wlop",
        "Beeple",
    ],
    &[
        "Batman",
        "Spider-Man",
        "Mickey Mouse",
        "Pikachu",
        "Hello Kitty",
        "Superman",
        "Harry Potter",
        "Elsa",
        "Mario",
        "Darth Vader",
        "Iron Man",
        "Wonder Woman",
        "Winnie the Pooh",
        "Minnie Mouse",
        "Sonic the Hedgehog",
        "Goku",
        "Snoopy",
        "SpongeBob SquarePants",
        "The Joker",
        "Naruto",
    ],
];

/// Ways a decoy misses its entity under whole-token matching. The names are the keys of
/// `synth.json`'s decoy record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecoyKind {
    /// A suffix glued to the name: "Kinkadesque", "Thomas Kinkadeism".
    Suffixed,
    /// A prefix glued to the name: "neoBanksy".
    Prefixed,
    /// One letter of the surname changed: "Greg Rutkowsky".
    LetterChanged,
    /// One letter added to the surname: "Thomas Kinkadez".
    LetterAdded,
    /// The name's tokens run together: "GregRutkowski", "#thomaskinkade".
    Joined,
}

impl DecoyKind {
    /// Every kind, in the order a decoy's kind is drawn from.
    pub const ALL: [DecoyKind; 5] =
        [DecoyKind::Suffixed, DecoyKind::Prefixed, DecoyKind::LetterChanged, DecoyKind::LetterAdded, DecoyKind::Joined];

    /// Its key in [`crate::SynthManifest::decoys`].
    pub fn name(self) -> &'static str {
        match self {
            DecoyKind::Suffixed => "suffixed",
            DecoyKind::Prefixed => "prefixed",
            DecoyKind::LetterChanged => "letter_changed",
            DecoyKind::LetterAdded => "letter_added",
            DecoyKind::Joined => "joined",
        }
    }
}

/// A decoy of entity `entity` of list `list` (index into [`LISTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoy {
    pub(crate) list: usize,
    pub(crate) entity: u32,
    pub(crate) kind: DecoyKind,
}

/// What a row's caption carries: at most one mention per list and one decoy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    pub(crate) mention: [Option<u32>; 2],
    pub(crate) decoy: Option<Decoy>,
}

pub(crate) struct NameSource {
    pub(crate) list: NameList,
    /// Popularity rank → entity index.
    order: Vec<u32>,
    popularity: Alias,
    /// `normalized[entity][alias]`: the alias's canonical form without and with accent
    /// folding.
    normalized: Vec<Vec<[String; 2]>>,
}

impl NameSource {
    fn load(index: usize) -> Result<NameSource, SynthError> {
        let spec = LISTS[index];
        let list = NameList::load(spec).map_err(|source| SynthError::NameList { spec, source })?;
        if list.entities.is_empty() {
            return Err(SynthError::EmptyNameList { spec });
        }
        let mut order: Vec<u32> = Vec::new();
        for name in FAMOUS[index] {
            if let Some(found) = list.find(name)
                && let Some(i) = list.entities.iter().position(|e| e.line == found.line)
                && !order.contains(&(i as u32))
            {
                order.push(i as u32);
            }
        }
        let mut rest: Vec<u32> = (0..list.entities.len() as u32).filter(|i| !order.contains(i)).collect();
        rest.sort_by_key(|&i| xxhash_rust::xxh3::xxh3_64(list.entities[i as usize].name.as_bytes()));
        order.extend(rest);
        // Offset 1: the top name takes roughly a tenth of a list's mentions, as Greg Rutkowski
        // does among artists in prompt-like captions.
        let popularity = Alias::zipf(order.len(), 1.0);
        let mut plain = Normalizer::new(false);
        let mut folded = Normalizer::new(true);
        let normalized = list
            .entities
            .iter()
            .map(|e| {
                e.aliases.iter().map(|a| [plain.normalize(a).to_owned(), folded.normalize(a).to_owned()]).collect()
            })
            .collect();
        Ok(NameSource { list, order, popularity, normalized })
    }

    fn pick(&self, rng: &mut Rng) -> u32 {
        self.order[self.popularity.sample(rng)]
    }

    pub(crate) fn name(&self, entity: u32) -> &str {
        &self.list.entities[entity as usize].name
    }
}

/// How a name is spelled out in one mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    AsIs,
    Lower,
    Upper,
    /// Separators become `_`, as in tags and file names.
    Underscored,
    /// Fullwidth Latin letters, as CJK input methods type them.
    Fullwidth,
}

/// Both built-in lists, loaded once per run.
pub(crate) struct Names {
    pub(crate) sources: [NameSource; 2],
    form: Alias,
}

/// Scratch buffers for one shard, so a mention costs no allocation.
pub(crate) struct Scratch {
    form: String,
    out: String,
    original: String,
    /// Without and with accent folding.
    normalizers: [Normalizer; 2],
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            form: String::new(),
            out: String::new(),
            original: String::new(),
            normalizers: [Normalizer::new(false), Normalizer::new(true)],
        }
    }
}

/// [`pairscope_text::reference::alias_matches`] on canonical forms: the alias's tokens as
/// consecutive whole tokens of the caption, or as a substring when the alias is in a
/// substring script.
fn canonical_matches(alias: &str, caption: &str) -> bool {
    if alias.is_empty() || caption.is_empty() {
        return false;
    }
    if has_substring_script(alias) {
        return caption.contains(alias);
    }
    caption.match_indices(alias).any(|(at, _)| {
        let end = at + alias.len();
        (at == 0 || caption.as_bytes()[at - 1] == b' ') && (end == caption.len() || caption.as_bytes()[end] == b' ')
    })
}

const FORMS: [Form; 5] = [Form::AsIs, Form::Lower, Form::Upper, Form::Underscored, Form::Fullwidth];

impl Names {
    pub(crate) fn load() -> Result<Names, SynthError> {
        Ok(Names {
            sources: [NameSource::load(0)?, NameSource::load(1)?],
            form: Alias::new(&[68.0, 14.0, 8.0, 6.0, 4.0]),
        })
    }

    /// Rewrites `caption` to mention an entity of list `list`; returns it when the rewritten
    /// caption matches the alias used (it always should; a name the templates cannot carry is
    /// left out rather than recorded wrongly). `keep`: the caption already carries a mark,
    /// so every word of it must stay.
    pub(crate) fn inject(
        &self,
        rng: &mut Rng,
        list: usize,
        keep: bool,
        caption: &mut String,
        s: &mut Scratch,
    ) -> Option<u32> {
        let source = &self.sources[list];
        let entity = source.pick(rng);
        let aliases = &source.list.entities[entity as usize].aliases;
        let which = if aliases.len() > 1 && rng.chance(0.25) { rng.below(aliases.len()) } else { 0 };
        let alias = &aliases[which];
        let canonical = &source.normalized[entity as usize][which][0];
        let form = FORMS[self.form.sample(rng)];
        let template =
            if list == 0 { rng.below(ARTIST_TEMPLATES) } else { ARTIST_TEMPLATES + rng.below(CHARACTER_TEMPLATES) };
        let form = forced_form(template).unwrap_or(form);
        render(alias, form, &mut s.form);
        fill(rng, template, keep, caption, &s.form, &mut s.out);
        if !canonical_matches(canonical, s.normalizers[0].normalize(&s.out)) {
            // The plain spelling in the plainest template.
            s.form.clear();
            s.form.push_str(alias);
            fill(rng, 0, keep, caption, &s.form, &mut s.out);
            if !canonical_matches(canonical, s.normalizers[0].normalize(&s.out)) {
                return None;
            }
        }
        std::mem::swap(caption, &mut s.out);
        Some(entity)
    }

    /// Rewrites `caption` to carry a decoy of an entity of list `list`: a near-miss spelling
    /// that matches none of the entity's aliases, with or without accent folding. Leaves the
    /// caption as it was and returns `None` when no near miss of that entity can be made.
    pub(crate) fn inject_decoy(
        &self,
        rng: &mut Rng,
        list: usize,
        keep: bool,
        caption: &mut String,
        s: &mut Scratch,
    ) -> Option<Decoy> {
        let source = &self.sources[list];
        let entity = source.pick(rng);
        let aliases = &source.list.entities[entity as usize].aliases;
        // Near misses of names written without spaces would still contain them.
        let latin: Vec<&String> = aliases.iter().filter(|a| !has_substring_script(a)).collect();
        if latin.is_empty() {
            return None;
        }
        s.original.clear();
        s.original.push_str(caption);
        for _ in 0..4 {
            let alias = if rng.chance(0.8) { latin[0] } else { *rng.pick(&latin) };
            let kind = DecoyKind::ALL[rng.below(DecoyKind::ALL.len())];
            if !near_miss(rng, alias, kind, &mut s.form) {
                continue;
            }
            let template =
                if list == 0 { rng.below(ARTIST_TEMPLATES) } else { ARTIST_TEMPLATES + rng.below(CHARACTER_TEMPLATES) };
            fill(rng, template, keep, &s.original, &s.form, &mut s.out);
            let normalized = &source.normalized[entity as usize];
            let matches_any = (0..2).any(|fold| {
                let caption = s.normalizers[fold].normalize(&s.out);
                normalized.iter().any(|forms| canonical_matches(&forms[fold], caption))
            });
            if !matches_any {
                std::mem::swap(caption, &mut s.out);
                return Some(Decoy { list, entity, kind });
            }
        }
        None
    }
}

fn render(alias: &str, form: Form, out: &mut String) {
    out.clear();
    match form {
        Form::AsIs => out.push_str(alias),
        Form::Lower => out.extend(alias.chars().flat_map(char::to_lowercase)),
        Form::Upper => out.extend(alias.chars().flat_map(char::to_uppercase)),
        Form::Underscored => {
            // Runs of separators ("A. B.") collapse into one underscore.
            let mut pending = false;
            for c in alias.chars() {
                if c.is_alphanumeric() {
                    if pending && !out.is_empty() {
                        out.push('_');
                    }
                    pending = false;
                    out.push(c);
                } else {
                    pending = true;
                }
            }
        }
        Form::Fullwidth => out.extend(alias.chars().map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            ' ' => '\u{3000}',
            _ => c,
        })),
    }
}

const PREFIXES: [&str; 6] = ["neo", "post", "pseudo", "super", "anti", "mini"];

/// Writes a near miss of `alias` of `kind` into `out`; false when the alias has no room for
/// that kind (no Latin surname to change, a single token to join).
fn near_miss(rng: &mut Rng, alias: &str, kind: DecoyKind, out: &mut String) -> bool {
    out.clear();
    // The last run of letters: the surname of most names.
    let Some((start, end)) = last_token(alias) else {
        return false;
    };
    let last = &alias[start..end];
    match kind {
        DecoyKind::Suffixed => {
            let suffix = *rng.pick(&["esque", "ish", "ian", "ism", "like", "core", "mania", "verse"]);
            let whole = rng.chance(0.5);
            let stem = if whole { &alias[..end] } else { last };
            // "Kinkade" + "esque" is spelled "Kinkadesque".
            let stem =
                if stem.ends_with('e') && suffix.starts_with(['e', 'i', 'a']) { &stem[..stem.len() - 1] } else { stem };
            out.push_str(stem);
            out.push_str(suffix);
        }
        DecoyKind::Prefixed => {
            let prefix = *rng.pick(&PREFIXES);
            out.push_str(prefix);
            out.push_str(alias);
        }
        DecoyKind::LetterChanged => {
            let letters: Vec<(usize, u8)> =
                last.bytes().enumerate().skip(1).filter(|(_, b)| b.is_ascii_alphabetic()).collect();
            if last.chars().count() < 3 || letters.is_empty() {
                return false;
            }
            let (at, b) = *rng.pick(&letters);
            out.push_str(&alias[..start + at]);
            out.push(changed_letter(b) as char);
            out.push_str(&alias[start + at + 1..]);
        }
        DecoyKind::LetterAdded => {
            let tail = last.as_bytes()[last.len() - 1].to_ascii_lowercase();
            let added = if tail == b'z' { 'y' } else { *rng.pick(&['z', 's', 'y', 'z']) };
            let added = if tail == added as u8 { 'x' } else { added };
            out.push_str(&alias[..end]);
            out.push(added);
            out.push_str(&alias[end..]);
        }
        DecoyKind::Joined => {
            let tokens = alias.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty());
            if tokens.clone().count() < 2 {
                return false;
            }
            let lower = rng.chance(0.5);
            if rng.chance(0.3) {
                out.push('#');
            }
            for t in tokens {
                if lower {
                    out.extend(t.chars().flat_map(char::to_lowercase));
                } else {
                    out.push_str(t);
                }
            }
        }
    }
    true
}

/// Byte range of the last run of alphanumeric characters.
fn last_token(s: &str) -> Option<(usize, usize)> {
    let end = s.char_indices().rev().find(|(_, c)| c.is_alphanumeric()).map(|(i, c)| i + c.len_utf8())?;
    let start = s[..end].char_indices().rev().find(|(_, c)| !c.is_alphanumeric()).map_or(0, |(i, c)| i + c.len_utf8());
    Some((start, end))
}

/// Another ASCII letter, never the same one in another case: vowels rotate among vowels,
/// consonants move to the next consonant.
fn changed_letter(b: u8) -> u8 {
    let upper = b.is_ascii_uppercase();
    let lower = b.to_ascii_lowercase();
    let changed = match lower {
        b'a' => b'e',
        b'e' => b'a',
        b'i' => b'y',
        b'o' => b'a',
        b'u' => b'o',
        b'y' => b'i',
        b'z' => b'x',
        c => {
            let mut next = c + 1;
            if matches!(next, b'a' | b'e' | b'i' | b'o' | b'u') {
                next += 1;
            }
            next
        }
    };
    if upper { changed.to_ascii_uppercase() } else { changed }
}

const ARTIST_TEMPLATES: usize = 13;
const CHARACTER_TEMPLATES: usize = 8;

/// Templates that dictate the name's spelling.
fn forced_form(template: usize) -> Option<Form> {
    match template {
        6 => Some(Form::Lower),
        7 | 17 => Some(Form::Underscored),
        _ => None,
    }
}

/// Writes caption `c` with name `n` placed by template `t` into `out`. Templates
/// `0..ARTIST_TEMPLATES` are artist phrasings, the rest character phrasings. Two of them
/// replace the caption by the name and a noun ("Thomas Kinkade Painting") unless `keep`.
fn fill(rng: &mut Rng, t: usize, keep: bool, c: &str, n: &str, out: &mut String) {
    out.clear();
    let c = c.trim_end_matches(['!', '.']);
    let parts: [&str; 3] = match t {
        0 => [c, " by ", n],
        1 => [c, ", by ", n],
        2 => [n, " - ", c],
        3 => [c, " in the style of ", n],
        4 => [n, " style ", c],
        5 => [n, "'s ", c],
        6 => [c, ", art by ", n],
        7 => [c, " #", n],
        8 => [c, ", trending on artstation, ", n],
        9 => ["Painting by ", n, c],
        10 => [n, " | ", c],
        11 => [c, " (", n],
        12 => [n, " ", *rng.pick(&["Painting", "Art Print", "Poster", "Canvas Print", "Original Artwork", "Prints"])],
        13 => [n, " ", c],
        14 => [c, " featuring ", n],
        15 => [c, " with ", n],
        16 => [
            n,
            " ",
            *rng.pick(&[
                "Costume for Kids",
                "Cosplay",
                "Wallpaper",
                "T-Shirt",
                "Coloring Page",
                "Fan Art",
                "Birthday Party Supplies",
                "Cake Topper",
                "Plush Toy",
                "Action Figure",
                "Mask",
                "Drawing",
            ]),
        ],
        17 => [c, " #", n],
        18 => [n, "'s ", c],
        19 => [c, " (", n],
        _ => [n, " - ", c],
    };
    for p in parts {
        out.push_str(p);
    }
    match t {
        9 => {
            // "Painting by X: caption" — the colon goes between the name and the caption.
            let at = out.len() - c.len();
            out.insert_str(at, ": ");
        }
        11 | 19 => out.push(')'),
        12 | 16 if keep => {
            out.push_str(" - ");
            out.push_str(c);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use pairscope_text::reference::alias_matches;

    use super::*;

    #[test]
    fn canonical_matching_agrees_with_the_reference() {
        let mut n = Normalizer::new(false);
        for (alias, caption) in [
            ("Thomas Kinkade", "thomas_kinkade's cottage"),
            ("Thomas Kinkade", "Thomas Kinkadez"),
            ("Thomas Kinkade", "a Thomas Kinkadesque scene by THOMAS KINKADE."),
            ("Kinkade", "Kinkadesque"),
            ("Batman", "batman"),
            ("Batman", "superbatman batman"),
            ("葛飾北斎", "浮世絵葛飾北斎の版画"),
            ("葛飾北斎", "葛飾 北斎"),
            ("A.B. Frost", "a b frost"),
        ] {
            let alias_form = n.normalize(alias).to_owned();
            let fast = canonical_matches(&alias_form, n.normalize(caption));
            assert_eq!(fast, alias_matches(alias, caption, false), "{alias} in {caption}");
        }
    }

    #[test]
    fn near_misses_look_like_the_examples() {
        let mut rng = Rng::fixed(3);
        let mut out = String::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            for kind in DecoyKind::ALL {
                if near_miss(&mut rng, "Thomas Kinkade", kind, &mut out) {
                    assert!(!alias_matches("Thomas Kinkade", &out, false), "{kind:?}: {out}");
                    assert!(!alias_matches("Thomas Kinkade", &out, true), "{kind:?}: {out}");
                    seen.insert(out.clone());
                }
            }
        }
        for example in ["Kinkadesque", "Thomas Kinkadesque", "Thomas Kinkadez", "ThomasKinkade", "thomaskinkade"] {
            assert!(seen.contains(example), "{example} never made");
        }
        assert!(!near_miss(&mut rng, "Banksy", DecoyKind::Joined, &mut out));
    }

    #[test]
    fn every_form_and_template_still_matches() {
        let mut rng = Rng::fixed(4);
        let mut form = String::new();
        let mut out = String::new();
        for alias in ["Greg Rutkowski", "A.B. Frost", "Þórarinn B. Þorláksson", "Spider-Man", "葛飾北斎"] {
            for f in FORMS {
                render(alias, f, &mut form);
                for t in 0..ARTIST_TEMPLATES + CHARACTER_TEMPLATES {
                    fill(&mut rng, t, false, "a castle on a hill", &form, &mut out);
                    assert!(alias_matches(alias, &out, false), "{f:?} {t}: {out}");
                    fill(&mut rng, t, true, "a castle by Banksy", &form, &mut out);
                    assert!(alias_matches("Banksy", &out, false), "{t}: {out}");
                }
            }
        }
    }

    #[test]
    fn letters_change_to_other_letters() {
        for b in b'a'..=b'z' {
            let c = changed_letter(b);
            assert!(c.is_ascii_lowercase() && c != b);
            assert_eq!(changed_letter(b.to_ascii_uppercase()), c.to_ascii_uppercase());
        }
    }
}
