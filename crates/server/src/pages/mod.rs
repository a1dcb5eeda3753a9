//! One module per page; each serves the HTML page and its JSON twin.

pub(crate) mod export;
pub(crate) mod mentions;
pub(crate) mod overview;
pub(crate) mod row;
pub(crate) mod search;
pub(crate) mod settings;

use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::Failure;
use crate::view::{SCRIPT, STYLE};

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

/// Unknown paths: a fixed page (or document, for a `.json` path) that does not repeat the path.
pub(crate) async fn not_found(uri: Uri) -> Response {
    Failure::NotFound.respond(uri.path().ends_with(".json"))
}
