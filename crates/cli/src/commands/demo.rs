//! `pairscope demo`: the README's first command. Synthesises a LAION-like set once, ingests
//! it, shows the dataset and a sample search.

use anyhow::Result;
use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::ExitStatus;
use pairscope_store::Dataset;
use pairscope_synth::{SynthOptions, SynthSchema, generate};

use crate::args::{DemoArgs, Format, FormatArgs, GlobalArgs, InfoArgs};
use crate::commands::mentions::MentionsArgs;
use crate::commands::search::{SearchArgs, SelectionArgs};
use crate::commands::serve::ServeArgs;
use crate::commands::synth::default_threads;
use crate::output::print_text;
use crate::progress::Bar;

pub fn run(args: &DemoArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    let dataset = args.dir.join("dataset");
    // A demo made by an older pairscope (without full-text indexes, or with another index
    // format) is made again.
    let usable = Dataset::open(&dataset).is_ok_and(|d| {
        d.manifest()
            .sources
            .iter()
            .all(|s| s.index_format == pairscope_index::INDEX_FORMAT && s.files.iter().all(|f| f.index.is_some()))
    });
    if !usable {
        if dataset.exists() {
            std::fs::remove_dir_all(&dataset)?;
        }
        let synth_dir = args.dir.join("synth");
        let options = SynthOptions {
            rows: args.rows,
            seed: 42,
            schema: SynthSchema::LaionAesthetics,
            rows_per_shard: 100_000,
            threads: default_threads(),
        };
        eprintln!(
            "making the demo dataset: {} synthetic LAION-Aesthetics-like rows in {}",
            args.rows,
            args.dir.display()
        );
        let bar = Bar::new(global, "synth");
        generate(&options, &synth_dir, &|rows| pairscope_model::Progress::advance(&bar, rows, 0))?;
        bar.finish();
        let bar = Bar::new(global, "ingest");
        // LAION-Aesthetics files carry no language column; their captions are English.
        let ingest_options = IngestOptions {
            constants: [("language".to_string(), "en".to_string())].into(),
            ..IngestOptions::default()
        };
        let report = ingest(&dataset, &[synth_dir.display().to_string()], &ingest_options, &bar)?;
        bar.finish();
        eprintln!("ingested {} rows", report.rows_added());
    }
    let images = args.dir.join("images");
    demo_images(&Dataset::open(&dataset)?, &images)?;
    let output = FormatArgs { format: Format::Table, json: false };
    crate::commands::info::run(&InfoArgs { dataset: dataset.clone(), output: output.clone() }, global)?;
    let query = "\"thomas kinkade\"";
    print_text(&format!(
        "\n$ pairscope search --dataset {} '{query}' --sort aesthetic --limit 5\n",
        dataset.display()
    ))?;
    let selection = SelectionArgs {
        dataset: dataset.clone(),
        query: Some(query.to_string()),
        filter: None,
        url: None,
        fold_accents: false,
        mention: None,
        names: Vec::new(),
        timeout: None,
    };
    let search = SearchArgs {
        selection,
        sort: "aesthetic".into(),
        asc: false,
        desc: true,
        limit: 5,
        after: None,
        no_total: false,
        output: output.clone(),
    };
    crate::commands::search::run_search(&search, global)?;

    let lists = ["builtin:characters".to_string(), "builtin:artists".to_string()];
    print_text(&format!(
        "\n$ pairscope mentions --dataset {} --names {} --names {} --top 15\n",
        dataset.display(),
        lists[0],
        lists[1]
    ))?;
    let mentions = MentionsArgs {
        dataset: dataset.clone(),
        names: lists.to_vec(),
        filter: None,
        by: None,
        top: Some(15),
        fold_accents: false,
        dedup: None,
        scan: false,
        no_cache: false,
        timeout: 0.0,
        output,
    };
    crate::commands::mentions::run(&mentions, global)?;
    if args.no_serve {
        return Ok(ExitStatus::Clean);
    }
    print_text(&format!(
        "\n$ pairscope serve --dataset {} --images {} --bind {}\n",
        dataset.display(),
        images.display(),
        args.bind
    ))?;
    let serve = ServeArgs {
        dataset,
        bind: args.bind,
        allow_remote: false,
        allowed_host: Vec::new(),
        no_remote_images: false,
        images: Some(images),
        unsafe_threshold: pairscope_model::safety::DEFAULT_UNSAFE_THRESHOLD,
        max_concurrent: None,
        max_queued: pairscope_server::DEFAULT_MAX_QUEUED,
        timeout: 10.0,
        facet_timeout: 0.5,
        facet_cache: pairscope_server::DEFAULT_FACET_CACHE,
        export_cap: pairscope_server::DEFAULT_EXPORT_CAP,
        removal: Default::default(),
    };
    crate::commands::serve::run(&serve, global)
}

/// Rows of the demo given an image: the first of the dataset, in row-id order (the rows the
/// first pages show).
const DEMO_IMAGES: usize = 2000;

/// A fetch output in `dir` as `pairscope fetch` writes it, for the demo's first rows, with
/// images generated here (the demo's URLs are made up, and the demo never uses the network):
/// each a PNG of a colour field derived from its row id, put through the same decoding, resizing
/// and hashing as a fetched one. Made once.
fn demo_images(dataset: &Dataset, dir: &std::path::Path) -> Result<()> {
    use pairscope_fetch::shard::{OutputFormat, Sample, ShardWriter, is_finished, sample_key};
    if is_finished(dir, 0) {
        return Ok(());
    }
    let Some(first) = dataset.data_files_by_row_id().into_iter().next() else { return Ok(()) };
    let input = pairscope_fetch::Input::open(&[first])?;
    let mut rows = Vec::with_capacity(DEMO_IMAGES);
    input.read(&|_| false, &mut |_, row| {
        rows.push(row);
        rows.len() < DEMO_IMAGES
    })?;
    let writer = ShardWriter::open(dir, 0)?;
    let mut keys = Vec::with_capacity(rows.len());
    for (index, row) in rows.into_iter().enumerate() {
        let key = sample_key(0, index as u64, DEMO_IMAGES as u64);
        let seed = row.row_id.unwrap_or_default().unsigned_abs();
        let png = demo_png(seed)?;
        let processed = pairscope_images::process(&png, &Default::default(), &Default::default())
            .map_err(|e| anyhow::anyhow!("a generated demo image: {e}"))?;
        let digests = &processed.inspected.digests;
        writer.put(&Sample {
            key: key.clone(),
            url: row.url.unwrap_or_default(),
            caption: row.caption,
            status: "ok".into(),
            error_message: String::new(),
            width: Some(processed.width),
            height: Some(processed.height),
            original_width: Some(processed.inspected.width),
            original_height: Some(processed.inspected.height),
            md5: Some(digests.md5.clone()),
            sha1: Some(digests.sha1.clone()),
            sha256: Some(digests.sha256.clone()),
            row_id: row.row_id,
            image: Some(processed.jpeg),
        })?;
        keys.push(key);
    }
    writer.finish(&keys, OutputFormat::Webdataset)?;
    Ok(())
}

/// A 320×240 PNG: two colours from `seed`, blended diagonally.
fn demo_png(seed: u64) -> Result<Vec<u8>> {
    let hash = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let [r0, g0, b0, r1, g1, b1, ..] = hash.to_le_bytes();
    let pixels = image::RgbImage::from_fn(320, 240, |x, y| {
        let t = (x + y) as f32 / (320.0 + 240.0);
        let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
        image::Rgb([mix(r0, r1), mix(g0, g1), mix(b0, b1)])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(pixels).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}
