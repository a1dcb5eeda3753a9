//! The benchmark driver (`bench/run`, `bench/paired.py`): what the benchmarks time in one warm
//! process through the library API, kept out of the user's binary. Built with the workspace's
//! tests (`cargo test --release --workspace --no-run` builds every example) as
//! `$CARGO_TARGET_DIR/release/examples/bench_driver`.
//!
//! - `queries -d DS --queries bench/queries.json [--runs N]`: each query's latencies and
//!   result as JSON, the shape the benchmark's peers print (`bench/peers/query_*.py`);
//! - `read-captions -d DS`: reads every caption the way `mentions` does, matching nothing, and
//!   prints rows, bytes and seconds as JSON: the floor a count's speed is compared with;
//! - `similar -d DS --queries Q.npy [--where EXPR] [--k 10] [--exact]`: every query of the matrix
//!   once on one thread (its latency, row ids and work), then all of them as one batch
//!   (`Engine::similar_batch`) on `--batch-threads` threads (throughput; and how many queries
//!   the batch answered with the same rows as the single call), as JSON: what
//!   `bench/vectors.py` sets beside faiss's one-query and batch timings.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark driver: fails loudly")]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use pairscope_model::NoProgress;
use pairscope_query::{
    Engine, Facet, FacetBy, Limits, SearchRequest, Selection, SimilarBatchRequest, SimilarRequest, SimilarTo, SortBy,
};
use pairscope_store::Dataset;
use pairscope_vectors::npy::NpyMatrix;
use serde_json::{Value, json};

#[derive(Parser)]
struct Driver {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time bench/queries.json through the library API.
    Queries(QueriesArgs),
    /// Read every caption as mentions does, matching nothing.
    ReadCaptions {
        /// The dataset.
        #[arg(long, short = 'd')]
        dataset: PathBuf,
    },
    /// Time similarity queries, one at a time and as a batch.
    Similar(SimilarArgs),
}

#[derive(Args)]
struct SimilarArgs {
    /// The dataset.
    #[arg(long, short = 'd')]
    dataset: PathBuf,
    /// The queries: an N × D float16/float32 .npy matrix.
    #[arg(long)]
    queries: PathBuf,
    /// A filter on the rows that may be returned.
    #[arg(long = "where")]
    filter: Option<String>,
    /// Rows per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Threads of the batch run.
    #[arg(long, default_value_t = 2)]
    batch_threads: usize,
    /// Score every kept row (the cost the index is weighed against).
    #[arg(long)]
    exact: bool,
}

#[derive(Args)]
struct QueriesArgs {
    /// The dataset.
    #[arg(long, short = 'd')]
    dataset: PathBuf,
    /// The query set (bench/queries.json).
    #[arg(long)]
    queries: PathBuf,
    /// Timed runs per query, after one untimed warm-up run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn main() -> Result<()> {
    match Driver::parse().command {
        Command::Queries(args) => queries(&args),
        Command::ReadCaptions { dataset } => read_captions(&dataset),
        Command::Similar(args) => similar(&args),
    }
}

fn similar(args: &SimilarArgs) -> Result<()> {
    let matrix = NpyMatrix::open(&args.queries)?;
    let mut flat = Vec::new();
    matrix.read_rows(0, matrix.rows() as usize, &mut flat)?;
    let queries: Vec<&[f32]> = flat.chunks_exact(matrix.dim()).collect();
    let engine = Engine::open(Dataset::open(&args.dataset)?)?.with_threads(1);
    let limits = Limits::default();
    let request = |query: &[f32]| SimilarRequest {
        kind: "image".into(),
        to: SimilarTo::Vector(query.to_vec()),
        selection: Selection { filter: args.filter.clone(), ..Selection::default() },
        k: args.k,
        exact: args.exact,
    };
    // Warm: the vector set opened and its pages touched once, as a server's would be.
    engine.similar(&request(queries[0]), &limits)?;
    let mut calls = Vec::with_capacity(queries.len());
    for query in &queries {
        let started = Instant::now();
        let page = engine.similar(&request(query), &limits)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        calls.push(json!({
            "ms": ms,
            "rows": page.hits.iter().map(|h| h.hit.row_id).collect::<Vec<_>>(),
            "kept_rows": page.kept_rows,
            "scored_approximately": page.scored_approximately,
            "scored_exactly": page.scored_exactly,
        }));
    }
    let batch = SimilarBatchRequest {
        kind: "image".into(),
        vectors: queries.iter().map(|q| q.to_vec()).collect(),
        selection: Selection { filter: args.filter.clone(), ..Selection::default() },
        k: args.k,
        exact: args.exact,
    };
    let engine = engine.with_threads(args.batch_threads);
    let started = Instant::now();
    let answered = engine.similar_batch(&batch, &limits)?;
    let batch_seconds = started.elapsed().as_secs_f64();
    // The batch's coarse scores are a matrix product's, rounded otherwise than one query's.
    let batch_agrees = answered
        .iter()
        .zip(&calls)
        .filter(|(found, call)| {
            found.iter().map(|n| n.row_id).collect::<Vec<_>>()
                == call["rows"].as_array().unwrap().iter().map(|r| r.as_i64().unwrap()).collect::<Vec<_>>()
        })
        .count();
    println!(
        "{}",
        json!({ "calls": calls, "batch_threads": args.batch_threads, "batch_queries": answered.len(), "batch_seconds": batch_seconds, "batch_agrees": batch_agrees })
    );
    Ok(())
}

fn read_captions(dataset: &std::path::Path) -> Result<()> {
    let dataset = Dataset::open(dataset)?;
    let started = Instant::now();
    let (rows, bytes) = pairscope_mentions::read_captions(&dataset, &NoProgress)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", json!({ "rows": rows, "caption_bytes": bytes, "seconds": seconds }));
    Ok(())
}

fn queries(args: &QueriesArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.queries).with_context(|| format!("reading {}", args.queries.display()))?;
    let set: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", args.queries.display()))?;
    let queries = set["queries"].as_array().context("the query set has no \"queries\" list")?;
    let engine = Engine::open(Dataset::open(&args.dataset)?)?;
    let limits = Limits::default();
    let mut out = Vec::new();
    for q in queries {
        let name = q["name"].as_str().unwrap_or("?").to_string();
        let call = Call::from_json(q).with_context(|| format!("query {name:?}"))?;
        call.run(&engine, &limits).with_context(|| format!("query {name:?}"))?;
        let mut times = Vec::with_capacity(args.runs);
        let mut result = Value::Null;
        for _ in 0..args.runs.max(1) {
            let started = Instant::now();
            result = call.run(&engine, &limits)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        // A search's page is timed as the peers time theirs, without its total; what a page
        // with its total costs (the server's search page) is reported beside it.
        let mut with_total = Vec::new();
        if let Call::Search(request) = &call {
            result = json!(engine.count(&request.selection, &limits)?);
            let counting = SearchRequest { count_total: true, ..request.clone() };
            for _ in 0..args.runs.max(1) {
                let started = Instant::now();
                engine.search(&counting, &limits)?;
                with_total.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            with_total.sort_by(f64::total_cmp);
        }
        times.sort_by(f64::total_cmp);
        out.push(json!({
            "name": name,
            "p50_with_total_ms": with_total.get(with_total.len() / 2),
            "p50_ms": times[times.len() / 2],
            "min_ms": times[0],
            "max_ms": times[times.len() - 1],
            "runs": times.len(),
            "result": result,
        }));
    }
    println!("{}", serde_json::to_string(&json!({ "queries": out }))?);
    Ok(())
}

enum Call {
    Search(SearchRequest),
    Count(Selection),
    Facets(Selection, FacetBy),
}

impl Call {
    fn from_json(q: &Value) -> Result<Call> {
        let text = |key: &str| q[key].as_str().map(str::to_string);
        let selection =
            Selection { query: text("query"), filter: text("where"), url: text("url"), ..Selection::default() };
        Ok(match q["kind"].as_str() {
            Some("search") => Call::Search(SearchRequest {
                selection,
                sort: SortBy::parse(q["sort"].as_str().unwrap_or("relevance")).context("unknown sort")?,
                descending: q["desc"].as_bool().unwrap_or(true),
                limit: q["limit"].as_u64().unwrap_or(50) as usize,
                // As the peers time it: the page; the total is counted apart, untimed.
                count_total: false,
                after: None,
            }),
            Some("count") => Call::Count(selection),
            Some("facets") => {
                let column = q["by"].as_str().context("a facet needs \"by\"")?;
                let range = q["lo"].as_f64().zip(q["hi"].as_f64());
                let top = q["top"].as_u64().unwrap_or(20) as usize;
                let buckets = q["buckets"].as_u64().unwrap_or(20) as usize;
                Call::Facets(selection, FacetBy::for_column(column, top, buckets, range)?)
            }
            other => bail!("unknown kind {other:?}"),
        })
    }

    /// Runs the call; the result is the row count, or the facet list as the peers print it
    /// (a search's total is counted after the timed runs).
    fn run(&self, engine: &Engine, limits: &Limits) -> Result<Value> {
        Ok(match self {
            // The check value, the total, is counted apart (untimed), as the peers do.
            Call::Search(request) => json!(engine.search(request, limits)?.hits.len()),
            Call::Count(selection) => json!(engine.count(selection, limits)?),
            Call::Facets(selection, by) => match engine.facets(selection, by, limits)? {
                Facet::Terms { values, .. } => {
                    Value::Array(values.into_iter().map(|t| json!({"value": t.value, "count": t.rows})).collect())
                }
                Facet::Histogram { buckets, null: nulls, .. } => {
                    let mut list: Vec<Value> =
                        buckets.into_iter().map(|b| json!({"value": b.lo, "count": b.count})).collect();
                    list.push(json!({"value": Value::Null, "count": nulls}));
                    Value::Array(list)
                }
            },
        })
    }
}
