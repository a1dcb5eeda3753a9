//! `/api/openapi.json`: the OpenAPI 3.1 document of every route and of the JSON each answers
//! with. Written by hand next to the routes; a test checks that it names every route of
//! [`crate::router`] and nothing else, the HTTP tests that each path it names answers as it says.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::form::SCORES;

pub(crate) async fn json() -> Response {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(document)).into_response()
}

fn param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn number() -> Value {
    json!({ "type": "number" })
}

fn whole(minimum: u64) -> Value {
    json!({ "type": "integer", "minimum": minimum })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The search form's parameters (shared by the search page, its twin and the exports).
fn search_parameters() -> Vec<Value> {
    let mut parameters = vec![
        param("q", text(), "The QUERY: words, \"phrases\", AND / OR / NOT, prefix*, field:value."),
        param("url", text(), "A pattern over image and page URLs: a prefix (https://site/path) or *substring*."),
        param("host", text(), "Only rows whose host is this."),
        param("domain", text(), "Only rows whose registrable domain is this."),
        param("language", text(), "Only rows whose caption language is this."),
    ];
    for column in SCORES {
        parameters.push(param(
            &format!("{column}_min"),
            number(),
            &format!("Only rows whose {column} is at least this."),
        ));
        parameters.push(param(
            &format!("{column}_max"),
            number(),
            &format!("Only rows whose {column} is at most this."),
        ));
    }
    parameters.extend([
        param("min_width", whole(0), "Only images at least this wide."),
        param("min_height", whole(0), "Only images at least this high."),
        param("mention", text(), "Only captions that mention this entity (any of its aliases, as /mentions counts)."),
        param(
            "names",
            json!({ "enum": ["builtin:artists", "builtin:characters"] }),
            "The list `mention` is looked up in (default: both).",
        ),
        param(
            "fold_accents",
            json!({ "enum": ["1", "0", "true", "false", "on", "off"] }),
            "Match letters with and without accents alike.",
        ),
        param(
            "sort",
            json!({ "enum": ["relevance", "aesthetic", "similarity", "width", "height", "punsafe", "pwatermark"] }),
            "The order of the results (ties by row id; rows without the value last).",
        ),
        param("order", json!({ "enum": ["desc", "asc"] }), "Descending (default) or ascending."),
    ]);
    parameters
}

fn paging_parameters() -> Vec<Value> {
    vec![
        param("limit", whole(1), "Rows per page; above the server's max_page_size it is lowered to it."),
        param("after", text(), "The `next` cursor of the previous page (same search, order and dataset version)."),
    ]
}

fn html(description: &str) -> Value {
    json!({
        "200": { "description": description, "content": { "text/html": { "schema": text() } } },
        "default": { "description": "An error page.", "content": { "text/html": { "schema": text() } } },
    })
}

fn json_answer(description: &str, schema: &str) -> Value {
    json!({
        "200": { "description": description, "content": { "application/json": { "schema": schema_ref(schema) } } },
        "default": { "description": "An error.", "content": { "application/json": { "schema": schema_ref("Error") } } },
    })
}

fn operation(id: &str, summary: &str, parameters: Vec<Value>, responses: Value) -> Value {
    json!({ "get": { "operationId": id, "summary": summary, "parameters": parameters, "responses": responses } })
}

fn export(format: &str, content_type: &str) -> Value {
    let header = |description: &str, schema: Value| json!({ "description": description, "schema": schema });
    let mut parameters = search_parameters();
    parameters.push(param("cap", whole(1), "Write at most this many rows (never more than the server's export_cap)."));
    json!({ "get": {
        "operationId": format!("export_{format}"),
        "summary": format!("The rows of a search as {format}, in its order, streamed."),
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "The rows (CSV cells that begin with =, +, -, @, tab or CR are prefixed with ').",
                "headers": {
                    "X-Pairscope-Total": header("Rows the search matches.", whole(0)),
                    "X-Pairscope-Export-Rows": header("Rows in this file.", whole(0)),
                    "X-Pairscope-Export-Cap": header("The most rows this export could hold.", whole(1)),
                    "X-Pairscope-Truncated": header("true when the cap left matching rows out.", json!({ "enum": ["true", "false"] })),
                },
                "content": { content_type: { "schema": { "type": "string", "format": "binary" } } },
            },
            "default": { "description": "An error (before any row).", "content": { "application/json": { "schema": schema_ref("Error") } } },
        },
    } })
}

fn schemas() -> Value {
    let hit = json!({
        "type": "object",
        "required": ["row_id", "url", "caption"],
        "properties": {
            "row_id": { "type": "integer" },
            "url": text(),
            "caption": text(),
            "host": nullable("string"),
            "domain": nullable("string"),
            "language": nullable("string"),
            "nsfw_label": nullable("string"),
            "width": nullable("integer"),
            "height": nullable("integer"),
            "aesthetic": nullable("number"),
            "punsafe": nullable("number"),
            "pwatermark": nullable("number"),
            "similarity": nullable("number"),
            "score": { "type": ["number", "null"], "description": "The relevance score, when sorted by relevance." },
        },
    });
    let term_counts = |key: &str| {
        json!({
            "type": ["object", "null"],
            "description": "Exact counts among the matching rows; null when the time limit left no time for them.",
            "required": ["values", "null", "distinct"],
            "properties": {
                "values": { "type": "array", "items": {
                    "type": "object", "required": [key, "rows"],
                    "properties": { key: text(), "rows": whole(0) },
                } },
                "null": whole(0),
                "distinct": whole(0),
            },
        })
    };
    let facet = json!({
        "type": "object",
        "required": ["kind", "column", "null", "total"],
        "properties": {
            "kind": { "enum": ["terms", "histogram"] },
            "column": text(),
            "values": { "type": "array", "description": "terms: [value, rows] pairs, most rows first.",
                "items": { "type": "array", "prefixItems": [text(), whole(0)], "minItems": 2, "maxItems": 2 } },
            "distinct": whole(0),
            "buckets": { "type": "array", "description": "histogram: [lo, hi) buckets.", "items": {
                "type": "object", "required": ["lo", "hi", "count"],
                "properties": { "lo": number(), "hi": number(), "count": whole(0) },
            } },
            "below": whole(0),
            "above": whole(0),
            "null": whole(0),
            "total": whole(0),
        },
    });
    let mut properties = Map::new();
    for (name, schema) in [
        ("page_size", whole(1)),
        ("max_page_size", whole(1)),
        ("query_timeout_ms", whole(1)),
        ("facet_timeout_ms", whole(0)),
        ("facet_cache", whole(0)),
        ("max_concurrent", whole(0)),
        ("max_queued", whole(0)),
        ("facet_hosts", whole(0)),
        ("facet_languages", whole(0)),
        ("export_cap", whole(1)),
        ("reload_interval_ms", whole(0)),
    ] {
        properties.insert(name.into(), schema);
    }
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": { "error": {
                "type": "object", "required": ["status", "message"],
                "properties": { "status": whole(400), "message": text() },
            } },
        },
        "Hit": hit,
        "SearchPage": {
            "type": "object",
            "required": ["version", "total", "next", "next_url", "hits", "hosts", "languages", "filter", "mention"],
            "properties": {
                "version": whole(1),
                "total": { "type": "integer", "minimum": 0, "description": "Every row the search matches, exact." },
                "next": { "type": ["string", "null"], "description": "The cursor of the next page; null on the last." },
                "next_url": nullable("string"),
                "hits": { "type": "array", "items": schema_ref("Hit") },
                "hosts": term_counts("host"),
                "languages": term_counts("language"),
                "filter": { "type": ["string", "null"], "description": "The EXPR the filter fields stand for." },
                "mention": { "type": ["object", "null"], "properties": {
                    "name": text(), "list": nullable("string"), "aliases": { "type": "array", "items": text() },
                } },
            },
        },
        "Row": {
            "type": "object", "required": ["row_id", "version", "row"],
            "properties": {
                "row_id": whole(0),
                "version": whole(1),
                "row": { "type": "object", "description": "Every stored column (canonical and extra), nulls included." },
            },
        },
        "Mentions": {
            "type": "object", "required": ["version", "list", "rows", "names", "entities"],
            "properties": {
                "version": whole(1),
                "list": text(),
                "rows": whole(0),
                "names": whole(0),
                "entities": { "type": "array", "items": {
                    "type": "object", "required": ["name", "aliases", "captions", "share", "ambiguous", "search"],
                    "properties": {
                        "name": text(),
                        "aliases": { "type": "array", "items": text() },
                        "captions": whole(1),
                        "share": number(),
                        "ambiguous": { "type": ["string", "null"], "description": "Why the count may include captions about something else." },
                        "search": { "type": "string", "description": "The search page of these captions." },
                    },
                } },
            },
        },
        "Facet": facet,
        "Overview": {
            "type": "object",
            "required": ["version", "committed_at", "pairscope_version", "rows", "sources", "histograms", "domains"],
            "properties": {
                "version": whole(1),
                "committed_at": text(),
                "pairscope_version": text(),
                "rows": whole(0),
                "sources": { "type": "array", "items": {
                    "type": "object",
                    "required": ["file", "id", "input_rows", "rows", "skipped_rows", "bytes", "ingested_at"],
                    "properties": {
                        "file": text(), "id": text(), "input_rows": whole(0), "rows": whole(0),
                        "skipped_rows": whole(0), "bytes": whole(0), "ingested_at": text(),
                    },
                } },
                "histograms": { "type": "array", "items": schema_ref("Facet"),
                    "description": "aesthetic, punsafe, pwatermark, width and height, in this order." },
                "domains": schema_ref("Facet"),
            },
        },
        "Settings": {
            "type": "object",
            "required": ["dataset", "limits", "safe_mode", "remote_images", "allowed_hosts"],
            "properties": {
                "dataset": { "type": "object", "properties": { "version": whole(1), "rows": whole(0) } },
                "limits": { "type": "object", "required": properties.keys().cloned().collect::<Vec<_>>(), "properties": properties },
                "safe_mode": { "type": "object", "properties": { "unsafe_threshold": number(), "blurred": text() } },
                "remote_images": { "type": "boolean" },
                "allowed_hosts": { "type": "array", "items": text() },
            },
        },
    })
}

fn document() -> Value {
    let search = || [search_parameters(), paging_parameters()].concat();
    let mentions = vec![
        param(
            "list",
            json!({ "enum": ["builtin:artists", "builtin:characters"] }),
            "The name list (default builtin:artists).",
        ),
        param("sort", json!({ "enum": ["captions", "name"] }), "Order by caption count (default) or by name."),
        param("order", json!({ "enum": ["desc", "asc"] }), "Descending (default) or ascending."),
        param("filter", text(), "Only entities whose name or an alias contains this (any case)."),
    ];
    let id =
        json!([{ "name": "id", "in": "path", "required": true, "schema": whole(0), "description": "The row id." }]);
    let asset = |id: &str, summary: &str, content_type: &str| {
        json!({ "get": { "operationId": id, "summary": summary, "parameters": [], "responses": {
            "200": { "description": summary, "content": { content_type: { "schema": text() } } },
        } } })
    };
    let row = |op: &str, responses: Value| json!({ "get": { "operationId": op, "summary": "Every stored field of one row.", "parameters": id, "responses": responses } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "pairscope serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only search over an image–text dataset. Every page has a JSON twin: the same path with .json, or the page's path asked for with Accept: application/json. Searches pass a bounded queue (max_concurrent running, at most half of them for one client, max_queued waiting; exports at most half of max_concurrent at once): 503 with Retry-After when it is full.",
        },
        "paths": {
            "/": operation("search_home", "The search page.", search(), html("The search form, the results and the facets.")),
            "/search": operation("search_page", "The search page.", search(), html("The search form, the results and the facets.")),
            "/search.json": operation("search", "A page of search results with the exact total and facets.", search(), json_answer("The page.", "SearchPage")),
            "/row/{id}": row("row_page", html("The row's page.")),
            "/row/{id}.json": row("row", json_answer("The row.", "Row")),
            "/mentions": operation("mentions_page", "How many captions mention each name of a list.", mentions.clone(), html("The table.")),
            "/mentions.json": operation("mentions", "How many captions mention each name of a list.", mentions, json_answer("The counts.", "Mentions")),
            "/overview": operation("overview_page", "The dataset's size, sources and distributions.", vec![], html("The overview.")),
            "/overview.json": operation("overview", "The dataset's size, sources and distributions.", vec![], json_answer("The overview.", "Overview")),
            "/export.csv": export("csv", "text/csv"),
            "/export.jsonl": export("jsonl", "application/x-ndjson"),
            "/export.parquet": export("parquet", "application/vnd.apache.parquet"),
            "/api/openapi.json": asset("openapi", "This document.", "application/json"),
            "/-/settings": operation("settings_page", "Every limit and safety setting.", vec![], html("The settings.")),
            "/-/settings.json": operation("settings", "Every limit and safety setting.", vec![], json_answer("The settings.", "Settings")),
            "/-/style.css": asset("style", "The style sheet.", "text/css"),
            "/-/app.js": asset("script", "The script that swaps images that fail to load for a placeholder.", "text/javascript"),
        },
        "components": { "schemas": schemas() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths `crate::router` serves, read from its source.
    fn routes() -> Vec<String> {
        let source = include_str!("app.rs");
        source
            .split(".route(\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').expect("a closed path")].to_string())
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let document = document();
        let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
        let routes = routes();
        assert!(routes.len() >= 16, "{routes:?}");
        for route in &routes {
            assert!(paths.contains(&route), "{route} is not in the OpenAPI document");
        }
        for path in paths {
            // `/row/{id}` serves `/row/{id}.json` too.
            let served = path.strip_suffix(".json").filter(|p| p.ends_with('}')).unwrap_or(path);
            assert!(routes.iter().any(|r| r == served), "{path} is documented but not served");
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            let name = name.strip_prefix("#/components/schemas/").expect("a schema reference");
            assert!(document["components"]["schemas"].get(name).is_some(), "{name}");
        }
    }
}
