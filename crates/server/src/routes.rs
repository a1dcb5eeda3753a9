//! The route table: every path the server answers, its summary, its parameters, what it
//! answers with (for a JSON document, the type the answer is serialized from) and its JSON
//! twin. The router ([`crate::router`]), the `Accept: application/json` rewrite to a twin and
//! the OpenAPI document ([`crate::openapi`]) are all built from this one list, so a route
//! cannot be served without being documented, nor documented with another shape than it has.

use std::sync::{Arc, LazyLock};

use axum::routing::{MethodRouter, get};
use pairscope_export::ExportFormat;
use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema};

use crate::App;
use crate::error::ErrorDocument;
use crate::pages;

/// The query parameters a route reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parameters {
    None,
    /// The search form's fields ([`crate::form::SearchForm`]), `limit` and `after`.
    Search,
    /// The search form's fields and `cap` (an export starts at the first row).
    Export,
    /// `list`, `sort`, `order`, `filter` of the mentions table.
    Mentions,
    /// The row id, in the path.
    RowId,
    /// The row id, in the path, and the search form's fields (which rows may be returned).
    Similar,
}

/// What a route answers with.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// An HTML page; the description says what it shows.
    Page(&'static str),
    /// A JSON document: its description and the schema of the type it is serialized from.
    Json(&'static str, fn(&mut SchemaGenerator) -> Schema),
    /// The rows of a search as a file, streamed.
    Export(ExportFormat),
    /// A fixed file of this content type.
    Asset(&'static str),
}

/// One path the server answers (`GET` only: the server is read-only).
pub(crate) struct Route {
    pub path: &'static str,
    /// Its `operationId` in the OpenAPI document.
    pub operation: &'static str,
    pub summary: &'static str,
    pub parameters: Parameters,
    pub answer: Answer,
    /// The route answering this page as JSON: where an `Accept: application/json` request
    /// for it is sent.
    pub twin: Option<&'static str>,
    /// `None` for a path the handler of another route serves (axum matches `{id}` to a whole
    /// segment, so `/row/{id}` answers `/row/{id}.json` too).
    pub handler: Option<Handler>,
}

/// How a route is answered, for the router.
pub(crate) type Handler = fn() -> MethodRouter<Arc<App>>;

fn route(
    path: &'static str,
    operation: &'static str,
    summary: &'static str,
    parameters: Parameters,
    answer: Answer,
    twin: Option<&'static str>,
    handler: Option<Handler>,
) -> Route {
    Route { path, operation, summary, parameters, answer, twin, handler }
}

/// A page and its JSON twin, which read the same parameters: `operations` and `handlers` are
/// the page's, then the twin's.
fn page_and_twin(
    [path, twin]: [&'static str; 2],
    operations: [&'static str; 2],
    summary: &'static str,
    parameters: Parameters,
    [page, json]: [Answer; 2],
    handlers: [Handler; 2],
) -> [Route; 2] {
    [
        route(path, operations[0], summary, parameters, page, Some(twin), Some(handlers[0])),
        route(twin, operations[1], summary, parameters, json, None, Some(handlers[1])),
    ]
}

fn export(path: &'static str, operation: &'static str, format: ExportFormat, handler: Handler) -> Route {
    let summary = "The rows of a search as a file, in its order, streamed.";
    route(path, operation, summary, Parameters::Export, Answer::Export(format), None, Some(handler))
}

/// The schema of `T`, a `$ref` to its entry in the document's components.
fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The schema of every error document.
pub(crate) fn error_schema(generator: &mut SchemaGenerator) -> Schema {
    schema::<ErrorDocument>(generator)
}

const SEARCH: &str = "The search form, the results and the facets.";
const SEARCH_SUMMARY: &str = "The search page.";
const MENTIONS_SUMMARY: &str = "How many captions mention each name of a list.";
const OVERVIEW_SUMMARY: &str = "The dataset's size, sources and distributions.";
const SETTINGS_SUMMARY: &str = "Every limit and safety setting.";
const ROW_SUMMARY: &str = "Every stored field of one row.";
const SIMILAR_SUMMARY: &str = "The rows whose image embedding is most like this row's (404 without vectors).";

/// Every route (the document lists them in this order).
pub(crate) static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    use Answer::{Asset, Json, Page};
    let mut routes = vec![
        route(
            "/",
            "search_home",
            SEARCH_SUMMARY,
            Parameters::Search,
            Page(SEARCH),
            Some("/search.json"),
            Some(|| get(pages::search::html)),
        ),
        route(
            "/search",
            "search_page",
            SEARCH_SUMMARY,
            Parameters::Search,
            Page(SEARCH),
            Some("/search.json"),
            Some(|| get(pages::search::html)),
        ),
        route(
            "/search.json",
            "search",
            "A page of search results with the exact total and facets.",
            Parameters::Search,
            Json("The page.", schema::<pages::search::SearchDocument>),
            None,
            Some(|| get(pages::search::json)),
        ),
        route(
            "/row/{id}",
            "row_page",
            ROW_SUMMARY,
            Parameters::RowId,
            Page("The row's page."),
            Some("/row/{id}.json"),
            Some(|| get(pages::row::page_or_json)),
        ),
        route(
            "/row/{id}.json",
            "row",
            ROW_SUMMARY,
            Parameters::RowId,
            Json("The row.", schema::<pages::row::RowDocument>),
            None,
            None,
        ),
        route(
            "/similar/{id}",
            "similar_page",
            SIMILAR_SUMMARY,
            Parameters::Similar,
            Page("Images like the row's, as tiles."),
            Some("/similar/{id}.json"),
            Some(|| get(pages::similar::page_or_json)),
        ),
        route(
            "/similar/{id}.json",
            "similar",
            SIMILAR_SUMMARY,
            Parameters::Similar,
            Json(
                "The rows, most similar first, with their cosine similarity.",
                schema::<pages::similar::SimilarDocument>,
            ),
            None,
            None,
        ),
        export("/export.csv", "export_csv", ExportFormat::Csv, || get(pages::export::csv)),
        export("/export.jsonl", "export_jsonl", ExportFormat::Jsonl, || get(pages::export::jsonl)),
        export("/export.parquet", "export_parquet", ExportFormat::Parquet, || get(pages::export::parquet)),
        route(
            "/api/openapi.json",
            "openapi",
            "This document.",
            Parameters::None,
            Asset("application/json"),
            None,
            Some(|| get(crate::openapi::json)),
        ),
        route(
            "/-/style.css",
            "style",
            "The style sheet.",
            Parameters::None,
            Asset("text/css"),
            None,
            Some(|| get(pages::style)),
        ),
        route(
            "/-/image/{id}",
            "fetched_image",
            "A fetched image of a row (with `serve --images`), as JPEG.",
            Parameters::RowId,
            Asset("image/jpeg"),
            None,
            Some(|| get(pages::fetched_image)),
        ),
        route(
            "/-/app.js",
            "script",
            "The script that swaps images that fail to load for a placeholder.",
            Parameters::None,
            Asset("text/javascript"),
            None,
            Some(|| get(pages::script)),
        ),
    ];
    routes.extend(page_and_twin(
        ["/mentions", "/mentions.json"],
        ["mentions_page", "mentions"],
        MENTIONS_SUMMARY,
        Parameters::Mentions,
        [Page("The table."), Json("The counts.", schema::<pages::mentions::MentionsDocument>)],
        [|| get(pages::mentions::html), || get(pages::mentions::json)],
    ));
    routes.extend(page_and_twin(
        ["/overview", "/overview.json"],
        ["overview_page", "overview"],
        OVERVIEW_SUMMARY,
        Parameters::None,
        [Page("The overview."), Json("The overview.", schema::<pages::overview::Overview>)],
        [|| get(pages::overview::html), || get(pages::overview::json)],
    ));
    routes.extend(page_and_twin(
        ["/-/settings", "/-/settings.json"],
        ["settings_page", "settings"],
        SETTINGS_SUMMARY,
        Parameters::None,
        [Page("The settings."), Json("The settings.", schema::<pages::settings::Settings>)],
        [|| get(pages::settings::html), || get(pages::settings::json)],
    ));
    routes
});

/// The JSON twin of the page at `path` (`/row/7` → `/row/7.json`), if it has one.
pub(crate) fn twin_of(path: &str) -> Option<String> {
    ROUTES.iter().find_map(|route| {
        let twin = route.twin?;
        match route.path.split_once("{id}") {
            None => (route.path == path).then(|| twin.to_string()),
            // A route whose last segment is an id: any digits there.
            Some((prefix, "")) => {
                let id =
                    path.strip_prefix(prefix).filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))?;
                Some(twin.replace("{id}", id))
            }
            Some(_) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_twin_is_a_json_route_and_pages_lead_to_theirs() {
        for route in ROUTES.iter() {
            if let Some(twin) = route.twin {
                let target = ROUTES.iter().find(|r| r.path == twin).unwrap_or_else(|| panic!("{twin} is no route"));
                assert!(matches!(target.answer, Answer::Json(..)), "{twin}");
                assert_eq!(target.parameters, route.parameters, "{twin} reads what {} reads", route.path);
            }
        }
        assert_eq!(twin_of("/"), Some("/search.json".into()));
        assert_eq!(twin_of("/-/settings"), Some("/-/settings.json".into()));
        assert_eq!(twin_of("/row/42"), Some("/row/42.json".into()));
        for none in ["/row/", "/row/4x", "/search.json", "/export.csv", "/nowhere"] {
            assert_eq!(twin_of(none), None, "{none}");
        }
    }

    #[test]
    fn a_route_without_a_handler_is_served_by_another_routes_pattern() {
        for route in ROUTES.iter().filter(|r| r.handler.is_none()) {
            let served_by = ROUTES.iter().find(|r| r.handler.is_some() && r.twin == Some(route.path));
            assert!(served_by.is_some_and(|r| r.path.ends_with("{id}")), "{} has no handler", route.path);
        }
    }
}
