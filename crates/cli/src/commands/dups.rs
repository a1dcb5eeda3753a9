//! `dups`: groups of near-duplicate rows by embedding (`pairscope-query`'s
//! [`Engine::near_duplicates`](pairscope_query::Engine::near_duplicates)).

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Args;
use pairscope_model::ExitStatus;
use pairscope_model::row_id::RowId;
use pairscope_query::dups::DEFAULT_THRESHOLD;
use pairscope_query::{DupsRequest, Engine, NearDuplicates};

use crate::args::{FormatArgs, GlobalArgs, UsageError};
use crate::commands::search::{SelectionArgs, one_line};
use crate::output::print_document;
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct DupsArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Rows whose vectors have at least this cosine are one image (clip-retrieval's dedup:
    /// 0.94).
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Which vectors: of the images or of the captions.
    #[arg(long, default_value = "image", value_parser = ["image", "text"])]
    pub kind: String,
    /// Compare every selected row with every other instead of searching the index (slow:
    /// rows² comparisons; for checking a small selection).
    #[arg(long)]
    pub exact: bool,
    /// Groups listed in the table output, largest first (the other formats list every
    /// grouped row with its group).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show: usize,
    #[command(flatten)]
    pub output: FormatArgs,
}

pub fn run(args: &DupsArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    if !(args.threshold > 0.0 && args.threshold <= 1.0) {
        return Err(UsageError::new("--threshold must be a cosine in (0, 1]").into());
    }
    let engine = args.selection.engine()?;
    let request = DupsRequest {
        kind: args.kind.clone(),
        threshold: args.threshold,
        selection: args.selection.selection()?,
        among: None,
        exact: args.exact,
    };
    let bar = Bar::new(global, "dups");
    let found = engine.near_duplicates(&request, &args.selection.batch_limits()?, &|rows| {
        pairscope_model::Progress::advance(&bar, rows, 0)
    })?;
    bar.finish();
    let human = || human_report(&engine, &found, args.show);
    print_document(args.output.format(), &found, human, || groups_batch(&found))?;
    Ok(ExitStatus::Clean)
}

fn human_report(engine: &Engine, found: &NearDuplicates, show: usize) -> String {
    let mut s = String::new();
    let grouped = found.rows_in_groups();
    let _ = writeln!(
        s,
        "{} near-duplicate groups (cosine ≥ {}) holding {grouped} of {} rows searched: a dedup keeps {} ({} redundant)",
        found.groups.len(),
        found.threshold,
        found.rows_searched,
        found.rows_searched - grouped + found.groups.len() as u64,
        grouped - found.groups.len() as u64,
    );
    let _ = writeln!(
        s,
        "{} vectors ({}), dataset version {}; {}",
        found.kind,
        found.model,
        found.version,
        super::similar::vector_work(found.exact, found.scored_approximately, found.scored_exactly),
    );
    let _ = writeln!(s, "{} pairs at or above the threshold", found.edges);
    if !found.groups.is_empty() {
        let _ = writeln!(s, "\ngroup size   groups   rows");
        for range in found.histogram() {
            let sizes =
                if range.min == range.max { range.min.to_string() } else { format!("{}-{}", range.min, range.max) };
            let _ = writeln!(s, "{sizes:>10} {:>8} {:>6}", range.groups, range.rows);
        }
    }
    if show > 0 && !found.groups.is_empty() {
        let _ = writeln!(s, "\nlargest groups (rows; the first row and its caption):");
        for group in found.groups.iter().take(show) {
            let caption = engine
                .get(RowId(group[0]))
                .ok()
                .flatten()
                .and_then(|batch| {
                    let column = batch.column_by_name("caption")?;
                    let column = arrow::compute::cast(column, &DataType::Utf8).ok()?;
                    let strings = column.as_any().downcast_ref::<arrow::array::StringArray>()?;
                    (!strings.is_empty() && strings.is_valid(0)).then(|| strings.value(0).to_string())
                })
                .unwrap_or_default();
            let _ = writeln!(s, "{:>6}  {}  {}", group.len(), group[0], one_line(&caption));
        }
    }
    s
}

/// Every grouped row with its group's first row.
#[expect(clippy::expect_used, reason = "two non-null Int64 columns of one length")]
fn groups_batch(found: &NearDuplicates) -> RecordBatch {
    let rows = found.first_of_group();
    let row: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)));
    let group: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1)));
    let schema = Schema::new(vec![
        Field::new("row_id", DataType::Int64, false),
        Field::new("group_row_id", DataType::Int64, false),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![row, group]).expect("a batch of two Int64 columns")
}
