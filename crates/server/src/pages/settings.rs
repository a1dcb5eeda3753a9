//! `/-/settings` and `/-/settings.json`: every limit and safety setting with its value.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use pairscope_lists::ListKind;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::App;
use crate::view::page;

/// `/-/settings.json`, and what the settings page shows.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Settings {
    dataset: DatasetVersion,
    removal: Removal,
    limits: Limits,
    safe_mode: SafeMode,
    /// Images are shown from their URLs (the browser fetches them from their sites).
    remote_images: bool,
    /// Host names accepted in the Host header besides the bound address.
    allowed_hosts: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct DatasetVersion {
    #[schemars(range(min = 1))]
    version: u64,
    rows: u64,
}

/// The removal lists whose rows the server hides.
#[derive(Debug, Serialize, JsonSchema)]
struct Removal {
    hidden_rows: u64,
    lists: Vec<RemovalList>,
    /// Rows whose page opted out are hidden too.
    exclude_optouts: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
struct RemovalList {
    /// domains, urls or image_hashes.
    #[schemars(with = "String")]
    kind: ListKind,
    /// The file's name (never its directories).
    file: String,
    entries: u64,
    /// BLAKE3 of the file, hex.
    blake3: String,
}

/// Every limit, as `pairscope serve`'s flags set it.
#[derive(Debug, Serialize, JsonSchema)]
struct Limits {
    #[schemars(range(min = 1))]
    page_size: usize,
    #[schemars(range(min = 1))]
    max_page_size: usize,
    #[schemars(range(min = 1))]
    query_timeout_ms: u64,
    facet_timeout_ms: u64,
    facet_cache: usize,
    max_concurrent: usize,
    max_queued: usize,
    facet_hosts: usize,
    facet_languages: usize,
    #[schemars(range(min = 1))]
    export_cap: u64,
    reload_interval_ms: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct SafeMode {
    unsafe_threshold: f64,
    /// Which images are blurred until clicked.
    blurred: &'static str,
}

impl Settings {
    fn new(app: &App, version: u64, rows: u64, hidden_rows: u64) -> Settings {
        let config = &app.config;
        let lists = config
            .removal
            .files()
            .iter()
            .map(|f| RemovalList {
                kind: f.kind,
                file: file_name(&f.path),
                entries: f.entries,
                blake3: f.blake3.clone(),
            })
            .collect();
        Settings {
            dataset: DatasetVersion { version, rows },
            removal: Removal { hidden_rows, lists, exclude_optouts: config.removal.excludes_optouts() },
            limits: Limits {
                page_size: config.page_size,
                max_page_size: config.max_page_size,
                query_timeout_ms: config.timeout.as_millis() as u64,
                facet_timeout_ms: config.facet_timeout.as_millis() as u64,
                facet_cache: config.facet_cache,
                max_concurrent: config.max_concurrent,
                max_queued: config.max_queued,
                facet_hosts: config.facet_hosts,
                facet_languages: config.facet_languages,
                export_cap: config.export_cap,
                reload_interval_ms: config.reload_interval.as_millis() as u64,
            },
            safe_mode: SafeMode {
                unsafe_threshold: config.unsafe_threshold,
                blurred: "images whose punsafe is above unsafe_threshold or whose nsfw_label is not UNLIKELY",
            },
            remote_images: config.remote_images,
            allowed_hosts: app.hosts.list().to_vec(),
        }
    }
}

/// A list's file name without its directories: the settings page does not show paths.
fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

pub(crate) async fn json(State(app): State<Arc<App>>) -> Response {
    let engine = app.engine().await;
    axum::Json(Settings::new(&app, engine.version(), engine.rows(), engine.hidden_rows())).into_response()
}

pub(crate) async fn html(State(app): State<Arc<App>>) -> Response {
    let engine = app.engine().await;
    // The page lists the document's fields, so the two cannot differ.
    let settings =
        match serde_json::to_value(Settings::new(&app, engine.version(), engine.rows(), engine.hidden_rows())) {
            Ok(settings) => settings,
            Err(e) => {
                tracing::error!("the settings: {e}");
                return crate::error::Failure::Internal.respond(false);
            }
        };
    let mut rows: Vec<(String, String)> = Vec::new();
    for group in ["dataset", "limits", "safe_mode"] {
        for (key, value) in settings[group].as_object().into_iter().flatten() {
            rows.push((format!("{group}.{key}"), plain(value)));
        }
    }
    rows.push(("removal.hidden_rows".into(), plain(&settings["removal"]["hidden_rows"])));
    rows.push(("removal.exclude_optouts".into(), plain(&settings["removal"]["exclude_optouts"])));
    for list in settings["removal"]["lists"].as_array().into_iter().flatten() {
        rows.push((
            format!("removal list ({})", plain(&list["kind"])),
            format!("{} ({} entries)", plain(&list["file"]), list["entries"]),
        ));
    }
    for key in ["remote_images", "allowed_hosts"] {
        rows.push((key.to_string(), plain(&settings[key])));
    }
    let body = html! {
        h1 { "Settings" }
        p.note { "Set by the flags of " code { "pairscope serve" } ". " a href="/-/settings.json" { "JSON" } }
        table {
            @for (name, value) in &rows { tr { th { (name) } td { (value) } } }
        }
    };
    page("settings", body).into_response()
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
