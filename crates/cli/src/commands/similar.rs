//! `similar`: the rows whose embedding is nearest a row's, or a given vector's, among those a
//! selection keeps (`pairscope-query`'s [`Engine::similar`](pairscope_query::Engine::similar)).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Args;
use pairscope_model::ExitStatus;
use pairscope_query::similar::MAX_K;
use pairscope_query::{Hit, SimilarPage, SimilarRequest, SimilarTo};
use pairscope_vectors::npy::NpyMatrix;

use crate::args::{FormatArgs, GlobalArgs, ResolvedPath, UsageError};
use crate::commands::search::{SelectionArgs, one_line};
use crate::output::print_document;

#[derive(Debug, Args)]
pub struct SimilarArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Compare with this row's vector (its row_id).
    #[arg(long, value_name = "ROW_ID", required_unless_present = "vector", conflicts_with = "vector")]
    pub row: Option<i64>,
    /// Compare with the vector in this .npy file (shape (D,) or (1, D), float16 or float32),
    /// e.g. the CLIP embedding of your own image.
    #[arg(long, value_name = "FILE.npy", value_parser = ResolvedPath)]
    pub vector: Option<PathBuf>,
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
    let to = match (&args.row, &args.vector) {
        (Some(row), _) => SimilarTo::Row(*row),
        (None, Some(path)) => SimilarTo::Vector(NpyMatrix::read_vector(path).map_err(UsageError::because)?),
        (None, None) => return Err(UsageError::new("--row or --vector: what to compare with").into()),
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
