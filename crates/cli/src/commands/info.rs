use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{StringArray, UInt64Array};
use pairscope_model::{CANONICAL_COLUMNS, ExitStatus};
use pairscope_store::Dataset;
use serde_json::json;

use crate::args::{GlobalArgs, InfoArgs};
use crate::output::{print_document, table};

pub fn run(args: &InfoArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    let dataset = Dataset::open(&args.dataset)?;
    let manifest = dataset.manifest();
    let size = dataset.size_on_disk();
    let mut extras: Vec<(String, String)> = manifest
        .sources
        .iter()
        .flat_map(|s| s.extra_columns.iter().map(|e| (e.name.clone(), e.data_type.clone())))
        .collect();
    extras.sort();
    extras.dedup();
    let document = json!({
        "dataset": args.dataset.display().to_string(),
        "version": manifest.version,
        "committed_at": manifest.committed_at,
        "rows": manifest.rows(),
        "size_on_disk_bytes": size,
        "data_bytes": manifest.data_bytes(),
        "pairscope_version": manifest.pairscope_version,
        "psl_version": manifest.psl_version,
        "columns": CANONICAL_COLUMNS.iter().map(|c| json!({"name": c.name, "type": c.kind.data_type().to_string(), "doc": c.doc})).collect::<Vec<_>>(),
        "extra_columns": extras.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
        "sources": manifest.sources.iter().map(|s| json!({
            "id": s.id,
            "path": s.path,
            "bytes": s.bytes,
            "input_rows": s.input_rows,
            "rows": s.rows,
            "skipped_rows": s.skipped_rows,
            "nulled_values": s.nulled_values,
            "case_collisions": s.case_collisions().iter().map(|group| group.iter().map(|(from, to)| json!({"source": from, "stored_as": to})).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "truncated_captions": s.truncated_captions,
            "ingested_at": s.ingested_at,
            "constants": s.settings.constants,
            "overrides": s.settings.overrides,
            "max_caption_bytes": s.settings.max_caption_bytes,
            "mapping": s.mapping,
            "extra_columns": s.extra_columns.iter().map(|e| &e.name).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    print_document(
        args.output.format(),
        &document,
        || {
            let mut s = String::new();
            let _ = writeln!(s, "dataset     {}", args.dataset.display());
            let _ = writeln!(s, "version     {} (committed {})", manifest.version, manifest.committed_at);
            let _ = writeln!(s, "rows        {}", manifest.rows());
            let _ = writeln!(s, "sources     {}", manifest.sources.len());
            let _ =
                writeln!(s, "on disk     {} ({} in data files)", human_bytes(size), human_bytes(manifest.data_bytes()));
            let _ = writeln!(s, "PSL         psl crate {}", manifest.psl_version);
            if !extras.is_empty() {
                let names: Vec<_> = extras.iter().map(|(n, t)| format!("{n} ({t})")).collect();
                let _ = writeln!(s, "extra cols  {}", names.join(", "));
            }
            for source in &manifest.sources {
                let _ = writeln!(s, "\nsource {} ({})", source.short_id(), source.path);
                let _ = writeln!(
                    s,
                    "  rows {} of {} (skipped {}), ingested {}",
                    source.rows,
                    source.input_rows,
                    source.skipped(),
                    source.ingested_at
                );
                for (reason, n) in &source.skipped_rows {
                    let _ = writeln!(s, "  skipped, {reason}: {n}");
                }
                for (reason, n) in &source.nulled_values {
                    let _ = writeln!(s, "  stored as null, {reason}: {n}");
                }
                for group in source.case_collisions() {
                    let names: Vec<_> = group.iter().map(|(from, to)| format!("{from}→{to}")).collect();
                    let _ = writeln!(s, "  columns differing only in case: {}", names.join(", "));
                }
                if source.truncated_captions > 0 {
                    let _ = writeln!(
                        s,
                        "  captions cut at {} bytes: {}",
                        source.settings.max_caption_bytes, source.truncated_captions
                    );
                }
                for (k, v) in &source.settings.constants {
                    let _ = writeln!(s, "  constant {k} = {v:?} (--set)");
                }
                let mapping: Vec<_> = source.mapping.iter().map(|(c, from)| format!("{c}←{from}")).collect();
                let _ = writeln!(s, "  mapping {}", mapping.join(", "));
            }
            s
        },
        || sources_table(&dataset),
    )?;
    Ok(ExitStatus::Clean)
}

pub fn sources_table(dataset: &Dataset) -> arrow::array::RecordBatch {
    let sources = &dataset.manifest().sources;
    table(vec![
        ("id", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.id.clone())))),
        ("path", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.path.clone())))),
        ("rows", Arc::new(UInt64Array::from_iter_values(sources.iter().map(|s| s.rows)))),
        ("skipped_rows", Arc::new(UInt64Array::from_iter_values(sources.iter().map(|s| s.skipped())))),
        ("ingested_at", Arc::new(StringArray::from_iter_values(sources.iter().map(|s| s.ingested_at.clone())))),
        (
            "constants",
            Arc::new(StringArray::from_iter_values(
                sources.iter().map(|s| {
                    s.settings.constants.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
                }),
            )),
        ),
    ])
}

pub fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
