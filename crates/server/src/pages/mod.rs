//! One module per page; each serves the HTML page and its JSON twin.

pub(crate) mod export;
pub(crate) mod mentions;
pub(crate) mod overview;
pub(crate) mod row;
pub(crate) mod search;
pub(crate) mod settings;
pub(crate) mod similar;

use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::Failure;
use crate::view::{SCRIPT, STYLE};

/// A row page's path segment (`ID` or `ID.json`): the row id and whether the JSON twin is
/// asked; `Err(json)` when it names no row (row ids are non-negative), with whether to answer
/// in JSON.
pub(crate) fn row_path(
    segment: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<(i64, bool), bool> {
    let Ok(axum::extract::Path(segment)) = segment else { return Err(false) };
    let (id, json) = match segment.strip_suffix(".json") {
        Some(id) => (id, true),
        None => (segment.as_str(), false),
    };
    id.parse::<i64>().ok().filter(|&i| i >= 0).map(|row_id| (row_id, json)).ok_or(json)
}

pub(crate) async fn style() -> Response {
    let mut response = STYLE.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response
}

pub(crate) async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    response
}

/// A fetched image (`serve --images`) by row id, as `image/jpeg`; 404 for a row without one
/// (or without local images).
pub(crate) async fn fetched_image(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<crate::App>>,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let row_id = id.ok().and_then(|axum::extract::Path(id)| id.parse::<i64>().ok());
    let (Some(images), Some(row_id)) = (app.config.images.clone(), row_id) else {
        return Failure::NotFound.respond(false);
    };
    // One bounded file read (at most `MAX_IMAGE_BYTES`), off the async threads.
    match tokio::task::spawn_blocking(move || images.get(row_id)).await {
        Ok(Ok(Some(bytes))) => {
            let mut response = bytes.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            response
        }
        Ok(Ok(None)) => Failure::NotFound.respond(false),
        Ok(Err(e)) => {
            tracing::error!("cannot read the image of row {row_id}: {e}");
            Failure::Internal.respond(false)
        }
        Err(e) => {
            tracing::error!("the image reader of row {row_id} failed: {e}");
            Failure::Internal.respond(false)
        }
    }
}

/// Unknown paths: a fixed page (or document, for a `.json` path) that does not repeat the path.
pub(crate) async fn not_found(uri: Uri) -> Response {
    Failure::NotFound.respond(uri.path().ends_with(".json"))
}
