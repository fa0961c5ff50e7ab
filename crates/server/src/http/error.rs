//! The JSON error body every HTTP failure answers with, so a client never has to parse text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prospectus_model::Uuid;
use serde_json::json;

/// Errors as JSON bodies.
#[derive(Debug)]
pub enum ApiError {
    BadParam {
        parameter: String,
        message: String,
    },
    NotFound(String),
    /// A change-feed consumer positioned before the feed floor: it must start again from
    /// `restart` (the first page) with an empty copy.
    FeedExpired {
        message: String,
        restart: String,
    },
    Internal(String),
}

pub(super) fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
    ApiError::BadParam {
        parameter: parameter.to_string(),
        message: message.into(),
    }
}

impl From<prospectus_store::StoreError> for ApiError {
    fn from(e: prospectus_store::StoreError) -> Self {
        match e {
            e @ prospectus_store::StoreError::FeedBeyond { .. } => {
                bad("afterTimestamp", e.to_string())
            }
            e @ prospectus_store::StoreError::FeedExpired { .. } => ApiError::FeedExpired {
                message: e.to_string(),
                restart: "/feeds/services".into(),
            },
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadParam { parameter, message } => (
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_parameter", "parameter": parameter, "message": message}),
            ),
            ApiError::NotFound(m) => (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "message": m}),
            ),
            ApiError::FeedExpired { message, restart } => (
                StatusCode::GONE,
                json!({"error": "feed_expired", "message": message, "restart": restart}),
            ),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "http request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal", "message": "internal error; see the node's log"}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;

pub(super) fn path_id(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    // An id that is not a UUID cannot name anything here: 404, like an unknown UUID.
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::NotFound(format!("no {what} with id {raw:?}")))
}
