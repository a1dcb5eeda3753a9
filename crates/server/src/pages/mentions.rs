//! `/mentions?list=builtin:artists|builtin:characters`: how many captions mention each entity
//! of a built-in list, each linking to the search for its captions; `/mentions.json`: the same
//! as a document. Counts come from (and go to) the dataset's mentions cache.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use pairscope_mentions::{MentionsReport, MentionsRequest, cache, count_mentions};
use pairscope_model::NoProgress;
use serde_json::json;
use url::form_urlencoded;

use crate::App;
use crate::app::LISTS;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::view::page;

pub(crate) async fn html(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let (spec, report) = match run(&app, query.as_deref()).await {
        Ok(outcome) => outcome,
        Err(failure) => return failure.respond(false),
    };
    let mentioned: Vec<_> = report.entities.iter().filter(|e| e.count > 0).collect();
    let body = html! {
        h1 { "Mentions" }
        p {
            @for list in LISTS {
                @if list == spec { strong { (list) } } @else { a href=(list_href("/mentions", list)) { (list) } }
                " "
            }
            "· " a href=(list_href("/mentions.json", spec)) { "JSON" }
        }
        p.note {
            (mentioned.len()) " of " (report.entities.len()) " names are mentioned, among " (report.rows)
            " captions (dataset version " (report.dataset_version) "). A caption counts once per entity, whichever aliases it uses."
        }
        table {
            tr { th { "entity" } th { "captions" } th { "share" } th { "note" } }
            @for entity in &mentioned {
                tr {
                    td { a href=(search_href(&app, &entity.name, spec)) { (entity.name) } }
                    td.num { (entity.count) }
                    td.num { (format!("{:.3} %", entity.share * 100.0)) }
                    td { @if let Some(why) = &entity.ambiguous { "ambiguous: " (why) } }
                }
            }
        }
    };
    page("mentions", body).into_response()
}

pub(crate) async fn json(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let (spec, report) = match run(&app, query.as_deref()).await {
        Ok(outcome) => outcome,
        Err(failure) => return failure.respond(true),
    };
    let entities: Vec<_> = report
        .entities
        .iter()
        .filter(|e| e.count > 0)
        .map(|e| {
            json!({
                "name": e.name,
                "aliases": e.aliases,
                "captions": e.count,
                "share": e.share,
                "ambiguous": e.ambiguous,
                "search": search_href(&app, &e.name, spec),
            })
        })
        .collect();
    axum::Json(json!({
        "version": report.dataset_version,
        "list": spec,
        "rows": report.rows,
        "names": report.entities.len(),
        "entities": entities,
    }))
    .into_response()
}

fn list_href(path: &str, spec: &str) -> String {
    format!("{path}?{}", form_urlencoded::Serializer::new(String::new()).append_pair("list", spec).finish())
}

fn search_href(app: &App, name: &str, spec: &str) -> String {
    let config = &app.config;
    SearchForm { mention: name.to_string(), names: spec.to_string(), ..SearchForm::new(config.page_size) }
        .href("/", config)
}

/// The count of the list `?list=` names (default builtin:artists), from the cache when it has
/// this version's.
async fn run(app: &Arc<App>, query: Option<&str>) -> Result<(&'static str, MentionsReport), Failure> {
    let mut spec = LISTS[0];
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "list" {
            spec = LISTS
                .into_iter()
                .find(|l| *l == value.trim())
                .ok_or_else(|| Failure::bad("list must be builtin:artists or builtin:characters."))?;
        }
    }
    let list = app.list(spec).ok_or(Failure::Internal)?;
    let dataset = app.engine().await.dataset().clone();
    let report = app
        .blocking(move || {
            let request = MentionsRequest {
                lists: vec![(*list).clone()],
                filter: None,
                by: None,
                top: None,
                fold_accents: false,
            };
            if let Some(report) = cache::load(&dataset, &request) {
                return Ok(report);
            }
            let report = count_mentions(&dataset, &request, &NoProgress).map_err(|e| {
                tracing::error!("counting mentions: {e}");
                Failure::Internal
            })?;
            if let Err(why) = cache::store(&dataset, &request, &report) {
                tracing::warn!("the count was not cached: {why}");
            }
            Ok(report)
        })
        .await?;
    Ok((spec, report))
}
