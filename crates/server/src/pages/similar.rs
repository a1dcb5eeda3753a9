//! `/similar/{row_id}`: the rows whose image embedding is most like this row's (the index's
//! answer re-scored exactly; hidden rows never among them), as image tiles with their cosine;
//! `/similar/{row_id}.json`: the same as a document. The search form's fields select the rows
//! (`/similar/{row_id}?q=cat&aesthetic=6`: a search ordered by similarity to the row; the
//! search page links each hit so). A dataset without image vectors, or a row without one,
//! answers 404.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use pairscope_query::{Selection, SimilarPage, SimilarRequest, SimilarTo};
use schemars::JsonSchema;
use serde::Serialize;

use crate::App;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::view::{excerpt, image, is_unsafe, page};

/// Rows a similar-images page shows.
pub(crate) const SIMILAR_ROWS: usize = 48;

/// The vector set the pages search.
const KIND: &str = "image";

/// `/similar/{id}.json`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Similar")]
pub(crate) struct SimilarDocument {
    /// The row compared with.
    #[schemars(range(min = 0))]
    row_id: i64,
    /// The rows, most similar first (the row itself among them).
    #[serde(flatten)]
    page: SimilarPage,
}

/// Whether the dataset of `app`'s engine has vectors the pages can search.
pub(crate) fn available(engine: &pairscope_query::Engine) -> bool {
    engine.dataset().manifest().vector_sets.iter().any(|s| s.kind == KIND)
}

pub(crate) async fn page_or_json(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let (row_id, json) = match super::row_path(id) {
        Ok(found) => found,
        Err(json) => return Failure::NotFound.respond(json),
    };
    let form = match SearchForm::parse(query.as_deref(), &app.config) {
        Ok(form) => form,
        Err(failure) => return failure.respond(json),
    };
    let selection: Selection = match crate::pages::search::mention(&app, &form) {
        Ok(mention) => form.selection(mention.map(|m| m.aliases).unwrap_or_default()),
        Err(failure) => return failure.respond(json),
    };
    let engine = app.engine().await;
    if !available(&engine) {
        return Failure::NotFound.respond(json);
    }
    let request =
        SimilarRequest { kind: KIND.into(), to: SimilarTo::Row(row_id), selection, k: SIMILAR_ROWS, exact: false };
    let limits = app.limits();
    let found = app.blocking(move || engine.similar(&request, &limits).map_err(Failure::from)).await;
    let page = match found {
        Ok(page) => page,
        // The only request error left: the row has no vector (or no such row is shown).
        Err(Failure::BadRequest(_)) => return Failure::NotFound.respond(json),
        Err(failure) => return failure.respond(json),
    };
    if json {
        return axum::Json(SimilarDocument { row_id, page }).into_response();
    }
    render(&app, row_id, &form, &page)
}

fn render(app: &App, row_id: i64, form: &SearchForm, found: &SimilarPage) -> Response {
    let config = &app.config;
    let selected = form.selection_key(config);
    let body = html! {
        h1 { "images like row " a href=(format!("/row/{row_id}")) { (row_id) } }
        @if !selected.is_empty() {
            p.note {
                "among the rows of " a href=(form.selection_href("/", config)) { "this search" }
                " (" (found.kept_rows) " rows) · " a href=(format!("/similar/{row_id}")) { "among every row" }
            }
        }
        p.note {
            (found.hits.len()) " rows most similar by their " (found.kind) " embeddings (" (found.model) "), "
            "cosine similarity · dataset version " (found.version) " · "
            a href=(form.selection_href(&format!("/similar/{row_id}.json"), config)) { "JSON" }
        }
        div.tiles {
            @for similar in &found.hits {
                @let hit = &similar.hit;
                div.tile {
                    (image(hit.row_id, &hit.url, is_unsafe(hit.punsafe, hit.nsfw_label.as_deref(), config), config))
                    p {
                        a href=(format!("/row/{}", hit.row_id)) { (format!("{:.3}", similar.cosine)) }
                        " " (excerpt(&hit.caption, 120))
                    }
                }
            }
        }
    };
    page(&format!("images like row {row_id}"), body).into_response()
}
