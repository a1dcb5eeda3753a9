//! Statistical tests on generated rows, in memory: the shapes benchmarks rely on, and the
//! injection record checked row by row against the reference matcher.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float32Type, Float64Type};
use pairscope_text::reference::alias_matches;

use crate::SynthSchema;
use crate::mentions::{Marks, Names};
use crate::shard::{ShardGen, Shared};

/// `rows` rows of shard 0 with their marks.
fn rows(schema: SynthSchema, rows: usize, seed: u64) -> (Vec<RecordBatch>, Vec<Marks>, Shared) {
    let shared = Shared::new(schema, Names::load().unwrap_or_else(|e| panic!("{e}")));
    let mut batches = Vec::new();
    let mut all_marks = Vec::new();
    {
        let mut generator = ShardGen::new(&shared, seed, 0, 0);
        let mut marks = Vec::new();
        let mut left = rows;
        while left > 0 {
            let n = left.min(50_000);
            batches.push(generator.batch(n, &mut marks));
            all_marks.extend_from_slice(&marks);
            left -= n;
        }
    }
    (batches, all_marks, shared)
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap_or_else(|| panic!("no {column}")).as_string::<i32>();
            (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_owned())).collect::<Vec<_>>()
        })
        .collect()
}

fn floats(batches: &[RecordBatch], column: &str) -> Vec<Option<f64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(column).unwrap_or_else(|| panic!("no {column}"));
            let v: Vec<Option<f64>> = match c.data_type() {
                arrow::datatypes::DataType::Float32 => {
                    c.as_primitive::<Float32Type>().iter().map(|x| x.map(f64::from)).collect()
                }
                _ => c.as_primitive::<Float64Type>().iter().collect(),
            };
            v
        })
        .collect()
}

fn share(values: &[Option<f64>], pred: impl Fn(f64) -> bool) -> f64 {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    known.iter().filter(|&&v| pred(v)).count() as f64 / known.len() as f64
}

#[test]
fn laion_aesthetics_distributions_match_the_published_histograms() {
    let (batches, _, _) = rows(SynthSchema::LaionAesthetics, 200_000, 42);
    let n = 200_000.0;
    let urls = strings(&batches, "URL");
    let captions = strings(&batches, "TEXT");

    let host = |u: &str| u.trim_start_matches("https://").split('/').next().unwrap_or("").to_owned();
    let mut hosts: HashMap<String, usize> = HashMap::new();
    for u in urls.iter().flatten() {
        *hosts.entry(host(u)).or_default() += 1;
    }
    let pins = hosts.get("i.pinimg.com").copied().unwrap_or(0) as f64 / n;
    assert!((0.06..0.10).contains(&pins), "pinterest share {pins}");
    let mut by_count: Vec<usize> = hosts.values().copied().collect();
    by_count.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(by_count[0], hosts["i.pinimg.com"], "pinterest is the biggest host");
    assert!(hosts.len() > 10_000, "{} hosts", hosts.len());
    assert!(hosts.keys().any(|h| h.ends_with(".co.uk")) && hosts.keys().any(|h| h.ends_with(".com.au")));

    let aesthetic = floats(&batches, "aesthetic");
    let a6 = share(&aesthetic, |a| a >= 6.0);
    assert!((0.002..0.01).contains(&a6), "aesthetic ≥ 6: {a6}");
    let a5 = share(&aesthetic, |a| a >= 5.0);
    assert!((0.22..0.30).contains(&a5), "aesthetic ≥ 5: {a5}");
    let a45 = share(&aesthetic, |a| a >= 4.5);
    assert!((0.48..0.56).contains(&a45), "aesthetic ≥ 4.5: {a45}");
    let a65 = share(&aesthetic, |a| a >= 6.5);
    assert!(a65 < 0.001, "aesthetic ≥ 6.5: {a65}");

    let punsafe = floats(&batches, "punsafe");
    let p = share(&punsafe, |x| x >= 0.5);
    assert!((0.03..0.05).contains(&p), "punsafe ≥ 0.5: {p}");
    assert!(punsafe.iter().any(Option::is_none), "punsafe has nulls");
    let pw = share(&floats(&batches, "pwatermark"), |x| x >= 0.5);
    assert!((0.10..0.15).contains(&pw), "pwatermark ≥ 0.5: {pw}");

    let mut sim: Vec<f64> = floats(&batches, "similarity").into_iter().flatten().collect();
    sim.sort_by(f64::total_cmp);
    let median = sim[sim.len() / 2];
    assert!((0.30..0.34).contains(&median) && sim[0] >= 0.28, "similarity median {median}");

    let widths = floats(&batches, "WIDTH");
    let heights = floats(&batches, "HEIGHT");
    let sized: Vec<(f64, f64)> = widths.iter().zip(&heights).filter_map(|(w, h)| Some(((*w)?, (*h)?))).collect();
    let big = sized.iter().filter(|(w, h)| *w >= 1024.0 && *h >= 1024.0).count() as f64 / sized.len() as f64;
    assert!((0.04..0.10).contains(&big), "≥ 1024×1024: {big}");
    let square = sized.iter().filter(|(w, h)| w == h).count() as f64 / sized.len() as f64;
    assert!(square > 0.2, "square share {square}");

    let mut pairs = HashSet::new();
    let mut repeated_pairs = 0;
    let mut caption_urls: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (u, c) in urls.iter().zip(&captions) {
        let (u, c) = (u.as_deref().unwrap_or(""), c.as_deref().unwrap_or(""));
        if !pairs.insert((u, c)) {
            repeated_pairs += 1;
        }
        caption_urls.entry(c).or_default().insert(u);
    }
    let dup = repeated_pairs as f64 / n;
    assert!((0.01..0.03).contains(&dup), "repeated (url, caption) share {dup}");
    let shared_captions = caption_urls.values().filter(|urls| urls.len() > 1).count();
    assert!(shared_captions > 2_000, "{shared_captions} captions on several URLs");
}

#[test]
fn caption_words_are_zipfian() {
    let (batches, _, _) = rows(SynthSchema::Coyo, 100_000, 7);
    let mut freq: HashMap<String, usize> = HashMap::new();
    let mut lengths = Vec::new();
    for c in strings(&batches, "text").into_iter().flatten() {
        let words: Vec<String> =
            c.split(|ch: char| !ch.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        lengths.push(c.split_whitespace().count());
        // Document frequency, as the benchmarks pick query words by it.
        let unique: HashSet<String> = words.into_iter().collect();
        for w in unique {
            *freq.entry(w).or_default() += 1;
        }
    }
    let mut counts: Vec<usize> = freq.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    assert!(counts.len() > 3_000, "{} distinct words", counts.len());
    assert!(counts[0] > 10 * counts[99], "top {} vs 100th {}", counts[0], counts[99]);
    assert!(counts[9] > 20 * counts[999], "10th {} vs 1000th {}", counts[9], counts[999]);
    // A long tail: many words seen in under 0.01 % of captions.
    let rare = counts.iter().filter(|&&c| c < 10).count();
    assert!(rare > 500, "{rare} rare words");
    lengths.sort_unstable();
    let median = lengths[lengths.len() / 2];
    assert!((7..=11).contains(&median), "median caption {median} words");
    assert!(*lengths.last().unwrap_or(&0) >= 45);
}

fn has(c: &str, lo: char, hi: char) -> bool {
    c.chars().any(|ch| (lo..=hi).contains(&ch))
}

#[test]
fn laion5b_language_column_matches_the_caption() {
    let (batches, _, _) = rows(SynthSchema::Laion5b, 60_000, 3);
    let langs = strings(&batches, "LANGUAGE");
    let captions = strings(&batches, "TEXT");
    let mut counts: HashMap<Option<&str>, usize> = HashMap::new();
    for (l, c) in langs.iter().zip(&captions) {
        *counts.entry(l.as_deref()).or_default() += 1;
        let Some(c) = c else { continue };
        match l.as_deref() {
            Some("ja") => assert!(has(c, '\u{3040}', '\u{30FF}') || has(c, '\u{4E00}', '\u{9FFF}'), "ja: {c}"),
            Some("zh") => assert!(has(c, '\u{4E00}', '\u{9FFF}'), "zh: {c}"),
            Some("ru") => assert!(has(c, '\u{0400}', '\u{04FF}'), "ru: {c}"),
            _ => {}
        }
    }
    let en = counts[&Some("en")] as f64 / 60_000.0;
    assert!((0.40..0.55).contains(&en), "en share {en}");
    for code in ["de", "fr", "es", "ru", "ja", "zh", "it", "pt", "nl", "pl", ""] {
        assert!(counts.get(&Some(code)).copied().unwrap_or(0) > 300, "{code}: {counts:?}");
    }
    assert!(counts.get(&None).copied().unwrap_or(0) > 500, "null LANGUAGE");
}

#[test]
fn injected_mentions_match_and_decoys_do_not() {
    let (batches, marks, shared) = rows(SynthSchema::LaionAesthetics, 100_000, 5);
    let captions = strings(&batches, "TEXT");
    let n = captions.len() as f64;
    let mut mentions = [0usize; 2];
    let mut decoys = HashMap::new();
    let mut checked = 0;
    for (i, (m, c)) in marks.iter().zip(&captions).enumerate() {
        let c = c.as_deref().unwrap_or("");
        for (list, e) in m.mention.iter().enumerate() {
            if let Some(e) = e {
                mentions[list] += 1;
                // Every fifth, to keep the slow reference matcher's bill small.
                if i % 5 == 0 {
                    let entity = &shared.names.sources[list].list.entities[*e as usize];
                    assert!(entity.aliases.iter().any(|a| alias_matches(a, c, false)), "{}: {c}", entity.name);
                    checked += 1;
                }
            }
        }
        if let Some(d) = m.decoy {
            *decoys.entry(d.kind).or_insert(0) += 1;
            let entity = &shared.names.sources[d.list].list.entities[d.entity as usize];
            for a in &entity.aliases {
                assert!(!alias_matches(a, c, false) && !alias_matches(a, c, true), "{a} in decoy {c}");
            }
        }
    }
    assert!(checked > 400, "{checked}");
    let artist_share = mentions[0] as f64 / n;
    let character_share = mentions[1] as f64 / n;
    assert!((0.017..0.024).contains(&artist_share), "artists {artist_share}");
    assert!((0.008..0.013).contains(&character_share), "characters {character_share}");
    assert_eq!(decoys.len(), crate::DecoyKind::ALL.len(), "{decoys:?}");
    assert!(decoys.values().sum::<usize>() > 200, "{decoys:?}");

    // Popularity: the top artist takes a large share, as in real data.
    let mut per_entity: HashMap<u32, usize> = HashMap::new();
    for m in &marks {
        if let Some(e) = m.mention[0] {
            *per_entity.entry(e).or_default() += 1;
        }
    }
    let top = per_entity.values().max().copied().unwrap_or(0) as f64 / mentions[0] as f64;
    assert!((0.05..0.25).contains(&top), "top artist share {top}");
    let rutkowski = shared.names.sources[0].list.find("Greg Rutkowski").map(|e| e.line);
    if let Some(line) = rutkowski {
        let idx = shared.names.sources[0].list.entities.iter().position(|e| e.line == line).unwrap_or(0) as u32;
        assert_eq!(per_entity.iter().max_by_key(|(_, n)| **n).map(|(e, _)| *e), Some(idx), "Greg Rutkowski leads");
    }
}

#[test]
fn datacomp_face_boxes_and_ids() {
    let (batches, _, _) = rows(SynthSchema::Datacomp, 5_000, 1);
    let uids = strings(&batches, "uid");
    let shas = strings(&batches, "sha256");
    assert!(uids.iter().flatten().all(|u| u.len() == 32 && u.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(shas.iter().flatten().all(|u| u.len() == 64 && u.bytes().all(|b| b.is_ascii_hexdigit())));
    let faces = batches[0].column_by_name("face_bboxes").unwrap_or_else(|| panic!("face_bboxes")).as_list::<i32>();
    let with_faces = (0..faces.len()).filter(|&i| !faces.value(i).is_empty()).count();
    assert!(with_faces > 500 && with_faces < 2_000, "{with_faces}");
    for i in 0..faces.len() {
        let boxes = faces.value(i);
        let boxes = boxes.as_list::<i32>();
        for b in 0..boxes.len() {
            let v = boxes.value(b);
            let v = v.as_primitive::<Float64Type>();
            assert_eq!(v.len(), 4);
            assert!(v.values().iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }
}
