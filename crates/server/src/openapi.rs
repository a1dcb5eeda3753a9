//! `/api/openapi.json`: the OpenAPI 3.1 document of every route and of the JSON each answers
//! with, built from the route table ([`crate::routes::ROUTES`]), the column registry (the
//! search form's parameters and the sort enum) and the schemas `schemars` derives from the
//! types the JSON answers are serialized from.
//!
//! Why `schemars` (not `utoipa`): the paths come from our own route table, so only the schemas
//! of types are needed, and schemars derives exactly those, in JSON Schema 2020-12, the
//! dialect of OpenAPI 3.1 (utoipa would describe the paths a second time in its own macros).
//! Every object schema is closed (`additionalProperties: false`) unless it says otherwise: a
//! field an answer carries that its type does not declare makes the answer invalid.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use pairscope_model::{FormField, Registry};
use pairscope_query::SortBy;
use schemars::Schema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::RecursiveTransform;
use serde_json::{Value, json};

use crate::app::LISTS;
use crate::routes::{Answer, Parameters, ROUTES, Route, error_schema};

pub(crate) async fn json() -> Response {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(|| document(Registry::CANONICAL))).into_response()
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

/// The search form's parameters (shared by the search page, its twin and the exports): a
/// field per column the registry gives a form role.
fn search_parameters(registry: Registry) -> Vec<Value> {
    let mut parameters = vec![
        param("q", text(), "The QUERY: words, \"phrases\", AND / OR / NOT, prefix*, field:value."),
        param("url", text(), "A pattern over image and page URLs: a prefix (https://site/path) or *substring*."),
    ];
    for (column, field) in registry.form_fields() {
        let name = column.name;
        match field {
            FormField::Range => parameters.extend([
                param(&format!("{name}_min"), number(), &format!("Only rows whose {name} is at least this.")),
                param(&format!("{name}_max"), number(), &format!("Only rows whose {name} is at most this.")),
            ]),
            FormField::AtLeast => parameters.push(param(
                &format!("min_{name}"),
                whole(0),
                &format!("Only rows whose {name} is at least this."),
            )),
            FormField::Equals => parameters.push(param(name, text(), &format!("Only rows whose {name} is this."))),
        }
    }
    parameters.extend([
        param("mention", text(), "Only captions that mention this entity (any of its aliases, as /mentions counts)."),
        param("names", json!({ "enum": LISTS }), "The list `mention` is looked up in (default: both)."),
        param(
            "fold_accents",
            json!({ "enum": ["1", "0", "true", "false", "on", "off"] }),
            "Match letters with and without accents alike.",
        ),
        param(
            "sort",
            json!({ "enum": SortBy::names(registry) }),
            "The order of the results (ties by row id; rows without the value last).",
        ),
        param("order", json!({ "enum": ["desc", "asc"] }), "Descending (default) or ascending."),
    ]);
    parameters
}

fn parameters(kind: Parameters, registry: Registry) -> Vec<Value> {
    match kind {
        Parameters::None => Vec::new(),
        Parameters::Search => {
            let mut parameters = search_parameters(registry);
            parameters.extend([
                param("limit", whole(1), "Rows per page; above the server's max_page_size it is lowered to it."),
                param(
                    "after",
                    text(),
                    "The `next` cursor of the previous page (same search, order and dataset version).",
                ),
            ]);
            parameters
        }
        Parameters::Export => {
            let mut parameters = search_parameters(registry);
            parameters.push(param(
                "cap",
                whole(1),
                "Write at most this many rows (never more than the server's export_cap).",
            ));
            parameters
        }
        Parameters::Mentions => vec![
            param("list", json!({ "enum": LISTS }), "The name list (default builtin:artists)."),
            param("sort", json!({ "enum": ["captions", "name"] }), "Order by caption count (default) or by name."),
            param("order", json!({ "enum": ["desc", "asc"] }), "Descending (default) or ascending."),
            param("filter", text(), "Only entities whose name or an alias contains this (any case)."),
        ],
        Parameters::RowId => {
            vec![
                json!({ "name": "id", "in": "path", "required": true, "schema": whole(0), "description": "The row id." }),
            ]
        }
        Parameters::Similar => {
            let mut parameters = parameters(Parameters::RowId, registry);
            // The search's fields select the rows; the order is by similarity.
            parameters.extend(
                search_parameters(registry)
                    .into_iter()
                    .filter(|p| !matches!(p["name"].as_str(), Some("sort" | "order"))),
            );
            parameters
        }
    }
}

fn responses(answer: Answer, generator: &mut SchemaGenerator) -> Value {
    let html = json!({ "text/html": { "schema": text() } });
    let error = |generator: &mut SchemaGenerator| json!({ "application/json": { "schema": error_schema(generator) } });
    match answer {
        Answer::Page(description) => json!({
            "200": { "description": description, "content": html },
            "default": { "description": "An error page.", "content": html },
        }),
        Answer::Json(description, schema) => json!({
            "200": { "description": description, "content": { "application/json": { "schema": schema(generator) } } },
            "default": { "description": "An error.", "content": error(generator) },
        }),
        Answer::Export(format) => {
            let header = |description: &str, schema: Value| json!({ "description": description, "schema": schema });
            let content_type = format.content_type().split(';').next().unwrap_or_default();
            json!({
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
                "default": { "description": "An error (before any row).", "content": error(generator) },
            })
        }
        Answer::Asset(content_type) => {
            let schema = if content_type == "application/json" { json!({ "type": "object" }) } else { text() };
            json!({ "200": { "description": "The file.", "content": { content_type: { "schema": schema } } } })
        }
    }
}

fn operation(route: &Route, registry: Registry, generator: &mut SchemaGenerator) -> Value {
    json!({ "get": {
        "operationId": route.operation,
        "summary": route.summary,
        "parameters": parameters(route.parameters, registry),
        "responses": responses(route.answer, generator),
    } })
}

/// Closes every object schema that lists its properties and says nothing of others.
fn close_objects(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut()
        && object.contains_key("properties")
        && !object.contains_key("additionalProperties")
    {
        object.insert("additionalProperties".into(), false.into());
    }
}

/// The document of the routes, over the columns of `registry`.
pub(crate) fn document(registry: Registry) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .for_serialize()
        .with_transform(RecursiveTransform(close_objects))
        .into_generator();
    let mut paths = serde_json::Map::new();
    for route in ROUTES.iter() {
        paths.insert(route.path.to_string(), operation(route, registry, &mut generator));
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "pairscope serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only search over an image–text dataset. Every page has a JSON twin: the same path with .json, or the page's path asked for with Accept: application/json. Searches pass a bounded queue (max_concurrent running, at most half of them for one client, max_queued waiting; exports at most half of max_concurrent at once): 503 with Retry-After when it is full.",
        },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

#[cfg(test)]
mod tests {
    use pairscope_query::FacetBy;

    use super::*;
    use crate::ServerConfig;
    use crate::form::SearchForm;

    #[test]
    fn every_route_is_documented_once_in_table_order() {
        let document = document(Registry::CANONICAL);
        let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
        let routes: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
        let mut sorted = routes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), routes.len(), "a path is listed twice");
        let mut documented: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
        documented.sort_unstable();
        assert_eq!(documented, sorted);
    }

    #[test]
    fn every_reference_resolves() {
        let document = document(Registry::CANONICAL);
        let text = document.to_string();
        let mut references = 0;
        for reference in text.split("\"$ref\":\"").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            let name = name.strip_prefix("#/components/schemas/").expect("a schema reference");
            assert!(document["components"]["schemas"].get(name).is_some(), "{name}");
            references += 1;
        }
        assert!(references >= 6, "{document}");
    }

    #[test]
    fn a_registry_with_one_more_score_reaches_sorts_form_facets_and_the_openapi_enums() {
        let registry = Registry::CANONICAL.with_score("watermark_v2");
        // Sort parsing, and the message naming the orders.
        assert_eq!(SortBy::parse_in(registry, "watermark_v2").map(SortBy::name), Some("watermark_v2"));
        assert_eq!(SortBy::parse("watermark_v2"), None, "the canonical registry has no such column");
        // The form: its two fields are read, written back and become the filter.
        let config = ServerConfig::new("unused".into());
        let form = SearchForm::parse_in(
            registry,
            Some("watermark_v2_min=0.25&watermark_v2_max=0.5&sort=watermark_v2"),
            &config,
        )
        .unwrap();
        assert_eq!(form.filter().as_deref(), Some("watermark_v2 >= 0.25 AND watermark_v2 <= 0.5"));
        assert_eq!(form.sort.name(), "watermark_v2");
        let written = form.query_string(&config);
        assert!(written.contains("watermark_v2_min=0.25") && written.contains("watermark_v2_max=0.5"), "{written}");
        let crate::error::Failure::BadRequest(message) =
            SearchForm::parse_in(registry, Some("sort=nope"), &config).unwrap_err()
        else {
            panic!("not a bad request")
        };
        assert!(message.contains("watermark_v2"), "{message}");
        // Facets: a histogram over its own default range.
        assert!(matches!(
            FacetBy::for_column_in(registry, "watermark_v2", 10, 20, None),
            Ok(FacetBy::Histogram { .. })
        ));
        assert!(FacetBy::for_column("watermark_v2", 10, 20, None).is_err());
        assert_eq!(registry.histogram_range("watermark_v2"), Some((0.0, 1.0)));
        // The OpenAPI document: the sort enum and the form's parameters of every search route.
        let document = document(registry);
        for path in ["/search.json", "/", "/export.csv"] {
            let parameters = document["paths"][path]["get"]["parameters"].as_array().unwrap();
            let named = |name: &str| parameters.iter().find(|p| p["name"] == name).cloned();
            let sorts = named("sort").unwrap_or_else(|| panic!("{path} has no sort"));
            assert!(sorts["schema"]["enum"].as_array().unwrap().contains(&json!("watermark_v2")), "{path}");
            assert!(named("watermark_v2_min").is_some() && named("watermark_v2_max").is_some(), "{path}");
        }
        let canonical = super::document(Registry::CANONICAL);
        assert!(!canonical.to_string().contains("watermark_v2"));
    }
}
