//! `/-/settings` and `/-/settings.json`: every limit and safety setting with its value.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};

use crate::App;
use crate::view::page;

fn settings(app: &App, version: u64, rows: u64, hidden: u64) -> Value {
    let config = &app.config;
    let lists: Vec<Value> = config
        .removal
        .files()
        .iter()
        .map(|f| json!({ "kind": f.kind, "file": file_name(&f.path), "entries": f.entries, "blake3": f.blake3 }))
        .collect();
    json!({
        "dataset": { "version": version, "rows": rows },
        "removal": {
            "hidden_rows": hidden,
            "lists": lists,
            "exclude_optouts": config.removal.excludes_optouts(),
        },
        "limits": {
            "page_size": config.page_size,
            "max_page_size": config.max_page_size,
            "query_timeout_ms": config.timeout.as_millis() as u64,
            "facet_timeout_ms": config.facet_timeout.as_millis() as u64,
            "facet_cache": config.facet_cache,
            "max_concurrent": config.max_concurrent,
            "max_queued": config.max_queued,
            "facet_hosts": config.facet_hosts,
            "facet_languages": config.facet_languages,
            "export_cap": config.export_cap,
            "reload_interval_ms": config.reload_interval.as_millis() as u64,
        },
        "safe_mode": {
            "unsafe_threshold": config.unsafe_threshold,
            "blurred": "images whose punsafe is above unsafe_threshold or whose nsfw_label is not UNLIKELY",
        },
        "remote_images": config.remote_images,
        "allowed_hosts": app.hosts.list(),
    })
}

/// A list's file name without its directories: the settings page does not show paths.
fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

pub(crate) async fn json(State(app): State<Arc<App>>) -> Response {
    let engine = app.engine().await;
    axum::Json(settings(&app, engine.version(), engine.rows(), engine.hidden_rows())).into_response()
}

pub(crate) async fn html(State(app): State<Arc<App>>) -> Response {
    let engine = app.engine().await;
    let settings = settings(&app, engine.version(), engine.rows(), engine.hidden_rows());
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
