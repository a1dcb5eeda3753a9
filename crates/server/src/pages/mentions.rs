//! `/mentions?list=builtin:artists|builtin:characters`: how many captions mention each entity
//! of a built-in list, each linking to the search for its captions; `/mentions.json`: the same
//! as a document. `sort=captions|name`, `order=desc|asc` and `filter=` (a part of the name or
//! of an alias, any case) choose and order the rows; the whole state is in the URL. Counts come
//! from (and go to) the dataset's mentions cache.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use pairscope_mentions::{EntityCount, MentionsReport, MentionsRequest, cache, count_mentions};
use pairscope_model::NoProgress;
use schemars::JsonSchema;
use serde::Serialize;
use url::form_urlencoded;

use crate::App;
use crate::app::LISTS;
use crate::chart;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::view::page;

/// What the table shows and in which order: the page's state, read from and written to its URL.
#[derive(Debug, Clone, PartialEq)]
struct View {
    list: &'static str,
    by_name: bool,
    ascending: bool,
    filter: String,
}

impl View {
    fn parse(query: Option<&str>) -> Result<View, Failure> {
        let mut view = View { list: LISTS[0], by_name: false, ascending: false, filter: String::new() };
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim();
            match key.as_ref() {
                "list" => {
                    view.list = LISTS
                        .into_iter()
                        .find(|l| *l == value)
                        .ok_or_else(|| Failure::bad("list must be builtin:artists or builtin:characters."))?
                }
                "sort" => {
                    view.by_name = match value {
                        "name" => true,
                        "captions" | "" => false,
                        _ => return Err(Failure::bad("sort must be captions or name.")),
                    }
                }
                "order" => {
                    view.ascending = match value {
                        "asc" => true,
                        "desc" | "" => false,
                        _ => return Err(Failure::bad("order must be asc or desc.")),
                    }
                }
                "filter" => view.filter = value.to_string(),
                _ => {}
            }
        }
        Ok(view)
    }

    fn href(&self, path: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("list", self.list);
        if self.by_name {
            query.append_pair("sort", "name");
        }
        if self.ascending {
            query.append_pair("order", "asc");
        }
        if !self.filter.is_empty() {
            query.append_pair("filter", &self.filter);
        }
        format!("{path}?{}", query.finish())
    }

    /// The link of a column heading: sorts by it, or turns the order round when it already does.
    fn sorted_by(&self, by_name: bool) -> View {
        let ascending = if self.by_name == by_name { !self.ascending } else { by_name };
        View { by_name, ascending, ..self.clone() }
    }

    /// The mentioned entities this view shows, in its order.
    fn rows<'a>(&self, report: &'a MentionsReport) -> Vec<&'a EntityCount> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&EntityCount> = report
            .entities
            .iter()
            .filter(|e| e.count > 0)
            .filter(|e| {
                needle.is_empty()
                    || e.name.to_lowercase().contains(&needle)
                    || e.aliases.iter().any(|a| a.to_lowercase().contains(&needle))
            })
            .collect();
        // The report is most-mentioned first; a stable sort keeps its order among ties.
        if self.by_name {
            rows.sort_by_cached_key(|e| e.name.to_lowercase());
        }
        if self.ascending != self.by_name {
            rows.reverse();
        }
        rows
    }
}

/// `/mentions.json`, and what the mentions page shows.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Mentions")]
pub(crate) struct MentionsDocument {
    #[schemars(range(min = 1))]
    version: u64,
    list: &'static str,
    /// Captions counted (every row's).
    rows: u64,
    /// Entities in the list.
    names: u64,
    /// Entities of the list mentioned at least once (before `filter`).
    mentioned: u64,
    /// The mentioned entities that pass `filter`, in the view's order.
    entities: Vec<MentionedEntity>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct MentionedEntity {
    name: String,
    aliases: Vec<String>,
    /// Captions that mention it (each at most once).
    #[schemars(range(min = 1))]
    captions: u64,
    /// `captions / rows`.
    share: f64,
    /// Why the count may include captions about something else.
    ambiguous: Option<String>,
    /// The search page of these captions.
    search: String,
}

impl MentionsDocument {
    fn new(app: &App, view: &View, report: &MentionsReport) -> MentionsDocument {
        let entities = view
            .rows(report)
            .into_iter()
            .map(|e| MentionedEntity {
                name: e.name.clone(),
                aliases: e.aliases.clone(),
                captions: e.count,
                share: e.share,
                ambiguous: e.ambiguous.clone(),
                search: search_href(app, &e.name, view.list),
            })
            .collect();
        MentionsDocument {
            version: report.dataset_version,
            list: view.list,
            rows: report.rows,
            names: report.entities.len() as u64,
            mentioned: report.entities.iter().filter(|e| e.count > 0).count() as u64,
            entities,
        }
    }
}

pub(crate) async fn html(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let (view, report) = match run(&app, query.as_deref()).await {
        Ok(outcome) => outcome,
        Err(failure) => return failure.respond(false),
    };
    let document = MentionsDocument::new(&app, &view, &report);
    let most = report.entities.iter().map(|e| e.count).max().unwrap_or(0).max(1) as f64;
    let arrow = |by_name: bool| match (view.by_name == by_name, view.ascending) {
        (false, _) => "",
        (true, true) => " ▲",
        (true, false) => " ▼",
    };
    let body = html! {
        h1 { "Mentions" }
        p {
            @for list in LISTS {
                @if list == view.list { strong { (list) } } @else {
                    a href=(View { list, ..view.clone() }.href("/mentions")) { (list) }
                }
                " "
            }
            "· " a href=(view.href("/mentions.json")) { "JSON" }
        }
        form.search method="get" action="/mentions" {
            input type="hidden" name="list" value=(view.list);
            @if view.by_name { input type="hidden" name="sort" value="name"; }
            @if view.ascending { input type="hidden" name="order" value="asc"; }
            label { "name or alias contains" input type="search" name="filter" value=(view.filter); }
            button type="submit" { "filter" }
        }
        p.note {
            (document.mentioned) " of " (document.names) " names are mentioned, among " (document.rows)
            " captions (dataset version " (document.version) "). A caption counts once per entity, whichever aliases it uses."
            @if !view.filter.is_empty() { " " (document.entities.len()) " match the filter." }
        }
        table.mentions {
            tr {
                th { a href=(view.sorted_by(true).href("/mentions")) { "entity" (arrow(true)) } }
                th { a href=(view.sorted_by(false).href("/mentions")) { "captions" (arrow(false)) } }
                th { "share" }
                th {}
                th { "note" }
            }
            @for entity in &document.entities {
                tr {
                    td { a href=(entity.search) { (entity.name) } }
                    td.num { (entity.captions) }
                    td.num { (format!("{:.3} %", entity.share * 100.0)) }
                    td { (chart::bar(entity.captions as f64 / most)) }
                    td { @if let Some(why) = &entity.ambiguous { span.ambiguous title=(why) { "ambiguous" } ": " (why) } }
                }
            }
        }
    };
    page("mentions", body).into_response()
}

pub(crate) async fn json(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    match run(&app, query.as_deref()).await {
        Ok((view, report)) => axum::Json(MentionsDocument::new(&app, &view, &report)).into_response(),
        Err(failure) => failure.respond(true),
    }
}

fn search_href(app: &App, name: &str, spec: &str) -> String {
    let config = &app.config;
    SearchForm { mention: name.to_string(), names: spec.to_string(), ..SearchForm::new(config.page_size) }
        .href("/", config)
}

/// The view the query asks for and the count of its list (default builtin:artists), from the
/// cache when it has this version's.
async fn run(app: &Arc<App>, query: Option<&str>) -> Result<(View, MentionsReport), Failure> {
    let view = View::parse(query)?;
    let list = app.list(view.list).ok_or(Failure::Internal)?;
    let dataset = app.engine().await.dataset().clone();
    let timeout = app.limits().timeout;
    let report = app
        .blocking(move || {
            let request = MentionsRequest {
                lists: vec![(*list).clone()],
                filter: None,
                by: None,
                top: None,
                fold_accents: false,
                timeout,
                dedup_near: None,
                scan: false,
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
    Ok((view, report))
}
