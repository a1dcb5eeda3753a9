//! What a request can fail with, and the page or document each failure is answered with.
//!
//! Every message here is the server's own text, or a query error's reason, which says where
//! the request is at fault and never quotes it (`pairscope_query::error`): a failure never
//! repeats what the request said, so a link cannot make the server's pages say anything.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pairscope_query::QueryError;
use pairscope_query::parse::ParseFailure;
use schemars::JsonSchema;
use serde::Serialize;

use crate::view;

#[derive(Debug)]
pub(crate) enum Failure {
    /// The request cannot be run as given. The message is composed by the server.
    BadRequest(String),
    NotFound,
    /// Every permit is taken.
    Busy,
    /// The query ran past its time limit.
    Timeout {
        limit_ms: u128,
    },
    /// Something on the server went wrong (logged).
    Internal,
}

/// The JSON answer of a failed request.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ErrorDocument {
    error: ErrorBody,
}

#[derive(Debug, Serialize, JsonSchema)]
struct ErrorBody {
    /// The HTTP status.
    #[schemars(range(min = 400, max = 599))]
    status: u16,
    /// What went wrong, in the server's words (it never repeats the request).
    message: String,
}

impl Failure {
    pub fn bad(message: &str) -> Failure {
        Failure::BadRequest(message.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Busy | Failure::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::BadRequest(message) => message.clone(),
            Failure::NotFound => "There is nothing at this address.".into(),
            Failure::Busy => "The server is running as many searches as it allows; try again in a moment.".into(),
            Failure::Timeout { limit_ms } => {
                format!("The query took longer than the server's limit of {limit_ms} ms and was stopped; narrow it.")
            }
            Failure::Internal => "The server could not answer this request; its log says why.".into(),
        }
    }

    /// The answer: an HTML page, or with `json` a document `{"error": {"status", "message"}}`.
    pub fn respond(self, json: bool) -> Response {
        let status = self.status();
        let message = self.message();
        let mut response = if json {
            let body = ErrorDocument { error: ErrorBody { status: status.as_u16(), message } };
            (status, axum::Json(body)).into_response()
        } else {
            (status, view::error_page(status, &message)).into_response()
        };
        if matches!(self, Failure::Busy) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<QueryError> for Failure {
    fn from(error: QueryError) -> Failure {
        match &error {
            QueryError::Deadline { limit_ms } => Failure::Timeout { limit_ms: *limit_ms },
            QueryError::Usage(usage) => {
                tracing::debug!("refused request: {error}");
                if let Some(failure) = usage.cause::<ParseFailure>() {
                    let column = failure.text.get(..failure.offset).map_or(0, |s| s.chars().count()) + 1;
                    Failure::BadRequest(format!(
                        "The search query could not be read: {} (at character {column}). Words, \"phrases\", \
                         AND / OR / NOT, prefix* and field:value are understood.",
                        failure.message
                    ))
                } else if usage.cause::<pairscope_expr::ExprError>().is_some() {
                    Failure::bad("The filters could not be applied to this dataset.")
                } else {
                    Failure::BadRequest(format!("The request could not be run as given: {}.", usage.message()))
                }
            }
            _ if pairscope_model::is_usage(&error) => {
                tracing::debug!("refused request: {error}");
                Failure::bad("The request could not be run as given.")
            }
            _ => {
                tracing::error!("query failed: {error}");
                Failure::Internal
            }
        }
    }
}
