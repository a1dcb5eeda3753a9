use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{StringArray, UInt64Array};
use pairscope_ingest::{EmbeddingOptions, IngestOptions, IngestReport, ingest, ingest_embeddings, ingest_fetched};
use pairscope_model::ExitStatus;
use serde_json::json;

use crate::args::{GlobalArgs, IngestArgs, key_values};
use crate::commands::synth::default_threads;
use crate::output::{print_document, table};
use crate::progress::Bar;

pub fn run(args: &IngestArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    if let Some(fetched) = &args.fetched {
        return run_fetched(args, fetched, global);
    }
    if let Some(embeddings) = &args.embeddings {
        return run_embeddings(args, embeddings, global);
    }
    let options = IngestOptions {
        overrides: key_values("--map", &args.maps)?,
        constants: key_values("--set", &args.sets)?,
        max_caption_bytes: args.max_caption_bytes,
        skip_bad: args.skip_bad,
        threads: args.threads.unwrap_or_else(default_threads),
        strict: args.strict,
    };
    let bar = Bar::new(global, "ingest");
    let started = std::time::Instant::now();
    let result = ingest(&args.dataset, &args.sources, &options, &bar);
    bar.finish();
    let report = result?;
    let seconds = started.elapsed().as_secs_f64();
    let document = json!({
        "dataset": args.dataset.display().to_string(),
        "version_before": report.version_before,
        "version": report.version,
        "sources_added": report.added.iter().map(|s| json!({"id": s.id, "path": s.path, "rows": s.rows, "skipped_rows": s.skipped_rows, "nulled_values": s.nulled_values, "truncated_captions": s.truncated_captions})).collect::<Vec<_>>(),
        "already_present": report.already_present.iter().map(|(p, id)| json!({"path": p.display().to_string(), "id": id})).collect::<Vec<_>>(),
        "bad_files": report.bad_files.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        "rows_added": report.rows_added(),
        "rows_skipped": report.rows_skipped(),
        "nulled_values": report.nulled_values(),
        "truncated_captions": report.truncated_captions(),
        "seconds": seconds,
    });
    print_document(
        args.output.format(),
        &document,
        || human(&report, seconds),
        || {
            table(vec![
                ("id", Arc::new(StringArray::from_iter_values(report.added.iter().map(|s| s.id.clone())))),
                ("path", Arc::new(StringArray::from_iter_values(report.added.iter().map(|s| s.path.clone())))),
                ("rows", Arc::new(UInt64Array::from_iter_values(report.added.iter().map(|s| s.rows)))),
                ("skipped_rows", Arc::new(UInt64Array::from_iter_values(report.added.iter().map(|s| s.skipped())))),
            ])
        },
    )?;
    for bad in &report.bad_files {
        tracing::warn!("skipped {bad}");
    }
    Ok(ExitStatus::completed(report.skipped_inputs()))
}

fn human(report: &IngestReport, seconds: f64) -> String {
    let mut s = String::new();
    let rows = report.rows_added();
    if report.added.is_empty() {
        let _ = writeln!(s, "nothing new: dataset stays at version {}", report.version);
    } else {
        let _ = writeln!(
            s,
            "added {} source(s), {rows} rows: dataset version {} → {} ({seconds:.1} s, {:.0} rows/s)",
            report.added.len(),
            report.version_before,
            report.version,
            rows as f64 / seconds.max(1e-9)
        );
    }
    if !report.already_present.is_empty() {
        let _ = writeln!(s, "already in the dataset (same content): {} file(s)", report.already_present.len());
    }
    for (reason, n) in report.rows_skipped() {
        let _ = writeln!(s, "skipped rows, {reason}: {n}");
    }
    for (reason, n) in report.nulled_values() {
        let _ = writeln!(s, "values stored as null, {reason}: {n}");
    }
    if report.truncated_captions() > 0 {
        let _ = writeln!(s, "captions cut to --max-caption-bytes: {}", report.truncated_captions());
    }
    if !report.bad_files.is_empty() {
        let _ = writeln!(s, "skipped files: {}", report.bad_files.len());
        for bad in &report.bad_files {
            let _ = writeln!(s, "  {bad}");
        }
    }
    s
}

/// `ingest --fetched DIR`.
fn run_fetched(args: &IngestArgs, fetched: &std::path::Path, global: &GlobalArgs) -> Result<ExitStatus> {
    let bar = Bar::new(global, "ingest --fetched");
    let result = ingest_fetched(&args.dataset, fetched, &bar);
    bar.finish();
    let report = result?;
    let document = json!({
        "dataset": args.dataset.display().to_string(),
        "fetched": fetched.display().to_string(),
        "version_before": report.version_before,
        "version": report.version,
        "shards": report.shards,
        "unfinished_shards": report.unfinished_shards,
        "rows_read": report.rows_read,
        "rows_matched": report.rows_matched,
        "rows_ok": report.rows_ok,
        "rows_not_in_version": report.rows_not_in_version,
        "duplicate_rows": report.duplicate_rows,
        "filled": report.filled,
        "blocks_written": report.blocks_written,
    });
    let mut text = String::new();
    if report.version == report.version_before {
        let _ = writeln!(text, "nothing new: dataset stays at version {}", report.version);
    } else {
        let _ = writeln!(
            text,
            "took {} fetched rows ({} ok) into {} block(s): dataset version {} → {}",
            report.rows_matched, report.rows_ok, report.blocks_written, report.version_before, report.version
        );
    }
    for (column, rows) in &report.filled {
        let _ = writeln!(text, "{column} filled from the measurement: {rows} rows");
    }
    if report.rows_not_in_version > 0 {
        let _ =
            writeln!(text, "rows whose row id this version does not have (left out): {}", report.rows_not_in_version);
    }
    if report.duplicate_rows > 0 {
        let _ =
            writeln!(text, "rows fetched more than once (the ok one, else the last, kept): {}", report.duplicate_rows);
    }
    if report.unfinished_shards > 0 {
        let _ = writeln!(
            text,
            "unfinished shards (not read; finish the fetch with the same command, then ingest again): {}",
            report.unfinished_shards
        );
    }
    print_document(
        args.output.format(),
        &document,
        || text,
        || {
            let filled = &report.filled;
            table(vec![
                ("column", Arc::new(StringArray::from_iter_values(filled.keys().cloned()))),
                ("rows_filled", Arc::new(UInt64Array::from_iter_values(filled.values().copied()))),
            ])
        },
    )?;
    Ok(ExitStatus::Clean)
}

/// Starts this process again, same arguments, same process id, with the environment faiss's
/// libraries train fastest in (`pairscope_ann::runtime`) when it lacks some of it. Returns when
/// it has it all, or when the restart failed (then it carries on as it is, slower).
fn restart_with_training_environment() {
    let missing = pairscope_ann::runtime::missing_environment();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    tracing::info!(?missing, "starting again with the environment training runs fastest in");
    let mut command = std::process::Command::new(exe);
    command.args(std::env::args_os().skip(1)).envs(missing.iter().copied());
    // The variables are set after this, so the new process does not start again.
    let error = std::os::unix::process::CommandExt::exec(&mut command);
    tracing::warn!("could not start again with {missing:?} ({error}): training runs as it is");
}

/// `ingest --embeddings DIR`.
fn run_embeddings(args: &IngestArgs, dir: &std::path::Path, global: &GlobalArgs) -> Result<ExitStatus> {
    restart_with_training_environment();
    let options = EmbeddingOptions {
        kind: args.kind.clone(),
        model: args.model.clone(),
        skip_bad: args.skip_bad,
        ..EmbeddingOptions::default()
    };
    let bar = Bar::new(global, "ingest --embeddings");
    let result = ingest_embeddings(&args.dataset, dir, &options, &bar);
    bar.finish();
    let report = result?;
    let document = json!({
        "dataset": args.dataset.display().to_string(),
        "embeddings": dir.display().to_string(),
        "version_before": report.version_before,
        "version": report.version,
        "kind": report.kind,
        "model": report.model,
        "dim": report.dim,
        "join_key": report.join_key,
        "inputs": report.inputs,
        "vectors_read": report.vectors_read,
        "rows_matched": report.rows_matched,
        "rows_without_vector": report.rows_without_vector,
        "rows_without_vector_examples": report.rows_without_vector_examples,
        "vectors_without_row": report.vectors_without_row,
        "vectors_without_row_examples": report.vectors_without_row_examples,
        "duplicate_vectors": report.duplicate_vectors,
        "bad_vectors": report.bad_vectors,
        "blocks_written": report.blocks_written,
        "index": report.indexed.as_ref().map(|work| json!({
            "factory": work.factory,
            "trained_on": work.trained_on,
            "train_seconds": work.train_seconds,
            "blocks_encoded": work.blocks_encoded,
            "vectors_encoded": work.vectors_encoded,
            "encode_seconds": work.encode_seconds,
        })),
    });
    let mut text = String::new();
    if report.version == report.version_before {
        let _ = writeln!(text, "no row's vector changed: dataset stays at version {}", report.version);
    } else {
        let _ = writeln!(
            text,
            "attached {} {}-dimensional {} vectors ({}, by {}) to rows of {} block(s): dataset version {} → {}",
            report.rows_matched,
            report.dim,
            report.kind,
            report.model,
            report.join_key,
            report.blocks_written,
            report.version_before,
            report.version
        );
    }
    let _ = writeln!(text, "vectors read from {} input(s): {}", report.inputs, report.vectors_read);
    let _ = writeln!(text, "rows without a {} vector: {}", report.kind, report.rows_without_vector);
    if !report.rows_without_vector_examples.is_empty() {
        let ids: Vec<String> = report.rows_without_vector_examples.iter().map(i64::to_string).collect();
        let _ = writeln!(text, "  first row ids: {}", ids.join(", "));
    }
    if report.vectors_without_row > 0 {
        let _ = writeln!(text, "vectors whose key no row has (left out): {}", report.vectors_without_row);
        let _ = writeln!(text, "  first: {}", report.vectors_without_row_examples.join("; "));
    }
    if report.duplicate_vectors > 0 {
        let _ = writeln!(
            text,
            "vectors for a row an earlier vector already had (the first in input order kept): {}",
            report.duplicate_vectors
        );
    }
    for (reason, count) in &report.bad_vectors {
        let _ = writeln!(text, "vectors skipped (--skip-bad), {reason}: {count}");
    }
    if let Some(work) = &report.indexed {
        let trained = match work.trained_on {
            Some(sample) => format!("trained on {sample} vectors in {:.1} s", work.train_seconds),
            None => "the dataset's model kept".to_string(),
        };
        let _ = writeln!(
            text,
            "index {}: {trained}; {} vectors of {} block(s) encoded in {:.1} s",
            work.factory, work.vectors_encoded, work.blocks_encoded, work.encode_seconds
        );
    }
    print_document(
        args.output.format(),
        &document,
        || text,
        || {
            let bad = &report.bad_vectors;
            table(vec![
                ("reason", Arc::new(StringArray::from_iter_values(bad.keys().cloned()))),
                ("vectors_skipped", Arc::new(UInt64Array::from_iter_values(bad.values().copied()))),
            ])
        },
    )?;
    Ok(if report.bad_vectors.is_empty() { ExitStatus::Clean } else { ExitStatus::CompletedWithSkips })
}
