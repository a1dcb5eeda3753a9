//! `/row/{row_id}`: every stored field of one row, its image and page linked, and a link to
//! more rows from its host; `/row/{row_id}.json`: the row as an object.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use pairscope_model::RowId;
use schemars::JsonSchema;
use serde::Serialize;

use crate::App;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::view::{external_link, image, is_unsafe, page};

/// Columns whose values are URLs: shown as links when they are http(s).
const URL_COLUMNS: [&str; 2] = ["url", "page_url"];

pub(crate) async fn page_or_json(State(app): State<Arc<App>>, id: Result<Path<String>, PathRejection>) -> Response {
    let (row_id, json) = match super::row_path(id) {
        Ok(found) => found,
        Err(json) => return Failure::NotFound.respond(json),
    };
    let engine = app.engine().await;
    let version = engine.version();
    let similar = crate::pages::similar::available(&engine);
    let found = app.blocking(move || engine.get(RowId(row_id)).map_err(Failure::from)).await;
    let batch = match found {
        Ok(Some(batch)) => batch,
        Ok(None) => return Failure::NotFound.respond(json),
        Err(failure) => return failure.respond(json),
    };
    let result = if json { document(&batch, row_id, version) } else { render(&app, &batch, row_id, version, similar) };
    result.unwrap_or_else(|e| {
        tracing::error!("row {row_id}: {e}");
        Failure::Internal.respond(json)
    })
}

/// Every column of the one-row `batch` as (name, value as text; `None` for null).
fn fields(batch: &RecordBatch) -> Result<Vec<(String, Option<String>)>, arrow::error::ArrowError> {
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = if column.is_null(0) {
            None
        } else {
            Some(ArrayFormatter::try_new(column.as_ref(), &options)?.value(0).to_string())
        };
        fields.push((field.name().clone(), value));
    }
    Ok(fields)
}

fn float(batch: &RecordBatch, name: &str) -> Option<f64> {
    let column = batch.column_by_name(name)?;
    let cast = arrow::compute::cast(column, &DataType::Float64).ok()?;
    let values = cast.as_primitive::<Float64Type>();
    values.is_valid(0).then(|| values.value(0))
}

fn render(
    app: &App,
    batch: &RecordBatch,
    row_id: i64,
    version: u64,
    similar: bool,
) -> Result<Response, arrow::error::ArrowError> {
    let config = &app.config;
    let fields = fields(batch)?;
    let text = |name: &str| fields.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref());
    let unsafe_image = is_unsafe(float(batch, "punsafe"), text("nsfw_label"), config);
    let body = html! {
        h1 { "row " (row_id) }
        div.row { (image(row_id, text("url").unwrap_or(""), unsafe_image, config)) }
        p.note {
            "dataset version " (version) " · " a href=(format!("/row/{row_id}.json")) { "JSON" }
            @if similar {
                " · " a href=(format!("/similar/{row_id}")) { "similar images" }
            }
            @if let Some(host) = text("host") {
                " · " a href=(SearchForm::new(config.page_size).with_term("host", host).href("/", config)) {
                    "more from " (host)
                }
            }
        }
        table {
            @for (name, value) in &fields {
                tr {
                    th { (name) }
                    td {
                        @match value {
                            None => { span.null { "null" } }
                            Some(value) if URL_COLUMNS.contains(&name.as_str()) => { (external_link(value)) }
                            Some(value) => { (value) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&format!("row {row_id}"), body).into_response())
}

/// `/row/{id}.json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Row")]
pub(crate) struct RowDocument {
    #[schemars(range(min = 0))]
    row_id: i64,
    #[schemars(range(min = 1))]
    version: u64,
    /// Every stored column (canonical and extra), nulls included.
    row: serde_json::Map<String, serde_json::Value>,
}

fn document(batch: &RecordBatch, row_id: i64, version: u64) -> Result<Response, arrow::error::ArrowError> {
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&writer.into_inner()).map_err(|e| arrow::error::ArrowError::JsonError(e.to_string()))?;
    let row = rows.into_iter().next().unwrap_or_default();
    Ok(axum::Json(RowDocument { row_id, version, row }).into_response())
}
