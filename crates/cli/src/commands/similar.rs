//! `similar`: the rows whose embedding is nearest a row's, or a given vector's, among those a
//! selection keeps (`pairscope-query`'s [`Engine::similar`](pairscope_query::Engine::similar)).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, Float32Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Args;
use pairscope_model::ExitStatus;
use pairscope_query::similar::{MAX_BATCH, MAX_K};
use pairscope_query::{Hit, SimilarBatchRequest, SimilarPage, SimilarRequest, SimilarTo};
use pairscope_vectors::npy::NpyMatrix;
use serde::Serialize;

use crate::args::{FormatArgs, GlobalArgs, ResolvedPath, UsageError};
use crate::commands::search::{SelectionArgs, one_line};
use crate::output::print_document;

#[derive(Debug, Args)]
pub struct SimilarArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Compare with this row's vector (its row_id).
    #[arg(long, value_name = "ROW_ID", required_unless_present_any = ["vector", "vectors"], conflicts_with_all = ["vector", "vectors"])]
    pub row: Option<i64>,
    /// Compare with the vector in this .npy file (shape (D,) or (1, D), float16 or float32),
    /// e.g. the CLIP embedding of your own image.
    #[arg(long, value_name = "FILE.npy", value_parser = ResolvedPath, conflicts_with = "vectors")]
    pub vector: Option<PathBuf>,
    /// Compare with each vector of this .npy file (shape (N, D), float16 or float32, at most
    /// 100,000), e.g. the CLIP embeddings of all your images, as one batch: the k nearest rows
    /// of each, by row id and cosine, one line per query and rank.
    #[arg(long, value_name = "FILE.npy", value_parser = ResolvedPath)]
    pub vectors: Option<PathBuf>,
    /// Which vectors: of the images or of the captions.
    #[arg(long, default_value = "image", value_parser = ["image", "text"])]
    pub kind: String,
    /// How many rows (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub k: usize,
    /// Score every selected row's vector instead of searching the index (slow; for checking).
    #[arg(long)]
    pub exact: bool,
    #[command(flatten)]
    pub output: FormatArgs,
}

pub fn run(args: &SimilarArgs, _global: &GlobalArgs) -> Result<ExitStatus> {
    if args.k == 0 || args.k > MAX_K {
        return Err(UsageError::new(format!("--k must be between 1 and {MAX_K}")).into());
    }
    if let Some(path) = &args.vectors {
        return batch(args, path);
    }
    let to = match (&args.row, &args.vector) {
        (Some(row), _) => SimilarTo::Row(*row),
        (None, Some(path)) => {
            if let Ok(matrix) = NpyMatrix::open(path)
                && matrix.rows() > 1
            {
                return Err(UsageError::new(format!(
                    "--vector {}: {} vectors; --vectors answers each of them",
                    path.display(),
                    matrix.rows()
                ))
                .into());
            }
            SimilarTo::Vector(NpyMatrix::read_vector(path).map_err(UsageError::because)?)
        }
        (None, None) => return Err(UsageError::new("--row, --vector or --vectors: what to compare with").into()),
    };
    let engine = args.selection.engine()?;
    let request = SimilarRequest {
        kind: args.kind.clone(),
        to,
        selection: args.selection.selection()?,
        k: args.k,
        exact: args.exact,
    };
    let page = engine.similar(&request, &args.selection.limits()?)?;
    print_document(args.output.format(), &page, || human_page(&page), || hits_batch(&page))?;
    Ok(ExitStatus::Clean)
}

/// A batch's answer: every query's nearest rows.
#[derive(Debug, Serialize)]
struct BatchAnswer {
    kind: String,
    queries: usize,
    k: usize,
    /// One per query and rank.
    neighbours: Vec<BatchNeighbour>,
}

#[derive(Debug, Serialize)]
struct BatchNeighbour {
    /// The query's row in the .npy file, from 0.
    query: u64,
    /// 1 for the most similar row.
    rank: u32,
    row_id: i64,
    cosine: f32,
}

/// `--vectors`: every vector of the file as one [`Engine::similar_batch`](pairscope_query::Engine::similar_batch).
fn batch(args: &SimilarArgs, path: &Path) -> Result<ExitStatus> {
    let matrix = NpyMatrix::open(path).map_err(UsageError::because)?;
    if matrix.rows() > MAX_BATCH as u64 {
        return Err(UsageError::new(format!(
            "--vectors {}: {} vectors, a batch holds at most {MAX_BATCH} (split the file)",
            path.display(),
            matrix.rows()
        ))
        .into());
    }
    let mut flat = Vec::new();
    matrix.read_rows(0, matrix.rows() as usize, &mut flat).map_err(UsageError::because)?;
    let engine = args.selection.engine()?;
    let request = SimilarBatchRequest {
        kind: args.kind.clone(),
        vectors: flat.chunks_exact(matrix.dim().max(1)).map(<[f32]>::to_vec).collect(),
        selection: args.selection.selection()?,
        k: args.k,
        exact: args.exact,
    };
    let answers = engine.similar_batch(&request, &args.selection.limits()?)?;
    let neighbours = answers
        .iter()
        .enumerate()
        .flat_map(|(query, found)| {
            found.iter().enumerate().map(move |(rank, n)| BatchNeighbour {
                query: query as u64,
                rank: rank as u32 + 1,
                row_id: n.row_id,
                cosine: n.cosine,
            })
        })
        .collect();
    let answer = BatchAnswer { kind: args.kind.clone(), queries: answers.len(), k: args.k, neighbours };
    print_document(args.output.format(), &answer, || human_batch(&answer), || batch_rows(&answer))?;
    Ok(ExitStatus::Clean)
}

fn human_batch(answer: &BatchAnswer) -> String {
    let mut s = String::from("query  rank  cosine  row_id\n");
    for n in &answer.neighbours {
        let _ = writeln!(s, "{:>5}  {:>4}  {:.3}  {}", n.query, n.rank, n.cosine, n.row_id);
    }
    let _ = writeln!(
        s,
        "the {} rows most similar by {} vectors to each of {} vectors",
        answer.k, answer.kind, answer.queries
    );
    s
}

fn batch_rows(answer: &BatchAnswer) -> RecordBatch {
    let n = &answer.neighbours;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("query", Arc::new(UInt64Array::from_iter_values(n.iter().map(|n| n.query)))),
        ("rank", Arc::new(UInt32Array::from_iter_values(n.iter().map(|n| n.rank)))),
        ("row_id", Arc::new(Int64Array::from_iter_values(n.iter().map(|n| n.row_id)))),
        ("cosine", Arc::new(Float32Array::from_iter_values(n.iter().map(|n| n.cosine)))),
    ];
    #[expect(clippy::expect_used, reason = "four non-null columns of one length")]
    RecordBatch::try_from_iter(columns).expect("columns of one length")
}

fn human_page(page: &SimilarPage) -> String {
    let mut s = String::new();
    for hit in &page.hits {
        let _ = writeln!(
            s,
            "{:.3}  {}  {}\n    {}\n    {}",
            hit.cosine,
            hit.hit.row_id,
            hit.hit.host.as_deref().unwrap_or("-"),
            one_line(&hit.hit.caption),
            hit.hit.url
        );
    }
    let _ = writeln!(
        s,
        "{} rows most similar by {} vectors ({}), of {} selected; {} (dataset version {})",
        page.hits.len(),
        page.kind,
        page.model,
        page.kept_rows,
        vector_work(page.exact, page.scored_approximately, page.scored_exactly),
        page.version
    );
    s
}

/// What a vector query scored, as `similar` and `dups` say it: every vector exactly, or codes
/// scanned in the index and vectors re-scored.
pub(super) fn vector_work(exact: bool, scored_approximately: u64, scored_exactly: u64) -> String {
    if exact {
        format!("exact: {scored_exactly} vectors scored")
    } else {
        format!("index: {scored_approximately} codes scanned, {scored_exactly} vectors re-scored")
    }
}

#[expect(clippy::expect_used, reason = "the columns are built from the same hits, with the schema's types")]
fn hits_batch(page: &SimilarPage) -> RecordBatch {
    let hits: Vec<Hit> = page.hits.iter().map(|h| h.hit.clone()).collect();
    let batch = Hit::batch(&hits).expect("a batch of hits has its schema");
    let cosine: ArrayRef = Arc::new(Float32Array::from_iter_values(page.hits.iter().map(|h| h.cosine)));
    let mut fields = vec![Arc::new(Field::new("cosine", DataType::Float32, false))];
    fields.extend(batch.schema().fields().iter().cloned());
    let mut columns = vec![cosine];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("a cosine column of the hits' length")
}
