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
        timeout: 30.0,
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
        no_cache: false,
        timeout: 0.0,
        output,
    };
    crate::commands::mentions::run(&mentions, global)?;
    if args.no_serve {
        return Ok(ExitStatus::Clean);
    }
    print_text(&format!("\n$ pairscope serve --dataset {} --bind {}\n", dataset.display(), args.bind))?;
    let serve = ServeArgs {
        dataset,
        bind: args.bind,
        allow_remote: false,
        allowed_host: Vec::new(),
        no_remote_images: false,
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
